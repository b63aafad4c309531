// The engine's deadline queue (engine/deadline_queue.hpp, decisions §33): many deadlines on
// few clock timers, in deadline order, never run inline, and cancelled without posting
// anything. Driven by a manual_clock, so "how many clock waits" and "how many handlers ran"
// are exact.

#include "engine/deadline_queue.hpp"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "vss/manual_clock.hpp"

namespace vss::detail {
namespace {

using namespace std::chrono_literals;

class DeadlineQueueTest : public ::testing::Test {
 protected:
  /// Runs every ready handler; returns how many ran.
  std::size_t drain() {
    io_.restart();
    return io_.poll();
  }
  std::function<void()> note(std::string what) {
    return [this, what = std::move(what)] { fired_.push_back(what); };
  }

  asio::io_context io_;
  std::shared_ptr<manual_clock> clock_ = std::make_shared<manual_clock>();
  std::shared_ptr<deadline_queue> q_ = std::make_shared<deadline_queue>(clock_, io_.get_executor());
  std::vector<std::string> fired_;
};

TEST_F(DeadlineQueueTest, LaterDeadlinesShareTheWaitOfTheEarliest) {
  deadline_queue::deadline a, b, c;
  const auto t0 = clock_->now();
  a.arm(*q_, t0 + 1s, note("a"));
  b.arm(*q_, t0 + 3s, note("b"));
  c.arm(*q_, t0 + 2s, note("c"));
  EXPECT_EQ(q_->pending(), 3u);
  EXPECT_EQ(q_->waits(), 1u);
  EXPECT_EQ(clock_->pending_timers(), 1u);
  clock_->advance(1s);
  drain();
  EXPECT_EQ(fired_, (std::vector<std::string>{"a"}));
  EXPECT_EQ(q_->waits(), 1u);  // re-armed for c
  clock_->advance(5s);
  drain();
  EXPECT_EQ(fired_, (std::vector<std::string>{"a", "c", "b"}));
  EXPECT_EQ(q_->pending(), 0u);
  EXPECT_EQ(q_->waits(), 0u);
}

TEST_F(DeadlineQueueTest, NothingRunsBeforeItsDeadlineNorInlineWhenAlreadyDue) {
  deadline_queue::deadline a, past;
  a.arm(*q_, clock_->now() + 1s, note("a"));
  clock_->advance(999ms);
  drain();
  EXPECT_TRUE(fired_.empty());
  past.arm(*q_, clock_->now() - 1s, note("past"));
  EXPECT_TRUE(fired_.empty());  // never inline
  drain();
  EXPECT_EQ(fired_, (std::vector<std::string>{"past"}));
}

TEST_F(DeadlineQueueTest, CancellingPostsNothing) {
  deadline_queue::deadline a;
  a.arm(*q_, clock_->now() + 1s, note("a"));
  a.cancel();
  EXPECT_EQ(q_->pending(), 0u);
  EXPECT_EQ(drain(), 0u);  // a cancelled asio timer would post its completion here
  clock_->advance(2s);
  drain();  // the wait fires, finds nothing due and goes idle
  EXPECT_TRUE(fired_.empty());
  EXPECT_EQ(q_->waits(), 0u);
}

TEST_F(DeadlineQueueTest, AnEarlierDeadlineGetsAWaitOfItsOwnAndTheLaterWaitStays) {
  deadline_queue::deadline late, early;
  late.arm(*q_, clock_->now() + 10s, note("late"));
  early.arm(*q_, clock_->now() + 1s, note("early"));
  EXPECT_EQ(q_->waits(), 2u);
  EXPECT_EQ(clock_->pending_timers(), 2u);  // the later wait was not cancelled
  clock_->advance(1s);
  drain();
  EXPECT_EQ(fired_, (std::vector<std::string>{"early"}));
  EXPECT_EQ(q_->waits(), 1u);
  clock_->advance(9s);
  drain();
  EXPECT_EQ(fired_, (std::vector<std::string>{"early", "late"}));
}

TEST_F(DeadlineQueueTest, ReArmingReplacesTheDeadlineAndTheFunction) {
  deadline_queue::deadline a;
  a.arm(*q_, clock_->now() + 1s, note("first"));
  a.arm(*q_, clock_->now() + 2s, note("second"));
  EXPECT_EQ(q_->pending(), 1u);
  clock_->advance(1s);
  drain();
  EXPECT_TRUE(fired_.empty());
  clock_->advance(1s);
  drain();
  EXPECT_EQ(fired_, (std::vector<std::string>{"second"}));
}

TEST_F(DeadlineQueueTest, ADeadlineDestroyedIsCancelledAndOneThatRanCanBeCancelledSafely) {
  deadline_queue::deadline ran;
  {
    deadline_queue::deadline gone;
    gone.arm(*q_, clock_->now() + 1s, note("gone"));
  }
  ran.arm(*q_, clock_->now() + 1s, note("ran"));
  clock_->advance(1s);
  drain();
  EXPECT_EQ(fired_, (std::vector<std::string>{"ran"}));
  ran.cancel();  // already ran: nothing to forget, nothing else touched
  EXPECT_EQ(q_->pending(), 0u);
}

TEST_F(DeadlineQueueTest, AFunctionMayReArmItsOwnDeadline) {
  // The session's deadline handlers re-arm for the next slot due (on_deadline).
  deadline_queue::deadline a;
  int runs = 0;
  std::function<void()> again = [&] {
    if (++runs < 3) a.arm(*q_, clock_->now() + 1s, again);
  };
  a.arm(*q_, clock_->now() + 1s, again);
  for (int i = 0; i < 5; ++i) {
    clock_->advance(1s);
    drain();
  }
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(q_->pending(), 0u);
}

TEST_F(DeadlineQueueTest, AQueueDestroyedWithWaitsOutstandingRunsNothing) {
  deadline_queue::deadline a;
  a.arm(*q_, clock_->now() + 1s, note("a"));
  a.cancel();  // a deadline must not outlive its queue
  q_.reset();
  clock_->advance(2s);
  drain();
  EXPECT_TRUE(fired_.empty());
  EXPECT_EQ(clock_->pending_timers(), 0u);
}

}  // namespace
}  // namespace vss::detail
