#pragma once
// The requester API: one backup_session is one IVssBackupComponents object, i.e. one backup.
//
// A session follows the VSS call order (spec §2.3); a call made out of order returns
// VSS_E_BAD_STATE and changes nothing. Asynchronous calls are Asio initiating functions: they
// take any completion token with signature void(std::error_code) — a callback,
// asio::use_future, asio::use_awaitable, asio::experimental::deferred — or vss::use_async_op,
// which returns an IVssAsync-style vss::async_op handle (wait / cancel / query_status).
// Handlers run on their associated executor, never inside the initiating call.
//
// Example: a full backup, waiting on IVssAsync-style handles.
//   vss::backup_session s = engine.create_backup_session();
//   s.initialize_for_backup();
//   s.set_backup_state(false, false, vss::backup_type::full);
//   s.async_gather_writer_metadata(vss::use_async_op).wait();
//   vss::snapshot_set_id set;  s.start_snapshot_set(set);
//   vss::snapshot_id snap;     s.add_to_snapshot_set("/data", {}, snap);
//   s.async_prepare_for_backup(vss::use_async_op).wait();
//   auto op = s.async_do_snapshot_set(vss::use_async_op);
//   op.wait();
//   if (op.query_status() == vss::errc::async_finished) {
//     ... copy from the snapshot (get_snapshot_properties(snap, props).device) ...
//     s.async_backup_complete(vss::use_async_op).wait();
//   } else {
//     s.abort_backup();
//   }
//   // destroying the last handle releases the session: writers get BackupShutdown.
//
// Example: the same from a coroutine, with an abort from another thread.
//   co_await s.async_prepare_for_backup(asio::use_awaitable);
//   std::thread([s]() mutable { s.abort_backup(); }).detach();
//   try { co_await s.async_do_snapshot_set(asio::use_awaitable); }
//   catch (const std::system_error& e) { /* e.code() == vss::errc::async_cancelled */ }
//
// Thread-safety: every member may be called from any thread. Handles are cheap to copy and
// share one session; the session is released (Release: BackupShutdown, auto-release snapshots
// deleted, implicit AbortBackup if one is due) when the last handle is destroyed or release()
// is called.

#include <asio/async_result.hpp>
#include <cstdint>
#include <memory>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "vss/async_op.hpp"
#include "vss/detail/session_ops.hpp"
#include "vss/id.hpp"
#include "vss/provider.hpp"
#include "vss/report.hpp"
#include "vss/session_state.hpp"
#include "vss/types.hpp"
#include "vss/writer.hpp"

namespace vss {

class engine;

/// One backup: the IVssBackupComponents role.
class backup_session {
 public:
  /// An empty session: every call returns VSS_E_BAD_STATE.
  backup_session() noexcept = default;

  /// This session's id (IVssBackupComponentsEx3::GetSessionId).
  session_id id() const noexcept;

  /// Where the session is in the call sequence.
  session_state state() const noexcept;

  /// InitializeForBackup. First call on a new session.
  std::error_code initialize_for_backup();

  /// SetContext: a VSS_SNAPSHOT_CONTEXT value, optionally OR-ed with requester-settable
  /// volume_attributes. Once, after initialize_for_backup and before start_snapshot_set.
  /// Default context: snapshot_context::backup. Bad values: E_INVALIDARG.
  std::error_code set_context(std::uint32_t context);

  /// SetBackupState. Must precede prepare_for_backup. `select_components` = component mode.
  std::error_code set_backup_state(bool select_components, bool bootable_system_state,
                                   backup_type type, bool partial_file_support = false);

  /// GatherWriterMetadata: sends Identify to every registered writer and keeps the metadata of
  /// those that answered. Once per session.
  /// Completion: void(std::error_code); {} even if some writers failed (they are left out).
  /// Cancellation: stops waiting; unanswered writers are left out; completes with
  /// VSS_S_ASYNC_CANCELLED.
  template <class CompletionToken>
  auto async_gather_writer_metadata(CompletionToken&& token) {
    return start(detail::op_kind::gather_writer_metadata, std::forward<CompletionToken>(token));
  }

  /// GetWriterMetadataCount / GetWriterMetadata: the writers that answered Identify.
  std::vector<vss::writer_metadata> get_writer_metadata() const;

