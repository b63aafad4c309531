#include "exec_writer/exec_writer.hpp"

#include <signal.h>
#include <string.h>  // sigabbrev_np
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

#include "vss/id.hpp"
#include "vss/types.hpp"

namespace vss::exec {
namespace {

using std::chrono::milliseconds;
using clock_type = std::chrono::steady_clock;

constexpr std::array<std::string_view, writer_event_count> event_keys = {
    "identify",      "prepare_backup", "prepare_snapshot", "freeze",          "thaw",
    "post_snapshot", "abort",          "backup_complete",  "backup_shutdown",
};

// Longest accepted timeout: a day. Keeps deadline arithmetic far from overflow.
constexpr std::int64_t max_timeout_ms = 24LL * 60 * 60 * 1000;

std::string_view backup_type_key(backup_type t) {
  switch (t) {
    case backup_type::full:
      return "full";
    case backup_type::incremental:
      return "incremental";
    case backup_type::differential:
      return "differential";
    case backup_type::log:
      return "log";
    case backup_type::copy:
      return "copy";
    case backup_type::other:
      return "other";
    case backup_type::undefined:
      break;
  }
  return "undefined";
}

std::string_view trim(std::string_view s) {
  constexpr std::string_view space = " \t\r\n\v\f";
  const auto b = s.find_first_not_of(space);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(space) - b + 1);
}

// The inverse of split_command_line, for messages: the user can paste it back into the file.
std::string render(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    const bool quote = a.empty() || a.find_first_of(" \t\r\n\v\f\"\\") != std::string::npos;
    if (!quote) {
      out += a;
      continue;
    }
    out += '"';
    for (char c : a) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out;
}

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? "SIG" + std::string(abbrev) : "signal " + std::to_string(sig);
}

bool is_ignored_hook(std::string_view name) {
  static constexpr std::array<std::string_view, 14> suffixes = {
      "~",          ".bak",      ".orig",        ".sample",      ".rpmnew",
      ".rpmorig",   ".rpmsave",  ".dpkg-old",    ".dpkg-new",    ".dpkg-tmp",
      ".dpkg-dist", ".dpkg-bak", ".dpkg-backup", ".dpkg-remove",
  };
  if (name.empty() || name.front() == '.') return true;
  return std::any_of(suffixes.begin(), suffixes.end(),
                     [&](std::string_view s) { return name.ends_with(s); });
}

std::vector<std::string> scan_hooks(const std::vector<std::string>& dirs, std::string& error) {
  namespace fs = std::filesystem;
  std::vector<std::string> all;
  for (const auto& dir : dirs) {
    std::vector<std::string> found;
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec == std::errc::no_such_file_or_directory) continue;
    for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (is_ignored_hook(name)) continue;
      const std::string path = (fs::path(dir) / name).string();
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      if (::access(path.c_str(), X_OK) != 0) continue;
      found.push_back(path);
    }
    if (ec) {
      error = "cannot read hook directory '" + dir + "': " + ec.message();
      return {};
    }
    std::sort(found.begin(), found.end());
    all.insert(all.end(), found.begin(), found.end());
  }
  return all;
}

