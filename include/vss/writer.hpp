#pragma once
// The writer side of openvss: the CVssWriter role.
//
// A writer is an application component (a database, a mail store, any service with state on
// disk) that quiesces around a snapshot. Derive from vss::writer, override the handlers, and
// register an instance with vss::engine::register_writer(). Each handler receives a
// vss::writer_context and finishes the event by calling complete() or fail() on it, either
// before returning or later from any thread (move the context into your own async work).
//
// Example: a writer that flushes on Freeze and resumes on Thaw or Abort.
//   class my_db_writer : public vss::writer {
//    public:
//     my_db_writer() : writer({.name = "my-db", .level = vss::application_level::back_end}) {}
//     void on_prepare_snapshot(vss::writer_context ctx) override { ctx.complete(); }
//     void on_freeze(vss::writer_context ctx) override { db_.pause_writes(); ctx.complete(); }
//     void on_thaw(vss::writer_context ctx) override { db_.resume_writes(); ctx.complete(); }
//     void on_abort(vss::writer_context ctx) override { db_.resume_writes(); ctx.complete(); }
//   };
//
// Example: finishing later, from another thread.
//   void on_prepare_snapshot(vss::writer_context ctx) override {
//     pool_.submit([ctx = std::move(ctx)]() mutable {
//       if (checkpoint()) ctx.complete();
//       else ctx.fail(vss::errc::writer_error_retryable, "checkpoint failed");
//     });
//   }
//
// Threading: the engine never runs two handlers of one writer instance at the same time. A
// handler declared non_blocking (the default) runs on an engine worker thread and must not
// block; a writer whose handlers may block sets `execution = handler_execution::blocking`, and
// its handlers then run on the engine's blocking executor. A handler must not throw; if it
// does, the engine records VSS_E_WRITERERROR_NONRETRYABLE with the exception's message.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vss/error.hpp"
#include "vss/id.hpp"
#include "vss/types.hpp"

