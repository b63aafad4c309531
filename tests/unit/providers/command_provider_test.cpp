// The command provider with stand-in commands: a shell script, written by the test into its own
// temporary directory, logs its arguments and keeps one marker file per snapshot; files beside
// it make it fail with a chosen exit status or sleep.

#include "vss/providers/command_provider.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "vss/error.hpp"
#include "vss/types.hpp"

namespace vss {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// snap <action> <volume> <name> [more...]: logs "<action> [arg] [arg]...", then
//   create: fails with the status in exit-create-<volume>, sleeps sleep-create seconds, then
//           makes the marker snap-<volume>@<name>;
//   delete: fails with the status in exit-delete, exits 2 without a marker, else removes it;
//   list:   prints "<volume>@<name>" for each marker of <volume>.
constexpr const char* stand_in_script = R"sh(#!/bin/sh
dir="$(dirname "$0")"
action="$1"; shift
line="$action"
for a in "$@"; do line="$line [$a]"; done
echo "$line" >> "$dir/log"
case "$action" in
  create)
    if [ -f "$dir/exit-create-$1" ]; then
      echo "cannot snapshot $1"
      exit "$(cat "$dir/exit-create-$1")"
    fi
    if [ -f "$dir/sleep-create" ]; then sleep "$(cat "$dir/sleep-create")"; fi
    : > "$dir/snap-$1@$2" ;;
  delete)
    if [ -f "$dir/exit-delete" ]; then echo "cannot delete"; exit "$(cat "$dir/exit-delete")"; fi
    if [ ! -f "$dir/snap-$1@$2" ]; then echo "no such snapshot"; exit 2; fi
    rm "$dir/snap-$1@$2" ;;
  list)
    for f in "$dir"/snap-"$1"@*; do
      if [ -e "$f" ]; then echo "${f##*/snap-}"; fi
    done ;;
esac
)sh";

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class CommandProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "openvss-command-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    script_ = dir_ / "snap";
    write_file(script_, stand_in_script);
    fs::permissions(script_, fs::perms::owner_all);
    provider_ = make_provider(options());
  }

  void TearDown() override {
    provider_.reset();  // joins the worker: every queued completion has run
    for (const auto& calls : calls_) EXPECT_EQ(calls->load(), 1) << "a completion ran not once";
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  command_provider_options options() {
    command_provider_options o;
    o.id = provider_id_;
    o.create = {script_.string(), "create", "{volume}", "{name}", "{snapshot_id}", "{set_id}"};
    o.remove = {script_.string(), "delete", "{volume}", "{name}", "{device}"};
    o.list = {script_.string(), "list", "{volume}"};
    o.timeout = 5s;
    return o;
  }

  std::unique_ptr<command_provider> make_provider(command_provider_options o) {
    o.log = [this](std::string_view line) {
      std::lock_guard lock(log_mutex_);
      log_ += std::string(line) + "\n";
    };
    return std::make_unique<command_provider>(std::move(o));
  }

  std::error_code step(const std::function<void(provider::completion)>& start) {
    auto calls = std::make_shared<std::atomic<int>>(0);
    calls_.push_back(calls);
    auto done = std::make_shared<std::promise<std::error_code>>();
    auto result = done->get_future();
    start([calls, done](std::error_code ec) {
      if (calls->fetch_add(1) == 0) done->set_value(ec);
    });
    if (result.wait_for(30s) != std::future_status::ready) {
      ADD_FAILURE() << "step did not complete within 30 s";
      return errc::unexpected;
    }
    return result.get();
  }

  std::vector<snapshot_id> prepare(const std::vector<std::string>& volumes,
                                   std::uint32_t context = 0) {
    std::vector<snapshot_id> ids;
    for (const auto& v : volumes) {
      ids.push_back(snapshot_id::generate());
      EXPECT_FALSE(provider_->begin_prepare_snapshot(set_, ids.back(), v, context)) << v;
    }
    return ids;
  }

  std::error_code commit() {
    if (auto ec = step([&](auto d) { provider_->end_prepare_snapshots(set_, d); })) return ec;
    if (auto ec = step([&](auto d) { provider_->pre_commit_snapshots(set_, d); })) return ec;
    return step([&](auto d) { provider_->commit_snapshots(set_, d); });
  }

  void after_commit(std::int32_t count) {
    ASSERT_FALSE(step([&](auto d) { provider_->post_commit_snapshots(set_, count, d); }));
    ASSERT_FALSE(step([&](auto d) { provider_->pre_final_commit_snapshots(set_, d); }));
    ASSERT_FALSE(step([&](auto d) { provider_->post_final_commit_snapshots(set_, d); }));
  }

  std::vector<snapshot_id> create(const std::vector<std::string>& volumes,
                                  std::uint32_t context = 0) {
    auto ids = prepare(volumes, context);
    EXPECT_FALSE(commit());
    after_commit(static_cast<std::int32_t>(volumes.size()));
    return ids;
  }

  fs::path marker(const std::string& volume, const snapshot_id& id) const {
    return dir_ / ("snap-" + volume + "@" + command_provider::snapshot_name(id));
  }

  std::string command_log() const { return read_file(dir_ / "log"); }

  fs::path dir_;
  fs::path script_;
  provider_id provider_id_ = provider_id::generate();
  std::unique_ptr<command_provider> provider_;
  snapshot_set_id set_ = snapshot_set_id::generate();
  std::vector<std::shared_ptr<std::atomic<int>>> calls_;
  std::mutex log_mutex_;
  std::string log_;
};

