#include "engine/deadline_queue.hpp"

#include <algorithm>

namespace vss::detail {

deadline_queue::deadline_queue(std::shared_ptr<vss::clock> clk, asio::any_io_executor ex,
                               std::size_t lanes)
    : clock_(std::move(clk)), executor_(std::move(ex)) {
  lanes_.resize(std::max<std::size_t>(1, lanes));
  for (std::size_t i = 0; i < lanes_.size(); ++i) {
    lanes_[i] = std::make_unique<lane>();
    lanes_[i]->queue = this;
    lanes_[i]->index = i;
  }
}

void deadline_queue::deadline::arm(deadline_queue& q, time_point at, std::function<void()> fn) {
  if (lane_ == nullptr) lane_ = &q.lane_for(this);
  key_ = lane_->queue->rearm(*lane_, armed_ ? &key_ : nullptr, at, std::move(fn));
  armed_ = true;
}

void deadline_queue::deadline::cancel() noexcept {
  if (!armed_) return;
  lane_->queue->erase(*lane_, key_);
  armed_ = false;
}

deadline_queue::lane& deadline_queue::lane_for(const void* owner) noexcept {
  // A deadline keeps its lane; spreading by address is enough to part the io threads.
  const auto h = reinterpret_cast<std::uintptr_t>(owner);
  return *lanes_[(h >> 4) % lanes_.size()];
}

deadline_queue::key deadline_queue::rearm(lane& l, const key* old, time_point at,
                                          std::function<void()> fn) {
  std::lock_guard lock(l.mutex);
  if (old == nullptr || l.entries.erase(*old) == 0) entries_.fetch_add(1);
  const key k{at, l.next_seq++};
  l.entries.emplace(k, std::move(fn));
  cover_earliest(l);
  return k;
}

void deadline_queue::erase(lane& l, const key& k) noexcept {
  bool last = false;
  {
    std::lock_guard lock(l.mutex);
    // Gone already if it ran; a wait that then finds nothing due just re-arms or goes idle.
    if (l.entries.erase(k) == 0) return;
    last = entries_.fetch_sub(1) == 1;
  }
  if (last) cancel_waits_if_idle();
}

void deadline_queue::cancel_waits_if_idle() noexcept {
  // The last entry is gone: the waits left would keep the io_context busy until they fall
  // (up to a phase's deadline), so an embedder's run() would not return. A cancel posts its
  // wait's completion; an engine with no deadline armed is idle, so nothing waits behind it.
  for (auto& l : lanes_) {
    std::lock_guard lock(l->mutex);
    if (!l->entries.empty()) return;  // armed meanwhile: its waits are needed again
    for (std::size_t i = 0; i < l->timers.size(); ++i) {
      if (l->waiting[i]) l->timers[i]->cancel();
    }
  }
}

void deadline_queue::cover_earliest(lane& l) {
  if (l.entries.empty()) return;
  const auto at = l.entries.begin()->first.first;
  if (!l.waits.empty() && *l.waits.begin() <= at) return;
  // A new wait, not a re-armed one: re-arming would cancel the later wait, and a cancelled
  // wait is the very post this queue exists to avoid. The later wait stays and, when it
  // fires, finds what is due then.
  std::size_t index;
  if (l.idle_timers.empty()) {
    index = l.timers.size();
    l.timers.push_back(clock_->create_timer(executor_));
    l.waiting.push_back(0);
  } else {
    index = l.idle_timers.back();
    l.idle_timers.pop_back();
  }
  l.waits.insert(at);
  l.waiting[index] = 1;
  l.timers[index]->async_wait_until(
      at, [weak = weak_from_this(), lane_index = l.index, index, at](bool expired) {
        if (auto self = weak.lock()) self->on_wait_done(lane_index, index, at, expired);
      });
}

void deadline_queue::on_wait_done(std::size_t lane_index, std::size_t timer_index, time_point at,
                                  bool expired) {
  auto& l = *lanes_[lane_index];
  std::vector<std::pair<key, std::function<void()>>> due;
  bool last = false;
  {
    std::lock_guard lock(l.mutex);
    if (auto it = l.waits.find(at); it != l.waits.end()) l.waits.erase(it);
    l.waiting[timer_index] = 0;
    l.idle_timers.push_back(timer_index);
    // Only what falls by this wait's own time (see the class comment). A cancelled wait runs
    // nothing; its entries, if any came meanwhile, are covered again below.
    if (expired) {
      while (!l.entries.empty() && l.entries.begin()->first.first <= at) {
        auto node = l.entries.extract(l.entries.begin());
        due.emplace_back(node.key(), std::move(node.mapped()));
      }
      if (!due.empty()) last = entries_.fetch_sub(due.size()) == due.size();
    }
    cover_earliest(l);
  }
  // Should one throw, the entries after it go back to the lane, due, and run from a wait of
  // their own, instead of being lost with the exception.
  std::size_t ran = 0;
  struct put_back {
    deadline_queue& q;
    lane& l;
    decltype(due)& entries;
    std::size_t& ran;
    ~put_back() {
      if (ran >= entries.size()) return;
      std::lock_guard lock(l.mutex);
      for (auto i = ran; i < entries.size(); ++i) {
        l.entries.emplace(entries[i].first, std::move(entries[i].second));
        q.entries_.fetch_add(1);
      }
      q.cover_earliest(l);
    }
  } guard{*this, l, due, ran};
  while (ran < due.size()) {
    auto fn = std::move(due[ran].second);
    ++ran;
    fn();
  }
  if (last && entries_.load() == 0) cancel_waits_if_idle();
}

std::size_t deadline_queue::pending() const {
  std::size_t n = 0;
  for (const auto& l : lanes_) {
    std::lock_guard lock(l->mutex);
    n += l->entries.size();
  }
  return n;
}

std::size_t deadline_queue::waits() const {
  std::size_t n = 0;
  for (const auto& l : lanes_) {
    std::lock_guard lock(l->mutex);
    n += l->waits.size();
  }
  return n;
}

}  // namespace vss::detail
