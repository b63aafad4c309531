#include <exception>
#include <ostream>

#include "vss/writer.hpp"
#include "writers/context_access.hpp"
#include "writers/phase_collector.hpp"

namespace vss {

bool is_writer_failure_code(errc code) noexcept {
  switch (code) {
    case errc::writer_error_inconsistent_snapshot:
    case errc::writer_error_out_of_resources:
    case errc::writer_error_timeout:
    case errc::writer_error_retryable:
    case errc::writer_error_nonretryable:
    case errc::writer_error_partial_failure:
      return true;
    default:
      return false;
  }
}

namespace {

const std::vector<selected_component> no_components;
const std::vector<std::string> no_volumes;

}  // namespace

std::string_view to_string(writer_event e) noexcept {
  switch (e) {
    case writer_event::identify:
      return "Identify";
    case writer_event::prepare_backup:
      return "PrepareBackup";
    case writer_event::prepare_snapshot:
      return "PrepareSnapshot";
    case writer_event::freeze:
      return "Freeze";
    case writer_event::thaw:
      return "Thaw";
    case writer_event::post_snapshot:
      return "PostSnapshot";
    case writer_event::abort:
      return "Abort";
    case writer_event::backup_complete:
      return "BackupComplete";
    case writer_event::backup_shutdown:
      return "BackupShutdown";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, writer_event e) { return os << to_string(e); }

writer_context::writer_context() noexcept = default;

void writer_context::take_from(writer_context& other) noexcept {
  collector_ = std::exchange(other.collector_, nullptr);
  info_ = std::exchange(other.info_, nullptr);
  // Leaving the delivery loop: from here on the context must keep its delivery alive.
  owner_ = other.owner_ ? std::move(other.owner_)
                        : (other.borrowed_owner_ ? *other.borrowed_owner_ : nullptr);
  borrowed_owner_ = nullptr;
  other.borrowed_owner_ = nullptr;
  metadata_ = std::move(other.metadata_);
  slot_ = other.slot_;
  done_ = std::exchange(other.done_, true);
}

writer_context::writer_context(writer_context&& other) noexcept { take_from(other); }

writer_context& writer_context::operator=(writer_context&& other) noexcept {
  if (this != &other) {
    if (!done_) complete_as_dropped();
    take_from(other);
  }
  return *this;
}

void writer_context::complete_as_dropped() noexcept {
  // A context whose slot is no longer pending (its phase was superseded by an abort, or timed
  // out) records nothing: settle would refuse it. Checked first, because this is how a writer
  // that held its Freeze context lets it go in OnAbort, and the message below is a heap string.
  if (!collector_->is_pending(slot_)) {
    done_ = true;
    return;
  }
  // A handler that throws unwinds through its by-value context, so an uncaught exception here
  // means the handler threw; otherwise the writer simply forgot to answer.
  const char* why = std::uncaught_exceptions() > 0
                        ? "the handler threw an exception"
                        : "writer_context destroyed without complete() or fail()";
  done_ = true;
  try {
    collector_->settle(slot_, detail::slot_outcome::failed, errc::writer_error_nonretryable, why);
  } catch (...) {
    // settle allocates only for the message; without it the failure is still recorded below.
    collector_->settle(slot_, detail::slot_outcome::failed, errc::writer_error_nonretryable);
  }
}

void writer_context::complete() {
  if (done_) return;
  done_ = true;
  if (!metadata_) {
    collector_->settle_completed(slot_);
    return;
  }
  collector_->settle(slot_, detail::slot_outcome::completed, errc::ok, {}, std::move(metadata_));
}

std::error_code writer_context::fail(errc code, std::string message) {
  if (!is_writer_failure_code(code)) return errc::invalid_arg;
  if (done_) return {};
  done_ = true;
  collector_->settle(slot_, detail::slot_outcome::failed, code, std::move(message));
  return {};
}

bool writer_context::done() const noexcept { return done_; }

bool writer_context::abandoned() const noexcept {
  return !collector_ || collector_->abandoned() || !collector_->is_pending(slot_);
}

writer_event writer_context::event() const noexcept {
  return info_ ? info_->event : writer_event::identify;
}

snapshot_set_id writer_context::snapshot_set() const noexcept {
  return info_ ? info_->set : snapshot_set_id{};
}

backup_type writer_context::backup_type() const noexcept {
  return info_ ? info_->backup_type : vss::backup_type::undefined;
}

bool writer_context::components_selected() const noexcept {
  return info_ && info_->components_selected;
}

const std::vector<selected_component>& writer_context::components() const noexcept {
  if (!info_ || !info_->components || !info_->participant_of_slot ||
      slot_ >= info_->participant_of_slot->size()) {
    return no_components;
  }
  const auto index = (*info_->participant_of_slot)[slot_];
  const auto& table = *info_->components;
  return index < table.size() && table[index] ? *table[index] : no_components;
}

const std::vector<std::string>& writer_context::volumes() const noexcept {
  return info_ && info_->volumes ? *info_->volumes : no_volumes;
}

writer_metadata* writer_context::metadata() noexcept {
  if (!info_ || info_->event != writer_event::identify || done_) return nullptr;
  if (!metadata_) {
    metadata_ = std::make_unique<writer_metadata>();
    if (slot_ < info_->identities.size() && info_->identities[slot_]) {
      metadata_->identity = *info_->identities[slot_];
    }
  }
  return metadata_.get();
}

writer::writer(writer_identity identity) : identity_(std::move(identity)) {
  if (identity_.class_id.is_null()) identity_.class_id = writer_class_id::generate();
  if (identity_.instance_id.is_null()) identity_.instance_id = writer_instance_id::generate();
}

writer::~writer() = default;

void writer::on_identify(writer_context ctx) { ctx.complete(); }
void writer::on_prepare_backup(writer_context ctx) { ctx.complete(); }
void writer::on_post_snapshot(writer_context ctx) { ctx.complete(); }
void writer::on_backup_complete(writer_context ctx) { ctx.complete(); }
void writer::on_backup_shutdown(writer_context ctx) { ctx.complete(); }

}  // namespace vss

namespace vss::detail {

void context_access::settle_failed(writer_context& ctx, errc code, std::string message) {
  if (ctx.done_) return;
  ctx.done_ = true;
  ctx.collector_->settle(ctx.slot_, slot_outcome::failed, code, std::move(message));
}

}  // namespace vss::detail
