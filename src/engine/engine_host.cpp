#include "vss/engine_host.hpp"

#include <future>

namespace vss {

engine_host::engine_host(host_options options)
    : blocking_(std::max<std::size_t>(1, options.blocking_threads)),
      work_(asio::make_work_guard(io_)) {
  const std::size_t threads = std::max<std::size_t>(1, options.io_threads);
  if (options.engine.shard_count == 0) options.engine.shard_count = threads;
  if (!options.engine.blocking_executor)
    options.engine.blocking_executor = blocking_.get_executor();
  engine_ = std::make_unique<vss::engine>(io_.get_executor(), std::move(options.engine));
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
}

engine_host::~engine_host() {
  // Abort whatever is in flight and wait (bounded) for the drain, so no writer is left frozen.
  std::promise<void> drained;
  auto done = drained.get_future();
  engine_->async_shutdown([&drained](std::error_code) { drained.set_value(); });
  const auto& o = engine_->options();
  done.wait_for(o.deadlines.abort + o.hold_budget + std::chrono::seconds(5));
  work_.reset();
  io_.stop();
  for (auto& t : threads_) t.join();
  blocking_.join();
  engine_.reset();
}

}  // namespace vss
