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
#include <asio/post.hpp>
#include <asio/require.hpp>
#include <asio/strand.hpp>
#include <type_traits>
#include <utility>

namespace vss::detail {

/// A never-blocking executor over an asio::any_io_executor whose properties cost nothing:
/// blocking is always `never` (so asio::dispatch through it queues, like asio::post), work
/// is not tracked per handler (the queued invoker of a strand is the io_context's work), and
/// every other preference is ignored, as asio::prefer allows. The one exception is the turn
/// enter_idle_strand_or_post() asks for, on an engine thread, for a strand that was idle.
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

  /// Queues `f` on the wrapped executor; or, once after run_here_once(), runs it here, now.
  template <class Function>
  void execute(Function&& f) const {
    if (run_here_) {
      run_here_ = false;
      std::decay_t<Function> here(std::forward<Function>(f));
      here();
      return;
    }
    ex_.execute(std::forward<Function>(f));
  }

  /// The next execute() on this thread runs its function at once instead of queueing it. A
  /// strand over this executor hands it its turn only when it was idle, so this is how such a
  /// strand is entered on the calling thread (enter_idle_strand_or_post). Cleared by that
  /// execute(), or by the caller when no execute() came.
  static void run_here_once(bool on) noexcept { run_here_ = on; }

  /// Equal when the wrapped executors are (C++20 derives !=).
  friend bool operator==(const post_executor& a, const post_executor& b) noexcept {
    return a.ex_ == b.ex_;
  }

 private:
  static inline thread_local bool run_here_ = false;
  asio::any_io_executor ex_;
};

static_assert(asio::execution::is_executor<post_executor>::value);

/// Runs `fn` on `strand` here and now if the strand is idle and this thread is not already in
/// it (so a writer is never re-entered): its turn, with whatever else it then has queued, runs
/// before this returns, as asio::dispatch would on an executor that allowed it. Otherwise `fn`
/// is queued as by asio::post. Call it holding no lock that `fn` may take (decisions §32).
template <class Function>
void enter_idle_strand_or_post(const asio::strand<post_executor>& strand, Function&& fn) {
  if (strand.running_in_this_thread()) {
    asio::post(strand, std::forward<Function>(fn));
    return;
  }
  struct clear_flag {
    ~clear_flag() { post_executor::run_here_once(false); }
  } clear;
  post_executor::run_here_once(true);
  asio::post(strand, std::forward<Function>(fn));
}

}  // namespace vss::detail
