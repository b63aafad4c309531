// The btrfs provider on a real, loop-mounted btrfs: read-only snapshots of subvolumes made at
// the commit, several subvolumes in one commit, deletion, abort, vanished sources, refused
// paths, contexts, and recovery after a restart (adopt, discard).

#include "vss/providers/btrfs_provider.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/btrfs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>

#include "support/loop_mount.hpp"
#include "vss/error.hpp"
#include "vss/types.hpp"

namespace vss {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool is_read_only_subvolume(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return false;
  std::uint64_t flags = 0;
  const bool ok = ::ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, &flags) == 0;
  ::close(fd);
  return ok && (flags & BTRFS_SUBVOL_RDONLY) != 0;
}

class BtrfsProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    OPENVSS_LOOP_MOUNT_OR_SKIP(mnt, "btrfs", 256);
    fs_ = std::move(mnt);
    provider_ = make_provider();
  }

  void TearDown() override {
    provider_.reset();  // joins the worker: every queued completion has run
    for (const auto& calls : calls_) EXPECT_EQ(calls->load(), 1) << "a completion ran not once";
  }

  std::unique_ptr<btrfs_provider> make_provider(btrfs_provider_options o = {}) {
    o.id = provider_id_;
    o.log = [this](std::string_view line) {
      std::lock_guard lock(log_mutex_);
      log_ += std::string(line) + "\n";
    };
    return std::make_unique<btrfs_provider>(std::move(o));
  }

  fs::path subvolume(const std::string& name) {
    const fs::path p = fs_->path() / name;
    std::string out;
    EXPECT_EQ(test::run_shell("btrfs subvolume create '" + p.string() + "'", &out), 0) << out;
    return p;
  }

  // Runs one asynchronous step and waits for its completion (30 s at most).
  std::error_code step(const std::function<void(provider::completion)>& start) {
    auto calls = std::make_shared<std::atomic<int>>(0);
    calls_.push_back(calls);
    auto done = std::make_shared<std::promise<std::error_code>>();
    auto result = done->get_future();
    start([calls, done](std::error_code ec) {
      if (calls->fetch_add(1) == 0) done->set_value(ec);
    });
    if (result.wait_for(30s) != std::future_status::ready) {
      ADD_FAILURE() << "step did not complete within 30 s";
      return errc::unexpected;
    }
    return result.get();
  }

  std::vector<snapshot_id> prepare(const std::vector<fs::path>& volumes,
                                   std::uint32_t context = 0) {
    std::vector<snapshot_id> ids;
    for (const auto& v : volumes) {
      ids.push_back(snapshot_id::generate());
      EXPECT_FALSE(provider_->begin_prepare_snapshot(set_, ids.back(), v.string(), context));
    }
    return ids;
  }

  void until_commit() {
    ASSERT_FALSE(step([&](auto d) { provider_->end_prepare_snapshots(set_, d); }));
    ASSERT_FALSE(step([&](auto d) { provider_->pre_commit_snapshots(set_, d); }));
    ASSERT_FALSE(step([&](auto d) { provider_->commit_snapshots(set_, d); }));
  }

  void after_commit(std::int32_t count) {
    ASSERT_FALSE(step([&](auto d) { provider_->post_commit_snapshots(set_, count, d); }));
    ASSERT_FALSE(step([&](auto d) { provider_->pre_final_commit_snapshots(set_, d); }));
    ASSERT_FALSE(step([&](auto d) { provider_->post_final_commit_snapshots(set_, d); }));
  }

  snapshot_properties props(const snapshot_id& id) {
    snapshot_properties p;
    EXPECT_FALSE(provider_->get_snapshot_properties(id, p));
    return p;
  }

  std::unique_ptr<test::loop_mount> fs_;
  provider_id provider_id_ = provider_id::generate();
  std::unique_ptr<btrfs_provider> provider_;
  snapshot_set_id set_ = snapshot_set_id::generate();
  std::vector<std::shared_ptr<std::atomic<int>>> calls_;
  std::mutex log_mutex_;
  std::string log_;
};

