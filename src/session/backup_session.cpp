#include "vss/backup_session.hpp"

#include "session/session_impl.hpp"

namespace vss {

// The releaser's destruction (with the last backup_session copy) releases the session: the
// impl itself is also kept alive by in-flight work, so its own destructor cannot be the signal.
struct backup_session::releaser {
  releaser() = default;
  releaser(const releaser&) = delete;
  releaser& operator=(const releaser&) = delete;
  std::shared_ptr<detail::session_impl> impl;
  ~releaser() {
    if (impl) impl->release();
  }
};

backup_session::backup_session(std::shared_ptr<detail::session_impl> impl) noexcept
    : impl_(std::move(impl)) {
  // Built in place: a releaser must never be copied, or the copy's destruction would release.
  releaser_ = std::make_shared<releaser>();
  releaser_->impl = impl_;
}

session_id backup_session::id() const noexcept { return impl_ ? impl_->id() : session_id{}; }

session_state backup_session::state() const noexcept {
  return impl_ ? impl_->state() : session_state::created;
}

#define VSS_IMPL_OR_BAD_STATE \
  if (!impl_) return errc::bad_state

std::error_code backup_session::initialize_for_backup() {
  VSS_IMPL_OR_BAD_STATE;
  return impl_->initialize_for_backup();
}

std::error_code backup_session::set_context(std::uint32_t context) {
  VSS_IMPL_OR_BAD_STATE;
  return impl_->set_context(context);
}

std::error_code backup_session::set_backup_state(bool select_components, bool bootable_system_state,
                                                 backup_type type, bool partial_file_support) {
  VSS_IMPL_OR_BAD_STATE;
  return impl_->set_backup_state(select_components, bootable_system_state, type,
                                 partial_file_support);
}

std::vector<writer_metadata> backup_session::get_writer_metadata() const {
  return impl_ ? impl_->metadata() : std::vector<vss::writer_metadata>{};
}

std::error_code backup_session::add_component(const writer_instance_id& instance,
                                              const writer_class_id& cls, component_type type,
                                              std::string_view logical_path,
                                              std::string_view name) {
  VSS_IMPL_OR_BAD_STATE;
  return impl_->add_component(instance, cls, type, logical_path, name);
}

std::error_code backup_session::start_snapshot_set(snapshot_set_id& set) {
  VSS_IMPL_OR_BAD_STATE;
  return impl_->start_snapshot_set(set);
}

std::error_code backup_session::add_to_snapshot_set(std::string_view volume,
                                                    const provider_id& provider,
                                                    snapshot_id& snapshot) {
  VSS_IMPL_OR_BAD_STATE;
  return impl_->add_to_snapshot_set(volume, provider, snapshot);
}

std::vector<writer_status> backup_session::get_writer_status() const {
  return impl_ ? impl_->status() : std::vector<vss::writer_status>{};
}

std::error_code backup_session::set_backup_succeeded(const writer_instance_id& instance,
                                                     const writer_class_id& cls,
                                                     component_type type,
                                                     std::string_view logical_path,
                                                     std::string_view name, bool succeeded) {
  VSS_IMPL_OR_BAD_STATE;
  return impl_->set_backup_succeeded(instance, cls, type, logical_path, name, succeeded);
}

std::error_code backup_session::abort_backup() {
  VSS_IMPL_OR_BAD_STATE;
  return impl_->abort_backup();
}

std::error_code backup_session::get_snapshot_properties(const snapshot_id& snapshot,
                                                        snapshot_properties& out) const {
  VSS_IMPL_OR_BAD_STATE;
  return impl_->get_snapshot_properties(snapshot, out);
}

std::error_code backup_session::query(std::vector<snapshot_properties>& out) {
  VSS_IMPL_OR_BAD_STATE;
  return impl_->query(out);
}

std::error_code backup_session::query_providers(std::vector<provider_properties>& out) {
  VSS_IMPL_OR_BAD_STATE;
  return impl_->query_providers(out);
}

std::error_code backup_session::is_volume_supported(const provider_id& provider,
                                                    std::string_view volume,
                                                    bool& supported) const {
  VSS_IMPL_OR_BAD_STATE;
  return impl_->is_volume_supported(provider, volume, supported);
}

std::error_code backup_session::delete_snapshots(const guid& source, object_type type, bool force,
                                                 std::int32_t& deleted, snapshot_id& not_deleted) {
  VSS_IMPL_OR_BAD_STATE;
  return impl_->delete_snapshots(source, type, force, deleted, not_deleted);
}

#undef VSS_IMPL_OR_BAD_STATE

std::vector<phase_report> backup_session::phase_reports() const {
  return impl_ ? impl_->reports() : std::vector<phase_report>{};
}

write_hold_report backup_session::write_hold() const {
  return impl_ ? impl_->hold_report() : write_hold_report{};
}

consistency_grade backup_session::consistency() const {
  return impl_ ? impl_->consistency() : consistency_grade::none;
}

void backup_session::release() {
  if (impl_) impl_->release();
  impl_.reset();
  releaser_.reset();
}

namespace detail {

asio::any_io_executor session_executor(const std::shared_ptr<session_impl>& s) noexcept {
  return s->executor();
}
std::uint64_t next_op_id(const std::shared_ptr<session_impl>& s) noexcept {
  return s->next_op_id();
}
void start_op(const std::shared_ptr<session_impl>& s, op_kind kind, std::uint64_t id,
              erased_handler handler) {
  s->start(kind, id, std::move(handler));
}
void cancel_op(const std::weak_ptr<session_impl>& s, op_kind kind, std::uint64_t id) {
  if (auto p = s.lock()) p->cancel(kind, id);
}

}  // namespace detail
}  // namespace vss
