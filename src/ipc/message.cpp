#include "ipc/message.hpp"

#include <array>
#include <cstdio>
#include <limits>
#include <utility>
#include <vector>

#include "vss/id.hpp"
#include "vss/types.hpp"

namespace vss::ipc {
namespace {

using json = nlohmann::json;

constexpr std::array<std::string_view, 13> k_type_names{
    "hello",  "welcome",   "error",         "register", "registered", "unregister", "event",
    "result", "heartbeat", "lease_expired", "request",  "progress",   "reply",
};

constexpr std::array<std::string_view, writer_event_count> k_event_names{
    "identify",      "prepare_backup", "prepare_snapshot", "freeze",          "thaw",
    "post_snapshot", "abort",          "backup_complete",  "backup_shutdown",
};

constexpr std::int64_t k_int_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t k_int_min = std::numeric_limits<std::int64_t>::min();

// True when `text` opens more than `limit` arrays/objects at once. Exact for valid JSON
// (brackets inside strings are skipped); for invalid JSON the parser reports the error anyway.
bool nests_deeper_than(std::string_view text, std::size_t limit) noexcept {
  std::size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > limit) return true;
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return false;
}

// At most `n` bytes of UTF-8 `s`, cut at a character boundary, for quoting peer text.
std::string clip(std::string_view s, std::size_t n = 64) {
  if (s.size() <= n) return std::string(s);
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n)) + "...";
}

std::string event_list() {
  std::string out;
  for (std::string_view n : k_event_names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

// Reads the fields of one JSON object; every failure throws bad_field naming the field by its
// full path ("writer.usage", "components[2].name").
class fields {
 public:
  // `self` is the path of the object itself ("" for a top-level value, described by `kind`).
  fields(const json& obj, const std::string& self, std::string_view kind) : obj_(obj) {
    if (!obj.is_object()) {
      if (self.empty()) throw bad_field(std::string(kind) + " must be a JSON object");
      throw bad_field("field '" + self + "' must be an object");
    }
    if (!self.empty()) prefix_ = self + ".";
  }

  std::string path(std::string_view name) const { return prefix_ + std::string(name); }

  [[noreturn]] void fail(std::string_view name, std::string_view what) const {
    throw bad_field("field '" + path(name) + "' " + std::string(what));
  }

  const json* find(std::string_view name) const {
    auto it = obj_.find(name);
    return it == obj_.end() ? nullptr : &*it;
  }

  const json& need(std::string_view name) const {
    const json* v = find(name);
    if (v == nullptr) throw bad_field("missing field '" + path(name) + "'");
    return *v;
  }

  std::int64_t integer(std::string_view name, std::int64_t lo, std::int64_t hi,
                       std::string_view what) const {
    return integer_value(need(name), name, lo, hi, what);
  }

  std::optional<std::int64_t> optional_integer(std::string_view name, std::int64_t lo,
                                               std::int64_t hi, std::string_view what) const {
    const json* v = find(name);
    if (v == nullptr) return std::nullopt;
    return integer_value(*v, name, lo, hi, what);
  }

  std::int64_t id(std::string_view name) const {
    return integer(name, 0, k_int_max, "must be a non-negative integer");
  }

  const std::string& string(std::string_view name) const { return string_value(need(name), name); }

  std::optional<std::string> optional_string(std::string_view name) const {
    const json* v = find(name);
    if (v == nullptr) return std::nullopt;
    return string_value(*v, name);
  }

  bool boolean(std::string_view name) const {
    const json& v = need(name);
    if (!v.is_boolean()) fail(name, "must be a boolean");
    return v.get<bool>();
  }

  const json& object(std::string_view name) const {
    const json& v = need(name);
    if (!v.is_object()) fail(name, "must be an object");
    return v;
  }

  const json& array(std::string_view name) const {
    const json& v = need(name);
    if (!v.is_array()) fail(name, "must be an array");
    return v;
  }

  std::vector<std::string> strings(std::string_view name) const {
    const json& v = array(name);
    std::vector<std::string> out;
    out.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string()) {
        fail(std::string(name) + "[" + std::to_string(i) + "]", "must be a string");
      }
      out.push_back(v[i].get<std::string>());
    }
    return out;
  }

  template <class Id>
  Id guid(std::string_view name) const {
    const json& v = need(name);
    if (v.is_string()) {
      if (auto id = Id::parse(v.get_ref<const std::string&>())) return *id;
    }
    fail(name, "must be a GUID string such as \"{00112233-4455-6677-8899-aabbccddeeff}\"");
  }

  errc symbol(std::string_view name) const {
    const json& v = need(name);
    if (v.is_string()) {
      if (auto code = errc_from_symbol(v.get_ref<const std::string&>())) return *code;
    }
    fail(name, "must be a known VSS symbol such as \"VSS_E_BAD_STATE\"");
  }

  std::optional<errc> optional_symbol(std::string_view name) const {
    if (find(name) == nullptr) return std::nullopt;
    return symbol(name);
  }

  writer_event event(std::string_view name) const {
    const json& v = need(name);
    if (v.is_string()) {
      if (auto e = event_from_name(v.get_ref<const std::string&>())) return *e;
    }
    fail(name, "must be an event name (" + event_list() + ")");
  }

  template <class Enum>
  Enum enumeration(std::string_view name, std::int64_t lo, std::int64_t hi,
                   std::string_view vss_name) const {
    const std::string what = "must be a " + std::string(vss_name) + " value (" +
                             std::to_string(lo) + ".." + std::to_string(hi) + ")";
    return static_cast<Enum>(integer(name, lo, hi, what));
  }

 private:
  std::int64_t integer_value(const json& v, std::string_view name, std::int64_t lo, std::int64_t hi,
                             std::string_view what) const {
    if (!v.is_number_integer()) fail(name, what);
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(k_int_max)) {
      fail(name, what);
    }
    const auto i = v.get<std::int64_t>();
    if (i < lo || i > hi) fail(name, what);
    return i;
  }

  const std::string& string_value(const json& v, std::string_view name) const {
    if (!v.is_string()) fail(name, "must be a string");
    return v.get_ref<const std::string&>();
  }

  const json& obj_;
  std::string prefix_;
};

