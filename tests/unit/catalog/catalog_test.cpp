// The durable snapshot catalog (docs/catalog.md): the round trip through the file, the set
// state rules, what requesters see, concurrent use from threads and from two connections,
// files it must refuse (damaged, foreign, newer, unwritable), a set journaled by a process
// killed with SIGKILL, and recovery at startup.

#include "catalog/catalog.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "catalog/recovery.hpp"
#include "vss/error.hpp"
#include "vss/types.hpp"

namespace vss::catalog {
namespace {

namespace fs = std::filesystem;
using std::chrono::microseconds;
using std::chrono::system_clock;

// Runs SQL on a file with a plain SQLite connection (no catalog), as another program would.
void raw_sql(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  const std::string text = err != nullptr ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << text;
}

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << bytes;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A host that is not running: this process's pid with another start time (a reused pid).
host_process dead_host() {
  auto h = host_process::current();
  h.start_ticks += 12345;
  return h;
}

writer_status make_writer(const std::string& name, writer_state state, std::error_code failure,
                          const std::string& message) {
  writer_status w;
  w.instance_id = writer_instance_id::generate();
  w.class_id = writer_class_id::generate();
  w.name = name;
  w.level = application_level::back_end;
  w.state = state;
  w.failure = failure;
  w.message = message;
  return w;
}

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/catalog-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    root_ = pattern;
    dir_ = root_ / "state";
  }

  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::unique_ptr<catalog> open(options opts = {}) {
    auto r = catalog::open(dir_, std::move(opts));
    EXPECT_TRUE(r) << r.message;
    EXPECT_EQ(r.problem, open_problem::none);
    return std::move(r.db);
  }

  fs::path file() const { return dir_ / file_name; }

  new_set make_set(std::size_t volumes, std::uint32_t context = 0,
                   host_process host = host_process::current(),
                   session_id session = session_id::generate()) {
    new_set s;
    s.id = snapshot_set_id::generate();
    s.provider = provider_id::from_u128(0x1111, 0x2222);
    s.context = context;
    s.owner.host = std::move(host);
    s.owner.session = session;
    s.owner.requester_pid = 777;
    for (std::size_t i = 0; i < volumes; ++i) {
      s.snapshots.push_back({snapshot_id::generate(), "/vol/" + std::to_string(i), s.provider});
    }
    return s;
  }

  // Journals, commits and completes a set; returns it.
  new_set completed_set(catalog& c, std::size_t volumes, std::uint32_t context = 0,
                        host_process host = host_process::current(),
                        session_id session = session_id::generate()) {
    auto s = make_set(volumes, context, std::move(host), session);
    EXPECT_FALSE(c.journal_set_creating(s));
    EXPECT_FALSE(c.mark_committed(s.id));
    EXPECT_FALSE(c.mark_completed(s.id, consistency_grade::application));
    return s;
  }

  fs::path root_;
  fs::path dir_;
};

// --------------------------------------------------------------------------------------------
// Opening and the round trip

