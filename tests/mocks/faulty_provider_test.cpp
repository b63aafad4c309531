// faulty_provider checked against a real vss::engine: each fault kind must produce exactly the
// behaviour faulty_provider.hpp documents. The wrapper wraps a second, never scripted
// faulty_provider (the "spy") around a memory_provider, so the tests see which calls really
// reached the inner provider. Deterministic: one single-threaded io_context and a
// vss::manual_clock.

#include "vss/mocks/faulty_provider.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "support/test_writer.hpp"
#include "vss/memory_provider.hpp"
#include "vss/mocks/fake_writer.hpp"

namespace vss::mocks {
namespace {

using E = writer_event;
using P = provider_call;
using calls_list = std::vector<provider_call>;
using namespace std::chrono_literals;

// Printed by number: fault.hpp's printers live in another translation unit of the library.
std::string describe(const calls_list& calls) {
  std::string out = "{";
  for (auto c : calls) out += " " + std::to_string(static_cast<int>(c));
  return out + " }";
}

const calls_list successful_creation = {P::begin_prepare,    P::end_prepare, P::pre_commit,
                                        P::commit,           P::post_commit, P::pre_final_commit,
                                        P::post_final_commit};

class FaultyProviderTest : public vss::test::engine_test {
 protected:
  void SetUp() override {
    engine_options options;
    options.clock = clock_;
    options.shard_count = 2;
    engine_ = std::make_unique<engine>(io_.get_executor(), options);
    ASSERT_FALSE(engine_->register_provider(faulty_));
    writer_ = std::make_shared<fake_writer>("db");
    regs_.push_back(engine_->register_writer(writer_));
  }

  writer_status status_of(backup_session& s) {
    auto op = s.async_gather_writer_status(use_async_op);
    EXPECT_EQ(finish(op), errc::async_finished);
    const auto all = s.get_writer_status();
    EXPECT_EQ(all.size(), 1u);
    return all.empty() ? writer_status{} : all[0];
  }

  std::shared_ptr<memory_provider> inner_ = std::make_shared<memory_provider>();
  std::shared_ptr<faulty_provider> spy_ = std::make_shared<faulty_provider>(inner_);
  std::shared_ptr<faulty_provider> faulty_ =
      std::make_shared<faulty_provider>(spy_, clock_, io_.get_executor());
  std::shared_ptr<fake_writer> writer_;
};

// ---------------------------------------------------------------------------------------------
// succeed (forwarding), observation

TEST_F(FaultyProviderTest, UnscriptedWrapperForwardsEveryCallOfABackup) {
  for (std::size_t i = 0; i < provider_call_count; ++i) {
    EXPECT_TRUE(faulty_->script(static_cast<P>(i)) == fault::succeed());
  }
  {
    auto s = prepared_session();
    auto op = s.async_do_snapshot_set(use_async_op);
    EXPECT_EQ(finish(op), errc::async_finished);
    EXPECT_TRUE(faulty_->history() == successful_creation) << describe(faulty_->history());
    EXPECT_TRUE(spy_->history() == successful_creation) << describe(spy_->history());
    EXPECT_EQ(inner_->query().size(), 1u);
    snapshot_properties props;
    EXPECT_FALSE(s.get_snapshot_properties(snapshot_, props));
    EXPECT_EQ(props.id, snapshot_);
    EXPECT_EQ(s.consistency(), consistency_grade::application);
    auto bc = s.async_backup_complete(use_async_op);
    EXPECT_EQ(finish(bc), errc::async_finished);
  }
  // Releasing the completed session deletes the auto-release snapshot through the wrapper.
  EXPECT_TRUE(run_until([&] { return faulty_->calls(P::delete_snapshot) == 1; }));
  EXPECT_EQ(spy_->calls(P::delete_snapshot), 1u);
  EXPECT_TRUE(inner_->query().empty());
  EXPECT_EQ(faulty_->calls(P::commit), 1u);
  EXPECT_EQ(faulty_->calls(P::abort), 0u);
}

TEST_F(FaultyProviderTest, QueriesAreForwardedAndNotLogged) {
  EXPECT_EQ(faulty_->properties().id, inner_->properties().id);
  EXPECT_EQ(faulty_->properties().name, inner_->properties().name);
  EXPECT_TRUE(faulty_->is_volume_supported("/data"));
  EXPECT_FALSE(faulty_->is_volume_supported(""));
  snapshot_properties props;
  EXPECT_EQ(faulty_->get_snapshot_properties(snapshot_id::generate(), props),
            errc::object_not_found);
  EXPECT_TRUE(faulty_->query().empty());
  EXPECT_TRUE(faulty_->history().empty());
  EXPECT_EQ(faulty_->inner(), spy_);
}

TEST_F(FaultyProviderTest, ListenerSeesEachCallBeforeItsFaultActs) {
  std::vector<provider_call> seen;
  std::vector<std::size_t> counted;
  faulty_->set_listener([&](provider_call c) {
    seen.push_back(c);
    counted.push_back(faulty_->calls(c));  // may call back: no lock is held
  });
  faulty_->on(P::commit, fault::throw_exception());
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::unexpected_provider_error);
  // The rollback: AbortSnapshots, then each snapshot of the set is deleted.
  const calls_list expected = {P::begin_prepare, P::end_prepare, P::pre_commit,
                               P::commit,        P::abort,       P::delete_snapshot};
  EXPECT_TRUE(seen == expected) << describe(seen);
  EXPECT_EQ(counted, (std::vector<std::size_t>{1, 1, 1, 1, 1, 1}));
  faulty_->set_listener({});
  EXPECT_FALSE(faulty_->delete_snapshot(snapshot_id::generate()) == errc::ok);
  EXPECT_EQ(seen.size(), expected.size());
}

// ---------------------------------------------------------------------------------------------
// veto

TEST_F(FaultyProviderTest, CommitVetoFailsDoSnapshotSetWithoutCallingTheInnerCommit) {
  faulty_->on(P::commit, fault::veto(errc::provider_veto));
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::provider_veto);
  EXPECT_EQ(faulty_->calls(P::commit), 1u);
  EXPECT_EQ(spy_->calls(P::commit), 0u);
  // The writer was frozen: it is released by Abort, and the provider rolls the set back.
  EXPECT_EQ(writer_->count(E::abort), 1u);
  EXPECT_EQ(writer_->count(E::thaw), 0u);
  EXPECT_EQ(spy_->calls(P::abort), 1u);
  EXPECT_TRUE(inner_->all_records().empty());
  EXPECT_EQ(s.consistency(), consistency_grade::none);
}

