// The requester-object call-order state machine (spec §2.2, §2.3, §3): a pure function from
// (machine, call) to (result code, next machine). backup_session consults it before doing any
// work, so that an out-of-order call returns VSS_E_BAD_STATE and changes nothing.
#pragma once

#include <cstdint>
#include <string_view>

#include "vss/error.hpp"
#include "vss/session_state.hpp"

namespace vss::detail {

enum class session_call : std::uint8_t {
  // requester calls
  initialize_for_backup,
  set_context,
  set_backup_state,
  gather_writer_metadata,
  add_component,
  start_snapshot_set,
  add_to_snapshot_set,
  prepare_for_backup,
  do_snapshot_set,
  gather_writer_status,
  set_backup_succeeded,
  backup_complete,
  abort_backup,
  get_snapshot_properties,
  query,
  delete_snapshots,
  is_volume_supported,
  // completions the engine reports back into the machine
  gather_metadata_done,
  prepare_done,
  prepare_failed,
  snapshot_done,
  snapshot_failed,
  snapshot_cancelled,
  backup_complete_done,
  count_
};

struct session_machine {
  session_state state = session_state::created;
  bool context_set = false;  // SetContext may be called once
  bool admin_used = false;   // Query / DeleteSnapshots were called (SetContext must precede)
  bool backup_state_set = false;
  bool metadata_gathered = false;
  // An in-flight flag is cleared only by its completion, never by AbortBackup: the operation
  // still has to report back, and until it does nothing else may start.
  bool metadata_in_flight = false;
  bool prepare_in_flight = false;
  bool backup_complete_in_flight = false;
  friend bool operator==(const session_machine&, const session_machine&) = default;
};

struct step_result {
  errc code;             // errc::ok or errc::bad_state
  session_machine next;  // == the input when code != ok
  // true when the call changed the machine or acts on the backup (BCD, snapshot set, writers,
  // snapshots); false for accepted no-ops (AbortBackup with nothing underway, a snapshot
  // completion arriving after AbortBackup) and for reads that change nothing. false implies
  // next == the input.
  bool has_effect;
};

step_result step(const session_machine& m, session_call c) noexcept;

// The enumerator's name; "unknown" for count_ and out-of-range values.
std::string_view to_string(session_call c) noexcept;

}  // namespace vss::detail
