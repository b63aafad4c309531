// Delivering one event to writers and collecting their answers: slot maps, one post per
// shard, deadlines, and how answers become writer states (spec §6.2).
#include <algorithm>
#include <asio/dispatch.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include "session/session_helpers.hpp"
#include "session/session_impl.hpp"
#include "vss/error.hpp"

namespace vss::detail {

// ---------------------------------------------------------------------------------------------
// GatherWriterMetadata.

void session_impl::gather_metadata() {
  auto entries = core_->writers();
  deliver_identify(std::move(entries), [this] {
    std::unique_lock lock(mutex_);
    const auto r = step(machine_, session_call::gather_metadata_done);
    if (r.code == errc::ok) machine_ = r.next;
    if (!metadata_op_) return;  // cancelled
    auto h = std::move(metadata_op_->handler);
    metadata_op_.reset();
    lock.unlock();
    complete(h, {});
  });
}

void session_impl::deliver_identify(std::vector<std::shared_ptr<writer_entry>> entries,
                                    std::function<void()> then) {
  std::unique_lock lock(mutex_);
  auto phase = std::make_unique<phase_state>();
  phase->id = ++next_phase_;
  phase->event = writer_event::identify;
  phase->started = core_->clock().now();
  phase->then = std::move(then);
  const auto n = entries.size();
  auto info = std::make_shared<event_info>();
  info->event = writer_event::identify;
  auto slot_of = std::make_shared<std::unordered_map<std::uint64_t, std::uint32_t>>();
  std::vector<std::vector<std::uint32_t>> by_shard(core_->shard_count());
  for (std::uint32_t i = 0; i < n; ++i) {
    info->identities.push_back(&entries[i]->w->identity());
    slot_of->emplace(entries[i]->registration, i);
    by_shard[entries[i]->shard].push_back(i);
  }
  phase->common_deadline = phase->started + deadline_for(writer_event::identify);
  phase->registered = std::move(entries);
  phase->collector = std::make_shared<phase_collector>(
      writer_event::identify, n, [weak = weak_from_this(), id = phase->id, strand = strand_] {
        asio::post(strand, [weak, id] {
          engine_thread_scope scope;
          if (auto s = weak.lock()) s->on_phase_settled(id);
        });
      });
  auto d = std::make_shared<identify_delivery>(identify_delivery{
      phase->collector, info, slot_of, std::make_shared<std::vector<char>>(n, 0), nullptr});
  // What a context that outlives its handler keeps alive (not `d` itself: no cycle).
  d->owner = std::make_shared<
      const std::pair<std::shared_ptr<phase_collector>, std::shared_ptr<const event_info>>>(
      phase->collector, info);
  for (std::size_t k = 0; k < by_shard.size(); ++k) {
    if (by_shard[k].empty()) continue;
    asio::post(core_->shard(k), [core = core_, k, d, mine = std::move(by_shard[k])] {
      engine_thread_scope scope;
      core->registry(k)(*d);
      // A writer unregistered since the snapshot was taken has no slot any more: settle it
      // now rather than letting it run into the Identify deadline.
      for (auto slot : mine) {
        if (!(*d->visited)[slot]) d->collector->settle(slot, slot_outcome::not_delivered);
      }
    });
  }
  auto* raw = phase.get();
  phases_.emplace_back(raw->id, std::move(phase));
  if (n > 0) arm_deadline_at(*raw, raw->common_deadline);
  auto collector = raw->collector;
  lock.unlock();
  collector->start();
}

// ---------------------------------------------------------------------------------------------
// Event delivery and collection.

// A phase's parts and what its end needs, in one block (decision 50): the collector's callback
// is then a pointer to them, which std::function keeps inline, where a closure holding the
// session's weak_ptr and the strand took a block of its own.
struct session_phase_parts final : phase_parts {
  session_phase_parts(writer_event event, std::size_t slots, std::weak_ptr<session_impl> s,
                      strand_type st, std::uint64_t id, bool end_here)
      : phase_parts(event, slots, [this](settled_at at) { settled(at); }),
        session(std::move(s)),
        strand(std::move(st)),
        phase_id(id),
        end_at_loop(end_here) {}

