// Copyright (c) openvss authors. SPDX-License-Identifier: Apache-2.0
//
// vss/async_op.hpp — `vss::async_op`, the IVssAsync-style handle to one asynchronous engine
// operation, and `vss::use_async_op`, the completion token that makes any openvss initiating
// function return one (modelled on `asio::use_future`):
//
//   vss::async_op op = session.async_do_snapshot_set(vss::use_async_op);
//   op.wait();                                   // IVssAsync::Wait(INFINITE)
//   if (op.query_status() != vss::errc::async_finished) { ... }
//
// The handle keeps the COM contract of spec §4, including its CHOICE marks: wait(timeout)
// returns S_OK on completion and on timeout alike (query_status() tells them apart), wait never
// cancels, cancel() returns the documented VSS_S_* codes, and releasing every handle does not
// cancel the operation. `wait_for()` is the richer C++ form.
//
// Thread-safety: every member of `async_op` may be called from any thread, concurrently, on
// the same handle or on copies of it. Only assigning to a handle object while another thread
// uses that same object is a data race (as for std::shared_ptr).

#pragma once

#include <asio/async_result.hpp>
#include <chrono>
#include <memory>
#include <system_error>
#include <utility>

#include "vss/detail/async_op_state.hpp"

namespace vss {

/// IVssAsync-style handle to one asynchronous engine operation (an IVssAsync* of VSS), as
/// returned by any `async_*` initiating function called with `vss::use_async_op`.
///
/// A handle is a cheap, copyable reference to the operation's shared state: copies observe and
/// control the same operation. Destroying every handle does NOT cancel the operation (spec §4
/// CHOICE, as releasing an IVssAsync does not); it runs to completion unobserved.
///
/// The blocking members (`wait`, `wait_for`) must not be called on a thread the operation needs
/// in order to complete — for example from a completion handler or writer handler running on
/// the engine's `io_context` when that context has a single thread: the wait would deadlock (or,
/// with a timeout, always time out). Poll `query_status()` / `done()` there instead.
class async_op {
 public:
  /// An empty handle, referring to no operation: every call returns VSS_E_UNEXPECTED
  /// (`errc::unexpected`), `wait_for()` and `done()` return false.
  async_op() noexcept = default;

  /// A handle to the operation whose state is `state` (empty if `state` is null). Used by the
  /// `use_async_op` completion-token machinery; applications get handles from initiating
  /// functions.
  explicit async_op(std::shared_ptr<detail::async_op_state> state) noexcept
      : state_(std::move(state)) {}

  /// IVssAsync::Wait(dwMilliseconds). Blocks until the operation finishes (with any outcome)
  /// or `timeout` elapses, whichever comes first, and returns by that deadline. Returns `{}`
  /// (S_OK) in both cases (spec §4 CHOICE): call query_status() to tell VSS_S_ASYNC_PENDING
  /// (timed out) from a final status. A zero or negative timeout only polls; a timeout too long
  /// to represent as a steady_clock deadline waits without limit. Returns VSS_E_UNEXPECTED
  /// (`errc::unexpected`) for an empty handle. Never cancels. See the class comment about the
  /// thread this may be called from.
  std::error_code wait(std::chrono::milliseconds timeout) const;

  /// IVssAsync::Wait(INFINITE): blocks until the operation finishes, then returns `{}` (S_OK);
  /// VSS_E_UNEXPECTED (`errc::unexpected`) for an empty handle. Never cancels. See the class
  /// comment about the thread this may be called from.
  std::error_code wait() const;

  /// Blocks like wait(timeout); returns true if the operation has finished (with any outcome),
  /// false if it is still pending when `timeout` elapses or the handle is empty.
  bool wait_for(std::chrono::milliseconds timeout) const;

  /// IVssAsync::Cancel. Never blocks on the operation. Returns:
  ///  - `{}` (S_OK): the operation was pending and cancellation has now been requested. The
  ///    operation stops at its next safe point and then reports VSS_S_ASYNC_CANCELLED; an
  ///    operation already past its point of no return (e.g. a committed snapshot set) may
  ///    still finish with VSS_S_ASYNC_FINISHED or a failure — query_status() tells;
  ///  - `errc::async_cancelled` (VSS_S_ASYNC_CANCELLED): cancellation had already been
  ///    requested by an earlier cancel() and the operation is still pending, or the operation
  ///    has completed cancelled;
  ///  - `errc::async_finished` (VSS_S_ASYNC_FINISHED): it had already completed successfully
  ///    (not an error);
  ///  - the operation's failure code: it had already completed unsuccessfully;
  ///  - `errc::unexpected` (VSS_E_UNEXPECTED): the handle is empty, or the operation is pending
  ///    but not cancellable (its initiating function attached no canceller).
  std::error_code cancel();

  /// IVssAsync::QueryStatus: the operation's status — `errc::async_pending`
  /// (VSS_S_ASYNC_PENDING) while it runs, then `errc::async_finished` (VSS_S_ASYNC_FINISHED),
  /// `errc::async_cancelled` (VSS_S_ASYNC_CANCELLED) or its failure code. VSS_E_UNEXPECTED
  /// (`errc::unexpected`) for an empty handle. Lock-free and cheap: polling it is fine, and is
  /// never needed for the operation to progress.
  std::error_code query_status() const;

  /// True once the operation has finished (with any outcome); false for an empty handle.
  bool done() const noexcept { return state_ && state_->done(); }

  /// True unless the handle is empty.
  explicit operator bool() const noexcept { return state_ != nullptr; }

 private:
  std::shared_ptr<detail::async_op_state> state_;
};

/// Type of the `use_async_op` completion token.
struct use_async_op_t {
  /// Constructs the token.
  constexpr use_async_op_t() = default;
};

/// Completion token that makes an initiating function with completion signature
/// `void(std::error_code)` return a `vss::async_op` (its IVssAsync) instead of calling a
/// handler. The operation starts immediately; the handle reports its outcome.
inline constexpr use_async_op_t use_async_op{};

}  // namespace vss

/// Makes `vss::use_async_op` a completion token for the signature `void(std::error_code)`: the
/// initiation receives a `vss::detail::async_op_handler`, and the initiating function returns
/// the `vss::async_op` it completes.
template <>
class asio::async_result<vss::use_async_op_t, void(std::error_code)> {
 public:
  /// What the initiating function returns.
  using return_type = vss::async_op;

  /// Starts the operation by calling `initiation(handler, args...)` and returns its handle.
  template <class Initiation, class... Args>
  static return_type initiate(Initiation&& initiation, vss::use_async_op_t /*token*/,
                              Args&&... args) {
    auto state = std::make_shared<vss::detail::async_op_state>();
    vss::async_op op(state);
    std::forward<Initiation>(initiation)(vss::detail::async_op_handler(std::move(state)),
                                         std::forward<Args>(args)...);
    return op;
  }
};
