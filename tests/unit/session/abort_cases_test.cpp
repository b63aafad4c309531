// Every abort case of spec §10.3, deterministic: which writers got which events, what the
// DoSnapshotSet handle reports, what the provider saw, and what is left behind.

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/test_writer.hpp"

namespace vss::test {
namespace {

using E = writer_event;
using P = provider_call;

class AbortCasesTest : public engine_test {
 protected:
  // settle() as a requester's own run loop would do it: what a handler throws leaves poll(),
  // is counted, and the loop goes on. Returns how many exceptions came out.
  int settle_counting_throws() {
    int thrown = 0;
    for (;;) {
      try {
        settle();
        return thrown;
      } catch (const std::runtime_error&) {
        ++thrown;
      }
    }
  }

  std::error_code abort_async(backup_session& s) {
    auto op = s.async_abort_backup(use_async_op);
    const auto status = finish(op);
    return status == errc::async_finished ? std::error_code{} : status;
  }

  /// Invariants 1 and 3 of DESIGN.md §4 for one writer's event list.
  static void expect_clean_end(const test_writer& w) {
    const auto events = w.events();
    const auto freezes = std::count(events.begin(), events.end(), E::freeze);
    const auto thaws = std::count(events.begin(), events.end(), E::thaw);
    const auto aborts = std::count(events.begin(), events.end(), E::abort);
    EXPECT_LE(aborts, 1) << w.identity().name;
    EXPECT_LE(thaws, 1) << w.identity().name;
    if (freezes > 0) {
      EXPECT_GE(thaws + aborts, 1) << w.identity().name << " left frozen";
    }
    auto abort_at = std::find(events.begin(), events.end(), E::abort);
    if (abort_at != events.end()) {
      for (auto it = abort_at + 1; it != events.end(); ++it) {
        EXPECT_EQ(*it, E::backup_shutdown) << w.identity().name << " got " << *it << " after Abort";
      }
    }
  }
};

TEST_F(AbortCasesTest, CaseA_BeforePrepareForBackupNoWriterHearsAnything) {
  auto w = add_writer("db");
  auto s = gathered_session();
  ASSERT_FALSE(s.start_snapshot_set(set_));
  ASSERT_FALSE(s.add_to_snapshot_set("/data", {}, snapshot_));
  EXPECT_FALSE(abort_async(s));
  EXPECT_EQ(s.state(), session_state::aborted);
  auto p = s.async_prepare_for_backup(use_async_op);
  EXPECT_EQ(finish(p), errc::bad_state);
  // Unlike VSS (spec §3.6) the provider is told: concurrent sets rule out an implicit restart.
  EXPECT_EQ(memory_->calls(P::abort), 1);
  EXPECT_TRUE(memory_->all_records().empty());
  s.release();
  settle();
  EXPECT_EQ(w->events(), ev({E::identify}));  // no PrepareBackup, so no BackupShutdown either
}

TEST_F(AbortCasesTest, CaseAPrime_AbortDuringPrepareForBackupCancelsItAndAbortsWriters) {
  auto fast = add_writer("fast");
  auto slow = add_writer("slow");
  slow->script(E::prepare_backup, {action::hold});
  auto s = gathered_session();
  ASSERT_FALSE(s.start_snapshot_set(set_));
  auto p = s.async_prepare_for_backup(use_async_op);
  settle();
  ASSERT_EQ(slow->held_count(), 1u);
  EXPECT_FALSE(abort_async(s));
  EXPECT_EQ(p.query_status(), errc::async_cancelled);
  EXPECT_EQ(fast->count(E::abort), 1u);
  EXPECT_EQ(slow->count(E::abort), 1u);
  slow->release_held();  // a late answer is ignored
  settle();
  expect_clean_end(*fast);
  expect_clean_end(*slow);
}

TEST_F(AbortCasesTest, CaseB_AfterPrepareEveryParticipantGetsAbort) {
  auto a = add_writer("a");
  auto b = add_writer("b", application_level::system);
  auto s = prepared_session();
  EXPECT_FALSE(abort_async(s));
  EXPECT_EQ(a->count(E::abort), 1u);
  EXPECT_EQ(b->count(E::abort), 1u);
  EXPECT_EQ(memory_->calls(P::abort), 1);  // the prepared volume is discarded (decision 13)
  EXPECT_TRUE(memory_->all_records().empty());
  s.release();
  run_until([&] { return a->count(E::backup_shutdown) == 1 && b->count(E::backup_shutdown) == 1; });
  EXPECT_EQ(a->events(), ev({E::identify, E::prepare_backup, E::abort, E::backup_shutdown}));
}

// A provider that answers AbortSnapshots twice, as a faulty one may.
class answers_abort_twice final : public holding_provider {
 public:
  void abort_snapshots(const snapshot_set_id& s, completion d) override {
    holding_provider::abort_snapshots(s, [d = std::move(d)](std::error_code ec) {
      d(ec);
      d(ec);
    });
  }
};

TEST_F(AbortCasesTest, TheProviderLegWaitsForEachProviderOfTheSetAndCountsEachOnce) {
  // Three providers, one more than the leg keeps inline: the first answers AbortSnapshots
  // twice, the second holds its answer, the third answers at once. The first's second answer
  // must not stand in for the second's: the abort waits for it.
  auto w = add_writer("db");
  std::vector<std::shared_ptr<holding_provider>> providers{std::make_shared<answers_abort_twice>(),
                                                           std::make_shared<holding_provider>(),
                                                           std::make_shared<holding_provider>()};
  providers[1]->hold(P::abort);
  auto s = gathered_session();
  ASSERT_FALSE(s.start_snapshot_set(set_));
  for (std::size_t k = 0; k < providers.size(); ++k) {
    ASSERT_FALSE(engine_->register_provider(providers[k]));
    snapshot_id id;
    ASSERT_FALSE(
        s.add_to_snapshot_set("/vol" + std::to_string(k), providers[k]->properties().id, id));
  }
  auto prepare = s.async_prepare_for_backup(use_async_op);
  ASSERT_EQ(finish(prepare), errc::async_finished);
  auto abort = s.async_abort_backup(use_async_op);
  settle();
  for (const auto& p : providers) EXPECT_EQ(p->calls(P::abort), 1);
  EXPECT_EQ(w->count(E::abort), 1u);
  EXPECT_EQ(abort.query_status(), errc::async_pending) << "drained before a provider answered";
  ASSERT_TRUE(providers[1]->release(P::abort));
  EXPECT_EQ(finish(abort), errc::async_finished);
  for (const auto& p : providers) {
    EXPECT_EQ(p->calls(P::abort), 1);
    EXPECT_TRUE(p->all_records().empty());
  }
}

TEST_F(AbortCasesTest, CaseC1_AbortDuringEndPrepareCancelsAndAbortsProvider) {
  auto w = add_writer("db");
  auto s = prepared_session();
  memory_->hold(P::end_prepare);
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_TRUE(memory_->is_held(P::end_prepare));
  EXPECT_FALSE(abort_async(s));  // AbortSnapshots may arrive during EndPrepareSnapshots
  EXPECT_EQ(op.query_status(), errc::async_cancelled);
  EXPECT_EQ(memory_->calls(P::abort), 1);
  EXPECT_EQ(w->count(E::abort), 1u);
  EXPECT_EQ(w->count(E::prepare_snapshot), 0u);
  memory_->release(P::end_prepare);
  settle();
  EXPECT_TRUE(memory_->all_records().empty());
  EXPECT_EQ(memory_->calls(P::commit), 0);
}

TEST_F(AbortCasesTest, WriterStatusAfterAnAbortShowsTheSupersededFreezeAndTheAbort) {
  // The answers of the Freeze the abort superseded, and of the abort itself, become writer
  // states after the requester is woken (decisions §24); every status read after AbortBackup
  // must still see all of them.
  auto frozen = add_writer("frozen");
  auto holder = add_writer("holder");
  auto vetoer = add_writer("vetoer");
  auto stuck = add_writer("stuck");
  holder->script(E::freeze, {action::hold});
  vetoer->script(E::freeze, {action::fail, errc::writer_error_retryable});
  stuck->script(E::abort, {action::fail, errc::writer_error_nonretryable});
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_EQ(holder->held_count(), 1u);
  EXPECT_FALSE(abort_async(s));
  EXPECT_EQ(op.query_status(), errc::async_cancelled);
  auto st = s.async_gather_writer_status(use_async_op);
  ASSERT_EQ(finish(st), errc::async_finished);
  std::map<std::string, writer_status> by_name;
  for (const auto& w : s.get_writer_status()) by_name[w.name] = w;
  ASSERT_EQ(by_name.size(), 4u);
  EXPECT_EQ(by_name["frozen"].state, writer_state::stable);  // froze, then aborted
  EXPECT_FALSE(by_name["frozen"].failure);
  EXPECT_EQ(by_name["holder"].state, writer_state::stable);            // its Freeze was superseded
  EXPECT_EQ(by_name["vetoer"].state, writer_state::failed_at_freeze);  // kept after OnAbort
  EXPECT_EQ(by_name["vetoer"].failure, make_error_code(errc::writer_error_retryable));
  EXPECT_EQ(by_name["vetoer"].message, "scripted failure");
  EXPECT_EQ(by_name["stuck"].failure, make_error_code(errc::writer_error_nonretryable));
  EXPECT_EQ(by_name["stuck"].message, "scripted failure");
  // The reports have every phase, the superseded Freeze and the abort included.
  const auto reports = s.phase_reports();
  ASSERT_GE(reports.size(), 2u);
  EXPECT_EQ(reports.back().event, E::abort);
  EXPECT_EQ(reports[reports.size() - 2].event, E::freeze);
}

TEST_F(AbortCasesTest, CaseC2_AbortDuringPrepareSnapshotReachesEveryParticipant) {
  auto holder = add_writer("holder");
  auto vetoer = add_writer("vetoer");
  holder->script(E::prepare_snapshot, {action::hold});
  vetoer->script(E::prepare_snapshot, {action::fail, errc::writer_error_retryable});
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  EXPECT_FALSE(abort_async(s));
  EXPECT_EQ(op.query_status(), errc::async_cancelled);
  EXPECT_EQ(holder->count(E::abort), 1u);
  EXPECT_EQ(vetoer->count(E::abort), 1u);  // spec C2 CHOICE: vetoers are aborted too
  holder->release_held();
  settle();
  EXPECT_EQ(holder->count(E::freeze), 0u);
  EXPECT_TRUE(memory_->all_records().empty());
}

TEST_F(AbortCasesTest, CaseC3_AbortWhileFrozenThawsByAbortAndStopsLaterLevels) {
  auto front = add_writer("front", application_level::front_end);
  auto back = add_writer("back", application_level::back_end);
  front->script(E::freeze, {action::hold});
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_EQ(front->count(E::freeze), 1u);
  EXPECT_FALSE(abort_async(s));
  EXPECT_EQ(op.query_status(), errc::async_cancelled);
  EXPECT_EQ(front->count(E::abort), 1u);
  EXPECT_EQ(front->count(E::thaw), 0u);
  EXPECT_EQ(back->count(E::freeze), 0u);
  EXPECT_EQ(back->count(E::abort), 1u);
  EXPECT_EQ(memory_->calls(P::commit), 0);
  EXPECT_EQ(memory_->calls(P::abort), 1);
  expect_clean_end(*front);
  expect_clean_end(*back);
}

TEST_F(AbortCasesTest, AnAbortAfterAWriterWasAbortedAloneReachesEveryOtherWriterOnce) {
  // The abort sequence addresses every participant at once unless one was aborted alone
  // before (decisions §26): here a Freeze veto took that path first.
  auto vetoer = add_writer("vetoer", application_level::front_end);
  auto good = add_writer("good", application_level::front_end);
  auto holder = add_writer("holder", application_level::back_end);
  vetoer->script(E::freeze, {action::fail, errc::writer_error_retryable});
  holder->script(E::freeze, {action::hold});
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  run_until([&] { return vetoer->count(E::abort) == 1 && holder->held_count() == 1; });
  EXPECT_FALSE(abort_async(s));
  EXPECT_EQ(op.query_status(), errc::async_cancelled);
  EXPECT_EQ(vetoer->count(E::abort), 1u);  // aborted alone already: not again
  EXPECT_EQ(good->count(E::abort), 1u);
  EXPECT_EQ(holder->count(E::abort), 1u);
  holder->release_held();
  settle();
  expect_clean_end(*vetoer);
  expect_clean_end(*good);
  expect_clean_end(*holder);
  auto st = s.async_gather_writer_status(use_async_op);
  ASSERT_EQ(finish(st), errc::async_finished);
  std::map<std::string, writer_status> by_name;
  for (const auto& w : s.get_writer_status()) by_name[w.name] = w;
  EXPECT_EQ(by_name["vetoer"].state, writer_state::failed_at_freeze);
  EXPECT_EQ(by_name["vetoer"].message, "scripted failure");
}

TEST_F(AbortCasesTest, CaseC4_AbortDuringCommitWaitsForTheCommitThenRollsBack) {
  auto w = add_writer("db");
  auto s = prepared_session();
  memory_->hold(P::commit);
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_TRUE(memory_->is_held(P::commit));
  auto ab = s.async_abort_backup(use_async_op);
  settle();
  // The commit is atomic: nothing happens to writers or provider while it runs.
  EXPECT_FALSE(op.done());
  EXPECT_FALSE(ab.done());
  EXPECT_EQ(w->count(E::abort), 0u);
  EXPECT_EQ(memory_->calls(P::abort), 0);
  memory_->release(P::commit);
  EXPECT_EQ(finish(ab), errc::async_finished);
  EXPECT_EQ(op.query_status(), errc::async_cancelled);
  EXPECT_EQ(w->count(E::abort), 1u);
  EXPECT_EQ(w->count(E::thaw), 0u);
  EXPECT_EQ(memory_->calls(P::abort), 1);
  EXPECT_TRUE(memory_->all_records().empty());  // the committed snapshot was deleted
}

TEST_F(AbortCasesTest, CaseC4_ACommitThatOverrunsTheHoldBudgetReleasesTheWritersOfAWaitingAbort) {
  auto w = add_writer("db");
  auto s = prepared_session();
  memory_->hold(P::commit);
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_TRUE(memory_->is_held(P::commit));
  const auto t0 = clock_->now();
  auto ab = s.async_abort_backup(use_async_op);
  settle();
  EXPECT_EQ(w->count(E::abort), 0u);  // the abort waits for the commit...
  // ...but never past the hold window (spec §7.1): writers are released when it closes.
  ASSERT_TRUE(run_until([&] { return w->count(E::abort) == 1u; }));
  EXPECT_GE(clock_->now() - t0, std::chrono::seconds(10));
  EXPECT_LT(clock_->now() - t0, std::chrono::seconds(11));
  EXPECT_EQ(w->count(E::thaw), 0u);
  EXPECT_EQ(op.query_status(), errc::async_cancelled);
  EXPECT_EQ(memory_->calls(P::abort), 0);  // the rollback still waits for the commit
  memory_->release(P::commit);
  EXPECT_EQ(finish(ab), errc::async_finished);
  EXPECT_EQ(memory_->calls(P::abort), 1);
  EXPECT_TRUE(memory_->all_records().empty());
}

TEST_F(AbortCasesTest, CaseC5_AbortAfterCommitDeletesTheSetAndSparesWritersPastPostSnapshot) {
  auto done = add_writer("done");
  auto busy = add_writer("busy");
  busy->script(E::post_snapshot, {action::hold});
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_EQ(busy->held_count(), 1u);
  ASSERT_EQ(done->count(E::post_snapshot), 1u);
  EXPECT_FALSE(abort_async(s));
  EXPECT_EQ(op.query_status(), errc::async_cancelled);
  EXPECT_EQ(done->count(E::abort), 0u);  // already past PostSnapshot
  EXPECT_EQ(busy->count(E::abort), 1u);
  EXPECT_TRUE(memory_->all_records().empty());
  EXPECT_EQ(s.consistency(), consistency_grade::none);
}

TEST_F(AbortCasesTest, CaseD_AfterSuccessNoWriterIsAbortedAndAutoReleaseSnapshotsGo) {
  auto w = add_writer("db");
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  ASSERT_EQ(finish(op), errc::async_finished);
  ASSERT_EQ(memory_->query().size(), 1u);
  EXPECT_FALSE(abort_async(s));
  EXPECT_EQ(w->count(E::abort), 0u);
  EXPECT_TRUE(memory_->query().empty());
  auto bc = s.async_backup_complete(use_async_op);
  EXPECT_EQ(finish(bc), errc::bad_state);
  s.release();
  run_until([&] { return w->count(E::backup_shutdown) == 1; });
  expect_clean_end(*w);
}

TEST_F(AbortCasesTest, CaseE_ReleasingMidBackupIsAnImplicitAbort) {
  auto w = add_writer("db");
  w->script(E::freeze, {action::hold});
  {
    auto s = prepared_session();
    auto op = s.async_do_snapshot_set(use_async_op);
    settle();
    ASSERT_EQ(w->count(E::freeze), 1u);
  }  // last handle gone
  run_until([&] { return w->count(E::backup_shutdown) == 1; });
  EXPECT_EQ(w->count(E::abort), 1u);
  EXPECT_TRUE(memory_->all_records().empty());
  settle();  // the reservations go once BackupShutdown is answered
  // The writer is free for the next session.
  w->script(E::freeze, {action::complete});
  auto s2 = prepared_session();
  auto op2 = s2.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op2), errc::async_finished);
}