  void settled(settled_at at) const {
    auto end = [weak = session, id = phase_id] {
      engine_thread_scope scope;
      if (auto s = weak.lock()) s->on_phase_settled(id);
    };
    if (end_at_loop && at != settled_at::elsewhere) return end();
    asio::post(strand, std::move(end));
  }

  const std::weak_ptr<session_impl> session;
  const strand_type strand;
  const std::uint64_t phase_id;
  const bool end_at_loop;  // where_settled: the end runs where the last answer lands
};

std::vector<std::uint32_t> session_impl::targets_where(
    const std::function<bool(const participant&)>& pred) const {
  std::vector<std::uint32_t> out;
  for (std::uint32_t i = 0; i < participants_.size(); ++i) {
    if (pred(participants_[i])) out.push_back(i);
  }
  return out;
}

std::vector<std::pair<std::uint32_t, std::uint32_t>> session_impl::shard_ranges(
    const std::vector<std::uint32_t>& ordered) const {
  // Each shard's slots are one contiguous range of `ordered` (sorted by shard).
  std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges;
  for (std::uint32_t slot = 0; slot < ordered.size(); ++slot) {
    const auto shard = bucket_of_[ordered[slot]] / 3;
    if (ranges.empty() || ranges.back().first != shard) ranges.emplace_back(shard, slot);
  }
  return ranges;
}

std::uint64_t session_impl::deliver(writer_event event, std::vector<std::uint32_t> targets,
                                    std::function<void()> then, then_runs where) {
  // mutex_ held.
  // Slots are numbered shard by shard, so that each shard's answers land on its own cache
  // lines; within a shard, freeze groups in order (spec §5.4: front-end first). That order was
  // fixed at PrepareForBackup (delivery_order_); a delivery to every participant shares it,
  // any other filters it to its targets.
  const auto n = targets.size();
  if (delivery_order_ && n == delivery_order_->size()) {
    return deliver_to_all(event, std::move(then), where);  // targets are distinct participants
  }
  std::vector<char> wanted(participants_.size(), 0);
  for (auto t : targets) wanted[t] = 1;
  auto filtered = std::make_shared<std::vector<std::uint32_t>>();
  filtered->reserve(n);
  // Before PrepareForBackup there is no order, and no participant to deliver to either.
  if (delivery_order_) {
    for (auto i : *delivery_order_) {
      if (wanted[i]) filtered->push_back(i);
    }
  }
  auto ranges = shard_ranges(*filtered);
  return deliver_ordered(event, std::move(filtered), ranges, std::move(then), where);
}

std::uint64_t session_impl::deliver_to_all(writer_event event, std::function<void()> then,
                                           then_runs where) {
  // mutex_ held; after PrepareForBackup (delivery_order_ is set).
  return deliver_ordered(event, delivery_order_, delivery_ranges_, std::move(then), where);
}

std::uint64_t session_impl::deliver_ordered(
    writer_event event, slot_map ordered,
    const std::vector<std::pair<std::uint32_t, std::uint32_t>>& ranges, std::function<void()> then,
    then_runs where) {
  // mutex_ held. `ordered`: participant per slot; `ranges`: (shard, first slot) per shard.
  auto phase = std::make_unique<phase_state>();
  phase->id = ++next_phase_;
  phase->event = event;
  phase->started = core_->clock().now();
  phase->then = std::move(then);
  const auto n = ordered->size();
  // The abort's writer leg ends where its last answer lands when that is the end of a shard's
  // loop, not one more hop later on the strand: its end touches only what mutex_ guards, and
  // that thread holds no lock (decisions §30). Other continuations drive the pipeline, which
  // runs on the strand.
  const bool end_at_loop = where == then_runs::where_settled;
  // The collector and the event in one block, the owner of the delivery (decision 48).
  auto parts = std::make_shared<session_phase_parts>(event, n, weak_from_this(), strand_, phase->id,
                                                     end_at_loop);
  phase->collector = std::shared_ptr<phase_collector>(parts, &parts->collector);
  auto& info = parts->info;
  info.set = set_;
  info.backup_type = backup_type_;
  info.components_selected = select_components_;
  info.volumes = volume_names_;
  if (!components_table_) {
    auto table =
        std::make_shared<std::vector<std::shared_ptr<const std::vector<selected_component>>>>();
    table->reserve(participants_.size());
    for (const auto& p : participants_) table->push_back(p.components);
    components_table_ = std::move(table);
  }
  info.components = components_table_;

  const auto common_deadline = phase->started + deadline_for(event);
  auto earliest = common_deadline;
  phase->common_deadline = common_deadline;
  if (event == writer_event::freeze) {
    phase->deadlines.resize(n);
    for (std::uint32_t slot = 0; slot < n; ++slot) {
      auto& p = participants_[(*ordered)[slot]];
      // The freeze window runs from Freeze delivery to Thaw/Abort delivery (spec §7.2); it
      // is armed before the event leaves, so a Thaw can never race its own timer (KB915331).
      p.freeze_deadline = phase->started + p.entry->w->identity().freeze_timeout;
      phase->deadlines[slot] = p.freeze_deadline;
      earliest = slot == 0 ? p.freeze_deadline : std::min(earliest, p.freeze_deadline);
    }
  }
  info.participant_of_slot = ordered;
  phase->targets = std::move(ordered);
  const auto d = phase_parts::delivery_of(parts);
  // One post per shard that has an addressed writer: never one post per writer. The caller
  // may keep some to run itself (keeping_loops_, decisions §32, §33).
  const bool keep = end_at_loop && keeping_loops_;
  const bool keep_all = keep && n <= loops_kept_whole;
  for (std::size_t r = 0; r < ranges.size(); ++r) {
    const auto first = ranges[r].second;
    const auto end = r + 1 < ranges.size() ? ranges[r + 1].second : static_cast<std::uint32_t>(n);
    shard_loop loop{ranges[r].first, d, members_, core_->loops_running_counts(), first, end};
    if (keep_all || (keep && r + 1 == ranges.size())) {
      kept_loops_.push_back(std::move(loop));
      continue;
    }
    asio::post(core_->shard(loop.shard), std::move(loop));
  }
  auto* raw = phase.get();
  const auto id = raw->id;
  raw->ends_off_strand = end_at_loop;
  phases_.emplace_back(id, std::move(phase));
  if (n > 0) {
    // The abort's writer leg arms its deadline now, before any of its handlers can run (one
    // that blocks in a loop run on this strand's thread must not keep it from being armed),
    // and on a timer whose expiry does not need the strand. Other phases arm theirs from a
    // strand step of their own, which finds most of them settled already (decisions §24).
    // With more than one loop kept, a deadline of its own hands on those not yet started.
    if (end_at_loop) {
      if (kept_loops_.size() > 1) {
        arm_timer(
            hand_off_timer_, raw->started + kept_loops_hand_off_after,
            [](session_impl& self) { self.hand_off_kept_loops(); }, /*via_strand=*/false);
      }
      arm_deadline_at(*raw, earliest);
    } else {
      arm_deadline_unless_settled(id, earliest);
    }
  }
  raw->collector->start();
  return id;
}

void session_impl::arm_deadline(phase_state& phase) {
  // mutex_ held. One timer per phase, armed at the earliest deadline still pending.
  timer::time_point earliest = timer::time_point::max();
  for (std::uint32_t i = 0; i < phase.collector->size(); ++i) {
    if (phase.collector->is_pending(i)) earliest = std::min(earliest, deadline_of(phase, i));
  }
  arm_deadline_at(phase, earliest);
}

void session_impl::arm_deadline_unless_settled(std::uint64_t phase_id, timer::time_point earliest) {
  // A posted step, not a timer armed now: when every writer answers inline (the common case,
  // and with one io thread the shards' loops run before this step), the phase has settled by
  // the time it runs and needs no timer to arm and cancel. It does not wait for the loops, so
  // a handler that blocks in one cannot keep the deadline from being armed (decisions §24).
  asio::post(strand_, [weak = weak_from_this(), phase_id, earliest] {
    engine_thread_scope scope;
    auto self = weak.lock();
    if (!self) return;
    std::lock_guard lock(self->mutex_);
    auto it = self->find_phase(phase_id);
    if (it == self->phases_.end() || it->second->collector->settled()) return;
    self->arm_deadline_at(*it->second, earliest);
  });
}

void session_impl::arm_deadline_at(phase_state& phase, timer::time_point earliest) {
  // mutex_ held.
  if (earliest == timer::time_point::max()) return;
  arm_timer(
      phase.deadline_timer, earliest, [id = phase.id](session_impl& self) { self.on_deadline(id); },
      !phase.ends_off_strand);
}

void session_impl::on_deadline(std::uint64_t phase_id) {
  std::unique_lock lock(mutex_);
  auto it = find_phase(phase_id);
  if (it == phases_.end()) return;
  auto& phase = *it->second;
  const auto now = core_->clock().now();
  const errc code = phase.event == writer_event::freeze ? errc::writer_error_timeout
                                                        : errc::writer_not_responding;
  auto collector = phase.collector;
  std::vector<std::uint32_t> expired;
  for (std::uint32_t i = 0; i < collector->size(); ++i) {
    if (deadline_of(phase, i) <= now && collector->is_pending(i)) expired.push_back(i);
  }
  arm_deadline(phase);
  // Off the strand, with no lock held (arm_timer): its end may run here too (decisions §32).
  const auto where = phase.ends_off_strand ? settled_at::deadline_expiry : settled_at::elsewhere;
  lock.unlock();
  collector->settle_each(expired, slot_outcome::timed_out, code, where);
}

void session_impl::on_phase_settled(std::uint64_t phase_id) {
  std::unique_lock lock(mutex_);
  auto it = find_phase(phase_id);
  if (it == phases_.end()) return;
  auto phase = std::move(it->second);
  phases_.erase(it);
  auto then = std::move(phase->then);
  if (phase->event == writer_event::abort && abort_started_ && !drained_) {
    // The abort sequence's answers: the requester waits for them, not for the writer states
    // they imply. Recorded now, applied once the requester is woken (check_drained); the
    // phase is destroyed after that too (retire).
    defer_results(*phase);
    retire(std::move(phase));
  } else {
    phase->deadline_timer.cancel();
    apply_results(*phase);
  }
  lock.unlock();
  if (then) then();
}

void session_impl::apply_results(phase_state& phase) {
  // mutex_ held. Earlier answers first: states follow the order the phases settled in.
  catch_up_deferred_results();
  record(phase);
  apply_recorded(history_.back());
}

void session_impl::defer_results(phase_state& phase) {
  // mutex_ held. Only phases whose answers nothing reads before the drain but strand
  // operations: PostSnapshot decides whom the abort reaches (past_post_snapshot), Thaw feeds
  // consistency() (quiesced), and the others end the sequence's side aborts.
  const auto e = phase.event;
  if (e != writer_event::prepare_backup && e != writer_event::prepare_snapshot &&
      e != writer_event::freeze && e != writer_event::abort) {
    apply_results(phase);
    return;
  }
  record(phase);
  unapplied_.push_back(history_.size() - 1);
}

void session_impl::catch_up_deferred_results() {
  // mutex_ held. Before the drain they stay deferred: the abort's own work comes first.
  if (!drained_ || unapplied_.empty()) return;
  for (auto i : unapplied_) apply_recorded(history_[i]);
  unapplied_.clear();
}

void session_impl::apply_recorded(const recorded_phase& phase) {
  // mutex_ held. Writer states per spec §6.2.
  auto& c = *phase.collector;
  std::vector<std::uint32_t> to_abort;

  if (phase.event == writer_event::identify) {
    metadata_.clear();
    identified_.clear();
    for (std::uint32_t slot = 0; slot < c.size(); ++slot) {
      const auto& entry = phase.registered[slot];
      if (c.outcome(slot) != slot_outcome::completed) continue;  // spec §6.2: left out
      auto md = c.take_metadata(slot);
      writer_metadata m = md ? std::move(*md) : writer_metadata{};
      m.identity = entry->w->identity();
      metadata_.push_back(std::move(m));
      identified_.push_back(entry);
    }
    status_.clear();
    for (const auto& m : metadata_) {
      status_.push_back({m.identity.instance_id,
                         m.identity.class_id,
                         m.identity.name,
                         m.identity.level,
                         writer_state::stable,
                         {},
                         {}});
    }
    return;
  }

  for (std::uint32_t slot = 0; slot < c.size(); ++slot) {
    auto& p = participants_[(*phase.targets)[slot]];
    const auto outcome = c.outcome(slot);
    // Only final answers count; `claimed` is an answer that lost the race with an abort.
    if (outcome != slot_outcome::completed && outcome != slot_outcome::failed &&
        outcome != slot_outcome::timed_out) {
      continue;
    }
    if (phase.event == writer_event::post_snapshot) {
      p.past_post_snapshot = true;
      past_post_snapshot_any_ = true;
    }
    if (outcome == slot_outcome::completed) {
      // A writer already failed keeps that state: answers can be applied after the failure
      // was marked (the freeze watchdog fails a writer whose window closed while its level's
      // Freeze phase still waits for others; an abort defers a superseded phase's answers).
      if (!p.failed) p.state = success_state(phase.event, p.state);
      if (phase.event == writer_event::thaw) p.quiesced = true;
      continue;
    }
    p.failure = c.code(slot);
    auto message = c.message(slot);
    p.message = message.empty() ? nullptr : std::make_unique<const std::string>(std::move(message));
    if (phase.event == writer_event::abort) continue;  // keep the state; record the failure
    const bool timed_out = outcome == slot_outcome::timed_out;
    if (timed_out && phase.event != writer_event::freeze) {
      // Spec §6.2 CHOICE: no answer keeps the last state, failure NOT_RESPONDING.
    } else {
      p.state = failed_state(phase.event);
    }
    if (phase.event == writer_event::backup_complete ||
        phase.event == writer_event::backup_shutdown) {
      continue;
    }
    p.failed = true;
    // Spec §3.2: a Freeze or Thaw veto (or a freeze timeout) aborts that writer alone.
    if ((phase.event == writer_event::freeze || phase.event == writer_event::thaw) &&
        !abort_sent(p)) {
      to_abort.push_back((*phase.targets)[slot]);
    }
  }
  if (!to_abort.empty() && !abort_requested_) side_abort(std::move(to_abort));
}

void session_impl::record(phase_state& phase) {
  // mutex_ held. Keeps what reports() and the writer states need; the phase itself is done.
  history_.push_back({phase.event, phase.started, core_->clock().now(), phase.collector,
                      std::move(phase.targets), std::move(phase.registered)});
}

std::vector<phase_report> session_impl::reports() const {
  std::lock_guard lock(mutex_);
  std::vector<phase_report> out;
  out.reserve(history_.size());
  for (const auto& h : history_) {
    phase_report r{h.event, h.started, h.settled, {}};
    const auto& c = *h.collector;
    r.results.reserve(c.size());
    // Slots are numbered shard by shard (deliver); report writers in participant order.
    std::vector<std::uint32_t> slots(c.size());
    for (std::uint32_t slot = 0; slot < c.size(); ++slot) slots[slot] = slot;
    if (h.event != writer_event::identify) {
      std::sort(slots.begin(), slots.end(), [&](std::uint32_t a, std::uint32_t b) {
        return (*h.targets)[a] < (*h.targets)[b];
      });
    }
    for (const auto slot : slots) {
      const auto& w = h.event == writer_event::identify
                          ? *h.registered[slot]->w
                          : *participants_[(*h.targets)[slot]].entry->w;
      const auto outcome = c.outcome(slot);
      writer_result res{w.identity().instance_id, w.identity().name, to_outcome(outcome), {}, {}};
      if (outcome == slot_outcome::failed || outcome == slot_outcome::timed_out) {
        res.code = c.code(slot);
        res.message = c.message(slot);
      }
      r.results.push_back(std::move(res));
    }
    out.push_back(std::move(r));
  }
  return out;
}

void session_impl::side_abort(std::vector<std::uint32_t> writers) {
  // mutex_ held.
  for (auto w : writers) participants_[w].abort_sent = true;
  abort_sent_to_some_ = true;
  ++side_aborts_in_flight_;
  deliver(writer_event::abort, std::move(writers), [this] {
    std::unique_lock lock(mutex_);
    --side_aborts_in_flight_;
    const bool resume = snap_ && snap_->step == snapshot_step::settle_side_aborts;
    lock.unlock();
    if (resume) advance_snapshot();
    check_drained();
  });
}

}  // namespace vss::detail
