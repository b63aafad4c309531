#include "daemon/remote_writer.hpp"

#include <utility>
#include <vector>

#include "writers/context_access.hpp"

namespace vss::daemon {
namespace {

bool is_ending_event(writer_event e) noexcept {
  return e == writer_event::thaw || e == writer_event::abort || e == writer_event::backup_shutdown;
}

nlohmann::json event_frame(std::uint64_t seq, const writer_identity& id,
                           const writer_context& ctx) {
  nlohmann::json components = nlohmann::json::array();
  for (const auto& c : ctx.components()) components.push_back(ipc::to_json(c));
  return {{"type", "event"},
          {"seq", seq},
          {"instance_id", id.instance_id.to_string()},
          {"event", ipc::event_name(ctx.event())},
          {"set", ctx.snapshot_set().to_string()},
          {"backup_type", static_cast<int>(ctx.backup_type())},
          {"components_selected", ctx.components_selected()},
          {"components", std::move(components)},
          {"volumes", ctx.volumes()}};
}

}  // namespace

remote_writer::remote_writer(
    writer_identity identity, std::function<bool(const nlohmann::json&)> send,
    std::function<std::uint64_t()> next_seq,
    std::function<void(const remote_writer&, const writer_context&)> observe)
    : writer(std::move(identity)),
      send_(std::move(send)),
      next_seq_(std::move(next_seq)),
      observe_(std::move(observe)) {}

void remote_writer::forward(writer_context ctx) {
  if (observe_) observe_(*this, ctx);
  const auto event = ctx.event();
  std::uint64_t seq = 0;
  std::string lost_reason;
  {
    std::lock_guard lock(mutex_);
    ++status_.events;
    status_.last_event = event;
    if (lost_) {
      lost_reason = lost_reason_;
    } else {
      seq = next_seq_();
    }
  }
  if (!lost_reason.empty()) {
    // Nobody is left to hold anything: an ending event is done; anything else cannot be.
    if (is_ending_event(event)) {
      ctx.complete();
    } else {
      detail::context_access::settle_failed(ctx, errc::writer_not_responding, lost_reason);
    }
    return;
  }
  auto frame = event_frame(seq, identity(), ctx);
  {
    std::lock_guard lock(mutex_);
    in_flight_.emplace(seq, std::move(ctx));
  }
  if (!send_(frame)) {
    // The connection closed between the check and the send; connection_lost() will run (or has
    // run) and fails what is in flight, this event included.
    std::optional<writer_context> orphan;
    {
      std::lock_guard lock(mutex_);
      if (auto it = in_flight_.find(seq); it != in_flight_.end() && lost_) {
        orphan.emplace(std::move(it->second));
        in_flight_.erase(it);
      }
    }
    if (orphan) {
      detail::context_access::settle_failed(*orphan, errc::writer_not_responding,
                                            "the writer's connection closed");
    }
  }
}

bool remote_writer::deliver_result(const ipc::message& result) {
  const auto seq = result.body.at("seq").get<std::uint64_t>();
  std::optional<writer_context> ctx;
  {
    std::lock_guard lock(mutex_);
    auto it = in_flight_.find(seq);
    if (it == in_flight_.end()) return false;
    ctx.emplace(std::move(it->second));
    in_flight_.erase(it);
  }
  const bool ok = result.body.at("outcome") == "complete";
  if (ok) {
    if (ctx->event() == writer_event::identify && result.body.contains("metadata")) {
      if (auto* md = ctx->metadata()) {
        try {
          ipc::metadata_from_json(result.body.at("metadata"), *md);
        } catch (const ipc::bad_field& e) {
          std::string message = std::string("bad metadata from the writer: ") + e.what();
          {
            std::lock_guard lock(mutex_);
            status_.last_error = message;
          }
          ctx->fail(errc::writer_error_nonretryable, std::move(message));
          return true;
        }
      }
    }
    ctx->complete();
    return true;
  }
  const auto symbol = result.body.at("hresult").get<std::string>();
  const auto code = errc_from_symbol(symbol).value_or(errc::writer_error_nonretryable);
  std::string message = result.body.value("message", std::string{});
  {
    std::lock_guard lock(mutex_);
    status_.last_error = symbol + (message.empty() ? "" : ": " + message);
  }
  // A writer may only veto with the writer codes; anything else counts as non-retryable.
  if (ctx->fail(code, message)) ctx->fail(errc::writer_error_nonretryable, std::move(message));
  return true;
}

void remote_writer::connection_lost(const std::string& why) {
  std::unordered_map<std::uint64_t, writer_context> orphans;
  {
    std::lock_guard lock(mutex_);
    if (lost_) return;
    lost_ = true;
    lost_reason_ = why.empty() ? std::string("the writer's connection closed") : why;
    status_.connected = false;
    if (!in_flight_.empty()) status_.last_error = symbol(errc::writer_not_responding);
    orphans.swap(in_flight_);
  }
  for (auto& [seq, ctx] : orphans) {
    detail::context_access::settle_failed(ctx, errc::writer_not_responding, lost_reason_);
  }
}

void remote_writer::note_lease_expired(const std::string& event) {
  std::lock_guard lock(mutex_);
  ++status_.lease_expirations;
  status_.last_error = "lease expired during " + event + ": the writer thawed itself";
}

remote_writer_status remote_writer::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

}  // namespace vss::daemon