TEST_F(CatalogTest, OpenCreatesAPrivateStateDirectoryAndAnEmptyCatalog) {
  auto c = open();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->file(), file());
  struct stat st {};
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(::stat(file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  std::vector<snapshot_properties> all;
  ASSERT_FALSE(c->query(all));
  EXPECT_TRUE(all.empty());
  catalog_stats stats;
  ASSERT_FALSE(c->stats(stats));
  EXPECT_EQ(stats.snapshots, 0u);
}

TEST_F(CatalogTest, EverythingRecordedComesBackAfterReopening) {
  const auto t0 = system_clock::time_point(microseconds(1'700'000'000'123'456));
  const auto t1 = t0 + microseconds(250);
  const auto s = make_set(2, to_raw(snapshot_context::app_rollback));
  const auto writer = make_writer("db", writer_state::failed_at_freeze,
                                  make_error_code(errc::writer_error_retryable), "busy");
  {
    options opts;
    opts.now = [t0] { return t0; };
    auto c = open(opts);
    ASSERT_TRUE(c);
    ASSERT_FALSE(c->journal_set_creating(s));
    ASSERT_FALSE(c->mark_committed(s.id));
    snapshot_properties p;
    p.id = s.snapshots[1].id;
    p.set_id = s.id;
    p.device = "/snap/1";
    p.snapshots_count = 2;
    p.originating_machine = "host-a";
    p.service_machine = "host-b";
    p.attributes = 0x9 | 0x100000;
    p.created = t1;
    ASSERT_FALSE(c->mark_completed(s.id, consistency_grade::filesystem,
                                   std::span<const snapshot_properties>(&p, 1),
                                   std::span<const writer_status>(&writer, 1)));
  }
  auto c = open();
  ASSERT_TRUE(c);
  set_record r;
  ASSERT_FALSE(c->get_set(s.id, r));
  EXPECT_EQ(r.id, s.id);
  EXPECT_EQ(r.state, set_state::completed);
  EXPECT_EQ(r.provider, s.provider);
  EXPECT_EQ(r.context, to_raw(snapshot_context::app_rollback));
  EXPECT_EQ(r.owner.host, host_process::current());
  EXPECT_EQ(r.owner.session, s.owner.session);
  EXPECT_EQ(r.owner.requester_pid, 777);
  EXPECT_EQ(r.created, t0);
  EXPECT_EQ(r.updated, t0);
  EXPECT_EQ(r.consistency, consistency_grade::filesystem);
  EXPECT_FALSE(r.failure);
  ASSERT_EQ(r.snapshots.size(), 2u);
  EXPECT_EQ(r.snapshots[0].id, s.snapshots[0].id);
  EXPECT_EQ(r.snapshots[0].original_volume, "/vol/0");
  EXPECT_EQ(r.snapshots[0].created, t0);
  EXPECT_EQ(r.snapshots[0].snapshots_count, 2);
  const auto& b = r.snapshots[1];
  EXPECT_EQ(b.id, s.snapshots[1].id);
  EXPECT_EQ(b.set_id, s.id);
  EXPECT_EQ(b.original_volume, "/vol/1");
  EXPECT_EQ(b.device, "/snap/1");
  EXPECT_EQ(b.provider, s.provider);
  EXPECT_EQ(b.attributes, 0x9u | 0x100000u);
  EXPECT_EQ(b.originating_machine, "host-a");
  EXPECT_EQ(b.service_machine, "host-b");
  EXPECT_EQ(b.created, t1);
  EXPECT_EQ(b.state, snapshot_state::created);
  ASSERT_EQ(r.writers.size(), 1u);
  EXPECT_EQ(r.writers[0].instance_id, writer.instance_id);
  EXPECT_EQ(r.writers[0].class_id, writer.class_id);
  EXPECT_EQ(r.writers[0].name, "db");
  EXPECT_EQ(r.writers[0].level, application_level::back_end);
  EXPECT_EQ(r.writers[0].state, writer_state::failed_at_freeze);
  EXPECT_EQ(r.writers[0].failure, errc::writer_error_retryable);
  EXPECT_EQ(r.writers[0].message, "busy");
}

TEST_F(CatalogTest, AZeroLengthFileIsTakenAsANewCatalog) {
  fs::create_directories(dir_);
  write_bytes(file(), "");
  auto c = open();
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->journal_set_creating(make_set(1)));
}

TEST_F(CatalogTest, AnEmptySqliteDatabaseIsTakenAsANewCatalog) {
  fs::create_directories(dir_);
  raw_sql(file(), "CREATE TABLE t (x); DROP TABLE t;");
  auto c = open();
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->journal_set_creating(make_set(1)));
}

// --------------------------------------------------------------------------------------------
// Files openvss must not use

TEST_F(CatalogTest, ASqliteDatabaseOfAnotherApplicationIsRefusedAndLeftUntouched) {
  fs::create_directories(dir_);
  raw_sql(file(),
          "PRAGMA application_id = 1234; CREATE TABLE mine (x); INSERT INTO mine VALUES(1)");
  const auto before = read_bytes(file());
  auto r = catalog::open(dir_);
  EXPECT_FALSE(r);
  EXPECT_EQ(r.problem, open_problem::foreign);
  EXPECT_TRUE(contains(r.message, file().string())) << r.message;
  EXPECT_TRUE(contains(r.message, "not an openvss catalog")) << r.message;
  EXPECT_TRUE(contains(r.message, "0x000004D2")) << r.message;
  EXPECT_EQ(read_bytes(file()), before);
}

TEST_F(CatalogTest, APlainSqliteDatabaseWithATableIsForeign) {
  fs::create_directories(dir_);
  raw_sql(file(), "CREATE TABLE notes (x)");
  auto r = catalog::open(dir_);
  EXPECT_FALSE(r);
  EXPECT_EQ(r.problem, open_problem::foreign);
  EXPECT_TRUE(contains(r.message, file().string())) << r.message;
  EXPECT_TRUE(contains(r.message, "another program")) << r.message;
}

TEST_F(CatalogTest, AGarbageFileIsRefusedAsDamaged) {
  fs::create_directories(dir_);
  write_bytes(file(), std::string(4096, 'x'));
  auto r = catalog::open(dir_);
  EXPECT_FALSE(r);
  EXPECT_EQ(r.problem, open_problem::damaged);
  EXPECT_TRUE(contains(r.message, file().string())) << r.message;
  EXPECT_TRUE(contains(r.message, "is damaged")) << r.message;
  EXPECT_TRUE(contains(r.message, "not an SQLite database")) << r.message;
  EXPECT_TRUE(contains(r.message, "move the file")) << r.message;
  EXPECT_EQ(read_bytes(file()), std::string(4096, 'x'));
}

TEST_F(CatalogTest, AFileCutInsideTheSqliteHeaderIsRefusedAsDamaged) {
  fs::create_directories(dir_);
  write_bytes(file(), std::string("SQLite format 3\0", 16) + std::string(20, '\0'));
  auto r = catalog::open(dir_);
  EXPECT_EQ(r.problem, open_problem::damaged);
  EXPECT_TRUE(contains(r.message, "36 bytes long")) << r.message;
}

TEST_F(CatalogTest, ATruncatedCatalogIsRefusedAsDamaged) {
  {
    auto c = open();
    ASSERT_TRUE(c);
    for (int i = 0; i < 60; ++i) completed_set(*c, 3);
  }
  ASSERT_FALSE(fs::exists(file().string() + "-wal"));  // checkpointed on close
  const auto size = fs::file_size(file());
  ASSERT_GT(size, 8u * 4096u);
  fs::resize_file(file(), size / 2);
  auto r = catalog::open(dir_);
  EXPECT_FALSE(r);
  EXPECT_EQ(r.problem, open_problem::damaged) << r.message;
  EXPECT_TRUE(contains(r.message, file().string())) << r.message;
}

TEST_F(CatalogTest, ACatalogWithACorruptPageFailsQuickCheckAndIsRefused) {
  {
    auto c = open();
    ASSERT_TRUE(c);
    for (int i = 0; i < 60; ++i) completed_set(*c, 3);
  }
  auto bytes = read_bytes(file());
  const std::size_t page =
      (static_cast<unsigned char>(bytes[16]) << 8) | static_cast<unsigned char>(bytes[17]);
  ASSERT_GT(bytes.size(), 4 * page);
  // Page 3's b-tree header: a leaf table page claiming 65535 cells.
  bytes.replace(2 * page, 5, std::string("\x0d\x00\x00\xff\xff", 5));
  write_bytes(file(), bytes);
  auto r = catalog::open(dir_);
  EXPECT_FALSE(r);
  EXPECT_EQ(r.problem, open_problem::damaged) << r.message;
  EXPECT_TRUE(contains(r.message, "quick_check")) << r.message;
  EXPECT_EQ(r.message.find('\n'), std::string::npos) << r.message;
}

TEST_F(CatalogTest, ACatalogOfANewerSchemaIsRefusedNamingBothVersions) {
  { ASSERT_TRUE(open()); }
  raw_sql(file(), "PRAGMA user_version = 7");
  auto r = catalog::open(dir_);
  EXPECT_FALSE(r);
  EXPECT_EQ(r.problem, open_problem::newer_schema);
  EXPECT_TRUE(contains(r.message, file().string())) << r.message;
  EXPECT_TRUE(contains(r.message, "schema version is 7")) << r.message;
  EXPECT_TRUE(contains(r.message, "understands (1)")) << r.message;
}

TEST_F(CatalogTest, ACatalogMissingATableIsRefusedAsDamaged) {
  { ASSERT_TRUE(open()); }
  raw_sql(file(), "DROP TABLE recoveries");
  auto r = catalog::open(dir_);
  EXPECT_EQ(r.problem, open_problem::damaged);
  EXPECT_TRUE(contains(r.message, "recoveries")) << r.message;
}

TEST_F(CatalogTest, AStateDirectoryThatIsAFileIsRefused) {
  write_bytes(dir_, "not a directory");
  auto r = catalog::open(dir_);
  EXPECT_FALSE(r);
  EXPECT_EQ(r.problem, open_problem::state_dir);
  EXPECT_TRUE(contains(r.message, dir_.string())) << r.message;
  EXPECT_TRUE(contains(r.message, "is not a directory")) << r.message;
}

TEST_F(CatalogTest, AStateDirectoryBelowAFileCannotBeCreated) {
  write_bytes(root_ / "plain", "x");
  auto r = catalog::open(root_ / "plain" / "state");
  EXPECT_FALSE(r);
  EXPECT_EQ(r.problem, open_problem::state_dir);
  EXPECT_TRUE(contains(r.message, "cannot create the openvss state directory")) << r.message;
}

// Root may write anywhere, so the check runs in a child that drops to an unprivileged user.
TEST_F(CatalogTest, AStateDirectoryThatCannotBeWrittenIsRefusedWithAClearMessage) {
  ASSERT_EQ(::chmod(root_.c_str(), 0755), 0);
  fs::create_directories(dir_);
  ASSERT_EQ(::chmod(dir_.c_str(), 0555), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(10);
    auto r = catalog::open(dir_);
    if (r || r.problem != open_problem::permission) ::_exit(11);
    if (!contains(r.message, dir_.string()) || !contains(r.message, "write")) ::_exit(12);
    auto r2 = catalog::open(dir_ / "below");
    if (r2 || r2.problem != open_problem::permission) ::_exit(13);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10 setuid, 11 problem, 12 message, 13 subdirectory";
}

// --------------------------------------------------------------------------------------------
// Set states

TEST_F(CatalogTest, ASetFollowsCreatingCommittedCompletedAndNothingElse) {
  auto c = open();
  ASSERT_TRUE(c);
  const auto s = make_set(1);
  EXPECT_EQ(c->mark_committed(s.id), errc::object_not_found);
  ASSERT_FALSE(c->journal_set_creating(s));
  EXPECT_EQ(c->journal_set_creating(s), errc::object_already_exists);
  EXPECT_EQ(c->mark_completed(s.id, consistency_grade::application), errc::bad_state);
  ASSERT_FALSE(c->mark_committed(s.id));
  set_record r;
  ASSERT_FALSE(c->get_set(s.id, r));
  EXPECT_EQ(r.state, set_state::committed);
  EXPECT_EQ(r.snapshots[0].state, snapshot_state::committed);
  EXPECT_EQ(c->mark_committed(s.id), errc::bad_state);
  ASSERT_FALSE(c->mark_completed(s.id, consistency_grade::crash));
  EXPECT_EQ(c->mark_aborted(s.id, errc::async_cancelled, "late"), errc::bad_state);
  EXPECT_EQ(c->mark_failed(s.id, errc::provider_veto, "late"), errc::bad_state);
  EXPECT_EQ(c->journal_snapshot(s.id, {snapshot_id::generate(), "/x", s.provider}),
            errc::bad_state);
  ASSERT_FALSE(c->get_set(s.id, r));
  EXPECT_EQ(r.state, set_state::completed);
  EXPECT_EQ(r.consistency, consistency_grade::crash);
  EXPECT_FALSE(r.failure);
}

TEST_F(CatalogTest, AbortedAndFailedSetsKeepTheirReasonAndNoSnapshot) {
  auto c = open();
  ASSERT_TRUE(c);
  const auto a = make_set(2);
  const auto f = make_set(1);
  ASSERT_FALSE(c->journal_set_creating(a));
  ASSERT_FALSE(c->journal_set_creating(f));
  ASSERT_FALSE(c->mark_committed(f.id));
  ASSERT_FALSE(c->mark_aborted(a.id, errc::async_cancelled, "AbortBackup"));
  const auto w = make_writer("w", writer_state::failed_at_freeze,
                             make_error_code(errc::writer_error_nonretryable), "no");
  ASSERT_FALSE(c->mark_failed(f.id, errc::writer_error_nonretryable, "writer w vetoed",
                              std::span<const writer_status>(&w, 1)));
  set_record r;
  ASSERT_FALSE(c->get_set(a.id, r));
  EXPECT_EQ(r.state, set_state::aborted);
  EXPECT_EQ(r.failure, errc::async_cancelled);
  EXPECT_EQ(r.failure_message, "AbortBackup");
  for (const auto& p : r.snapshots) EXPECT_EQ(p.state, snapshot_state::aborted);
  ASSERT_FALSE(c->get_set(f.id, r));
  EXPECT_EQ(r.state, set_state::failed);
  EXPECT_EQ(r.failure, errc::writer_error_nonretryable);
  ASSERT_EQ(r.writers.size(), 1u);
  EXPECT_EQ(r.writers[0].state, writer_state::failed_at_freeze);
  EXPECT_EQ(c->mark_committed(a.id), errc::bad_state);
  const auto posix = make_set(1);
  ASSERT_FALSE(c->journal_set_creating(posix));
  ASSERT_FALSE(
      c->mark_failed(posix.id, std::error_code(ENOSPC, std::generic_category()), "copy failed"));
  ASSERT_FALSE(c->get_set(posix.id, r));
  EXPECT_EQ(r.failure, errc::fail);  // no HRESULT of its own: E_FAIL, and the words are kept
  EXPECT_EQ(r.failure_message, "copy failed (generic 28: No space left on device)");
  std::vector<set_record> in_creation;
  ASSERT_FALSE(c->sets_in_creation(in_creation));
  EXPECT_TRUE(in_creation.empty());
}

TEST_F(CatalogTest, JournaledSnapshotsAreAddedWhileCreatingAndCounted) {
  auto c = open();
  ASSERT_TRUE(c);
  auto s = make_set(1);
  ASSERT_FALSE(c->journal_set_creating(s));
  const planned_snapshot extra{snapshot_id::generate(), "/vol/extra", s.provider};
  ASSERT_FALSE(c->journal_snapshot(s.id, extra));
  EXPECT_EQ(c->journal_snapshot(s.id, extra), errc::object_already_exists);
  EXPECT_EQ(c->journal_snapshot(snapshot_set_id::generate(), extra), errc::object_not_found);
  set_record r;
  ASSERT_FALSE(c->get_set(s.id, r));
  ASSERT_EQ(r.snapshots.size(), 2u);
  EXPECT_EQ(r.snapshots[1].id, extra.id);
  EXPECT_EQ(r.snapshots[1].original_volume, "/vol/extra");
  EXPECT_EQ(r.snapshots[0].state, snapshot_state::preparing);
  EXPECT_EQ(r.snapshots[0].snapshots_count, 2);
  EXPECT_EQ(r.snapshots[1].snapshots_count, 2);
}

TEST_F(CatalogTest, JournalingRefusesNullAndRepeatedIds) {
  auto c = open();
  ASSERT_TRUE(c);
  auto s = make_set(1);
  s.id = snapshot_set_id{};
  EXPECT_EQ(c->journal_set_creating(s), errc::invalid_arg);
  auto twice = make_set(1);
  twice.snapshots.push_back(twice.snapshots[0]);
  EXPECT_EQ(c->journal_set_creating(twice), errc::object_already_exists);
  auto first = make_set(1);
  ASSERT_FALSE(c->journal_set_creating(first));
  auto reuse = make_set(1);
  reuse.snapshots[0].id = first.snapshots[0].id;
  EXPECT_EQ(c->journal_set_creating(reuse), errc::object_already_exists);
  set_record r;
  EXPECT_EQ(c->get_set(reuse.id, r), errc::object_not_found);  // rolled back, not half-written
  EXPECT_EQ(c->get_set(twice.id, r), errc::object_not_found);
}

TEST_F(CatalogTest, CommittingASnapshotOfAnotherSetChangesNothing) {
  auto c = open();
  ASSERT_TRUE(c);
  const auto a = make_set(1);
  const auto b = make_set(1);
  ASSERT_FALSE(c->journal_set_creating(a));
  ASSERT_FALSE(c->journal_set_creating(b));
  snapshot_properties p;
  p.id = b.snapshots[0].id;
  p.device = "/wrong";
  EXPECT_EQ(c->mark_committed(a.id, std::span<const snapshot_properties>(&p, 1)),
            errc::snapshot_not_in_set);
  set_record r;
  ASSERT_FALSE(c->get_set(a.id, r));
  EXPECT_EQ(r.state, set_state::creating);
  ASSERT_FALSE(c->get_set(b.id, r));
  EXPECT_EQ(r.snapshots[0].device, "");
  EXPECT_EQ(r.snapshots[0].state, snapshot_state::preparing);
}

TEST_F(CatalogTest, WriterResultsAreReplacedByInstance) {
  auto c = open();
  ASSERT_TRUE(c);
  const auto s = make_set(1);
  ASSERT_FALSE(c->journal_set_creating(s));
  auto w = make_writer("w", writer_state::waiting_for_freeze, {}, "");
  const auto other = make_writer("other", writer_state::stable, {}, "");
  const std::vector<writer_status> both{w, other};
  ASSERT_FALSE(c->record_writers(s.id, both));
  w.state = writer_state::failed_at_thaw;
  w.failure = errc::writer_error_timeout;
  w.message = "too slow";
  ASSERT_FALSE(c->record_writers(s.id, std::span<const writer_status>(&w, 1)));
  set_record r;
  ASSERT_FALSE(c->get_set(s.id, r));
  ASSERT_EQ(r.writers.size(), 2u);
  EXPECT_EQ(r.writers[0].name, "w");
  EXPECT_EQ(r.writers[0].state, writer_state::failed_at_thaw);
  EXPECT_EQ(r.writers[0].failure, errc::writer_error_timeout);
  EXPECT_EQ(r.writers[0].message, "too slow");
  EXPECT_EQ(r.writers[1].name, "other");
  EXPECT_EQ(c->record_writers(snapshot_set_id::generate(), both), errc::object_not_found);
}

// --------------------------------------------------------------------------------------------
// Query, get and delete

TEST_F(CatalogTest, QueryShowsOnlySnapshotsOfCompletedSets) {
  auto c = open();
  ASSERT_TRUE(c);
  const auto creating = make_set(1);
  const auto committed = make_set(1);
  const auto aborted = make_set(1);
  ASSERT_FALSE(c->journal_set_creating(creating));
  ASSERT_FALSE(c->journal_set_creating(committed));
  ASSERT_FALSE(c->mark_committed(committed.id));
  ASSERT_FALSE(c->journal_set_creating(aborted));
  ASSERT_FALSE(c->mark_aborted(aborted.id, errc::async_cancelled, ""));
  const auto done = completed_set(*c, 2);

  std::vector<snapshot_properties> all;
  ASSERT_FALSE(c->query(all));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, done.snapshots[0].id);
  EXPECT_EQ(all[1].id, done.snapshots[1].id);
  for (const auto& p : all) EXPECT_EQ(p.state, snapshot_state::created);

  snapshot_properties p;
  EXPECT_FALSE(c->get_snapshot_properties(done.snapshots[1].id, p));
  EXPECT_EQ(p.original_volume, "/vol/1");
  EXPECT_EQ(c->get_snapshot_properties(creating.snapshots[0].id, p), errc::object_not_found);
  EXPECT_EQ(c->get_snapshot_properties(committed.snapshots[0].id, p), errc::object_not_found);
  EXPECT_EQ(c->get_snapshot_properties(aborted.snapshots[0].id, p), errc::object_not_found);
  EXPECT_EQ(c->get_snapshot_properties(snapshot_id::generate(), p), errc::object_not_found);

  std::vector<snapshot_properties> of_set;
  ASSERT_FALSE(c->query(committed.id, of_set));
  EXPECT_TRUE(of_set.empty());
  ASSERT_FALSE(c->query(done.id, of_set));
  EXPECT_EQ(of_set.size(), 2u);

  catalog_stats stats;
  ASSERT_FALSE(c->stats(stats));
  EXPECT_EQ(stats.snapshots, 2u);
  EXPECT_EQ(stats.sets[static_cast<std::size_t>(set_state::creating)], 1u);
  EXPECT_EQ(stats.sets[static_cast<std::size_t>(set_state::committed)], 1u);
  EXPECT_EQ(stats.sets[static_cast<std::size_t>(set_state::aborted)], 1u);
  EXPECT_EQ(stats.sets[static_cast<std::size_t>(set_state::completed)], 1u);
}

TEST_F(CatalogTest, DeletingTheLastSnapshotOfASetDeletesTheSet) {
  auto c = open();
  ASSERT_TRUE(c);
  const auto s = completed_set(*c, 2);
  ASSERT_FALSE(c->record_deleted(s.snapshots[0].id));
  EXPECT_EQ(c->record_deleted(s.snapshots[0].id), errc::object_not_found);
  std::vector<snapshot_properties> all;
  ASSERT_FALSE(c->query(all));
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].id, s.snapshots[1].id);
  set_record r;
  ASSERT_FALSE(c->get_set(s.id, r));
  EXPECT_EQ(r.state, set_state::completed);
  ASSERT_FALSE(c->record_deleted(s.snapshots[1].id));
  ASSERT_FALSE(c->query(all));
  EXPECT_TRUE(all.empty());
  ASSERT_FALSE(c->get_set(s.id, r));
  EXPECT_EQ(r.state, set_state::deleted);
  EXPECT_EQ(r.snapshots[0].state, snapshot_state::deleted);
  EXPECT_EQ(c->record_deleted(snapshot_id::generate()), errc::object_not_found);
}