TEST_F(BtrfsProviderTest, MakesAReadOnlySnapshotOfASubvolumeAtItsDevice) {
  const auto data = subvolume("data");
  write_file(data / "file", "before");
  const auto ids = prepare({data});
  snapshot_properties p;
  EXPECT_EQ(provider_->get_snapshot_properties(ids[0], p), errc::object_not_found);
  until_commit();
  after_commit(1);

  p = props(ids[0]);
  const fs::path expected = fs_->path() / ".openvss-snapshots" / ids[0].to_string();
  EXPECT_EQ(p.device, expected.string());
  EXPECT_EQ(provider_->snapshot_path(ids[0], data.string()), expected);
  EXPECT_EQ(p.original_volume, data.string());
  EXPECT_EQ(p.state, snapshot_state::created);
  EXPECT_EQ(p.snapshots_count, 1);
  EXPECT_EQ(p.provider, provider_id_);
  EXPECT_TRUE(
      any(static_cast<volume_attributes>(p.attributes) & volume_attributes::exposed_locally));
  EXPECT_EQ(read_file(expected / "file"), "before");
  EXPECT_TRUE(is_read_only_subvolume(expected));
  const int fd = ::open((expected / "new").c_str(), O_WRONLY | O_CREAT, 0644);
  EXPECT_LT(fd, 0);
  EXPECT_EQ(errno, EROFS);
  if (fd >= 0) ::close(fd);
  ASSERT_EQ(provider_->query().size(), 1u);
  EXPECT_EQ(provider_->query()[0].id, ids[0]);
  ASSERT_TRUE(provider_->last_commit_duration(set_).has_value());
  EXPECT_LT(*provider_->last_commit_duration(set_), 10s);
  EXPECT_NE(log_.find("committed in"), std::string::npos) << log_;
  EXPECT_EQ(provider_->last_error(set_), "");
}

TEST_F(BtrfsProviderTest, SnapshotsThreeSubvolumesInOneCommitAsOfTheCommit) {
  const std::vector<fs::path> volumes{subvolume("a"), subvolume("b"), subvolume("c")};
  for (const auto& v : volumes) write_file(v / "old", v.filename().string());
  const auto ids = prepare(volumes);
  ASSERT_FALSE(step([&](auto d) { provider_->end_prepare_snapshots(set_, d); }));
  ASSERT_FALSE(step([&](auto d) { provider_->pre_commit_snapshots(set_, d); }));
  // Written after the syncfs of pre_commit, not synced: the snapshot ioctl flushes it.
  for (const auto& v : volumes) write_file(v / "unsynced", "dirty " + v.filename().string());
  ASSERT_FALSE(step([&](auto d) { provider_->commit_snapshots(set_, d); }));
  for (const auto& v : volumes) write_file(v / "after", "too late");
  after_commit(3);

  for (std::size_t i = 0; i < volumes.size(); ++i) {
    const auto p = props(ids[i]);
    const fs::path snap = p.device;
    EXPECT_EQ(p.snapshots_count, 3);
    EXPECT_TRUE(is_read_only_subvolume(snap)) << snap;
    EXPECT_EQ(read_file(snap / "old"), volumes[i].filename().string());
    EXPECT_EQ(read_file(snap / "unsynced"), "dirty " + volumes[i].filename().string());
    EXPECT_FALSE(fs::exists(snap / "after")) << snap;
    EXPECT_TRUE(fs::exists(volumes[i] / "after"));
  }
  EXPECT_EQ(provider_->query().size(), 3u);
}

