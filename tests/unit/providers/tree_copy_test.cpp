// The tree clone/copy engine of the reflink provider, on real filesystems: a plain /tmp
// directory (the copy path), loop-mounted btrfs and XFS (the FICLONE path), and across
// filesystems (FICLONE refused, copy instead).

#include "providers/tree_copy.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/loop_mount.hpp"

namespace vss::providers {
namespace {

namespace fs = std::filesystem;

// A directory of the test's own under /tmp, removed (immutable flags cleared) at the end.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "openvss-tree-copy-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    path_ = tmpl;
  }
  ~temp_dir() { (void)remove_tree(path_); }
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

void set_mtime(const fs::path& p, std::time_t sec, long nsec) {
  const timespec times[2] = {{sec, nsec}, {sec, nsec}};
  ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << p;
}

std::uint64_t fnv(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// One line per entry (sorted by path): type, mode, owner, mtime in ns, and for files the size,
// a content hash and the first path sharing its inode; link targets; device numbers. Sockets
// are left out (the copy skips them); directory sizes differ between filesystems.
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
    if (::lstat((root / rel).c_str(), &st) != 0) {
      out << rel << " vanished\n";
      continue;
    }
    if (S_ISSOCK(st.st_mode)) continue;
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
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      out << " rdev=" << major(st.st_rdev) << ',' << minor(st.st_rdev);
    }
    out << '\n';
  }
  return out.str();
}

bool is_root() { return ::geteuid() == 0; }

