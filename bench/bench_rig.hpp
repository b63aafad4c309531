#pragma once
// The engine side of the abort-latency harness: trivial writers and a memory provider that can
// hold a session in a chosen phase, the per-session control block they report to, and the
// helpers that drive one session up to that phase and time its abort.
//
// A "group" is the writers, provider and volume of one session. Writers and provider of a
// group stamp into it; the harness reads the stamps once the abort is over. One writer of each
// group (index 0, the "holder") keeps the context of the phase's event open until OnAbort, so
// the session stays in that phase until the abort arrives; the provider does the same for the
// provider phases (commit, after thaw, and EndPrepare for the cancellation leg).
//
// Thread-safety: writer and provider callbacks run on engine threads and touch only atomics
// or state under the group's mutex; everything else runs on the harness thread.

#include <algorithm>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "baselines.hpp"
#include "vss/vss.hpp"

namespace vss::bench {

/// Where the abort lands (issue 4's phases; "prepare backup" included).
enum class phase_kind : std::uint8_t {
  prepare_backup,    ///< the holder keeps OnPrepareBackup open; the PrepareForBackup op runs
  prepare_snapshot,  ///< the holder keeps OnPrepareSnapshot open (DoSnapshotSet runs)
  frozen,            ///< every writer got OnFreeze, the holder keeps its Freeze open
  commit,            ///< the provider's CommitSnapshots is in flight (writers frozen)
  after_thaw,        ///< writers thawed; the provider's PreFinalCommitSnapshots is in flight
  end_prepare,       ///< the provider's EndPrepareSnapshots is in flight (cancel_leg only)
};

inline std::string_view to_string(phase_kind p) {
  switch (p) {
    case phase_kind::prepare_backup:
      return "prepare_backup";
    case phase_kind::prepare_snapshot:
      return "prepare_snapshot";
    case phase_kind::frozen:
      return "frozen";
    case phase_kind::commit:
      return "commit";
    case phase_kind::after_thaw:
      return "after_thaw";
    case phase_kind::end_prepare:
      return "end_prepare";
  }
  return "?";
}

/// How a writer answers OnAbort.
enum class behaviour_kind : std::uint8_t {
  immediate,     ///< completes inline
  async_1ms,     ///< completes 1 ms later from a timer thread of the harness
  blocking_1ms,  ///< a blocking writer that sleeps 1 ms in OnAbort
};

inline std::string_view to_string(behaviour_kind b) {
  switch (b) {
    case behaviour_kind::immediate:
      return "immediate";
    case behaviour_kind::async_1ms:
      return "async_1ms";
    case behaviour_kind::blocking_1ms:
      return "blocking_1ms";
  }
  return "?";
}

/// How a sample's writers show that they heard OnAbort (docs/decisions.md §35). The harness's
/// own bookkeeping must not be what it measures: one counter shared by every writer made the
/// N = 10,000 abort with 2 io threads a third slower (its cache line crossed between the cores
/// on every writer), so the caller-seen times come from aborts whose writers do nothing else.
enum class abort_probe : std::uint8_t {
  /// Each writer counts down its stripe of the group's countdown; the writer that ends the last
  /// stripe stamps writers_done_ns. Gives t_drain, at the cost of one atomic add per writer.
  count,
  /// Writers only answer. Gives t_cancel, t_return and t_done; the harness then checks in the
  /// session's report that every writer completed its OnAbort.
  quiet,
};

/// Which provider step the provider keeps open.
enum class hold_step : std::uint8_t { none, end_prepare, commit, pre_final_commit };

class bench_provider;
class bench_writer;

/// The control block of one session: configuration and the stamps of the current sample.
struct group {
  phase_kind phase = phase_kind::frozen;
  behaviour_kind behaviour = behaviour_kind::immediate;
  bool hold = true;  ///< false in race mode: nothing is held, the backup runs through
  std::string volume;
  /// writer_placement::group of every writer of the group (empty: none; --group-writers).
  std::string placement_group;
  std::shared_ptr<bench_provider> provider;
  /// The provider AddToSnapshotSet names: `provider`'s, or a shared_bench_provider's.
  vss::provider_id provider_id;
  std::vector<std::shared_ptr<bench_writer>> writers;
  std::vector<vss::writer_registration> registrations;

