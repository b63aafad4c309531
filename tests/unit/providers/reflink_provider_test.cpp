// The reflink provider driven through the provider interface in spec order (§10.1, §11.2), on
// real filesystems: loop-mounted btrfs and XFS (the FICLONE path), plain /tmp directories (the
// copy path), a small full ext4 (out of space) and a frozen source.

#include "vss/providers/reflink_provider.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "providers/tree_copy.hpp"
#include "support/loop_mount.hpp"
#include "vss/error.hpp"

namespace vss {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Runs one asynchronous step and waits (30 s at most) for its completion, which must come
// exactly once.
std::error_code run(const std::function<void(provider::completion)>& step) {
  struct waiter {
    std::atomic<int> calls{0};
    std::promise<std::error_code> result;
  };
  auto w = std::make_shared<waiter>();
  auto future = w->result.get_future();
  step([w](std::error_code ec) {
    if (w->calls.fetch_add(1) == 0) {
      w->result.set_value(ec);
    } else {
      ADD_FAILURE() << "completion called twice";
    }
  });
  if (future.wait_for(30s) != std::future_status::ready) {
    ADD_FAILURE() << "step did not complete within 30 s";
    return errc::unexpected;
  }
  return future.get();
}

class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "openvss-reflink-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    path_ = tmpl;
  }
  ~temp_dir() { (void)providers::remove_tree(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

void write_file(const fs::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
  ASSERT_TRUE(out.good()) << p;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::uint64_t fnv(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// One line per entry: type and mode, owner, mtime in ns; for files size, content hash and the
// first path with the same inode; link targets. Directory sizes differ between filesystems.
std::string describe_tree(const fs::path& root) {
  std::vector<std::string> paths;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    paths.push_back(fs::relative(it->path(), root).string());
  }
  std::sort(paths.begin(), paths.end());
  std::map<ino_t, std::string> first;
  std::ostringstream out;
  for (const auto& rel : paths) {
    struct stat st;
    if (::lstat((root / rel).c_str(), &st) != 0) continue;
    char mode[16];
    std::snprintf(mode, sizeof mode, "%o", static_cast<unsigned>(st.st_mode));
    out << rel << " mode=" << mode << " owner=" << st.st_uid << ':' << st.st_gid
        << " mtime=" << st.st_mtim.tv_sec << '.' << st.st_mtim.tv_nsec;
    if (S_ISREG(st.st_mode)) {
      auto [it, fresh] = first.emplace(st.st_ino, rel);
      out << " size=" << st.st_size << " hash=" << fnv(read_file(root / rel))
          << " inode-of=" << it->second;
    } else if (S_ISLNK(st.st_mode)) {
      out << " -> " << fs::read_symlink(root / rel).string();
    }
    out << '\n';
  }
  return out.str();
}

void set_mtime(const fs::path& p, std::time_t sec, long nsec) {
  const timespec times[2] = {{sec, nsec}, {sec, nsec}};
  ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << p;
}

// Modes, ownership, ns mtimes, symlinks (one dangling), a hard-link pair, a sparse file,
// nested directories: a few MiB of data.
void build_volume(const fs::path& d) {
  fs::create_directories(d / "nested" / "deeper");
  write_file(d / "owned", "owned by 1234:5678\n");
  ASSERT_EQ(::chown((d / "owned").c_str(), 1234, 5678), 0);
  ASSERT_EQ(::chmod((d / "owned").c_str(), 0604), 0);
  write_file(d / "nested" / "deeper" / "big.bin", pattern(2 << 20, 1));
  write_file(d / "script", "#!/bin/sh\n");
  ASSERT_EQ(::chmod((d / "script").c_str(), 0750), 0);
  fs::create_symlink("owned", d / "link");
  fs::create_symlink("/nowhere/at/all", d / "dangling");
  write_file(d / "hard-a", pattern(10000, 2));
  fs::create_hard_link(d / "hard-a", d / "nested" / "hard-b");
  {
    const int fd = ::open((d / "sparse").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    const auto block = pattern(4096, 3);
    ASSERT_EQ(::pwrite(fd, block.data(), block.size(), 1 << 20), 4096);
    ASSERT_EQ(::ftruncate(fd, 16 << 20), 0);
    ::close(fd);
  }
  set_mtime(d / "owned", 1600000000, 123456789);
  set_mtime(d / "link", 1500000000, 1);
  set_mtime(d / "nested" / "deeper", 1400000000, 999999999);
  ASSERT_EQ(::chmod(d.c_str(), 0750), 0);
}

void expect_same_snapshot(const fs::path& snapshot, const fs::path& volume) {
  EXPECT_EQ(describe_tree(snapshot), describe_tree(volume));
  struct stat a, b;
  ASSERT_EQ(::stat((snapshot / "hard-a").c_str(), &a), 0);
  ASSERT_EQ(::stat((snapshot / "nested" / "hard-b").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino) << "the hard-link pair was split";
  ASSERT_EQ(::stat((snapshot / "sparse").c_str(), &a), 0);
  EXPECT_EQ(a.st_size, 16 << 20);
  EXPECT_LE(a.st_blocks * 512, 256 * 1024) << "the sparse file's holes were filled";
  EXPECT_EQ(fs::read_symlink(snapshot / "dangling"), "/nowhere/at/all");
}

bool has_entries(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir, ec) && !fs::is_empty(dir, ec);
}

class ReflinkProviderTest : public ::testing::Test {
 protected:
  std::unique_ptr<reflink_provider> make(fs::path root = {}) {
    reflink_provider_options o;
    o.snapshot_root = std::move(root);
    o.recent_change_window = 0ns;  // the change detection itself is under test
    o.log = [this](std::string line) {
      std::lock_guard lock(log_mutex_);
      log_.push_back(std::move(line));
    };
    return std::make_unique<reflink_provider>(std::move(o));
  }

  snapshot_id begin(reflink_provider& p, const fs::path& volume, std::uint32_t context = 0) {
    const auto id = snapshot_id::generate();
    EXPECT_FALSE(p.begin_prepare_snapshot(set_, id, volume.string(), context));
    return id;
  }

  void end_prepare(reflink_provider& p) {
    const auto ec = run([&](auto d) { p.end_prepare_snapshots(set_, d); });
    ASSERT_FALSE(ec) << ec.message() << ": " << p.last_error(set_);
  }

  void commit(reflink_provider& p) {
    ASSERT_FALSE(run([&](auto d) { p.pre_commit_snapshots(set_, d); }));
    const auto ec = run([&](auto d) { p.commit_snapshots(set_, d); });
    ASSERT_FALSE(ec) << ec.message() << ": " << p.last_error(set_);
  }

  void finish(reflink_provider& p, std::int32_t count = 1) {
    ASSERT_FALSE(run([&](auto d) { p.post_commit_snapshots(set_, count, d); }));
    ASSERT_FALSE(run([&](auto d) { p.pre_final_commit_snapshots(set_, d); }));
    const auto ec = run([&](auto d) { p.post_final_commit_snapshots(set_, d); });
    ASSERT_FALSE(ec) << ec.message() << ": " << p.last_error(set_);
  }

  void create(reflink_provider& p) {
    end_prepare(p);
    commit(p);
    finish(p);
  }

  std::vector<std::string> log() {
    std::lock_guard lock(log_mutex_);
    return log_;
  }

  snapshot_set_id set_ = snapshot_set_id::generate();
  std::mutex log_mutex_;
  std::vector<std::string> log_;
};

TEST_F(ReflinkProviderTest, OnBtrfsTheSnapshotIsAReflinkCloneEqualToTheSource) {
  OPENVSS_LOOP_MOUNT_OR_SKIP(btrfs, "btrfs", 256);
  // A subvolume has an st_dev of its own; the root beside it is still the same filesystem.
  const auto volume = btrfs->path() / "vol";
  std::string out;
  ASSERT_EQ(test::run_shell("btrfs subvolume create '" + volume.string() + "'", &out), 0) << out;
  build_volume(volume);
  auto p = make();
  const auto id = begin(*p, volume, 0x1);  // persistent-style context bits are kept
  end_prepare(*p);
  EXPECT_TRUE(p->flush_and_hold_paths(set_).empty()) << "a reflink onto a frozen fs blocks";
  EXPECT_TRUE(fs::is_directory(p->staging_path(id, volume.string())));
  commit(*p);
  finish(*p);
  snapshot_properties props;
  ASSERT_FALSE(p->get_snapshot_properties(id, props));
  EXPECT_EQ(props.device, (btrfs->path() / ".openvss-snapshots" / id.to_string()).string());
  EXPECT_EQ(props.device, p->snapshot_path(id, volume.string()).string());
  EXPECT_EQ(props.original_volume, volume.string());
  EXPECT_EQ(props.state, snapshot_state::created);
  EXPECT_EQ(props.snapshots_count, 1);
  EXPECT_EQ(props.attributes,
            0x1u | static_cast<std::uint32_t>(volume_attributes::exposed_locally));
  expect_same_snapshot(props.device, volume);
  EXPECT_FALSE(fs::exists(p->staging_path(id, volume.string())));
  const auto r = p->report(id);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->same_filesystem);
  EXPECT_TRUE(r->read_only);
  EXPECT_GT(r->prepare.bytes_cloned, 2u << 20);
  EXPECT_EQ(r->prepare.bytes_copied + r->commit.bytes_copied, 0u);
  EXPECT_EQ(p->query().size(), 1u);
}

TEST_F(ReflinkProviderTest, OnXfsTheSnapshotIsAReflinkCloneEqualToTheSource) {
  OPENVSS_LOOP_MOUNT_OR_SKIP(xfs, "xfs", 300);
  const auto volume = xfs->path() / "vol";
  build_volume(volume);
  auto p = make();
  const auto id = begin(*p, volume);
  create(*p);
  EXPECT_TRUE(p->flush_and_hold_paths(set_).empty());
  expect_same_snapshot(p->snapshot_path(id, volume.string()), volume);
  const auto r = p->report(id);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->same_filesystem);
  EXPECT_TRUE(r->read_only);
  EXPECT_GT(r->prepare.bytes_cloned, 2u << 20);
  EXPECT_EQ(r->prepare.bytes_copied + r->commit.bytes_copied, 0u);
}

TEST_F(ReflinkProviderTest, OnAPlainTmpDirectoryTheSnapshotIsACopy) {
  temp_dir tmp;
  struct statfs s;
  ASSERT_EQ(::statfs(tmp.path().c_str(), &s), 0);
  if (s.f_type == BTRFS_SUPER_MAGIC || s.f_type == XFS_SUPER_MAGIC) {
    GTEST_SKIP() << "/tmp supports reflinks here; the copy path is tested with a root on "
                    "another filesystem";
  }
  const auto volume = tmp.path() / "vol";
  build_volume(volume);
  auto p = make();
  const auto id = begin(*p, volume);
  create(*p);
  EXPECT_TRUE(p->flush_and_hold_paths(set_).empty());
  expect_same_snapshot(tmp.path() / ".openvss-snapshots" / id.to_string(), volume);
  const auto r = p->report(id);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->prepare.bytes_cloned + r->commit.bytes_cloned, 0u);
  EXPECT_GT(r->prepare.bytes_copied, 2u << 20);
}

TEST_F(ReflinkProviderTest, ARootOnAnotherFilesystemIsCopiedFromTheFrozenVolume) {
  OPENVSS_LOOP_MOUNT_OR_SKIP(xfs, "xfs", 300);
  temp_dir tmp;
  const auto volume = xfs->path() / "vol";
  build_volume(volume);
  auto p = make(tmp.path() / "snapshots");
  const auto id = begin(*p, volume);
  end_prepare(*p);
  EXPECT_EQ(p->flush_and_hold_paths(set_), std::vector<std::string>{volume.string()});
  write_file(volume / "written-before-freeze", "late");
  ASSERT_FALSE(run([&](auto d) { p->pre_commit_snapshots(set_, d); }));
  // What the engine does with flush_and_hold_paths: FIFREEZE around the commit.
  const int fd = ::open(xfs->path().c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ioctl(fd, FIFREEZE, 0), 0) << std::strerror(errno);
  const auto ec = run([&](auto d) { p->commit_snapshots(set_, d); });
  EXPECT_EQ(::ioctl(fd, FITHAW, 0), 0);
  ::close(fd);
  ASSERT_FALSE(ec) << ec.message() << ": " << p->last_error(set_);
  finish(*p);
  const auto snapshot = tmp.path() / "snapshots" / id.to_string();
  expect_same_snapshot(snapshot, volume);
  EXPECT_EQ(read_file(snapshot / "written-before-freeze"), "late");
  const auto r = p->report(id);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->same_filesystem);
  EXPECT_EQ(r->prepare.bytes_cloned, 0u);
  EXPECT_GT(r->prepare.bytes_copied, 2u << 20);
}

