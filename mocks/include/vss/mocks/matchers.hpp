// Copyright (c) openvss authors. SPDX-License-Identifier: Apache-2.0
//
// vss/mocks/matchers.hpp — gMock matchers for openvss results: error codes, writer status and
// writer event timelines, with descriptions that name the VSS symbols ("VSS_E_BAD_STATE
// (0x80042301)", "VSS_WS_FAILED_AT_FREEZE", "PrepareSnapshot") rather than raw numbers.
//
//   IsOk()                   std::error_code is S_OK (value 0, any category)
//   IsVssError(errc)         std::error_code == make_error_code(errc)
//   HasCondition(condition)  std::error_code == condition (retryable, fatal, cancelled, ...)
//   IsAborted()              std::error_code == condition::cancelled
//   WriterStateIs(state)     vss::writer_status::state == state
//   WriterFailureIs(errc)    vss::writer_status::failure == errc
//   SawEvents(e1, e2, ...)   std::vector<vss::writer_event> is exactly e1, e2, ...
//   SawEvent(e)              std::vector<vss::writer_event> contains e
//
// There is deliberately no "is any error" matcher (the Abseil rule): say which code or which
// condition you expect. Note that the VSS success codes are not IsOk(): VSS_S_ASYNC_FINISHED
// and VSS_S_ASYNC_CANCELLED have non-zero values, so an IVssAsync-style status is checked with
// IsVssError(errc::async_finished) or IsAborted().
//
// Example 1 — a requester test that checks completions and the writer's status:
//
//   using namespace vss::mocks;
//   auto op = session.async_do_snapshot_set(vss::use_async_op);
//   ... drive the engine ...
//   EXPECT_THAT(op.query_status(), IsVssError(vss::errc::async_finished));
//   EXPECT_THAT(session.get_writer_status(),
//               ElementsAre(AllOf(WriterStateIs(vss::writer_state::failed_at_freeze),
//                                 WriterFailureIs(vss::errc::writer_error_retryable))));
//   // On failure: "Expected: has state VSS_WS_FAILED_AT_FREEZE ... Actual: writer_status{db,
//   //              VSS_WS_STABLE, failure S_OK}, whose state is VSS_WS_STABLE".
//
// Example 2 — with a mock completion handler and a recorded event timeline:
//
//   vss::mocks::mock_handler done;                      // vss/mocks/checked_handler.hpp
//   EXPECT_CALL(done, call(vss::mocks::IsAborted()));   // cancelled by AbortBackup
//   session.async_do_snapshot_set(done.handler());
//   ...
//   EXPECT_THAT(fake->events(), SawEvents(vss::writer_event::freeze, vss::writer_event::abort));
//   EXPECT_THAT(fake->events(), Not(SawEvent(vss::writer_event::thaw)));
//   EXPECT_THAT(ec, HasCondition(vss::condition::retryable));
//
// Thread-safety: the matchers are immutable values; use them from any thread, as gMock allows.
// The PrintTo overload below only reads its argument.

#pragma once

#include <gmock/gmock.h>

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "vss/error.hpp"
#include "vss/report.hpp"
#include "vss/types.hpp"
#include "vss/writer.hpp"

namespace vss {

/// Lets GoogleTest print a vss::writer_status as
/// "writer_status{db, VSS_APP_BACK_END, VSS_WS_FAILED_AT_FREEZE, failure
/// VSS_E_WRITERERROR_RETRYABLE (0x800423F3), message "disk full"}" instead of raw bytes.
/// Found by argument-dependent lookup, hence in namespace vss.
inline void PrintTo(const writer_status& status, std::ostream* os);

}  // namespace vss

