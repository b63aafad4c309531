#pragma once
// examples/sqlite_writer — a VSS-style writer for one SQLite database in WAL mode, plus the
// test-load format shared by openvss-sqlite-inserter and openvss-sqlite-verify.
//
// What the writer does at each event (README.md in this folder gives the consistency
// argument):
//   Identify          one database component: logical path = the database's directory,
//                     name = its file name, files = the database, its -wal and its -shm.
//   PrepareSnapshot   checks that the database exists and is in WAL mode (else a veto with
//                     VSS_E_WRITERERROR_NONRETRYABLE and a message), then runs a PASSIVE
//                     checkpoint, which blocks nobody and shortens the one at Freeze.
//   Freeze            on its own connection: `PRAGMA wal_checkpoint(TRUNCATE)` (through
//                     sqlite3_wal_checkpoint_v2, the function behind the PRAGMA; retried while
//                     SQLITE_BUSY, within `busy_bound`), then `BEGIN IMMEDIATE`, kept open: it
//                     holds SQLite's write lock, so every other writer waits (SQLITE_BUSY,
//                     retried by its busy handler) while readers go on. If a writer committed
//                     between the two steps (the -wal file is no longer empty) it starts over.
//                     On success the database file alone holds every committed transaction and
//                     nothing can change it until the lock is released. A Freeze that cannot
//                     get there in time vetoes with VSS_E_WRITERERROR_RETRYABLE and holds
//                     nothing.
//   Thaw, Abort,      ROLLBACK (the transaction wrote nothing) and close the connection: the
//   BackupShutdown    other writers go on. Only the event of the snapshot set that froze the
//                     writer releases it; other sets (and a null set) are answered with success.
//   (watchdog)        the lock is never held longer than the freeze timeout, counted from the
//                     start of the Freeze handler: a watchdog thread releases it by itself and
//                     logs it. The Thaw of that set then fails with VSS_E_WRITERERROR_TIMEOUT
//                     (the snapshot may have been taken after the release); its Abort succeeds.
//
// The handlers make blocking SQLite calls (checkpoint I/O and fsync, busy waits of up to
// `busy_bound`), so the writer declares handler_execution::blocking: the engine (or the writer
// client) runs them on its blocking executor, never on an engine worker thread.
//
// Every step is also a public member function (check(), freeze(), thaw(), release()) that
// returns what the handler answers, so the writer can be driven without an engine.
//
// Thread-safety: every member function may be called from any thread; the steps are
// serialised by one mutex, which the watchdog also takes. The log callback is called from the
// handler threads and from the watchdog thread, never with that mutex held.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vss/error.hpp"
#include "vss/id.hpp"
#include "vss/types.hpp"
#include "vss/writer.hpp"

struct sqlite3;

namespace vss::examples {

/// Options of a sqlite_writer.
struct sqlite_writer_options {
  /// The database file. Required.
  std::string database;
  /// Writer name. Default: "sqlite".
  std::string name = "sqlite";
  /// VSS_APPLICATION_LEVEL: a database is frozen after the front-end applications that write
  /// into it. Default: back_end.
  application_level level = application_level::back_end;
  /// dwTimeoutFreeze: the longest the writer holds other writers out. Default: 20 s.
  std::chrono::milliseconds freeze_timeout{20000};
  /// The longest a Freeze waits for busy connections (readers pinning the WAL, a writer in a
  /// transaction) before it vetoes as retryable. Never more than half the freeze timeout.
  /// Default: 5 s.
  std::chrono::milliseconds busy_bound{5000};
  /// Receives one line per notable step (freeze, release, watchdog, veto). Optional; called
  /// from handler threads and the watchdog thread.
  std::function<void(std::string_view line)> log;
};

/// What a step answers: errc::ok (the handler calls complete()) or a VSS_E_WRITERERROR_* code
/// with a message (the handler calls fail(code, message)).
struct sqlite_step_result {
  errc code = errc::ok;
  std::string message;
  /// True when code is errc::ok.
  bool ok() const noexcept { return code == errc::ok; }
};

/// Counters since construction.
struct sqlite_writer_stats {
  std::uint64_t freezes = 0;            ///< Successful Freezes.
  std::uint64_t releases = 0;           ///< Locks released by Thaw, Abort or BackupShutdown.
  std::uint64_t watchdog_releases = 0;  ///< Locks released by the watchdog.
  std::uint64_t retries = 0;            ///< Freeze attempts started over (busy, or a commit
                                        ///< slipped in between checkpoint and lock).
};

/// The writer (CVssWriter role) of one SQLite database in WAL mode.
class sqlite_writer : public writer {
 public:
  /// Throws std::invalid_argument for an empty database path or name, or a freeze timeout or
  /// busy bound that is not positive. Starts the watchdog thread.
  explicit sqlite_writer(sqlite_writer_options options);
  /// Releases the lock if still held, and joins the watchdog thread.
  ~sqlite_writer() override;

  /// The options, as given.
  const sqlite_writer_options& options() const noexcept;

  /// The component reported at Identify (absolute paths).
  component_info component() const;

  /// PrepareSnapshot's work: the database exists and is in WAL mode, then a PASSIVE checkpoint.
  /// A missing or non-WAL database: VSS_E_WRITERERROR_NONRETRYABLE.
  sqlite_step_result check();

  /// Freeze's work for snapshot set `set`: checkpoint(TRUNCATE), then hold the write lock.
  /// `abandoned` (optional) is polled while waiting; when it returns true the Freeze gives up
  /// and holds nothing. Vetoes: VSS_E_WRITERERROR_RETRYABLE (busy beyond busy_bound, already
  /// frozen for another set, abandoned), VSS_E_WRITERERROR_NONRETRYABLE (missing or non-WAL
  /// database, an SQLite error).
  sqlite_step_result freeze(const snapshot_set_id& set,
                            const std::function<bool()>& abandoned = {});

