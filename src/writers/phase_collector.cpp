#include "writers/phase_collector.hpp"

#include <algorithm>
#include <utility>

namespace vss::detail {

phase_collector::phase_collector(writer_event event, std::size_t slots,
                                 std::function<void()> on_settled)
    : phase_collector(event, slots,
                      on_settled ? std::function<void(settled_at)>(
                                       [fn = std::move(on_settled)](settled_at) { fn(); })
                                 : std::function<void(settled_at)>()) {}

phase_collector::phase_collector(writer_event event, std::size_t slots,
                                 std::function<void(settled_at)> on_settled)
    : event_(event),
      size_(slots),
      // Value-initialised (zero): every slot pending.
      outcomes_(std::make_unique<std::atomic<std::uint8_t>[]>(slots)),
      outstanding_(slots + 1),  // +1 held by start(), so an early settle cannot finish us
      on_settled_(std::move(on_settled)) {
  static_assert(static_cast<std::uint8_t>(slot_outcome::pending) == 0);
  static_assert(static_cast<std::int32_t>(errc::ok) == 0);
}

phase_collector::inline_batch::inline_batch(phase_collector& collector) noexcept
    : collector_(collector), previous_(current_batch_) {
  current_batch_ = this;
}

phase_collector::inline_batch::~inline_batch() {
  current_batch_ = previous_;
  // Still counted only if finish() did not run (the loop was left by an exception). Nothing
  // runs inline from here (`elsewhere` posts), so nothing can throw out of a destructor.
  if (count_ > 0) collector_.release(count_, settled_at::elsewhere);
}

void phase_collector::inline_batch::finish() {
  // Nested in a handler's own loop, the thread may hold whatever that handler holds.
  finish(previous_ == nullptr ? settled_at::shard_loop_end : settled_at::elsewhere);
}

void phase_collector::inline_batch::finish(settled_at where) {
  current_batch_ = previous_;
  const auto count = std::exchange(count_, 0);
  if (count == 0) return;
  collector_.release(count, previous_ == nullptr ? where : settled_at::elsewhere);
}

void phase_collector::start() {
  started_.store(true, std::memory_order_release);
  release(1);  // never batched: start() is the strand's, not a shard loop's
}

void phase_collector::release(std::size_t count, settled_at where) {
  if (outstanding_.fetch_sub(count, std::memory_order_acq_rel) == count) fire(where);
}

void phase_collector::fire(settled_at where) {
  if (fired_.exchange(true, std::memory_order_acq_rel)) return;
  auto fn = std::move(on_settled_);
  if (fn) fn(where);
}

void phase_collector::cancel_on_settled() noexcept {
  // Whoever sets fired_ first owns on_settled_: here it is dropped instead of run.
  if (fired_.exchange(true, std::memory_order_acq_rel)) return;
  on_settled_ = nullptr;
}

void phase_collector::supersede() noexcept {
  // Like cancel_on_settled, but on_settled_ is left to be destroyed with the collector: on the
  // abort's path that is a free, and the release of what the continuation holds, that nothing
  // waits for (decisions §38).
  fired_.exchange(true, std::memory_order_acq_rel);
  // The settle paths look at this before their CAS; no slot is written here, so the abort
  // that calls this need not touch (or wait for the cache lines of) N answers. Stored before
  // abandoned_: a writer that sees abandoned() and then answers anyway is refused.
  superseded_.store(true, std::memory_order_release);
  abandoned_.store(true, std::memory_order_release);
}

slot_outcome phase_collector::abandon_on_read(std::uint32_t slot) const noexcept {
  auto expected = static_cast<std::uint8_t>(slot_outcome::pending);
  if (outcomes_[slot].compare_exchange_strong(expected,
                                              static_cast<std::uint8_t>(slot_outcome::abandoned),
                                              std::memory_order_acq_rel)) {
    return slot_outcome::abandoned;
  }
  return static_cast<slot_outcome>(expected);  // an answer (or a claim) got there first
}

void phase_collector::settle_if_all_final(settled_at where) {
  if (!started_.load(std::memory_order_acquire)) return;
  for (std::uint32_t i = 0; i < size_; ++i) {
    const auto o = outcome(i);
    if (o == slot_outcome::pending || o == slot_outcome::claimed) return;
  }
  fire(where);
}

bool phase_collector::settle(std::uint32_t slot, slot_outcome outcome, errc code,
                             std::string message, std::unique_ptr<writer_metadata> metadata) {
  if (outcome == slot_outcome::completed && code == errc::ok && message.empty() && !metadata) {
    return settle_completed(slot);  // checks the slot and supersession itself
  }
  if (slot >= size_ || superseded()) return false;
  auto expected = static_cast<std::uint8_t>(slot_outcome::pending);
  // Before the claim: if this throws, the slot stays pending and nothing is half-done.
  make_room_for_codes(code);
  if (!outcomes_[slot].compare_exchange_strong(
          expected, static_cast<std::uint8_t>(slot_outcome::claimed), std::memory_order_acq_rel)) {
    return false;  // late, duplicate, or superseded answer
  }
  const auto publish = [&] {
    outcomes_[slot].store(static_cast<std::uint8_t>(outcome), std::memory_order_release);
    release_one();
  };
  try {
    if (code != errc::ok || !message.empty() || metadata) {
      std::lock_guard lock(extras_mutex_);
      if (code != errc::ok) codes_[slot] = code;
      if (!message.empty()) messages_.emplace_back(slot, std::move(message));
      if (metadata) {
        if (metadata_.empty()) metadata_.resize(size_);
        metadata_[slot] = std::move(metadata);
      }
    }
  } catch (...) {
    // Out of memory for a message or metadata: the outcome (and code) is still published,
    // because a slot left `claimed` would keep the phase from ever settling.
    publish();
    throw;
  }
  publish();
  return true;
}

void phase_collector::settle_all_pending(slot_outcome outcome, errc code) {
  // A plain load first: most slots are usually answered, and a failed CAS still takes the
  // cache line exclusively. One pass, one load per answered slot (an abort scans every slot
  // of the phase it supersedes): settle what is pending and note any slot another thread is
  // still writing. With none, every slot is final now, whatever a blocked loop's batch holds.
  constexpr auto pending = static_cast<std::uint8_t>(slot_outcome::pending);
  constexpr auto claimed = static_cast<std::uint8_t>(slot_outcome::claimed);
  bool all_final = true;
  for (std::uint32_t i = 0; i < size_; ++i) {
    auto seen = outcomes_[i].load(std::memory_order_acquire);
    if (seen == pending) {
      settle(i, outcome, code);
      seen = outcomes_[i].load(std::memory_order_acquire);
    }
    if (seen == claimed) all_final = false;
  }
  if (all_final && started_.load(std::memory_order_acquire)) fire();
}

void phase_collector::settle_each(const std::vector<std::uint32_t>& slots, slot_outcome outcome,
                                  errc code, settled_at where) {
  {
    // Counted here and released as `where`, so that the settle that ends the phase tells
    // on_settled where it runs (a deadline off the strand, decisions §32).
    inline_batch batch(*this);
    for (auto slot : slots) settle(slot, outcome, code);
    batch.finish(where);
  }
  // The writers that answered before a blocked one may still be counted in its loop's open
  // batch (and a writer that answered and then blocked leaves nothing to settle here): finish
  // the phase by looking at the slots.
  settle_if_all_final(where);
}

void phase_collector::abandon() {
  abandoned_.store(true, std::memory_order_release);
  settle_all_pending(slot_outcome::abandoned, errc::ok);
}

errc phase_collector::code(std::uint32_t slot) const {
  std::lock_guard lock(extras_mutex_);
  return codes_ && slot < size_ ? codes_[slot] : errc::ok;
}

void phase_collector::make_room_for_codes(errc code) {
  if (code == errc::ok) return;
  std::lock_guard lock(extras_mutex_);
  if (!codes_) codes_ = std::make_unique<errc[]>(size_);
}

std::string phase_collector::message(std::uint32_t slot) const {
  std::lock_guard lock(extras_mutex_);
  for (const auto& [s, m] : messages_) {
    if (s == slot) return m;
  }
  return {};
}

std::unique_ptr<writer_metadata> phase_collector::take_metadata(std::uint32_t slot) {
  std::lock_guard lock(extras_mutex_);
  if (slot >= metadata_.size()) return nullptr;
  return std::move(metadata_[slot]);
}

}  // namespace vss::detail
