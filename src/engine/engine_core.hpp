#pragma once
// The engine's shared state: writer registry (with the per-shard registry signals), providers,
// shard strands, volume/writer reservations between sessions, the session list and shutdown.
// Sessions hold a shared_ptr to it, so it outlives the public vss::engine object if needed.

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/deadline_queue.hpp"
#include "vss/detail/erased_handler.hpp"
#include "vss/options.hpp"
#include "vss/provider.hpp"
#include "writers/fan_out.hpp"

namespace vss::detail {

class session_impl;

class engine_core : public std::enable_shared_from_this<engine_core> {
 public:
  engine_core(const asio::any_io_executor& executor, engine_options options);

  const engine_options& options() const noexcept { return options_; }
  const asio::any_io_executor& executor() const noexcept { return executor_; }
  vss::clock& clock() const noexcept { return *options_.clock; }
  const std::shared_ptr<vss::clock>& clock_ptr() const noexcept { return options_.clock; }
  /// Where sessions keep their deadlines: cancelling one costs no wake-up (deadline_queue.hpp).
  deadline_queue& deadlines() const noexcept { return *deadlines_; }
  std::size_t shard_count() const noexcept { return shards_.size(); }
  const strand_type& shard(std::size_t i) const noexcept { return shards_[i]; }
  /// Delivery loops running on shard `i` now (set around each loop by the session): a hint,
  /// read without the strand, of whether entering it would queue (decisions §34).
  std::atomic<int>& loops_running(std::size_t i) const noexcept { return loops_running_[i].n; }
  /// One shard's count, on a cache line of its own: io threads on different shards write them.
  struct alignas(64) loop_count {
    std::atomic<int> n{0};
  };
  /// The counts, shared: for a loop to hold, as it may run after its session is gone.
  const std::shared_ptr<loop_count[]>& loops_running_counts() const noexcept {
    return loops_running_;
  }

  /// A blocking call may wait hot (spinning, yielding) only while it holds this engine's one
  /// hot-wait turn: with many callers blocked at once, spinning threads would take the CPUs
  /// from the io threads that must end their waits (decisions §35). Returns whether the turn
  /// was taken; give it back with end_hot_wait().
  bool try_begin_hot_wait() noexcept {
    bool idle = false;
    return !hot_waiter_.load(std::memory_order_relaxed) &&
           hot_waiter_.compare_exchange_strong(idle, true, std::memory_order_acquire);
  }
  void end_hot_wait() noexcept { hot_waiter_.store(false, std::memory_order_release); }

  // Writers.
  /// `group`: writer_placement::group (empty: the next shard in turn).
  std::shared_ptr<writer_entry> register_writer(std::shared_ptr<vss::writer> w,
                                                const std::string& group, std::error_code& ec);
  void unregister_writer(const writer_instance_id& id);
  bool is_registered(const writer_instance_id& id) const;
  std::vector<std::shared_ptr<writer_entry>> writers() const;
  std::shared_ptr<writer_entry> find_writer(const writer_instance_id& id) const;
  registry_signal& registry(std::size_t shard) noexcept { return *registry_signals_[shard]; }

  // Providers.
  std::error_code register_provider(std::shared_ptr<provider> p);
  /// In registration order: the order AddToSnapshotSet asks them in.
  std::vector<std::shared_ptr<provider>> providers() const;
  /// The provider registered under `id`, or null.
  std::shared_ptr<provider> find_provider(const provider_id& id) const;

  // Reservations (DESIGN.md §3.1): all-or-nothing, so two sessions can never deadlock.
  using grant_fn = std::function<void(errc)>;
  /// Set by a session whose volumes are free from then on, before release_volumes has
  /// removed them from the engine's maps (decisions §38): the abort's drain sets it and leaves
  /// the maps to a later step, unless reservations_pending() says someone may wait for them.
  using release_flag = std::shared_ptr<std::atomic<bool>>;
  /// Grants at once (calls `granted(ok)` inline) or, under overlap_policy::wait, queues the
  /// request; otherwise calls `granted(snapshot_set_in_progress)` inline. A volume granted
  /// here counts as held until release_volumes(who), or until `volumes_released` is set.
  void reserve(const session_id& who, std::vector<std::string> volumes,
               std::vector<writer_instance_id> writers, grant_fn granted,
               release_flag volumes_released = nullptr);
  /// Withdraws a queued request; returns false if it was already granted or unknown.
  bool withdraw(const session_id& who);
  bool volume_held_by_other(const std::string& volume, const session_id& who) const;
  void release_volumes(const session_id& who);
  void release_writers(const session_id& who);
  /// Reservations being decided or queued. Read after setting a release_flag (both
  /// sequentially consistent): when it is 0, no request can have found those volumes held
  /// and queued for them, so their release_volumes may come later.
  bool reservations_pending() const noexcept { return reservations_pending_.load() != 0; }

