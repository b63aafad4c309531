#pragma once
// The requester side of the openvssd protocol (docs/ipc-protocol.md, "Requester role"), shared
// by the daemon (one requester_service per requester connection) and the `openvss` CLI's
// embedded mode (one in-process requester_service). It turns `request` bodies into engine
// calls and answers with `progress`, `reply` and `error` bodies.
//
// service_context is shared by every requester of one engine: it knows the running backups by
// snapshot-set id (so `abort` from any connection reaches a backup another one started), holds
// the fault plan of each backup for the writers and providers that take part in it, and
// receives writer events (notify_writer_event) from whoever delivers them: the daemon's
// remote-writer proxies, the CLI's demo writers.
//
// Ops and their `args` (a bad field gets `error{code:"bad_message"}` naming it, nothing runs):
//   writers                       fresh session: GatherWriterMetadata + GatherWriterStatus.
//                                 result {writers:[writer]} (writers that failed Identify are
//                                 listed as VSS_WS_FAILED_AT_IDENTIFY with their code).
//   status                        result {running:[{set, request, phase, elapsed_us}],
//                                 writers (count), providers:[{id, name, type, version}],
//                                 ...the keys of service_context::status()}.
//   snapshots  {set?}             result {snapshots:[snapshot]} (Query, VSS_CTX_ALL).
//   delete     {snapshot}|{set}   result {deleted:n} (DeleteSnapshots, forced).
//   abort      {set}              AbortBackup on a running backup; result {set, hresult,
//                                 duration_us}; VSS_E_OBJECT_NOT_FOUND if no backup of that
//                                 set is running.
//   backup     {volumes:[string] (required, non-empty), writers:[name or instance id],
//               components:[name or logical_path\name], provider:id or name,
//               persistent:bool, inject:fault-plan text, abort_after:"250ms"|phase}
//     Writers: default all (non-component mode); with `writers` or `components` the backup
//     runs in component mode and selects the components of the named writers (all of their
//     components, or only those named in `components`). Provider: default automatic.
//     Persistent: default false = auto-release: the snapshots live until this requester
//     disconnects (the session is kept until then, and with it its writers and volumes: until
//     then another backup of them gets VSS_E_SNAPSHOT_SET_IN_PROGRESS, or waits under
//     overlap_policy::wait); true = VSS_CTX_APP_ROLLBACK, kept, the session released at once.
//     Inject: a vss::mocks::fault_plan; its writer and provider rules are for whoever serves
//     the writers and providers (plan_for), its abort trigger is fired by the service.
//     Abort_after: a duration (digits + ns|us|ms|s|m), counted from the start of the backup,
//     or a phase: identify, prepare_backup, prepare_snapshot, freeze, thaw, post_snapshot,
//     backup_complete (when the FIRST writer receives that event, as reported through
//     notify_writer_event), or do_snapshot_set (when DoSnapshotSet is called).
//     Policy (vshadow's): a participating writer that failed any phase fails the backup with
//     its code (after AbortBackup); an abort that was requested makes the backup end with
//     VSS_S_ASYNC_CANCELLED.
//
// Frames of a backup (all carry `id` = the request id and `at_us` = µs since it started;
// `step` says what the frame reports, since the protocol's `state` is a VSS_WRITER_STATE):
//   {phase, step:"started"}                      a requester phase begins: GatherWriterMetadata,
//                                                StartSnapshotSet, PrepareForBackup,
//                                                DoSnapshotSet, BackupComplete, AbortBackup
//                                                (with `reason`), Release.
//   {phase, step:"finished", hresult, duration_us, reports:[report], writers?:[writer]}
//                                                it ended; `reports` are the per-writer results
//                                                of the events it delivered
//                                                (session.phase_reports()), `writers` the
//                                                status gathered after it. StartSnapshotSet's
//                                                has `set` and `snapshots` [{id, volume}].
//   {phase, step:"event", event, writer, instance_id}   a writer received an event.
//   {phase, step:"provider", call}                      a provider call started.
//   reply {id, result}  or  error {ref, code:"vss_error", hresult, message, result}
//   (every `hresult` is a VSS symbol errc_from_symbol() knows: "S_OK", "VSS_E_...", "E_FAIL")
//   result = {set, snapshots:[snapshot] (those that exist at the end), consistency
//             ("application", "filesystem", "crash", "none"), writers:[writer],
//             durations_us:{phase:µs, total}, hresult, persistent, abort?:{requested:[trigger],
//             fired, reason, hresult, duration_us (AbortBackup call -> done), cancel_us (call ->
//             the backup stopped)}, write_hold?:{filesystems:[mount point], held_us, expired,
//             failure?, message?} (flush-and-hold around the commit, when a provider asked)}
//   writer = {name, instance_id, class_id, level, state (VSS_WRITER_STATE number), state_name
//             ("VSS_WS_STABLE"), state_text (vssadmin: "Stable"), last_error ("S_OK", VSS
//             symbol), last_error_text (vssadmin: "No error"), message}
//   report = {event ("Freeze"), duration_us, results:[{writer, instance_id, outcome
//             ("completed", "failed", "timed_out", "abandoned", "not_delivered"), hresult,
//             message}]}
//   snapshot = {id, set, volume, device, provider, attributes, persistent, created (ISO 8601
//             UTC), state ("VSS_SS_CREATED"), count, originating_machine}
//
// Threading: a backup (and writers, snapshots, delete) runs on a thread of its own, owned by
// the service_context, waiting on the engine's IVssAsync-style handles; handle() returns at
// once. The sink is called from that thread, from engine threads (writer events, the abort's
// completion) and inline from handle(); calls are serialised (never concurrent) and in order.
// The sink must not block and must not call back into the requester_service. After
// disconnect() returns the sink is not called again.
//
// Lifetimes: the engine outlives the service_context, which outlives its requester_services.
// Destroying the context aborts what still runs and joins its threads.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <system_error>
#include <vector>