  // Per sample (reset by begin_sample()).
  std::atomic<abort_probe> probe{abort_probe::count};  ///< set before each abort
  std::atomic<std::uint32_t> arrived{0};
  std::atomic<std::int64_t> writers_done_ns{0};    ///< stamped by the last OnAbort (count)
  std::atomic<std::int64_t> provider_abort_ns{0};  ///< stamped in AbortSnapshots
  std::atomic<std::int64_t> op_done_ns{0};         ///< the in-flight op's handler ran
  std::atomic<std::int64_t> abort_done_ns{0};      ///< async_abort_backup's handler ran
  std::atomic<std::int64_t> op_started_ns{0};      ///< race mode: DoSnapshotSet called

  /// The writer event the holder keeps open in this group's phase, if any.
  std::optional<vss::writer_event> hold_event() const {
    if (!hold) return std::nullopt;
    switch (phase) {
      case phase_kind::prepare_backup:
        return vss::writer_event::prepare_backup;
      case phase_kind::prepare_snapshot:
        return vss::writer_event::prepare_snapshot;
      case phase_kind::frozen:
        return vss::writer_event::freeze;
      default:
        return std::nullopt;
    }
  }

  /// The provider step held in this group's phase.
  hold_step provider_hold() const {
    if (!hold) return hold_step::none;
    switch (phase) {
      case phase_kind::commit:
        return hold_step::commit;
      case phase_kind::after_thaw:
        return hold_step::pre_final_commit;
      case phase_kind::end_prepare:
        return hold_step::end_prepare;
      default:
        return hold_step::none;
    }
  }

  void begin_sample() {
    arrived.store(0);
    // Writer i counts down stripe i % used: one stripe per 128 writers, so that a small group
    // (a burst's 10 writers a session) touches one line of it, as one counter would.
    const auto n = writers.size();
    const auto used = std::clamp<std::size_t>(n / 128, 1, max_stripes);
    if (stripe_count_ != used) {
      countdown_ = std::make_unique<stripe[]>(used);
      stripe_count_ = used;
    }
    stripes_in_use_.store(used, std::memory_order_relaxed);
    for (std::size_t k = 0; k < used; ++k) {
      countdown_[k].remaining.store(static_cast<std::int64_t>(n / used + (k < n % used ? 1 : 0)));
    }
    stripes_remaining_.store(static_cast<std::int64_t>(std::min(n, used)));
    writers_done_ns.store(0);
    provider_abort_ns.store(0);
    op_done_ns.store(0);
    abort_done_ns.store(0);
    op_started_ns.store(0);
    std::lock_guard lock(mutex_);
    ready_ = false;
    op_ec_ = {};
    abort_ec_ = {};
  }

  /// A writer received the held event (the holder after storing its context).
  void arrive() {
    if (arrived.fetch_add(1, std::memory_order_acq_rel) + 1 == writers.size()) set_ready();
  }

  /// The session reached its phase.
  void set_ready() {
    std::lock_guard lock(mutex_);
    ready_ = true;
    cv_.notify_all();
  }

