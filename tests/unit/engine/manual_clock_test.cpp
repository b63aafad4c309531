// vss::manual_clock: virtual time for deterministic tests. Timers fire only when the clock is
// advanced to their deadline, every handler is posted (never run inline), and a timer that is
// re-armed, cancelled or destroyed before its deadline reports `false` exactly once.

#include "vss/manual_clock.hpp"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace vss {
namespace {

using namespace std::chrono_literals;

/// Records every call of a timer handler, in order.
struct recorder {
  std::vector<bool> calls;
  std::function<void(bool)> handler() {
    return [this](bool expired) { calls.push_back(expired); };
  }
};

class ManualClockTest : public ::testing::Test {
 protected:
  /// Runs every ready handler; returns how many ran.
  std::size_t drain() {
    io_.restart();
    return io_.poll();
  }

  std::unique_ptr<timer> make_timer() { return clock_->create_timer(io_.get_executor()); }

  asio::io_context io_;
  std::shared_ptr<manual_clock> clock_ = std::make_shared<manual_clock>();
};

TEST_F(ManualClockTest, StartsOneHourAfterTheSteadyClockEpochByDefault) {
  EXPECT_EQ(clock_->now(), clock::time_point{} + 1h);
  auto other = std::make_shared<manual_clock>(clock::time_point{} + 5s);
  EXPECT_EQ(other->now(), clock::time_point{} + 5s);
}

TEST_F(ManualClockTest, TimeMovesOnlyWhenAdvanced) {
  const auto t0 = clock_->now();
  std::this_thread::sleep_for(2ms);
  EXPECT_EQ(clock_->now(), t0);
  clock_->advance(250ms);
  EXPECT_EQ(clock_->now(), t0 + 250ms);
}

TEST_F(ManualClockTest, AdvanceToThePastIsANoOp) {
  const auto t0 = clock_->now();
  clock_->advance_to(t0 - 1s);
  EXPECT_EQ(clock_->now(), t0);
  clock_->advance_to(t0 + 3s);
  EXPECT_EQ(clock_->now(), t0 + 3s);
}

TEST_F(ManualClockTest, TimerFiresOnlyOnceTheClockReachesItsDeadline) {
  recorder r;
  auto t = make_timer();
  t->async_wait_until(clock_->now() + 10s, r.handler());
  drain();
  EXPECT_TRUE(r.calls.empty());
  clock_->advance(9s);
  drain();
  EXPECT_TRUE(r.calls.empty());
  clock_->advance(999ms);
  drain();
  EXPECT_TRUE(r.calls.empty()) << "fired 1 ms early";
  clock_->advance(1ms);  // exactly at the deadline
  drain();
  EXPECT_EQ(r.calls, std::vector<bool>{true});
  clock_->advance(1h);
  drain();
  EXPECT_EQ(r.calls, std::vector<bool>{true}) << "a one-shot timer fired twice";
}

TEST_F(ManualClockTest, AdvancingFarPastTheDeadlineFiresOnce) {
  recorder r;
  auto t = make_timer();
  t->async_wait_until(clock_->now() + 1s, r.handler());
  clock_->advance(10min);
  drain();
  EXPECT_EQ(r.calls, std::vector<bool>{true});
}

TEST_F(ManualClockTest, ExpiredHandlersArePostedNeverRunInsideAdvance) {
  recorder r;
  auto t = make_timer();
  t->async_wait_until(clock_->now() + 1s, r.handler());
  clock_->advance(2s);
  EXPECT_TRUE(r.calls.empty()) << "advance() ran the handler inline";
  EXPECT_EQ(clock_->pending_timers(), 0u);  // disarmed at once, run later
  EXPECT_EQ(drain(), 1u);
  EXPECT_EQ(r.calls, std::vector<bool>{true});
}

TEST_F(ManualClockTest, ReArmingCancelsThePreviousWaitWithFalse) {
  recorder first;
  recorder second;
  auto t = make_timer();
  t->async_wait_until(clock_->now() + 5s, first.handler());
  t->async_wait_until(clock_->now() + 10s, second.handler());
  EXPECT_TRUE(first.calls.empty()) << "the cancelled handler ran inline";
  EXPECT_EQ(clock_->pending_timers(), 1u);
  drain();
  EXPECT_EQ(first.calls, std::vector<bool>{false});
  clock_->advance(5s);  // the first deadline: nothing is armed there any more
  drain();
  EXPECT_EQ(first.calls, std::vector<bool>{false});
  EXPECT_TRUE(second.calls.empty());
  clock_->advance(5s);
  drain();
  EXPECT_EQ(second.calls, std::vector<bool>{true});
}

TEST_F(ManualClockTest, CancelPostsFalseOnceAndDisarms) {
  recorder r;
  auto t = make_timer();
  t->async_wait_until(clock_->now() + 5s, r.handler());
  ASSERT_EQ(clock_->pending_timers(), 1u);
  t->cancel();
  EXPECT_TRUE(r.calls.empty()) << "cancel() ran the handler inline";
  EXPECT_EQ(clock_->pending_timers(), 0u);
  drain();
  EXPECT_EQ(r.calls, std::vector<bool>{false});
  t->cancel();  // nothing armed: no second call
  clock_->advance(1min);
  drain();
  EXPECT_EQ(r.calls, std::vector<bool>{false});
}

TEST_F(ManualClockTest, CancelAfterTheTimerFiredPostsNothing) {
  recorder r;
  auto t = make_timer();
  t->async_wait_until(clock_->now() + 1s, r.handler());
  clock_->advance(1s);
  t->cancel();  // the expiry is already queued; it must stay the only call
  drain();
  EXPECT_EQ(r.calls, std::vector<bool>{true});
}

TEST_F(ManualClockTest, DestroyingAnArmedTimerPostsFalse) {
  recorder r;
  {
    auto t = make_timer();
    t->async_wait_until(clock_->now() + 5s, r.handler());
  }
  EXPECT_TRUE(r.calls.empty()) << "the destructor ran the handler inline";
  EXPECT_EQ(clock_->pending_timers(), 0u);
  drain();
  EXPECT_EQ(r.calls, std::vector<bool>{false});
  clock_->advance(10s);
  drain();
  EXPECT_EQ(r.calls, std::vector<bool>{false});
}

TEST_F(ManualClockTest, DestroyingAnIdleTimerPostsNothing) {
  { auto t = make_timer(); }
  EXPECT_EQ(drain(), 0u);
}

TEST_F(ManualClockTest, ArmingAtOrBeforeNowFiresAtOnceButPosted) {
  recorder past;
  recorder present;
  auto t1 = make_timer();
  auto t2 = make_timer();
  t1->async_wait_until(clock_->now() - 1s, past.handler());
  t2->async_wait_until(clock_->now(), present.handler());
  EXPECT_TRUE(past.calls.empty()) << "a past deadline ran the handler inline";
  EXPECT_TRUE(present.calls.empty()) << "a deadline of now ran the handler inline";
  EXPECT_EQ(clock_->pending_timers(), 0u);
  drain();
  EXPECT_EQ(past.calls, std::vector<bool>{true});
  EXPECT_EQ(present.calls, std::vector<bool>{true});
}

TEST_F(ManualClockTest, CancelAfterArmingInThePastDoesNotAddAFalse) {
  recorder r;
  auto t = make_timer();
  t->async_wait_until(clock_->now() - 1s, r.handler());
  t->cancel();
  drain();
  EXPECT_EQ(r.calls, std::vector<bool>{true});
}

TEST_F(ManualClockTest, PendingTimersCountsArmedTimersOnly) {
  EXPECT_EQ(clock_->pending_timers(), 0u);
  recorder r;
  auto a = make_timer();
  auto b = make_timer();
  auto c = make_timer();
  a->async_wait_until(clock_->now() + 1s, r.handler());
  b->async_wait_until(clock_->now() + 2s, r.handler());
  c->async_wait_until(clock_->now() + 2s, r.handler());  // same deadline as b
  EXPECT_EQ(clock_->pending_timers(), 3u);
  b->cancel();
  EXPECT_EQ(clock_->pending_timers(), 2u);
  clock_->advance(1s);
  EXPECT_EQ(clock_->pending_timers(), 1u);
  clock_->advance(1s);
  EXPECT_EQ(clock_->pending_timers(), 0u);
  drain();
  EXPECT_EQ(r.calls, (std::vector<bool>{false, true, true}));
}

TEST_F(ManualClockTest, CancellingOneOfTwoTimersWithTheSameDeadlineKeepsTheOther) {
  recorder kept;
  recorder cancelled;
  auto a = make_timer();
  auto b = make_timer();
  const auto deadline = clock_->now() + 1s;
  a->async_wait_until(deadline, kept.handler());
  b->async_wait_until(deadline, cancelled.handler());
  b->cancel();
  clock_->advance(1s);
  drain();
  EXPECT_EQ(kept.calls, std::vector<bool>{true});
  EXPECT_EQ(cancelled.calls, std::vector<bool>{false});
}

TEST_F(ManualClockTest, AdvanceToNextJumpsToTheEarliestDeadlineOnly) {
  recorder early;
  recorder late;
  auto a = make_timer();
  auto b = make_timer();
  const auto t0 = clock_->now();
  b->async_wait_until(t0 + 7s, late.handler());
  a->async_wait_until(t0 + 3s, early.handler());
  EXPECT_TRUE(clock_->advance_to_next());
  EXPECT_EQ(clock_->now(), t0 + 3s);
  drain();
  EXPECT_EQ(early.calls, std::vector<bool>{true});
  EXPECT_TRUE(late.calls.empty());
  EXPECT_TRUE(clock_->advance_to_next());
  EXPECT_EQ(clock_->now(), t0 + 7s);
  drain();
  EXPECT_EQ(late.calls, std::vector<bool>{true});
  EXPECT_FALSE(clock_->advance_to_next());
  EXPECT_EQ(clock_->now(), t0 + 7s) << "advance_to_next moved time with nothing armed";
}

TEST_F(ManualClockTest, AdvanceToNextReturnsFalseWithNoTimerArmed) {
  const auto t0 = clock_->now();
  EXPECT_FALSE(clock_->advance_to_next());
  EXPECT_EQ(clock_->now(), t0);
}

TEST_F(ManualClockTest, TimersDueTogetherRunInDeadlineOrder) {
  std::vector<int> order;
  auto a = make_timer();
  auto b = make_timer();
  auto c = make_timer();
  const auto t0 = clock_->now();
  c->async_wait_until(t0 + 3s, [&](bool) { order.push_back(3); });
  a->async_wait_until(t0 + 1s, [&](bool) { order.push_back(1); });
  b->async_wait_until(t0 + 2s, [&](bool) { order.push_back(2); });
  clock_->advance(5s);
  drain();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST_F(ManualClockTest, HandlersRunOnTheirTimersExecutor) {
  asio::io_context other;
  recorder here;
  recorder there;
  auto a = make_timer();
  auto b = clock_->create_timer(other.get_executor());
  a->async_wait_until(clock_->now() + 1s, here.handler());
  b->async_wait_until(clock_->now() + 1s, there.handler());
  clock_->advance(1s);
  drain();
  EXPECT_EQ(here.calls, std::vector<bool>{true});
  EXPECT_TRUE(there.calls.empty()) << "ran on the wrong executor";
  other.poll();
  EXPECT_EQ(there.calls, std::vector<bool>{true});
}

TEST_F(ManualClockTest, ATimerCanBeReArmedFromItsOwnHandler) {
  std::vector<bool> calls;
  auto t = make_timer();
  std::function<void(bool)> again = [&](bool expired) {
    calls.push_back(expired);
    if (calls.size() < 3) t->async_wait_until(clock_->now() + 1s, again);
  };
  t->async_wait_until(clock_->now() + 1s, again);
  for (int i = 0; i < 3; ++i) {
    clock_->advance(1s);
    drain();
  }
  EXPECT_EQ(calls, (std::vector<bool>{true, true, true}));
  EXPECT_EQ(clock_->pending_timers(), 0u);
}

TEST_F(ManualClockTest, TimersOnManyThreadsFireExactlyOnceEach) {
  // Each thread owns its timer (a timer's members are called from one strand at a time);
  // the clock itself is shared and advanced concurrently from the main thread.
  constexpr int threads = 4;
  constexpr int rounds = 200;
  std::atomic<int> expired{0};
  std::atomic<int> cancelled{0};
  std::vector<std::thread> workers;
  for (int k = 0; k < threads; ++k) {
    workers.emplace_back([&, k] {
      auto t = make_timer();
      for (int i = 0; i < rounds; ++i) {
        t->async_wait_until(clock_->now() + std::chrono::milliseconds(1 + (i + k) % 3),
                            [&](bool e) { ++(e ? expired : cancelled); });
      }
      t->cancel();
    });
  }
  for (int i = 0; i < 2000; ++i) clock_->advance(1ms);
  for (auto& w : workers) w.join();
  while (drain() > 0) {
  }
  EXPECT_EQ(expired + cancelled, threads * rounds) << "a wait was lost or reported twice";
  EXPECT_EQ(clock_->pending_timers(), 0u);
}

}  // namespace
}  // namespace vss
