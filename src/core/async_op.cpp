#include "vss/async_op.hpp"

#include <asio/error.hpp>
#include <cassert>
#include <utility>

#include "vss/error.hpp"

namespace vss {
namespace detail {
namespace {

std::error_code final_status(std::error_code ec) {
  if (!ec) return errc::async_finished;
  if (ec == errc::async_cancelled || ec == asio::error::operation_aborted) {
    return errc::async_cancelled;
  }
  // "Pending" as a final status would make done() and query_status() disagree.
  if (ec == errc::async_pending) return errc::unexpected;
  return ec;
}

}  // namespace

bool async_op_state::complete(std::error_code final_status) {
  std::function<void()> canceller;
  {
    std::lock_guard lock(mutex_);
    if (done_.load(std::memory_order_relaxed)) return false;
    result_ = final_status;
    done_.store(true, std::memory_order_release);
    // Drop the canceller: it may own the operation, which owns the handler that owns us.
    canceller = std::exchange(canceller_, nullptr);
  }
  done_cv_.notify_all();
  return true;
}

std::error_code async_op_state::status() const noexcept {
  // result_ is written before done_ is released and never again, so it needs no lock here.
  if (!done_.load(std::memory_order_acquire)) return errc::async_pending;
  return result_;
}

void async_op_state::wait() const {
  if (done()) return;
  std::unique_lock lock(mutex_);
  done_cv_.wait(lock, [this] { return done_.load(std::memory_order_relaxed); });
}

bool async_op_state::wait_until(std::chrono::steady_clock::time_point deadline) const {
  if (done()) return true;
  std::unique_lock lock(mutex_);
  return done_cv_.wait_until(lock, deadline,
                             [this] { return done_.load(std::memory_order_relaxed); });
}

std::error_code async_op_state::cancel() {
  std::function<void()> canceller;
  {
    std::lock_guard lock(mutex_);
    if (done_.load(std::memory_order_relaxed)) return result_;
    if (cancel_requested_) return errc::async_cancelled;
    if (!canceller_) return errc::unexpected;
    cancel_requested_ = true;
    canceller = std::exchange(canceller_, nullptr);
  }
  // Outside the lock: the canceller may complete the operation inline, which locks mutex_.
  try {
    canceller();
  } catch (...) {
    std::lock_guard lock(mutex_);
    if (!done_.load(std::memory_order_relaxed)) {
      cancel_requested_ = false;
      if (!canceller_) canceller_ = std::move(canceller);
    }
    throw;
  }
  return {};
}

bool async_op_state::set_canceller(std::function<void()> canceller) {
  {
    std::lock_guard lock(mutex_);
    if (done_.load(std::memory_order_relaxed)) return false;
    std::swap(canceller_, canceller);
  }
  return true;  // the replaced canceller is destroyed here, outside the lock
}

void async_op_handler::operator()(std::error_code ec) {
  const bool first = state_ && state_->complete(final_status(ec));
  assert(first && "vss::detail::async_op_handler invoked twice (or after being moved from)");
  (void)first;
}

}  // namespace detail

std::error_code async_op::wait(std::chrono::milliseconds timeout) const {
  if (!state_) return errc::unexpected;
  (void)wait_for(timeout);
  return {};
}

std::error_code async_op::wait() const {
  if (!state_) return errc::unexpected;
  state_->wait();
  return {};
}

bool async_op::wait_for(std::chrono::milliseconds timeout) const {
  if (!state_) return false;
  if (timeout <= std::chrono::milliseconds::zero()) return state_->done();
  const auto now = std::chrono::steady_clock::now();
  // now + timeout would overflow for timeouts near milliseconds::max(): wait without limit.
  const auto room = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::time_point::max() - now);
  if (timeout >= room) {
    state_->wait();
    return true;
  }
  return state_->wait_until(now + timeout);
}

std::error_code async_op::cancel() {
  if (!state_) return errc::unexpected;
  return state_->cancel();
}

std::error_code async_op::query_status() const {
  if (!state_) return errc::unexpected;
  return state_->status();
}

}  // namespace vss
