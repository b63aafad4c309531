#include "daemon/config.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <limits>
#include <map>
#include <regex>
#include <system_error>
#include <tuple>
#include <utility>

#include "core/utf8.hpp"

namespace vss::daemon {

namespace {

// A problem with one line; parse_config adds the `<file>:<line>: ` prefix.
struct line_problem {
  std::string text;
};

constexpr std::array<std::string_view, 7> severity_names{"trace", "debug",    "info", "warn",
                                                         "error", "critical", "off"};

constexpr std::array<std::string_view, 4> provider_kind_names{"btrfs", "reflink", "command",
                                                              "memory"};

bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// The problem text for a value the key does not accept.
line_problem bad_value(std::string_view key, std::string_view value, std::string_view expected) {
  return {"bad value " + quoted(value) + " for " + std::string(key) + ": expected " +
          std::string(expected)};
}

std::string range_text(value_range r) {
  return std::to_string(r.min) + ".." + std::to_string(r.max);
}

bool all_digits(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::uint64_t parse_number(std::string_view key, std::string_view value, value_range range) {
  if (!all_digits(value)) {
    throw bad_value(key, value, "a whole number in " + range_text(range));
  }
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec == std::errc::result_out_of_range || n < range.min || n > range.max) {
    throw line_problem{std::string(key) + " = " + std::string(value) +
                       " is out of range: expected " + range_text(range)};
  }
  return n;
}

std::chrono::milliseconds parse_ms(std::string_view key, std::string_view value,
                                   value_range range = duration_ms_range) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(parse_number(key, value, range)));
}

// An absolute path; empty is accepted when `empty_means` says what it stands for.
std::string parse_path(std::string_view key, std::string_view value,
                       std::string_view empty_means = {}) {
  if (value.empty() && !empty_means.empty()) return {};
  if (value.empty() || value.front() != '/') {
    throw bad_value(key, value,
                    empty_means.empty()
                        ? std::string("an absolute path")
                        : "an absolute path, or empty for " + std::string(empty_means));
  }
  return std::string(value);
}

std::vector<provider_kind> parse_providers(std::string_view key, std::string_view value) {
  if (trim(value).empty()) {
    throw bad_value(key, value,
                    "at least one of btrfs, reflink, command, memory, comma-separated in order "
                    "of preference");
  }
  std::vector<provider_kind> kinds;
  std::string_view rest = value;
  for (;;) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = trim(rest.substr(0, comma));
    if (item.empty()) {
      throw bad_value(key, value,
                      "a comma-separated list of btrfs, reflink, command, memory without empty "
                      "entries");
    }
    const auto it = std::find(provider_kind_names.begin(), provider_kind_names.end(), item);
    if (it == provider_kind_names.end()) {
      throw line_problem{"unknown provider " + quoted(item) + " in " + std::string(key) +
                         ": expected btrfs, reflink, command or memory"};
    }
    const auto kind = static_cast<provider_kind>(it - provider_kind_names.begin());
    if (std::find(kinds.begin(), kinds.end(), kind) != kinds.end()) {
      throw line_problem{"provider " + quoted(item) + " is listed twice in " + std::string(key) +
                         ": expected each provider at most once"};
    }
    kinds.push_back(kind);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return kinds;
}

std::string print_providers(const std::vector<provider_kind>& kinds) {
  // Only a config built in code can hold no provider; "" then fails to parse back, as it
  // should.
  if (kinds.empty()) return "\"\"";
  std::string out;
  for (const provider_kind kind : kinds) {
    if (!out.empty()) out += ", ";
    out += to_string(kind);
  }
  return out;
}

// A shell line; a value of blanks only would run nothing and "succeed".
std::string parse_command(std::string_view key, std::string_view value) {
  if (!value.empty() && trim(value).empty()) {
    throw bad_value(key, value, "a command line for /bin/sh -c, or empty for none");
  }
  return std::string(value);
}

bool parse_bool(std::string_view key, std::string_view value) {
  if (value == "true") return true;
  if (value == "false") return false;
  throw bad_value(key, value, "true or false");
}

