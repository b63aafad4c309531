// The use_awaitable half of the completion-token tests of an engine-shaped operation
// (async_op_test.cpp has the rest). A binary of its own, openvss_coroutine_tests, so that the
// clang build that enables co_await can build and run it without the whole unit-test binary
// (tests/CMakeLists.txt).

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <system_error>

#include "support/fake_op.hpp"
#include "vss/error.hpp"

namespace {

using vss::errc;
using vss::test::async_fake_op;
using vss::test::fake_op;

// Asio 1.22 enables coroutines for clang only with libc++'s <experimental/coroutine>; with
// clang 14 and libstdc++ the build must define ASIO_HAS_CO_AWAIT=1.
#if defined(ASIO_HAS_CO_AWAIT)
TEST(FakeOpTokens, UseAwaitableResumesTheCoroutineOnceWithSuccess) {
  asio::io_context io;
  fake_op op;
  int resumed = 0;
  std::error_code seen = errc::unexpected;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        try {
          co_await async_fake_op(io, op, asio::use_awaitable);
          seen = {};
        } catch (const std::system_error& e) {
          seen = e.code();
        }
        ++resumed;
      },
      asio::detached);

  io.poll();
  ASSERT_TRUE(op.pending());
  EXPECT_EQ(resumed, 0);
  op.complete({});
  io.run();
  EXPECT_EQ(resumed, 1);
  EXPECT_EQ(seen, std::error_code{});
}

TEST(FakeOpTokens, UseAwaitableThrowsTheFailureCodeIntoTheCoroutine) {
  asio::io_context io;
  fake_op op;
  int resumed = 0;
  std::error_code seen;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        try {
          co_await async_fake_op(io, op, asio::use_awaitable);
        } catch (const std::system_error& e) {
          seen = e.code();
        }
        ++resumed;
      },
      asio::detached);

  io.poll();
  op.complete(errc::bad_state);
  io.run();
  EXPECT_EQ(resumed, 1);
  EXPECT_EQ(seen, errc::bad_state);
}
#else
TEST(FakeOpTokens, UseAwaitable) {
  GTEST_SKIP() << "Asio sees no co_await support here; build with ASIO_HAS_CO_AWAIT=1";
}
#endif  // defined(ASIO_HAS_CO_AWAIT)

}  // namespace
