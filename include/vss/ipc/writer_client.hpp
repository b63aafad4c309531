#pragma once
// vss/ipc/writer_client.hpp — makes writers in this process take part in backups coordinated by
// openvssd, over its Unix socket (docs/ipc-protocol.md). The writers are the same vss::writer
// classes an in-process engine uses: the client delivers each event to the writer's handler
// with a writer_context and sends the answer back when the handler completes it.
//
// Example:
//   asio::io_context io;
//   vss::ipc::writer_client client{io.get_executor(), {.socket_path = "/run/my/openvss.sock"}};
//   client.add_writer(std::make_shared<my_db_writer>());
//   client.start();
//   io.run();  // or run it on a thread of your own
//
// Reconnection: when the daemon is not there, or the connection drops, or the daemon stops
// sending heartbeats for `silence_limit`, the client reconnects with exponential backoff
// (reconnect_min doubling to reconnect_max) and registers its writers again with the same
// instance ids.
//
// Writer-side lease (no stuck freezes, whatever dies): from Freeze until Thaw or Abort a writer
// holds its application frozen for at most its identity's freeze_timeout. If neither arrives in
// time — the daemon died, the connection dropped, or the daemon went silent — the client calls
// the writer's on_abort itself (the writer thaws), counts a lease expiry, and tells the daemon
// with a `lease_expired` message once it can. A later Thaw for that set is answered with
// VSS_E_WRITERERROR_TIMEOUT and a later Abort with success, without calling the writer again,
// so the writer sees exactly one end of its freeze (DESIGN.md invariant 1).
//
// Threads: handlers of non_blocking writers run on the client's executor; handlers of blocking
// writers (writer_identity::execution == blocking) run on `blocking_executor` (default: a
// pool of two threads owned by the client). A handler may complete its context from any thread.
//
// Thread-safety: every member function may be called from any thread. A writer never runs two
// handlers at once (blocking writers get a strand on the blocking executor). When an Abort
// arrives while a handler of the same set still runs, that handler's ctx.abandoned() turns
// true. Destroying the client stops it; once the executor has run the stop, handlers still
// running on the client's own blocking pool are waited for (their answers are dropped).

#include <asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "vss/ipc/placement.hpp"
#include "vss/writer.hpp"

namespace vss::ipc {

struct writer_client_options {
  /// The daemon's socket. Default: /run/openvss/openvss.sock.
  std::string socket_path = "/run/openvss/openvss.sock";
  /// A name for the daemon's logs (e.g. the program name). Default: empty.
  std::string client_name;
  /// First reconnect delay; doubles on each failed attempt up to reconnect_max.
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{5000};
  /// How long the daemon may stay silent (no heartbeat, no event) before the client treats the
  /// connection as dead. Default: 0 = five times the heartbeat period the daemon announces.
  std::chrono::milliseconds silence_limit{0};
  /// Largest frame accepted or sent. Default: 1 MiB (the daemon's default).
  std::size_t max_frame = std::size_t{1} << 20;
  /// Where handlers of blocking writers run. Default: a 2-thread pool owned by the client.
  asio::any_io_executor blocking_executor;
  /// Hears the client's own log lines (connects, refusals, lease expiries). Optional; called
  /// on the client's executor.
  std::function<void(std::string_view line)> log;
};

/// Where the client stands, for status displays and tests.
enum class client_state : std::uint8_t {
  stopped,     ///< Not started, or stopped.
  connecting,  ///< Connecting or waiting to reconnect.
  connected,   ///< Handshake done; writers registered or being registered.
  refused,     ///< The daemon refused us for good (not authorised, version mismatch).
};

/// Counters since start().
struct writer_client_stats {
  std::uint64_t connects = 0;           ///< Successful handshakes.
  std::uint64_t connection_losses = 0;  ///< Connections that ended (any reason).
  std::uint64_t events = 0;             ///< Events delivered to writers.
  std::uint64_t lease_expirations = 0;  ///< Freezes the client ended itself.
};

class writer_client {
 public:
  /// The client runs its socket work on `executor` (it must be run by some thread).
  writer_client(asio::any_io_executor executor, writer_client_options options = {});
  /// Stops the client.
  ~writer_client();

  writer_client(const writer_client&) = delete;
  writer_client& operator=(const writer_client&) = delete;

  /// Adds a writer; it is registered on the current connection (if any) and on every later one.
  /// Its identity must be valid for vss::engine::register_writer (the daemon checks again).
  void add_writer(std::shared_ptr<writer> w);
  /// As above, asking the daemon to place it as `placement` says (writer_placement: writers of
  /// one group share a shard of the daemon's engine, across every client that names the
  /// group). Throws std::invalid_argument unless is_valid_group(placement.group). A daemon
  /// that does not know groups registers the writer without one; the client logs that.
  void add_writer(std::shared_ptr<writer> w, writer_placement placement);

  /// Starts connecting. Idempotent.
  void start();

  /// Closes the connection and stops reconnecting. A writer still frozen is thawed now (its
  /// on_abort runs), because nobody will end its freeze after this. Idempotent.
  void stop();

  client_state state() const noexcept;
  writer_client_stats stats() const noexcept;

  /// The daemon's last refusal or error message (e.g. "not authorized: uid 1000 ..."), or empty.
  std::string last_error() const;

 private:
  class impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace vss::ipc
