#pragma once
// One requester session: the state behind vss::backup_session.
//
// Threading: the synchronous requester calls run on the caller's thread under `mutex_`.
// Asynchronous operations, event deliveries, deadlines and the abort sequence run on the
// session strand `strand_`; they also take `mutex_` for bookkeeping, and never hold it while
// calling a provider or completing a handler. Writer handlers run on shard strands (see
// writers/fan_out.hpp) and report back through phase collectors.

#include <algorithm>
#include <asio/post.hpp>
#include <atomic>
#include <boost/container/small_vector.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/engine_core.hpp"
#include "session/snapshot_steps.hpp"
#include "session/state_machine.hpp"
#include "vss/backup_session.hpp"
#include "vss/detail/erased_handler.hpp"
#include "vss/detail/session_ops.hpp"
#include "writers/fan_out.hpp"

namespace vss::detail {

// A set's providers, each once: mostly one or two, so held inline (each provider step and the
// abort's provider leg take one of these).
using provider_list = boost::container::small_vector<std::shared_ptr<provider>, 2>;

struct session_phase_parts;  // session_delivery.cpp

class session_impl : public std::enable_shared_from_this<session_impl> {
 public:
  explicit session_impl(std::shared_ptr<engine_core> core);
  ~session_impl();

  session_id id() const noexcept { return id_; }
  asio::any_io_executor executor() const noexcept { return core_->executor(); }
  void refuse();  // the engine is shutting down: initialize_for_backup says bad_state

  // Requester calls (any thread).
  session_state state() const;
  std::error_code initialize_for_backup();
  std::error_code set_context(std::uint32_t context);
  std::error_code set_backup_state(bool select_components, bool bootable, backup_type type,
                                   bool partial);
  std::vector<writer_metadata> metadata() const;
  std::error_code add_component(const writer_instance_id& instance, const writer_class_id& cls,
                                component_type type, std::string_view logical_path,
                                std::string_view name);
  std::error_code start_snapshot_set(snapshot_set_id& set);
  std::error_code add_to_snapshot_set(std::string_view volume, const provider_id& provider,
                                      snapshot_id& snapshot);
  std::vector<writer_status> status() const;
  std::error_code set_backup_succeeded(const writer_instance_id& instance,
                                       const writer_class_id& cls, component_type type,
                                       std::string_view logical_path, std::string_view name,
                                       bool succeeded);
  std::error_code abort_backup();
  std::error_code get_snapshot_properties(const snapshot_id& id, snapshot_properties& out) const;
  std::error_code query(std::vector<snapshot_properties>& out);
  std::error_code query_providers(std::vector<provider_properties>& out);
  std::error_code is_volume_supported(const provider_id& provider, std::string_view volume,
                                      bool& supported) const;
  std::error_code delete_snapshots(const guid& source, object_type type, bool force,
                                   std::int32_t& deleted, snapshot_id& not_deleted);
  std::vector<phase_report> reports() const;
  consistency_grade consistency() const;
  write_hold_report hold_report() const;

  // Asynchronous operations.
  std::uint64_t next_op_id() noexcept { return next_op_.fetch_add(1) + 1; }
  void start(op_kind kind, std::uint64_t id, erased_handler handler);
  void cancel(op_kind kind, std::uint64_t id);

  // Lifetime.
  void release();             // the last handle went away, or release() was called
  void abort_for_shutdown();  // engine shutdown
  void when_drained(std::function<void()> fn);  // runs fn once no abort work is pending
  // Runs fn once no abort work is pending and, if release() was called, once its
  // BackupShutdown is answered: until then the session keeps itself alive, so an executor
  // stopped earlier would leave writers without BackupShutdown and the session leaked.
  void when_quiet(std::function<void()> fn);

 private:
  friend struct session_phase_parts;  // ends its phase (on_phase_settled)
  // Participant index per slot of a delivery; shared by the phase, its event_info and, for a
  // delivery to every participant, the session (delivery_order_), so it is never copied.
  using slot_map = std::shared_ptr<const std::vector<std::uint32_t>>;

  // One cache line each (decisions §26): every phase's writer states, and every choice of
  // targets but the abort's usual one, walk all participants.
  struct alignas(64) participant {
    std::shared_ptr<writer_entry> entry;
    std::shared_ptr<const std::vector<selected_component>> components;
    timer::time_point freeze_deadline{};
    /// SetWriterFailureEx's message; null when there is none (a rare payload: 8 bytes where
    /// an empty std::string would take 32).
    std::unique_ptr<const std::string> message;
    writer_state state = writer_state::stable;
    errc failure = errc::ok;
    bool failed = false;  // excluded from the following phases (spec §10.2)
    bool got_prepare_backup = false;
    bool got_freeze = false;
    bool thaw_sent = false;
    bool abort_sent = false;
    bool past_post_snapshot = false;
    bool quiesced = false;  // froze and thawed successfully
  };
  static_assert(sizeof(participant) == 64, "keep a participant within one cache line");

