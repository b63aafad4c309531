#pragma once
// A test-only asynchronous operation in the shape of an engine operation, shared by the
// completion-token tests (tests/unit/core/async_op_test.cpp) and their coroutine half
// (async_op_awaitable_test.cpp, a binary of its own: tests/CMakeLists.txt says why).

#include <asio/async_result.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <atomic>
#include <mutex>
#include <system_error>

#include "vss/detail/erased_handler.hpp"
#include "vss/error.hpp"

namespace vss::test {

// Test-only asynchronous operation in the shape of an engine operation: the initiation erases
// the token's handler, attaches a thread-safe canceller that posts "complete with
// VSS_S_ASYNC_CANCELLED" to the io_context, and the test completes it with a chosen code.
class fake_op {
 public:
  // Completes the pending operation with `ec`, from any thread. False if none was pending.
  bool complete(std::error_code ec) {
    vss::detail::erased_handler handler;
    {
      std::lock_guard lock(mutex_);
      handler = std::move(handler_);
    }
    if (!handler) return false;
    ++completions_;
    std::move(handler).complete(ec);
    return true;
  }

  bool pending() const {
    std::lock_guard lock(mutex_);
    return static_cast<bool>(handler_);
  }

  int completions() const { return completions_.load(); }
  int cancels_requested() const { return cancels_requested_.load(); }

  bool cancellable = true;

  template <class Token>
  friend auto async_fake_op(asio::io_context& io, fake_op& op, Token&& token);

 private:
  void start(asio::io_context& io, vss::detail::erased_handler handler) {
    if (cancellable) {
      // Through the erased handler, as compiled engine code would.
      vss::detail::set_canceller(handler, [&io, this] {
        ++cancels_requested_;
        asio::post(io, [this] { complete(vss::errc::async_cancelled); });
      });
    }
    std::lock_guard lock(mutex_);
    handler_ = std::move(handler);
  }

  mutable std::mutex mutex_;
  vss::detail::erased_handler handler_;
  std::atomic<int> completions_{0};
  std::atomic<int> cancels_requested_{0};
};

template <class Token>
auto async_fake_op(asio::io_context& io, fake_op& op, Token&& token) {
  return asio::async_initiate<Token, void(std::error_code)>(
      [&io, &op](auto handler) {
        op.start(io, vss::detail::erased_handler(std::move(handler), io.get_executor()));
      },
      token);
}

}  // namespace vss::test