TEST_F(ReflinkProviderTest, ChangesBetweenPrepareAndCommitAreInTheSnapshot) {
  OPENVSS_LOOP_MOUNT_OR_SKIP(btrfs, "btrfs", 256);
  const auto volume = btrfs->path() / "vol";
  build_volume(volume);
  write_file(volume / "changing", "before");
  write_file(volume / "doomed", "deleted before the commit");
  auto p = make();
  const auto id = begin(*p, volume);
  end_prepare(*p);
  const auto staging = p->staging_path(id, volume.string());
  EXPECT_EQ(read_file(staging / "changing"), "before");
  write_file(volume / "changing", "after the first pass");
  fs::remove(volume / "doomed");
  write_file(volume / "nested" / "appeared", "new");
  commit(*p);
  finish(*p);
  const auto snapshot = p->snapshot_path(id, volume.string());
  EXPECT_EQ(read_file(snapshot / "changing"), "after the first pass");
  EXPECT_FALSE(fs::exists(snapshot / "doomed"));
  EXPECT_EQ(read_file(snapshot / "nested" / "appeared"), "new");
  expect_same_snapshot(snapshot, volume);
  const auto r = p->report(id);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->commit.files, 2u);
  EXPECT_EQ(r->commit.removed, 1u);
  EXPECT_GT(r->commit_duration.count(), 0);
  EXPECT_GT(r->prepare_duration.count(), 0);
  EXPECT_GT(r->prepare.files, r->commit.files);
}

