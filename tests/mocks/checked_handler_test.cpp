// vss::mocks::checked_handler and vss::mocks::mock_handler: the exactly-once checks, where
// failures are reported, ownership of the check across copies and moves, and use with real
// openvss initiating functions.

#include "vss/mocks/checked_handler.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>

#include "vss/engine.hpp"
#include "vss/manual_clock.hpp"
#include "vss/memory_provider.hpp"
#include "vss/mocks/matchers.hpp"

namespace {

using ::testing::HasSubstr;
using ::testing::StrictMock;
using ::testing::TestPartResultArray;
using vss::mocks::checked_handler;
using vss::mocks::IsAborted;
using vss::mocks::IsOk;
using vss::mocks::IsVssError;
using vss::mocks::mock_handler;

/// Collects the failures reported on this thread while it is alive.
class failure_capture {
 public:
  failure_capture()
      : reporter_(::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD,
                  &results_) {}
  const TestPartResultArray& results() const { return results_; }

 private:
  TestPartResultArray results_;
  ::testing::ScopedFakeTestPartResultReporter reporter_;
};

TEST(CheckedHandler, RecordsTheArgumentsOfASingleRun) {
  checked_handler<> h;
  EXPECT_FALSE(h.called());
  h(vss::errc::bad_state);
  EXPECT_TRUE(h.called());
  EXPECT_EQ(h.calls(), 1u);
  EXPECT_THAT(h.error(), IsVssError(vss::errc::bad_state));
  EXPECT_EQ(std::get<0>(h.result()), vss::errc::bad_state);
  EXPECT_TRUE(h.verify());
}

TEST(CheckedHandler, DefaultSignatureIsVoidErrorCode) {
  checked_handler h;  // deduction guide
  static_assert(std::is_same_v<decltype(h), checked_handler<void(std::error_code)>>);
  static_assert(std::is_invocable_v<decltype(h)&&, std::error_code>);
  h({});
  EXPECT_THAT(h.error(), IsOk());
}

TEST(CheckedHandler, SupportsSignaturesWithSeveralArguments) {
  checked_handler<void(const std::error_code&, std::size_t)> h;
  h(vss::errc::ok, 42);
  EXPECT_THAT(h.error(), IsOk());
  EXPECT_EQ(std::get<1>(h.result()), 42u);
}

TEST(CheckedHandler, RunningTwiceReportsAFailure) {
  checked_handler<> h;
  h({});
  EXPECT_NONFATAL_FAILURE(h(vss::errc::bad_state), "ran 2 times");
  EXPECT_EQ(h.calls(), 2u);
  EXPECT_THAT(h.error(), IsOk()) << "the first call's result is kept";
  EXPECT_FALSE(h.verify());
}

TEST(CheckedHandler, FailuresAreReportedAtTheLineWhereTheCheckerWasCreated) {
  failure_capture capture;
  const int line = __LINE__ + 1;
  checked_handler<> h;
  h({});
  h({});
  ASSERT_EQ(capture.results().size(), 1);
  EXPECT_EQ(capture.results().GetTestPartResult(0).line_number(), line);
  EXPECT_THAT(capture.results().GetTestPartResult(0).file_name(),
              HasSubstr("checked_handler_test.cpp"));
  EXPECT_TRUE(capture.results().GetTestPartResult(0).nonfatally_failed());
}

TEST(CheckedHandler, DestroyingTheCheckerBeforeItRanReportsAFailure) {
  EXPECT_NONFATAL_FAILURE({ checked_handler<> h; }, "destroyed without the handler ever running");
}

TEST(CheckedHandler, VerifyReportsANeverRunHandlerOnceAndTheDestructorDoesNotRepeatIt) {
  failure_capture capture;
  {
    checked_handler<> h;
    EXPECT_FALSE(h.verify());
  }
  ASSERT_EQ(capture.results().size(), 1);
  EXPECT_THAT(capture.results().GetTestPartResult(0).message(), HasSubstr("never ran"));
}

TEST(CheckedHandler, ReadingTheResultBeforeItRanReportsAFailureAndNeverLooksLikeSuccess) {
  checked_handler<> h;
  std::error_code ec;
  EXPECT_NONFATAL_FAILURE(ec = h.error(), "error() read before the handler ran");
  EXPECT_THAT(ec, ::testing::Not(IsOk()));
  EXPECT_THAT(ec, ::testing::Not(IsAborted()));
  EXPECT_NONFATAL_FAILURE(h.result(), "result() read before the handler ran");
  h({});
}

TEST(CheckedHandler, CopiesShareTheRecordButDoNotOwnTheCheck) {
  checked_handler<> h;
  {
    auto copy = h.handler();
    EXPECT_FALSE(copy.owns_check());
    checked_handler<> another(h);
    EXPECT_FALSE(another.owns_check());
  }  // destroying unrun copies reports nothing
  auto copy = h.handler();
  copy(vss::errc::async_cancelled);
  EXPECT_TRUE(h.called());
  EXPECT_THAT(h.error(), IsAborted());
}

TEST(CheckedHandler, RunningTwoCopiesCountsAsRunningTwice) {
  checked_handler<> h;
  auto a = h.handler();
  auto b = h.handler();
  a({});
  EXPECT_NONFATAL_FAILURE(b({}), "ran 2 times");
}

TEST(CheckedHandler, MovingTransfersTheCheckAndTheMovedFromCheckerStillReads) {
  checked_handler<> h;
  std::optional<checked_handler<>> moved(std::move(h));
  EXPECT_FALSE(h.owns_check());
  EXPECT_TRUE(moved->owns_check());
  EXPECT_NONFATAL_FAILURE(moved.reset(), "destroyed without the handler ever running");

  checked_handler<> g;
  checked_handler<> target = std::move(g);
  target({});
  EXPECT_TRUE(g.called()) << "a moved-from checker reads the same record";
}

TEST(CheckedHandler, AssigningOverAnOwningCheckerEndsItsCheck) {
  checked_handler<> ran;
  ran({});
  std::optional<checked_handler<>> h(std::in_place);
  EXPECT_NONFATAL_FAILURE(*h = ran, "destroyed without the handler ever running");
  EXPECT_FALSE(h->owns_check());
  EXPECT_TRUE(h->called());
}

TEST(CheckedHandler, RunOnAnotherThreadIsSeenByWaitFor) {
  checked_handler<> h;
  std::thread t([copy = h.handler()] { copy(vss::errc::async_finished); });
  EXPECT_TRUE(h.wait_for(std::chrono::seconds(10)));
  t.join();
  EXPECT_THAT(h.error(), IsVssError(vss::errc::async_finished));
}

TEST(CheckedHandler, WaitForReturnsFalseWhenItNeverRan) {
  checked_handler<> h;
  EXPECT_FALSE(h.wait_for(std::chrono::milliseconds(0)));
  h({});
  EXPECT_TRUE(h.wait_for(std::chrono::milliseconds(0)));
}

class CheckedHandlerWithEngine : public ::testing::Test {
 protected:
  void settle() {
    io_.restart();
    while (io_.poll() > 0) io_.restart();
  }
  asio::io_context io_;
  vss::engine engine_{
      io_.get_executor(),
      vss::engine_options{.shard_count = 1, .clock = std::make_shared<vss::manual_clock>()}};
};

TEST_F(CheckedHandlerWithEngine, WorksAsACompletionTokenPassedByCopyByMoveOrAsATemporary) {
  auto s = engine_.create_backup_session();
  ASSERT_THAT(s.initialize_for_backup(), IsOk());

  checked_handler<> by_copy;
  s.async_gather_writer_status(by_copy);
  checked_handler<> by_handler;
  s.async_gather_writer_status(by_handler.handler());
  checked_handler<> by_move;
  auto reader = by_move.handler();
  s.async_gather_writer_status(std::move(by_move));
  s.async_gather_writer_status(checked_handler<>());  // checks itself inside the engine
  EXPECT_FALSE(by_copy.called()) << "openvss never runs a handler inside the initiating call";
  settle();
  EXPECT_THAT(by_copy.error(), IsOk());
  EXPECT_THAT(by_handler.error(), IsOk());
  EXPECT_THAT(reader.error(), IsOk());
}

TEST_F(CheckedHandlerWithEngine, ReportsAnOperationThatCompletesWithAnError) {
  auto s = engine_.create_backup_session();  // not initialized: BackupComplete is out of order
  checked_handler<> done;
  s.async_backup_complete(done.handler());
  settle();
  EXPECT_THAT(done.error(), IsVssError(vss::errc::bad_state));
}

TEST(MockHandler, ForwardsEveryRunToCall) {
  StrictMock<mock_handler> m;
  EXPECT_CALL(m, call(IsVssError(vss::errc::provider_veto)));
  auto h = m.handler();
  auto copy = h;
  copy(vss::errc::provider_veto);
}

TEST(MockHandler, AnUnexpectedResultFailsTheExpectation) {
  mock_handler m;
  EXPECT_CALL(m, call(IsOk())).Times(::testing::AnyNumber());
  EXPECT_NONFATAL_FAILURE(m.handler()(vss::errc::bad_state), "VSS_E_BAD_STATE (0x80042301)");
}

TEST(MockHandler, RunningAfterTheMockWasDestroyedReportsAFailureInsteadOfCrashing) {
  std::optional<mock_handler::handler_type> h;
  {
    mock_handler m;
    h = m.handler();
  }
  EXPECT_NONFATAL_FAILURE((*h)({}), "ran after the mock was destroyed");
}

TEST_F(CheckedHandlerWithEngine, MockHandlerReceivesTheCompletionOfARealOperation) {
  auto s = engine_.create_backup_session();
  ASSERT_THAT(s.initialize_for_backup(), IsOk());
  StrictMock<mock_handler> done;
  s.async_gather_writer_metadata(done.handler());
  ::testing::Mock::VerifyAndClearExpectations(&done);  // not inside the initiating call
  EXPECT_CALL(done, call(IsOk()));
  settle();
}

}  // namespace
