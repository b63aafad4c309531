// End to end on a loop-mounted btrfs image (issue 6): openvssd with a real provider, the SQLite
// writer (openvss-sqlite-writer) and an application committing transactions as fast as it can
// (openvss-sqlite-inserter), as separate processes.
//
// 1. A hundred persistent backups, about half of them aborted at a random phase or after a
//    short random delay (seeded; the seed is printed). Every completed snapshot is a read-only
//    subvolume whose database passes openvss-sqlite-verify (PRAGMA integrity_check, checksums,
//    no torn transaction, no WAL) and holds every transaction committed before its backup
//    started, and none committed after it ended. Every aborted backup leaves no subvolume, no
//    file, no listed snapshot and no catalog set in creation. The database is never left
//    frozen: the inserter commits again after each backup. The inserter is paused (SIGSTOP)
//    while a snapshot is verified, never while a backup runs: the database then grows only
//    during backups, which bounds the verification time and the disk use.
// 2. openvssd killed with SIGKILL while the (command) provider is inside CommitSnapshots: the
//    writer's lease thaws the database, the create command left running finishes, and the
//    restarted daemon's recovery removes what it made (catalog.md, recovery.md).
//
// Environment: OPENVSS_CONSISTENCY_SEED (repeat a run), OPENVSS_CONSISTENCY_BACKUPS (default
// 100). Needs root and loop devices (skips otherwise, fails under OPENVSS_REQUIRE_MOUNTS).
// Every wait is bounded; a failing test kills its processes and the image is unmounted.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/btrfs.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "integration/process_harness.hpp"
#include "support/loop_mount.hpp"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;
using vss::testing::child_process;
using vss::testing::eventually;
using vss::testing::raw_client;
using vss::testing::read_file;

// The sqlite writer's freeze timeout: its watchdog and its lease end a freeze after this long.
constexpr auto freeze_timeout = 4000ms;
// Longest any single CLI command may take before the test gives up on it.
constexpr auto command_timeout = 60s;

using steady = std::chrono::steady_clock;

std::int64_t ms_since(steady::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count();
}

std::string tail(const std::string& text, std::size_t n = 3000) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

// A program with stdout and stderr in separate files (the CLI's --json document is on stdout,
// its progress frames on stderr), in a process group of its own. Killed with its group and
// reaped on destruction if still running.
class spawned {
 public:
  spawned(const std::vector<std::string>& argv, const fs::path& out, const fs::path& err) {
    std::vector<char*> args;  // built before fork: the child only makes async-signal-safe calls
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (o < 0 || e < 0) ::_exit(126);
      ::dup2(o, 1);
      ::dup2(e, 2);
      ::close(o);
      ::close(e);
      ::setpgid(0, 0);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  spawned(const spawned&) = delete;
  spawned& operator=(const spawned&) = delete;
  ~spawned() {
    if (pid_ > 0 && !status_) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
  }

  // The exit status (128 + signal when killed), or nullopt if still running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    if (status_ || pid_ <= 0) return status_;
    const auto deadline = steady::now() + timeout;
    for (;;) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return status_;
      }
      if (steady::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(5ms);
    }
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

struct program_result {
  int status = -1;  // -1: timed out (killed)
  std::string out;
  std::string err;
  json doc;  // stdout parsed as JSON (discarded when it is not)

