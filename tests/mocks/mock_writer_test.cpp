// vss::mocks::mock_writer driven by a real vss::engine on a single-threaded io_context and a
// virtual clock: event order, the action helpers, and the defaults.

#include "vss/mocks/mock_writer.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "vss/engine.hpp"
#include "vss/manual_clock.hpp"
#include "vss/memory_provider.hpp"
#include "vss/mocks/checked_handler.hpp"
#include "vss/mocks/matchers.hpp"

namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::InSequence;
using ::testing::NiceMock;
using ::testing::StrictMock;
using vss::writer_event;
using namespace vss::mocks;

class MockWriterTest : public ::testing::Test {
 protected:
  /// Runs every ready handler; no virtual time passes.
  void settle() {
    io_.restart();
    while (io_.poll() > 0) io_.restart();
  }

  /// InitializeForBackup, SetBackupState(full) and GatherWriterMetadata.
  vss::backup_session gathered_session(bool select_components = false) {
    auto s = engine_.create_backup_session();
    EXPECT_THAT(s.initialize_for_backup(), IsOk());
    EXPECT_THAT(s.set_backup_state(select_components, false, vss::backup_type::full), IsOk());
    checked_handler<> gathered;
    s.async_gather_writer_metadata(gathered.handler());
    settle();
    EXPECT_THAT(gathered.error(), IsOk());
    return s;
  }

  /// StartSnapshotSet with "/data", then PrepareForBackup.
  void prepare(vss::backup_session& s) {
    EXPECT_THAT(s.start_snapshot_set(set_), IsOk());
    EXPECT_THAT(s.add_to_snapshot_set("/data", {}, snapshot_), IsOk());
    checked_handler<> prepared;
    s.async_prepare_for_backup(prepared.handler());
    settle();
    EXPECT_THAT(prepared.error(), IsOk());
  }

  vss::backup_session prepared_session() {
    auto s = gathered_session();
    prepare(s);
    return s;
  }

  std::vector<vss::writer_status> writer_status(vss::backup_session& s) {
    checked_handler<> gathered;
    s.async_gather_writer_status(gathered.handler());
    settle();
    EXPECT_THAT(gathered.error(), IsOk());
    return s.get_writer_status();
  }

  asio::io_context io_;
  std::shared_ptr<vss::manual_clock> clock_ = std::make_shared<vss::manual_clock>();
  vss::engine engine_{io_.get_executor(), vss::engine_options{.shard_count = 1, .clock = clock_}};
  std::shared_ptr<vss::memory_provider> memory_ = [this] {
    auto m = std::make_shared<vss::memory_provider>();
    EXPECT_THAT(engine_.register_provider(m), IsOk());
    return m;
  }();
  vss::snapshot_set_id set_;
  vss::snapshot_id snapshot_;
};

TEST_F(MockWriterTest, NameConstructorGivesFreshIdsAndTheRequestedLevel) {
  mock_writer a("db", vss::application_level::back_end);
  mock_writer b("db");
  EXPECT_EQ(a.identity().name, "db");
  EXPECT_EQ(a.identity().level, vss::application_level::back_end);
  EXPECT_EQ(b.identity().level, vss::application_level::front_end);
  EXPECT_FALSE(a.identity().class_id.is_null());
  EXPECT_FALSE(a.identity().instance_id.is_null());
  EXPECT_NE(a.identity().class_id, b.identity().class_id);
  EXPECT_NE(a.identity().instance_id, b.identity().instance_id);
}

TEST_F(MockWriterTest, IdentityConstructorKeepsTheGivenIdentity) {
  const auto cls = vss::writer_class_id::from_u128(1, 2);
  mock_writer w(vss::writer_identity{
      .class_id = cls, .name = "mail", .level = vss::application_level::system});
  EXPECT_EQ(w.identity().class_id, cls);
  EXPECT_FALSE(w.identity().instance_id.is_null());
  EXPECT_EQ(w.identity().name, "mail");
  EXPECT_EQ(w.identity().level, vss::application_level::system);
}