TEST_F(BtrfsProviderTest, DeleteRemovesTheSnapshot) {
  const auto data = subvolume("data");
  const auto ids = prepare({data});
  until_commit();
  after_commit(1);
  const fs::path snap = props(ids[0]).device;
  ASSERT_TRUE(fs::exists(snap));

  EXPECT_FALSE(provider_->delete_snapshot(ids[0]));
  EXPECT_FALSE(fs::exists(snap));
  EXPECT_TRUE(provider_->query().empty());
  EXPECT_EQ(provider_->delete_snapshot(ids[0]), errc::object_not_found);
  EXPECT_TRUE(fs::exists(data));
}

TEST_F(BtrfsProviderTest, DeleteOfASnapshotRemovedByHandForgetsIt) {
  const auto ids = prepare({subvolume("data")});
  until_commit();
  after_commit(1);
  std::string out;
  ASSERT_EQ(test::run_shell("btrfs subvolume delete '" + props(ids[0]).device + "'", &out), 0)
      << out;
  EXPECT_FALSE(provider_->delete_snapshot(ids[0]));
  EXPECT_TRUE(provider_->query().empty());
}

TEST_F(BtrfsProviderTest, AbortAfterTheCommitRemovesEverySnapshotOfTheSet) {
  const auto ids = prepare({subvolume("a"), subvolume("b")});
  until_commit();
  const fs::path first = provider_->snapshot_path(ids[0], (fs_->path() / "a").string());
  const fs::path second = provider_->snapshot_path(ids[1], (fs_->path() / "b").string());
  EXPECT_EQ(provider_->delete_snapshot(ids[0]), errc::bad_state);  // not created yet
  ASSERT_TRUE(fs::exists(first));
  ASSERT_TRUE(fs::exists(second));

  EXPECT_FALSE(step([&](auto d) { provider_->abort_snapshots(set_, d); }));
  EXPECT_FALSE(fs::exists(first));
  EXPECT_FALSE(fs::exists(second));
  EXPECT_TRUE(provider_->query().empty());
  snapshot_properties p;
  EXPECT_EQ(provider_->get_snapshot_properties(ids[0], p), errc::object_not_found);
}

TEST_F(BtrfsProviderTest, AbortBeforeTheCommitLeavesNothing) {
  const auto ids = prepare({subvolume("a")});
  ASSERT_FALSE(step([&](auto d) { provider_->end_prepare_snapshots(set_, d); }));
  EXPECT_FALSE(step([&](auto d) { provider_->abort_snapshots(set_, d); }));
  EXPECT_TRUE(fs::is_empty(fs_->path() / ".openvss-snapshots"));
  EXPECT_EQ(step([&](auto d) { provider_->pre_commit_snapshots(set_, d); }), errc::bad_state);
}

TEST_F(BtrfsProviderTest, ASubvolumeThatVanishedBeforeTheCommitIsObjectNotFound) {
  const std::vector<fs::path> volumes{subvolume("a"), subvolume("b"), subvolume("c")};
  prepare(volumes);
  ASSERT_FALSE(step([&](auto d) { provider_->end_prepare_snapshots(set_, d); }));
  ASSERT_FALSE(step([&](auto d) { provider_->pre_commit_snapshots(set_, d); }));
  std::string out;
  ASSERT_EQ(test::run_shell("btrfs subvolume delete '" + volumes[1].string() + "'", &out), 0)
      << out;

  EXPECT_EQ(step([&](auto d) { provider_->commit_snapshots(set_, d); }), errc::object_not_found);
  EXPECT_TRUE(fs::is_empty(fs_->path() / ".openvss-snapshots"));
  EXPECT_NE(provider_->last_error(set_).find(volumes[1].string()), std::string::npos)
      << provider_->last_error(set_);
  EXPECT_FALSE(step([&](auto d) { provider_->abort_snapshots(set_, d); }));
}