namespace vss::mocks {

/// The name of `c` as it is spelt in C++: "retryable", "retry_after_reconfigure", "fatal",
/// "timed_out", "cancelled"; "condition(<n>)" for a value that is not an enumerator.
inline std::string condition_name(condition c) {
  switch (c) {
    case condition::retryable:
      return "retryable";
    case condition::retry_after_reconfigure:
      return "retry_after_reconfigure";
    case condition::fatal:
      return "fatal";
    case condition::timed_out:
      return "timed_out";
    case condition::cancelled:
      return "cancelled";
  }
  return "condition(" + std::to_string(static_cast<int>(c)) + ")";
}

/// A readable name for any error code, used by every matcher here:
///  - a vss_category() code: its symbol and HRESULT, "VSS_E_BAD_STATE (0x80042301)";
///  - a code with value 0 in any category: "S_OK";
///  - any other code: "<category>:<value> (<message>)", e.g. "asio.system:125 (Operation
///    canceled)".
inline std::string code_name(const std::error_code& ec) {
  if (ec.value() == 0) return "S_OK";
  std::ostringstream os;
  if (ec.category() == vss_category()) {
    const auto e = static_cast<errc>(ec.value());
    const std::string_view sym = symbol(e);
    os << (sym.empty() ? std::string_view("unknown VSS code") : sym) << " (0x" << std::hex
       << std::uppercase << std::setw(8) << std::setfill('0') << hresult(e) << ')';
  } else {
    os << ec.category().name() << ':' << ec.value() << " (" << ec.message() << ')';
  }
  return os.str();
}

/// The readable name of `e`: "VSS_E_BAD_STATE (0x80042301)", "S_OK" for errc::ok.
inline std::string code_name(errc e) { return code_name(make_error_code(e)); }

namespace detail {

/// The conditions `ec` compares equal to, as ", which matches condition(s) retryable,
/// timed_out" or ", which matches no vss::condition".
inline std::string conditions_of(const std::error_code& ec) {
  std::string names;
  for (condition c : {condition::retryable, condition::retry_after_reconfigure, condition::fatal,
                      condition::timed_out, condition::cancelled}) {
    if (ec == c) {
      if (!names.empty()) names += ", ";
      names += condition_name(c);
    }
  }
  return names.empty() ? "matches no vss::condition" : "matches condition " + names;
}

/// Implementation of IsOk(): `ec.value() == 0`.
class is_ok_matcher {
 public:
  /// Marks this class as a GoogleTest matcher.
  using is_gtest_matcher = void;

  /// True when `ec` has value 0; explains the actual code otherwise.
  bool MatchAndExplain(const std::error_code& ec, ::testing::MatchResultListener* l) const {
    if (ec.value() == 0) return true;
    *l << "which is " << code_name(ec);
    return false;
  }
  /// "is S_OK (no error)".
  void DescribeTo(std::ostream* os) const { *os << "is S_OK (no error)"; }
  /// "isn't S_OK (is an error or a VSS success code such as VSS_S_ASYNC_FINISHED)".
  void DescribeNegationTo(std::ostream* os) const {
    *os << "isn't S_OK (is an error, or a success code such as VSS_S_ASYNC_FINISHED)";
  }
};

/// Implementation of IsVssError(errc).
class is_vss_error_matcher {
 public:
  /// Marks this class as a GoogleTest matcher.
  using is_gtest_matcher = void;

  /// Matches `make_error_code(code)`; errc::ok matches any code with value 0.
  explicit is_vss_error_matcher(errc code) : code_(code) {}

  /// True when `ec` is the expected code; explains the actual code otherwise.
  bool MatchAndExplain(const std::error_code& ec, ::testing::MatchResultListener* l) const {
    const bool match = code_ == errc::ok ? ec.value() == 0 : ec == make_error_code(code_);
    if (!match) *l << "which is " << code_name(ec);
    return match;
  }
  /// "is VSS_E_BAD_STATE (0x80042301)".
  void DescribeTo(std::ostream* os) const { *os << "is " << code_name(code_); }
  /// "isn't VSS_E_BAD_STATE (0x80042301)".
  void DescribeNegationTo(std::ostream* os) const { *os << "isn't " << code_name(code_); }

 private:
  errc code_;
};

/// Implementation of HasCondition(condition).
class has_condition_matcher {
 public:
  /// Marks this class as a GoogleTest matcher.
  using is_gtest_matcher = void;

  /// Matches codes that compare equal to `cond`.
  explicit has_condition_matcher(condition cond) : cond_(cond) {}

  /// True when `ec == cond`; explains which code it was and what it does match.
  bool MatchAndExplain(const std::error_code& ec, ::testing::MatchResultListener* l) const {
    *l << "which is " << code_name(ec) << " and " << conditions_of(ec);
    return ec == cond_;
  }
  /// "matches vss::condition::retryable".
  void DescribeTo(std::ostream* os) const {
    *os << "matches vss::condition::" << condition_name(cond_);
  }
  /// "doesn't match vss::condition::retryable".
  void DescribeNegationTo(std::ostream* os) const {
    *os << "doesn't match vss::condition::" << condition_name(cond_);
  }

