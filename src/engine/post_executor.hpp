#pragma once
// The executor under the engine's own strands (docs/decisions.md §25).
//
// asio 1.22's any_io_executor answers every property request -- each asio::post asks for
// blocking.never, relationship.fork and an allocator, the strand for blocking.possibly and
// outstanding_work.tracked -- by building another type-erased executor, and a query through
// its function table heap-allocates its result. Measured on the abort path of a 10-writer
// session: 16 of its 51 allocations, about one abort's tenth of instructions, came from
// there. The engine's strands need none of those properties: every hop of the engine is a
// post, and the io_context counts a strand's scheduled invoker as outstanding work. So the
// strands sit on this executor instead, which answers them without building anything and
// forwards execute() to the engine's executor, required once to be never-blocking.

#include <asio/any_io_executor.hpp>
#include <asio/execution/blocking.hpp>
#include <asio/execution/context.hpp>
#include <asio/execution/executor.hpp>
#include <asio/execution_context.hpp>
#include <asio/require.hpp>
#include <type_traits>
#include <utility>

namespace vss::detail {

/// A never-blocking executor over an asio::any_io_executor whose properties cost nothing:
/// blocking is always `never` (so asio::dispatch through it queues, like asio::post), work
/// is not tracked per handler (the queued invoker of a strand is the io_context's work), and
/// every other preference is ignored, as asio::prefer allows.
class post_executor {
 public:
  /// Wraps `ex`, made never-blocking once here. (A template excluding post_executor itself:
  /// a plain any_io_executor parameter would make the copy constructor's overload resolution
  /// ask whether a post_executor converts to an any_io_executor, i.e. whether it is an
  /// executor, while it is still incomplete; clang rejects that.)
  template <class Executor,
            class = std::enable_if_t<!std::is_same_v<std::decay_t<Executor>, post_executor>>>
  explicit post_executor(const Executor& ex)
      : ex_(asio::require(asio::any_io_executor(ex), asio::execution::blocking.never)) {}

  /// The execution context of the wrapped executor.
  asio::execution_context& query(asio::execution::context_t) const noexcept {
    return asio::query(ex_, asio::execution::context);
  }

  /// Always never-blocking: execute() queues `f`, it never runs it inline.
  static constexpr asio::execution::blocking_t query(asio::execution::blocking_t) noexcept {
    return asio::execution::blocking.never;
  }

  /// Already never-blocking.
  post_executor require(asio::execution::blocking_t::never_t) const noexcept { return *this; }

  /// Queues `f` on the wrapped executor.
  template <class Function>
  void execute(Function&& f) const {
    ex_.execute(std::forward<Function>(f));
  }

  /// Equal when the wrapped executors are (C++20 derives !=).
  friend bool operator==(const post_executor& a, const post_executor& b) noexcept {
    return a.ex_ == b.ex_;
  }

 private:
  asio::any_io_executor ex_;
};

static_assert(asio::execution::is_executor<post_executor>::value);

}  // namespace vss::detail
