// AbortBackup and every other way a session aborts (spec §10.3): superseding the phase,
// the writer leg, the provider leg, and the drain.
#include <algorithm>
#include <asio/defer.hpp>
#include <asio/dispatch.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <atomic>
#include <boost/container/small_vector.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "session/session_helpers.hpp"
#include "session/session_impl.hpp"
#include "vss/error.hpp"

namespace vss::detail {

// ---------------------------------------------------------------------------------------------
// The abort sequence (spec §10.3).

bool session_impl::abort_in_progress() const {
  return (abort_due_ || abort_requested_) && !drained_;
}

bool session_impl::request_abort(bool from_requester, std::error_code& ec, bool* in_progress,
                                 erased_handler* waiter) {
  bool post = false;
  {
    std::unique_lock lock(mutex_);
    bool has_effect = true;
    if (from_requester) {
      if (released_) {
        ec = errc::bad_state;
        return false;
      }
      const auto r = step(machine_, session_call::abort_backup);
      if (r.code != errc::ok) {
        ec = r.code;
        return false;
      }
      machine_ = r.next;
      has_effect = r.has_effect;  // false: nothing underway, or already aborting
    }
    if (has_effect && !abort_due_ && !abort_requested_) {
      abort_due_ = true;
      post = true;
    }
    // Under this same lock: a blocking caller learns whether there is a drain to wait for, and
    // an async one's handler waits for it, without taking mutex_ again while the engine thread
    // works under it. Registered before the post, the waiter cannot miss the drain.
    const bool progress = abort_in_progress();
    if (in_progress != nullptr) *in_progress = progress;
    if (waiter != nullptr && progress) abort_waiters_.push_back(std::move(*waiter));
  }
  // Posted with mutex_ released: the post may wake an io thread, whose first act is to take
  // mutex_, and a caller preempted while holding it would put that thread back to sleep
  // (decisions §33).
  if (post) {
    asio::post(strand_, [self = shared_from_this()] {
      engine_thread_scope scope;
      self->request_abort_on_strand(abort_reason::requested, {});
    });
  }
  return true;
}

void session_impl::request_abort_on_strand(abort_reason reason, std::error_code failure) {
  std::unique_lock lock(mutex_);
  if (abort_requested_) return;  // idempotent: one abort sequence per session
  abort_requested_ = true;
  abort_reason_ = reason;
  if (snap_) {
    if (reason == abort_reason::failed) {
      snap_->failure = failure;
      const auto r = step(machine_, session_call::snapshot_failed);
      if (r.code == errc::ok) machine_ = r.next;
    } else if (reason == abort_reason::cancelled) {
      const auto r = step(machine_, session_call::snapshot_cancelled);
      if (r.code == errc::ok) machine_ = r.next;
    }
  }
  // t_cancel comes first: the DoSnapshotSet handle of an abort or cancel completes before the
  // O(N) bookkeeping below (unless C4 makes it wait for the commit). A failure is reported
  // after the drain instead (start_abort_legs), never with writers still frozen.
  const bool commit_in_flight =
      provider_call_in_flight_ && provider_call_step_ == snapshot_step::commit;
  if (snap_ && reason != abort_reason::failed && !commit_in_flight) {
    auto cancelled = std::move(snap_->handler);
    snap_.reset();
    lock.unlock();
    complete(cancelled, errc::async_cancelled);
    lock.lock();
  }
  // (a) Stop delivering: supersede every writer phase still collecting. Answers already in
  // count (a writer that finished PostSnapshot is no longer abortable); the phase's
  // continuation is dropped, so the pipeline does not advance.
  for (auto it = phases_.begin(); it != phases_.end();) {
    const auto e = it->second->event;
    if (e == writer_event::abort || e == writer_event::backup_shutdown ||
        e == writer_event::identify || e == writer_event::backup_complete) {
      ++it;
      continue;
    }
    auto phase = std::move(it->second);
    it = phases_.erase(it);
    // Nothing waits for it any more: its end posts nothing to this strand, and its pending
    // slots become abandoned without a pass over them (decisions §28).
    phase->collector->supersede();
    // Its answers become writer states after the drain: the abort goes out first.
    defer_results(*phase);
    // Its deadline is cancelled when it is destroyed, after the abort is reported; until
    // then an expiry finds no phase (on_deadline).
    retire(std::move(phase));
  }
  std::optional<pending_op> prepare = std::move(prepare_op_);
  prepare_op_.reset();
  if (prepare) {
    reservation_timer_.cancel();
    core_->withdraw(id_);
    const auto r = step(machine_, session_call::prepare_failed);
    if (r.code == errc::ok) machine_ = r.next;
  }
  // C4: an abort requested during the provider commit waits for the commit to return.
  if (provider_call_in_flight_ && provider_call_step_ == snapshot_step::commit &&
      reason != abort_reason::failed) {
    abort_waits_for_commit_ = true;
    lock.unlock();
    if (prepare) complete(prepare->handler, errc::async_cancelled);
    return;
  }
  lock.unlock();
  if (prepare) complete(prepare->handler, errc::async_cancelled);
  start_abort_legs(/*loops_here=*/reason != abort_reason::failed);
}

void session_impl::start_abort_legs(bool loops_here) {
  std::unique_lock lock(mutex_);
  if (abort_started_) return;
  abort_started_ = true;
  // The future of an abort or cancel normally completed in request_abort_on_strand already;
  // it is still here when C4 made the abort wait for the commit. A failure is reported after
  // the drain, so that the requester never sees a failure with writers still frozen.
  std::optional<erased_handler> cancelled;
  if (snap_ && abort_reason_ != abort_reason::failed) {
    cancelled.emplace(std::move(snap_->handler));
    snap_.reset();
  }
  // (c) OnAbort to every writer with an open session that is not past PostSnapshot. Its shard
  // loops may be kept instead of posted, to run on this thread below.
  keeping_loops_ = loops_here && on_engine_thread();
  const bool targets_empty = !deliver_abort_to_writers([this] {
    {
      std::lock_guard l(mutex_);
      writer_leg_done_ = true;
    }
    check_drained();
  });
  keeping_loops_ = false;
  if (targets_empty) writer_leg_done_ = true;
  // (b, d) The provider leg, unless a provider call must return first. Either way the drain
  // waits for it only until the abort deadline (plus the hold budget when a commit must end
  // first): AbortBackup never hangs on a stuck provider (invariant 6); the rollback still runs
  // whenever the provider returns.
  const bool wait_for_call =
      provider_call_in_flight_ && rollback_waits_for_call(provider_call_step_);
  const auto& o = core_->options();
  const auto provider_leg_deadline =
      core_->clock().now() + o.deadlines.abort +
      (wait_for_call ? o.hold_budget : std::chrono::milliseconds::zero());
  lock.unlock();
  if (cancelled) complete(*cancelled, errc::async_cancelled);
  if (!wait_for_call) run_provider_rollback();
  // A provider that answered at once needs no deadline (and no timer to arm and cancel on the
  // abort path); one that did not is bounded from here.
  lock.lock();
  if (!provider_leg_done_ && !drained_) {
    arm_timer(provider_leg_timer_, provider_leg_deadline, [](session_impl& self) {
      {
        std::lock_guard l(self.mutex_);
        if (!self.provider_leg_done_) self.provider_leg_gave_up_ = true;
      }
      self.check_drained();
    });
  }
  // The loops kept back run here, last, when nothing but them and their deadline is left for
  // the drain: then a handler that blocks in one holds this strand, but the abort still ends
  // at its deadline, which acts off the strand, and the loops not yet started are handed on
  // by then (decisions §33). Otherwise (a provider still answering, a writer aborted alone
  // still answering: both end through the strand) they are posted like the others.
  const bool run_here = provider_leg_done_ && side_aborts_in_flight_ == 0;
  lock.unlock();
  if (run_here) {
    run_kept_loops();
  } else {
    hand_off_kept_loops();
  }
  // With no writer left to abort, a failure can be reported now, even while the provider leg
  // waits for a call to return.
  if (targets_empty) check_drained();
}

void session_impl::run_kept_loops() {
  // One at a time, each taken under the lock just before it runs, so that the writer leg's
  // timer can hand on the rest while one of them blocks. A loop whose shard is running
  // another session's loop right now would only queue there, and a strand that had work
  // queued while busy re-posts itself behind everything the io_context holds: in a burst of
  // aborts, that is behind every other session's abort step. So a loop of an idle shard goes
  // first, and for one whose shard is busy this thread waits a little for it to go idle: the
  // loop there is short (decisions §34).
  // Real time, not the engine's clock: this bounds a spin of this thread, not a deadline.
  std::optional<std::chrono::steady_clock::time_point> wait_until;
  for (;;) {
    std::optional<shard_loop> next;
    {
      std::lock_guard lock(mutex_);
      if (kept_loops_.empty()) return;
      // The last loop whose shard runs no loop now; else the last loop, whose shard is busy.
      const auto idle = std::find_if(kept_loops_.rbegin(), kept_loops_.rend(), [&](const auto& k) {
        return core_->loops_running(k.shard).load(std::memory_order_acquire) == 0;
      });
      const bool busy = idle == kept_loops_.rend();
      const auto pick = busy ? kept_loops_.end() - 1 : std::prev(idle.base());
      bool wait = false;
      if (busy) {
        const auto now = std::chrono::steady_clock::now();
        if (!wait_until) wait_until = now + kept_loop_wait;
        wait = now < *wait_until;
      }
      if (!wait) {
        next.emplace(std::move(*pick));
        kept_loops_.erase(pick);
        if (kept_loops_.empty()) hand_off_timer_.cancel();
      }
    }
    if (!next) {
      std::this_thread::yield();
      continue;
    }
    const auto shard = next->shard;
    enter_idle_strand_or_post(core_->shard(shard), std::move(*next));
  }
}

void session_impl::hand_off_kept_loops() {
  std::vector<shard_loop> loops;
  {
    std::lock_guard lock(mutex_);
    loops.swap(kept_loops_);
    hand_off_timer_.cancel();
  }
  for (auto& loop : loops) {
    const auto shard = loop.shard;
    asio::post(core_->shard(shard), std::move(loop));
  }
}

bool session_impl::deliver_abort_to_writers(std::function<void()> then) {
  // mutex_ held. In the usual case every participant is to hear it, which the session's flags
  // tell without looking at each: the strand then does no work per writer before the shards
  // start (decisions §26).
  if (participants_.empty() || !members_) return false;  // before PrepareBackup: nobody
  if (!abort_sent_to_some_ && !past_post_snapshot_any_) {
    abort_sent_to_all_ = true;
    deliver_to_all(writer_event::abort, std::move(then), then_runs::where_settled);
    return true;
  }
  auto targets = targets_where([this](const participant& p) {
    return p.got_prepare_backup && !abort_sent(p) && !p.past_post_snapshot;
  });
  if (targets.empty()) return false;
  for (auto t : targets) participants_[t].abort_sent = true;
  deliver(writer_event::abort, std::move(targets), std::move(then), then_runs::where_settled);
  return true;
}

namespace {

// One provider rollback in flight: what the providers' AbortSnapshots answers count down on,
// and what to delete once they all answered. One allocation for the whole leg, instead of a
// copy of the created-snapshot list in every callback (decisions §24); with up to two
// providers and two snapshots its lists are inline, so that is the leg's only block besides
// each provider's completion (decision 46).
struct rollback_leg {
  struct provider_slot {
    std::shared_ptr<provider> p;
    std::atomic<bool> answered{false};  // its first answer counts, a second is ignored

