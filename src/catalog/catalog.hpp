#pragma once
// The durable snapshot catalog of openvssd (DESIGN.md §4 invariant 5, docs/catalog.md): one
// SQLite file, `<state_dir>/catalog.sqlite3`, holding every snapshot set the daemon made —
// its state, owner, timestamps, snapshots, the writers involved with their results, and the
// consistency grade — and a log of what recovery did at startup.
//
// A set is journaled (journal_set_creating) BEFORE its provider creates anything, with the
// id and volume of each snapshot, so that after a crash the next start finds it
// (sets_in_creation) and removes what the provider may have left (recovery.hpp). Every write
// is one transaction committed with synchronous=FULL in WAL mode: once a member returned {},
// the change survives kill -9 and a power cut.
//
// Set states (docs/catalog.md has the diagram):
//   creating  -> committed -> completed -> deleted (its last snapshot was deleted)
//   creating | committed -> aborted (AbortBackup, or recovery) | failed (a writer/provider)
// A call that does not follow these arrows returns VSS_E_BAD_STATE and changes nothing; an
// unknown set VSS_E_OBJECT_NOT_FOUND. Sets that ended (aborted, failed, deleted) stay as
// history, the newest `options::history_limit` of them.
//
// Requesters see what VSS's Query shows: the snapshots of completed sets, in state
// VSS_SS_CREATED (query, get_snapshot_properties).
//
// Errors: members return std::error_code: {} on success, a vss::errc for the rules above, or
// a code of sqlite_category() (SQLITE_BUSY after the busy timeout, SQLITE_FULL, SQLITE_IOERR,
// ...). No exception leaves the catalog (std::bad_alloc comes back as E_OUTOFMEMORY).
// open() never throws either: a file it must not use comes back as an open_result naming the
// file, what is wrong and what to do.
//
// Thread-safety: a catalog is safe to use from any number of threads (one connection, one
// mutex). Several catalog objects — in one process or in several — may open the same file at
// once: SQLite's locks serialise the writers (each waits up to options::busy_timeout).

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "catalog/host_process.hpp"
#include "vss/id.hpp"
#include "vss/provider.hpp"
#include "vss/report.hpp"

