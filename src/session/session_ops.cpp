// Asynchronous requester operations: entry, cancellation, PrepareForBackup,
// GatherWriterStatus, BackupComplete and release.
#include <algorithm>
#include <asio/dispatch.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <unordered_map>

#include "session/session_helpers.hpp"
#include "session/session_impl.hpp"
#include "vss/error.hpp"

namespace vss::detail {

// ---------------------------------------------------------------------------------------------
// Asynchronous operations: entry points.

void session_impl::start(op_kind kind, std::uint64_t id, erased_handler handler) {
  // The call-order check runs here, on the caller's thread, so that calls take effect in the
  // order they were made: a DoSnapshotSet initiated before an AbortBackup is started and then
  // aborted (VSS_S_ASYNC_CANCELLED), never overtaken and refused (VSS_E_BAD_STATE).
  std::optional<session_call> call;
  switch (kind) {
    case op_kind::gather_writer_metadata:
      call = session_call::gather_writer_metadata;
      break;
    case op_kind::prepare_for_backup:
      call = session_call::prepare_for_backup;
      break;
    case op_kind::do_snapshot_set:
      call = session_call::do_snapshot_set;
      break;
    case op_kind::gather_writer_status:
      call = session_call::gather_writer_status;
      break;
    case op_kind::backup_complete:
      call = session_call::backup_complete;
      break;
    case op_kind::abort_backup:
    case op_kind::release:
      break;
  }
  if (kind == op_kind::abort_backup) {
    // The handler waits for the drain from here, registered by request_abort under the lock
    // it already holds, not from a second strand step: that step would run only after the
    // shards' loops, so the drain they end could not complete it (decisions §30, §33).
    std::error_code ec;
    if (!request_abort(true, ec, nullptr, &handler)) {
      std::move(handler).post_complete(ec);
      return;
    }
    if (handler) std::move(handler).post_complete({});  // nothing underway, or drained already
    return;
  }
  std::unique_lock lock(mutex_);
  if (call) {
    const auto r =
        released_ ? step_result{errc::bad_state, machine_, false} : step(machine_, *call);
    if (r.code != errc::ok) {
      lock.unlock();
      std::move(handler).post_complete(r.code);
      return;
    }
    machine_ = r.next;
  }
  // Before the post, as release() does: a shutdown that begins before run_op runs must wait
  // for this release's BackupShutdown (when_quiet), or it stops the executor under it.
  if (kind == op_kind::release) release_requested_ = true;
  // Posted under the lock: an op the machine took before an AbortBackup reaches the strand
  // before the abort's step, which is posted after the abort's own machine step. An op taken
  // after it by another thread may reach the strand first: a release then finds abort_due_ set
  // and waits for the drain all the same; a GatherWriterStatus reports the states of the
  // moment before the abort's step, as if it had been called just before (decisions §33).
  asio::post(strand_, [self = shared_from_this(), kind, id, h = std::move(handler)]() mutable {
    engine_thread_scope scope;
    self->run_op(kind, id, std::move(h));
  });
}

void session_impl::complete(erased_handler& handler, std::error_code ec) {
  if (!handler) return;
  auto slot = handler.cancellation_slot();
  if (slot.is_connected()) slot.clear();
  std::move(handler).complete(ec);
}

void session_impl::run_op(op_kind kind, std::uint64_t id, erased_handler handler) {
  // On the strand; the call-order check already passed in start().
  std::unique_lock lock(mutex_);
  switch (kind) {
    case op_kind::gather_writer_metadata:
      metadata_op_ = pending_op{id, std::move(handler)};
      lock.unlock();
      gather_metadata();
      return;
    case op_kind::prepare_for_backup:
      prepare_op_ = pending_op{id, std::move(handler)};
      lock.unlock();
      prepare_for_backup(id);
      return;
    case op_kind::do_snapshot_set:
      if (abort_requested_) {
        // Defensive: the abort legs already ran, so nothing could complete this later.
        lock.unlock();
        complete(handler, errc::async_cancelled);
        return;
      }
      snap_ = snapshot_op{id, std::move(handler), snapshot_step::end_prepare, {}};
      lock.unlock();
      advance_snapshot();
      return;
    case op_kind::gather_writer_status:
      lock.unlock();
      gather_status(pending_op{id, std::move(handler)});
      return;
    case op_kind::backup_complete:
      backup_complete_op_ = pending_op{id, std::move(handler)};
      lock.unlock();
      backup_complete(id);
      return;
    case op_kind::abort_backup:  // start() registers its handler; never posted here
      return;
    case op_kind::release:
      if (release_done_) {
        lock.unlock();
        complete(handler, {});
        return;
      }
      release_waiters_.push_back(std::move(handler));
      release_requested_ = true;
      lock.unlock();
      release_on_strand();
      return;
  }
}

void session_impl::cancel(op_kind kind, std::uint64_t id) {
  asio::post(strand_, [self = shared_from_this(), kind, id] {
    engine_thread_scope scope;
    std::unique_lock lock(self->mutex_);
    auto stop_waiting = [&](std::optional<pending_op>& op, session_call failed_call) {
      if (!op || op->id != id) return;
      // Spec §3.5 CHOICE: stop waiting for outstanding writers; they are not responding.
      for (auto& [pid, ph] : self->phases_) {
        if (ph->event != writer_event::abort && ph->event != writer_event::backup_shutdown) {
          ph->collector->settle_all_pending(slot_outcome::timed_out, errc::writer_not_responding);
        }
      }
      if (failed_call != session_call::count_) {
        const auto r = step(self->machine_, failed_call);
        if (r.code == errc::ok) self->machine_ = r.next;
      }
      auto h = std::move(op->handler);
      op.reset();
      self->reservation_timer_.cancel();
      if (kind == op_kind::prepare_for_backup) self->core_->withdraw(self->id_);
      lock.unlock();
      self->complete(h, errc::async_cancelled);
    };
    switch (kind) {
      case op_kind::gather_writer_metadata:
        return stop_waiting(self->metadata_op_, session_call::count_);
      case op_kind::prepare_for_backup:
        return stop_waiting(self->prepare_op_, session_call::prepare_failed);
      case op_kind::backup_complete:
        return stop_waiting(self->backup_complete_op_, session_call::count_);
      case op_kind::do_snapshot_set:
        if (!self->snap_ || self->snap_->id != id) return;
        lock.unlock();
        self->request_abort_on_strand(abort_reason::cancelled, {});
        return;
      case op_kind::gather_writer_status:
      case op_kind::abort_backup:
      case op_kind::release:
        return;  // complete at once / abort and release cannot be cancelled
    }
  });
}

// ---------------------------------------------------------------------------------------------
// PrepareForBackup.

void session_impl::prepare_for_backup(std::uint64_t id) {
  std::vector<std::string> volumes;
  std::vector<writer_instance_id> writers;
  {
    std::lock_guard lock(mutex_);
    // Spec §10.2: component mode takes writers with a selected component; otherwise every
    // writer that answered Identify.
    for (std::size_t i = 0; i < identified_.size(); ++i) {
      const auto& inst = identified_[i]->w->identity().instance_id;
      const auto sel = selection_.find(inst);
      if (select_components_ && (sel == selection_.end() || sel->second.empty())) continue;
      participant p;
      p.entry = identified_[i];
      if (sel != selection_.end()) {
        p.components = std::make_shared<const std::vector<selected_component>>(sel->second);
      }
      participants_.push_back(std::move(p));
      writers.push_back(inst);
    }
    for (const auto& v : volumes_) volumes.push_back(v.volume);
    auto names = std::make_shared<std::vector<std::string>>(volumes);
    volume_names_ = std::move(names);
    if (core_->options().overlap == overlap_policy::wait) {
      arm_timer(reservation_timer_,
                core_->clock().now() + deadline_for(writer_event::prepare_backup),
                [id](session_impl& self) {
                  if (!self.core_->withdraw(self.id_)) return;  // granted meanwhile
                  std::unique_lock l(self.mutex_);
                  if (!self.prepare_op_ || self.prepare_op_->id != id) return;
                  const auto r = step(self.machine_, session_call::prepare_failed);
                  if (r.code == errc::ok) self.machine_ = r.next;
                  auto h = std::move(self.prepare_op_->handler);
                  self.prepare_op_.reset();
                  l.unlock();
                  self.complete(h, errc::snapshot_set_in_progress);
                });
    }
    volumes_released_ = std::make_shared<std::atomic<bool>>(false);
  }
  core_->reserve(
      id_, std::move(volumes), std::move(writers),
      [weak = weak_from_this(), id, strand = strand_](errc granted) {
        asio::post(strand, [weak, id, granted] {
          engine_thread_scope scope;
          auto self = weak.lock();
          if (!self) return;
          std::unique_lock l(self->mutex_);
          self->reservation_timer_.cancel();
          if (!self->prepare_op_ || self->prepare_op_->id != id) {
            // Cancelled or aborted while queued: give the grant back.
            l.unlock();
            if (granted == errc::ok) {
              self->core_->release_volumes(self->id_);
              self->core_->release_writers(self->id_);
            }
            return;
          }
          if (granted != errc::ok) {
            self->participants_.clear();
            const auto r = step(self->machine_, session_call::prepare_failed);
            if (r.code == errc::ok) self->machine_ = r.next;
            auto h = std::move(self->prepare_op_->handler);
            self->prepare_op_.reset();
            l.unlock();
            self->complete(h, granted);
            return;
          }
          l.unlock();
          self->begin_prepare_events();
        });
      },
      volumes_released_);
}

void session_impl::begin_prepare_events() {
  std::unique_lock lock(mutex_);
  // The participants are fixed now: every delivery shares their entries.
  auto members = std::make_shared<member_list>();
  members->reserve(participants_.size());
  bucket_of_.clear();
  std::vector<std::uint32_t> targets(participants_.size());
  for (std::uint32_t i = 0; i < participants_.size(); ++i) {
    members->push_back(make_member(participants_[i].entry));
    bucket_of_.push_back(
        participants_[i].entry->shard * 3 +
        static_cast<std::uint32_t>(freeze_group(participants_[i].entry->w->identity().level)));
    participants_[i].got_prepare_backup = true;
    targets[i] = i;
  }
  members_ = std::move(members);
  delivery_order_ = std::make_shared<const std::vector<std::uint32_t>>(order_by_bucket(bucket_of_));
  delivery_ranges_ = shard_ranges(*delivery_order_);
  components_table_.reset();
  // What an abort appends to, sized here: a burst of aborts is paced by the engine threads'
  // work per abort, and a vector's first block allocated there is freed there too
  // (decisions §44).
  kept_loops_.reserve(delivery_ranges_.size());
  retired_phases_.reserve(retired_phases_reserved);
  abort_waiters_.reserve(1);
  deliver(writer_event::prepare_backup, std::move(targets), [this] {
    std::unique_lock l(mutex_);
    if (!prepare_op_) return;
    const auto r = step(machine_, session_call::prepare_done);
    if (r.code == errc::ok) machine_ = r.next;
    auto h = std::move(prepare_op_->handler);
    prepare_op_.reset();
    l.unlock();
    // Spec §2.2: a writer veto at PrepareForBackup shows in writer status, not here.
    complete(h, {});
  });
}

// ---------------------------------------------------------------------------------------------
// GatherWriterStatus, BackupComplete, release.

void session_impl::gather_status(pending_op op) {
  std::unique_lock lock(mutex_);
  catch_up_deferred_results();
  std::vector<writer_status> out;
  out.reserve(identified_.size());
  // By entry: one pass each, not identified x participants (10^8 steps at 10,000 writers).
  std::unordered_map<const writer_entry*, const participant*> participant_of;
  participant_of.reserve(participants_.size());
  for (const auto& p : participants_) participant_of[p.entry.get()] = &p;
  for (const auto& entry : identified_) {
    const auto& id = entry->w->identity();
    writer_status st{id.instance_id, id.class_id, id.name, id.level, writer_state::stable, {}, {}};
    if (auto it = participant_of.find(entry.get()); it != participant_of.end()) {
      const auto& p = *it->second;
      st.state = p.state;
      if (p.failure != errc::ok) st.failure = p.failure;
      if (p.message) st.message = *p.message;
    }
    out.push_back(std::move(st));
  }
  status_ = std::move(out);
  lock.unlock();
  complete(op.handler, {});
}

void session_impl::backup_complete(std::uint64_t) {
  std::unique_lock lock(mutex_);
  // Every writer that went through PostSnapshot, also one whose PostSnapshot failed: it has
  // no other end for the session (invariant 2), and reads GetBackupSucceeded to decide.
  auto targets = targets_where(
      [this](const participant& p) { return p.past_post_snapshot && !abort_sent(p); });
  deliver(writer_event::backup_complete, std::move(targets), [this] {
    std::unique_lock l(mutex_);
    const auto r = step(machine_, session_call::backup_complete_done);
    if (r.code == errc::ok) machine_ = r.next;
    if (!backup_complete_op_) return;
    auto h = std::move(backup_complete_op_->handler);
    backup_complete_op_.reset();
    l.unlock();
    complete(h, {});
  });
}

void session_impl::release() {
  {
    std::lock_guard lock(mutex_);
    release_requested_ = true;
  }
  asio::post(strand_, [self = shared_from_this()] {
    engine_thread_scope scope;
    self->release_on_strand();
  });
}

void session_impl::release_on_strand() {
  std::unique_lock lock(mutex_);
  if (released_) return;
  // Spec §3.4: releasing inside the abort window is an implicit AbortBackup.
  const auto r = step(machine_, session_call::abort_backup);
  const bool implicit_abort = r.code == errc::ok && r.has_effect;
  if (implicit_abort) machine_ = r.next;
  released_ = true;
  lock.unlock();
  if (implicit_abort) request_abort_on_strand(abort_reason::requested, {});
  when_drained([self = shared_from_this()] {
    asio::post(self->strand_, [self] {
      engine_thread_scope scope;
      self->finish_release();
    });
  });
}

void session_impl::finish_release() {
  std::unique_lock lock(mutex_);
  // Auto-release snapshots of a completed backup go now (spec §11.5).
  if (set_created_ && !snapshots_deleted_ && auto_release()) {
    snapshots_deleted_ = true;
    auto vols = volumes_;
    lock.unlock();
    for (const auto& v : vols) {
      (void)provider_call_or([&] { return v.owner->delete_snapshot(v.snapshot); },
                             provider_threw());
    }
    lock.lock();
  }
  // Invariant 2: every writer that got PrepareBackup gets BackupShutdown on release.
  auto targets = targets_where([](const participant& p) { return p.got_prepare_backup; });
  const auto set_for_writers = set_created_ ? set_ : snapshot_set_id{};
  set_ = set_for_writers;  // OnBackupShutdown sees GUID_NULL when no snapshot was created
  // The continuation keeps the session alive: after release nobody else may hold it, and the
  // reservations must still be given back once BackupShutdown is answered.
  deliver(writer_event::backup_shutdown, std::move(targets), [self = shared_from_this()] {
    self->core_->release_volumes(self->id_);
    self->core_->release_writers(self->id_);
    self->core_->forget_session(self->id_);
    std::unique_lock l(self->mutex_);
    self->release_done_ = true;
    auto waiters = std::move(self->release_waiters_);
    auto callbacks = std::move(self->release_callbacks_);
    l.unlock();
    for (auto& w : waiters) self->complete(w, {});
    for (auto& fn : callbacks) fn();
  });
}

void session_impl::when_quiet(std::function<void()> fn) {
  when_drained([self = shared_from_this(), fn = std::move(fn)]() mutable {
    std::unique_lock lock(self->mutex_);
    if (self->release_requested_ && !self->release_done_) {
      self->release_callbacks_.push_back(std::move(fn));
      return;
    }
    lock.unlock();
    fn();
  });
}

}  // namespace vss::detail
