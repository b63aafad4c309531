#pragma once
// The writer of openvss-exec-writer: a vss::writer that runs external commands at writer events
// (pre-freeze / post-thaw scripts, fsfreeze-hook.d directories), so that an application with no
// VSS support can still be quiesced around a snapshot. The socket client that connects it to
// openvssd lives elsewhere; this writer also works in-process (engine::register_writer).
// The user's guide, with the configuration file format, is docs/exec-writer.md.
//
// What runs when:
//  - Each event may have one command (exec_writer_config::commands); an event without one
//    succeeds at once.
//  - Freeze runs the freeze command, then every hook (below) with the argument "freeze". When
//    a hook fails, the later hooks do not run, and the hooks that already froze get "thaw" in
//    reverse order, then the thaw command runs if the freeze command had run: nothing is left
//    frozen, and the Freeze fails with the failing hook's code.
//  - Thaw runs every frozen hook with "thaw" (in lexical order, as fsfreeze-hook does), then
//    the thaw command.
//  - Abort first thaws, exactly as Thaw does, if the writer is frozen (an abort implies a thaw,
//    spec §3.3), then runs the abort command. When not frozen, Abort runs only the abort
//    command.
//  - BackupShutdown thaws first if the writer is still frozen (the engine's invariants say it
//    cannot be; this is a last safety net), then runs the backup_shutdown command.
//  - "Frozen" means: the last Freeze succeeded and neither Thaw nor Abort ran since. A thaw
//    never runs twice for one freeze, and never runs when the freeze failed (a failing freeze
//    command must undo its own partial work). Thaw or Abort while not frozen runs no thaw.
//
// Hooks: every hook_dirs entry, in order, contributes its executable regular files (symlinks
// followed), sorted by name (byte order). Skipped, as fsfreeze-hook skips them: names starting
// with '.', and backup or package-manager leftovers (*~, *.bak, *.orig, *.sample, *.rpmnew,
// *.rpmorig, *.rpmsave, *.dpkg-old, *.dpkg-new, *.dpkg-tmp, *.dpkg-dist, *.dpkg-bak,
// *.dpkg-backup, *.dpkg-remove). A directory that does not exist has no hooks; one that cannot
// be read fails the Freeze. The directories are read at each Freeze; Thaw uses the list of
// hooks that froze.
//
// Exit status mapping (the failure code passed to writer_context::fail):
//   0                       success
//   75  (EX_TEMPFAIL)       VSS_E_WRITERERROR_RETRYABLE            (errc::writer_error_retryable)
//   69  (EX_UNAVAILABLE)    VSS_E_WRITERERROR_OUTOFRESOURCES       (writer_error_out_of_resources)
//   65  (EX_DATAERR)        VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT (..._inconsistent_snapshot)
//   timeout at Freeze       VSS_E_WRITERERROR_TIMEOUT              (errc::writer_error_timeout)
//   any other status, a signal, a timeout at another event, or a program that cannot be run
//   (127, 126)              VSS_E_WRITERERROR_NONRETRYABLE         (writer_error_nonretryable)
// The runner failing for lack of resources (no pipe, no process) is
// VSS_E_WRITERERROR_OUTOFRESOURCES. The failure message names the event, the command, how it
// ended and its output (whitespace-trimmed, at most max_message_output bytes).
//
// Every command gets these environment variables, besides the writer process's own:
//   OPENVSS_EVENT          the event being handled: identify, prepare_backup,
//                          prepare_snapshot, freeze, thaw, post_snapshot, abort,
//                          backup_complete, backup_shutdown (so a thaw command run by an Abort
//                          sees "abort", and a hook's argument says "freeze" or "thaw")
//   OPENVSS_SNAPSHOT_SET   the snapshot set id, "{xxxxxxxx-...}"; empty before StartSnapshotSet
//   OPENVSS_BACKUP_TYPE    undefined, full, incremental, differential, log, copy or other
//   OPENVSS_VOLUMES        the volumes of the snapshot set, separated by single spaces
//   OPENVSS_WRITER_NAME    the writer's name
//
// Timeouts: each command gets exec_writer_config::timeouts[event], or else
// exec_writer_config::timeout. At Freeze the freeze command and hooks together also stay within
// identity.freeze_timeout (the engine's freeze window, dwTimeoutFreeze): a command gets at most
// what is left of it. Between two freeze hooks the writer stops if the engine has abandoned the
// Freeze (abort or deadline), and thaws what it froze.
//
// Thread-safety: the engine runs one handler of a writer at a time; frozen() may be called from
// any thread.

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "exec_writer/command_runner.hpp"
#include "vss/error.hpp"
#include "vss/writer.hpp"

