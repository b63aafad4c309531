#include "vss/mocks/stepper.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace vss::mocks {
namespace {

// The codes writer_context::fail accepts (VSS_E_WRITERERROR_*).
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

void check_answer(const fault& answer) {
  switch (answer.kind) {
    case fault_kind::succeed:
    case fault_kind::fail_without_code:
    case fault_kind::complete_twice:
      return;
    case fault_kind::veto:
      if (!is_writer_failure_code(answer.code)) {
        throw std::invalid_argument(
            "stepper: a veto answer needs a VSS_E_WRITERERROR_* code (writer_error_retryable, "
            "...), the only codes writer_context::fail accepts");
      }
      return;
    default:
      throw std::invalid_argument(
          "stepper: a held answer can only be released with succeed, veto(code), "
          "fail_without_code or complete_twice");
  }
}

void give(writer_context ctx, const fault& answer) {
  switch (answer.kind) {
    case fault_kind::veto:
      ctx.fail(answer.code, "stepper: released with a veto");
      break;
    case fault_kind::complete_twice:
      ctx.complete();
      ctx.complete();
      break;
    case fault_kind::fail_without_code:
      break;  // `ctx` goes out of scope unanswered
    default:
      ctx.complete();
      break;
  }
}

}  // namespace

stepper::~stepper() {
  std::vector<entry> held;
  {
    std::lock_guard lock(mutex_);
    held.swap(held_);
  }
}

std::size_t stepper::size() const {
  std::lock_guard lock(mutex_);
  return held_.size();
}

std::vector<held_answer> stepper::pending() const {
  std::lock_guard lock(mutex_);
  std::vector<held_answer> out;
  out.reserve(held_.size());
  for (const auto& e : held_) out.push_back(e.what);
  return out;
}

void stepper::hold(std::string writer, writer_context ctx) {
  held_answer what{std::move(writer), ctx.event(), ctx.snapshot_set()};
  {
    std::lock_guard lock(mutex_);
    held_.push_back({std::move(what), std::move(ctx)});
  }
  changed_.notify_all();
}

bool stepper::release(std::size_t index, fault answer) {
  check_answer(answer);
  writer_context ctx;
  {
    std::lock_guard lock(mutex_);
    if (index >= held_.size()) return false;
    ctx = std::move(held_[index].ctx);
    held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(index));
  }
  // Outside the lock: completing may run engine code that calls back into this stepper.
  give(std::move(ctx), answer);
  return true;
}

bool stepper::release(std::string_view writer, writer_event e, fault answer) {
  check_answer(answer);
  writer_context ctx;
  {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(held_.begin(), held_.end(), [&](const entry& h) {
      return h.what.writer == writer && h.what.event == e;
    });
    if (it == held_.end()) return false;
    ctx = std::move(it->ctx);
    held_.erase(it);
  }
  give(std::move(ctx), answer);
  return true;
}

std::size_t stepper::release_all(fault answer) {
  check_answer(answer);
  std::vector<entry> held;
  {
    std::lock_guard lock(mutex_);
    held.swap(held_);
  }
  for (auto& h : held) give(std::move(h.ctx), answer);
  return held.size();
}

std::size_t stepper::release_in_order(const std::vector<std::string>& writers) {
  std::size_t released = 0;
  for (const auto& name : writers) {
    writer_context ctx;
    {
      std::lock_guard lock(mutex_);
      auto it = std::find_if(held_.begin(), held_.end(),
                             [&](const entry& h) { return h.what.writer == name; });
      if (it == held_.end()) continue;
      ctx = std::move(it->ctx);
      held_.erase(it);
    }
    // One at a time, so the engine sees exactly this order even if it reacts inline.
    ctx.complete();
    ++released;
  }
  return released;
}

bool stepper::drop(std::string_view writer, writer_event e, const snapshot_set_id& set) {
  writer_context ctx;
  {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(held_.begin(), held_.end(), [&](const entry& h) {
      return h.what.writer == writer && h.what.event == e && h.what.set == set;
    });
    if (it == held_.end()) return false;
    ctx = std::move(it->ctx);
    held_.erase(it);
  }
  return true;  // `ctx` is destroyed here, outside the lock
}

bool stepper::wait_for(std::size_t count, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return held_.size() >= count; });
}

}  // namespace vss::mocks