#include "daemon/snapshot_journal.hpp"
#include "vss/engine.hpp"
#include "vss/id.hpp"
#include "vss/mocks/fault.hpp"
#include "vss/mocks/fault_plan.hpp"
#include "vss/writer.hpp"

namespace vss::daemon {

namespace detail {
struct context_state;
struct connection_state;
}  // namespace detail

/// What every requester connection of one engine shares. Thread-safe: every member may be
/// called from any thread (set `status` before the first request).
class service_context {
 public:
  /// A context for `engine`, which must outlive it.
  explicit service_context(vss::engine& engine);

  /// Aborts every backup still running (AbortBackup) and joins the service's threads.
  ~service_context();

  service_context(const service_context&) = delete;
  service_context& operator=(const service_context&) = delete;

  /// The engine the requests run on.
  vss::engine& engine() const noexcept;

  /// Extra keys of the `status` op's result (the daemon's uptime, connections, ...). Set it
  /// once, before requests are handled. Default: empty (no extra keys).
  std::function<nlohmann::json()> status;

  /// Hears the records worth a log line, with the VSS service's event id (spec 9): 8231 when a
  /// snapshot-set creation starts, 12293 / 8229 / 8193 when a backup fails for a provider, a
  /// writer or another reason. Set it once, before requests are handled. Default: none.
  using log_function = std::function<void(int event_id, bool error, const std::string& text)>;
  log_function log;

  /// From now on a backup whose `inject` plan has provider rules is refused (bad_message, with
  /// `why`), for a host whose providers cannot apply them. Writer rules and the abort trigger
  /// are always accepted.
  void refuse_provider_faults(std::string why);

  /// From now on every backup's snapshot set is recorded in `journal` (the daemon's catalog):
  /// before DoSnapshotSet, at its end, and as its snapshots are deleted. Set it once, before
  /// requests are handled. Default: none.
  void set_journal(std::shared_ptr<snapshot_journal> journal);

  /// A writer received `event` for snapshot set `set` (the writer's ctx.snapshot_set()): the
  /// backup of that set streams it as a progress frame and fires an abort_after trigger set
  /// for that event. Identify carries a null set: it goes to every backup gathering writer
  /// metadata. Call it as the writer receives the event, before it answers. Cheap; never
  /// blocks on the backup.
  void notify_writer_event(const snapshot_set_id& set, const writer_instance_id& writer,
                           writer_event event);

  /// A provider call started for `set` (null: the set is not known, e.g. a
  /// vss::mocks::faulty_provider listener; every backup that started its set gets it).
  /// Streams a progress frame and fires a fault plan's "abort@provider.<call>" trigger.
  void notify_provider_call(const snapshot_set_id& set, mocks::provider_call call);

  /// A callable doing notify_writer_event() while this context exists and nothing after it
  /// was destroyed: hand it to writers whose events may outlive the context (an event
  /// recorder's listener, a writer proxy).
  std::function<void(const snapshot_set_id&, const writer_instance_id&, writer_event)>
  writer_event_sink() const;

  /// The same for notify_provider_call() (a vss::mocks::faulty_provider's listener).
  std::function<void(const snapshot_set_id&, mocks::provider_call)> provider_call_sink() const;

  /// The fault plan injected into the backup of `set` (its `inject` arg), for writers and
  /// providers that take part in it; null if none. A null `set` (Identify) gives the plan of
  /// the one backup now gathering writer metadata, or null if there are zero or several.
  std::shared_ptr<const mocks::fault_plan> plan_for(const snapshot_set_id& set) const;

  /// The sets of the backups running now (started their snapshot set, not yet finished).
  std::vector<snapshot_set_id> running_backups() const;

  /// AbortBackup on the running backup of `set`, whoever started it. Returns
  /// VSS_E_OBJECT_NOT_FOUND (and does nothing) if no backup of that set is running; else {}
  /// and `done` (optional) is called once the abort sequence completed, with AbortBackup's
  /// result and its duration, from an engine thread or inline.
  std::error_code abort_backup(
      const snapshot_set_id& set,
      std::function<void(std::error_code, std::chrono::microseconds)> done = {});

 private:
  friend class requester_service;
  std::shared_ptr<detail::context_state> state_;
};

/// One requester connection: the `request` ops of docs/ipc-protocol.md. Thread-safe.
class requester_service {
 public:
  /// Receives each `progress`, `reply` and `error` body (with "type") to send to the peer.
  using sink = std::function<void(nlohmann::json)>;

  /// A requester of `context` whose answers go to `out`.
  requester_service(service_context& context, sink out);

  /// Calls disconnect().
  ~requester_service();

  requester_service(const requester_service&) = delete;
  requester_service& operator=(const requester_service&) = delete;

  /// Handles one `request` body ({type:"request", id, op, args?}). Never waits for the
  /// operation: long ones run on their own thread and answer through the sink. An unknown op
  /// gets error{code:"unknown_op"}, bad args error{code:"bad_message"} naming the field.
  /// Ignored after disconnect().
  void handle(const nlohmann::json& request);

  /// The requester went away (spec §10.3 E): aborts every backup it started, releases the
  /// sessions it kept (auto-release snapshots are deleted, writers get BackupShutdown), and
  /// stops calling the sink. Waits for none of it. Idempotent.
  void disconnect();

 private:
  std::shared_ptr<detail::context_state> context_;
  std::shared_ptr<detail::connection_state> connection_;
};

}  // namespace vss::daemon