TEST_F(CatalogTest, OnlyTheNewestEndedSetsAreKeptAsHistory) {
  options opts;
  opts.history_limit = 3;
  std::int64_t tick = 0;
  opts.now = [&tick] { return system_clock::time_point(microseconds(1'000'000 + ++tick)); };
  auto c = open(opts);
  ASSERT_TRUE(c);
  const auto live = completed_set(*c, 1);
  std::vector<snapshot_set_id> ended;
  for (int i = 0; i < 5; ++i) {
    const auto s = make_set(1);
    ASSERT_FALSE(c->journal_set_creating(s));
    ASSERT_FALSE(c->mark_aborted(s.id, errc::async_cancelled, ""));
    ended.push_back(s.id);
  }
  set_record r;
  EXPECT_EQ(c->get_set(ended[0], r), errc::object_not_found);
  EXPECT_EQ(c->get_set(ended[1], r), errc::object_not_found);
  for (int i = 2; i < 5; ++i) EXPECT_FALSE(c->get_set(ended[static_cast<std::size_t>(i)], r));
  EXPECT_FALSE(c->get_set(live.id, r));  // a completed set is never history
  std::vector<set_record> recent;
  ASSERT_FALSE(c->recent_sets(10, recent));
  ASSERT_EQ(recent.size(), 4u);
  EXPECT_EQ(recent[0].id, ended[4]);
  EXPECT_EQ(recent[3].id, live.id);
}