  // Sessions and shutdown.
  std::shared_ptr<session_impl> create_session();
  void forget_session(const session_id& id);
  bool shutting_down() const;
  void shutdown();
  void start_shutdown(erased_handler handler);

 private:
  struct waiter {
    session_id who;
    std::vector<std::string> volumes;
    std::vector<writer_instance_id> writers;
    grant_fn granted;
    release_flag volumes_released;
  };
  // Who holds a volume, and the flag that frees it early (null: only release_volumes does).
  struct volume_holder {
    session_id who;
    release_flag released;
    bool held_by_other_than(const session_id& s) const noexcept {
      return who != s && !(released && released->load());
    }
  };
  bool can_grant(const waiter& w) const;  // mutex_ held
  void grant(const waiter& w);            // mutex_ held
  // Grants what the queue allows, unlocks, then tells those granted. It leaves `lock`
  // unlocked: every caller is done with the engine's state by then, and taking the mutex back
  // only to drop it was where a burst of releases queued on each other (decisions §30).
  void grant_waiters_and_unlock(std::unique_lock<std::mutex>& lock);

  asio::any_io_executor executor_;
  engine_options options_;
  std::shared_ptr<deadline_queue> deadlines_;
  // Lanes of the deadline queue: in a burst of aborts both io threads arm and cancel at once,
  // and with one lock they queued on it (decisions §33).
  static constexpr std::size_t deadline_lanes = 8;
  // How long the deadline queue keeps its clock waits once idle, on the real clock only (a
  // virtual clock's tests see every wait go with the last entry): a one-at-a-time loop of
  // backups otherwise cancels and re-arms them for each (decisions §38).
  static constexpr std::chrono::milliseconds deadline_linger{50};
  std::vector<strand_type> shards_;
  std::shared_ptr<loop_count[]> loops_running_;
  std::vector<std::unique_ptr<registry_signal>> registry_signals_;
  std::atomic<bool> hot_waiter_{false};
  // reserve() calls under way plus queued waiters (reservations_pending).
  std::atomic<std::size_t> reservations_pending_{0};

  mutable std::mutex mutex_;
  std::map<writer_instance_id, std::shared_ptr<writer_entry>> writers_;
  std::uint64_t next_registration_ = 1;
  std::uint32_t next_shard_ = 0;
  // Each placement group's shard, while it has writers registered (writer_placement).
  struct group_slot {
    std::uint32_t shard = 0;
    std::size_t writers = 0;
  };
  std::unordered_map<std::string, group_slot> groups_;
  std::vector<std::shared_ptr<provider>> providers_;
  // The same providers by id, read once at registration: properties() builds its strings on
  // every call, and a walk asking each provider for its id made every AddToSnapshotSet that
  // names one, and every registration, O(P) string copies (quadratic in a large fleet).
  std::unordered_map<provider_id, std::shared_ptr<provider>> provider_by_id_;
  // The reservation maps are only looked up, never walked in order: hashed, so that a burst of
  // releases does not pay a tree walk of 16-byte id compares per key (decisions §29).
  std::unordered_map<std::string, volume_holder> volume_owner_;
  std::unordered_map<writer_instance_id, session_id> writer_owner_;
  // What each session was granted, so that releasing it visits its own keys, not every
  // session's: an abort burst of M sessions would otherwise cost O(M^2) under mutex_.
  struct held_keys {
    std::vector<std::string> volumes;
    std::vector<writer_instance_id> writers;
  };
  std::unordered_map<session_id, held_keys> held_by_;
  std::list<waiter> waiters_;
  std::map<session_id, std::weak_ptr<session_impl>> sessions_;
  bool shutting_down_ = false;
};

}  // namespace vss::detail