TEST_F(MockWriterTest, StrictMockSeesEveryEventOfAFullBackupInVssOrder) {
  auto w = std::make_shared<StrictMock<mock_writer>>("db");
  {
    InSequence seq;
    EXPECT_CALL(*w, on_identify(_));
    EXPECT_CALL(*w, on_prepare_backup(_));
    EXPECT_CALL(*w, on_prepare_snapshot(_));
    EXPECT_CALL(*w, on_freeze(_)).WillOnce(Complete());
    EXPECT_CALL(*w, on_thaw(_));
    EXPECT_CALL(*w, on_post_snapshot(_));
    EXPECT_CALL(*w, on_backup_complete(_));
    EXPECT_CALL(*w, on_backup_shutdown(_));
  }
  auto reg = engine_.register_writer(w);
  auto s = prepared_session();

  checked_handler<> snapshot;
  s.async_do_snapshot_set(snapshot.handler());
  settle();
  EXPECT_THAT(snapshot.error(), IsOk());
  EXPECT_EQ(s.consistency(), vss::consistency_grade::application);
  EXPECT_THAT(writer_status(s),
              ElementsAre(WriterStateIs(vss::writer_state::waiting_for_backup_complete)));

  checked_handler<> complete;
  s.async_backup_complete(complete.handler());
  settle();
  EXPECT_THAT(complete.error(), IsOk());

  checked_handler<> released;
  s.async_release(released.handler());
  settle();
  EXPECT_THAT(released.error(), IsOk());
}

TEST_F(MockWriterTest, InSequenceSeesPrepareSnapshotFreezeThawPostSnapshotInOrder) {
  auto w = std::make_shared<NiceMock<mock_writer>>("db");
  {
    InSequence seq;
    EXPECT_CALL(*w, on_prepare_backup(_));
    EXPECT_CALL(*w, on_prepare_snapshot(_));
    EXPECT_CALL(*w, on_freeze(_));
    EXPECT_CALL(*w, on_thaw(_));
    EXPECT_CALL(*w, on_post_snapshot(_));
  }
  EXPECT_CALL(*w, on_abort(_)).Times(0);
  auto reg = engine_.register_writer(w);
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(vss::use_async_op);
  settle();
  EXPECT_THAT(op.query_status(), IsVssError(vss::errc::async_finished));
}

TEST_F(MockWriterTest, ContextCarriesTheSnapshotSetAndVolumesOfTheSession) {
  auto w = std::make_shared<NiceMock<mock_writer>>("db");
  vss::snapshot_set_id seen_set;
  std::vector<std::string> seen_volumes;
  EXPECT_CALL(*w, on_freeze(_)).WillOnce([&](vss::writer_context ctx) {
    EXPECT_EQ(ctx.event(), writer_event::freeze);
    seen_set = ctx.snapshot_set();
    seen_volumes = ctx.volumes();
    ctx.complete();
  });
  auto reg = engine_.register_writer(w);
  auto s = prepared_session();
  checked_handler<> snapshot;
  s.async_do_snapshot_set(snapshot.handler());
  settle();
  EXPECT_THAT(snapshot.error(), IsOk());
  EXPECT_EQ(seen_set, set_);
  EXPECT_THAT(seen_volumes, ElementsAre("/data"));
}

