#include "engine/engine_core.hpp"

#include <algorithm>
#include <thread>

#include "session/session_impl.hpp"

namespace vss::detail {
namespace {

std::error_code validate_identity(const writer_identity& id) {
  if (id.name.empty()) return errc::invalid_arg;
  if (id.level == application_level::unknown || id.level == application_level::auto_level) {
    return errc::invalid_arg;
  }
  if (id.freeze_timeout <= std::chrono::milliseconds::zero()) return errc::invalid_arg;
  return {};
}

}  // namespace

engine_core::engine_core(const asio::any_io_executor& executor, engine_options options)
    : executor_(executor), options_(std::move(options)) {
  if (options_.shard_count == 0) {
    options_.shard_count = std::max(1u, std::thread::hardware_concurrency());
  }
  if (!options_.clock) options_.clock = steady_clock_source();
  if (!options_.write_hold) options_.write_hold = std::make_shared<fsfreeze_write_hold>();
  // One lane for any clock but the real one: under a virtual clock, deadlines that fall in the
  // same advance must still run in deadline order, which only a single lane guarantees.
  const bool real_time = options_.clock == steady_clock_source();
  deadlines_ =
      std::make_shared<deadline_queue>(options_.clock, executor_, real_time ? deadline_lanes : 1,
                                       real_time ? deadline_linger : clock::duration::zero());
  loops_running_.reset(new loop_count[options_.shard_count]);
  shards_.reserve(options_.shard_count);
  for (std::size_t i = 0; i < options_.shard_count; ++i) {
    // A shard's turns run on (decisions §36): its loops do not wait behind the whole
    // io_context when another thread held the shard a moment ago.
    shards_.push_back(asio::make_strand(post_executor(executor_, post_executor::runs_on)));
    registry_signals_.push_back(std::make_unique<registry_signal>());
  }
}

std::shared_ptr<writer_entry> engine_core::register_writer(std::shared_ptr<vss::writer> w,
                                                           const std::string& group,
                                                           std::error_code& ec) {
  ec = w ? validate_identity(w->identity()) : make_error_code(errc::invalid_arg);
  if (ec) return nullptr;
  auto entry = std::make_shared<writer_entry>();
  entry->w = std::move(w);
  entry->group = group;
  if (entry->w->identity().execution == handler_execution::blocking) {
    entry->blocking_strand.emplace(asio::make_strand(
        post_executor(options_.blocking_executor ? options_.blocking_executor : executor_)));
  }
  std::lock_guard lock(mutex_);
  if (shutting_down_) {
    ec = errc::bad_state;
    return nullptr;
  }
  const auto& id = entry->w->identity().instance_id;
  if (writers_.count(id)) {
    ec = errc::writer_already_subscribed;
    return nullptr;
  }
  entry->registration = next_registration_++;
  // An ungrouped writer, or the first of a group, takes the next shard in turn; the rest of a
  // group join its first. A registration that throws on the way leaves nothing behind: no
  // slot on the shard's signal, no group it opened, no count.
  auto slot = entry->group.empty() ? groups_.end() : groups_.find(entry->group);
  const bool takes_turn = slot == groups_.end();
  const bool opens_group = takes_turn && !entry->group.empty();
  entry->shard =
      takes_turn ? next_shard_ % static_cast<std::uint32_t>(shards_.size()) : slot->second.shard;
  if (opens_group) slot = groups_.emplace(entry->group, group_slot{entry->shard, 0}).first;
  try {
    entry->registry_connection = connect_registered(*registry_signals_[entry->shard], entry);
    writers_.emplace(id, entry);
  } catch (...) {
    entry->registry_connection.disconnect();
    if (opens_group) groups_.erase(slot);
    throw;
  }
  if (!entry->group.empty()) ++slot->second.writers;
  if (takes_turn) ++next_shard_;
  return entry;
}

void engine_core::unregister_writer(const writer_instance_id& id) {
  std::shared_ptr<writer_entry> entry;
  {
    std::lock_guard lock(mutex_);
    auto it = writers_.find(id);
    if (it == writers_.end()) return;
    entry = std::move(it->second);
    writers_.erase(it);
    if (!entry->group.empty()) {
      auto g = groups_.find(entry->group);
      if (g != groups_.end() && --g->second.writers == 0) groups_.erase(g);
    }
  }
  entry->registry_connection.disconnect();
}

bool engine_core::is_registered(const writer_instance_id& id) const {
  std::lock_guard lock(mutex_);
  return writers_.count(id) != 0;
}

std::vector<std::shared_ptr<writer_entry>> engine_core::writers() const {
  std::vector<std::shared_ptr<writer_entry>> out;
  std::lock_guard lock(mutex_);
  out.reserve(writers_.size());
  for (const auto& [id, e] : writers_) out.push_back(e);
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a->registration < b->registration; });
  return out;
}

