// vss::mocks::mock_provider driven by a real vss::engine on a single-threaded io_context and a
// virtual clock: the provider call protocol of spec §10.1, the action helpers, delegation to a
// vss::memory_provider, and the defaults.

#include "vss/mocks/mock_provider.hpp"

#include <gmock/gmock.h>
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
#include "vss/mocks/mock_writer.hpp"

namespace {

using ::testing::_;
using ::testing::InSequence;
using ::testing::NiceMock;
using ::testing::Return;
using ::testing::StrictMock;
using namespace vss::mocks;

class MockProviderTest : public ::testing::Test {
 protected:
  void settle() {
    io_.restart();
    while (io_.poll() > 0) io_.restart();
  }

  /// Initialize, SetBackupState(full), GatherWriterMetadata, StartSnapshotSet, add "/data".
  vss::backup_session session_with_volume() {
    auto s = engine_.create_backup_session();
    EXPECT_THAT(s.initialize_for_backup(), IsOk());
    EXPECT_THAT(s.set_backup_state(false, false, vss::backup_type::full), IsOk());
    checked_handler<> gathered;
    s.async_gather_writer_metadata(gathered.handler());
    settle();
    EXPECT_THAT(gathered.error(), IsOk());
    EXPECT_THAT(s.start_snapshot_set(set_), IsOk());
    EXPECT_THAT(s.add_to_snapshot_set("/data", {}, snapshot_), IsOk());
    return s;
  }

  /// session_with_volume(), then PrepareForBackup.
  vss::backup_session prepared_session() {
    auto s = session_with_volume();
    checked_handler<> prepared;
    s.async_prepare_for_backup(prepared.handler());
    settle();
    EXPECT_THAT(prepared.error(), IsOk());
    return s;
  }

