// vss::mocks matchers: what each accepts and rejects, and that descriptions and explanations
// name VSS symbols and event names rather than raw numbers.

#include "vss/mocks/matchers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <asio/error.hpp>
#include <string>
#include <system_error>
#include <vector>

namespace {

using ::testing::AllOf;
using ::testing::DescribeMatcher;
using ::testing::ElementsAre;
using ::testing::Matcher;
using ::testing::Not;
using vss::errc;
using vss::writer_event;
using vss::writer_state;
using namespace vss::mocks;

/// The explanation a matcher gives for `value` (what follows "Actual: ..., ").
template <class T, class M>
std::string explain(const M& m, const T& value) {
  ::testing::StringMatchResultListener listener;
  Matcher<const T&>(m).MatchAndExplain(value, &listener);
  return listener.str();
}

vss::writer_status status(writer_state state, std::error_code failure = {}) {
  vss::writer_status s;
  s.name = "db";
  s.level = vss::application_level::back_end;
  s.state = state;
  s.failure = failure;
  return s;
}

TEST(CodeName, NamesVssCodesByTheirSymbolAndHresult) {
  EXPECT_EQ(code_name(errc::bad_state), "VSS_E_BAD_STATE (0x80042301)");
  EXPECT_EQ(code_name(errc::async_finished), "VSS_S_ASYNC_FINISHED (0x0004230A)");
  EXPECT_EQ(code_name(std::error_code{}), "S_OK");
  EXPECT_EQ(code_name(make_error_code(std::errc::timed_out)),
            "generic:" + std::to_string(ETIMEDOUT) + " (" +
                make_error_code(std::errc::timed_out).message() + ")");
}

TEST(IsOkMatcher, AcceptsZeroInAnyCategory) {
  EXPECT_THAT(std::error_code{}, IsOk());
  EXPECT_THAT(make_error_code(errc::ok), IsOk());
}

TEST(IsOkMatcher, RejectsErrorsAndNonZeroSuccessCodes) {
  EXPECT_THAT(make_error_code(errc::bad_state), Not(IsOk()));
  EXPECT_THAT(make_error_code(errc::async_finished), Not(IsOk()));
  EXPECT_THAT(make_error_code(errc::s_false), Not(IsOk()));
}

TEST(IsOkMatcher, FailureMessageNamesTheActualCode) {
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(make_error_code(errc::writer_error_retryable), IsOk()),
                          "which is VSS_E_WRITERERROR_RETRYABLE (0x800423F3)");
  EXPECT_EQ(DescribeMatcher<std::error_code>(IsOk()), "is S_OK (no error)");
}

TEST(IsVssErrorMatcher, AcceptsExactlyThatCode) {
  EXPECT_THAT(make_error_code(errc::provider_veto), IsVssError(errc::provider_veto));
  EXPECT_THAT(make_error_code(errc::provider_veto), Not(IsVssError(errc::bad_state)));
  EXPECT_THAT(std::error_code{}, Not(IsVssError(errc::provider_veto)));
}

TEST(IsVssErrorMatcher, RejectsTheSameNumberInAnotherCategory) {
  const std::error_code foreign(static_cast<int>(errc::bad_state), std::generic_category());
  EXPECT_THAT(foreign, Not(IsVssError(errc::bad_state)));
}

TEST(IsVssErrorMatcher, OkMatchesEverySuccessWithValueZero) {
  EXPECT_THAT(std::error_code{}, IsVssError(errc::ok));
  EXPECT_THAT(make_error_code(errc::async_finished), Not(IsVssError(errc::ok)));
}

TEST(IsVssErrorMatcher, DescribesAndExplainsWithVssSymbols) {
  EXPECT_EQ(DescribeMatcher<std::error_code>(IsVssError(errc::bad_state)),
            "is VSS_E_BAD_STATE (0x80042301)");
  EXPECT_EQ(DescribeMatcher<std::error_code>(IsVssError(errc::bad_state), /*negation=*/true),
            "isn't VSS_E_BAD_STATE (0x80042301)");
  EXPECT_EQ(explain<std::error_code>(IsVssError(errc::bad_state), make_error_code(errc::fail)),
            "which is E_FAIL (0x80004005)");
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(std::error_code{}, IsVssError(errc::object_not_found)),
                          "Expected: is VSS_E_OBJECT_NOT_FOUND (0x80042308)");
}