TEST_F(BtrfsProviderTest, AFailedSecondSnapshotRemovesTheFirst) {
  const std::vector<fs::path> volumes{subvolume("a"), subvolume("b"), subvolume("c")};
  const auto ids = prepare(volumes);
  ASSERT_FALSE(step([&](auto d) { provider_->end_prepare_snapshots(set_, d); }));
  ASSERT_FALSE(step([&](auto d) { provider_->pre_commit_snapshots(set_, d); }));
  // Something already in the place of the 2nd snapshot: its ioctl fails with EEXIST.
  const fs::path blocker = provider_->snapshot_path(ids[1], volumes[1].string());
  fs::create_directory(blocker);

  EXPECT_EQ(step([&](auto d) { provider_->commit_snapshots(set_, d); }), errc::provider_veto);
  EXPECT_FALSE(fs::exists(provider_->snapshot_path(ids[0], volumes[0].string())));
  EXPECT_FALSE(fs::exists(provider_->snapshot_path(ids[2], volumes[2].string())));
  EXPECT_TRUE(fs::exists(blocker));  // not the provider's: left alone
  EXPECT_NE(provider_->last_error(set_).find("EEXIST"), std::string::npos)
      << provider_->last_error(set_);
  EXPECT_TRUE(provider_->query().empty());
}

TEST_F(BtrfsProviderTest, PathsThatAreNotSubvolumesAreRefused) {
  const fs::path plain = fs_->path() / "plain";
  fs::create_directory(plain);
  char tmpl[] = "/tmp/openvss-not-btrfs-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const fs::path elsewhere = tmpl;

  for (const fs::path& p : {plain, elsewhere, fs_->path() / "missing"}) {
    EXPECT_FALSE(provider_->is_volume_supported(p.string())) << p;
    EXPECT_EQ(provider_->begin_prepare_snapshot(set_, snapshot_id::generate(), p.string(), 0),
              errc::volume_not_supported_by_provider)
        << p;
  }
  EXPECT_FALSE(provider_->is_volume_supported(""));
  EXPECT_TRUE(provider_->is_volume_supported(subvolume("data").string()));
  fs::remove(elsewhere);
}

// A btrfs snapshot itself still succeeds on a full filesystem (it may use the global
// reserve), so the full filesystem is met where the provider first writes: its directory.
TEST_F(BtrfsProviderTest, AFullFilesystemIsInsufficientStorage) {
  const auto data = subvolume("data");
  provider_ = make_provider({.snapshot_dir = (fs_->path() / "snaps").string()});
  prepare({data});
  {
    std::ofstream big(data / "big", std::ios::binary);
    const std::string block(1 << 20, 'x');
    for (int i = 0; i < 512 && big.write(block.data(), block.size()); ++i) {
    }
  }
  ::sync();
  // Then fill the metadata with empty files of long names, until the kernel says ENOSPC.
  const std::string pad(200, 'p');
  int err = 0;
  for (int i = 0; i < 200000 && err == 0; ++i) {
    const auto name = data / (std::to_string(i) + pad);
    const int fd = ::open(name.c_str(), O_CREAT | O_WRONLY, 0644);
    if (fd < 0) err = errno;
    if (fd >= 0) ::close(fd);
  }
  ASSERT_EQ(err, ENOSPC);
  EXPECT_EQ(step([&](auto d) { provider_->end_prepare_snapshots(set_, d); }),
            errc::insufficient_storage);
  EXPECT_NE(provider_->last_error(set_).find("ENOSPC"), std::string::npos)
      << provider_->last_error(set_);
}

TEST_F(BtrfsProviderTest, ASnapshotDirectoryOnAnotherFilesystemIsNotSupported) {
  char tmpl[] = "/tmp/openvss-snapdir-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  provider_ = make_provider({.snapshot_dir = tmpl});
  prepare({subvolume("data")});
  EXPECT_EQ(step([&](auto d) { provider_->end_prepare_snapshots(set_, d); }),
            errc::volume_not_supported_by_provider);
  EXPECT_NE(provider_->last_error(set_).find(tmpl), std::string::npos);
  EXPECT_FALSE(step([&](auto d) { provider_->abort_snapshots(set_, d); }));
  fs::remove_all(tmpl);
}