namespace vss {

namespace detail {
class phase_collector;
struct event_info;
struct context_access;
}  // namespace detail

/// The events a writer receives (the CVssWriter::On* handlers).
enum class writer_event : std::uint8_t {
  identify,          ///< OnIdentify: describe yourself (GatherWriterMetadata).
  prepare_backup,    ///< OnPrepareBackup (PrepareForBackup).
  prepare_snapshot,  ///< OnPrepareSnapshot (DoSnapshotSet, before Freeze).
  freeze,            ///< OnFreeze (DoSnapshotSet, by application level).
  thaw,              ///< OnThaw (after the provider commit).
  post_snapshot,     ///< OnPostSnapshot (after Thaw).
  abort,             ///< OnAbort (AbortBackup, or a failure during creation).
  backup_complete,   ///< OnBackupComplete (BackupComplete).
  backup_shutdown,   ///< OnBackupShutdown (the requester released its session).
};

/// Number of writer_event values.
inline constexpr std::size_t writer_event_count = 9;

/// "Identify", "PrepareBackup", ... (the VSS event names).
std::string_view to_string(writer_event e) noexcept;
std::ostream& operator<<(std::ostream& os, writer_event e);

/// Where a writer's handlers run.
enum class handler_execution : std::uint8_t {
  non_blocking,  ///< On an engine worker thread; the handler must not block. Default.
  blocking,      ///< On engine_options::blocking_executor; the handler may block.
};

/// Who a writer is (the arguments of CVssWriter::Initialize).
struct writer_identity {
  /// Writer class id, fixed per application. Default: generated at construction.
  writer_class_id class_id{};
  /// Writer instance id, unique per running instance. Default: generated at construction.
  writer_instance_id instance_id{};
  /// Writer name (not localised). Must not be empty.
  std::string name;
  /// Optional human-readable instance name (needed when several instances of one class run).
  std::string instance_name;
  /// VSS_USAGE_TYPE. Default: user_data.
  usage_type usage = usage_type::user_data;
  /// VSS_SOURCE_TYPE. Default: other.
  source_type source = source_type::other;
  /// VSS_APPLICATION_LEVEL; decides the Freeze order (front-end, back-end, system).
  /// Default: front_end. auto_level and unknown are rejected at registration.
  application_level level = application_level::front_end;
  /// dwTimeoutFreeze: longest time from Freeze delivery to Thaw/Abort delivery. When it runs
  /// out the writer alone is aborted with VSS_E_WRITERERROR_TIMEOUT. Default: 60 s.
  std::chrono::milliseconds freeze_timeout{60000};
  /// Whether the handlers may block. Default: non_blocking.
  handler_execution execution = handler_execution::non_blocking;
};

/// One component a writer declares in its metadata (IVssCreateWriterMetadata::AddComponent).
struct component_info {
  component_type type = component_type::file_group;  ///< VSS_COMPONENT_TYPE.
  std::string logical_path;                          ///< May be empty.
  std::string name;                                  ///< Must not be empty.
  std::string caption;                               ///< Display name.
  bool selectable = true;                            ///< Selectable for backup.
  std::vector<std::string> files;                    ///< File specifications it covers.
  std::vector<std::string> volumes;                  ///< Volumes the component lives on.
};

/// A writer's metadata document (WMD), filled in OnIdentify.
struct writer_metadata {
  writer_identity identity;                ///< Filled by the engine from the writer.
  std::vector<component_info> components;  ///< Filled by the writer in on_identify.
  std::vector<std::string> excludes;       ///< Excluded file specifications.
};

/// A component chosen by the requester (AddComponent), as a writer sees it.
struct selected_component {
  component_type type = component_type::file_group;
  std::string logical_path;
  std::string name;
  /// SetBackupSucceeded's value; meaningful in on_backup_complete.
  bool backup_succeeded = false;
};

/// True for the codes a writer may veto with, the ones writer_context::fail() accepts
/// (SetWriterFailure's VSS_E_WRITERERROR_*): writer_error_inconsistent_snapshot,
/// writer_error_out_of_resources, writer_error_timeout, writer_error_retryable,
/// writer_error_nonretryable, writer_error_partial_failure.
bool is_writer_failure_code(errc code) noexcept;

/// The handle through which a writer finishes one event (the return value and
/// SetWriterFailure of a CVssWriter handler, made asynchronous).
///
/// Move-only. Exactly one of complete() or fail() takes effect; later calls are ignored. If a
/// context is destroyed without either, the event counts as failed with
/// VSS_E_WRITERERROR_NONRETRYABLE ("context dropped") so that a forgotten completion never
/// stalls a backup until its deadline. complete() and fail() may be called from any thread.
/// An answer that arrives after the engine's deadline for the event, or after the event was
/// superseded by an abort, is ignored.
class writer_context {
 public:
  writer_context() noexcept;
  writer_context(writer_context&&) noexcept;
  writer_context& operator=(writer_context&&) noexcept;
  writer_context(const writer_context&) = delete;
  writer_context& operator=(const writer_context&) = delete;
  // Inline, with the engine's constructor below: the delivery loop builds and destroys one
  // context per writer, and out of line the two calls were ~30 of its ~160 instructions per
  // writer at N = 10,000 (docs/decisions.md §29).
  ~writer_context() {
    if (!done_) complete_as_dropped();
  }

  /// The handler succeeded (returned true without SetWriterFailure).
  void complete();

  /// The handler failed: SetWriterFailure(code) + return false. `code` must be one of
  /// writer_error_inconsistent_snapshot, writer_error_out_of_resources, writer_error_timeout,
  /// writer_error_retryable, writer_error_nonretryable or writer_error_partial_failure;
  /// anything else returns errc::invalid_arg and records nothing (the context stays open).
  /// `message` is shown in the writer's status (SetWriterFailureEx's message).
  std::error_code fail(errc code, std::string message = {});

  /// True once complete() or fail() took effect, or the context is empty.
  bool done() const noexcept;

  /// True if the engine no longer waits for this answer: the event was superseded by an abort
  /// or its deadline passed. Long-running work may poll this and stop early.
  bool abandoned() const noexcept;

  /// The event being handled.
  writer_event event() const noexcept;

  /// The snapshot set of the session (null for Identify and before StartSnapshotSet).
  snapshot_set_id snapshot_set() const noexcept;

  /// VSS_BACKUP_TYPE set by the requester (GetBackupType).
  vss::backup_type backup_type() const noexcept;

  /// True in component mode (AreComponentsSelected).
  bool components_selected() const noexcept;

  /// The components the requester selected for this writer (IVssWriterComponents).
  const std::vector<selected_component>& components() const noexcept;

  /// The volumes of the snapshot set (GetCurrentVolumeArray).
  const std::vector<std::string>& volumes() const noexcept;

