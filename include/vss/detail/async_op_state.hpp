// Copyright (c) openvss authors. SPDX-License-Identifier: Apache-2.0
//
// vss/detail/async_op_state.hpp — the shared state behind `vss::async_op` (IVssAsync), the
// completion handler that `vss::use_async_op` produces, and the `set_canceller` hook through
// which an initiating function makes its operation cancellable by `async_op::cancel()`.
//
// Engine code uses `set_canceller`; everything else here is machinery for async_op.hpp.
//
// Thread-safety: every member of `async_op_state` may be called from any thread concurrently.
// An `async_op_handler` object is like any completion handler: one thread at a time.

#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <system_error>
#include <utility>

namespace vss::detail {

/// The state one asynchronous operation shares between its `vss::async_op` handles and its
/// completion handler (`async_op_handler`): the final status, the waiters, and the canceller.
class async_op_state {
 public:
  /// A pending operation without a canceller.
  async_op_state() = default;
  async_op_state(const async_op_state&) = delete;
  async_op_state& operator=(const async_op_state&) = delete;

  /// Records `final_status` (VSS_S_ASYNC_FINISHED, VSS_S_ASYNC_CANCELLED or a failure code),
  /// wakes every waiter and drops the canceller. Returns false and changes nothing if a final
  /// status was recorded before.
  bool complete(std::error_code final_status);

  /// VSS_S_ASYNC_PENDING (`errc::async_pending`) until complete(), then the final status.
  /// Lock-free.
  std::error_code status() const noexcept;

  /// True once complete() has recorded a final status. Lock-free.
  bool done() const noexcept { return done_.load(std::memory_order_acquire); }

  /// Blocks until done().
  void wait() const;

  /// Blocks until done() or until `deadline` passes, whichever comes first; returns done().
  bool wait_until(std::chrono::steady_clock::time_point deadline) const;

  /// IVssAsync::Cancel, with exactly the results documented on `vss::async_op::cancel()`.
  /// Runs the canceller (at most once per operation) without holding the state's lock. If the
  /// canceller throws, the exception propagates and the operation counts as not cancelled.
  std::error_code cancel();

  /// Stores the function the first cancel() runs, replacing any earlier one. Returns false and
  /// stores nothing once the operation is done.
  bool set_canceller(std::function<void()> canceller);

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable done_cv_;
  std::atomic<bool> done_{false};
  std::error_code result_;  // written once, under mutex_, before done_ becomes true
  bool cancel_requested_ = false;
  std::function<void()> canceller_;
};

/// The completion handler (signature `void(std::error_code)`) that `vss::use_async_op`
/// produces. Invoking it records the operation's final status:
///  - `{}` (S_OK) -> VSS_S_ASYNC_FINISHED;
///  - `errc::async_cancelled` or `asio::error::operation_aborted` -> VSS_S_ASYNC_CANCELLED;
///  - `errc::async_pending` -> VSS_E_UNEXPECTED (an operation cannot finish "still pending");
///  - any other code -> that code, including success codes such as `errc::async_finished`.
/// It must be invoked at most once. A second invocation (or one of a moved-from handler) is a
/// bug of the operation: it asserts in debug builds and is ignored in release builds. It has no
/// associated executor, allocator or cancellation slot.
class async_op_handler {
 public:
  /// A handler that completes `state`.
  explicit async_op_handler(std::shared_ptr<async_op_state> state) noexcept
      : state_(std::move(state)) {}

  /// Records the final status derived from `ec` (see the class comment).
  void operator()(std::error_code ec);

  /// The state this handler completes; null after the handler was moved from.
  const std::shared_ptr<async_op_state>& state() const noexcept { return state_; }

 private:
  std::shared_ptr<async_op_state> state_;
};

/// Attaches a thread-safe `canceller` to a completion handler, for an initiating function
/// whose operation can be cancelled through an IVssAsync-style handle. For every handler type
/// but `async_op_handler` (and `erased_handler`, which forwards to the handler it holds) this
/// does nothing and returns false: such callers cancel through the handler's associated
/// cancellation slot instead.
///
/// The canceller must be callable from any thread, at any time until the operation completes,
/// must not block, and must not assume the operation is still pending when it runs (completion
/// may race with it). It typically posts "complete with VSS_S_ASYNC_CANCELLED" onto the
/// operation's strand. It may complete the operation inline.
///
/// A template on the canceller as well: for any other handler no std::function is built (an
/// allocation per asynchronous call) only to be dropped (decisions §42).
template <class Handler, class Canceller>
bool set_canceller(Handler& /*handler*/, Canceller&& /*canceller*/) {
  return false;
}

/// Stores `canceller` in the handler's shared state; `vss::async_op::cancel()` runs it.
/// Returns false (and stores nothing) if the operation has already completed or `handler` was
/// moved from.
template <class Canceller>
bool set_canceller(async_op_handler& handler, Canceller&& canceller) {
  return handler.state() &&
         handler.state()->set_canceller(std::function<void()>(std::forward<Canceller>(canceller)));
}

}  // namespace vss::detail