TEST_F(FaultyProviderTest, AVetoOutsideTheAllowedCodesReachesTheRequesterTranslated) {
  faulty_->on(P::end_prepare, fault::veto(errc::fail));  // E_FAIL is not in spec §11.3's list
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::unexpected_provider_error);
  EXPECT_EQ(spy_->calls(P::end_prepare), 0u);
  EXPECT_EQ(writer_->count(E::prepare_snapshot), 0u);
}

TEST_F(FaultyProviderTest, BeginPrepareVetoIsReturnedByAddToSnapshotSet) {
  faulty_->on(P::begin_prepare, fault::veto(errc::insufficient_storage));
  auto s = gathered_session();
  ASSERT_FALSE(s.start_snapshot_set(set_));
  EXPECT_EQ(s.add_to_snapshot_set("/data", {}, snapshot_), errc::insufficient_storage);
  EXPECT_EQ(faulty_->calls(P::begin_prepare), 1u);
  EXPECT_EQ(spy_->calls(P::begin_prepare), 0u);
  EXPECT_TRUE(inner_->all_records().empty());
}

TEST_F(FaultyProviderTest, DeleteVetoStopsDeleteSnapshotsAndNamesTheSnapshot) {
  faulty_->on(P::delete_snapshot, fault::veto(errc::access_denied));
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  ASSERT_EQ(finish(op), errc::async_finished);
  std::int32_t deleted = -1;
  snapshot_id not_deleted;
  EXPECT_EQ(s.delete_snapshots(set_.value(), object_type::snapshot_set, true, deleted, not_deleted),
            errc::access_denied);
  EXPECT_EQ(deleted, 0);
  EXPECT_EQ(not_deleted, snapshot_);
  EXPECT_EQ(spy_->calls(P::delete_snapshot), 0u);
  EXPECT_EQ(inner_->query().size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// fail_without_code

TEST_F(FaultyProviderTest, FailWithoutCodeCompletesWithUnexpectedProviderError) {
  faulty_->on(P::pre_commit, fault::fail_without_code());
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::unexpected_provider_error);
  EXPECT_EQ(spy_->calls(P::pre_commit), 0u);
  EXPECT_EQ(spy_->calls(P::commit), 0u);
  EXPECT_EQ(writer_->count(E::abort), 1u);
}

TEST_F(FaultyProviderTest, FailWithoutCodeOnBeginPrepareReturnsUnexpectedProviderError) {
  faulty_->on(P::begin_prepare, fault::fail_without_code());
  auto s = gathered_session();
  ASSERT_FALSE(s.start_snapshot_set(set_));
  EXPECT_EQ(s.add_to_snapshot_set("/data", {}, snapshot_), errc::unexpected_provider_error);
  EXPECT_EQ(spy_->calls(P::begin_prepare), 0u);
}

// ---------------------------------------------------------------------------------------------
// delay

TEST_F(FaultyProviderTest, CommitDelayWithinTheHoldBudgetForwardsAfterExactlyTheDelay) {
  faulty_->on(P::commit, fault::delay(3s));
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_EQ(faulty_->calls(P::commit), 1u);
  EXPECT_EQ(spy_->calls(P::commit), 0u);
  clock_->advance(3s - 1ns);
  settle();
  EXPECT_EQ(spy_->calls(P::commit), 0u);
  clock_->advance(1ns);
  settle();
  EXPECT_EQ(spy_->calls(P::commit), 1u);
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_EQ(writer_->count(E::thaw), 1u);
  EXPECT_EQ(s.consistency(), consistency_grade::application);
}

TEST_F(FaultyProviderTest, CommitDelayedPastTheHoldBudgetFailsWithHoldWritesTimeout) {
  faulty_->on(P::commit, fault::delay(12s));  // engine_options::hold_budget is 10 s
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_EQ(faulty_->calls(P::commit), 1u);
  clock_->advance(10s);
  settle();
  // The hold window is never extended: the frozen writer is released at 10 s...
  EXPECT_EQ(writer_->count(E::abort), 1u);
  EXPECT_EQ(writer_->count(E::thaw), 0u);
  EXPECT_TRUE(op.done());
  EXPECT_EQ(op.query_status(), errc::hold_writes_timeout);
  // ...while the provider's commit is still running; it is rolled back when it returns.
  EXPECT_EQ(spy_->calls(P::commit), 0u);
  EXPECT_EQ(spy_->calls(P::abort), 0u);
  clock_->advance(2s);
  settle();
  EXPECT_EQ(spy_->calls(P::commit), 1u);
  EXPECT_EQ(spy_->calls(P::abort), 1u);
  EXPECT_TRUE(inner_->all_records().empty());
}

TEST_F(FaultyProviderTest, DestroyingTheWrapperCancelsItsTimersWithoutCompleting) {
  auto own = std::make_shared<faulty_provider>(std::make_shared<memory_provider>(), clock_,
                                               io_.get_executor());
  own->on(P::end_prepare, fault::delay(5s));
  int completions = 0;
  own->end_prepare_snapshots(snapshot_set_id::generate(), [&](std::error_code) { ++completions; });
  EXPECT_EQ(clock_->pending_timers(), 1u);
  own.reset();
  EXPECT_EQ(clock_->pending_timers(), 0u);
  clock_->advance(10s);
  settle();
  EXPECT_EQ(completions, 0);
}

// ---------------------------------------------------------------------------------------------
// hang

TEST_F(FaultyProviderTest, HangKeepsTheCallUntilASuccessfulReleaseForwardsIt) {
  faulty_->on(P::end_prepare, fault::hang());
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  EXPECT_EQ(faulty_->held(), 1u);
  EXPECT_EQ(spy_->calls(P::end_prepare), 0u);
  EXPECT_EQ(writer_->count(E::prepare_snapshot), 0u);
  EXPECT_EQ(faulty_->release_held(), 1u);
  EXPECT_EQ(faulty_->held(), 0u);
  EXPECT_EQ(spy_->calls(P::end_prepare), 1u);
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_EQ(faulty_->release_held(), 0u);
}

TEST_F(FaultyProviderTest, ReleaseWithAFailureCodeCompletesWithItWithoutCallingInner) {
  faulty_->on(P::pre_final_commit, fault::hang_ignore_abort());
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_EQ(faulty_->held(), 1u);
  EXPECT_EQ(faulty_->release_held(errc::provider_veto), 1u);
  EXPECT_EQ(finish(op), errc::provider_veto);
  EXPECT_EQ(spy_->calls(P::pre_final_commit), 0u);
  EXPECT_EQ(writer_->count(E::post_snapshot), 0u);
}

TEST_F(FaultyProviderTest, AbortReachesTheProviderWhileEndPrepareIsHeld) {
  faulty_->on(P::end_prepare, fault::hang());
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_EQ(faulty_->held(), 1u);
  auto abort = s.async_abort_backup(use_async_op);
  settle();
  EXPECT_EQ(op.query_status(), errc::async_cancelled);
  EXPECT_EQ(faulty_->calls(P::abort), 1u);  // AbortSnapshots may arrive during EndPrepare
  EXPECT_EQ(writer_->count(E::abort), 1u);
  EXPECT_EQ(faulty_->release_held(), 1u);  // EndPrepare returns late
  EXPECT_EQ(finish(abort), errc::async_finished);
  EXPECT_EQ(faulty_->calls(P::commit), 0u);
}

// ---------------------------------------------------------------------------------------------
// complete_twice, throw_exception

TEST_F(FaultyProviderTest, CompleteTwiceOnEveryStepIsIgnoredByTheEngine) {
  for (auto c : {P::end_prepare, P::pre_commit, P::commit, P::post_commit, P::pre_final_commit,
                 P::post_final_commit}) {
    faulty_->on(c, fault::complete_twice());
  }
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_TRUE(spy_->history() == successful_creation) << describe(spy_->history());
  EXPECT_EQ(writer_->count(E::thaw), 1u);
  EXPECT_EQ(writer_->count(E::post_snapshot), 1u);
  EXPECT_EQ(inner_->query().size(), 1u);
}

TEST_F(FaultyProviderTest, CompleteTwiceCallsTheCompletionTwiceWithTheInnerResult) {
  faulty_->on(P::abort, fault::complete_twice());
  std::vector<std::error_code> results;
  faulty_->abort_snapshots(snapshot_set_id::generate(),
                           [&](std::error_code ec) { results.push_back(ec); });
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(spy_->calls(P::abort), 1u);
}

TEST_F(FaultyProviderTest, ThrowingCommitIsReportedAsUnexpectedProviderError) {
  faulty_->on(P::commit, fault::throw_exception());
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::unexpected_provider_error);
  EXPECT_EQ(faulty_->calls(P::commit), 1u);
  EXPECT_EQ(spy_->calls(P::commit), 0u);
  EXPECT_EQ(writer_->count(E::abort), 1u);
  EXPECT_TRUE(inner_->all_records().empty());
}