  asio::io_context io_;
  std::shared_ptr<vss::manual_clock> clock_ = std::make_shared<vss::manual_clock>();
  vss::engine engine_{io_.get_executor(), vss::engine_options{.shard_count = 1, .clock = clock_}};
  vss::snapshot_set_id set_;
  vss::snapshot_id snapshot_;
};

TEST_F(MockProviderTest, ProviderStepsInterleaveWithWriterEventsAsSpecSection10Says) {
  auto memory = std::make_shared<vss::memory_provider>();
  auto p = std::make_shared<StrictMock<mock_provider>>();
  p->delegate_to(memory);
  auto w = std::make_shared<NiceMock<mock_writer>>("db");
  EXPECT_CALL(*p, properties()).Times(::testing::AnyNumber());
  EXPECT_CALL(*p, is_volume_supported("/data")).Times(::testing::AnyNumber());
  {
    InSequence seq;
    EXPECT_CALL(*p, begin_prepare_snapshot(_, _, "/data", _));
    EXPECT_CALL(*w, on_prepare_backup(_));
    EXPECT_CALL(*p, end_prepare_snapshots(_, _));
    EXPECT_CALL(*w, on_prepare_snapshot(_));
    EXPECT_CALL(*w, on_freeze(_));
    EXPECT_CALL(*p, pre_commit_snapshots(_, _));
    EXPECT_CALL(*p, commit_snapshots(_, _));
    EXPECT_CALL(*p, post_commit_snapshots(_, 1, _));
    EXPECT_CALL(*w, on_thaw(_));
    EXPECT_CALL(*p, pre_final_commit_snapshots(_, _));
    EXPECT_CALL(*w, on_post_snapshot(_));
    EXPECT_CALL(*p, post_final_commit_snapshots(_, _));
  }
  ASSERT_THAT(engine_.register_provider(p), IsOk());
  auto reg = engine_.register_writer(w);
  auto s = prepared_session();

  checked_handler<> snapshot;
  s.async_do_snapshot_set(snapshot.handler());
  settle();
  EXPECT_THAT(snapshot.error(), IsOk());
  ::testing::Mock::VerifyAndClearExpectations(p.get());
  ::testing::Mock::VerifyAndClearExpectations(w.get());
  EXPECT_EQ(memory->query().size(), 1u) << "the forwarded steps created the snapshot";
}

TEST_F(MockProviderTest, CommitVetoedWithCompleteWithFailsTheSetAndAbortsTheProvider) {
  auto memory = std::make_shared<vss::memory_provider>();
  auto p = std::make_shared<NiceMock<mock_provider>>();
  p->delegate_to(memory);
  auto w = std::make_shared<NiceMock<mock_writer>>("db");
  EXPECT_CALL(*p, commit_snapshots(_, _)).WillOnce(CompleteWith(vss::errc::provider_veto));
  EXPECT_CALL(*p, abort_snapshots(_, _));
  EXPECT_CALL(*p, post_commit_snapshots(_, _, _)).Times(0);
  EXPECT_CALL(*w, on_abort(_));
  EXPECT_CALL(*w, on_thaw(_)).Times(0);
  ASSERT_THAT(engine_.register_provider(p), IsOk());
  auto reg = engine_.register_writer(w);
  auto s = prepared_session();

  checked_handler<> snapshot;
  s.async_do_snapshot_set(snapshot.handler());
  settle();
  EXPECT_THAT(snapshot.error(), IsVssError(vss::errc::provider_veto));
  EXPECT_THAT(snapshot.error(), HasCondition(vss::condition::retryable));
  EXPECT_TRUE(memory->all_records().empty()) << "the forwarded abort discarded the set";
}

TEST_F(MockProviderTest, SaveCompletionLetsTheTestFinishEndPrepareWhenItLikes) {
  auto p = std::make_shared<NiceMock<mock_provider>>();
  auto w = std::make_shared<NiceMock<mock_writer>>("db");
  vss::provider::completion end_prepare;
  EXPECT_CALL(*p, end_prepare_snapshots(_, _)).WillOnce(SaveCompletion(&end_prepare));
  ASSERT_THAT(engine_.register_provider(p), IsOk());
  auto reg = engine_.register_writer(w);
  auto s = prepared_session();

  EXPECT_CALL(*w, on_prepare_snapshot(_)).Times(0);
  checked_handler<> snapshot;
  s.async_do_snapshot_set(snapshot.handler());
  settle();
  ASSERT_TRUE(end_prepare) << "the engine waits in EndPrepareSnapshots";
  EXPECT_FALSE(snapshot.called());
  ::testing::Mock::VerifyAndClearExpectations(w.get());

  EXPECT_CALL(*w, on_prepare_snapshot(_));
  end_prepare({});
  settle();
  EXPECT_THAT(snapshot.error(), IsOk());
}

TEST_F(MockProviderTest, DefaultsAcceptEveryVolumeAndLetABackupFinish) {
  auto p = std::make_shared<NiceMock<mock_provider>>();
  ASSERT_THAT(engine_.register_provider(p), IsOk());
  auto w = std::make_shared<NiceMock<mock_writer>>("db");
  auto reg = engine_.register_writer(w);
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(vss::use_async_op);
  settle();
  EXPECT_THAT(op.query_status(), IsVssError(vss::errc::async_finished));
}

TEST_F(MockProviderTest, UnsupportedVolumeFromIsVolumeSupportedIsRejectedByAddToSnapshotSet) {
  auto p = std::make_shared<NiceMock<mock_provider>>();
  EXPECT_CALL(*p, is_volume_supported("/tape")).WillRepeatedly(Return(false));
  EXPECT_CALL(*p, begin_prepare_snapshot(_, _, _, _)).Times(0);
  ASSERT_THAT(engine_.register_provider(p), IsOk());
  auto s = engine_.create_backup_session();
  ASSERT_THAT(s.initialize_for_backup(), IsOk());
  ASSERT_THAT(s.start_snapshot_set(set_), IsOk());
  EXPECT_THAT(s.add_to_snapshot_set("/tape", {}, snapshot_),
              IsVssError(vss::errc::volume_not_supported));
}

TEST_F(MockProviderTest, DelegatedQueriesAnswerFromTheRealProvider) {
  auto memory = std::make_shared<vss::memory_provider>();
  auto p = std::make_shared<NiceMock<mock_provider>>();
  p->delegate_to(memory);
  ASSERT_THAT(engine_.register_provider(p), IsOk());
  auto w = std::make_shared<NiceMock<mock_writer>>("db");
  auto reg = engine_.register_writer(w);
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(vss::use_async_op);
  settle();
  ASSERT_THAT(op.query_status(), IsVssError(vss::errc::async_finished));

  vss::snapshot_properties props;
  EXPECT_THAT(p->get_snapshot_properties(snapshot_, props), IsOk());
  EXPECT_EQ(props.original_volume, "/data");
  EXPECT_EQ(props.set_id, set_);
  EXPECT_EQ(p->query().size(), 1u);
  EXPECT_THAT(p->delete_snapshot(snapshot_), IsOk());
  EXPECT_TRUE(memory->query().empty());
}

TEST(MockProviderDefaults, PropertiesReportTheGeneratedIdUntilDelegated) {
  NiceMock<mock_provider> p("unit provider");
  EXPECT_EQ(p.properties().name, "unit provider");
  EXPECT_FALSE(p.properties().id.is_null());
  EXPECT_EQ(p.properties().id, p.default_properties().id);

  auto memory = std::make_shared<vss::memory_provider>();
  p.delegate_to(memory);
  EXPECT_EQ(p.properties().id, memory->properties().id);
  EXPECT_NE(p.properties().id, p.default_properties().id);
}

TEST(MockProviderDefaults, SynchronousDefaultsSayNotFoundAndEmpty) {
  NiceMock<mock_provider> p;
  vss::snapshot_properties props;
  EXPECT_THAT(p.get_snapshot_properties(vss::snapshot_id::generate(), props),
              IsVssError(vss::errc::object_not_found));
  EXPECT_THAT(p.delete_snapshot(vss::snapshot_id::generate()),
              IsVssError(vss::errc::object_not_found));
  EXPECT_TRUE(p.query().empty());
  EXPECT_TRUE(p.is_volume_supported("/anything"));
}

TEST(MockProviderActions, CompleteWithCallsTheCompletionOnceWithTheCode) {
  checked_handler<> done;
  CompleteWith(vss::errc::provider_veto)(vss::snapshot_set_id{}, vss::provider::completion(done));
  EXPECT_EQ(done.calls(), 1u);
  EXPECT_THAT(done.error(), IsVssError(vss::errc::provider_veto));
}

TEST(MockProviderActions, CompleteWithFindsTheCompletionAfterTheSnapshotCount) {
  checked_handler<> done;
  CompleteWith()(vss::snapshot_set_id{}, std::int32_t{3}, vss::provider::completion(done));
  EXPECT_THAT(done.error(), IsOk());
}

TEST(MockProviderActions, DelegateToNullKeepsTheDefaults) {
  NiceMock<mock_provider> p;
  p.delegate_to(nullptr);
  EXPECT_EQ(p.properties().id, p.default_properties().id);
}

}  // namespace
