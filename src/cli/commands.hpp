#pragma once
// The `openvss` subcommands, each written once against a requester_channel (daemon or
// embedded). Each prints its outcome (cli_output.hpp) and returns the process exit code.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli_output.hpp"
#include "cli/requester_channel.hpp"

namespace vss::cli {

/// `openvss backup` options (the `backup` op's args).
struct backup_options {
  std::vector<std::string> volumes;        ///< -v/--volume, repeatable, required.
  std::vector<std::string> writers;        ///< --writer NAME|INSTANCE_ID, repeatable.
  std::vector<std::string> components;     ///< --component NAME|PATH\NAME, repeatable.
  std::optional<std::string> provider;     ///< --provider ID|NAME.
  bool persistent = false;                 ///< --persistent.
  std::optional<std::string> inject;       ///< --inject PLAN.
  std::optional<std::string> abort_after;  ///< --abort-after DURATION|PHASE.
};

/// `openvss bench-abort` options.
struct bench_options {
  std::size_t count = 100;                    ///< --count: backups to abort.
  std::string phase = "freeze";               ///< --phase: abort_after of each backup.
  std::vector<std::string> volumes{"/data"};  ///< -v/--volume.
};

/// The `backup` op's args for `o`.
nlohmann::json backup_args(const backup_options& o);

/// Runs an op without progress (writers, status, snapshots, delete, abort) and prints it.
int run_op(requester_channel& channel, const std::string& op, const nlohmann::json& args,
           const output_style& style);

/// Runs one backup with live progress and prints its outcome.
int run_backup(requester_channel& channel, const backup_options& o, const output_style& style);

/// Runs `o.count` backups, each aborted at `o.phase` by the service, and prints the
/// distribution (min, p50, p99, max) of AbortBackup's latency.
int run_bench_abort(requester_channel& channel, const bench_options& o, const output_style& style);

}  // namespace vss::cli