TEST_F(ReflinkProviderTest, AbortDuringALargeCopyStopsPromptlyAndLeavesNothing) {
  temp_dir tmp;
  const auto volume = tmp.path() / "vol";
  fs::create_directories(volume);
  for (int d = 0; d < 10; ++d) {
    fs::create_directory(volume / std::to_string(d));
    for (int f = 0; f < 400; ++f) write_file(volume / std::to_string(d) / std::to_string(f), "x");
  }
  // The copy reports progress after 500 entries and waits there until the test has called
  // abort_snapshots, so the abort lands in the middle of the copy.
  std::mutex m;
  std::condition_variable cv;
  bool copying = false, aborted = false;
  std::vector<std::uint64_t> progress;
  reflink_provider_options o;
  o.progress_every = 500;
  o.progress = [&](const snapshot_id&, std::uint64_t n) {
    std::unique_lock lock(m);
    progress.push_back(n);
    copying = true;
    cv.notify_all();
    cv.wait_for(lock, 30s, [&] { return aborted; });
  };
  reflink_provider p(std::move(o));
  const auto id = begin(p, volume);
  std::promise<std::error_code> prepared;
  p.end_prepare_snapshots(set_, [&](std::error_code ec) { prepared.set_value(ec); });
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return copying; }));
  }
  EXPECT_TRUE(fs::exists(p.staging_path(id, volume.string())));
  EXPECT_EQ(p.begin_prepare_snapshot(set_, snapshot_id::generate(), volume.string(), 0),
            errc::bad_state)
      << "a volume joining while the set is being copied would never be copied";
  const auto started = std::chrono::steady_clock::now();
  std::promise<std::error_code> abort_done;
  p.abort_snapshots(set_, [&](std::error_code ec) { abort_done.set_value(ec); });
  {
    std::lock_guard lock(m);
    aborted = true;
  }
  cv.notify_all();
  auto abort_future = abort_done.get_future();
  ASSERT_EQ(abort_future.wait_for(30s), std::future_status::ready);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_FALSE(abort_future.get());
  EXPECT_LT(took, 2s);
  auto prepared_future = prepared.get_future();
  ASSERT_EQ(prepared_future.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(prepared_future.get(), errc::bad_state) << "the cancelled copy is not a success";
  EXPECT_EQ(progress, std::vector<std::uint64_t>{500}) << "the copy went on after the abort";
  EXPECT_FALSE(fs::exists(p.staging_path(id, volume.string())));
  EXPECT_FALSE(fs::exists(p.snapshot_path(id, volume.string())));
  EXPECT_FALSE(has_entries(p.snapshot_root(volume.string())));
  EXPECT_FALSE(p.report(id).has_value());
}