// Runs a getpw*_r / getgr*_r style call, growing the buffer on ERANGE. Returns the call's
// error (0 on success, also when the entry does not exist: then *result is null).
template <class Entry, class Call>
int lookup_entry(Entry& entry, Entry*& result, std::vector<char>& buffer, int size_name,
                 Call call) {
  const long hint = ::sysconf(size_name);
  buffer.resize(hint > 0 ? static_cast<std::size_t>(hint) : 4096);
  for (;;) {
    const int rc = call(&entry, buffer.data(), buffer.size(), &result);
    if (rc == ERANGE && buffer.size() < (std::size_t{64} << 20)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    // POSIX lets an implementation report "no such entry" with these instead of 0 + null.
    if (rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM) {
      result = nullptr;
      return 0;
    }
    return rc;
  }
}

enum class id_kind { user, group };

// A uid or gid: a number, or a name resolved through NSS.
std::uint32_t parse_id(std::string_view key, std::string_view item, id_kind kind) {
  const bool user = kind == id_kind::user;
  const char* what = user ? "user" : "group";
  if (all_digits(item)) {
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), n);
    // (uid_t)-1 / (gid_t)-1 mean "no id" to chown and setreuid: never a real account.
    constexpr std::uint64_t max_id = std::numeric_limits<std::uint32_t>::max() - 1;
    if (ec == std::errc::result_out_of_range || n > max_id) {
      throw line_problem{"bad " + std::string(user ? "uid " : "gid ") + std::string(item) + " in " +
                         std::string(key) + ": expected 0.." + std::to_string(max_id) + " or a " +
                         what + " name"};
    }
    return static_cast<std::uint32_t>(n);
  }
  const std::string name(item);
  std::vector<char> buffer;
  int rc = 0;
  std::optional<std::uint32_t> id;
  if (user) {
    passwd entry{};
    passwd* result = nullptr;
    rc = lookup_entry(entry, result, buffer, _SC_GETPW_R_SIZE_MAX,
                      [&](passwd* e, char* b, std::size_t n, passwd** r) {
                        return ::getpwnam_r(name.c_str(), e, b, n, r);
                      });
    if (rc == 0 && result != nullptr) id = result->pw_uid;
  } else {
    group entry{};
    group* result = nullptr;
    rc = lookup_entry(entry, result, buffer, _SC_GETGR_R_SIZE_MAX,
                      [&](group* e, char* b, std::size_t n, group** r) {
                        return ::getgrnam_r(name.c_str(), e, b, n, r);
                      });
    if (rc == 0 && result != nullptr) id = result->gr_gid;
  }
  if (rc != 0) {
    throw line_problem{"cannot look up " + std::string(what) + " " + quoted(item) + " for " +
                       std::string(key) + ": " +
                       std::error_code(rc, std::generic_category()).message()};
  }
  if (!id) {
    throw line_problem{"unknown " + std::string(what) + " " + quoted(item) + " in " +
                       std::string(key) + ": expected " + what + " names or numeric " +
                       (user ? "uids" : "gids")};
  }
  return *id;
}

template <class Id>
std::vector<Id> parse_id_list(std::string_view key, std::string_view value, id_kind kind) {
  std::vector<Id> ids;
  if (value.empty()) return ids;
  std::string_view rest = value;
  for (;;) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = trim(rest.substr(0, comma));
    if (item.empty()) {
      throw bad_value(key, value,
                      std::string("a comma-separated list of ") +
                          (kind == id_kind::user ? "user names or uids" : "group names or gids") +
                          " without empty entries");
    }
    ids.push_back(static_cast<Id>(parse_id(key, item, kind)));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return ids;
}

template <class Id>
std::string print_id_list(const std::vector<Id>& ids) {
  if (ids.empty()) return "\"\"";
  std::string out;
  for (const Id id : ids) {
    if (!out.empty()) out += ", ";
    out += std::to_string(id);
  }
  return out;
}

std::string print_quoted(const std::string& text) {
  // Quoting keeps a '#' or an empty value intact; a value with a '"' cannot be quoted (there
  // are no escapes) and reads back unquoted: parsing never gives one that starts with '"' or
  // holds a '#' after a blank.
  if (text.find('"') != std::string::npos) return text;
  return "\"" + text + "\"";
}

std::string print_ms(std::chrono::milliseconds ms) { return std::to_string(ms.count()); }

// One config key: how to set it from a value and how to print it back.
struct key_spec {
  std::string_view name;
  void (*parse)(daemon_config&, std::string_view key, std::string_view value);
  std::string (*print)(const daemon_config&);
};

