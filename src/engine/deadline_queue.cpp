#include "engine/deadline_queue.hpp"

#include <algorithm>

namespace vss::detail {

deadline_queue::deadline_queue(std::shared_ptr<vss::clock> clk, asio::any_io_executor ex)
    : clock_(std::move(clk)), executor_(std::move(ex)) {}

void deadline_queue::deadline::arm(deadline_queue& q, time_point at, std::function<void()> fn) {
  cancel();
  key_ = q.insert(at, std::move(fn));
  queue_ = &q;
}

void deadline_queue::deadline::cancel() noexcept {
  if (queue_ == nullptr) return;
  queue_->erase(key_);
  queue_ = nullptr;
}

deadline_queue::key deadline_queue::insert(time_point at, std::function<void()> fn) {
  std::lock_guard lock(mutex_);
  const key k{at, next_seq_++};
  entries_.emplace(k, std::move(fn));
  cover_earliest();
  return k;
}

void deadline_queue::erase(const key& k) noexcept {
  std::lock_guard lock(mutex_);
  entries_.erase(k);  // gone already if it ran; a wait that finds nothing due just re-arms
}

void deadline_queue::cover_earliest() {
  if (entries_.empty()) return;
  const auto at = entries_.begin()->first.first;
  if (!waits_.empty() && *waits_.begin() <= at) return;
  // A new wait, not a re-armed one: re-arming would cancel the later wait, and a cancelled
  // wait is the very post this queue exists to avoid. The later wait stays and, when it
  // fires, finds what is due then.
  std::size_t index;
  if (idle_timers_.empty()) {
    index = timers_.size();
    timers_.push_back(clock_->create_timer(executor_));
  } else {
    index = idle_timers_.back();
    idle_timers_.pop_back();
  }
  waits_.insert(at);
  timers_[index]->async_wait_until(at, [weak = weak_from_this(), index, at](bool expired) {
    if (auto self = weak.lock()) self->on_wait_done(index, at, expired);
  });
}

void deadline_queue::on_wait_done(std::size_t timer_index, time_point at, bool expired) {
  std::vector<std::function<void()>> due;
  {
    std::lock_guard lock(mutex_);
    if (auto it = waits_.find(at); it != waits_.end()) waits_.erase(it);
    idle_timers_.push_back(timer_index);
    // Only a destroyed queue cancels its timers, and then this never runs (weak_ptr).
    if (expired) {
      const auto now = std::max(clock_->now(), at);
      while (!entries_.empty() && entries_.begin()->first.first <= now) {
        due.push_back(std::move(entries_.begin()->second));
        entries_.erase(entries_.begin());
      }
    }
    cover_earliest();
  }
  for (auto& fn : due) fn();
}

std::size_t deadline_queue::pending() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

std::size_t deadline_queue::waits() const {
  std::lock_guard lock(mutex_);
  return waits_.size();
}

}  // namespace vss::detail