TEST_F(AbortCasesTest, SecondAbortIsOkAndSendsNothingNew) {
  auto w = add_writer("db");
  auto s = prepared_session();
  EXPECT_FALSE(abort_async(s));
  EXPECT_FALSE(abort_async(s));
  EXPECT_EQ(w->count(E::abort), 1u);
}

TEST_F(AbortCasesTest, TheAbortIsDoneWhenTheLoopThatTakesItsLastAnswerReturns) {
  // Decisions §30: the writer leg ends in the shard loop that takes the last answer, not one
  // strand hop later. Run one handler at a time and look right after the last OnAbort.
  auto a = add_writer("a");
  auto b = add_writer("b");  // two shards: two loops, and the later one ends the leg
  async_op snap;
  auto s = frozen_session(*b, snap);
  auto op = s.async_abort_backup(use_async_op);
  io_.restart();
  int handlers = 0;
  while (a->count(E::abort) + b->count(E::abort) < 2 && io_.poll_one() > 0) ++handlers;
  ASSERT_EQ(a->count(E::abort) + b->count(E::abort), 2u) << "after " << handlers << " handlers";
  EXPECT_TRUE(op.done());
  EXPECT_EQ(op.query_status(), errc::async_finished);
  EXPECT_EQ(snap.query_status(), errc::async_cancelled);
  // What the session keeps afterwards is unchanged: one Abort each, states read after it.
  settle();
  EXPECT_EQ(a->count(E::abort), 1u);
  EXPECT_EQ(b->count(E::abort), 1u);
  EXPECT_EQ(s.state(), session_state::aborted);
  expect_clean_end(*a);
  expect_clean_end(*b);
}