  /// AddComponent: select a component of a writer (component mode). Until prepare_for_backup.
  /// Errors: E_INVALIDARG (empty name), VSS_E_OBJECT_NOT_FOUND (unknown writer or component),
  /// VSS_E_OBJECT_ALREADY_EXISTS (added twice), VSS_E_BAD_STATE.
  std::error_code add_component(const writer_instance_id& instance, const writer_class_id& cls,
                                component_type type, std::string_view logical_path,
                                std::string_view name);

  /// StartSnapshotSet: returns the new set's id in `set`.
  std::error_code start_snapshot_set(snapshot_set_id& set);

  /// AddToSnapshotSet: `provider` null = automatic choice (the first registered provider whose
  /// is_volume_supported says yes). Returns the snapshot's id in `snapshot`.
  /// Errors: E_INVALIDARG (empty volume), VSS_E_OBJECT_ALREADY_EXISTS,
  /// VSS_E_MAXIMUM_NUMBER_OF_VOLUMES_REACHED, VSS_E_PROVIDER_NOT_REGISTERED,
  /// VSS_E_VOLUME_NOT_SUPPORTED, VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER,
  /// VSS_E_SNAPSHOT_SET_IN_PROGRESS (another session's creation holds the volume; reject
  /// policy), or the provider's BeginPrepareSnapshot error.
  std::error_code add_to_snapshot_set(std::string_view volume, const provider_id& provider,
                                      snapshot_id& snapshot);

  /// PrepareForBackup: sends PrepareBackup to the participating writers (component mode: those
  /// with a selected component; otherwise every writer that answered Identify), after
  /// reserving them and the set's volumes for this session.
  /// Completion: void(std::error_code): {} even if writers vetoed (see get_writer_status());
  /// VSS_E_SNAPSHOT_SET_IN_PROGRESS if another session holds a writer or volume.
  /// Cancellation: stops waiting, completes with VSS_S_ASYNC_CANCELLED; the session fails.
  template <class CompletionToken>
  auto async_prepare_for_backup(CompletionToken&& token) {
    return start(detail::op_kind::prepare_for_backup, std::forward<CompletionToken>(token));
  }

  /// DoSnapshotSet: provider EndPrepare, PrepareSnapshot, Freeze (front-end, back-end,
  /// system), provider PreCommit / Commit (hold budget) / PostCommit, Thaw (system, back-end,
  /// front-end), PreFinalCommit, PostSnapshot, PostFinalCommit (spec §10.1).
  /// Completion: void(std::error_code): {} when the set was created (writer vetoes are
  /// reported per writer, not here); VSS_S_ASYNC_CANCELLED when an abort or cancel stopped
  /// it; otherwise the failure (provider veto, hold timeout, ...), reported after every
  /// writer was aborted and partial snapshots deleted.
  /// Cancellation (async_op::cancel or a bound slot): AbortBackup semantics for the pipeline
  /// (spec §3.5) but the session ends `failed`, not `aborted`: call abort_backup() next.
  template <class CompletionToken>
  auto async_do_snapshot_set(CompletionToken&& token) {
    return start(detail::op_kind::do_snapshot_set, std::forward<CompletionToken>(token));
  }

  /// GatherWriterStatus: refreshes writer_status(). Allowed during DoSnapshotSet (a moving
  /// picture). Completion: void(std::error_code).
  template <class CompletionToken>
  auto async_gather_writer_status(CompletionToken&& token) {
    return start(detail::op_kind::gather_writer_status, std::forward<CompletionToken>(token));
  }

  /// GetWriterStatusCount / GetWriterStatus(Ex) as of the last GatherWriterStatus.
  std::vector<vss::writer_status> get_writer_status() const;

  /// SetBackupSucceeded for a selected component, after a successful DoSnapshotSet.
  std::error_code set_backup_succeeded(const writer_instance_id& instance,
                                       const writer_class_id& cls, component_type type,
                                       std::string_view logical_path, std::string_view name,
                                       bool succeeded);

  /// BackupComplete: sends BackupComplete to writers waiting for it.
  /// Completion: void(std::error_code).
  template <class CompletionToken>
  auto async_backup_complete(CompletionToken&& token) {
    return start(detail::op_kind::backup_complete, std::forward<CompletionToken>(token));
  }