TEST_F(BtrfsProviderTest, AMissingSnapshotDirectoryIsCreated) {
  const fs::path dir = fs_->path() / "snaps" / "nested";
  provider_ = make_provider({.snapshot_dir = dir.string()});
  const auto ids = prepare({subvolume("data")});
  until_commit();
  after_commit(1);
  EXPECT_EQ(props(ids[0]).device, (dir / ids[0].to_string()).string());
  EXPECT_TRUE(is_read_only_subvolume(dir / ids[0].to_string()));
}

TEST_F(BtrfsProviderTest, TheRootOfTheMountIsSnapshottedIntoItself) {
  write_file(fs_->path() / "top", "level");
  const auto ids = prepare({fs_->path()});
  until_commit();
  after_commit(1);
  const fs::path expected = fs_->path() / ".openvss-snapshots" / ids[0].to_string();
  EXPECT_EQ(props(ids[0]).device, expected.string());
  EXPECT_EQ(read_file(expected / "top"), "level");
}

TEST_F(BtrfsProviderTest, PersistentAndAutoReleaseContextsAreRecordedInTheAttributes) {
  const auto data = subvolume("data");
  const auto ids = prepare({data}, to_raw(snapshot_context::app_rollback));
  until_commit();
  after_commit(1);
  EXPECT_TRUE(context_is_persistent(props(ids[0]).attributes));
  EXPECT_FALSE(context_auto_release(props(ids[0]).attributes));

  set_ = snapshot_set_id::generate();
  const auto more = prepare({data}, to_raw(snapshot_context::backup));
  until_commit();
  after_commit(1);
  EXPECT_FALSE(context_is_persistent(props(more[0]).attributes));
  EXPECT_TRUE(context_auto_release(props(more[0]).attributes));
  EXPECT_EQ(context_base(props(more[0]).attributes) &
                ~static_cast<std::uint32_t>(volume_attributes::exposed_locally),
            to_raw(snapshot_context::backup));
}

TEST_F(BtrfsProviderTest, APlexContextIsRefused) {
  const auto ctx =
      to_raw(snapshot_context::backup) | static_cast<std::uint32_t>(volume_attributes::plex);
  EXPECT_EQ(provider_->begin_prepare_snapshot(set_, snapshot_id::generate(),
                                              subvolume("data").string(), ctx),
            errc::volume_not_supported_by_provider);
}

TEST_F(BtrfsProviderTest, TheSameVolumeOrIdTwiceInOneSetIsRefused) {
  const auto data = subvolume("data");
  const auto ids = prepare({data});
  EXPECT_EQ(
      provider_->begin_prepare_snapshot(set_, snapshot_id::generate(), data.string() + "/", 0),
      errc::object_already_exists);
  EXPECT_EQ(provider_->begin_prepare_snapshot(set_, ids[0], subvolume("other").string(), 0),
            errc::object_already_exists);
}

TEST_F(BtrfsProviderTest, StepsOutOfOrderAreBadState) {
  prepare({subvolume("data")});
  EXPECT_EQ(step([&](auto d) { provider_->commit_snapshots(set_, d); }), errc::bad_state);
  EXPECT_EQ(step([&](auto d) { provider_->end_prepare_snapshots(snapshot_set_id::generate(), d); }),
            errc::bad_state);
}

TEST_F(BtrfsProviderTest, HoldsNoFilesystemAroundTheCommit) {
  prepare({subvolume("data")});
  EXPECT_TRUE(provider_->flush_and_hold_paths(set_).empty());
}