  /// In on_identify only: the metadata document to fill. Null for every other event.
  writer_metadata* metadata() noexcept;

  /// Engine use only. `owner` keeps `*collector` and `*info` alive. With `borrowed`, the
  /// context only points at `owner` (which must outlive the handler call) and takes its own
  /// reference when it is moved, i.e. when the writer keeps it beyond the handler.
  writer_context(const std::shared_ptr<const void>& owner, detail::phase_collector* collector,
                 std::uint32_t slot, const detail::event_info* info, bool borrowed) noexcept
      : collector_(collector),
        info_(info),
        owner_(borrowed ? nullptr : owner),
        borrowed_owner_(borrowed ? &owner : nullptr),
        slot_(slot),
        done_(false) {}

 private:
  friend struct detail::context_access;
  void complete_as_dropped() noexcept;
  void take_from(writer_context& other) noexcept;

  // The engine's delivery loop lends the context its references: a writer that answers inside
  // its handler then costs no reference-count traffic shared with other engine threads
  // (docs/decisions.md §16). owner_ is set once the context may outlive the loop.
  detail::phase_collector* collector_ = nullptr;
  const detail::event_info* info_ = nullptr;
  std::shared_ptr<const void> owner_;
  const std::shared_ptr<const void>* borrowed_owner_ = nullptr;
  std::unique_ptr<writer_metadata> metadata_;
  std::uint32_t slot_ = 0;
  bool done_ = true;
};

/// Base class of every writer (the CVssWriter role). Handlers with a default body complete
/// immediately with success, as CVssWriter's do; the four that CVssWriter declares pure
/// virtual (OnPrepareSnapshot, OnFreeze, OnThaw, OnAbort) are pure here too.
class writer {
 public:
  /// Null class or instance ids in `identity` are replaced by generated ones.
  explicit writer(writer_identity identity);
  virtual ~writer();
  writer(const writer&) = delete;
  writer& operator=(const writer&) = delete;

  /// The writer's identity, fixed at construction.
  const writer_identity& identity() const noexcept { return identity_; }

  /// OnIdentify: fill ctx.metadata(). May arrive at any time, including mid-backup.
  virtual void on_identify(writer_context ctx);
  /// OnPrepareBackup: read ctx.components() and ctx.backup_type().
  virtual void on_prepare_backup(writer_context ctx);
  /// OnPrepareSnapshot: heavy preparation (checkpoints). A failure does not abort anything.
  virtual void on_prepare_snapshot(writer_context ctx) = 0;
  /// OnFreeze: stop writing. A failure aborts this writer. Starts the freeze window.
  virtual void on_freeze(writer_context ctx) = 0;
  /// OnThaw: resume writing. A failure aborts this writer.
  virtual void on_thaw(writer_context ctx) = 0;
  /// OnPostSnapshot: final updates. After it the writer can no longer be aborted.
  virtual void on_post_snapshot(writer_context ctx);
  /// OnAbort: free everything, resume normal work (an abort implies a thaw). Must be
  /// idempotent.
  virtual void on_abort(writer_context ctx) = 0;
  /// OnBackupComplete: post-backup work such as log truncation.
  virtual void on_backup_complete(writer_context ctx);
  /// OnBackupShutdown: the requester released its session; ctx.snapshot_set() is null if no
  /// snapshot was created.
  virtual void on_backup_shutdown(writer_context ctx);

 private:
  writer_identity identity_;
};

/// Which shard delivers a writer's events: engine::register_writer's optional second argument,
/// and ipc::writer_client::add_writer's for a writer in another process.
struct writer_placement {
  /// Writers registered with the same non-empty group share one shard (a strand of the
  /// engine's executor); a new group, like an ungrouped writer, takes the next shard in turn,
  /// and a group is forgotten with its last writer. A session whose writers share a group
  /// then gets each event as one loop on one thread instead of one per shard.
  /// Use it when many backups of a few writers each run at once (one group per protected
  /// machine, say): a burst of 1,000 aborted sessions of 10 writers each, each session's
  /// writers one group, had a p99 a sixth to a third lower (docs/decisions.md §41). Leave it
  /// empty (the default) when a backup covers many writers: their handlers then run one at a
  /// time, and a session of 10,000 writers in one group took four times as long to abort on
  /// two io threads. A blocking writer's handlers run on its own strand of the blocking
  /// executor either way; only their delivery follows the group.
  std::string group;
};

}  // namespace vss