  struct phase_state {
    std::uint64_t id = 0;
    writer_event event = writer_event::identify;
    std::shared_ptr<phase_collector> collector;
    slot_map targets;                                       // participant index per slot
    std::vector<std::shared_ptr<writer_entry>> registered;  // Identify: entry per slot
    // Per slot only for Freeze (each writer has its own freeze timeout); every other event
    // has one deadline for all its slots, so a delivery does not fill N copies of it.
    std::vector<timer::time_point> deadlines;
    timer::time_point common_deadline = timer::time_point::max();
    deadline_queue::deadline deadline_timer;
    timer::time_point started{};
    std::function<void()> then;  // continuation on the strand, lock not held
    // then_runs::where_settled: its deadline, too, acts where its timer completes, never
    // through the strand, which a handler run inline there may hold (decisions §32).
    bool ends_off_strand = false;
  };

  struct volume_entry {
    std::string volume;
    snapshot_id snapshot;
    std::shared_ptr<provider> owner;
  };

  struct pending_op {
    std::uint64_t id = 0;
    erased_handler handler;
  };

  enum class abort_reason : std::uint8_t { requested, cancelled, failed };

  // Strand side. `lock` parameters are held on entry and may be released.
  void run_op(op_kind kind, std::uint64_t id, erased_handler handler);
  void gather_metadata();
  void prepare_for_backup(std::uint64_t id);
  void begin_prepare_events();
  void advance_snapshot();
  void call_providers(snapshot_step step);
  void on_provider_step_done(snapshot_step step, std::error_code ec);
  void on_hold_expired(snapshot_step step_kind);
  // Flush-and-hold around the commit (spec §7.1): false when the writes could not be held
  // (the set then fails with VSS_E_FLUSH_WRITES_TIMEOUT). Called off mutex_: FIFREEZE blocks
  // while the kernel flushes.
  bool hold_writes();
  void release_writes(bool expired);
  void arm_freeze_watchdog();  // mutex_ held
  void on_freeze_watchdog();
  // Per participant: its Freeze is still being answered, so until it answers its window is
  // its phase's deadline, not the watchdog's (mutex_ held).
  std::vector<char> answering_freeze() const;
  void gather_status(pending_op op);
  void backup_complete(std::uint64_t id);

  // Where a delivery's continuation runs once every answer is in. On the strand, unless it
  // only touches what mutex_ guards (the abort sequence's writer leg): then, when the last
  // answer lands at the end of a shard's loop, it runs right there (decisions §30).
  enum class then_runs : std::uint8_t { on_strand, where_settled };
  std::uint64_t deliver(writer_event event, std::vector<std::uint32_t> targets,
                        std::function<void()> then, then_runs where = then_runs::on_strand);
  // deliver() to every participant, in delivery_order_, with no list of targets to build.
  std::uint64_t deliver_to_all(writer_event event, std::function<void()> then,
                               then_runs where = then_runs::on_strand);
  std::uint64_t deliver_ordered(writer_event event, slot_map ordered,
                                const std::vector<std::pair<std::uint32_t, std::uint32_t>>& ranges,
                                std::function<void()> then, then_runs where);
  // The abort sequence's OnAbort, to every writer still to hear it; false if there is none.
  bool deliver_abort_to_writers(std::function<void()> then);
  // One shard's part of a delivery, to run on that shard's strand. A plain value, not a
  // std::function: posted or kept, it takes no block of its own (decision 49).
  struct shard_loop {
    std::size_t shard = 0;
    delivery d;
    std::shared_ptr<const member_list> members;
    // Shared, not borrowed from the core: a loop may still run after its session, and the
    // engine, are gone.
    std::shared_ptr<engine_core::loop_count[]> counts;
    std::uint32_t first = 0;
    std::uint32_t end = 0;

