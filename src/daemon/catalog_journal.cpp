#include "daemon/catalog_journal.hpp"

#include "vss/error.hpp"

namespace vss::daemon {

catalog_journal::catalog_journal(catalog::catalog& catalog)
    : catalog_(catalog), self_(catalog::host_process::current()) {}

std::error_code catalog_journal::set_starting(const journal_set& set) {
  catalog::new_set s;
  s.id = set.set;
  s.provider = set.provider;
  s.context = set.context;
  s.owner.host = self_;
  s.owner.session = session_id::generate();
  for (const auto& [id, volume] : set.volumes) s.snapshots.push_back({id, volume, set.provider});
  return catalog_.journal_set_creating(s);
}

void catalog_journal::set_finished(const snapshot_set_id& set, const journal_outcome& outcome) {
  std::error_code ec;
  // A set that exists at the end is completed, whatever happened after DoSnapshotSet: an
  // abort or a failed BackupComplete leaves the snapshots (spec §3.6), and they must stay
  // known to be taken back after a restart and deleted.
  if (!outcome.result || !outcome.snapshots.empty()) {
    // The catalog's states go creating -> committed -> completed.
    ec = catalog_.mark_committed(set, outcome.snapshots);
    if (!ec) ec = catalog_.mark_completed(set, outcome.grade, outcome.snapshots, outcome.writers);
  } else if (outcome.aborted) {
    ec = catalog_.mark_aborted(set, outcome.result, outcome.message, outcome.writers);
  } else {
    ec = catalog_.mark_failed(set, outcome.result, outcome.message, outcome.writers);
  }
  if (ec && on_error) {
    on_error("the catalog could not record the end of snapshot set " + set.to_string() + ": " +
             ec.message());
  }
}

void catalog_journal::snapshot_deleted(const snapshot_id& snapshot) {
  const auto ec = catalog_.record_deleted(snapshot);
  if (ec && ec != errc::object_not_found && on_error) {
    on_error("the catalog could not record the deletion of snapshot " + snapshot.to_string() +
             ": " + ec.message());
  }
}

}  // namespace vss::daemon
