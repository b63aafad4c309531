// The in-memory provider follows the provider contract of spec §11: state per step, no partial
// sets, abort discards everything of the set, a new set discards stale preparation.

#include "vss/memory_provider.hpp"

#include <gtest/gtest.h>

#include "vss/error.hpp"

namespace vss {
namespace {

std::error_code run(const std::function<void(provider::completion)>& step) {
  std::error_code result = make_error_code(errc::unexpected);
  int calls = 0;
  step([&](std::error_code ec) {
    result = ec;
    ++calls;
  });
  EXPECT_EQ(calls, 1);
  return result;
}

class MemoryProviderTest : public ::testing::Test {
 protected:
  void prepare(const std::vector<std::string>& volumes) {
    for (const auto& v : volumes) {
      const auto id = snapshot_id::generate();
      ASSERT_FALSE(p.begin_prepare_snapshot(set, id, v, 0));
      ids.push_back(id);
    }
  }
  void create_all() {
    ASSERT_FALSE(run([&](auto d) { p.end_prepare_snapshots(set, d); }));
    ASSERT_FALSE(run([&](auto d) { p.pre_commit_snapshots(set, d); }));
    ASSERT_FALSE(run([&](auto d) { p.commit_snapshots(set, d); }));
    ASSERT_FALSE(run([&](auto d) { p.post_commit_snapshots(set, 2, d); }));
    ASSERT_FALSE(run([&](auto d) { p.pre_final_commit_snapshots(set, d); }));
    ASSERT_FALSE(run([&](auto d) { p.post_final_commit_snapshots(set, d); }));
  }
  memory_provider p;
  snapshot_set_id set = snapshot_set_id::generate();
  std::vector<snapshot_id> ids;
};

TEST_F(MemoryProviderTest, SnapshotsBecomeVisibleOnlyWhenCreated) {
  prepare({"/a", "/b"});
  snapshot_properties props;
  EXPECT_EQ(p.get_snapshot_properties(ids[0], props), errc::object_not_found);
  EXPECT_TRUE(p.query().empty());
  create_all();
  ASSERT_FALSE(p.get_snapshot_properties(ids[0], props));
  EXPECT_EQ(props.state, snapshot_state::created);
  EXPECT_EQ(props.set_id, set);
  EXPECT_EQ(props.snapshots_count, 2);
  EXPECT_EQ(props.original_volume, "/a");
  EXPECT_FALSE(props.device.empty());
  EXPECT_EQ(p.query().size(), 2u);
}

TEST_F(MemoryProviderTest, StepsOutOfOrderAreBadState) {
  prepare({"/a"});
  EXPECT_EQ(run([&](auto d) { p.commit_snapshots(set, d); }), errc::bad_state);
}

TEST_F(MemoryProviderTest, AbortDiscardsCommittedAndUncommittedSnapshotsOfTheSet) {
  prepare({"/a", "/b"});
  ASSERT_FALSE(run([&](auto d) { p.end_prepare_snapshots(set, d); }));
  ASSERT_FALSE(run([&](auto d) { p.pre_commit_snapshots(set, d); }));
  ASSERT_FALSE(run([&](auto d) { p.commit_snapshots(set, d); }));
  EXPECT_FALSE(run([&](auto d) { p.abort_snapshots(set, d); }));
  EXPECT_TRUE(p.all_records().empty());
}

TEST_F(MemoryProviderTest, ConcurrentSetsDoNotDisturbEachOther) {
  prepare({"/a"});
  const auto other = snapshot_set_id::generate();
  ASSERT_FALSE(p.begin_prepare_snapshot(other, snapshot_id::generate(), "/b", 0));
  EXPECT_EQ(p.all_records().size(), 2u);
  ASSERT_FALSE(run([&](auto d) { p.abort_snapshots(other, d); }));
  ASSERT_EQ(p.all_records().size(), 1u);
  EXPECT_EQ(p.all_records()[0].set_id, set);
}

TEST_F(MemoryProviderTest, StepsCountAndMoveOnlyTheirOwnSet) {
  prepare({"/a", "/b"});
  const auto other = snapshot_set_id::generate();
  const auto lone = snapshot_id::generate();
  ASSERT_FALSE(p.begin_prepare_snapshot(other, lone, "/c", 0));
  create_all();
  snapshot_properties props;
  ASSERT_FALSE(p.get_snapshot_properties(ids[1], props));
  EXPECT_EQ(props.snapshots_count, 2);
  // The other set was not moved along: it is still preparing, and its own steps still work.
  const auto state_of = [&](const snapshot_id& id) {
    for (const auto& r : p.all_records()) {
      if (r.id == id) return r.state;
    }
    ADD_FAILURE() << "no record";
    return snapshot_state::unknown;
  };
  EXPECT_EQ(state_of(lone), snapshot_state::preparing);
  ASSERT_FALSE(run([&](auto d) { p.end_prepare_snapshots(other, d); }));
  EXPECT_EQ(run([&](auto d) { p.end_prepare_snapshots(other, d); }), errc::bad_state);
  // Aborting the created set leaves the other one whole.
  ASSERT_FALSE(run([&](auto d) { p.abort_snapshots(set, d); }));
  ASSERT_EQ(p.all_records().size(), 1u);
  EXPECT_EQ(p.all_records()[0].id, lone);
  EXPECT_EQ(p.all_records()[0].state, snapshot_state::prepared);
}

TEST_F(MemoryProviderTest, DeletingASetsLastSnapshotForgetsTheSet) {
  prepare({"/a", "/b"});
  create_all();
  ASSERT_FALSE(p.delete_snapshot(ids[0]));
  ASSERT_FALSE(p.delete_snapshot(ids[1]));
  EXPECT_TRUE(p.all_records().empty());
  // The same set id starts over with nothing left of the deleted snapshots: the count is 1.
  const auto again = snapshot_id::generate();
  ASSERT_FALSE(p.begin_prepare_snapshot(set, again, "/a", 0));
  ASSERT_FALSE(run([&](auto d) { p.end_prepare_snapshots(set, d); }));
  ASSERT_EQ(p.all_records().size(), 1u);
  EXPECT_EQ(p.all_records()[0].snapshots_count, 1);
  ASSERT_FALSE(run([&](auto d) { p.abort_snapshots(set, d); }));
  EXPECT_TRUE(p.all_records().empty());
}

TEST_F(MemoryProviderTest, DeletingOneSnapshotLeavesTheRestOfItsSetToItsSteps) {
  prepare({"/a", "/b"});
  ASSERT_FALSE(p.delete_snapshot(ids[0]));
  ASSERT_FALSE(run([&](auto d) { p.end_prepare_snapshots(set, d); }));
  const auto records = p.all_records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].id, ids[1]);
  EXPECT_EQ(records[0].state, snapshot_state::prepared);
  EXPECT_EQ(records[0].snapshots_count, 1);
}

