#include "session/session_impl.hpp"

#include <algorithm>
#include <asio/dispatch.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include "vss/error.hpp"

namespace vss::detail {
namespace {

// Spec §11.3: what a provider may return; anything else becomes
// VSS_E_UNEXPECTED_PROVIDER_ERROR.
std::error_code map_provider_error(std::error_code ec) {
  if (!ec) return ec;
  if (ec.category() == vss_category()) {
    switch (static_cast<errc>(ec.value())) {
      case errc::out_of_memory:
      case errc::invalid_arg:
      case errc::access_denied:
      case errc::bad_state:
      case errc::object_not_found:
      case errc::insufficient_storage:
      case errc::volume_not_supported:
      case errc::volume_not_supported_by_provider:
      case errc::maximum_number_of_snapshots_reached:
      case errc::provider_veto:
      case errc::unsupported_context:
      case errc::flush_writes_timeout:
      case errc::hold_writes_timeout:
        return ec;
      default:
        break;
    }
  }
  return errc::unexpected_provider_error;
}

writer_outcome to_outcome(slot_outcome o) {
  switch (o) {
    case slot_outcome::completed: return writer_outcome::completed;
    case slot_outcome::failed: return writer_outcome::failed;
    case slot_outcome::timed_out: return writer_outcome::timed_out;
    case slot_outcome::not_delivered: return writer_outcome::not_delivered;
    default: return writer_outcome::abandoned;
  }
}

writer_state failed_state(writer_event e) {
  switch (e) {
    case writer_event::identify: return writer_state::failed_at_identify;
    case writer_event::prepare_backup: return writer_state::failed_at_prepare_backup;
    case writer_event::prepare_snapshot: return writer_state::failed_at_prepare_snapshot;
    case writer_event::freeze: return writer_state::failed_at_freeze;
    case writer_event::thaw: return writer_state::failed_at_thaw;
    case writer_event::post_snapshot: return writer_state::failed_at_post_snapshot;
    case writer_event::backup_complete: return writer_state::failed_at_backup_complete;
    case writer_event::backup_shutdown: return writer_state::failed_at_backup_shutdown;
    case writer_event::abort: break;
  }
  return writer_state::unknown;
}

writer_state success_state(writer_event e, writer_state current) {
  switch (e) {
    case writer_event::prepare_backup: return writer_state::stable;
    case writer_event::prepare_snapshot: return writer_state::waiting_for_freeze;
    case writer_event::freeze: return writer_state::waiting_for_thaw;
    case writer_event::thaw: return writer_state::waiting_for_post_snapshot;
    case writer_event::post_snapshot: return writer_state::waiting_for_backup_complete;
    case writer_event::backup_complete:
    case writer_event::backup_shutdown:
    case writer_event::abort:
      // Spec §3.4 CHOICE: a failed writer keeps its failure state after OnAbort.
      return is_failed(current) ? current : writer_state::stable;
    case writer_event::identify: break;
  }
  return current;
}

bool names_match(const component_info& c, component_type type, std::string_view path,
                 std::string_view name) {
  return c.type == type && c.logical_path == path && c.name == name;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Construction and plain reads.

session_impl::session_impl(std::shared_ptr<engine_core> core)
    : core_(std::move(core)), strand_(asio::make_strand(core_->executor())) {}

session_impl::~session_impl() = default;

void session_impl::refuse() {
  std::lock_guard lock(mutex_);
  refused_ = true;
}

session_state session_impl::state() const {
  std::lock_guard lock(mutex_);
  return machine_.state;
}

std::chrono::milliseconds session_impl::deadline_for(writer_event e) const noexcept {
  const auto& d = core_->options().deadlines;
  switch (e) {
    case writer_event::identify: return d.identify;
    case writer_event::prepare_backup: return d.prepare_backup;
    case writer_event::prepare_snapshot: return d.prepare_snapshot;
    case writer_event::freeze: return std::chrono::milliseconds::zero();  // per writer
    case writer_event::thaw: return d.thaw;
    case writer_event::post_snapshot: return d.post_snapshot;
    case writer_event::abort: return d.abort;
    case writer_event::backup_complete: return d.backup_complete;
    case writer_event::backup_shutdown: return d.backup_shutdown;
  }
  return d.abort;
}

bool session_impl::auto_release() const noexcept { return context_auto_release(context_); }

// ---------------------------------------------------------------------------------------------
// Synchronous requester calls.

#define VSS_STEP_OR_RETURN(call)                                 \
  if (released_) return errc::bad_state;                         \
  const auto step_ = step(machine_, session_call::call);         \
  if (step_.code != errc::ok) return step_.code;

std::error_code session_impl::initialize_for_backup() {
  std::lock_guard lock(mutex_);
  if (refused_) return errc::bad_state;
  VSS_STEP_OR_RETURN(initialize_for_backup)
  machine_ = step_.next;
  return {};
}

std::error_code session_impl::set_context(std::uint32_t context) {
  if (auto ec = validate_context(context)) return ec;
  std::lock_guard lock(mutex_);
  VSS_STEP_OR_RETURN(set_context)
  machine_ = step_.next;
  context_ = context;
  return {};
}

std::error_code session_impl::set_backup_state(bool select_components, bool bootable,
                                               backup_type type, bool partial) {
  if (static_cast<int>(type) < static_cast<int>(backup_type::undefined) ||
      static_cast<int>(type) > static_cast<int>(backup_type::other)) {
    return errc::invalid_arg;
  }
  std::lock_guard lock(mutex_);
  VSS_STEP_OR_RETURN(set_backup_state)
  machine_ = step_.next;
  select_components_ = select_components;
  bootable_ = bootable;
  backup_type_ = type;
  partial_ = partial;
  return {};
}

std::vector<writer_metadata> session_impl::metadata() const {
  std::lock_guard lock(mutex_);
  return metadata_;
}

std::error_code session_impl::add_component(const writer_instance_id& instance,
                                            const writer_class_id& cls, component_type type,
                                            std::string_view logical_path,
                                            std::string_view name) {
  if (name.empty()) return errc::invalid_arg;
  std::lock_guard lock(mutex_);
  VSS_STEP_OR_RETURN(add_component)
  auto md = std::find_if(metadata_.begin(), metadata_.end(), [&](const writer_metadata& m) {
    return m.identity.instance_id == instance && m.identity.class_id == cls;
  });
  if (md == metadata_.end()) return errc::object_not_found;
  auto comp = std::find_if(md->components.begin(), md->components.end(),
                           [&](const auto& c) { return names_match(c, type, logical_path, name); });
  if (comp == md->components.end()) return errc::object_not_found;
  auto& chosen = selection_[instance];
  for (const auto& c : chosen) {
    if (c.type == type && c.logical_path == logical_path && c.name == name) {
      return errc::object_already_exists;
    }
  }
  chosen.push_back({type, std::string(logical_path), std::string(name), false});
  machine_ = step_.next;
  return {};
}

std::error_code session_impl::start_snapshot_set(snapshot_set_id& set) {
  std::lock_guard lock(mutex_);
  VSS_STEP_OR_RETURN(start_snapshot_set)
  if (context_ == static_cast<std::uint32_t>(snapshot_context::all)) return errc::bad_state;
  machine_ = step_.next;
  set_ = snapshot_set_id::generate();
  set = set_;
  return {};
}

std::shared_ptr<provider> session_impl::provider_by_id(const provider_id& id) const {
  for (auto& p : core_->providers()) {
    if (p->properties().id == id) return p;
  }
  return nullptr;
}

std::error_code session_impl::add_to_snapshot_set(std::string_view volume,
                                                  const provider_id& provider_choice,
                                                  snapshot_id& snapshot) {
  if (volume.empty()) return errc::invalid_arg;
  std::shared_ptr<provider> chosen;
  if (provider_choice.is_null()) {
    for (auto& p : core_->providers()) {
      if (p->is_volume_supported(volume)) {
        chosen = p;
        break;
      }
    }
  } else {
    chosen = provider_by_id(provider_choice);
  }
  std::lock_guard lock(mutex_);
  VSS_STEP_OR_RETURN(add_to_snapshot_set)
  if (!provider_choice.is_null() && !chosen) return errc::provider_not_registered;
  if (!chosen) return errc::volume_not_supported;
  if (!provider_choice.is_null() && !chosen->is_volume_supported(volume)) {
    return errc::volume_not_supported_by_provider;
  }
  for (const auto& v : volumes_) {
    if (v.volume == volume) return errc::object_already_exists;
  }
  if (volumes_.size() >= core_->options().max_volumes_per_set) {
    return errc::maximum_number_of_volumes_reached;
  }
  const std::string name(volume);
  if (core_->options().overlap == overlap_policy::reject &&
      core_->volume_held_by_other(name, id_)) {
    return errc::snapshot_set_in_progress;
  }
  const auto snap = snapshot_id::generate();
  // BeginPrepareSnapshot is quick by contract (spec §11.2); calling it under the session
  // mutex keeps the set and the provider's view of it in step.
  if (auto ec = chosen->begin_prepare_snapshot(set_, snap, volume, context_)) {
    return map_provider_error(ec);
  }
  volumes_.push_back({name, snap, chosen});
  machine_ = step_.next;
  snapshot = snap;
  return {};
}

std::vector<writer_status> session_impl::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

std::error_code session_impl::set_backup_succeeded(const writer_instance_id& instance,
                                                   const writer_class_id& cls,
                                                   component_type type,
                                                   std::string_view logical_path,
                                                   std::string_view name, bool succeeded) {
  if (name.empty()) return errc::invalid_arg;
  std::lock_guard lock(mutex_);
  VSS_STEP_OR_RETURN(set_backup_succeeded)
  for (auto& p : participants_) {
    const auto& id = p.entry->w->identity();
    if (id.instance_id != instance || id.class_id != cls || !p.components) continue;
    auto updated = std::make_shared<std::vector<selected_component>>(*p.components);
    for (auto& c : *updated) {
      if (c.type == type && c.logical_path == logical_path && c.name == name) {
        c.backup_succeeded = succeeded;
        // Contexts already handed to writers keep the old vector; BackupComplete sees this.
        p.components = std::move(updated);
        machine_ = step_.next;
        return {};
      }
    }
  }
  return errc::object_not_found;
}

std::error_code session_impl::get_snapshot_properties(const snapshot_id& id,
                                                      snapshot_properties& out) const {
  std::vector<std::shared_ptr<provider>> candidates;
  {
    std::lock_guard lock(mutex_);
    if (released_) return errc::bad_state;
    const auto r = step(machine_, session_call::get_snapshot_properties);
    if (r.code != errc::ok) return r.code;
  }
  for (auto& p : core_->providers()) {
    if (!p->get_snapshot_properties(id, out)) return {};
  }
  return errc::object_not_found;
}

std::error_code session_impl::query(std::vector<snapshot_properties>& out) {
  std::uint32_t context;
  {
    std::lock_guard lock(mutex_);
    VSS_STEP_OR_RETURN(query)
    machine_ = step_.next;
    context = context_;
  }
  out.clear();
  for (auto& p : core_->providers()) {
    for (auto& s : p->query()) {
      // Spec §2.2 Query: only snapshots of the current context (VSS_CTX_ALL: every one).
      if (context == static_cast<std::uint32_t>(snapshot_context::all) ||
          context_base(s.attributes) == context_base(context)) {
        out.push_back(std::move(s));
      }
    }
  }
  return {};
}

std::error_code session_impl::query_providers(std::vector<provider_properties>& out) {
  {
    std::lock_guard lock(mutex_);
    VSS_STEP_OR_RETURN(query)
    machine_ = step_.next;
  }
  out.clear();
  for (auto& p : core_->providers()) out.push_back(p->properties());
  return {};
}

std::error_code session_impl::is_volume_supported(const provider_id& provider_choice,
                                                  std::string_view volume,
                                                  bool& supported) const {
  {
    std::lock_guard lock(mutex_);
    if (released_) return errc::bad_state;
    const auto r = step(machine_, session_call::is_volume_supported);
    if (r.code != errc::ok) return r.code;
  }
  if (volume.empty()) return errc::invalid_arg;
  supported = false;
  if (provider_choice.is_null()) {
    for (auto& p : core_->providers()) supported = supported || p->is_volume_supported(volume);
    return {};
  }
  auto p = provider_by_id(provider_choice);
  if (!p) return errc::provider_not_registered;
  supported = p->is_volume_supported(volume);
  return {};
}

std::error_code session_impl::delete_snapshots(const guid& source, object_type type, bool,
                                               std::int32_t& deleted, snapshot_id& not_deleted) {
  deleted = 0;
  not_deleted = snapshot_id{};
  if (type != object_type::snapshot && type != object_type::snapshot_set) {
    return errc::invalid_arg;
  }
  {
    std::lock_guard lock(mutex_);
    VSS_STEP_OR_RETURN(delete_snapshots)
    machine_ = step_.next;
  }
  bool found = false;
  for (auto& p : core_->providers()) {
    for (const auto& s : p->query()) {
      const bool match = type == object_type::snapshot ? s.id.value() == source
                                                       : s.set_id.value() == source;
      if (!match) continue;
      found = true;
      if (auto ec = p->delete_snapshot(s.id)) {
        not_deleted = s.id;
        return map_provider_error(ec);
      }
      ++deleted;
    }
  }
  return found ? std::error_code{} : make_error_code(errc::object_not_found);
}

std::vector<phase_report> session_impl::reports() const {
  std::lock_guard lock(mutex_);
  return reports_;
}

consistency_grade session_impl::consistency() const {
  std::lock_guard lock(mutex_);
  if (!set_created_ || snapshots_deleted_) return consistency_grade::none;
  for (const auto& p : participants_) {
    if (p.got_prepare_backup && !p.quiesced) return consistency_grade::crash;
  }
  return consistency_grade::application;
}

#undef VSS_STEP_OR_RETURN

// ---------------------------------------------------------------------------------------------
// Asynchronous operations: entry points.

void session_impl::start(op_kind kind, std::uint64_t id, erased_handler handler) {
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
  std::unique_lock lock(mutex_);
  auto reject = [&](errc code) {
    lock.unlock();
    complete(handler, code);
  };
  if (released_) return reject(errc::bad_state);
  switch (kind) {
    case op_kind::gather_writer_metadata: {
      const auto r = step(machine_, session_call::gather_writer_metadata);
      if (r.code != errc::ok) return reject(r.code);
      machine_ = r.next;
      metadata_op_ = pending_op{id, std::move(handler)};
      lock.unlock();
      gather_metadata();
      return;
    }
    case op_kind::prepare_for_backup: {
      const auto r = step(machine_, session_call::prepare_for_backup);
      if (r.code != errc::ok) return reject(r.code);
      machine_ = r.next;
      prepare_op_ = pending_op{id, std::move(handler)};
      lock.unlock();
      prepare_for_backup(id);
      return;
    }
    case op_kind::do_snapshot_set: {
      const auto r = step(machine_, session_call::do_snapshot_set);
      if (r.code != errc::ok) return reject(r.code);
      machine_ = r.next;
      snap_ = snapshot_op{id, std::move(handler), snapshot_step::end_prepare, {}};
      lock.unlock();
      advance_snapshot();
      return;
    }
    case op_kind::gather_writer_status: {
      const auto r = step(machine_, session_call::gather_writer_status);
      if (r.code != errc::ok) return reject(r.code);
      lock.unlock();
      gather_status(pending_op{id, std::move(handler)});
      return;
    }
    case op_kind::backup_complete: {
      const auto r = step(machine_, session_call::backup_complete);
      if (r.code != errc::ok) return reject(r.code);
      machine_ = r.next;
      backup_complete_op_ = pending_op{id, std::move(handler)};
      lock.unlock();
      backup_complete(id);
      return;
    }
    case op_kind::abort_backup: {
      lock.unlock();
      std::error_code ec;
      if (!request_abort(true, ec)) return reject(static_cast<errc>(ec.value()));
      lock.lock();
      if (!abort_in_progress()) {
        lock.unlock();
        complete(handler, {});
        return;
      }
      abort_waiters_.push_back(std::move(handler));
      return;
    }
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
      self->reservation_timer_.reset();
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
        return;  // complete at once / abort cannot be cancelled
    }
  });
}

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
  phase->deadlines.assign(n, phase->started + deadline_for(writer_event::identify));
  phase->registered = std::move(entries);
  phase->collector = std::make_shared<phase_collector>(
      writer_event::identify, n, [weak = weak_from_this(), id = phase->id, strand = strand_] {
        asio::post(strand, [weak, id] {
          engine_thread_scope scope;
          if (auto s = weak.lock()) s->on_phase_settled(id);
        });
      });
  auto d = std::make_shared<identify_delivery>(identify_delivery{
      phase->collector, info, slot_of, std::make_shared<std::vector<char>>(n, 0)});
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
  phases_.emplace(raw->id, std::move(phase));
  arm_deadline(*raw);
  auto collector = raw->collector;
  lock.unlock();
  collector->start();
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
      reservation_timer_ = core_->clock().create_timer(strand_);
      reservation_timer_->async_wait_until(
          core_->clock().now() + deadline_for(writer_event::prepare_backup),
          [weak = weak_from_this(), id](bool expired) {
            auto self = weak.lock();
            if (!expired || !self) return;
            if (!self->core_->withdraw(self->id_)) return;  // granted meanwhile
            std::unique_lock l(self->mutex_);
            if (!self->prepare_op_ || self->prepare_op_->id != id) return;
            const auto r = step(self->machine_, session_call::prepare_failed);
            if (r.code == errc::ok) self->machine_ = r.next;
            auto h = std::move(self->prepare_op_->handler);
            self->prepare_op_.reset();
            l.unlock();
            self->complete(h, errc::snapshot_set_in_progress);
          });
    }
  }
  core_->reserve(id_, std::move(volumes), std::move(writers),
                 [weak = weak_from_this(), id, strand = strand_](errc granted) {
                   asio::post(strand, [weak, id, granted] {
                     engine_thread_scope scope;
                     auto self = weak.lock();
                     if (!self) return;
                     std::unique_lock l(self->mutex_);
                     self->reservation_timer_.reset();
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
                 });
}

void session_impl::begin_prepare_events() {
  std::unique_lock lock(mutex_);
  // The participants are fixed now: build each shard's session signal (slots = participants,
  // groups = freeze levels). Connected here, emitted only on the shard strands afterwards.
  shard_signals_.assign(core_->shard_count(), nullptr);
  for (std::uint32_t i = 0; i < participants_.size(); ++i) {
    const auto shard = participants_[i].entry->shard;
    if (!shard_signals_[shard]) shard_signals_[shard] = std::make_shared<session_signal>();
    connect_participant(*shard_signals_[shard], i, participants_[i].entry);
  }
  auto targets = targets_where([](const participant&) { return true; });
  for (auto t : targets) participants_[t].got_prepare_backup = true;
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
// Event delivery and collection.

std::vector<std::uint32_t> session_impl::targets_where(
    const std::function<bool(const participant&)>& pred) const {
  std::vector<std::uint32_t> out;
  for (std::uint32_t i = 0; i < participants_.size(); ++i) {
    if (pred(participants_[i])) out.push_back(i);
  }
  return out;
}

std::uint64_t session_impl::deliver(writer_event event, std::vector<std::uint32_t> targets,
                                    std::function<void()> then) {
  // mutex_ held by the caller.
  auto phase = std::make_unique<phase_state>();
  phase->id = ++next_phase_;
  phase->event = event;
  phase->started = core_->clock().now();
  phase->then = std::move(then);
  const auto n = targets.size();

  auto info = std::make_shared<event_info>();
  info->event = event;
  info->set = set_;
  info->backup_type = backup_type_;
  info->components_selected = select_components_;
  info->volumes = volume_names_;
  auto slot_of = std::make_shared<std::vector<std::int32_t>>(participants_.size(), -1);
  std::vector<char> shard_used(core_->shard_count(), 0);
  info->components.resize(n);
  phase->deadlines.resize(n);
  const auto common_deadline = phase->started + deadline_for(event);
  for (std::uint32_t slot = 0; slot < n; ++slot) {
    auto& p = participants_[targets[slot]];
    (*slot_of)[targets[slot]] = static_cast<std::int32_t>(slot);
    shard_used[p.entry->shard] = 1;
    info->components[slot] = p.components;
    if (event == writer_event::freeze) {
      // The freeze window runs from Freeze delivery to Thaw/Abort delivery (spec §7.2); it
      // is armed before the event leaves, so a Thaw can never race its own timer (KB915331).
      p.freeze_deadline = phase->started + p.entry->w->identity().freeze_timeout;
      phase->deadlines[slot] = p.freeze_deadline;
    } else {
      phase->deadlines[slot] = common_deadline;
    }
  }
  phase->targets = std::move(targets);
  phase->collector = std::make_shared<phase_collector>(
      event, n, [weak = weak_from_this(), id = phase->id, strand = strand_] {
        asio::post(strand, [weak, id] {
          engine_thread_scope scope;
          if (auto s = weak.lock()) s->on_phase_settled(id);
        });
      });
  auto d = std::make_shared<const delivery>(delivery{phase->collector, info, slot_of});
  // One post per shard that has an addressed writer: never one post per writer.
  for (std::size_t k = 0; k < shard_used.size(); ++k) {
    if (!shard_used[k]) continue;
    asio::post(core_->shard(k), [sig = shard_signals_[k], d] {
      engine_thread_scope scope;
      (*sig)(*d);
    });
  }
  auto* raw = phase.get();
  const auto id = raw->id;
  phases_.emplace(id, std::move(phase));
  if (n > 0) arm_deadline(*raw);
  raw->collector->start();
  return id;
}

void session_impl::arm_deadline(phase_state& phase) {
  // mutex_ held. One timer per phase, armed at the earliest deadline still pending.
  timer::time_point earliest = timer::time_point::max();
  for (std::uint32_t i = 0; i < phase.deadlines.size(); ++i) {
    if (phase.collector->is_pending(i)) earliest = std::min(earliest, phase.deadlines[i]);
  }
  if (earliest == timer::time_point::max()) return;
  if (!phase.deadline_timer) phase.deadline_timer = core_->clock().create_timer(strand_);
  phase.deadline_timer->async_wait_until(
      earliest, [weak = weak_from_this(), id = phase.id](bool expired) {
        engine_thread_scope scope;
        if (!expired) return;
        if (auto s = weak.lock()) s->on_deadline(id);
      });
}

void session_impl::on_deadline(std::uint64_t phase_id) {
  std::unique_lock lock(mutex_);
  auto it = phases_.find(phase_id);
  if (it == phases_.end()) return;
  auto& phase = *it->second;
  const auto now = core_->clock().now();
  const errc code = phase.event == writer_event::freeze ? errc::writer_error_timeout
                                                        : errc::writer_not_responding;
  auto collector = phase.collector;
  std::vector<std::uint32_t> expired;
  for (std::uint32_t i = 0; i < phase.deadlines.size(); ++i) {
    if (phase.deadlines[i] <= now && collector->is_pending(i)) expired.push_back(i);
  }
  arm_deadline(phase);
  lock.unlock();
  for (auto slot : expired) collector->settle(slot, slot_outcome::timed_out, code);
}

void session_impl::on_phase_settled(std::uint64_t phase_id) {
  std::unique_lock lock(mutex_);
  auto it = phases_.find(phase_id);
  if (it == phases_.end()) return;
  auto phase = std::move(it->second);
  phases_.erase(it);
  if (phase->deadline_timer) phase->deadline_timer->cancel();
  apply_results(*phase);
  lock.unlock();
  if (phase->then) phase->then();
}

void session_impl::apply_results(phase_state& phase) {
  // mutex_ held. Writer states per spec §6.2.
  auto& c = *phase.collector;
  phase_report report;
  report.event = phase.event;
  report.started = phase.started;
  report.settled = core_->clock().now();
  std::vector<std::uint32_t> to_abort;

  if (phase.event == writer_event::identify) {
    metadata_.clear();
    identified_.clear();
    for (std::uint32_t slot = 0; slot < c.size(); ++slot) {
      const auto& entry = phase.registered[slot];
      const auto outcome = c.outcome(slot);
      report.results.push_back({entry->w->identity().instance_id, entry->w->identity().name,
                                to_outcome(outcome), c.code(slot), c.message(slot)});
      if (outcome != slot_outcome::completed) continue;  // spec §6.2: omitted from the lists
      auto md = c.take_metadata(slot);
      writer_metadata m = md ? std::move(*md) : writer_metadata{};
      m.identity = entry->w->identity();
      metadata_.push_back(std::move(m));
      identified_.push_back(entry);
    }
    status_.clear();
    for (const auto& m : metadata_) {
      status_.push_back({m.identity.instance_id, m.identity.class_id, m.identity.name,
                         m.identity.level, writer_state::stable, {}, {}});
    }
    reports_.push_back(std::move(report));
    return;
  }

  for (std::uint32_t slot = 0; slot < c.size(); ++slot) {
    auto& p = participants_[phase.targets[slot]];
    const auto& identity = p.entry->w->identity();
    const auto outcome = c.outcome(slot);
    const auto code = c.code(slot);
    auto message = c.message(slot);
    report.results.push_back({identity.instance_id, identity.name, to_outcome(outcome),
                              code == errc::ok ? std::error_code{} : make_error_code(code),
                              message});
    // Only final answers count; `claimed` is an answer that lost the race with an abort.
    if (outcome != slot_outcome::completed && outcome != slot_outcome::failed &&
        outcome != slot_outcome::timed_out) {
      continue;
    }
    const bool ok = outcome == slot_outcome::completed;
    if (phase.event == writer_event::post_snapshot) p.past_post_snapshot = true;
    if (ok) {
      p.state = success_state(phase.event, p.state);
      if (phase.event == writer_event::thaw) p.quiesced = true;
      continue;
    }
    p.failure = code;
    p.message = std::move(message);
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
        !p.abort_sent) {
      to_abort.push_back(phase.targets[slot]);
    }
  }
  reports_.push_back(std::move(report));
  if (!to_abort.empty() && !abort_requested_) side_abort(std::move(to_abort));
}

void session_impl::side_abort(std::vector<std::uint32_t> writers) {
  // mutex_ held.
  for (auto w : writers) participants_[w].abort_sent = true;
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

// ---------------------------------------------------------------------------------------------
// DoSnapshotSet.

std::vector<std::shared_ptr<provider>> session_impl::set_providers() const {
  std::vector<std::shared_ptr<provider>> out;
  for (const auto& v : volumes_) {
    if (std::find(out.begin(), out.end(), v.owner) == out.end()) out.push_back(v.owner);
  }
  return out;
}

void session_impl::advance_snapshot() {
  std::unique_lock lock(mutex_);
  while (snap_ && !abort_requested_) {
    const auto s = snap_->step;
    last_step_ = s;
    if (is_provider_step(s)) {
      if (s == snapshot_step::end_prepare) end_prepare_called_ = true;
      provider_call_in_flight_ = true;
      provider_call_step_ = s;
      if (s == snapshot_step::commit) {
        if (!hold_timer_) hold_timer_ = core_->clock().create_timer(strand_);
        hold_timer_->async_wait_until(
            core_->clock().now() + core_->options().hold_budget,
            [weak = weak_from_this()](bool expired) {
              engine_thread_scope scope;
              if (!expired) return;
              if (auto self = weak.lock()) self->on_hold_expired();
            });
      }
      lock.unlock();
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
          targets = targets_where([](const participant& p) {
            return p.got_prepare_backup && !p.failed && !p.abort_sent;
          });
          break;
        case writer_event::freeze:
          targets = targets_where([&](const participant& p) {
            return in_level(p) && p.got_prepare_backup && !p.failed && !p.abort_sent;
          });
          for (auto t : targets) participants_[t].got_freeze = true;
          break;
        case writer_event::thaw:
          targets = targets_where([&](const participant& p) {
            return in_level(p) && p.got_freeze && !p.thaw_sent && !p.abort_sent;
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
      return;
    }
    if (s == snapshot_step::settle_side_aborts) {
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
  std::vector<std::shared_ptr<provider>> providers;
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
        case snapshot_step::end_prepare: p->end_prepare_snapshots(set, done); break;
        case snapshot_step::pre_commit: p->pre_commit_snapshots(set, done); break;
        case snapshot_step::commit: p->commit_snapshots(set, done); break;
        case snapshot_step::post_commit: p->post_commit_snapshots(set, count, done); break;
        case snapshot_step::pre_final_commit: p->pre_final_commit_snapshots(set, done); break;
        case snapshot_step::post_final_commit: p->post_final_commit_snapshots(set, done); break;
        default: done({}); break;
      }
    } catch (...) {
      done(errc::unexpected_provider_error);
    }
  }
  finish();
}

void session_impl::arm_freeze_watchdog() {
  // A writer that froze successfully keeps its freeze window open until Thaw or Abort is
  // delivered; when the window closes first it alone is aborted (spec §3.2).
  timer::time_point earliest = timer::time_point::max();
  for (const auto& p : participants_) {
    if (p.got_freeze && !p.thaw_sent && !p.abort_sent && !p.failed) {
      earliest = std::min(earliest, p.freeze_deadline);
    }
  }
  if (earliest == timer::time_point::max()) return;
  if (!freeze_watchdog_) freeze_watchdog_ = core_->clock().create_timer(strand_);
  freeze_watchdog_->async_wait_until(earliest, [weak = weak_from_this()](bool expired) {
    engine_thread_scope scope;
    if (!expired) return;
    if (auto self = weak.lock()) self->on_freeze_watchdog();
  });
}

void session_impl::on_freeze_watchdog() {
  std::lock_guard lock(mutex_);
  if (abort_requested_) return;
  const auto now = core_->clock().now();
  auto expired = targets_where([now](const participant& p) {
    return p.got_freeze && !p.thaw_sent && !p.abort_sent && !p.failed &&
           p.freeze_deadline <= now;
  });
  for (auto t : expired) {
    auto& p = participants_[t];
    p.state = writer_state::failed_at_freeze;
    p.failure = errc::writer_error_timeout;
    p.message = "freeze window expired before Thaw";
    p.failed = true;
  }
  if (!expired.empty()) side_abort(std::move(expired));
  arm_freeze_watchdog();
}

void session_impl::on_hold_expired() {
  {
    std::lock_guard lock(mutex_);
    if (!provider_call_in_flight_ || provider_call_step_ != snapshot_step::commit) return;
  }
  // Spec §7.1: the hold window is never extended. Writers are released now; the provider is
  // rolled back when its commit finally returns.
  request_abort_on_strand(abort_reason::failed, errc::hold_writes_timeout);
}

void session_impl::on_provider_step_done(snapshot_step step_kind, std::error_code ec) {
  std::unique_lock lock(mutex_);
  provider_call_in_flight_ = false;
  if (step_kind == snapshot_step::commit && hold_timer_) hold_timer_->cancel();
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

// ---------------------------------------------------------------------------------------------
// The abort sequence (spec §10.3).

bool session_impl::abort_in_progress() const {
  return (abort_due_ || abort_requested_) && !drained_;
}

bool session_impl::request_abort(bool from_requester, std::error_code& ec) {
  std::unique_lock lock(mutex_);
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
    if (!r.has_effect) return true;  // nothing underway, or already aborting
  }
  if (abort_due_ || abort_requested_) return true;
  abort_due_ = true;
  asio::post(strand_, [self = shared_from_this()] {
    engine_thread_scope scope;
    self->request_abort_on_strand(abort_reason::requested, {});
  });
  return true;
}

void session_impl::request_abort_on_strand(abort_reason reason, std::error_code failure) {
  std::unique_lock lock(mutex_);
  if (abort_requested_) return;  // idempotent: one abort sequence per session
  abort_requested_ = true;
  abort_reason_ = reason;
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
    phase->collector->abandon();
    if (phase->deadline_timer) phase->deadline_timer->cancel();
    apply_results(*phase);
  }
  std::optional<pending_op> prepare = std::move(prepare_op_);
  prepare_op_.reset();
  if (prepare) {
    reservation_timer_.reset();
    core_->withdraw(id_);
    const auto r = step(machine_, session_call::prepare_failed);
    if (r.code == errc::ok) machine_ = r.next;
  }
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
  start_abort_legs();
}

void session_impl::start_abort_legs() {
  std::unique_lock lock(mutex_);
  if (abort_started_) return;
  abort_started_ = true;
  // The future of an abort or cancel completes now (t_cancel); a failure is reported after
  // the drain, so that the requester never sees a failure with writers still frozen.
  std::optional<erased_handler> cancelled;
  if (snap_ && abort_reason_ != abort_reason::failed) {
    cancelled.emplace(std::move(snap_->handler));
    snap_.reset();
  }
  // (c) OnAbort to every writer with an open session that is not past PostSnapshot.
  auto targets = targets_where([](const participant& p) {
    return p.got_prepare_backup && !p.abort_sent && !p.past_post_snapshot;
  });
  for (auto t : targets) participants_[t].abort_sent = true;
  if (targets.empty()) {
    writer_leg_done_ = true;
  } else {
    deliver(writer_event::abort, std::move(targets), [this] {
      {
        std::lock_guard l(mutex_);
        writer_leg_done_ = true;
      }
      check_drained();
    });
  }
  // (b, d) The provider leg, unless a provider call must return first. Either way the drain
  // waits for it only until the abort deadline (plus the hold budget when a commit must end
  // first): AbortBackup never hangs on a stuck provider (invariant 6); the rollback still runs
  // whenever the provider returns.
  const bool wait_for_call =
      provider_call_in_flight_ && rollback_waits_for_call(provider_call_step_);
  const auto& o = core_->options();
  provider_leg_timer_ = core_->clock().create_timer(strand_);
  provider_leg_timer_->async_wait_until(
      core_->clock().now() + o.deadlines.abort +
          (wait_for_call ? o.hold_budget : std::chrono::milliseconds::zero()),
      [weak = weak_from_this()](bool expired) {
        engine_thread_scope scope;
        auto self = weak.lock();
        if (!expired || !self) return;
        {
          std::lock_guard l(self->mutex_);
          if (!self->provider_leg_done_) self->provider_leg_gave_up_ = true;
        }
        self->check_drained();
      });
  lock.unlock();
  if (cancelled) complete(*cancelled, errc::async_cancelled);
  if (!wait_for_call) run_provider_rollback();
}

void session_impl::run_provider_rollback() {
  std::vector<std::shared_ptr<provider>> providers;
  std::vector<std::pair<std::shared_ptr<provider>, snapshot_id>> created;
  snapshot_set_id set;
  bool rollback_needed;
  {
    std::lock_guard lock(mutex_);
    if (provider_rollback_started_) return;
    provider_rollback_started_ = true;
    // A set that was created successfully is only deleted if it is auto-release (spec §3.4
    // case D); a set still in creation is always rolled back (spec §3.6).
    rollback_needed = end_prepare_called_ && (!set_created_ || auto_release());
    if (!rollback_needed) {
      provider_leg_done_ = true;
    } else {
      providers = set_providers();
      for (const auto& v : volumes_) created.emplace_back(v.owner, v.snapshot);
      set = set_;
      snapshots_deleted_ = true;
    }
  }
  if (!rollback_needed) {
    check_drained();
    return;
  }
  auto remaining = std::make_shared<std::atomic<std::size_t>>(providers.size() + 1);
  auto finish = [weak = weak_from_this(), strand = strand_, remaining, created] {
    if (remaining->fetch_sub(1) != 1) return;
    asio::post(strand, [weak, created] {
      engine_thread_scope scope;
      auto self = weak.lock();
      if (!self) return;
      // Whatever AbortSnapshots left (committed snapshots) is deleted one by one.
      for (const auto& [p, id] : created) p->delete_snapshot(id);
      {
        std::lock_guard lock(self->mutex_);
        self->provider_leg_done_ = true;
      }
      self->check_drained();
    });
  };
  for (auto& p : providers) {
    auto once = std::make_shared<std::atomic<bool>>(false);
    try {
      p->abort_snapshots(set, [once, finish](std::error_code) {
        if (!once->exchange(true)) finish();
      });
    } catch (...) {
      if (!once->exchange(true)) finish();
    }
  }
  finish();
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
  if (provider_leg_timer_) provider_leg_timer_->cancel();
  auto waiters = std::move(abort_waiters_);
  auto callbacks = std::move(drain_callbacks_);
  lock.unlock();
  drained_cv_.notify_all();
  core_->release_volumes(id_);
  if (failed_op) complete(*failed_op, failure);
  for (auto& w : waiters) complete(w, {});
  for (auto& fn : callbacks) fn();
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
  if (!request_abort(true, ec)) return ec;
  // Waiting on an engine thread could wait for work that needs this very thread (invariant 6).
  if (on_engine_thread()) return {};
  if (auto* io = core_->executor().target<asio::io_context::executor_type>();
      io && io->running_in_this_thread()) {
    return {};
  }
  std::unique_lock lock(mutex_);
  // Bounded: the abort sequence itself is bounded by the abort deadline and the hold budget,
  // both measured on the engine clock; this real-time bound only guards against a stalled
  // executor or a virtual clock nobody advances.
  const auto bound = core_->options().deadlines.abort + core_->options().hold_budget +
                     std::chrono::seconds(5);
  drained_cv_.wait_for(lock, bound, [this] { return !abort_in_progress(); });
  return {};
}

void session_impl::abort_for_shutdown() {
  std::error_code ignored;
  request_abort(true, ignored);
}

// ---------------------------------------------------------------------------------------------
// GatherWriterStatus, BackupComplete, release.

void session_impl::gather_status(pending_op op) {
  std::unique_lock lock(mutex_);
  std::vector<writer_status> out;
  for (const auto& entry : identified_) {
    const auto& id = entry->w->identity();
    writer_status st{id.instance_id, id.class_id, id.name, id.level, writer_state::stable, {},
                     {}};
    for (const auto& p : participants_) {
      if (p.entry != entry) continue;
      st.state = p.state;
      if (p.failure != errc::ok) st.failure = p.failure;
      st.message = p.message;
    }
    out.push_back(std::move(st));
  }
  status_ = std::move(out);
  lock.unlock();
  complete(op.handler, {});
}

void session_impl::backup_complete(std::uint64_t) {
  std::unique_lock lock(mutex_);
  auto targets = targets_where([](const participant& p) {
    return p.state == writer_state::waiting_for_backup_complete && !p.abort_sent;
  });
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
  asio::post(strand_, [self = shared_from_this()] {
    engine_thread_scope scope;
    std::unique_lock lock(self->mutex_);
    if (self->released_) return;
    // Spec §3.4: releasing inside the abort window is an implicit AbortBackup.
    const auto r = step(self->machine_, session_call::abort_backup);
    const bool implicit_abort = r.code == errc::ok && r.has_effect;
    if (implicit_abort) self->machine_ = r.next;
    self->released_ = true;
    lock.unlock();
    if (implicit_abort) self->request_abort_on_strand(abort_reason::requested, {});
    self->when_drained([self] {
      asio::post(self->strand_, [self] {
        engine_thread_scope scope;
        self->finish_release();
      });
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
    for (const auto& v : vols) v.owner->delete_snapshot(v.snapshot);
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
  });
}

}  // namespace vss::detail
