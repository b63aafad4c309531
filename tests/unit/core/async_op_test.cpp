#include "vss/async_op.hpp"

#include <gtest/gtest.h>

#include <asio.hpp>
#include <asio/experimental/deferred.hpp>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "support/fake_op.hpp"
#include "vss/detail/erased_handler.hpp"
#include "vss/error.hpp"

namespace {

using namespace std::chrono_literals;
using vss::errc;
using vss::test::async_fake_op;
using vss::test::fake_op;

// Runs what the io_context holds until it runs out of work (the operation finished and its
// handler let go of the io_context), for at most a few seconds: an operation that never
// completes (a canceller that never reached it, say) then fails the test instead of hanging
// the binary until ctest's timeout.
void run_bounded(asio::io_context& io) {
  io.run_for(5s);
  EXPECT_TRUE(io.stopped()) << "the io_context still had work after 5 s";
}

// Records every invocation of a callback handler, so tests can check "exactly once".
struct callback_log {
  int calls = 0;
  std::error_code ec;
  auto handler() {
    return [this](std::error_code e) {
      ++calls;
      ec = e;
    };
  }
};

// --- QueryStatus ------------------------------------------------------------------------------

TEST(AsyncOpQueryStatus, ReportsPendingUntilTheOperationFinishesThenFinished) {
  asio::io_context io;
  fake_op op;
  vss::async_op h = async_fake_op(io, op, vss::use_async_op);

  ASSERT_TRUE(h);
  EXPECT_EQ(h.query_status(), errc::async_pending);
  EXPECT_FALSE(h.done());
  io.poll();
  EXPECT_EQ(h.query_status(), errc::async_pending);

  ASSERT_TRUE(op.complete({}));
  run_bounded(io);
  EXPECT_EQ(h.query_status(), errc::async_finished);
  EXPECT_TRUE(h.done());
  EXPECT_EQ(op.completions(), 1);
}

TEST(AsyncOpQueryStatus, ReportsTheFailureCodeOfAFailedOperation) {
  asio::io_context io;
  fake_op op;
  vss::async_op h = async_fake_op(io, op, vss::use_async_op);

  op.complete(errc::bad_state);
  run_bounded(io);
  EXPECT_EQ(h.query_status(), errc::bad_state);
  EXPECT_TRUE(h.done());
}

TEST(AsyncOpQueryStatus, ReportsCancelledWhenTheOperationCompletesWithOperationAborted) {
  asio::io_context io;
  fake_op op;
  vss::async_op h = async_fake_op(io, op, vss::use_async_op);

  op.complete(asio::error::operation_aborted);
  run_bounded(io);
  EXPECT_EQ(h.query_status(), errc::async_cancelled);
}

TEST(AsyncOpQueryStatus, ReportsCancelledWhenTheOperationCompletesWithAsyncCancelled) {
  asio::io_context io;
  fake_op op;
  vss::async_op h = async_fake_op(io, op, vss::use_async_op);

  op.complete(errc::async_cancelled);
  run_bounded(io);
  EXPECT_EQ(h.query_status(), errc::async_cancelled);
}

TEST(AsyncOpQueryStatus, ReportsUnexpectedWhenTheOperationCompletesWithAsyncPending) {
  asio::io_context io;
  fake_op op;
  vss::async_op h = async_fake_op(io, op, vss::use_async_op);

  op.complete(errc::async_pending);
  run_bounded(io);
  EXPECT_TRUE(h.done());
  EXPECT_EQ(h.query_status(), errc::unexpected);
}

// --- Empty handle ----------------------------------------------------------------------------

TEST(AsyncOpEmptyHandle, AnswersUnexpectedToEveryCall) {
  vss::async_op h;
  EXPECT_FALSE(h);
  EXPECT_FALSE(h.done());
  EXPECT_EQ(h.wait(), errc::unexpected);
  EXPECT_EQ(h.wait(10ms), errc::unexpected);
  EXPECT_FALSE(h.wait_for(10ms));
  EXPECT_EQ(h.query_status(), errc::unexpected);
  EXPECT_EQ(h.cancel(), errc::unexpected);
}

// --- Cancel ----------------------------------------------------------------------------------

TEST(AsyncOpCancel, WhilePendingReturnsOkAndTheOperationThenReportsCancelled) {
  asio::io_context io;
  fake_op op;
  vss::async_op h = async_fake_op(io, op, vss::use_async_op);

  EXPECT_EQ(h.cancel(), std::error_code{});
  EXPECT_EQ(op.cancels_requested(), 1);
  // Cancellation is requested, not done: the operation reports it when it stops.
  EXPECT_EQ(h.query_status(), errc::async_pending);

  run_bounded(io);
  EXPECT_EQ(h.query_status(), errc::async_cancelled);
  EXPECT_EQ(op.completions(), 1);
}

TEST(AsyncOpCancel, SecondCancelReturnsAsyncCancelledBeforeAndAfterTheOperationStops) {
  asio::io_context io;
  fake_op op;
  vss::async_op h = async_fake_op(io, op, vss::use_async_op);

  EXPECT_EQ(h.cancel(), std::error_code{});
  EXPECT_EQ(h.cancel(), errc::async_cancelled);
  run_bounded(io);
  EXPECT_EQ(h.cancel(), errc::async_cancelled);
  EXPECT_EQ(op.cancels_requested(), 1);
}

TEST(AsyncOpCancel, AfterSuccessReturnsAsyncFinishedAndChangesNothing) {
  asio::io_context io;
  fake_op op;
  vss::async_op h = async_fake_op(io, op, vss::use_async_op);
  op.complete({});
  run_bounded(io);

  EXPECT_EQ(h.cancel(), errc::async_finished);
  EXPECT_EQ(h.query_status(), errc::async_finished);
  EXPECT_EQ(op.cancels_requested(), 0);
}

TEST(AsyncOpCancel, AfterFailureReturnsTheFailureCode) {
  asio::io_context io;
  fake_op op;
  vss::async_op h = async_fake_op(io, op, vss::use_async_op);
  op.complete(errc::invalid_arg);
  run_bounded(io);

  EXPECT_EQ(h.cancel(), errc::invalid_arg);
  EXPECT_EQ(h.query_status(), errc::invalid_arg);
  EXPECT_EQ(op.cancels_requested(), 0);
}

TEST(AsyncOpCancel, AfterTheOperationCompletedCancelledOnItsOwnReturnsAsyncCancelled) {
  asio::io_context io;
  fake_op op;
  vss::async_op h = async_fake_op(io, op, vss::use_async_op);
  op.complete(asio::error::operation_aborted);
  run_bounded(io);

  EXPECT_EQ(h.cancel(), errc::async_cancelled);
  EXPECT_EQ(op.cancels_requested(), 0);
}

TEST(AsyncOpCancel, OfAnOperationWithoutCancellerReturnsUnexpectedAndChangesNothing) {
  asio::io_context io;
  fake_op op;
  op.cancellable = false;
  vss::async_op h = async_fake_op(io, op, vss::use_async_op);

  EXPECT_EQ(h.cancel(), errc::unexpected);
  EXPECT_EQ(h.cancel(), errc::unexpected);
  io.poll();
  EXPECT_EQ(h.query_status(), errc::async_pending);

  op.complete({});
  run_bounded(io);
  EXPECT_EQ(h.query_status(), errc::async_finished);
}

TEST(AsyncOpCancel, CancellerMayCompleteTheOperationInline) {
  int canceller_runs = 0;
  vss::async_op h = asio::async_initiate<const vss::use_async_op_t&, void(std::error_code)>(
      [&canceller_runs](auto handler) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        EXPECT_TRUE(vss::detail::set_canceller(*shared, [shared, &canceller_runs] {
          ++canceller_runs;
          (*shared)(errc::async_cancelled);  // locks the state: must not deadlock
        }));
      },
      vss::use_async_op);

