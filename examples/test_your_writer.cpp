// Test your writer with openvss::mocks — the README's example, compiled and run by CTest.
//
// `journal_writer` stands for your application's writer: it pauses its journal at Freeze and
// must resume it at Thaw or Abort, whatever happens around it. The tests check that in
// milliseconds, deterministically, under faults that would take minutes to provoke for real.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <vss/mocks/mocks.hpp>
#include <vss/vss.hpp>

namespace {

using namespace std::chrono_literals;
using ::testing::Contains;
using ::testing::IsEmpty;
using ::testing::Optional;

// --- The writer under test (in real life: your code) --------------------------------------

class journal_writer : public vss::writer {
 public:
  journal_writer() : vss::writer({.name = "journal", .level = vss::application_level::back_end}) {}

  bool paused() const { return paused_; }
  int pauses() const { return pauses_; }

  void on_prepare_snapshot(vss::writer_context ctx) override { ctx.complete(); }
  void on_freeze(vss::writer_context ctx) override {
    paused_ = true;
    ++pauses_;
    ctx.complete();
  }
  void on_thaw(vss::writer_context ctx) override {
    paused_ = false;
    ctx.complete();
  }
  void on_abort(vss::writer_context ctx) override {
    paused_ = false;  // an abort must never leave the journal paused
    ctx.complete();
  }

 private:
  std::atomic<bool> paused_{false};
  std::atomic<int> pauses_{0};
};

// --- 1. A whole backup with fakes and a fault plan, in virtual time -----------------------

// Runs a backup with five fake writers next to ours, under `plan`; returns what happened.
vss::mocks::scenario_result backup_with(const std::shared_ptr<journal_writer>& mine,
                                        const std::string& plan) {
  vss::mocks::backup_scenario s({.writers = 5,
                                 .plan = vss::mocks::fault_plan::from_text(plan),
                                 .select_components = false});  // every writer takes part
  auto registration = s.engine().register_writer(mine);
  return s.run();
}

TEST(JournalWriter, ResumesWhenTheBackupIsAbortedWhileFrozen) {
  auto mine = std::make_shared<journal_writer>();
  // Fake writer 2 (system level, frozen last) takes 10 ms of virtual time to freeze; the abort
  // lands 5 ms after the first Freeze, when our back-end writer is already frozen.
  auto r = backup_with(mine, "writer[2].freeze=delay(10ms); abort@freeze+5ms");
  EXPECT_TRUE(r.abort_fired);
  EXPECT_THAT(r.do_snapshot_set, Optional(vss::mocks::IsAborted()));
  EXPECT_THAT(r.violations, IsEmpty()) << r.timeline;
  EXPECT_EQ(mine->pauses(), 1);
  EXPECT_FALSE(mine->paused());
}

TEST(JournalWriter, ResumesWhenAnotherWriterHangsPastItsFreezeTimeout) {
  auto mine = std::make_shared<journal_writer>();
  // Another writer never answers Freeze: 60 s of virtual time pass in microseconds.
  auto r = backup_with(mine, "writer[2].freeze=hang");
  EXPECT_THAT(r.violations, IsEmpty()) << r.timeline;
  EXPECT_THAT(r.writers, Contains(vss::mocks::WriterFailureIs(vss::errc::writer_error_timeout)));
  EXPECT_FALSE(mine->paused());
}

TEST(JournalWriter, ResumesWhenTheProviderVetoesTheCommit) {
  auto mine = std::make_shared<journal_writer>();
  auto r = backup_with(mine, "provider.commit=veto(VSS_E_PROVIDER_VETO)");
  EXPECT_THAT(r.do_snapshot_set, Optional(vss::mocks::IsVssError(vss::errc::provider_veto)));
  EXPECT_EQ(r.snapshots_left, 0u);
  EXPECT_FALSE(mine->paused());
}

TEST(JournalWriter, ResumesUnderEveryProviderFault) {
  // A small sweep of your own: every provider step, every way to fail.
  for (const char* call : {"end_prepare", "pre_commit", "commit", "post_commit"}) {
    for (const char* f : {"veto(VSS_E_PROVIDER_VETO)", "hang", "throw", "delay(20s)"}) {
      auto mine = std::make_shared<journal_writer>();
      const std::string plan = std::string("provider.") + call + "=" + f;
      auto r = backup_with(mine, plan);
      EXPECT_THAT(r.violations, IsEmpty()) << plan << "\n" << r.timeline;
      EXPECT_FALSE(mine->paused()) << plan;
    }
  }
}

// --- 2. Exact contracts with gMock, against a real engine ---------------------------------

TEST(JournalWriter, AWriterThatVetoesFreezeIsAbortedAlone) {
  asio::io_context io;
  auto clock = std::make_shared<vss::manual_clock>();
  vss::engine engine(io.get_executor(), {.shard_count = 1, .clock = clock});
  ASSERT_FALSE(engine.register_provider(std::make_shared<vss::memory_provider>()));

  auto mine = std::make_shared<journal_writer>();
  auto other = std::make_shared<::testing::NiceMock<vss::mocks::mock_writer>>("mail-store");
  {
    ::testing::InSequence order;
    EXPECT_CALL(*other, on_freeze)
        .WillOnce(vss::mocks::Fail(vss::errc::writer_error_retryable, "store busy"));
    EXPECT_CALL(*other, on_abort).WillOnce(vss::mocks::Complete());
  }
  EXPECT_CALL(*other, on_thaw).Times(0);
  auto r1 = engine.register_writer(mine);
  auto r2 = engine.register_writer(other);

  auto session = engine.create_backup_session();
  ASSERT_FALSE(session.initialize_for_backup());
  ASSERT_FALSE(session.set_backup_state(false, false, vss::backup_type::full));
  vss::mocks::checked_handler<void(std::error_code)> gathered, prepared, snapshot;
  session.async_gather_writer_metadata(gathered.handler());
  io.run();
  io.restart();
  vss::snapshot_set_id set;
  vss::snapshot_id snap;
  ASSERT_FALSE(session.start_snapshot_set(set));
  ASSERT_FALSE(session.add_to_snapshot_set("/data", {}, snap));
  session.async_prepare_for_backup(prepared.handler());
  io.run();
  io.restart();
  session.async_do_snapshot_set(snapshot.handler());
  io.run();  // every completion ran exactly once, or checked_handler fails the test

  EXPECT_THAT(snapshot.error(), vss::mocks::IsOk());  // spec §3.2: creation continues
  EXPECT_FALSE(mine->paused());
  session.release();
  io.restart();
  io.run();
}

}  // namespace
