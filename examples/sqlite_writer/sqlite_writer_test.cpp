// The sqlite writer driven directly (its steps are public), and in real in-process backups
// (engine_host + a memory provider that copies the database at its commit); and the
// verification of test-load databases, including the defects it must find.

#include "sqlite_writer.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "vss/vss.hpp"

namespace vss::examples {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using outcome = load_inserter::outcome;

// Longest any wait in these tests may take (only reached when something is broken).
constexpr auto bound = 20s;

std::int64_t file_size_or_zero(const fs::path& p) {
  std::error_code ec;
  const auto size = fs::file_size(p, ec);
  return ec ? 0 : static_cast<std::int64_t>(size);
}

// A raw connection for the tests' own statements.
class connection {
 public:
  explicit connection(const std::string& path, int busy_timeout_ms = 0) {
    EXPECT_EQ(
        sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
        SQLITE_OK);
    sqlite3_busy_timeout(db_, busy_timeout_ms);
  }
  ~connection() { sqlite3_close_v2(db_); }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  int exec(const std::string& sql) {
    return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  }

  std::int64_t count() {
    sqlite3_stmt* stmt = nullptr;
    std::int64_t n = -1;
    if (sqlite3_prepare_v2(db_, "SELECT count(*) FROM tx", -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      n = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    return n;
  }

 private:
  sqlite3* db_ = nullptr;
};

class SqliteWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/openvss-sqlite-writer-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    db_ = dir_ + "/app.db";
  }
  void TearDown() override { fs::remove_all(dir_); }

  sqlite_writer_options options() {
    return {.database = db_, .log = [this](std::string_view line) {
              std::lock_guard lock(log_mutex_);
              log_.emplace_back(line);
            }};
  }

  bool logged(std::string_view part) {
    std::lock_guard lock(log_mutex_);
    return std::any_of(log_.begin(), log_.end(), [&](const std::string& line) {
      return line.find(part) != std::string::npos;
    });
  }

  // True when a writer gets the write lock at once (busy timeout 0).
  bool can_write_now() {
    connection c(db_);
    const int rc = c.exec("BEGIN IMMEDIATE");
    c.exec("ROLLBACK");
    return rc == SQLITE_OK;
  }

  // Inserts `transactions` transactions of 3 rows with `app`.
  static void insert(load_inserter& app, int transactions) {
    for (int i = 0; i < transactions; ++i) ASSERT_EQ(app.insert_transaction(3), outcome::committed);
  }

  std::string wal() const { return db_ + "-wal"; }