    explicit provider_slot(std::shared_ptr<provider> q) noexcept : p(std::move(q)) {}
    // Moved only while the leg is built, before any provider has it.
    provider_slot(provider_slot&& o) noexcept
        : p(std::move(o.p)), answered(o.answered.load(std::memory_order_relaxed)) {}
  };

  std::weak_ptr<session_impl> session;
  strand_type strand;
  boost::container::small_vector<provider_slot, 2> providers;
  boost::container::small_vector<std::pair<std::shared_ptr<provider>, snapshot_id>, 2> created;
  // One count per provider, plus one held by run_provider_rollback: when every provider
  // answers inside abort_snapshots, that call drops the last count and finishes inline.
  std::atomic<std::size_t> remaining;

  rollback_leg(std::weak_ptr<session_impl> s, strand_type st, provider_list ps)
      : session(std::move(s)), strand(std::move(st)), remaining(ps.size() + 1) {
    for (auto& p : ps) providers.emplace_back(std::move(p));
  }
};

}  // namespace

void session_impl::run_provider_rollback() {
  std::shared_ptr<rollback_leg> leg;
  snapshot_set_id set;
  bool rollback_needed;
  {
    std::lock_guard lock(mutex_);
    if (provider_rollback_started_) return;
    provider_rollback_started_ = true;
    // A set that was created successfully is only deleted if it is auto-release (spec §3.4
    // case D); a set still in creation is always rolled back (spec §3.6).
    // Unlike VSS (spec §3.6), the provider also hears of a set abandoned before DoSnapshotSet:
    // with concurrent sets it cannot treat the next BeginPrepareSnapshot as "start over".
    rollback_needed = !volumes_.empty() && (!set_created_ || auto_release());
    if (!rollback_needed) {
      provider_leg_done_ = true;
    } else {
      leg = std::make_shared<rollback_leg>(weak_from_this(), strand_, set_providers());
      leg->created.reserve(volumes_.size());
      for (const auto& v : volumes_) leg->created.emplace_back(v.owner, v.snapshot);
      set = set_;
      snapshots_deleted_ = true;
    }
  }
  if (!rollback_needed) {
    check_drained();
    return;
  }
  // On the strand once every provider answered AbortSnapshots.
  static constexpr auto rollback_done = [](const std::shared_ptr<rollback_leg>& state) {
    engine_thread_scope scope;
    auto self = state->session.lock();
    if (!self) return;
    // Whatever AbortSnapshots left (committed snapshots) is deleted one by one.
    for (const auto& snapshot : state->created) {
      (void)provider_call_or([&] { return snapshot.first->delete_snapshot(snapshot.second); },
                             provider_threw());
    }
    {
      std::lock_guard lock(self->mutex_);
      self->provider_leg_done_ = true;
    }
    self->check_drained();
  };
  // A provider answering on another thread hands the end to the strand.
  static constexpr auto answer = [](const std::shared_ptr<rollback_leg>& state, std::size_t i) {
    if (state->providers[i].answered.exchange(true)) return;
    if (state->remaining.fetch_sub(1) == 1) {
      asio::post(state->strand, [state] { rollback_done(state); });
    }
  };
  for (std::size_t i = 0; i < leg->providers.size(); ++i) {
    try {
      leg->providers[i].p->abort_snapshots(set, [leg, i](std::error_code) { answer(leg, i); });
    } catch (...) {
      answer(leg, i);
    }
  }
  if (leg->remaining.fetch_sub(1) == 1) rollback_done(leg);
}

void session_impl::check_drained() {
  std::unique_lock lock(mutex_);
  if (!abort_started_ || drained_) return;
  // A failed DoSnapshotSet is reported once every writer is released (never with a writer
  // still frozen); the provider rollback may still be finishing.
  std::optional<erased_handler> failed_op;
  std::error_code failure;
  if (snap_ && writer_leg_done_ && side_aborts_in_flight_ == 0) {
    failed_op.emplace(std::move(snap_->handler));
    failure = snap_->failure ? snap_->failure : make_error_code(errc::unexpected);
    snap_.reset();
  }
  if (!writer_leg_done_ || !(provider_leg_done_ || provider_leg_gave_up_) ||
      side_aborts_in_flight_ > 0) {
    lock.unlock();
    if (failed_op) complete(*failed_op, failure);
    return;
  }
  drained_ = true;
  provider_leg_timer_.cancel();
  auto waiters = std::move(abort_waiters_);
  auto callbacks = std::move(drain_callbacks_);
  // The volumes are free before the blocking caller is told: once AbortBackup returns,
  // another session may take them at once (a review found it refused with
  // SNAPSHOT_SET_IN_PROGRESS). The flag frees them; the engine's maps forget them later, in
  // the reap, unless a reservation may be queued for them (decisions §38).
  if (volumes_released_) {
    volumes_released_->store(true);
    volumes_release_deferred_ = !core_->reservations_pending();
  }
  const bool release_now = !volumes_release_deferred_;
  // The freeze watchdog acts on nothing once an abort was requested (on_freeze_watchdog), and
  // no Freeze comes after this drain: its entry goes with the retired phases.
  const bool reap =
      !retired_phases_.empty() || freeze_watchdog_.armed() || volumes_release_deferred_;
  lock.unlock();
  if (release_now) core_->release_volumes(id_);
  {
    std::lock_guard drain_lock(drain_mutex_);
    drain_signalled_.store(true, std::memory_order_release);
  }
  drained_cv_.notify_all();
  if (failed_op) complete(*failed_op, failure);
  for (auto& w : waiters) complete(w, {});
  // The answers the requester did not wait for become writer states when something next
  // reads them (catch_up_deferred_results), not here: that is O(N) work, and this thread is
  // then free at once for whatever the engine runs next (decisions §27).
  for (auto& fn : callbacks) fn();
  // Likewise the phases the abort ended: destroyed from a handler of their own, queued behind
  // whatever the engine already holds (decisions §38). Deferred, not posted: on an io thread
  // a continuation goes to that thread's own queue and wakes no idle io thread, which would
  // then compete for the CPUs with the caller just woken.
  if (reap) {
    asio::defer(core_->executor(), [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->reap_retired();
    });
  }
}

void session_impl::retire(std::unique_ptr<phase_state> phase) {
  // mutex_ held.
  retired_phases_.push_back(std::move(phase));
}

void session_impl::reap_retired() {
  std::vector<std::unique_ptr<phase_state>> retired;
  bool release_volumes = false;
  {
    std::lock_guard lock(mutex_);
    retired.swap(retired_phases_);
    freeze_watchdog_.cancel();
    release_volumes = std::exchange(volumes_release_deferred_, false);
  }
  // Destroyed with mutex_ released: each cancels its deadline, under that queue's own lock.
  retired.clear();
  if (release_volumes) core_->release_volumes(id_);
}

void session_impl::when_drained(std::function<void()> fn) {
  std::unique_lock lock(mutex_);
  if (!abort_in_progress()) {
    lock.unlock();
    fn();
    return;
  }
  drain_callbacks_.push_back(std::move(fn));
}

std::error_code session_impl::abort_backup() {
  std::error_code ec;
  bool in_progress = false;
  if (!request_abort(true, ec, &in_progress)) return ec;
  // Waiting on an engine thread could wait for work that needs this very thread (invariant 6).
  if (on_engine_thread()) return {};
  if (auto* io = core_->executor().target<asio::io_context::executor_type>();
      io && io->running_in_this_thread()) {
    return {};
  }
  if (!in_progress) return {};  // nothing was underway, or already drained
  // Bounded: the abort sequence itself is bounded by the abort deadline and the hold budget,
  // both measured on the engine clock; this real-time bound only guards against a stalled
  // executor or a virtual clock nobody advances. One abort sequence per session, so the
  // signal, once given, stays given.
  const auto bound =
      core_->options().deadlines.abort + core_->options().hold_budget + std::chrono::seconds(5);
  // First a short hot wait, yielding: most aborts drain within it, and a caller that went to
  // sleep must be woken, which on a virtual machine costs tens of µs when its CPU idled
  // meanwhile. One caller per engine at a time (decisions §35). Real time: it bounds this
  // thread's spin, not a deadline.
  if (core_->try_begin_hot_wait()) {
    const auto hot_until = std::chrono::steady_clock::now() + abort_wait_hot;
    while (!drain_signalled_.load(std::memory_order_acquire) &&
           std::chrono::steady_clock::now() < hot_until) {
      std::this_thread::yield();
    }
    core_->end_hot_wait();
    if (drain_signalled_.load(std::memory_order_acquire)) return {};
  }
  std::unique_lock drain_lock(drain_mutex_);
  drained_cv_.wait_for(drain_lock, bound,
                       [this] { return drain_signalled_.load(std::memory_order_acquire); });
  return {};
}

void session_impl::abort_for_shutdown() {
  std::error_code ignored;
  request_abort(true, ignored);
}

}  // namespace vss::detail