  /// AbortBackup, blocking form. Thread-safe, idempotent, callable at any moment. Requests
  /// the abort sequence of spec §10.3 and returns when it is done: every participating writer
  /// not past PostSnapshot answered OnAbort (or missed its deadline), the provider aborted,
  /// partial snapshots deleted. Returns S_OK; S_OK with nothing to do; VSS_E_BAD_STATE before
  /// initialize_for_backup.
  /// Called on one of the engine's own threads (inside a writer handler or a completion
  /// handler run by the engine) it only STARTS the abort and returns S_OK at once, because
  /// waiting there could deadlock; use async_abort_backup to learn when it is done.
  /// Waiting: the caller first watches for the end for up to 200 µs, yielding its CPU, and
  /// only then sleeps; a sleeping thread can take tens of µs to wake on a virtual machine.
  /// One caller per engine waits that way at a time, the others sleep at once.
  std::error_code abort_backup();

  /// AbortBackup, asynchronous form: completes when the abort sequence is done.
  /// Completion: void(std::error_code) with the same codes as abort_backup().
  template <class CompletionToken>
  auto async_abort_backup(CompletionToken&& token) {
    return start(detail::op_kind::abort_backup, std::forward<CompletionToken>(token));
  }

  /// GetSnapshotProperties. VSS_E_OBJECT_NOT_FOUND until the snapshot exists.
  std::error_code get_snapshot_properties(const snapshot_id& snapshot,
                                          snapshot_properties& out) const;

  /// Query(GUID_NULL, VSS_OBJECT_NONE, VSS_OBJECT_SNAPSHOT): created snapshots of every
  /// provider that match the session's context (VSS_CTX_ALL: all).
  std::error_code query(std::vector<snapshot_properties>& out);

  /// Query(..., VSS_OBJECT_PROVIDER): every registered provider.
  std::error_code query_providers(std::vector<provider_properties>& out);

  /// IsVolumeSupported; `provider` null = any provider.
  std::error_code is_volume_supported(const provider_id& provider, std::string_view volume,
                                      bool& supported) const;

  /// DeleteSnapshots: `type` is object_type::snapshot or object_type::snapshot_set. Deletes one
  /// by one; the first failure stops and names the snapshot in `not_deleted`.
  std::error_code delete_snapshots(const guid& source, object_type type, bool force,
                                   std::int32_t& deleted, snapshot_id& not_deleted);

  /// One report per event delivery so far, in order (the session's timeline).
  std::vector<phase_report> phase_reports() const;

  /// What the snapshot set is good for, given what the writers did.
  consistency_grade consistency() const;

  /// The flush-and-hold window of the set's commit (spec §7.1): which filesystems were held
  /// and for how long. Empty until the commit ran.
  write_hold_report write_hold() const;

  /// Release now (rather than when the last handle goes): implicit AbortBackup if one is due,
  /// BackupShutdown to every writer that took part, auto-release snapshots deleted. Every
  /// later call returns VSS_E_BAD_STATE. Does not wait.
  void release();

  /// Release, asynchronous form: releases as release() does and completes once every writer
  /// answered BackupShutdown (or missed its deadline) and the session's writers and volumes
  /// are free for other sessions. The handle stays valid but every later call returns
  /// VSS_E_BAD_STATE. Completion: void(std::error_code), always {}.
  template <class CompletionToken>
  auto async_release(CompletionToken&& token) {
    return start(detail::op_kind::release, std::forward<CompletionToken>(token));
  }

  /// Engine use only.
  explicit backup_session(std::shared_ptr<detail::session_impl> impl) noexcept;

 private:
  struct releaser;

  template <class CompletionToken>
  auto start(detail::op_kind kind, CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(std::error_code)>(
        [](auto handler, std::shared_ptr<detail::session_impl> impl, detail::op_kind k) {
          detail::launch(impl, k, std::move(handler));
        },
        token, impl_, kind);
  }

  std::shared_ptr<detail::session_impl> impl_;
  std::shared_ptr<releaser> releaser_;  // the last handle's destruction releases the session
};

}  // namespace vss
