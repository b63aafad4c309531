#include "integration/process_harness.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace vss::testing {

child_process::child_process(const std::vector<std::string>& argv, const std::string& output_file,
                             std::optional<uid_t> run_as) {
  pid_ = ::fork();
  if (pid_ == 0) {
    const int fd = ::open(output_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    ::setpgid(0, 0);
    if (run_as && (::setgid(*run_as) != 0 || ::setuid(*run_as) != 0)) ::_exit(126);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
}

child_process::child_process(child_process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), status_(other.status_) {}

child_process& child_process::operator=(child_process&& other) noexcept {
  if (this != &other) {
    this->~child_process();
    pid_ = std::exchange(other.pid_, -1);
    status_ = other.status_;
  }
  return *this;
}

child_process::~child_process() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
}

bool child_process::running() { return pid_ > 0 && !wait(std::chrono::milliseconds(0)); }

void child_process::signal(int sig) {
  if (pid_ > 0 && !status_) ::kill(pid_, sig);
}

std::optional<int> child_process::wait(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  if (pid_ <= 0) return std::nullopt;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int st = 0;
    const pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return status_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

raw_client::raw_client(const std::string& socket_path) {
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

raw_client::~raw_client() {
  if (fd_ >= 0) ::close(fd_);
}

bool raw_client::send_bytes(const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const auto n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

bool raw_client::send_json(const nlohmann::json& body) {
  const auto payload = body.dump();
  const auto n = static_cast<std::uint32_t>(payload.size());
  std::string frame{static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                    static_cast<char>(n >> 8), static_cast<char>(n)};
  return send_bytes(frame + payload);
}

std::optional<nlohmann::json> raw_client::receive(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (buffer_.size() >= 4) {
      const auto* b = reinterpret_cast<const unsigned char*>(buffer_.data());
      const std::size_t n = (std::size_t{b[0]} << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
      if (buffer_.size() >= 4 + n) {
        auto body = nlohmann::json::parse(buffer_.substr(4, n), nullptr, false);
        buffer_.erase(0, 4 + n);
        if (body.is_discarded()) return std::nullopt;
        return body;
      }
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
    char chunk[65536];
    const auto r = ::recv(fd_, chunk, sizeof chunk, 0);
    if (r <= 0) return std::nullopt;
    buffer_.append(chunk, static_cast<std::size_t>(r));
  }
}

bool raw_client::closed_by_peer(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char chunk[4096];
    const auto r = ::recv(fd_, chunk, sizeof chunk, 0);
    if (r == 0) return true;
    if (r < 0) return errno == ECONNRESET;
  }
}

std::optional<nlohmann::json> raw_client::hello(const std::string& role, int version) {
  if (!send_json({{"type", "hello"}, {"version", version}, {"role", role}, {"client", "test"}})) {
    return std::nullopt;
  }
  return receive();
}

std::optional<nlohmann::json> raw_client::request(const std::string& op, nlohmann::json args,
                                                  std::chrono::milliseconds timeout) {
  const auto id = next_id_++;
  nlohmann::json body{{"type", "request"}, {"id", id}, {"op", op}};
  if (!args.is_null()) body["args"] = std::move(args);
  if (!send_json(body)) return std::nullopt;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto frame = receive(left);
    if (!frame) return std::nullopt;
    if ((*frame)["type"] == "reply" && (*frame)["id"] == id) return frame;
    if ((*frame)["type"] == "error") return frame;
  }
}

}  // namespace vss::testing