TEST_F(MemoryProviderTest, AnAbortedSetStartsOverWithNothingLeftOfIt) {
  prepare({"/a", "/b"});
  ASSERT_FALSE(run([&](auto d) { p.abort_snapshots(set, d); }));
  // Stepping the emptied set finds nothing (and no stale entry of it).
  ASSERT_FALSE(run([&](auto d) { p.end_prepare_snapshots(set, d); }));
  const auto again = snapshot_id::generate();
  ASSERT_FALSE(p.begin_prepare_snapshot(set, again, "/a", 0));
  ASSERT_FALSE(run([&](auto d) { p.end_prepare_snapshots(set, d); }));
  const auto records = p.all_records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].snapshots_count, 1);
}

TEST_F(MemoryProviderTest, DeleteRemovesOneSnapshotAndReportsUnknownIds) {
  prepare({"/a", "/b"});
  create_all();
  EXPECT_FALSE(p.delete_snapshot(ids[0]));
  EXPECT_EQ(p.delete_snapshot(ids[0]), errc::object_not_found);
  EXPECT_EQ(p.query().size(), 1u);
}

TEST_F(MemoryProviderTest, SupportPredicateAndDuplicatesAreChecked) {
  memory_provider picky(
      {.name = "picky", .supports = [](std::string_view v) { return v == "/x"; }});
  EXPECT_TRUE(picky.is_volume_supported("/x"));
  EXPECT_FALSE(picky.is_volume_supported("/y"));
  EXPECT_FALSE(picky.is_volume_supported(""));
  EXPECT_EQ(picky.begin_prepare_snapshot(set, snapshot_id::generate(), "/y", 0),
            errc::volume_not_supported_by_provider);
  const auto id = snapshot_id::generate();
  ASSERT_FALSE(picky.begin_prepare_snapshot(set, id, "/x", 0));
  EXPECT_EQ(picky.begin_prepare_snapshot(set, id, "/x", 0), errc::object_already_exists);
  EXPECT_EQ(picky.properties().name, "picky");
}

}  // namespace
}  // namespace vss
