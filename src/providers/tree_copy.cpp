#include "providers/tree_copy.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

#include "providers/posix_errors.hpp"

namespace vss::providers {
namespace {

constexpr std::size_t chunk_bytes = 8u << 20;  // cancel is checked between chunks
constexpr std::size_t buffer_bytes = 256u << 10;

class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  ~unique_fd() { reset(); }
  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

std::string join(const std::string& rel, const std::string& name) {
  return rel.empty() ? name : rel + "/" + name;
}

std::string full(const std::filesystem::path& root, const std::string& rel) {
  return rel.empty() ? root.string() : (root / rel).string();
}

std::int64_t to_ns(const timespec& t) noexcept {
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

bool same_time(const timespec& a, const timespec& b) noexcept {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

// The names in a directory except "." and "..", sorted so that every pass sees one order.
// A fresh open of "." gives a directory stream of its own: a dup() would share the offset of
// `dirfd`, which an earlier listing left at the end.
int list_dir(int dirfd, std::vector<std::string>& names) {
  names.clear();
  const int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    const int e = errno;
    ::close(fd);
    return e;
  }
  int err = 0;
  for (;;) {
    errno = 0;
    const dirent* e = ::readdir(d);
    if (e == nullptr) {
      err = errno;
      break;
    }
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    names.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return err;
}

int clear_protection(int fd) {
  int flags = 0;
  if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) return 0;  // no inode flags on this fs
  const int wanted = flags & ~(FS_IMMUTABLE_FL | FS_APPEND_FL);
  if (wanted == flags) return 0;
  return ::ioctl(fd, FS_IOC_SETFLAGS, &wanted) == 0 ? 0 : errno;
}

tree_copy_error error_at(int code, std::string operation, std::string path) {
  return {code, std::move(path), std::move(operation)};
}

// Removes `name` in `dirfd`, whatever it is; `path` names it in errors.
tree_copy_error remove_at(int dirfd, const std::string& name, const std::string& path) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return error_at(errno, "stat", path);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(dirfd, name.c_str(), 0) == 0 || errno == ENOENT) return {};
    int e = errno;
    // An immutable or append-only file cannot be unlinked until its flags are cleared.
    if (e == EPERM && S_ISREG(st.st_mode)) {
      unique_fd f(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
      if (f && clear_protection(f.get()) == 0) {
        f.reset();
        if (::unlinkat(dirfd, name.c_str(), 0) == 0) return {};
        e = errno;
      }
    }
    return error_at(e, "unlink", path);
  }
  unique_fd d(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!d) return error_at(errno, "open", path);
  // The directory's own flags first: an immutable directory refuses every unlink inside it.
  if (const int e = clear_protection(d.get()); e != 0) return error_at(e, "FS_IOC_SETFLAGS", path);
  if (::geteuid() != 0) (void)::fchmod(d.get(), (st.st_mode & 07777) | S_IRWXU);
  std::vector<std::string> names;
  if (const int e = list_dir(d.get(), names); e != 0) return error_at(e, "readdir", path);
  for (const auto& n : names) {
    if (auto err = remove_at(d.get(), n, path + "/" + n)) return err;
  }
  d.reset();
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) == 0 || errno == ENOENT) return {};
  return error_at(errno, "rmdir", path);
}

// What the first pass saw of a source entry; update() compares against it.
struct seen_entry {
  dev_t dev = 0;
  ino_t ino = 0;
  mode_t mode = 0;
  off_t size = 0;
  dev_t rdev = 0;
  timespec mtime{};
  timespec ctime{};
  bool recent = false;  // changed so shortly before the pass that a later change may not show
};

}  // namespace

std::string tree_copy_error::message() const {
  if (code == 0) return {};
  return describe_errno(operation + " " + path, code);
}

struct tree_copy::impl {
  std::filesystem::path src_root;
  std::filesystem::path dst_root;
  tree_copy_options opt;
  bool clone_ok = true;
  bool copy_file_range_ok = true;
  bool is_root = ::geteuid() == 0;
  bool owner_warned = false;
  bool updating = false;
  bool first_pass_done = false;
  std::int64_t recent_since_ns = 0;
  tree_copy_stats* stats = nullptr;
  int dst_root_fd = -1;
  std::unordered_map<std::string, seen_entry> manifest;
  std::unordered_map<std::string, seen_entry> next;
  std::map<std::pair<dev_t, ino_t>, std::string> links;  // source inode -> first copy (rel)
  std::vector<char> buffer;

  tree_copy_error src_error(int code, const char* op, const std::string& rel) const {
    return error_at(code, op, full(src_root, rel));
  }
  tree_copy_error dst_error(int code, const char* op, const std::string& rel) const {
    return error_at(code, op, full(dst_root, rel));
  }

