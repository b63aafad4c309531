// A session's release flag frees its volumes before release_volumes removes them from the
// engine's maps (decisions §38). The early free must not let release_volumes take a volume
// from the session that holds it next, and a queued reservation must count as pending, so
// that a session that sets its flag knows it has to release at once.

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <atomic>
#include <memory>
#include <optional>

#include "engine/engine_core.hpp"
#include "vss/vss.hpp"

namespace vss::test {
namespace {

using detail::engine_core;

struct flag_fixture {
  explicit flag_fixture(overlap_policy overlap = overlap_policy::reject) {
    engine_options o;
    o.overlap = overlap;
    core = std::make_shared<engine_core>(io.get_executor(), o);
  }
  // reserve() for `who` on `volume`; the result, if it came inline.
  std::optional<errc> reserve(const session_id& who, const std::string& volume,
                              engine_core::release_flag flag = nullptr) {
    auto result = std::make_shared<std::optional<errc>>();
    core->reserve(
        who, {volume}, {}, [result](errc e) { *result = e; }, std::move(flag));
    last = result;
    return *result;
  }
  static engine_core::release_flag new_flag() { return std::make_shared<std::atomic<bool>>(false); }

  asio::io_context io;
  std::shared_ptr<engine_core> core;
  std::shared_ptr<std::optional<errc>> last;
  const session_id s1 = session_id::generate();
  const session_id s2 = session_id::generate();
  const session_id s3 = session_id::generate();
};

TEST(VolumeReleaseFlag, ASetFlagFreesTheVolumeBeforeItsRelease) {
  flag_fixture f;
  auto flag1 = flag_fixture::new_flag();
  ASSERT_EQ(f.reserve(f.s1, "/v", flag1), errc::ok);
  EXPECT_TRUE(f.core->volume_held_by_other("/v", f.s2));
  EXPECT_EQ(f.reserve(f.s2, "/v"), errc::snapshot_set_in_progress);
  flag1->store(true);
  EXPECT_FALSE(f.core->volume_held_by_other("/v", f.s2));
  ASSERT_EQ(f.reserve(f.s2, "/v", flag_fixture::new_flag()), errc::ok);
  EXPECT_FALSE(f.core->reservations_pending());
}

TEST(VolumeReleaseFlag, TheLateReleaseOfTheFormerHolderLeavesTheNewHolderItsVolume) {
  flag_fixture f;
  auto flag1 = flag_fixture::new_flag();
  ASSERT_EQ(f.reserve(f.s1, "/v", flag1), errc::ok);
  flag1->store(true);
  ASSERT_EQ(f.reserve(f.s2, "/v", flag_fixture::new_flag()), errc::ok);
  f.core->release_volumes(f.s1);  // the reap of s1, after s2 took the volume
  EXPECT_TRUE(f.core->volume_held_by_other("/v", f.s3)) << "s1's release took s2's volume";
  EXPECT_EQ(f.reserve(f.s3, "/v"), errc::snapshot_set_in_progress);
  f.core->release_volumes(f.s2);
  EXPECT_FALSE(f.core->volume_held_by_other("/v", f.s3));
}

TEST(VolumeReleaseFlag, AQueuedReservationIsPendingUntilItIsGranted) {
  flag_fixture f(overlap_policy::wait);
  auto flag1 = flag_fixture::new_flag();
  ASSERT_EQ(f.reserve(f.s1, "/v", flag1), errc::ok);
  EXPECT_FALSE(f.core->reservations_pending());
  EXPECT_EQ(f.reserve(f.s2, "/v", flag_fixture::new_flag()), std::nullopt) << "queued";
  auto queued = f.last;
  EXPECT_TRUE(f.core->reservations_pending());
  // A flag alone grants nothing to a queued request: that is why a session that sees a
  // pending reservation after setting its flag releases at once.
  flag1->store(true);
  EXPECT_FALSE(queued->has_value());
  f.core->release_volumes(f.s1);
  EXPECT_EQ(*queued, errc::ok);
  EXPECT_FALSE(f.core->reservations_pending());
}

TEST(VolumeReleaseFlag, AWithdrawnReservationIsNoLongerPending) {
  flag_fixture f(overlap_policy::wait);
  ASSERT_EQ(f.reserve(f.s1, "/v"), errc::ok);
  EXPECT_EQ(f.reserve(f.s2, "/v"), std::nullopt);
  EXPECT_TRUE(f.core->reservations_pending());
  EXPECT_TRUE(f.core->withdraw(f.s2));
  EXPECT_FALSE(f.core->reservations_pending());
}

}  // namespace
}  // namespace vss::test
