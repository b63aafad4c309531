#include "engine/deadline_queue.hpp"

#include <algorithm>
#include <new>

namespace vss::detail {

deadline_queue::deadline_queue(std::shared_ptr<vss::clock> clk, asio::any_io_executor ex,
                               std::size_t lanes, clock::duration linger)
    : clock_(std::move(clk)), executor_(std::move(ex)), linger_(linger) {
  lanes_.resize(std::max<std::size_t>(1, lanes));
  for (std::size_t i = 0; i < lanes_.size(); ++i) {
    lanes_[i] = std::make_unique<lane>();
    lanes_[i]->queue = this;
    lanes_[i]->index = i;
  }
}

deadline_queue::~deadline_queue() {
  std::lock_guard lock(linger_mutex_);
  if (linger_timer_ && linger_armed_) {
    try {
      linger_timer_->cancel();
    } catch (...) {  // its completion finds the queue gone (weak_ptr) either way
    }
  }
}

void deadline_queue::deadline::arm(deadline_queue& q, time_point at, std::function<void()> fn) {
  if (lane_ == nullptr) lane_ = &q.lane_for(this);
  lane_->queue->rearm(*lane_, *this, armed_, at, std::move(fn), {}, false);
  armed_ = true;
}

void deadline_queue::deadline::arm(deadline_queue& q, time_point at,
                                   std::weak_ptr<const void> owner, std::function<void()> fn) {
  if (lane_ == nullptr) lane_ = &q.lane_for(this);
  lane_->queue->rearm(*lane_, *this, armed_, at, std::move(fn), std::move(owner), true);
  armed_ = true;
}

void deadline_queue::deadline::cancel() noexcept {
  if (!armed_) return;
  lane_->queue->erase(*lane_, *this);
  armed_ = false;
}

deadline_queue::lane& deadline_queue::lane_for(const void* owner) noexcept {
  // A deadline keeps its lane; spreading by address is enough to part the io threads.
  const auto h = reinterpret_cast<std::uintptr_t>(owner);
  return *lanes_[(h >> 4) % lanes_.size()];
}

void deadline_queue::rearm(lane& l, deadline& d, bool was_armed, time_point at,
                           std::function<void()> fn, std::weak_ptr<const void> owner,
                           bool guarded) {
  std::function<void()> dropped;  // destroyed after the lock is released
  std::lock_guard lock(l.mutex);
  if (was_armed) forget(l, d, dropped);
  d.key_ = key{at, l.next_seq++};
  d.fn_ = std::move(fn);
  d.owner_ = std::move(owner);
  d.guarded_ = guarded;
  l.entries.insert(d);
  entries_.fetch_add(1);
  try {
    cover_earliest(l);
  } catch (...) {
    // No wait could be armed for it (a clock that threw): the entry goes, and the caller's
    // deadline stays unarmed, rather than an entry nothing would ever run.
    l.entries.erase(l.entries.iterator_to(d));
    d.fn_ = nullptr;
    d.owner_.reset();
    entries_.fetch_sub(1);
    throw;
  }
}

bool deadline_queue::forget(lane& l, deadline& d, std::function<void()>& dropped) noexcept {
  // The lane's lock held. Gone already if it ran; taken out by a wait and not yet run, it is
  // struck from `taken`, so that a throw there does not put it back.
  if (!d.hook_.is_linked()) {
    l.taken.erase(d.key_);
    return false;
  }
  l.entries.erase(l.entries.iterator_to(d));
  dropped = std::exchange(d.fn_, nullptr);  // empty after, whatever the library's move does
  d.owner_.reset();
  return entries_.fetch_sub(1) == 1;
}

void deadline_queue::erase(lane& l, deadline& d) noexcept {
  bool last = false;
  std::function<void()> dropped;  // destroyed after the lock is released
  {
    std::lock_guard lock(l.mutex);
    last = forget(l, d, dropped);  // a wait that then finds nothing due just re-arms or goes idle
  }
  if (last) went_idle();
}

void deadline_queue::went_idle() noexcept {
  if (linger_ == clock::duration::zero()) {
    cancel_waits_if_idle();
    return;
  }
  std::lock_guard lock(linger_mutex_);
  if (linger_armed_) return;
  try {
    if (!linger_timer_) linger_timer_ = clock_->create_timer(executor_);
    // On expiry the waits go if the queue is idle then; an entry armed meanwhile keeps them.
    linger_timer_->async_wait_until(clock_->now() + linger_, [weak = weak_from_this()](bool) {
      auto self = weak.lock();
      if (!self) return;
      {
        std::lock_guard l(self->linger_mutex_);
        self->linger_armed_ = false;
      }
      if (self->entries_.load() == 0) self->cancel_waits_if_idle();
    });
    linger_armed_ = true;
  } catch (...) {
    cancel_waits_if_idle();  // no linger wait to be had: cancel now, as without a linger
  }
}

void deadline_queue::cancel_waits_if_idle() noexcept {
  // The last entry is gone: the waits left would keep the io_context busy until they fall
  // (up to a phase's deadline), so an embedder's run() would not return. A cancel posts its
  // wait's completion; an engine with no deadline armed is idle, so nothing waits behind it.
  // A cancelled wait covers nothing from then on: an entry armed before its completion runs
  // gets a wait of its own instead of counting on it.
  for (auto& l : lanes_) {
    std::lock_guard lock(l->mutex);
    if (!l->entries.empty()) return;  // armed meanwhile: its waits are needed again
    for (std::size_t i = 0; i < l->timers.size(); ++i) {
      if (l->state[i] != lane::wait_state::waiting) continue;
      try {
        l->timers[i]->cancel();
      } catch (...) {
        continue;  // it stays waiting, and falls in its own time
      }
      l->state[i] = lane::wait_state::cancelled;
    }
  }
}

std::optional<deadline_queue::time_point> deadline_queue::earliest_wait(const lane& l) noexcept {
  std::optional<time_point> earliest;
  for (std::size_t i = 0; i < l.timers.size(); ++i) {
    if (l.state[i] != lane::wait_state::waiting) continue;
    if (!earliest || l.wait_at[i] < *earliest) earliest = l.wait_at[i];
  }
  return earliest;
}

void deadline_queue::cover_earliest(lane& l) {
  if (l.entries.empty()) return;
  const auto at = l.entries.begin()->key_.first;
  if (const auto wait = earliest_wait(l); wait && *wait <= at) return;
  // A new wait, not a re-armed one: re-arming would cancel the later wait, and a cancelled
  // wait is the very post this queue exists to avoid. The later wait stays and, when it
  // fires, finds what is due then. Recorded only once armed: a wait that failed to arm must
  // not seem to cover anything.
  if (l.idle_timers.empty()) {
    auto t = clock_->create_timer(executor_);
    l.timers.reserve(l.timers.size() + 1);
    l.state.reserve(l.timers.size() + 1);
    l.wait_at.reserve(l.timers.size() + 1);
    l.idle_timers.reserve(l.timers.size() + 1);
    l.timers.push_back(std::move(t));
    l.state.push_back(lane::wait_state::idle);
    l.wait_at.push_back(at);
    l.idle_timers.push_back(l.timers.size() - 1);
  }
  const auto index = l.idle_timers.back();
  l.timers[index]->async_wait_until(
      at, [weak = weak_from_this(), lane_index = l.index, index](bool expired) {
        if (auto self = weak.lock()) self->on_wait_done(lane_index, index, expired);
      });
  l.idle_timers.pop_back();
  l.state[index] = lane::wait_state::waiting;
  l.wait_at[index] = at;
}

void deadline_queue::on_wait_done(std::size_t lane_index, std::size_t timer_index, bool expired) {
  auto& l = *lanes_[lane_index];
  struct taken_entry {
    key k;
    std::function<void()> fn;
    std::weak_ptr<const void> owner;
    bool guarded;
    deadline* from;  // to be dereferenced only while `k` is in `taken` (see put_back)
  };
  std::vector<taken_entry> due;
  // Should one throw, the entries after it that nobody cancelled meanwhile go back to the
  // lane, due, and run from a wait of their own, instead of being lost with the exception.
  // Made before they are taken out: should cover_earliest throw below, all of them go back.
  std::size_t ran = 0;
  struct put_back {
    deadline_queue& q;
    lane& l;
    decltype(due)& entries;
    std::size_t& ran;
    ~put_back() {
      if (entries.empty()) return;
      std::lock_guard lock(l.mutex);
      for (std::size_t i = 0; i < entries.size(); ++i) {
        if (l.taken.erase(entries[i].k) == 0 || i < ran) continue;
        // Still in `taken`: neither cancelled (its destructor cancels) nor re-armed since,
        // so the deadline object is alive and its key unchanged.
        auto& d = *entries[i].from;
        d.fn_ = std::move(entries[i].fn);
        d.owner_ = std::move(entries[i].owner);
        l.entries.insert(d);
        q.entries_.fetch_add(1);
      }
      try {
        q.cover_earliest(l);
      } catch (...) {  // unwinding already: the next arm or wait covers them
      }
    }
  } guard{*this, l, due, ran};
  bool last = false;
  {
    std::lock_guard lock(l.mutex);
    const auto at = l.wait_at[timer_index];
    l.state[timer_index] = lane::wait_state::idle;
    l.idle_timers.push_back(timer_index);
    // Only what falls by this wait's own time (see the class comment). A cancelled wait runs
    // nothing; its entries, if any came meanwhile, are covered again below.
    if (expired) {
      // Out of memory part way, what was taken out runs, and the rest stays queued for the
      // wait cover_earliest arms below (should that throw, the guard puts back what was taken).
      try {
        while (!l.entries.empty() && l.entries.begin()->key_.first <= at) {
          auto& d = *l.entries.begin();
          due.push_back({d.key_, nullptr, {}, d.guarded_, &d});
          try {
            l.taken.insert(d.key_);
          } catch (...) {
            due.pop_back();
            throw;
          }
          l.entries.erase(l.entries.begin());
          due.back().fn = std::move(d.fn_);
          due.back().owner = std::move(d.owner_);
        }
      } catch (const std::bad_alloc&) {
      }
      if (!due.empty()) last = entries_.fetch_sub(due.size()) == due.size();
    }
    cover_earliest(l);
  }
  while (ran < due.size()) {
    auto fn = std::move(due[ran].fn);
    const auto owner = due[ran].guarded ? due[ran].owner.lock() : nullptr;
    const bool owner_gone = due[ran].guarded && !owner;
    ++ran;
    if (!owner_gone) fn();
  }
  if (last && entries_.load() == 0) went_idle();
}

template <class Count>
std::size_t deadline_queue::sum_over_lanes(Count count) const {
  std::size_t n = 0;
  for (const auto& l : lanes_) {
    std::lock_guard lock(l->mutex);
    n += count(*l);
  }
  return n;
}

std::size_t deadline_queue::pending() const {
  return sum_over_lanes([](const lane& l) { return l.entries.size(); });
}

std::size_t deadline_queue::waits() const {
  return sum_over_lanes([](const lane& l) {
    return static_cast<std::size_t>(
        std::count(l.state.begin(), l.state.end(), lane::wait_state::waiting));
  });
}

}  // namespace vss::detail