  std::string describe() const {
    return "exit status " + std::to_string(status) + "\nstdout:\n" + tail(out) + "\nstderr:\n" +
           tail(err);
  }
};

// The last id in the inserter's committed log: every id it wrote was committed (it writes
// each one with a single write() after COMMIT returned). 0 while the log is empty.
std::int64_t committed_max(const fs::path& log) {
  const int fd = ::open(log.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  const off_t size = ::lseek(fd, 0, SEEK_END);
  const off_t from = std::max<off_t>(0, size - 64);
  std::string buf(static_cast<std::size_t>(size - from), '\0');
  const auto n = ::pread(fd, buf.data(), buf.size(), from);
  ::close(fd);
  if (n <= 0) return 0;
  buf.resize(static_cast<std::size_t>(n));
  const auto end = buf.rfind('\n');  // the last complete line ends here
  if (end == std::string::npos) return 0;
  const auto before = end == 0 ? std::string::npos : buf.rfind('\n', end - 1);
  const auto begin = before == std::string::npos ? 0 : before + 1;
  const auto line = buf.substr(begin, end - begin);
  try {
    return std::stoll(line);
  } catch (...) {
    return 0;
  }
}

// A btrfs subvolume root (inode 256) with the read-only flag.
bool is_read_only_subvolume(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_ino != 256) return false;
  const int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  __u64 flags = 0;
  const bool ok = ::ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, &flags) == 0;
  ::close(fd);
  return ok && (flags & BTRFS_SUBVOL_RDONLY) != 0;
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::optional<std::uint64_t> env_number(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  try {
    return std::stoull(v);
  } catch (...) {
    return std::nullopt;
  }
}

class Consistency : public ::testing::Test {
 protected:
  void SetUp() override {
    OPENVSS_LOOP_MOUNT_OR_SKIP(image, "btrfs", 512);
    mount_ = std::move(image);
    char tmpl[] = "/tmp/openvss-consistency-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = (dir_ / "openvss.sock").string();
    data_ = mount_->path() / "data";
    snaps_ = mount_->path() / "snaps";
    db_ = data_ / "app.db";
    committed_ = dir_ / "committed.log";
    std::string out;
    ASSERT_EQ(vss::test::run_shell("btrfs subvolume create '" + data_.string() + "'", &out), 0)
        << out;
    fs::create_directories(snaps_);
  }

  void TearDown() override {
    // Polite stops first (a frozen database is released by its writer on SIGTERM); whatever
    // does not stop within the bound is killed by child_process's destructor.
    inserter_.signal(SIGCONT);
    for (auto* p : {&inserter_, &writer_, &daemon_}) p->signal(SIGTERM);
    for (auto* p : {&inserter_, &writer_, &daemon_}) (void)p->wait(10s);
    inserter_ = {};
    writer_ = {};
    daemon_ = {};
    if (dir_.empty()) return;
    // Under the sanitizer presets every program is instrumented; a report anywhere fails.
    for (const auto& entry : fs::directory_iterator(dir_)) {
      if (!entry.is_regular_file() || entry.path() == committed_) continue;
      const auto text = read_file(entry.path());
      for (const char* report : {"WARNING: ThreadSanitizer", "ERROR: AddressSanitizer",
                                 "ERROR: LeakSanitizer", "runtime error:"}) {
        if (text.find(report) != std::string::npos) {
          ADD_FAILURE() << entry.path().filename() << " has a sanitizer report:\n" << tail(text);
          break;
        }
      }
    }
    std::error_code ec;
    if (HasFailure()) {
      std::cout << "[ consistency ] logs kept in " << dir_ << "\n";
    } else {
      fs::remove_all(dir_, ec);
    }
  }

  void write_config(const std::string& providers_part) {
    std::ofstream(dir_ / "openvssd.conf") << "socket_path = " << socket_ << "\n"
                                          << "requester_uids = " << ::getuid() << "\n"
                                          << "writer_uids = " << ::getuid() << "\n"
                                          << "heartbeat_ms = 200\nlog_level = info\n"
                                          << "state_dir = " << (dir_ / "state").string() << "\n"
                                          << providers_part;
  }

  void start_daemon() {
    daemon_ = child_process({OPENVSSD_PATH, "--config", (dir_ / "openvssd.conf").string()},
                            (dir_ / "daemon.log").string());
    ASSERT_TRUE(eventually([&] { return raw_client(socket_).connected(); }, 15s))
        << tail(read_file(dir_ / "daemon.log"));
  }

  void start_inserter() {
    inserter_ =
        child_process({OPENVSS_SQLITE_INSERTER_PATH, "--database", db_.string(), "--committed-log",
                       committed_.string(), "--until-file", (dir_ / "stop-inserter").string(),
                       // 1..8 rows per transaction: as many commits as with the
                       // default 16, half the data to verify.
                       "--max-rows-per-tx", "8"},
                      (dir_ / "inserter.out").string());
    ASSERT_TRUE(eventually([&] { return committed() > 0; }, 15s))
        << tail(read_file(dir_ / "inserter.out"));
  }

