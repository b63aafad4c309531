#pragma once
// One thread that runs a provider's asynchronous steps in order, so the engine's io threads
// never wait for a btrfs transaction or an external command.
//
// A step's completion may drop the last reference to the provider, which then destroys its
// worker on the worker's own thread: the thread cannot join itself, so it is detached, and
// the queue lives in state shared with the thread (never in the destroyed object), so the
// loop that returns from that step touches nothing that is gone. Steps queued before the
// destruction still run.

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace vss::providers {

class serial_worker {
 public:
  serial_worker() : state_(std::make_shared<state>()), thread_([s = state_] { run(*s); }) {}

  ~serial_worker() {
    {
      std::lock_guard lock(state_->mutex);
      state_->stopping = true;
    }
    state_->cv.notify_one();
    if (thread_.get_id() == std::this_thread::get_id()) {
      thread_.detach();
    } else {
      thread_.join();
    }
  }

  serial_worker(const serial_worker&) = delete;
  serial_worker& operator=(const serial_worker&) = delete;

  void post(std::function<void()> task) {
    {
      std::lock_guard lock(state_->mutex);
      state_->queue.push_back(std::move(task));
    }
    state_->cv.notify_one();
  }

 private:
  struct state {
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<std::function<void()>> queue;
    bool stopping = false;
  };

  static void run(state& s) {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(s.mutex);
        s.cv.wait(lock, [&] { return s.stopping || !s.queue.empty(); });
        if (s.queue.empty()) return;  // stopping, and every queued step has run
        task = std::move(s.queue.front());
        s.queue.pop_front();
      }
      task();
    }
  }

  std::shared_ptr<state> state_;
  std::thread thread_;  // last: starts after the state exists
};

}  // namespace vss::providers