// --------------------------------------------------------------------------------------------
// Durability and concurrency

TEST_F(CatalogTest, ASetJournaledByAProcessKilledWithSigkillIsFoundInCreation) {
  const auto s = make_set(2);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto mine = s;
    mine.owner.host = host_process::current();
    auto r = catalog::open(dir_);
    if (!r || r.db->journal_set_creating(mine)) ::_exit(1);
    ::raise(SIGKILL);
    ::_exit(2);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  auto c = open();
  ASSERT_TRUE(c);
  std::vector<set_record> found;
  ASSERT_FALSE(c->sets_in_creation(found));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].id, s.id);
  EXPECT_EQ(found[0].state, set_state::creating);
  EXPECT_EQ(found[0].owner.host.pid, static_cast<std::int64_t>(child));
  EXPECT_FALSE(found[0].owner.host.alive());
  ASSERT_EQ(found[0].snapshots.size(), 2u);
  EXPECT_EQ(found[0].snapshots[1].original_volume, "/vol/1");
}

TEST_F(CatalogTest, ASetLeftInCreationWhenTheCatalogClosesIsFoundAfterReopening) {
  const auto s = make_set(1);
  {
    auto c = open();
    ASSERT_TRUE(c);
    ASSERT_FALSE(c->journal_set_creating(s));
    ASSERT_FALSE(c->mark_committed(s.id));
  }
  auto c = open();
  ASSERT_TRUE(c);
  std::vector<set_record> found;
  ASSERT_FALSE(c->sets_in_creation(found));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].state, set_state::committed);
}