TEST_F(AbortCasesTest, AnAbortRunsItsLastShardsLoopInItsOwnStrandStep) {
  // Decisions §32: the strand step of an abort runs the last shard's OnAbort loop itself when
  // the provider has answered, instead of posting it (a post can wake an idle io thread, and
  // the thread that wakes it pays). With every writer in one shard, one handler, the abort's
  // strand step, ends the whole abort.
  auto w = add_writer("db");
  async_op snap;
  auto s = frozen_session(*w, snap);
  auto op = s.async_abort_backup(use_async_op);
  io_.restart();
  ASSERT_EQ(io_.poll_one(), 1u);
  EXPECT_EQ(w->count(E::abort), 1u);
  EXPECT_TRUE(op.done());
  EXPECT_EQ(op.query_status(), errc::async_finished);
  EXPECT_EQ(snap.query_status(), errc::async_cancelled);
  settle();
  EXPECT_EQ(s.state(), session_state::aborted);
  expect_clean_end(*w);
}

TEST_F(AbortCasesTest, ASmallAbortRunsTheLoopsOfAllItsShardsInItsOwnStrandStep) {
  // Decisions §33: up to loops_kept_whole writers, every shard's loop is kept and run on the
  // strand step's thread, one after the other; a blocking handler among them is handled by
  // handing the rest on (StuckHandler tests that on real threads).
  auto a = add_writer("a");
  auto b = add_writer("b");  // two shards
  async_op snap;
  auto s = frozen_session(*b, snap);
  auto op = s.async_abort_backup(use_async_op);
  io_.restart();
  ASSERT_EQ(io_.poll_one(), 1u);
  EXPECT_EQ(a->count(E::abort), 1u);
  EXPECT_EQ(b->count(E::abort), 1u);
  EXPECT_TRUE(op.done());
  EXPECT_EQ(op.query_status(), errc::async_finished);
  settle();
  EXPECT_EQ(a->count(E::abort), 1u);
  EXPECT_EQ(b->count(E::abort), 1u);
  expect_clean_end(*a);
  expect_clean_end(*b);
}