std::string element(std::string_view array, std::size_t i) {
  return std::string(array) + "[" + std::to_string(i) + "]";
}

// The enum ranges below are the defined values of types.hpp.
writer_identity read_identity(const json& j, const std::string& self) {
  const fields f(j, self, "a writer identity");
  writer_identity id;
  id.class_id = f.guid<writer_class_id>("class_id");
  id.instance_id = f.guid<writer_instance_id>("instance_id");
  id.name = f.string("name");
  id.instance_name = f.string("instance_name");
  id.usage = f.enumeration<usage_type>("usage", 0, 4, "VSS_USAGE_TYPE");
  id.source = f.enumeration<source_type>("source", 0, 3, "VSS_SOURCE_TYPE");
  id.level = f.enumeration<application_level>("level", -1, 4, "VSS_APPLICATION_LEVEL");
  id.freeze_timeout = std::chrono::milliseconds(
      f.integer("freeze_timeout_ms", 1, k_int_max, "must be a positive integer"));
  return id;
}

component_info read_component(const json& j, const std::string& self) {
  const fields f(j, self, "a component");
  component_info c;
  c.type = f.enumeration<component_type>("type", 0, 2, "VSS_COMPONENT_TYPE");
  c.logical_path = f.string("logical_path");
  c.name = f.string("name");
  c.caption = f.string("caption");
  c.selectable = f.boolean("selectable");
  c.files = f.strings("files");
  c.volumes = f.strings("volumes");
  return c;
}

selected_component read_selected(const json& j, const std::string& self) {
  const fields f(j, self, "a selected component");
  selected_component c;
  c.type = f.enumeration<component_type>("type", 0, 2, "VSS_COMPONENT_TYPE");
  c.logical_path = f.string("logical_path");
  c.name = f.string("name");
  c.backup_succeeded = f.boolean("backup_succeeded");
  return c;
}

void read_metadata(const json& j, const std::string& self, writer_metadata& m) {
  const fields f(j, self, "writer metadata");
  const json& list = f.array("components");
  std::vector<component_info> components;
  components.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    components.push_back(read_component(list[i], f.path(element("components", i))));
  }
  std::vector<std::string> excludes = f.strings("excludes");
  m.components = std::move(components);
  m.excludes = std::move(excludes);
}

// Per-type schema checks (see the table in message.hpp); each throws bad_field.
void check_hello(const fields& f) {
  f.integer("version", k_int_min, k_int_max, "must be an integer");
  const std::string& role = f.string("role");
  if (role != "writer" && role != "requester")
    f.fail("role", "must be \"writer\" or \"requester\"");
  f.optional_string("client");
}

void check_welcome(const fields& f) {
  f.integer("version", k_int_min, k_int_max, "must be an integer");
  f.string("server");
  f.id("pid");
  f.integer("heartbeat_ms", 1, k_int_max, "must be a positive integer");
}