namespace vss::exec {

/// Most bytes of a command's output quoted in a failure message.
inline constexpr std::size_t max_message_output = 2048;

/// What an exec_writer runs. execution is forced to handler_execution::blocking.
struct exec_writer_config {
  /// The writer's identity. Set class_id: VSS expects it fixed per application.
  writer_identity identity;
  /// The command (argv; argv[0] searched in PATH) per event. Events without one succeed.
  std::map<writer_event, std::vector<std::string>> commands;
  /// fsfreeze-hook.d style directories; see the file comment. Default: none.
  std::vector<std::string> hook_dirs;
  /// Time limit of one command. Default: 30 s.
  std::chrono::milliseconds timeout{30000};
  /// Per-event time limits that replace `timeout`. Default: none.
  std::map<writer_event, std::chrono::milliseconds> timeouts;
};

/// A bad configuration file. what() is "<file>:<line>: <problem>", or "<file>: <problem>"
/// when the problem has no line (line() == 0).
class config_error : public std::runtime_error {
 public:
  config_error(std::string file, std::size_t line, std::string problem);
  /// The file name as given to config_from_ini.
  const std::string& file() const noexcept { return file_; }
  /// 1-based line number; 0 for the file as a whole.
  std::size_t line() const noexcept { return line_; }
  /// The problem, without the location.
  const std::string& problem() const noexcept { return problem_; }

 private:
  std::string file_;
  std::size_t line_;
  std::string problem_;
};

/// Reads the configuration file format of docs/exec-writer.md:
///   [writer]    name, instance_name, class_id, instance_id, level, freeze_timeout_ms
///   [commands]  <event> = <command line>, hook_dir = <dir> (repeatable), timeout_ms = <n>,
///               timeout_ms.<event> = <n>
/// Event keys are event_key() names. Command lines are split on whitespace; double quotes group
/// (inside them \" and \\ escape). Lines starting with '#' or ';' are comments. `file` is used
/// only in error messages. Throws config_error on any problem (unknown section or key,
/// duplicate key, bad value, missing name).
exec_writer_config config_from_ini(std::string_view text, std::string_view file);

/// Reads the file at `path` and parses it with config_from_ini. Throws config_error (also when
/// the file cannot be read).
exec_writer_config config_from_file(const std::string& path);

/// Splits a command line as config_from_ini does. Throws std::invalid_argument on an
/// unterminated double quote.
std::vector<std::string> split_command_line(std::string_view text);

/// The configuration and OPENVSS_EVENT name of an event: "freeze", "prepare_snapshot", ...
std::string_view event_key(writer_event e) noexcept;

/// The event named by event_key(), or nullopt.
std::optional<writer_event> parse_event_key(std::string_view key) noexcept;

/// The failure code for how a command ended at `event`, per the mapping in the file comment;
/// errc::ok when it succeeded (exit status 0, no timeout).
errc failure_code(const command_result& result, writer_event event) noexcept;

/// A writer that runs commands and hooks at writer events. See the file comment.
class exec_writer : public writer {
 public:
  /// Throws std::invalid_argument when a command is an empty argv or a timeout is not positive.
  explicit exec_writer(exec_writer_config config);

  /// The configuration, with execution set to blocking.
  const exec_writer_config& config() const noexcept { return config_; }

  /// True between a successful Freeze and the next Thaw, Abort or BackupShutdown.
  bool frozen() const;

  void on_identify(writer_context ctx) override;
  void on_prepare_backup(writer_context ctx) override;
  void on_prepare_snapshot(writer_context ctx) override;
  void on_freeze(writer_context ctx) override;
  void on_thaw(writer_context ctx) override;
  void on_post_snapshot(writer_context ctx) override;
  void on_abort(writer_context ctx) override;
  void on_backup_complete(writer_context ctx) override;
  void on_backup_shutdown(writer_context ctx) override;

 private:
  struct outcome {
    errc code = errc::ok;
    std::string message;
  };

  std::chrono::milliseconds timeout_for(writer_event e) const;
  std::vector<std::string> environment(const writer_context& ctx) const;
  outcome run(writer_event e, const std::vector<std::string>& argv, std::string_view what,
              std::chrono::milliseconds timeout, const std::vector<std::string>& env) const;
  outcome run_event_command(writer_event e, const std::vector<std::string>& env) const;
  // Thaws `hooks` (in reverse for a rollback), then runs the thaw command if `thaw_command`.
  outcome undo(writer_event e, const std::vector<std::string>& hooks, bool reverse,
               bool thaw_command, const std::vector<std::string>& env) const;
  // Thaws whatever the last Freeze froze, if still frozen, and marks the writer thawed.
  outcome thaw_frozen(writer_event e, const std::vector<std::string>& env);
  void simple_event(writer_context& ctx);
  static void merge(outcome& first, outcome next);
  static void finish(writer_context& ctx, const outcome& o);

  exec_writer_config config_;
  mutable std::mutex mutex_;
  bool frozen_ = false;
  std::vector<std::string> frozen_hooks_;
};

}  // namespace vss::exec