TEST_F(ReflinkProviderTest, AbortAfterTheCommitRemovesTheCommittedSnapshot) {
  temp_dir tmp;
  const auto volume = tmp.path() / "vol";
  build_volume(volume);
  auto p = make();
  const auto id = begin(*p, volume);
  end_prepare(*p);
  commit(*p);
  ASSERT_TRUE(fs::is_directory(p->snapshot_path(id, volume.string())));
  EXPECT_FALSE(run([&](auto d) { p->abort_snapshots(set_, d); }));
  EXPECT_FALSE(fs::exists(p->snapshot_path(id, volume.string())));
  EXPECT_TRUE(p->query().empty());
  EXPECT_EQ(p->delete_snapshot(id), errc::object_not_found);
}

TEST_F(ReflinkProviderTest, ARootOnAFullFilesystemIsInsufficientStorageAndLeavesNothing) {
  OPENVSS_LOOP_MOUNT_OR_SKIP(small, "ext4", 16);
  temp_dir tmp;
  const auto volume = tmp.path() / "vol";
  fs::create_directories(volume);
  write_file(volume / "small", "fits");
  write_file(volume / "big", pattern(24 << 20, 5));  // more than the 16 MiB filesystem holds
  auto p = make(small->path() / "snapshots");
  const auto id = begin(*p, volume);
  const auto ec = run([&](auto d) { p->end_prepare_snapshots(set_, d); });
  EXPECT_EQ(ec, errc::insufficient_storage) << ec.message();
  EXPECT_NE(p->last_error(set_).find("ENOSPC"), std::string::npos) << p->last_error(set_);
  EXPECT_FALSE(has_entries(small->path() / "snapshots"));
  EXPECT_FALSE(run([&](auto d) { p->abort_snapshots(set_, d); }));
  EXPECT_FALSE(p->report(id).has_value());
  const auto lines = log();
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(),
                          [](const auto& l) { return l.find("ENOSPC") != std::string::npos; }));
}