TEST_F(CommandProviderTest, TheNameIsOpenvssAndTheFirstEightHexDigitsOfTheId) {
  const auto id = snapshot_id::from_u128(0x4f0c1e2a99887766, 0x5544332211000000);
  EXPECT_EQ(command_provider::snapshot_name(id), "openvss-4f0c1e2a");
}

TEST_F(CommandProviderTest, CommitCreatesEachVolumeWithThePlaceholdersExpanded) {
  const auto ids = prepare({"vol-a", "vol-b"});
  EXPECT_FALSE(fs::exists(dir_ / "log"));  // nothing runs before the commit
  ASSERT_FALSE(commit());
  after_commit(2);

  const std::string log = command_log();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::string volume = i == 0 ? "vol-a" : "vol-b";
    const std::string name = command_provider::snapshot_name(ids[i]);
    EXPECT_NE(log.find("create [" + volume + "] [" + name + "] [" + ids[i].to_string() + "] [" +
                       set_.to_string() + "]"),
              std::string::npos)
        << log;
    EXPECT_TRUE(fs::exists(marker(volume, ids[i])));
    snapshot_properties p;
    ASSERT_FALSE(provider_->get_snapshot_properties(ids[i], p));
    EXPECT_EQ(p.device, volume + "@" + name);  // the default device_template
    EXPECT_EQ(p.original_volume, volume);
    EXPECT_EQ(p.state, snapshot_state::created);
    EXPECT_EQ(p.snapshots_count, 2);
    EXPECT_EQ(p.provider, provider_id_);
    EXPECT_FALSE(
        any(static_cast<volume_attributes>(p.attributes) & volume_attributes::exposed_locally));
  }
  EXPECT_LT(log.find("[vol-a]"), log.find("[vol-b]"));  // in the order they were added
  EXPECT_EQ(provider_->query().size(), 2u);
  EXPECT_EQ(provider_->last_error(set_), "");
}

TEST_F(CommandProviderTest, AShellLineGetsQuotedValuesAndTheEnvironment) {
  auto o = options();
  o.create = "echo \"$OPENVSS_ACTION|$OPENVSS_VOLUME|$OPENVSS_NAME|$OPENVSS_DEVICE\" > '" +
             (dir_ / "env").string() + "' && '" + script_.string() + "' create {volume} {name}";
  o.device_template = "/dev/vg0/{name}";
  o.exposed_locally = true;
  provider_ = make_provider(o);
  // Unquoted, this would run `touch injected` and end the line with exit 9.
  const std::string volume = "it's $(touch injected) a volume; exit 9";
  const auto ids = create({volume});
  EXPECT_FALSE(fs::exists("injected"));

  const std::string name = command_provider::snapshot_name(ids[0]);
  EXPECT_NE(command_log().find("create [" + volume + "] [" + name + "]"), std::string::npos)
      << command_log();
  EXPECT_TRUE(fs::exists(marker(volume, ids[0])));
  EXPECT_EQ(read_file(dir_ / "env"), "create|" + volume + "|" + name + "|/dev/vg0/" + name + "\n");
  snapshot_properties p;
  ASSERT_FALSE(provider_->get_snapshot_properties(ids[0], p));
  EXPECT_EQ(p.device, "/dev/vg0/" + name);
  EXPECT_TRUE(
      any(static_cast<volume_attributes>(p.attributes) & volume_attributes::exposed_locally));
}

TEST_F(CommandProviderTest, UnknownBracesAreLeftAsTheyAre) {
  auto o = options();
  o.create = {script_.string(), "create", "{volume}", "{name}", "{unknown}", "{", "}{name"};
  provider_ = make_provider(o);
  const auto ids = create({"vol-a"});
  EXPECT_NE(command_log().find("[{unknown}] [{] [}{name]"), std::string::npos) << command_log();
}

