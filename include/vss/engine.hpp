#pragma once
// The engine: the coordinator role of the VSS service. It holds the registered writers and
// providers and runs backup sessions on a caller-supplied executor; it starts no threads.
//
// Example: embedding the engine in a server's own io_context.
//   asio::io_context io;
//   vss::engine eng{io.get_executor(), {.shard_count = 2}};
//   auto reg = eng.register_writer(std::make_shared<my_db_writer>());
//   eng.register_provider(std::make_shared<vss::memory_provider>());
//   vss::backup_session s = eng.create_backup_session();
//   ... drive the session (see backup_session.hpp) while two threads run io.run() ...
//
// Example: shutting down without losing a frozen writer.
//   eng.async_shutdown([](std::error_code) { /* every session aborted and drained */ });
//
// Concurrency: sessions whose writers and volumes are disjoint run in parallel. A writer
// instance takes part in one session at a time (from PrepareForBackup until the session is
// released); a volume belongs to one snapshot-set creation at a time. An overlapping session
// is rejected with VSS_E_SNAPSHOT_SET_IN_PROGRESS or waits its turn (engine_options::overlap).
//
// Thread-safety: every member may be called from any thread. The engine must outlive the
// threads that run its executor's handlers only as far as this object goes: sessions keep the
// engine's internals alive, so destroying the engine while sessions exist is safe (they are
// aborted).

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "vss/backup_session.hpp"
#include "vss/detail/session_ops.hpp"
#include "vss/options.hpp"
#include "vss/provider.hpp"
#include "vss/writer.hpp"

namespace vss {

/// Keeps a writer registered; unregisters it when destroyed (a scoped Boost.Signals2
/// connection underneath). Move-only. A session that already took the writer in keeps
/// delivering to it until the session is released.
class writer_registration {
 public:
  writer_registration() noexcept = default;
  writer_registration(writer_registration&&) noexcept;
  writer_registration& operator=(writer_registration&&) noexcept;
  ~writer_registration();

  /// True while registered.
  bool connected() const noexcept;
  /// Unregisters now.
  void disconnect();
  /// The registered writer's instance id.
  writer_instance_id instance_id() const noexcept { return instance_; }

  /// Engine use only.
  writer_registration(std::weak_ptr<detail::engine_core> core, writer_instance_id instance);

 private:
  std::weak_ptr<detail::engine_core> core_;
  writer_instance_id instance_;
};

/// The backup-coordination engine.
class engine {
 public:
  /// Binds the engine to `executor`; every handler the engine runs is posted there (writer
  /// shards and sessions are strands of it).
  explicit engine(const asio::any_io_executor& executor, engine_options options = {});

  /// Calls shutdown(): in-flight sessions are aborted. Does not wait.
  ~engine();

  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  /// Registers a writer instance (CVssWriter::Initialize + Subscribe).
  /// Errors (in `ec`): E_INVALIDARG (null writer, empty name, level unknown or auto,
  /// non-positive freeze timeout), VSS_E_WRITER_ALREADY_SUBSCRIBED (instance id registered),
  /// VSS_E_BAD_STATE (engine shut down).
  writer_registration register_writer(std::shared_ptr<writer> w, std::error_code& ec);

  /// As above; throws std::system_error on error.
  writer_registration register_writer(std::shared_ptr<writer> w);

  /// As above, placed as `placement` says (writer_placement, in vss/writer.hpp).
  writer_registration register_writer(std::shared_ptr<writer> w, const writer_placement& placement,
                                      std::error_code& ec);
  writer_registration register_writer(std::shared_ptr<writer> w, const writer_placement& placement);

  /// Registers a provider. Errors: E_INVALIDARG (null), VSS_E_PROVIDER_ALREADY_REGISTERED.
  std::error_code register_provider(std::shared_ptr<provider> p);

  /// Creates a requester session (CreateVssBackupComponents). After shutdown() the session's
  /// initialize_for_backup() returns VSS_E_BAD_STATE.
  backup_session create_backup_session();

  /// The identities of every registered writer.
  std::vector<writer_identity> registered_writers() const;

  /// The properties of every registered provider.
  std::vector<provider_properties> registered_providers() const;

  /// Refuses new sessions and writer registrations, and aborts every in-flight session.
  /// Does not wait; see async_shutdown.
  void shutdown();

  /// shutdown(), then completes when every session's abort sequence has drained and every
  /// session already released has had its BackupShutdown answered (invariant 2), so the
  /// executor may be stopped at once.
  /// Completion: void(std::error_code), always {}.
  template <class CompletionToken>
  auto async_shutdown(CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(std::error_code)>(
        [](auto handler, std::shared_ptr<detail::engine_core> core) {
          detail::erased_handler erased(std::move(handler), detail::engine_executor(core));
          detail::start_shutdown(core, std::move(erased));
        },
        token, core_);
  }

  /// The options in force (with defaults resolved: shard_count and clock are set).
  const engine_options& options() const noexcept;

  /// The executor the engine runs on.
  asio::any_io_executor get_executor() const noexcept;

 private:
  std::shared_ptr<detail::engine_core> core_;
};

}  // namespace vss