  EXPECT_EQ(h.cancel(), std::error_code{});
  EXPECT_EQ(canceller_runs, 1);
  EXPECT_EQ(h.query_status(), errc::async_cancelled);
  EXPECT_EQ(h.cancel(), errc::async_cancelled);
  EXPECT_EQ(canceller_runs, 1);
}

TEST(AsyncOpCancel, ACancellerThatThrowsLeavesTheOperationCancellable) {
  int canceller_runs = 0;
  vss::async_op h = asio::async_initiate<const vss::use_async_op_t&, void(std::error_code)>(
      [&canceller_runs](auto handler) {
        vss::detail::set_canceller(handler, [&canceller_runs] {
          if (++canceller_runs == 1) throw std::runtime_error("post failed");
        });
      },
      vss::use_async_op);

  EXPECT_THROW(h.cancel(), std::runtime_error);
  EXPECT_EQ(h.query_status(), errc::async_pending);
  EXPECT_EQ(h.cancel(), std::error_code{});
  EXPECT_EQ(canceller_runs, 2);
}

TEST(AsyncOpCancel, ConcurrentCancelsRequestCancellationExactlyOnce) {
  asio::io_context io;
  fake_op op;
  vss::async_op h = async_fake_op(io, op, vss::use_async_op);

  constexpr int k_threads = 4;
  std::atomic<int> ready{0};
  std::vector<std::error_code> results(k_threads);
  std::vector<std::thread> threads;
  for (int i = 0; i < k_threads; ++i) {
    threads.emplace_back([&, i, copy = h]() mutable {
      ++ready;
      while (ready.load() < k_threads) std::this_thread::yield();
      results[static_cast<std::size_t>(i)] = copy.cancel();
    });
  }
  for (auto& t : threads) t.join();

  int ok = 0;
  for (const auto& r : results) {
    if (r == std::error_code{}) {
      ++ok;
    } else {
      EXPECT_EQ(r, errc::async_cancelled);
    }
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(op.cancels_requested(), 1);
  run_bounded(io);
  EXPECT_EQ(h.query_status(), errc::async_cancelled);
}

// --- Wait ------------------------------------------------------------------------------------

TEST(AsyncOpWait, WithTimeoutReturnsOkByItsDeadlineWhileTheOperationIsStillPending) {
  asio::io_context io;
  fake_op op;
  vss::async_op h = async_fake_op(io, op, vss::use_async_op);

  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(h.wait(50ms), std::error_code{});
  const auto elapsed = std::chrono::steady_clock::now() - start;

  EXPECT_GE(elapsed, 50ms);
  EXPECT_LT(elapsed, 50ms + 2s);
  EXPECT_EQ(h.query_status(), errc::async_pending);
  EXPECT_EQ(op.cancels_requested(), 0);  // Wait never cancels
}

TEST(AsyncOpWait, WaitForReturnsFalseOnTimeoutAndTrueOnceFinished) {
  asio::io_context io;
  fake_op op;
  vss::async_op h = async_fake_op(io, op, vss::use_async_op);

  EXPECT_FALSE(h.wait_for(1ms));
  EXPECT_FALSE(h.wait_for(0ms));
  EXPECT_FALSE(h.wait_for(-5ms));
  op.complete(errc::bad_state);
  run_bounded(io);
  EXPECT_TRUE(h.wait_for(0ms));
  EXPECT_TRUE(h.wait_for(1ms));
}

TEST(AsyncOpWait, ReturnsImmediatelyOnceTheOperationFinished) {
  asio::io_context io;
  fake_op op;
  vss::async_op h = async_fake_op(io, op, vss::use_async_op);
  op.complete({});
  run_bounded(io);

  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(h.wait(), std::error_code{});
  EXPECT_EQ(h.wait(10s), std::error_code{});
  EXPECT_EQ(h.wait(std::chrono::milliseconds::max()), std::error_code{});
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_EQ(h.query_status(), errc::async_finished);
}

TEST(AsyncOpWait, WakesWhenTheOperationCompletesOnAnotherThread) {
  asio::io_context io;
  fake_op op;
  vss::async_op h = async_fake_op(io, op, vss::use_async_op);

  std::thread engine([&] {
    std::this_thread::sleep_for(20ms);
    op.complete(errc::invalid_arg);
    io.run();
  });
  EXPECT_EQ(h.wait(), std::error_code{});
  EXPECT_EQ(h.query_status(), errc::invalid_arg);
  engine.join();
}

TEST(AsyncOpWait, WithAnUnrepresentableTimeoutWaitsUntilTheOperationFinishes) {
  asio::io_context io;
  fake_op op;
  vss::async_op h = async_fake_op(io, op, vss::use_async_op);

  std::thread engine([&] {
    std::this_thread::sleep_for(20ms);
    op.complete({});
    io.run();
  });
  EXPECT_TRUE(h.wait_for(std::chrono::milliseconds::max()));
  EXPECT_EQ(h.query_status(), errc::async_finished);
  engine.join();
}

// --- Handles and lifetime --------------------------------------------------------------------

TEST(AsyncOpHandle, CopiesShareTheOperation) {
  asio::io_context io;
  fake_op op;
  vss::async_op h = async_fake_op(io, op, vss::use_async_op);
  vss::async_op copy = h;

  EXPECT_EQ(copy.cancel(), std::error_code{});
  EXPECT_EQ(h.cancel(), errc::async_cancelled);
  run_bounded(io);
  EXPECT_EQ(h.query_status(), errc::async_cancelled);
  EXPECT_EQ(copy.query_status(), errc::async_cancelled);
  EXPECT_TRUE(h.done());
}

TEST(AsyncOpHandle, DroppingEveryHandleDoesNotCancelTheOperation) {
  asio::io_context io;
  fake_op op;
  {
    vss::async_op h = async_fake_op(io, op, vss::use_async_op);
    vss::async_op copy = h;
  }
  io.poll();
  EXPECT_EQ(op.cancels_requested(), 0);
  EXPECT_TRUE(op.pending());

  EXPECT_TRUE(op.complete({}));
  run_bounded(io);
  EXPECT_EQ(op.completions(), 1);
}

TEST(AsyncOpHandler, InvokedTwiceAssertsInDebugAndKeepsTheFirstStatusInRelease) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto state = std::make_shared<vss::detail::async_op_state>();
  vss::async_op h(state);
  vss::detail::async_op_handler handler(state);

  handler(std::error_code{});
  EXPECT_DEBUG_DEATH(handler(errc::bad_state), "invoked twice");
  EXPECT_EQ(h.query_status(), errc::async_finished);
}

