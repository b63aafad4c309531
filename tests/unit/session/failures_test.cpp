// A veto or failure at each phase, writer deadlines and the provider hold budget, all in
// virtual time: a 60 s freeze timeout takes microseconds here.

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>

#include "support/test_writer.hpp"

namespace vss::test {
namespace {

using E = writer_event;
using P = provider_call;
using namespace std::chrono_literals;

class FailuresTest : public engine_test {
 protected:
  writer_status status_of(backup_session& s, const std::shared_ptr<writer>& w) {
    auto op = s.async_gather_writer_status(use_async_op);
    EXPECT_EQ(finish(op), errc::async_finished);
    for (const auto& st : s.get_writer_status()) {
      if (st.instance_id == w->identity().instance_id) return st;
    }
    ADD_FAILURE() << "no status for " << w->identity().name;
    return {};
  }
  std::error_code snapshot(backup_session& s) {
    auto op = s.async_do_snapshot_set(use_async_op);
    return finish(op);
  }
};

TEST_F(FailuresTest, PrepareBackupVetoIsReportedInStatusAndExcludesTheWriter) {
  auto bad = add_writer("bad");
  auto good = add_writer("good");
  bad->script(E::prepare_backup, {action::fail, errc::writer_error_nonretryable});
  auto s = prepared_session();  // PrepareForBackup itself succeeds (spec §2.2)
  auto st = status_of(s, bad);
  EXPECT_EQ(st.state, writer_state::failed_at_prepare_backup);
  EXPECT_EQ(st.failure, errc::writer_error_nonretryable);
  EXPECT_EQ(st.message, "scripted failure");
  EXPECT_EQ(snapshot(s), errc::async_finished);
  EXPECT_EQ(bad->count(E::freeze), 0u);
  EXPECT_EQ(good->count(E::freeze), 1u);
  EXPECT_EQ(s.consistency(), consistency_grade::crash);
}

TEST_F(FailuresTest, PrepareSnapshotVetoDoesNotAbortAnything) {
  auto bad = add_writer("bad");
  auto good = add_writer("good");
  bad->script(E::prepare_snapshot, {action::fail, errc::writer_error_retryable});
  auto s = prepared_session();
  EXPECT_EQ(snapshot(s), errc::async_finished);
  EXPECT_EQ(status_of(s, bad).state, writer_state::failed_at_prepare_snapshot);
  // No automatic abort at the veto (spec §3.2): the creation went on without the writer,
  // which gets its Abort only when the creation is over (invariant 2, decisions §15).
  EXPECT_EQ(bad->events(), ev({E::identify, E::prepare_backup, E::prepare_snapshot, E::abort}));
  EXPECT_EQ(good->count(E::abort), 0u);
  EXPECT_EQ(bad->count(E::freeze), 0u);
  EXPECT_EQ(good->count(E::post_snapshot), 1u);
}

TEST_F(FailuresTest, FreezeVetoAbortsThatWriterAloneAndCreationContinues) {
  auto bad = add_writer("bad");
  auto good = add_writer("good");
  bad->script(E::freeze, {action::fail, errc::writer_error_retryable});
  auto s = prepared_session();
  EXPECT_EQ(snapshot(s), errc::async_finished);
  EXPECT_EQ(bad->events(),
            ev({E::identify, E::prepare_backup, E::prepare_snapshot, E::freeze, E::abort}));
  EXPECT_EQ(good->count(E::thaw), 1u);
  auto st = status_of(s, bad);
  EXPECT_EQ(st.state, writer_state::failed_at_freeze);
  EXPECT_EQ(st.failure, errc::writer_error_retryable);
  EXPECT_EQ(memory_->query().size(), 1u);
  EXPECT_EQ(s.consistency(), consistency_grade::crash);
}

TEST_F(FailuresTest, ThawVetoAbortsThatWriter) {
  auto bad = add_writer("bad");
  bad->script(E::thaw, {action::fail, errc::writer_error_nonretryable});
  auto s = prepared_session();
  EXPECT_EQ(snapshot(s), errc::async_finished);
  EXPECT_EQ(bad->count(E::abort), 1u);
  EXPECT_EQ(bad->count(E::post_snapshot), 0u);
  EXPECT_EQ(status_of(s, bad).state, writer_state::failed_at_thaw);
}

TEST_F(FailuresTest, PostSnapshotFailureIsRecordedWithoutAbort) {
  auto bad = add_writer("bad");
  bad->script(E::post_snapshot, {action::fail, errc::writer_error_retryable});
  auto s = prepared_session();
  EXPECT_EQ(snapshot(s), errc::async_finished);
  EXPECT_EQ(bad->count(E::abort), 0u);
  EXPECT_EQ(status_of(s, bad).state, writer_state::failed_at_post_snapshot);
  auto bc = s.async_backup_complete(use_async_op);
  EXPECT_EQ(finish(bc), errc::async_finished);
  // Invariant 2: BackupComplete is this writer's only possible end (decisions §15).
  EXPECT_EQ(bad->count(E::backup_complete), 1u);
}

TEST_F(FailuresTest, BackupCompleteFailureIsReported) {
  auto bad = add_writer("bad");
  bad->script(E::backup_complete, {action::fail, errc::writer_error_retryable});
  auto s = prepared_session();
  EXPECT_EQ(snapshot(s), errc::async_finished);
  auto bc = s.async_backup_complete(use_async_op);
  EXPECT_EQ(finish(bc), errc::async_finished);
  EXPECT_EQ(status_of(s, bad).state, writer_state::failed_at_backup_complete);
}

TEST_F(FailuresTest, ThrowingHandlerCountsAsNonRetryableFailure) {
  auto bad = add_writer("bad");
  bad->script(E::prepare_snapshot, {action::throw_exception});
  auto s = prepared_session();
  EXPECT_EQ(snapshot(s), errc::async_finished);
  auto st = status_of(s, bad);
  EXPECT_EQ(st.state, writer_state::failed_at_prepare_snapshot);
  EXPECT_EQ(st.failure, errc::writer_error_nonretryable);
  EXPECT_EQ(st.message, "the handler threw an exception");
}

// A writer whose handlers throw with the engine's context still unmoved (a test_writer moves it
// into its own handle() first), so the context the delivery loop built is the one that must
// record the failure while unwinding.
class throwing_writer : public writer {
 public:
  explicit throwing_writer(std::string name) : writer(writer_identity{.name = std::move(name)}) {}
  void on_prepare_snapshot(writer_context) override { throw std::runtime_error("prepare"); }
  void on_freeze(writer_context ctx) override { ctx.complete(); }
  void on_thaw(writer_context ctx) override { ctx.complete(); }
  void on_abort(writer_context) override {
    ++aborts;
    throw std::runtime_error("abort");
  }
  std::atomic<int> aborts{0};
};

// One shard, so the writers share one delivery loop, and the thrower sits in its middle: slots
// follow registration order within a freeze group, and all of them are front-end. The loop
// catches per writer, so the writers after the thrower still get every event (decisions §29).
TEST_F(FailuresTest, AThrowingHandlerDoesNotStopTheWritersAfterItInItsShardsLoop) {
  make_engine({.shard_count = 1});
  auto a = add_writer("a");
  auto bad = std::make_shared<throwing_writer>("bad");
  auto bad_reg = engine_->register_writer(bad);
  auto c = add_writer("c");
  auto s = prepared_session();
  EXPECT_EQ(snapshot(s), errc::async_finished);
  const auto st = status_of(s, bad);
  EXPECT_EQ(st.state, writer_state::failed_at_prepare_snapshot);
  EXPECT_EQ(st.message, "the handler threw an exception");
  for (const auto& w : {a, c}) {
    SCOPED_TRACE(w->identity().name);
    EXPECT_EQ(w->count(E::prepare_snapshot), 1u);
    EXPECT_EQ(w->count(E::freeze), 1u);
    EXPECT_EQ(w->count(E::post_snapshot), 1u);
    EXPECT_EQ(status_of(s, w).state, writer_state::waiting_for_backup_complete);
  }
}

TEST_F(FailuresTest, AbortReachesEveryWriterOfAShardWhoseHandlersThrow) {
  make_engine({.shard_count = 1});  // one loop, registration order (see above)
  auto a = add_writer("a");
  auto bad = std::make_shared<throwing_writer>("bad");
  auto bad_reg = engine_->register_writer(bad);
  auto c = add_writer("c");
  auto d = add_writer("d");
  c->script(E::abort, {action::throw_exception});
  auto s = prepared_session();
  auto ab = s.async_abort_backup(use_async_op);
  EXPECT_EQ(finish(ab), errc::async_finished);
  EXPECT_EQ(bad->aborts.load(), 1);
  for (const auto& w : {a, c, d}) EXPECT_EQ(w->count(E::abort), 1u) << w->identity().name;
  EXPECT_EQ(status_of(s, bad).message, "the handler threw an exception");
  EXPECT_EQ(status_of(s, c).message, "the handler threw an exception");
  EXPECT_EQ(status_of(s, d).message, "");
}

TEST_F(FailuresTest, DroppedContextCountsAsFailureInsteadOfStallingTheBackup) {
  auto bad = add_writer("bad");
  bad->script(E::prepare_snapshot, {action::drop});
  auto s = prepared_session();
  EXPECT_EQ(snapshot(s), errc::async_finished);
  EXPECT_EQ(status_of(s, bad).failure, errc::writer_error_nonretryable);
}

TEST_F(FailuresTest, FailWithANonWriterCodeIsRejectedAndRecordsNothing) {
  class lying : public test_writer {
   public:
    using test_writer::test_writer;
    std::error_code result;
    void on_prepare_snapshot(writer_context ctx) override {
      result = ctx.fail(errc::provider_veto, "not a writer code");
      ctx.complete();
    }
  };
  auto w = std::make_shared<lying>("lying");
  regs_.push_back(engine_->register_writer(w));
  auto s = prepared_session();
  EXPECT_EQ(snapshot(s), errc::async_finished);
  EXPECT_EQ(w->result, errc::invalid_arg);
  EXPECT_EQ(status_of(s, w).state, writer_state::waiting_for_backup_complete);
}

TEST_F(FailuresTest, FreezeTimeoutAbortsTheWriterAloneInVirtualTime) {
  auto slow = add_writer("slow", application_level::front_end, 60s);
  auto good = add_writer("good", application_level::back_end);
  slow->script(E::freeze, {action::hold});
  auto s = prepared_session();
  const auto t0 = clock_->now();
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_GE(clock_->now() - t0, 60s);
  EXPECT_LT(clock_->now() - t0, 61s);
  auto st = status_of(s, slow);
  EXPECT_EQ(st.state, writer_state::failed_at_freeze);
  EXPECT_EQ(st.failure, errc::writer_error_timeout);
  EXPECT_EQ(slow->count(E::abort), 1u);
  EXPECT_EQ(slow->count(E::thaw), 0u);
  EXPECT_EQ(good->count(E::thaw), 1u);
  slow->release_held();  // too late: ignored
  settle();
  EXPECT_EQ(status_of(s, slow).state, writer_state::failed_at_freeze);
}

TEST_F(FailuresTest, FreezeWindowClosingWhileWaitingForCommitAbortsTheWriter) {
  auto quick = add_writer("quick", application_level::front_end, 5s);
  auto other = add_writer("other", application_level::back_end, 60s);
  other->script(E::freeze, {action::hold});
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_EQ(quick->count(E::freeze), 1u);
  clock_->advance(6s);  // quick froze fine, but its window closes while `other` holds Freeze
  settle();
  EXPECT_EQ(quick->count(E::abort), 1u);
  other->release_held();
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_EQ(quick->count(E::thaw), 0u);
  EXPECT_EQ(other->count(E::thaw), 1u);
  auto st = status_of(s, quick);
  EXPECT_EQ(st.state, writer_state::failed_at_freeze);
  EXPECT_EQ(st.failure, errc::writer_error_timeout);
}

TEST_F(FailuresTest, AWritersWindowClosesOnTimeWhileALevelMateHoldsFreezeAndItStaysFailed) {
  // `quick` answered Freeze, but its level's phase waits for `holder`. Its window still closes
  // at 5 s (spec §7.2), not when the phase settles or a front-end writer's window closes; and
  // its Freeze answer, applied when the phase settles later, must not make it "waiting for
  // Thaw" again.
  auto front = add_writer("front", application_level::front_end, 60s);
  auto quick = add_writer("quick", application_level::back_end, 5s);
  auto holder = add_writer("holder", application_level::back_end, 60s);
  holder->script(E::freeze, {action::hold});
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_EQ(quick->count(E::freeze), 1u);
  clock_->advance(6s);
  settle();
  EXPECT_EQ(quick->count(E::abort), 1u);
  EXPECT_EQ(front->count(E::abort), 0u);
  holder->release_held();
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_EQ(quick->count(E::thaw), 0u);
  EXPECT_EQ(front->count(E::thaw), 1u);
  EXPECT_EQ(holder->count(E::thaw), 1u);
  auto st = status_of(s, quick);
  EXPECT_EQ(st.state, writer_state::failed_at_freeze);
  EXPECT_EQ(st.failure, errc::writer_error_timeout);
  EXPECT_EQ(status_of(s, holder).state, writer_state::waiting_for_backup_complete);
}

TEST_F(FailuresTest, SilentWriterIsNotRespondingAfterThePhaseDeadline) {
  auto mute = add_writer("mute");
  mute->script(E::prepare_snapshot, {action::hold});
  auto s = prepared_session();
  const auto t0 = clock_->now();
  EXPECT_EQ(snapshot(s), errc::async_finished);
  EXPECT_GE(clock_->now() - t0, 600s);  // spec §7.2 CHOICE default
  auto st = status_of(s, mute);
  EXPECT_EQ(st.failure, errc::writer_not_responding);
  EXPECT_EQ(st.state, writer_state::stable);  // no answer keeps the last state
  EXPECT_EQ(mute->count(E::freeze), 0u);
}

TEST_F(FailuresTest, DeadlinesAreConfigurable) {
  engine_options o;
  o.deadlines.prepare_snapshot = 2s;
  make_engine(o);
  auto mute = add_writer("mute");
  mute->script(E::prepare_snapshot, {action::hold});
  auto s = prepared_session();
  const auto t0 = clock_->now();
  EXPECT_EQ(snapshot(s), errc::async_finished);
  EXPECT_LT(clock_->now() - t0, 3s);
}

TEST_F(FailuresTest, ProviderVetoAtCommitFailsTheSetAndAbortsEveryWriter) {
  auto a = add_writer("a");
  auto b = add_writer("b", application_level::system);
  memory_->fail(P::commit, errc::provider_veto);
  auto s = prepared_session();
  EXPECT_EQ(snapshot(s), errc::provider_veto);
  EXPECT_EQ(s.state(), session_state::failed);
  EXPECT_EQ(a->count(E::abort), 1u);
  EXPECT_EQ(b->count(E::abort), 1u);
  EXPECT_EQ(a->count(E::thaw), 0u);
  EXPECT_EQ(memory_->calls(P::abort), 1);
  EXPECT_TRUE(memory_->all_records().empty());
  // Spec §3.1: call AbortBackup after a failed DoSnapshotSet; it sends nothing new.
  auto ab = s.async_abort_backup(use_async_op);
  EXPECT_EQ(finish(ab), errc::async_finished);
  EXPECT_EQ(a->count(E::abort), 1u);
  auto bc = s.async_backup_complete(use_async_op);
  EXPECT_EQ(finish(bc), errc::bad_state);
}

TEST_F(FailuresTest, ProviderFailureAtEachStepFailsTheSetAndLeavesNothing) {
  for (auto call : {P::end_prepare, P::pre_commit, P::commit, P::post_commit, P::pre_final_commit,
                    P::post_final_commit}) {
    SCOPED_TRACE(static_cast<int>(call));
    make_engine({});
    writers_.clear();
    auto w = add_writer("w");
    memory_->fail(call, errc::insufficient_storage);
    auto s = prepared_session();
    EXPECT_EQ(snapshot(s), errc::insufficient_storage);
    EXPECT_EQ(w->count(E::abort), call == P::post_final_commit ? 0u : 1u);
    EXPECT_TRUE(memory_->all_records().empty());
  }
}

TEST_F(FailuresTest, UnlistedProviderCodeBecomesUnexpectedProviderError) {
  add_writer("w");
  memory_->fail(P::pre_commit, std::make_error_code(std::errc::io_error));
  auto s = prepared_session();
  EXPECT_EQ(snapshot(s), errc::unexpected_provider_error);
}

TEST_F(FailuresTest, HoldBudgetFailsTheSetWithoutWaitingForTheCommit) {
  auto w = add_writer("w");
  memory_->hold(P::commit);
  auto s = prepared_session();
  const auto t0 = clock_->now();
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::hold_writes_timeout);
  EXPECT_GE(clock_->now() - t0, 10s);
  EXPECT_LT(clock_->now() - t0, 11s);
  EXPECT_EQ(w->count(E::abort), 1u);       // released now, not when the commit returns
  EXPECT_EQ(memory_->calls(P::abort), 0);  // the provider is rolled back after its commit
  memory_->release(P::commit);
  settle();
  EXPECT_EQ(memory_->calls(P::abort), 1);
  EXPECT_TRUE(memory_->all_records().empty());
}

TEST_F(FailuresTest, AHungPreCommitFailsTheSetAtTheProviderStepDeadline) {
  auto w = add_writer("w");
  memory_->hold(P::pre_commit);  // writers are frozen while PreCommitSnapshots runs
  auto s = prepared_session();
  const auto t0 = clock_->now();
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::flush_writes_timeout);
  EXPECT_GE(clock_->now() - t0, 600s);
  EXPECT_LT(clock_->now() - t0, 601s);
  EXPECT_EQ(w->count(E::abort), 1u);
  EXPECT_EQ(w->count(E::thaw), 0u);
  memory_->release(P::pre_commit);
  settle();
  EXPECT_EQ(memory_->calls(P::abort), 1);  // rolled back once the call returned
  EXPECT_TRUE(memory_->all_records().empty());
}

TEST_F(FailuresTest, AHungPostCommitFailsWithAnUnexpectedProviderErrorAtItsDeadline) {
  engine_options o;
  o.deadlines.provider_step = 5s;
  make_engine(o);
  auto w = add_writer("w");
  memory_->hold(P::post_commit);
  auto s = prepared_session();
  const auto t0 = clock_->now();
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::unexpected_provider_error);
  EXPECT_GE(clock_->now() - t0, 5s);
  EXPECT_LT(clock_->now() - t0, 6s);
  EXPECT_EQ(w->count(E::abort), 1u);
  memory_->release(P::post_commit);
  settle();
  EXPECT_TRUE(memory_->all_records().empty());
}

}  // namespace
}  // namespace vss::test