TEST_F(ReflinkProviderTest, AVolumeThatVanishedBeforeThePrepareIsObjectNotFound) {
  temp_dir tmp;
  const auto volume = tmp.path() / "vol";
  build_volume(volume);
  auto p = make();
  const auto id = begin(*p, volume);
  fs::remove_all(volume);
  EXPECT_EQ(run([&](auto d) { p->end_prepare_snapshots(set_, d); }), errc::object_not_found);
  EXPECT_FALSE(fs::exists(p->staging_path(id, volume.string())));
  EXPECT_NE(p->last_error(set_).find(volume.string()), std::string::npos) << p->last_error(set_);
}

TEST_F(ReflinkProviderTest, AVolumeThatVanishedBeforeTheCommitIsObjectNotFoundAndLeavesNothing) {
  temp_dir tmp;
  const auto volume = tmp.path() / "vol";
  build_volume(volume);
  auto p = make();
  const auto id = begin(*p, volume);
  end_prepare(*p);
  ASSERT_TRUE(fs::exists(p->staging_path(id, volume.string())));
  fs::rename(volume, tmp.path() / "elsewhere");
  ASSERT_FALSE(run([&](auto d) { p->pre_commit_snapshots(set_, d); }));
  EXPECT_EQ(run([&](auto d) { p->commit_snapshots(set_, d); }), errc::object_not_found);
  EXPECT_FALSE(fs::exists(p->staging_path(id, volume.string())));
  EXPECT_FALSE(fs::exists(p->snapshot_path(id, volume.string())));
  EXPECT_TRUE(p->query().empty());
}

TEST_F(ReflinkProviderTest, ARootWhereNothingMayBeCreatedIsAccessDenied) {
  temp_dir tmp;
  const auto volume = tmp.path() / "vol";
  build_volume(volume);
  // An immutable parent refuses even root (EPERM), like a read-only place would.
  fs::create_directory(tmp.path() / "locked");
  bool supported = false;
  ASSERT_FALSE(providers::set_immutable_tree(tmp.path() / "locked", true, &supported));
  if (!supported) GTEST_SKIP() << "no FS_IMMUTABLE_FL in /tmp or no CAP_LINUX_IMMUTABLE";
  auto p = make(tmp.path() / "locked" / "snapshots");
  begin(*p, volume);
  EXPECT_EQ(run([&](auto d) { p->end_prepare_snapshots(set_, d); }), errc::access_denied);
  EXPECT_FALSE(fs::exists(tmp.path() / "locked" / "snapshots"));
}

