// fsfreeze_write_hold on real loop-mounted filesystems: a hold blocks writers until it ends,
// holds on one filesystem share one freeze, a filesystem frozen by someone else is refused,
// and a holder killed while holding leaves a state file from which thaw_leftovers recovers.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <thread>

#include "support/loop_mount.hpp"
#include "vss/error.hpp"
#include "vss/write_hold.hpp"

namespace vss::test {
namespace {

using namespace std::chrono_literals;

// Starts a write of `file` on another thread; the future is ready once the write returned.
std::future<bool> write_async(const std::filesystem::path& file) {
  return std::async(std::launch::async, [file] {
    std::ofstream out(file, std::ios::app);
    out << "x";
    out.flush();
    return static_cast<bool>(out);
  });
}

// True when the filesystem at `mount` is frozen (a second FIFREEZE is refused with EBUSY).
bool is_frozen(const std::filesystem::path& mount) {
  const int fd = ::open(mount.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return false;
  const bool frozen = ::ioctl(fd, FIFREEZE, 0) != 0 && errno == EBUSY;
  if (!frozen) (void)::ioctl(fd, FITHAW, 0);  // it was not: undo our own freeze
  ::close(fd);
  return frozen;
}

TEST(FsfreezeWriteHold, AHoldBlocksWritersUntilItEnds) {
  OPENVSS_LOOP_MOUNT_OR_SKIP(fs, "xfs", 320);
  const auto dir = fs->path() / "data";
  std::filesystem::create_directory(dir);
  fsfreeze_write_hold holder;
  std::error_code ec;
  std::string why;
  auto held = holder.hold({dir.string()}, ec, why);
  ASSERT_FALSE(ec) << why;
  ASSERT_TRUE(held);
  EXPECT_EQ(held->filesystems(), std::vector<std::string>{fs->path().string()});
  auto write = write_async(dir / "f");
  EXPECT_EQ(write.wait_for(300ms), std::future_status::timeout) << "a write got through a hold";
  held.reset();
  ASSERT_EQ(write.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(write.get());
  EXPECT_FALSE(is_frozen(fs->path()));
}

TEST(FsfreezeWriteHold, TwoHoldsOnOneFilesystemShareOneFreeze) {
  OPENVSS_LOOP_MOUNT_OR_SKIP(fs, "btrfs", 256);
  std::filesystem::create_directory(fs->path() / "a");
  std::filesystem::create_directory(fs->path() / "b");
  fsfreeze_write_hold holder;
  std::error_code ec;
  std::string why;
  auto first = holder.hold({(fs->path() / "a").string(), (fs->path() / "b").string()}, ec, why);
  ASSERT_FALSE(ec) << why;
  EXPECT_EQ(first->filesystems().size(), 1u);  // two paths, one filesystem
  auto second = holder.hold({(fs->path() / "b").string()}, ec, why);
  ASSERT_FALSE(ec) << why;
  first.reset();
  EXPECT_TRUE(is_frozen(fs->path())) << "thawed while another hold was still on";
  second.reset();
  EXPECT_FALSE(is_frozen(fs->path()));
}

TEST(FsfreezeWriteHold, AFilesystemFrozenBySomeoneElseIsRefusedAndNothingStaysHeld) {
  OPENVSS_LOOP_MOUNT_OR_SKIP(a, "btrfs", 256);
  OPENVSS_LOOP_MOUNT_OR_SKIP(b, "btrfs", 256);
  const int fd = ::open(b->path().c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ioctl(fd, FIFREEZE, 0), 0);
  fsfreeze_write_hold holder;
  std::error_code ec;
  std::string why;
  auto held = holder.hold({a->path().string(), b->path().string()}, ec, why);
  EXPECT_FALSE(held);
  EXPECT_EQ(ec, errc::flush_writes_timeout);
  EXPECT_NE(why.find("already frozen"), std::string::npos) << why;
  EXPECT_FALSE(is_frozen(a->path())) << "the first filesystem stayed frozen after the failure";
  (void)::ioctl(fd, FITHAW, 0);
  ::close(fd);
}

TEST(FsfreezeWriteHold, APathThatDoesNotExistIsRefusedWithItsName) {
  fsfreeze_write_hold holder;
  std::error_code ec;
  std::string why;
  auto held = holder.hold({"/nonexistent/openvss/volume"}, ec, why);
  EXPECT_FALSE(held);
  EXPECT_EQ(ec, errc::flush_writes_timeout);
  EXPECT_NE(why.find("/nonexistent/openvss/volume"), std::string::npos) << why;
}

TEST(FsfreezeWriteHold, ThawLeftoversRecoversFromAHolderKilledWhileHolding) {
  OPENVSS_LOOP_MOUNT_OR_SKIP(fs, "xfs", 320);
  const auto state = fs->path().parent_path() / "held-filesystems";
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    fsfreeze_write_hold holder({.state_file = state.string()});
    std::error_code ec;
    std::string why;
    auto held = holder.hold({fs->path().string()}, ec, why);
    if (ec) _exit(2);
    ::kill(::getpid(), SIGKILL);  // dies holding: no destructor runs
    _exit(3);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status))
      << "the holder did not get to hold (exit " << WEXITSTATUS(status) << ")";
  EXPECT_TRUE(is_frozen(fs->path())) << "the kernel thawed it by itself";
  EXPECT_EQ(thaw_leftovers(state.string()), std::vector<std::string>{fs->path().string()});
  EXPECT_FALSE(is_frozen(fs->path()));
  EXPECT_TRUE(thaw_leftovers(state.string()).empty());  // the file was emptied
}

TEST(FsfreezeWriteHold, MountPointOfFindsTheEnclosingMount) {
  OPENVSS_LOOP_MOUNT_OR_SKIP(fs, "btrfs", 256);
  const auto deep = fs->path() / "x" / "y";
  std::filesystem::create_directories(deep);
  EXPECT_EQ(mount_point_of(deep.string()), fs->path().string());
  EXPECT_EQ(mount_point_of("/nonexistent/openvss"), "");
}

}  // namespace
}  // namespace vss::test
