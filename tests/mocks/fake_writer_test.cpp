// fake_writer checked against a real vss::engine: each fault kind must produce exactly the
// behaviour fake_writer.hpp documents (a fake that lies would hide engine bugs). Deterministic:
// one single-threaded io_context and a vss::manual_clock.

#include "vss/mocks/fake_writer.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>
#include <thread>

#include "support/test_writer.hpp"

namespace vss::mocks {
namespace {

using E = writer_event;
using namespace std::chrono_literals;

const std::vector<E> full_backup = {E::identify,        E::prepare_backup, E::prepare_snapshot,
                                    E::freeze,          E::thaw,           E::post_snapshot,
                                    E::backup_complete, E::backup_shutdown};

class FakeWriterTest : public vss::test::engine_test {
 protected:
  /// The engine's clock, executor and the shared recorder, unless `o` sets its own.
  fake_writer_options engine_options(fake_writer_options o = {}) {
    if (!o.clock) o.clock = clock_;
    if (!o.executor) o.executor = io_.get_executor();
    if (!o.recorder) o.recorder = recorder_;
    return o;
  }

  std::shared_ptr<fake_writer> add_fake(const std::string& name,
                                        application_level level = application_level::front_end,
                                        fake_writer_options o = {}) {
    return add(std::make_shared<fake_writer>(name, level, engine_options(std::move(o))));
  }

  std::shared_ptr<fake_writer> add(std::shared_ptr<fake_writer> w) {
    regs_.push_back(engine_->register_writer(w));
    return w;
  }

  writer_status status_of(backup_session& s, const writer& w) {
    auto op = s.async_gather_writer_status(use_async_op);
    EXPECT_EQ(finish(op), errc::async_finished);
    for (const auto& st : s.get_writer_status()) {
      if (st.instance_id == w.identity().instance_id) return st;
    }
    ADD_FAILURE() << "no status for " << w.identity().name;
    return {};
  }

  /// The writer's result in the last report of `event`.
  std::optional<writer_result> result_of(backup_session& s, E event, const writer& w) {
    std::optional<writer_result> out;
    for (const auto& r : s.phase_reports()) {
      if (r.event != event) continue;
      for (const auto& res : r.results) {
        if (res.instance_id == w.identity().instance_id) out = res;
      }
    }
    return out;
  }

  std::error_code snapshot(backup_session& s) {
    auto op = s.async_do_snapshot_set(use_async_op);
    return finish(op);
  }

  /// The engine-clock time at which `w` received its first `event`.
  static clock::time_point received_at(const fake_writer& w, E event) {
    for (const auto& h : w.history()) {
      if (h.event == event) return h.at;
    }
    ADD_FAILURE() << w.identity().name << " never received " << event;
    return {};
  }

