#include "writers/phase_collector.hpp"

#include <algorithm>

namespace vss::detail {

phase_collector::phase_collector(writer_event event, std::size_t slots,
                                 std::function<void()> on_settled)
    : event_(event),
      size_(slots),
      outcomes_(new std::atomic<std::uint8_t>[slots]),
      codes_(new errc[slots]),
      outstanding_(slots + 1),  // +1 held by start(), so an early settle cannot finish us
      on_settled_(std::move(on_settled)) {
  for (std::size_t i = 0; i < slots; ++i) {
    outcomes_[i].store(static_cast<std::uint8_t>(slot_outcome::pending), std::memory_order_relaxed);
    codes_[i] = errc::ok;
  }
}

void phase_collector::start() { release_one(); }

void phase_collector::release_one() {
  if (outstanding_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    auto fn = std::move(on_settled_);
    if (fn) fn();
  }
}

bool phase_collector::settle(std::uint32_t slot, slot_outcome outcome, errc code,
                             std::string message, std::unique_ptr<writer_metadata> metadata) {
  if (slot >= size_) return false;
  auto expected = static_cast<std::uint8_t>(slot_outcome::pending);
  if (outcome == slot_outcome::completed && code == errc::ok && message.empty() && !metadata) {
    // The common answer has no payload: one CAS publishes it (codes_[slot] is already ok).
    if (!outcomes_[slot].compare_exchange_strong(expected, static_cast<std::uint8_t>(outcome),
                                                 std::memory_order_acq_rel)) {
      return false;
    }
    release_one();
    return true;
  }
  if (!outcomes_[slot].compare_exchange_strong(
          expected, static_cast<std::uint8_t>(slot_outcome::claimed), std::memory_order_acq_rel)) {
    return false;  // late, duplicate, or superseded answer
  }
  codes_[slot] = code;
  if (!message.empty() || metadata) {
    std::lock_guard lock(extras_mutex_);
    if (!message.empty()) messages_.emplace_back(slot, std::move(message));
    if (metadata) {
      if (metadata_.empty()) metadata_.resize(size_);
      metadata_[slot] = std::move(metadata);
    }
  }
  outcomes_[slot].store(static_cast<std::uint8_t>(outcome), std::memory_order_release);
  release_one();
  return true;
}

void phase_collector::settle_all_pending(slot_outcome outcome, errc code) {
  // A plain load first: most slots are usually answered, and a failed CAS still takes the
  // cache line exclusively.
  for (std::uint32_t i = 0; i < size_; ++i) {
    if (is_pending(i)) settle(i, outcome, code);
  }
}

void phase_collector::abandon() {
  abandoned_.store(true, std::memory_order_release);
  settle_all_pending(slot_outcome::abandoned, errc::ok);
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