TEST(HasConditionMatcher, FollowsTheConditionMappingOfErrorHpp) {
  EXPECT_THAT(
      make_error_code(errc::writer_error_timeout),
      AllOf(HasCondition(vss::condition::retryable), HasCondition(vss::condition::timed_out)));
  EXPECT_THAT(
      make_error_code(errc::writer_error_nonretryable),
      AllOf(HasCondition(vss::condition::fatal), Not(HasCondition(vss::condition::retryable))));
  EXPECT_THAT(make_error_code(errc::volume_not_supported),
              HasCondition(vss::condition::retry_after_reconfigure));
}

TEST(HasConditionMatcher, ExplainsEveryConditionTheActualCodeMatches) {
  EXPECT_EQ(DescribeMatcher<std::error_code>(HasCondition(vss::condition::fatal)),
            "matches vss::condition::fatal");
  EXPECT_EQ(explain<std::error_code>(HasCondition(vss::condition::fatal),
                                     make_error_code(errc::writer_error_timeout)),
            "which is VSS_E_WRITERERROR_TIMEOUT (0x800423F2) and matches condition retryable, "
            "timed_out");
  EXPECT_EQ(explain<std::error_code>(HasCondition(vss::condition::fatal),
                                     make_error_code(errc::object_not_found)),
            "which is VSS_E_OBJECT_NOT_FOUND (0x80042308) and matches no vss::condition");
  EXPECT_NONFATAL_FAILURE(
      EXPECT_THAT(make_error_code(errc::provider_veto), HasCondition(vss::condition::fatal)),
      "which is VSS_E_PROVIDER_VETO (0x80042306) and matches condition retryable");
}

TEST(IsAbortedMatcher, AcceptsBothSpellingsOfACancellation) {
  EXPECT_THAT(make_error_code(errc::async_cancelled), IsAborted());
  EXPECT_THAT(std::error_code(asio::error::operation_aborted), IsAborted());
  EXPECT_THAT(make_error_code(std::errc::operation_canceled), IsAborted());
}

TEST(IsAbortedMatcher, RejectsSuccessFailureAndEAbort) {
  EXPECT_THAT(std::error_code{}, Not(IsAborted()));
  EXPECT_THAT(make_error_code(errc::async_finished), Not(IsAborted()));
  EXPECT_THAT(make_error_code(errc::writer_error_retryable), Not(IsAborted()));
  // E_ABORT is a failure code that openvss maps to no condition; it is not a cancellation.
  EXPECT_THAT(make_error_code(errc::abort), Not(IsAborted()));
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(make_error_code(errc::async_finished), IsAborted()),
                          "Expected: matches vss::condition::cancelled");
}

TEST(WriterStateIsMatcher, MatchesTheStateOfAWriterStatus) {
  EXPECT_THAT(status(writer_state::failed_at_freeze),
              WriterStateIs(writer_state::failed_at_freeze));
  EXPECT_THAT(status(writer_state::stable), Not(WriterStateIs(writer_state::failed_at_freeze)));
}

TEST(WriterStateIsMatcher, FailureMessageNamesBothStatesAndPrintsTheStatus) {
  EXPECT_EQ(DescribeMatcher<vss::writer_status>(WriterStateIs(writer_state::failed_at_freeze)),
            "is a writer in state VSS_WS_FAILED_AT_FREEZE");
  EXPECT_NONFATAL_FAILURE(
      EXPECT_THAT(status(writer_state::stable), WriterStateIs(writer_state::failed_at_thaw)),
      "whose state is VSS_WS_STABLE");
  EXPECT_NONFATAL_FAILURE(
      EXPECT_THAT(status(writer_state::stable), WriterStateIs(writer_state::failed_at_thaw)),
      "writer_status{db, VSS_APP_BACK_END, VSS_WS_STABLE, failure S_OK}");
}