  std::shared_ptr<event_recorder> recorder_ = std::make_shared<event_recorder>(clock_);
};

// ---------------------------------------------------------------------------------------------
// succeed (the default), Identify metadata, observation.

TEST_F(FakeWriterTest, UnscriptedWriterSucceedsEveryEventOfAFullBackup) {
  auto w = add_fake("db");
  for (std::size_t i = 0; i < writer_event_count; ++i) {
    EXPECT_TRUE(w->script(static_cast<E>(i)) == fault::succeed()) << static_cast<E>(i);
  }
  {
    auto s = prepared_session();
    EXPECT_EQ(snapshot(s), errc::async_finished);
    auto bc = s.async_backup_complete(use_async_op);
    EXPECT_EQ(finish(bc), errc::async_finished);
    EXPECT_EQ(status_of(s, *w).state, writer_state::stable);
    EXPECT_EQ(s.consistency(), consistency_grade::application);
  }  // the last handle releases the session: BackupShutdown
  EXPECT_TRUE(run_until([&] { return w->count(E::backup_shutdown) == 1; }));
  EXPECT_EQ(w->events(), full_backup);
  EXPECT_EQ(recorder_->events_of("db"), full_backup);
  EXPECT_EQ(w->count(E::freeze), 1u);
  EXPECT_EQ(w->held(), 0u);
}

TEST_F(FakeWriterTest, IdentifyReportsTheDefaultComponentOnData) {
  auto w = add_fake("db");
  auto s = gathered_session(/*select_components=*/true);
  const auto md = s.get_writer_metadata();
  ASSERT_EQ(md.size(), 1u);
  EXPECT_EQ(md[0].identity.instance_id, w->identity().instance_id);
  ASSERT_EQ(md[0].components.size(), 1u);
  const auto& c = md[0].components[0];
  EXPECT_EQ(c.type, component_type::file_group);
  EXPECT_EQ(c.logical_path, "");
  EXPECT_EQ(c.name, "db-data");
  EXPECT_TRUE(c.selectable);
  EXPECT_EQ(c.files, std::vector<std::string>{"/data/db/*"});
  EXPECT_EQ(c.volumes, std::vector<std::string>{"/data"});
  EXPECT_FALSE(select(s, *w));  // the engine accepts it for component mode
}

TEST_F(FakeWriterTest, IdentifyReportsTheComponentsGivenInTheOptions) {
  fake_writer_options o;
  o.components = {{component_type::database, "sql", "orders", "Orders", true, {}, {"/db"}},
                  {component_type::file_group, "", "logs", "", false, {"/logs/*"}, {"/logs"}}};
  auto w = add_fake("sql", application_level::back_end, o);
  auto s = gathered_session(true);
  const auto md = s.get_writer_metadata();
  ASSERT_EQ(md.size(), 1u);
  ASSERT_EQ(md[0].components.size(), 2u);
  EXPECT_EQ(md[0].components[0].type, component_type::database);
  EXPECT_EQ(md[0].components[0].logical_path, "sql");
  EXPECT_EQ(md[0].components[0].name, "orders");
  EXPECT_EQ(md[0].components[1].name, "logs");
  EXPECT_FALSE(md[0].components[1].selectable);
  EXPECT_FALSE(s.add_component(w->identity().instance_id, w->identity().class_id,
                               component_type::database, "sql", "orders"));
}

TEST_F(FakeWriterTest, IdentityConstructorKeepsTheGivenIdentity) {
  const auto instance = writer_instance_id::generate();
  auto w = std::make_shared<fake_writer>(writer_identity{.instance_id = instance,
                                                         .name = "mail",
                                                         .level = application_level::system,
                                                         .freeze_timeout = 5s});
  EXPECT_EQ(w->identity().instance_id, instance);
  EXPECT_FALSE(w->identity().class_id.is_null());
  EXPECT_EQ(w->identity().name, "mail");
  EXPECT_EQ(w->identity().level, application_level::system);
  EXPECT_EQ(w->identity().freeze_timeout, 5s);
}

TEST_F(FakeWriterTest, HistoryCarriesTheSetTheVirtualTimeAndTheHandlerThread) {
  auto w = add_fake("db");
  const auto t0 = clock_->now();
  auto s = prepared_session();
  EXPECT_EQ(snapshot(s), errc::async_finished);
  const auto h = w->history();
  ASSERT_EQ(h.size(), 6u);  // Identify ... PostSnapshot
  for (std::size_t i = 0; i < h.size(); ++i) {
    EXPECT_EQ(h[i].sequence, i);
    EXPECT_EQ(h[i].writer, "db");
    EXPECT_EQ(h[i].instance, w->identity().instance_id);
    // Nothing waited, so no virtual time passed; the io_context runs on this thread.
    EXPECT_EQ(h[i].at, t0);
    EXPECT_EQ(h[i].thread, std::this_thread::get_id());
  }
  EXPECT_TRUE(h[0].set.is_null());  // Identify has no snapshot set
  EXPECT_EQ(h[1].set, set_);
  EXPECT_EQ(h[5].set, set_);
}

// ---------------------------------------------------------------------------------------------
// veto

TEST_F(FakeWriterTest, VetoAtFreezeFailsThatWriterWithTheScriptedCodeAndAbortsIt) {
  auto bad = add_fake("bad");
  auto good = add_fake("good");
  bad->on(E::freeze, fault::veto(errc::writer_error_retryable));
  EXPECT_TRUE(bad->script(E::freeze) == fault::veto(errc::writer_error_retryable));
  auto s = prepared_session();
  // The engine reports writer vetoes per writer: the set is still created, crash-consistent.
  EXPECT_EQ(snapshot(s), errc::async_finished);
  const auto st = status_of(s, *bad);
  EXPECT_EQ(st.state, writer_state::failed_at_freeze);
  EXPECT_EQ(st.failure, errc::writer_error_retryable);
  EXPECT_EQ(st.message, "fake_writer: scripted veto at Freeze");
  EXPECT_EQ(bad->events(), (std::vector<E>{E::identify, E::prepare_backup, E::prepare_snapshot,
                                           E::freeze, E::abort}));
  EXPECT_EQ(good->count(E::thaw), 1u);
  EXPECT_EQ(good->count(E::abort), 0u);
  EXPECT_EQ(s.consistency(), consistency_grade::crash);
}

TEST_F(FakeWriterTest, VetoAtPrepareBackupReportsEachWriterErrorCodeAsGiven) {
  const std::vector<errc> codes = {errc::writer_error_inconsistent_snapshot,
                                   errc::writer_error_out_of_resources,
                                   errc::writer_error_timeout,
                                   errc::writer_error_retryable,
                                   errc::writer_error_nonretryable,
                                   errc::writer_error_partial_failure};
  std::vector<std::shared_ptr<fake_writer>> writers;
  for (std::size_t i = 0; i < codes.size(); ++i) {
    writers.push_back(add_fake("w" + std::to_string(i)));
    writers.back()->on(E::prepare_backup, fault::veto(codes[i]));
  }
  auto s = prepared_session();
  for (std::size_t i = 0; i < codes.size(); ++i) {
    const auto st = status_of(s, *writers[i]);
    EXPECT_EQ(st.state, writer_state::failed_at_prepare_backup) << symbol(codes[i]);
    EXPECT_EQ(st.failure, codes[i]) << symbol(codes[i]);
    EXPECT_EQ(st.message, "fake_writer: scripted veto at PrepareBackup");
  }
}

// ---------------------------------------------------------------------------------------------
// fail_without_code

TEST_F(FakeWriterTest, FailWithoutCodeDropsTheContextWhichCountsAsNonRetryable) {
  auto w = add_fake("db");
  w->on(E::prepare_snapshot, fault::fail_without_code());
  auto s = prepared_session();
  const auto before = clock_->now();
  EXPECT_EQ(snapshot(s), errc::async_finished);
  EXPECT_EQ(clock_->now(), before);  // answered at once, not by a deadline
  const auto st = status_of(s, *w);
  EXPECT_EQ(st.state, writer_state::failed_at_prepare_snapshot);
  EXPECT_EQ(st.failure, errc::writer_error_nonretryable);
  EXPECT_EQ(st.message, "writer_context destroyed without complete() or fail()");
  EXPECT_EQ(w->held(), 0u);
}

// ---------------------------------------------------------------------------------------------
// hang

TEST_F(FakeWriterTest, HangAtFreezeIsTimedOutByTheSixtySecondFreezeWindowInVirtualTime) {
  auto w = add_fake("db");
  w->on(E::freeze, fault::hang());
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_EQ(w->count(E::freeze), 1u);
  EXPECT_EQ(w->held(), 1u);
  clock_->advance(60s - 1ns);
  settle();
  EXPECT_FALSE(op.done());
  EXPECT_EQ(w->count(E::abort), 0u);
  EXPECT_EQ(w->held(), 1u);
  clock_->advance(1ns);
  settle();
  // The freeze window closed: the writer alone is aborted, which supersedes its hang.
  EXPECT_EQ(w->count(E::abort), 1u);
  EXPECT_EQ(w->held(), 0u);
  EXPECT_EQ(received_at(*w, E::abort) - received_at(*w, E::freeze), 60s);
  EXPECT_EQ(finish(op), errc::async_finished);
  const auto st = status_of(s, *w);
  EXPECT_EQ(st.state, writer_state::failed_at_freeze);
  EXPECT_EQ(st.failure, errc::writer_error_timeout);
  EXPECT_EQ(w->count(E::thaw), 0u);
}

TEST_F(FakeWriterTest, HangHonoursTheFreezeTimeoutOfTheIdentity) {
  auto w = add(std::make_shared<fake_writer>(writer_identity{.name = "quick", .freeze_timeout = 5s},
                                             engine_options()));
  w->on(E::freeze, fault::hang());
  auto s = prepared_session();
  EXPECT_EQ(snapshot(s), errc::async_finished);
  EXPECT_EQ(received_at(*w, E::abort) - received_at(*w, E::freeze), 5s);
  EXPECT_EQ(status_of(s, *w).failure, errc::writer_error_timeout);
}

TEST_F(FakeWriterTest, AbortDropsAHangAndIsAnsweredAtOnce) {
  auto w = add_fake("db");
  w->on(E::prepare_snapshot, fault::hang());
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_EQ(w->held(), 1u);
  const auto before = clock_->now();
  auto abort = s.async_abort_backup(use_async_op);
  settle();
  EXPECT_TRUE(abort.done());
  EXPECT_EQ(clock_->now(), before);  // no deadline was needed
  EXPECT_EQ(op.query_status(), errc::async_cancelled);
  EXPECT_EQ(w->held(), 0u);
  ASSERT_TRUE(result_of(s, E::abort, *w));
  EXPECT_EQ(result_of(s, E::abort, *w)->outcome, writer_outcome::completed);
  EXPECT_EQ(result_of(s, E::prepare_snapshot, *w)->outcome, writer_outcome::abandoned);
  EXPECT_EQ(w->release_held(), 0u);
}

TEST_F(FakeWriterTest, AbortIsAnsweredPerItsOwnScriptAfterDroppingTheHang) {
  auto w = add_fake("db");
  w->on(E::prepare_snapshot, fault::hang())
      .on(E::abort, fault::veto(errc::writer_error_nonretryable));
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  auto abort = s.async_abort_backup(use_async_op);
  settle();
  EXPECT_EQ(w->held(), 0u);
  const auto r = result_of(s, E::abort, *w);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, writer_outcome::failed);
  EXPECT_EQ(r->code, errc::writer_error_nonretryable);
  EXPECT_EQ(r->message, "fake_writer: scripted veto at Abort");
}

TEST_F(FakeWriterTest, HangIgnoreAbortKeepsTheContextThroughTheAbort) {
  auto w = add_fake("db");
  w->on(E::prepare_snapshot, fault::hang_ignore_abort());
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_EQ(w->held(), 1u);
  auto abort = s.async_abort_backup(use_async_op);
  settle();
  EXPECT_TRUE(abort.done());
  EXPECT_EQ(w->held(), 1u);  // still kept
  EXPECT_EQ(result_of(s, E::abort, *w)->outcome, writer_outcome::completed);
  // A late answer is ignored by the engine: the event was superseded.
  EXPECT_EQ(w->release_held(), 1u);
  settle();
  EXPECT_EQ(result_of(s, E::prepare_snapshot, *w)->outcome, writer_outcome::abandoned);
}

TEST_F(FakeWriterTest, HangIgnoreAbortOnTheAbortItselfLeavesItToTheAbortDeadline) {
  auto w = add_fake("db");
  w->on(E::abort, fault::hang_ignore_abort());
  auto s = prepared_session();
  const auto before = clock_->now();
  auto abort = s.async_abort_backup(use_async_op);
  EXPECT_EQ(finish(abort), errc::async_finished);
  EXPECT_EQ(clock_->now() - before, 60s);  // phase_deadlines::abort
  EXPECT_EQ(w->held(), 1u);
  const auto r = result_of(s, E::abort, *w);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, writer_outcome::timed_out);
  EXPECT_EQ(r->code, errc::writer_not_responding);
}

