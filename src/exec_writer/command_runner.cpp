#include "exec_writer/command_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

extern char** environ;

namespace vss::exec {
namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

class unique_fd {
 public:
  explicit unique_fd(int fd = -1) noexcept : fd_(fd) {}
  ~unique_fd() { reset(); }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  int get() const noexcept { return fd_; }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Keeps the first and last halves of a stream of unknown length without holding all of it.
class output_sink {
 public:
  explicit output_sink(std::size_t max) : head_max_(max - max / 2), tail_max_(max / 2) {}

  void append(const char* p, std::size_t n) {
    total_ += n;
    const std::size_t take = std::min(n, head_max_ - head_.size());
    head_.append(p, take);
    if (take == n) return;
    tail_.append(p + take, n - take);
    // Trim in batches so that a long stream costs amortised O(1) per byte.
    if (tail_.size() > 2 * tail_max_ + 4096) tail_.erase(0, tail_.size() - tail_max_);
  }

  std::string finish() && {
    if (tail_.size() > tail_max_) tail_.erase(0, tail_.size() - tail_max_);
    const std::size_t kept = head_.size() + tail_.size();
    if (kept == total_) return std::move(head_) + tail_;
    return std::move(head_) + "\n[... " + std::to_string(total_ - kept) + " bytes cut]\n" + tail_;
  }

 private:
  std::size_t head_max_;
  std::size_t tail_max_;
  std::size_t total_ = 0;
  std::string head_;
  std::string tail_;
};

std::vector<std::string> merged_environment(const std::vector<std::string>& additions) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) env.emplace_back(*e);
  for (const auto& kv : additions) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    const std::string_view prefix(kv.data(), eq + 1);
    auto it = std::find_if(env.begin(), env.end(),
                           [&](const std::string& e) { return e.starts_with(prefix); });
    if (it != env.end()) {
      *it = kv;
    } else {
      env.push_back(kv);
    }
  }
  return env;
}

std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

void check_spawn(int rc, const char* what) {
  if (rc != 0) throw std::system_error(rc, std::system_category(), what);
}

struct spawn_setup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;

  spawn_setup(int output_fd, const std::string& working_dir) {
    check_spawn(posix_spawn_file_actions_init(&actions), "posix_spawn_file_actions_init");
    if (const int rc = posix_spawnattr_init(&attr); rc != 0) {
      posix_spawn_file_actions_destroy(&actions);
      check_spawn(rc, "posix_spawnattr_init");
    }
    try {
      configure(output_fd, working_dir);
    } catch (...) {
      destroy();
      throw;
    }
  }
  ~spawn_setup() { destroy(); }
  spawn_setup(const spawn_setup&) = delete;
  spawn_setup& operator=(const spawn_setup&) = delete;

 private:
  void configure(int output_fd, const std::string& working_dir) {
    check_spawn(posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0),
                "posix_spawn_file_actions_addopen");
    // dup2 clears O_CLOEXEC on the copies; the pipe's own descriptors close at exec.
    check_spawn(posix_spawn_file_actions_adddup2(&actions, output_fd, STDOUT_FILENO),
                "posix_spawn_file_actions_adddup2");
    check_spawn(posix_spawn_file_actions_adddup2(&actions, output_fd, STDERR_FILENO),
                "posix_spawn_file_actions_adddup2");
    if (!working_dir.empty()) {
      check_spawn(posix_spawn_file_actions_addchdir_np(&actions, working_dir.c_str()),
                  "posix_spawn_file_actions_addchdir_np");
    }
    // Descriptors that other threads opened without O_CLOEXEC must not leak into the command.
    check_spawn(posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1),
                "posix_spawn_file_actions_addclosefrom_np");

    // A new process group (so a timeout can kill the command's children too), no blocked
    // signals, and default dispositions: a host that ignores SIGPIPE must not pass that on.
    check_spawn(posix_spawnattr_setflags(
                    &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF),
                "posix_spawnattr_setflags");
    check_spawn(posix_spawnattr_setpgroup(&attr, 0), "posix_spawnattr_setpgroup");
    sigset_t none;
    sigemptyset(&none);
    check_spawn(posix_spawnattr_setsigmask(&attr, &none), "posix_spawnattr_setsigmask");
    sigset_t all;
    sigfillset(&all);
    check_spawn(posix_spawnattr_setsigdefault(&attr, &all), "posix_spawnattr_setsigdefault");
  }

  void destroy() noexcept {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

bool is_resource_error(int e) { return e == EAGAIN || e == ENOMEM || e == EMFILE || e == ENFILE; }

// The shell's exit statuses for a command that could not be started.
int exit_code_for_spawn_error(int e) {
  switch (e) {
    case ENOENT:
    case ENOTDIR:
    case ELOOP:
    case ENAMETOOLONG:
      return 127;
    default:
      return 126;
  }
}

// Kills and reaps the child if run_command leaves by an exception.
class child_guard {
 public:
  explicit child_guard(pid_t pid) noexcept : pid_(pid) {}
  ~child_guard() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  child_guard(const child_guard&) = delete;
  child_guard& operator=(const child_guard&) = delete;
  void release() noexcept { pid_ = -1; }

 private:
  pid_t pid_;
};

int poll_timeout_ms(clock_type::time_point until) {
  const auto left = until - clock_type::now();
  if (left <= clock_type::duration::zero()) return 0;
  // Round up, so that a wake-up never comes a little before the deadline and spins.
  const auto ms = std::chrono::ceil<milliseconds>(left).count();
  return static_cast<int>(std::min<std::int64_t>(ms, INT_MAX));
}

}  // namespace

