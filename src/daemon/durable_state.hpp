#pragma once
// What openvssd keeps across restarts, and what it does about it at startup (docs/daemon.md,
// "Restart and recovery"): the SQLite catalog in state_dir, the list of filesystems it holds
// frozen (thawed at the next start if it died holding them), and the recovery of snapshot
// sets a previous run left in creation or whose auto-release session is gone.

#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "catalog/catalog.hpp"
#include "catalog/recovery.hpp"
#include "daemon/catalog_journal.hpp"
#include "vss/provider.hpp"

namespace vss::daemon {

/// The file fsfreeze_write_hold records its held filesystems in (thaw_leftovers reads it).
std::filesystem::path held_filesystems_file(const std::filesystem::path& state_dir);

/// The daemon's durable state once opened and recovered.
struct durable_state {
  std::unique_ptr<catalog::catalog> db;
  std::shared_ptr<catalog_journal> journal;
  std::vector<std::string> thawed;  ///< Filesystems a dead predecessor left frozen, now thawed.
  catalog::recovery_report recovery;

  /// For `openvss status`: the catalog file, sets per state, visible snapshots, what this
  /// start recovered, and the latest recovery log rows.
  nlohmann::json status() const;
};

/// Thaws what a previous run left frozen, opens (or creates) the catalog in `state_dir`,
/// offers its snapshots back to `providers` and recovers abandoned sets, logging one line per
/// thing done through `log(event_id, error, text)`. Null with `error` set (naming the file and
/// what to do) when the catalog cannot be used: the daemon must not start then.
std::unique_ptr<durable_state> open_durable_state(
    const std::filesystem::path& state_dir, const std::vector<std::shared_ptr<provider>>& providers,
    const std::function<void(int event_id, bool error, const std::string& text)>& log,
    std::string& error);

}  // namespace vss::daemon