TEST_F(AbortCasesTest, AnAbortWhoseProviderStillAnswersPostsItsWritersLoops) {
  // The other side of decisions §32: while the provider leg is open, its end comes through the
  // strand, so a loop run on the strand (by a handler that blocked in it) could hold the drain
  // past its deadline. The loops are posted then, as before.
  auto a = add_writer("a");
  auto b = add_writer("b");
  async_op snap;
  auto s = frozen_session(*b, snap);
  memory_->hold(provider_call::abort);
  auto op = s.async_abort_backup(use_async_op);
  io_.restart();
  ASSERT_EQ(io_.poll_one(), 1u);
  EXPECT_EQ(a->count(E::abort) + b->count(E::abort), 0u);
  settle();
  EXPECT_EQ(a->count(E::abort), 1u);
  EXPECT_EQ(b->count(E::abort), 1u);
  EXPECT_FALSE(op.done());  // the drain waits for the provider
  ASSERT_TRUE(memory_->release(provider_call::abort));
  settle();
  EXPECT_EQ(op.query_status(), errc::async_finished);
  expect_clean_end(*a);
  expect_clean_end(*b);
}

TEST_F(AbortCasesTest, AThrowingAbortHandlerRunAtTheLoopsEndPropagatesLikeAnyHandlers) {
  // The abort's handler may now run at the end of a shard's loop (decisions §30). What it
  // throws must leave the io_context's run() as from any handler, not terminate the process
  // from the loop's batch.
  auto w = add_writer("db");
  async_op snap;
  auto s = frozen_session(*w, snap);
  bool ran = false;
  s.async_abort_backup([&](std::error_code) {
    ran = true;
    throw std::runtime_error("the requester's handler");
  });
  io_.restart();
  EXPECT_THROW(
      {
        while (io_.poll_one() > 0) {
        }
      },
      std::runtime_error);
  EXPECT_TRUE(ran);
  settle();
  EXPECT_EQ(w->count(E::abort), 1u);
  EXPECT_EQ(s.state(), session_state::aborted);
  EXPECT_EQ(snap.query_status(), errc::async_cancelled);
}

