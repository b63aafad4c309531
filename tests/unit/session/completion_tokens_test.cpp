// Every async call accepts any Asio completion token: callbacks, use_future, deferred,
// use_async_op, and a caller-bound cancellation slot (use_awaitable:
// completion_tokens_awaitable_test.cpp).

#include <gtest/gtest.h>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/strand.hpp>
#include <asio/use_future.hpp>
#include <thread>

#include "support/test_writer.hpp"

namespace vss::test {
namespace {

using E = writer_event;

class CompletionTokensTest : public engine_test {};

TEST_F(CompletionTokensTest, CallbackRunsExactlyOnceAndNeverInsideTheInitiatingCall) {
  add_writer("w");
  auto s = prepared_session();
  int calls = 0;
  std::error_code result = make_error_code(errc::unexpected);
  s.async_do_snapshot_set([&](std::error_code ec) {
    ++calls;
    result = ec;
  });
  EXPECT_EQ(calls, 0);
  settle();
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(result);
}

TEST_F(CompletionTokensTest, ImmediateErrorIsPostedNotInvokedInline) {
  auto s = engine_->create_backup_session();
  int calls = 0;
  std::error_code result;
  s.async_do_snapshot_set([&](std::error_code ec) {
    ++calls;
    result = ec;
  });
  EXPECT_EQ(calls, 0);
  settle();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(result, errc::bad_state);
}

TEST_F(CompletionTokensTest, HandlerRunsOnItsBoundExecutor) {
  add_writer("w");
  auto s = prepared_session();
  auto strand = asio::make_strand(io_);
  bool on_strand = false;
  s.async_do_snapshot_set(asio::bind_executor(
      strand, [&](std::error_code) { on_strand = strand.running_in_this_thread(); }));
  settle();
  EXPECT_TRUE(on_strand);
}

TEST_F(CompletionTokensTest, UseFutureDeliversSuccessAndThrowsTheVssCode) {
  add_writer("w");
  auto s = prepared_session();
  std::future<void> ok = s.async_do_snapshot_set(asio::use_future);
  settle();
  // use_future may complete the promise on its own executor: wait, bounded.
  ASSERT_EQ(ok.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_NO_THROW(ok.get());
  std::future<void> bad = s.async_do_snapshot_set(asio::use_future);  // out of order now
  settle();
  try {
    bad.get();
    FAIL() << "expected VSS_E_BAD_STATE";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), errc::bad_state);
  }
}

TEST_F(CompletionTokensTest, DeferredStartsOnlyWhenInvoked) {
  auto w = add_writer("w");
  auto s = prepared_session();
  auto later = s.async_do_snapshot_set(asio::experimental::deferred);
  settle();
  EXPECT_EQ(w->count(E::freeze), 0u);
  std::error_code result = make_error_code(errc::unexpected);
  std::move(later)([&](std::error_code ec) { result = ec; });
  settle();
  EXPECT_FALSE(result);
  EXPECT_EQ(w->count(E::freeze), 1u);
}

TEST_F(CompletionTokensTest, BoundCancellationSlotAbortsThePipeline) {
  auto w = add_writer("w");
  w->script(E::freeze, {action::hold});
  auto s = prepared_session();
  asio::cancellation_signal signal;
  std::error_code result;
  s.async_do_snapshot_set(
      asio::bind_cancellation_slot(signal.slot(), [&](std::error_code ec) { result = ec; }));
  settle();
  signal.emit(asio::cancellation_type::terminal);  // emitted on the io thread, per Asio's rules
  settle();
  EXPECT_EQ(result, errc::async_cancelled);
  EXPECT_EQ(result, condition::cancelled);
  EXPECT_EQ(w->count(E::abort), 1u);
}

TEST_F(CompletionTokensTest, AsyncOpWaitsFromAnotherThreadWhileTheEngineRuns) {
  add_writer("w");
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  std::thread runner([&] { settle(); });
  EXPECT_FALSE(op.wait(std::chrono::seconds(10)));
  runner.join();
  EXPECT_EQ(op.query_status(), errc::async_finished);
  EXPECT_EQ(op.cancel(), errc::async_finished);
}

}  // namespace
}  // namespace vss::test
