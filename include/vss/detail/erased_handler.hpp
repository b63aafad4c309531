// Copyright (c) openvss authors. SPDX-License-Identifier: Apache-2.0
//
// vss/detail/erased_handler.hpp — `erased_handler`, a move-only, type-erased completion handler
// for the signature `void(std::error_code)`. An initiating function (a template in a public
// header) erases the handler its token produced, so the compiled engine (.cpp files) can store
// and complete the handler of any token: callbacks, `asio::use_future`, `asio::use_awaitable`,
// `asio::experimental::deferred` (once launched), `asio::bind_executor(...)` and
// `vss::use_async_op`. Asio 1.22 has no `any_completion_handler`; this is the part of it we
// need.
//
// The erased handler keeps what Asio's composed operations keep for a handler: its associated
// executor, with outstanding work tracked on it until the handler is completed or destroyed
// (so the user's `io_context::run()` does not return under a pending operation), and its
// associated cancellation slot.
//
// Thread-safety: like any completion handler — one thread at a time per object. Completion may
// happen on any thread; the handler itself runs on its associated executor.

#pragma once

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/dispatch.hpp>
#include <asio/execution/executor.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>
#include <functional>
#include <memory>
#include <system_error>
#include <type_traits>
#include <utility>

#include "vss/detail/async_op_state.hpp"

namespace vss::detail {

/// Outstanding work on a completion handler's executor, for the two executor models of Asio
/// 1.22. Standard executors: the executor itself, preferring `outstanding_work.tracked`.
template <class Executor, class = void>
struct handler_work {
  /// The work-tracking executor.
  using type = std::decay_t<typename asio::prefer_result<
      const Executor&, asio::execution::outstanding_work_t::tracked_t>::type>;
  /// Starts tracking work on `ex`.
  static type make(const Executor& ex) {
    return asio::prefer(ex, asio::execution::outstanding_work.tracked);
  }
  /// The executor to run the handler on.
  static const type& executor(const type& work) noexcept { return work; }
};

/// Networking-TS ("legacy") executors, such as `asio::io_context::strand`: a work guard.
template <class Executor>
struct handler_work<Executor, std::enable_if_t<!asio::execution::is_executor<Executor>::value>> {
  /// The work guard.
  using type = asio::executor_work_guard<Executor>;
  /// Starts tracking work on `ex`.
  static type make(const Executor& ex) { return type(ex); }
  /// The executor to run the handler on.
  static Executor executor(const type& work) noexcept { return work.get_executor(); }
};

/// A move-only completion handler of signature `void(std::error_code)` that holds any
/// handler, its associated executor (with outstanding work tracked on it) and its associated
/// cancellation slot. It is completed at most once: completing consumes it.
class erased_handler {
 public:
  /// An empty handler (`operator bool` is false).
  erased_handler() = default;

  /// Takes ownership of `handler`. Captures `asio::get_associated_executor(handler, fallback)`
  /// and keeps outstanding work on it until the handler is completed or destroyed. `fallback`
  /// is the executor of the operation's I/O object (the engine's executor).
  template <class Handler, class DefaultExecutor>
  erased_handler(Handler&& handler, const DefaultExecutor& fallback)
      : impl_(make_model(std::forward<Handler>(handler), fallback)) {}

  /// Moves the held handler; `other` becomes empty.
  erased_handler(erased_handler&& other) noexcept = default;
  /// Destroys the held handler (if any, without invoking it) and takes `other`'s.
  erased_handler& operator=(erased_handler&& other) noexcept = default;
  /// Destroys the held handler without invoking it, releasing the outstanding work.
  ~erased_handler() = default;

  /// Invokes the handler with `ec` through `asio::dispatch` on its associated executor: inline
  /// if the calling thread is already running in that executor (e.g. inside its strand),
  /// otherwise queued there. The handler's memory is freed before it runs. Leaves `*this`
  /// empty; does nothing if it was empty already. Never call this from an initiating function
  /// (use post_complete).
  void complete(std::error_code ec) && {
    if (impl_) impl_.release()->invoke(ec, /*post=*/false);
  }

  /// Like complete(), but through `asio::post`: the handler never runs before this returns.
  /// Use it for immediate completion, so that an initiating function never invokes its handler
  /// inline.
  void post_complete(std::error_code ec) && {
    if (impl_) impl_.release()->invoke(ec, /*post=*/true);
  }

  /// True if a handler is held.
  explicit operator bool() const noexcept { return impl_ != nullptr; }

  /// The held handler's associated cancellation slot; an unconnected slot if it has none or
  /// `*this` is empty. Install a slot handler there to honour per-operation cancellation (from
  /// the strand that owns the operation: slots are not thread-safe in Asio 1.22).
  asio::cancellation_slot cancellation_slot() const noexcept {
    return impl_ ? impl_->slot() : asio::cancellation_slot();
  }

  /// `set_canceller(held_handler, canceller)`: stores the canceller if the held handler is a
  /// `use_async_op` handler and returns true; returns false otherwise (and when empty).
  bool set_canceller(std::function<void()> canceller) {
    return impl_ && impl_->set_canceller(std::move(canceller));
  }

 private:
  struct base {
    virtual ~base() = default;
    // Deletes *this, then runs the handler (dispatched or posted).
    virtual void invoke(std::error_code ec, bool post) = 0;
    virtual asio::cancellation_slot slot() const noexcept = 0;
    virtual bool set_canceller(std::function<void()> canceller) = 0;
  };

  template <class Handler, class Executor>
  class model final : public base {
   public:
    template <class H>
    model(H&& handler, const Executor& ex)
        : handler_(std::forward<H>(handler)), work_(handler_work<Executor>::make(ex)) {}

    void invoke(std::error_code ec, bool post) override {
      // Move everything out and free the model first, as Asio does before an upcall, so the
      // handler may start another operation that reuses the memory.
      std::unique_ptr<model> self(this);
      auto work = std::move(work_);
      auto fn = [handler = std::move(handler_), ec]() mutable { std::move(handler)(ec); };
      self.reset();
      const auto& ex = handler_work<Executor>::executor(work);
      if (post) {
        asio::post(ex, std::move(fn));
      } else {
        asio::dispatch(ex, std::move(fn));
      }
      // `work` is released here, after the handler was queued or ran.
    }

    asio::cancellation_slot slot() const noexcept override {
      return asio::get_associated_cancellation_slot(handler_);
    }

    bool set_canceller(std::function<void()> canceller) override {
      return detail::set_canceller(handler_, std::move(canceller));
    }

   private:
    Handler handler_;
    typename handler_work<Executor>::type work_;
  };

  template <class Handler, class DefaultExecutor>
  static std::unique_ptr<base> make_model(Handler&& handler, const DefaultExecutor& fallback) {
    using handler_type = std::decay_t<Handler>;
    static_assert(std::is_invocable_v<handler_type&&, std::error_code>,
                  "a completion handler for the signature void(std::error_code) is required");
    using executor_type = asio::associated_executor_t<handler_type, DefaultExecutor>;
    const executor_type ex = asio::get_associated_executor(handler, fallback);
    return std::make_unique<model<handler_type, executor_type>>(std::forward<Handler>(handler), ex);
  }

  std::unique_ptr<base> impl_;
};

/// Forwards to `handler.set_canceller(canceller)`: an erased `use_async_op` handler stays
/// cancellable through its `vss::async_op`.
template <class Canceller>
bool set_canceller(erased_handler& handler, Canceller&& canceller) {
  return handler.set_canceller(std::function<void()>(std::forward<Canceller>(canceller)));
}

}  // namespace vss::detail
