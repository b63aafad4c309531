#pragma once
// The daemon's snapshot_journal: the requester service's record of each set, kept in the
// SQLite catalog (src/catalog/). One owner per backup (this process and a session id of its
// own), so a restarted daemon sees every set of its predecessor as abandoned.

#include <memory>

#include "catalog/catalog.hpp"
#include "daemon/snapshot_journal.hpp"

namespace vss::daemon {

/// Writes what the service reports into `catalog`. Thread-safe (the catalog is).
class catalog_journal : public snapshot_journal {
 public:
  /// A journal writing to `catalog`, which must outlive it.
  explicit catalog_journal(catalog::catalog& catalog);

  std::error_code set_starting(const journal_set& set) override;
  void set_finished(const snapshot_set_id& set, const journal_outcome& outcome) override;
  void snapshot_deleted(const snapshot_id& snapshot) override;

  /// Called with a line to log when a write after the start fails (the backup goes on: the
  /// snapshots exist whatever the catalog says). Default: none.
  std::function<void(const std::string&)> on_error;

 private:
  catalog::catalog& catalog_;
  catalog::host_process self_;
};

}  // namespace vss::daemon