TEST_F(ReflinkProviderTest, TheCreatedSnapshotIsImmutableAndDeleteRemovesIt) {
  OPENVSS_LOOP_MOUNT_OR_SKIP(btrfs, "btrfs", 256);
  const auto volume = btrfs->path() / "vol";
  build_volume(volume);
  auto p = make();
  const auto id = begin(*p, volume);
  create(*p);
  const auto snapshot = p->snapshot_path(id, volume.string());
  errno = 0;
  EXPECT_LT(::open((snapshot / "owned").c_str(), O_WRONLY), 0);
  EXPECT_EQ(errno, EPERM);
  EXPECT_NE(::unlink((snapshot / "nested" / "hard-b").c_str()), 0);
  EXPECT_EQ(errno, EPERM);
  EXPECT_NE(::unlink((snapshot / "link").c_str()), 0);
  EXPECT_EQ(errno, EPERM);
  EXPECT_NE(::rename(snapshot.c_str(), (btrfs->path() / "moved").c_str()), 0);
  EXPECT_EQ(errno, EPERM);
  EXPECT_FALSE(p->delete_snapshot(id));
  EXPECT_FALSE(fs::exists(snapshot));
  EXPECT_TRUE(p->query().empty());
  EXPECT_EQ(p->delete_snapshot(id), errc::object_not_found);
  snapshot_properties props;
  EXPECT_EQ(p->get_snapshot_properties(id, props), errc::object_not_found);
}

TEST_F(ReflinkProviderTest, ANewProviderAdoptsASnapshotOfAnEarlierOne) {
  temp_dir tmp;
  const auto volume = tmp.path() / "vol";
  build_volume(volume);
  snapshot_properties props;
  snapshot_id id;
  {
    auto first = make(tmp.path() / "snaps");
    id = begin(*first, volume, 0x9);
    create(*first);
    ASSERT_FALSE(first->get_snapshot_properties(id, props));
  }
  auto second = make(tmp.path() / "snaps");  // "after a restart"
  EXPECT_TRUE(second->query().empty());
  ASSERT_FALSE(second->adopt_snapshot(props));
  EXPECT_FALSE(second->adopt_snapshot(props)) << "adopting twice changes nothing";
  ASSERT_EQ(second->query().size(), 1u);
  snapshot_properties again;
  ASSERT_FALSE(second->get_snapshot_properties(id, again));
  EXPECT_EQ(again.device, props.device);
  EXPECT_EQ(again.set_id, props.set_id);
  EXPECT_EQ(again.attributes, props.attributes);
  EXPECT_EQ(again.provider, second->properties().id);
  EXPECT_EQ(again.state, snapshot_state::created);
  EXPECT_TRUE(second->report(id).has_value());
  EXPECT_FALSE(second->delete_snapshot(id));
  EXPECT_FALSE(fs::exists(props.device));
}

TEST_F(ReflinkProviderTest, AdoptingWhatIsNotThereOrNotUnderTheRootIsObjectNotFound) {
  temp_dir tmp;
  const auto volume = tmp.path() / "vol";
  fs::create_directories(volume);
  auto p = make(tmp.path() / "snaps");
  snapshot_properties props;
  props.id = snapshot_id::generate();
  props.set_id = set_;
  props.original_volume = volume.string();
  props.device = p->snapshot_path(props.id, volume.string()).string();
  EXPECT_EQ(p->adopt_snapshot(props), errc::object_not_found);  // not there
  fs::create_directories(tmp.path() / "snaps");
  write_file(p->snapshot_path(props.id, volume.string()), "a file, not a snapshot");
  EXPECT_EQ(p->adopt_snapshot(props), errc::object_not_found);  // not a directory
  fs::remove(p->snapshot_path(props.id, volume.string()));
  fs::create_directories(p->snapshot_path(props.id, volume.string()));
  fs::create_directories(tmp.path() / "elsewhere" / props.id.to_string());
  props.device = (tmp.path() / "elsewhere" / props.id.to_string()).string();
  EXPECT_EQ(p->adopt_snapshot(props), errc::object_not_found);  // not where its name says
  EXPECT_TRUE(p->query().empty());
}

