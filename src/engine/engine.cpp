#include "vss/engine.hpp"

#include "engine/engine_core.hpp"
#include "session/session_impl.hpp"

namespace vss {

writer_registration::writer_registration(std::weak_ptr<detail::engine_core> core,
                                         writer_instance_id instance)
    : core_(std::move(core)), instance_(instance) {}

writer_registration::writer_registration(writer_registration&& other) noexcept
    : core_(std::move(other.core_)), instance_(other.instance_) {
  other.core_.reset();
}

writer_registration& writer_registration::operator=(writer_registration&& other) noexcept {
  if (this != &other) {
    disconnect();
    core_ = std::move(other.core_);
    instance_ = other.instance_;
    other.core_.reset();
  }
  return *this;
}

writer_registration::~writer_registration() { disconnect(); }

bool writer_registration::connected() const noexcept {
  auto core = core_.lock();
  return core && core->is_registered(instance_);
}

void writer_registration::disconnect() {
  if (auto core = core_.lock()) core->unregister_writer(instance_);
  core_.reset();
}

engine::engine(const asio::any_io_executor& executor, engine_options options)
    : core_(std::make_shared<detail::engine_core>(executor, std::move(options))) {}

engine::~engine() { core_->shutdown(); }

writer_registration engine::register_writer(std::shared_ptr<writer> w, std::error_code& ec) {
  return register_writer(std::move(w), writer_placement{}, ec);
}

writer_registration engine::register_writer(std::shared_ptr<writer> w) {
  return register_writer(std::move(w), writer_placement{});
}

writer_registration engine::register_writer(std::shared_ptr<writer> w,
                                            const writer_placement& placement,
                                            std::error_code& ec) {
  auto entry = core_->register_writer(std::move(w), placement.group, ec);
  if (!entry) return {};
  return writer_registration(core_, entry->w->identity().instance_id);
}

writer_registration engine::register_writer(std::shared_ptr<writer> w,
                                            const writer_placement& placement) {
  std::error_code ec;
  auto reg = register_writer(std::move(w), placement, ec);
  if (ec) throw std::system_error(ec, "vss::engine::register_writer");
  return reg;
}

std::error_code engine::register_provider(std::shared_ptr<provider> p) {
  return core_->register_provider(std::move(p));
}

backup_session engine::create_backup_session() { return backup_session(core_->create_session()); }

std::vector<writer_identity> engine::registered_writers() const {
  std::vector<writer_identity> out;
  for (const auto& e : core_->writers()) out.push_back(e->w->identity());
  return out;
}

std::vector<provider_properties> engine::registered_providers() const {
  std::vector<provider_properties> out;
  for (const auto& p : core_->providers()) out.push_back(p->properties());
  return out;
}

void engine::shutdown() { core_->shutdown(); }

const engine_options& engine::options() const noexcept { return core_->options(); }

asio::any_io_executor engine::get_executor() const noexcept { return core_->executor(); }

namespace detail {
asio::any_io_executor engine_executor(const std::shared_ptr<engine_core>& e) noexcept {
  return e->executor();
}
void start_shutdown(const std::shared_ptr<engine_core>& e, erased_handler handler) {
  e->start_shutdown(std::move(handler));
}
}  // namespace detail

}  // namespace vss