  void warn(const std::string& text) const {
    if (opt.warn) opt.warn(text);
  }

  bool cancelled() const { return opt.cancel != nullptr && opt.cancel->load(); }

  seen_entry remember(const struct stat& st) const {
    seen_entry s;
    s.dev = st.st_dev;
    s.ino = st.st_ino;
    s.mode = st.st_mode;
    s.size = st.st_size;
    s.rdev = st.st_rdev;
    s.mtime = st.st_mtim;
    s.ctime = st.st_ctim;
    s.recent = S_ISREG(st.st_mode) && to_ns(st.st_ctim) >= recent_since_ns;
    return s;
  }

  static bool unchanged(const seen_entry& old, const struct stat& st) {
    return !old.recent && (old.mode & S_IFMT) == (st.st_mode & S_IFMT) && old.dev == st.st_dev &&
           old.ino == st.st_ino && old.size == st.st_size && old.rdev == st.st_rdev &&
           same_time(old.mtime, st.st_mtim) && same_time(old.ctime, st.st_ctim);
  }

  // Ownership that cannot be kept without root is a warning, as with `cp -a`; with root it
  // is a failure.
  tree_copy_error owner_result(int rc, const std::string& rel) {
    if (rc == 0) return {};
    const int e = errno;
    if (e == EPERM && !is_root) {
      if (!owner_warned) warn("ownership not kept (not root), first at " + full(dst_root, rel));
      owner_warned = true;
      return {};
    }
    return dst_error(e, "chown", rel);
  }

  tree_copy_error set_fd_metadata(int fd, const struct stat& st, const std::string& rel) {
    if (auto err = owner_result(::fchown(fd, st.st_uid, st.st_gid), rel)) return err;
    if (::fchmod(fd, st.st_mode & 07777) != 0) return dst_error(errno, "chmod", rel);
    const timespec times[2] = {st.st_atim, st.st_mtim};
    if (::futimens(fd, times) != 0) return dst_error(errno, "utimensat", rel);
    return {};
  }

  tree_copy_error pass(tree_copy_stats& out, bool update) {
    out = {};
    stats = &out;
    updating = update;
    next.clear();
    links.clear();
    const auto started = std::chrono::steady_clock::now();
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    recent_since_ns = to_ns(now) - opt.recent_change_window.count();
    auto err = run_pass();
    out.duration = std::chrono::steady_clock::now() - started;
    stats = nullptr;
    if (!err) manifest = std::move(next);
    next.clear();
    return err;
  }