std::shared_ptr<writer_entry> engine_core::find_writer(const writer_instance_id& id) const {
  std::lock_guard lock(mutex_);
  auto it = writers_.find(id);
  return it == writers_.end() ? nullptr : it->second;
}

std::error_code engine_core::register_provider(std::shared_ptr<provider> p) {
  if (!p) return errc::invalid_arg;
  const auto id = p->properties().id;
  std::lock_guard lock(mutex_);
  if (shutting_down_) return errc::bad_state;
  if (provider_by_id_.contains(id) ||
      std::find(providers_.begin(), providers_.end(), p) != providers_.end()) {
    return errc::provider_already_registered;
  }
  // Room first, so that a failed allocation leaves neither the map nor the list changed.
  providers_.reserve(providers_.size() + 1);
  provider_by_id_.emplace(id, p);
  providers_.push_back(std::move(p));
  return {};
}

std::vector<std::shared_ptr<provider>> engine_core::providers() const {
  std::lock_guard lock(mutex_);
  return providers_;
}

std::shared_ptr<provider> engine_core::find_provider(const provider_id& id) const {
  std::lock_guard lock(mutex_);
  auto it = provider_by_id_.find(id);
  return it == provider_by_id_.end() ? nullptr : it->second;
}

bool engine_core::can_grant(const waiter& w) const {
  for (const auto& v : w.volumes) {
    auto it = volume_owner_.find(v);
    if (it != volume_owner_.end() && it->second.held_by_other_than(w.who)) return false;
  }
  for (const auto& id : w.writers) {
    auto it = writer_owner_.find(id);
    if (it != writer_owner_.end() && it->second != w.who) return false;
  }
  return true;
}

void engine_core::grant(const waiter& w) {
  auto& held = held_by_[w.who];
  for (const auto& v : w.volumes) {
    volume_owner_[v] = volume_holder{w.who, w.volumes_released};
    held.volumes.push_back(v);
  }
  for (const auto& id : w.writers) {
    writer_owner_[id] = w.who;
    held.writers.push_back(id);
  }
}

void engine_core::reserve(const session_id& who, std::vector<std::string> volumes,
                          std::vector<writer_instance_id> writers, grant_fn granted,
                          release_flag volumes_released) {
  waiter w{who, std::move(volumes), std::move(writers), std::move(granted),
           std::move(volumes_released)};
  std::unique_lock lock(mutex_);
  // Counted before any release flag is read (can_grant), and kept while queued: a session
  // that sets its flag and then reads this sees the request, or the request sees the flag.
  reservations_pending_.fetch_add(1);
  // FIFO fairness: a new request may not overtake queued ones it conflicts with.
  const bool queue_empty = waiters_.empty();
  if (can_grant(w) && queue_empty) {
    grant(w);
    reservations_pending_.fetch_sub(1);
    lock.unlock();
    w.granted(errc::ok);
    return;
  }
  if (options_.overlap == overlap_policy::reject) {
    reservations_pending_.fetch_sub(1);
    lock.unlock();
    w.granted(errc::snapshot_set_in_progress);
    return;
  }
  waiters_.push_back(std::move(w));
  grant_waiters_and_unlock(lock);
}

