#include "daemon/provider_setup.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "vss/backup_session.hpp"
#include "vss/engine_host.hpp"
#include "vss/memory_provider.hpp"
#include "vss/providers/btrfs_provider.hpp"
#include "vss/providers/command_provider.hpp"
#include "vss/providers/reflink_provider.hpp"

namespace vss::daemon {
namespace {

using std::chrono::milliseconds;

// A config whose command provider can be built (its commands are never run by these tests,
// except `list`).
daemon_config with_command(std::vector<provider_kind> kinds) {
  daemon_config c;
  c.providers = std::move(kinds);
  c.command_create = "exit 0";
  c.command_remove = "exit 0";
  return c;
}

// The what() of the std::invalid_argument make_providers throws, or "no error".
std::string error_of(const daemon_config& config) {
  try {
    make_providers(config, {});
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

TEST(ProviderIds, TheFixedIdsHaveTheirDocumentedText) {
  EXPECT_EQ(btrfs_provider_id.to_string(), "{6f70656e-7673-7300-0000-000000000001}");
  EXPECT_EQ(reflink_provider_id.to_string(), "{6f70656e-7673-7300-0000-000000000002}");
  EXPECT_EQ(command_provider_id.to_string(), "{6f70656e-7673-7300-0000-000000000003}");
  EXPECT_EQ(memory_provider_id.to_string(), "{6f70656e-7673-7300-0000-000000000004}");
  EXPECT_EQ(provider_id::parse("{6f70656e-7673-7300-0000-000000000001}"), btrfs_provider_id);
}

TEST(ProviderIds, EachKindHasItsOwnIdAndTheIdGivesBackTheKind) {
  std::set<provider_id> ids;
  for (const provider_kind kind : {provider_kind::btrfs, provider_kind::reflink,
                                   provider_kind::command, provider_kind::memory}) {
    const provider_id id = fixed_provider_id(kind);
    EXPECT_FALSE(id.is_null()) << to_string(kind);
    ids.insert(id);
    EXPECT_EQ(provider_kind_of(id), kind) << to_string(kind);
  }
  EXPECT_EQ(ids.size(), 4u);
  EXPECT_EQ(fixed_provider_id(provider_kind::command), command_provider_id);
  EXPECT_EQ(provider_kind_of(provider_id::null()), std::nullopt);
  EXPECT_EQ(provider_kind_of(provider_id::from_u128(0x6f70656e'76737300, 5)), std::nullopt);
}

TEST(MakeProviders, TheDefaultConfigBuildsBtrfsThenReflinkWithTheirFixedIds) {
  const auto providers = make_providers(daemon_config{}, {});
  ASSERT_EQ(providers.size(), 2u);
  EXPECT_NE(std::dynamic_pointer_cast<btrfs_provider>(providers[0]), nullptr);
  EXPECT_NE(std::dynamic_pointer_cast<reflink_provider>(providers[1]), nullptr);
  EXPECT_EQ(providers[0]->properties().id, btrfs_provider_id);
  EXPECT_EQ(providers[1]->properties().id, reflink_provider_id);
  EXPECT_EQ(providers[0]->properties().name, "openvss btrfs provider");
  EXPECT_EQ(providers[1]->properties().name, "openvss reflink provider");
}

TEST(MakeProviders, ProvidersComeInTheConfiguredOrder) {
  const auto providers =
      make_providers(with_command({provider_kind::memory, provider_kind::command,
                                   provider_kind::reflink, provider_kind::btrfs}),
                     {});
  ASSERT_EQ(providers.size(), 4u);
  EXPECT_NE(std::dynamic_pointer_cast<memory_provider>(providers[0]), nullptr);
  EXPECT_NE(std::dynamic_pointer_cast<command_provider>(providers[1]), nullptr);
  EXPECT_NE(std::dynamic_pointer_cast<reflink_provider>(providers[2]), nullptr);
  EXPECT_NE(std::dynamic_pointer_cast<btrfs_provider>(providers[3]), nullptr);
  EXPECT_EQ(providers[0]->properties().id, memory_provider_id);
  EXPECT_EQ(providers[1]->properties().id, command_provider_id);
  EXPECT_EQ(providers[2]->properties().id, reflink_provider_id);
  EXPECT_EQ(providers[3]->properties().id, btrfs_provider_id);
}

TEST(MakeProviders, TheSnapshotLocationsComeFromTheConfig) {
  daemon_config c;
  c.btrfs_snapshot_dir = "/srv/btrfs-snaps";
  c.reflink_snapshot_root = "/srv/reflink-snaps";
  const auto providers = make_providers(c, {});
  ASSERT_EQ(providers.size(), 2u);
  const auto btrfs = std::dynamic_pointer_cast<btrfs_provider>(providers[0]);
  const auto reflink = std::dynamic_pointer_cast<reflink_provider>(providers[1]);
  ASSERT_NE(btrfs, nullptr);
  ASSERT_NE(reflink, nullptr);
  const auto id = snapshot_id::from_u128(0x4f0c1e2a'9d3b4c7e, 0x8a210b5d'6e7f8a9b);
  EXPECT_EQ(btrfs->snapshot_path(id, "/data/db").string(),
            "/srv/btrfs-snaps/{4f0c1e2a-9d3b-4c7e-8a21-0b5d6e7f8a9b}");
  EXPECT_EQ(reflink->snapshot_root("/data/db").string(), "/srv/reflink-snaps");
}

TEST(MakeProviders, EmptySnapshotLocationsLeaveTheProvidersDefaults) {
  const auto providers = make_providers(daemon_config{}, {});
  ASSERT_EQ(providers.size(), 2u);
  const auto btrfs = std::dynamic_pointer_cast<btrfs_provider>(providers[0]);
  const auto reflink = std::dynamic_pointer_cast<reflink_provider>(providers[1]);
  ASSERT_NE(btrfs, nullptr);
  ASSERT_NE(reflink, nullptr);
  const auto id = snapshot_id::from_u128(1, 2);
  // Both default to <parent of the volume>/.openvss-snapshots (btrfs: <volume>/... for the
  // root of a mount); the exact btrfs path depends on this machine's mounts.
  EXPECT_EQ(reflink->snapshot_root("/data/db").string(), "/data/.openvss-snapshots");
  EXPECT_EQ(btrfs->snapshot_path(id, "/data/db").parent_path().filename().string(),
            ".openvss-snapshots");
}

TEST(MakeProviders, TheCommandProviderGetsItsTemplatesAndSupportsExpression) {
  daemon_config c = with_command({provider_kind::command});
  c.command_supports = "tank(/.*)?";
  c.command_list = "echo tank/data@openvss-4f0c1e2a; echo; echo \"volume=\"{volume}";
  const auto providers = make_providers(c, {});
  ASSERT_EQ(providers.size(), 1u);
  const auto command = std::dynamic_pointer_cast<command_provider>(providers[0]);
  ASSERT_NE(command, nullptr);
  EXPECT_TRUE(command->is_volume_supported("tank"));
  EXPECT_TRUE(command->is_volume_supported("tank/data"));
  EXPECT_FALSE(command->is_volume_supported("/srv/tank"));
  EXPECT_FALSE(command->is_volume_supported("vg0/data"));
  std::vector<std::string> lines;
  ASSERT_FALSE(command->list("tank/my data", lines));
  EXPECT_EQ(lines, (std::vector<std::string>{"tank/data@openvss-4f0c1e2a", "volume=tank/my data"}));
}

TEST(MakeProviders, WithoutAListTemplateTheCommandProviderCannotList) {
  const auto providers = make_providers(with_command({provider_kind::command}), {});
  ASSERT_EQ(providers.size(), 1u);
  const auto command = std::dynamic_pointer_cast<command_provider>(providers[0]);
  ASSERT_NE(command, nullptr);
  EXPECT_TRUE(command->is_volume_supported("anything at all"));
  std::vector<std::string> lines;
  EXPECT_EQ(command->list("x", lines), errc::not_supported);
}

TEST(MakeProviders, TheCommandTimeoutIsApplied) {
  daemon_config c = with_command({provider_kind::command});
  c.command_timeout = milliseconds(200);
  c.command_list = "sleep 30";
  const auto providers = make_providers(c, {});
  const auto command = std::dynamic_pointer_cast<command_provider>(providers.at(0));
  ASSERT_NE(command, nullptr);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string> lines;
  EXPECT_EQ(command->list("x", lines), errc::provider_veto);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(MakeProviders, ProviderLogLinesArePrefixedWithTheirKind) {
  daemon_config c = with_command({provider_kind::command});
  c.command_list = "echo listing failed; exit 5";
  std::mutex mutex;
  std::vector<std::string> lines;
  const auto providers = make_providers(c, [&](std::string line) {
    std::lock_guard lock(mutex);
    lines.push_back(std::move(line));
  });
  const auto command = std::dynamic_pointer_cast<command_provider>(providers.at(0));
  ASSERT_NE(command, nullptr);
  std::vector<std::string> output;
  EXPECT_TRUE(command->list("x", output));
  std::lock_guard lock(mutex);
  ASSERT_FALSE(lines.empty());
  for (const auto& line : lines) {
    EXPECT_EQ(line.rfind("command provider: ", 0), 0u) << line;
  }
}

TEST(MakeProviders, ABadSupportsExpressionIsAnInvalidArgumentNamingTheKey) {
  daemon_config c = with_command({provider_kind::btrfs, provider_kind::command});
  c.command_supports = "vg0/(data";
  const std::string error = error_of(c);
  const std::string prefix =
      "command_supports 'vg0/(data' is not an ECMAScript regular expression: ";
  EXPECT_EQ(error.substr(0, prefix.size()), prefix) << error;
  EXPECT_GT(error.size(), prefix.size()) << error;
}

TEST(MakeProviders, CommandWithoutItsCommandsIsAnInvalidArgument) {
  daemon_config c = with_command({provider_kind::command});
  c.command_remove.clear();
  EXPECT_EQ(error_of(c), "providers lists command, which needs command_create and command_remove");
  c = with_command({provider_kind::command});
  c.command_create.clear();
  EXPECT_EQ(error_of(c), "providers lists command, which needs command_create and command_remove");
  // Not needed when command is not listed.
  daemon_config memory_only;
  memory_only.providers = {provider_kind::memory};
  EXPECT_EQ(error_of(memory_only), "no error");
}

TEST(MakeProviders, ANonPositiveCommandTimeoutIsAnInvalidArgument) {
  daemon_config c = with_command({provider_kind::command});
  c.command_timeout = milliseconds(0);
  EXPECT_EQ(error_of(c), "command_timeout_ms must be positive, not 0");
}

TEST(MakeProviders, AnEmptyOrRepeatedProviderListIsAnInvalidArgument) {
  daemon_config c;
  c.providers.clear();
  EXPECT_EQ(error_of(c), "providers is empty: the daemon needs at least one provider");
  c.providers = {provider_kind::reflink, provider_kind::memory, provider_kind::reflink};
  EXPECT_EQ(error_of(c), "providers lists reflink twice");
}

TEST(MakeProviders, WhatTheParserAcceptsBuilds) {
  const daemon_config c = parse_config(
      "providers = memory, command, btrfs, reflink\n"
      "command_create = zfs snapshot {volume}@{name}\n"
      "command_remove = zfs destroy {volume}@{name}\n"
      "command_supports = tank(/.*)?\n"
      "command_hold = true\n",
      "t");
  EXPECT_EQ(make_providers(c, {}).size(), 4u);
}

// The engine's automatic choice (AddToSnapshotSet with a null provider) takes the first
// registered provider that supports the volume: register in make_providers' order.
TEST(MakeProviders, RegisteredInOrderTheFirstProviderThatSupportsAVolumeGetsIt) {
  daemon_config c = with_command({provider_kind::command, provider_kind::memory});
  c.command_supports = "tank(/.*)?";
  const auto providers = make_providers(c, {});
  ASSERT_EQ(providers.size(), 2u);
  const auto memory = std::dynamic_pointer_cast<memory_provider>(providers[1]);
  ASSERT_NE(memory, nullptr);

  engine_host host({.io_threads = 1});
  for (const auto& p : providers) ASSERT_FALSE(host.engine().register_provider(p));
  auto session = host.engine().create_backup_session();
  ASSERT_FALSE(session.initialize_for_backup());
  snapshot_set_id set;
  ASSERT_FALSE(session.start_snapshot_set(set));
  snapshot_id on_command;
  snapshot_id on_memory;
  ASSERT_FALSE(session.add_to_snapshot_set("tank/data", {}, on_command));
  ASSERT_FALSE(session.add_to_snapshot_set("/srv/data", {}, on_memory));
  const auto records = memory->all_records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].original_volume, "/srv/data");
  EXPECT_EQ(records[0].id, on_memory);
  EXPECT_EQ(records[0].provider, memory_provider_id);
  ASSERT_FALSE(session.abort_backup());
}

}  // namespace
}  // namespace vss::daemon
