#include "catalog/recovery.hpp"

#include <map>
#include <new>
#include <string>
#include <utility>

#include "vss/error.hpp"

namespace vss::catalog {
namespace {

bool gone_snapshot(const std::error_code& ec) { return ec == errc::object_not_found; }

std::string describe(const std::error_code& ec) {
  if (ec.category() == vss_category()) {
    const auto sym = symbol(static_cast<errc>(ec.value()));
    if (!sym.empty()) return std::string(sym);
  }
  return ec.message();
}

std::string owner_text(const set_record& r, const host_process& self) {
  if (r.owner.host == self) return "its session " + r.owner.session.to_string() + " ended";
  return "its process (pid " + std::to_string(r.owner.host.pid) + ") is gone";
}

std::string plural(std::size_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// Calls a provider action; an exception from it counts as E_UNEXPECTED for that snapshot.
std::error_code call(const std::function<std::error_code(const snapshot_properties&)>& f,
                     const snapshot_properties& p) {
  if (!f) return make_error_code(errc::not_supported);
  try {
    return f(p);
  } catch (...) {
    return make_error_code(errc::generic_unexpected);
  }
}

struct run {
  catalog& c;
  const host_process& self;
  std::span<const session_id> live;
  const recovery_actions& actions;
  recovery_report report;

  bool check(std::error_code ec) {
    if (ec && !report.catalog_error) report.catalog_error = ec;
    return !ec;
  }

  bool log(recovery_entry e) {
    if (!check(c.record_recovery(e))) return false;
    report.entries.push_back(std::move(e));
    return true;
  }

  bool abandon_sets_in_creation() {
    std::vector<set_record> sets;
    if (!check(c.sets_in_creation(sets))) return false;
    for (const auto& r : sets) {
      if (!owner_gone(r.owner, self, live)) continue;
      recovery_entry e;
      e.set = r.id;
      e.action = recovery_action::aborted_in_creation;
      e.previous_state = r.state;
      e.owner_pid = r.owner.host.pid;
      std::size_t removed = 0;
      for (const auto& s : r.snapshots) {
        if (s.state == snapshot_state::aborted || s.state == snapshot_state::deleted) continue;
        ++e.snapshots;
        const auto ec = call(actions.discard, s);
        if (ec) {
          ++e.failed;
          if (!e.result) e.result = ec;
        } else {
          ++removed;
        }
      }
      report.snapshots_removed += removed;
      const std::string head = "set " + r.id.to_string() + " was " +
                               std::string(to_string(r.state)) + " since " +
                               format_time(r.created) + " and " + owner_text(r, self) + ": ";
      if (e.failed == 0) {
        const std::string why =
            "aborted at recovery: " + owner_text(r, self) + " and the set was never completed";
        if (!check(c.mark_aborted(r.id, make_error_code(errc::abort), why))) return false;
        ++report.sets_aborted;
        e.detail = head + plural(removed, "snapshot") + " discarded; set aborted";
      } else {
        ++report.sets_left;
        e.detail = head + std::to_string(e.failed) + " of " + plural(e.snapshots, "snapshot") +
                   " could not be discarded (" + describe(e.result) +
                   "); the set stays and the next start tries again";
      }
      if (!log(std::move(e))) return false;
    }
    return true;
  }

  bool release_auto_release_sets() {
    std::vector<set_record> sets;
    if (!check(c.auto_release_sets_of_dead_owners(self, live, sets))) return false;
    for (const auto& r : sets) {
      recovery_entry e;
      e.set = r.id;
      e.action = recovery_action::released_auto_release;
      e.previous_state = r.state;
      e.owner_pid = r.owner.host.pid;
      std::size_t removed = 0;
      for (const auto& s : r.snapshots) {
        if (s.state != snapshot_state::created) continue;
        ++e.snapshots;
        auto ec = call(actions.release, s);
        if (gone_snapshot(ec)) ec = {};
        if (ec) {
          ++e.failed;
          if (!e.result) e.result = ec;
          continue;
        }
        if (!check(c.record_deleted(s.id))) return false;
        ++removed;
      }
      report.snapshots_removed += removed;
      const std::string head = "auto-release set " + r.id.to_string() + " of " +
                               format_time(r.created) + ": " + owner_text(r, self) + "; ";
      if (e.failed == 0) {
        ++report.sets_released;
        e.detail = head + plural(removed, "snapshot") + " deleted";
      } else {
        ++report.sets_left;
        e.detail = head + std::to_string(e.failed) + " of " + plural(e.snapshots, "snapshot") +
                   " could not be deleted (" + describe(e.result) + "); the next start tries again";
      }
      if (!log(std::move(e))) return false;
    }
    return true;
  }

  bool adopt_remaining() {
    if (!actions.adopt) return true;
    std::vector<snapshot_properties> snaps;
    if (!check(c.query(snaps))) return false;
    std::map<snapshot_set_id, std::vector<snapshot_id>> vanished;
    for (const auto& s : snaps) {
      const auto ec = call(actions.adopt, s);
      if (!ec) {
        ++report.snapshots_adopted;
      } else if (gone_snapshot(ec)) {
        vanished[s.set_id].push_back(s.id);
      } else {
        report.adopt_failures.push_back("snapshot " + s.id.to_string() + " of " +
                                        s.original_volume + " (set " + s.set_id.to_string() +
                                        "): " + describe(ec));
      }
    }
    for (const auto& [set, ids] : vanished) {
      recovery_entry e;
      e.set = set;
      e.action = recovery_action::vanished;
      e.previous_state = set_state::completed;
      set_record r;
      if (!check(c.get_set(set, r))) return false;
      e.owner_pid = r.owner.host.pid;
      e.snapshots = static_cast<std::uint32_t>(ids.size());
      for (const auto& id : ids) {
        if (!check(c.record_deleted(id))) return false;
      }
      e.detail = "set " + set.to_string() + ": " + plural(ids.size(), "snapshot") +
                 " no longer held by its provider; recorded deleted";
      if (!log(std::move(e))) return false;
    }
    return true;
  }
};

}  // namespace

recovery_report recover(catalog& c, const host_process& self,
                        std::span<const session_id> live_sessions,
                        const recovery_actions& actions) {
  run r{c, self, live_sessions, actions, {}};
  try {
    if (r.abandon_sets_in_creation() && r.release_auto_release_sets()) r.adopt_remaining();
  } catch (const std::bad_alloc&) {
    r.check(make_error_code(errc::out_of_memory));
  }
  return std::move(r.report);
}

}  // namespace vss::catalog