TEST_F(AbortCasesTest, ACancelledDoSnapshotSetsThrowingHandlerDoesNotStopTheAbort) {
  // The abort step completes the DoSnapshotSet it cancels first (t_cancel), before it
  // supersedes the frozen phase and starts the legs, and the handler runs inline there. Had
  // its exception unwound through the step, the abort would never start: abort_requested_ is
  // set, and nothing requests it again. It does not, because Asio's io_context executor
  // catches what a handler it runs inline throws and rethrows it from run() once the current
  // handler returned. The engine relies on that for every handler it completes mid-step; this
  // test and the next hold it to it.
  auto w = add_writer("db");
  w->script(E::freeze, {action::hold});
  auto s = prepared_session();
  int snapshot_handler_runs = 0;
  s.async_do_snapshot_set([&](std::error_code ec) {
    ++snapshot_handler_runs;
    EXPECT_EQ(ec, make_error_code(errc::async_cancelled));
    throw std::runtime_error("the requester's DoSnapshotSet handler");
  });
  settle();
  ASSERT_EQ(w->held_count(), 1u);
  auto abort = s.async_abort_backup(use_async_op);
  EXPECT_EQ(settle_counting_throws(), 1);
  EXPECT_EQ(snapshot_handler_runs, 1);
  EXPECT_EQ(w->count(E::abort), 1u);
  EXPECT_EQ(memory_->calls(P::abort), 1);
  EXPECT_EQ(abort.query_status(), errc::async_finished);
  EXPECT_EQ(s.state(), session_state::aborted);
  expect_clean_end(*w);
}