TEST_F(MockWriterTest, HeldFreezeIsAbandonedByAbortAndItsLateCompletionIsIgnored) {
  auto w = std::make_shared<NiceMock<mock_writer>>("db");
  vss::writer_context frozen;
  EXPECT_CALL(*w, on_freeze(_)).WillOnce(SaveContext(&frozen));
  EXPECT_CALL(*w, on_abort(_)).WillOnce(Complete());
  EXPECT_CALL(*w, on_thaw(_)).Times(0);
  EXPECT_CALL(*w, on_post_snapshot(_)).Times(0);
  auto reg = engine_.register_writer(w);
  auto s = prepared_session();

  checked_handler<> snapshot;
  s.async_do_snapshot_set(snapshot.handler());
  settle();
  ASSERT_EQ(frozen.event(), writer_event::freeze);
  EXPECT_FALSE(frozen.done());
  EXPECT_FALSE(frozen.abandoned());
  EXPECT_FALSE(snapshot.called()) << "DoSnapshotSet must wait for the held Freeze";

  checked_handler<> aborted;
  s.async_abort_backup(aborted.handler());
  settle();
  EXPECT_THAT(aborted.error(), IsOk());
  EXPECT_THAT(snapshot.error(), IsAborted());
  EXPECT_TRUE(frozen.abandoned());
  EXPECT_EQ(s.state(), vss::session_state::aborted);

  frozen.complete();  // the late answer
  settle();
  EXPECT_TRUE(frozen.done());
  EXPECT_EQ(snapshot.calls(), 1u);
  EXPECT_EQ(s.state(), vss::session_state::aborted);
  EXPECT_TRUE(memory_->all_records().empty());
}

TEST_F(MockWriterTest, HeldFreezeCompletedLaterLetsTheBackupFinish) {
  auto w = std::make_shared<NiceMock<mock_writer>>("db");
  vss::writer_context frozen;
  {
    InSequence seq;
    EXPECT_CALL(*w, on_freeze(_)).WillOnce([&](auto&& ctx) { frozen = std::move(ctx); });
    EXPECT_CALL(*w, on_thaw(_));
    EXPECT_CALL(*w, on_post_snapshot(_));
  }
  auto reg = engine_.register_writer(w);
  auto s = prepared_session();
  checked_handler<> snapshot;
  s.async_do_snapshot_set(snapshot.handler());
  settle();
  ASSERT_FALSE(snapshot.called());
  ASSERT_FALSE(frozen.done());

  frozen.complete();
  settle();
  EXPECT_THAT(snapshot.error(), IsOk());
  EXPECT_EQ(s.consistency(), vss::consistency_grade::application);
}

TEST_F(MockWriterTest, FailAtFreezeIsReportedInTheWriterStatus) {
  auto w = std::make_shared<NiceMock<mock_writer>>("db");
  EXPECT_CALL(*w, on_freeze(_)).WillOnce(Fail(vss::errc::writer_error_retryable, "disk busy"));
  EXPECT_CALL(*w, on_abort(_));
  EXPECT_CALL(*w, on_thaw(_)).Times(0);
  auto reg = engine_.register_writer(w);
  auto s = prepared_session();
  checked_handler<> snapshot;
  s.async_do_snapshot_set(snapshot.handler());
  settle();
  EXPECT_THAT(snapshot.error(), IsOk()) << "a writer veto is reported per writer";
  const auto status = writer_status(s);
  ASSERT_EQ(status.size(), 1u);
  EXPECT_THAT(status[0], WriterStateIs(vss::writer_state::failed_at_freeze));
  EXPECT_THAT(status[0], WriterFailureIs(vss::errc::writer_error_retryable));
  EXPECT_EQ(status[0].message, "disk busy");
}

TEST_F(MockWriterTest, KeepHoldsTheContextsOfSeveralWritersUntilTheTestAnswers) {
  auto a = std::make_shared<NiceMock<mock_writer>>("a");
  auto b = std::make_shared<NiceMock<mock_writer>>("b", vss::application_level::back_end);
  std::vector<vss::writer_context> held;
  EXPECT_CALL(*a, on_prepare_snapshot(_)).WillOnce(Keep(held));
  EXPECT_CALL(*b, on_prepare_snapshot(_)).WillOnce(Keep(held));
  auto reg_a = engine_.register_writer(a);
  auto reg_b = engine_.register_writer(b);
  auto s = prepared_session();
  checked_handler<> snapshot;
  s.async_do_snapshot_set(snapshot.handler());
  settle();
  ASSERT_EQ(held.size(), 2u);
  EXPECT_FALSE(snapshot.called());

  held[0].complete();
  settle();
  EXPECT_FALSE(snapshot.called()) << "one writer is still preparing";
  held[1].complete();
  settle();
  EXPECT_THAT(snapshot.error(), IsOk());
}