TEST_F(BtrfsProviderTest, ANewProviderObjectAdoptsASnapshotFromItsProperties) {
  const auto data = subvolume("data");
  const auto ids = prepare({data});
  until_commit();
  after_commit(1);
  const auto saved = props(ids[0]);
  provider_ = make_provider();  // a restart: nothing in memory
  EXPECT_TRUE(provider_->query().empty());

  auto wrong = saved;
  wrong.device = (fs_->path() / "elsewhere" / ids[0].to_string()).string();
  EXPECT_EQ(provider_->adopt_snapshot(wrong), errc::object_not_found);
  auto no_volume = saved;
  no_volume.original_volume.clear();
  EXPECT_EQ(provider_->adopt_snapshot(no_volume), errc::invalid_arg);
  auto missing = saved;
  missing.id = snapshot_id::generate();
  missing.device = provider_->snapshot_path(missing.id, data.string()).string();
  EXPECT_EQ(provider_->adopt_snapshot(missing), errc::object_not_found);

  ASSERT_FALSE(provider_->adopt_snapshot(saved));
  EXPECT_FALSE(provider_->adopt_snapshot(saved));  // idempotent
  ASSERT_EQ(provider_->query().size(), 1u);
  const auto p = props(ids[0]);
  EXPECT_EQ(p.device, saved.device);
  EXPECT_EQ(p.state, snapshot_state::created);
  EXPECT_EQ(p.attributes, saved.attributes);
  EXPECT_FALSE(provider_->delete_snapshot(ids[0]));
  EXPECT_FALSE(fs::exists(saved.device));
}

TEST_F(BtrfsProviderTest, AWritableSubvolumeIsNotAdopted) {
  const auto data = subvolume("data");
  const auto id = snapshot_id::generate();
  const fs::path path = provider_->snapshot_path(id, data.string());
  fs::create_directories(path.parent_path());
  std::string out;
  ASSERT_EQ(test::run_shell(
                "btrfs subvolume snapshot '" + data.string() + "' '" + path.string() + "'", &out),
            0)
      << out;
  snapshot_properties p;
  p.id = id;
  p.set_id = set_;
  p.original_volume = data.string();
  p.device = path.string();
  EXPECT_EQ(provider_->adopt_snapshot(p), errc::object_not_found);
}

TEST_F(BtrfsProviderTest, DiscardRemovesALeftoverSnapshotAndIsIdempotent) {
  const auto data = subvolume("data");
  const auto id = snapshot_id::generate();
  const fs::path leftover = provider_->snapshot_path(id, data.string());
  fs::create_directories(leftover.parent_path());
  std::string out;
  ASSERT_EQ(
      test::run_shell(
          "btrfs subvolume snapshot -r '" + data.string() + "' '" + leftover.string() + "'", &out),
      0)
      << out;
  ASSERT_TRUE(is_read_only_subvolume(leftover));

  EXPECT_FALSE(provider_->discard_snapshot(id, data.string()));
  EXPECT_FALSE(fs::exists(leftover));
  EXPECT_FALSE(provider_->discard_snapshot(id, data.string()));
  EXPECT_TRUE(fs::exists(data));
}

TEST_F(BtrfsProviderTest, DiscardLeavesAPlainDirectoryInThePlaceOfASnapshotAlone) {
  const auto data = subvolume("data");
  const auto id = snapshot_id::generate();
  const fs::path path = provider_->snapshot_path(id, data.string());
  fs::create_directories(path);
  EXPECT_EQ(provider_->discard_snapshot(id, data.string()), errc::provider_veto);
  EXPECT_TRUE(fs::exists(path));
}

TEST_F(BtrfsProviderTest, DiscardLeavesASnapshotThisObjectStillKnows) {
  const auto data = subvolume("data");
  const auto ids = prepare({data});
  until_commit();
  after_commit(1);
  EXPECT_EQ(provider_->discard_snapshot(ids[0], data.string()), errc::bad_state);
  EXPECT_EQ(provider_->query().size(), 1u);
  EXPECT_TRUE(is_read_only_subvolume(provider_->snapshot_path(ids[0], data.string())));
}

}  // namespace
}  // namespace vss
