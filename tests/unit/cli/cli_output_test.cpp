// What the `openvss` CLI prints from the daemon's frames: text a peer wrote (a writer's name
// or group, a failure message, a provider's name) reaches the operator's terminal escaped, so
// that it cannot drive the terminal or forge a line; --json keeps it as it came.
#include "cli/cli_output.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>

#include "cli/exit_codes.hpp"

namespace vss::cli {
namespace {

using json = nlohmann::json;

// A name that would retitle the terminal (OSC 0), add a row of its own to a table, and show
// "exe.png" as "gnp.exe" (U+202E, right-to-left override).
const std::string evil_name =
    "evil\x1b]0;pwned\x07\nWRITER  [1] stable  ok  S_OK \xE2\x80\xAEgnp.exe";
// evil_name in readable text, escaped (docs/daemon.md, Logs).
constexpr std::string_view evil_as_text =
    "evil\\x1b]0;pwned\\x07\\nWRITER  [1] stable  ok  S_OK \\u202egnp.exe";
// evil_name inside JSON shown to the operator: JSON's own escapes, and \uNNNN for the rest.
constexpr std::string_view evil_as_json =
    "evil\\u001b]0;pwned\\u0007\\nWRITER  [1] stable  ok  S_OK \\u202egnp.exe";

const std::string utf8_name = "Écriture ✓";

std::size_t count(std::string_view text, std::string_view what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string_view::npos; at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

bool has_bidi_override(std::string_view text) { return text.find("\xE2\x80\xAE") != text.npos; }

// A `status` reply as openvssd sends it: one writer process with one writer, one provider.
json status_reply(const std::string& writer_name, const std::string& provider_name) {
  const json writer = {{"instance_id", "11111111-1111-1111-1111-111111111111"},
                       {"name", writer_name},
                       {"group", writer_name},
                       {"events", 3},
                       {"last_error", "S_OK"},
                       {"lease_expirations", 0}};
  const json result = {
      {"daemon", "openvssd"},
      {"pid", 42},
      {"peers", json::array({{{"pid", 43}, {"role", "writer"}, {"writers", {writer}}}})},
      {"providers", json::array({{{"id", "22222222-2222-2222-2222-222222222222"},
                                  {"name", provider_name},
                                  {"type", "software"},
                                  {"version", "1.0"}}})},
      {"running", json::array()}};
  return {{"type", "reply"}, {"result", result}};
}

struct printed {
  int exit_code = 0;
  std::string out;
  std::string err;
};

printed print(const std::string& op, const json& frame, output_style style = {}) {
  std::ostringstream out, err;
  const int code = print_outcome(op, frame, style, out, err);
  return {code, out.str(), err.str()};
}

TEST(CliOutput, StatusShowsAPeersNamesEscaped) {
  const auto p = print("status", status_reply(evil_name, evil_name));
  EXPECT_EQ(p.out.find('\x1b'), std::string::npos) << p.out;
  EXPECT_EQ(p.out.find('\x07'), std::string::npos) << p.out;
  EXPECT_FALSE(has_bidi_override(p.out)) << p.out;
  // The line feed forged no line: daemon, pid, peers, providers + its table's two rows, running.
  EXPECT_EQ(count(p.out, "\n"), 7u) << p.out;
  EXPECT_EQ(count(p.out, "WRITER  [1]"), 3u) << "all inside the escaped names: " << p.out;
  // The writer's name and group, in the peers' JSON; the provider's name, in its table.
  EXPECT_EQ(count(p.out, "\"name\":\"" + std::string(evil_as_json) + "\""), 1u) << p.out;
  EXPECT_EQ(count(p.out, "\"group\":\"" + std::string(evil_as_json) + "\""), 1u) << p.out;
  EXPECT_NE(p.out.find("\n  " + std::string(evil_as_text) + "  software  1.0  "), std::string::npos)
      << p.out;
}

TEST(CliOutput, StatusKeepsOrdinaryUtf8AsItIs) {
  const auto p = print("status", status_reply(utf8_name, utf8_name));
  EXPECT_EQ(count(p.out, "\"name\":\"" + utf8_name + "\""), 1u) << p.out;
  EXPECT_NE(p.out.find("\n  " + utf8_name + "  software  1.0  "), std::string::npos) << p.out;
  EXPECT_EQ(p.out.find('\\'), std::string::npos) << "nothing escaped: " << p.out;
}

TEST(CliOutput, ColoursStillComeFromTheCliOnly) {
  const auto p = print("status", status_reply(evil_name, evil_name), {.color = true});
  // Bold and reset around the provider table's header are the only escape sequences.
  EXPECT_NE(p.out.find("\x1b[1mPROVIDER"), std::string::npos) << p.out;
  EXPECT_EQ(count(p.out, "\x1b"), count(p.out, "\x1b[1m") + count(p.out, "\x1b[0m")) << p.out;
  EXPECT_EQ(count(p.out, "\x1b[1m"), 1u) << p.out;
}

TEST(CliOutput, WritersTableHasOneRowPerWriter) {
  const json writer = {{"name", evil_name},
                       {"state", 1},
                       {"state_text", "stable"},
                       {"last_error", "S_OK"},
                       {"last_error_text", "ok"},
                       {"level", 0},
                       {"instance_id", "11111111-1111-1111-1111-111111111111"}};
  const auto p =
      print("writers", {{"type", "reply"}, {"result", {{"writers", json::array({writer})}}}});
  EXPECT_EQ(count(p.out, "\n"), 2u) << "the header and one row: " << p.out;
  EXPECT_EQ(p.out.find(std::string(evil_as_text) + "  [1] stable"), p.out.find('\n') + 1) << p.out;
}

TEST(CliOutput, JsonKeepsThePeersTextAsItCame) {
  const auto p = print("status", status_reply(evil_name, evil_name), {.json = true});
  const auto doc = json::parse(p.out);
  EXPECT_EQ(doc["result"]["peers"][0]["writers"][0]["name"], evil_name);
  EXPECT_EQ(doc["result"]["providers"][0]["name"], evil_name);
}

TEST(CliOutput, AnErrorsMessageIsEscapedExceptInJson) {
  const json frame = {{"type", "error"},
                      {"code", "vss"},
                      {"hresult", "VSS_E_WRITERERROR_RETRYABLE"},
                      {"message", "writer " + evil_name + " vetoed"}};
  const auto p = print("backup", frame);
  EXPECT_EQ(p.err, "openvss backup: VSS_E_WRITERERROR_RETRYABLE: writer " +
                       std::string(evil_as_text) + " vetoed\n");
  const auto j = print("backup", frame, {.json = true});
  EXPECT_EQ(json::parse(j.out)["error"]["message"], "writer " + evil_name + " vetoed");
  EXPECT_EQ(j.exit_code, p.exit_code);
}

TEST(CliOutput, ProgressShowsAWritersFailureEscaped) {
  const json finished = {
      {"phase", "Freeze"},
      {"step", "finished"},
      {"hresult", "VSS_E_WRITERERROR_RETRYABLE"},
      {"duration_us", 1500},
      {"reports",
       json::array({{{"event", "Freeze"},
                     {"results", json::array({{{"writer", evil_name},
                                               {"outcome", "failed"},
                                               {"hresult", "VSS_E_WRITERERROR_RETRYABLE"},
                                               {"message", evil_name}}})}}})}};
  std::ostringstream out, err;
  progress_printer progress({}, out, err);
  progress({{"phase", "Freeze"}, {"step", "event"}, {"writer", evil_name}, {"event", "Freeze"}});
  progress(finished);
  const auto text = out.str();
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_FALSE(has_bidi_override(text)) << text;
  EXPECT_EQ(count(text, "\n"), 3u) << "event, finished, the failed writer: " << text;
  EXPECT_NE(text.find("  " + std::string(evil_as_text) + " received Freeze\n"), std::string::npos)
      << text;
  EXPECT_NE(
      text.find(std::string(evil_as_text) + "  Freeze  failed  VSS_E_WRITERERROR_RETRYABLE  " +
                std::string(evil_as_text) + "\n"),
      std::string::npos)
      << text;
}

TEST(CliOutput, ACliFailureIsEscaped) {
  std::ostringstream out, err;
  print_failure("status", cli_error(exit_code::unreachable, "protocol error: got " + evil_name), {},
                out, err);
  EXPECT_EQ(err.str(), "openvss status: protocol error: got " + std::string(evil_as_text) + "\n");
}

TEST(CliOutput, AJsonFailureWhoseMessageIsNotUtf8IsStillJson) {
  // A protocol error's detail can quote the daemon's bytes as they came: --json must still
  // write a document (with U+FFFD for them), not end the process from the error handler.
  std::ostringstream out, err;
  output_style json_style;
  json_style.json = true;
  EXPECT_NO_THROW(print_failure("status", cli_error(exit_code::unreachable, "bad frame \xff\xfe"),
                                json_style, out, err));
  const auto doc = nlohmann::json::parse(out.str());
  EXPECT_EQ(doc["error"]["message"], "bad frame \ufffd\ufffd");
}

}  // namespace
}  // namespace vss::cli