void check_error(const fields& f) {
  if (!protocol_errc_from_string(f.string("code"))) f.fail("code", "must be a protocol error code");
  f.string("message");
  f.optional_symbol("hresult");
  f.optional_integer("ref", 0, k_int_max, "must be a non-negative integer");
}

// A placement group is a name for a machine or a tenant, not a payload, and the daemon logs
// it: bounded, and without control characters that could forge a log line.
void check_group(const fields& f) {
  if (auto group = f.optional_string("group"); group && !is_valid_group(*group)) {
    f.fail("group", "must be " + std::string(group_rule));
  }
}

void check_register(const fields& f) {
  f.id("id");
  read_identity(f.need("writer"), f.path("writer"));
  check_group(f);
}

void check_registered(const fields& f) {
  f.id("id");
  f.guid<writer_instance_id>("instance_id");
  check_group(f);
}

void check_unregister(const fields& f) { f.guid<writer_instance_id>("instance_id"); }

void check_event(const fields& f) {
  f.id("seq");
  f.guid<writer_instance_id>("instance_id");
  f.event("event");
  f.guid<snapshot_set_id>("set");
  f.enumeration<backup_type>("backup_type", 0, 6, "VSS_BACKUP_TYPE");
  f.boolean("components_selected");
  const json& list = f.array("components");
  for (std::size_t i = 0; i < list.size(); ++i) {
    read_selected(list[i], f.path(element("components", i)));
  }
  f.strings("volumes");
}

void check_result(const fields& f) {
  f.id("seq");
  const std::string& outcome = f.string("outcome");
  if (outcome == "fail") {
    if (f.find("hresult") == nullptr) {
      throw bad_field("missing field '" + f.path("hresult") + "' (required with outcome \"fail\")");
    }
    if (succeeded(f.symbol("hresult"))) {
      f.fail("hresult", "must be a failure code with outcome \"fail\"");
    }
  } else if (outcome == "complete") {
    f.optional_symbol("hresult");
  } else {
    f.fail("outcome", "must be \"complete\" or \"fail\"");
  }
  f.optional_string("message");
  if (const json* m = f.find("metadata")) {
    writer_metadata scratch;
    read_metadata(*m, f.path("metadata"), scratch);
  }
}

void check_lease_expired(const fields& f) {
  f.guid<writer_instance_id>("instance_id");
  f.guid<snapshot_set_id>("set");
  f.event("event");
}

void check_request(const fields& f) {
  f.id("id");
  f.string("op");
  if (f.find("args") != nullptr) f.object("args");
}

void check_progress(const fields& f) {
  f.id("id");
  f.string("phase");
  f.optional_string("writer");
  f.optional_string("step");  // started | finished | event | provider
  f.optional_symbol("hresult");
  f.optional_string("message");
}

void check_reply(const fields& f) {
  f.id("id");
  f.object("result");
}

void check(message_type t, const fields& f) {
  switch (t) {
    case message_type::hello:
      return check_hello(f);
    case message_type::welcome:
      return check_welcome(f);
    case message_type::error:
      return check_error(f);
    case message_type::register_writer:
      return check_register(f);
    case message_type::registered:
      return check_registered(f);
    case message_type::unregister:
      return check_unregister(f);
    case message_type::event:
      return check_event(f);
    case message_type::result:
      return check_result(f);
    case message_type::heartbeat:
      return;
    case message_type::lease_expired:
      return check_lease_expired(f);
    case message_type::request:
      return check_request(f);
    case message_type::progress:
      return check_progress(f);
    case message_type::reply:
      return check_reply(f);
  }
}

std::error_code decode(std::string_view payload, message& out, std::string& detail) {
  if (nests_deeper_than(payload, max_nesting_depth)) {
    detail = "JSON nests deeper than " + std::to_string(max_nesting_depth) + " levels";
    return protocol_errc::bad_json;
  }
  json body;
  try {
    body = json::parse(payload);
  } catch (const json::exception& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 2: ...".
    std::string_view what = e.what();
    if (auto at = what.find("] "); at != std::string_view::npos) what.remove_prefix(at + 2);
    detail = "invalid JSON: " + std::string(what);
    return protocol_errc::bad_json;
  }
  if (!body.is_object()) {
    detail = std::string("payload is a JSON ") + body.type_name() + ", not an object";
    return protocol_errc::not_an_object;
  }
  auto type_it = body.find("type");
  if (type_it == body.end()) {
    detail = "missing field 'type'";
    return protocol_errc::missing_type;
  }
  if (!type_it->is_string()) {
    detail = "field 'type' must be a string";
    return protocol_errc::missing_type;
  }
  const auto& type_name = type_it->get_ref<const std::string&>();
  const std::optional<message_type> type = message_type_from_string(type_name);
  if (!type) {
    detail = "unknown message type \"" + clip(type_name) + "\"";
    return protocol_errc::unknown_type;
  }
  try {
    check(*type, fields(body, "", "a message"));
  } catch (const bad_field& e) {
    detail = e.what();
    return protocol_errc::bad_message;
  }
  out.type = *type;
  out.body = std::move(body);
  detail.clear();
  return {};
}

}  // namespace

