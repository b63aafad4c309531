#include "session/state_machine.hpp"

#include <ostream>

// Call-order rules (spec §2.2, §2.3, §3.1, §3.4, §3.5). busy = metadata_in_flight ||
// prepare_in_flight || backup_complete_in_flight. A call not allowed below returns
// {bad_state, input unchanged, has_effect=false}. "eff" is has_effect when accepted.
//
// call                    | allowed when                                | next               | eff
// ------------------------|---------------------------------------------|--------------------|-----
// initialize_for_backup   | created                                     | initialized        | yes
// set_context             | initialized, !context_set, !admin_used,     | context_set        | yes
//                         |   !busy                                     |                    |
// set_backup_state        | {initialized, set_started}, !busy           | backup_state_set   | yes
// gather_writer_metadata  | {initialized, set_started},                 | metadata_in_flight | yes
//                         |   !metadata_gathered, !busy                 |                    |
// add_component           | {initialized, set_started},                 | -                  | yes
//                         |   metadata_gathered, !busy                  |                    |
// start_snapshot_set      | initialized, !busy                          | set_started        | yes
// add_to_snapshot_set     | {set_started, prepared}, !busy              | -                  | yes
// prepare_for_backup      | set_started, backup_state_set,              | prepare_in_flight  | yes
//                         |   metadata_gathered, !busy                  |                    |
// do_snapshot_set         | prepared, !busy                             | snapshotting       | yes
// gather_writer_status    | not created (also failed; busy is fine)     | -                  | no
// set_backup_succeeded    | snapshotted, !busy                          | -                  | yes
// backup_complete         | snapshotted, !busy                          | bc_in_flight       | yes
// abort_backup            | created: rejected (§3.1 "not initialized")  |                    |
//                         | initialized, completed, aborted             | - (ignored)        | no
//                         | set_started, prepared, snapshotting,        | aborted            | yes
//                         |   snapshotted, failed                       |                    |
// get_snapshot_properties | not {created, snapshotting, failed}         | -                  | no
// query                   | not {created, failed}                       | admin_used         | yes*
// delete_snapshots        | not {created, snapshotting, failed, aborted}| admin_used         | yes
// is_volume_supported     | not {created, failed}                       | -                  | no
// gather_metadata_done    | metadata_in_flight (any state)              | !in_flight,        | yes
//                         |                                             |   metadata_gathered|
// prepare_done            | prepare_in_flight (any state)               | !in_flight;        | yes
//                         |                                             |   set_started ->   |
//                         |                                             |   prepared         |
// prepare_failed          | prepare_in_flight (any state)               | !in_flight; failed | yes
//                         |                                             |   unless aborted   |
// snapshot_done           | snapshotting                                | snapshotted        | yes
//                         | aborted (AbortBackup came first)            | -                  | no
// snapshot_failed,        | snapshotting                                | failed (§3.5)      | yes
//   snapshot_cancelled    | aborted                                     | -                  | no
// backup_complete_done    | bc_in_flight (any state)                    | !in_flight;        | yes
//                         |                                             |   completed unless |
//                         |                                             |   aborted          |
// bc_in_flight = backup_complete_in_flight. * query: only when it sets admin_used, else a read.
//
// Resulting per-state whitelists: aborted accepts only abort_backup, gather_writer_status,
// get_snapshot_properties, query, is_volume_supported and completions; failed only
// abort_backup, gather_writer_status and completions; snapshotting only abort_backup,
// gather_writer_status, query, is_volume_supported and the snapshot_* completions.