  void start_writer() {
    writer_ =
        child_process({OPENVSS_SQLITE_WRITER_PATH, "--socket", socket_, "--database", db_.string(),
                       "--freeze-timeout-ms", std::to_string(freeze_timeout.count()), "--log",
                       (dir_ / "writer.log").string()},
                      (dir_ / "writer.out").string());
    wait_for_writer();
  }

  bool writer_listed() {
    const auto r = cli({"writers"}, 10s);
    if (r.status != 0 || !r.doc.is_object()) return false;
    for (const auto& w : r.doc.value("result", json::object()).value("writers", json::array())) {
      if (w.value("name", "") == "sqlite") return true;
    }
    return false;
  }

  void wait_for_writer() {
    ASSERT_TRUE(eventually([&] { return writer_listed(); }, 20s))
        << "the sqlite writer is not listed by `openvss writers`\nwriter log:\n"
        << tail(read_file(dir_ / "writer.log")) << "\ndaemon log:\n"
        << tail(read_file(dir_ / "daemon.log"));
  }

  // Stops the inserter the way it is meant to be stopped; returns its closing summary line.
  std::string stop_inserter() {
    inserter_.signal(SIGCONT);
    std::ofstream(dir_ / "stop-inserter") << "stop\n";
    const auto status = inserter_.wait(15s);
    EXPECT_EQ(status, std::optional<int>(0)) << "the inserter did not stop cleanly\n"
                                             << tail(read_file(dir_ / "inserter.out"));
    std::istringstream in(read_file(dir_ / "inserter.out"));
    std::string line, summary;
    while (std::getline(in, line)) {
      if (line.find("transactions,") != std::string::npos) summary = line;
    }
    return summary;
  }

  std::int64_t committed() const { return committed_max(committed_); }

  program_result run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    program_result r;
    const auto out = dir_ / "last-command.out";
    const auto err = dir_ / "last-command.err";
    {
      spawned p(argv, out, err);
      r.status = p.wait(timeout).value_or(-1);
    }
    r.out = read_file(out);
    r.err = read_file(err);
    r.doc = json::parse(r.out, nullptr, false);
    return r;
  }

  program_result cli(std::vector<std::string> args,
                     std::chrono::milliseconds timeout = command_timeout) {
    std::vector<std::string> argv{OPENVSS_CLI_PATH, "--socket", socket_, "--json"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, timeout);
  }

  std::vector<std::string> backup_args() const {
    return {"backup", "-v", data_.string(), "--persistent"};
  }

  // The catalog part of `openvss --json status`.
  json catalog_status() {
    const auto r = cli({"status"}, 20s);
    EXPECT_EQ(r.status, 0) << r.describe();
    if (!r.doc.is_object()) return json::object();
    return r.doc.value("result", json::object()).value("catalog", json::object());
  }

  // The snapshots `openvss snapshots` lists, as "set snapshot-id" strings.
  std::vector<std::string> listed_snapshots() {
    const auto r = cli({"snapshots"}, 20s);
    EXPECT_EQ(r.status, 0) << r.describe();
    std::vector<std::string> out;
    if (!r.doc.is_object()) return out;
    for (const auto& s : r.doc.value("result", json::object()).value("snapshots", json::array())) {
      out.push_back(s.value("set", "?") + " " + s.value("id", "?"));
    }
    return out;
  }

  // Waits until the inserter commits a transaction it had not committed when called: the
  // database is not frozen (any more). Returns the committed max then; fails after the freeze
  // timeout plus a margin.
  std::int64_t wait_for_progress(const char* after) {
    const auto before = committed();
    const auto t0 = steady::now();
    const bool moved = eventually([&] { return committed() > before; }, freeze_timeout + 3s);
    EXPECT_TRUE(moved) << "no transaction committed within " << ms_since(t0) << " ms after "
                       << after << " (committed max stays " << before
                       << "): the database stayed frozen\nwriter log:\n"
                       << tail(read_file(dir_ / "writer.log"));
    return committed();
  }

