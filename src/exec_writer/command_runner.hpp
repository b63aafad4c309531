#pragma once
// Runs one external command to completion, bounded in time and in captured output: the process
// runner of openvss-exec-writer.
//
// The command is started with posix_spawnp (no shell: argv is passed as is; a shell runs only
// when argv itself is {"/bin/sh", "-c", ...}), in a new process group, with stdin on /dev/null
// and stdout and stderr on one pipe, so the output is interleaved in the order it was written.
// The runner reads the pipe until EOF and waits for the process to exit. When the timeout runs
// out it sends SIGTERM (and SIGCONT, for a stopped process) to the whole process group, waits a
// grace period of 500 ms, then sends SIGKILL to the group. Either way the child is reaped before
// run_command returns: it never leaves a zombie, and never a running process of the group after
// a timeout.
//
// A command counts as running until its exit AND the end of its output: a background process
// that keeps the pipe open (`daemon &`) keeps the command running until the timeout kills the
// group. Start such processes with their output redirected (`daemon >/dev/null 2>&1 &`).
//
// Example:
//   auto r = vss::exec::run_command({"/usr/bin/pg_ctl", "status"}, std::chrono::seconds(5));
//   if (r.timed_out || r.exit_code != 0) log(r.output);
//
// Thread-safety: run_command may run on several threads at once. It reads `environ` (to build
// the child's environment), so it must not race with setenv/putenv in the same process. It
// reaps only its own child, by pid; a SIGCHLD handler elsewhere that reaps every child
// (waitpid(-1, ...)) would steal the exit status.

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace vss::exec {

/// Grace between SIGTERM and SIGKILL after a timeout.
inline constexpr std::chrono::milliseconds kill_grace{500};

/// How a command ended.
struct command_result {
  /// The exit status (0..255) when the process exited; -1 when a signal ended it. 127 when the
  /// program could not be found, 126 when it was found but could not be executed (the shell's
  /// conventions); `output` then names the program and the reason.
  int exit_code = -1;
  /// The signal that ended the process (SIGTERM, SIGKILL, ...), or 0 when it exited.
  int signal = 0;
  /// True when the timeout ran out and the runner killed the process group. `exit_code` and
  /// `signal` still say how the process ended (usually by the runner's SIGTERM).
  bool timed_out = false;
  /// stdout and stderr interleaved as read. When longer than run_options::max_output, the first
  /// and last halves are kept, joined by "\n[... N bytes cut]\n".
  std::string output;
  /// Wall time from the start of the command to its reaping.
  std::chrono::milliseconds duration{0};
};

/// Options of run_command.
struct run_options {
  /// "KEY=VALUE" entries added to the runner's environment; an entry replaces a variable of the
  /// same name. An entry without '=' is ignored. They do not change where the program is
  /// searched: the runner's own PATH is used. Default: none.
  std::vector<std::string> env;
  /// Working directory of the command. Default: empty, the runner's current directory.
  std::string working_dir;
  /// Most bytes of output kept in command_result::output (the rest is counted, not kept).
  /// Default: 64 KiB.
  std::size_t max_output = 64 * 1024;
};

/// Runs `argv` (argv[0] is searched in PATH when it has no '/'), waits for it to end, and says
/// how it ended. `timeout` must be positive. Throws std::invalid_argument for an empty argv or
/// a non-positive timeout, and std::system_error when the runner itself fails (no pipe, no
/// process: EMFILE, EAGAIN, ENOMEM, ...) — a program that cannot be run is not an exception but
/// exit_code 127 or 126.
command_result run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                           const run_options& options = {});

/// Keeps at most `max` bytes of `text`: the first and last halves, joined by
/// "\n[... N bytes cut]\n" (the marker is not counted in `max`). Returns `text` unchanged when
/// it fits.
std::string cap_output(std::string text, std::size_t max);

}  // namespace vss::exec