  tree_copy_error run_pass() {
    if (cancelled()) return src_error(ECANCELED, "cancel", "");
    unique_fd src(::open(src_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!src) return src_error(errno, "open", "");
    if (!updating && ::mkdir(dst_root.c_str(), 0700) != 0) return dst_error(errno, "mkdir", "");
    unique_fd dst(::open(dst_root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dst) return dst_error(errno, "open", "");
    if (updating && !is_root) (void)::fchmod(dst.get(), S_IRWXU);
    dst_root_fd = dst.get();
    auto err = walk_dir(src.get(), dst.get(), "");
    dst_root_fd = -1;
    return err;
  }

  tree_copy_error walk_dir(int sfd, int dfd, const std::string& rel) {
    std::vector<std::string> names;
    if (const int e = list_dir(sfd, names); e != 0) return src_error(e, "readdir", rel);
    std::vector<std::pair<std::string, struct stat>> entries;
    entries.reserve(names.size());
    for (auto& name : names) {
      struct stat st;
      if (::fstatat(sfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // gone since the listing: not part of the copy
        return src_error(errno, "stat", join(rel, name));
      }
      entries.emplace_back(std::move(name), st);
    }
    if (updating) {
      std::vector<std::string> existing;
      if (const int e = list_dir(dfd, existing); e != 0) return dst_error(e, "readdir", rel);
      for (const auto& name : existing) {
        // `entries` is sorted by name, as the listing was.
        const auto it =
            std::lower_bound(entries.begin(), entries.end(), name,
                             [](const auto& e, const std::string& n) { return e.first < n; });
        const bool kept = it != entries.end() && it->first == name;
        if (kept) continue;
        if (auto err = remove_at(dfd, name, full(dst_root, join(rel, name)))) return err;
        ++stats->removed;
      }
    }
    for (const auto& [name, st] : entries) {
      if (cancelled()) return src_error(ECANCELED, "cancel", join(rel, name));
      ++stats->entries;
      if (opt.progress && opt.progress_every > 0 && stats->entries % opt.progress_every == 0) {
        opt.progress(stats->entries);
      }
      if (auto err = entry(sfd, dfd, name, join(rel, name), st)) return err;
    }
    // Last, because creating the entries changed the directory's times.
    struct stat dir_st;
    if (::fstat(sfd, &dir_st) != 0) return src_error(errno, "stat", rel);
    return set_fd_metadata(dfd, dir_st, rel);
  }

  tree_copy_error entry(int sfd, int dfd, const std::string& name, const std::string& rel,
                        const struct stat& st) {
    if (S_ISDIR(st.st_mode)) return directory(sfd, dfd, name, rel, st);
    if (updating) {
      if (auto it = manifest.find(rel); it != manifest.end() && unchanged(it->second, st)) {
        next.emplace(rel, it->second);
        if (S_ISREG(st.st_mode) && st.st_nlink > 1)
          links.emplace(std::pair{st.st_dev, st.st_ino}, rel);
        return {};
      }
      if (auto err = remove_at(dfd, name, full(dst_root, rel))) return err;
    }
    switch (st.st_mode & S_IFMT) {
      case S_IFREG:
        return regular(sfd, dfd, name, rel, st);
      case S_IFLNK:
        return symlink(sfd, dfd, name, rel, st);
      case S_IFIFO:
      case S_IFCHR:
      case S_IFBLK:
        return special(dfd, name, rel, st);
      default:
        warn("skipped socket " + full(src_root, rel));
        ++stats->skipped;
        return {};
    }
  }

  tree_copy_error directory(int sfd, int dfd, const std::string& name, const std::string& rel,
                            const struct stat& st) {
    bool exists = false;
    if (updating) {
      struct stat dst_st;
      if (::fstatat(dfd, name.c_str(), &dst_st, AT_SYMLINK_NOFOLLOW) == 0) {
        exists = S_ISDIR(dst_st.st_mode);
        if (!exists) {
          if (auto err = remove_at(dfd, name, full(dst_root, rel))) return err;
        }
      } else if (errno != ENOENT) {
        return dst_error(errno, "stat", rel);
      }
    }
    unique_fd child_src(
        ::openat(sfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!child_src) {
      if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) {
        // Gone or replaced since it was listed: what is there now is for the next pass.
        return exists ? remove_at(dfd, name, full(dst_root, rel)) : tree_copy_error{};
      }
      return src_error(errno, "open", rel);
    }
    if (!exists) {
      if (::mkdirat(dfd, name.c_str(), 0700) != 0) return dst_error(errno, "mkdir", rel);
      ++stats->dirs;
    }
    unique_fd child_dst(
        ::openat(dfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!child_dst) return dst_error(errno, "open", rel);
    // Without root, a copied read-only directory would refuse the entries of this pass.
    if (exists && !is_root) (void)::fchmod(child_dst.get(), S_IRWXU);
    next.emplace(rel, remember(st));
    return walk_dir(child_src.get(), child_dst.get(), rel);
  }

  tree_copy_error regular(int sfd, int dfd, const std::string& name, const std::string& rel,
                          const struct stat& listed) {
    if (listed.st_nlink > 1) {
      if (auto it = links.find({listed.st_dev, listed.st_ino}); it != links.end()) {
        if (::linkat(dst_root_fd, it->second.c_str(), dfd, name.c_str(), 0) != 0) {
          return dst_error(errno, "link", rel);
        }
        ++stats->hardlinks;
        next.emplace(rel, remember(listed));
        return {};
      }
    }
    // O_NONBLOCK: should the name have become a fifo since it was listed, open must not wait.
    const int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
    unique_fd in(::openat(sfd, name.c_str(), flags | O_NOATIME));
    if (!in && errno == EPERM) in.reset(::openat(sfd, name.c_str(), flags));
    if (!in) {
      if (errno == ENOENT || errno == ELOOP) return {};  // gone or replaced since listed
      return src_error(errno, "open", rel);
    }
    // The opened inode is what gets copied, so its stat (not the listing's) is remembered.
    struct stat st;
    if (::fstat(in.get(), &st) != 0) return src_error(errno, "stat", rel);
    if (!S_ISREG(st.st_mode)) return {};
    unique_fd out(::openat(dfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out) return dst_error(errno, "create", rel);
    if (auto err = copy_data(in.get(), out.get(), st, rel)) return err;
    if (auto err = set_fd_metadata(out.get(), st, rel)) return err;
    ++stats->files;
    if (st.st_nlink > 1) links.emplace(std::pair{st.st_dev, st.st_ino}, rel);
    next.emplace(rel, remember(st));
    return {};
  }

  tree_copy_error copy_data(int in, int out, const struct stat& st, const std::string& rel) {
    if (clone_ok && opt.allow_clone) {
      if (::ioctl(out, FICLONE, in) == 0) {
        stats->bytes_cloned += static_cast<std::uint64_t>(st.st_size);
        return {};
      }
      const int e = errno;
      if (e == EXDEV || e == EOPNOTSUPP || e == ENOTTY || e == ENOSYS) {
        clone_ok = false;        // the same answer would come for every file
      } else if (e != EINVAL) {  // EINVAL: this file only (e.g. btrfs nodatasum mismatch)
        return dst_error(e, "FICLONE", rel);
      }
    }
    const off_t size = st.st_size;
    off_t pos = 0;
    while (pos < size) {
      off_t data = ::lseek(in, pos, SEEK_DATA);
      off_t hole = size;
      if (data < 0) {
        if (errno == ENXIO) break;  // only a hole up to the end
        if (errno != EINVAL && errno != EOPNOTSUPP) return src_error(errno, "lseek", rel);
        data = pos;  // no SEEK_DATA here: everything is data
      } else {
        hole = ::lseek(in, data, SEEK_HOLE);
        if (hole < 0) hole = size;
      }
      if (data >= size) break;
      hole = std::min(hole, size);
      if (auto err = copy_range(in, out, data, hole - data, rel)) return err;
      pos = hole;
    }
    if (::ftruncate(out, size) != 0) return dst_error(errno, "ftruncate", rel);
    return {};
  }

  tree_copy_error copy_range(int in, int out, off_t offset, off_t length, const std::string& rel) {
    off_t done = 0;
    while (done < length) {
      if (cancelled()) return src_error(ECANCELED, "cancel", rel);
      const auto want = static_cast<std::size_t>(std::min<off_t>(length - done, chunk_bytes));
      ssize_t n = -1;
      if (copy_file_range_ok) {
        loff_t off_in = offset + done;
        loff_t off_out = off_in;
        n = ::copy_file_range(in, &off_in, out, &off_out, want, 0);
        if (n < 0) {
          const int e = errno;
          if (e != EXDEV && e != EINVAL && e != ENOSYS && e != EOPNOTSUPP) {
            return dst_error(e, "copy_file_range", rel);
          }
          copy_file_range_ok = false;
        }
      }
      if (!copy_file_range_ok) {
        if (auto err = read_write(in, out, offset + done, want, rel, n)) return err;
      }
      if (n == 0) break;  // the source shrank: the rest stays a hole up to the size copied
      done += n;
      stats->bytes_copied += static_cast<std::uint64_t>(n);
    }
    return {};
  }

  tree_copy_error read_write(int in, int out, off_t offset, std::size_t want,
                             const std::string& rel, ssize_t& copied) {
    if (buffer.empty()) buffer.resize(buffer_bytes);
    copied = 0;
    while (static_cast<std::size_t>(copied) < want) {
      const auto len = std::min(want - static_cast<std::size_t>(copied), buffer.size());
      const ssize_t r = ::pread(in, buffer.data(), len, offset + copied);
      if (r < 0) {
        if (errno == EINTR) continue;
        return src_error(errno, "read", rel);
      }
      if (r == 0) break;
      ssize_t written = 0;
      while (written < r) {
        const ssize_t w =
            ::pwrite(out, buffer.data() + written, static_cast<std::size_t>(r - written),
                     offset + copied + written);
        if (w < 0) {
          if (errno == EINTR) continue;
          return dst_error(errno, "write", rel);
        }
        written += w;
      }
      copied += r;
    }
    return {};
  }

  tree_copy_error symlink(int sfd, int dfd, const std::string& name, const std::string& rel,
                          const struct stat& st) {
    std::string target(static_cast<std::size_t>(std::max<off_t>(st.st_size, 64)) + 1, '\0');
    for (;;) {
      const ssize_t n = ::readlinkat(sfd, name.c_str(), target.data(), target.size());
      if (n < 0) {
        if (errno == ENOENT || errno == EINVAL) return {};  // gone or replaced since listed
        return src_error(errno, "readlink", rel);
      }
      if (static_cast<std::size_t>(n) < target.size()) {
        target.resize(static_cast<std::size_t>(n));
        break;
      }
      target.resize(target.size() * 2);  // the link grew since it was listed
    }
    if (::symlinkat(target.c_str(), dfd, name.c_str()) != 0)
      return dst_error(errno, "symlink", rel);
    if (auto err = owner_result(
            ::fchownat(dfd, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW), rel)) {
      return err;
    }
    const timespec times[2] = {st.st_atim, st.st_mtim};
    if (::utimensat(dfd, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      return dst_error(errno, "utimensat", rel);
    }
    ++stats->symlinks;
    next.emplace(rel, remember(st));
    return {};
  }

  tree_copy_error special(int dfd, const std::string& name, const std::string& rel,
                          const struct stat& st) {
    if (!S_ISFIFO(st.st_mode) && !is_root) {
      warn("skipped device node (needs root) " + full(src_root, rel));
      ++stats->skipped;
      return {};
    }
    if (::mknodat(dfd, name.c_str(), (st.st_mode & S_IFMT) | 0600, st.st_rdev) != 0) {
      return dst_error(errno, "mknod", rel);
    }
    if (auto err = owner_result(
            ::fchownat(dfd, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW), rel)) {
      return err;
    }
    if (::fchmodat(dfd, name.c_str(), st.st_mode & 07777, 0) != 0) {
      return dst_error(errno, "chmod", rel);
    }
    const timespec times[2] = {st.st_atim, st.st_mtim};
    if (::utimensat(dfd, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      return dst_error(errno, "utimensat", rel);
    }
    ++stats->specials;
    next.emplace(rel, remember(st));
    return {};
  }
};

tree_copy::tree_copy(std::filesystem::path source, std::filesystem::path destination,
                     tree_copy_options options)
    : impl_(std::make_unique<impl>()) {
  impl_->src_root = std::move(source);
  impl_->dst_root = std::move(destination);
  impl_->opt = std::move(options);
}

tree_copy::~tree_copy() = default;

tree_copy_error tree_copy::copy(tree_copy_stats& stats) {
  auto err = impl_->pass(stats, false);
  impl_->first_pass_done = true;
  return err;
}

tree_copy_error tree_copy::update(tree_copy_stats& stats) {
  if (!impl_->first_pass_done) return impl_->dst_error(EINVAL, "update before copy", "");
  return impl_->pass(stats, true);
}

bool tree_copy::cloning() const noexcept { return impl_->clone_ok && impl_->opt.allow_clone; }

tree_copy_error remove_tree(const std::filesystem::path& root) {
  const auto parent = root.parent_path().empty() ? std::filesystem::path(".") : root.parent_path();
  unique_fd dir(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return errno == ENOENT ? tree_copy_error{} : error_at(errno, "open", parent.string());
  return remove_at(dir.get(), root.filename().string(), root.string());
}

namespace {

// 1: set/cleared, 0: not supported here, -errno: failed.
int mark(int fd, bool immutable) {
  int flags = 0;
  if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) {
    return errno == ENOTTY || errno == EOPNOTSUPP || errno == EINVAL || errno == ENOSYS ? 0
                                                                                        : -errno;
  }
  const int wanted = immutable ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
  if (wanted == flags) return 1;
  if (::ioctl(fd, FS_IOC_SETFLAGS, &wanted) == 0) return 1;
  // EPERM: no CAP_LINUX_IMMUTABLE; the others: the filesystem keeps no such flag.
  const int e = errno;
  return e == EPERM || e == ENOTTY || e == EOPNOTSUPP || e == EINVAL ? 0 : -e;
}

tree_copy_error mark_dir(int fd, const std::string& path, bool immutable, bool* supported) {
  if (const int r = mark(fd, immutable); r <= 0) {
    if (r == 0) *supported = false;
    return r == 0 ? tree_copy_error{} : error_at(-r, "FS_IOC_SETFLAGS", path);
  }
  std::vector<std::string> names;
  if (const int e = list_dir(fd, names); e != 0) return error_at(e, "readdir", path);
  for (const auto& name : names) {
    const std::string child = path + "/" + name;
    struct stat st;
    if (::fstatat(fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return error_at(errno, "stat", child);
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) continue;
    const int flags =
        O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0);
    unique_fd f(::openat(fd, name.c_str(), flags));
    if (!f) return error_at(errno, "open", child);
    if (S_ISDIR(st.st_mode)) {
      if (auto err = mark_dir(f.get(), child, immutable, supported)) return err;
    } else if (const int r = mark(f.get(), immutable); r < 0) {
      return error_at(-r, "FS_IOC_SETFLAGS", child);
    } else if (r == 0) {
      *supported = false;
    }
    if (!*supported) return {};
  }
  return {};
}

}  // namespace

tree_copy_error set_immutable_tree(const std::filesystem::path& root, bool immutable,
                                   bool* supported) {
  bool ok = true;
  unique_fd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) return error_at(errno, "open", root.string());
  auto err = mark_dir(dir.get(), root.string(), immutable, &ok);
  if (supported) *supported = ok;
  return err;
}

}  // namespace vss::providers