  /// Thaw's work: releases the lock held for `set`. VSS_E_WRITERERROR_TIMEOUT if the watchdog
  /// had already released it; success when nothing is held for `set`.
  sqlite_step_result thaw(const snapshot_set_id& set);

  /// Abort's or BackupShutdown's work (`why` names the event for the log): releases the lock
  /// held for `set`, forgets a watchdog release for `set`. Always succeeds; idempotent.
  sqlite_step_result release(const snapshot_set_id& set, writer_event why);

  /// True while the write lock is held.
  bool frozen() const noexcept;

  /// Counters since construction.
  sqlite_writer_stats stats() const noexcept;

  /// OnIdentify: reports component().
  void on_identify(writer_context ctx) override;
  /// OnPrepareSnapshot: check().
  void on_prepare_snapshot(writer_context ctx) override;
  /// OnFreeze: freeze(ctx.snapshot_set(), ctx.abandoned).
  void on_freeze(writer_context ctx) override;
  /// OnThaw: thaw(ctx.snapshot_set()).
  void on_thaw(writer_context ctx) override;
  /// OnAbort: release(ctx.snapshot_set(), abort).
  void on_abort(writer_context ctx) override;
  /// OnBackupShutdown: release(ctx.snapshot_set(), backup_shutdown).
  void on_backup_shutdown(writer_context ctx) override;

 private:
  struct state;
  std::unique_ptr<state> state_;
};

// ---------------------------------------------------------------------------------------------
// The test-load format: table tx(id INTEGER PRIMARY KEY, payload BLOB, checksum INTEGER).
// Each transaction inserts `rows` rows with consecutive ids first_id .. first_id + rows - 1.
// A payload starts with a 16-byte header (first_id as 8 little-endian bytes, rows as 4, then 4
// zero bytes) followed by 16 to 112 filler bytes derived from the id; the checksum is the
// 64-bit FNV-1a hash of the id (8 little-endian bytes) then the payload, stored as a signed
// 64-bit integer. A database holds a prefix of the committed transactions exactly when its ids
// are 1..max without gaps, every checksum matches and the last row ends its transaction.

/// The payload of row `id` in a transaction of `rows` rows starting at `first_id`.
std::vector<unsigned char> load_payload(std::int64_t first_id, std::int32_t rows, std::int64_t id);

/// The checksum of row `id` with `payload`.
std::int64_t load_checksum(std::int64_t id, std::span<const unsigned char> payload);

/// An inserter of test-load transactions on its own connection (openvss-sqlite-inserter and
/// the tests). Not thread-safe: use one per thread.
class load_inserter {
 public:
  /// Opens `database`, creating it in WAL mode with table tx when needed, with synchronous =
  /// NORMAL. A busy database is waited for up to `busy_timeout`, polling `stop` (optional)
  /// every few milliseconds. Throws std::runtime_error when the database cannot be opened or
  /// set up.
  load_inserter(const std::string& database, std::chrono::milliseconds busy_timeout,
                std::function<bool()> stop = {});
  ~load_inserter();
  load_inserter(const load_inserter&) = delete;
  load_inserter& operator=(const load_inserter&) = delete;

  /// How one insert_transaction ended.
  enum class outcome : std::uint8_t {
    committed,  ///< COMMIT returned SQLITE_OK; last_id() is the transaction's last id.
    busy,       ///< The database stayed locked for busy_timeout (rolled back).
    stopped,    ///< `stop` returned true while waiting (rolled back).
  };

  /// Inserts one transaction of `rows` (>= 1) rows after last_id(), and commits. Throws
  /// std::runtime_error on any other SQLite error (after rolling back).
  outcome insert_transaction(std::int32_t rows);

  /// The last committed id (the table's largest id when opened, then each commit's).
  std::int64_t last_id() const noexcept { return last_id_; }

 private:
  static int busy_handler(void* self, int count);
  void exec(const char* sql);

  sqlite3* db_ = nullptr;
  std::chrono::milliseconds busy_timeout_;
  std::function<bool()> stop_;
  std::chrono::steady_clock::time_point busy_since_{};
  bool stopped_ = false;
  std::int64_t last_id_ = 0;
};

/// What openvss-sqlite-verify found.
struct verify_result {
  bool ok = false;             ///< Every check passed.
  std::int64_t rows = 0;       ///< Rows in tx.
  std::int64_t max_id = 0;     ///< Largest id (0 when empty).
  std::int64_t wal_bytes = 0;  ///< Size of "<database>-wal" (0 when absent).
  std::string problem;         ///< The first failed check; empty when ok.

  /// {"ok":bool,"rows":N,"max_id":N,"wal_bytes":N,"problem":"..."} on one line.
  std::string to_json() const;
};

/// Verifies a copy of a test-load database without writing anything (read-only,
/// `immutable=1`): PRAGMA integrity_check is "ok"; the ids are exactly 1..max_id; every checksum
/// matches; the last row ends its transaction; max_id >= min_id; max_id <= max_id_bound when
/// given; and, unless `allow_wal`, "<database>-wal" is absent or empty (immutable=1 would not
/// read its frames). Never throws.
verify_result verify_database(const std::string& database, std::int64_t min_id = 0,
                              std::optional<std::int64_t> max_id_bound = std::nullopt,
                              bool allow_wal = false);

}  // namespace vss::examples