  // openvss-sqlite-verify on a snapshot's database. The snapshot must hold every transaction
  // committed before its backup started (min_id) and none committed after it ended (max_id).
  void verify_snapshot(const fs::path& device, std::int64_t min_id, std::int64_t max_id,
                       std::int64_t* rows = nullptr) {
    const auto r = run({OPENVSS_SQLITE_VERIFY_PATH, (device / "app.db").string(), "--min-id",
                        std::to_string(min_id), "--max-id", std::to_string(max_id)},
                       command_timeout);
    ASSERT_EQ(r.status, 0) << "snapshot " << device << " is not a consistent prefix "
                           << "(committed before the backup: " << min_id << ", after it: " << max_id
                           << ")\n"
                           << r.describe();
    ASSERT_TRUE(r.doc.is_object()) << r.describe();
    EXPECT_TRUE(r.doc.value("ok", false)) << r.out;
    const auto max = r.doc.value("max_id", std::int64_t{-1});
    EXPECT_GE(max, min_id) << r.out;
    EXPECT_LE(max, max_id) << r.out;
    EXPECT_EQ(r.doc.value("wal_bytes", std::int64_t{-1}), 0) << r.out;
    if (rows) *rows = r.doc.value("rows", std::int64_t{0});
  }

  // The created snapshot of a backup result: a read-only subvolume in `dir` holding a
  // consistent prefix. Returns its set id.
  void check_snapshot(const json& result, const fs::path& dir, std::int64_t min_id,
                      std::int64_t max_id, std::string& set) {
    ASSERT_TRUE(result.is_object());
    EXPECT_EQ(result.value("consistency", ""), "application") << result.dump();
    EXPECT_TRUE(result.value("persistent", false)) << result.dump();
    const auto snapshots = result.value("snapshots", json::array());
    ASSERT_EQ(snapshots.size(), 1u) << result.dump();
    const auto& s = snapshots[0];
    EXPECT_EQ(s.value("state", ""), "VSS_SS_CREATED") << s.dump();
    EXPECT_EQ(s.value("volume", ""), data_.string()) << s.dump();
    set = result.value("set", "");
    ASSERT_FALSE(set.empty()) << result.dump();
    const fs::path device = s.value("device", "");
    ASSERT_EQ(device.parent_path(), dir) << s.dump();
    ASSERT_TRUE(is_read_only_subvolume(device)) << device << " is not a read-only subvolume";
    // The inserter is paused while the snapshot is read, so that the database (and every
    // verification after this one) grows only while backups run: that bounds the run time
    // and the disk use. Backups themselves always run against the live inserter.
    inserter_.signal(SIGSTOP);
    verify_snapshot(device, min_id, max_id);
    inserter_.signal(SIGCONT);
  }

  // `openvss delete --set` removes the set's only snapshot, subvolume included.
  void delete_set(const std::string& set, const fs::path& device) {
    const auto r = cli({"delete", "--set", set});
    ASSERT_EQ(r.status, 0) << r.describe();
    EXPECT_EQ(r.doc.value("result", json::object()).value("deleted", -1), 1) << r.out;
    EXPECT_FALSE(fs::exists(device)) << device << " is still there after delete --set";
  }

  std::unique_ptr<vss::test::loop_mount> mount_;  // declared first: unmounted last
  fs::path dir_;                                  // config, state_dir, logs (not on the image)
  std::string socket_;
  fs::path data_, snaps_, db_, committed_;
  child_process daemon_;
  child_process inserter_;
  child_process writer_;
};