  /// Writer `index` finished OnAbort, in a count sample (called just before it completes its
  /// context, so the stamp never comes after the engine saw the answer). Striped, so that
  /// writers running at once on two threads rarely touch the same cache line: the chains of
  /// acq_rel decrements order every writer before the final stamp.
  void writer_aborted(std::size_t index) {
    const auto used = stripes_in_use_.load(std::memory_order_relaxed);
    if (countdown_[index % used].remaining.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (used > 1 && stripes_remaining_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    writers_done_ns.store(now_ns(), std::memory_order_release);
  }

  /// Completion handler of the in-flight operation (DoSnapshotSet or PrepareForBackup).
  auto op_handler() {
    return [this](std::error_code ec) {
      const auto t = now_ns();
      std::lock_guard lock(mutex_);
      op_ec_ = ec;
      op_done_ns.store(t, std::memory_order_release);
      cv_.notify_all();
    };
  }

  /// Completion handler of async_abort_backup (burst mode).
  auto abort_handler(countdown& burst) {
    return [this, &burst](std::error_code ec) {
      const auto t = now_ns();
      {
        std::lock_guard lock(mutex_);
        abort_ec_ = ec;
        abort_done_ns.store(t, std::memory_order_release);
      }
      burst.done_one();
    };
  }

  /// Waits until the session reached its phase.
  bool wait_ready(std::chrono::milliseconds bound) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, bound, [this] { return ready_; });
  }

  /// Waits until the in-flight operation completed.
  bool wait_op(std::chrono::milliseconds bound) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, bound, [this] { return op_done_ns.load() != 0; });
  }

  std::error_code op_ec() const {
    std::lock_guard lock(mutex_);
    return op_ec_;
  }
  std::error_code abort_ec() const {
    std::lock_guard lock(mutex_);
    return abort_ec_;
  }

 private:
  static constexpr std::size_t max_stripes = 64;
  struct alignas(64) stripe {
    std::atomic<std::int64_t> remaining{0};
  };
  std::unique_ptr<stripe[]> countdown_ = std::make_unique<stripe[]>(1);  // sized by begin_sample
  std::size_t stripe_count_ = 1;
  std::atomic<std::size_t> stripes_in_use_{1};
  std::atomic<std::int64_t> stripes_remaining_{0};  // stripes not yet at zero, when > 1

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool ready_ = false;
  std::error_code op_ec_;
  std::error_code abort_ec_;
};