 private:
  condition cond_;
};

/// Implementation of WriterStateIs(writer_state).
class writer_state_matcher {
 public:
  /// Marks this class as a GoogleTest matcher.
  using is_gtest_matcher = void;

  /// Matches a writer_status whose `state` is `state`.
  explicit writer_state_matcher(writer_state state) : state_(state) {}

  /// True when `s.state == state`; names the actual state otherwise.
  bool MatchAndExplain(const writer_status& s, ::testing::MatchResultListener* l) const {
    if (s.state == state_) return true;
    *l << "whose state is " << s.state;
    return false;
  }
  /// "is a writer in state VSS_WS_STABLE".
  void DescribeTo(std::ostream* os) const { *os << "is a writer in state " << state_; }
  /// "is a writer not in state VSS_WS_STABLE".
  void DescribeNegationTo(std::ostream* os) const { *os << "is a writer not in state " << state_; }

 private:
  writer_state state_;
};

/// Implementation of WriterFailureIs(errc).
class writer_failure_matcher {
 public:
  /// Marks this class as a GoogleTest matcher.
  using is_gtest_matcher = void;

  /// Matches a writer_status whose `failure` is `code` (errc::ok: no failure).
  explicit writer_failure_matcher(errc code) : code_(code) {}

  /// True when the failure is the expected code; names the actual one otherwise.
  bool MatchAndExplain(const writer_status& s, ::testing::MatchResultListener* l) const {
    return is_vss_error_matcher(code_).MatchAndExplain(s.failure, l);
  }
  /// "is a writer whose failure is VSS_E_WRITERERROR_RETRYABLE (0x800423F3)".
  void DescribeTo(std::ostream* os) const {
    *os << "is a writer whose failure is " << code_name(code_);
  }
  /// "is a writer whose failure isn't VSS_E_WRITERERROR_RETRYABLE (0x800423F3)".
  void DescribeNegationTo(std::ostream* os) const {
    *os << "is a writer whose failure isn't " << code_name(code_);
  }

 private:
  errc code_;
};

/// Prints "Freeze, Thaw" for a list of events; "(none)" when empty.
inline void print_events(const std::vector<writer_event>& events, std::ostream& os) {
  if (events.empty()) {
    os << "(none)";
    return;
  }
  for (std::size_t i = 0; i < events.size(); ++i) os << (i == 0 ? "" : ", ") << events[i];
}

/// Implementation of SawEvents(e1, e2, ...).
class saw_events_matcher {
 public:
  /// Marks this class as a GoogleTest matcher.
  using is_gtest_matcher = void;

  /// Matches exactly `expected`, in order.
  explicit saw_events_matcher(std::vector<writer_event> expected)
      : expected_(std::move(expected)) {}

  /// True when `seen == expected`; otherwise explains where `seen` departs from it.
  bool MatchAndExplain(const std::vector<writer_event>& seen,
                       ::testing::MatchResultListener* l) const {
    if (seen == expected_) return true;
    // GoogleTest already prints the actual list; say where it departs from the expected one.
    const auto n = std::min(seen.size(), expected_.size());
    const auto at = static_cast<std::size_t>(
        std::mismatch(seen.begin(), seen.begin() + static_cast<std::ptrdiff_t>(n),
                      expected_.begin())
            .first -
        seen.begin());
    if (at < n) {
      *l << "whose event #" << at << " is " << seen[at] << " where " << expected_[at]
         << " was expected";
    } else if (seen.size() < expected_.size()) {
      *l << "which lacks the last " << expected_.size() - at << " event(s), from " << expected_[at]
         << " on";
    } else {
      *l << "which has " << seen.size() - at << " extra event(s), from " << seen[at] << " on";
    }
    return false;
  }
  /// "is exactly the events PrepareBackup, PrepareSnapshot, Freeze".
  void DescribeTo(std::ostream* os) const {
    *os << "is exactly the events ";
    print_events(expected_, *os);
  }
  /// "isn't exactly the events PrepareBackup, PrepareSnapshot, Freeze".
  void DescribeNegationTo(std::ostream* os) const {
    *os << "isn't exactly the events ";
    print_events(expected_, *os);
  }

 private:
  std::vector<writer_event> expected_;
};

/// Implementation of SawEvent(e).
class saw_event_matcher {
 public:
  /// Marks this class as a GoogleTest matcher.
  using is_gtest_matcher = void;

  /// Matches a list that contains `e` at least once.
  explicit saw_event_matcher(writer_event e) : event_(e) {}