struct exit_case {
  int exit_code;
  errc expected;
};

class CommandProviderExitTest : public CommandProviderTest,
                                public ::testing::WithParamInterface<exit_case> {};

TEST_P(CommandProviderExitTest, ACreateExitStatusMapsToAVssError) {
  write_file(dir_ / "exit-create-vol-a", std::to_string(GetParam().exit_code));
  prepare({"vol-a"});
  EXPECT_EQ(commit(), GetParam().expected);
  const std::string why = provider_->last_error(set_);
  EXPECT_NE(why.find("exit " + std::to_string(GetParam().exit_code)), std::string::npos) << why;
  EXPECT_NE(why.find("cannot snapshot vol-a"), std::string::npos) << why;  // the output
  EXPECT_TRUE(provider_->query().empty());
  EXPECT_FALSE(step([&](auto d) { provider_->abort_snapshots(set_, d); }));
}

INSTANTIATE_TEST_SUITE_P(Errno, CommandProviderExitTest,
                         ::testing::Values(exit_case{28, errc::insufficient_storage},
                                           exit_case{13, errc::access_denied},
                                           exit_case{2, errc::object_not_found},
                                           exit_case{1, errc::provider_veto},
                                           exit_case{12, errc::provider_veto}));

TEST_F(CommandProviderTest, AMissingProgramIsAVeto) {
  auto o = options();
  o.create = {(dir_ / "no-such-program").string(), "{volume}"};
  provider_ = make_provider(o);
  prepare({"vol-a"});
  EXPECT_EQ(commit(), errc::provider_veto);
  EXPECT_NE(provider_->last_error(set_).find("exit 127"), std::string::npos)
      << provider_->last_error(set_);
}

TEST_F(CommandProviderTest, AFailedSecondCreateDeletesTheFirst) {
  write_file(dir_ / "exit-create-vol-b", "1");
  const auto ids = prepare({"vol-a", "vol-b", "vol-c"});
  EXPECT_EQ(commit(), errc::provider_veto);

  const std::string log = command_log();
  EXPECT_NE(log.find("create [vol-a]"), std::string::npos) << log;
  EXPECT_NE(log.find("create [vol-b]"), std::string::npos) << log;
  EXPECT_EQ(log.find("create [vol-c]"), std::string::npos) << log;
  EXPECT_NE(log.find("delete [vol-a] [" + command_provider::snapshot_name(ids[0]) + "] [vol-a@"),
            std::string::npos)
      << log;
  EXPECT_LT(log.find("create [vol-b]"), log.find("delete [vol-a]"));
  EXPECT_FALSE(fs::exists(marker("vol-a", ids[0])));
  EXPECT_TRUE(provider_->query().empty());
  // The set is left to abort, which has nothing more to delete.
  EXPECT_FALSE(step([&](auto d) { provider_->abort_snapshots(set_, d); }));
  EXPECT_EQ(count_of(command_log(), "delete "), 1u);
}

TEST_F(CommandProviderTest, ACreateThatOutlivesTheTimeoutIsKilledAndFails) {
  auto o = options();
  o.timeout = 300ms;
  provider_ = make_provider(o);
  write_file(dir_ / "sleep-create", "20");
  const auto ids = prepare({"vol-a"});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(commit(), errc::provider_veto);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_NE(provider_->last_error(set_).find("timed out after 300 ms"), std::string::npos)
      << provider_->last_error(set_);
  EXPECT_FALSE(fs::exists(marker("vol-a", ids[0])));
}

TEST_F(CommandProviderTest, AbortAfterTheCommitDeletesEverySnapshotOfTheSet) {
  const auto ids = prepare({"vol-a", "vol-b"});
  ASSERT_FALSE(commit());
  ASSERT_TRUE(fs::exists(marker("vol-a", ids[0])));
  EXPECT_EQ(provider_->delete_snapshot(ids[0]), errc::bad_state);            // not created yet
  EXPECT_EQ(provider_->discard_snapshot(ids[0], "vol-a"), errc::bad_state);  // still known
  EXPECT_FALSE(step([&](auto d) { provider_->abort_snapshots(set_, d); }));
  EXPECT_FALSE(fs::exists(marker("vol-a", ids[0])));
  EXPECT_FALSE(fs::exists(marker("vol-b", ids[1])));
  EXPECT_EQ(count_of(command_log(), "delete "), 2u);
  snapshot_properties p;
  EXPECT_EQ(provider_->get_snapshot_properties(ids[0], p), errc::object_not_found);
}

