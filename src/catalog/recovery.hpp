#pragma once
// Recovery at startup (DESIGN.md §4 invariant 5, docs/catalog.md "Recovery"): what a crashed or
// killed process left in the catalog is cleaned up before new work starts.
//
//  1. Sets still creating or committed whose owner is gone (owner_gone): each snapshot is
//     discarded (provider::discard_snapshot: whatever the provider may have left), then the set
//     is marked aborted (E_ABORT). If a snapshot cannot be discarded the set stays as it is and
//     the next start tries again.
//  2. Completed sets of an auto-release context whose owner is gone: each created snapshot is
//     released (the provider deletes it), then recorded deleted; the set becomes deleted.
//  3. Optionally, every created snapshot that remains is offered to its provider
//     (provider::adopt_snapshot), so Query and DeleteSnapshots know it again; one its provider
//     no longer has is recorded deleted (action `vanished`).
// Each set handled gets one row in the recovery log (catalog::recent_recoveries), also
// returned in the report for the daemon's log.
//
// Sets of another process that is still running (a second `openvss` in embedded mode on the
// same state directory) are left alone.
//
// Thread-safety: recover() uses the catalog's thread-safe members; run it once, at startup,
// before the engine accepts requests.

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "catalog/catalog.hpp"

namespace vss::catalog {

/// What recovery asks of the providers. Each function gets the snapshot as the catalog has it
/// (id, set, original volume, provider id, device if known) and returns {} or the failure.
struct recovery_actions {
  /// Removes whatever a provider may have left of a snapshot whose creation never finished
  /// (provider::discard_snapshot(id, original_volume) of its provider). Nothing there is
  /// success. Required.
  std::function<std::error_code(const snapshot_properties&)> discard;
  /// Deletes a created snapshot (adopt_snapshot, then delete_snapshot, of its provider).
  /// VSS_E_OBJECT_NOT_FOUND counts as deleted. Required.
  std::function<std::error_code(const snapshot_properties&)> release;
  /// Offers a created snapshot back to its provider (provider::adopt_snapshot).
  /// VSS_E_OBJECT_NOT_FOUND: the snapshot is gone and is recorded deleted. Optional: when
  /// empty, step 3 is skipped.
  std::function<std::error_code(const snapshot_properties&)> adopt;
};

/// What recover() found and did.
struct recovery_report {
  /// The recovery log rows written, in order (one per set handled).
  std::vector<recovery_entry> entries;
  /// Sets in creation discarded and marked aborted.
  std::size_t sets_aborted = 0;
  /// Auto-release sets whose snapshots were all deleted.
  std::size_t sets_released = 0;
  /// Snapshots discarded or deleted.
  std::size_t snapshots_removed = 0;
  /// Sets with a snapshot that could not be removed (retried at the next start).
  std::size_t sets_left = 0;
  /// Snapshots adopted by their provider (step 3).
  std::size_t snapshots_adopted = 0;
  /// One line per snapshot its provider refused to adopt for a reason other than
  /// VSS_E_OBJECT_NOT_FOUND (it stays in the catalog).
  std::vector<std::string> adopt_failures;
  /// The first catalog error; recovery stops at it. {} if none.
  std::error_code catalog_error;
};

/// Runs the recovery steps above. `self` is the calling process (host_process::current());
/// `live_sessions` the requester sessions it has now (none at startup): a set of `self` whose
/// session is not listed counts as abandoned. Never throws.
recovery_report recover(catalog& c, const host_process& self,
                        std::span<const session_id> live_sessions, const recovery_actions& actions);

}  // namespace vss::catalog
