#include "vss/providers/btrfs_provider.hpp"

#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "providers/posix_errors.hpp"
#include "providers/serial_worker.hpp"
#include "vss/error.hpp"

namespace vss {
namespace {

namespace fs = std::filesystem;
using providers::describe_errno;
using providers::provider_error_from_errno;

constexpr ino_t subvolume_root_inode = 256;  // BTRFS_FIRST_FREE_OBJECTID
constexpr const char* default_dir_name = ".openvss-snapshots";

using providers::serial_worker;

class unique_fd {
 public:
  explicit unique_fd(int fd = -1) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~unique_fd() { reset(); }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_;
};

unique_fd open_dir(const fs::path& p) {
  return unique_fd(::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

bool on_btrfs(int fd) {
  struct statfs sfs {};
  return ::fstatfs(fd, &sfs) == 0 && static_cast<unsigned long>(sfs.f_type) == BTRFS_SUPER_MAGIC;
}

bool is_subvolume_root(int fd) {
  struct stat st {};
  return on_btrfs(fd) && ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) &&
         st.st_ino == subvolume_root_inode;
}

bool is_read_only_subvolume(int fd) {
  std::uint64_t flags = 0;
  return is_subvolume_root(fd) && ::ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, &flags) == 0 &&
         (flags & BTRFS_SUBVOL_RDONLY) != 0;
}

using fsid_type = std::array<std::uint8_t, BTRFS_FSID_SIZE>;

// Every subvolume has its own st_dev and f_fsid, so "same filesystem" is the btrfs fsid.
std::optional<fsid_type> btrfs_fsid(int fd) {
  if (!on_btrfs(fd)) return std::nullopt;
  btrfs_ioctl_fs_info_args info{};
  if (::ioctl(fd, BTRFS_IOC_FS_INFO, &info) != 0) return std::nullopt;
  fsid_type id{};
  std::memcpy(id.data(), info.fsid, id.size());
  return id;
}

// The absolute, normal form of `volume`, resolved through symlinks while it exists, so that
// "/srv/data/" and "/srv/./data" name the same snapshot directory.
fs::path normal_volume_path(std::string_view volume) {
  std::error_code ec;
  fs::path p(volume);
  fs::path out = fs::canonical(p, ec);
  if (ec) out = fs::absolute(p, ec).lexically_normal();
  if (out.has_filename() || out == out.root_path()) return out;
  return out.parent_path();  // "/a/b/" -> "/a/b"
}

fs::path default_snapshot_dir(const fs::path& volume) {
  const fs::path parent = volume.parent_path();
  if (volume == volume.root_path() || parent.empty()) return volume / default_dir_name;
  unique_fd vfd = open_dir(volume);
  unique_fd pfd = open_dir(parent);
  if (vfd && pfd) {
    const auto vid = btrfs_fsid(vfd.get());
    if (vid && btrfs_fsid(pfd.get()) != vid) return volume / default_dir_name;
  }
  return parent / default_dir_name;
}

// BTRFS_IOC_SNAP_DESTROY of `name` in `dir`: root may delete a read-only snapshot.
int destroy_subvolume(const fs::path& dir, const std::string& name) {
  unique_fd dfd = open_dir(dir);
  if (!dfd) return errno;
  btrfs_ioctl_vol_args args{};
  if (name.size() > BTRFS_PATH_NAME_MAX) return ENAMETOOLONG;
  std::memcpy(args.name, name.data(), name.size());
  if (::ioctl(dfd.get(), BTRFS_IOC_SNAP_DESTROY, &args) != 0) return errno;
  return 0;
}

int create_read_only_snapshot(int source_fd, int dir_fd, const std::string& name) {
  btrfs_ioctl_vol_args_v2 args{};
  args.fd = source_fd;
  args.flags = BTRFS_SUBVOL_RDONLY;
  if (name.size() > BTRFS_SUBVOL_NAME_MAX) return ENAMETOOLONG;
  std::memcpy(args.name, name.data(), name.size());
  if (::ioctl(dir_fd, BTRFS_IOC_SNAP_CREATE_V2, &args) != 0) return errno;
  return 0;
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

}  // namespace

struct btrfs_provider::impl {
  struct record {
    snapshot_properties props;
    fs::path volume;        // normal form of props.original_volume
    fs::path snapshot_dir;  // where the snapshot is made
    bool made = false;      // the snapshot exists on disk
  };
  struct set_info {
    std::vector<snapshot_id> order;  // begin_prepare_snapshot order
    std::string last_error;
    std::optional<std::chrono::microseconds> commit_duration;
  };

