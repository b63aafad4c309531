// Lifecycle states of a requester session (the IVssBackupComponents object).
//
// A vss::backup_session moves through the IVssBackupComponents call sequence as formalised
// in spec §2.3: created → initialized → set_started → prepared → snapshotting → snapshotted
// → completed, with aborted and failed as the two ends of an unsuccessful backup. A call that
// is not allowed in the current state returns vss::errc::bad_state ("VSS_E_BAD_STATE") and
// changes nothing; the only call that is accepted and ignored when there is nothing to act on
// is AbortBackup (spec §3.1, §3.4).
//
// Thread-safety: session_state is a plain value type and the functions below are pure; they
// may be called from any thread.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string_view>

namespace vss {

/// Where a backup_session is in the IVssBackupComponents call sequence (spec §2.3).
enum class session_state : std::uint8_t {
  /// Fresh object. Only InitializeForBackup is accepted; every other call, AbortBackup
  /// included, returns VSS_E_BAD_STATE ("object not initialized").
  created,
  /// InitializeForBackup succeeded. SetContext, SetBackupState, GatherWriterMetadata,
  /// AddComponent (once metadata was gathered) and StartSnapshotSet are accepted; gathering
  /// writer metadata does not leave this state. AbortBackup is accepted and ignored: no
  /// backup is underway yet.
  initialized,
  /// StartSnapshotSet succeeded: the session holds a snapshot set and AddToSnapshotSet,
  /// AddComponent, SetBackupState and PrepareForBackup are accepted. From here on the
  /// requester must end the backup with BackupComplete or AbortBackup (spec §3.4).
  set_started,
  /// PrepareForBackup completed: participating writers have seen the PrepareForBackup event.
  /// AddToSnapshotSet and DoSnapshotSet are accepted.
  prepared,
  /// DoSnapshotSet is in flight. Only AbortBackup, GatherWriterStatus, Query and
  /// IsVolumeSupported are accepted until it completes.
  snapshotting,
  /// DoSnapshotSet succeeded: the shadow copies exist. SetBackupSucceeded and BackupComplete
  /// are accepted.
  snapshotted,
  /// BackupComplete completed: writers have seen the BackupComplete event. The backup is over;
  /// AbortBackup is accepted and ignored.
  completed,
  /// AbortBackup was called while a backup was underway. Only AbortBackup (ignored: it is
  /// idempotent), status and diagnostic calls are accepted; BackupComplete returns
  /// VSS_E_BAD_STATE.
  aborted,
  /// PrepareForBackup or DoSnapshotSet failed, or the DoSnapshotSet operation was cancelled
  /// through IVssAsync::Cancel (spec §3.5: Cancel does not abort the session). Only
  /// AbortBackup, which the requester should still call, and GatherWriterStatus are accepted.
  failed,
};

/// The enumerator's name, e.g. `"created"`, `"set_started"`; `"unknown"` for a value that is
/// not an enumerator. The returned view refers to static storage.
std::string_view to_string(session_state state) noexcept;

/// Writes `to_string(state)` to `os`.
std::ostream& operator<<(std::ostream& os, session_state state);

}  // namespace vss