TEST(WriterFailureIsMatcher, MatchesTheFailureCodeOfAWriterStatus) {
  const auto s = status(writer_state::failed_at_freeze, errc::writer_error_retryable);
  EXPECT_THAT(s, WriterFailureIs(errc::writer_error_retryable));
  EXPECT_THAT(s, Not(WriterFailureIs(errc::writer_error_nonretryable)));
  EXPECT_THAT(status(writer_state::stable), WriterFailureIs(errc::ok));
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(s, WriterFailureIs(errc::ok)),
                          "which is VSS_E_WRITERERROR_RETRYABLE (0x800423F3)");
}

TEST(WriterStatusPrinting, ShowsTheMessageWhenThereIsOne) {
  auto s = status(writer_state::failed_at_freeze, errc::writer_error_timeout);
  s.message = "freeze window expired";
  EXPECT_EQ(::testing::PrintToString(s),
            "writer_status{db, VSS_APP_BACK_END, VSS_WS_FAILED_AT_FREEZE, failure "
            "VSS_E_WRITERERROR_TIMEOUT (0x800423F2), message \"freeze window expired\"}");
}

TEST(SawEventsMatcher, MatchesTheWholeListInOrder) {
  const std::vector<writer_event> seen{writer_event::freeze, writer_event::thaw};
  EXPECT_THAT(seen, SawEvents(writer_event::freeze, writer_event::thaw));
  EXPECT_THAT(seen, Not(SawEvents(writer_event::thaw, writer_event::freeze)));
  EXPECT_THAT(seen, Not(SawEvents(writer_event::freeze)));
  EXPECT_THAT(seen, Not(SawEvents(writer_event::freeze, writer_event::thaw, writer_event::abort)));
  EXPECT_THAT(std::vector<writer_event>{}, SawEvents());
  EXPECT_THAT(seen, SawEvents(std::vector<writer_event>{writer_event::freeze, writer_event::thaw}));
}

TEST(SawEventsMatcher, ExplainsTheFirstDifferenceWithEventNames) {
  const std::vector<writer_event> seen{writer_event::prepare_snapshot, writer_event::freeze,
                                       writer_event::abort};
  EXPECT_EQ(DescribeMatcher<std::vector<writer_event>>(
                SawEvents(writer_event::prepare_snapshot, writer_event::freeze)),
            "is exactly the events PrepareSnapshot, Freeze");
  EXPECT_EQ(explain<std::vector<writer_event>>(
                SawEvents(writer_event::prepare_snapshot, writer_event::freeze, writer_event::thaw),
                seen),
            "whose event #2 is Abort where Thaw was expected");
  EXPECT_EQ(explain<std::vector<writer_event>>(
                SawEvents(writer_event::prepare_snapshot, writer_event::freeze, writer_event::abort,
                          writer_event::backup_shutdown),
                seen),
            "which lacks the last 1 event(s), from BackupShutdown on");
  EXPECT_EQ(explain<std::vector<writer_event>>(SawEvents(writer_event::prepare_snapshot), seen),
            "which has 2 extra event(s), from Freeze on");
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(std::vector<writer_event>{}, SawEvents(writer_event::abort)),
                          "Expected: is exactly the events Abort");
}

TEST(SawEventMatcher, MatchesAListThatContainsTheEvent) {
  const std::vector<writer_event> seen{writer_event::freeze, writer_event::abort};
  EXPECT_THAT(seen, SawEvent(writer_event::abort));
  EXPECT_THAT(seen, Not(SawEvent(writer_event::thaw)));
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(seen, SawEvent(writer_event::thaw)),
                          "Expected: contains the event Thaw");
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(seen, Not(SawEvent(writer_event::abort))),
                          "which contains Abort 1 time(s)");
}

TEST(Matchers, ComposeWithGmockContainerMatchers) {
  const std::vector<vss::writer_status> all{
      status(writer_state::stable),
      status(writer_state::failed_at_thaw, errc::writer_error_nonretryable)};
  EXPECT_THAT(all, ElementsAre(WriterStateIs(writer_state::stable),
                               AllOf(WriterStateIs(writer_state::failed_at_thaw),
                                     WriterFailureIs(errc::writer_error_nonretryable))));
}

}  // namespace
