// The phases an abort ends are destroyed after the abort is reported, from a post of their own
// (decisions §38): their deadlines must still go then, so that an idle engine holds no timer,
// and a retired phase's deadline that falls before that must act on nothing.

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <chrono>
#include <memory>

#include "support/test_writer.hpp"

namespace vss::test {
namespace {

using E = writer_event;
using namespace std::chrono_literals;

class AbortRetireTest : public engine_test {};

TEST_F(AbortRetireTest, NoTimerIsLeftOnceTheAbortOfAFrozenSessionIsReported) {
  // The Freeze phase is collecting when the abort comes (one writer holds it): the abort ends
  // it, and ends its own OnAbort phase once both writers answered. Both deadlines must be gone
  // once the handlers have run, with no virtual time passing.
  for (std::size_t shards : {1u, 2u}) {
    SCOPED_TRACE(shards);
    make_engine({.shard_count = shards});
    auto a = add_writer("a");
    auto b = add_writer("b");
    async_op snap;
    auto s = frozen_session(*a, snap);
    ASSERT_GT(clock_->pending_timers(), 0u) << "the Freeze deadline is armed";
    auto op = s.async_abort_backup(use_async_op);
    settle();
    ASSERT_TRUE(op.done());
    EXPECT_EQ(op.query_status(), errc::async_finished);
    EXPECT_EQ(snap.query_status(), errc::async_cancelled);
    EXPECT_EQ(b->count(E::abort), 1u);
    EXPECT_EQ(clock_->pending_timers(), 0u)
        << "a deadline of a phase the abort ended is still armed";
    a->release_held();  // the late Freeze answer is refused: the phase is gone
    settle();
    EXPECT_EQ(clock_->pending_timers(), 0u);
  }
}

TEST_F(AbortRetireTest, AFreezeDeadlineFallingWhileTheAbortWaitsChangesNoReport) {
  // `a` holds Freeze (3 s window) and then OnAbort: the clock passes the retired Freeze
  // deadline while the abort still waits for `a`. The Freeze report keeps `a` abandoned, not
  // timed out, and the abort still counts `a`'s answer.
  make_engine({.shard_count = 1});
  auto a = add_writer("a", application_level::front_end, 3s);
  async_op snap;
  auto s = frozen_session(*a, snap);
  a->script(E::abort, {action::hold});
  auto op = s.async_abort_backup(use_async_op);
  settle();
  ASSERT_EQ(a->count(E::abort), 1u);
  ASSERT_FALSE(op.done());
  clock_->advance(10s);  // past Freeze's 3 s, well before the abort's own deadline
  settle();
  ASSERT_FALSE(op.done()) << "the abort must still wait for a's OnAbort";
  a->release_held();
  settle();
  ASSERT_TRUE(op.done());
  EXPECT_EQ(op.query_status(), errc::async_finished);
  bool saw_freeze = false, saw_abort = false;
  for (const auto& report : s.phase_reports()) {
    for (const auto& r : report.results) {
      if (report.event == E::freeze) {
        saw_freeze = true;
        EXPECT_EQ(r.outcome, writer_outcome::abandoned) << to_string(r.outcome);
      }
      if (report.event == E::abort) {
        saw_abort = true;
        EXPECT_EQ(r.outcome, writer_outcome::completed) << to_string(r.outcome);
      }
    }
  }
  EXPECT_TRUE(saw_freeze);
  EXPECT_TRUE(saw_abort);
  EXPECT_EQ(clock_->pending_timers(), 0u);
}

TEST(AbortRetireSteadyClock, IoRunReturnsOnceAnAbortedFrozenSessionIsReported) {
  // On the real clock: the retired Freeze deadline (60 s) must be cancelled by the reap, or
  // an embedder's io_context::run() stays busy until it falls.
  asio::io_context io;
  auto eng = std::make_unique<engine>(io.get_executor(), engine_options{.shard_count = 1});
  ASSERT_FALSE(eng->register_provider(std::make_shared<memory_provider>()));
  auto w = std::make_shared<test_writer>("w");
  w->script(E::freeze, {action::hold});
  auto reg = eng->register_writer(w);
  auto s = eng->create_backup_session();
  ASSERT_FALSE(s.initialize_for_backup());
  ASSERT_FALSE(s.set_backup_state(false, false, backup_type::full));
  auto run_until = [&](const async_op& op) {
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (!op.done() && std::chrono::steady_clock::now() < give_up) {
      io.restart();
      io.run_for(10ms);
    }
    return op.done();
  };
  auto g = s.async_gather_writer_metadata(use_async_op);
  ASSERT_TRUE(run_until(g));
  snapshot_set_id set;
  snapshot_id snap_id;
  ASSERT_FALSE(s.start_snapshot_set(set));
  ASSERT_FALSE(s.add_to_snapshot_set("/data", provider_id{}, snap_id));
  auto p = s.async_prepare_for_backup(use_async_op);
  ASSERT_TRUE(run_until(p));
  auto snap = s.async_do_snapshot_set(use_async_op);
  io.restart();
  io.poll();
  ASSERT_EQ(w->held_count(), 1u);
  auto op = s.async_abort_backup(use_async_op);
  const bool returned_in_time = io_run_returns_within(io, 10s);
  EXPECT_TRUE(op.done());
  EXPECT_EQ(snap.query_status(), errc::async_cancelled);
  EXPECT_TRUE(returned_in_time) << "io.run() still busy 10 s after the abort was reported";
  w->release_held();
  s = backup_session{};
  io.restart();
  io.poll();
}

}  // namespace
}  // namespace vss::test
