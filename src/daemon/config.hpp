#pragma once
// The configuration of openvssd: the daemon_config values, the parser of the config file
// (contrib/openvssd.conf documents every key) and the mapping onto vss::engine_options.
//
// File format: UTF-8 text, one `key = value` per line; `#` starts a comment when it begins the
// line or follows whitespace (outside a double-quoted value); blank lines are ignored; keys and
// values are trimmed; a value may be enclosed in double quotes (no escapes: the value ends at
// the next `"`). Lists are comma-separated; an empty value is an empty list. Any problem (an
// unknown or duplicate key, a line without '=', a bad or out-of-range value, an unknown user
// or group name) stops loading with a config_error whose text is `<file>:<line>: <problem>`.
//
// A few checks span keys and run once the whole file is read: `providers` listing command
// needs command_create and command_remove (the error names the `providers` line).
//
// Thread-safety: the functions are reentrant (names are resolved with getpwnam_r and
// getgrnam_r). Resolving a name may block on NSS (LDAP, ...): load the config at start-up.

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "vss/options.hpp"

namespace vss::daemon {

/// Verbosity of the daemon log: the spdlog levels, spelled as in the config file.
enum class log_severity : std::uint8_t { trace, debug, info, warn, error, critical, off };

/// The config-file spelling of `severity` ("trace", ..., "off").
std::string_view to_string(log_severity severity) noexcept;

/// A snapshot provider the daemon can run (provider_setup.hpp builds them).
enum class provider_kind : std::uint8_t {
  btrfs,    ///< vss::btrfs_provider: btrfs subvolumes, read-only btrfs snapshots.
  reflink,  ///< vss::reflink_provider: directory trees, reflinked (or copied) trees.
  command,  ///< vss::command_provider: snapshots made by the command_* templates (LVM, ZFS).
  memory,   ///< vss::memory_provider: snapshot records in the daemon's memory only (tests).
};

/// The config-file spelling of `kind` ("btrfs", "reflink", "command", "memory").
std::string_view to_string(provider_kind kind) noexcept;

/// Accepted range of a numeric key: both bounds inclusive.
struct value_range {
  std::uint64_t min;
  std::uint64_t max;
};

/// Bounds of the numeric keys. A phase deadline or the hold budget longer than a day is
/// almost surely a unit mistake (seconds or microseconds written as milliseconds), and the
/// bound keeps deadline arithmetic far from overflow.
inline constexpr value_range max_frame_bytes_range{1024, 16 * 1024 * 1024};
inline constexpr value_range max_connections_range{1, 65535};
inline constexpr value_range heartbeat_ms_range{10, 60'000};
inline constexpr value_range io_threads_range{1, 64};
inline constexpr value_range duration_ms_range{1, 86'400'000};

/// Everything openvssd reads from its config file. Every member has the default the daemon
/// uses when the key is absent.
struct daemon_config {
  /// Key `socket_path`: the Unix stream socket writers and requesters connect to. Absolute,
  /// at most 107 bytes (sockaddr_un). Default: /run/openvss/openvss.sock.
  std::string socket_path = "/run/openvss/openvss.sock";

  /// Key `socket_mode`: permission bits of the socket, octal in the file (at most 0777).
  /// Default: 0660.
  mode_t socket_mode = 0660;

  /// Key `socket_group`: group of the socket, a group name (resolved at load) or a gid; an
  /// empty value means none. Default: none (the group the daemon creates it with).
  std::optional<gid_t> socket_group;

  /// Keys `requester_uids` / `requester_gids`: peers allowed to connect in the requester
  /// role (see peer_credentials.hpp). Names are resolved at load. Default: uid 0, no gids.
  std::vector<uid_t> requester_uids{0};
  std::vector<gid_t> requester_gids;

  /// Keys `writer_uids` / `writer_gids`: peers allowed to connect in the writer role.
  /// Default: uid 0, no gids.
  std::vector<uid_t> writer_uids{0};
  std::vector<gid_t> writer_gids;

  /// Key `max_frame_bytes`: largest frame payload accepted or sent (docs/ipc-protocol.md).
  /// Range: 1024..16777216. Default: 1048576 (1 MiB).
  std::size_t max_frame_bytes = 1'048'576;

  /// Key `max_connections`: open connections beyond this get `server_busy`.
  /// Range: 1..65535. Default: 256.
  std::size_t max_connections = 256;

  /// Key `heartbeat_ms`: period of `heartbeat` frames on writer connections.
  /// Range: 10..60000. Default: 1000.
  std::chrono::milliseconds heartbeat{1000};

  /// Key `io_threads`: threads running the daemon's io_context (and engine shards).
  /// Range: 1..64. Default: 2.
  unsigned io_threads = 2;

  /// Key `pin_io_threads`: true|false, host_options::pin_io_threads (each io thread pinned to
  /// its own CPU; docs/decisions.md §39). Default: false.
  bool pin_io_threads = false;

  /// Key `log_level`: trace|debug|info|warn|error|critical|off. Default: info.
  log_severity log_level = log_severity::info;

  /// Key `log_file`: absolute path of the log file; empty means stderr. Default: empty.
  std::string log_file;

  /// Key `state_dir`: absolute directory of the snapshot catalog and other durable state.
  /// Default: /var/lib/openvss.
  std::string state_dir = "/var/lib/openvss";

  /// Key `hold_budget_ms`: engine_options::hold_budget. Range: 1..86400000. Default: 10000.
  std::chrono::milliseconds hold_budget{10'000};

  /// Key `overlap`: reject|wait, engine_options::overlap. Default: reject.
  vss::overlap_policy overlap = vss::overlap_policy::reject;

  /// Keys `identify_timeout_ms`, `prepare_backup_timeout_ms`, `prepare_snapshot_timeout_ms`,
  /// `thaw_timeout_ms`, `post_snapshot_timeout_ms`, `backup_complete_timeout_ms`,
  /// `abort_timeout_ms`, `backup_shutdown_timeout_ms`, `provider_step_timeout_ms`: the
  /// engine's phase deadlines. Range: 1..86400000 each. Default: see vss::phase_deadlines.
  vss::phase_deadlines deadlines{};

  /// Key `providers`: the providers to run, comma-separated, in order of preference: a volume
  /// added to a snapshot set without a provider choice goes to the first of them whose
  /// is_volume_supported accepts it. At least one, no repeats. Default: btrfs, reflink.
  std::vector<provider_kind> providers{provider_kind::btrfs, provider_kind::reflink};

  /// Key `btrfs_snapshot_dir`: btrfs_provider_options::snapshot_dir, an absolute path; empty
  /// means the provider's default (<parent of the volume>/.openvss-snapshots). Default: empty.
  std::string btrfs_snapshot_dir;

  /// Key `reflink_snapshot_root`: reflink_provider_options::snapshot_root, an absolute path;
  /// empty means the provider's default (<parent of the volume>/.openvss-snapshots).
  /// Default: empty.
  std::string reflink_snapshot_root;

  /// Keys `command_create`, `command_remove`, `command_list`: the command provider's
  /// templates, each one line run by /bin/sh -c (command_provider.hpp lists the
  /// placeholders). create and remove are required when `providers` lists command; list is
  /// needed to take snapshots back after a restart. Default: empty (no command).
  std::string command_create;
  std::string command_remove;
  std::string command_list;

  /// Key `command_device`: command_provider_options::device_template, not empty.
  /// Default: {volume}@{name}.
  std::string command_device = "{volume}@{name}";

  /// Key `command_timeout_ms`: the longest run of each command. Range: 1..86400000.
  /// Default: 10000.
  std::chrono::milliseconds command_timeout{10'000};

  /// Key `command_hold`: true|false, command_provider_options::hold (the engine freezes the
  /// set's volumes, which must be mount points, around the commit). Default: false.
  bool command_hold = false;

  /// Key `command_supports`: an ECMAScript regular expression a volume must match as a whole
  /// for the command provider to take it; checked at load. Empty means every non-empty
  /// volume. Default: empty.
  std::string command_supports;

  /// Member-wise equality (phase_deadlines has no operator==, so this is not defaulted).
  friend bool operator==(const daemon_config& a, const daemon_config& b) noexcept;
};

/// A config file that cannot be used. what() is `<file>:<line>: <problem>`, or
/// `<file>: <problem>` when the problem concerns the whole file (line 0).
struct config_error : std::runtime_error {
  config_error(std::string file_name, std::size_t line_number, std::string problem_text);

  std::string file;     ///< The file name as given to parse_config / load_config.
  std::size_t line;     ///< 1-based line of the problem; 0 for the whole file.
  std::string problem;  ///< The message without the `<file>:<line>: ` prefix.
};

/// Parses config text; `file_name` only prefixes error messages. Keys absent from the text
/// keep their defaults. Throws config_error on the first problem.
daemon_config parse_config(std::string_view text, std::string_view file_name);

/// Reads and parses the file at `path`. Throws config_error, also when the file cannot be
/// read: "<path>: cannot read: <strerror>".
daemon_config load_config(const std::string& path);

/// The engine options the config implies: deadlines, hold_budget, overlap, and shard_count =
/// io_threads (one writer shard per thread running the executor). Other options keep their
/// defaults; clock and blocking_executor are the daemon's to set.
vss::engine_options to_engine_options(const daemon_config& config);

/// The effective config in the file format, every key in the order of contrib/openvssd.conf
/// (for `openvssd --print-config`). Names appear as the numbers they resolved to. Parsing the
/// result gives back `config`.
std::string describe(const daemon_config& config);

}  // namespace vss::daemon
