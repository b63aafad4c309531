#pragma once
// The engine's side of a writer that lives in another process: a vss::writer whose handlers
// forward each event over the writer's connection and complete the engine's writer_context
// when the `result` frame comes back. Same events, same deadlines, same states as an
// in-process writer: the engine cannot tell the difference.
//
// A dropped connection fails every event in flight with VSS_E_WRITER_NOT_RESPONDING (so the
// engine fails the writer at its current phase, and a frozen one takes the abort path); later
// ending events (Thaw, Abort, BackupShutdown) are answered at once, because there is no one
// left to hold anything, and any other event fails the same way.
//
// Thread-safety: handlers run on engine threads, results arrive on the connection's strand;
// everything shared is under one mutex, and no context is completed while holding it.

#include <asio/any_io_executor.hpp>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ipc/message.hpp"
#include "vss/mocks/fault.hpp"
#include "vss/writer.hpp"

namespace vss::daemon {

/// What the daemon shows for a remote writer in `openvss writers` and logs.
struct remote_writer_status {
  bool connected = true;
  std::optional<writer_event> last_event;
  std::string last_error;  // "VSS_E_...: message" of the last failed event, or empty
  std::uint64_t events = 0;
  std::uint64_t lease_expirations = 0;
};

class remote_writer;

/// Asks the fault plan of the event's backup (`openvss backup --inject`) what this writer does
/// at this event; nullopt: behave normally.
using fault_lookup =
    std::function<std::optional<mocks::fault>(const remote_writer&, const writer_context&)>;

class remote_writer : public writer, public std::enable_shared_from_this<remote_writer> {
 public:
  /// `send` queues a frame on the writer's connection and returns false once it is closed;
  /// `next_seq` numbers events uniquely per connection; `observe` (optional) hears each event
  /// as it is forwarded (for progress and --abort-after).
  remote_writer(writer_identity identity, std::function<bool(const nlohmann::json&)> send,
                std::function<std::uint64_t()> next_seq,
                std::function<void(const remote_writer&, const writer_context&)> observe = {});

  /// Applies injected faults at the proxy (`--inject` against the daemon): the real writer
  /// still receives the event, but the engine sees the plan's answer: veto and fail answer
  /// at once, hang never answers (the engine's deadline or an abort ends it), delay holds
  /// the writer's answer for the given time. `timers` runs the delays. Set before the writer
  /// is registered.
  void inject_faults(fault_lookup lookup, asio::any_io_executor timers);

  void on_identify(writer_context ctx) override { forward(std::move(ctx)); }
  void on_prepare_backup(writer_context ctx) override { forward(std::move(ctx)); }
  void on_prepare_snapshot(writer_context ctx) override { forward(std::move(ctx)); }
  void on_freeze(writer_context ctx) override { forward(std::move(ctx)); }
  void on_thaw(writer_context ctx) override { forward(std::move(ctx)); }
  void on_post_snapshot(writer_context ctx) override { forward(std::move(ctx)); }
  void on_abort(writer_context ctx) override { forward(std::move(ctx)); }
  void on_backup_complete(writer_context ctx) override { forward(std::move(ctx)); }
  void on_backup_shutdown(writer_context ctx) override { forward(std::move(ctx)); }

  /// A `result` frame (validated). Returns false when `seq` is not one of this writer's
  /// events in flight (a late or foreign answer; the caller tries the next writer or ignores).
  bool deliver_result(const ipc::message& result);

  /// The connection is gone: fail what is in flight; answer what comes later locally.
  void connection_lost(const std::string& why);

  /// The writer reported that it thawed itself (its lease ran out).
  void note_lease_expired(const std::string& event);

  remote_writer_status status() const;

 private:
  void forward(writer_context ctx);

  std::function<bool(const nlohmann::json&)> send_;
  std::function<std::uint64_t()> next_seq_;
  std::function<void(const remote_writer&, const writer_context&)> observe_;
  fault_lookup fault_for_;
  asio::any_io_executor timers_;

  mutable std::mutex mutex_;
  bool lost_ = false;
  std::string lost_reason_;
  std::unordered_map<std::uint64_t, writer_context> in_flight_;
  std::unordered_map<std::uint64_t, std::chrono::nanoseconds> delayed_;  // seq -> injected delay
  std::vector<writer_context> hung_;  // injected hangs: never answered, freed at the end
  remote_writer_status status_;
};

}  // namespace vss::daemon