/// A harness-owned thread running timers, for the async_1ms writers.
class timer_thread {
 public:
  timer_thread() : work_(asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~timer_thread() {
    work_.reset();
    thread_.join();
  }
  timer_thread(const timer_thread&) = delete;
  timer_thread& operator=(const timer_thread&) = delete;

  /// Runs `fn` on the timer thread after `delay`.
  void after(std::chrono::microseconds delay, std::function<void()> fn) {
    auto t = std::make_shared<asio::steady_timer>(io_, delay);
    t->async_wait([t, fn = std::move(fn)](std::error_code) { fn(); });
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

/// A trivial writer: answers every event inline, except that the holder keeps the context of
/// its group's held event until OnAbort.
class bench_writer final : public vss::writer {
 public:
  bench_writer(group& g, std::size_t index, timer_thread* timers)
      : vss::writer(identity_for(g, index)),
        group_(g),
        index_(index),
        holder_(index == 0),
        timers_(timers) {}

  void on_identify(vss::writer_context ctx) override {
    if (auto* md = ctx.metadata()) {
      vss::component_info c;
      c.name = "c";
      c.volumes = {group_.volume};
      md->components.push_back(std::move(c));
    }
    ctx.complete();
  }
  void on_prepare_backup(vss::writer_context ctx) override { answer(std::move(ctx)); }
  void on_prepare_snapshot(vss::writer_context ctx) override { answer(std::move(ctx)); }
  void on_freeze(vss::writer_context ctx) override { answer(std::move(ctx)); }
  void on_thaw(vss::writer_context ctx) override { ctx.complete(); }
  void on_post_snapshot(vss::writer_context ctx) override { ctx.complete(); }
  void on_backup_complete(vss::writer_context ctx) override { ctx.complete(); }
  void on_backup_shutdown(vss::writer_context ctx) override {
    held_.reset();  // a run that never aborted (race mode) lets go here
    ctx.complete();
  }

  void on_abort(vss::writer_context ctx) override {
    held_.reset();  // superseded: the engine ignores the late answer
    switch (group_.behaviour) {
      case behaviour_kind::immediate:
        heard_abort();
        ctx.complete();
        return;
      case behaviour_kind::blocking_1ms:
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        heard_abort();
        ctx.complete();
        return;
      case behaviour_kind::async_1ms: {
        auto held = std::make_shared<vss::writer_context>(std::move(ctx));
        timers_->after(std::chrono::milliseconds(1), [this, held] {
          heard_abort();
          held->complete();
        });
        return;
      }
    }
  }

 private:
  static vss::writer_identity identity_for(const group& g, std::size_t index) {
    vss::writer_identity id;
    id.name = "bench-writer-" + std::to_string(index);
    id.level = vss::application_level::front_end;
    if (g.behaviour == behaviour_kind::blocking_1ms) {
      id.execution = vss::handler_execution::blocking;
    }
    return id;
  }

  void heard_abort() {
    if (group_.probe.load(std::memory_order_relaxed) == abort_probe::count) {
      group_.writer_aborted(index_);
    }
  }

  void answer(vss::writer_context ctx) {
    const auto held = group_.hold_event();
    if (!held || ctx.event() != *held) {
      ctx.complete();
      return;
    }
    if (holder_) {
      held_.emplace(std::move(ctx));
    } else {
      ctx.complete();
    }
    group_.arrive();
  }

  group& group_;
  const std::size_t index_;
  const bool holder_;
  timer_thread* timers_;
  std::optional<vss::writer_context> held_;  // touched only by this writer's handlers
};

/// After a quiet sample: whether the session's last Abort delivery reached every writer of `g`
/// and each completed it (the only way a writer's result reads `completed`).
inline bool every_writer_completed_abort(const group& g, const vss::backup_session& s) {
  const auto reports = s.phase_reports();
  for (auto it = reports.rbegin(); it != reports.rend(); ++it) {
    if (it->event != vss::writer_event::abort) continue;
    return it->results.size() == g.writers.size() &&
           it->count(vss::writer_outcome::completed) == g.writers.size();
  }
  return g.writers.empty();
}

/// `done`, stamping `g`'s provider_abort_ns first (no stamp for a null `g`): the AbortSnapshots
/// answer, as both bench providers report it.
inline vss::provider::completion stamping_abort(group* g, vss::provider::completion done) {
  return [g, done = std::move(done)](std::error_code ec) {
    if (g != nullptr) g->provider_abort_ns.store(now_ns(), std::memory_order_release);
    done(ec);
  };
}

/// The memory provider, able to keep one step open until released (or, for EndPrepare, until
/// AbortSnapshots arrives), and stamping its abort.
class bench_provider final : public vss::memory_provider {
 public:
  explicit bench_provider(group& g) : group_(g) {}

  void end_prepare_snapshots(const vss::snapshot_set_id& set, completion done) override {
    if (hold(hold_step::end_prepare, set, done)) return;
    memory_provider::end_prepare_snapshots(set, std::move(done));
  }
  void commit_snapshots(const vss::snapshot_set_id& set, completion done) override {
    if (hold(hold_step::commit, set, done)) return;
    memory_provider::commit_snapshots(set, std::move(done));
  }
  void pre_final_commit_snapshots(const vss::snapshot_set_id& set, completion done) override {
    if (hold(hold_step::pre_final_commit, set, done)) return;
    memory_provider::pre_final_commit_snapshots(set, std::move(done));
  }
  void abort_snapshots(const vss::snapshot_set_id& set, completion done) override {
    // AbortSnapshots must stop a running preparation promptly (spec §11.2).
    release_held();
    memory_provider::abort_snapshots(set, stamping_abort(&group_, std::move(done)));
  }

  /// Completes the held step, as if it had just finished. No-op if nothing is held.
  void release_held() {
    std::optional<held_call> call;
    {
      std::lock_guard lock(mutex_);
      call.swap(held_);
    }
    if (!call) return;
    switch (call->step) {
      case hold_step::end_prepare:
        memory_provider::end_prepare_snapshots(call->set, std::move(call->done));
        break;
      case hold_step::commit:
        memory_provider::commit_snapshots(call->set, std::move(call->done));
        break;
      case hold_step::pre_final_commit:
        memory_provider::pre_final_commit_snapshots(call->set, std::move(call->done));
        break;
      case hold_step::none:
        break;
    }
  }

 private:
  struct held_call {
    hold_step step = hold_step::none;
    vss::snapshot_set_id set;
    completion done;
  };

  bool hold(hold_step step, const vss::snapshot_set_id& set, completion& done) {
    if (group_.provider_hold() != step) return false;
    {
      std::lock_guard lock(mutex_);
      held_ = held_call{step, set, std::move(done)};
    }
    group_.set_ready();
    return true;
  }

  group& group_;
  std::mutex mutex_;
  std::optional<held_call> held_;
};

/// One memory provider for many groups, as a deployment has one (`--shared-provider`): a
/// burst's aborts then meet in its lock, which a provider per session never shows. It holds
/// no step (the burst holds the writers' Freeze only) and stamps each AbortSnapshots into the
/// group whose volume the set holds.
///
/// For one burst at a time only (run_session_cell), unlike a real provider, whose
/// begin_prepare_snapshot may be called at any time. The set → group map is written while the
/// sessions prepare and only read while they abort, so that the harness adds no lock of its
/// own to the burst: call forget_sets() before a burst's sessions prepare, never while any of
/// them may still abort. Between the two the map does not change; each prepare happens before
/// the aborts (AddToSnapshotSet calls begin_prepare_snapshot on the caller's thread, and the
/// abort reaches the provider through a post). Two io threads then only read it.
class shared_bench_provider final : public vss::memory_provider {
 public:
  /// Routes the sets that take `g`'s volume to `g`. Call before its sessions prepare.
  void serve(group& g) {
    std::lock_guard lock(mutex_);
    by_volume_[g.volume] = &g;
  }

  std::error_code begin_prepare_snapshot(const vss::snapshot_set_id& set,
                                         const vss::snapshot_id& snapshot, std::string_view volume,
                                         std::uint32_t context) override {
    auto ec = memory_provider::begin_prepare_snapshot(set, snapshot, volume, context);
    if (ec) return ec;
    std::lock_guard lock(mutex_);
    const auto it = by_volume_.find(std::string(volume));
    if (it != by_volume_.end()) by_set_[set] = it->second;
    return ec;
  }

  void abort_snapshots(const vss::snapshot_set_id& set, completion done) override {
    const auto it = by_set_.find(set);  // read only, see above
    group* g = it != by_set_.end() ? it->second : nullptr;
    served_.fetch_add(1, std::memory_order_relaxed);
    memory_provider::abort_snapshots(set, stamping_abort(g, std::move(done)));
  }

  /// AbortSnapshots calls this provider took: the harness checks that the burst went through
  /// it, not through each session's own provider.
  std::size_t aborts_served() const { return served_.load(std::memory_order_relaxed); }

  /// Forgets the sets of the last burst. Only with no abort in flight (see above): this
  /// provider holds no step, so the engine calls abort_snapshots before it reports the abort
  /// done (with a commit held past its deadline it would report first), and the burst waited
  /// for every report.
  void forget_sets() {
    std::lock_guard lock(mutex_);
    by_set_.clear();
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, group*> by_volume_;
  std::unordered_map<vss::snapshot_set_id, group*> by_set_;
  std::atomic<std::size_t> served_{0};
};

/// Completes a held provider step once the session has registered the abort: the provider
/// call returns "soon after AbortBackup", from its own thread (commit and after_thaw phases).
class releaser {
 public:
  releaser() : thread_([this] { run(); }) {}
  ~releaser() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    go_.store(1);
    go_.notify_one();
    thread_.join();
  }
  releaser(const releaser&) = delete;
  releaser& operator=(const releaser&) = delete;

  /// Prepares the next release: once fire() was called and `session` reports aborted,
  /// `provider`'s held step is completed.
  void arm(vss::backup_session* session, bench_provider* provider) {
    std::lock_guard lock(mutex_);
    session_ = session;
    provider_ = provider;
  }

  /// Starts the release (call right before abort_backup()).
  void fire() {
    go_.store(1, std::memory_order_release);
    go_.notify_one();
  }

 private:
  void run() {
    for (;;) {
      go_.wait(0, std::memory_order_acquire);
      go_.store(0, std::memory_order_relaxed);
      vss::backup_session* s = nullptr;
      bench_provider* p = nullptr;
      {
        std::lock_guard lock(mutex_);
        if (stop_) return;
        std::swap(s, session_);
        std::swap(p, provider_);
      }
      if (s == nullptr || p == nullptr) continue;
      const auto give_up = bench_clock::now() + std::chrono::seconds(2);
      while (s->state() != vss::session_state::aborted && bench_clock::now() < give_up) {
        std::this_thread::yield();
      }
      p->release_held();
    }
  }

  std::mutex mutex_;
  bool stop_ = false;
  vss::backup_session* session_ = nullptr;
  bench_provider* provider_ = nullptr;
  std::atomic<std::uint32_t> go_{0};
  std::thread thread_;  // last: starts after the members it uses exist
};

/// Registers every writer of `g` with `eng` (no-op for those already registered).
inline void register_group(vss::engine& eng, group& g) {
  g.registrations.resize(g.writers.size());
  for (std::size_t i = 0; i < g.writers.size(); ++i) {
    if (!g.registrations[i].connected()) {
      g.registrations[i] = eng.register_writer(g.writers[i], {.group = g.placement_group});
    }
  }
}

/// Unregisters every writer of `g`. A session that identified them keeps delivering to them
/// until it is released (engine.hpp, writer_registration).
inline void unregister_group(group& g) { g.registrations.clear(); }

/// Creates a group of `writers` writers and its provider (registered with `eng`); the writers
/// are registered too unless `register_writers` is false (see register_group), each in the
/// placement group `placement` (empty: none).
inline std::unique_ptr<group> make_group(vss::engine& eng, std::size_t writers, phase_kind phase,
                                         behaviour_kind behaviour, timer_thread* timers,
                                         std::string volume, bool register_writers = true,
                                         std::string placement = {}) {
  auto g = std::make_unique<group>();
  g->placement_group = std::move(placement);
  g->phase = phase;
  g->behaviour = behaviour;
  g->volume = std::move(volume);
  g->provider = std::make_shared<bench_provider>(*g);
  if (auto ec = eng.register_provider(g->provider)) throw std::system_error(ec);
  g->provider_id = g->provider->properties().id;
  g->writers.reserve(writers);
  for (std::size_t i = 0; i < writers; ++i) {
    g->writers.push_back(std::make_shared<bench_writer>(*g, i, timers));
  }
  if (register_writers) register_group(eng, *g);
  return g;
}

/// First half of setup_session: a new session of `eng` initialised, its writer metadata
/// gathered (from every writer registered now) and, in component mode, the component of each
/// of `g`'s writers selected. Returns an empty string on success, else what went wrong.
inline std::string setup_identify(vss::engine& eng, group& g, bool component_mode,
                                  vss::backup_session& s, std::chrono::milliseconds bound) {
  auto failed = [](std::string_view what, std::error_code ec) {
    return std::string(what) + ": " + ec.message();
  };
  s = eng.create_backup_session();
  if (auto ec = s.initialize_for_backup()) return failed("InitializeForBackup", ec);
  if (auto ec = s.set_backup_state(component_mode, false, vss::backup_type::full)) {
    return failed("SetBackupState", ec);
  }
  {
    auto op = s.async_gather_writer_metadata(vss::use_async_op);
    if (!op.wait_for(bound)) return "GatherWriterMetadata: timed out";
    if (op.query_status() != vss::errc::async_finished) {
      return failed("GatherWriterMetadata", op.query_status());
    }
  }
  if (component_mode) {
    for (const auto& w : g.writers) {
      const auto& id = w->identity();
      if (auto ec = s.add_component(id.instance_id, id.class_id, vss::component_type::file_group,
                                    "", "c")) {
        return failed("AddComponent", ec);
      }
    }
  }
  return {};
}

/// Second half of setup_session: the snapshot set started with `g`'s volume, PrepareForBackup
/// run (or, in the prepare_backup phase, left in flight) and, when the group holds a phase,
/// DoSnapshotSet started and the session driven into that phase. Without a hold (race mode,
/// memory and throughput runs) it returns once PrepareForBackup completed.
inline std::string setup_prepare(group& g, vss::backup_session& s,
                                 std::chrono::milliseconds bound) {
  auto failed = [](std::string_view what, std::error_code ec) {
    return std::string(what) + ": " + ec.message();
  };
  vss::snapshot_set_id set;
  if (auto ec = s.start_snapshot_set(set)) return failed("StartSnapshotSet", ec);
  vss::snapshot_id snap;
  if (auto ec = s.add_to_snapshot_set(g.volume, g.provider_id, snap)) {
    return failed("AddToSnapshotSet", ec);
  }
  g.begin_sample();
  if (g.phase == phase_kind::prepare_backup && g.hold) {
    s.async_prepare_for_backup(g.op_handler());
  } else {
    auto op = s.async_prepare_for_backup(vss::use_async_op);
    if (!op.wait_for(bound)) return "PrepareForBackup: timed out";
    if (op.query_status() != vss::errc::async_finished) {
      return failed("PrepareForBackup", op.query_status());
    }
    if (!g.hold) return {};  // race mode starts DoSnapshotSet itself
    s.async_do_snapshot_set(g.op_handler());
  }
  if (!g.wait_ready(bound))
    return std::string("session did not reach ") + std::string(to_string(g.phase));
  return {};
}

/// Drives a new session of `eng` for group `g` into the group's phase (component mode selects
/// the group's own writers only; otherwise every registered writer takes part). Returns an
/// empty string on success, else what went wrong.
inline std::string setup_session(vss::engine& eng, group& g, bool component_mode,
                                 vss::backup_session& s, std::chrono::milliseconds bound) {
  auto err = setup_identify(eng, g, component_mode, s, bound);
  return err.empty() ? setup_prepare(g, s, bound) : err;
}

/// Releases `s` and waits (bounded) until its writers are free again.
inline bool release_session(vss::backup_session& s, std::chrono::milliseconds bound) {
  auto op = s.async_release(vss::use_async_op);
  const bool ok = op.wait_for(bound);
  s = vss::backup_session{};
  return ok;
}

/// Returns once every one of the `threads` threads running `io` was free at the same moment:
/// work the previous sample left queued (a released session is destroyed on an engine
/// thread, which takes milliseconds with thousands of writers) must not land in the next
/// sample. Untimed.
inline void quiesce(asio::io_context& io, std::size_t threads) {
  auto arrived = std::make_shared<std::atomic<std::size_t>>(0);
  countdown done;
  done.arm(threads);
  for (std::size_t i = 0; i < threads; ++i) {
    asio::post(io, [arrived, threads, &done] {
      arrived->fetch_add(1, std::memory_order_acq_rel);
      const auto give_up = bench_clock::now() + std::chrono::milliseconds(500);
      while (arrived->load(std::memory_order_acquire) < threads && bench_clock::now() < give_up) {
        std::this_thread::yield();
      }
      done.done_one();
    });
  }
  done.wait();
}

}  // namespace vss::bench