// A tree with every kind of entry the copy must keep. `with_socket` adds a socket.
void build_tree(const fs::path& d, bool with_socket) {
  fs::create_directories(d / "sub" / "deeper");
  write_file(d / "a.txt", "hello\n");
  ASSERT_EQ(::chmod((d / "a.txt").c_str(), 0640), 0);
  if (is_root()) {
    ASSERT_EQ(::lchown((d / "a.txt").c_str(), 1234, 5678), 0);
  }
  write_file(d / "tool", "#!/bin/sh\n");
  ASSERT_EQ(::chmod((d / "tool").c_str(), 04755), 0);
  write_file(d / "sub" / "deeper" / "data.bin", pattern(1 << 20, 1));
  write_file(d / "empty", "");
  fs::create_symlink("a.txt", d / "link");
  fs::create_symlink("does/not/exist", d / "dangling");
  if (is_root()) {
    ASSERT_EQ(::lchown((d / "link").c_str(), 4321, 8765), 0);
  }
  write_file(d / "hard1", pattern(5000, 2));
  fs::create_hard_link(d / "hard1", d / "sub" / "hard2");
  {
    const int fd = ::open((d / "sparse").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    const auto block = pattern(4096, 3);
    ASSERT_EQ(::pwrite(fd, block.data(), block.size(), 0), 4096);
    ASSERT_EQ(::pwrite(fd, block.data(), block.size(), 4 << 20), 4096);
    ASSERT_EQ(::ftruncate(fd, 8 << 20), 0);
    ::close(fd);
  }
  ASSERT_EQ(::mkfifo((d / "fifo").c_str(), 0620), 0);
  if (is_root()) {
    ASSERT_EQ(::mknod((d / "null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  }
  fs::create_directory(d / "ro");
  write_file(d / "ro" / "inside", "x");
  if (with_socket) {
    const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const auto sp = (d / "sock").string();
    ASSERT_LT(sp.size(), sizeof addr.sun_path);
    std::memcpy(addr.sun_path, sp.c_str(), sp.size() + 1);
    ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(s);
  }
  set_mtime(d / "a.txt", 1600000000, 123456789);
  set_mtime(d / "link", 1500000000, 987654321);
  set_mtime(d / "sub" / "deeper" / "data.bin", 1400000000, 5);
  set_mtime(d / "sub" / "deeper", 1300000000, 42);
  ASSERT_EQ(::chmod((d / "ro").c_str(), 0555), 0);
  set_mtime(d / "ro", 1200000000, 7);
  ASSERT_EQ(::chmod(d.c_str(), 0751), 0);
}

bool may_clone(const fs::path& p) {
  struct statfs s;
  return ::statfs(p.c_str(), &s) == 0 &&
         (s.f_type == BTRFS_SUPER_MAGIC || s.f_type == XFS_SUPER_MAGIC);
}

TEST(TreeCopy, CopiesEveryKindOfEntryWithItsMetadataOnAPlainDirectory) {
  temp_dir tmp;
  if (may_clone(tmp.path()))
    GTEST_SKIP() << "/tmp supports reflinks; the copy path is tested "
                    "across filesystems instead";
  build_tree(tmp.path() / "src", true);
  std::vector<std::string> warnings;
  tree_copy_options o;
  o.warn = [&](const std::string& w) { warnings.push_back(w); };
  tree_copy copy(tmp.path() / "src", tmp.path() / "dst", o);
  tree_copy_stats stats;
  const auto err = copy.copy(stats);
  ASSERT_FALSE(err) << err.message();
  EXPECT_EQ(describe_tree(tmp.path() / "dst"), describe_tree(tmp.path() / "src"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(tmp.path() / "dst" / "sock")));
  EXPECT_EQ(stats.bytes_cloned, 0u);
  EXPECT_GT(stats.bytes_copied, 1u << 20);
  EXPECT_LT(stats.bytes_copied, 2u << 20) << "the sparse file's holes were copied";
  EXPECT_EQ(stats.files, 7u);  // a.txt tool data.bin empty hard1 sparse ro/inside
  EXPECT_EQ(stats.hardlinks, 1u);
  EXPECT_EQ(stats.symlinks, 2u);
  EXPECT_EQ(stats.dirs, 3u);
  EXPECT_EQ(stats.specials, is_root() ? 2u : 1u);
  EXPECT_EQ(stats.skipped, 1u);
  EXPECT_FALSE(copy.cloning());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("socket"), std::string::npos) << warnings[0];

  struct stat a, b;
  ASSERT_EQ(::stat((tmp.path() / "dst" / "hard1").c_str(), &a), 0);
  ASSERT_EQ(::stat((tmp.path() / "dst" / "sub" / "hard2").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 2u);
  ASSERT_EQ(::stat((tmp.path() / "dst" / "sparse").c_str(), &a), 0);
  EXPECT_EQ(a.st_size, 8 << 20);
  EXPECT_LE(a.st_blocks * 512, 256 * 1024) << "holes were filled";
  EXPECT_EQ(fs::read_symlink(tmp.path() / "dst" / "dangling"), "does/not/exist");
}

TEST(TreeCopy, ClonesFileDataOnBtrfs) {
  OPENVSS_LOOP_MOUNT_OR_SKIP(btrfs, "btrfs", 256);
  build_tree(btrfs->path() / "src", false);
  tree_copy copy(btrfs->path() / "src", btrfs->path() / "dst");
  tree_copy_stats stats;
  const auto err = copy.copy(stats);
  ASSERT_FALSE(err) << err.message();
  EXPECT_EQ(describe_tree(btrfs->path() / "dst"), describe_tree(btrfs->path() / "src"));
  EXPECT_GT(stats.bytes_cloned, 1u << 20);
  EXPECT_EQ(stats.bytes_copied, 0u);
  EXPECT_TRUE(copy.cloning());
  struct stat st;
  ASSERT_EQ(::stat((btrfs->path() / "dst" / "sparse").c_str(), &st), 0);
  EXPECT_LE(st.st_blocks * 512, 256 * 1024) << "holes were filled";
}

TEST(TreeCopy, ClonesFileDataOnXfs) {
  OPENVSS_LOOP_MOUNT_OR_SKIP(xfs, "xfs", 300);
  build_tree(xfs->path() / "src", false);
  tree_copy copy(xfs->path() / "src", xfs->path() / "dst");
  tree_copy_stats stats;
  const auto err = copy.copy(stats);
  ASSERT_FALSE(err) << err.message();
  EXPECT_EQ(describe_tree(xfs->path() / "dst"), describe_tree(xfs->path() / "src"));
  EXPECT_GT(stats.bytes_cloned, 1u << 20);
  EXPECT_EQ(stats.bytes_copied, 0u);
}

TEST(TreeCopy, CopiesWhenTheDestinationIsOnAnotherFilesystem) {
  OPENVSS_LOOP_MOUNT_OR_SKIP(btrfs, "btrfs", 256);
  temp_dir tmp;
  build_tree(tmp.path() / "src", false);
  tree_copy copy(tmp.path() / "src", btrfs->path() / "dst");
  tree_copy_stats stats;
  const auto err = copy.copy(stats);
  ASSERT_FALSE(err) << err.message();
  EXPECT_EQ(describe_tree(btrfs->path() / "dst"), describe_tree(tmp.path() / "src"));
  EXPECT_EQ(stats.bytes_cloned, 0u);
  EXPECT_GT(stats.bytes_copied, 1u << 20);
  EXPECT_FALSE(copy.cloning());
}

class TreeCopyUpdate : public ::testing::Test {
 protected:
  void SetUp() override {
    build_tree(src(), false);
    tree_copy_options o;
    o.recent_change_window = std::chrono::nanoseconds(0);
    copy_ = std::make_unique<tree_copy>(src(), dst(), o);
    tree_copy_stats stats;
    const auto err = copy_->copy(stats);
    ASSERT_FALSE(err) << err.message();
    // Timestamps of what the test changes next must differ from those the copy saw.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  fs::path src() const { return tmp_.path() / "src"; }
  fs::path dst() const { return tmp_.path() / "dst"; }
  tree_copy_stats update() {
    tree_copy_stats stats;
    const auto err = copy_->update(stats);
    EXPECT_FALSE(err) << err.message();
    return stats;
  }

  temp_dir tmp_;
  std::unique_ptr<tree_copy> copy_;
};

TEST_F(TreeCopyUpdate, LeavesUnchangedFilesAlone) {
  struct stat before, after;
  ASSERT_EQ(::stat((dst() / "a.txt").c_str(), &before), 0);
  const auto stats = update();
  ASSERT_EQ(::stat((dst() / "a.txt").c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  EXPECT_EQ(stats.files, 0u);
  EXPECT_EQ(stats.symlinks, 0u);
  EXPECT_EQ(stats.removed, 0u);
  EXPECT_GT(stats.entries, 10u);
  EXPECT_EQ(describe_tree(dst()), describe_tree(src()));
}

TEST_F(TreeCopyUpdate, BringsTheCopyToTheSourcesCurrentState) {
  write_file(src() / "sub" / "deeper" / "data.bin", pattern(3000, 9));  // changed, smaller
  fs::remove(src() / "empty");                                          // vanished
  write_file(src() / "new.txt", "new");                                 // appeared
  fs::create_directories(src() / "newdir" / "x");
  write_file(src() / "newdir" / "x" / "f", "f");
  fs::remove(src() / "a.txt");  // a file becomes a directory
  fs::create_directory(src() / "a.txt");
  ASSERT_EQ(::chmod((src() / "ro").c_str(), 0755), 0);  // a directory becomes a symlink
  fs::remove_all(src() / "ro");
  fs::create_symlink("sub", src() / "ro");
  ASSERT_EQ(::chmod((src() / "tool").c_str(), 0700), 0);  // metadata only
  fs::create_hard_link(src() / "new.txt", src() / "sub" / "new-link");
  fs::remove(src() / "link");  // a symlink retargeted
  fs::create_symlink("tool", src() / "link");
  const auto stats = update();
  EXPECT_EQ(describe_tree(dst()), describe_tree(src()));
  EXPECT_EQ(stats.removed, 1u);  // "empty"; the entries that changed type were re-copied
  EXPECT_EQ(stats.hardlinks, 1u);
  struct stat a, b;
  ASSERT_EQ(::stat((dst() / "new.txt").c_str(), &a), 0);
  ASSERT_EQ(::stat((dst() / "sub" / "new-link").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  // A second update after no change copies nothing.
  const auto again = update();
  EXPECT_EQ(again.files, 0u);
  EXPECT_EQ(again.removed, 0u);
}

TEST_F(TreeCopyUpdate, SeesAContentChangeBehindARestoredMtimeByItsCtime) {
  struct stat st;
  ASSERT_EQ(::stat((src() / "hard1").c_str(), &st), 0);
  write_file(src() / "hard1", pattern(5000, 77));  // same size
  const timespec times[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, (src() / "hard1").c_str(), times, 0), 0);
  const auto stats = update();
  EXPECT_EQ(read_file(dst() / "hard1"), pattern(5000, 77));
  EXPECT_EQ(stats.files, 1u);
  EXPECT_EQ(stats.hardlinks, 1u);  // sub/hard2 follows its inode
  EXPECT_EQ(describe_tree(dst()), describe_tree(src()));
}

TEST(TreeCopy, UpdateCopiesAgainFilesChangedJustBeforeTheFirstPass) {
  temp_dir tmp;
  fs::create_directory(tmp.path() / "src");
  write_file(tmp.path() / "src" / "f", "fresh");
  for (auto window :
       {std::chrono::nanoseconds(std::chrono::seconds(2)), std::chrono::nanoseconds(0)}) {
    tree_copy_options o;
    o.recent_change_window = window;
    const auto dst = tmp.path() / ("dst" + std::to_string(window.count()));
    tree_copy copy(tmp.path() / "src", dst, o);
    tree_copy_stats stats;
    ASSERT_FALSE(copy.copy(stats));
    ASSERT_FALSE(copy.update(stats));
    // Written a moment ago: in the same timestamp tick, a change would not show.
    EXPECT_EQ(stats.files, window.count() > 0 ? 1u : 0u) << "window " << window.count();
    EXPECT_EQ(read_file(dst / "f"), "fresh");
  }
}

TEST(TreeCopy, StopsWithECanceledWhenTheCancelFlagIsSet) {
  temp_dir tmp;
  fs::create_directory(tmp.path() / "src");
  for (int i = 0; i < 500; ++i) write_file(tmp.path() / "src" / std::to_string(i), "x");
  std::atomic<bool> cancel{false};
  tree_copy_options o;
  o.cancel = &cancel;
  o.progress_every = 100;
  std::vector<std::uint64_t> seen;
  o.progress = [&](std::uint64_t n) {
    seen.push_back(n);
    cancel = true;
  };
  tree_copy copy(tmp.path() / "src", tmp.path() / "dst", o);
  tree_copy_stats stats;
  const auto err = copy.copy(stats);
  EXPECT_EQ(err.code, ECANCELED);
  EXPECT_NE(err.path.find(tmp.path().string()), std::string::npos) << err.path;
  EXPECT_EQ(seen, std::vector<std::uint64_t>{100});
  EXPECT_EQ(stats.entries, 100u);
  EXPECT_LE(stats.files, 100u);
}

TEST(TreeCopy, AMissingSourceIsENOENTNamingIt) {
  temp_dir tmp;
  tree_copy copy(tmp.path() / "nope", tmp.path() / "dst");
  tree_copy_stats stats;
  const auto err = copy.copy(stats);
  EXPECT_EQ(err.code, ENOENT);
  EXPECT_EQ(err.path, (tmp.path() / "nope").string());
  EXPECT_EQ(err.operation, "open");
  EXPECT_NE(err.message().find("ENOENT"), std::string::npos) << err.message();
  EXPECT_NE(err.message().find(err.path), std::string::npos) << err.message();
  EXPECT_FALSE(fs::exists(tmp.path() / "dst"));
}

TEST(TreeCopy, AnExistingDestinationIsEEXIST) {
  temp_dir tmp;
  fs::create_directory(tmp.path() / "src");
  fs::create_directory(tmp.path() / "dst");
  tree_copy copy(tmp.path() / "src", tmp.path() / "dst");
  tree_copy_stats stats;
  EXPECT_EQ(copy.copy(stats).code, EEXIST);
}

TEST(TreeCopy, UpdateBeforeCopyIsRefused) {
  temp_dir tmp;
  tree_copy copy(tmp.path() / "src", tmp.path() / "dst");
  tree_copy_stats stats;
  EXPECT_EQ(copy.update(stats).code, EINVAL);
}

TEST(TreeCopy, ImmutableTreeRefusesWritesAndRemoveTreeStillRemovesIt) {
  temp_dir tmp;
  build_tree(tmp.path() / "t", false);
  bool supported = false;
  const auto err = set_immutable_tree(tmp.path() / "t", true, &supported);
  ASSERT_FALSE(err) << err.message();
  if (!supported) GTEST_SKIP() << "no FS_IMMUTABLE_FL on /tmp or no CAP_LINUX_IMMUTABLE";
  errno = 0;
  EXPECT_LT(::open((tmp.path() / "t" / "a.txt").c_str(), O_WRONLY), 0);
  EXPECT_EQ(errno, EPERM);
  EXPECT_NE(::unlink((tmp.path() / "t" / "link").c_str()), 0);
  EXPECT_EQ(errno, EPERM);
  EXPECT_NE(::mkdir((tmp.path() / "t" / "sub" / "new").c_str(), 0755), 0);
  EXPECT_EQ(errno, EPERM);
  const auto removed = remove_tree(tmp.path() / "t");
  ASSERT_FALSE(removed) << removed.message();
  EXPECT_FALSE(fs::exists(tmp.path() / "t"));
  EXPECT_FALSE(remove_tree(tmp.path() / "t")) << "a missing tree is success";
}

TEST(TreeCopy, ClearingTheImmutableFlagMakesTheTreeWritableAgain) {
  temp_dir tmp;
  fs::create_directories(tmp.path() / "t" / "d");
  write_file(tmp.path() / "t" / "d" / "f", "x");
  bool supported = false;
  ASSERT_FALSE(set_immutable_tree(tmp.path() / "t", true, &supported));
  if (!supported) GTEST_SKIP() << "no FS_IMMUTABLE_FL on /tmp or no CAP_LINUX_IMMUTABLE";
  ASSERT_FALSE(set_immutable_tree(tmp.path() / "t", false, &supported));
  EXPECT_TRUE(supported);
  const int fd = ::open((tmp.path() / "t" / "d" / "f").c_str(), O_WRONLY);
  EXPECT_GE(fd, 0) << std::strerror(errno);
  if (fd >= 0) ::close(fd);
}

}  // namespace
}  // namespace vss::providers