namespace vss::catalog {

/// The file inside the state directory.
inline constexpr std::string_view file_name = "catalog.sqlite3";

/// `PRAGMA application_id` of every openvss catalog: "OVSS" in ASCII. A SQLite file with
/// another id is another program's and is never touched.
inline constexpr std::uint32_t application_id = 0x4F565353;

/// `PRAGMA user_version`: the schema version this code writes and reads.
inline constexpr std::int64_t schema_version = 1;

/// The error category of SQLite result codes (extended codes, e.g. SQLITE_IOERR_FSYNC):
/// name() "sqlite", message() sqlite3_errstr(). SQLITE_BUSY and SQLITE_LOCKED compare equal
/// to vss::condition::retryable, SQLITE_FULL to retry_after_reconfigure, every other code to
/// vss::condition::fatal.
const std::error_category& sqlite_category() noexcept;

/// Lifecycle of a snapshot set in the catalog.
enum class set_state : std::uint8_t {
  creating,   ///< Journaled; the provider may be preparing or committing.
  committed,  ///< The provider committed (the point in time); DoSnapshotSet still running.
  completed,  ///< DoSnapshotSet succeeded; its snapshots are VSS_SS_CREATED.
  aborted,    ///< Stopped on request (AbortBackup) or by recovery; no snapshot remains.
  failed,     ///< A writer or provider failed it; no snapshot remains.
  deleted,    ///< Completed, then every snapshot of it was deleted.
};

/// "creating", "committed", "completed", "aborted", "failed", "deleted" (as stored).
std::string_view to_string(set_state s) noexcept;
/// Prints to_string(s).
std::ostream& operator<<(std::ostream& os, set_state s);

/// "2024-05-01T12:00:00.123456Z": a catalog time (microseconds) as ISO 8601 UTC, for logs
/// and `openvss status`.
std::string format_time(std::chrono::system_clock::time_point t);

/// One snapshot of a set about to be created (AddToSnapshotSet).
struct planned_snapshot {
  snapshot_id id;        ///< The snapshot id the provider is given.
  std::string volume;    ///< The original volume.
  provider_id provider;  ///< The provider that will make it.
};

/// A set about to be created: what journal_set_creating records.
struct new_set {
  snapshot_set_id id;                       ///< The set id (StartSnapshotSet).
  provider_id provider;                     ///< The requested provider; null: chosen per volume.
  std::uint32_t context = 0;                ///< The snapshot context (SetContext), raw.
  set_owner owner;                          ///< Who creates it.
  std::vector<planned_snapshot> snapshots;  ///< Known so far; more via journal_snapshot.
};

/// A set as the catalog holds it.
struct set_record {
  snapshot_set_id id;                             ///< The set id.
  set_state state = set_state::creating;          ///< Where it is in its lifecycle.
  provider_id provider;                           ///< The requested provider (null: automatic).
  std::uint32_t context = 0;                      ///< The snapshot context, raw.
  set_owner owner;                                ///< Who created it.
  std::chrono::system_clock::time_point created;  ///< When it was journaled.
  std::chrono::system_clock::time_point updated;  ///< The last change of state.
  consistency_grade consistency = consistency_grade::none;  ///< Set by mark_completed.
  std::error_code failure;                                  ///< {} or why it was aborted or failed.
  std::string failure_message;                              ///< The text given with `failure`.
  /// Every snapshot, in journal order, in its catalog state (VSS_SS_PREPARING while
  /// creating, VSS_SS_CREATED once completed, VSS_SS_ABORTED, VSS_SS_DELETED). Properties not
  /// known yet are empty.
  std::vector<snapshot_properties> snapshots;
  /// The writers involved and their last recorded status (GetWriterStatusEx).
  std::vector<writer_status> writers;
};

/// What recovery did about one set.
enum class recovery_action : std::uint8_t {
  aborted_in_creation,    ///< Found creating/committed with its owner gone: discarded.
  released_auto_release,  ///< Completed, auto-release, its session gone: snapshots deleted.
  vanished,               ///< A created snapshot its provider no longer has: recorded deleted.
};

/// "aborted_in_creation", "released_auto_release", "vanished" (as stored).
std::string_view to_string(recovery_action a) noexcept;

/// One row of the recovery log.
struct recovery_entry {
  std::int64_t seq = 0;                      ///< Increasing; assigned by record_recovery.
  std::chrono::system_clock::time_point at;  ///< Assigned by record_recovery.
  snapshot_set_id set;                       ///< The set concerned.
  recovery_action action = recovery_action::aborted_in_creation;  ///< What was done.
  set_state previous_state = set_state::creating;                 ///< The set's state when found.
  std::int64_t owner_pid = 0;   ///< The pid of the process that owned the set.
  std::uint32_t snapshots = 0;  ///< Snapshots concerned.
  std::uint32_t failed = 0;     ///< Of which could not be removed (retried next start).
  std::error_code result;       ///< {} or the first failure.
  std::string detail;           ///< One line for humans.
};

/// Counts for `openvss status`.
struct catalog_stats {
  /// Sets per state, indexed by static_cast<std::size_t>(set_state).
  std::array<std::size_t, 6> sets{};
  /// Snapshots requesters can see (Query).
  std::size_t snapshots = 0;
};

/// How open() behaves.
struct options {
  /// How long a write waits for another connection's lock before SQLITE_BUSY. Default: 5 s.
  std::chrono::milliseconds busy_timeout{5000};
  /// Ended sets (aborted, failed, deleted) kept as history, newest first. Default: 256.
  std::size_t history_limit = 256;
  /// Rows kept in the recovery log. Default: 1000.
  std::size_t recovery_log_limit = 1000;
  /// The clock of every timestamp. Default: std::chrono::system_clock::now.
  std::function<std::chrono::system_clock::time_point()> now;
};

/// Why open() refused.
enum class open_problem : std::uint8_t {
  none,          ///< Opened.
  state_dir,     ///< The state directory cannot be created or is not a directory.
  permission,    ///< The directory or file cannot be written (EACCES, read-only filesystem).
  damaged,       ///< Not an SQLite file, truncated, or failing PRAGMA quick_check.
  foreign,       ///< An SQLite database of another application.
  newer_schema,  ///< Written by a newer openvss (user_version above schema_version).
  unavailable,   ///< Anything else: locked past the busy timeout, an I/O error.
};

/// "state_dir", "permission", "damaged", "foreign", "newer_schema", "unavailable", "none".
std::string_view to_string(open_problem p) noexcept;

class catalog;

/// The result of catalog::open().
struct open_result {
  /// The catalog, or null when `problem` says why not.
  std::unique_ptr<catalog> db;
  /// What stopped the open; none on success.
  open_problem problem = open_problem::none;
  /// On failure: one paragraph naming the file, what is wrong and what to do.
  std::string message;
  /// True when opened.
  explicit operator bool() const noexcept { return db != nullptr; }
};

/// The catalog. Not copyable or movable; hold it by the unique_ptr open() returns.
class catalog {
 public:
  /// Opens `<state_dir>/catalog.sqlite3`. Creates the directory (mode 0700, parents 0755)
  /// and an empty catalog (file mode 0600) if absent; otherwise validates the file: SQLite
  /// header, application_id, user_version, PRAGMA quick_check, the tables. An empty SQLite
  /// database (no tables, no application_id) counts as absent. Never throws.
  static open_result open(const std::filesystem::path& state_dir, options opts = {});

  /// Closes the connection.
  ~catalog();