// The order of contrib/openvssd.conf and of describe().
const std::array<key_spec, 36> key_specs{{
    {"socket_path",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.socket_path = parse_path(k, v);
       constexpr std::size_t max_len = sizeof(sockaddr_un::sun_path) - 1;
       if (c.socket_path.size() > max_len) {
         throw bad_value(k, v,
                         "an absolute path of at most " + std::to_string(max_len) +
                             " bytes (a Unix socket address), not " +
                             std::to_string(c.socket_path.size()));
       }
     },
     [](const daemon_config& c) { return print_quoted(c.socket_path); }},
    {"socket_mode",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       const bool octal =
           !v.empty() && v.size() <= 4 &&
           std::all_of(v.begin(), v.end(), [](char d) { return d >= '0' && d <= '7'; });
       unsigned mode = 0;
       if (octal) std::from_chars(v.data(), v.data() + v.size(), mode, 8);
       if (!octal || mode > 0777) {
         throw bad_value(k, v, "an octal mode in 0000..0777, such as 0660");
       }
       c.socket_mode = static_cast<mode_t>(mode);
     },
     [](const daemon_config& c) {
       std::array<char, 8> digits{};
       const auto end = std::to_chars(digits.data(), digits.data() + digits.size(),
                                      static_cast<unsigned>(c.socket_mode), 8)
                            .ptr;
       std::string text(digits.data(), end);
       return std::string(4 - std::min<std::size_t>(4, text.size()), '0') + text;
     }},
    {"socket_group",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       if (v.empty()) {
         c.socket_group.reset();
       } else {
         c.socket_group = static_cast<gid_t>(parse_id(k, v, id_kind::group));
       }
     },
     [](const daemon_config& c) {
       return c.socket_group ? std::to_string(*c.socket_group) : std::string("\"\"");
     }},
    {"requester_uids",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.requester_uids = parse_id_list<uid_t>(k, v, id_kind::user);
     },
     [](const daemon_config& c) { return print_id_list(c.requester_uids); }},
    {"requester_gids",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.requester_gids = parse_id_list<gid_t>(k, v, id_kind::group);
     },
     [](const daemon_config& c) { return print_id_list(c.requester_gids); }},
    {"writer_uids",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.writer_uids = parse_id_list<uid_t>(k, v, id_kind::user);
     },
     [](const daemon_config& c) { return print_id_list(c.writer_uids); }},
    {"writer_gids",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.writer_gids = parse_id_list<gid_t>(k, v, id_kind::group);
     },
     [](const daemon_config& c) { return print_id_list(c.writer_gids); }},
    {"max_frame_bytes",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.max_frame_bytes = parse_number(k, v, max_frame_bytes_range);
     },
     [](const daemon_config& c) { return std::to_string(c.max_frame_bytes); }},
    {"max_connections",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.max_connections = parse_number(k, v, max_connections_range);
     },
     [](const daemon_config& c) { return std::to_string(c.max_connections); }},
    {"heartbeat_ms",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.heartbeat = parse_ms(k, v, heartbeat_ms_range);
     },
     [](const daemon_config& c) { return print_ms(c.heartbeat); }},
    {"io_threads",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.io_threads = static_cast<unsigned>(parse_number(k, v, io_threads_range));
     },
     [](const daemon_config& c) { return std::to_string(c.io_threads); }},
    {"pin_io_threads",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.pin_io_threads = parse_bool(k, v);
     },
     [](const daemon_config& c) { return std::string(c.pin_io_threads ? "true" : "false"); }},
    {"log_level",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       const auto it = std::find(severity_names.begin(), severity_names.end(), v);
       if (it == severity_names.end()) {
         throw bad_value(k, v, "one of trace, debug, info, warn, error, critical, off");
       }
       c.log_level = static_cast<log_severity>(it - severity_names.begin());
     },
     [](const daemon_config& c) { return std::string(to_string(c.log_level)); }},
    {"log_file",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.log_file = parse_path(k, v, "stderr");
     },
     [](const daemon_config& c) { return print_quoted(c.log_file); }},
    {"state_dir",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.state_dir = parse_path(k, v);
     },
     [](const daemon_config& c) { return print_quoted(c.state_dir); }},
    {"hold_budget_ms",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.hold_budget = parse_ms(k, v);
     },
     [](const daemon_config& c) { return print_ms(c.hold_budget); }},
    {"overlap",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       if (v == "reject") {
         c.overlap = vss::overlap_policy::reject;
       } else if (v == "wait") {
         c.overlap = vss::overlap_policy::wait;
       } else {
         throw bad_value(k, v, "reject or wait");
       }
     },
     [](const daemon_config& c) {
       return std::string(c.overlap == vss::overlap_policy::wait ? "wait" : "reject");
     }},
    {"identify_timeout_ms",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.deadlines.identify = parse_ms(k, v);
     },
     [](const daemon_config& c) { return print_ms(c.deadlines.identify); }},
    {"prepare_backup_timeout_ms",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.deadlines.prepare_backup = parse_ms(k, v);
     },
     [](const daemon_config& c) { return print_ms(c.deadlines.prepare_backup); }},
    {"prepare_snapshot_timeout_ms",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.deadlines.prepare_snapshot = parse_ms(k, v);
     },
     [](const daemon_config& c) { return print_ms(c.deadlines.prepare_snapshot); }},
    {"thaw_timeout_ms",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.deadlines.thaw = parse_ms(k, v);
     },
     [](const daemon_config& c) { return print_ms(c.deadlines.thaw); }},
    {"post_snapshot_timeout_ms",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.deadlines.post_snapshot = parse_ms(k, v);
     },
     [](const daemon_config& c) { return print_ms(c.deadlines.post_snapshot); }},
    {"backup_complete_timeout_ms",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.deadlines.backup_complete = parse_ms(k, v);
     },
     [](const daemon_config& c) { return print_ms(c.deadlines.backup_complete); }},
    {"abort_timeout_ms",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.deadlines.abort = parse_ms(k, v);
     },
     [](const daemon_config& c) { return print_ms(c.deadlines.abort); }},
    {"backup_shutdown_timeout_ms",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.deadlines.backup_shutdown = parse_ms(k, v);
     },
     [](const daemon_config& c) { return print_ms(c.deadlines.backup_shutdown); }},
    {"provider_step_timeout_ms",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.deadlines.provider_step = parse_ms(k, v);
     },
     [](const daemon_config& c) { return print_ms(c.deadlines.provider_step); }},
    {"providers",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.providers = parse_providers(k, v);
     },
     [](const daemon_config& c) { return print_providers(c.providers); }},
    {"btrfs_snapshot_dir",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.btrfs_snapshot_dir = parse_path(k, v, "the provider's default");
     },
     [](const daemon_config& c) { return print_quoted(c.btrfs_snapshot_dir); }},
    {"reflink_snapshot_root",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.reflink_snapshot_root = parse_path(k, v, "the provider's default");
     },
     [](const daemon_config& c) { return print_quoted(c.reflink_snapshot_root); }},
    {"command_create",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.command_create = parse_command(k, v);
     },
     [](const daemon_config& c) { return print_quoted(c.command_create); }},
    {"command_remove",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.command_remove = parse_command(k, v);
     },
     [](const daemon_config& c) { return print_quoted(c.command_remove); }},
    {"command_list",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.command_list = parse_command(k, v);
     },
     [](const daemon_config& c) { return print_quoted(c.command_list); }},
    {"command_device",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       if (trim(v).empty()) {
         throw bad_value(k, v, "a device template such as {volume}@{name} or /dev/vg0/{name}");
       }
       c.command_device = std::string(v);
     },
     [](const daemon_config& c) { return print_quoted(c.command_device); }},
    {"command_timeout_ms",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.command_timeout = parse_ms(k, v);
     },
     [](const daemon_config& c) { return print_ms(c.command_timeout); }},
    {"command_hold",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       c.command_hold = parse_bool(k, v);
     },
     [](const daemon_config& c) { return std::string(c.command_hold ? "true" : "false"); }},
    {"command_supports",
     [](daemon_config& c, std::string_view k, std::string_view v) {
       try {
         // The flags of command_provider's own std::regex, so that what loads here builds there.
         const std::regex check(v.begin(), v.end(), std::regex::ECMAScript);
       } catch (const std::regex_error& e) {
         throw bad_value(k, v, std::string("an ECMAScript regular expression (") + e.what() + ")");
       }
       c.command_supports = std::string(v);
     },
     [](const daemon_config& c) { return print_quoted(c.command_supports); }},
}};