    void operator()() const {
      // Counted while it runs, so that run_kept_loops can tell a busy shard.
      struct mark {
        std::atomic<int>& n;
        explicit mark(std::atomic<int>& c) : n(c) { n.fetch_add(1, std::memory_order_relaxed); }
        ~mark() { n.fetch_sub(1, std::memory_order_release); }
      } marked(counts[shard].n);
      deliver_to_shard(d, *members, first, end);
    }
  };
  // While set (mutex_ held), deliver_ordered keeps the loops it would post for a where_settled
  // delivery in kept_loops_ instead: all of them up to loops_kept_whole writers, the last
  // beyond (decisions §32, §33).
  bool keeping_loops_ = false;
  // The abort's kept loops not yet started; mutex_ guards it. Each is taken once, by whichever
  // comes first: the strand step that runs them one after the other on its thread
  // (run_kept_loops), or hand_off_timer_, which hands those still waiting to their shards'
  // strands (hand_off_kept_loops) once the kept loops have had kept_loops_hand_off_after: so
  // a handler that blocks in one holds the others' writers for that long at most.
  std::vector<shard_loop> kept_loops_;
  // Running this many trivial handlers one after the other costs less than waking the other
  // io thread for some of them (decisions §32).
  static constexpr std::size_t loops_kept_whole = 1024;
  static constexpr std::chrono::microseconds kept_loops_hand_off_after{1000};
  // How long, in all, run_kept_loops yields for shards busy with another loop before it lets
  // the loop queue there (decisions §34): a few of the other thread's loops, not a time slice.
  static constexpr std::chrono::microseconds kept_loop_wait{20};
  // How long a blocking AbortBackup watches for the drain before it sleeps (decisions §35).
  static constexpr std::chrono::microseconds abort_wait_hot{200};
  void run_kept_loops();
  void hand_off_kept_loops();
  /// True once Abort went to `p`: by name (side aborts), or to every participant at once.
  bool abort_sent(const participant& p) const noexcept {
    return p.abort_sent || abort_sent_to_all_;
  }
  void deliver_identify(std::vector<std::shared_ptr<writer_entry>> entries,
                        std::function<void()> then);
  // (shard, first slot) per shard of a slot order sorted by bucket.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> shard_ranges(
      const std::vector<std::uint32_t>& ordered) const;
  static timer::time_point deadline_of(const phase_state& phase, std::uint32_t slot) {
    return phase.deadlines.empty() ? phase.common_deadline : phase.deadlines[slot];
  }
  void arm_deadline(phase_state& phase);
  // Arms `t` for `at`; on expiry, `on_expiry(*this)` runs on the strand.
  // Every session deadline goes through here: an entry of the engine's deadline_queue, whose
  // function runs on the engine's executor, not on the strand, and whose cancel posts nothing
  // (nearly every deadline ends cancelled: the phase settled, the step returned, an abort
  // came; decisions §25, §33). A stale expiry that reaches the strand after a re-arm finds
  // nothing due: every handler checks the state it acts on.
  // With `via_strand` false, on_expiry runs where the deadline fires instead, for a handler
  // that takes mutex_ itself and must not wait for the strand (decisions §32).
  template <class OnExpiry>
  void arm_timer(deadline_queue::deadline& t, timer::time_point at, OnExpiry on_expiry,
                 bool via_strand = true) {
    // The session's lifetime goes beside the function (the deadline's owner), not in it: a
    // function of `this` and a handler of at most 8 bytes is stored inline, so an arm
    // allocates nothing (decision 47). While it runs, the owner keeps `this` alive.
    static_assert(sizeof(OnExpiry) <= sizeof(std::uint64_t) &&
                  std::is_trivially_copyable_v<OnExpiry>);
    // Two functions rather than one testing `via_strand`: the flag would take it past the 16
    // bytes std::function keeps inline.
    if (!via_strand) {
      t.arm(core_->deadlines(), at, weak_from_this(), [self = this, on_expiry] {
        engine_thread_scope scope;
        on_expiry(*self);
      });
      return;
    }
    t.arm(core_->deadlines(), at, weak_from_this(), [self = this, on_expiry] {
      asio::post(self->strand_, [s = self->shared_from_this(), on_expiry] {
        engine_thread_scope scope;
        on_expiry(*s);
      });
    });
  }
  // Arms the phase's timer at `earliest`, known by the caller (a fresh delivery: every slot is
  // still pending, so there is nothing to scan).
  void arm_deadline_at(phase_state& phase, timer::time_point earliest);
  // Arms it from a strand step of its own, if the phase has not settled by then.
  void arm_deadline_unless_settled(std::uint64_t phase_id, timer::time_point earliest);
  void on_deadline(std::uint64_t phase_id);
  void on_phase_settled(std::uint64_t phase_id);
  // Records a settled phase (reports) and applies its answers to the writer states.
  void apply_results(phase_state& phase);
  // Records it now and applies it once the abort has drained (decisions §24, §27): used for
  // the phases an abort supersedes and for its own answers, which the requester does not wait
  // for.
  void defer_results(phase_state& phase);
  // After the drain, applies what defer_results kept back: called by whatever reads or changes
  // the writer states next, not by the handler that wakes the requester (decisions §27).
  void catch_up_deferred_results();
  struct recorded_phase;
  void apply_recorded(const recorded_phase& phase);
  void record(phase_state& phase);
  // The abort sequence retires the phases it ends instead of destroying them (mutex_ held):
  // tearing one down touches its collector, its continuation, its deadline's entry and their
  // frees, none of which the requester waits for. check_drained hands them to reap_retired,
  // deferred to the engine's executor once the abort is reported: in a burst of aborts that
  // runs behind the other sessions' abort steps (decisions §38).
  void retire(std::unique_ptr<phase_state> phase);
  // Destroys the retired phases, cancels the freeze watchdog and, if the drain left it,
  // removes this session's volumes from the engine's maps.
  void reap_retired();
  void side_abort(std::vector<std::uint32_t> writers);

