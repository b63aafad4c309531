// The DoSnapshotSet pipeline as data (spec §10.1), checked step by step.

#include "session/snapshot_steps.hpp"

#include <gtest/gtest.h>

namespace vss::detail {
namespace {

using S = snapshot_step;

TEST(SnapshotSteps, FollowTheVssSequenceFromEndPrepareToDone) {
  const std::vector<S> expected = {S::end_prepare,
                                   S::prepare_snapshot,
                                   S::freeze_front_end,
                                   S::freeze_back_end,
                                   S::freeze_system,
                                   S::pre_commit,
                                   S::commit,
                                   S::post_commit,
                                   S::thaw_system,
                                   S::thaw_back_end,
                                   S::thaw_front_end,
                                   S::pre_final_commit,
                                   S::post_snapshot,
                                   S::post_final_commit,
                                   S::settle_side_aborts,
                                   S::done};
  ASSERT_EQ(expected.size(), snapshot_step_count);
  std::vector<S> walked{S::end_prepare};
  while (walked.back() != S::done) walked.push_back(next_step(walked.back()));
  EXPECT_EQ(walked, expected);
  EXPECT_EQ(next_step(S::done), S::done);
}

TEST(SnapshotSteps, EveryStepIsEitherAWriterStepAProviderStepOrBookkeeping) {
  for (std::size_t i = 0; i < snapshot_step_count; ++i) {
    const auto s = static_cast<S>(i);
    const bool writer = writer_event_of(s).has_value();
    const bool provider = is_provider_step(s);
    EXPECT_FALSE(writer && provider) << to_string(s);
    if (!writer && !provider) {
      EXPECT_TRUE(s == S::settle_side_aborts || s == S::done) << to_string(s);
    }
    EXPECT_NE(to_string(s), "?");
  }
}

TEST(SnapshotSteps, FreezeIsFrontEndFirstAndThawIsTheReverse) {
  EXPECT_EQ(level_group_of(S::freeze_front_end), 0);
  EXPECT_EQ(level_group_of(S::freeze_back_end), 1);
  EXPECT_EQ(level_group_of(S::freeze_system), 2);
  EXPECT_EQ(level_group_of(S::thaw_system), 2);
  EXPECT_EQ(level_group_of(S::thaw_back_end), 1);
  EXPECT_EQ(level_group_of(S::thaw_front_end), 0);
  EXPECT_FALSE(level_group_of(S::prepare_snapshot));
  EXPECT_EQ(writer_event_of(S::freeze_system), writer_event::freeze);
  EXPECT_EQ(writer_event_of(S::thaw_front_end), writer_event::thaw);
}

TEST(SnapshotSteps, RollbackWaitsForEveryProviderCallButEndPrepare) {
  for (std::size_t i = 0; i < snapshot_step_count; ++i) {
    const auto s = static_cast<S>(i);
    EXPECT_EQ(rollback_waits_for_call(s), is_provider_step(s) && s != S::end_prepare)
        << to_string(s);
  }
}

}  // namespace
}  // namespace vss::detail
