#pragma once
// openvssd's socket server: accepts writers and requesters on one Unix stream socket, checks
// each peer's credentials (SO_PEERCRED) against the config, runs the handshake, and then hands
// the connection to its role: a writer connection registers remote_writer proxies with the
// engine; a requester connection gets a requester_service. One bad peer never affects another.
//
// Thread-safety: listen(), stop() and status() may be called from any thread; everything else
// runs on the executor given at construction.

#include <asio/any_io_executor.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <system_error>

#include "daemon/config.hpp"
#include "daemon/requester_service.hpp"
#include "vss/engine.hpp"

namespace spdlog {
class logger;
}

namespace vss::daemon {

class peer;

class server {
 public:
  server(asio::any_io_executor executor, vss::engine& engine, daemon_config config,
         std::shared_ptr<spdlog::logger> log);
  ~server();

  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Creates the socket at config.socket_path (its directory too, mode 0755), applies the mode
  /// and group, and starts accepting. A stale socket file nobody listens on is replaced; a live
  /// one is an error (address_in_use), so two daemons never share a path.
  std::error_code listen();

  /// Accepts on a listening socket inherited from systemd socket activation (LISTEN_FDS)
  /// instead of creating one; the socket file then belongs to systemd and stop() leaves it.
  std::error_code adopt(int listening_fd);

  /// Stops accepting and closes every connection (writers lose their proxies, requesters'
  /// sessions are aborted). Removes the socket file.
  void stop();

  /// Waits (up to `timeout`) until every connection is closed and the accept loop has ended,
  /// after stop(). True when idle. Never call it on one of the executor's threads.
  bool wait_idle(std::chrono::milliseconds timeout);

  /// For `openvss status`: uptime, connections by role, writers, limits.
  nlohmann::json status() const;

  service_context& services() noexcept { return *services_; }

 private:
  friend class peer;
  void accept_next();
  void accept_stopped();
  void forget(const std::shared_ptr<peer>& p);

  asio::any_io_executor executor_;
  vss::engine& engine_;
  daemon_config config_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<service_context> services_;
  // The acceptor and its retry timer live on one strand: stop() closes them from any thread.
  asio::strand<asio::any_io_executor> accept_strand_;
  asio::local::stream_protocol::acceptor acceptor_;
  asio::steady_timer retry_timer_;  // after a failed accept
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();

  mutable std::mutex mutex_;
  std::set<std::shared_ptr<peer>> peers_;
  std::condition_variable idle_;
  bool accepting_ = false;      // an accept (or its retry) is outstanding
  bool close_pending_ = false;  // stop()'s close of the acceptor has not run yet
  bool stopped_ = false;
  bool owns_socket_file_ = false;
  std::uint64_t accepted_ = 0;
  std::uint64_t refused_ = 0;
};

}  // namespace vss::daemon
