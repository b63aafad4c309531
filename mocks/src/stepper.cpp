#include "vss/mocks/stepper.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "held_answer.hpp"

namespace vss::mocks {
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
  detail::check_held_answer(answer, "stepper");
  writer_context ctx;
  {
    std::lock_guard lock(mutex_);
    if (index >= held_.size()) return false;
    ctx = std::move(held_[index].ctx);
    held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(index));
  }
  // Outside the lock: completing may run engine code that calls back into this stepper.
  detail::give(std::move(ctx), answer, "stepper");
  return true;
}

bool stepper::release(std::string_view writer, writer_event e, fault answer) {
  detail::check_held_answer(answer, "stepper");
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
  detail::give(std::move(ctx), answer, "stepper");
  return true;
}

std::size_t stepper::release_all(fault answer) {
  detail::check_held_answer(answer, "stepper");
  std::vector<entry> held;
  {
    std::lock_guard lock(mutex_);
    held.swap(held_);
  }
  for (auto& h : held) detail::give(std::move(h.ctx), answer, "stepper");
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
