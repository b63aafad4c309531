#include "vss/detail/erased_handler.hpp"

#include <gtest/gtest.h>

#include <asio.hpp>
#include <memory>
#include <system_error>

#include "vss/async_op.hpp"
#include "vss/error.hpp"

namespace {

using vss::errc;
using vss::detail::erased_handler;

// Records every invocation of a handler, so tests can check "exactly once".
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

TEST(ErasedHandler, DefaultConstructedIsEmptyAndCompletingItDoesNothing) {
  erased_handler h;
  EXPECT_FALSE(h);
  EXPECT_FALSE(h.cancellation_slot().is_connected());
  EXPECT_FALSE(h.set_canceller([] {}));
  std::move(h).complete({});
  std::move(h).post_complete({});
  EXPECT_FALSE(h);
}

TEST(ErasedHandler, CompleteInvokesAPlainLambdaExactlyOnceWithTheCode) {
  asio::io_context io;
  callback_log log;
  erased_handler h(log.handler(), io.get_executor());
  ASSERT_TRUE(h);

  std::move(h).complete(errc::bad_state);
  EXPECT_FALSE(h);
  EXPECT_EQ(log.calls, 0);  // not on the io_context's thread: queued there
  io.run();
  EXPECT_EQ(log.calls, 1);
  EXPECT_EQ(log.ec, errc::bad_state);

  std::move(h).complete({});
  io.restart();
  io.run();
  EXPECT_EQ(log.calls, 1);
}

TEST(ErasedHandler, CompleteRunsTheHandlerInlineWhenAlreadyOnItsExecutor) {
  asio::io_context io;
  callback_log log;
  erased_handler h(log.handler(), io.get_executor());
  int calls_seen_after_complete = -1;

  asio::post(io, [&] {
    std::move(h).complete(errc::invalid_arg);
    calls_seen_after_complete = log.calls;
  });
  io.run();
  EXPECT_EQ(calls_seen_after_complete, 1);
  EXPECT_EQ(log.calls, 1);
  EXPECT_EQ(log.ec, errc::invalid_arg);
}

TEST(ErasedHandler, PostCompleteNeverRunsTheHandlerInline) {
  asio::io_context io;
  callback_log log;
  erased_handler h(log.handler(), io.get_executor());
  int calls_seen_after_post = -1;

  asio::post(io, [&] {
    std::move(h).post_complete(errc::invalid_arg);
    calls_seen_after_post = log.calls;
  });
  io.run();
  EXPECT_EQ(calls_seen_after_post, 0);
  EXPECT_FALSE(h);
  EXPECT_EQ(log.calls, 1);
  EXPECT_EQ(log.ec, errc::invalid_arg);
}

TEST(ErasedHandler, CompleteRunsAStrandBoundHandlerOnItsStrand) {
  asio::io_context io;
  auto strand = asio::make_strand(io);
  int calls = 0;
  bool on_strand = false;
  erased_handler h(asio::bind_executor(strand,
                                       [&](std::error_code) {
                                         ++calls;
                                         on_strand = strand.running_in_this_thread();
                                       }),
                   io.get_executor());

  asio::post(io, [&] {
    ASSERT_FALSE(strand.running_in_this_thread());
    std::move(h).complete({});
  });
  io.run();
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(on_strand);
}

TEST(ErasedHandler, PostCompleteRunsAStrandBoundHandlerOnItsStrand) {
  asio::io_context io;
  auto strand = asio::make_strand(io);
  int calls = 0;
  bool on_strand = false;
  erased_handler h(asio::bind_executor(strand,
                                       [&](std::error_code) {
                                         ++calls;
                                         on_strand = strand.running_in_this_thread();
                                       }),
                   io.get_executor());

  std::move(h).post_complete({});
  io.run();
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(on_strand);
}

TEST(ErasedHandler, CompleteRunsAHandlerBoundToALegacyStrandOnThatStrand) {
  asio::io_context io;
  asio::io_context::strand strand(io);
  int calls = 0;
  bool on_strand = false;
  erased_handler h(asio::bind_executor(strand,
                                       [&](std::error_code) {
                                         ++calls;
                                         on_strand = strand.running_in_this_thread();
                                       }),
                   io.get_executor());
  io.poll();
  EXPECT_FALSE(io.stopped());  // the legacy work guard holds the io_context

  std::move(h).complete({});
  io.run();
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(on_strand);
}

TEST(ErasedHandler, KeepsTheIoContextBusyUntilDestroyedAndDestructionReleasesIt) {
  asio::io_context io;
  callback_log log;
  auto h = std::make_unique<erased_handler>(log.handler(), io.get_executor());

  io.poll();
  EXPECT_FALSE(io.stopped());  // outstanding work: run() would block

  h.reset();
  io.poll();
  EXPECT_TRUE(io.stopped());  // no work left: run() returns
  EXPECT_EQ(io.run(), 0u);
  EXPECT_EQ(log.calls, 0);
}

TEST(ErasedHandler, ReleasesTheWorkOnceTheHandlerRan) {
  asio::io_context io;
  callback_log log;
  erased_handler h(log.handler(), io.get_executor());

  std::move(h).complete({});
  EXPECT_EQ(io.run(), 1u);
  EXPECT_TRUE(io.stopped());
  EXPECT_EQ(log.calls, 1);
}

TEST(ErasedHandler, TracksWorkOnTheHandlersOwnExecutorNotOnlyTheFallback) {
  asio::io_context engine_io;
  asio::io_context user_io;
  callback_log log;
  erased_handler h(asio::bind_executor(user_io, log.handler()), engine_io.get_executor());

  user_io.poll();
  EXPECT_FALSE(user_io.stopped());

  std::move(h).complete(errc::bad_state);
  EXPECT_EQ(engine_io.poll(), 0u);
  EXPECT_EQ(log.calls, 0);
  EXPECT_EQ(user_io.run(), 1u);
  EXPECT_EQ(log.calls, 1);
  EXPECT_EQ(log.ec, errc::bad_state);
}

TEST(ErasedHandler, AcceptsMoveOnlyHandlers) {
  asio::io_context io;
  int seen = 0;
  auto payload = std::make_unique<int>(42);
  erased_handler h([&seen, p = std::move(payload)](std::error_code) { seen = *p; },
                   io.get_executor());

  std::move(h).complete({});
  io.run();
  EXPECT_EQ(seen, 42);
}

TEST(ErasedHandler, MoveTransfersTheHandler) {
  asio::io_context io;
  callback_log log;
  erased_handler a(log.handler(), io.get_executor());
  erased_handler b(std::move(a));
  EXPECT_FALSE(a);
  ASSERT_TRUE(b);

  erased_handler c;
  c = std::move(b);
  EXPECT_FALSE(b);
  std::move(c).complete(errc::invalid_arg);
  io.run();
  EXPECT_EQ(log.calls, 1);
  EXPECT_EQ(log.ec, errc::invalid_arg);
}

TEST(ErasedHandler, MoveAssignmentDestroysTheOverwrittenHandlerWithoutInvokingIt) {
  asio::io_context io;
  callback_log overwritten;
  callback_log kept;
  erased_handler h(overwritten.handler(), io.get_executor());
  h = erased_handler(kept.handler(), io.get_executor());

  std::move(h).complete({});
  io.run();
  EXPECT_EQ(overwritten.calls, 0);
  EXPECT_EQ(kept.calls, 1);
}

TEST(ErasedHandler, ExposesTheHandlersAssociatedCancellationSlot) {
  asio::io_context io;
  asio::cancellation_signal signal;
  callback_log log;
  erased_handler h(asio::bind_cancellation_slot(signal.slot(), log.handler()), io.get_executor());

  asio::cancellation_slot slot = h.cancellation_slot();
  ASSERT_TRUE(slot.is_connected());
  EXPECT_TRUE(slot == signal.slot());

  int emitted = 0;
  slot.assign([&emitted](asio::cancellation_type type) {
    if (type == asio::cancellation_type::terminal) ++emitted;
  });
  signal.emit(asio::cancellation_type::terminal);
  EXPECT_EQ(emitted, 1);
  slot.clear();

  std::move(h).complete(asio::error::operation_aborted);
  io.run();
  EXPECT_EQ(log.calls, 1);
  EXPECT_EQ(log.ec, asio::error::operation_aborted);
}

TEST(ErasedHandler, PlainLambdaHasAnUnconnectedCancellationSlot) {
  asio::io_context io;
  callback_log log;
  erased_handler h(log.handler(), io.get_executor());
  EXPECT_FALSE(h.cancellation_slot().is_connected());
}

TEST(ErasedHandler, SetCancellerReachesTheAsyncOpOfAnErasedUseAsyncOpHandler) {
  asio::io_context io;
  auto state = std::make_shared<vss::detail::async_op_state>();
  vss::async_op op(state);
  erased_handler h(vss::detail::async_op_handler(state), io.get_executor());
  int canceller_runs = 0;

  EXPECT_TRUE(vss::detail::set_canceller(h, [&canceller_runs] { ++canceller_runs; }));
  EXPECT_EQ(op.cancel(), std::error_code{});
  EXPECT_EQ(canceller_runs, 1);

  std::move(h).complete(errc::async_cancelled);
  io.run();
  EXPECT_EQ(op.query_status(), errc::async_cancelled);
}

TEST(ErasedHandler, SetCancellerOnAnErasedCallbackDoesNothing) {
  asio::io_context io;
  callback_log log;
  erased_handler h(log.handler(), io.get_executor());
  int canceller_runs = 0;

  EXPECT_FALSE(vss::detail::set_canceller(h, [&canceller_runs] { ++canceller_runs; }));
  std::move(h).complete({});
  io.run();
  EXPECT_EQ(canceller_runs, 0);
  EXPECT_EQ(log.calls, 1);
}

}  // namespace
