// Real-thread stress test of openvss::mocks' own thread-safety claims: fake writers run their
// handlers on two engine threads while the test thread scripts them, reads their histories,
// releases held answers through a stepper in a random order, and an aborter thread calls
// AbortBackup at a random moment. Each run checks, from the shared event_recorder, the writer
// invariants of DESIGN.md §4 (check_writer_invariants), that every writer's own history matches
// what the recorder saw of it, and that every requester completion ran exactly once.
//
// Bounded by count and time: OPENVSS_STRESS_ITERATIONS (default 300 runs) and
// OPENVSS_STRESS_SECONDS (default 30); the plan of each run comes from OPENVSS_STRESS_SEED
// (printed). Meant to run clean under ThreadSanitizer and AddressSanitizer.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "vss/mocks/mocks.hpp"
#include "vss/vss.hpp"

namespace vss::mocks {
namespace {

using namespace std::chrono_literals;
using E = writer_event;

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtoull(text, nullptr, 0);
}

// One requester call, completed on an engine thread and awaited (bounded) on the test thread.
struct awaited {
  std::promise<std::error_code> promise;
  std::future<std::error_code> future = promise.get_future();
  std::atomic<int> runs{0};
  auto handler() {
    return [this](std::error_code ec) {
      if (runs.fetch_add(1) == 0) promise.set_value(ec);
    };
  }
  bool wait() { return future.wait_for(10s) == std::future_status::ready; }
};

TEST(MocksStress, FakesStepperAndRecorderStayConsistentUnderRealThreads) {
  const auto iterations = env_or("OPENVSS_STRESS_ITERATIONS", 300);
  const auto seconds = env_or("OPENVSS_STRESS_SECONDS", 30);
  const auto seed = env_or("OPENVSS_STRESS_SEED", std::random_device{}());
  std::printf("[stress] mocks: seed %llu, up to %llu runs or %llu s\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(iterations),
              static_cast<unsigned long long>(seconds));
  std::mt19937_64 rng(seed);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  std::uint64_t runs = 0, aborted = 0, released = 0;

  for (; runs < iterations && std::chrono::steady_clock::now() < give_up; ++runs) {
    SCOPED_TRACE("run " + std::to_string(runs) + " of seed " + std::to_string(seed));
    vss::engine_host host({.io_threads = 2, .blocking_threads = 1});
    auto clock = steady_clock_source();
    auto recorder = std::make_shared<event_recorder>(clock);
    auto held = std::make_shared<stepper>();
    ASSERT_FALSE(host.engine().register_provider(std::make_shared<memory_provider>()));

    const std::size_t n = 2 + rng() % 7;
    std::vector<std::shared_ptr<fake_writer>> writers;
    std::vector<writer_registration> regs;
    for (std::size_t i = 0; i < n; ++i) {
      fake_writer_options o;
      o.clock = clock;
      o.executor = host.io_context().get_executor();
      o.recorder = recorder;
      o.stepper = held;
      auto w = std::make_shared<fake_writer>(
          "w" + std::to_string(i), static_cast<application_level>(1 + i % 3), std::move(o));
      switch (rng() % 5) {
        case 0:
          w->on(E::freeze, fault::hang());  // released by the stepper, or superseded by Abort
          break;
        case 1:
          w->on(E::prepare_snapshot, fault::delay(std::chrono::microseconds(rng() % 300)));
          break;
        case 2:
          w->on(E::thaw, fault::veto(errc::writer_error_retryable));
          break;
        default:
          break;
      }
      regs.push_back(host.engine().register_writer(w));
      writers.push_back(std::move(w));
    }

    auto s = host.engine().create_backup_session();
    ASSERT_FALSE(s.initialize_for_backup());
    ASSERT_FALSE(s.set_backup_state(false, false, backup_type::full));
    awaited gathered, prepared, snapshot, complete, release;
    s.async_gather_writer_metadata(gathered.handler());
    ASSERT_TRUE(gathered.wait());
    snapshot_set_id set;
    snapshot_id snap;
    ASSERT_FALSE(s.start_snapshot_set(set));
    ASSERT_FALSE(s.add_to_snapshot_set("/data", {}, snap));
    s.async_prepare_for_backup(prepared.handler());
    ASSERT_TRUE(prepared.wait());

    const bool abort_this_run = rng() % 2 == 0;
    const auto abort_after = std::chrono::microseconds(rng() % 2000);
    s.async_do_snapshot_set(snapshot.handler());
    std::thread aborter;
    if (abort_this_run) {
      aborter = std::thread([&s, abort_after] {
        std::this_thread::sleep_for(abort_after);
        EXPECT_FALSE(s.abort_backup());
      });
    }
    // Meanwhile the test thread reads the fakes and releases held Freezes in a random order.
    std::vector<std::string> order;
    for (const auto& w : writers) order.push_back(w->identity().name);
    std::shuffle(order.begin(), order.end(), rng);
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (snapshot.future.wait_for(0s) != std::future_status::ready &&
           std::chrono::steady_clock::now() < until) {
      (void)recorder->events();
      for (const auto& w : writers) (void)w->history();
      if (held->wait_for(1, 1ms)) released += held->release_in_order(order);
    }
    ASSERT_TRUE(snapshot.wait()) << recorder->timeline();
    if (aborter.joinable()) aborter.join();
    if (abort_this_run) ++aborted;
    if (!snapshot.future.get()) {
      s.async_backup_complete(complete.handler());
      ASSERT_TRUE(complete.wait());
    }
    s.async_release(release.handler());
    ASSERT_TRUE(release.wait());
    held->release_all();  // anything still held after the release is no longer awaited

    const auto events = recorder->events();
    EXPECT_THAT(check_writer_invariants(events, /*released=*/true), ::testing::IsEmpty())
        << recorder->timeline();
    for (const auto& w : writers) {
      std::vector<E> seen;
      for (const auto& r : events) {
        if (r.writer == w->identity().name) seen.push_back(r.event);
      }
      EXPECT_EQ(w->events(), seen) << w->identity().name << " history disagrees with the recorder";
    }
    for (auto* a : {&gathered, &prepared, &snapshot, &release}) EXPECT_EQ(a->runs.load(), 1);
    EXPECT_LE(complete.runs.load(), 1);
    if (::testing::Test::HasFailure()) break;
  }
  std::printf("[stress] mocks: %llu runs, %llu aborted, %llu held answers released\n",
              static_cast<unsigned long long>(runs), static_cast<unsigned long long>(aborted),
              static_cast<unsigned long long>(released));
  EXPECT_GT(runs, 0u);
}

}  // namespace
}  // namespace vss::mocks