  explicit impl(btrfs_provider_options o) : options(std::move(o)) {}

  fs::path snapshot_dir_for(const fs::path& volume) const {
    if (!options.snapshot_dir.empty()) return normal_volume_path(options.snapshot_dir);
    return default_snapshot_dir(volume);
  }

  void log(const std::string& line) const {
    if (options.log) options.log(line);
  }

  std::error_code fail(const snapshot_set_id& set, std::error_code ec, const std::string& why) {
    {
      std::lock_guard lock(mutex);
      sets[set].last_error = why;
    }
    log("set " + set.to_string() + ": " + why);
    return ec;
  }

  // The set's records in begin_prepare order, after checking they are all in state `from`.
  std::error_code records_in(const snapshot_set_id& set, snapshot_state from,
                             std::vector<record>& out) const {
    std::lock_guard lock(mutex);
    out.clear();
    auto it = sets.find(set);
    if (it == sets.end() || it->second.order.empty()) return errc::bad_state;
    for (const auto& id : it->second.order) {
      const auto& r = snapshots.at(id);
      if (r.props.state != from) return errc::bad_state;
      out.push_back(r);
    }
    return {};
  }

  std::error_code advance(const snapshot_set_id& set, snapshot_state from, snapshot_state to,
                          std::int32_t count) {
    std::lock_guard lock(mutex);
    auto it = sets.find(set);
    if (it == sets.end() || it->second.order.empty()) return errc::bad_state;
    for (const auto& id : it->second.order) {
      if (snapshots.at(id).props.state != from) return errc::bad_state;
    }
    for (const auto& id : it->second.order) {
      auto& p = snapshots.at(id).props;
      p.state = to;
      if (count > 0) p.snapshots_count = count;
    }
    return {};
  }

  std::error_code end_prepare(const snapshot_set_id& set) {
    std::vector<record> recs;
    if (auto ec = records_in(set, snapshot_state::preparing, recs)) return ec;
    for (const auto& r : recs) {
      unique_fd vfd = open_dir(r.volume);
      if (!vfd || !is_subvolume_root(vfd.get())) {
        return fail(set, errc::object_not_found,
                    "volume " + r.volume.string() + " is no longer a btrfs subvolume");
      }
      std::error_code ec;
      fs::create_directories(r.snapshot_dir, ec);
      if (ec) {
        return fail(set, provider_error_from_errno(ec.value()),
                    describe_errno("cannot create " + r.snapshot_dir.string(), ec.value()));
      }
      unique_fd dfd = open_dir(r.snapshot_dir);
      if (!dfd) {
        const int err = errno;
        return fail(set, provider_error_from_errno(err),
                    describe_errno("cannot open " + r.snapshot_dir.string(), err));
      }
      const auto vid = btrfs_fsid(vfd.get());
      if (!vid || btrfs_fsid(dfd.get()) != vid) {
        return fail(set, errc::volume_not_supported_by_provider,
                    "snapshot directory " + r.snapshot_dir.string() +
                        " is not on the btrfs filesystem of " + r.volume.string());
      }
    }
    return advance(set, snapshot_state::preparing, snapshot_state::prepared, 0);
  }

  std::error_code pre_commit(const snapshot_set_id& set) {
    std::vector<record> recs;
    if (auto ec = records_in(set, snapshot_state::prepared, recs)) return ec;
    for (const auto& r : recs) {
      unique_fd vfd = open_dir(r.volume);
      if (!vfd) {
        const int err = errno;
        return fail(set, provider_error_from_errno(err),
                    describe_errno("cannot open volume " + r.volume.string(), err));
      }
      if (::syncfs(vfd.get()) != 0) {
        const int err = errno;
        return fail(set, provider_error_from_errno(err),
                    describe_errno("syncfs of " + r.volume.string(), err));
      }
    }
    return advance(set, snapshot_state::prepared, snapshot_state::precommitted, 0);
  }