TEST_F(ReflinkProviderTest, ADirectoryFoundAtTheFinalNameIsNeitherReplacedNorRemoved) {
  temp_dir tmp;
  const auto volume = tmp.path() / "vol";
  build_volume(volume);
  auto p = make();
  // Before the first pass: the prepare refuses.
  const auto first = begin(*p, volume);
  const auto found = p->snapshot_path(first, volume.string());
  fs::create_directories(found);
  write_file(found / "keep", "not ours to remove");
  EXPECT_EQ(run([&](auto d) { p->end_prepare_snapshots(set_, d); }), errc::object_already_exists);
  EXPECT_FALSE(run([&](auto d) { p->abort_snapshots(set_, d); }));
  EXPECT_EQ(read_file(found / "keep"), "not ours to remove");
  EXPECT_FALSE(fs::exists(p->staging_path(first, volume.string())));
  // Appearing before the commit (even empty): the rename does not replace it.
  set_ = snapshot_set_id::generate();
  const auto second = begin(*p, volume);
  end_prepare(*p);
  fs::create_directory(p->snapshot_path(second, volume.string()));
  ASSERT_FALSE(run([&](auto d) { p->pre_commit_snapshots(set_, d); }));
  EXPECT_EQ(run([&](auto d) { p->commit_snapshots(set_, d); }), errc::provider_veto);
  EXPECT_NE(p->last_error(set_).find("EEXIST"), std::string::npos) << p->last_error(set_);
  EXPECT_FALSE(run([&](auto d) { p->abort_snapshots(set_, d); }));
  EXPECT_TRUE(fs::is_directory(p->snapshot_path(second, volume.string())));
  EXPECT_FALSE(fs::exists(p->staging_path(second, volume.string())));
}

TEST_F(ReflinkProviderTest, DiscardRemovesTheLeftoversOfACrashedCreation) {
  temp_dir tmp;
  const auto volume = tmp.path() / "vol";
  fs::create_directories(volume);
  auto p = make();
  const auto id = snapshot_id::generate();
  const auto staging = p->staging_path(id, volume.string());
  const auto final_path = p->snapshot_path(id, volume.string());
  EXPECT_EQ(staging, tmp.path() / ".openvss-snapshots" / (".staging-" + id.to_string()));
  fs::create_directories(staging / "half" / "copied");
  write_file(staging / "half" / "copied" / "file", "x");
  fs::create_directories(final_path / "d");
  write_file(final_path / "d" / "f", "y");
  bool supported = false;
  ASSERT_FALSE(providers::set_immutable_tree(final_path, true, &supported));
  EXPECT_FALSE(p->discard_snapshot(id, volume.string()));
  EXPECT_FALSE(fs::exists(staging));
  EXPECT_FALSE(fs::exists(final_path));
  EXPECT_FALSE(p->discard_snapshot(id, volume.string())) << "nothing there is success";
}

TEST_F(ReflinkProviderTest, DiscardRefusesASnapshotThisProviderStillKnows) {
  temp_dir tmp;
  const auto volume = tmp.path() / "vol";
  build_volume(volume);
  auto p = make();
  const auto id = begin(*p, volume);
  create(*p);
  EXPECT_EQ(p->discard_snapshot(id, volume.string()), errc::bad_state);
  EXPECT_TRUE(fs::exists(p->snapshot_path(id, volume.string())));
  EXPECT_FALSE(p->delete_snapshot(id));
}

TEST_F(ReflinkProviderTest, VolumesThatAreNoDirectoryOrHoldTheRootAreNotSupported) {
  temp_dir tmp;
  write_file(tmp.path() / "file", "x");
  fs::create_directories(tmp.path() / "vol");
  auto p = make();
  auto inner = make(tmp.path() / "vol" / "snapshots");
  const auto rejected = [&](reflink_provider& q, const std::string& v) {
    EXPECT_FALSE(q.is_volume_supported(v)) << v;
    return q.begin_prepare_snapshot(set_, snapshot_id::generate(), v, 0);
  };
  EXPECT_EQ(rejected(*p, "relative/dir"), errc::volume_not_supported_by_provider);
  EXPECT_EQ(rejected(*p, ""), errc::volume_not_supported_by_provider);
  EXPECT_EQ(rejected(*p, (tmp.path() / "missing").string()),
            errc::volume_not_supported_by_provider);
  EXPECT_EQ(rejected(*p, (tmp.path() / "file").string()), errc::volume_not_supported_by_provider);
  EXPECT_EQ(rejected(*inner, (tmp.path() / "vol").string()),
            errc::volume_not_supported_by_provider);
  EXPECT_EQ(rejected(*inner, tmp.path().string() + "/vol/"),
            errc::volume_not_supported_by_provider);
  EXPECT_TRUE(p->is_volume_supported((tmp.path() / "vol").string()));
  EXPECT_TRUE(p->is_volume_supported(tmp.path().string() + "/vol/"));
}

