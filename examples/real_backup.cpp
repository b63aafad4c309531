// real_backup — the README's main command: a real backup of a real directory with a real writer,
// on an embedded engine with its defaults (vss::engine_host, two io threads).
//
// The source is a directory holding a live SQLite database in WAL mode, into which a load thread
// commits checksummed transactions (vss::examples::load_inserter) the whole time, plus a small
// tree of ordinary files (modes, a symlink, a hard link, a sparse file). The database's writer is
// vss::examples::sqlite_writer (Freeze checkpoints and holds the database's writers out), and
// the snapshot is made by vss::reflink_provider under a snapshot root on the same filesystem: by
// reflink where the filesystem shares data blocks (btrfs, XFS), by copying elsewhere (ext4,
// tmpfs). The program says which one happened.
//
// Backup 1 is a full backup. The program prints its timeline (requester calls, engine events
// with each writer's answer, the provider's passes, the writer's log, the load's longest wait),
// the provider's report, the consistency grade and the snapshot's path, then checks the snapshot
// as a backup application would before BackupComplete: the database is intact and holds a prefix
// of the committed transactions (at least every one committed before DoSnapshotSet), and the
// ordinary files are identical in content, mode, ownership, times and links. Backup 2 runs the
// same way, and another thread calls AbortBackup while the database is frozen; the program
// checks that no snapshot and no staging directory were left and that the load went on.
//
// Usage: openvss-example-real-backup [--source DIR] [--snapshot-root DIR] [--keep]
//                                    [--seconds S] [--rate N] [--json]
// Exit status: 0 every check passed; 1 a check failed (each one is listed); 2 bad command line,
// or a setup the program refuses (see --help). Walkthrough: docs/example-real-backup.md.

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "sqlite_writer.hpp"
#include "vss/providers/reflink_provider.hpp"
#include "vss/vss.hpp"
#include "vss/write_hold.hpp"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using steady = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

// The longest any single step may take before the program gives up on it and reports it. A
// normal run takes a few seconds, most of them the load's head start.
constexpr milliseconds step_bound{3000};

// Transactions the load must commit after each backup to count as "kept committing".
constexpr std::uint64_t commits_after = 20;

const fs::path demo_home = "/var/tmp/openvss-demo";
constexpr const char* marker_name = ".openvss-demo";
constexpr const char* database_name = "app.db";

bool is_database_file(const fs::path& rel) {
  const auto s = rel.generic_string();
  return s == "app.db" || s == "app.db-wal" || s == "app.db-shm" || s == "app.db-journal";
}

// ---------------------------------------------------------------------------------------------
// Small formatting helpers.

struct style {
  bool color = false;
  std::string_view bold() const { return color ? "\033[1m" : ""; }
  std::string_view dim() const { return color ? "\033[2m" : ""; }
  std::string_view green() const { return color ? "\033[32m" : ""; }
  std::string_view red() const { return color ? "\033[31m" : ""; }
  std::string_view yellow() const { return color ? "\033[33m" : ""; }
  std::string_view cyan() const { return color ? "\033[36m" : ""; }
  std::string_view reset() const { return color ? "\033[0m" : ""; }
};

// "VSS_S_ASYNC_FINISHED", "S_OK", or the message of a code from another category.
std::string symbol_of(const std::error_code& ec) {
  if (!ec) return "S_OK";
  if (ec.category() == vss::vss_category()) {
    const auto s = vss::symbol(static_cast<vss::errc>(ec.value()));
    if (!s.empty()) return std::string(s);
  }
  return ec.message();
}

std::string pad(std::string_view s, std::size_t width) {
  std::string out(s);
  if (out.size() < width) out.append(width - out.size(), ' ');
  return out;
}

double to_ms(steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string ms_text(steady::duration d, int decimals = 2) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f ms", decimals, to_ms(d));
  return buf;
}