  std::string dir_;
  std::string db_;
  std::mutex log_mutex_;
  std::vector<std::string> log_;
};

const snapshot_set_id set_a = snapshot_set_id::from_u128(0xa, 1);
const snapshot_set_id set_b = snapshot_set_id::from_u128(0xb, 2);

TEST_F(SqliteWriterTest, IsABlockingBackEndWriterWithATwentySecondFreezeTimeoutByDefault) {
  sqlite_writer w({.database = db_});
  EXPECT_EQ(w.identity().name, "sqlite");
  EXPECT_EQ(w.identity().level, application_level::back_end);
  EXPECT_EQ(w.identity().execution, handler_execution::blocking);
  EXPECT_EQ(w.identity().freeze_timeout, 20000ms);
  EXPECT_EQ(w.identity().source, source_type::transacted_db);
  EXPECT_EQ(w.identity().instance_name, db_);
  EXPECT_FALSE(w.identity().class_id.is_null());
  // The class id is fixed per application, the instance id per running instance.
  sqlite_writer other({.database = db_});
  EXPECT_EQ(other.identity().class_id, w.identity().class_id);
  EXPECT_NE(other.identity().instance_id, w.identity().instance_id);
}

TEST_F(SqliteWriterTest, RejectsAnEmptyPathOrNameOrANonPositiveTimeout) {
  EXPECT_THROW(sqlite_writer({}), std::invalid_argument);
  EXPECT_THROW(sqlite_writer({.database = db_, .name = ""}), std::invalid_argument);
  EXPECT_THROW(sqlite_writer({.database = db_, .freeze_timeout = 0ms}), std::invalid_argument);
  EXPECT_THROW(sqlite_writer({.database = db_, .busy_bound = -1ms}), std::invalid_argument);
}

TEST_F(SqliteWriterTest, IdentifyListsTheDatabaseWithItsWalAndShmAsOneComponent) {
  sqlite_writer w({.database = db_});
  const auto c = w.component();
  EXPECT_EQ(c.type, component_type::database);
  EXPECT_EQ(c.logical_path, dir_);
  EXPECT_EQ(c.name, "app.db");
  EXPECT_TRUE(c.selectable);
  EXPECT_EQ(c.files, (std::vector<std::string>{db_, db_ + "-wal", db_ + "-shm"}));
}

TEST_F(SqliteWriterTest, FreezeLeavesACheckpointedDatabaseAndHoldsWritersButNotReadersUntilThaw) {
  load_inserter app(db_, 30s);
  insert(app, 50);
  const auto committed = app.last_id();
  ASSERT_GT(file_size_or_zero(wal()), 0);  // the commits are in the WAL, not yet in the db

  sqlite_writer w(options());
  ASSERT_TRUE(w.check().ok());
  const auto r = w.freeze(set_a);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_TRUE(w.frozen());
  EXPECT_TRUE(fs::exists(wal()));
  EXPECT_EQ(file_size_or_zero(wal()), 0);  // checkpointed and truncated

  // An application transaction now waits (its busy handler retries)...
  std::atomic<bool> done{false};
  auto blocked = std::async(std::launch::async, [&] {
    const auto o = app.insert_transaction(2);
    done = true;
    return o;
  });
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(done);
  // ...while readers go on.
  connection reader(db_);
  EXPECT_EQ(reader.count(), committed);

  // The database file alone, copied now, is the whole committed database.
  const auto copy = dir_ + "/copy.db";
  fs::copy_file(db_, copy);
  const auto v = verify_database(copy, committed, committed);
  EXPECT_TRUE(v.ok) << v.to_json();
  EXPECT_EQ(v.max_id, committed);
  EXPECT_EQ(file_size_or_zero(wal()), 0);

  EXPECT_TRUE(w.thaw(set_a).ok());
  EXPECT_FALSE(w.frozen());
  ASSERT_EQ(blocked.wait_for(bound), std::future_status::ready);
  EXPECT_EQ(blocked.get(), outcome::committed);
  EXPECT_EQ(app.last_id(), committed + 2);
  EXPECT_EQ(w.stats().freezes, 1u);
  EXPECT_EQ(w.stats().releases, 1u);
  EXPECT_EQ(w.stats().watchdog_releases, 0u);
  EXPECT_TRUE(logged("frozen: checkpointed"));
}

TEST_F(SqliteWriterTest, AbortReleasesTheLockOfItsOwnSetOnlyAndIsIdempotent) {
  load_inserter app(db_, 30s);
  insert(app, 3);
  sqlite_writer w(options());
  ASSERT_TRUE(w.freeze(set_a).ok());
  EXPECT_FALSE(can_write_now());

  // Another set's end (or a second Freeze for it) does not touch this freeze.
  EXPECT_TRUE(w.release(set_b, writer_event::abort).ok());
  EXPECT_TRUE(w.thaw(set_b).ok());
  const auto second = w.freeze(set_b);
  EXPECT_EQ(second.code, errc::writer_error_retryable);
  EXPECT_TRUE(w.frozen());
  EXPECT_FALSE(can_write_now());

  EXPECT_TRUE(w.release(set_a, writer_event::abort).ok());
  EXPECT_FALSE(w.frozen());
  EXPECT_TRUE(can_write_now());
  EXPECT_TRUE(w.release(set_a, writer_event::abort).ok());
  EXPECT_TRUE(w.thaw(set_a).ok());
  EXPECT_EQ(w.stats().releases, 1u);
  EXPECT_TRUE(logged("Abort: released the write lock"));
}

TEST_F(SqliteWriterTest, BackupShutdownReleasesAForgottenFreeze) {
  load_inserter app(db_, 30s);
  insert(app, 1);
  sqlite_writer w({.database = db_});
  ASSERT_TRUE(w.freeze(set_a).ok());
  EXPECT_TRUE(w.release(set_a, writer_event::backup_shutdown).ok());
  EXPECT_FALSE(w.frozen());
  EXPECT_TRUE(can_write_now());
}

TEST_F(SqliteWriterTest, TheWatchdogReleasesAtTheFreezeTimeoutAndALaterThawReportsTimeout) {
  load_inserter app(db_, 30s);
  insert(app, 3);
  auto o = options();
  o.freeze_timeout = 200ms;
  sqlite_writer w(o);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(w.freeze(set_a).ok());
  while (w.frozen() && std::chrono::steady_clock::now() - start < bound) {
    std::this_thread::sleep_for(5ms);
  }
  const auto held = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(w.frozen());
  EXPECT_GE(held, 200ms);  // never before the timeout...
  EXPECT_LT(held, 5s);     // ...and not much later
  EXPECT_TRUE(can_write_now());
  EXPECT_EQ(w.stats().watchdog_releases, 1u);
  EXPECT_TRUE(logged("watchdog: no Thaw or Abort within the freeze timeout (200 ms)"));

  const auto late = w.thaw(set_a);
  EXPECT_EQ(late.code, errc::writer_error_timeout);
  EXPECT_NE(late.message.find("ran out before Thaw"), std::string::npos) << late.message;
  EXPECT_TRUE(w.release(set_a, writer_event::abort).ok());
  EXPECT_TRUE(w.thaw(set_a).ok());  // forgotten once answered
  EXPECT_EQ(w.stats().releases, 0u);
}

TEST_F(SqliteWriterTest, AnExpiredFreezeAbortedWithoutThawDoesNotFailTheNextBackup) {
  load_inserter app(db_, 30s);
  insert(app, 1);
  auto o = options();
  o.freeze_timeout = 100ms;
  sqlite_writer w(o);
  ASSERT_TRUE(w.freeze(set_a).ok());
  const auto start = std::chrono::steady_clock::now();
  while (w.frozen() && std::chrono::steady_clock::now() - start < bound) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(w.release(set_a, writer_event::abort).ok());
  ASSERT_TRUE(w.freeze(set_b).ok());
  EXPECT_TRUE(w.thaw(set_b).ok());
}

TEST_F(SqliteWriterTest, ANonWalDatabaseIsVetoedAtPrepareSnapshotAndAtFreeze) {
  {
    connection c(db_);
    ASSERT_EQ(c.exec("PRAGMA journal_mode=DELETE; CREATE TABLE t(a)"), SQLITE_OK);
  }
  sqlite_writer w(options());
  const auto r = w.check();
  EXPECT_EQ(r.code, errc::writer_error_nonretryable);
  EXPECT_NE(r.message.find("is not in WAL mode (journal_mode=delete)"), std::string::npos)
      << r.message;
  const auto f = w.freeze(set_a);
  EXPECT_EQ(f.code, errc::writer_error_nonretryable);
  EXPECT_FALSE(w.frozen());
  EXPECT_TRUE(can_write_now());
  EXPECT_TRUE(logged("Freeze vetoed (VSS_E_WRITERERROR_NONRETRYABLE)"));
}

TEST_F(SqliteWriterTest, AMissingDatabaseIsVetoedAsNonRetryable) {
  sqlite_writer w({.database = dir_ + "/nothing.db"});
  const auto r = w.check();
  EXPECT_EQ(r.code, errc::writer_error_nonretryable);
  EXPECT_EQ(r.message, "SQLite database " + dir_ + "/nothing.db does not exist");
  EXPECT_EQ(w.freeze(set_a).code, errc::writer_error_nonretryable);
  EXPECT_FALSE(fs::exists(dir_ + "/nothing.db"));  // and it was not created
}

TEST_F(SqliteWriterTest, AReaderPinningTheWalMakesFreezeVetoRetryableWithinItsBoundHoldingNothing) {
  load_inserter app(db_, 30s);
  insert(app, 5);
  connection reader(db_);
  ASSERT_EQ(reader.exec("BEGIN"), SQLITE_OK);
  ASSERT_EQ(reader.count(), 15);  // a read transaction on the WAL's frames

  auto o = options();
  o.busy_bound = 200ms;
  sqlite_writer w(o);
  const auto start = std::chrono::steady_clock::now();
  const auto r = w.freeze(set_a);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.code, errc::writer_error_retryable);
  EXPECT_NE(r.message.find("stayed busy for 200 ms"), std::string::npos) << r.message;
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 5s);
  EXPECT_FALSE(w.frozen());
  EXPECT_TRUE(can_write_now());

  ASSERT_EQ(reader.exec("COMMIT"), SQLITE_OK);
  const auto again = w.freeze(set_a);
  EXPECT_TRUE(again.ok()) << again.message;
  EXPECT_TRUE(w.thaw(set_a).ok());
}