TEST(AsyncOpHandler, SetCancellerIsANoOpForOtherHandlerTypes) {
  int runs = 0;
  auto lambda = [](std::error_code) {};
  EXPECT_FALSE(vss::detail::set_canceller(lambda, [&runs] { ++runs; }));
  EXPECT_EQ(runs, 0);
}

TEST(AsyncOpHandler, SetCancellerAfterCompletionStoresNothing) {
  auto state = std::make_shared<vss::detail::async_op_state>();
  vss::async_op h(state);
  vss::detail::async_op_handler handler(state);
  handler(std::error_code{});

  EXPECT_FALSE(vss::detail::set_canceller(handler, [] {}));
  EXPECT_EQ(h.cancel(), errc::async_finished);
}

// --- Completion tokens of the same (fake) operation ------------------------------------------

TEST(FakeOpTokens, CallbackRunsExactlyOnceWithTheCode) {
  asio::io_context io;
  fake_op op;
  callback_log log;
  async_fake_op(io, op, log.handler());

  io.poll();
  EXPECT_EQ(log.calls, 0);
  op.complete(errc::bad_state);
  run_bounded(io);
  EXPECT_EQ(log.calls, 1);
  EXPECT_EQ(log.ec, errc::bad_state);
}

TEST(FakeOpTokens, CallbackOperationIsNotCancellableThroughSetCanceller) {
  asio::io_context io;
  fake_op op;
  callback_log log;
  async_fake_op(io, op, log.handler());
  op.complete({});
  run_bounded(io);
  EXPECT_EQ(op.cancels_requested(), 0);
  EXPECT_EQ(log.calls, 1);
  EXPECT_EQ(log.ec, std::error_code{});
}

