#include "vss/mocks/invariants.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vss::mocks {
namespace {

using E = writer_event;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::IsEmpty;

std::vector<recorded_event> trace(const std::string& writer, std::initializer_list<E> events) {
  std::vector<recorded_event> out;
  for (E e : events) out.push_back({.writer = writer, .event = e});
  return out;
}

auto rule(const std::string& name) { return Field(&invariant_violation::rule, name); }

TEST(WriterInvariants, AFullBackupBreaksNoRule) {
  auto t = trace("db", {E::identify, E::prepare_backup, E::prepare_snapshot, E::freeze, E::thaw,
                        E::post_snapshot, E::backup_complete, E::backup_shutdown});
  EXPECT_THAT(check_writer_invariants(t, true), IsEmpty());
}

TEST(WriterInvariants, AnAbortAfterFreezeEndsTheFreezeAndTheSession) {
  auto t = trace("db",
                 {E::prepare_backup, E::prepare_snapshot, E::freeze, E::abort, E::backup_shutdown});
  EXPECT_THAT(check_writer_invariants(t, true), IsEmpty());
}

TEST(WriterInvariants, AFreezeWithoutThawOrAbortIsReported) {
  auto t = trace("db", {E::prepare_backup, E::prepare_snapshot, E::freeze});
  EXPECT_THAT(check_writer_invariants(t, false), ElementsAre(rule("freeze_ends")));
}

TEST(WriterInvariants, AnEventAfterAbortOtherThanShutdownIsReported) {
  auto t = trace("db", {E::prepare_backup, E::abort, E::prepare_snapshot, E::backup_shutdown});
  EXPECT_THAT(check_writer_invariants(t, true), ElementsAre(rule("after_abort")));
}

TEST(WriterInvariants, ASecondThawIsReported) {
  auto t = trace("db", {E::prepare_backup, E::prepare_snapshot, E::freeze, E::thaw, E::thaw,
                        E::post_snapshot, E::backup_complete, E::backup_shutdown});
  EXPECT_THAT(check_writer_invariants(t, true), ElementsAre(rule("at_most_once")));
}

TEST(WriterInvariants, EventsOutOfVssOrderAreReported) {
  auto t = trace("db",
                 {E::prepare_backup, E::freeze, E::prepare_snapshot, E::abort, E::backup_shutdown});
  EXPECT_THAT(check_writer_invariants(t, true), ElementsAre(rule("vss_order")));
}

TEST(WriterInvariants, AReleasedSessionNeedsAnEndAndAShutdown) {
  auto t = trace("db", {E::prepare_backup, E::prepare_snapshot});
  EXPECT_THAT(check_writer_invariants(t, false), IsEmpty());
  EXPECT_THAT(check_writer_invariants(t, true),
              ElementsAre(rule("session_end"), rule("session_end")));
}

TEST(WriterInvariants, AbandonedAfterPostSnapshotNeedsNoEnd) {
  // Spec §10.3 D: after PostSnapshot neither BackupComplete nor Abort is owed.
  auto t = trace("db", {E::prepare_backup, E::prepare_snapshot, E::freeze, E::thaw,
                        E::post_snapshot, E::backup_shutdown});
  EXPECT_THAT(check_writer_invariants(t, true), IsEmpty());
}

TEST(WriterInvariants, BothBackupCompleteAndAbortIsReported) {
  auto t = trace("db", {E::prepare_backup, E::prepare_snapshot, E::freeze, E::thaw,
                        E::post_snapshot, E::backup_complete, E::abort, E::backup_shutdown});
  const auto v = check_writer_invariants(t, true);
  EXPECT_THAT(v, ::testing::Contains(rule("session_end")));
}

TEST(WriterInvariants, AnEventAfterShutdownIsReported) {
  auto t = trace("db", {E::prepare_backup, E::abort, E::backup_shutdown, E::prepare_backup});
  EXPECT_THAT(check_writer_invariants(t, true), ::testing::Contains(rule("session_end")));
}

TEST(WriterInvariants, IdentifyMayArriveAnyTimeAndWritersAreCheckedApart) {
  auto t = trace("a", {E::identify, E::prepare_backup, E::identify, E::abort, E::identify,
                       E::backup_shutdown, E::identify});
  auto b = trace("b", {E::prepare_backup, E::freeze});
  t.insert(t.end(), b.begin(), b.end());
  const auto v = check_writer_invariants(t, true);
  ASSERT_FALSE(v.empty());
  for (const auto& x : v) EXPECT_EQ(x.writer, "b") << x;
}

}  // namespace
}  // namespace vss::mocks