// Names people reach for that are too far from the key for the edit distance: the provider
// header calls the remove template `delete`, and the two snapshot locations follow their
// providers' option names (snapshot_dir, snapshot_root), easy to swap.
constexpr std::array<std::pair<std::string_view, std::string_view>, 4> key_aliases{{
    {"command_delete", "command_remove"},
    {"command_destroy", "command_remove"},
    {"btrfs_snapshot_root", "btrfs_snapshot_dir"},
    {"reflink_snapshot_dir", "reflink_snapshot_root"},
}};

// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::string unknown_key_problem(std::string_view key) {
  std::string lowered(key);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // Allow more typos in longer keys: "heartbeat" for "heartbeat_ms" is 3 edits away.
  const std::size_t allowed = key.size() >= 9 ? 3 : key.size() >= 5 ? 2 : 1;
  std::string_view best;
  std::size_t best_distance = allowed + 1;
  for (const auto& [alias, name] : key_aliases) {
    if (lowered == alias) {
      best = name;
      best_distance = 0;
    }
  }
  for (const key_spec& spec : key_specs) {
    const std::size_t distance = edit_distance(lowered, spec.name);
    if (distance < best_distance) {
      best = spec.name;
      best_distance = distance;
    }
  }
  std::string problem = "unknown key " + quoted(key);
  if (!best.empty()) problem += " (did you mean " + quoted(best) + "?)";
  return problem;
}

