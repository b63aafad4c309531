#include "daemon/durable_state.hpp"

#include "daemon/event_ids.hpp"
#include "vss/error.hpp"
#include "vss/write_hold.hpp"

namespace vss::daemon {
namespace {

using json = nlohmann::json;

// The provider that made `s`; null when the catalog does not know (a set whose provider was
// chosen per volume and never committed).
std::shared_ptr<provider> owner_of(const std::vector<std::shared_ptr<provider>>& providers,
                                   const snapshot_properties& s) {
  for (const auto& p : providers) {
    if (!s.provider.is_null() && p->properties().id == s.provider) return p;
  }
  return nullptr;
}

catalog::recovery_actions actions_for(const std::vector<std::shared_ptr<provider>>& providers) {
  catalog::recovery_actions a;
  a.discard = [&providers](const snapshot_properties& s) -> std::error_code {
    if (auto p = owner_of(providers, s)) {
      return p->discard_snapshot(s.id, s.original_volume);
    }
    // Unknown maker: every provider removes what its deterministic names say is its own.
    for (const auto& p : providers) {
      if (auto ec = p->discard_snapshot(s.id, s.original_volume)) return ec;
    }
    return {};
  };
  a.release = [&providers](const snapshot_properties& s) -> std::error_code {
    auto p = owner_of(providers, s);
    if (!p) return errc::provider_not_registered;
    if (auto ec = p->adopt_snapshot(s); ec && ec != errc::object_already_exists) return ec;
    return p->delete_snapshot(s.id);
  };
  a.adopt = [&providers](const snapshot_properties& s) -> std::error_code {
    auto p = owner_of(providers, s);
    if (!p) return errc::provider_not_registered;
    return p->adopt_snapshot(s);
  };
  return a;
}

}  // namespace

std::filesystem::path held_filesystems_file(const std::filesystem::path& state_dir) {
  return state_dir / "held-filesystems";
}

std::unique_ptr<durable_state> open_durable_state(
    const std::filesystem::path& state_dir, const std::vector<std::shared_ptr<provider>>& providers,
    const std::function<void(int, bool, const std::string&)>& log, std::string& error) {
  auto state = std::make_unique<durable_state>();
  // First: a filesystem left frozen blocks everything else on it, the catalog included.
  state->thawed = thaw_leftovers(held_filesystems_file(state_dir).string());
  for (const auto& m : state->thawed) {
    log(event_id::recovery, true,
        "thawed " + m + ": a previous openvssd died while holding its writes");
  }
  auto opened = catalog::catalog::open(state_dir);
  if (!opened) {
    error = opened.message;
    return nullptr;
  }
  state->db = std::move(opened.db);
  state->recovery =
      catalog::recover(*state->db, catalog::host_process::current(), {}, actions_for(providers));
  for (const auto& e : state->recovery.entries) {
    log(event_id::recovery, e.result.operator bool(),
        "recovery: " + std::string(catalog::to_string(e.action)) + " snapshot set " +
            e.set.to_string() + " (was " + std::string(catalog::to_string(e.previous_state)) +
            ", " + std::to_string(e.snapshots) + " snapshot(s), " + std::to_string(e.failed) +
            " not removed)" + (e.detail.empty() ? "" : ": " + e.detail));
  }
  for (const auto& f : state->recovery.adopt_failures) {
    log(event_id::recovery, true, "recovery: " + f);
  }
  if (state->recovery.catalog_error) {
    log(event_id::catalog_error, true,
        "recovery stopped at a catalog error: " + state->recovery.catalog_error.message());
  }
  state->journal = std::make_shared<catalog_journal>(*state->db);
  state->journal->on_error = [log](const std::string& text) {
    log(event_id::catalog_error, true, text);
  };
  return state;
}

json durable_state::status() const {
  json out;
  out["file"] = db->file().string();
  catalog::catalog_stats stats;
  if (!db->stats(stats)) {
    json sets = json::object();
    for (std::size_t i = 0; i < stats.sets.size(); ++i) {
      sets[std::string(catalog::to_string(static_cast<catalog::set_state>(i)))] = stats.sets[i];
    }
    out["sets"] = std::move(sets);
    out["snapshots"] = stats.snapshots;
  }
  json recovered = {{"sets_aborted", recovery.sets_aborted},
                    {"sets_released", recovery.sets_released},
                    {"snapshots_removed", recovery.snapshots_removed},
                    {"snapshots_adopted", recovery.snapshots_adopted},
                    {"sets_left", recovery.sets_left},
                    {"thawed_filesystems", thawed}};
  out["recovered_at_start"] = std::move(recovered);
  std::vector<catalog::recovery_entry> recent;
  json log = json::array();
  if (!db->recent_recoveries(20, recent)) {
    for (const auto& e : recent) {
      log.push_back({{"at", catalog::format_time(e.at)},
                     {"set", e.set.to_string()},
                     {"action", std::string(catalog::to_string(e.action))},
                     {"previous_state", std::string(catalog::to_string(e.previous_state))},
                     {"snapshots", e.snapshots},
                     {"failed", e.failed},
                     {"detail", e.detail}});
    }
  }
  out["recent_recoveries"] = std::move(log);
  return out;
}

}  // namespace vss::daemon
