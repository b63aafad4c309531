// openvssd's log escaping: a peer's text cannot make one record two lines, or hide bytes.
#include "daemon/log_text.hpp"

#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <asio/multiple_exceptions.hpp>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

namespace vss::daemon {
namespace {

TEST(EscapeLogText, KeepsPrintableAsciiAndUtf8AsTheyAre) {
  EXPECT_EQ(escape_log_text("writer 'sql-01' (pid 42): ok"), "writer 'sql-01' (pid 42): ok");
  EXPECT_EQ(escape_log_text("Zürich \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x92\xBE"),
            "Zürich \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x92\xBE");
  EXPECT_EQ(escape_log_text(""), "");
}

TEST(EscapeLogText, EscapesLineBreaksTabsAndTheBackslash) {
  EXPECT_EQ(escape_log_text("a\nb\rc\td"), "a\\nb\\rc\\td");
  // Escaped itself, so that a literal "\n" in a name is told apart from a line feed.
  EXPECT_EQ(escape_log_text("C:\\n"), "C:\\\\n");
}

TEST(EscapeLogText, EscapesOtherControlsAndMalformedBytesAsHex) {
  EXPECT_EQ(escape_log_text(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(escape_log_text("\x1b[31mred"), "\\x1b[31mred");
  EXPECT_EQ(escape_log_text("del\x7f"), "del\\x7f");
  EXPECT_EQ(escape_log_text("\xC3"), "\\xc3");                    // truncated sequence
  EXPECT_EQ(escape_log_text("\xC0\xAF"), "\\xc0\\xaf");           // overlong '/'
  EXPECT_EQ(escape_log_text("\xED\xA0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(escape_log_text("\xFF ok"), "\\xff ok");
  EXPECT_EQ(escape_log_text("\x80"), "\\x80");                             // lone continuation
  EXPECT_EQ(escape_log_text("\xF4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // past U+10FFFF
  EXPECT_EQ(escape_log_text("\xF5"), "\\xf5");
  // A truncated sequence costs only its own bytes: the ASCII after it is kept.
  EXPECT_EQ(escape_log_text("\xE2\x80"
                            "A"),
            "\\xe2\\x80A");
}

TEST(EscapeLogText, EscapesC1ControlsAndUnicodeLineSeparators) {
  EXPECT_EQ(escape_log_text("a\xC2\x85z"), "a\\u0085z");  // NEL
  EXPECT_EQ(escape_log_text("\xC2\x9B"), "\\u009b");      // CSI
  EXPECT_EQ(escape_log_text("\xE2\x80\xA8|\xE2\x80\xA9"), "\\u2028|\\u2029");
  EXPECT_EQ(escape_log_text("\xC2\xA0"), "\xC2\xA0");  // U+00A0, the first after C1, is kept
  EXPECT_EQ(escape_log_text("\xE2\x80\xA7"), "\xE2\x80\xA7");  // U+2027, just before, is kept
  // The text "\u2028" from a peer is told apart from the escape of U+2028.
  EXPECT_EQ(escape_log_text("\\u2028"), "\\\\u2028");
}

TEST(EscapeLogText, EscapesBidirectionalControls) {
  // U+202E (right-to-left override) would show "gnp.exe" of "exe.png" on a terminal.
  EXPECT_EQ(escape_log_text("a\xE2\x80\xAEz"), "a\\u202ez");
  EXPECT_EQ(escape_log_text("\xE2\x80\xAA\xE2\x81\xA6\xE2\x81\xA9\xE2\x80\x8E\xE2\x80\x8F\xD8\x9C"),
            "\\u202a\\u2066\\u2069\\u200e\\u200f\\u061c");
  EXPECT_EQ(escape_log_text("\xE2\x81\xA5|\xE2\x81\xAA"),
            "\xE2\x81\xA5|\xE2\x81\xAA");  // U+2065, U+206A
}

// The formatter openvssd installs: a forged record stays inside the real one.
TEST(LogFormatter, OneRecordIsOneLineWhateverItsArguments) {
  std::ostringstream written;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(written);
  spdlog::logger log("test", sink);
  log.set_formatter(make_log_formatter("[%l] %q"));
  const std::string name = "evil\n2026-11-28T00:00:00.000 info openvssd[1]: event=8193 forged";
  log.warn("event={} writer '{}' rejected an event", 8301, name);
  const auto text = written.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_EQ(text,
            "[warning] event=8301 writer 'evil\\n2026-11-28T00:00:00.000 info openvssd[1]: "
            "event=8193 forged' rejected an event\n");
}

TEST(LogFormatter, KeepsTheRestOfThePattern) {
  std::ostringstream written;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(written);
  spdlog::logger log("test", sink);
  log.set_formatter(make_log_formatter("%n %l: %q %%"));
  log.info("plain text");
  EXPECT_EQ(written.str(), "test info: plain text %\n");
}

TEST(DescribeException, GivesAStandardExceptionsWhat) {
  EXPECT_EQ(describe_exception(std::make_exception_ptr(std::runtime_error("disk gone"))),
            "disk gone");
}

TEST(DescribeException, GivesTheFirstOfSeveralThatAsioGathered) {
  // Asio's own what() for these is "multiple exceptions", which would tell the log nothing.
  const auto several = std::make_exception_ptr(
      asio::multiple_exceptions(std::make_exception_ptr(std::logic_error("first handler"))));
  EXPECT_EQ(describe_exception(several),
            "first handler (the first of several thrown in one handler's run)");
}

TEST(DescribeException, NamesWhatIsNotAStandardException) {
  EXPECT_EQ(describe_exception(std::make_exception_ptr(42)),
            "an exception that is not a std::exception");
  EXPECT_EQ(describe_exception(nullptr), "no exception");
}

}  // namespace
}  // namespace vss::daemon
