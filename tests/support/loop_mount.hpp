#pragma once
// A filesystem image of the test's own, loop-mounted for the length of a test: the providers
// are tested on real btrfs and XFS. The image is sparse, bounded in size, and always goes away:
// the destructor thaws the filesystem (a test may have frozen it), unmounts it (lazily if it
// is still busy), and removes the image and the mount point, whatever the test did.
//
// Where mounting is refused (no root, no loop devices, no mkfs.btrfs), a test skips with the
// reason, unless OPENVSS_REQUIRE_MOUNTS is set to a value other than "0" (as .ci/run does):
// then the refusal is a failure, so CI cannot go green by skipping.
//
// Example:
//   TEST(BtrfsProvider, SnapshotsASubvolume) {
//     OPENVSS_LOOP_MOUNT_OR_SKIP(fs, "btrfs", 256);
//     auto data = fs->path() / "data";
//     ...
//   }

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

namespace vss::test {

/// True when OPENVSS_REQUIRE_MOUNTS asks for loop-mount tests to fail instead of skipping.
bool mounts_required();

/// Runs `command` with /bin/sh, output captured; returns its exit status (-1 if it could not
/// run) and appends its output to *output when given.
int run_shell(const std::string& command, std::string* output = nullptr);

/// One loop-mounted filesystem image.
class loop_mount {
 public:
  /// Creates a sparse image of `size_mib` MiB, formats it as `fs` ("btrfs", "xfs", "ext4")
  /// and mounts it on a new directory. Null when any step fails; *why then says which and why.
  static std::unique_ptr<loop_mount> create(const std::string& fs, std::size_t size_mib,
                                            std::string* why);

  loop_mount(const loop_mount&) = delete;
  loop_mount& operator=(const loop_mount&) = delete;
  ~loop_mount();

  /// Where the filesystem is mounted.
  const std::filesystem::path& path() const noexcept { return mount_point_; }

  /// The filesystem type it was made with.
  const std::string& type() const noexcept { return fs_; }

 private:
  loop_mount(std::string fs, std::filesystem::path dir, std::filesystem::path image,
             std::filesystem::path mount_point);

  std::string fs_;
  std::filesystem::path dir_;  // holds the image and the mount point
  std::filesystem::path image_;
  std::filesystem::path mount_point_;
  bool mounted_ = false;
};

}  // namespace vss::test

/// Declares `var` (a std::unique_ptr<loop_mount>) or skips the test (fails it when
/// mounts_required()).
#define OPENVSS_LOOP_MOUNT_OR_SKIP(var, fs, size_mib)                                   \
  std::string var##_why;                                                                \
  auto var = ::vss::test::loop_mount::create((fs), (size_mib), &var##_why);             \
  if (!var) {                                                                           \
    if (::vss::test::mounts_required()) FAIL() << "loop mount required: " << var##_why; \
    GTEST_SKIP() << "cannot loop-mount " << (fs) << ": " << var##_why;                  \
  }