TEST_F(CommandProviderTest, AbortBeforeTheCommitRunsNothing) {
  prepare({"vol-a"});
  ASSERT_FALSE(step([&](auto d) { provider_->end_prepare_snapshots(set_, d); }));
  EXPECT_FALSE(step([&](auto d) { provider_->abort_snapshots(set_, d); }));
  EXPECT_FALSE(fs::exists(dir_ / "log"));
  EXPECT_EQ(step([&](auto d) { provider_->pre_commit_snapshots(set_, d); }), errc::bad_state);
}

TEST_F(CommandProviderTest, AFailedDeleteDuringAbortIsReported) {
  prepare({"vol-a"});
  ASSERT_FALSE(commit());
  write_file(dir_ / "exit-delete", "13");
  EXPECT_EQ(step([&](auto d) { provider_->abort_snapshots(set_, d); }), errc::access_denied);
  EXPECT_NE(provider_->last_error(set_).find("cannot delete"), std::string::npos);
}

TEST_F(CommandProviderTest, DeleteRunsTheDeleteCommand) {
  const auto ids = create({"vol-a"});
  ASSERT_TRUE(fs::exists(marker("vol-a", ids[0])));
  EXPECT_FALSE(provider_->delete_snapshot(ids[0]));
  EXPECT_FALSE(fs::exists(marker("vol-a", ids[0])));
  EXPECT_TRUE(provider_->query().empty());
  EXPECT_EQ(provider_->delete_snapshot(ids[0]), errc::object_not_found);
}

TEST_F(CommandProviderTest, AFailedDeleteKeepsTheSnapshot) {
  const auto ids = create({"vol-a"});
  write_file(dir_ / "exit-delete", "13");
  EXPECT_EQ(provider_->delete_snapshot(ids[0]), errc::access_denied);
  EXPECT_EQ(provider_->query().size(), 1u);
  EXPECT_NE(provider_->last_error(set_).find("cannot delete"), std::string::npos);
  fs::remove(dir_ / "exit-delete");
  EXPECT_FALSE(provider_->delete_snapshot(ids[0]));
  EXPECT_TRUE(provider_->query().empty());
}

TEST_F(CommandProviderTest, DeleteOfASnapshotAlreadyGoneSucceeds) {
  const auto ids = create({"vol-a"});
  fs::remove(marker("vol-a", ids[0]));  // the stand-in then exits 2
  EXPECT_FALSE(provider_->delete_snapshot(ids[0]));
  EXPECT_TRUE(provider_->query().empty());
}

TEST_F(CommandProviderTest, ListReturnsTheLinesOfTheListCommand) {
  const auto ids = create({"vol-a", "vol-b"});
  std::vector<std::string> lines;
  ASSERT_FALSE(provider_->list("vol-a", lines));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "vol-a@" + command_provider::snapshot_name(ids[0]));

  auto o = options();
  o.list = {};
  provider_ = make_provider(o);
  EXPECT_EQ(provider_->list("vol-a", lines), errc::not_supported);
}

TEST_F(CommandProviderTest, ANewProviderObjectAdoptsAListedSnapshot) {
  const auto ids = create({"vol-a"});
  snapshot_properties saved;
  ASSERT_FALSE(provider_->get_snapshot_properties(ids[0], saved));
  provider_ = make_provider(options());  // a restart: nothing in memory
  EXPECT_TRUE(provider_->query().empty());

  auto unlisted = saved;
  unlisted.id = snapshot_id::generate();
  EXPECT_EQ(provider_->adopt_snapshot(unlisted), errc::object_not_found);
  ASSERT_FALSE(provider_->adopt_snapshot(saved));
  EXPECT_FALSE(provider_->adopt_snapshot(saved));  // already known
  ASSERT_EQ(provider_->query().size(), 1u);
  EXPECT_EQ(provider_->query()[0].device, saved.device);
  EXPECT_EQ(provider_->query()[0].state, snapshot_state::created);
  EXPECT_NE(command_log().find("list [vol-a]"), std::string::npos);

  EXPECT_FALSE(provider_->delete_snapshot(ids[0]));
  EXPECT_FALSE(fs::exists(marker("vol-a", ids[0])));
}

TEST_F(CommandProviderTest, AdoptNeedsAListCommand) {
  auto o = options();
  o.list = {};
  provider_ = make_provider(o);
  snapshot_properties p;
  p.id = snapshot_id::generate();
  p.original_volume = "vol-a";
  EXPECT_EQ(provider_->adopt_snapshot(p), errc::not_supported);
}