void check_characters(std::string_view line) {
  for (std::size_t i = 0; i < line.size();) {
    const unsigned char c = static_cast<unsigned char>(line[i]);
    if ((c < 0x20 && c != '\t' && c != '\r' && c != '\v' && c != '\f') || c == 0x7F) {
      static constexpr char hex[] = "0123456789abcdef";
      throw line_problem{std::string("line contains the control character 0x") + hex[c >> 4] +
                         hex[c & 0xF]};
    }
    const std::size_t n = detail::utf8_sequence_length(line, i);
    if (n == 0) throw line_problem{"line is not valid UTF-8"};
    i += n;
  }
}

// The value of one `key = value` line: `rest` is what follows the '='. `space_before` says
// whether whitespace preceded `rest` (a '#' right after "= " starts a comment).
std::string_view parse_value(std::string_view key, std::string_view rest) {
  const bool space_before = !rest.empty() && is_space(rest.front());
  rest = trim(rest);
  if (!rest.empty() && rest.front() == '"') {
    const std::size_t close = rest.find('"', 1);
    if (close == std::string_view::npos) {
      throw line_problem{"unterminated double quote in the value of " + std::string(key)};
    }
    const std::string_view tail = trim(rest.substr(close + 1));
    if (!tail.empty() && tail.front() != '#') {
      throw line_problem{"unexpected text " + quoted(tail) +
                         " after the closing double quote of the value of " + std::string(key)};
    }
    return rest.substr(1, close - 1);
  }
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '#' && (i == 0 ? space_before : is_space(rest[i - 1]))) {
      return trim(rest.substr(0, i));
    }
  }
  return rest;
}

// The checks that need the whole file. `seen` gives the line of each key set in it.
void check_across_keys(const daemon_config& config,
                       const std::map<std::string_view, std::size_t>& seen,
                       std::string_view file_name) {
  const auto line_of = [&](std::string_view key) {
    const auto it = seen.find(key);
    return it == seen.end() ? std::size_t{0} : it->second;
  };
  const bool runs_command = std::find(config.providers.begin(), config.providers.end(),
                                      provider_kind::command) != config.providers.end();
  if (runs_command && (config.command_create.empty() || config.command_remove.empty())) {
    const char* missing = config.command_create.empty() && config.command_remove.empty()
                              ? "both are empty"
                          : config.command_create.empty() ? "command_create is empty"
                                                          : "command_remove is empty";
    throw config_error(std::string(file_name), line_of("providers"),
                       std::string("providers lists command, which needs command_create and "
                                   "command_remove (") +
                           missing + ")");
  }
}

}  // namespace

std::string_view to_string(log_severity severity) noexcept {
  const auto index = static_cast<std::size_t>(severity);
  return index < severity_names.size() ? severity_names[index] : std::string_view("unknown");
}

std::string_view to_string(provider_kind kind) noexcept {
  const auto index = static_cast<std::size_t>(kind);
  return index < provider_kind_names.size() ? provider_kind_names[index]
                                            : std::string_view("unknown");
}

