#include "ipc/message.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "ipc/protocol_error.hpp"
#include "vss/error.hpp"
#include "vss/id.hpp"
#include "vss/types.hpp"
#include "vss/writer.hpp"

namespace {

using nlohmann::json;
using vss::ipc::decode_message;
using vss::ipc::encode_message;
using vss::ipc::message;
using vss::ipc::message_type;
using vss::ipc::protocol_errc;

constexpr const char* k_guid_a = "{00112233-4455-6677-8899-aabbccddeeff}";
constexpr const char* k_guid_b = "{ffeeddcc-bbaa-9988-7766-554433221100}";

struct decoded {
  std::error_code ec;
  std::string detail;
  message msg;
};

decoded decode(std::string_view payload) {
  decoded d;
  d.ec = decode_message(payload, d.msg, d.detail);
  return d;
}

decoded decode_body(const json& body) { return decode(std::string_view(body.dump())); }

json identity_json() {
  return {{"class_id", k_guid_a}, {"instance_id", k_guid_b},
          {"name", "pg"},         {"instance_name", "main"},
          {"usage", 3},           {"source", 1},
          {"level", 2},           {"freeze_timeout_ms", 60000}};
}

json component_json() {
  return {
      {"type", 1},          {"logical_path", "db"},       {"name", "main"},  {"caption", "Main DB"},
      {"selectable", true}, {"files", {"/var/lib/pg/*"}}, {"volumes", {"/"}}};
}

json selected_json() {
  return {{"type", 2}, {"logical_path", ""}, {"name", "logs"}, {"backup_succeeded", false}};
}

// One message type: a valid body, its required fields with a value of the wrong JSON type
// for each, and its optional fields.
struct schema_case {
  std::string type;
  json valid;
  std::vector<std::pair<std::string, json>> required;
  std::vector<std::string> optional;
};

std::vector<schema_case> schema_cases() {
  return {
      {"hello",
       {{"type", "hello"}, {"version", 1}, {"role", "writer"}, {"client", "pg-writer"}},
       {{"version", "1"}, {"role", 1}},
       {"client"}},
      {"welcome",
       {{"type", "welcome"},
        {"version", 1},
        {"server", "openvssd 0.1"},
        {"pid", 4242},
        {"heartbeat_ms", 1000}},
       {{"version", 1.5}, {"server", json::array()}, {"pid", "4242"}, {"heartbeat_ms", true}},
       {}},
      {"error",
       {{"type", "error"},
        {"code", "vss_error"},
        {"message", "writer vetoed"},
        {"hresult", "VSS_E_WRITERERROR_RETRYABLE"},
        {"ref", 7}},
       {{"code", 3}, {"message", nullptr}},
       {"hresult", "ref"}},
      {"register",
       {{"type", "register"}, {"id", 1}, {"writer", identity_json()}, {"group", "host-7"}},
       {{"id", "1"}, {"writer", "pg"}},
       {"group"}},
      {"registered",
       {{"type", "registered"}, {"id", 1}, {"instance_id", k_guid_b}, {"group", "host-7"}},
       {{"id", -1}, {"instance_id", 5}},
       {"group"}},
      {"unregister",
       {{"type", "unregister"}, {"instance_id", k_guid_b}},
       {{"instance_id", true}},
       {}},
      {"event",
       {{"type", "event"},
        {"seq", 12},
        {"instance_id", k_guid_b},
        {"event", "freeze"},
        {"set", k_guid_a},
        {"backup_type", 1},
        {"components_selected", true},
        {"components", {selected_json()}},
        {"volumes", {"/", "/var"}}},
       {{"seq", "12"},
        {"instance_id", 1},
        {"event", 3},
        {"set", json::object()},
        {"backup_type", "full"},
        {"components_selected", 1},
        {"components", json::object()},
        {"volumes", "/"}},
       {}},
      {"result",
       {{"type", "result"},
        {"seq", 12},
        {"outcome", "fail"},
        {"hresult", "VSS_E_WRITERERROR_RETRYABLE"},
        {"message", "checkpoint failed"},
        {"metadata", {{"components", {component_json()}}, {"excludes", {"/tmp/*"}}}}},
       {{"seq", 1.0}, {"outcome", true}, {"hresult", 0x800423F3}},
       {"message", "metadata"}},
      {"heartbeat", {{"type", "heartbeat"}}, {}, {}},
      {"lease_expired",
       {{"type", "lease_expired"},
        {"instance_id", k_guid_b},
        {"set", k_guid_a},
        {"event", "freeze"}},
       {{"instance_id", nullptr}, {"set", 0}, {"event", json::array()}},
       {}},
      {"request",
       {{"type", "request"}, {"id", 5}, {"op", "backup"}, {"args", {{"volumes", {"/"}}}}},
       {{"id", "5"}, {"op", 1}},
       {"args"}},
      {"progress",
       {{"type", "progress"},
        {"id", 5},
        {"phase", "freeze"},
        {"writer", "pg"},
        {"state", 9},
        {"hresult", "VSS_E_WRITERERROR_TIMEOUT"},
        {"message", "too slow"}},
       {{"id", true}, {"phase", 2}},
       {"writer", "state", "hresult", "message"}},
      {"reply",
       {{"type", "reply"}, {"id", 5}, {"result", {{"snapshots", 2}}}},
       {{"id", nullptr}, {"result", "ok"}},
       {}},
  };
}

// Names the case in failure messages instead of dumping its bytes.
void PrintTo(const schema_case& c, std::ostream* os) { *os << c.type; }

class MessageSchema : public testing::TestWithParam<schema_case> {};

TEST_P(MessageSchema, AValidBodyDecodesAndRoundTrips) {
  const schema_case& c = GetParam();
  decoded d = decode_body(c.valid);
  ASSERT_FALSE(d.ec) << d.detail;
  EXPECT_EQ(d.detail, "");
  EXPECT_EQ(vss::ipc::to_string(d.msg.type), c.type);
  EXPECT_EQ(d.msg.body, c.valid);

  decoded again = decode(std::string_view(encode_message(d.msg.body)));
  ASSERT_FALSE(again.ec) << again.detail;
  EXPECT_EQ(again.msg.type, d.msg.type);
  EXPECT_EQ(again.msg.body, d.msg.body);
}

TEST_P(MessageSchema, EachRequiredFieldIsNamedWhenMissing) {
  const schema_case& c = GetParam();
  for (const auto& [field, wrong] : c.required) {
    json body = c.valid;
    body.erase(field);
    decoded d = decode_body(body);
    EXPECT_EQ(d.ec, protocol_errc::bad_message) << field;
    EXPECT_EQ(d.detail.rfind("missing field '" + field + "'", 0), 0u) << d.detail;
  }
}

TEST_P(MessageSchema, EachRequiredFieldIsNamedWhenItHasTheWrongJsonType) {
  const schema_case& c = GetParam();
  for (const auto& [field, wrong] : c.required) {
    json body = c.valid;
    body[field] = wrong;
    decoded d = decode_body(body);
    EXPECT_EQ(d.ec, protocol_errc::bad_message) << field << " = " << wrong.dump();
    EXPECT_EQ(d.detail.rfind("field '" + field + "' must be ", 0), 0u) << d.detail;
  }
}

TEST_P(MessageSchema, EachOptionalFieldMayBeLeftOut) {
  const schema_case& c = GetParam();
  for (const std::string& field : c.optional) {
    json body = c.valid;
    ASSERT_TRUE(body.contains(field)) << field;
    body.erase(field);
    decoded d = decode_body(body);
    EXPECT_FALSE(d.ec) << field << ": " << d.detail;
  }
}

TEST_P(MessageSchema, UnknownFieldsAreIgnoredAndKept) {
  json body = GetParam().valid;
  body["x_future_field"] = {{"nested", {1, 2, 3}}};
  decoded d = decode_body(body);
  ASSERT_FALSE(d.ec) << d.detail;
  EXPECT_EQ(d.msg.body.at("x_future_field").at("nested").size(), 3u);
}

TEST(MessageRegister, APlacementGroupMustBeAShortPrintableString) {
  for (const char* type : {"register", "registered"}) {
    json body = {{"type", type}, {"id", 1}};
    if (std::string_view(type) == "register") {
      body["writer"] = identity_json();
    } else {
      body["instance_id"] = k_guid_b;
    }
    body["group"] = std::string(vss::ipc::max_group_bytes, 'g');
    EXPECT_FALSE(decode_body(body).ec) << type;
    body["group"] = "";  // the same as no group
    EXPECT_FALSE(decode_body(body).ec) << type;
    for (const json& bad :
         {json(std::string(vss::ipc::max_group_bytes + 1, 'g')), json("host-7\nevent=8300 forged"),
          json("tab\there"), json("nel\u0085")}) {
      body["group"] = bad;
      decoded d = decode_body(body);
      EXPECT_EQ(d.ec, protocol_errc::bad_message) << type << " " << bad.dump();
      EXPECT_EQ(d.detail.rfind("field 'group' must be UTF-8 of at most 256 bytes", 0), 0u)
          << d.detail;
    }
    body["group"] = 7;
    decoded d = decode_body(body);
    EXPECT_EQ(d.ec, protocol_errc::bad_message) << type;
    EXPECT_EQ(d.detail.rfind("field 'group' must be a string", 0), 0u) << d.detail;
  }
}

TEST(PlacementGroup, IsValidGroupWantsShortWellFormedUtf8WithoutControlCharacters) {
  using vss::ipc::is_valid_group;
  EXPECT_TRUE(is_valid_group(""));
  EXPECT_TRUE(is_valid_group("host-7"));
  EXPECT_TRUE(is_valid_group("h\xc3\xb4te-7"));          // hôte-7
  EXPECT_TRUE(is_valid_group("\xe6\x9c\xba"));           // a 3-byte character
  EXPECT_TRUE(is_valid_group("\xf0\x9f\x92\xbe disk"));  // a 4-byte character
  EXPECT_TRUE(is_valid_group(std::string(vss::ipc::max_group_bytes, 'g')));
  EXPECT_FALSE(is_valid_group(std::string(vss::ipc::max_group_bytes + 1, 'g')));
  EXPECT_FALSE(is_valid_group("a\nb"));
  EXPECT_FALSE(is_valid_group("a\x7f"));
  EXPECT_FALSE(is_valid_group("a\xc2\x85"));         // NEL, a C1 control
  EXPECT_FALSE(is_valid_group("a\xff"));             // not UTF-8
  EXPECT_FALSE(is_valid_group("a\xc3"));             // truncated
  EXPECT_FALSE(is_valid_group("\xc0\x80"));          // overlong
  EXPECT_FALSE(is_valid_group("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(is_valid_group("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(is_valid_group(std::string_view("a\0b", 3)));
}

INSTANTIATE_TEST_SUITE_P(EveryType, MessageSchema, testing::ValuesIn(schema_cases()),
                         [](const testing::TestParamInfo<schema_case>& param) {
                           return param.param.type;
                         });

TEST(MessageSchema, CoversEveryMessageType) {
  std::vector<std::string> covered;
  for (const auto& c : schema_cases()) covered.push_back(c.type);
  for (int t = 0; t <= static_cast<int>(message_type::reply); ++t) {
    const std::string name(vss::ipc::to_string(static_cast<message_type>(t)));
    EXPECT_NE(std::find(covered.begin(), covered.end(), name), covered.end()) << name;
  }
}

// ---- envelope errors ----

TEST(DecodeMessage, TextThatIsNotJsonIsBadJson) {
  for (std::string_view bad : {"{", "{\"type\":}", "hello", "{\"type\":\"hello\"} trailing", "{}{}",
                               "{'type':'hello'}", "{\"type\":\"hello\",}"}) {
    decoded d = decode(bad);
    EXPECT_EQ(d.ec, protocol_errc::bad_json) << bad;
    EXPECT_EQ(d.detail.rfind("invalid JSON: ", 0), 0u) << d.detail;
  }
}

TEST(DecodeMessage, InvalidUtf8IsBadJson) {
  decoded d = decode(std::string_view("{\"type\":\"hel\xff\"}"));
  EXPECT_EQ(d.ec, protocol_errc::bad_json);
}

TEST(DecodeMessage, AnOutOfRangeNumberIsBadJson) {
  decoded d = decode(std::string_view(R"({"type":"heartbeat","x":1e400})"));
  EXPECT_EQ(d.ec, protocol_errc::bad_json);
}

TEST(DecodeMessage, JsonThatIsNotAnObjectIsNotAnObject) {
  for (std::string_view bad : {"[]", "[{\"type\":\"hello\"}]", "\"hello\"", "42", "null", "true"}) {
    decoded d = decode(bad);
    EXPECT_EQ(d.ec, protocol_errc::not_an_object) << bad;
    EXPECT_NE(d.detail.find("not an object"), std::string::npos) << d.detail;
  }
}

TEST(DecodeMessage, AnObjectWithoutTypeIsMissingType) {
  decoded d = decode(std::string_view(R"({"version":1,"role":"writer"})"));
  EXPECT_EQ(d.ec, protocol_errc::missing_type);
  EXPECT_EQ(d.detail, "missing field 'type'");
}

TEST(DecodeMessage, ATypeThatIsNotAStringIsMissingType) {
  decoded d = decode(std::string_view(R"({"type":1})"));
  EXPECT_EQ(d.ec, protocol_errc::missing_type);
  EXPECT_EQ(d.detail, "field 'type' must be a string");
}

TEST(DecodeMessage, AnUnknownTypeIsUnknownTypeAndQuoted) {
  decoded d = decode(std::string_view(R"({"type":"goodbye"})"));
  EXPECT_EQ(d.ec, protocol_errc::unknown_type);
  EXPECT_EQ(d.detail, "unknown message type \"goodbye\"");
}

TEST(DecodeMessage, TypeNamesAreCaseSensitive) {
  EXPECT_EQ(decode(std::string_view(R"({"type":"Heartbeat"})")).ec, protocol_errc::unknown_type);
}

TEST(DecodeMessage, AVeryLongUnknownTypeIsClippedInTheDetail) {
  json body = {{"type", std::string(10000, 't')}};
  decoded d = decode_body(body);
  EXPECT_EQ(d.ec, protocol_errc::unknown_type);
  EXPECT_LT(d.detail.size(), 200u);
}

TEST(DecodeMessage, AFailureLeavesTheOutputMessageUntouched) {
  message out;
  out.type = message_type::reply;
  out.body = {{"keep", 1}};
  std::string detail;
  EXPECT_EQ(decode_message(R"({"type":"hello"})", out, detail), protocol_errc::bad_message);
  EXPECT_EQ(out.type, message_type::reply);
  EXPECT_EQ(out.body, (json{{"keep", 1}}));
}

TEST(DecodeMessage, SuccessClearsAnEarlierDetail) {
  message out;
  std::string detail = "stale";
  EXPECT_FALSE(decode_message(R"({"type":"heartbeat"})", out, detail));
  EXPECT_EQ(detail, "");
  EXPECT_EQ(out.type, message_type::heartbeat);
}

// ---- nesting ----

std::string nested_request(std::size_t args_depth) {
  // The top-level object is level 1; "args" adds args_depth more.
  std::string args;
  for (std::size_t i = 1; i < args_depth; ++i) args += R"({"a":)";
  args += "{}";
  args += std::string(args_depth - 1, '}');
  return R"({"type":"request","id":1,"op":"x","args":)" + args + "}";
}

TEST(DecodeMessage, NestingOf64LevelsIsAccepted) {
  decoded d = decode(std::string_view(nested_request(63)));
  EXPECT_FALSE(d.ec) << d.detail;
}

TEST(DecodeMessage, NestingOf65LevelsIsBadJson) {
  decoded d = decode(std::string_view(nested_request(64)));
  EXPECT_EQ(d.ec, protocol_errc::bad_json);
  EXPECT_EQ(d.detail, "JSON nests deeper than 64 levels");
}

TEST(DecodeMessage, AMebibyteOfOpenBracketsIsBadJson) {
  const std::string deep(std::size_t{1} << 20, '[');
  EXPECT_EQ(decode(std::string_view(deep)).ec, protocol_errc::bad_json);
}

TEST(DecodeMessage, ADeepButBalancedDocumentIsBadJson) {
  const std::size_t n = 200000;
  const std::string deep =
      R"({"type":"heartbeat","x":)" + std::string(n, '[') + std::string(n, ']') + "}";
  EXPECT_EQ(decode(std::string_view(deep)).ec, protocol_errc::bad_json);
}

TEST(DecodeMessage, BracketsInsideStringsAreNotNesting) {
  json body = {{"type", "hello"},
               {"version", 1},
               {"role", "writer"},
               {"client", std::string(100, '[') + "\\\"" + std::string(100, '{')}};
  decoded d = decode_body(body);
  EXPECT_FALSE(d.ec) << d.detail;
}

// ---- field values ----

json valid_event() {
  return {{"type", "event"},
          {"seq", 12},
          {"instance_id", k_guid_b},
          {"event", "freeze"},
          {"set", k_guid_a},
          {"backup_type", 1},
          {"components_selected", true},
          {"components", {selected_json()}},
          {"volumes", {"/", "/var"}}};
}

json valid_result() { return {{"type", "result"}, {"seq", 3}, {"outcome", "complete"}}; }

TEST(DecodeMessage, SeqMustBeANonNegativeInteger) {
  for (const json& bad : {json(-1), json(1.5), json("1"),
                          json(std::numeric_limits<std::uint64_t>::max()), json(nullptr)}) {
    json body = valid_event();
    body["seq"] = bad;
    decoded d = decode_body(body);
    EXPECT_EQ(d.ec, protocol_errc::bad_message) << bad.dump();
    EXPECT_EQ(d.detail, "field 'seq' must be a non-negative integer") << bad.dump();
  }
}

TEST(DecodeMessage, SeqMayBeZeroOrTheLargestInt64) {
  for (const json& ok : {json(0), json(std::numeric_limits<std::int64_t>::max())}) {
    json body = valid_event();
    body["seq"] = ok;
    EXPECT_FALSE(decode_body(body).ec) << ok.dump();
  }
}

TEST(DecodeMessage, EveryEventNameIsAccepted) {
  for (const char* name : {"identify", "prepare_backup", "prepare_snapshot", "freeze", "thaw",
                           "post_snapshot", "abort", "backup_complete", "backup_shutdown"}) {
    json body = valid_event();
    body["event"] = name;
    EXPECT_FALSE(decode_body(body).ec) << name;
  }
}

TEST(DecodeMessage, AnUnknownEventNameIsABadMessageListingTheNames) {
  for (const char* name : {"Freeze", "snapshot", "", "OnFreeze"}) {
    json body = valid_event();
    body["event"] = name;
    decoded d = decode_body(body);
    EXPECT_EQ(d.ec, protocol_errc::bad_message) << name;
    EXPECT_EQ(d.detail.rfind("field 'event' must be an event name (identify, ", 0), 0u) << d.detail;
  }
}

TEST(DecodeMessage, AGuidThatDoesNotParseIsABadMessage) {
  for (const char* bad :
       {"not-a-guid", "{00112233-4455-6677-8899-aabbccddeeff", "",
        "00112233445566778899aabbccddeeff", "{00112233-4455-6677-8899-aabbccddeefg}"}) {
    json body = valid_event();
    body["instance_id"] = bad;
    decoded d = decode_body(body);
    EXPECT_EQ(d.ec, protocol_errc::bad_message) << bad;
    EXPECT_EQ(d.detail.rfind("field 'instance_id' must be a GUID string", 0), 0u) << d.detail;
  }
}

TEST(DecodeMessage, AGuidWithoutBracesOrInUpperCaseIsAccepted) {
  json body = valid_event();
  body["set"] = "00112233-4455-6677-8899-AABBCCDDEEFF";
  EXPECT_FALSE(decode_body(body).ec);
}

TEST(DecodeMessage, ABackupTypeOutsideVssBackupTypeIsABadMessage) {
  for (int bad : {-1, 7}) {
    json body = valid_event();
    body["backup_type"] = bad;
    decoded d = decode_body(body);
    EXPECT_EQ(d.ec, protocol_errc::bad_message);
    EXPECT_EQ(d.detail, "field 'backup_type' must be a VSS_BACKUP_TYPE value (0..6)");
  }
}

TEST(DecodeMessage, AnEventComponentIsCheckedFieldByField) {
  json body = valid_event();
  body["components"].push_back(selected_json());
  body["components"][1].erase("name");
  decoded d = decode_body(body);
  EXPECT_EQ(d.ec, protocol_errc::bad_message);
  EXPECT_EQ(d.detail, "missing field 'components[1].name'");

  body = valid_event();
  body["components"][0]["type"] = 3;
  d = decode_body(body);
  EXPECT_EQ(d.detail, "field 'components[0].type' must be a VSS_COMPONENT_TYPE value (0..2)");

  body = valid_event();
  body["components"][0] = "logs";
  d = decode_body(body);
  EXPECT_EQ(d.detail, "field 'components[0]' must be an object");
}

TEST(DecodeMessage, EventVolumesMustAllBeStrings) {
  json body = valid_event();
  body["volumes"] = {"/", 2};
  decoded d = decode_body(body);
  EXPECT_EQ(d.ec, protocol_errc::bad_message);
  EXPECT_EQ(d.detail, "field 'volumes[1]' must be a string");
}

TEST(DecodeMessage, AResultOutcomeMustBeCompleteOrFail) {
  json body = valid_result();
  body["outcome"] = "failed";
  decoded d = decode_body(body);
  EXPECT_EQ(d.ec, protocol_errc::bad_message);
  EXPECT_EQ(d.detail, "field 'outcome' must be \"complete\" or \"fail\"");
}

TEST(DecodeMessage, AFailedResultNeedsAnHresult) {
  json body = valid_result();
  body["outcome"] = "fail";
  decoded d = decode_body(body);
  EXPECT_EQ(d.ec, protocol_errc::bad_message);
  EXPECT_EQ(d.detail, "missing field 'hresult' (required with outcome \"fail\")");
}

TEST(DecodeMessage, AnHresultMustBeAKnownVssSymbol) {
  json body = valid_result();
  body["outcome"] = "fail";
  body["hresult"] = "VSS_E_NO_SUCH_THING";
  decoded d = decode_body(body);
  EXPECT_EQ(d.ec, protocol_errc::bad_message);
  EXPECT_EQ(d.detail, "field 'hresult' must be a known VSS symbol such as \"VSS_E_BAD_STATE\"");
}

TEST(DecodeMessage, AFailedResultCannotCarryASuccessCode) {
  for (const char* ok : {"S_OK", "S_FALSE", "VSS_S_ASYNC_FINISHED"}) {
    json body = valid_result();
    body["outcome"] = "fail";
    body["hresult"] = ok;
    decoded d = decode_body(body);
    EXPECT_EQ(d.ec, protocol_errc::bad_message) << ok;
    EXPECT_EQ(d.detail, "field 'hresult' must be a failure code with outcome \"fail\"");
  }
}

TEST(DecodeMessage, HresultsAreReadAsErrcFromSymbolReadsThem) {
  json body = valid_result();
  body["outcome"] = "fail";
  for (const char* name : {"VSS_E_WRITERERROR_RETRYABLE", "vss_e_writererror_retryable",
                           "writer_error_retryable", "E_FAIL"}) {
    body["hresult"] = name;
    EXPECT_FALSE(decode_body(body).ec) << name;
  }
}

TEST(DecodeMessage, ACompletedResultWithAnUnknownHresultIsStillABadMessage) {
  json body = valid_result();
  body["hresult"] = "nope";
  EXPECT_EQ(decode_body(body).ec, protocol_errc::bad_message);
}

TEST(DecodeMessage, ResultMetadataIsCheckedWithItsPath) {
  json body = valid_result();
  body["metadata"] = {{"components", {component_json()}}, {"excludes", json::array()}};
  EXPECT_FALSE(decode_body(body).ec);

  body["metadata"]["components"][0]["files"] = {"a", "b", false};
  decoded d = decode_body(body);
  EXPECT_EQ(d.ec, protocol_errc::bad_message);
  EXPECT_EQ(d.detail, "field 'metadata.components[0].files[2]' must be a string");

  body["metadata"] = {{"components", json::array()}};
  EXPECT_EQ(decode_body(body).detail, "missing field 'metadata.excludes'");

  body["metadata"] = json::array();
  EXPECT_EQ(decode_body(body).detail, "field 'metadata' must be an object");
}

TEST(DecodeMessage, HelloRoleMustBeWriterOrRequester) {
  json body = {{"type", "hello"}, {"version", 1}, {"role", "admin"}};
  decoded d = decode_body(body);
  EXPECT_EQ(d.ec, protocol_errc::bad_message);
  EXPECT_EQ(d.detail, "field 'role' must be \"writer\" or \"requester\"");
  body["role"] = "requester";
  EXPECT_FALSE(decode_body(body).ec);
}

TEST(DecodeMessage, HelloAcceptsAnyIntegerVersionSoTheDaemonCanReportAMismatch) {
  for (int v : {0, 2, -3}) {
    json body = {{"type", "hello"}, {"version", v}, {"role", "writer"}};
    EXPECT_FALSE(decode_body(body).ec) << v;
  }
}

TEST(DecodeMessage, RegisterChecksTheIdentityWithItsPath) {
  json body = {{"type", "register"}, {"id", 1}, {"writer", identity_json()}};
  body["writer"]["usage"] = 9;
  decoded d = decode_body(body);
  EXPECT_EQ(d.ec, protocol_errc::bad_message);
  EXPECT_EQ(d.detail, "field 'writer.usage' must be a VSS_USAGE_TYPE value (0..4)");

  body["writer"] = identity_json();
  body["writer"]["freeze_timeout_ms"] = 0;
  EXPECT_EQ(decode_body(body).detail,
            "field 'writer.freeze_timeout_ms' must be a positive integer");

  body["writer"] = identity_json();
  body["writer"].erase("class_id");
  EXPECT_EQ(decode_body(body).detail, "missing field 'writer.class_id'");
}

TEST(DecodeMessage, AnErrorCodeMustBeAProtocolErrorCode) {
  json body = {{"type", "error"}, {"code", "teapot"}, {"message", "x"}};
  decoded d = decode_body(body);
  EXPECT_EQ(d.ec, protocol_errc::bad_message);
  EXPECT_EQ(d.detail, "field 'code' must be a protocol error code");
}

TEST(DecodeMessage, ARefMustBeANonNegativeInteger) {
  json body = {{"type", "error"}, {"code", "bad_json"}, {"message", "x"}, {"ref", -2}};
  EXPECT_EQ(decode_body(body).detail, "field 'ref' must be a non-negative integer");
}

TEST(DecodeMessage, AHeartbeatIntervalMustBePositive) {
  json body = {
      {"type", "welcome"}, {"version", 1}, {"server", "s"}, {"pid", 1}, {"heartbeat_ms", 0}};
  EXPECT_EQ(decode_body(body).detail, "field 'heartbeat_ms' must be a positive integer");
}

TEST(DecodeMessage, RequestArgsMustBeAnObjectWhenPresent) {
  json body = {{"type", "request"}, {"id", 1}, {"op", "status"}, {"args", {1, 2}}};
  EXPECT_EQ(decode_body(body).detail, "field 'args' must be an object");
}

TEST(DecodeMessage, ProgressStepMustBeAString) {
  json body = {{"type", "progress"}, {"id", 1}, {"phase", "DoSnapshotSet"}, {"step", 16}};
  EXPECT_EQ(decode_body(body).detail, "field 'step' must be a string");
  body["step"] = "started";
  EXPECT_FALSE(decode_body(body).ec);
}

TEST(DecodeMessage, AnUnknownOpIsLeftToTheDaemon) {
  json body = {{"type", "request"}, {"id", 1}, {"op", "make_coffee"}};
  EXPECT_FALSE(decode_body(body).ec);
}

// ---- encoding and error frames ----

TEST(EncodeMessage, WritesCompactJson) {
  EXPECT_EQ(encode_message({{"type", "reply"}, {"id", 3}, {"result", json::object()}}),
            R"({"id":3,"result":{},"type":"reply"})");
}

TEST(EncodeMessage, ReplacesInvalidUtf8InsteadOfThrowing) {
  json body = {{"type", "error"}, {"code", "bad_json"}, {"message", std::string("bad \xff byte")}};
  std::string out;
  ASSERT_NO_THROW(out = encode_message(body));
  decoded d = decode(std::string_view(out));
  ASSERT_FALSE(d.ec) << d.detail;
  EXPECT_EQ(d.msg.body.at("message"), "bad \xEF\xBF\xBD byte");
}

TEST(EncodeMessage, ABadJsonDetailQuotingPeerBytesCanBeSentBack) {
  decoded bad = decode(std::string_view("{\"type\":\xfe}"));
  ASSERT_EQ(bad.ec, protocol_errc::bad_json);
  const std::string frame =
      encode_message(vss::ipc::make_error(protocol_errc::bad_json, bad.detail));
  EXPECT_FALSE(decode(std::string_view(frame)).ec);
}

TEST(MakeError, BuildsAValidErrorBody) {
  const json e = vss::ipc::make_error(protocol_errc::vss_error, "backup failed", 42,
                                      vss::errc::writer_error_retryable);
  EXPECT_EQ(e, (json{{"type", "error"},
                     {"code", "vss_error"},
                     {"message", "backup failed"},
                     {"hresult", "VSS_E_WRITERERROR_RETRYABLE"},
                     {"ref", 42}}));
  decoded d = decode_body(e);
  EXPECT_FALSE(d.ec) << d.detail;
  EXPECT_EQ(d.msg.type, message_type::error);
}

TEST(MakeError, LeavesOutWhatIsNotGiven) {
  const json e = vss::ipc::make_error(protocol_errc::oversized_frame, "frame too long");
  EXPECT_EQ(e,
            (json{{"type", "error"}, {"code", "oversized_frame"}, {"message", "frame too long"}}));
}

TEST(MakeError, PutsAnHresultWithoutSymbolIntoTheMessage) {
  const json e = vss::ipc::make_error(protocol_errc::vss_error, "odd", std::nullopt,
                                      static_cast<vss::errc>(0x80042305));
  EXPECT_FALSE(e.contains("hresult"));
  EXPECT_EQ(e.at("message"), "odd (HRESULT 0x80042305)");
  EXPECT_FALSE(decode_body(e).ec);
}

// ---- names ----

TEST(MessageType, NamesRoundTripAndRegisterIsSpelledAsOnTheWire) {
  for (int t = 0; t <= static_cast<int>(message_type::reply); ++t) {
    const auto type = static_cast<message_type>(t);
    const std::string_view name = vss::ipc::to_string(type);
    EXPECT_FALSE(name.empty()) << t;
    EXPECT_EQ(vss::ipc::message_type_from_string(name), type) << name;
  }
  EXPECT_EQ(vss::ipc::to_string(message_type::register_writer), "register");
  EXPECT_FALSE(vss::ipc::message_type_from_string("register_writer"));
}

TEST(EventName, EveryWriterEventHasAWireNameThatRoundTrips) {
  for (std::size_t i = 0; i < vss::writer_event_count; ++i) {
    const auto e = static_cast<vss::writer_event>(i);
    EXPECT_EQ(vss::ipc::event_from_name(vss::ipc::event_name(e)), e) << i;
  }
  EXPECT_EQ(vss::ipc::event_name(vss::writer_event::prepare_snapshot), "prepare_snapshot");
  EXPECT_EQ(vss::ipc::event_name(vss::writer_event::backup_shutdown), "backup_shutdown");
  EXPECT_FALSE(vss::ipc::event_from_name("PrepareSnapshot"));
}

TEST(ProtocolError, EveryCodeHasAWireNameThatRoundTrips) {
  for (int v = 1; v <= static_cast<int>(protocol_errc::server_busy); ++v) {
    const auto e = static_cast<protocol_errc>(v);
    const std::string_view name = vss::ipc::to_string(e);
    EXPECT_FALSE(name.empty()) << v;
    EXPECT_EQ(vss::ipc::protocol_errc_from_string(name), e) << name;
  }
  EXPECT_EQ(vss::ipc::to_string(protocol_errc::oversized_frame), "oversized_frame");
  EXPECT_EQ(vss::ipc::to_string(static_cast<protocol_errc>(99)), "");
  EXPECT_FALSE(vss::ipc::protocol_errc_from_string("Bad_Json"));
}

TEST(ProtocolError, CodesBelongToTheIpcCategoryAndNameThemselves) {
  const std::error_code ec = protocol_errc::bad_message;
  EXPECT_EQ(&ec.category(), &vss::ipc::protocol_category());
  EXPECT_STREQ(ec.category().name(), "vss.ipc");
  EXPECT_EQ(ec.message().rfind("bad_message: ", 0), 0u) << ec.message();
  EXPECT_NE(ec, std::error_code(vss::errc::bad_state));
}

TEST(ProtocolError, OnlyErrorsThatLoseTheStreamOrThePeerCloseTheConnection) {
  using vss::ipc::closes_connection;
  for (auto e :
       {protocol_errc::empty_frame, protocol_errc::oversized_frame, protocol_errc::truncated_frame,
        protocol_errc::out_of_order, protocol_errc::version_mismatch, protocol_errc::not_authorized,
        protocol_errc::server_busy}) {
    EXPECT_TRUE(closes_connection(e)) << vss::ipc::to_string(e);
  }
  for (auto e : {protocol_errc::bad_json, protocol_errc::not_an_object, protocol_errc::missing_type,
                 protocol_errc::unknown_type, protocol_errc::bad_message, protocol_errc::unknown_op,
                 protocol_errc::vss_error}) {
    EXPECT_FALSE(closes_connection(e)) << vss::ipc::to_string(e);
  }
}

// ---- converters ----

vss::writer_identity sample_identity() {
  vss::writer_identity id;
  id.class_id = vss::writer_class_id::from_u128(0x0011223344556677, 0x8899aabbccddeeff);
  id.instance_id = vss::writer_instance_id::from_u128(1, 2);
  id.name = "pg";
  id.instance_name = "cluster \"main\"";
  id.usage = vss::usage_type::system_service;
  id.source = vss::source_type::transacted_db;
  id.level = vss::application_level::back_end;
  id.freeze_timeout = std::chrono::milliseconds(1500);
  return id;
}

TEST(IdentityJson, UsesTheVssNumbersAndGuidStrings) {
  const json j = vss::ipc::to_json(sample_identity());
  EXPECT_EQ(j.at("class_id"), k_guid_a);
  EXPECT_EQ(j.at("instance_id"), "{00000000-0000-0001-0000-000000000002}");
  EXPECT_EQ(j.at("usage"), 2);
  EXPECT_EQ(j.at("source"), 1);
  EXPECT_EQ(j.at("level"), 2);
  EXPECT_EQ(j.at("freeze_timeout_ms"), 1500);
}

TEST(IdentityJson, RoundTripsEveryWireField) {
  const vss::writer_identity in = sample_identity();
  const vss::writer_identity out = vss::ipc::identity_from_json(vss::ipc::to_json(in));
  EXPECT_EQ(out.class_id, in.class_id);
  EXPECT_EQ(out.instance_id, in.instance_id);
  EXPECT_EQ(out.name, in.name);
  EXPECT_EQ(out.instance_name, in.instance_name);
  EXPECT_EQ(out.usage, in.usage);
  EXPECT_EQ(out.source, in.source);
  EXPECT_EQ(out.level, in.level);
  EXPECT_EQ(out.freeze_timeout, in.freeze_timeout);
  EXPECT_EQ(out.execution, vss::handler_execution::non_blocking);
}

TEST(IdentityJson, AnAllZeroInstanceIdStaysNullSoTheDaemonAssignsOne) {
  json j = identity_json();
  j["instance_id"] = "{00000000-0000-0000-0000-000000000000}";
  EXPECT_TRUE(vss::ipc::identity_from_json(j).instance_id.is_null());
}

TEST(IdentityJson, AcceptsEveryDefinedEnumValueAtTheEdges) {
  json j = identity_json();
  j["usage"] = 4;
  j["source"] = 0;
  j["level"] = -1;
  const auto id = vss::ipc::identity_from_json(j);
  EXPECT_EQ(id.usage, vss::usage_type::other);
  EXPECT_EQ(id.source, vss::source_type::undefined);
  EXPECT_EQ(id.level, vss::application_level::auto_level);
}

// Sets j[field] = value and returns the bad_field message ("" when nothing was thrown).
template <class From>
std::string rejection(From from, json j, const std::string& field, const json& value) {
  j[field] = value;
  try {
    from(j);
  } catch (const vss::ipc::bad_field& e) {
    return e.what();
  }
  return "";
}

TEST(IdentityJson, RejectsUndefinedEnumValuesNamingTheField) {
  auto from = [](const json& j) { return vss::ipc::identity_from_json(j); };
  EXPECT_EQ(rejection(from, identity_json(), "usage", 5),
            "field 'usage' must be a VSS_USAGE_TYPE value (0..4)");
  EXPECT_EQ(rejection(from, identity_json(), "source", 4),
            "field 'source' must be a VSS_SOURCE_TYPE value (0..3)");
  EXPECT_EQ(rejection(from, identity_json(), "level", -2),
            "field 'level' must be a VSS_APPLICATION_LEVEL value (-1..4)");
  EXPECT_EQ(rejection(from, identity_json(), "level", 5),
            "field 'level' must be a VSS_APPLICATION_LEVEL value (-1..4)");
  EXPECT_EQ(rejection(from, identity_json(), "level", "back_end"),
            "field 'level' must be a VSS_APPLICATION_LEVEL value (-1..4)");
}

TEST(IdentityJson, RejectsANonPositiveFreezeTimeout) {
  auto from = [](const json& j) { return vss::ipc::identity_from_json(j); };
  for (const json& bad : {json(0), json(-5), json(1.5)}) {
    EXPECT_EQ(rejection(from, identity_json(), "freeze_timeout_ms", bad),
              "field 'freeze_timeout_ms' must be a positive integer")
        << bad.dump();
  }
}

TEST(IdentityJson, RejectsBadGuidsAndNonObjects) {
  auto from = [](const json& j) { return vss::ipc::identity_from_json(j); };
  EXPECT_EQ(rejection(from, identity_json(), "class_id", "pg")
                .rfind("field 'class_id' must be a GUID string", 0),
            0u);
  EXPECT_THROW(vss::ipc::identity_from_json(json::array()), vss::ipc::bad_field);
  EXPECT_THROW(vss::ipc::identity_from_json(json("pg")), vss::ipc::bad_field);
}

TEST(ComponentJson, RoundTripsEveryField) {
  vss::component_info in;
  in.type = vss::component_type::database;
  in.logical_path = "sql/instance";
  in.name = "db1";
  in.caption = "Database 1";
  in.selectable = false;
  in.files = {"/data/db1/*.mdf", "/data/db1/*.ldf"};
  in.volumes = {"/data"};
  const json j = vss::ipc::to_json(in);
  EXPECT_EQ(j.at("type"), 1);
  const vss::component_info out = vss::ipc::component_from_json(j);
  EXPECT_EQ(out.type, in.type);
  EXPECT_EQ(out.logical_path, in.logical_path);
  EXPECT_EQ(out.name, in.name);
  EXPECT_EQ(out.caption, in.caption);
  EXPECT_EQ(out.selectable, in.selectable);
  EXPECT_EQ(out.files, in.files);
  EXPECT_EQ(out.volumes, in.volumes);
}

TEST(ComponentJson, RejectsAnUndefinedTypeAndWrongJsonTypes) {
  auto from = [](const json& j) { return vss::ipc::component_from_json(j); };
  EXPECT_EQ(rejection(from, component_json(), "type", 3),
            "field 'type' must be a VSS_COMPONENT_TYPE value (0..2)");
  EXPECT_EQ(rejection(from, component_json(), "selectable", "yes"),
            "field 'selectable' must be a boolean");
  EXPECT_EQ(rejection(from, component_json(), "files", "/data"), "field 'files' must be an array");
  EXPECT_EQ(rejection(from, component_json(), "caption", 1), "field 'caption' must be a string");
}

TEST(SelectedComponentJson, RoundTripsEveryField) {
  vss::selected_component in;
  in.type = vss::component_type::undefined;
  in.logical_path = "a/b";
  in.name = "c";
  in.backup_succeeded = true;
  const vss::selected_component out = vss::ipc::selected_component_from_json(vss::ipc::to_json(in));
  EXPECT_EQ(out.type, in.type);
  EXPECT_EQ(out.logical_path, in.logical_path);
  EXPECT_EQ(out.name, in.name);
  EXPECT_EQ(out.backup_succeeded, in.backup_succeeded);
}

TEST(SelectedComponentJson, RejectsAMissingFieldNamingIt) {
  json j = selected_json();
  j.erase("backup_succeeded");
  try {
    vss::ipc::selected_component_from_json(j);
    FAIL() << "no exception";
  } catch (const vss::ipc::bad_field& e) {
    EXPECT_STREQ(e.what(), "missing field 'backup_succeeded'");
  }
}

TEST(MetadataJson, RoundTripsComponentsAndExcludes) {
  vss::writer_metadata in;
  vss::component_info c;
  c.name = "logs";
  c.files = {"/var/log/app/*"};
  in.components = {c, c};
  in.components[1].name = "data";
  in.excludes = {"/tmp/*", "*.swp"};
  const json j = vss::ipc::metadata_to_json(in);
  EXPECT_FALSE(j.contains("identity"));

  vss::writer_metadata out;
  out.identity.name = "kept";
  vss::ipc::metadata_from_json(j, out);
  ASSERT_EQ(out.components.size(), 2u);
  EXPECT_EQ(out.components[0].name, "logs");
  EXPECT_EQ(out.components[1].name, "data");
  EXPECT_EQ(out.components[1].files, c.files);
  EXPECT_EQ(out.excludes, in.excludes);
  EXPECT_EQ(out.identity.name, "kept");
}

TEST(MetadataJson, ABadComponentLeavesTheMetadataUnchanged) {
  vss::writer_metadata m;
  m.excludes = {"old"};
  json j = {{"components", {component_json(), component_json()}}, {"excludes", {"new"}}};
  j["components"][1]["volumes"] = {nullptr};
  try {
    vss::ipc::metadata_from_json(j, m);
    FAIL() << "no exception";
  } catch (const vss::ipc::bad_field& e) {
    EXPECT_STREQ(e.what(), "field 'components[1].volumes[0]' must be a string");
  }
  EXPECT_TRUE(m.components.empty());
  EXPECT_EQ(m.excludes, std::vector<std::string>{"old"});
}

}  // namespace