  std::error_code commit(const snapshot_set_id& set) {
    std::vector<record> recs;
    if (auto ec = records_in(set, snapshot_state::precommitted, recs)) return ec;
    // Every descriptor is opened first, so that a vanished volume fails the commit before any
    // snapshot of the set exists and the window between the snapshots holds only ioctls.
    std::vector<unique_fd> sources;
    std::vector<unique_fd> dirs;
    for (const auto& r : recs) {
      unique_fd vfd = open_dir(r.volume);
      if (!vfd || !is_subvolume_root(vfd.get())) {
        return fail(set, errc::object_not_found,
                    "volume " + r.volume.string() + " vanished before the commit");
      }
      unique_fd dfd = open_dir(r.snapshot_dir);
      if (!dfd) {
        const int err = errno;
        return fail(set, provider_error_from_errno(err),
                    describe_errno("cannot open " + r.snapshot_dir.string(), err));
      }
      sources.push_back(std::move(vfd));
      dirs.push_back(std::move(dfd));
    }
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < recs.size(); ++i) {
      const std::string name = recs[i].props.id.to_string();
      if (int err = create_read_only_snapshot(sources[i].get(), dirs[i].get(), name)) {
        // Partial results go: the set is all or nothing.
        for (std::size_t j = i; j-- > 0;) {
          if (int derr = destroy_subvolume(recs[j].snapshot_dir, recs[j].props.id.to_string())) {
            log(describe_errno("cannot remove partial snapshot " + recs[j].props.device, derr));
          }
        }
        return fail(
            set, provider_error_from_errno(err),
            describe_errno(
                "snapshot of " + recs[i].volume.string() + " into " + recs[i].props.device, err));
      }
    }
    const auto took = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - start);
    const auto now = std::chrono::system_clock::now();
    {
      std::lock_guard lock(mutex);
      auto& info = sets[set];
      info.commit_duration = took;
      for (const auto& id : info.order) {
        auto& r = snapshots.at(id);
        r.made = true;
        r.props.state = snapshot_state::committed;
        r.props.created = now;
        r.props.snapshots_count = static_cast<std::int32_t>(info.order.size());
      }
    }
    log("set " + set.to_string() + ": " + std::to_string(recs.size()) +
        " read-only snapshot(s) committed in " + std::to_string(took.count()) + " us");
    return {};
  }

  std::error_code abort(const snapshot_set_id& set) {
    std::vector<record> recs;
    {
      std::lock_guard lock(mutex);
      auto it = sets.find(set);
      if (it == sets.end()) return {};
      for (const auto& id : it->second.order) {
        recs.push_back(snapshots.at(id));
        snapshots.erase(id);
      }
      it->second.order.clear();
    }
    std::error_code first;
    for (const auto& r : recs) {
      if (!r.made) continue;
      if (int err = destroy_subvolume(r.snapshot_dir, r.props.id.to_string());
          err != 0 && err != ENOENT) {
        auto ec = fail(set, provider_error_from_errno(err),
                       describe_errno("abort: cannot delete " + r.props.device, err));
        if (!first) first = ec;
      } else {
        log("abort: deleted " + r.props.device);
      }
    }
    return first;
  }

  void forget(const snapshot_id& id, const snapshot_set_id& set) {
    snapshots.erase(id);
    auto it = sets.find(set);
    if (it == sets.end()) return;
    std::erase(it->second.order, id);
    if (it->second.order.empty() && it->second.last_error.empty()) sets.erase(it);
  }

  btrfs_provider_options options;
  mutable std::mutex mutex;
  std::map<snapshot_id, record> snapshots;
  std::map<snapshot_set_id, set_info> sets;
  serial_worker worker;  // last: destroyed first, while the state its steps use still exists
};

