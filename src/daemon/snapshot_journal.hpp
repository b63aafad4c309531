#pragma once
// What the requester service tells a durable record of snapshot sets (the daemon's catalog,
// src/catalog/) as a backup runs: the set before the provider creates anything, its outcome,
// and every snapshot it deletes. The service calls it from its backup threads; an
// implementation must be thread-safe. A failing journal fails the backup before DoSnapshotSet
// (nothing may be created that a restart could not find), and is only logged afterwards.

#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "vss/id.hpp"
#include "vss/provider.hpp"
#include "vss/report.hpp"

namespace vss::daemon {

/// A set about to be created.
struct journal_set {
  snapshot_set_id set;
  std::uint32_t context = 0;                                 ///< The session's context, raw.
  provider_id provider;                                      ///< Requested; null = automatic.
  std::vector<std::pair<snapshot_id, std::string>> volumes;  ///< Snapshot id and volume.
  std::string requester;  ///< Who asked (connection description), for status and recovery.
};

/// How a set ended.
struct journal_outcome {
  std::error_code result;  ///< {} when the set exists; else the failure or VSS_S_ASYNC_CANCELLED.
  bool aborted = false;    ///< AbortBackup (requested, or the requester went away).
  std::string message;
  consistency_grade grade = consistency_grade::none;
  std::vector<snapshot_properties> snapshots;  ///< The created snapshots.
  std::vector<writer_status> writers;          ///< Final writer states.
};

/// The durable record the service keeps up to date.
class snapshot_journal {
 public:
  virtual ~snapshot_journal() = default;

  /// Before DoSnapshotSet: the provider has created nothing yet. An error stops the backup.
  virtual std::error_code set_starting(const journal_set& set) = 0;

  /// After DoSnapshotSet (and BackupComplete, when it ran).
  virtual void set_finished(const snapshot_set_id& set, const journal_outcome& outcome) = 0;

  /// A snapshot is gone: DeleteSnapshots, or an auto-release snapshot at release.
  virtual void snapshot_deleted(const snapshot_id& snapshot) = 0;
};

}  // namespace vss::daemon
