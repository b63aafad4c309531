// Copyright (c) openvss authors. SPDX-License-Identifier: Apache-2.0
//
// vss/types.hpp — the VSS enumerations, with the numeric values of the modern Windows SDK
// (vss.h / vswriter.h, spec §6.1, §8.2, §8.3; never the shorter XP-era numbering of §8.4).
//
// Values are part of the contract: they go into logs, the catalog and the wire protocol, and a
// VSS expert reads "[9]" as VSS_WS_FAILED_AT_FREEZE. Each enum has `to_string()` giving the VSS
// symbol ("VSS_WS_STABLE") and an `operator<<` printing it (so GoogleTest shows it), falling
// back to "<enum>(<number>)" for a value without a name.
//
// Snapshot contexts (spec §2.2 SetContext, §11.5) are handled as raw `std::uint32_t` values,
// as VSS does: a `snapshot_context` base OR-ed with requester-settable `volume_attributes`
// bits. `validate_context()` checks such a value.
//
// Thread-safety: everything here is stateless; call it from any thread.

#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string_view>
#include <system_error>

#include "vss/error.hpp"

namespace vss {

// ---------------------------------------------------------------------------------------------
// Writer state (VSS_WRITER_STATE, spec §6.1)

/// State of a writer in the current session, as reported by GetWriterStatus — VSS_WRITER_STATE.
enum class writer_state : std::int32_t {
  /// VSS_WS_UNKNOWN: state not known (a writer error).
  unknown = 0,
  /// VSS_WS_STABLE: idle, or finished with its current events.
  stable = 1,
  /// VSS_WS_WAITING_FOR_FREEZE: prepared for the snapshot, awaiting Freeze.
  waiting_for_freeze = 2,
  /// VSS_WS_WAITING_FOR_THAW: frozen.
  waiting_for_thaw = 3,
  /// VSS_WS_WAITING_FOR_POST_SNAPSHOT: thawed, awaiting PostSnapshot.
  waiting_for_post_snapshot = 4,
  /// VSS_WS_WAITING_FOR_BACKUP_COMPLETE: snapshot done, awaiting BackupComplete.
  waiting_for_backup_complete = 5,
  /// VSS_WS_FAILED_AT_IDENTIFY: vetoed at Identify.
  failed_at_identify = 6,
  /// VSS_WS_FAILED_AT_PREPARE_BACKUP: vetoed at PrepareForBackup.
  failed_at_prepare_backup = 7,
  /// VSS_WS_FAILED_AT_PREPARE_SNAPSHOT: vetoed at PrepareForSnapshot.
  failed_at_prepare_snapshot = 8,
  /// VSS_WS_FAILED_AT_FREEZE: vetoed at Freeze (also when the freeze window expired).
  failed_at_freeze = 9,
  /// VSS_WS_FAILED_AT_THAW: vetoed at Thaw.
  failed_at_thaw = 10,
  /// VSS_WS_FAILED_AT_POST_SNAPSHOT: vetoed at PostSnapshot.
  failed_at_post_snapshot = 11,
  /// VSS_WS_FAILED_AT_BACKUP_COMPLETE: the snapshot existed; failed in BackupComplete.
  failed_at_backup_complete = 12,
  /// VSS_WS_FAILED_AT_PRE_RESTORE: failed in PreRestore.
  failed_at_pre_restore = 13,
  /// VSS_WS_FAILED_AT_POST_RESTORE: failed in PostRestore.
  failed_at_post_restore = 14,
  /// VSS_WS_FAILED_AT_BACKUPSHUTDOWN: failed while the backup application shut down.
  failed_at_backup_shutdown = 15,
  /// VSS_WS_COUNT: number of states (reserved, never a real state).
  count = 16,
};

/// True for the VSS_WS_FAILED_AT_* states (6..15).
constexpr bool is_failed(writer_state s) noexcept {
  return s >= writer_state::failed_at_identify && s <= writer_state::failed_at_backup_shutdown;
}

// ---------------------------------------------------------------------------------------------
// Backup and writer metadata enums (spec §8.2, §8.3)

/// Kind of backup being made (SetBackupState) — VSS_BACKUP_TYPE.
enum class backup_type : std::int32_t {
  /// VSS_BT_UNDEFINED: not set.
  undefined = 0,
  /// VSS_BT_FULL: full backup; updates backup history and can base incrementals.
  full = 1,
  /// VSS_BT_INCREMENTAL: files changed since the last full or incremental backup.
  incremental = 2,
  /// VSS_BT_DIFFERENTIAL: files changed since the last full backup.
  differential = 3,
  /// VSS_BT_LOG: only database log files.
  log = 4,
  /// VSS_BT_COPY: like full, but does not update backup history.
  copy = 5,
  /// VSS_BT_OTHER: none of the above.
  other = 6,
};

/// What a writer's data is used for (writer metadata) — VSS_USAGE_TYPE.
enum class usage_type : std::int32_t {
  /// VSS_UT_UNDEFINED: not set.
  undefined = 0,
  /// VSS_UT_BOOTABLESYSTEMSTATE: part of the bootable system state.
  bootable_system_state = 1,
  /// VSS_UT_SYSTEMSERVICE: a system service.
  system_service = 2,
  /// VSS_UT_USERDATA: user data.
  user_data = 3,
  /// VSS_UT_OTHER: none of the above.
  other = 4,
};

/// What kind of store a writer's data is (writer metadata) — VSS_SOURCE_TYPE.
enum class source_type : std::int32_t {
  /// VSS_ST_UNDEFINED: not set.
  undefined = 0,
  /// VSS_ST_TRANSACTEDDB: a transactional database.
  transacted_db = 1,
  /// VSS_ST_NONTRANSACTEDDB: a non-transactional store.
  nontransacted_db = 2,
  /// VSS_ST_OTHER: none of the above.
  other = 3,
};

/// Freeze level of a writer; writers freeze level by level (spec §5.4) —
/// VSS_APPLICATION_LEVEL.
enum class application_level : std::int32_t {
  /// VSS_APP_AUTO: let the coordinator choose.
  auto_level = -1,
  /// VSS_APP_UNKNOWN: not set.
  unknown = 0,
  /// VSS_APP_SYSTEM: system services.
  system = 1,
  /// VSS_APP_BACK_END: back-end applications (databases).
  back_end = 2,
  /// VSS_APP_FRONT_END: front-end applications (caches, servers over back ends).
  front_end = 3,
  /// VSS_APP_SYSTEM_RM: system resource managers.
  system_rm = 4,
};

/// Lifecycle state of a shadow copy (modern numbering; requesters only see `created`) —
/// VSS_SNAPSHOT_STATE.
enum class snapshot_state : std::int32_t {
  /// VSS_SS_UNKNOWN
  unknown = 0,
  /// VSS_SS_PREPARING
  preparing = 1,
  /// VSS_SS_PROCESSING_PREPARE
  processing_prepare = 2,
  /// VSS_SS_PREPARED
  prepared = 3,
  /// VSS_SS_PROCESSING_PRECOMMIT
  processing_precommit = 4,
  /// VSS_SS_PRECOMMITTED
  precommitted = 5,
  /// VSS_SS_PROCESSING_COMMIT
  processing_commit = 6,
  /// VSS_SS_COMMITTED
  committed = 7,
  /// VSS_SS_PROCESSING_POSTCOMMIT
  processing_postcommit = 8,
  /// VSS_SS_PROCESSING_PREFINALCOMMIT
  processing_prefinalcommit = 9,
  /// VSS_SS_PREFINALCOMMITTED
  prefinalcommitted = 10,
  /// VSS_SS_PROCESSING_POSTFINALCOMMIT
  processing_postfinalcommit = 11,
  /// VSS_SS_CREATED: the shadow copy exists; the only state requesters see.
  created = 12,
  /// VSS_SS_ABORTED
  aborted = 13,
  /// VSS_SS_DELETED
  deleted = 14,
  /// VSS_SS_POSTCOMMITTED
  postcommitted = 15,
  /// VSS_SS_COUNT: number of states (reserved).
  count = 16,
};

/// Kind of object a query or deletion addresses — VSS_OBJECT_TYPE.
enum class object_type : std::int32_t {
  /// VSS_OBJECT_UNKNOWN
  unknown = 0,
  /// VSS_OBJECT_NONE
  none = 1,
  /// VSS_OBJECT_SNAPSHOT_SET
  snapshot_set = 2,
  /// VSS_OBJECT_SNAPSHOT
  snapshot = 3,
  /// VSS_OBJECT_PROVIDER
  provider = 4,
  /// VSS_OBJECT_TYPE_COUNT: number of types (reserved).
  type_count = 5,
};

/// Kind of a writer component — VSS_COMPONENT_TYPE.
enum class component_type : std::int32_t {
  /// VSS_CT_UNDEFINED
  undefined = 0,
  /// VSS_CT_DATABASE: a database (files plus logs).
  database = 1,
  /// VSS_CT_FILEGROUP: a group of files.
  file_group = 2,
};

/// Kind of snapshot provider — VSS_PROVIDER_TYPE.
enum class provider_type : std::int32_t {
  /// VSS_PROV_UNKNOWN
  unknown = 0,
  /// VSS_PROV_SYSTEM: the built-in provider.
  system = 1,
  /// VSS_PROV_SOFTWARE: a software provider.
  software = 2,
  /// VSS_PROV_HARDWARE: a hardware (storage array) provider.
  hardware = 3,
  /// VSS_PROV_FILESHARE: a file-share provider.
  file_share = 4,
};

// ---------------------------------------------------------------------------------------------
// Volume snapshot attributes and contexts (spec §8.2, §11.5)

/// Bit flags describing a shadow copy — _VSS_VOLUME_SNAPSHOT_ATTRIBUTES (VSS_VOLSNAP_ATTR_*).
/// Combine with `|`, test with `any(a & b)`.
enum class volume_attributes : std::uint32_t {
  /// No attribute.
  none = 0x0,
  /// VSS_VOLSNAP_ATTR_PERSISTENT: survives the requester and reboots (system-set).
  persistent = 0x1,
  /// VSS_VOLSNAP_ATTR_NO_AUTORECOVERY: read-only right after creation; writers cannot
  /// edit it (requester-settable; READ_WRITE in the XP header).
  no_autorecovery = 0x2,
  /// VSS_VOLSNAP_ATTR_CLIENT_ACCESSIBLE: a Shared Folders copy (system-set).
  client_accessible = 0x4,
  /// VSS_VOLSNAP_ATTR_NO_AUTO_RELEASE: not deleted when the requester ends (system-set).
  no_auto_release = 0x8,
  /// VSS_VOLSNAP_ATTR_NO_WRITERS: writers take no part (system-set).
  no_writers = 0x10,
  /// VSS_VOLSNAP_ATTR_TRANSPORTABLE: can be moved to another host (requester-settable).
  transportable = 0x20,
  /// VSS_VOLSNAP_ATTR_NOT_SURFACED: not visible to the mount manager (system-set).
  not_surfaced = 0x40,
  /// VSS_VOLSNAP_ATTR_NOT_TRANSACTED: skip transaction-manager integration
  /// (requester-settable).
  not_transacted = 0x80,
  /// VSS_VOLSNAP_ATTR_HARDWARE_ASSISTED: made by a hardware provider (system-set).
  hardware_assisted = 0x10000,
  /// VSS_VOLSNAP_ATTR_DIFFERENTIAL: copy-on-write snapshot (requester-settable; excludes
  /// `plex`).
  differential = 0x20000,
  /// VSS_VOLSNAP_ATTR_PLEX: full-copy (split mirror) snapshot (requester-settable; excludes
  /// `differential`).
  plex = 0x40000,
  /// VSS_VOLSNAP_ATTR_IMPORTED: imported from another host (system-set).
  imported = 0x80000,
  /// VSS_VOLSNAP_ATTR_EXPOSED_LOCALLY: exposed as a local path (system-set).
  exposed_locally = 0x100000,
  /// VSS_VOLSNAP_ATTR_EXPOSED_REMOTELY: exposed as a share (system-set).
  exposed_remotely = 0x200000,
  /// VSS_VOLSNAP_ATTR_AUTORECOVER: writers auto-recovered it (system-set).
  autorecover = 0x400000,
  /// VSS_VOLSNAP_ATTR_ROLLBACK_RECOVERY: non-backup use; writers auto-recover in PostSnapshot
  /// (requester-settable).
  rollback_recovery = 0x800000,
  /// VSS_VOLSNAP_ATTR_DELAYED_POSTSNAPSHOT: PostSnapshot is delivered later (system-set).
  delayed_postsnapshot = 0x1000000,
  /// VSS_VOLSNAP_ATTR_TXF_RECOVERY: TxF recovery is enforced (requester-settable).
  txf_recovery = 0x2000000,
  /// VSS_VOLSNAP_ATTR_FILE_SHARE: a file-share shadow copy (system-set).
  file_share = 0x4000000,
};

/// Bitwise OR of two attribute sets.
constexpr volume_attributes operator|(volume_attributes a, volume_attributes b) noexcept {
  return static_cast<volume_attributes>(static_cast<std::uint32_t>(a) |
                                        static_cast<std::uint32_t>(b));
}

/// Bitwise AND of two attribute sets.
constexpr volume_attributes operator&(volume_attributes a, volume_attributes b) noexcept {
  return static_cast<volume_attributes>(static_cast<std::uint32_t>(a) &
                                        static_cast<std::uint32_t>(b));
}

/// Bitwise complement (all 32 bits, including ones without a name).
constexpr volume_attributes operator~(volume_attributes a) noexcept {
  return static_cast<volume_attributes>(~static_cast<std::uint32_t>(a));
}

/// `a = a | b`.
constexpr volume_attributes& operator|=(volume_attributes& a, volume_attributes b) noexcept {
  return a = a | b;
}

/// `a = a & b`.
constexpr volume_attributes& operator&=(volume_attributes& a, volume_attributes b) noexcept {
  return a = a & b;
}

/// True if any bit is set.
constexpr bool any(volume_attributes a) noexcept { return static_cast<std::uint32_t>(a) != 0; }

/// The attribute bits a requester may OR into a context (spec §11.5 CHOICE: the union of the
/// documented lists): TRANSPORTABLE, DIFFERENTIAL, PLEX, NO_AUTORECOVERY, NOT_TRANSACTED,
/// ROLLBACK_RECOVERY, TXF_RECOVERY.
inline constexpr volume_attributes requester_settable_attributes =
    volume_attributes::transportable | volume_attributes::differential | volume_attributes::plex |
    volume_attributes::no_autorecovery | volume_attributes::not_transacted |
    volume_attributes::rollback_recovery | volume_attributes::txf_recovery;

/// Base snapshot contexts — _VSS_SNAPSHOT_CONTEXT (VSS_CTX_*). Each is a combination of
/// system-set `volume_attributes` bits.
enum class snapshot_context : std::uint32_t {
  /// VSS_CTX_BACKUP: writers involved, not persistent, auto-released. The default.
  backup = 0x0,
  /// VSS_CTX_FILE_SHARE_BACKUP (= NO_WRITERS): no writers, not persistent, auto-released.
  file_share_backup = 0x10,
  /// VSS_CTX_NAS_ROLLBACK (= PERSISTENT|NO_AUTO_RELEASE|NO_WRITERS).
  nas_rollback = 0x19,
  /// VSS_CTX_APP_ROLLBACK (= PERSISTENT|NO_AUTO_RELEASE): like backup, but kept.
  app_rollback = 0x9,
  /// VSS_CTX_CLIENT_ACCESSIBLE (= PERSISTENT|CLIENT_ACCESSIBLE|NO_AUTO_RELEASE|NO_WRITERS).
  client_accessible = 0x1D,
  /// VSS_CTX_CLIENT_ACCESSIBLE_WRITERS (= PERSISTENT|CLIENT_ACCESSIBLE|NO_AUTO_RELEASE).
  client_accessible_writers = 0xD,
  /// VSS_CTX_ALL: every context; administrative queries and deletions only, never creation.
  all = 0xFFFFFFFF,
};

/// The raw context value of `c`, ready to OR attribute bits into.
constexpr std::uint32_t to_raw(snapshot_context c) noexcept {
  return static_cast<std::uint32_t>(c);
}

/// True when writers take part in snapshots of context `ctx` (no NO_WRITERS bit).
/// Meaningless for VSS_CTX_ALL (returns false).
constexpr bool context_involves_writers(std::uint32_t ctx) noexcept {
  return (ctx & static_cast<std::uint32_t>(volume_attributes::no_writers)) == 0;
}

/// True when snapshots of context `ctx` are persistent (PERSISTENT bit).
constexpr bool context_is_persistent(std::uint32_t ctx) noexcept {
  return (ctx & static_cast<std::uint32_t>(volume_attributes::persistent)) != 0;
}

/// True when snapshots of context `ctx` are deleted with the requester's session (no
/// NO_AUTO_RELEASE bit).
constexpr bool context_auto_release(std::uint32_t ctx) noexcept {
  return (ctx & static_cast<std::uint32_t>(volume_attributes::no_auto_release)) == 0;
}

/// The `snapshot_context` part of `ctx`: `ctx` without the requester-settable attribute bits
/// (VSS_CTX_ALL stays VSS_CTX_ALL). Not necessarily a named context; see `validate_context`.
constexpr std::uint32_t context_base(std::uint32_t ctx) noexcept {
  if (ctx == to_raw(snapshot_context::all)) return ctx;
  return ctx & ~static_cast<std::uint32_t>(requester_settable_attributes);
}

/// The requester-settable attribute bits OR-ed into `ctx` (none for VSS_CTX_ALL).
constexpr volume_attributes context_modifiers(std::uint32_t ctx) noexcept {
  if (ctx == to_raw(snapshot_context::all)) return volume_attributes::none;
  return static_cast<volume_attributes>(ctx) & requester_settable_attributes;
}

/// Checks a SetContext value (spec §2.2, §11.5 CHOICE). Returns `errc::ok` when `ctx` is
/// VSS_CTX_ALL, or a named `snapshot_context` optionally OR-ed with requester-settable
/// attributes, where DIFFERENTIAL and PLEX are not both set and CLIENT_ACCESSIBLE(_WRITERS)
/// takes no modifier at all. Anything else — an unnamed base, a system-only bit
/// (PERSISTENT, NO_WRITERS, NOT_SURFACED, ... beyond the base's own), unknown bits — gives
/// `errc::invalid_arg` (E_INVALIDARG). Whether VSS_CTX_ALL may be used for creation, and
/// whether a provider supports the context (VSS_E_UNSUPPORTED_CONTEXT), is checked elsewhere.
std::error_code validate_context(std::uint32_t ctx) noexcept;

// ---------------------------------------------------------------------------------------------
// Names

/// "VSS_WS_STABLE", ...; "" for a value without a name.
std::string_view to_string(writer_state v) noexcept;
/// "VSS_BT_FULL", ...; "" for a value without a name.
std::string_view to_string(backup_type v) noexcept;
/// "VSS_UT_USERDATA", ...; "" for a value without a name.
std::string_view to_string(usage_type v) noexcept;
/// "VSS_ST_TRANSACTEDDB", ...; "" for a value without a name.
std::string_view to_string(source_type v) noexcept;
/// "VSS_APP_FRONT_END", "VSS_APP_AUTO", ...; "" for a value without a name.
std::string_view to_string(application_level v) noexcept;
/// "VSS_SS_CREATED", ...; "" for a value without a name.
std::string_view to_string(snapshot_state v) noexcept;
/// "VSS_OBJECT_SNAPSHOT_SET", ...; "" for a value without a name.
std::string_view to_string(object_type v) noexcept;
/// "VSS_CT_DATABASE", ...; "" for a value without a name.
std::string_view to_string(component_type v) noexcept;
/// "VSS_PROV_SOFTWARE", ...; "" for a value without a name.
std::string_view to_string(provider_type v) noexcept;
/// "VSS_VOLSNAP_ATTR_PERSISTENT", ... for exactly one named bit; "" for none, several or
/// unnamed bits (`operator<<` prints combinations).
std::string_view to_string(volume_attributes v) noexcept;
/// "VSS_CTX_BACKUP", ... for a named context; "" otherwise (`operator<<` prints modifiers).
std::string_view to_string(snapshot_context v) noexcept;

/// Prints `to_string(v)`, or "writer_state(<n>)" for a value without a name.
std::ostream& operator<<(std::ostream& os, writer_state v);
/// Prints `to_string(v)`, or "backup_type(<n>)".
std::ostream& operator<<(std::ostream& os, backup_type v);
/// Prints `to_string(v)`, or "usage_type(<n>)".
std::ostream& operator<<(std::ostream& os, usage_type v);
/// Prints `to_string(v)`, or "source_type(<n>)".
std::ostream& operator<<(std::ostream& os, source_type v);
/// Prints `to_string(v)`, or "application_level(<n>)".
std::ostream& operator<<(std::ostream& os, application_level v);
/// Prints `to_string(v)`, or "snapshot_state(<n>)".
std::ostream& operator<<(std::ostream& os, snapshot_state v);
/// Prints `to_string(v)`, or "object_type(<n>)".
std::ostream& operator<<(std::ostream& os, object_type v);
/// Prints `to_string(v)`, or "component_type(<n>)".
std::ostream& operator<<(std::ostream& os, component_type v);
/// Prints `to_string(v)`, or "provider_type(<n>)".
std::ostream& operator<<(std::ostream& os, provider_type v);
/// Prints the set bits joined by '|' ("VSS_VOLSNAP_ATTR_PERSISTENT|VSS_VOLSNAP_ATTR_PLEX"),
/// unnamed bits as one hex value ("0x00008000"), and "0" for no bit.
std::ostream& operator<<(std::ostream& os, volume_attributes v);
/// Prints a named context ("VSS_CTX_BACKUP"), or its base and modifiers
/// ("VSS_CTX_BACKUP|VSS_VOLSNAP_ATTR_TRANSPORTABLE"), or "snapshot_context(0x...)" when the
/// base has no name.
std::ostream& operator<<(std::ostream& os, snapshot_context v);

/// Parses a backup type for the command line: the enumerator name ("full", "copy") or the VSS
/// symbol ("VSS_BT_FULL"), ASCII case ignored, '-' accepted for '_'. nullopt otherwise.
std::optional<backup_type> parse_backup_type(std::string_view s) noexcept;

/// Parses an application level for the command line: the enumerator name ("front_end",
/// "auto_level"), "auto", or the VSS symbol ("VSS_APP_FRONT_END"), ASCII case ignored, '-'
/// accepted for '_' ("front-end"). nullopt otherwise.
std::optional<application_level> parse_application_level(std::string_view s) noexcept;

}  // namespace vss