TEST_F(FakeWriterTest, ReleaseHeldAnswersKeptContextsWithTheGivenFault) {
  auto w = add_fake("db");
  w->on(E::prepare_snapshot, fault::hang());
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_EQ(w->held(), 1u);
  EXPECT_THROW(w->release_held(fault::hang()), std::invalid_argument);
  EXPECT_THROW(w->release_held(fault::veto(errc::ok)), std::invalid_argument);
  EXPECT_EQ(w->held(), 1u);  // a refused answer leaves the context kept
  EXPECT_EQ(w->release_held(fault::veto(errc::writer_error_out_of_resources)), 1u);
  EXPECT_EQ(finish(op), errc::async_finished);
  const auto st = status_of(s, *w);
  EXPECT_EQ(st.state, writer_state::failed_at_prepare_snapshot);
  EXPECT_EQ(st.failure, errc::writer_error_out_of_resources);
  EXPECT_EQ(st.message, "fake_writer: released with a veto");
}

TEST_F(FakeWriterTest, HangWithAStepperHandsTheContextToIt) {
  auto step = std::make_shared<stepper>();
  auto w = add_fake("db", application_level::front_end, {.stepper = step});
  w->on(E::freeze, fault::hang());
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  EXPECT_EQ(w->held(), 0u);
  ASSERT_EQ(step->size(), 1u);
  const auto p = step->pending();
  EXPECT_EQ(p[0].writer, "db");
  EXPECT_EQ(p[0].event, E::freeze);
  EXPECT_EQ(p[0].set, set_);
  EXPECT_TRUE(step->release(0));
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_EQ(w->count(E::thaw), 1u);
}

