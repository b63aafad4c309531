#include "daemon/config.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace vss::daemon {
namespace {

using std::chrono::milliseconds;

// The exact what() of the config_error that parsing `text` as "test.conf" throws, or "no
// error" when it parses.
std::string error_of(std::string_view text) {
  try {
    parse_config(text, "test.conf");
  } catch (const config_error& e) {
    return e.what();
  }
  return "no error";
}

std::filesystem::path contrib_config_path() {
  return std::filesystem::path(OPENVSS_SOURCE_DIR) / "contrib" / "openvssd.conf";
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A temporary file, removed at scope exit.
class temp_file {
 public:
  explicit temp_file(std::string_view contents) {
    std::string name = (std::filesystem::temp_directory_path() / "openvssd-conf-XXXXXX").string();
    const int fd = ::mkstemp(name.data());
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, contents.data(), contents.size()), static_cast<ssize_t>(contents.size()));
    ::close(fd);
    path_ = name;
  }
  ~temp_file() { std::filesystem::remove(path_); }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A config where every key differs from its default.
constexpr std::string_view every_key_text = R"(socket_path = /tmp/openvss-test.sock
socket_mode = 0600
socket_group = 5
requester_uids = 1000, 1001
requester_gids = 34
writer_uids = 0, 2000
writer_gids = 35, 36, 37
max_frame_bytes = 65536
max_connections = 12
heartbeat_ms = 250
io_threads = 4
pin_io_threads = true
log_level = debug
log_file = /var/log/openvssd.log
state_dir = /srv/openvss
hold_budget_ms = 8000
overlap = wait
identify_timeout_ms = 1001
prepare_backup_timeout_ms = 1002
prepare_snapshot_timeout_ms = 1003
thaw_timeout_ms = 1004
post_snapshot_timeout_ms = 1005
backup_complete_timeout_ms = 1006
abort_timeout_ms = 1007
backup_shutdown_timeout_ms = 1008
provider_step_timeout_ms = 1009
providers = command, memory, btrfs
btrfs_snapshot_dir = /srv/.snapshots
reflink_snapshot_root = "/srv/reflink snapshots"
command_create = out=$(zfs snapshot {volume}@{name} 2>&1) && exit 0; echo "$out"; exit 1
command_remove = "zfs destroy {volume}@{name}"
command_list = zfs list -H -t snapshot -o name -d 1 {volume}
command_device = /{volume}/.zfs/snapshot/{name}
command_timeout_ms = 2500
command_hold = true
command_supports = tank(/.*)?
)";

// The smallest text that lists the command provider.
constexpr std::string_view command_keys =
    "command_create = zfs snapshot {volume}@{name}\n"
    "command_remove = zfs destroy {volume}@{name}\n";

