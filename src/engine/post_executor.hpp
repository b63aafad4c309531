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
//
// A shard strand's executor also keeps its next turn from waiting behind the whole io_context
// (decisions §36): asio's strand, when a turn ends with handlers that arrived meanwhile,
// re-posts itself, and the re-post goes behind everything the io_context holds -- in a burst
// of aborts, behind every other session's abort step, while every loop for that shard piles
// up behind it. After a turn taken from the queue, the next one runs on at once on the same
// thread (at most `turns_run_on` in a row). After a turn entered inline from a session's
// strand step (enter_idle_strand_or_post), the next one must not run inside that step, which
// would hold the session's strand with other sessions' work (decisions §32): it is handed on,
// to run when this thread's queued turn ends, or from its own post if another io thread gets
// there first.

#include <asio/any_io_executor.hpp>
#include <asio/execution/blocking.hpp>
#include <asio/execution/context.hpp>
#include <asio/execution/executor.hpp>
#include <asio/execution_context.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/require.hpp>
#include <asio/strand.hpp>
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

namespace vss::detail {

/// A never-blocking executor over an asio::any_io_executor whose properties cost nothing:
/// blocking is always `never` (so asio::dispatch through it queues, like asio::post), work
/// is not tracked per handler (the queued invoker of a strand is the io_context's work), and
/// every other preference is ignored, as asio::prefer allows. Some turns of a strand run
/// without queueing, never inside a handler's own post: the turn enter_idle_strand_or_post()
/// asks for, on an engine thread, for a strand that was idle; and, for a strand made with
/// `runs_on`, its next turn when its last one just ended on this thread (run on, or handed
/// on to the end of this thread's queued turn; see the file comment).
class post_executor {
 public:
  /// Wraps `ex`, made never-blocking once here. (A template excluding post_executor itself:
  /// a plain any_io_executor parameter would make the copy constructor's overload resolution
  /// ask whether a post_executor converts to an any_io_executor, i.e. whether it is an
  /// executor, while it is still incomplete; clang rejects that.)
  template <class Executor,
            class = std::enable_if_t<!std::is_same_v<std::decay_t<Executor>, post_executor>>>
  explicit post_executor(const Executor& ex)
      : ex_(asio::require(asio::any_io_executor(ex), asio::execution::blocking.never)),
        io_(io_context_of(ex_)) {}

  /// Tag of the constructor below.
  struct runs_on_t {};
  static constexpr runs_on_t runs_on{};

  /// As above, for one strand whose turns run on: when a turn of that strand ends on a thread
  /// with more handlers queued in it, up to `turns_run_on` further turns run there at once
  /// instead of queueing (decisions §36). Make exactly one strand on each such executor: the
  /// executor's identity is what tells its strand's re-post from any other execute().
  template <class Executor,
            class = std::enable_if_t<!std::is_same_v<std::decay_t<Executor>, post_executor>>>
  post_executor(const Executor& ex, runs_on_t) : post_executor(ex) {
    turn_ = next_turn_id_.fetch_add(1, std::memory_order_relaxed);
  }

  /// How many turns in a row may run on one thread before the next is queued as usual: a
  /// strand fed without pause still yields its thread to the rest of the io_context.
  static constexpr int turns_run_on = 8;

  /// The execution context of the wrapped executor.
  asio::execution_context& query(asio::execution::context_t) const noexcept {
    return asio::query(ex_, asio::execution::context);
  }

  /// Always never-blocking: a post through it never runs its function before returning.
  static constexpr asio::execution::blocking_t query(asio::execution::blocking_t) noexcept {
    return asio::execution::blocking.never;
  }

  /// Already never-blocking.
  post_executor require(asio::execution::blocking_t::never_t) const noexcept { return *this; }

  /// Queues `f` on the wrapped executor; or, once after run_here_once(), runs it here, now.
  /// For a strand made with `runs_on`, the next turn after one that ended on this thread is
  /// run on here (a queued turn), or handed on (an entered turn); see the class comment.
  template <class Function>
  void execute(Function&& f) const {
    if (run_here_) {
      run_here_ = false;
      std::decay_t<Function> here(std::forward<Function>(f));
      run_turn(turn_, /*entered=*/true, here);
      return;
    }
    // Only the strand's own turn, ending on this thread, executes on this executor while its
    // turn is current here: the strand is locked for as long as its handlers run, so no first
    // post of it can come from inside. A turn ending in an exception's unwinding, or on a
    // stopped io_context, is queued as usual.
    if (turn_ != 0 && current_turn_ == turn_ && std::uncaught_exceptions() == 0) {
      const bool runs_on_here = !entered_ && run_on_depth_ < turns_run_on;
      const bool hands_on = entered_ && queued_depth_ > 0;
      // stopped() last: it takes the io_context's lock.
      if ((runs_on_here || hands_on) && !stopped()) {
        if (runs_on_here) {
          run_on(std::decay_t<Function>(std::forward<Function>(f)));
        } else {
          hand_on(std::decay_t<Function>(std::forward<Function>(f)));
        }
        return;
      }
    }
    queue(std::decay_t<Function>(std::forward<Function>(f)));
  }

  /// The next execute() on this thread runs its function at once instead of queueing it. A
  /// strand over this executor hands it its turn only when it was idle, so this is how such a
  /// strand is entered on the calling thread (enter_idle_strand_or_post). Cleared by that
  /// execute(), or by the caller when no execute() came.
  static void run_here_once(bool on) noexcept { run_here_ = on; }

  /// Equal when the wrapped executors are and neither's strand runs on, or both are the one
  /// executor of the same strand that does (C++20 derives !=).
  friend bool operator==(const post_executor& a, const post_executor& b) noexcept {
    return a.ex_ == b.ex_ && a.turn_ == b.turn_;
  }