TEST_F(FakeWriterTest, AbortAlsoDropsAHangHeldByTheStepperButNotAHangIgnoreAbort) {
  auto step = std::make_shared<stepper>();
  auto hanging = add_fake("hanging", application_level::front_end, {.stepper = step});
  auto stubborn = add_fake("stubborn", application_level::front_end, {.stepper = step});
  hanging->on(E::prepare_snapshot, fault::hang());
  stubborn->on(E::prepare_snapshot, fault::hang_ignore_abort());
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_EQ(step->size(), 2u);
  auto abort = s.async_abort_backup(use_async_op);
  settle();
  EXPECT_TRUE(abort.done());
  const auto p = step->pending();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].writer, "stubborn");
  EXPECT_EQ(p[0].event, E::prepare_snapshot);
}

// ---------------------------------------------------------------------------------------------
// delay

TEST_F(FakeWriterTest, DelayCompletesAfterExactlyTheVirtualDelay) {
  auto w = add_fake("db");
  w->on(E::prepare_snapshot, fault::delay(5min));
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_EQ(w->count(E::prepare_snapshot), 1u);
  clock_->advance(5min - 1ns);
  settle();
  EXPECT_EQ(w->count(E::freeze), 0u);
  clock_->advance(1ns);
  settle();
  EXPECT_EQ(w->count(E::freeze), 1u);
  EXPECT_EQ(received_at(*w, E::freeze) - received_at(*w, E::prepare_snapshot), 5min);
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_EQ(status_of(s, *w).state, writer_state::waiting_for_backup_complete);
}

