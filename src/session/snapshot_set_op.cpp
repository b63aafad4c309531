// DoSnapshotSet (spec §10.1): the step loop, provider calls, the hold budget and the freeze
// watchdog.
#include <algorithm>
#include <asio/dispatch.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include "session/session_helpers.hpp"
#include "session/session_impl.hpp"
#include "vss/error.hpp"

namespace vss::detail {

// ---------------------------------------------------------------------------------------------
// DoSnapshotSet.

provider_list session_impl::set_providers() const {
  provider_list out;
  for (const auto& v : volumes_) {
    if (std::find(out.begin(), out.end(), v.owner) == out.end()) out.push_back(v.owner);
  }
  return out;
}

void session_impl::advance_snapshot() {
  std::unique_lock lock(mutex_);
  // abort_due_: an AbortBackup made after this DoSnapshotSet is about to be processed; do not
  // start anything it would only have to undo.
  while (snap_ && !abort_requested_ && !abort_due_) {
    const auto s = snap_->step;
    if (is_provider_step(s)) {
      if (s == snapshot_step::end_prepare) end_prepare_called_ = true;
      provider_call_in_flight_ = true;
      provider_call_step_ = s;
      // Every provider step is bounded: the commit by the hold budget (spec §7.1), the others
      // by deadlines.provider_step (decision 17).
      const auto& o = core_->options();
      const auto limit = s == snapshot_step::commit
                             ? o.hold_budget
                             : std::chrono::milliseconds(o.deadlines.provider_step);
      arm_timer(hold_timer_, core_->clock().now() + limit,
                [s](session_impl& self) { self.on_hold_expired(s); });
      lock.unlock();
      if (s == snapshot_step::commit && !hold_writes()) return;
      call_providers(s);
      return;
    }
    if (auto event = writer_event_of(s)) {
      std::vector<std::uint32_t> targets;
      const auto group = level_group_of(s);
      auto in_level = [&](const participant& p) {
        return !group || freeze_group(p.entry->w->identity().level) == *group;
      };
      switch (*event) {
        case writer_event::prepare_snapshot:
        case writer_event::post_snapshot:
          targets = targets_where([this](const participant& p) {
            return p.got_prepare_backup && !p.failed && !abort_sent(p);
          });
          break;
        case writer_event::freeze:
          targets = targets_where([&](const participant& p) {
            return in_level(p) && p.got_prepare_backup && !p.failed && !abort_sent(p);
          });
          for (auto t : targets) participants_[t].got_freeze = true;
          break;
        case writer_event::thaw:
          targets = targets_where([&](const participant& p) {
            return in_level(p) && p.got_freeze && !p.thaw_sent && !abort_sent(p);
          });
          for (auto t : targets) participants_[t].thaw_sent = true;
          break;
        default:
          break;
      }
      snap_->step = next_step(s);
      if (targets.empty()) continue;
      const bool freeze = *event == writer_event::freeze;
      deliver(*event, std::move(targets), [this, freeze] {
        if (freeze) {
          std::lock_guard l(mutex_);
          arm_freeze_watchdog();
        }
        advance_snapshot();
      });
      // The windows this Freeze opens are watched from its delivery, not only once its phase
      // settles: a writer that answered keeps its window while another writer of its level
      // still holds the phase (spec §7.2: from Freeze delivery to Thaw or Abort delivery).
      if (freeze) arm_freeze_watchdog();
      return;
    }
    if (s == snapshot_step::settle_side_aborts) {
      // Invariant 2: a writer that dropped out before PostSnapshot (a veto or a missed deadline
      // at PrepareBackup or PrepareSnapshot) would otherwise end its session with neither
      // BackupComplete nor Abort. It gets its Abort now (spec §10.3 C2 CHOICE: OnAbort frees
      // a vetoer's resources; it is idempotent).
      auto dropped = targets_where([this](const participant& p) {
        return p.got_prepare_backup && p.failed && !abort_sent(p) && !p.past_post_snapshot;
      });
      if (!dropped.empty()) side_abort(std::move(dropped));
      if (side_aborts_in_flight_ > 0) return;  // side_abort's continuation resumes us
      snap_->step = snapshot_step::done;
      continue;
    }
    // done: the set exists.
    set_created_ = true;
    const auto r = step(machine_, session_call::snapshot_done);
    if (r.code == errc::ok) machine_ = r.next;
    auto h = std::move(snap_->handler);
    snap_.reset();
    lock.unlock();
    core_->release_volumes(id_);  // spec §2.2: the creation slot is freed
    complete(h, {});
    return;
  }
}

void session_impl::call_providers(snapshot_step step_kind) {
  provider_list providers;
  snapshot_set_id set;
  std::int32_t count;
  {
    std::lock_guard lock(mutex_);
    providers = set_providers();
    set = set_;
    count = static_cast<std::int32_t>(volumes_.size());
  }
  struct join {
    std::atomic<std::size_t> remaining;
    std::mutex m;
    std::error_code first;
  };
  auto j = std::make_shared<join>();
  j->remaining = providers.size() + 1;
  auto finish = [weak = weak_from_this(), strand = strand_, step_kind, j] {
    if (j->remaining.fetch_sub(1) != 1) return;
    asio::post(strand, [weak, step_kind, j] {
      engine_thread_scope scope;
      if (auto s = weak.lock()) s->on_provider_step_done(step_kind, j->first);
    });
  };
  for (auto& p : providers) {
    auto once = std::make_shared<std::atomic<bool>>(false);
    provider::completion done = [j, once, finish](std::error_code ec) {
      if (once->exchange(true)) return;  // a provider completing twice is ignored
      if (ec) {
        std::lock_guard lock(j->m);
        if (!j->first) j->first = map_provider_error(ec);
      }
      finish();
    };
    try {
      switch (step_kind) {
        case snapshot_step::end_prepare:
          p->end_prepare_snapshots(set, done);
          break;
        case snapshot_step::pre_commit:
          p->pre_commit_snapshots(set, done);
          break;
        case snapshot_step::commit:
          p->commit_snapshots(set, done);
          break;
        case snapshot_step::post_commit:
          p->post_commit_snapshots(set, count, done);
          break;
        case snapshot_step::pre_final_commit:
          p->pre_final_commit_snapshots(set, done);
          break;
        case snapshot_step::post_final_commit:
          p->post_final_commit_snapshots(set, done);
          break;
        default:
          done({});
          break;
      }
    } catch (...) {
      done(errc::unexpected_provider_error);
    }
  }
  finish();
}

void session_impl::arm_freeze_watchdog() {
  // A writer's freeze window runs from its Freeze delivery to its Thaw or Abort delivery
  // (spec §7.2); when it closes first, the writer alone is aborted (spec §3.2). Armed at each
  // Freeze delivery and when each Freeze phase settles. A writer still answering Freeze is
  // left to its phase's deadline, which falls at the same moment: were both to act on it, the
  // order of two timers would choose its failure (its OnAbort may drop the held Freeze).
  const auto now = core_->clock().now();
  const auto answering = answering_freeze();
  timer::time_point earliest = timer::time_point::max();
  for (std::uint32_t i = 0; i < participants_.size(); ++i) {
    const auto& p = participants_[i];
    if (!p.got_freeze || p.thaw_sent || abort_sent(p) || p.failed) continue;
    if (answering[i] && p.freeze_deadline <= now) continue;  // the phase's deadline acts
    earliest = std::min(earliest, p.freeze_deadline);
  }
  if (earliest == timer::time_point::max()) return;
  arm_timer(freeze_watchdog_, earliest, [](session_impl& self) { self.on_freeze_watchdog(); });
}

std::vector<char> session_impl::answering_freeze() const {
  std::vector<char> answering(participants_.size(), 0);
  for (const auto& [id, phase] : phases_) {
    if (phase->event != writer_event::freeze) continue;
    const auto& c = *phase->collector;
    for (std::uint32_t slot = 0; slot < c.size(); ++slot) {
      if (c.is_pending(slot)) answering[(*phase->targets)[slot]] = 1;
    }
  }
  return answering;
}

void session_impl::on_freeze_watchdog() {
  std::lock_guard lock(mutex_);
  if (abort_requested_) return;
  const auto now = core_->clock().now();
  const auto answering = answering_freeze();
  auto expired = targets_where([&](const participant& p) {
    return p.got_freeze && !p.thaw_sent && !abort_sent(p) && !p.failed &&
           p.freeze_deadline <= now && !answering[&p - participants_.data()];
  });
  for (auto t : expired) {
    auto& p = participants_[t];
    p.state = writer_state::failed_at_freeze;
    p.failure = errc::writer_error_timeout;
    p.message = std::make_unique<const std::string>("freeze window expired before Thaw");
    p.failed = true;
  }
  if (!expired.empty()) side_abort(std::move(expired));
  arm_freeze_watchdog();
}

bool session_impl::hold_writes() {
  snapshot_set_id set;
  provider_list providers;
  {
    std::lock_guard lock(mutex_);
    set = set_;
    providers = set_providers();
  }
  std::vector<std::string> paths;
  bool atomic = !providers.empty();
  for (const auto& p : providers) {
    try {
      auto mine = p->flush_and_hold_paths(set);
      paths.insert(paths.end(), mine.begin(), mine.end());
      atomic = atomic && p->properties().atomic_commit;
    } catch (...) {
      atomic = false;  // a provider that cannot say is held to nothing
    }
  }
  std::error_code ec;
  std::string why;
  std::unique_ptr<held_writes> held;
  if (!paths.empty()) held = core_->options().write_hold->hold(paths, ec, why);
  std::unique_lock lock(mutex_);
  atomic_commit_ = atomic;
  hold_report_ = {};
  if (ec) {
    hold_report_.failure = ec;
    hold_report_.message = why;
    provider_call_in_flight_ = false;
    hold_timer_.cancel();
    lock.unlock();
    request_abort_on_strand(abort_reason::failed, ec);
    return false;
  }
  if (held) {
    hold_report_.filesystems = held->filesystems();
    hold_started_ = core_->clock().now();
    held_ = std::move(held);
  }
  return true;
}

void session_impl::release_writes(bool expired) {
  std::unique_ptr<held_writes> held;
  {
    std::lock_guard lock(mutex_);
    if (!held_) return;
    held = std::move(held_);
    hold_report_.held =
        std::chrono::duration_cast<std::chrono::microseconds>(core_->clock().now() - hold_started_);
    hold_report_.expired = expired;
  }
  held.reset();  // FITHAW, outside the session's mutex
}

write_hold_report session_impl::hold_report() const {
  std::lock_guard lock(mutex_);
  return hold_report_;
}

void session_impl::on_hold_expired(snapshot_step step_kind) {
  // Spec §7.1: the hold is never extended; the filesystems are thawed before anything else.
  if (step_kind == snapshot_step::commit) release_writes(true);
  {
    std::unique_lock lock(mutex_);
    if (!provider_call_in_flight_ || provider_call_step_ != step_kind) return;
    if (abort_waits_for_commit_) {
      // An AbortBackup is waiting for this commit (C4), and the hold window is over: the
      // writers are released now, not when the commit returns; the rollback still waits.
      abort_waits_for_commit_ = false;
      lock.unlock();
      start_abort_legs();
      return;
    }
  }
  // Spec §7.1: the hold window is never extended. Writers are released now; the provider is
  // rolled back when its call finally returns.
  const errc code = step_kind == snapshot_step::commit       ? errc::hold_writes_timeout
                    : step_kind == snapshot_step::pre_commit ? errc::flush_writes_timeout
                                                             : errc::unexpected_provider_error;
  request_abort_on_strand(abort_reason::failed, code);
}

void session_impl::on_provider_step_done(snapshot_step step_kind, std::error_code ec) {
  if (step_kind == snapshot_step::commit) release_writes(false);
  std::unique_lock lock(mutex_);
  provider_call_in_flight_ = false;
  hold_timer_.cancel();
  if (abort_requested_) {
    const bool legs_waiting = abort_waits_for_commit_;
    abort_waits_for_commit_ = false;
    lock.unlock();
    if (legs_waiting) {
      start_abort_legs();
    } else {
      run_provider_rollback();  // deferred until this call returned
    }
    return;
  }
  if (!snap_) return;
  if (ec) {
    lock.unlock();
    request_abort_on_strand(abort_reason::failed, ec);
    return;
  }
  snap_->step = next_step(step_kind);
  lock.unlock();
  advance_snapshot();
}

}  // namespace vss::detail
