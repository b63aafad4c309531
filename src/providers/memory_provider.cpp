#include "vss/memory_provider.hpp"

#include <unistd.h>

#include <algorithm>
#include <cassert>

#include "vss/error.hpp"

namespace vss {
namespace {

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

}  // namespace

void provider::pre_commit_snapshots(const snapshot_set_id&, completion done) { done({}); }
void provider::post_commit_snapshots(const snapshot_set_id&, std::int32_t, completion done) {
  done({});
}
void provider::pre_final_commit_snapshots(const snapshot_set_id&, completion done) { done({}); }
void provider::post_final_commit_snapshots(const snapshot_set_id&, completion done) { done({}); }
std::vector<std::string> provider::flush_and_hold_paths(const snapshot_set_id&) const { return {}; }
std::error_code provider::adopt_snapshot(const snapshot_properties&) { return errc::not_supported; }
std::error_code provider::discard_snapshot(const snapshot_id&, std::string_view) { return {}; }

memory_provider::memory_provider(memory_provider_options options) : options_(std::move(options)) {}

provider_properties memory_provider::properties() const {
  return {options_.id, options_.name, provider_type::software, "1.0"};
}

bool memory_provider::is_volume_supported(std::string_view volume) const {
  if (volume.empty()) return false;
  return options_.supports ? options_.supports(volume) : true;
}

std::error_code memory_provider::begin_prepare_snapshot(const snapshot_set_id& set,
                                                        const snapshot_id& snapshot,
                                                        std::string_view volume,
                                                        std::uint32_t context) {
  if (!is_volume_supported(volume)) return errc::volume_not_supported_by_provider;
  std::lock_guard lock(mutex_);
  // Sets are independent: the engine creates several at once and aborts each explicitly, so a
  // new set id must not discard another set's preparation (VSS's implicit restart, spec §3.6).
  if (snapshots_.count(snapshot)) return errc::object_already_exists;
  snapshot_properties p;
  p.id = snapshot;
  p.set_id = set;
  p.original_volume = std::string(volume);
  p.device = "memory://" + snapshot.to_string() + std::string(volume);
  p.originating_machine = p.service_machine = host_name();
  p.provider = options_.id;
  p.attributes = context;
  p.state = snapshot_state::preparing;
  const auto record = snapshots_.emplace(snapshot, std::move(p)).first;
  try {
    sets_.emplace(set, record);
  } catch (...) {
    snapshots_.erase(record);  // no record out of its set's reach
    throw;
  }
  return {};
}

void memory_provider::advance(const snapshot_set_id& set, snapshot_state from, snapshot_state to,
                              completion& done) {
  std::error_code ec;
  {
    std::lock_guard lock(mutex_);
    const auto [first, last] = sets_.equal_range(set);
    std::int32_t count = 0;
    for (auto m = first; m != last; ++m, ++count) {
      if (m->second->second.state != from) {
        ec = errc::bad_state;
        break;
      }
    }
    if (!ec) {
      for (auto m = first; m != last; ++m) {
        auto& p = m->second->second;
        p.state = to;
        p.snapshots_count = count;
        if (to == snapshot_state::committed) p.created = std::chrono::system_clock::now();
      }
    }
  }
  done(ec);
}

void memory_provider::end_prepare_snapshots(const snapshot_set_id& set, completion done) {
  advance(set, snapshot_state::preparing, snapshot_state::prepared, done);
}
void memory_provider::pre_commit_snapshots(const snapshot_set_id& set, completion done) {
  advance(set, snapshot_state::prepared, snapshot_state::precommitted, done);
}
void memory_provider::commit_snapshots(const snapshot_set_id& set, completion done) {
  advance(set, snapshot_state::precommitted, snapshot_state::committed, done);
}
void memory_provider::post_commit_snapshots(const snapshot_set_id& set, std::int32_t,
                                            completion done) {
  advance(set, snapshot_state::committed, snapshot_state::postcommitted, done);
}
void memory_provider::post_final_commit_snapshots(const snapshot_set_id& set, completion done) {
  advance(set, snapshot_state::postcommitted, snapshot_state::created, done);
}

void memory_provider::abort_snapshots(const snapshot_set_id& set, completion done) {
  {
    std::lock_guard lock(mutex_);
    const auto [first, last] = sets_.equal_range(set);
    for (auto m = first; m != last; ++m) snapshots_.erase(m->second);
    sets_.erase(first, last);
  }
  done({});
}

std::error_code memory_provider::get_snapshot_properties(const snapshot_id& id,
                                                         snapshot_properties& out) const {
  std::lock_guard lock(mutex_);
  auto it = snapshots_.find(id);
  if (it == snapshots_.end() || it->second.state != snapshot_state::created) {
    return errc::object_not_found;
  }
  out = it->second;
  return {};
}

std::vector<snapshot_properties> memory_provider::query() const {
  std::vector<snapshot_properties> out;
  std::lock_guard lock(mutex_);
  for (const auto& [id, p] : snapshots_) {
    if (p.state == snapshot_state::created) out.push_back(p);
  }
  return out;
}

std::vector<snapshot_properties> memory_provider::all_records() const {
  std::vector<snapshot_properties> out;
  std::lock_guard lock(mutex_);
  for (const auto& [id, p] : snapshots_) out.push_back(p);
  return out;
}

std::error_code memory_provider::delete_snapshot(const snapshot_id& id) {
  std::lock_guard lock(mutex_);
  const auto it = snapshots_.find(id);
  if (it == snapshots_.end()) return errc::object_not_found;
  const auto [first, last] = sets_.equal_range(it->second.set_id);
  const auto entry = std::find_if(first, last, [&](const auto& e) { return e.second == it; });
  assert(entry != last && "every record is in its set's index");
  if (entry != last) sets_.erase(entry);
  snapshots_.erase(it);
  return {};
}

}  // namespace vss
