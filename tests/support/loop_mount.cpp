#include "support/loop_mount.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <thread>
#include <utility>

namespace vss::test {

bool mounts_required() {
  const char* v = std::getenv("OPENVSS_REQUIRE_MOUNTS");
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}

int run_shell(const std::string& command, std::string* output) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[512];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
    if (output) output->append(buf, n);
  }
  const int status = pclose(p);
  if (status == -1 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

namespace {

std::string quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

}  // namespace

std::unique_ptr<loop_mount> loop_mount::create(const std::string& fs, std::size_t size_mib,
                                               std::string* why) {
  std::string scratch;
  std::string& reason = why ? *why : scratch;
  if (geteuid() != 0) {
    reason = "not running as root";
    return nullptr;
  }
  const auto base = std::filesystem::temp_directory_path();
  std::string tmpl = (base / "openvss-loop-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    reason = "mkdtemp failed: " + std::string(std::strerror(errno));
    return nullptr;
  }
  std::filesystem::path dir = tmpl;
  auto image = dir / ("image." + fs);
  auto mount_point = dir / "mnt";
  std::error_code ec;
  std::filesystem::create_directory(mount_point, ec);
  std::unique_ptr<loop_mount> m(new loop_mount(fs, dir, image, mount_point));
  // Until mounted, the destructor only removes the directory.
  std::string out;
  if (run_shell("truncate -s " + std::to_string(size_mib) + "M " + quoted(image), &out) != 0) {
    reason = "truncate failed: " + out;
    return nullptr;
  }
  const std::string mkfs = "mkfs." + fs;
  if (run_shell("command -v " + mkfs) != 0) {
    reason = mkfs + " not found (install " +
             (fs == "btrfs" ? "btrfs-progs"
              : fs == "xfs" ? "xfsprogs"
                            : "e2fsprogs") +
             ")";
    return nullptr;
  }
  const std::string force = fs == "ext4" ? "-F" : "-f";
  if (run_shell(mkfs + " -q " + force + " " + quoted(image), &out) != 0) {
    reason = mkfs + " failed: " + out;
    return nullptr;
  }
  if (run_shell("mount -o loop " + quoted(image) + " " + quoted(mount_point), &out) != 0) {
    reason = "mount -o loop failed: " + out;
    return nullptr;
  }
  m->mounted_ = true;
  return m;
}

loop_mount::loop_mount(std::string fs, std::filesystem::path dir, std::filesystem::path image,
                       std::filesystem::path mount_point)
    : fs_(std::move(fs)),
      dir_(std::move(dir)),
      image_(std::move(image)),
      mount_point_(std::move(mount_point)) {}

loop_mount::~loop_mount() {
  if (mounted_) {
    // A test that froze the filesystem and failed before thawing would block the unmount.
    if (int fd = ::open(mount_point_.c_str(), O_RDONLY | O_DIRECTORY); fd >= 0) {
      (void)::ioctl(fd, FITHAW, 0);
      ::close(fd);
    }
    bool unmounted = false;
    for (int attempt = 0; attempt < 20 && !unmounted; ++attempt) {
      unmounted = ::umount2(mount_point_.c_str(), 0) == 0 || errno == EINVAL;
      if (!unmounted) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // Still busy (a process of the test still inside): detach now, freed when it lets go.
    if (!unmounted) (void)::umount2(mount_point_.c_str(), MNT_DETACH);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace vss::test
