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

 private:
  // The blocking pool is declared first so that it is destroyed last: handlers still queued on
  // io_ when it is destroyed may own strands of the pool (a blocking writer's), and a strand
  // must not outlive its execution context.
  asio::thread_pool blocking_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::unique_ptr<vss::engine> engine_;
  std::vector<std::thread> threads_;
};

}  // namespace vss