TEST(DaemonConfig, DefaultsAreTheDocumentedValues) {
  const daemon_config c;
  EXPECT_EQ(c.socket_path, "/run/openvss/openvss.sock");
  EXPECT_EQ(c.socket_mode, 0660u);
  EXPECT_FALSE(c.socket_group.has_value());
  EXPECT_EQ(c.requester_uids, std::vector<uid_t>{0});
  EXPECT_TRUE(c.requester_gids.empty());
  EXPECT_EQ(c.writer_uids, std::vector<uid_t>{0});
  EXPECT_TRUE(c.writer_gids.empty());
  EXPECT_EQ(c.max_frame_bytes, 1048576u);
  EXPECT_EQ(c.max_connections, 256u);
  EXPECT_EQ(c.heartbeat, milliseconds(1000));
  EXPECT_EQ(c.io_threads, 2u);
  EXPECT_FALSE(c.pin_io_threads);
  EXPECT_EQ(c.log_level, log_severity::info);
  EXPECT_EQ(c.log_file, "");
  EXPECT_EQ(c.state_dir, "/var/lib/openvss");
  EXPECT_EQ(c.hold_budget, milliseconds(10'000));
  EXPECT_EQ(c.overlap, vss::overlap_policy::reject);
  const vss::phase_deadlines engine_defaults;
  EXPECT_EQ(c.deadlines.identify, engine_defaults.identify);
  EXPECT_EQ(c.deadlines.prepare_backup, engine_defaults.prepare_backup);
  EXPECT_EQ(c.deadlines.prepare_snapshot, engine_defaults.prepare_snapshot);
  EXPECT_EQ(c.deadlines.thaw, engine_defaults.thaw);
  EXPECT_EQ(c.deadlines.post_snapshot, engine_defaults.post_snapshot);
  EXPECT_EQ(c.deadlines.backup_complete, engine_defaults.backup_complete);
  EXPECT_EQ(c.deadlines.abort, engine_defaults.abort);
  EXPECT_EQ(c.deadlines.backup_shutdown, engine_defaults.backup_shutdown);
  EXPECT_EQ(c.deadlines.provider_step, engine_defaults.provider_step);
  EXPECT_EQ(c.providers,
            (std::vector<provider_kind>{provider_kind::btrfs, provider_kind::reflink}));
  EXPECT_EQ(c.btrfs_snapshot_dir, "");
  EXPECT_EQ(c.reflink_snapshot_root, "");
  EXPECT_EQ(c.command_create, "");
  EXPECT_EQ(c.command_remove, "");
  EXPECT_EQ(c.command_list, "");
  EXPECT_EQ(c.command_device, "{volume}@{name}");
  EXPECT_EQ(c.command_timeout, milliseconds(10'000));
  EXPECT_FALSE(c.command_hold);
  EXPECT_EQ(c.command_supports, "");
}

TEST(DaemonConfig, EmptyTextGivesTheDefaults) {
  EXPECT_EQ(parse_config("", "test.conf"), daemon_config{});
  EXPECT_EQ(parse_config("\n\n# only comments\n   \n", "test.conf"), daemon_config{});
}

TEST(DaemonConfig, EveryKeyIsParsed) {
  const daemon_config c = parse_config(every_key_text, "test.conf");
  EXPECT_EQ(c.socket_path, "/tmp/openvss-test.sock");
  EXPECT_EQ(c.socket_mode, 0600u);
  EXPECT_EQ(c.socket_group, std::optional<gid_t>(5));
  EXPECT_EQ(c.requester_uids, (std::vector<uid_t>{1000, 1001}));
  EXPECT_EQ(c.requester_gids, (std::vector<gid_t>{34}));
  EXPECT_EQ(c.writer_uids, (std::vector<uid_t>{0, 2000}));
  EXPECT_EQ(c.writer_gids, (std::vector<gid_t>{35, 36, 37}));
  EXPECT_EQ(c.max_frame_bytes, 65536u);
  EXPECT_EQ(c.max_connections, 12u);
  EXPECT_EQ(c.heartbeat, milliseconds(250));
  EXPECT_EQ(c.io_threads, 4u);
  EXPECT_TRUE(c.pin_io_threads);
  EXPECT_EQ(c.log_level, log_severity::debug);
  EXPECT_EQ(c.log_file, "/var/log/openvssd.log");
  EXPECT_EQ(c.state_dir, "/srv/openvss");
  EXPECT_EQ(c.hold_budget, milliseconds(8000));
  EXPECT_EQ(c.overlap, vss::overlap_policy::wait);
  EXPECT_EQ(c.deadlines.identify, milliseconds(1001));
  EXPECT_EQ(c.deadlines.prepare_backup, milliseconds(1002));
  EXPECT_EQ(c.deadlines.prepare_snapshot, milliseconds(1003));
  EXPECT_EQ(c.deadlines.thaw, milliseconds(1004));
  EXPECT_EQ(c.deadlines.post_snapshot, milliseconds(1005));
  EXPECT_EQ(c.deadlines.backup_complete, milliseconds(1006));
  EXPECT_EQ(c.deadlines.abort, milliseconds(1007));
  EXPECT_EQ(c.deadlines.backup_shutdown, milliseconds(1008));
  EXPECT_EQ(c.deadlines.provider_step, milliseconds(1009));
  EXPECT_EQ(c.providers, (std::vector<provider_kind>{provider_kind::command, provider_kind::memory,
                                                     provider_kind::btrfs}));
  EXPECT_EQ(c.btrfs_snapshot_dir, "/srv/.snapshots");
  EXPECT_EQ(c.reflink_snapshot_root, "/srv/reflink snapshots");
  EXPECT_EQ(c.command_create,
            "out=$(zfs snapshot {volume}@{name} 2>&1) && exit 0; echo \"$out\"; exit 1");
  EXPECT_EQ(c.command_remove, "zfs destroy {volume}@{name}");
  EXPECT_EQ(c.command_list, "zfs list -H -t snapshot -o name -d 1 {volume}");
  EXPECT_EQ(c.command_device, "/{volume}/.zfs/snapshot/{name}");
  EXPECT_EQ(c.command_timeout, milliseconds(2500));
  EXPECT_TRUE(c.command_hold);
  EXPECT_EQ(c.command_supports, "tank(/.*)?");
}

TEST(DaemonConfig, EveryProviderNameIsAcceptedInTheGivenOrder) {
  const std::pair<std::string_view, provider_kind> kinds[] = {{"btrfs", provider_kind::btrfs},
                                                              {"reflink", provider_kind::reflink},
                                                              {"command", provider_kind::command},
                                                              {"memory", provider_kind::memory}};
  for (const auto& [name, kind] : kinds) {
    EXPECT_EQ(
        parse_config(std::string(command_keys) + "providers = " + std::string(name), "t").providers,
        std::vector<provider_kind>{kind})
        << name;
    EXPECT_EQ(to_string(kind), name);
  }
  EXPECT_EQ(
      parse_config(std::string(command_keys) + "providers =  memory ,command,reflink,  btrfs", "t")
          .providers,
      (std::vector<provider_kind>{provider_kind::memory, provider_kind::command,
                                  provider_kind::reflink, provider_kind::btrfs}));
  EXPECT_EQ(parse_config("providers = \"reflink\"", "t").providers,
            std::vector<provider_kind>{provider_kind::reflink});
}

TEST(DaemonConfig, EmptySnapshotLocationsMeanTheProvidersDefaults) {
  const daemon_config c =
      parse_config("btrfs_snapshot_dir = /a\nreflink_snapshot_root = /b\n", "t");
  EXPECT_EQ(c.btrfs_snapshot_dir, "/a");
  EXPECT_EQ(c.reflink_snapshot_root, "/b");
  const daemon_config cleared =
      parse_config("btrfs_snapshot_dir = \"\"\nreflink_snapshot_root =\n", "t");
  EXPECT_EQ(cleared.btrfs_snapshot_dir, "");
  EXPECT_EQ(cleared.reflink_snapshot_root, "");
}

TEST(DaemonConfig, CommandTemplatesKeepQuotesAndHashesThatAreNotComments) {
  const daemon_config c = parse_config(
      "command_create = lvcreate -s -n {name} \"$(findmnt -no SOURCE {volume})\"\n"
      "command_remove = \"lvremove --yes {device} # not a comment\"\n"
      "command_list = lvs --noheadings vg0 # a comment\n"
      "command_supports = \"vg0/[^/#]+\"\n",
      "t");
  EXPECT_EQ(c.command_create, "lvcreate -s -n {name} \"$(findmnt -no SOURCE {volume})\"");
  EXPECT_EQ(c.command_remove, "lvremove --yes {device} # not a comment");
  EXPECT_EQ(c.command_list, "lvs --noheadings vg0");
  EXPECT_EQ(c.command_supports, "vg0/[^/#]+");
}

TEST(DaemonConfig, CommandHoldIsTrueOrFalse) {
  EXPECT_TRUE(parse_config("command_hold = true", "t").command_hold);
  EXPECT_FALSE(parse_config("command_hold = false", "t").command_hold);
}

TEST(DaemonConfig, CommandTimeoutAcceptsItsWholeRange) {
  EXPECT_EQ(parse_config("command_timeout_ms = 1", "t").command_timeout, milliseconds(1));
  EXPECT_EQ(parse_config("command_timeout_ms = 86400000", "t").command_timeout,
            milliseconds(86'400'000));
}

TEST(DaemonConfig, TheCommandKeysMayComeBeforeOrAfterTheProvidersLine) {
  const daemon_config before =
      parse_config(std::string(command_keys) + "providers = command\n", "t");
  const daemon_config after =
      parse_config("providers = command\n" + std::string(command_keys), "t");
  EXPECT_EQ(before, after);
  EXPECT_EQ(after.command_create, "zfs snapshot {volume}@{name}");
}

TEST(DaemonConfig, CommandTemplatesMayStayEmptyWhenCommandIsNotListed) {
  const daemon_config c = parse_config("providers = btrfs, memory\ncommand_create = true\n", "t");
  EXPECT_EQ(c.command_create, "true");
  EXPECT_EQ(c.command_remove, "");
}

TEST(DaemonConfig, EveryLogLevelNameIsAccepted) {
  const std::pair<std::string_view, log_severity> levels[] = {
      {"trace", log_severity::trace}, {"debug", log_severity::debug},
      {"info", log_severity::info},   {"warn", log_severity::warn},
      {"error", log_severity::error}, {"critical", log_severity::critical},
      {"off", log_severity::off}};
  for (const auto& [name, level] : levels) {
    EXPECT_EQ(parse_config("log_level = " + std::string(name), "t").log_level, level) << name;
    EXPECT_EQ(to_string(level), name);
  }
}

TEST(DaemonConfig, NumbersAtTheEdgesOfTheirRangesAreAccepted) {
  const daemon_config low = parse_config(
      "max_frame_bytes = 1024\nmax_connections = 1\nheartbeat_ms = 10\nio_threads = 1\n"
      "hold_budget_ms = 1\nabort_timeout_ms = 1\nsocket_mode = 0\n",
      "t");
  EXPECT_EQ(low.max_frame_bytes, 1024u);
  EXPECT_EQ(low.max_connections, 1u);
  EXPECT_EQ(low.heartbeat, milliseconds(10));
  EXPECT_EQ(low.io_threads, 1u);
  EXPECT_EQ(low.hold_budget, milliseconds(1));
  EXPECT_EQ(low.deadlines.abort, milliseconds(1));
  EXPECT_EQ(low.socket_mode, 0u);
  const daemon_config high = parse_config(
      "max_frame_bytes = 16777216\nmax_connections = 65535\nheartbeat_ms = 60000\n"
      "io_threads = 64\nhold_budget_ms = 86400000\nabort_timeout_ms = 86400000\n"
      "socket_mode = 777\n",
      "t");
  EXPECT_EQ(high.max_frame_bytes, 16777216u);
  EXPECT_EQ(high.max_connections, 65535u);
  EXPECT_EQ(high.heartbeat, milliseconds(60'000));
  EXPECT_EQ(high.io_threads, 64u);
  EXPECT_EQ(high.hold_budget, milliseconds(86'400'000));
  EXPECT_EQ(high.deadlines.abort, milliseconds(86'400'000));
  EXPECT_EQ(high.socket_mode, 0777u);
}

TEST(DaemonConfig, CommentsQuotesAndWhitespaceAreHandled) {
  const daemon_config c = parse_config(
      "# a whole-line comment\n"
      "   # an indented comment\n"
      "\n"
      "\t heartbeat_ms\t=\t250   # a trailing comment\n"
      "io_threads=3\n"
      "socket_path = \"/tmp/with space #not-a-comment.sock\"   # comment after quotes\n"
      "state_dir = /srv/a#b\n"
      "log_file = \"/var/log/x.log\"# comment right after the quote\n"
      "requester_uids =   10 ,20,  30   \n"
      "log_level = \"warn\"\n"
      "writer_uids = # nobody by uid\n",
      "t");
  EXPECT_EQ(c.heartbeat, milliseconds(250));
  EXPECT_EQ(c.io_threads, 3u);
  EXPECT_EQ(c.socket_path, "/tmp/with space #not-a-comment.sock");
  EXPECT_EQ(c.state_dir, "/srv/a#b");
  EXPECT_EQ(c.log_file, "/var/log/x.log");
  EXPECT_EQ(c.requester_uids, (std::vector<uid_t>{10, 20, 30}));
  EXPECT_EQ(c.log_level, log_severity::warn);
  EXPECT_TRUE(c.writer_uids.empty());
}

TEST(DaemonConfig, CrlfLineEndingsAndAByteOrderMarkAreAccepted) {
  const daemon_config c = parse_config("\xEF\xBB\xBFheartbeat_ms = 20\r\nio_threads = 5\r\n", "t");
  EXPECT_EQ(c.heartbeat, milliseconds(20));
  EXPECT_EQ(c.io_threads, 5u);
}

TEST(DaemonConfig, NonAsciiUtf8IsAcceptedInValues) {
  EXPECT_EQ(parse_config("state_dir = /srv/sauvegardé/日本\n", "t").state_dir,
            "/srv/sauvegardé/日本");
}

TEST(DaemonConfig, EmptyValuesClearListsAndTheSocketGroup) {
  const daemon_config c = parse_config(
      "requester_uids = \"\"\nwriter_uids =\nsocket_group = \"\"\nlog_file = \"\"\n", "t");
  EXPECT_TRUE(c.requester_uids.empty());
  EXPECT_TRUE(c.writer_uids.empty());
  EXPECT_FALSE(c.socket_group.has_value());
  EXPECT_EQ(c.log_file, "");
}

TEST(DaemonConfig, UserAndGroupNamesAreResolved) {
  const daemon_config c = parse_config(
      "requester_uids = root, 1000\nwriter_uids = \"root\"\nrequester_gids = root\n"
      "writer_gids = 7, root\nsocket_group = root\n",
      "t");
  EXPECT_EQ(c.requester_uids, (std::vector<uid_t>{0, 1000}));
  EXPECT_EQ(c.writer_uids, (std::vector<uid_t>{0}));
  EXPECT_EQ(c.requester_gids, (std::vector<gid_t>{0}));
  EXPECT_EQ(c.writer_gids, (std::vector<gid_t>{7, 0}));
  EXPECT_EQ(c.socket_group, std::optional<gid_t>(0));
}

TEST(DaemonConfigErrors, AMisspelledKeySuggestsTheClosestKnownKey) {
  EXPECT_EQ(error_of("io_threads = 2\nhearbeat_ms = 5\n"),
            "test.conf:2: unknown key 'hearbeat_ms' (did you mean 'heartbeat_ms'?)");
  EXPECT_EQ(error_of("heartbeat = 5"),
            "test.conf:1: unknown key 'heartbeat' (did you mean 'heartbeat_ms'?)");
  EXPECT_EQ(error_of("Log_Level = info"),
            "test.conf:1: unknown key 'Log_Level' (did you mean 'log_level'?)");
  EXPECT_EQ(error_of("overlpa = wait"),
            "test.conf:1: unknown key 'overlpa' (did you mean 'overlap'?)");
}

TEST(DaemonConfigErrors, MisspeltProviderKeysGetSuggestions) {
  EXPECT_EQ(error_of("provider = btrfs"),
            "test.conf:1: unknown key 'provider' (did you mean 'providers'?)");
  EXPECT_EQ(error_of("command_timeout = 5"),
            "test.conf:1: unknown key 'command_timeout' (did you mean 'command_timeout_ms'?)");
  EXPECT_EQ(error_of("btrfs_snapshot_root = /s"),
            "test.conf:1: unknown key 'btrfs_snapshot_root' (did you mean "
            "'btrfs_snapshot_dir'?)");
  EXPECT_EQ(error_of("reflink_snapshot_dir = /s"),
            "test.conf:1: unknown key 'reflink_snapshot_dir' (did you mean "
            "'reflink_snapshot_root'?)");
  EXPECT_EQ(error_of("command_delete = true"),
            "test.conf:1: unknown key 'command_delete' (did you mean 'command_remove'?)");
  EXPECT_EQ(error_of("Command_Destroy = true"),
            "test.conf:1: unknown key 'Command_Destroy' (did you mean 'command_remove'?)");
}

TEST(DaemonConfigErrors, AnUnknownKeyFarFromEveryKnownKeyGetsNoSuggestion) {
  EXPECT_EQ(error_of("colour = blue"), "test.conf:1: unknown key 'colour'");
}

TEST(DaemonConfigErrors, ADuplicateKeyNamesTheLineThatSetItFirst) {
  EXPECT_EQ(error_of("io_threads = 2\n# comment\n\nio_threads = 2\n"),
            "test.conf:4: duplicate key 'io_threads' (already set on line 1)");
}

TEST(DaemonConfigErrors, ALineWithoutAnEqualsSignIsRejected) {
  EXPECT_EQ(error_of("\nheartbeat_ms 100\n"), "test.conf:2: expected 'key = value', found no '='");
  EXPECT_EQ(error_of("heartbeat_ms # = 100\n"),
            "test.conf:1: expected 'key = value', found no '='");
  EXPECT_EQ(error_of("  = 100\n"), "test.conf:1: expected 'key = value', found no key before '='");
}

TEST(DaemonConfigErrors, ANonNumberNamesTheKeyAndTheRange) {
  EXPECT_EQ(error_of("heartbeat_ms = fast"),
            "test.conf:1: bad value 'fast' for heartbeat_ms: expected a whole number in "
            "10..60000");
  EXPECT_EQ(error_of("io_threads = -1"),
            "test.conf:1: bad value '-1' for io_threads: expected a whole number in 1..64");
  EXPECT_EQ(error_of("max_connections = 1e3"),
            "test.conf:1: bad value '1e3' for max_connections: expected a whole number in "
            "1..65535");
  EXPECT_EQ(error_of("thaw_timeout_ms = "),
            "test.conf:1: bad value '' for thaw_timeout_ms: expected a whole number in "
            "1..86400000");
  EXPECT_EQ(error_of("hold_budget_ms = 10 s"),
            "test.conf:1: bad value '10 s' for hold_budget_ms: expected a whole number in "
            "1..86400000");
}

TEST(DaemonConfigErrors, AnOutOfRangeNumberNamesTheKeyAndTheRange) {
  EXPECT_EQ(error_of("heartbeat_ms = 5"),
            "test.conf:1: heartbeat_ms = 5 is out of range: expected 10..60000");
  EXPECT_EQ(error_of("heartbeat_ms = 60001"),
            "test.conf:1: heartbeat_ms = 60001 is out of range: expected 10..60000");
  EXPECT_EQ(error_of("max_frame_bytes = 1023"),
            "test.conf:1: max_frame_bytes = 1023 is out of range: expected 1024..16777216");
  EXPECT_EQ(error_of("max_frame_bytes = 16777217"),
            "test.conf:1: max_frame_bytes = 16777217 is out of range: expected 1024..16777216");
  EXPECT_EQ(error_of("max_connections = 0"),
            "test.conf:1: max_connections = 0 is out of range: expected 1..65535");
  EXPECT_EQ(error_of("io_threads = 65"),
            "test.conf:1: io_threads = 65 is out of range: expected 1..64");
  EXPECT_EQ(error_of("identify_timeout_ms = 0"),
            "test.conf:1: identify_timeout_ms = 0 is out of range: expected 1..86400000");
  EXPECT_EQ(error_of("provider_step_timeout_ms = 99999999999999999999999"),
            "test.conf:1: provider_step_timeout_ms = 99999999999999999999999 is out of range: "
            "expected 1..86400000");
}

TEST(DaemonConfigErrors, EveryDeadlineKeyRejectsZero) {
  for (const char* key :
       {"identify_timeout_ms", "prepare_backup_timeout_ms", "prepare_snapshot_timeout_ms",
        "thaw_timeout_ms", "post_snapshot_timeout_ms", "backup_complete_timeout_ms",
        "abort_timeout_ms", "backup_shutdown_timeout_ms", "provider_step_timeout_ms",
        "hold_budget_ms"}) {
    EXPECT_EQ(error_of(std::string(key) + " = 0"),
              "test.conf:1: " + std::string(key) + " = 0 is out of range: expected 1..86400000");
  }
}

TEST(DaemonConfigErrors, AnUnknownWordListsTheAcceptedValues) {
  EXPECT_EQ(error_of("log_level = verbose"),
            "test.conf:1: bad value 'verbose' for log_level: expected one of trace, debug, info, "
            "warn, error, critical, off");
  EXPECT_EQ(error_of("log_level = INFO"),
            "test.conf:1: bad value 'INFO' for log_level: expected one of trace, debug, info, "
            "warn, error, critical, off");
  EXPECT_EQ(error_of("overlap = queue"),
            "test.conf:1: bad value 'queue' for overlap: expected reject or wait");
}

TEST(DaemonConfigErrors, AProviderListNamesKnownProvidersOnceEach) {
  EXPECT_EQ(error_of("providers = btrfs, zfs"),
            "test.conf:1: unknown provider 'zfs' in providers: expected btrfs, reflink, command "
            "or memory");
  EXPECT_EQ(error_of("providers = Btrfs"),
            "test.conf:1: unknown provider 'Btrfs' in providers: expected btrfs, reflink, "
            "command or memory");
  EXPECT_EQ(error_of("providers = reflink, btrfs, reflink"),
            "test.conf:1: provider 'reflink' is listed twice in providers: expected each "
            "provider at most once");
  EXPECT_EQ(error_of("providers = btrfs,,reflink"),
            "test.conf:1: bad value 'btrfs,,reflink' for providers: expected a comma-separated "
            "list of btrfs, reflink, command, memory without empty entries");
  EXPECT_EQ(error_of("providers = btrfs,"),
            "test.conf:1: bad value 'btrfs,' for providers: expected a comma-separated list of "
            "btrfs, reflink, command, memory without empty entries");
}

TEST(DaemonConfigErrors, AnEmptyProviderListIsRejected) {
  const std::string expected =
      "' for providers: expected at least one of btrfs, reflink, command, memory, "
      "comma-separated in order of preference";
  EXPECT_EQ(error_of("providers ="), "test.conf:1: bad value '" + expected);
  EXPECT_EQ(error_of("providers = \"  \""), "test.conf:1: bad value '  " + expected);
}

TEST(DaemonConfigErrors, SnapshotLocationsMustBeAbsolute) {
  EXPECT_EQ(error_of("btrfs_snapshot_dir = .snapshots"),
            "test.conf:1: bad value '.snapshots' for btrfs_snapshot_dir: expected an absolute "
            "path, or empty for the provider's default");
  EXPECT_EQ(error_of("reflink_snapshot_root = srv/snap"),
            "test.conf:1: bad value 'srv/snap' for reflink_snapshot_root: expected an absolute "
            "path, or empty for the provider's default");
}

TEST(DaemonConfigErrors, ACommandOfBlanksOnlyIsRejected) {
  for (const char* key : {"command_create", "command_remove", "command_list"}) {
    EXPECT_EQ(error_of(std::string(key) + " = \"   \""),
              "test.conf:1: bad value '   ' for " + std::string(key) +
                  ": expected a command line for /bin/sh -c, or empty for none");
  }
}

TEST(DaemonConfigErrors, ACommandDeviceTemplateCannotBeEmpty) {
  EXPECT_EQ(error_of("command_device = \"\""),
            "test.conf:1: bad value '' for command_device: expected a device template such as "
            "{volume}@{name} or /dev/vg0/{name}");
}

TEST(DaemonConfigErrors, ACommandTimeoutOutOfRangeIsRejected) {
  EXPECT_EQ(error_of("command_timeout_ms = 0"),
            "test.conf:1: command_timeout_ms = 0 is out of range: expected 1..86400000");
  EXPECT_EQ(error_of("command_timeout_ms = 86400001"),
            "test.conf:1: command_timeout_ms = 86400001 is out of range: expected 1..86400000");
  EXPECT_EQ(error_of("command_timeout_ms = 10s"),
            "test.conf:1: bad value '10s' for command_timeout_ms: expected a whole number in "
            "1..86400000");
}

TEST(DaemonConfigErrors, CommandHoldAndPinIoThreadsTakeOnlyTrueOrFalse) {
  for (const std::string key : {"command_hold", "pin_io_threads"}) {
    for (const char* value : {"yes", "1", "TRUE", "on", ""}) {
      EXPECT_EQ(error_of(key + " = " + std::string(value)), "test.conf:1: bad value '" +
                                                                std::string(value) + "' for " +
                                                                key + ": expected true or false");
    }
  }
}

TEST(DaemonConfigErrors, AnInvalidSupportsExpressionIsRejectedAtItsLine) {
  // The reason comes from std::regex_error::what(), whose words belong to the library.
  const std::string prefix =
      "test.conf:3: bad value 'vg0/(data' for command_supports: expected an ECMAScript regular "
      "expression (";
  const std::string error =
      error_of(std::string(command_keys) + "command_supports = vg0/(data\nproviders = command\n");
  EXPECT_EQ(error.substr(0, prefix.size()), prefix) << error;
  EXPECT_EQ(error.back(), ')') << error;
  EXPECT_GT(error.size(), prefix.size() + 1) << error;
  // Also when the command provider is not listed: the value is wrong all the same.
  EXPECT_NE(error_of("command_supports = [a-"), "no error");
  EXPECT_EQ(error_of("command_supports = \"\""), "no error");
}

TEST(DaemonConfigErrors, ListingCommandWithoutItsCommandsNamesTheProvidersLine) {
  EXPECT_EQ(error_of("io_threads = 2\nproviders = btrfs, command\n"),
            "test.conf:2: providers lists command, which needs command_create and "
            "command_remove (both are empty)");
  EXPECT_EQ(error_of("providers = command\ncommand_create = zfs snapshot {volume}@{name}\n"),
            "test.conf:1: providers lists command, which needs command_create and "
            "command_remove (command_remove is empty)");
  EXPECT_EQ(error_of("command_remove = zfs destroy {volume}@{name}\n\n\nproviders = command\n"),
            "test.conf:4: providers lists command, which needs command_create and "
            "command_remove (command_create is empty)");
}

TEST(DaemonConfigErrors, TheCrossKeyErrorCarriesFileAndLine) {
  try {
    parse_config("# c\nproviders = memory, command\n", "/etc/openvss/openvssd.conf");
    FAIL() << "no error";
  } catch (const config_error& e) {
    EXPECT_EQ(e.file, "/etc/openvss/openvssd.conf");
    EXPECT_EQ(e.line, 2u);
    EXPECT_EQ(e.problem,
              "providers lists command, which needs command_create and command_remove (both "
              "are empty)");
  }
}

TEST(DaemonConfigErrors, AnErrorOnALineComesBeforeTheCrossKeyCheck) {
  EXPECT_EQ(error_of("providers = command\nio_threads = 0\n"),
            "test.conf:2: io_threads = 0 is out of range: expected 1..64");
}

TEST(DaemonConfigErrors, ASocketModeMustBeOctalAndAtMost0777) {
  const std::string expected = ": expected an octal mode in 0000..0777, such as 0660";
  EXPECT_EQ(error_of("socket_mode = 0980"),
            "test.conf:1: bad value '0980' for socket_mode" + expected);
  EXPECT_EQ(error_of("socket_mode = 1777"),
            "test.conf:1: bad value '1777' for socket_mode" + expected);
  EXPECT_EQ(error_of("socket_mode = 00660"),
            "test.conf:1: bad value '00660' for socket_mode" + expected);
  EXPECT_EQ(error_of("socket_mode = rw-rw----"),
            "test.conf:1: bad value 'rw-rw----' for socket_mode" + expected);
}

TEST(DaemonConfigErrors, PathsMustBeAbsolute) {
  EXPECT_EQ(error_of("socket_path = run/openvss.sock"),
            "test.conf:1: bad value 'run/openvss.sock' for socket_path: expected an absolute "
            "path");
  EXPECT_EQ(error_of("state_dir = \"\""),
            "test.conf:1: bad value '' for state_dir: expected an absolute path");
  EXPECT_EQ(error_of("log_file = openvssd.log"),
            "test.conf:1: bad value 'openvssd.log' for log_file: expected an absolute path, or "
            "empty for stderr");
}

TEST(DaemonConfigErrors, ASocketPathLongerThanASocketAddressIsRejected) {
  const std::string longest = "/" + std::string(106, 'a');
  EXPECT_EQ(parse_config("socket_path = " + longest, "t").socket_path, longest);
  const std::string too_long = longest + "a";
  EXPECT_EQ(error_of("socket_path = " + too_long),
            "test.conf:1: bad value '" + too_long +
                "' for socket_path: expected an absolute path of at most 107 bytes (a Unix "
                "socket address), not 108");
}

TEST(DaemonConfigErrors, AnUnknownUserOrGroupNameIsAnError) {
  EXPECT_EQ(error_of("requester_uids = 0, openvss-no-such-user"),
            "test.conf:1: unknown user 'openvss-no-such-user' in requester_uids: expected user "
            "names or numeric uids");
  EXPECT_EQ(error_of("writer_gids = openvss-no-such-group"),
            "test.conf:1: unknown group 'openvss-no-such-group' in writer_gids: expected group "
            "names or numeric gids");
  EXPECT_EQ(error_of("socket_group = openvss-no-such-group"),
            "test.conf:1: unknown group 'openvss-no-such-group' in socket_group: expected group "
            "names or numeric gids");
}

TEST(DaemonConfigErrors, AnIdThatIsNoAccountIsRejected) {
  EXPECT_EQ(error_of("writer_uids = 4294967295"),
            "test.conf:1: bad uid 4294967295 in writer_uids: expected 0..4294967294 or a user "
            "name");
  EXPECT_EQ(error_of("requester_gids = 99999999999999999999"),
            "test.conf:1: bad gid 99999999999999999999 in requester_gids: expected "
            "0..4294967294 or a group name");
}

TEST(DaemonConfigErrors, AnEmptyListEntryIsRejected) {
  EXPECT_EQ(error_of("requester_uids = 0,,1"),
            "test.conf:1: bad value '0,,1' for requester_uids: expected a comma-separated list "
            "of user names or uids without empty entries");
  EXPECT_EQ(error_of("writer_gids = 5,"),
            "test.conf:1: bad value '5,' for writer_gids: expected a comma-separated list of "
            "group names or gids without empty entries");
}

TEST(DaemonConfigErrors, BadQuotingIsRejected) {
  EXPECT_EQ(error_of("state_dir = \"/srv/openvss"),
            "test.conf:1: unterminated double quote in the value of state_dir");
  EXPECT_EQ(error_of("state_dir = \"/srv\"/openvss"),
            "test.conf:1: unexpected text '/openvss' after the closing double quote of the "
            "value of state_dir");
}

TEST(DaemonConfigErrors, InvalidUtf8AndControlCharactersAreRejected) {
  EXPECT_EQ(error_of("state_dir = /srv/\xC3\x28"), "test.conf:1: line is not valid UTF-8");
  EXPECT_EQ(error_of("# fine\nstate_dir = /srv/\xED\xA0\x80"),
            "test.conf:2: line is not valid UTF-8");
  EXPECT_EQ(error_of("state_dir = /srv/\x01x"),
            "test.conf:1: line contains the control character 0x01");
  EXPECT_EQ(error_of(std::string_view("state_dir = /srv\0/x", 19)),
            "test.conf:1: line contains the control character 0x00");
}

TEST(DaemonConfigErrors, TheErrorCarriesFileLineAndProblem) {
  try {
    parse_config("io_threads = 2\nio_threads = 0\n", "/etc/openvss/openvssd.conf");
    FAIL() << "no error";
  } catch (const config_error& e) {
    EXPECT_EQ(e.file, "/etc/openvss/openvssd.conf");
    EXPECT_EQ(e.line, 2u);
    EXPECT_EQ(e.problem, "duplicate key 'io_threads' (already set on line 1)");
    EXPECT_STREQ(e.what(),
                 "/etc/openvss/openvssd.conf:2: duplicate key 'io_threads' (already set on line "
                 "1)");
  }
}

TEST(DaemonConfigErrors, TheFirstProblemStopsLoading) {
  EXPECT_EQ(error_of("io_threads = 0\nheartbeat_ms = 1\n"),
            "test.conf:1: io_threads = 0 is out of range: expected 1..64");
}

TEST(LoadConfig, TheContribExampleLoadsAndStatesTheDefaults) {
  const daemon_config c = load_config(contrib_config_path().string());
  EXPECT_EQ(c, daemon_config{});
}

TEST(LoadConfig, TheContribExampleSetsEveryKey) {
  const std::string contrib = read_text(contrib_config_path());
  ASSERT_FALSE(contrib.empty());
  std::istringstream described(describe(daemon_config{}));
  std::string line;
  int keys = 0;
  while (std::getline(described, line)) {
    if (line.empty() || line.front() == '#') continue;
    const std::string key = line.substr(0, line.find(' '));
    EXPECT_NE(contrib.find("\n" + key + " = "), std::string::npos) << key;
    ++keys;
  }
  EXPECT_EQ(keys, 36);
}

TEST(LoadConfig, AFileIsParsedAndItsPathPrefixesErrors) {
  const temp_file good("heartbeat_ms = 40\n");
  EXPECT_EQ(load_config(good.path()).heartbeat, milliseconds(40));
  const temp_file bad("heartbeat_ms = 40\n\nheartbeat_ms = 50\n");
  try {
    load_config(bad.path());
    FAIL() << "no error";
  } catch (const config_error& e) {
    EXPECT_EQ(std::string(e.what()),
              bad.path() + ":3: duplicate key 'heartbeat_ms' (already set on line 1)");
  }
}

TEST(LoadConfig, AMissingFileIsReportedWithTheSystemError) {
  const std::string path = "/nonexistent-openvss-dir/openvssd.conf";
  try {
    load_config(path);
    FAIL() << "no error";
  } catch (const config_error& e) {
    EXPECT_EQ(std::string(e.what()), path + ": cannot read: No such file or directory");
    EXPECT_EQ(e.file, path);
    EXPECT_EQ(e.line, 0u);
  }
}

TEST(LoadConfig, ADirectoryIsReportedAsUnreadable) {
  const std::string path = std::filesystem::temp_directory_path().string();
  try {
    load_config(path);
    FAIL() << "no error";
  } catch (const config_error& e) {
    EXPECT_EQ(std::string(e.what()), path + ": cannot read: Is a directory");
  }
}

TEST(ToEngineOptions, DeadlinesHoldBudgetOverlapAndShardsAreMapped) {
  const daemon_config c = parse_config(every_key_text, "t");
  const vss::engine_options o = to_engine_options(c);
  EXPECT_EQ(o.deadlines.identify, milliseconds(1001));
  EXPECT_EQ(o.deadlines.prepare_backup, milliseconds(1002));
  EXPECT_EQ(o.deadlines.prepare_snapshot, milliseconds(1003));
  EXPECT_EQ(o.deadlines.thaw, milliseconds(1004));
  EXPECT_EQ(o.deadlines.post_snapshot, milliseconds(1005));
  EXPECT_EQ(o.deadlines.backup_complete, milliseconds(1006));
  EXPECT_EQ(o.deadlines.abort, milliseconds(1007));
  EXPECT_EQ(o.deadlines.backup_shutdown, milliseconds(1008));
  EXPECT_EQ(o.deadlines.provider_step, milliseconds(1009));
  EXPECT_EQ(o.hold_budget, milliseconds(8000));
  EXPECT_EQ(o.overlap, vss::overlap_policy::wait);
  EXPECT_EQ(o.shard_count, 4u);
  const vss::engine_options defaults;
  EXPECT_EQ(o.max_volumes_per_set, defaults.max_volumes_per_set);
  EXPECT_EQ(o.clock, nullptr);
}

TEST(Describe, TheDefaultsAreWrittenInTheFileFormat) {
  const std::string text = describe(daemon_config{});
  EXPECT_NE(text.find("\nsocket_path = \"/run/openvss/openvss.sock\"\n"), std::string::npos);
  EXPECT_NE(text.find("\nsocket_mode = 0660\n"), std::string::npos);
  EXPECT_NE(text.find("\nsocket_group = \"\"\n"), std::string::npos);
  EXPECT_NE(text.find("\nrequester_uids = 0\n"), std::string::npos);
  EXPECT_NE(text.find("\nrequester_gids = \"\"\n"), std::string::npos);
  EXPECT_NE(text.find("\nheartbeat_ms = 1000\n"), std::string::npos);
  EXPECT_NE(text.find("\nlog_level = info\n"), std::string::npos);
  EXPECT_NE(text.find("\noverlap = reject\n"), std::string::npos);
  EXPECT_NE(text.find("\nprovider_step_timeout_ms = 600000\n"), std::string::npos);
  EXPECT_NE(text.find("\nproviders = btrfs, reflink\n"), std::string::npos);
  EXPECT_NE(text.find("\nbtrfs_snapshot_dir = \"\"\n"), std::string::npos);
  EXPECT_NE(text.find("\ncommand_device = \"{volume}@{name}\"\n"), std::string::npos);
  EXPECT_NE(text.find("\ncommand_timeout_ms = 10000\n"), std::string::npos);
  EXPECT_NE(text.find("\ncommand_hold = false\n"), std::string::npos);
  EXPECT_NE(text.find("\npin_io_threads = false\n"), std::string::npos);
  EXPECT_NE(text.find("\ncommand_supports = \"\"\n"), std::string::npos);
  EXPECT_EQ(parse_config(text, "described"), daemon_config{});
}

TEST(Describe, ParsingTheDescriptionGivesBackTheConfig) {
  daemon_config c = parse_config(every_key_text, "t");
  c.state_dir = "/srv/odd #dir";
  c.socket_mode = 0007;
  const std::string text = describe(c);
  EXPECT_NE(text.find("\nsocket_mode = 0007\n"), std::string::npos);
  EXPECT_NE(text.find("\nwriter_gids = 35, 36, 37\n"), std::string::npos);
  EXPECT_NE(text.find("\nproviders = command, memory, btrfs\n"), std::string::npos);
  EXPECT_NE(text.find("\ncommand_hold = true\n"), std::string::npos);
  EXPECT_EQ(parse_config(text, "described"), c);
}

TEST(Describe, CommandTemplatesWithQuotesAndHashesSurviveTheRoundTrip) {
  daemon_config c = parse_config(
      "command_create = lvcreate -s -n {name} \"$(findmnt -no SOURCE {volume})\"\n"
      "command_remove = \"lvremove --yes {device} # a hash\"\n"
      "command_list = \"  lvs\"\n",
      "t");
  EXPECT_EQ(parse_config(describe(c), "described"), c);
}

TEST(DaemonConfig, EveryProviderKeyChangesEquality) {
  const daemon_config base;
  const auto differs = [&](auto change) {
    daemon_config c;
    change(c);
    return !(c == base);
  };
  EXPECT_TRUE(differs([](daemon_config& c) { c.providers = {provider_kind::memory}; }));
  EXPECT_TRUE(differs([](daemon_config& c) { c.btrfs_snapshot_dir = "/x"; }));
  EXPECT_TRUE(differs([](daemon_config& c) { c.reflink_snapshot_root = "/x"; }));
  EXPECT_TRUE(differs([](daemon_config& c) { c.command_create = "x"; }));
  EXPECT_TRUE(differs([](daemon_config& c) { c.command_remove = "x"; }));
  EXPECT_TRUE(differs([](daemon_config& c) { c.command_list = "x"; }));
  EXPECT_TRUE(differs([](daemon_config& c) { c.command_device = "x"; }));
  EXPECT_TRUE(differs([](daemon_config& c) { c.command_timeout = milliseconds(1); }));
  EXPECT_TRUE(differs([](daemon_config& c) { c.command_hold = true; }));
  EXPECT_TRUE(differs([](daemon_config& c) { c.command_supports = "x"; }));
  EXPECT_FALSE(differs([](daemon_config&) {}));
}

}  // namespace
}  // namespace vss::daemon