TEST_F(Consistency, EveryCompletedSnapshotIsAConsistentPrefixAndEveryAbortLeavesNothing) {
  write_config("providers = btrfs\nbtrfs_snapshot_dir = " + snaps_.string() + "\n");
  ASSERT_NO_FATAL_FAILURE(start_daemon());
  ASSERT_NO_FATAL_FAILURE(start_inserter());
  ASSERT_NO_FATAL_FAILURE(start_writer());

  const auto backups = env_number("OPENVSS_CONSISTENCY_BACKUPS").value_or(100);
  const auto seed = env_number("OPENVSS_CONSISTENCY_SEED").value_or(std::random_device{}());
  std::cout << "[ consistency ] seed " << seed << ", " << backups
            << " backups (OPENVSS_CONSISTENCY_SEED=" << seed << " repeats this run)\n";
  RecordProperty("seed", std::to_string(seed));

  // Half the backups get an abort: two thirds of those at a phase, every phase in turn, and
  // one third after 1..60 ms (a backup takes about 50-100 ms: most of these fire, and one that
  // comes too late lets its backup complete, which is then checked as completed).
  // backup_complete is not among the phases: an abort after DoSnapshotSet returned keeps a
  // persistent set (spec §3, CHOICE), so it aborts no creation; a delay that lands there is
  // handled below.
  const std::vector<std::string> phases{"identify", "prepare_backup", "prepare_snapshot", "freeze",
                                        "thaw",     "post_snapshot",  "do_snapshot_set"};
  std::mt19937_64 rng(seed);
  std::vector<std::string> plan(backups);
  for (std::uint64_t i = 0; i < backups / 2; ++i) {
    plan[i] = i % 3 == 2 ? std::to_string(1 + rng() % 60) + "ms" : phases[(i - i / 3) % 7];
  }
  for (std::size_t i = plan.size(); i > 1; --i) std::swap(plan[i - 1], plan[rng() % i]);

  int completed = 0, aborted = 0, late_aborts = 0, delays_too_late = 0;
  std::map<std::string, int> aborted_at;
  const auto first_id = committed();
  const auto t_start = steady::now();
  std::int64_t verify_ms = 0;

  for (std::size_t i = 0; i < plan.size(); ++i) {
    const auto& abort = plan[i];
    SCOPED_TRACE("backup " + std::to_string(i) + " of " + std::to_string(plan.size()) +
                 (abort.empty() ? "" : ", --abort-after " + abort) + ", seed " +
                 std::to_string(seed));
    auto args = backup_args();
    if (!abort.empty()) args.insert(args.end(), {"--abort-after", abort});

    const auto min_id = committed();  // committed before the backup started
    const auto r = cli(args);
    ASSERT_NE(r.status, -1) << "the backup did not end within the bound\n" << r.describe();
    ASSERT_TRUE(r.doc.is_object()) << r.describe();
    // Also makes sure every transaction committed before the backup ended is in the log.
    const auto max_id = wait_for_progress("the backup");
    if (HasFailure()) break;
    const auto result = r.doc.value("result", json::object());

    if (r.status == 0) {
      ++completed;
      if (!abort.empty()) ++delays_too_late;
      EXPECT_TRUE(abort.empty() || abort.ends_with("ms"))
          << "an abort at phase " << abort << " did not abort\n"
          << r.describe();
      std::string set;
      const auto t0 = steady::now();
      ASSERT_NO_FATAL_FAILURE(check_snapshot(result, snaps_, min_id, max_id, set));
      verify_ms += ms_since(t0);
      ASSERT_NO_FATAL_FAILURE(delete_set(set, result["snapshots"][0].value("device", "")));
    } else {
      ASSERT_EQ(r.status, 5) << "neither completed nor aborted\n" << r.describe();
      ASSERT_FALSE(abort.empty()) << "aborted without an abort requested\n" << r.describe();
      EXPECT_EQ(r.doc.value("exit_code", -1), 5) << r.out;
      EXPECT_EQ(r.doc.value("error", json::object()).value("hresult", ""), "VSS_S_ASYNC_CANCELLED")
          << r.out;
      EXPECT_TRUE(result.contains("abort") && result["abort"].value("fired", false)) << r.out;
      if (result.value("snapshots", json::array()).empty()) {
        ++aborted;
        ++aborted_at[abort.ends_with("ms") ? "after a delay" : abort];
      } else {
        // A delay that fired after DoSnapshotSet returned: the persistent set exists and
        // stays (spec §3). It must be as good as a completed one; then it is deleted.
        ++late_aborts;
        std::cout << "[ consistency ] backup " << i << ": --abort-after " << abort
                  << " fired after DoSnapshotSet; the persistent snapshot stays\n";
        std::string set;
        ASSERT_NO_FATAL_FAILURE(check_snapshot(result, snaps_, min_id, max_id, set));
        ASSERT_NO_FATAL_FAILURE(delete_set(set, result["snapshots"][0].value("device", "")));
      }
    }

    // Whatever the outcome: nothing left on disk, nothing listed, nothing in creation.
    ASSERT_EQ(entries(snaps_), std::vector<std::string>{}) << "left in " << snaps_;
    ASSERT_EQ(listed_snapshots(), std::vector<std::string>{});
    const auto sets = catalog_status().value("sets", json::object());
    ASSERT_EQ(sets.value("creating", -1), 0) << sets.dump();
    ASSERT_EQ(sets.value("committed", -1), 0) << sets.dump();
    ASSERT_EQ(sets.value("completed", -1), 0) << sets.dump();  // every completed set deleted
    if (HasFailure()) break;
  }

  const auto last_id = committed();
  const auto elapsed = ms_since(t_start);
  const auto summary = stop_inserter();
  std::cout << "[ consistency ] " << plan.size() << " backups in " << elapsed
            << " ms: " << completed << " completed (" << delays_too_late
            << " of them with a delay that came too late), " << aborted << " aborted, "
            << late_aborts
            << " aborted after DoSnapshotSet; rows committed during the run: " << last_id - first_id
            << " (last id " << last_id << "); verification " << verify_ms
            << " ms\n[ consistency ] aborted at:";
  for (const auto& [where, n] : aborted_at) std::cout << " " << where << "=" << n;
  std::cout << "\n[ consistency ] inserter: " << summary << "\n";
  if (HasFailure()) return;

  // Not vacuous: enough of each outcome (30 of each with the default 100 backups).
  const int min_each = static_cast<int>(backups * 3 / 10);
  EXPECT_GE(completed, min_each);
  EXPECT_GE(aborted, min_each);
  EXPECT_GT(last_id, first_id);
  const auto sets = catalog_status().value("sets", json::object());
  // A set aborted after DoSnapshotSet is recorded aborted today (see the disabled test below),
  // so it is not counted as deleted; it will be once the catalog keeps it.
  EXPECT_GE(sets.value("deleted", -1), completed) << sets.dump();
  EXPECT_LE(sets.value("deleted", -1), completed + late_aborts) << sets.dump();
  const auto log = read_file(dir_ / "daemon.log");
  EXPECT_EQ(log.find("event=8314"), std::string::npos) << "catalog errors:\n" << tail(log);
}