btrfs_provider::btrfs_provider(btrfs_provider_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {}

btrfs_provider::~btrfs_provider() = default;

provider_properties btrfs_provider::properties() const {
  // A btrfs snapshot is an atomic image of the subvolume, with its dirty data flushed first.
  return {impl_->options.id, impl_->options.name, provider_type::software, "1.0",
          /*atomic_commit=*/true};
}

bool btrfs_provider::is_volume_supported(std::string_view volume) const {
  if (volume.empty()) return false;
  unique_fd fd = open_dir(fs::path(volume));
  return fd && is_subvolume_root(fd.get());
}

std::error_code btrfs_provider::begin_prepare_snapshot(const snapshot_set_id& set,
                                                       const snapshot_id& snapshot,
                                                       std::string_view volume,
                                                       std::uint32_t context) {
  if (any(context_modifiers(context) & volume_attributes::plex)) {
    return errc::volume_not_supported_by_provider;
  }
  if (!is_volume_supported(volume)) return errc::volume_not_supported_by_provider;
  impl::record r;
  r.volume = normal_volume_path(volume);
  r.snapshot_dir = impl_->snapshot_dir_for(r.volume);
  auto& p = r.props;
  p.id = snapshot;
  p.set_id = set;
  p.original_volume = std::string(volume);
  p.device = (r.snapshot_dir / snapshot.to_string()).string();
  p.originating_machine = p.service_machine = host_name();
  p.provider = impl_->options.id;
  p.attributes = context | static_cast<std::uint32_t>(volume_attributes::exposed_locally);
  p.state = snapshot_state::preparing;

  std::lock_guard lock(impl_->mutex);
  if (impl_->snapshots.count(snapshot)) return errc::object_already_exists;
  auto& info = impl_->sets[set];
  for (const auto& id : info.order) {
    if (impl_->snapshots.at(id).volume == r.volume) return errc::object_already_exists;
  }
  info.order.push_back(snapshot);
  impl_->snapshots.emplace(snapshot, std::move(r));
  return {};
}

void btrfs_provider::end_prepare_snapshots(const snapshot_set_id& set, completion done) {
  impl_->worker.post([this, set, done = std::move(done)] { done(impl_->end_prepare(set)); });
}

void btrfs_provider::pre_commit_snapshots(const snapshot_set_id& set, completion done) {
  impl_->worker.post([this, set, done = std::move(done)] { done(impl_->pre_commit(set)); });
}

void btrfs_provider::commit_snapshots(const snapshot_set_id& set, completion done) {
  impl_->worker.post([this, set, done = std::move(done)] { done(impl_->commit(set)); });
}

void btrfs_provider::post_commit_snapshots(const snapshot_set_id& set, std::int32_t snapshots_count,
                                           completion done) {
  done(impl_->advance(set, snapshot_state::committed, snapshot_state::postcommitted,
                      snapshots_count));
}

void btrfs_provider::post_final_commit_snapshots(const snapshot_set_id& set, completion done) {
  done(impl_->advance(set, snapshot_state::postcommitted, snapshot_state::created, 0));
}

void btrfs_provider::abort_snapshots(const snapshot_set_id& set, completion done) {
  impl_->worker.post([this, set, done = std::move(done)] { done(impl_->abort(set)); });
}

std::error_code btrfs_provider::get_snapshot_properties(const snapshot_id& id,
                                                        snapshot_properties& out) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->snapshots.find(id);
  if (it == impl_->snapshots.end() || it->second.props.state != snapshot_state::created) {
    return errc::object_not_found;
  }
  out = it->second.props;
  return {};
}

std::vector<snapshot_properties> btrfs_provider::query() const {
  std::vector<snapshot_properties> out;
  std::lock_guard lock(impl_->mutex);
  for (const auto& [id, r] : impl_->snapshots) {
    if (r.props.state == snapshot_state::created) out.push_back(r.props);
  }
  return out;
}