TEST_F(SqliteWriterTest, AbandonedFreezeGivesUpAndHoldsNothing) {
  load_inserter app(db_, 30s);
  insert(app, 1);
  sqlite_writer w({.database = db_});
  const auto r = w.freeze(set_a, [] { return true; });
  EXPECT_EQ(r.code, errc::writer_error_retryable);
  EXPECT_FALSE(w.frozen());
  EXPECT_TRUE(can_write_now());
}

TEST_F(SqliteWriterTest, CopiesTakenWhileFrozenUnderFullLoadArePrefixesOfTheCommittedTransactions) {
  { load_inserter create(db_, 30s); }
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> last_committed{0};
  std::atomic<std::int64_t> commits{0};  // counted after last_committed is stored
  std::atomic<int> errors{0};
  std::thread load([&] {
    load_inserter app(db_, 30s, [&] { return stop.load(); });
    std::int32_t k = 1;
    while (!stop) {
      const auto o = app.insert_transaction(k);
      if (o == outcome::committed) {
        last_committed = app.last_id();
        ++commits;
      } else if (o == outcome::busy) {
        ++errors;
      }
      k = k % 7 + 1;
    }
  });
  while (last_committed < 100 && !stop) std::this_thread::sleep_for(1ms);

  sqlite_writer w({.database = db_});
  std::int64_t first_bound = -1;
  for (int round = 0; round < 8; ++round) {
    const std::int64_t before = last_committed;  // committed before the freeze
    if (first_bound < 0) first_bound = before;
    ASSERT_TRUE(w.check().ok());
    const auto r = w.freeze(set_a);
    ASSERT_TRUE(r.ok()) << r.message;
    const auto copy = dir_ + "/copy" + std::to_string(round) + ".db";
    fs::copy_file(db_, copy);
    EXPECT_EQ(file_size_or_zero(wal()), 0);
    ASSERT_TRUE(w.thaw(set_a).ok());
    // Two more commits: the one in flight at the freeze (if any) has published its id.
    const auto thawed_at = commits.load();
    const auto until = std::chrono::steady_clock::now() + bound;
    while (commits < thawed_at + 2 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(1ms);
    }
    const std::int64_t after = last_committed;  // committed after the copy
    const auto v = verify_database(copy, before, after);
    EXPECT_TRUE(v.ok) << "round " << round << ": " << v.to_json();
  }
  stop = true;
  load.join();
  EXPECT_EQ(errors, 0);
  EXPECT_GT(last_committed, first_bound);  // the load really ran between the freezes
  EXPECT_EQ(w.stats().freezes, 8u);
}