void check_timeout(milliseconds t, std::string_view what) {
  if (t <= milliseconds::zero()) {
    throw std::invalid_argument("exec_writer: " + std::string(what) + " must be positive");
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Free functions.

std::string_view event_key(writer_event e) noexcept {
  const auto i = static_cast<std::size_t>(e);
  return i < event_keys.size() ? event_keys[i] : std::string_view{};
}

std::optional<writer_event> parse_event_key(std::string_view key) noexcept {
  for (std::size_t i = 0; i < event_keys.size(); ++i) {
    if (event_keys[i] == key) return static_cast<writer_event>(i);
  }
  return std::nullopt;
}

errc failure_code(const command_result& r, writer_event event) noexcept {
  if (r.timed_out) {
    return event == writer_event::freeze ? errc::writer_error_timeout
                                         : errc::writer_error_nonretryable;
  }
  if (r.signal != 0 || r.exit_code < 0) return errc::writer_error_nonretryable;
  switch (r.exit_code) {
    case 0:
      return errc::ok;
    case 75:  // EX_TEMPFAIL
      return errc::writer_error_retryable;
    case 69:  // EX_UNAVAILABLE
      return errc::writer_error_out_of_resources;
    case 65:  // EX_DATAERR
      return errc::writer_error_inconsistent_snapshot;
    default:
      return errc::writer_error_nonretryable;
  }
}

std::vector<std::string> split_command_line(std::string_view text) {
  std::vector<std::string> out;
  std::string word;
  bool in_word = false;
  bool in_quote = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_quote) {
      if (c == '"') {
        in_quote = false;
      } else if (c == '\\' && i + 1 < text.size() && (text[i + 1] == '"' || text[i + 1] == '\\')) {
        word += text[++i];
      } else {
        word += c;
      }
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f') {
      if (in_word) out.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '"') {
      in_quote = true;
      in_word = true;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_quote) throw std::invalid_argument("unterminated double quote");
  if (in_word) out.push_back(std::move(word));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Configuration file.

config_error::config_error(std::string file, std::size_t line, std::string problem)
    : std::runtime_error(file + (line != 0 ? ":" + std::to_string(line) : std::string()) + ": " +
                         problem),
      file_(std::move(file)),
      line_(line),
      problem_(std::move(problem)) {}

exec_writer_config config_from_ini(std::string_view text, std::string_view file) {
  exec_writer_config config;
  config.identity.execution = handler_execution::blocking;
  const std::string file_name(file);
  std::size_t line_no = 0;
  const auto error = [&](std::string problem) {
    return config_error(file_name, line_no, std::move(problem));
  };
  const auto parse_ms = [&](std::string_view key, std::string_view value) {
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (value.empty() || ec != std::errc{} || end != value.data() + value.size() || n <= 0 ||
        n > max_timeout_ms) {
      throw error(std::string(key) + ": expected a number of milliseconds from 1 to " +
                  std::to_string(max_timeout_ms) + ", got '" + std::string(value) + "'");
    }
    return milliseconds{n};
  };

  enum class section { none, writer, commands };
  section current = section::none;
  std::size_t writer_line = 0;
  std::map<std::string, std::size_t, std::less<>> seen;  // "section.key" -> line
  bool has_name = false;

  std::size_t pos = 0;
  while (pos <= text.size()) {
    const auto nl = text.find('\n', pos);
    const auto raw = text.substr(pos, nl == std::string_view::npos ? text.npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    const auto line = trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;

    if (line.front() == '[') {
      if (line.back() != ']') throw error("expected ']' at the end of the section header");
      const auto name = trim(line.substr(1, line.size() - 2));
      if (name == "writer") {
        current = section::writer;
        if (writer_line == 0) writer_line = line_no;
      } else if (name == "commands") {
        current = section::commands;
      } else {
        throw error("unknown section [" + std::string(name) +
                    "] (expected [writer] or [commands])");
      }
      continue;
    }

    const auto eq = line.find('=');
    if (eq == std::string_view::npos) throw error("expected 'key = value'");
    const auto key = trim(line.substr(0, eq));
    const auto value = trim(line.substr(eq + 1));
    if (key.empty()) throw error("expected a key before '='");
    if (current == section::none) {
      throw error("'" + std::string(key) + "' is outside a section ([writer] or [commands])");
    }
    const std::string qualified =
        (current == section::writer ? "writer." : "commands.") + std::string(key);
    if (key != "hook_dir") {
      const auto [it, added] = seen.emplace(qualified, line_no);
      if (!added) {
        throw error("duplicate key '" + std::string(key) + "' (first set at line " +
                    std::to_string(it->second) + ")");
      }
    }

    if (current == section::writer) {
      if (key == "name") {
        if (value.empty()) throw error("name: must not be empty");
        config.identity.name = value;
        has_name = true;
      } else if (key == "instance_name") {
        config.identity.instance_name = value;
      } else if (key == "class_id") {
        const auto id = writer_class_id::parse(value);
        if (!id || id->is_null()) {
          throw error("class_id: expected a non-null GUID, got '" + std::string(value) + "'");
        }
        config.identity.class_id = *id;
      } else if (key == "instance_id") {
        const auto id = writer_instance_id::parse(value);
        if (!id || id->is_null()) {
          throw error("instance_id: expected a non-null GUID, got '" + std::string(value) + "'");
        }
        config.identity.instance_id = *id;
      } else if (key == "level") {
        const auto level = parse_application_level(value);
        if (!level || *level == application_level::auto_level ||
            *level == application_level::unknown) {
          throw error("level: expected front_end, back_end or system, got '" + std::string(value) +
                      "'");
        }
        config.identity.level = *level;
      } else if (key == "freeze_timeout_ms") {
        config.identity.freeze_timeout = parse_ms(key, value);
      } else {
        throw error("unknown key '" + std::string(key) +
                    "' in [writer] (expected name, instance_name, class_id, instance_id, level "
                    "or freeze_timeout_ms)");
      }
      continue;
    }

    if (key == "hook_dir") {
      if (value.empty()) throw error("hook_dir: must not be empty");
      config.hook_dirs.emplace_back(value);
    } else if (key == "timeout_ms") {
      config.timeout = parse_ms(key, value);
    } else if (key.starts_with("timeout_ms.")) {
      const auto event = parse_event_key(key.substr(11));
      if (!event) {
        throw error("unknown event '" + std::string(key.substr(11)) + "' in '" + std::string(key) +
                    "'");
      }
      config.timeouts[*event] = parse_ms(key, value);
    } else if (const auto event = parse_event_key(key)) {
      std::vector<std::string> argv;
      try {
        argv = split_command_line(value);
      } catch (const std::invalid_argument& e) {
        throw error(std::string(key) + ": " + e.what());
      }
      if (argv.empty()) throw error(std::string(key) + ": the command is empty");
      config.commands[*event] = std::move(argv);
    } else {
      throw error("unknown key '" + std::string(key) +
                  "' in [commands] (expected an event name, hook_dir, timeout_ms or "
                  "timeout_ms.<event>)");
    }
  }

  if (!has_name) {
    line_no = writer_line;
    throw error(writer_line != 0 ? "[writer] has no name" : "missing [writer] section with a name");
  }
  return config;
}

exec_writer_config config_from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw config_error(path, 0,
                       "cannot open: " + std::error_code(errno, std::system_category()).message());
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw config_error(path, 0, "cannot read");
  return config_from_ini(text.str(), path);
}

// ---------------------------------------------------------------------------------------------
// The writer.

exec_writer::exec_writer(exec_writer_config config)
    : writer([&] {
        config.identity.execution = handler_execution::blocking;
        return config.identity;
      }()),
      config_(std::move(config)) {
  config_.identity = identity();
  for (const auto& [event, argv] : config_.commands) {
    if (argv.empty() || argv.front().empty()) {
      throw std::invalid_argument("exec_writer: the " + std::string(event_key(event)) +
                                  " command is empty");
    }
  }
  check_timeout(config_.timeout, "timeout");
  for (const auto& [event, t] : config_.timeouts) {
    check_timeout(t, "the " + std::string(event_key(event)) + " timeout");
  }
}

bool exec_writer::frozen() const {
  std::lock_guard lock(mutex_);
  return frozen_;
}

milliseconds exec_writer::timeout_for(writer_event e) const {
  const auto it = config_.timeouts.find(e);
  return it != config_.timeouts.end() ? it->second : config_.timeout;
}

std::vector<std::string> exec_writer::environment(const writer_context& ctx) const {
  std::string volumes;
  for (const auto& v : ctx.volumes()) {
    if (!volumes.empty()) volumes += ' ';
    volumes += v;
  }
  const auto set = ctx.snapshot_set();
  return {
      "OPENVSS_EVENT=" + std::string(event_key(ctx.event())),
      "OPENVSS_SNAPSHOT_SET=" + (set.is_null() ? std::string() : set.to_string()),
      "OPENVSS_BACKUP_TYPE=" + std::string(backup_type_key(ctx.backup_type())),
      "OPENVSS_VOLUMES=" + volumes,
      "OPENVSS_WRITER_NAME=" + config_.identity.name,
  };
}

exec_writer::outcome exec_writer::run(writer_event e, const std::vector<std::string>& argv,
                                      std::string_view what, milliseconds timeout,
                                      const std::vector<std::string>& env) const {
  const std::string label =
      std::string(to_string(e)) + ": " + std::string(what) + " `" + render(argv) + "`";
  command_result r;
  try {
    r = run_command(argv, timeout, run_options{.env = env});
  } catch (const std::system_error& ex) {
    const bool resources = ex.code() == std::errc::resource_unavailable_try_again ||
                           ex.code() == std::errc::not_enough_memory ||
                           ex.code() == std::errc::too_many_files_open ||
                           ex.code() == std::errc::too_many_files_open_in_system;
    return {resources ? errc::writer_error_out_of_resources : errc::writer_error_nonretryable,
            label + " could not be started: " + ex.what()};
  } catch (const std::exception& ex) {
    return {errc::writer_error_nonretryable, label + " could not be started: " + ex.what()};
  }
  const errc code = failure_code(r, e);
  if (code == errc::ok) return {};

  std::string message = label;
  if (r.timed_out) {
    message += " timed out after " + std::to_string(timeout.count()) + " ms";
    if (r.signal != 0) message += " and was killed by " + signal_name(r.signal);
  } else if (r.signal != 0) {
    message += " was killed by " + signal_name(r.signal);
  } else {
    message += " exited with status " + std::to_string(r.exit_code);
  }
  const auto output = trim(r.output);
  if (output.empty()) {
    message += " (no output)";
  } else {
    message += ": " + cap_output(std::string(output), max_message_output);
  }
  return {code, std::move(message)};
}

exec_writer::outcome exec_writer::run_event_command(writer_event e,
                                                    const std::vector<std::string>& env) const {
  const auto it = config_.commands.find(e);
  if (it == config_.commands.end()) return {};
  return run(e, it->second, "command", timeout_for(e), env);
}

void exec_writer::merge(outcome& first, outcome next) {
  if (next.code == errc::ok) return;
  if (first.code == errc::ok) {
    first = std::move(next);
  } else {
    first.message += "\n" + next.message;
  }
}

exec_writer::outcome exec_writer::undo(writer_event e, const std::vector<std::string>& hooks,
                                       bool reverse, bool thaw_command,
                                       const std::vector<std::string>& env) const {
  // Every frozen unit gets its thaw even when an earlier one fails: leaving any part of the
  // application frozen is worse than a second error.
  outcome result;
  const auto thaw_hook = [&](const std::string& hook) {
    merge(result, run(e, {hook, "thaw"}, "hook", timeout_for(writer_event::thaw), env));
  };
  if (reverse) {
    std::for_each(hooks.rbegin(), hooks.rend(), thaw_hook);
  } else {
    std::for_each(hooks.begin(), hooks.end(), thaw_hook);
  }
  if (thaw_command) {
    if (const auto it = config_.commands.find(writer_event::thaw); it != config_.commands.end()) {
      merge(result, run(e, it->second, "thaw command", timeout_for(writer_event::thaw), env));
    }
  }
  return result;
}

exec_writer::outcome exec_writer::thaw_frozen(writer_event e, const std::vector<std::string>& env) {
  std::vector<std::string> hooks;
  {
    std::lock_guard lock(mutex_);
    if (!frozen_) return {};
    // Marked thawed before running anything: a thaw that fails is not retried by a later Abort.
    frozen_ = false;
    hooks.swap(frozen_hooks_);
  }
  return undo(e, hooks, false, true, env);
}

void exec_writer::finish(writer_context& ctx, const outcome& o) {
  if (o.code == errc::ok) {
    ctx.complete();
  } else {
    ctx.fail(o.code, o.message);
  }
}

void exec_writer::simple_event(writer_context& ctx) {
  finish(ctx, run_event_command(ctx.event(), environment(ctx)));
}

void exec_writer::on_identify(writer_context ctx) { simple_event(ctx); }
void exec_writer::on_prepare_backup(writer_context ctx) { simple_event(ctx); }
void exec_writer::on_prepare_snapshot(writer_context ctx) { simple_event(ctx); }
void exec_writer::on_post_snapshot(writer_context ctx) { simple_event(ctx); }
void exec_writer::on_backup_complete(writer_context ctx) { simple_event(ctx); }

void exec_writer::on_freeze(writer_context ctx) {
  const auto window_end = clock_type::now() + config_.identity.freeze_timeout;
  const auto env = environment(ctx);
  // What is left of the freeze window bounds every command: past it the engine has already
  // given up on this Freeze (VSS_E_WRITERERROR_TIMEOUT).
  const auto budget = [&] {
    const auto left = std::chrono::floor<milliseconds>(window_end - clock_type::now());
    return std::min(timeout_for(writer_event::freeze), left);
  };
  const auto window_spent = [&](const std::string& what) {
    return outcome{errc::writer_error_timeout,
                   "Freeze: the freeze window of " +
                       std::to_string(config_.identity.freeze_timeout.count()) +
                       " ms ran out before " + what + " could start"};
  };

  const auto command = config_.commands.find(writer_event::freeze);
  const bool has_command = command != config_.commands.end();
  if (has_command) {
    const auto t = budget();
    const auto o = t > milliseconds::zero()
                       ? run(writer_event::freeze, command->second, "command", t, env)
                       : window_spent("`" + render(command->second) + "`");
    if (o.code != errc::ok) return finish(ctx, o);
  }

  outcome failure;
  std::vector<std::string> frozen_hooks;
  std::string scan_error;
  const auto hooks = scan_hooks(config_.hook_dirs, scan_error);
  if (!scan_error.empty()) failure = {errc::writer_error_nonretryable, "Freeze: " + scan_error};
  for (const auto& hook : hooks) {
    if (failure.code != errc::ok) break;
    const std::vector<std::string> argv{hook, "freeze"};
    if (ctx.abandoned()) {
      failure = {errc::writer_error_nonretryable,
                 "Freeze: abandoned by the engine before hook `" + render(argv) + "`"};
      break;
    }
    const auto t = budget();
    failure = t > milliseconds::zero() ? run(writer_event::freeze, argv, "hook", t, env)
                                       : window_spent("hook `" + render(argv) + "`");
    if (failure.code == errc::ok) frozen_hooks.push_back(hook);
  }

  if (failure.code != errc::ok) {
    auto undone = undo(writer_event::freeze, frozen_hooks, true, has_command, env);
    if (undone.code != errc::ok) failure.message += "\nwhile undoing the freeze: " + undone.message;
    return finish(ctx, failure);
  }
  {
    std::lock_guard lock(mutex_);
    frozen_ = true;
    frozen_hooks_ = std::move(frozen_hooks);
  }
  ctx.complete();
}

void exec_writer::on_thaw(writer_context ctx) {
  finish(ctx, thaw_frozen(writer_event::thaw, environment(ctx)));
}

void exec_writer::on_abort(writer_context ctx) {
  const auto env = environment(ctx);
  outcome o = thaw_frozen(writer_event::abort, env);
  merge(o, run_event_command(writer_event::abort, env));
  finish(ctx, o);
}

void exec_writer::on_backup_shutdown(writer_context ctx) {
  const auto env = environment(ctx);
  outcome o = thaw_frozen(writer_event::backup_shutdown, env);
  merge(o, run_event_command(writer_event::backup_shutdown, env));
  finish(ctx, o);
}

}  // namespace vss::exec