  void request_abort_on_strand(abort_reason reason, std::error_code failure);
  // `loops_here`: called from a strand step of a requested abort or a cancel, holding no
  // lock, so that the OnAbort loops may run on this thread (decisions §32).
  void start_abort_legs(bool loops_here = false);
  void run_provider_rollback();
  void check_drained();
  void finish_snapshot_op(std::error_code ec);
  void complete(erased_handler& handler, std::error_code ec);
  void release_on_strand();
  void finish_release();

  // Marks the abort due and posts its strand step (once); false with `ec` if the machine
  // refuses it. `in_progress`: whether a drain is under way to wait for. `waiter`: a handler
  // moved into abort_waiters_ when there is one (left in place otherwise).
  bool request_abort(bool from_requester, std::error_code& ec, bool* in_progress = nullptr,
                     erased_handler* waiter = nullptr);
  bool abort_in_progress() const;  // mutex_ held
  std::vector<std::uint32_t> targets_where(
      const std::function<bool(const participant&)>& pred) const;  // mutex_ held
  provider_list set_providers() const;                             // mutex_ held
  std::chrono::milliseconds deadline_for(writer_event e) const noexcept;
  bool auto_release() const noexcept;

  const std::shared_ptr<engine_core> core_;
  const session_id id_ = session_id::generate();
  strand_type strand_;
  std::atomic<std::uint64_t> next_op_{0};

  mutable std::mutex mutex_;
  // The blocking AbortBackup waits on its own mutex, not on mutex_: a woken caller must not
  // contend with the engine thread, which still takes mutex_ right after the drain.
  std::mutex drain_mutex_;
  std::condition_variable drained_cv_;
  // Written under drain_mutex_; atomic so that the caller can first wait for it hot.
  std::atomic<bool> drain_signalled_{false};
  session_machine machine_;
  bool refused_ = false;
  bool released_ = false;
  std::uint32_t context_ = 0;
  bool select_components_ = false;
  bool bootable_ = false;
  bool partial_ = false;
  vss::backup_type backup_type_ = vss::backup_type::undefined;
  snapshot_set_id set_;
  std::vector<volume_entry> volumes_;
  std::shared_ptr<const std::vector<std::string>> volume_names_;
  std::vector<vss::writer_metadata> metadata_;
  std::vector<std::shared_ptr<writer_entry>> identified_;
  std::map<writer_instance_id, std::vector<selected_component>> selection_;
  std::vector<participant> participants_;
  // The participants' entries, shared with every delivery (fixed at PrepareForBackup).
  std::shared_ptr<const member_list> members_;
  // Per participant: shard * 3 + freeze group, so a delivery orders its slots without
  // touching every writer object (deliver).
  std::vector<std::uint32_t> bucket_of_;
  // Every participant ordered by bucket_of_ (stable), computed once at PrepareForBackup: a
  // delivery's slot order is this order filtered to its targets, and each shard's slots are
  // then one contiguous range.
  slot_map delivery_order_;
  // delivery_order_ cut into shards: (shard, first slot) per shard that has participants.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> delivery_ranges_;
  // The participants' selected components, shared with every delivery; rebuilt lazily after
  // SetBackupSucceeded changes one (null = rebuild at the next delivery).
  std::shared_ptr<const std::vector<std::shared_ptr<const std::vector<selected_component>>>>
      components_table_;
  // The phases still collecting, by id, oldest first: seldom more than two at once (an
  // event's and the abort's). A vector whose ids are scanned in place: a map's nodes are a
  // cache line each to touch, rebalance and free, which the abort's supersede paid for every
  // session of a burst (decisions §38).
  using phase_list = std::vector<std::pair<std::uint64_t, std::unique_ptr<phase_state>>>;
  phase_list phases_;
  phase_list::iterator find_phase(std::uint64_t id) noexcept {
    return std::find_if(phases_.begin(), phases_.end(),
                        [id](const auto& p) { return p.first == id; });
  }
  std::uint64_t next_phase_ = 0;
  // Reports are built on demand from the collectors (reports()): building them while an
  // abort drains would cost a string copy per writer on the latency path.
  struct recorded_phase {
    writer_event event = writer_event::identify;
    timer::time_point started{};
    timer::time_point settled{};
    std::shared_ptr<phase_collector> collector;
    slot_map targets;                                       // participant index per slot
    std::vector<std::shared_ptr<writer_entry>> registered;  // Identify: entry per slot
  };
  std::vector<recorded_phase> history_;
  // history_ entries whose answers are not yet applied to the writer states: once the abort
  // has drained, the next strand operation that reads or changes those states applies them
  // first (catch_up_deferred_results), in the order they were recorded.
  std::vector<std::size_t> unapplied_;
  std::vector<writer_status> status_;