  catalog(const catalog&) = delete;
  catalog& operator=(const catalog&) = delete;

  /// The catalog file.
  const std::filesystem::path& file() const noexcept;

  // --- writes ---------------------------------------------------------------------------------

  /// Journals `set` in state creating with its snapshots (state VSS_SS_PREPARING). Call it
  /// before the provider creates anything. VSS_E_OBJECT_ALREADY_EXISTS if the set id or a
  /// snapshot id is already in the catalog; E_INVALIDARG for a null set or snapshot id.
  std::error_code journal_set_creating(const new_set& set);

  /// Adds one more snapshot to a set in creation, before its provider is asked for it.
  /// VSS_E_BAD_STATE unless the set is creating; VSS_E_OBJECT_ALREADY_EXISTS for a known id.
  std::error_code journal_snapshot(const snapshot_set_id& set, const planned_snapshot& snapshot);

  /// Records (inserts or replaces, by instance id) the status of writers involved in `set`.
  /// Any state but deleted.
  std::error_code record_writers(const snapshot_set_id& set,
                                 std::span<const writer_status> writers);

  /// creating -> committed: the provider committed. `snapshots` (optional) are the properties
  /// known now; each must be a journaled snapshot of `set` (else VSS_E_SNAPSHOT_NOT_IN_SET
  /// and nothing changes). Their state is stored as given (VSS_SS_COMMITTED if unknown).
  std::error_code mark_committed(const snapshot_set_id& set,
                                 std::span<const snapshot_properties> snapshots = {});

  /// committed -> completed: DoSnapshotSet succeeded with consistency `g` (stored as "none",
  /// "application", "filesystem", "crash"). `snapshots` (optional)
  /// update properties as in mark_committed; then every snapshot of the set is VSS_SS_CREATED.
  /// `writers` as record_writers.
  std::error_code mark_completed(const snapshot_set_id& set, consistency_grade g,
                                 std::span<const snapshot_properties> snapshots = {},
                                 std::span<const writer_status> writers = {});

  /// creating | committed -> aborted (AbortBackup, a cancel, recovery): every snapshot becomes
  /// VSS_SS_ABORTED. `why` and `message` are kept (why: typically VSS_S_ASYNC_CANCELLED).
  std::error_code mark_aborted(const snapshot_set_id& set, std::error_code why,
                               std::string_view message,
                               std::span<const writer_status> writers = {});

  /// creating | committed -> failed, like mark_aborted; `why` is the failure.
  std::error_code mark_failed(const snapshot_set_id& set, std::error_code why,
                              std::string_view message,
                              std::span<const writer_status> writers = {});

  /// A created snapshot was deleted (DeleteSnapshots): VSS_SS_DELETED; when it was the last
  /// one of its set, the set becomes deleted. VSS_E_OBJECT_NOT_FOUND unless the snapshot is
  /// one requesters can see (query).
  std::error_code record_deleted(const snapshot_id& snapshot);

  /// Appends `entry` to the recovery log, assigning entry.seq and entry.at.
  std::error_code record_recovery(recovery_entry& entry);

  // --- reads ----------------------------------------------------------------------------------

  /// Query: every snapshot requesters can see (sets completed, snapshots VSS_SS_CREATED),
  /// oldest first.
  std::error_code query(std::vector<snapshot_properties>& out) const;

  /// Query restricted to one set (empty if the set is unknown or not completed).
  std::error_code query(const snapshot_set_id& set, std::vector<snapshot_properties>& out) const;

  /// GetSnapshotProperties; VSS_E_OBJECT_NOT_FOUND unless the snapshot is one query shows.
  std::error_code get_snapshot_properties(const snapshot_id& id, snapshot_properties& out) const;

  /// A set in any state, with its snapshots and writers; VSS_E_OBJECT_NOT_FOUND if unknown
  /// (or pruned from history).
  std::error_code get_set(const snapshot_set_id& id, set_record& out) const;

  /// Every set still creating or committed, whoever owns it, oldest first.
  std::error_code sets_in_creation(std::vector<set_record>& out) const;

  /// Completed sets of an auto-release context (spec §11.5) whose owner is gone
  /// (owner_gone(owner, self, live_sessions)), oldest first.
  std::error_code auto_release_sets_of_dead_owners(const host_process& self,
                                                   std::span<const session_id> live_sessions,
                                                   std::vector<set_record>& out) const;

  /// The newest `limit` sets in any state, newest first (by last change).
  std::error_code recent_sets(std::size_t limit, std::vector<set_record>& out) const;

  /// The newest `limit` recovery log rows, newest first.
  std::error_code recent_recoveries(std::size_t limit, std::vector<recovery_entry>& out) const;

  /// Counts for `openvss status`.
  std::error_code stats(catalog_stats& out) const;

 private:
  struct impl;
  explicit catalog(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace vss::catalog