// ---------------------------------------------------------------------------------------------
// In an engine

// Copies the database at the commit (every writer frozen), and looks at it there.
class copying_provider : public memory_provider {
 public:
  copying_provider(std::string db, std::string copy) : db_(std::move(db)), copy_(std::move(copy)) {}
  void commit_snapshots(const snapshot_set_id& set, completion done) override {
    wal_bytes_at_commit = file_size_or_zero(db_ + "-wal");
    {
      connection c(db_);
      writer_blocked_at_commit = c.exec("BEGIN IMMEDIATE") == SQLITE_BUSY;
      c.exec("ROLLBACK");
    }
    std::error_code ec;
    copied = fs::copy_file(db_, copy_, ec);
    memory_provider::commit_snapshots(set, std::move(done));
  }
  std::int64_t wal_bytes_at_commit = -1;
  bool writer_blocked_at_commit = false;
  bool copied = false;

 private:
  std::string db_;
  std::string copy_;
};

struct backup_result {
  std::error_code snapshot;
  consistency_grade grade = consistency_grade::none;
  std::vector<writer_metadata> metadata;
  writer_status status;
};

backup_result backup(const std::string& volume, const std::shared_ptr<sqlite_writer>& w,
                     const std::shared_ptr<provider>& p) {
  backup_result out;
  engine_host host;
  EXPECT_FALSE(host.engine().register_provider(p));
  auto reg = host.engine().register_writer(w);
  backup_session s = host.engine().create_backup_session();
  EXPECT_FALSE(s.initialize_for_backup());
  EXPECT_FALSE(s.set_backup_state(false, false, backup_type::full));
  EXPECT_TRUE(s.async_gather_writer_metadata(use_async_op).wait_for(bound));
  out.metadata = s.get_writer_metadata();
  snapshot_set_id set;
  EXPECT_FALSE(s.start_snapshot_set(set));
  snapshot_id snap;
  EXPECT_FALSE(s.add_to_snapshot_set(volume, {}, snap));
  EXPECT_TRUE(s.async_prepare_for_backup(use_async_op).wait_for(bound));
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_TRUE(op.wait_for(bound));
  out.snapshot = op.query_status();
  out.grade = s.consistency();
  EXPECT_TRUE(s.async_gather_writer_status(use_async_op).wait_for(bound));
  const auto statuses = s.get_writer_status();
  EXPECT_EQ(statuses.size(), 1u);
  if (!statuses.empty()) out.status = statuses.front();
  if (out.snapshot == errc::async_finished) {
    EXPECT_TRUE(s.async_backup_complete(use_async_op).wait_for(bound));
  } else {
    s.abort_backup();
  }
  EXPECT_TRUE(s.async_release(use_async_op).wait_for(bound));
  return out;
}

