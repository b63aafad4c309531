#pragma once
// The same-run baselines of the abort-latency harness (perf-anchors.md §4.3), each a complete
// "hand N trivial handlers their event and learn that they are done" without the engine:
//
//   floor               asio::post to the (idle) io_context and a condition-variable reply:
//                       the cheapest "hand off to the pool and be told it is done".
//   loop                an inline loop over N std::function (the work floor, no hand-off).
//   signals2            Boost.Signals2 emission alone over N slots (thread-safe signal).
//   signals2_post_each  Signals2 emission whose every slot asio::posts its handler to the pool,
//                       an atomic countdown collecting completion: the naive design-card shape.
//   thread_per_writer   one std::thread per handler, an atomic countdown (N <= 1,000).
//
// Every baseline reports the caller-seen time (call -> the calling thread runs again after the
// last handler) and, where a hand-off is involved, the stamped time (call -> the last handler
// finished, stamped inside it). Durations from std::chrono::steady_clock.
//
// Thread-safety: one thread drives a baseline object; its handlers run on the pool.

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <atomic>
#include <boost/signals2.hpp>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vss::bench {

using bench_clock = std::chrono::steady_clock;

/// Nanoseconds on the steady clock since its epoch (storable in an atomic).
inline std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(bench_clock::now().time_since_epoch())
      .count();
}

/// Stamps of one baseline run, in ns relative to the call.
struct fanout_times {
  std::int64_t stamped_ns = 0;      ///< call -> last handler done (stamped inside it)
  std::int64_t caller_seen_ns = 0;  ///< call -> the caller runs again
};

/// A one-shot reply the caller blocks on: mutex + condition variable, the way the engine's
/// blocking AbortBackup waits for its drain.
class reply_event {
 public:
  /// Arms the event for the next run.
  void reset() {
    std::lock_guard lock(mutex_);
    done_ = false;
  }
  /// Wakes the waiter (from any thread). Notifies under the lock: the waiter may destroy this
  /// object as soon as it sees done_, so nothing may touch it after the unlock.
  void signal() {
    std::lock_guard lock(mutex_);
    done_ = true;
    cv_.notify_one();
  }
  /// Blocks until signal().
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return done_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
};

/// Collects N completions from any thread; the last one stamps and wakes the caller.
class countdown {
 public:
  /// Arms for `n` completions (n >= 1).
  void arm(std::size_t n) {
    remaining_.store(static_cast<std::int64_t>(n), std::memory_order_relaxed);
    last_ns_.store(0, std::memory_order_relaxed);
    event_.reset();
  }
  /// One completion.
  void done_one() {
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      last_ns_.store(now_ns(), std::memory_order_release);
      event_.signal();
    }
  }
  /// Blocks until every completion arrived; returns the last one's stamp.
  std::int64_t wait() {
    event_.wait();
    return last_ns_.load(std::memory_order_acquire);
  }

 private:
  std::atomic<std::int64_t> remaining_{0};
  std::atomic<std::int64_t> last_ns_{0};
  reply_event event_;
};

/// floor: one asio::post to the io_context, the handler replies through a condition variable.
class floor_baseline {
 public:
  explicit floor_baseline(asio::io_context& io) : io_(io) {}
  fanout_times run() {
    done_.arm(1);
    const auto t0 = now_ns();
    asio::post(io_, [this] { done_.done_one(); });
    const auto stamped = done_.wait();
    const auto t1 = now_ns();
    return {stamped - t0, t1 - t0};
  }

 private:
  asio::io_context& io_;
  countdown done_;
};

/// loop: N std::function called inline.
class loop_baseline {
 public:
  explicit loop_baseline(std::size_t n) {
    fns_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) fns_.emplace_back([this] { ++calls_; });
  }
  fanout_times run() {
    const auto t0 = now_ns();
    for (auto& f : fns_) f();
    const auto t1 = now_ns();
    return {t1 - t0, t1 - t0};
  }
  std::uint64_t calls() const noexcept { return calls_; }

 private:
  std::vector<std::function<void()>> fns_;
  std::uint64_t calls_ = 0;
};

/// signals2: emission of a thread-safe Boost.Signals2 signal with N trivial slots.
class signals2_baseline {
 public:
  explicit signals2_baseline(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) signal_.connect([this] { ++calls_; });
  }
  fanout_times run() {
    const auto t0 = now_ns();
    signal_();
    const auto t1 = now_ns();
    return {t1 - t0, t1 - t0};
  }
  std::uint64_t calls() const noexcept { return calls_; }

 private:
  boost::signals2::signal<void()> signal_;
  std::uint64_t calls_ = 0;
};

/// signals2_post_each: each of N Signals2 slots posts its handler to the pool (naive shape).
class signals2_post_each_baseline {
 public:
  signals2_post_each_baseline(asio::io_context& io, std::size_t n) : io_(io), n_(n) {
    for (std::size_t i = 0; i < n; ++i) {
      signal_.connect([this] { asio::post(io_, [this] { done_.done_one(); }); });
    }
  }
  fanout_times run() {
    done_.arm(n_);
    const auto t0 = now_ns();
    signal_();
    const auto stamped = done_.wait();
    const auto t1 = now_ns();
    return {stamped - t0, t1 - t0};
  }

 private:
  asio::io_context& io_;
  std::size_t n_;
  boost::signals2::signal<void()> signal_;
  countdown done_;
};

/// thread_per_writer: one std::thread per handler. Threads are joined after the timing.
class thread_per_writer_baseline {
 public:
  explicit thread_per_writer_baseline(std::size_t n) : n_(n) { threads_.reserve(n); }
  fanout_times run() {
    done_.arm(n_);
    const auto t0 = now_ns();
    for (std::size_t i = 0; i < n_; ++i) threads_.emplace_back([this] { done_.done_one(); });
    const auto stamped = done_.wait();
    const auto t1 = now_ns();
    for (auto& t : threads_) t.join();
    threads_.clear();
    return {stamped - t0, t1 - t0};
  }

 private:
  std::size_t n_;
  std::vector<std::thread> threads_;
  countdown done_;
};

}  // namespace vss::bench