bool engine_core::withdraw(const session_id& who) {
  std::unique_lock lock(mutex_);
  for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
    if (it->who == who) {
      waiters_.erase(it);
      reservations_pending_.fetch_sub(1);
      grant_waiters_and_unlock(lock);
      return true;
    }
  }
  return false;
}

void engine_core::grant_waiters_and_unlock(std::unique_lock<std::mutex>& lock) {
  if (waiters_.empty()) {
    lock.unlock();
    return;
  }
  std::vector<grant_fn> granted;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (can_grant(*it)) {
      grant(*it);
      granted.push_back(std::move(it->granted));
      it = waiters_.erase(it);
      reservations_pending_.fetch_sub(1);
    } else {
      ++it;
    }
  }
  lock.unlock();
  for (auto& g : granted) g(errc::ok);
}

bool engine_core::volume_held_by_other(const std::string& volume, const session_id& who) const {
  std::lock_guard lock(mutex_);
  auto it = volume_owner_.find(volume);
  return it != volume_owner_.end() && it->second.held_by_other_than(who);
}

namespace {
const session_id& holder_of(const session_id& who) noexcept { return who; }
template <typename Holder>
const session_id& holder_of(const Holder& h) noexcept {
  return h.who;
}

// Erases `keys` from `owner` where `who` still owns them: a volume freed early by its release
// flag may have a new holder by the time its release_volumes comes.
template <typename Key, typename Holder>
void release_keys(std::unordered_map<Key, Holder>& owner, std::vector<Key>& keys,
                  const session_id& who) {
  for (const auto& k : keys) {
    auto it = owner.find(k);
    if (it != owner.end() && holder_of(it->second) == who) owner.erase(it);
  }
  keys.clear();
}
}  // namespace

void engine_core::release_volumes(const session_id& who) {
  std::unique_lock lock(mutex_);
  if (auto it = held_by_.find(who); it != held_by_.end()) {
    release_keys(volume_owner_, it->second.volumes, who);
    if (it->second.writers.empty()) held_by_.erase(it);
  }
  grant_waiters_and_unlock(lock);
}

void engine_core::release_writers(const session_id& who) {
  std::unique_lock lock(mutex_);
  if (auto it = held_by_.find(who); it != held_by_.end()) {
    release_keys(writer_owner_, it->second.writers, who);
    if (it->second.volumes.empty()) held_by_.erase(it);
  }
  grant_waiters_and_unlock(lock);
}

std::shared_ptr<session_impl> engine_core::create_session() {
  auto s = std::make_shared<session_impl>(shared_from_this());
  std::lock_guard lock(mutex_);
  if (shutting_down_) s->refuse();
  sessions_.emplace(s->id(), s);
  return s;
}

void engine_core::forget_session(const session_id& id) {
  std::unique_lock lock(mutex_);
  sessions_.erase(id);
}

bool engine_core::shutting_down() const {
  std::lock_guard lock(mutex_);
  return shutting_down_;
}

void engine_core::shutdown() {
  std::vector<std::shared_ptr<session_impl>> live;
  {
    std::lock_guard lock(mutex_);
    if (shutting_down_) return;
    shutting_down_ = true;
    for (const auto& [id, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->abort_for_shutdown();
}

void engine_core::start_shutdown(erased_handler handler) {
  shutdown();
  std::vector<std::shared_ptr<session_impl>> live;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  // Completes once every live session reports that its abort work is drained and, for a
  // session being released, that its writers answered BackupShutdown.
  auto remaining = std::make_shared<std::atomic<std::size_t>>(live.size() + 1);
  auto shared = std::make_shared<erased_handler>(std::move(handler));
  auto done = [remaining, shared] {
    if (remaining->fetch_sub(1) == 1) std::move(*shared).post_complete({});
  };
  for (auto& s : live) s->when_quiet(done);
  done();
}

}  // namespace vss::detail