TEST_F(Consistency, ADaemonKilledInsideACommitIsRecoveredAndWhatTheCommitMadeIsRemoved) {
  // A command provider around `btrfs subvolume snapshot`, slow enough to be killed inside:
  // create marks its start, takes 2 s, then snapshots and marks its end. It runs in a process
  // group of its own, so it outlives the daemon, as a real snapshot tool would.
  const auto markers = dir_ / "markers";
  fs::create_directories(markers);
  const auto snap = snaps_.string() + "/{name}";
  std::ostringstream config;
  config << "providers = command\n"
         << "command_create = touch " << (markers / "started-{name}").string()
         << "; sleep 2; btrfs subvolume snapshot -r {volume} " << snap
         << " >/dev/null || exit 1; touch " << (markers / "done-{name}").string()
         << "\n"
         // Exit 2 (ENOENT): already gone, which counts as removed (providers.md).
         << "command_remove = [ -e " << snap << " ] || exit 2; btrfs subvolume delete " << snap
         << " >/dev/null\n"
         << "command_list = ls " << snaps_.string() << "\n"
         << "command_device = " << snap << "\n";
  write_config(config.str());
  ASSERT_NO_FATAL_FAILURE(start_daemon());
  ASSERT_NO_FATAL_FAILURE(start_inserter());
  ASSERT_NO_FATAL_FAILURE(start_writer());

  std::vector<std::string> argv{OPENVSS_CLI_PATH, "--socket", socket_, "--json"};
  for (const auto& a : backup_args()) argv.push_back(a);
  spawned backup(argv, dir_ / "killed-backup.out", dir_ / "killed-backup.err");

  // Inside CommitSnapshots: the create command has started, the database is frozen.
  std::string name;
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& e : entries(markers)) {
          if (e.starts_with("started-")) name = e.substr(8);
        }
        return !name.empty();
      },
      20s))
      << read_file(dir_ / "killed-backup.err") << tail(read_file(dir_ / "daemon.log"));
  EXPECT_NE(read_file(dir_ / "writer.log").find("frozen:"), std::string::npos)
      << read_file(dir_ / "writer.log");
  std::this_thread::sleep_for(100ms);
  const auto frozen_at = committed();
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(committed(), frozen_at) << "the database is not frozen during the commit";

  daemon_.signal(SIGKILL);
  const auto t_kill = steady::now();
  // Reaped before the restart: recovery takes a zombie for a live owner.
  ASSERT_TRUE(daemon_.wait(5s).has_value());

  // The requester loses its daemon: exit 2 (cannot reach the daemon, or protocol error).
  EXPECT_EQ(backup.wait(10s), std::optional<int>(2))
      << read_file(dir_ / "killed-backup.out") << read_file(dir_ / "killed-backup.err");

  // Nobody can thaw the writer now: its lease must let the application go.
  ASSERT_TRUE(eventually([&] { return committed() > frozen_at; }, freeze_timeout + 3s))
      << "the database stayed frozen after the daemon died\n"
      << tail(read_file(dir_ / "writer.log"));
  const auto released_ms = ms_since(t_kill);
  std::cout << "[ consistency ] the writer's lease released the database " << released_ms
            << " ms after the kill (freeze timeout " << freeze_timeout.count() << " ms)\n";

  // The orphaned create command finishes and leaves its snapshot behind.
  const auto orphan = snaps_ / name;
  ASSERT_TRUE(eventually([&] { return fs::exists(markers / ("done-" + name)); }, 15s))
      << "the create command did not finish";
  ASSERT_TRUE(is_read_only_subvolume(orphan)) << orphan;

  // The set and snapshot ids, from the backup's progress frames.
  std::string set, snapshot;
  {
    std::istringstream in(read_file(dir_ / "killed-backup.err"));
    std::string line;
    while (std::getline(in, line)) {
      const auto f = json::parse(line, nullptr, false);
      if (f.is_object() && f.value("phase", "") == "StartSnapshotSet" &&
          f.value("step", "") == "finished") {
        set = f.value("set", "");
        const auto snaps = f.value("snapshots", json::array());
        if (!snaps.empty()) snapshot = snaps[0].value("id", "");
      }
    }
  }
  ASSERT_FALSE(set.empty()) << read_file(dir_ / "killed-backup.err");
  ASSERT_EQ(snapshot.size(), 38u) << snapshot;
  EXPECT_EQ("openvss-" + snapshot.substr(1, 8), name);

  // Restart on the same configuration and state directory.
  const auto log_before = read_file(dir_ / "daemon.log").size();
  ASSERT_NO_FATAL_FAILURE(start_daemon());
  const auto log = read_file(dir_ / "daemon.log").substr(log_before);
  EXPECT_NE(log.find("event=8313 recovery: aborted_in_creation snapshot set " + set +
                     " (was creating, 1 snapshot(s), 0 not removed)"),
            std::string::npos)
      << log;
  EXPECT_FALSE(fs::exists(orphan)) << orphan << " is still there after recovery";
  EXPECT_EQ(entries(snaps_), std::vector<std::string>{});

  const auto catalog = catalog_status();
  const auto at_start = catalog.value("recovered_at_start", json::object());
  EXPECT_EQ(at_start.value("sets_aborted", -1), 1) << catalog.dump();
  EXPECT_EQ(at_start.value("snapshots_removed", -1), 1) << catalog.dump();
  EXPECT_EQ(at_start.value("sets_left", -1), 0) << catalog.dump();
  const auto sets = catalog.value("sets", json::object());
  EXPECT_EQ(sets.value("creating", -1), 0) << catalog.dump();
  EXPECT_EQ(sets.value("committed", -1), 0) << catalog.dump();
  EXPECT_EQ(sets.value("aborted", -1), 1) << catalog.dump();
  const auto recent = catalog.value("recent_recoveries", json::array());
  ASSERT_FALSE(recent.empty()) << catalog.dump();
  EXPECT_EQ(recent[0].value("set", ""), set);
  EXPECT_EQ(recent[0].value("action", ""), "aborted_in_creation");
  EXPECT_EQ(recent[0].value("previous_state", ""), "creating");
  EXPECT_EQ(listed_snapshots(), std::vector<std::string>{});

  // The writer comes back by itself and reports the lease it used.
  ASSERT_NO_FATAL_FAILURE(wait_for_writer());
  EXPECT_TRUE(eventually([&] {
    return read_file(dir_ / "daemon.log").find("event=8302", log_before) != std::string::npos;
  })) << tail(read_file(dir_ / "daemon.log"));

  // And the restarted daemon makes consistent snapshots again.
  const auto min_id = committed();
  const auto r = cli(backup_args());
  ASSERT_EQ(r.status, 0) << r.describe() << tail(read_file(dir_ / "daemon.log"));
  const auto max_id = wait_for_progress("the backup after the restart");
  const auto result = r.doc.value("result", json::object());
  std::string new_set;
  ASSERT_NO_FATAL_FAILURE(check_snapshot(result, snaps_, min_id, max_id, new_set));
  const fs::path device = result["snapshots"][0].value("device", "");
  EXPECT_NE(device.filename(), name);
  ASSERT_NO_FATAL_FAILURE(delete_set(new_set, device));
  EXPECT_EQ(entries(snaps_), std::vector<std::string>{});

  // The application never waited much longer than the freeze timeout for its lock.
  const auto summary = stop_inserter();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(summary, m, std::regex("longest transaction ([0-9]+) ms")))
      << summary;
  EXPECT_LT(std::stoll(m[1]), freeze_timeout.count() + 2000) << summary;
  std::cout << "[ consistency ] inserter: " << summary << "\n";
}

