#pragma once
// Who owns a snapshot set: the process hosting the engine that made it (openvssd, or the
// `openvss` CLI in embedded mode) and the requester session inside it. The catalog records
// the owner with every set, and recovery decides from it whether the owner is still alive:
// auto-release snapshots die with their session (spec §11.5), and a set still in creation is
// abandoned only when the process creating it is gone.
//
// A process is named by (kernel boot id, pid, start time in clock ticks since boot), so a
// reused pid or a reboot never makes a dead owner look alive. Linux only (/proc).
//
// Thread-safety: values are immutable; the functions may be called from any thread.

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "vss/id.hpp"

namespace vss::catalog {

/// One process, unique across pid reuse and reboots.
struct host_process {
  /// /proc/sys/kernel/random/boot_id of the boot the process ran in ("" if unreadable).
  std::string boot_id;
  /// Its process id.
  std::int64_t pid = 0;
  /// Its start time, clock ticks after boot (field 22 of /proc/<pid>/stat).
  std::uint64_t start_ticks = 0;

  /// The calling process. Reads /proc; on a failure the fields it could not read stay 0/"".
  static host_process current();

  /// Process `pid` as it runs now, or nullopt when there is none (or /proc cannot tell).
  static std::optional<host_process> of(std::int64_t pid);

  /// True when this process still runs: same boot, and /proc/<pid> exists with the same start
  /// time. False for pid 0.
  bool alive() const;

  /// Same boot id, pid and start time.
  friend bool operator==(const host_process&, const host_process&) = default;
};

/// The owner of a snapshot set.
struct set_owner {
  /// The process hosting the engine that creates the set.
  host_process host;
  /// The requester session (one IVssBackupComponents) that creates it; auto-release snapshots
  /// live as long as it does.
  session_id session;
  /// The requester's pid as the daemon saw it (SO_PEERCRED), 0 when in-process. Shown, never
  /// used to decide liveness (the daemon knows its sessions better).
  std::int64_t requester_pid = 0;
};

/// True when the owner of a set is gone: for a set of `self` (the calling process), when its
/// session is not in `live_sessions`; for a set of another process, when that process is no
/// longer alive (host_process::alive()).
bool owner_gone(const set_owner& owner, const host_process& self,
                std::span<const session_id> live_sessions);

}  // namespace vss::catalog