TEST_F(MockWriterTest, DeclareFillsTheMetadataThatComponentModeSelects) {
  auto w = std::make_shared<NiceMock<mock_writer>>("db");
  EXPECT_CALL(*w, on_identify(_))
      .WillOnce(Declare(
          {{.type = vss::component_type::database, .name = "orders", .files = {"/data/orders/*"}}},
          {"/data/orders/tmp/*"}));
  std::vector<vss::selected_component> selected;
  EXPECT_CALL(*w, on_prepare_backup(_)).WillOnce([&](vss::writer_context ctx) {
    EXPECT_TRUE(ctx.components_selected());
    selected = ctx.components();
    ctx.complete();
  });
  auto reg = engine_.register_writer(w);
  auto s = gathered_session(/*select_components=*/true);

  const auto metadata = s.get_writer_metadata();
  ASSERT_EQ(metadata.size(), 1u);
  EXPECT_EQ(metadata[0].identity.instance_id, w->identity().instance_id);
  ASSERT_EQ(metadata[0].components.size(), 1u);
  EXPECT_EQ(metadata[0].components[0].name, "orders");
  EXPECT_THAT(metadata[0].excludes, ElementsAre("/data/orders/tmp/*"));

  EXPECT_THAT(s.add_component(w->identity().instance_id, w->identity().class_id,
                              vss::component_type::database, "", "orders"),
              IsOk());
  prepare(s);
  ASSERT_EQ(selected.size(), 1u);
  EXPECT_EQ(selected[0].name, "orders");
}

TEST_F(MockWriterTest, DefaultsCompleteEveryEventSoAnUnwatchedWriterNeverStallsABackup) {
  auto w = std::make_shared<NiceMock<mock_writer>>("db");
  auto reg = engine_.register_writer(w);
  auto s = prepared_session();
  checked_handler<> snapshot;
  s.async_do_snapshot_set(snapshot.handler());
  settle();
  // settle() never moves the virtual clock: no event waited for its deadline.
  EXPECT_THAT(snapshot.error(), IsOk());
  EXPECT_THAT(writer_status(s),
              ElementsAre(WriterStateIs(vss::writer_state::waiting_for_backup_complete)));
}

TEST_F(MockWriterTest, ExpectationWithoutAnActionUsesTheCompletingDefault) {
  auto w = std::make_shared<StrictMock<mock_writer>>("db");
  EXPECT_CALL(*w, on_identify(_));
  auto reg = engine_.register_writer(w);
  auto s = gathered_session();
  EXPECT_EQ(s.get_writer_metadata().size(), 1u) << "the writer answered Identify";
}

TEST(MockWriterActions, FailWithACodeAWriterMayNotUseReportsAFailure) {
  const auto action = Fail(vss::errc::bad_state);
  EXPECT_NONFATAL_FAILURE(action(vss::writer_context{}),
                          "Fail(VSS_E_BAD_STATE): writer_context::fail refused the code");
}

TEST(MockWriterActions, FailReportsAtTheLineWhereTheActionWasCreated) {
  ::testing::TestPartResultArray results;
  int line = 0;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
    line = __LINE__ + 1;
    const auto action = Fail(vss::errc::invalid_arg);
    action(vss::writer_context{});
  }
  ASSERT_EQ(results.size(), 1);
  EXPECT_EQ(results.GetTestPartResult(0).line_number(), line);
  EXPECT_THAT(results.GetTestPartResult(0).file_name(), ::testing::HasSubstr("mock_writer_test"));
}

TEST(MockWriterActions, DeclareOutsideIdentifyReportsAFailure) {
  const auto action = Declare({{.name = "x"}});
  EXPECT_NONFATAL_FAILURE(action(vss::writer_context{}), "only makes sense for on_identify");
}

TEST(MockWriterPrinting, WriterContextPrintsItsEventSetAndWhetherItWasAnswered) {
  EXPECT_EQ(::testing::PrintToString(vss::writer_context{}),
            "writer_context{Identify, set {00000000-0000-0000-0000-000000000000}, answered}");
}

}  // namespace