std::error_code btrfs_provider::delete_snapshot(const snapshot_id& id) {
  impl::record r;
  {
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->snapshots.find(id);
    if (it == impl_->snapshots.end()) return errc::object_not_found;
    if (it->second.props.state != snapshot_state::created) return errc::bad_state;
    // Taken out while the ioctl runs, so that a concurrent delete of the same id is not found.
    r = std::move(it->second);
    impl_->snapshots.erase(it);
  }
  const int err = destroy_subvolume(r.snapshot_dir, id.to_string());
  if (err != 0 && err != ENOENT) {
    const std::string why = describe_errno("cannot delete snapshot " + r.props.device, err);
    impl_->log(why);
    std::lock_guard lock(impl_->mutex);
    impl_->sets[r.props.set_id].last_error = why;
    impl_->snapshots.emplace(id, std::move(r));
    return provider_error_from_errno(err);
  }
  impl_->log(err == ENOENT ? "snapshot " + r.props.device + " was already gone"
                           : "deleted snapshot " + r.props.device);
  std::lock_guard lock(impl_->mutex);
  impl_->forget(id, r.props.set_id);
  return {};
}

std::vector<std::string> btrfs_provider::flush_and_hold_paths(const snapshot_set_id&) const {
  return {};
}

std::error_code btrfs_provider::adopt_snapshot(const snapshot_properties& snapshot) {
  if (snapshot.id.is_null() || snapshot.original_volume.empty()) return errc::invalid_arg;
  const fs::path expected = snapshot_path(snapshot.id, snapshot.original_volume);
  if (normal_volume_path(snapshot.device) != expected) return errc::object_not_found;
  unique_fd fd = open_dir(expected);
  if (!fd || !is_read_only_subvolume(fd.get())) return errc::object_not_found;
  impl::record r;
  r.volume = normal_volume_path(snapshot.original_volume);
  r.snapshot_dir = expected.parent_path();
  r.made = true;
  r.props = snapshot;
  r.props.device = expected.string();
  r.props.provider = impl_->options.id;
  r.props.attributes |= static_cast<std::uint32_t>(volume_attributes::exposed_locally);
  r.props.state = snapshot_state::created;

  std::lock_guard lock(impl_->mutex);
  if (auto it = impl_->snapshots.find(snapshot.id); it != impl_->snapshots.end()) {
    return it->second.props.device == r.props.device ? std::error_code{}
                                                     : make_error_code(errc::object_already_exists);
  }
  impl_->sets[snapshot.set_id].order.push_back(snapshot.id);
  impl_->snapshots.emplace(snapshot.id, std::move(r));
  impl_->log("adopted snapshot " + expected.string());
  return {};
}

std::error_code btrfs_provider::discard_snapshot(const snapshot_id& id, std::string_view volume) {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->snapshots.count(id)) return errc::bad_state;
  }
  const fs::path path = snapshot_path(id, volume);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? std::error_code{} : provider_error_from_errno(errno);
  }
  unique_fd fd = open_dir(path);
  if (!fd || !is_subvolume_root(fd.get())) {
    impl_->log("discard: " + path.string() + " is not a btrfs subvolume; left alone");
    return errc::provider_veto;
  }
  fd.reset();
  if (int err = destroy_subvolume(path.parent_path(), path.filename().string());
      err != 0 && err != ENOENT) {
    impl_->log(describe_errno("discard: cannot delete " + path.string(), err));
    return provider_error_from_errno(err);
  }
  impl_->log("discarded leftover snapshot " + path.string());
  return {};
}

fs::path btrfs_provider::snapshot_path(const snapshot_id& id, std::string_view volume) const {
  return impl_->snapshot_dir_for(normal_volume_path(volume)) / id.to_string();
}

std::optional<std::chrono::microseconds> btrfs_provider::last_commit_duration(
    const snapshot_set_id& set) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->sets.find(set);
  if (it == impl_->sets.end()) return std::nullopt;
  return it->second.commit_duration;
}

std::string btrfs_provider::last_error(const snapshot_set_id& set) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->sets.find(set);
  return it == impl_->sets.end() ? std::string() : it->second.last_error;
}

}  // namespace vss