// An abort that lands after DoSnapshotSet returned (here at BackupComplete) keeps the persistent
// snapshot (spec §3, CHOICE) and `openvss snapshots` lists it; the catalog must keep it too, so
// that after a restart it is adopted again rather than left on disk, unknown to openvss.
TEST_F(Consistency, AnAbortAfterDoSnapshotSetLeavesTheCatalogAndTheDiskInAgreement) {
  write_config("providers = btrfs\nbtrfs_snapshot_dir = " + snaps_.string() + "\n");
  ASSERT_NO_FATAL_FAILURE(start_daemon());
  ASSERT_NO_FATAL_FAILURE(start_inserter());
  ASSERT_NO_FATAL_FAILURE(start_writer());  // the abort fires at its BackupComplete event
  auto args = backup_args();
  args.insert(args.end(), {"--abort-after", "backup_complete"});
  const auto r = cli(args);
  ASSERT_EQ(r.status, 5) << r.describe();
  const auto snapshots = r.doc.value("result", json::object()).value("snapshots", json::array());
  ASSERT_EQ(snapshots.size(), 1u) << r.out;
  const fs::path device = snapshots[0].value("device", "");
  const auto set = snapshots[0].value("set", "");

  daemon_.signal(SIGTERM);
  ASSERT_TRUE(daemon_.wait(15s).has_value());
  ASSERT_NO_FATAL_FAILURE(start_daemon());

  const auto listed = listed_snapshots();
  const bool known = std::any_of(listed.begin(), listed.end(),
                                 [&](const std::string& s) { return s.starts_with(set + " "); });
  EXPECT_TRUE(!fs::exists(device) || known)
      << device << " is still on disk after the restart, but openvss no longer knows it "
      << "(catalog: " << catalog_status().value("sets", json::object()).dump() << ")";
}

}  // namespace