// Each thread: 50 x (journal, commit, complete, then delete or read back) = 200 operations.
void run_ops(catalog& c, int index, std::atomic<int>& failures) {
  for (int i = 0; i < 50; ++i) {
    new_set s;
    s.id = snapshot_set_id::generate();
    s.owner.host = host_process::current();
    s.owner.session = session_id::generate();
    s.snapshots.push_back({snapshot_id::generate(), "/t" + std::to_string(index), {}});
    if (c.journal_set_creating(s)) ++failures;
    if (c.mark_committed(s.id)) ++failures;
    if (c.mark_completed(s.id, consistency_grade::application)) ++failures;
    if (i % 2 == 0) {
      if (c.record_deleted(s.snapshots[0].id)) ++failures;
    } else {
      snapshot_properties p;
      if (c.get_snapshot_properties(s.snapshots[0].id, p) || p.set_id != s.id) ++failures;
    }
  }
}

TEST_F(CatalogTest, FourThreadsShareOneCatalog) {
  options opts;
  opts.history_limit = 1000;
  auto c = open(opts);
  ASSERT_TRUE(c);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&, t] { run_ops(*c, t, failures); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  catalog_stats stats;
  ASSERT_FALSE(c->stats(stats));
  EXPECT_EQ(stats.snapshots, 100u);
  EXPECT_EQ(stats.sets[static_cast<std::size_t>(set_state::completed)], 100u);
  EXPECT_EQ(stats.sets[static_cast<std::size_t>(set_state::deleted)], 100u);
}

