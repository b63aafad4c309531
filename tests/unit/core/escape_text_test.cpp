// core/escape_text.hpp on JSON text: what the CLI shows of a value it prints as JSON stays the
// same JSON. (Plain text is tested through openvssd's log, tests/unit/daemon/log_text_test.cpp.)
#include "core/escape_text.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using vss::detail::escape_text;
using vss::detail::text_kind;

TEST(EscapeJsonText, KeepsJsonsOwnEscapesAndUtf8) {
  const std::string json = R"({"name":"a\\b \"q\" \n\u001b \u00c9","x":[1,2]})";
  EXPECT_EQ(escape_text(json, text_kind::json), json);
  EXPECT_EQ(escape_text("\"Écriture ✓\"", text_kind::json), "\"Écriture ✓\"");
}

TEST(EscapeJsonText, WritesWhatJsonLeavesAsItIsAsJsonEscapes) {
  // DEL, a C1 control, a line separator and a bidi control: nlohmann::json writes them raw.
  EXPECT_EQ(escape_text("\"a\x7f"
                        "b\xC2\x9B"
                        "c\xE2\x80\xA8"
                        "d\xE2\x80\xAE"
                        "e\"",
                        text_kind::json),
            R"("a\u007fb\u009bc\u2028d\u202ee")");
  // A raw control is not JSON text, but is escaped as JSON would escape it.
  EXPECT_EQ(escape_text("\"\x1b\n\"", text_kind::json), R"("\u001b\n")");
}

TEST(EscapeJsonText, PlainTextStillDoublesTheBackslash) {
  EXPECT_EQ(escape_text(R"(a\u001b)"), R"(a\\u001b)");
  EXPECT_EQ(escape_text("a\x7f"), R"(a\x7f)");
}

}  // namespace
