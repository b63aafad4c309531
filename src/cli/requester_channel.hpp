#pragma once
// How the `openvss` CLI talks to a requester service: one interface, two transports. A
// socket_channel is a small blocking client of openvssd (docs/ipc-protocol.md: hello with role
// requester, then request -> progress* -> reply | error); the embedded channel
// (embedded_channel.hpp) runs the same requester_service in-process. Every subcommand is
// written once against requester_channel.
//
// Both transports stop waiting when `*stop` becomes true (Ctrl-C) or the timeout passes: they
// then drop the connection, which makes the service abort what this requester started, and
// throw cli_error (exit_code::aborted or exit_code::timeout).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli/exit_codes.hpp"
#include "ipc/frame.hpp"

namespace vss::cli {

/// One requester connection.
class requester_channel {
 public:
  /// Receives each `progress` body of the current request.
  using progress_fn = std::function<void(const nlohmann::json&)>;

  virtual ~requester_channel() = default;

  /// Sends request {op, args}, passes its progress frames to `on_progress` (may be empty) and
  /// returns its final `reply` or `error` body. Throws cli_error when the transport fails.
  virtual nlohmann::json call(const std::string& op, const nlohmann::json& args,
                              const progress_fn& on_progress) = 0;

  /// Who answers: "openvssd (pid 42) at /run/openvss/openvss.sock", "embedded engine ...".
  virtual std::string describe() const = 0;
};

/// When a channel gives up waiting.
struct wait_limits {
  /// Set (by a signal handler) to interrupt. Default: null, never.
  const std::atomic<bool>* stop = nullptr;
  /// Longest wait for one request's final frame. Default: none.
  std::optional<std::chrono::milliseconds> timeout;
};

/// A blocking client of openvssd over its Unix socket.
class socket_channel final : public requester_channel {
 public:
  /// Connects to `path` and performs the handshake. Throws cli_error: unreachable (connect,
  /// protocol or version failure) or not_authorized.
  socket_channel(const std::string& path, wait_limits limits);
  ~socket_channel() override;

  socket_channel(const socket_channel&) = delete;
  socket_channel& operator=(const socket_channel&) = delete;

  nlohmann::json call(const std::string& op, const nlohmann::json& args,
                      const progress_fn& on_progress) override;
  std::string describe() const override;

 private:
  void send(const nlohmann::json& body);
  // The next message body; throws cli_error on EOF, protocol errors, stop or the deadline.
  nlohmann::json receive(std::optional<std::chrono::steady_clock::time_point> deadline);
  [[noreturn]] void fail_and_close(exit_code code, const std::string& what);

  std::string path_;
  wait_limits limits_;
  int fd_ = -1;
  ipc::frame_decoder decoder_;
  std::int64_t next_id_ = 1;
  std::string server_;
  std::int64_t server_pid_ = 0;
};

}  // namespace vss::cli
