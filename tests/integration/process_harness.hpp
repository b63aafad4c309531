#pragma once
// Helpers for tests that run openvssd, writer processes and the CLI as real processes: spawn
// and reap children, poll for a condition with a deadline, and a raw protocol client that
// speaks frames directly (for the malformed-input tests and for polling the daemon).

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace vss::testing {

/// A child process, killed (SIGKILL) and reaped on destruction if still running.
class child_process {
 public:
  child_process() = default;
  /// Starts argv[0] with argv; stdout and stderr go to `output_file` (appended).
  child_process(const std::vector<std::string>& argv, const std::string& output_file,
                std::optional<uid_t> run_as = std::nullopt);
  child_process(child_process&& other) noexcept;
  child_process& operator=(child_process&& other) noexcept;
  ~child_process();

  pid_t pid() const noexcept { return pid_; }
  bool running();
  void signal(int sig);
  /// Waits up to `timeout` for exit; returns the exit status (or 128+signal), nullopt if still
  /// running.
  std::optional<int> wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

/// Polls `condition` every 10 ms until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

std::string read_file(const std::filesystem::path& p);

/// A blocking client speaking raw frames to the daemon.
class raw_client {
 public:
  explicit raw_client(const std::string& socket_path);
  ~raw_client();
  bool connected() const noexcept { return fd_ >= 0; }
  /// Sends bytes exactly as given.
  bool send_bytes(const std::string& bytes);
  /// Frames and sends one JSON body.
  bool send_json(const nlohmann::json& body);
  /// The next frame's JSON, or nullopt on timeout/EOF/garbage.
  std::optional<nlohmann::json> receive(
      std::chrono::milliseconds timeout = std::chrono::seconds(5));
  /// True once the peer has closed the connection (EOF) within `timeout`.
  bool closed_by_peer(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  /// hello as `role`, returning the daemon's answer (welcome or error).
  std::optional<nlohmann::json> hello(const std::string& role, int version = 1);
  /// A requester request; skips progress frames and returns the reply or error.
  std::optional<nlohmann::json> request(
      const std::string& op, nlohmann::json args = {},
      std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  int fd_ = -1;
  std::string buffer_;
  std::int64_t next_id_ = 1;
};

}  // namespace vss::testing