std::string human_bytes(std::uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::string plural(std::uint64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

// The filesystem type of `p` (statfs magic), for the reader: reflink depends on it.
std::string filesystem_of(const fs::path& p) {
  struct statfs s {};
  if (::statfs(p.c_str(), &s) != 0) return "unknown";
  switch (static_cast<std::uint32_t>(s.f_type)) {
    case 0xEF53u:
      return "ext4";
    case 0x9123683Eu:
      return "btrfs";
    case 0x58465342u:
      return "xfs";
    case 0x01021994u:
      return "tmpfs";
    case 0x794C7630u:
      return "overlayfs";
    case 0x2FC12FC1u:
      return "zfs";
    case 0xF2F52010u:
      return "f2fs";
    case 0xCA451A4Eu:
      return "bcachefs";
    case 0x6969u:
      return "nfs";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "fs 0x%x", static_cast<unsigned>(s.f_type));
      return buf;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The demo tree: everything but the database, which the load thread creates.

struct demo_tree {
  std::uint64_t files = 0;
  std::uint64_t dirs = 0;
  std::uint64_t symlinks = 0;
  std::uint64_t hardlinks = 0;
  std::uint64_t bytes = 0;
  std::uint64_t sparse_size = 0;
  std::uint64_t sparse_allocated = 0;
};

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

void write_at(int fd, const std::string& data, off_t offset, const fs::path& p) {
  std::size_t done = 0;
  while (done < data.size()) {
    const auto n =
        ::pwrite(fd, data.data() + done, data.size() - done, offset + static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write " + p.string());
    }
    done += static_cast<std::size_t>(n);
  }
}

// Creates `p` with exactly `mode` (not less the umask), writes `data`; returns the descriptor.
int create_file(const fs::path& p, const std::string& data, mode_t mode) {
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw_errno("create " + p.string());
  write_at(fd, data, 0, p);
  if (::fchmod(fd, mode) != 0) {
    ::close(fd);
    throw_errno("chmod " + p.string());
  }
  return fd;
}

void make_file(const fs::path& p, const std::string& data, mode_t mode, demo_tree& t) {
  ::close(create_file(p, data, mode));
  ++t.files;
  t.bytes += data.size();
}

void make_dir(const fs::path& p, mode_t mode, demo_tree& t) {
  if (::mkdir(p.c_str(), 0700) != 0) throw_errno("mkdir " + p.string());
  if (::chmod(p.c_str(), mode) != 0) throw_errno("chmod " + p.string());
  ++t.dirs;
}

std::string pseudo_random_bytes(std::size_t n, std::uint64_t seed) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    const auto v = splitmix64(seed + i);
    std::memcpy(out.data() + i, &v, std::min<std::size_t>(8, n - i));
  }
  return out;
}

// Empties `dir` (keeping the directory itself: it may be a mount point) and fills it with the
// demo tree. Refuses a non-empty directory that this program did not make.
demo_tree make_demo_tree(const fs::path& dir) {
  fs::create_directories(dir);
  bool empty = true;
  for (const auto& e : fs::directory_iterator(dir)) {
    (void)e;
    empty = false;
    break;
  }
  if (!empty && !fs::exists(dir / marker_name)) {
    throw std::invalid_argument(dir.string() +
                                " is not empty and was not made by this program (no " +
                                marker_name + " in it); give an empty or new directory");
  }
  for (const auto& e : fs::directory_iterator(dir)) fs::remove_all(e.path());

  demo_tree t;
  make_file(dir / marker_name,
            "Made by openvss-example-real-backup, which empties and refills this directory at "
            "each run.\n",
            0644, t);
  make_file(dir / "README.txt",
            "A demo service's data: app.db is its live SQLite database (WAL mode), the rest is\n"
            "configuration, releases and blobs. openvss snapshots all of it at once.\n",
            0644, t);
  make_dir(dir / "etc", 0755, t);
  make_file(dir / "etc/app.conf", "listen = 127.0.0.1:8080\ndatabase = ../app.db\n", 0640, t);
  make_file(dir / "etc/secret.key", pseudo_random_bytes(32, 7), 0600, t);
  make_dir(dir / "bin", 0755, t);
  make_file(dir / "bin/run.sh", "#!/bin/sh\nexec ./app --config etc/app.conf\n", 0755, t);
  make_dir(dir / "releases", 0755, t);
  make_dir(dir / "releases/v1", 0755, t);
  make_dir(dir / "releases/v2", 0755, t);
  make_file(dir / "releases/v1/NOTES", "v1: first release\n", 0644, t);
  make_file(dir / "releases/v2/NOTES", "v2: second release\n", 0644, t);
  if (::symlink("releases/v2", (dir / "current").c_str()) != 0) throw_errno("symlink current");
  ++t.symlinks;
  make_dir(dir / "blobs", 0755, t);
  make_file(dir / "blobs/photo.jpg", pseudo_random_bytes(256 * 1024, 42), 0644, t);
  if (::link((dir / "blobs/photo.jpg").c_str(), (dir / "blobs/photo-latest.jpg").c_str()) != 0) {
    throw_errno("link blobs/photo-latest.jpg");
  }
  ++t.hardlinks;
  make_dir(dir / "logs", 0750, t);
  make_file(dir / "logs/app.log", "started\nlistening on 127.0.0.1:8080\n", 0640, t);

  // A 16 MiB disk image holding three 64 KiB extents; the rest is holes.
  make_dir(dir / "vm", 0700, t);
  const auto img = dir / "vm/disk.img";
  const off_t size = 16 << 20;
  const std::string extent = pseudo_random_bytes(64 * 1024, 99);
  const int fd = create_file(img, extent, 0600);
  try {
    write_at(fd, extent, size / 2, img);
    write_at(fd, extent, size - static_cast<off_t>(extent.size()), img);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  ++t.files;
  struct stat st {};
  if (::stat(img.c_str(), &st) != 0) throw_errno("stat " + img.string());
  t.sparse_size = static_cast<std::uint64_t>(st.st_size);
  t.sparse_allocated = static_cast<std::uint64_t>(st.st_blocks) * 512;
  t.bytes += 3 * extent.size();
  return t;
}

// ---------------------------------------------------------------------------------------------
// Comparing the snapshot's ordinary files with the source's.

struct tree_diff {
  std::uint64_t entries = 0;  // compared, on each side
  std::uint64_t bytes = 0;    // file bytes compared
  std::vector<std::string> problems;

  void problem(std::string p) {
    if (problems.size() < 8) problems.push_back(std::move(p));
  }
};

bool same_content(const fs::path& a, const fs::path& b, std::uint64_t& bytes) {
  const int fa = ::open(a.c_str(), O_RDONLY | O_CLOEXEC);
  const int fb = ::open(b.c_str(), O_RDONLY | O_CLOEXEC);
  bool same = fa >= 0 && fb >= 0;
  std::vector<char> ba(1 << 20), bb(1 << 20);
  while (same) {
    const auto na = ::read(fa, ba.data(), ba.size());
    std::size_t got = 0;
    ssize_t nb = 0;
    while (na > 0 && got < static_cast<std::size_t>(na)) {
      nb = ::read(fb, bb.data() + got, static_cast<std::size_t>(na) - got);
      if (nb <= 0) break;
      got += static_cast<std::size_t>(nb);
    }
    if (na < 0 || nb < 0 || got != static_cast<std::size_t>(std::max<ssize_t>(na, 0))) {
      same = false;
    } else if (na == 0) {
      char extra;
      same = ::read(fb, &extra, 1) == 0;
      break;
    } else {
      same = std::memcmp(ba.data(), bb.data(), got) == 0;
      bytes += got;
    }
  }
  if (fa >= 0) ::close(fa);
  if (fb >= 0) ::close(fb);
  return same;
}

bool same_time(const timespec& a, const timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

// Every entry of `source` but the database files must be in `snapshot` with the same type,
// mode, owner, size, content, symlink target, modification time (files, symlinks, directories
// but the top one, which the database's files change) and hard-link grouping; and `snapshot`
// must hold nothing else.
tree_diff compare_trees(const fs::path& source, const fs::path& snapshot) {
  tree_diff d;
  std::map<std::pair<dev_t, ino_t>, ino_t> link_map;  // source inode -> snapshot inode
  std::map<ino_t, std::pair<dev_t, ino_t>> link_back;
  std::set<std::string> seen;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(source, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const auto rel = it->path().lexically_relative(source);
    if (is_database_file(rel)) continue;
    seen.insert(rel.generic_string());
    ++d.entries;
    const auto name = rel.generic_string();
    const auto copy = snapshot / rel;
    struct stat a {};
    struct stat b {};
    if (::lstat(it->path().c_str(), &a) != 0) {
      d.problem(name + ": vanished from the source");
      continue;
    }
    if (::lstat(copy.c_str(), &b) != 0) {
      d.problem(name + ": missing from the snapshot");
      continue;
    }
    if ((a.st_mode & S_IFMT) != (b.st_mode & S_IFMT)) {
      d.problem(name + ": different file type");
      continue;
    }
    if ((a.st_mode & 07777) != (b.st_mode & 07777)) {
      char buf[64];
      std::snprintf(buf, sizeof buf, ": mode %04o, snapshot %04o", a.st_mode & 07777,
                    b.st_mode & 07777);
      d.problem(name + buf);
    }
    if (a.st_uid != b.st_uid || a.st_gid != b.st_gid) d.problem(name + ": different owner");
    if (S_ISREG(a.st_mode)) {
      if (a.st_size != b.st_size) {
        d.problem(name + ": size " + std::to_string(a.st_size) + ", snapshot " +
                  std::to_string(b.st_size));
      } else if (!same_content(it->path(), copy, d.bytes)) {
        d.problem(name + ": different content");
      }
      if (!same_time(a.st_mtim, b.st_mtim)) d.problem(name + ": different mtime");
      const bool sparse_source = a.st_blocks * 512 < a.st_size;
      if (sparse_source && b.st_blocks * 512 >= b.st_size) {
        d.problem(name + ": sparse in the source, fully allocated in the snapshot");
      }
      if (a.st_nlink != b.st_nlink) {
        d.problem(name + ": " + std::to_string(a.st_nlink) + " links, snapshot " +
                  std::to_string(b.st_nlink));
      }
      if (a.st_nlink > 1) {
        const auto key = std::make_pair(a.st_dev, a.st_ino);
        const auto [pos, added] = link_map.emplace(key, b.st_ino);
        if (!added && pos->second != b.st_ino) d.problem(name + ": hard link broken");
        const auto [back, fresh] = link_back.emplace(b.st_ino, key);
        if (!fresh && back->second != key) d.problem(name + ": linked to another file");
      }
    } else if (S_ISLNK(a.st_mode)) {
      std::error_code e1, e2;
      if (fs::read_symlink(it->path(), e1) != fs::read_symlink(copy, e2) || e1 || e2) {
        d.problem(name + ": different symlink target");
      }
      if (!same_time(a.st_mtim, b.st_mtim)) d.problem(name + ": different mtime");
    } else if (S_ISDIR(a.st_mode)) {
      if (!same_time(a.st_mtim, b.st_mtim)) d.problem(name + "/: different mtime");
    }
  }
  if (ec) d.problem("walking " + source.string() + ": " + ec.message());
  for (auto it = fs::recursive_directory_iterator(snapshot, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const auto rel = it->path().lexically_relative(snapshot);
    if (!is_database_file(rel) && !seen.count(rel.generic_string())) {
      d.problem(rel.generic_string() + ": in the snapshot, not in the source");
    }
  }
  if (ec) d.problem("walking " + snapshot.string() + ": " + ec.message());
  return d;
}

std::set<std::string> entries_of(const fs::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::end(it); it.increment(ec)) {
    out.insert(it->path().filename().string());
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The load: one thread committing checksummed transactions as fast as it can.

class load_thread {
 public:
  /// `rate`: transactions per second at most; 0 = as fast as it can.
  load_thread(std::string database, double rate) : database_(std::move(database)), rate_(rate) {}
  ~load_thread() { stop(); }
  load_thread(const load_thread&) = delete;
  load_thread& operator=(const load_thread&) = delete;

  void start() {
    thread_ = std::thread([this] { run(); });
  }

  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  /// The last id committed (COMMIT returned), and how many transactions that makes. `commits`
  /// is stored after `last_id`.
  std::int64_t last_id() const { return last_id_.load(); }
  std::uint64_t commits() const { return commits_.load(); }
  std::uint64_t busy() const { return busy_.load(); }

  /// Waits until commits() >= n, the thread died, or `bound` passed.
  bool wait_for_commits(std::uint64_t n, milliseconds bound) const {
    const auto until = steady::now() + bound;
    while (commits_.load() < n && !finished_.load() && steady::now() < until) {
      std::this_thread::sleep_for(200us);
    }
    return commits_.load() >= n;
  }

  /// The longest transaction since the last call: when it started and how long it took.
  struct stall {
    steady::time_point start{};
    steady::duration took{};
  };
  stall take_longest() {
    std::lock_guard lock(mutex_);
    return std::exchange(longest_, stall{});
  }

  /// Why the thread stopped early; empty while it runs or after a normal stop.
  std::string error() const {
    std::lock_guard lock(mutex_);
    return error_;
  }

 private:
  void run() {
    try {
      vss::examples::load_inserter app(database_, 30s, [this] { return stop_.load(); });
      std::int32_t rows = 1;
      const auto period =
          rate_ > 0 ? duration_cast<steady::duration>(std::chrono::duration<double>(1.0 / rate_))
                    : steady::duration::zero();
      auto next = steady::now();
      while (!stop_) {
        if (period > steady::duration::zero()) {
          // A steady pace; after a wait (the database frozen) it resumes it, without a burst.
          next += period;
          const auto now = steady::now();
          if (next > now) {
            std::this_thread::sleep_until(next);
          } else if (now - next > 10 * period) {
            next = now;
          }
        }
        const auto t0 = steady::now();
        const auto o = app.insert_transaction(rows);
        const auto took = steady::now() - t0;
        if (o == vss::examples::load_inserter::outcome::committed) {
          last_id_ = app.last_id();
          ++commits_;
          std::lock_guard lock(mutex_);
          if (took > longest_.took) longest_ = {t0, took};
        } else if (o == vss::examples::load_inserter::outcome::busy) {
          ++busy_;
        }
        rows = rows % 7 + 1;
      }
    } catch (const std::exception& e) {
      std::lock_guard lock(mutex_);
      error_ = e.what();
    }
    finished_ = true;
  }

  std::string database_;
  double rate_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  std::atomic<std::int64_t> last_id_{0};
  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> busy_{0};
  mutable std::mutex mutex_;
  stall longest_;
  std::string error_;
  std::thread thread_;  // last: starts after the members it uses exist
};

// ---------------------------------------------------------------------------------------------
// The writer: the library's sqlite_writer, unchanged except that, when told to, it keeps its
// answer to one Freeze back (the database really frozen, its write lock held) until the engine
// stops waiting for it. That makes backup 2's AbortBackup land while the database is frozen,
// every time, as example_backup's "journal" writer does.

class sqlite_writer_with_hold final : public vss::examples::sqlite_writer {
 public:
  using sqlite_writer::sqlite_writer;

  /// The next Freeze is held until the engine abandons it (at most step_bound).
  void hold_next_freeze() {
    std::lock_guard lock(mutex_);
    hold_next_ = true;
    holding_ = false;
  }

  /// Waits until a held Freeze has done its work and is keeping its answer back.
  bool wait_until_holding(milliseconds bound) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, bound, [this] { return holding_; });
  }

  void on_freeze(vss::writer_context ctx) override {
    bool hold = false;
    {
      std::lock_guard lock(mutex_);
      hold = std::exchange(hold_next_, false);
    }
    if (!hold) {
      sqlite_writer::on_freeze(std::move(ctx));
      return;
    }
    const std::function<bool()> abandoned = [&ctx] { return ctx.abandoned(); };
    const auto r = freeze(ctx.snapshot_set(), abandoned);
    {
      std::lock_guard lock(mutex_);
      holding_ = true;
    }
    changed_.notify_all();
    // The handler runs on the blocking pool (the writer declares blocking handlers), so it may
    // wait here; the writer's OnAbort runs once it returns.
    const auto until = steady::now() + step_bound;
    while (!ctx.abandoned() && steady::now() < until) std::this_thread::sleep_for(200us);
    if (r.ok()) {
      ctx.complete();
    } else {
      ctx.fail(r.code, r.message);
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool hold_next_ = false;
  bool holding_ = false;
};

// ---------------------------------------------------------------------------------------------
// The program.

struct options {
  std::string source;         // empty: demo_home/data
  std::string snapshot_root;  // empty: demo_home/snapshots, or the provider's default
  bool keep = false;
  // The load's head start. 2.5 s makes the demo files older than the provider's 2 s
  // recent-change window, so the commit (the hold window) re-copies only the database.
  double seconds = 2.5;
  double rate = 2000;
  bool json = false;
};

// A usage error or a setup the program refuses: exit status 2.
struct refused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string_view grade_word(vss::consistency_grade g) {
  switch (g) {
    case vss::consistency_grade::application:
      return "application";
    case vss::consistency_grade::filesystem:
      return "filesystem";
    case vss::consistency_grade::crash:
      return "crash";
    default:
      return "none";
  }
}

std::string level_name(vss::application_level level) {
  switch (level) {
    case vss::application_level::front_end:
      return "front-end";
    case vss::application_level::back_end:
      return "back-end";
    case vss::application_level::system:
      return "system";
    default:
      return std::string(vss::to_string(level));
  }
}

std::string describe_pass(const vss::reflink_pass_stats& p) {
  std::string out = plural(p.files, "file", "files") + ", " + plural(p.dirs, "dir", "dirs") + ", " +
                    plural(p.symlinks, "symlink", "symlinks") + ", " +
                    plural(p.hardlinks, "hard link", "hard links");
  if (p.removed) out += ", " + std::to_string(p.removed) + " removed";
  if (p.skipped) out += ", " + std::to_string(p.skipped) + " skipped";
  return out + "; " + human_bytes(p.bytes_cloned) + " cloned, " + human_bytes(p.bytes_copied) +
         " copied";
}

json pass_json(const vss::reflink_pass_stats& p) {
  return {{"bytes_cloned", p.bytes_cloned},
          {"bytes_copied", p.bytes_copied},
          {"files", p.files},
          {"dirs", p.dirs},
          {"symlinks", p.symlinks},
          {"hardlinks", p.hardlinks},
          {"removed", p.removed},
          {"skipped", p.skipped},
          {"entries", p.entries},
          {"duration_ms", to_ms(p.duration)}};
}

class demo {
 public:
  demo(options o, style st) : opt_(std::move(o)), st_(st) {}
  ~demo() {
    load_.reset();
    if (root_locked_ && !root_existed_) {
      std::error_code ignored;
      fs::remove(root_, ignored);  // only when empty: nothing kept, nothing left
    }
    for (const int fd : locks_) ::close(fd);
  }
  demo(const demo&) = delete;
  demo& operator=(const demo&) = delete;
  int run();

 private:
  // One line of a backup's timeline. `who` empty: a requester call (top level).
  struct entry {
    steady::time_point at;
    std::optional<steady::duration> took;
    std::string who;
    std::string what;
    std::string result;
    bool good = true;
    std::string note;
  };

  struct check_result {
    bool ok = false;
    std::string what;
  };

  std::ostream& out() { return opt_.json ? null_ : std::cout; }

  void add(entry e) {
    std::lock_guard lock(mutex_);
    entries_.push_back(std::move(e));
  }
  void log_line(std::string who, std::string line) {
    add({steady::now(), std::nullopt, std::move(who), std::move(line), {}, true, {}});
  }
  // When the first line of `who` starting with `prefix` arrived in [from, now].
  std::optional<steady::time_point> logged_at(std::string_view who, std::string_view prefix,
                                              steady::time_point from) const {
    std::lock_guard lock(mutex_);
    for (const auto& e : entries_) {
      if (e.at >= from && e.who == who && e.what.rfind(prefix, 0) == 0) return e.at;
    }
    return std::nullopt;
  }

  // Sets the note of the last requester call (for a result known only after the call).
  void note_last(std::string note) {
    std::lock_guard lock(mutex_);
    for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
      if (it->who.empty()) {
        it->note = std::move(note);
        return;
      }
    }
  }

  std::error_code call(std::string name, const std::function<std::error_code()>& fn,
                       std::string note = {}) {
    const auto t0 = steady::now();
    const auto ec = fn();
    add({t0,
         steady::now() - t0,
         {},
         std::move(name),
         symbol_of(ec),
         vss::succeeded(ec),
         std::move(note)});
    return ec;
  }

  // An asynchronous call: IVssAsync::Wait (bounded), then QueryStatus.
  std::error_code async_call(std::string name, const std::function<vss::async_op()>& start,
                             vss::errc expected = vss::errc::async_finished,
                             std::string note = {}) {
    const auto t0 = steady::now();
    const auto op = start();
    op.wait(step_bound);
    const auto status = op.query_status();
    add({t0, steady::now() - t0, {}, name, symbol_of(status), status == expected, std::move(note)});
    if (status != expected) {
      check(false, "backup " + std::to_string(backup_) + ": " + name + " ended with " +
                       symbol_of(status) + ", expected " + std::string(vss::symbol(expected)));
    }
    return status;
  }

  void check(bool ok, std::string what) {
    checks_.push_back({ok, what});
    backup_checks_.push_back({ok, std::move(what)});
  }

  void heading(std::string_view title) {
    out() << '\n' << st_.bold() << st_.cyan() << "== " << title << st_.reset() << '\n';
  }
  void row(std::string_view key, const std::string& value) {
    out() << "  " << pad(key, 15) << value << '\n';
  }

  void setup();
  void add_phase_reports(const vss::backup_session& s);
  void add_provider_passes(const vss::reflink_snapshot_report& r, steady::time_point from);
  void add_load_stall(steady::time_point from);
  std::optional<steady::duration> lock_held(steady::time_point from) const;
  json print_timeline(steady::time_point from, steady::time_point to);
  json print_checks();
  void backup_1(vss::engine& eng);
  void backup_2(vss::engine& eng);
  int summary();

  options opt_;
  style st_;
  std::ostream null_{nullptr};
  json doc_ = json::object();

  fs::path source_;
  fs::path root_;
  bool root_existed_ = false;
  bool root_locked_ = false;
  std::vector<int> locks_;  // flock'd descriptors of the source and the snapshot root
  demo_tree tree_;
  std::string method_ = "unknown";

  std::unique_ptr<load_thread> load_;
  std::shared_ptr<vss::reflink_provider> reflink_;
  std::shared_ptr<sqlite_writer_with_hold> writer_;

  mutable std::mutex mutex_;
  std::vector<entry> entries_;
  int backup_ = 0;
  std::vector<check_result> checks_;
  std::vector<check_result> backup_checks_;
  steady::time_point start_ = steady::now();
};

void demo::setup() {
  source_ = opt_.source.empty() ? demo_home / "data" : fs::absolute(opt_.source);
  source_ = source_.lexically_normal();
  if (source_.has_filename() == false) source_ = source_.parent_path();
  if (source_ == source_.root_path()) throw refused("--source must not be /");

  vss::reflink_provider_options ro;
  if (!opt_.snapshot_root.empty()) {
    ro.snapshot_root = fs::absolute(opt_.snapshot_root).lexically_normal();
  } else if (opt_.source.empty()) {
    ro.snapshot_root = demo_home / "snapshots";
  }  // else: the provider's default, "<parent of the source>/.openvss-snapshots"
  ro.log = [this](std::string line) {
    if (line.rfind("reflink: ", 0) == 0) line.erase(0, 9);
    log_line("provider", std::move(line));
  };
  reflink_ = std::make_shared<vss::reflink_provider>(std::move(ro));
  root_ = reflink_->snapshot_root(source_.string());
  if (root_.has_filename() == false) root_ = root_.parent_path();
  const auto rel = root_.lexically_relative(source_);
  if (root_ == source_ || (!rel.empty() && *rel.begin() != "..")) {
    throw refused("the snapshot root " + root_.string() + " lies inside the source " +
                  source_.string() + "; put it next to it");
  }

  // One run at a time per directory: the checks count what is under the snapshot root.
  std::error_code ec;
  root_existed_ = fs::exists(root_, ec);
  for (const auto& dir : {source_, root_}) {
    fs::create_directories(dir);
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw_errno("open " + dir.string());
    locks_.push_back(fd);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      throw refused("another openvss-example-real-backup is using " + dir.string());
    }
    root_locked_ = dir == root_;
  }
  try {
    tree_ = make_demo_tree(source_);
  } catch (const std::invalid_argument& e) {
    throw refused(e.what());
  }
}

void demo::add_phase_reports(const vss::backup_session& s) {
  for (const auto& r : s.phase_reports()) {
    std::string answers;
    bool good = true;
    for (const auto& w : r.results) {
      if (!answers.empty()) answers += ", ";
      answers += w.name + " " + std::string(vss::to_string(w.outcome));
      if (w.code) answers += " " + symbol_of(w.code);
      if (!w.message.empty()) answers += " (" + w.message + ")";
      good = good && w.outcome == vss::writer_outcome::completed;
    }
    if (r.results.empty()) answers = "no writer";
    add({r.started,
         r.settled - r.started,
         "event",
         std::string(vss::to_string(r.event)),
         {},
         good,
         answers});
  }
}

void demo::add_provider_passes(const vss::reflink_snapshot_report& r, steady::time_point from) {
  const auto method = [](const vss::reflink_pass_stats& p) {
    return std::string(p.bytes_cloned > 0 ? (p.bytes_copied > 0 ? "reflink+copy" : "reflink")
                                          : "copy");
  };
  if (const auto t = logged_at("provider", "prepared " + r.id.to_string(), from)) {
    add({*t - r.prepare_duration,
         r.prepare_duration,
         "provider",
         "EndPrepareSnapshots: full pass (" + method(r.prepare) + "): " + describe_pass(r.prepare),
         {},
         true,
         {}});
  }
  if (const auto t = logged_at("provider", "committed " + r.id.to_string(), from)) {
    add({*t - r.commit_duration,
         r.commit_duration,
         "provider",
         "CommitSnapshots, the hold window: delta pass (" + method(r.commit) +
             "), rename to the final name: " + describe_pass(r.commit),
         {},
         true,
         {}});
  }
}

void demo::add_load_stall(steady::time_point from) {
  const auto stall = load_->take_longest();
  if (stall.start < from || stall.took == steady::duration::zero()) return;
  add({stall.start,
       stall.took,
       "load",
       "its longest transaction during DoSnapshotSet (commits wait while the writer "
       "checkpoints and holds the write lock)",
       {},
       true,
       {}});
}

// How long the writer held the database's write lock: its "frozen:" line to its release line.
std::optional<steady::duration> demo::lock_held(steady::time_point from) const {
  std::optional<steady::time_point> frozen, released;
  std::lock_guard lock(mutex_);
  for (const auto& e : entries_) {
    if (e.at < from || e.who != "sqlite") continue;
    if (!frozen && e.what.rfind("frozen:", 0) == 0) frozen = e.at;
    if (frozen && !released && e.what.find("released the write lock") != std::string::npos) {
      released = e.at;
    }
  }
  if (!frozen || !released) return std::nullopt;
  return *released - *frozen;
}

json demo::print_timeline(steady::time_point from, steady::time_point to) {
  std::vector<entry> es;
  {
    std::lock_guard lock(mutex_);
    for (const auto& e : entries_) {
      // The provider's own lines for its passes are shown from its report instead.
      const bool pass_line = e.who == "provider" && (e.what.rfind("prepared ", 0) == 0 ||
                                                     e.what.rfind("committed ", 0) == 0);
      if (e.at >= from && e.at < to && !pass_line) es.push_back(e);
    }
  }
  std::stable_sort(es.begin(), es.end(),
                   [](const entry& a, const entry& b) { return a.at < b.at; });
  json tl = json::array();
  out() << "  " << st_.dim() << "    at ms  took ms" << st_.reset() << '\n';
  for (const auto& e : es) {
    char at[32], took[32];
    std::snprintf(at, sizeof at, "+%8.2f", to_ms(e.at - from));
    if (e.took) {
      std::snprintf(took, sizeof took, "%9.2f", to_ms(*e.took));
    } else {
      std::snprintf(took, sizeof took, "%9s", "");
    }
    out() << "  " << st_.dim() << at << took << st_.reset() << "  ";
    if (e.who.empty()) {
      out() << st_.bold() << pad(e.what, 22) << st_.reset() << ' '
            << (e.good ? st_.green() : st_.red()) << pad(e.result, 22) << st_.reset();
      if (!e.note.empty()) out() << ' ' << e.note;
    } else {
      // An engine event: its name, then every writer's answer.
      const auto text = e.who == "event" ? pad(e.what, 16) + e.note : e.what;
      out() << "  " << st_.dim() << pad(e.who, 9) << st_.reset() << (e.good ? "" : st_.yellow())
            << text << (e.good ? "" : st_.reset());
    }
    out() << '\n';
    json j = {{"at_ms", to_ms(e.at - from)}};
    if (e.took) j["took_ms"] = to_ms(*e.took);
    j["who"] = e.who.empty() ? "requester" : e.who;
    j["what"] = e.what;
    if (!e.result.empty()) j["result"] = e.result;
    if (!e.note.empty()) j["note"] = e.note;
    tl.push_back(std::move(j));
  }
  return tl;
}

json demo::print_checks() {
  json out_checks = json::array();
  for (const auto& c : backup_checks_) {
    out() << "  " << (c.ok ? st_.green() : st_.red()) << (c.ok ? "ok  " : "FAIL") << st_.reset()
          << "  " << c.what << '\n';
    out_checks.push_back({{"ok", c.ok}, {"what", c.what}});
  }
  backup_checks_.clear();
  return out_checks;
}

void demo::backup_1(vss::engine& eng) {
  backup_ = 1;
  json b = {{"name", "full backup"}};
  heading("Backup 1: full backup of " + source_.string() + ", the load running");
  const auto from = steady::now();
  vss::backup_session s = eng.create_backup_session();
  call("InitializeForBackup", [&] { return s.initialize_for_backup(); });
  if (opt_.keep) {
    call(
        "SetContext",
        [&] { return s.set_context(vss::to_raw(vss::snapshot_context::app_rollback)); },
        "VSS_CTX_APP_ROLLBACK: persistent, kept after the program (--keep)");
  }
  call(
      "SetBackupState", [&] { return s.set_backup_state(false, false, vss::backup_type::full); },
      "VSS_BT_FULL, non-component mode");
  async_call("GatherWriterMetadata",
             [&] { return s.async_gather_writer_metadata(vss::use_async_op); });
  for (const auto& md : s.get_writer_metadata()) {
    std::string what = md.identity.name + " [" + level_name(md.identity.level) + "]";
    for (const auto& c : md.components) {
      what += ": component " + c.name + " (" + plural(c.files.size(), "file", "files") + ")";
    }
    log_line("writers", what);
  }
  vss::snapshot_set_id set;
  call("StartSnapshotSet", [&] { return s.start_snapshot_set(set); });
  note_last(set.to_string());
  vss::snapshot_id snap;
  const auto added = call(
      "AddToSnapshotSet", [&] { return s.add_to_snapshot_set(source_.string(), {}, snap); },
      "-> " + reflink_->properties().name);
  if (added) throw std::runtime_error("AddToSnapshotSet failed: " + symbol_of(added));
  // A snapshot root on another filesystem makes the engine fsfreeze the source's filesystem for
  // the commit; the demo never does that to the root filesystem, which everything else uses.
  for (const auto& path : reflink_->flush_and_hold_paths(set)) {
    if (vss::mount_point_of(path) == "/") {
      s.abort_backup();
      throw refused("the snapshot root " + root_.string() +
                    " is on another filesystem than the source, so the commit would fsfreeze "
                    "the root filesystem /; give a --snapshot-root on the source's filesystem");
    }
  }
  async_call("PrepareForBackup", [&] { return s.async_prepare_for_backup(vss::use_async_op); });

  // Every transaction committed before DoSnapshotSet must be in the snapshot.
  const auto min_id = load_->last_id();
  load_->take_longest();
  const auto before_snapshot = steady::now();
  const auto created =
      async_call("DoSnapshotSet", [&] { return s.async_do_snapshot_set(vss::use_async_op); });
  // ... and none committed after the thaw: two more commits publish the one in flight then.
  load_->wait_for_commits(load_->commits() + 2, step_bound);
  const auto max_id = load_->last_id();
  add_load_stall(before_snapshot);

  vss::snapshot_properties props;
  const auto props_ec =
      call("GetSnapshotProperties", [&] { return s.get_snapshot_properties(snap, props); });
  const auto grade = s.consistency();
  const auto report = reflink_->report(snap);
  const auto hold = s.write_hold();
  if (!props_ec)
    log_line("snapshot", props.device + " (" + std::string(vss::to_string(props.state)) + ")");

  // What a backup application does now: read the snapshot. Here: check it.
  const fs::path device = props_ec ? fs::path() : fs::path(props.device);
  const auto verify_start = steady::now();
  const auto db =
      props_ec ? vss::examples::verify_result{}
               : vss::examples::verify_database((device / database_name).string(), min_id, max_id);
  const auto compare_start = steady::now();
  add({verify_start,
       compare_start - verify_start,
       "check",
       "verify_database(app.db of the snapshot): " + std::string(db.ok ? "ok" : "FAILED"),
       {},
       db.ok,
       {}});
  const auto files = props_ec ? tree_diff{} : compare_trees(source_, device);
  add({compare_start,
       steady::now() - compare_start,
       "check",
       "compare the other files with the source (" + human_bytes(files.bytes) +
           " read): " + (files.problems.empty() ? "identical" : "DIFFERENT"),
       {},
       files.problems.empty(),
       {}});

  async_call("GatherWriterStatus", [&] { return s.async_gather_writer_status(vss::use_async_op); });
  async_call("BackupComplete", [&] { return s.async_backup_complete(vss::use_async_op); });
  async_call("GatherWriterStatus", [&] { return s.async_gather_writer_status(vss::use_async_op); });
  const auto status = s.get_writer_status();
  async_call(
      "Release", [&] { return s.async_release(vss::use_async_op); }, vss::errc::async_finished,
      opt_.keep ? "BackupShutdown; the snapshot is kept (VSS_CTX_APP_ROLLBACK)"
                : "BackupShutdown; the auto-release snapshot is deleted");
  add_phase_reports(s);  // after Release: BackupShutdown included
  const auto commits_at_release = load_->commits();
  const bool load_went_on = load_->wait_for_commits(commits_at_release + commits_after, step_bound);
  if (report) add_provider_passes(*report, from);
  const auto held = lock_held(from);
  const auto to = steady::now();

  b["timeline"] = print_timeline(from, to);

  // The copy method, from what the provider did.
  std::string method_note;
  if (report) {
    const auto cloned = report->prepare.bytes_cloned + report->commit.bytes_cloned;
    const auto copied = report->prepare.bytes_copied + report->commit.bytes_copied;
    const auto src_fs = filesystem_of(source_);
    if (cloned > 0 && copied == 0) {
      method_ = "reflink";
      method_note = "reflink: " + src_fs + " shares the files' data blocks (FICLONE), " +
                    "nothing was copied";
    } else if (cloned > 0) {
      method_ = "reflink+copy";
      method_note = "reflink, and " + human_bytes(copied) + " copied where FICLONE failed";
    } else if (!report->same_filesystem) {
      method_ = "copy";
      method_note = "copy: the snapshot root is on " + filesystem_of(root_) +
                    ", another filesystem than the source's " + src_fs +
                    ", and reflink cannot cross filesystems";
    } else {
      method_ = "copy";
      method_note = "copy: " + src_fs + " cannot share data blocks (no FICLONE), so the " +
                    "provider fell back to copying";
    }
  }

  out() << '\n';
  row("snapshot",
      props_ec ? "none (" + symbol_of(props_ec) + ")"
               : props.device + "  " + std::string(vss::to_string(props.state)) +
                     (report && report->read_only ? ", read-only (FS_IMMUTABLE_FL)"
                                                  : ", writable (no FS_IMMUTABLE_FL: not root, or "
                                                    "the filesystem has none)"));
  if (report) {
    row("copy method", method_note);
    row("provider", "prepare " + ms_text(report->prepare_duration) +
                        " (before Freeze): " + describe_pass(report->prepare));
    row("", "commit  " + ms_text(report->commit_duration) +
                " (the hold window): " + describe_pass(report->commit));
  }
  if (hold.filesystems.empty() && !hold.failure) {
    row("write hold", "none: the snapshot root is on the source's filesystem, no fsfreeze");
  } else {
    std::string fss;
    for (const auto& f : hold.filesystems) fss += (fss.empty() ? "" : ", ") + f;
    row("write hold",
        "fsfreeze of " + fss + " for " + ms_text(duration_cast<steady::duration>(hold.held)) +
            (hold.failure ? " — " + symbol_of(hold.failure) + ": " + hold.message : std::string()));
  }
  const auto stall = [&]() -> std::optional<steady::duration> {
    std::lock_guard lock(mutex_);
    for (const auto& e : entries_) {
      if (e.at >= from && e.who == "load" && e.took) return e.took;
    }
    return std::nullopt;
  }();
  row("database lock",
      (held ? "held " + ms_text(*held) + " by the writer (its log: frozen to released at Thaw)"
            : std::string("not seen")) +
          (stall ? "; the load's longest wait " + ms_text(*stall) : std::string()));
  row("consistency",
      std::string(st_.bold()) + std::string(vss::to_string(grade)) + std::string(st_.reset()));
  row("database", db.to_json() + "  (min id " + std::to_string(min_id) + ", max id " +
                      std::to_string(max_id) + ")");
  out() << '\n';

  check(created == vss::errc::async_finished,
        "backup 1: DoSnapshotSet finished (" + symbol_of(created) + ")");
  check(grade == vss::consistency_grade::application,
        "backup 1: the consistency grade is application (" + std::string(vss::to_string(grade)) +
            ")");
  check(db.ok, "backup 1: the snapshot's app.db passes verify_database: intact, ids 1.." +
                   std::to_string(db.max_id) + " with " + std::to_string(min_id) +
                   " (committed before DoSnapshotSet) <= max <= " + std::to_string(max_id) +
                   " (committed after the thaw), checksums right, WAL empty" +
                   (db.ok ? "" : " — " + db.problem));
  std::string files_what = "backup 1: the " + std::to_string(files.entries) +
                           " other entries are identical in the snapshot (content, mode, owner, "
                           "mtime, symlink, hard link, holes)";
  for (const auto& p : files.problems) files_what += "\n          " + p;
  check(!props_ec && files.problems.empty() && files.entries > 0, files_what);
  const bool stable = status.size() == 1 && status.front().state == vss::writer_state::stable &&
                      !status.front().failure;
  check(stable, "backup 1: the writer is " +
                    (status.empty() ? std::string("missing")
                                    : std::string(vss::to_string(status.front().state))) +
                    " after BackupComplete");
  std::error_code ec;
  const bool exists_now = !device.empty() && fs::exists(device, ec);
  if (opt_.keep) {
    check(exists_now, "backup 1: the snapshot is kept at " + device.string() + " (--keep)");
  } else {
    check(!device.empty() && !exists_now,
          "backup 1: the auto-release snapshot was deleted at Release");
  }
  check(!fs::exists(reflink_->staging_path(snap, source_.string()), ec),
        "backup 1: no staging directory left under the snapshot root");
  check(load_went_on, "backup 1: the load kept committing after the thaw (" +
                          std::to_string(load_->commits() - commits_at_release) +
                          " more after Release)");
  b["checks"] = print_checks();

  b["do_snapshot_set"] = symbol_of(created);
  b["consistency"] = grade_word(grade);
  b["snapshot"] = {{"id", snap.to_string()},
                   {"set", set.to_string()},
                   {"device", props_ec ? "" : props.device},
                   {"read_only", report && report->read_only},
                   {"kept", opt_.keep && exists_now}};
  if (report) {
    b["provider"] = {{"same_filesystem", report->same_filesystem},
                     {"prepare_ms", to_ms(report->prepare_duration)},
                     {"commit_ms", to_ms(report->commit_duration)},
                     {"prepare", pass_json(report->prepare)},
                     {"commit", pass_json(report->commit)}};
  }
  b["write_hold"] = {{"filesystems", hold.filesystems},
                     {"held_ms", static_cast<double>(hold.held.count()) / 1000.0},
                     {"failure", hold.failure ? symbol_of(hold.failure) : ""}};
  b["database"] = json::parse(db.to_json());
  b["database"]["min_id"] = min_id;
  b["database"]["max_id_bound"] = max_id;
  if (held) b["lock_held_ms"] = to_ms(*held);
  if (stall) b["longest_load_wait_ms"] = to_ms(*stall);
  b["files"] = {{"entries", files.entries}, {"bytes", files.bytes}, {"problems", files.problems}};
  doc_["method"] = method_;
  doc_["method_note"] = method_note;
  doc_["backups"].push_back(std::move(b));
}

void demo::backup_2(vss::engine& eng) {
  backup_ = 2;
  json b = {{"name", "aborted while frozen"}};
  heading("Backup 2: the same, aborted from another thread while the database is frozen");
  const auto from = steady::now();
  vss::backup_session s = eng.create_backup_session();
  call("InitializeForBackup", [&] { return s.initialize_for_backup(); });
  if (opt_.keep) {
    call("SetContext",
         [&] { return s.set_context(vss::to_raw(vss::snapshot_context::app_rollback)); });
  }
  call("SetBackupState", [&] { return s.set_backup_state(false, false, vss::backup_type::full); });
  async_call("GatherWriterMetadata",
             [&] { return s.async_gather_writer_metadata(vss::use_async_op); });
  vss::snapshot_set_id set;
  call("StartSnapshotSet", [&] { return s.start_snapshot_set(set); });
  note_last(set.to_string());
  vss::snapshot_id snap;
  call("AddToSnapshotSet", [&] { return s.add_to_snapshot_set(source_.string(), {}, snap); });
  async_call("PrepareForBackup", [&] { return s.async_prepare_for_backup(vss::use_async_op); });
  const auto root_before = entries_of(root_);
  const auto releases_before = writer_->stats().releases;

  // The aborter: waits until the writer has frozen the database and keeps its Freeze answer
  // back, then calls the blocking AbortBackup.
  writer_->hold_next_freeze();
  bool holding = false;
  bool frozen_at_abort = false;
  std::error_code abort_result = vss::errc::unexpected;
  steady::time_point abort_called{}, abort_returned{};
  std::optional<vss::reflink_snapshot_report> prepared;  // gone once the set is aborted
  std::thread aborter([&, s]() mutable {
    holding = writer_->wait_until_holding(step_bound);
    prepared = reflink_->report(snap);
    frozen_at_abort = writer_->frozen();
    abort_called = steady::now();
    abort_result = s.abort_backup();
    abort_returned = steady::now();
  });
  load_->take_longest();
  const auto t0 = steady::now();
  auto op = s.async_do_snapshot_set(vss::use_async_op);
  op.wait(step_bound);
  const auto seen = steady::now();
  const auto result = op.query_status();
  aborter.join();
  writer_->hold_next_freeze();  // forget an unused hold (nothing held: the Freeze is over)
  {
    char note[96];
    std::snprintf(note, sizeof note, "the requester saw it %.2f ms after AbortBackup was called",
                  to_ms(seen - abort_called));
    add({t0,
         seen - t0,
         {},
         "DoSnapshotSet",
         symbol_of(result),
         result == vss::errc::async_cancelled,
         note});
  }
  add({abort_called,
       abort_returned - abort_called,
       {},
       "AbortBackup",
       symbol_of(abort_result),
       !abort_result,
       "from another thread, the database frozen"});
  add_load_stall(t0);

  vss::snapshot_properties ignored;
  const auto props_ec =
      call("GetSnapshotProperties", [&] { return s.get_snapshot_properties(snap, ignored); });
  const auto grade = s.consistency();
  async_call("GatherWriterStatus", [&] { return s.async_gather_writer_status(vss::use_async_op); });
  const auto status = s.get_writer_status();
  async_call(
      "Release", [&] { return s.async_release(vss::use_async_op); }, vss::errc::async_finished,
      "BackupShutdown");
  add_phase_reports(s);  // after Release: BackupShutdown included
  const auto commits_at_release = load_->commits();
  const bool load_went_on = load_->wait_for_commits(commits_at_release + commits_after, step_bound);
  if (prepared) add_provider_passes(*prepared, from);
  const auto held = lock_held(from);
  const auto to = steady::now();
  b["timeline"] = print_timeline(from, to);

  std::vector<std::string> left;
  for (const auto& name : entries_of(root_)) {
    if (!root_before.count(name)) left.push_back(name);
  }
  std::error_code ec;
  const auto final_path = reflink_->snapshot_path(snap, source_.string());
  const auto staging_path = reflink_->staging_path(snap, source_.string());
  const bool final_exists = fs::exists(final_path, ec);
  const bool staging_exists = fs::exists(staging_path, ec);

  out() << '\n';
  row("session", std::string(vss::to_string(s.state())));
  if (!status.empty()) {
    row("writer", status.front().name + " " + std::string(vss::to_string(status.front().state)) +
                      (status.front().failure ? " " + symbol_of(status.front().failure) : ""));
  }
  row("database lock",
      held ? "held " + ms_text(*held) + " by the writer (its log: frozen to released at Abort)"
           : std::string("not seen"));
  row("snapshot root", root_.string() + ": " +
                           (left.empty() ? std::string("nothing new")
                                         : std::to_string(left.size()) + " new entries"));
  row("consistency", std::string(vss::to_string(grade)));
  out() << '\n';

  check(holding && frozen_at_abort,
        "backup 2: the database was frozen (write lock held) when AbortBackup was called");
  check(result == vss::errc::async_cancelled,
        "backup 2: DoSnapshotSet ended VSS_S_ASYNC_CANCELLED (" + symbol_of(result) + ")");
  check(!abort_result, "backup 2: AbortBackup returned S_OK (" + symbol_of(abort_result) + ")");
  check(props_ec == vss::errc::object_not_found && grade == vss::consistency_grade::none,
        "backup 2: no snapshot (GetSnapshotProperties " + symbol_of(props_ec) + ", grade " +
            std::string(grade_word(grade)) + ")");
  std::string left_what =
      "backup 2: no snapshot directory and no staging directory left under " + root_.string();
  for (const auto& name : left) left_what += "\n          left: " + name;
  check(left.empty() && !final_exists && !staging_exists, left_what);
  check(!writer_->frozen() && writer_->stats().releases > releases_before,
        "backup 2: the writer released the database at Abort");
  check(load_went_on, "backup 2: the load kept committing after the abort (" +
                          std::to_string(load_->commits() - commits_at_release) +
                          " more after Release)");
  b["checks"] = print_checks();
  b["do_snapshot_set"] = symbol_of(result);
  b["abort_backup"] = symbol_of(abort_result);
  b["abort_ms"] = to_ms(abort_returned - abort_called);
  b["consistency"] = grade_word(grade);
  b["left_under_snapshot_root"] = left;
  if (held) b["lock_held_ms"] = to_ms(*held);
  doc_["backups"].push_back(std::move(b));
}

int demo::summary() {
  const bool ok =
      std::all_of(checks_.begin(), checks_.end(), [](const check_result& c) { return c.ok; });
  const auto failed =
      std::count_if(checks_.begin(), checks_.end(), [](const check_result& c) { return !c.ok; });
  const auto elapsed = steady::now() - start_;
  doc_["checks"] = json::array();
  for (const auto& c : checks_) doc_["checks"].push_back({{"ok", c.ok}, {"what", c.what}});
  doc_["ok"] = ok;
  doc_["elapsed_ms"] = to_ms(elapsed);
  if (opt_.json) {
    std::cout << doc_.dump(2) << '\n';
    return ok ? 0 : 1;
  }
  std::cout << st_.bold() << st_.cyan() << "== Result" << st_.reset() << '\n';
  if (ok) {
    std::cout << "  " << st_.bold() << st_.green() << "all " << checks_.size() << " checks passed"
              << st_.reset() << " (" << method_ << ", " << ms_text(elapsed, 0) << ")\n";
  } else {
    std::cout << "  " << st_.bold() << st_.red() << failed << " of " << checks_.size()
              << " checks FAILED" << st_.reset() << ":\n";
    for (const auto& c : checks_) {
      if (!c.ok) std::cout << "  " << st_.red() << "FAIL" << st_.reset() << "  " << c.what << '\n';
    }
  }
  return ok ? 0 : 1;
}

int demo::run() {
  setup();
  doc_["program"] = "openvss-example-real-backup";
  doc_["source"] = source_.string();
  doc_["source_filesystem"] = filesystem_of(source_);
  doc_["snapshot_root"] = root_.string();
  doc_["snapshot_root_filesystem"] = filesystem_of(root_);
  doc_["keep"] = opt_.keep;

  // The application: a live database and its load. The load creates the database (WAL mode).
  const auto database = (source_ / database_name).string();
  load_ = std::make_unique<load_thread>(database, opt_.rate);
  load_->start();
  if (!load_->wait_for_commits(1, step_bound)) {
    throw std::runtime_error("the load did not commit: " + load_->error());
  }
  std::this_thread::sleep_for(
      duration_cast<steady::duration>(std::chrono::duration<double>(opt_.seconds)));

  // The engine with its defaults, the reflink provider and the database's writer.
  auto host = std::make_unique<vss::engine_host>();
  auto& eng = host->engine();
  if (auto ec = eng.register_provider(reflink_)) {
    throw std::runtime_error("register_provider: " + symbol_of(ec));
  }
  vss::examples::sqlite_writer_options wo;
  wo.database = database;
  wo.log = [this](std::string_view line) { log_line("sqlite", std::string(line)); };
  writer_ = std::make_shared<sqlite_writer_with_hold>(std::move(wo));
  std::error_code ec;
  auto registration = eng.register_writer(writer_, ec);
  if (ec) throw std::runtime_error("register_writer: " + symbol_of(ec));

  const auto head_start_commits = load_->commits();
  out() << st_.bold() << "openvss: a real backup of a live SQLite database and its files"
        << st_.reset() << '\n';
  row("source", source_.string() + " (" + filesystem_of(source_) + ", made afresh)");
  row("", "app.db: SQLite in WAL mode, live; " + plural(tree_.files, "file", "files") + ", " +
              plural(tree_.dirs, "dir", "dirs") + ", " +
              plural(tree_.symlinks, "symlink", "symlinks") + ", " +
              plural(tree_.hardlinks, "hard link", "hard links") + ", a sparse " +
              human_bytes(tree_.sparse_size) + " image (" + human_bytes(tree_.sparse_allocated) +
              " allocated)");
  row("snapshot root", root_.string() + " (" + filesystem_of(root_) + ")");
  row("engine", "engine_host (2 io threads, 2 blocking threads), " + reflink_->properties().name +
                    ", writer \"" + writer_->identity().name + "\" (back-end) for app.db");
  char load_text[200];
  char pace[48] = "as fast as it can";
  if (opt_.rate > 0) std::snprintf(pace, sizeof pace, "%.0f/s", opt_.rate);
  std::snprintf(load_text, sizeof load_text,
                "1 thread committing 1-7 row transactions (%s): %llu in its %.1f s head start, "
                "last id %lld",
                pace, static_cast<unsigned long long>(head_start_commits), opt_.seconds,
                static_cast<long long>(load_->last_id()));
  row("load", load_text);

  backup_1(eng);
  backup_2(eng);

  load_->stop();
  const auto load_error = load_->error();
  check(load_error.empty() && load_->busy() == 0,
        "the load ran without an error and never found the database busy for 30 s" +
            (load_error.empty() ? std::string() : ": " + load_error));
  doc_["load"] = {{"head_start_s", opt_.seconds},
                  {"rate", opt_.rate},
                  {"commits_before_backup", head_start_commits},
                  {"commits", load_->commits()},
                  {"last_id", load_->last_id()},
                  {"busy", load_->busy()}};
  print_checks();

  registration = {};
  host.reset();
  writer_.reset();
  if (opt_.keep) {
    out() << "  the snapshots stay under " << root_.string()
          << "; where they are immutable, remove them with: chattr -R -f -i DIR; rm -rf DIR\n";
  }
  out() << '\n';
  return summary();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "openvss-example-real-backup — a real backup of a directory holding a live SQLite "
      "database, with the sqlite writer and the reflink provider on an embedded engine; then "
      "a second backup aborted while the database is frozen"};
  options o;
  app.add_option("--source", o.source,
                 "the directory to back up; the program empties it and fills it with the demo "
                 "tree and database, so it must be new, empty, or made by an earlier run "
                 "(default: /var/tmp/openvss-demo/data)");
  app.add_option("--snapshot-root", o.snapshot_root,
                 "where snapshots go; on the source's filesystem for reflink (default: "
                 "/var/tmp/openvss-demo/snapshots, or <parent of --source>/.openvss-snapshots)");
  app.add_flag("--keep", o.keep,
               "keep backup 1's snapshot (VSS_CTX_APP_ROLLBACK) instead of deleting it at "
               "Release");
  app.add_option("--seconds", o.seconds,
                 "how long the load runs before backup 1 (default 2.5; it runs on throughout)")
      ->check(CLI::Range(0.0, 60.0));
  app.add_option("--rate", o.rate,
                 "the load's transactions per second; 0 = as fast as it can (default 2000)")
      ->check(CLI::Range(0.0, 1e6));
  app.add_flag("--json", o.json, "print one JSON document instead of the text");
  app.footer(
      "Prints the timeline of each backup, the provider's report, the consistency grade and "
      "the snapshot's path, then checks the snapshot: app.db passes verify_database and holds "
      "every transaction committed before DoSnapshotSet; the other files are identical; the "
      "grade is application. Backup 2 must leave nothing under the snapshot root.\n"
      "A snapshot root on another filesystem than the source makes the engine fsfreeze the "
      "source's filesystem during the commit; the program refuses that when it is /.\n"
      "Exit status: 0 every check passed; 1 a check failed (listed at the end); 2 bad command "
      "line or refused setup (another run on the same directories, a non-empty --source not "
      "made by this program, a snapshot root inside the source).");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  style st;
  st.color = !o.json && ::isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr;
  try {
    demo d(o, st);
    return d.run();
  } catch (const refused& e) {
    std::cerr << "openvss-example-real-backup: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "openvss-example-real-backup: FAIL: " << e.what() << '\n';
    return 1;
  }
}