  /// True when `seen` contains the event (explained with how often, for Not(SawEvent(e))).
  bool MatchAndExplain(const std::vector<writer_event>& seen,
                       ::testing::MatchResultListener* l) const {
    const auto n = std::count(seen.begin(), seen.end(), event_);
    if (n != 0) *l << "which contains " << event_ << ' ' << n << " time(s)";
    return n != 0;
  }
  /// "contains the event Freeze".
  void DescribeTo(std::ostream* os) const { *os << "contains the event " << event_; }
  /// "doesn't contain the event Freeze".
  void DescribeNegationTo(std::ostream* os) const { *os << "doesn't contain the event " << event_; }

 private:
  writer_event event_;
};

}  // namespace detail

/// Matches a std::error_code that is S_OK: value 0, in any category (so both `{}` and
/// `make_error_code(errc::ok)` match). VSS success codes with a non-zero value
/// (VSS_S_ASYNC_FINISHED, VSS_S_ASYNC_CANCELLED, S_FALSE) do not match.
inline detail::is_ok_matcher IsOk() { return detail::is_ok_matcher{}; }

/// Matches a std::error_code equal to `make_error_code(code)`, i.e. the same vss_category()
/// code; described and explained with VSS symbols. IsVssError(errc::ok) is IsOk(). Works for
/// success codes too: `IsVssError(vss::errc::async_finished)` checks an async_op status.
inline detail::is_vss_error_matcher IsVssError(errc code) {
  return detail::is_vss_error_matcher{code};
}

/// Matches a std::error_code that compares equal to `cond` (`ec == cond`), with the mapping of
/// vss/error.hpp: `HasCondition(condition::retryable)` matches VSS_E_WRITERERROR_RETRYABLE,
/// VSS_E_PROVIDER_VETO, ...; the explanation lists every condition the actual code matches.
inline detail::has_condition_matcher HasCondition(condition cond) {
  return detail::has_condition_matcher{cond};
}

/// Matches a std::error_code that reports a cancellation: `ec == condition::cancelled`. That
/// is the one test that is right for every openvss completion, because a stop on request
/// reaches callers in two spellings (vss/error.hpp): VSS_S_ASYNC_CANCELLED
/// (`errc::async_cancelled`, what async_op::query_status() and the session's completion
/// handlers report after AbortBackup or Cancel) and asio::error::operation_aborted / ECANCELED
/// (what Asio-level waits report). Comparing with `errc::async_cancelled` alone would reject
/// the second. Not a failure matcher: cancellation is counted apart from failure.
inline detail::has_condition_matcher IsAborted() {
  return detail::has_condition_matcher{condition::cancelled};
}

/// Matches a vss::writer_status (GetWriterStatus) whose `state` is `state`, e.g.
/// `WriterStateIs(vss::writer_state::failed_at_freeze)` — VSS_WS_FAILED_AT_FREEZE.
inline detail::writer_state_matcher WriterStateIs(writer_state state) {
  return detail::writer_state_matcher{state};
}

/// Matches a vss::writer_status whose `failure` (phResultFailure) is `code`;
/// `WriterFailureIs(errc::ok)` matches a writer without a failure.
inline detail::writer_failure_matcher WriterFailureIs(errc code) {
  return detail::writer_failure_matcher{code};
}

/// Matches a std::vector<vss::writer_event> that is exactly `events...`, element by element,
/// in order. `SawEvents()` with no argument matches an empty list. The explanation names the
/// first event that differs.
detail::saw_events_matcher SawEvents(std::same_as<writer_event> auto... events) {
  return detail::saw_events_matcher{std::vector<writer_event>{events...}};
}

/// As SawEvents(e1, e2, ...), from a list built at run time.
inline detail::saw_events_matcher SawEvents(std::vector<writer_event> events) {
  return detail::saw_events_matcher{std::move(events)};
}

/// Matches a std::vector<vss::writer_event> that contains `event` at least once.
inline detail::saw_event_matcher SawEvent(writer_event event) {
  return detail::saw_event_matcher{event};
}

}  // namespace vss::mocks

namespace vss {

inline void PrintTo(const writer_status& status, std::ostream* os) {
  *os << "writer_status{" << status.name << ", " << status.level << ", " << status.state
      << ", failure " << mocks::code_name(status.failure);
  if (!status.message.empty()) *os << ", message \"" << status.message << '"';
  *os << '}';
}

}  // namespace vss
