// Copyright (c) openvss authors. SPDX-License-Identifier: Apache-2.0
//
// vss/error.hpp — the error vocabulary of openvss.
//
// Every failure in openvss is a `std::error_code`. Codes of the `vss_category()` carry the
// documented VSS HRESULT as their value, so `ec.value()` is exactly what Windows would have
// returned (0x80042301 for VSS_E_BAD_STATE, read as a signed 32-bit int). `symbol()` gives the
// VSS name, `ec.message()` gives "VSS_E_BAD_STATE (0x80042301): <meaning>".
//
// Success codes are codes too. S_FALSE (1) and the VSS_S_* codes (VSS_S_ASYNC_FINISHED,
// VSS_S_ASYNC_CANCELLED, ...) have a non-zero value, so `if (ec)` is TRUE for them. Test a
// result with `succeeded()` (HRESULT >= 0) or compare it with a specific code
// (`ec == vss::errc::async_cancelled`); only `errc::ok` (S_OK) is a false `error_code`.
//
// Conditions say what a caller should do about a code (Beast's code/condition split): compare
// a code with a `vss::condition`, never list codes in caller logic:
//
//   if (ec == vss::condition::retryable) schedule_retry();
//
// One code may match several conditions (VSS_E_WRITERERROR_TIMEOUT is both `timed_out` and
// `retryable`); `ec.default_error_condition()` picks the first of retryable,
// retry_after_reconfigure, fatal, timed_out, cancelled that matches. Codes outside the
// mapping below match no condition: the caller has to understand the specific code.
//
// How to choose a code (for code that RETURNS an error; after Abseil's status guide):
//  - Prefer the code VSS documents for the same situation in the same method (spec §2.2,
//    §6.3, §11.3): a VSS expert reading a log must recognise it.
//  - A call made out of order, or twice when once is allowed: `bad_state` (VSS_E_BAD_STATE),
//    and change nothing. Never use `bad_state` for bad input.
//  - Bad input (argument, config value, command line, message on the socket): `invalid_arg`
//    (E_INVALIDARG). A syntactically fine reference to something that does not exist:
//    `object_not_found`. A duplicate: `object_already_exists`.
//  - A writer that failed: the writer's own VSS_E_WRITERERROR_* code; `writer_error_retryable`
//    when a rerun of the whole backup may succeed, `writer_error_nonretryable` when it would
//    fail again. A writer that did not answer by its deadline: `writer_not_responding`
//    (`writer_error_timeout` at Freeze, where VSS reports that code).
//  - A provider that failed: `provider_veto`; a provider that returned a code outside its
//    allowed list is translated to `unexpected_provider_error` (spec §11.3).
//  - Cancelled on request (IVssAsync::Cancel, AbortBackup): the completion handler and the
//    IVssAsync-style handle both get `async_cancelled` (VSS_S_ASYNC_CANCELLED, as VSS reports
//    it). It compares equal to `condition::cancelled`, as do `asio::error::operation_aborted`
//    and ECANCELED, so code written for Asio's convention can test `ec == condition::cancelled`.
//    Cancellation is not failure: count it separately.
//  - A broken invariant of openvss itself: `unexpected` (VSS_E_UNEXPECTED), and log why.
//    `generic_unexpected` (E_UNEXPECTED) and `fail` (E_FAIL) only when passing on a code
//    that came from outside.
//
// The mapping of codes to conditions:
//  retryable (transient: wait, then redo the whole operation; VSS advises up to 3 tries):
//    writer_error_retryable, writer_error_out_of_resources, writer_error_timeout,
//    flush_writes_timeout, hold_writes_timeout, provider_veto, unexpected_provider_error,
//    snapshot_set_in_progress, writer_status_not_available, out_of_memory.
//  retry_after_reconfigure (change the request first, e.g. add the missing volumes, pick
//  another provider or context, free storage or delete old snapshots):
//    writer_error_inconsistent_snapshot, maximum_number_of_volumes_reached,
//    maximum_number_of_snapshots_reached, insufficient_storage, volume_not_supported,
//    volume_not_supported_by_provider, unsupported_context.
//  fatal (do not retry; the writer, the caller or the installation must be fixed):
//    writer_error_nonretryable, writer_not_responding, writer_error_recovery_failed,
//    unexpected, generic_unexpected, bad_state, invalid_arg, access_denied,
//    writer_infrastructure, fail.
//  timed_out (a deadline expired; orthogonal to the three above):
//    writer_error_timeout, writer_not_responding, flush_writes_timeout, hold_writes_timeout,
//    transaction_freeze_timeout, transaction_thaw_timeout, cluster_timeout, fss_timeout.
//  cancelled (stopped on request; not a failure):
//    async_cancelled; asio::error::operation_aborted (ECANCELED in Asio's "asio.system"
//    category); and any other std::error_code whose default_error_condition() is
//    std::errc::operation_canceled (ECANCELED in std::system_category() or
//    std::generic_category()).
//
// Thread-safety: everything here is stateless or immutable; call it from any thread.

