#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include "providers/posix_errors.hpp"
#include "vss/error.hpp"
#include "vss/write_hold.hpp"

namespace vss {
namespace {

// Mount points in /proc/self/mountinfo escape space, tab, newline and backslash as \ooo.
std::string unescape_mount_path(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      const std::string oct = s.substr(i + 1, 3);
      if (oct.size() == 3 && oct.find_first_not_of("01234567") == std::string::npos) {
        out += static_cast<char>(std::stoi(oct, nullptr, 8));
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

// One process-wide count per frozen filesystem: two sets on different volumes of one
// filesystem share its freeze (FIFREEZE on a frozen filesystem fails with EBUSY), and only the
// last release thaws it.
struct freeze_registry {
  struct entry {
    int fd = -1;
    std::string mount_point;
    int holders = 0;
  };
  std::mutex mutex;
  std::map<dev_t, entry> frozen;
};

freeze_registry& registry() {
  static freeze_registry r;
  return r;
}

void write_state_file(const std::string& file, const freeze_registry& r) {
  if (file.empty()) return;
  const std::string tmp = file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (const auto& [dev, e] : r.frozen) out << e.mount_point << '\n';
  }
  // The list must be on disk before the first FIFREEZE returns: a crash right after it must
  // still find what to thaw. fsync then rename, so the file is never half written.
  if (int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
  (void)::rename(tmp.c_str(), file.c_str());
}

class fsfreeze_held final : public held_writes {
 public:
  fsfreeze_held(std::vector<dev_t> devices, std::vector<std::string> mounts, std::string state)
      : devices_(std::move(devices)), mounts_(std::move(mounts)), state_file_(std::move(state)) {}

  ~fsfreeze_held() override {
    auto& r = registry();
    std::lock_guard lock(r.mutex);
    for (auto dev : devices_) {
      auto it = r.frozen.find(dev);
      if (it == r.frozen.end() || --it->second.holders > 0) continue;
      (void)::ioctl(it->second.fd, FITHAW, 0);
      ::close(it->second.fd);
      r.frozen.erase(it);
    }
    write_state_file(state_file_, r);
  }

  const std::vector<std::string>& filesystems() const noexcept override { return mounts_; }

 private:
  std::vector<dev_t> devices_;
  std::vector<std::string> mounts_;
  std::string state_file_;
};

}  // namespace

namespace {

struct mount_info {
  std::string point;
  dev_t sb_dev = 0;  // the superblock's device: one per filesystem, which is what freezes
};

// The longest mount point enclosing `path`. Matched by path, not by stat's st_dev: btrfs gives
// every subvolume an anonymous st_dev of its own, while /proc/self/mountinfo lists the
// superblock's device, the same for every mount of one filesystem.
std::optional<mount_info> mount_of(const std::string& path) {
  std::error_code ec;
  const auto canonical = std::filesystem::canonical(path, ec);
  if (ec) return std::nullopt;
  const auto real = canonical.string();
  std::ifstream info("/proc/self/mountinfo");
  std::string line;
  std::optional<mount_info> best;
  while (std::getline(info, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mount;
    if (!(fields >> id >> parent >> devno >> root >> mount)) continue;
    unsigned major_no = 0, minor_no = 0;
    if (std::sscanf(devno.c_str(), "%u:%u", &major_no, &minor_no) != 2) continue;
    mount = unescape_mount_path(mount);
    const bool inside = real == mount || mount == "/" ||
                        (real.size() > mount.size() && real.compare(0, mount.size(), mount) == 0 &&
                         real[mount.size()] == '/');
    // Later lines are mounted over earlier ones: on a tie the later wins.
    if (inside && (!best || mount.size() >= best->point.size())) {
      best = mount_info{mount, makedev(major_no, minor_no)};
    }
  }
  return best;
}

}  // namespace

std::string mount_point_of(const std::string& path) {
  auto m = mount_of(path);
  return m ? m->point : std::string{};
}

fsfreeze_write_hold::fsfreeze_write_hold(fsfreeze_options options) : options_(std::move(options)) {}

std::unique_ptr<held_writes> fsfreeze_write_hold::hold(const std::vector<std::string>& paths,
                                                       std::error_code& ec, std::string& why) {
  ec.clear();
  why.clear();
  std::vector<dev_t> devices;
  std::vector<std::string> mounts;
  auto fail = [&](const std::string& reason) -> std::unique_ptr<held_writes> {
    // Releases what this call already took.
    { fsfreeze_held undo(devices, mounts, options_.state_file); }
    ec = errc::flush_writes_timeout;
    why = reason;
    return nullptr;
  };
  auto& r = registry();
  std::unique_lock lock(r.mutex);
  for (const auto& path : paths) {
    const auto mount = mount_of(path);
    if (!mount) {
      lock.unlock();
      return fail("cannot hold writes on " + path +
                  ": no such path, or its mount point was not found");
    }
    const dev_t dev = mount->sb_dev;
    if (std::find(devices.begin(), devices.end(), dev) != devices.end()) continue;
    if (auto it = r.frozen.find(dev); it != r.frozen.end()) {
      ++it->second.holders;
      devices.push_back(dev);
      mounts.push_back(it->second.mount_point);
      continue;
    }
    const int fd = ::open(mount->point.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      lock.unlock();
      return fail(providers::describe_errno("cannot open " + mount->point + " to freeze it", err));
    }
    // Recorded before the freeze: a crash inside FIFREEZE must leave a trace too.
    r.frozen[dev] = {fd, mount->point, 1};
    write_state_file(options_.state_file, r);
    if (::ioctl(fd, FIFREEZE, 0) != 0) {
      const int err = errno;
      ::close(fd);
      r.frozen.erase(dev);
      write_state_file(options_.state_file, r);
      lock.unlock();
      return fail(providers::describe_errno(
          "FIFREEZE on " + mount->point + (err == EBUSY ? " (already frozen by someone else)" : ""),
          err));
    }
    devices.push_back(dev);
    mounts.push_back(mount->point);
  }
  return std::make_unique<fsfreeze_held>(std::move(devices), std::move(mounts),
                                         options_.state_file);
}

std::vector<std::string> thaw_leftovers(const std::string& state_file) {
  std::vector<std::string> thawed;
  std::ifstream in(state_file);
  if (!in) return thawed;
  std::string mount;
  while (std::getline(in, mount)) {
    if (mount.empty()) continue;
    const int fd = ::open(mount.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) continue;
    // EINVAL: not frozen (any more); only a real thaw is reported.
    if (::ioctl(fd, FITHAW, 0) == 0) thawed.push_back(mount);
    ::close(fd);
  }
  in.close();
  std::ofstream(state_file, std::ios::trunc);
  return thawed;
}

}  // namespace vss