TEST_F(ReflinkProviderTest, StepsOutOfOrderAreBadState) {
  temp_dir tmp;
  const auto volume = tmp.path() / "vol";
  build_volume(volume);
  auto p = make();
  const auto id = begin(*p, volume);
  EXPECT_EQ(run([&](auto d) { p->commit_snapshots(set_, d); }), errc::bad_state);
  EXPECT_EQ(run([&](auto d) { p->pre_commit_snapshots(set_, d); }), errc::bad_state);
  end_prepare(*p);
  EXPECT_EQ(run([&](auto d) { p->end_prepare_snapshots(set_, d); }), errc::bad_state);
  EXPECT_EQ(p->begin_prepare_snapshot(set_, snapshot_id::generate(), volume.string(), 0),
            errc::bad_state);
  EXPECT_EQ(p->begin_prepare_snapshot(snapshot_set_id::generate(), id, volume.string(), 0),
            errc::object_already_exists);
  snapshot_properties props;
  EXPECT_EQ(p->get_snapshot_properties(id, props), errc::object_not_found) << "not created yet";
  EXPECT_EQ(p->delete_snapshot(id), errc::bad_state);
  EXPECT_FALSE(run([&](auto d) { p->abort_snapshots(set_, d); }));
  EXPECT_FALSE(has_entries(p->snapshot_root(volume.string())));
}

TEST_F(ReflinkProviderTest, TwoVolumesInOneSetAreCommittedTogether) {
  OPENVSS_LOOP_MOUNT_OR_SKIP(btrfs, "btrfs", 256);
  const auto a = btrfs->path() / "a";
  const auto b = btrfs->path() / "b";
  build_volume(a);
  fs::create_directories(b);
  write_file(b / "only-in-b", "b");
  auto p = make();
  const auto ia = begin(*p, a);
  const auto ib = begin(*p, b);
  end_prepare(*p);
  commit(*p);
  finish(*p, 2);
  ASSERT_EQ(p->query().size(), 2u);
  snapshot_properties pa, pb;
  ASSERT_FALSE(p->get_snapshot_properties(ia, pa));
  ASSERT_FALSE(p->get_snapshot_properties(ib, pb));
  EXPECT_EQ(pa.snapshots_count, 2);
  EXPECT_EQ(pa.created, pb.created);
  expect_same_snapshot(pa.device, a);
  EXPECT_EQ(read_file(fs::path(pb.device) / "only-in-b"), "b");
}

TEST_F(ReflinkProviderTest, EachPassIsReportedAndLogged) {
  temp_dir tmp;
  const auto volume = tmp.path() / "vol";
  build_volume(volume);
  auto p = make();
  const auto id = begin(*p, volume);
  ASSERT_TRUE(p->report(id).has_value());
  create(*p);
  const auto r = p->report(id);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->id, id);
  EXPECT_EQ(r->set, set_);
  EXPECT_EQ(r->volume, volume.string());
  EXPECT_EQ(r->device, p->snapshot_path(id, volume.string()).string());
  EXPECT_EQ(r->prepare.files, 5u);  // owned, big.bin, script, hard-a, sparse
  EXPECT_EQ(r->prepare.hardlinks, 1u);
  EXPECT_EQ(r->prepare.symlinks, 2u);
  EXPECT_EQ(r->prepare.dirs, 2u);
  EXPECT_GT(r->prepare.duration.count(), 0);
  EXPECT_GE(r->prepare_duration, r->prepare.duration);
  EXPECT_GE(r->commit_duration, r->commit.duration);
  const auto lines = log();
  const auto mentions = [&](const std::string& what) {
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) {
      return l.find(what) != std::string::npos && l.find(id.to_string()) != std::string::npos;
    });
  };
  EXPECT_TRUE(mentions("prepared")) << ::testing::PrintToString(lines);
  EXPECT_TRUE(mentions("committed")) << ::testing::PrintToString(lines);
}

}  // namespace
}  // namespace vss