TEST(FakeOpTokens, UseFutureDeliversSuccess) {
  asio::io_context io;
  fake_op op;
  std::future<void> f = async_fake_op(io, op, asio::use_future);
  EXPECT_EQ(f.wait_for(0s), std::future_status::timeout);

  op.complete({});
  run_bounded(io);
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_NO_THROW(f.get());
}

TEST(FakeOpTokens, UseFutureThrowsSystemErrorWithTheFailureCode) {
  asio::io_context io;
  fake_op op;
  std::future<void> f = async_fake_op(io, op, asio::use_future);

  op.complete(errc::invalid_arg);
  run_bounded(io);
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  try {
    f.get();
    ADD_FAILURE() << "future<void>::get() did not throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), errc::invalid_arg);
  }
}

TEST(FakeOpTokens, DeferredStartsOnlyWhenLaunchedWithACallback) {
  asio::io_context io;
  fake_op op;
  auto deferred_op = async_fake_op(io, op, asio::experimental::deferred);
  EXPECT_FALSE(op.pending());

  callback_log log;
  std::move(deferred_op)(log.handler());
  EXPECT_TRUE(op.pending());
  op.complete(errc::invalid_arg);
  run_bounded(io);
  EXPECT_EQ(log.calls, 1);
  EXPECT_EQ(log.ec, errc::invalid_arg);
}