TEST_F(SqliteWriterTest, InAnEngineAFullBackupIsApplicationConsistentAndItsCommitSeesAFrozenDb) {
  load_inserter app(db_, 30s);
  insert(app, 20);
  ASSERT_GT(file_size_or_zero(wal()), 0);
  const auto copy = dir_ + "/snapshot.db";
  auto provider = std::make_shared<copying_provider>(db_, copy);
  auto w = std::make_shared<sqlite_writer>(options());
  const auto r = backup(dir_, w, provider);

  ASSERT_EQ(r.metadata.size(), 1u);
  ASSERT_EQ(r.metadata.front().components.size(), 1u);
  EXPECT_EQ(r.metadata.front().components.front().name, "app.db");
  EXPECT_EQ(r.metadata.front().identity.name, "sqlite");
  EXPECT_EQ(r.snapshot, errc::async_finished);
  EXPECT_EQ(r.grade, consistency_grade::application);
  EXPECT_EQ(r.status.state, writer_state::waiting_for_backup_complete);
  EXPECT_FALSE(r.status.failure) << r.status.message;
  EXPECT_EQ(provider->wal_bytes_at_commit, 0);
  EXPECT_TRUE(provider->writer_blocked_at_commit);
  ASSERT_TRUE(provider->copied);
  const auto v = verify_database(copy, app.last_id(), app.last_id());
  EXPECT_TRUE(v.ok) << v.to_json();
  EXPECT_FALSE(w->frozen());
  EXPECT_TRUE(can_write_now());
  EXPECT_EQ(w->stats().freezes, 1u);
  EXPECT_EQ(w->stats().releases, 1u);
}