TEST_F(FakeWriterTest, DelayPastTheEngineDeadlineIsReportedAsNotResponding) {
  auto w = add_fake("db");
  w->on(E::thaw, fault::delay(61s));  // phase_deadlines::thaw is 60 s
  auto s = prepared_session();
  EXPECT_EQ(snapshot(s), errc::async_finished);
  const auto r = result_of(s, E::thaw, *w);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, writer_outcome::timed_out);
  EXPECT_EQ(r->code, errc::writer_not_responding);
  clock_->advance(1s);  // the late completion arrives and must change nothing
  settle();
  EXPECT_EQ(result_of(s, E::thaw, *w)->outcome, writer_outcome::timed_out);
  EXPECT_EQ(status_of(s, *w).failure, errc::writer_not_responding);
}

TEST_F(FakeWriterTest, DestroyingAWriterWithAPendingDelayCancelsItsTimerSafely) {
  auto w = std::make_shared<fake_writer>("db", application_level::front_end, engine_options());
  w->on(E::freeze, fault::delay(1s));
  w->on_freeze(writer_context{});  // an empty context: completing it is a no-op
  EXPECT_EQ(clock_->pending_timers(), 1u);
  w.reset();
  EXPECT_EQ(clock_->pending_timers(), 0u);
  clock_->advance(2s);
  settle();  // the cancelled handler runs and finds nothing
  EXPECT_EQ(clock_->pending_timers(), 0u);
}