  std::optional<pending_op> metadata_op_;
  std::optional<pending_op> prepare_op_;
  std::optional<pending_op> backup_complete_op_;
  std::vector<erased_handler> abort_waiters_;
  std::vector<erased_handler> release_waiters_;
  std::vector<std::function<void()>> release_callbacks_;  // when_quiet() after a release
  bool release_requested_ = false;  // release() called; set before its post runs
  bool release_done_ = false;
  std::vector<std::function<void()>> drain_callbacks_;
  // Phases the abort sequence ended, still to be destroyed (retire). A retired phase is no
  // longer in phases_, so its deadline, should it fall first, finds nothing to act on.
  std::vector<std::unique_ptr<phase_state>> retired_phases_;
  // Reserved at PrepareBackup: the phases an abort usually ends (one writer event collecting,
  // and the abort's own when a second abort leg follows).
  static constexpr std::size_t retired_phases_reserved = 2;
  // Frees this session's volumes for every other session at once when set (the abort's drain
  // sets it); the engine's maps still list them until release_volumes (decisions §38).
  engine_core::release_flag volumes_released_;
  // The drain set volumes_released_ and left release_volumes to reap_retired (or to the
  // destructor, should the reap never run).
  bool volumes_release_deferred_ = false;
  deadline_queue::deadline reservation_timer_;

  struct snapshot_op {
    std::uint64_t id = 0;
    erased_handler handler;
    snapshot_step step = snapshot_step::end_prepare;
    std::error_code failure;
  };
  std::optional<snapshot_op> snap_;
  bool provider_call_in_flight_ = false;
  snapshot_step provider_call_step_ = snapshot_step::end_prepare;
  deadline_queue::deadline hold_timer_;
  std::unique_ptr<held_writes> held_;  // destroyed (thawed) with the session at the latest
  timer::time_point hold_started_{};
  write_hold_report hold_report_;
  bool atomic_commit_ = false;  // every provider of the set commits an atomic image
  deadline_queue::deadline freeze_watchdog_;
  bool end_prepare_called_ = false;
  bool set_created_ = false;  // PostFinalCommit succeeded
  bool snapshots_deleted_ = false;
  int side_aborts_in_flight_ = 0;
  // Whether the abort sequence may address every participant without looking at each
  // (decisions §26): no participant was aborted alone, none is past PostSnapshot.
  bool abort_sent_to_some_ = false;
  bool past_post_snapshot_any_ = false;
  bool abort_sent_to_all_ = false;  // the abort sequence's OnAbort went to every participant

  bool abort_due_ = false;        // AbortBackup was called; the strand has not seen it yet
  bool abort_requested_ = false;  // an abort (requested, cancel, failure, release) is running
  bool provider_rollback_started_ = false;
  bool abort_started_ = false;  // the abort legs were started
  bool abort_waits_for_commit_ = false;
  abort_reason abort_reason_ = abort_reason::requested;
  bool writer_leg_done_ = false;
  bool provider_leg_done_ = false;
  bool provider_leg_gave_up_ = false;  // the provider did not finish within the abort deadline
  deadline_queue::deadline provider_leg_timer_;
  // The kept loops' hand-off (kept_loops_): cancelled once no loop is left to hand on. Apart
  // from the phase's deadline, whose expiry times writers out (decisions §33).
  deadline_queue::deadline hand_off_timer_;
  bool drained_ = false;
};

}  // namespace vss::detail