std::string cap_output(std::string text, std::size_t max) {
  if (text.size() <= max) return text;
  output_sink sink(max);
  sink.append(text.data(), text.size());
  return std::move(sink).finish();
}

command_result run_command(const std::vector<std::string>& argv, milliseconds timeout,
                           const run_options& options) {
  if (argv.empty()) throw std::invalid_argument("run_command: empty argv");
  if (timeout <= milliseconds::zero()) {
    throw std::invalid_argument("run_command: the timeout must be positive");
  }
  const auto start = clock_type::now();
  const auto deadline = start + timeout;

  const std::vector<std::string> env = merged_environment(options.env);
  const std::vector<char*> c_argv = c_strings(argv);
  const std::vector<char*> c_env = c_strings(env);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::system_category(), "pipe2");
  }
  unique_fd read_end(fds[0]);
  unique_fd write_end(fds[1]);

  pid_t pid = -1;
  int spawn_error = 0;
  {
    spawn_setup setup(write_end.get(), options.working_dir);
    spawn_error =
        posix_spawnp(&pid, c_argv[0], &setup.actions, &setup.attr, c_argv.data(), c_env.data());
  }
  // Only the child may hold the write end, or EOF would never come.
  write_end.reset();

  command_result result;
  if (spawn_error != 0) {
    if (is_resource_error(spawn_error)) {
      throw std::system_error(spawn_error, std::system_category(), "posix_spawnp " + argv[0]);
    }
    result.exit_code = exit_code_for_spawn_error(spawn_error);
    result.output = "openvss-exec: cannot run '" + argv[0] + "'";
    if (!options.working_dir.empty()) result.output += " in '" + options.working_dir + "'";
    result.output += ": ";
    result.output += std::error_code(spawn_error, std::system_category()).message();
    result.output = cap_output(std::move(result.output), options.max_output);
    result.duration = std::chrono::duration_cast<milliseconds>(clock_type::now() - start);
    return result;
  }

  child_guard guard(pid);
  output_sink sink(options.max_output);
  bool eof = false;
  bool reaped = false;
  bool killed = false;
  int status = 0;
  clock_type::time_point kill_at{};
  milliseconds backoff{1};
  char buffer[16 * 1024];

  const auto signal_group = [&](int sig) {
    ::kill(-pid, sig);
    // The command may have left its group (setpgid/setsid); an unreaped pid is still ours.
    if (!reaped) ::kill(pid, sig);
  };
  const auto try_reap = [&](int flags) {
    while (!reaped) {
      const pid_t r = ::waitpid(pid, &status, flags);
      if (r == pid) {
        reaped = true;
      } else if (r < 0 && errno == EINTR) {
        continue;
      } else if (r < 0) {
        // ECHILD: someone else reaped it (a SIGCHLD handler); there is no status to report.
        reaped = true;
        status = W_EXITCODE(127, 0);
      }
      break;
    }
  };

  while (!(eof && reaped)) {
    const auto now = clock_type::now();
    if (!result.timed_out && now >= deadline) {
      result.timed_out = true;
      signal_group(SIGTERM);
      signal_group(SIGCONT);
      kill_at = now + kill_grace;
    } else if (result.timed_out && now >= kill_at) {
      signal_group(SIGKILL);
      killed = true;
      break;
    }
    if (eof) {
      try_reap(WNOHANG);
      if (reaped) break;
      // The output has ended but the process has not: wait for its exit with a short backoff.
      const auto until =
          std::min(result.timed_out ? kill_at : deadline, clock_type::now() + backoff);
      std::this_thread::sleep_until(until);
      backoff = std::min(backoff * 2, milliseconds{20});
      continue;
    }
    pollfd p{read_end.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, poll_timeout_ms(result.timed_out ? kill_at : deadline));
    if (n < 0 && errno != EINTR) {
      throw std::system_error(errno, std::system_category(), "poll");
    }
    if (n <= 0) continue;
    const ssize_t got = ::read(read_end.get(), buffer, sizeof buffer);
    if (got > 0) {
      sink.append(buffer, static_cast<std::size_t>(got));
    } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
      eof = true;
      read_end.reset();
    }
  }

  if (killed && !eof) {
    // Keep what the group wrote before SIGKILL; never wait for a writer that escaped the group.
    ::fcntl(read_end.get(), F_SETFL, O_NONBLOCK);
    for (int i = 0; i < 16; ++i) {
      const ssize_t got = ::read(read_end.get(), buffer, sizeof buffer);
      if (got <= 0) break;
      sink.append(buffer, static_cast<std::size_t>(got));
    }
  }
  try_reap(0);
  guard.release();

  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = -1;
    result.signal = WTERMSIG(status);
  }
  result.output = std::move(sink).finish();
  result.duration = std::chrono::duration_cast<milliseconds>(clock_type::now() - start);
  return result;
}

}  // namespace vss::exec