TEST_F(SqliteWriterTest, InAnEngineANonWalDatabaseFailsAtPrepareSnapshotWithItsMessage) {
  {
    connection c(db_);
    ASSERT_EQ(c.exec("CREATE TABLE t(a)"), SQLITE_OK);
  }
  auto w = std::make_shared<sqlite_writer>(options());
  const auto r = backup(dir_, w, std::make_shared<memory_provider>());
  EXPECT_EQ(r.status.state, writer_state::failed_at_prepare_snapshot);
  EXPECT_EQ(r.status.failure, errc::writer_error_nonretryable);
  EXPECT_NE(r.status.message.find("is not in WAL mode"), std::string::npos) << r.status.message;
  EXPECT_NE(r.grade, consistency_grade::application);
  EXPECT_FALSE(w->frozen());
  EXPECT_EQ(w->stats().freezes, 0u);
}

// ---------------------------------------------------------------------------------------------
// verify_database

class VerifyDatabaseTest : public SqliteWriterTest {
 protected:
  void SetUp() override {
    SqliteWriterTest::SetUp();
    load_inserter app(db_, 30s);
    insert(app, 3);  // ids 1..9 in transactions {1,2,3} {4,5,6} {7,8,9}
  }
  // A copy of the database, changed by `sql`.
  std::string variant(const std::string& name, const std::string& sql) {
    auto path = dir_ + "/" + name;
    fs::copy_file(db_, path);
    connection c(path);
    EXPECT_EQ(c.exec(sql), SQLITE_OK);
    return path;
  }
};

TEST_F(VerifyDatabaseTest, AnIntactDatabasePassesAndReportsItsRowsAsJson) {
  const auto r = verify_database(db_);
  EXPECT_TRUE(r.ok) << r.to_json();
  EXPECT_EQ(r.rows, 9);
  EXPECT_EQ(r.max_id, 9);
  EXPECT_EQ(r.to_json(), R"({"ok":true,"rows":9,"max_id":9,"wal_bytes":0,"problem":""})");
  EXPECT_TRUE(verify_database(db_, 9, 9).ok);
}

TEST_F(VerifyDatabaseTest, FindsAGap) {
  const auto r = verify_database(variant("gap.db", "DELETE FROM tx WHERE id = 5"));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.problem, "ids are not 1..max: expected id 5, found 6");
  EXPECT_EQ(r.rows, 8);
}

TEST_F(VerifyDatabaseTest, FindsAWrongChecksum) {
  const auto r =
      verify_database(variant("sum.db", "UPDATE tx SET payload = zeroblob(40) WHERE id = 4"));
  EXPECT_EQ(r.problem, "id 4: wrong checksum");
}

TEST_F(VerifyDatabaseTest, FindsATornTransaction) {
  const auto r = verify_database(variant("torn.db", "DELETE FROM tx WHERE id = 9"));
  EXPECT_EQ(r.problem, "torn transaction: the last row is id 8 but its transaction ends at id 9");
}

TEST_F(VerifyDatabaseTest, FindsMissingOrExtraCommittedTransactions) {
  EXPECT_EQ(verify_database(db_, 10).problem,
            "missing committed transactions: max id 9 is below --min-id 10");
  EXPECT_EQ(verify_database(db_, 0, 6).problem, "max id 9 is above --max-id 6");
}

TEST_F(VerifyDatabaseTest, RefusesANonEmptyWalUnlessAllowed) {
  load_inserter app(db_, 30s);  // keeps the WAL: the last connection would checkpoint it away
  insert(app, 1);
  const auto r = verify_database(db_);
  EXPECT_FALSE(r.ok);
  EXPECT_GT(r.wal_bytes, 0);
  EXPECT_NE(r.problem.find("the -wal file holds"), std::string::npos) << r.problem;
  EXPECT_TRUE(verify_database(db_, 0, std::nullopt, true).ok);
}

TEST_F(VerifyDatabaseTest, FindsAFileThatIsNoDatabaseOrNoTable) {
  const auto junk = dir_ + "/junk.db";
  std::ofstream(junk) << std::string(8192, 'x');
  const auto r = verify_database(junk);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("file is not a database"), std::string::npos) << r.problem;
  EXPECT_EQ(verify_database(variant("empty.db", "DROP TABLE tx")).problem, "no table tx");
  EXPECT_EQ(verify_database(dir_ + "/none.db").problem, dir_ + "/none.db is not a regular file");
}

}  // namespace
}  // namespace vss::examples
