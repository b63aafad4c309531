// The synchronous requester calls of a session (run on the caller's thread).
#include <algorithm>
#include <asio/dispatch.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include "session/session_helpers.hpp"
#include "session/session_impl.hpp"
#include "vss/error.hpp"

namespace vss::detail {

// ---------------------------------------------------------------------------------------------
// Synchronous requester calls.

#define VSS_STEP_OR_RETURN(call)                         \
  if (released_) return errc::bad_state;                 \
  const auto step_ = step(machine_, session_call::call); \
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
                                            std::string_view logical_path, std::string_view name) {
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

std::error_code session_impl::add_to_snapshot_set(std::string_view volume,
                                                  const provider_id& provider_choice,
                                                  snapshot_id& snapshot) {
  if (volume.empty()) return errc::invalid_arg;
  std::shared_ptr<provider> chosen;
  if (provider_choice.is_null()) {
    for (auto& p : core_->providers()) {
      if (provider_call_or([&] { return p->is_volume_supported(volume); }, false)) {
        chosen = p;
        break;
      }
    }
  } else {
    chosen = core_->find_provider(provider_choice);
  }
  std::lock_guard lock(mutex_);
  VSS_STEP_OR_RETURN(add_to_snapshot_set)
  if (!provider_choice.is_null() && !chosen) return errc::provider_not_registered;
  if (!chosen) return errc::volume_not_supported;
  if (!provider_choice.is_null() &&
      !provider_call_or([&] { return chosen->is_volume_supported(volume); }, false)) {
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
  if (auto ec = provider_call_or(
          [&] { return chosen->begin_prepare_snapshot(set_, snap, volume, context_); },
          provider_threw())) {
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
                                                   const writer_class_id& cls, component_type type,
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
        components_table_.reset();
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
    if (!provider_call_or([&] { return p->get_snapshot_properties(id, out); }, provider_threw())) {
      return {};
    }
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
    for (auto& s :
         provider_call_or([&] { return p->query(); }, std::vector<snapshot_properties>{})) {
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
                                                  std::string_view volume, bool& supported) const {
  {
    std::lock_guard lock(mutex_);
    if (released_) return errc::bad_state;
    const auto r = step(machine_, session_call::is_volume_supported);
    if (r.code != errc::ok) return r.code;
  }
  if (volume.empty()) return errc::invalid_arg;
  supported = false;
  if (provider_choice.is_null()) {
    for (auto& p : core_->providers()) {
      supported =
          supported || provider_call_or([&] { return p->is_volume_supported(volume); }, false);
    }
    return {};
  }
  auto p = core_->find_provider(provider_choice);
  if (!p) return errc::provider_not_registered;
  supported = provider_call_or([&] { return p->is_volume_supported(volume); }, false);
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
    for (const auto& s :
         provider_call_or([&] { return p->query(); }, std::vector<snapshot_properties>{})) {
      const bool match =
          type == object_type::snapshot ? s.id.value() == source : s.set_id.value() == source;
      if (!match) continue;
      found = true;
      if (auto ec = provider_call_or([&] { return p->delete_snapshot(s.id); }, provider_threw())) {
        not_deleted = s.id;
        return map_provider_error(ec);
      }
      ++deleted;
    }
  }
  return found ? std::error_code{} : make_error_code(errc::object_not_found);
}

consistency_grade session_impl::consistency() const {
  std::lock_guard lock(mutex_);
  if (!set_created_ || snapshots_deleted_) return consistency_grade::none;
  for (const auto& p : participants_) {
    if (p.got_prepare_backup && !p.quiesced) {
      const bool held = !hold_report_.filesystems.empty() && !hold_report_.expired;
      return held || atomic_commit_ ? consistency_grade::filesystem : consistency_grade::crash;
    }
  }
  return consistency_grade::application;
}

#undef VSS_STEP_OR_RETURN

}  // namespace vss::detail