 private:
  // The strand turn running on this thread (0: none of a strand that runs on), whether it was
  // entered inline (enter_idle_strand_or_post) rather than taken from the queue, and how many
  // turns of it ran on in a row; a turn started inside another keeps its own state.
  struct turn_scope {
    std::uint64_t saved_turn;
    bool saved_entered;
    int saved_depth;
    turn_scope(std::uint64_t turn, bool entered) noexcept
        : saved_turn(current_turn_), saved_entered(entered_), saved_depth(run_on_depth_) {
      current_turn_ = turn;
      entered_ = entered;
      run_on_depth_ = 0;
    }
    ~turn_scope() {
      current_turn_ = saved_turn;
      entered_ = saved_entered;
      run_on_depth_ = saved_depth;
    }
    // Rethrows what a turn run on inside this one threw (see run_on()).
    void rethrow_carried() {
      if (carried_) std::rethrow_exception(std::exchange(carried_, nullptr));
    }
    turn_scope(const turn_scope&) = delete;
    turn_scope& operator=(const turn_scope&) = delete;
  };

  // A turn handed on by an entered turn: run by whichever comes first, the end of this
  // thread's outermost queued turn or its own post on the io_context.
  struct handed_turn {
    std::atomic<bool> taken{false};
    std::function<void()> run;
    void take() {
      if (taken.exchange(true, std::memory_order_acq_rel)) return;
      // Moved out first: neither the other path's copy of this entry nor the list keeps the
      // strand (its invoker) alive once it ran.
      auto turn = std::move(run);
      turn();
    }
  };

  // A queued turn of any post_executor strand on this thread, with its own list of the turns
  // that entered turns inside it handed on: it takes them once its own turn has ended, on its
  // own io_context. What it does not take (it threw, or its io_context was stopped) runs from
  // their posts. A queued turn run inside another (an io_context run inside a handler) keeps
  // its own list, so neither takes the other's.
  struct queued_scope {
    std::vector<std::shared_ptr<handed_turn>> outer;
    queued_scope() noexcept : outer(std::exchange(handed_, {})) { ++queued_depth_; }
    ~queued_scope() {
      --queued_depth_;
      handed_ = std::move(outer);
    }
    static void take_handed(asio::io_context* io) {
      for (std::size_t i = 0; i < handed_.size(); ++i) {
        if (io != nullptr && io->stopped()) return;
        auto turn = handed_[i];  // a copy: taking it may hand on more, growing the vector
        turn->take();
      }
    }
    queued_scope(const queued_scope&) = delete;
    queued_scope& operator=(const queued_scope&) = delete;
  };

  // Runs one turn of strand `id` here, as this thread's current turn, then rethrows what a
  // turn run on inside it threw.
  template <class Turn>
  static void run_turn(std::uint64_t id, bool entered, Turn& turn) {
    turn_scope scope(id, entered);
    turn();
    scope.rethrow_carried();
  }

  bool stopped() const noexcept { return io_ != nullptr && io_->stopped(); }
  static asio::io_context* io_context_of(const asio::any_io_executor& ex) noexcept {
    const auto* io = ex.target<asio::io_context::executor_type>();
    return io != nullptr ? &io->context() : nullptr;
  }

  // Queues a turn; when it runs, it is this thread's queued turn (see queued_scope).
  template <class Turn>
  void queue(Turn turn) const {
    ex_.execute([id = turn_, io = io_, fn = std::move(turn)]() mutable {
      queued_scope queued;
      run_turn(id, /*entered=*/false, fn);
      // The strand step of this thread is over: what an entered turn handed on runs now,
      // outside it, unless the io_context was stopped meanwhile.
      queued_scope::take_handed(io);
    });
  }

  // Runs the strand's next turn here, inside asio's turn-exit destructor of the last one.
  template <class Turn>
  void run_on(Turn turn) const {
    ++run_on_depth_;
    try {
      turn();
    } catch (...) {
      // A handler of the turn run on threw. The destructor this runs in must not throw: the
      // exception is carried to the frame that started the first turn and rethrown there, so
      // that it leaves io_context::run() as it would have without the run-on. The strand
      // queued the rest of that turn while it unwound.
      if (!carried_) carried_ = std::current_exception();
    }
    --run_on_depth_;
  }

  // An entered turn ends inside the caller's own strand step, which must not run other
  // sessions' work (decisions §32). Its next turn goes to the end of this thread's queued
  // turn, and to the io_context too, so that a step that runs long holds it no longer than a
  // queued re-post would: whichever comes first runs it.
  template <class Turn>
  void hand_on(Turn turn) const {
    auto handed = std::make_shared<handed_turn>();
    handed->run = [id = turn_, fn = std::move(turn)]() mutable {
      run_turn(id, /*entered=*/false, fn);
    };
    handed_.push_back(handed);
    ex_.execute([handed = std::move(handed)] { handed->take(); });
  }

  static inline thread_local bool run_here_ = false;
  static inline thread_local std::uint64_t current_turn_ = 0;
  static inline thread_local bool entered_ = false;
  static inline thread_local int run_on_depth_ = 0;
  static inline thread_local int queued_depth_ = 0;
  static inline thread_local std::vector<std::shared_ptr<handed_turn>> handed_;
  static inline thread_local std::exception_ptr carried_;
  static inline std::atomic<std::uint64_t> next_turn_id_{1};
  asio::any_io_executor ex_;
  asio::io_context* io_ = nullptr;  // ex_'s io_context, if it is one's
  std::uint64_t turn_ = 0;          // 0: this executor's strand does not run on
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