bool operator==(const daemon_config& a, const daemon_config& b) noexcept {
  const auto deadlines = [](const vss::phase_deadlines& d) {
    return std::tie(d.identify, d.prepare_backup, d.prepare_snapshot, d.thaw, d.post_snapshot,
                    d.backup_complete, d.abort, d.backup_shutdown, d.provider_step);
  };
  const auto members = [](const daemon_config& c) {
    return std::tie(c.socket_path, c.socket_mode, c.socket_group, c.requester_uids,
                    c.requester_gids, c.writer_uids, c.writer_gids, c.max_frame_bytes,
                    c.max_connections, c.heartbeat, c.io_threads, c.pin_io_threads, c.log_level,
                    c.log_file, c.state_dir, c.hold_budget, c.overlap, c.providers,
                    c.btrfs_snapshot_dir, c.reflink_snapshot_root, c.command_create,
                    c.command_remove, c.command_list, c.command_device, c.command_timeout,
                    c.command_hold, c.command_supports);
  };
  return members(a) == members(b) && deadlines(a.deadlines) == deadlines(b.deadlines);
}

config_error::config_error(std::string file_name, std::size_t line_number, std::string problem_text)
    : std::runtime_error(file_name + ":" +
                         (line_number > 0 ? std::to_string(line_number) + ": " : " ") +
                         problem_text),
      file(std::move(file_name)),
      line(line_number),
      problem(std::move(problem_text)) {}

daemon_config parse_config(std::string_view text, std::string_view file_name) {
  daemon_config config;
  std::map<std::string_view, std::size_t> seen;  // key -> line it was set on
  std::size_t line_number = 0;
  constexpr std::string_view bom = "\xEF\xBB\xBF";
  if (text.substr(0, bom.size()) == bom) text.remove_prefix(bom.size());
  while (!text.empty()) {
    ++line_number;
    const std::size_t newline = text.find('\n');
    const std::string_view raw = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    try {
      check_characters(raw);
      const std::string_view line = trim(raw);
      if (line.empty() || line.front() == '#') continue;
      const std::size_t eq = line.find('=');
      for (std::size_t i = 1; i < std::min(eq, line.size()); ++i) {
        if (line[i] == '#' && is_space(line[i - 1])) {
          throw line_problem{"expected 'key = value', found no '='"};
        }
      }
      if (eq == std::string_view::npos) throw line_problem{"expected 'key = value', found no '='"};
      const std::string_view key = trim(line.substr(0, eq));
      if (key.empty()) throw line_problem{"expected 'key = value', found no key before '='"};
      const auto spec = std::find_if(key_specs.begin(), key_specs.end(),
                                     [&](const key_spec& s) { return s.name == key; });
      if (spec == key_specs.end()) throw line_problem{unknown_key_problem(key)};
      if (const auto [it, inserted] = seen.emplace(spec->name, line_number); !inserted) {
        throw line_problem{"duplicate key " + quoted(key) + " (already set on line " +
                           std::to_string(it->second) + ")"};
      }
      spec->parse(config, spec->name, parse_value(spec->name, line.substr(eq + 1)));
    } catch (line_problem& p) {
      throw config_error(std::string(file_name), line_number, std::move(p.text));
    }
  }
  check_across_keys(config, seen, file_name);
  return config;
}

daemon_config load_config(const std::string& path) {
  const auto fail = [&](int error) {
    return config_error(
        path, 0, "cannot read: " + std::error_code(error, std::generic_category()).message());
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw fail(errno);
  // A config file is a few KiB; the cap keeps a mistaken path (/dev/zero) from eating memory.
  constexpr std::size_t max_size = std::size_t{1} << 20;
  std::string text;
  std::array<char, 16384> chunk;
  for (;;) {
    const ssize_t n = ::read(fd, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      throw fail(error);
    }
    if (n == 0) break;
    text.append(chunk.data(), static_cast<std::size_t>(n));
    if (text.size() > max_size) {
      ::close(fd);
      throw fail(EFBIG);
    }
  }
  ::close(fd);
  return parse_config(text, path);
}

vss::engine_options to_engine_options(const daemon_config& config) {
  vss::engine_options options;
  options.shard_count = config.io_threads;
  options.deadlines = config.deadlines;
  options.hold_budget = config.hold_budget;
  options.overlap = config.overlap;
  return options;
}

std::string describe(const daemon_config& config) {
  std::string out = "# openvssd effective configuration\n";
  for (const key_spec& spec : key_specs) {
    out += spec.name;
    out += " = ";
    out += spec.print(config);
    out += '\n';
  }
  return out;
}

}  // namespace vss::daemon