#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace vss {

/// VSS result codes. Each enumerator's value is the HRESULT documented for it (spec §8.1),
/// stored as a signed 32-bit integer; `hresult()` gives the unsigned form. Generic COM codes
/// come first, then the VSS codes of vsserror.h in value order.
enum class errc : std::int32_t {
  /// S_OK (0x00000000): success.
  ok = static_cast<std::int32_t>(0x00000000u),
  /// S_FALSE (0x00000001): success with a qualified result (for example: nothing was done).
  s_false = static_cast<std::int32_t>(0x00000001u),
  /// E_NOTIMPL (0x80004001): not implemented.
  not_implemented = static_cast<std::int32_t>(0x80004001u),
  /// E_ABORT (0x80004004): operation aborted.
  abort = static_cast<std::int32_t>(0x80004004u),
  /// E_FAIL (0x80004005): unspecified failure.
  fail = static_cast<std::int32_t>(0x80004005u),
  /// E_UNEXPECTED (0x8000FFFF): catastrophic (generic unexpected) failure.
  generic_unexpected = static_cast<std::int32_t>(0x8000FFFFu),
  /// E_ACCESSDENIED (0x80070005): access denied (caller lacks backup privileges).
  access_denied = static_cast<std::int32_t>(0x80070005u),
  /// E_OUTOFMEMORY (0x8007000E): out of memory.
  out_of_memory = static_cast<std::int32_t>(0x8007000Eu),
  /// E_INVALIDARG (0x80070057): invalid argument.
  invalid_arg = static_cast<std::int32_t>(0x80070057u),
  /// VSS_E_BAD_STATE (0x80042301): call made in a state where it is not allowed.
  bad_state = static_cast<std::int32_t>(0x80042301u),
  /// VSS_E_UNEXPECTED (0x80042302): internal VSS error; details in event log.
  unexpected = static_cast<std::int32_t>(0x80042302u),
  /// VSS_E_PROVIDER_ALREADY_REGISTERED (0x80042303): provider registered twice.
  provider_already_registered = static_cast<std::int32_t>(0x80042303u),
  /// VSS_E_PROVIDER_NOT_REGISTERED (0x80042304): unknown provider id.
  provider_not_registered = static_cast<std::int32_t>(0x80042304u),
  /// VSS_E_PROVIDER_VETO (0x80042306): provider refused / internal provider error (logged by
  /// provider).
  provider_veto = static_cast<std::int32_t>(0x80042306u),
  /// VSS_E_PROVIDER_IN_USE (0x80042307): provider busy, cannot unregister.
  provider_in_use = static_cast<std::int32_t>(0x80042307u),
  /// VSS_E_OBJECT_NOT_FOUND (0x80042308): referenced snapshot/set/volume/writer not found.
  object_not_found = static_cast<std::int32_t>(0x80042308u),
  /// VSS_S_ASYNC_PENDING (0x00042309): async op still running.
  async_pending = static_cast<std::int32_t>(0x00042309u),
  /// VSS_S_ASYNC_FINISHED (0x0004230A): async op completed successfully.
  async_finished = static_cast<std::int32_t>(0x0004230Au),
  /// VSS_S_ASYNC_CANCELLED (0x0004230B): async op was cancelled.
  async_cancelled = static_cast<std::int32_t>(0x0004230Bu),
  /// VSS_E_VOLUME_NOT_SUPPORTED (0x8004230C): no provider supports the volume.
  volume_not_supported = static_cast<std::int32_t>(0x8004230Cu),
  /// VSS_E_OBJECT_ALREADY_EXISTS (0x8004230D): duplicate object (component, volume in set).
  object_already_exists = static_cast<std::int32_t>(0x8004230Du),
  /// VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER (0x8004230E): chosen provider does not support the
  /// volume.
  volume_not_supported_by_provider = static_cast<std::int32_t>(0x8004230Eu),
  /// VSS_E_UNEXPECTED_PROVIDER_ERROR (0x8004230F): provider returned a non-allowed code
  /// (translated).
  unexpected_provider_error = static_cast<std::int32_t>(0x8004230Fu),
  /// VSS_E_CORRUPT_XML_DOCUMENT (0x80042310): malformed XML (deprecated code).
  corrupt_xml_document = static_cast<std::int32_t>(0x80042310u),
  /// VSS_E_INVALID_XML_DOCUMENT (0x80042311): XML malformed or schema-invalid.
  invalid_xml_document = static_cast<std::int32_t>(0x80042311u),
  /// VSS_E_MAXIMUM_NUMBER_OF_VOLUMES_REACHED (0x80042312): set already has the maximum number of
  /// volumes (64).
  maximum_number_of_volumes_reached = static_cast<std::int32_t>(0x80042312u),
  /// VSS_E_FLUSH_WRITES_TIMEOUT (0x80042313): flushing writes for the snapshot timed out.
  flush_writes_timeout = static_cast<std::int32_t>(0x80042313u),
  /// VSS_E_HOLD_WRITES_TIMEOUT (0x80042314): holding writes for the snapshot timed out (10 s).
  hold_writes_timeout = static_cast<std::int32_t>(0x80042314u),
  /// VSS_E_UNEXPECTED_WRITER_ERROR (0x80042315): failure sending events to writers.
  unexpected_writer_error = static_cast<std::int32_t>(0x80042315u),
  /// VSS_E_SNAPSHOT_SET_IN_PROGRESS (0x80042316): another snapshot-set creation is in progress.
  snapshot_set_in_progress = static_cast<std::int32_t>(0x80042316u),
  /// VSS_E_MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED (0x80042317): volume already has its maximum number
  /// of shadow copies.
  maximum_number_of_snapshots_reached = static_cast<std::int32_t>(0x80042317u),
  /// VSS_E_WRITER_INFRASTRUCTURE (0x80042318): cannot reach writers (event system / service down).
  writer_infrastructure = static_cast<std::int32_t>(0x80042318u),
  /// VSS_E_WRITER_NOT_RESPONDING (0x80042319): writer did not answer (dead or hung).
  writer_not_responding = static_cast<std::int32_t>(0x80042319u),
  /// VSS_E_WRITER_ALREADY_SUBSCRIBED (0x8004231A): Subscribe called twice.
  writer_already_subscribed = static_cast<std::int32_t>(0x8004231Au),
  /// VSS_E_UNSUPPORTED_CONTEXT (0x8004231B): provider does not support this snapshot context.
  unsupported_context = static_cast<std::int32_t>(0x8004231Bu),
  /// VSS_E_VOLUME_IN_USE (0x8004231D): storage association in use, cannot delete.
  volume_in_use = static_cast<std::int32_t>(0x8004231Du),
  /// VSS_E_MAXIMUM_DIFFAREA_ASSOCIATIONS_REACHED (0x8004231E): too many diff-area associations.
  maximum_diffarea_associations_reached = static_cast<std::int32_t>(0x8004231Eu),
  /// VSS_E_INSUFFICIENT_STORAGE (0x8004231F): not enough space for snapshot storage.
  insufficient_storage = static_cast<std::int32_t>(0x8004231Fu),
  /// VSS_E_NO_SNAPSHOTS_IMPORTED (0x80042320): import brought in nothing.
  no_snapshots_imported = static_cast<std::int32_t>(0x80042320u),
  /// VSS_S_SOME_SNAPSHOTS_NOT_IMPORTED (0x00042321): import partially succeeded (success code).
  s_some_snapshots_not_imported = static_cast<std::int32_t>(0x00042321u),
  /// VSS_E_SOME_SNAPSHOTS_NOT_IMPORTED (0x80042321): import partially failed (error code).
  some_snapshots_not_imported = static_cast<std::int32_t>(0x80042321u),
  /// VSS_E_MAXIMUM_NUMBER_OF_REMOTE_MACHINES_REACHED (0x80042322): remote-machine limit hit.
  maximum_number_of_remote_machines_reached = static_cast<std::int32_t>(0x80042322u),
  /// VSS_E_REMOTE_SERVER_UNAVAILABLE (0x80042323): remote server unreachable.
  remote_server_unavailable = static_cast<std::int32_t>(0x80042323u),
  /// VSS_E_REMOTE_SERVER_UNSUPPORTED (0x80042324): remote VSS too old for remote creation.
  remote_server_unsupported = static_cast<std::int32_t>(0x80042324u),
  /// VSS_E_REVERT_IN_PROGRESS (0x80042325): a revert already runs on the volume.
  revert_in_progress = static_cast<std::int32_t>(0x80042325u),
  /// VSS_E_REVERT_VOLUME_LOST (0x80042326): volume lost during revert.
  revert_volume_lost = static_cast<std::int32_t>(0x80042326u),
  /// VSS_E_REBOOT_REQUIRED (0x80042327): restart needed to finish.
  reboot_required = static_cast<std::int32_t>(0x80042327u),
  /// VSS_E_TRANSACTION_FREEZE_TIMEOUT (0x80042328): timed out freezing a transaction manager.
  transaction_freeze_timeout = static_cast<std::int32_t>(0x80042328u),
  /// VSS_E_TRANSACTION_THAW_TIMEOUT (0x80042329): transaction manager frozen too long.
  transaction_thaw_timeout = static_cast<std::int32_t>(0x80042329u),
  /// VSS_E_UNSELECTED_VOLUME (0x8004232A): operation would overwrite a volume not explicitly
  /// selected.
  unselected_volume = static_cast<std::int32_t>(0x8004232Au),
  /// VSS_E_SNAPSHOT_NOT_IN_SET (0x8004232B): snapshot id not in the BCD's set.
  snapshot_not_in_set = static_cast<std::int32_t>(0x8004232Bu),
  /// VSS_E_NESTED_VOLUME_LIMIT (0x8004232C): volume nested too deeply (VHD in VHD).
  nested_volume_limit = static_cast<std::int32_t>(0x8004232Cu),
  /// VSS_E_VOLUME_NOT_LOCAL (0x8004232D): volume not mounted on this host.
  volume_not_local = static_cast<std::int32_t>(0x8004232Du),
  /// VSS_E_CLUSTER_TIMEOUT (0x8004232E): timed out preparing a cluster shared volume.
  cluster_timeout = static_cast<std::int32_t>(0x8004232Eu),
  /// VSS_E_NOT_SUPPORTED (0x8004232F): operation not supported.
  not_supported = static_cast<std::int32_t>(0x8004232Fu),
  /// VSS_E_WRITERERROR_PARTIAL_FAILURE (0x80042336): writer reports component-level failures.
  writer_error_partial_failure = static_cast<std::int32_t>(0x80042336u),
  /// VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT (0x800423F0): set contains only part of the volumes the
  /// selected components need.
  writer_error_inconsistent_snapshot = static_cast<std::int32_t>(0x800423F0u),
  /// VSS_E_WRITERERROR_OUTOFRESOURCES (0x800423F1): memory/handle/other resource allocation failed.
  writer_error_out_of_resources = static_cast<std::int32_t>(0x800423F1u),
  /// VSS_E_WRITERERROR_TIMEOUT (0x800423F2): Freeze-to-Thaw window exceeded.
  writer_error_timeout = static_cast<std::int32_t>(0x800423F2u),
  /// VSS_E_WRITERERROR_RETRYABLE (0x800423F3): transient; retrying the whole operation may succeed.
  writer_error_retryable = static_cast<std::int32_t>(0x800423F3u),
  /// VSS_E_WRITERERROR_NONRETRYABLE (0x800423F4): non-transient; will likely recur.
  writer_error_nonretryable = static_cast<std::int32_t>(0x800423F4u),
  /// VSS_E_WRITERERROR_RECOVERY_FAILED (0x800423F5): writer failed while recovering (auto-recover)
  /// the shadow volume.
  writer_error_recovery_failed = static_cast<std::int32_t>(0x800423F5u),
  /// VSS_E_BREAK_REVERT_ID_FAILED (0x800423F6): break failed: disk identities could not be
  /// reverted.
  break_revert_id_failed = static_cast<std::int32_t>(0x800423F6u),
  /// VSS_E_LEGACY_PROVIDER (0x800423F7): hardware provider too old for the operation.
  legacy_provider = static_cast<std::int32_t>(0x800423F7u),
  /// VSS_E_MISSING_DISK (0x800423F8): expected disk did not arrive.
  missing_disk = static_cast<std::int32_t>(0x800423F8u),
  /// VSS_E_MISSING_HIDDEN_VOLUME (0x800423F9): expected hidden volume did not arrive.
  missing_hidden_volume = static_cast<std::int32_t>(0x800423F9u),
  /// VSS_E_MISSING_VOLUME (0x800423FA): expected volume did not arrive.
  missing_volume = static_cast<std::int32_t>(0x800423FAu),
  /// VSS_E_AUTORECOVERY_FAILED (0x800423FB): auto-recovery of the snapshot failed.
  autorecovery_failed = static_cast<std::int32_t>(0x800423FBu),
  /// VSS_E_DYNAMIC_DISK_ERROR (0x800423FC): dynamic-disk processing error.
  dynamic_disk_error = static_cast<std::int32_t>(0x800423FCu),
  /// VSS_E_NONTRANSPORTABLE_BCD (0x800423FD): BCD describes a non-transportable set.
  nontransportable_bcd = static_cast<std::int32_t>(0x800423FDu),
  /// VSS_E_CANNOT_REVERT_DISKID (0x800423FE): MBR signature / GPT id could not be set.
  cannot_revert_diskid = static_cast<std::int32_t>(0x800423FEu),
  /// VSS_E_RESYNC_IN_PROGRESS (0x800423FF): another LUN resync is running.
  resync_in_progress = static_cast<std::int32_t>(0x800423FFu),
  /// VSS_E_CLUSTER_ERROR (0x80042400): clustered disks could not be enumerated / put in
  /// maintenance.
  cluster_error = static_cast<std::int32_t>(0x80042400u),
  /// VSS_E_ASRERROR_DISK_ASSIGNMENT_FAILED (0x80042401): ASR: too few/small disks.
  asr_error_disk_assignment_failed = static_cast<std::int32_t>(0x80042401u),
  /// VSS_E_ASRERROR_DISK_RECREATION_FAILED (0x80042402): ASR: cannot recreate a disk.
  asr_error_disk_recreation_failed = static_cast<std::int32_t>(0x80042402u),
  /// VSS_E_ASRERROR_NO_ARCPATH (0x80042403): ASR: restart needed to prepare disk.
  asr_error_no_arcpath = static_cast<std::int32_t>(0x80042403u),
  /// VSS_E_ASRERROR_MISSING_DYNDISK (0x80042404): ASR: dynamic volume disk missing.
  asr_error_missing_dyndisk = static_cast<std::int32_t>(0x80042404u),
  /// VSS_E_ASRERROR_SHARED_CRIDISK (0x80042405): ASR: critical volume on cluster shared disk.
  asr_error_shared_cridisk = static_cast<std::int32_t>(0x80042405u),
  /// VSS_E_ASRERROR_DATADISK_RDISK0 (0x80042406): ASR: data disk set active in BIOS.
  asr_error_datadisk_rdisk0 = static_cast<std::int32_t>(0x80042406u),
  /// VSS_E_ASRERROR_RDISK0_TOOSMALL (0x80042407): ASR: active disk too small.
  asr_error_rdisk0_toosmall = static_cast<std::int32_t>(0x80042407u),
  /// VSS_E_ASRERROR_CRITICAL_DISKS_TOO_SMALL (0x80042408): ASR: not enough suitable disks.
  asr_error_critical_disks_too_small = static_cast<std::int32_t>(0x80042408u),
  /// VSS_E_WRITER_STATUS_NOT_AVAILABLE (0x80042409): writer status unavailable (session slots
  /// exhausted).
  writer_status_not_available = static_cast<std::int32_t>(0x80042409u),
  /// VSS_E_ASRERROR_DYNAMIC_VHD_NOT_SUPPORTED (0x8004240A): ASR: critical dynamic disk is a VHD.
  asr_error_dynamic_vhd_not_supported = static_cast<std::int32_t>(0x8004240Au),
  /// VSS_E_CRITICAL_VOLUME_ON_INVALID_DISK (0x80042411): ASR: critical volume on unsupported disk.
  critical_volume_on_invalid_disk = static_cast<std::int32_t>(0x80042411u),
  /// VSS_E_ASRERROR_RDISK_FOR_SYSTEM_DISK_NOT_FOUND (0x80042412): ASR: no disk usable for system
  /// disk.
  asr_error_rdisk_for_system_disk_not_found = static_cast<std::int32_t>(0x80042412u),
  /// VSS_E_ASRERROR_NO_PHYSICAL_DISK_AVAILABLE (0x80042413): ASR: no fixed disk available.
  asr_error_no_physical_disk_available = static_cast<std::int32_t>(0x80042413u),
  /// VSS_E_ASRERROR_FIXED_PHYSICAL_DISK_AVAILABLE_AFTER_DISK_EXCLUSION (0x80042414): ASR: none left
  /// after exclusions.
  asr_error_fixed_physical_disk_available_after_disk_exclusion =
      static_cast<std::int32_t>(0x80042414u),
  /// VSS_E_ASRERROR_CRITICAL_DISK_CANNOT_BE_EXCLUDED (0x80042415): ASR: critical disk excluded.
  asr_error_critical_disk_cannot_be_excluded = static_cast<std::int32_t>(0x80042415u),
  /// VSS_E_ASRERROR_SYSTEM_PARTITION_HIDDEN (0x80042416): ASR: active partition hidden/unknown FS.
  asr_error_system_partition_hidden = static_cast<std::int32_t>(0x80042416u),
  /// VSS_E_FSS_TIMEOUT (0x80042417): timed out preparing a file-share shadow copy.
  fss_timeout = static_cast<std::int32_t>(0x80042417u),
};