TEST_F(AbortCasesTest, OneAbortWaitersThrowingHandlerDoesNotLoseTheOthers) {
  // The drain completes every AbortBackup waiter in turn; had the first one's exception
  // unwound through that loop, the waiters after it would be destroyed uncompleted (see above).
  auto w = add_writer("db");
  async_op snap;
  auto s = frozen_session(*w, snap);
  int first_runs = 0;
  s.async_abort_backup([&](std::error_code) {
    ++first_runs;
    throw std::runtime_error("the first waiter's handler");
  });
  int second_runs = 0;
  std::error_code second_status = make_error_code(errc::unexpected);
  s.async_abort_backup([&](std::error_code ec) {
    ++second_runs;
    second_status = ec;
  });
  EXPECT_EQ(settle_counting_throws(), 1);
  EXPECT_EQ(first_runs, 1);
  EXPECT_EQ(second_runs, 1);
  EXPECT_FALSE(second_status);
  EXPECT_EQ(w->count(E::abort), 1u);
  EXPECT_EQ(snap.query_status(), errc::async_cancelled);
  EXPECT_EQ(s.state(), session_state::aborted);
}

TEST_F(AbortCasesTest, AbortWithNothingUnderwayIsIgnored) {
  auto s = engine_->create_backup_session();
  ASSERT_FALSE(s.initialize_for_backup());
  EXPECT_FALSE(abort_async(s));
  EXPECT_EQ(s.state(), session_state::initialized);
}