TEST(FakeOpTokens, DeferredCanBeLaunchedWithUseAsyncOp) {
  asio::io_context io;
  fake_op op;
  auto deferred_op = async_fake_op(io, op, asio::experimental::deferred);

  vss::async_op h = std::move(deferred_op)(vss::use_async_op);
  EXPECT_EQ(h.query_status(), errc::async_pending);
  EXPECT_EQ(h.cancel(), std::error_code{});
  run_bounded(io);
  EXPECT_EQ(h.query_status(), errc::async_cancelled);
}

// --- Race ------------------------------------------------------------------------------------

// cancel() on one thread races the operation's success on another, while a third runs the
// io_context. Whatever the interleaving, the outcome is exactly one final status, and it
// agrees with what cancel() answered.
TEST(AsyncOpRace, CancelRacingCompletionAlwaysEndsInOneConsistentStatus) {
  constexpr int k_iterations = 1000;
  int cancelled = 0;
  int finished = 0;
  for (int i = 0; i < k_iterations; ++i) {
    asio::io_context io;
    fake_op op;
    vss::async_op h = async_fake_op(io, op, vss::use_async_op);

    std::atomic<int> ready{0};
    std::thread runner([&] { io.run(); });
    std::thread completer([&] {
      ++ready;
      while (ready.load() < 2) std::this_thread::yield();
      op.complete({});
    });
    ++ready;
    while (ready.load() < 2) std::this_thread::yield();
    const std::error_code answer = h.cancel();
    completer.join();
    runner.join();

    ASSERT_TRUE(h.done()) << "iteration " << i;
    const std::error_code status = h.query_status();
    ASSERT_EQ(op.completions(), 1) << "iteration " << i;
    if (status == errc::async_cancelled) {
      ++cancelled;
      ASSERT_EQ(answer, std::error_code{}) << "iteration " << i;
    } else {
      ++finished;
      ASSERT_EQ(status, errc::async_finished) << "iteration " << i;
      // Either cancel() came too late, or it was requested but the success won the race.
      ASSERT_TRUE(answer == errc::async_finished || answer == std::error_code{})
          << "iteration " << i << ": " << answer.value();
    }
    ASSERT_EQ(op.cancels_requested(), answer == std::error_code{} ? 1 : 0) << "iteration " << i;
  }
  RecordProperty("cancelled", cancelled);  // both outcomes occur in practice; not asserted
  RecordProperty("finished", finished);
}

}  // namespace
