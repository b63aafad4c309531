// Deadlines and the other timers of a virtual clock keep their order when the clock jumps past
// several at once, and an engine on the real clock holds no timer once it is idle (the
// deadline queue, decisions §33). Found by a review of the first version of that queue: a
// clock wait left early ran the abort's later deadline ahead of a writer's answer due before
// it, and waits left outstanding kept an embedder's io_context::run() from returning.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>

#include "support/test_writer.hpp"

namespace vss::test {
namespace {

using E = writer_event;
using namespace std::chrono_literals;

class DeadlineOrderTest : public engine_test {
 protected:
  // The abort is done and `w`'s OnAbort counts as answered, not timed out.
  void expect_abort_answer_counted(backup_session& s, const writer& w, const async_op& op) {
    EXPECT_TRUE(op.done());
    std::optional<writer_result> r;
    for (const auto& report : s.phase_reports()) {
      if (report.event != E::abort) continue;
      for (const auto& res : report.results) {
        if (res.instance_id == w.identity().instance_id) r = res;
      }
    }
    ASSERT_TRUE(r);
    EXPECT_EQ(r->outcome, writer_outcome::completed) << "answered at 5 s of a 60 s window";
  }

  // `w` holds its OnAbort and answers it 5 s into the abort's window, from a timer of the same
  // clock; the test then moves the clock past both in one step.
  void answer_abort_at_5s(test_writer& w) {
    answer_ = clock_->create_timer(io_.get_executor());
    answer_->async_wait_until(clock_->now() + 5s, [&w](bool expired) {
      if (expired) w.release_held();
    });
    clock_->advance(120s);
    settle();
  }

  std::unique_ptr<timer> answer_;
};

TEST_F(DeadlineOrderTest, AnAbortAnsweredBeforeItsDeadlineCountsWhenTimeJumpsPastBoth) {
  // Two shards: the abort's kept loops arm a 1 ms hand-off besides the phase's deadline. The
  // hand-off must not act as the deadline.
  for (std::size_t shards : {1u, 2u}) {
    SCOPED_TRACE(shards);
    make_engine({.shard_count = shards});
    auto a = add_writer("a");
    auto b = add_writer("b");
    b->script(E::abort, {action::hold});
    auto s = prepared_session();
    auto op = s.async_abort_backup(use_async_op);
    settle();
    ASSERT_EQ(b->held_count(), 1u);
    answer_abort_at_5s(*b);
    expect_abort_answer_counted(s, *b, op);
  }
}

TEST_F(DeadlineOrderTest, AnEarlierWaitLeftByACancelledDeadlineRunsNothingLaterAheadOfTime) {
  // The Freeze phase's 3 s deadline, cancelled by the abort, leaves a clock wait at +3 s; when
  // it fires with the clock at +120 s it must not run the abort's 60 s deadline ahead of the
  // writer's answer due at +5 s.
  make_engine({.shard_count = 1});
  auto a = add_writer("a", application_level::front_end, 3s);
  a->script(E::freeze, {action::hold});
  auto s = prepared_session();
  auto snap = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_EQ(a->count(E::freeze), 1u);
  a->script(E::abort, {action::hold});
  auto op = s.async_abort_backup(use_async_op);
  settle();
  ASSERT_EQ(a->count(E::abort), 1u);
  answer_abort_at_5s(*a);
  expect_abort_answer_counted(s, *a, op);
}

TEST(DeadlineOrderSteadyClock, IoRunReturnsOnceTheEngineIsIdle) {
  // Identify's deadline (60 s) is cancelled when the gather completes; its clock wait must go
  // with it, or run() stays busy until it falls.
  asio::io_context io;
  auto eng = std::make_unique<engine>(io.get_executor(), engine_options{.shard_count = 1});
  ASSERT_FALSE(eng->register_provider(std::make_shared<memory_provider>()));
  auto reg = eng->register_writer(std::make_shared<test_writer>("w"));
  auto s = eng->create_backup_session();
  ASSERT_FALSE(s.initialize_for_backup());
  ASSERT_FALSE(s.set_backup_state(false, false, backup_type::full));
  std::atomic<bool> gathered{false};
  s.async_gather_writer_metadata([&](std::error_code) { gathered = true; });
  const bool returned_in_time = io_run_returns_within(io, 10s);
  EXPECT_TRUE(gathered);
  EXPECT_TRUE(returned_in_time) << "io.run() still busy 10 s after the gather completed";
  s = backup_session{};
  io.restart();
  io.poll();
}

}  // namespace
}  // namespace vss::test
