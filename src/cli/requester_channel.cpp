#include "cli/requester_channel.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <system_error>

#include "cli/exit_codes.hpp"
#include "ipc/message.hpp"

namespace vss::cli {

using json = nlohmann::json;

namespace {

// How often a blocked read looks at the stop flag.
constexpr int poll_interval_ms = 50;

std::string errno_text(int e) { return std::system_category().message(e); }

}  // namespace

socket_channel::socket_channel(const std::string& path, wait_limits limits)
    : path_(path), limits_(limits) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    throw cli_error(exit_code::unreachable, "bad socket path \"" + path + "\"");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw cli_error(exit_code::unreachable, "socket(): " + errno_text(errno));
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    ::close(fd_);
    fd_ = -1;
    throw cli_error(exit_code::unreachable,
                    "cannot connect to openvssd at " + path + ": " + errno_text(e));
  }
  send({{"type", "hello"},
        {"version", ipc::protocol_version},
        {"role", "requester"},
        {"client", "openvss-cli"}});
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (limits_.timeout) deadline = std::chrono::steady_clock::now() + *limits_.timeout;
  const json first = receive(deadline);
  const std::string type = first.value("type", "");
  if (type == "error") {
    const std::string code = first.value("code", "");
    fail_and_close(
        code == "not_authorized" ? exit_code::not_authorized : exit_code::unreachable,
        "openvssd refused the connection (" + code + "): " + first.value("message", std::string{}));
  }
  if (type != "welcome") {
    fail_and_close(exit_code::unreachable, "protocol error: expected welcome, got " + type);
  }
  server_ = first.value("server", "openvssd");
  server_pid_ = first.value("pid", std::int64_t{0});
}

socket_channel::~socket_channel() {
  if (fd_ >= 0) ::close(fd_);
}

void socket_channel::fail_and_close(exit_code code, const std::string& what) {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  throw cli_error(code, what);
}

void socket_channel::send(const json& body) {
  if (fd_ < 0) throw cli_error(exit_code::unreachable, "not connected");
  std::error_code ec;
  const std::string frame = ipc::encode_frame(ipc::encode_message(body), ec);
  if (ec) throw cli_error(exit_code::usage, "request too large to send: " + ec.message());
  std::size_t sent = 0;
  while (sent < frame.size()) {
    const auto n = ::send(fd_, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_and_close(exit_code::unreachable,
                     "lost the connection to openvssd: " + errno_text(errno));
    }
    sent += static_cast<std::size_t>(n);
  }
}

json socket_channel::receive(std::optional<std::chrono::steady_clock::time_point> deadline) {
  for (;;) {
    std::error_code ec;
    if (auto payload = decoder_.next(ec)) {
      ipc::message m;
      std::string detail;
      if (auto bad = ipc::decode_message(*payload, m, detail)) {
        fail_and_close(exit_code::unreachable,
                       "protocol error from openvssd: " + bad.message() + ": " + detail);
      }
      return std::move(m.body);
    }
    if (ec) {
      fail_and_close(exit_code::unreachable, "protocol error from openvssd: " + ec.message());
    }
    if (limits_.stop != nullptr && limits_.stop->load()) {
      // Dropping the connection makes openvssd abort every backup this requester started.
      fail_and_close(exit_code::aborted, "interrupted; openvssd aborts the request");
    }
    if (deadline && std::chrono::steady_clock::now() >= *deadline) {
      fail_and_close(exit_code::timeout, "timed out; openvssd aborts the request");
    }
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, poll_interval_ms);
    if (ready < 0 && errno != EINTR) {
      fail_and_close(exit_code::unreachable, "poll(): " + errno_text(errno));
    }
    if (ready <= 0) continue;
    char buf[16384];
    const auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      fail_and_close(exit_code::unreachable,
                     "lost the connection to openvssd: " + errno_text(errno));
    }
    if (n == 0) {
      fail_and_close(exit_code::unreachable,
                     decoder_.has_partial_frame()
                         ? "openvssd closed the connection in the middle of a frame"
                         : "openvssd closed the connection");
    }
    decoder_.feed(buf, static_cast<std::size_t>(n));
  }
}

json socket_channel::call(const std::string& op, const json& args, const progress_fn& on_progress) {
  const std::int64_t id = next_id_++;
  json request = {{"type", "request"}, {"id", id}, {"op", op}};
  if (!args.is_null()) request["args"] = args;
  send(request);
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (limits_.timeout) deadline = std::chrono::steady_clock::now() + *limits_.timeout;
  for (;;) {
    json m = receive(deadline);
    const std::string type = m.value("type", "");
    if (type == "progress" && m.value("id", std::int64_t{-1}) == id) {
      if (on_progress) on_progress(m);
    } else if (type == "reply" && m.value("id", std::int64_t{-1}) == id) {
      return m;
    } else if (type == "error") {
      if (m.value("ref", std::int64_t{-1}) == id) return m;
      if (!m.contains("ref")) {
        const std::string code = m.value("code", "");
        fail_and_close(
            code == "not_authorized" ? exit_code::not_authorized : exit_code::unreachable,
            "openvssd: " + code + ": " + m.value("message", std::string{}));
      }
    }
    // Anything else (heartbeats, frames of earlier requests) is not ours to handle.
  }
}

std::string socket_channel::describe() const {
  return server_ + " (pid " + std::to_string(server_pid_) + ") at " + path_;
}

}  // namespace vss::cli
