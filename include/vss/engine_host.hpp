#pragma once
// A convenience owner of threads for an engine: an io_context run by N threads plus a thread
// pool for blocking writer handlers. The library proper starts no threads; the examples, the
// CLI and the tests use this host.
//
// Example:
//   vss::engine_host host{{.io_threads = 2}};
//   auto reg = host.engine().register_writer(std::make_shared<my_writer>());
//   auto s = host.engine().create_backup_session();
//   ...
//   // ~engine_host: shuts the engine down, waits for the drain, joins the threads.
//
// Thread-safety: engine() may be used from any thread; construct and destroy from one thread.

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "vss/engine.hpp"

namespace vss {

/// Options of an engine_host.
struct host_options {
  /// Threads running the engine's io_context. Default: 2.
  std::size_t io_threads = 2;
  /// Threads for handlers of blocking writers. Default: 2.
  std::size_t blocking_threads = 2;
  /// Engine options; shard_count 0 becomes io_threads, and an empty blocking_executor
  /// becomes the host's blocking pool.
  engine_options engine{};
  /// Pins io thread i to the i-th CPU the constructing thread may run on (sched_getaffinity;
  /// wrapping round when there are more threads than CPUs). Off by default, as a library
  /// should not decide where its host's threads run. On, a burst of 1,000 aborts on two io
  /// threads and two CPUs had a p99 a third lower, side by side: unpinned, the scheduler kept
  /// both io threads on one CPU for most of the burst (docs/decisions.md §39). Best effort:
  /// a thread the system refuses to pin runs unpinned, and io_thread_cpus() says so.
  /// (Declared after the fields above, so that existing aggregate initialisations keep their
  /// meaning; likewise the one below.)
  bool pin_io_threads = false;
  /// What an io thread does when a handler it ran threw, i.e. when the exception leaves
  /// `io_context::run()` (Asio's rule for every handler: the engine's, and the requester's
  /// completion handlers, which run on these threads unless bound to an executor of their
  /// own). Default: empty, and the exception ends the process through std::terminate, as one
  /// leaving any std::thread does. Set: called on that thread with the exception, and the
  /// thread then runs on. Several handlers that threw inside one handler's run arrive as one
  /// `asio::multiple_exceptions` (its `first_exception()` is the first; later ones are lost).
  ///
  /// The hook is called on any io thread, possibly on several at once and before the
  /// constructor returns; it must be thread-safe, must not block (the destructor joins these
  /// threads) and must not throw (std::terminate). It never sees the blocking pool's threads,
  /// where Asio terminates on an exception.
  ///
  /// What running on leaves intact (docs/decisions.md §51): a requester handler that the
  /// engine completes in the middle of its own step runs inline when its executor is the
  /// engine's io_context (the default), and Asio rethrows what it throws from run() only once
  /// that step has returned, so an abort still reaches every writer. A handler bound to a
  /// strand the engine's step is running in, or to `asio::system_executor`, gets no such
  /// capture (the latter terminates in Asio itself). An exception the engine throws itself
  /// mid-step (`std::bad_alloc`) may leave that session unfinished. openvssd logs the
  /// exception and runs on.
  std::function<void(std::exception_ptr)> on_handler_exception;
};

/// Owns an io_context, its threads, a blocking pool and an engine bound to them.
class engine_host {
 public:
  explicit engine_host(host_options options = {});
  /// Shuts the engine down (bounded by the abort deadline), stops and joins every thread.
  ~engine_host();
  engine_host(const engine_host&) = delete;
  engine_host& operator=(const engine_host&) = delete;

  vss::engine& engine() noexcept { return *engine_; }
  asio::io_context& io_context() noexcept { return io_; }
  /// Per io thread, the CPU it is pinned to, or -1 when it is not pinned (pin_io_threads off,
  /// or the system refused). Settled before the constructor returns.
  const std::vector<int>& io_thread_cpus() const noexcept { return io_cpus_; }

 private:
  // Lets every io thread's run() return, then joins them.
  void stop_io_threads();

  // The blocking pool is declared first so that it is destroyed last: handlers still queued on
  // io_ when it is destroyed may own strands of the pool (a blocking writer's), and a strand
  // must not outlive its execution context.
  asio::thread_pool blocking_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  // Set before the io threads start, read only by them.
  std::function<void(std::exception_ptr)> on_handler_exception_;
  std::unique_ptr<vss::engine> engine_;
  std::vector<int> io_cpus_;
  std::vector<std::thread> threads_;
};

}  // namespace vss