TEST_F(CatalogTest, TwoCatalogObjectsOnOneFileSeeEachOthersWrites) {
  options opts;
  opts.history_limit = 1000;
  auto a = open(opts);
  auto b = open(opts);
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  std::atomic<int> failures{0};
  std::thread ta([&] { run_ops(*a, 0, failures); });
  std::thread tb([&] { run_ops(*b, 1, failures); });
  ta.join();
  tb.join();
  EXPECT_EQ(failures.load(), 0);
  std::vector<snapshot_properties> seen_a, seen_b;
  ASSERT_FALSE(a->query(seen_a));
  ASSERT_FALSE(b->query(seen_b));
  EXPECT_EQ(seen_a.size(), 50u);
  ASSERT_EQ(seen_b.size(), seen_a.size());
  for (std::size_t i = 0; i < seen_a.size(); ++i) EXPECT_EQ(seen_a[i].id, seen_b[i].id);
}

TEST_F(CatalogTest, AWriteBlockedPastTheBusyTimeoutFailsRetryablyAndChangesNothing) {
  options opts;
  opts.busy_timeout = std::chrono::milliseconds(50);
  auto c = open(opts);
  ASSERT_TRUE(c);
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(file().c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  const auto s = make_set(1);
  const auto ec = c->journal_set_creating(s);
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  EXPECT_EQ(ec.category(), sqlite_category());
  EXPECT_EQ(ec, condition::retryable) << ec.message();
  set_record r;
  EXPECT_EQ(c->get_set(s.id, r), errc::object_not_found);
  EXPECT_FALSE(c->journal_set_creating(s));
}

TEST(SqliteCategory, MapsSqliteCodesToVssConditions) {
  const std::error_code busy(SQLITE_BUSY, sqlite_category());
  const std::error_code full(SQLITE_FULL, sqlite_category());
  const std::error_code fsync(SQLITE_IOERR_FSYNC, sqlite_category());
  EXPECT_STREQ(sqlite_category().name(), "sqlite");
  EXPECT_EQ(busy, condition::retryable);
  EXPECT_NE(busy, condition::fatal);
  EXPECT_EQ(full, condition::retry_after_reconfigure);
  EXPECT_EQ(fsync, condition::fatal);
  EXPECT_EQ(full.message(), "database or disk is full");
}

TEST(CatalogTime, FormatsIso8601UtcWithMicroseconds) {
  EXPECT_EQ(format_time(system_clock::time_point(microseconds(1'700'000'000'123'456))),
            "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(format_time(system_clock::time_point{}), "1970-01-01T00:00:00.000000Z");
}

// --------------------------------------------------------------------------------------------
// Owners and recovery

TEST(HostProcess, TellsALiveProcessFromADeadOrRebootedOne) {
  const auto self = host_process::current();
  EXPECT_GT(self.pid, 0);
  EXPECT_GT(self.start_ticks, 0u);
  EXPECT_FALSE(self.boot_id.empty());
  EXPECT_TRUE(self.alive());
  ASSERT_TRUE(host_process::of(self.pid).has_value());
  EXPECT_EQ(*host_process::of(self.pid), self);
  EXPECT_FALSE(dead_host().alive());
  auto rebooted = self;
  rebooted.boot_id = "00000000-0000-0000-0000-000000000000";
  EXPECT_FALSE(rebooted.alive());
  EXPECT_FALSE(host_process{}.alive());
  EXPECT_FALSE(host_process::of(0).has_value());
}

TEST(HostProcess, AZombieIsDeadThoughItKeepsItsStartTime) {
  // A daemon killed under a parent that never reaps it stays a zombie with its start time:
  // it owns nothing any more, so recovery must see it as gone.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  const auto owner = host_process::of(child);
  ASSERT_TRUE(owner.has_value());
  EXPECT_TRUE(owner->alive());
  ::kill(child, SIGKILL);
  // Not reaped yet: wait until it is a zombie (WNOWAIT leaves it one).
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
  EXPECT_FALSE(owner->alive());
  ::waitpid(child, nullptr, 0);
  EXPECT_FALSE(owner->alive());
}

TEST(HostProcess, AnOwnerIsGoneWhenItsProcessOrItsSessionIs) {
  const auto self = host_process::current();
  const auto live = session_id::generate();
  const std::vector<session_id> sessions{live};
  EXPECT_FALSE(owner_gone({self, live, 0}, self, sessions));
  EXPECT_TRUE(owner_gone({self, session_id::generate(), 0}, self, sessions));
  EXPECT_TRUE(owner_gone({dead_host(), live, 0}, self, sessions));
  const auto parent = host_process::of(::getppid());
  ASSERT_TRUE(parent.has_value());
  EXPECT_FALSE(owner_gone({*parent, session_id::generate(), 0}, self, {}));
}

class RecoveryTest : public CatalogTest {
 protected:
  recovery_actions recording_actions() {
    recovery_actions a;
    a.discard = [this](const snapshot_properties& p) {
      discarded.push_back(p.id);
      auto it = discard_results.find(p.id);
      return it == discard_results.end() ? std::error_code{} : it->second;
    };
    a.release = [this](const snapshot_properties& p) {
      released.push_back(p.id);
      auto it = release_results.find(p.id);
      return it == release_results.end() ? std::error_code{} : it->second;
    };
    return a;
  }

  std::vector<snapshot_id> discarded;
  std::vector<snapshot_id> released;
  std::map<snapshot_id, std::error_code> discard_results;
  std::map<snapshot_id, std::error_code> release_results;
};

TEST_F(RecoveryTest, SetsInCreationOfGoneOwnersAreDiscardedAbortedAndLogged) {
  auto c = open();
  ASSERT_TRUE(c);
  const auto self = host_process::current();
  const auto live_session = session_id::generate();
  const auto dead_creating = make_set(2, 0, dead_host());
  const auto dead_committed = make_set(1, 0, dead_host());
  const auto other_process = make_set(1, 0, *host_process::of(::getppid()));
  const auto own_live = make_set(1, 0, self, live_session);
  const auto own_ended = make_set(1, 0, self, session_id::generate());
  for (const auto* s : {&dead_creating, &dead_committed, &other_process, &own_live, &own_ended}) {
    ASSERT_FALSE(c->journal_set_creating(*s));
  }
  ASSERT_FALSE(c->mark_committed(dead_committed.id));

  const std::vector<session_id> live{live_session};
  const auto report = recover(*c, self, live, recording_actions());
  EXPECT_FALSE(report.catalog_error);
  EXPECT_EQ(report.sets_aborted, 3u);
  EXPECT_EQ(report.snapshots_removed, 4u);
  EXPECT_EQ(report.sets_left, 0u);
  EXPECT_EQ(discarded.size(), 4u);
  ASSERT_EQ(report.entries.size(), 3u);
  EXPECT_EQ(report.entries[0].set, dead_creating.id);
  EXPECT_EQ(report.entries[0].action, recovery_action::aborted_in_creation);
  EXPECT_EQ(report.entries[0].snapshots, 2u);
  EXPECT_EQ(report.entries[1].previous_state, set_state::committed);
  EXPECT_TRUE(contains(report.entries[0].detail, "pid " + std::to_string(self.pid)))
      << report.entries[0].detail;
  EXPECT_TRUE(contains(report.entries[2].detail, "session")) << report.entries[2].detail;

  set_record r;
  ASSERT_FALSE(c->get_set(dead_creating.id, r));
  EXPECT_EQ(r.state, set_state::aborted);
  EXPECT_EQ(r.failure, errc::abort);
  EXPECT_TRUE(contains(r.failure_message, "recovery")) << r.failure_message;
  std::vector<set_record> remaining;
  ASSERT_FALSE(c->sets_in_creation(remaining));
  ASSERT_EQ(remaining.size(), 2u);
  EXPECT_EQ(remaining[0].id, other_process.id);
  EXPECT_EQ(remaining[1].id, own_live.id);

  std::vector<recovery_entry> log;
  ASSERT_FALSE(c->recent_recoveries(2, log));
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].set, own_ended.id);
  EXPECT_EQ(log[1].set, dead_committed.id);
  EXPECT_GT(log[0].seq, log[1].seq);
  EXPECT_EQ(log[0].detail, report.entries[2].detail);
}

TEST_F(RecoveryTest, ASnapshotThatCannotBeDiscardedKeepsItsSetForTheNextStart) {
  auto c = open();
  ASSERT_TRUE(c);
  const auto s = make_set(2, 0, dead_host());
  ASSERT_FALSE(c->journal_set_creating(s));
  discard_results[s.snapshots[1].id] = make_error_code(errc::provider_veto);
  auto report = recover(*c, host_process::current(), {}, recording_actions());
  EXPECT_EQ(report.sets_aborted, 0u);
  EXPECT_EQ(report.sets_left, 1u);
  ASSERT_EQ(report.entries.size(), 1u);
  EXPECT_EQ(report.entries[0].failed, 1u);
  EXPECT_EQ(report.entries[0].result, errc::provider_veto);
  EXPECT_TRUE(contains(report.entries[0].detail, "VSS_E_PROVIDER_VETO"))
      << report.entries[0].detail;
  set_record r;
  ASSERT_FALSE(c->get_set(s.id, r));
  EXPECT_EQ(r.state, set_state::creating);

  discard_results.clear();
  report = recover(*c, host_process::current(), {}, recording_actions());
  EXPECT_EQ(report.sets_aborted, 1u);
  ASSERT_FALSE(c->get_set(s.id, r));
  EXPECT_EQ(r.state, set_state::aborted);
  std::vector<recovery_entry> log;
  ASSERT_FALSE(c->recent_recoveries(10, log));
  EXPECT_EQ(log.size(), 2u);
}

TEST_F(RecoveryTest, AutoReleaseSnapshotsOfGoneOwnersAreDeletedAndPersistentOnesKept) {
  auto c = open();
  ASSERT_TRUE(c);
  const auto self = host_process::current();
  const auto auto_dead = completed_set(*c, 2, to_raw(snapshot_context::backup), dead_host());
  const auto persistent_dead =
      completed_set(*c, 1, to_raw(snapshot_context::app_rollback), dead_host());
  const auto auto_other =
      completed_set(*c, 1, to_raw(snapshot_context::backup), *host_process::of(::getppid()));
  const auto auto_failing =
      completed_set(*c, 1, to_raw(snapshot_context::file_share_backup), dead_host());
  release_results[auto_dead.snapshots[1].id] = make_error_code(errc::object_not_found);
  release_results[auto_failing.snapshots[0].id] = make_error_code(errc::volume_in_use);

  const auto report = recover(*c, self, {}, recording_actions());
  EXPECT_FALSE(report.catalog_error);
  EXPECT_EQ(report.sets_released, 1u);
  EXPECT_EQ(report.sets_left, 1u);
  EXPECT_EQ(report.snapshots_removed, 2u);
  EXPECT_EQ(released.size(), 3u);
  ASSERT_EQ(report.entries.size(), 2u);
  EXPECT_EQ(report.entries[0].action, recovery_action::released_auto_release);

  set_record r;
  ASSERT_FALSE(c->get_set(auto_dead.id, r));
  EXPECT_EQ(r.state, set_state::deleted);
  std::vector<snapshot_properties> left;
  ASSERT_FALSE(c->query(left));
  ASSERT_EQ(left.size(), 3u);
  EXPECT_EQ(left[0].set_id, persistent_dead.id);
  EXPECT_EQ(left[1].set_id, auto_other.id);
  EXPECT_EQ(left[2].set_id, auto_failing.id);
}

TEST_F(RecoveryTest, AdoptionRecordsSnapshotsTheirProviderNoLongerHasAsDeleted) {
  auto c = open();
  ASSERT_TRUE(c);
  const auto kept = completed_set(*c, 2, to_raw(snapshot_context::app_rollback), dead_host());
  auto actions = recording_actions();
  std::vector<snapshot_id> adopted;
  actions.adopt = [&](const snapshot_properties& p) -> std::error_code {
    adopted.push_back(p.id);
    if (p.id == kept.snapshots[0].id) return errc::object_not_found;
    return {};
  };
  const auto report = recover(*c, host_process::current(), {}, actions);
  EXPECT_EQ(adopted.size(), 2u);
  EXPECT_EQ(report.snapshots_adopted, 1u);
  ASSERT_EQ(report.entries.size(), 1u);
  EXPECT_EQ(report.entries[0].action, recovery_action::vanished);
  EXPECT_EQ(report.entries[0].snapshots, 1u);
  std::vector<snapshot_properties> left;
  ASSERT_FALSE(c->query(left));
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].id, kept.snapshots[1].id);
}

}  // namespace
}  // namespace vss::catalog