std::string_view to_string(message_type t) noexcept {
  const auto i = static_cast<std::size_t>(t);
  return i < k_type_names.size() ? k_type_names[i] : std::string_view{};
}

std::optional<message_type> message_type_from_string(std::string_view s) noexcept {
  for (std::size_t i = 0; i < k_type_names.size(); ++i) {
    if (k_type_names[i] == s) return static_cast<message_type>(i);
  }
  return std::nullopt;
}

std::error_code decode_message(std::string_view payload, message& out, std::string& detail) {
  try {
    return decode(payload, out, detail);
  } catch (const std::exception& e) {
    // Only allocation failure can get here; the peer's frame is what we could not handle.
    try {
      detail = std::string("cannot decode: ") + e.what();
    } catch (...) {
    }
    return protocol_errc::bad_message;
  }
}

std::string encode_message(const json& body) {
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

json make_error(protocol_errc code, std::string_view message, std::optional<std::int64_t> ref,
                std::optional<errc> hresult) {
  json j = json::object();
  j["type"] = "error";
  j["code"] = std::string(to_string(code));
  std::string text(message);
  if (hresult) {
    if (std::string_view s = symbol(*hresult); !s.empty()) {
      j["hresult"] = std::string(s);
    } else {
      char hex[32];
      std::snprintf(hex, sizeof hex, " (HRESULT 0x%08X)",
                    static_cast<unsigned>(vss::hresult(*hresult)));
      text += hex;
    }
  }
  j["message"] = std::move(text);
  if (ref) j["ref"] = *ref;
  return j;
}

json to_json(const writer_identity& id) {
  json j = json::object();
  j["class_id"] = id.class_id.to_string();
  j["instance_id"] = id.instance_id.to_string();
  j["name"] = id.name;
  j["instance_name"] = id.instance_name;
  j["usage"] = static_cast<std::int32_t>(id.usage);
  j["source"] = static_cast<std::int32_t>(id.source);
  j["level"] = static_cast<std::int32_t>(id.level);
  j["freeze_timeout_ms"] = static_cast<std::int64_t>(id.freeze_timeout.count());
  return j;
}

writer_identity identity_from_json(const json& j) { return read_identity(j, ""); }

json to_json(const component_info& c) {
  json j = json::object();
  j["type"] = static_cast<std::int32_t>(c.type);
  j["logical_path"] = c.logical_path;
  j["name"] = c.name;
  j["caption"] = c.caption;
  j["selectable"] = c.selectable;
  j["files"] = c.files;
  j["volumes"] = c.volumes;
  return j;
}

component_info component_from_json(const json& j) { return read_component(j, ""); }

json to_json(const selected_component& c) {
  json j = json::object();
  j["type"] = static_cast<std::int32_t>(c.type);
  j["logical_path"] = c.logical_path;
  j["name"] = c.name;
  j["backup_succeeded"] = c.backup_succeeded;
  return j;
}

selected_component selected_component_from_json(const json& j) { return read_selected(j, ""); }

json metadata_to_json(const writer_metadata& m) {
  json components = json::array();
  for (const component_info& c : m.components) components.push_back(to_json(c));
  json j = json::object();
  j["components"] = std::move(components);
  j["excludes"] = m.excludes;
  return j;
}

void metadata_from_json(const json& j, writer_metadata& m) { read_metadata(j, "", m); }

std::string_view event_name(writer_event e) noexcept {
  const auto i = static_cast<std::size_t>(e);
  return i < k_event_names.size() ? k_event_names[i] : std::string_view{};
}

std::optional<writer_event> event_from_name(std::string_view s) noexcept {
  for (std::size_t i = 0; i < k_event_names.size(); ++i) {
    if (k_event_names[i] == s) return static_cast<writer_event>(i);
  }
  return std::nullopt;
}

}  // namespace vss::ipc