/// The error category of `errc`. `name()` is "vss"; `message(v)` is
/// "VSS_E_BAD_STATE (0x80042301): call made in a state where it is not allowed", or
/// "unknown VSS code 0x80042305" for a value that is not an `errc`. Its
/// `default_error_condition` and `equivalent` implement the condition mapping above.
const std::error_category& vss_category() noexcept;

/// Makes a `vss_category()` code; found by ADL, so `std::error_code ec = errc::bad_state;` works.
std::error_code make_error_code(errc e) noexcept;

/// The HRESULT of `e` as the unsigned 32-bit value VSS documents (0x80042301).
constexpr std::uint32_t hresult(errc e) noexcept {
  return static_cast<std::uint32_t>(static_cast<std::int32_t>(e));
}

/// True for success codes (HRESULT >= 0: S_OK, S_FALSE and the VSS_S_* codes) — the
/// SUCCEEDED() macro of COM.
constexpr bool succeeded(errc e) noexcept { return static_cast<std::int32_t>(e) >= 0; }

/// True when `ec` is no error at all (value 0, any category) or a `vss_category()` success
/// code (S_FALSE, VSS_S_*). Any other non-zero code is a failure.
bool succeeded(const std::error_code& ec) noexcept;

/// The VSS symbol of `e`: "VSS_E_BAD_STATE", "VSS_S_ASYNC_FINISHED", "E_INVALIDARG", "S_OK".
/// Returns "" for a value that is not a known `errc`.
std::string_view symbol(errc e) noexcept;