TEST_F(FakeWriterTest, DelayTimerFiringAfterItsWriterIsGoneDoesNothing) {
  auto w = std::make_shared<fake_writer>("db", application_level::front_end, engine_options());
  w->on(E::thaw, fault::delay(0ns));
  w->on_thaw(writer_context{});
  w.reset();  // the zero delay is already posted
  EXPECT_NO_THROW(settle());
}

// ---------------------------------------------------------------------------------------------
// complete_twice, throw_exception

TEST_F(FakeWriterTest, CompleteTwiceOnEveryEventCountsAsOneSuccessEach) {
  auto w = add_fake("db");
  for (std::size_t i = 0; i < writer_event_count; ++i) {
    w->on(static_cast<E>(i), fault::complete_twice());
  }
  {
    auto s = prepared_session();
    EXPECT_EQ(snapshot(s), errc::async_finished);
    auto bc = s.async_backup_complete(use_async_op);
    EXPECT_EQ(finish(bc), errc::async_finished);
    EXPECT_EQ(status_of(s, *w).state, writer_state::stable);
    EXPECT_EQ(s.consistency(), consistency_grade::application);
    for (const auto& r : s.phase_reports()) {
      ASSERT_EQ(r.results.size(), 1u);
      EXPECT_EQ(r.results[0].outcome, writer_outcome::completed) << r.event;
    }
  }
  EXPECT_TRUE(run_until([&] { return w->count(E::backup_shutdown) == 1; }));
  EXPECT_EQ(w->events(), full_backup);
}

TEST_F(FakeWriterTest, ThrowIsRecordedFirstThenFailsTheWriterAsNonRetryable) {
  auto w = add_fake("db");
  w->on(E::prepare_snapshot, fault::throw_exception());
  auto s = prepared_session();
  EXPECT_EQ(snapshot(s), errc::async_finished);
  EXPECT_EQ(w->count(E::prepare_snapshot), 1u);
  EXPECT_EQ(recorder_->count("db", E::prepare_snapshot), 1u);
  const auto st = status_of(s, *w);
  EXPECT_EQ(st.state, writer_state::failed_at_prepare_snapshot);
  EXPECT_EQ(st.failure, errc::writer_error_nonretryable);
  EXPECT_EQ(st.message, "the handler threw an exception");
}

TEST_F(FakeWriterTest, ThrowCarriesTheEventNameInItsMessage) {
  fake_writer w("db");
  w.on(E::freeze, fault::throw_exception());
  try {
    w.on_freeze(writer_context{});
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "fake_writer: scripted throw at Freeze");
  }
  EXPECT_EQ(w.events(), std::vector<E>{E::freeze});
}

// ---------------------------------------------------------------------------------------------
// on() validation

TEST_F(FakeWriterTest, OnRefusesADelayWithoutClockOrExecutor) {
  fake_writer bare("db");
  EXPECT_THROW(bare.on(E::freeze, fault::delay(1s)), std::invalid_argument);
  fake_writer no_executor("db", application_level::front_end, {.clock = clock_});
  EXPECT_THROW(no_executor.on(E::freeze, fault::delay(1s)), std::invalid_argument);
  fake_writer no_clock("db", application_level::front_end, {.executor = io_.get_executor()});
  EXPECT_THROW(no_clock.on(E::freeze, fault::delay(1s)), std::invalid_argument);
  try {
    bare.on(E::thaw, fault::delay(1s));
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("clock"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(bare.script(E::freeze) == fault::succeed());  // nothing was scripted
  fake_writer timed("db", application_level::front_end, engine_options());
  EXPECT_THROW(timed.on(E::freeze, fault::delay(-1s)), std::invalid_argument);
  EXPECT_NO_THROW(timed.on(E::freeze, fault::delay(1s)));
  EXPECT_TRUE(timed.script(E::freeze) == fault::delay(1s));
}

TEST_F(FakeWriterTest, OnRefusesAVetoWithoutAWriterErrorCode) {
  fake_writer w("db");
  EXPECT_THROW(w.on(E::freeze, fault::veto(errc::ok)), std::invalid_argument);
  EXPECT_THROW(w.on(E::freeze, fault::veto(errc::provider_veto)), std::invalid_argument);
  EXPECT_NO_THROW(w.on(E::freeze, fault::veto(errc::writer_error_partial_failure)));
}

}  // namespace
}  // namespace vss::mocks
