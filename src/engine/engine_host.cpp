#include "vss/engine_host.hpp"

#include <pthread.h>
#include <sched.h>

#include <future>
#include <latch>

namespace vss {
namespace {

// The CPUs the calling thread may run on, in order (empty if that cannot be read).
std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

bool pin_this_thread(int cpu) noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

// Runs `io` until it runs out of work or is stopped. What a handler throws leaves run(); with
// a hook, the hook hears of it and run() is entered again, which Asio allows and which goes on
// with the next handler. Without one, run() is called outside any try block, so that the
// exception ends the process (std::terminate) without unwinding, where it was thrown (or where
// Asio rethrew one it had captured), its stack there for a core dump, as before the hook.
void run_io(asio::io_context& io, const std::function<void(std::exception_ptr)>& on_exception) {
  if (!on_exception) {
    io.run();
    return;
  }
  for (;;) {
    try {
      io.run();
      return;
    } catch (...) {
      on_exception(std::current_exception());
    }
  }
}

}  // namespace

engine_host::engine_host(host_options options)
    : blocking_(std::max<std::size_t>(1, options.blocking_threads)),
      work_(asio::make_work_guard(io_)),
      on_handler_exception_(std::move(options.on_handler_exception)) {
  const std::size_t threads = std::max<std::size_t>(1, options.io_threads);
  if (options.engine.shard_count == 0) options.engine.shard_count = threads;
  if (!options.engine.blocking_executor)
    options.engine.blocking_executor = blocking_.get_executor();
  engine_ = std::make_unique<vss::engine>(io_.get_executor(), std::move(options.engine));
  io_cpus_.assign(threads, -1);
  const auto cpus = options.pin_io_threads ? allowed_cpus() : std::vector<int>{};
  // Each thread pins itself before it runs anything, and the constructor waits for all of
  // them: io_thread_cpus() is final once it returns, and no handler runs on a CPU it is about
  // to leave.
  std::latch pinned(static_cast<std::ptrdiff_t>(threads));
  for (std::size_t i = 0; i < threads; ++i) {
    const int cpu = cpus.empty() ? -1 : cpus[i % cpus.size()];
    try {
      threads_.emplace_back([this, i, cpu, &pinned] {
        if (cpu >= 0 && pin_this_thread(cpu)) io_cpus_[i] = cpu;
        pinned.count_down();
        run_io(io_, on_handler_exception_);
      });
    } catch (...) {
      // No thread to start: those started are stopped and joined, so that none is left
      // joinable (std::terminate) or waiting on a latch that is gone.
      pinned.count_down(static_cast<std::ptrdiff_t>(threads - i));
      pinned.wait();
      stop_io_threads();
      throw;
    }
  }
  pinned.wait();
}

void engine_host::stop_io_threads() {
  work_.reset();
  io_.stop();
  for (auto& t : threads_) t.join();
}

engine_host::~engine_host() {
  // Abort whatever is in flight and wait (bounded) for the drain, so no writer is left frozen.
  std::promise<void> drained;
  auto done = drained.get_future();
  engine_->async_shutdown([&drained](std::error_code) { drained.set_value(); });
  const auto& o = engine_->options();
  done.wait_for(o.deadlines.abort + o.hold_budget + std::chrono::seconds(5));
  stop_io_threads();
  blocking_.join();
  engine_.reset();
}

}  // namespace vss
