// The providers' step thread: steps run in order, queued steps run before it stops, and a step
// may destroy the worker that runs it (a completion dropping the last provider reference).

#include "providers/serial_worker.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace vss::providers {
namespace {

using namespace std::chrono_literals;

TEST(SerialWorker, RunsStepsInTheOrderTheyWerePosted) {
  std::mutex m;
  std::vector<int> seen;
  {
    serial_worker w;
    for (int i = 0; i < 100; ++i) {
      w.post([&, i] {
        std::lock_guard lock(m);
        seen.push_back(i);
      });
    }
  }  // the destructor runs what was queued, then joins
  ASSERT_EQ(seen.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(seen[i], i);
}

TEST(SerialWorker, AStepMayDestroyTheWorkerThatRunsIt) {
  auto* w = new serial_worker;
  std::promise<void> posted;  // the step waits until post() has returned: post() uses `w`
  // Shared with the step, which may still be inside set_value() when the test returns.
  auto destroyed = std::make_shared<std::promise<void>>();
  auto done = destroyed->get_future();
  w->post([w, ready = posted.get_future().share(), destroyed] {
    ready.wait();
    delete w;  // on the worker's own thread: it detaches instead of joining itself
    destroyed->set_value();
  });
  posted.set_value();
  ASSERT_EQ(done.wait_for(10s), std::future_status::ready);
  // Joining itself would have thrown (std::terminate); the loop then returns from the step
  // without touching the destroyed object (ASan and TSan builds would report it).
  std::this_thread::sleep_for(50ms);
}

}  // namespace
}  // namespace vss::providers