/// The C++ enumerator name of `e`: "bad_state", "async_finished", "invalid_arg", "ok".
/// Returns "" for a value that is not a known `errc`.
std::string_view enumerator_name(errc e) noexcept;

/// Parses a code from its VSS symbol ("VSS_E_BAD_STATE", "E_INVALIDARG") or its enumerator
/// name ("bad_state", "invalid_arg"), ignoring ASCII case. Returns nullopt for anything else
/// (including numbers). Used by fault plans and the command line.
std::optional<errc> errc_from_symbol(std::string_view s) noexcept;

/// Every known `errc`, in enumerator order (generic codes, then VSS codes by value).
std::span<const errc> known_codes() noexcept;

/// What a caller should do about an error; compare an `std::error_code` with one of these.
/// See the mapping at the top of this file.
enum class condition {
  /// Transient: wait and redo the whole operation (VSS advises up to three attempts).
  retryable = 1,
  /// Fails again unless the request changes (more volumes, another provider or context,
  /// more storage).
  retry_after_reconfigure,
  /// Do not retry: a bug, a missing privilege, or a component that must be fixed first.
  fatal,
  /// A deadline expired (a writer, a flush/hold window, a transaction manager).
  timed_out,
  /// Stopped on request (Cancel, AbortBackup, asio::error::operation_aborted); not a failure.
  cancelled,
};

/// The error category of `condition`; `name()` is "vss.condition". Its `equivalent` also
/// makes asio::error::operation_aborted and every code whose default condition is
/// std::errc::operation_canceled equal to `condition::cancelled`.
const std::error_category& condition_category() noexcept;

/// Makes a `condition_category()` condition; found by ADL, so `ec == condition::fatal` works.
std::error_condition make_error_condition(condition c) noexcept;

}  // namespace vss

/// Lets `vss::errc` convert implicitly to `std::error_code`.
template <>
struct std::is_error_code_enum<vss::errc> : std::true_type {};

/// Lets `vss::condition` convert implicitly to `std::error_condition`.
template <>
struct std::is_error_condition_enum<vss::condition> : std::true_type {};