TEST_F(CommandProviderTest, DiscardRemovesAListedLeftoverAndRunsNothingForAMissingOne) {
  const auto id = snapshot_id::generate();
  write_file(marker("vol-a", id), "");
  EXPECT_FALSE(provider_->discard_snapshot(id, "vol-a"));
  EXPECT_FALSE(fs::exists(marker("vol-a", id)));
  EXPECT_EQ(count_of(command_log(), "delete "), 1u);

  EXPECT_FALSE(provider_->discard_snapshot(id, "vol-a"));
  EXPECT_EQ(count_of(command_log(), "delete "), 1u);
  EXPECT_EQ(count_of(command_log(), "list "), 2u);
}

TEST_F(CommandProviderTest, DiscardWithoutAListCommandTakesExitTwoAsNothingThere) {
  auto o = options();
  o.list = {};
  provider_ = make_provider(o);
  EXPECT_FALSE(provider_->discard_snapshot(snapshot_id::generate(), "vol-a"));
  write_file(dir_ / "exit-delete", "1");
  EXPECT_EQ(provider_->discard_snapshot(snapshot_id::generate(), "vol-a"), errc::provider_veto);
}

TEST_F(CommandProviderTest, SupportedVolumesFollowTheRegex) {
  auto o = options();
  o.supports = "vol-.*";
  provider_ = make_provider(o);
  EXPECT_TRUE(provider_->is_volume_supported("vol-a"));
  EXPECT_FALSE(provider_->is_volume_supported("other"));
  EXPECT_FALSE(provider_->is_volume_supported("my-vol-a"));  // matched as a whole
  EXPECT_FALSE(provider_->is_volume_supported(""));
  EXPECT_EQ(provider_->begin_prepare_snapshot(set_, snapshot_id::generate(), "other", 0),
            errc::volume_not_supported_by_provider);
  EXPECT_TRUE(make_provider(options())->is_volume_supported("anything"));
}

TEST_F(CommandProviderTest, HoldNamesTheVolumesOfTheSet) {
  prepare({"/srv/a", "/srv/b"});
  EXPECT_TRUE(provider_->flush_and_hold_paths(set_).empty());
  auto o = options();
  o.hold = true;
  provider_ = make_provider(o);
  prepare({"/srv/a", "/srv/b"});
  EXPECT_EQ(provider_->flush_and_hold_paths(set_), (std::vector<std::string>{"/srv/a", "/srv/b"}));
  EXPECT_TRUE(provider_->flush_and_hold_paths(snapshot_set_id::generate()).empty());
}

TEST_F(CommandProviderTest, PersistentAndAutoReleaseContextsAreRecordedInTheAttributes) {
  const auto kept = create({"vol-a"}, to_raw(snapshot_context::app_rollback));
  set_ = snapshot_set_id::generate();
  const auto released = create({"vol-a"}, to_raw(snapshot_context::backup));
  snapshot_properties p;
  ASSERT_FALSE(provider_->get_snapshot_properties(kept[0], p));
  EXPECT_EQ(p.attributes, to_raw(snapshot_context::app_rollback));
  EXPECT_TRUE(context_is_persistent(p.attributes));
  ASSERT_FALSE(provider_->get_snapshot_properties(released[0], p));
  EXPECT_EQ(p.attributes, to_raw(snapshot_context::backup));
  EXPECT_TRUE(context_auto_release(p.attributes));
}

TEST_F(CommandProviderTest, TheSameVolumeOrIdTwiceInOneSetIsRefused) {
  const auto ids = prepare({"vol-a"});
  EXPECT_EQ(provider_->begin_prepare_snapshot(set_, snapshot_id::generate(), "vol-a", 0),
            errc::object_already_exists);
  EXPECT_EQ(provider_->begin_prepare_snapshot(set_, ids[0], "vol-b", 0),
            errc::object_already_exists);
}

TEST_F(CommandProviderTest, StepsOutOfOrderAreBadState) {
  prepare({"vol-a"});
  EXPECT_EQ(step([&](auto d) { provider_->commit_snapshots(set_, d); }), errc::bad_state);
  EXPECT_FALSE(fs::exists(dir_ / "log"));
}

TEST_F(CommandProviderTest, TheConstructorRefusesMissingCommandsAndBadOptions) {
  auto o = options();
  o.create = {};
  EXPECT_THROW(command_provider{o}, std::invalid_argument);
  o = options();
  o.remove = {};
  EXPECT_THROW(command_provider{o}, std::invalid_argument);
  o = options();
  o.timeout = 0ms;
  EXPECT_THROW(command_provider{o}, std::invalid_argument);
  o = options();
  o.supports = "([";
  EXPECT_THROW(command_provider{o}, std::regex_error);
}

}  // namespace
}  // namespace vss
