#include "daemon/remote_writer.hpp"

#include <asio/steady_timer.hpp>
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

void remote_writer::inject_faults(fault_lookup lookup, asio::any_io_executor timers) {
  fault_for_ = std::move(lookup);
  timers_ = std::move(timers);
}

void remote_writer::forward(writer_context ctx) {
  if (observe_) observe_(*this, ctx);
  const auto event = ctx.event();
  std::optional<mocks::fault> injected;
  if (fault_for_) injected = fault_for_(*this, ctx);
  if (injected) {
    switch (injected->kind) {
      case mocks::fault_kind::veto:
        ctx.fail(injected->code, "injected by the backup's fault plan");
        break;
      case mocks::fault_kind::fail_without_code:
      case mocks::fault_kind::throw_exception:
        ctx.fail(errc::writer_error_nonretryable, "injected by the backup's fault plan (" +
                                                      std::string(to_string(injected->kind)) + ")");
        break;
      default:
        break;
    }
    if (ctx.done()) {
      // The writer still hears of the event, so its own state follows the backup; its answer
      // finds nothing in flight and is dropped.
      std::uint64_t seq = 0;
      {
        std::lock_guard lock(mutex_);
        if (lost_) return;
        seq = next_seq_();
      }
      send_(event_frame(seq, identity(), ctx));
      return;
    }
  }
  if (event == writer_event::abort || event == writer_event::backup_shutdown) {
    // The engine ends a writer only after superseding what it still waited for, so events
    // in flight (a Freeze the writer never answered, an injected hang) are settled already;
    // drop them here rather than hold them until the connection closes. Destroyed outside
    // the lock: a context that dies unanswered settles (a no-op now) on the way out.
    std::vector<writer_context> superseded;
    {
      std::lock_guard lock(mutex_);
      for (auto& [seq, pending] : in_flight_) superseded.push_back(std::move(pending));
      in_flight_.clear();
      delayed_.clear();
      for (auto& pending : hung_) superseded.push_back(std::move(pending));
      hung_.clear();
    }
  }
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
  const bool hang = injected && (injected->kind == mocks::fault_kind::hang ||
                                 injected->kind == mocks::fault_kind::hang_ignore_abort);
  {
    std::lock_guard lock(mutex_);
    if (hang) {
      hung_.push_back(std::move(ctx));
    } else {
      if (injected && injected->kind == mocks::fault_kind::delay && timers_) {
        delayed_.emplace(seq, injected->after);
      }
      in_flight_.emplace(seq, std::move(ctx));
    }
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
  std::optional<std::chrono::nanoseconds> delay;
  {
    std::lock_guard lock(mutex_);
    auto it = in_flight_.find(seq);
    if (it == in_flight_.end()) return false;
    if (auto d = delayed_.find(seq); d != delayed_.end()) {
      delay = d->second;
      delayed_.erase(d);
    } else {
      ctx.emplace(std::move(it->second));
      in_flight_.erase(it);
    }
  }
  if (delay) {
    // Injected delay: the engine hears the writer's answer `delay` later (or never, if the
    // connection drops meanwhile: connection_lost() answers it).
    auto timer = std::make_shared<asio::steady_timer>(timers_, *delay);
    timer->async_wait([self = shared_from_this(), timer, result](std::error_code) {
      self->deliver_result(result);
    });
    return true;
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
  ctx->fail(is_writer_failure_code(code) ? code : errc::writer_error_nonretryable,
            std::move(message));
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