namespace vss {

std::string_view to_string(session_state state) noexcept {
  switch (state) {
    case session_state::created:
      return "created";
    case session_state::initialized:
      return "initialized";
    case session_state::set_started:
      return "set_started";
    case session_state::prepared:
      return "prepared";
    case session_state::snapshotting:
      return "snapshotting";
    case session_state::snapshotted:
      return "snapshotted";
    case session_state::completed:
      return "completed";
    case session_state::aborted:
      return "aborted";
    case session_state::failed:
      return "failed";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& os, session_state state) { return os << to_string(state); }

}  // namespace vss

namespace vss::detail {

namespace {

using st = session_state;

step_result reject(const session_machine& m) noexcept { return {errc::bad_state, m, false}; }

step_result accept(const session_machine& next, bool has_effect = true) noexcept {
  return {errc::ok, next, has_effect};
}

bool busy(const session_machine& m) noexcept {
  return m.metadata_in_flight || m.prepare_in_flight || m.backup_complete_in_flight;
}

// Up to the PrepareForBackup call the requester still shapes the backup (backup state, writer
// metadata, component selection); writers read all of it at PrepareForBackup.
bool before_prepare(st s) noexcept { return s == st::initialized || s == st::set_started; }

}  // namespace

step_result step(const session_machine& m, session_call c) noexcept {
  session_machine n = m;
  const bool idle = !busy(m);
  switch (c) {
    case session_call::initialize_for_backup:
      if (m.state != st::created) return reject(m);
      n.state = st::initialized;
      return accept(n);

    case session_call::set_context:
      // Once, and before anything that depends on the context: StartSnapshotSet, Query,
      // DeleteSnapshots (spec §2.2 CHOICE).
      if (m.state != st::initialized || m.context_set || m.admin_used || !idle) return reject(m);
      n.context_set = true;
      return accept(n);

    case session_call::set_backup_state:
      if (!before_prepare(m.state) || !idle) return reject(m);
      n.backup_state_set = true;
      return accept(n);

    case session_call::gather_writer_metadata:
      if (!before_prepare(m.state) || m.metadata_gathered || !idle) return reject(m);
      n.metadata_in_flight = true;
      return accept(n);

    case session_call::add_component:
      // Writers see the selection at PrepareForBackup, so it closes there (spec §2.2 CHOICE).
      if (!before_prepare(m.state) || !m.metadata_gathered || !idle) return reject(m);
      return accept(n);

    case session_call::start_snapshot_set:
      if (m.state != st::initialized || !idle) return reject(m);
      n.state = st::set_started;
      return accept(n);

    case session_call::add_to_snapshot_set:
      if ((m.state != st::set_started && m.state != st::prepared) || !idle) return reject(m);
      return accept(n);

    case session_call::prepare_for_backup:
      if (m.state != st::set_started || !m.backup_state_set || !m.metadata_gathered || !idle) {
        return reject(m);
      }
      n.prepare_in_flight = true;
      return accept(n);

    case session_call::do_snapshot_set:
      if (m.state != st::prepared || !idle) return reject(m);
      n.state = st::snapshotting;
      return accept(n);

    case session_call::gather_writer_status:
      // A read, accepted even in failed and while other operations run: after a failed
      // DoSnapshotSet the requester needs the per-writer failures (spec §2.3); a picture taken
      // mid-operation may be stale (spec §2.2).
      if (m.state == st::created) return reject(m);
      return accept(n, false);

    case session_call::set_backup_succeeded:
      if (m.state != st::snapshotted || !idle) return reject(m);
      return accept(n);

    case session_call::backup_complete:
      if (m.state != st::snapshotted || !idle) return reject(m);
      n.backup_complete_in_flight = true;
      return accept(n);

    case session_call::abort_backup:
      switch (m.state) {
        case st::created:
          return reject(m);
        // Nothing underway (an in-flight Identify is not a backup operation) or already over:
        // VSS ignores the call (spec §3.1) and a second AbortBackup has no new effect (§3.4).
        case st::initialized:
        case st::completed:
        case st::aborted:
          return accept(n, false);
        case st::set_started:
        case st::prepared:
        case st::snapshotting:
        case st::snapshotted:
        case st::failed:
          n.state = st::aborted;
          return accept(n);
      }
      return reject(m);

    case session_call::get_snapshot_properties:
      if (m.state == st::created || m.state == st::snapshotting || m.state == st::failed) {
        return reject(m);
      }
      return accept(n, false);

    case session_call::query:
      if (m.state == st::created || m.state == st::failed) return reject(m);
      n.admin_used = true;
      return accept(n, n != m);

    case session_call::delete_snapshots:
      if (m.state == st::created || m.state == st::snapshotting || m.state == st::failed ||
          m.state == st::aborted) {
        return reject(m);
      }
      n.admin_used = true;
      return accept(n);

    case session_call::is_volume_supported:
      if (m.state == st::created || m.state == st::failed) return reject(m);
      return accept(n, false);

    // Flag completions are accepted in any state so that an operation overtaken by
    // AbortBackup can still report back; the abort keeps the session aborted.
    case session_call::gather_metadata_done:
      if (!m.metadata_in_flight) return reject(m);
      n.metadata_in_flight = false;
      n.metadata_gathered = true;
      return accept(n);

    case session_call::prepare_done:
      if (!m.prepare_in_flight) return reject(m);
      n.prepare_in_flight = false;
      if (m.state == st::set_started) n.state = st::prepared;
      return accept(n);

    case session_call::prepare_failed:
      if (!m.prepare_in_flight) return reject(m);
      n.prepare_in_flight = false;
      if (m.state != st::aborted) n.state = st::failed;
      return accept(n);

    case session_call::backup_complete_done:
      if (!m.backup_complete_in_flight) return reject(m);
      n.backup_complete_in_flight = false;
      if (m.state != st::aborted) n.state = st::completed;
      return accept(n);

    // DoSnapshotSet has no flag: the state itself says it is in flight. After AbortBackup
    // the machine cannot tell whether one was, so a late snapshot completion is accepted and
    // ignored in aborted.
    case session_call::snapshot_done:
    case session_call::snapshot_failed:
    case session_call::snapshot_cancelled:
      if (m.state == st::aborted) return accept(n, false);
      if (m.state != st::snapshotting) return reject(m);
      // Cancel on the DoSnapshotSet future fails the session but does not abort it: the
      // requester must still call AbortBackup (spec §3.5 CHOICE).
      n.state = c == session_call::snapshot_done ? st::snapshotted : st::failed;
      return accept(n);

    case session_call::count_:
      break;
  }
  return reject(m);
}

std::string_view to_string(session_call c) noexcept {
  switch (c) {
    case session_call::initialize_for_backup:
      return "initialize_for_backup";
    case session_call::set_context:
      return "set_context";
    case session_call::set_backup_state:
      return "set_backup_state";
    case session_call::gather_writer_metadata:
      return "gather_writer_metadata";
    case session_call::add_component:
      return "add_component";
    case session_call::start_snapshot_set:
      return "start_snapshot_set";
    case session_call::add_to_snapshot_set:
      return "add_to_snapshot_set";
    case session_call::prepare_for_backup:
      return "prepare_for_backup";
    case session_call::do_snapshot_set:
      return "do_snapshot_set";
    case session_call::gather_writer_status:
      return "gather_writer_status";
    case session_call::set_backup_succeeded:
      return "set_backup_succeeded";
    case session_call::backup_complete:
      return "backup_complete";
    case session_call::abort_backup:
      return "abort_backup";
    case session_call::get_snapshot_properties:
      return "get_snapshot_properties";
    case session_call::query:
      return "query";
    case session_call::delete_snapshots:
      return "delete_snapshots";
    case session_call::is_volume_supported:
      return "is_volume_supported";
    case session_call::gather_metadata_done:
      return "gather_metadata_done";
    case session_call::prepare_done:
      return "prepare_done";
    case session_call::prepare_failed:
      return "prepare_failed";
    case session_call::snapshot_done:
      return "snapshot_done";
    case session_call::snapshot_failed:
      return "snapshot_failed";
    case session_call::snapshot_cancelled:
      return "snapshot_cancelled";
    case session_call::backup_complete_done:
      return "backup_complete_done";
    case session_call::count_:
      break;
  }
  return "unknown";
}

}  // namespace vss::detail