TEST_F(FaultyProviderTest, ThrowCarriesTheCallNameAndComesBeforeTheInnerCall) {
  faulty_->on(P::delete_snapshot, fault::throw_exception());
  try {
    faulty_->delete_snapshot(snapshot_id::generate());
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "faulty_provider: scripted throw at delete");
  }
  faulty_->on(P::post_commit, fault::throw_exception());
  int completions = 0;
  EXPECT_THROW(faulty_->post_commit_snapshots(snapshot_set_id::generate(), 1,
                                              [&](std::error_code) { ++completions; }),
               std::runtime_error);
  EXPECT_EQ(completions, 0);
  EXPECT_EQ(faulty_->calls(P::delete_snapshot), 1u);
  EXPECT_EQ(faulty_->calls(P::post_commit), 1u);
  EXPECT_TRUE(spy_->history().empty());
}

// ---------------------------------------------------------------------------------------------
// on() validation

TEST_F(FaultyProviderTest, OnRefusesFaultsThatCannotApply) {
  EXPECT_THROW(faulty_->on(P::commit, fault::veto(errc::ok)), std::invalid_argument);
  EXPECT_THROW(faulty_->on(P::commit, fault::delay(-1s)), std::invalid_argument);
  for (auto sync : {P::begin_prepare, P::delete_snapshot}) {
    EXPECT_THROW(faulty_->on(sync, fault::hang()), std::invalid_argument);
    EXPECT_THROW(faulty_->on(sync, fault::hang_ignore_abort()), std::invalid_argument);
    EXPECT_THROW(faulty_->on(sync, fault::delay(1s)), std::invalid_argument);
    EXPECT_THROW(faulty_->on(sync, fault::complete_twice()), std::invalid_argument);
    EXPECT_TRUE(faulty_->script(sync) == fault::succeed());
  }
  EXPECT_THROW(spy_->on(P::commit, fault::delay(1s)), std::invalid_argument);  // no clock
  faulty_provider no_executor(inner_, clock_);
  EXPECT_THROW(no_executor.on(P::commit, fault::delay(1s)), std::invalid_argument);
  EXPECT_THROW(faulty_provider(nullptr), std::invalid_argument);
  EXPECT_NO_THROW(faulty_->on(P::commit, fault::delay(1s)));
  EXPECT_TRUE(faulty_->script(P::commit) == fault::delay(1s));
}

}  // namespace
}  // namespace vss::mocks