TEST_F(AbortCasesTest, BlockingAbortFromInsideAWriterHandlerStartsTheAbortAndReturns) {
  auto w = add_writer("db");
  std::error_code from_handler = make_error_code(errc::unexpected);
  backup_session s = prepared_session();
  w->on_event([&](E e) {
    if (e == E::freeze) from_handler = s.abort_backup();  // on an engine thread: must not wait
  });
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::async_cancelled);
  EXPECT_FALSE(from_handler);
  run_until([&] { return w->count(E::abort) == 1; });
  EXPECT_EQ(w->count(E::abort), 1u);
  EXPECT_EQ(w->count(E::thaw), 0u);
}

TEST_F(AbortCasesTest, CancelOnTheHandleAbortsThePipelineButLeavesTheSessionFailed) {
  auto w = add_writer("db");
  w->script(E::freeze, {action::hold});
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  EXPECT_FALSE(op.cancel());
  EXPECT_EQ(op.cancel(), errc::async_cancelled);
  EXPECT_EQ(finish(op), errc::async_cancelled);
  run_until([&] { return w->count(E::abort) == 1; });
  EXPECT_EQ(s.state(), session_state::failed);  // spec §3.5
  EXPECT_FALSE(abort_async(s));
  EXPECT_EQ(s.state(), session_state::aborted);
  EXPECT_EQ(w->count(E::abort), 1u);  // no second Abort
}

}  // namespace
}  // namespace vss::test
