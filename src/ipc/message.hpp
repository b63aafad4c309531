#pragma once
// Messages of the openvssd wire protocol (docs/ipc-protocol.md): JSON objects with a "type".
// decode_message validates a payload against the schema of its type, so the daemon and the
// clients only ever see well-formed messages; the converters turn the engine's types into
// JSON and back, validating every field on the way in.
//
// The schemas decode_message enforces ("int" is a JSON integer that fits in std::int64_t;
// "id" is an int >= 0; "GUID" is a string vss::guid::parse accepts; "symbol" is a string
// vss::errc_from_symbol accepts, e.g. "VSS_E_BAD_STATE"; "?" marks an optional field; fields
// not listed are ignored):
//   hello         version:int, role:"writer"|"requester", client?:string
//   welcome       version:int, server:string, pid:id, heartbeat_ms:int > 0
//   error         code:string (a protocol_errc name), message:string, hresult?:symbol, ref?:id
//   register      id:id, writer:identity, group?:string (writer_placement::group; must pass
//                 ipc::is_valid_group; absent or empty: no group)
//   registered    id:id, instance_id:GUID, group?:string (the group registered in, if any)
//   unregister    instance_id:GUID
//   event         seq:id, instance_id:GUID, event:event name, set:GUID,
//                 backup_type:int (VSS_BACKUP_TYPE 0..6), components_selected:bool,
//                 components:[selected component], volumes:[string]
//   result        seq:id, outcome:"complete"|"fail", hresult:symbol of a failure code
//                 (required with "fail", optional and still checked with "complete"),
//                 message?:string, metadata?:{components:[component], excludes:[string]}
//   heartbeat     (nothing)
//   lease_expired instance_id:GUID, set:GUID, event:event name
//   request       id:id, op:string, args?:object
//   progress      id:id, phase:string, writer?:string, state?:int (VSS_WRITER_STATE 0..15),
//                 hresult?:symbol, message?:string
//   reply         id:id, result:object
// identity: class_id, instance_id:GUID, name, instance_name:string, usage:int (VSS_USAGE_TYPE
// 0..4), source:int (VSS_SOURCE_TYPE 0..3), level:int (VSS_APPLICATION_LEVEL -1..4),
// freeze_timeout_ms:int > 0. component: type:int (VSS_COMPONENT_TYPE 0..2), logical_path,
// name, caption:string, selectable:bool, files, volumes:[string]. selected component:
// type:int (0..2), logical_path, name:string, backup_succeeded:bool.
// A payload nesting arrays/objects deeper than max_nesting_depth is bad_json: nlohmann's
// parser and destructor are iterative, but copying and dumping a value recurse.
//
// Thread-safety: everything here is stateless; call it from any thread.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include "ipc/protocol_error.hpp"
#include "vss/error.hpp"
#include "vss/ipc/placement.hpp"
#include "vss/writer.hpp"

namespace vss::ipc {

/// The deepest nesting of arrays and objects decode_message accepts (the top-level object is
/// level 1).
inline constexpr std::size_t max_nesting_depth = 64;

/// The message types of protocol version 1.
enum class message_type {
  hello,
  welcome,
  error,
  register_writer,  // "register"
  registered,
  unregister,
  event,
  result,
  heartbeat,
  lease_expired,
  request,
  progress,
  reply,
};

/// The wire name of a type ("register" for register_writer), and back (exact match).
std::string_view to_string(message_type t) noexcept;
std::optional<message_type> message_type_from_string(std::string_view s) noexcept;

/// One decoded message.
struct message {
  message_type type = message_type::hello;
  nlohmann::json body;  // the whole object, "type" included
};

/// Parses and validates one frame payload. On failure returns the code (bad_json,
/// not_an_object, missing_type, unknown_type, bad_message) and puts a human-readable reason
/// naming the offending field into `detail` ("field 'seq' must be a non-negative integer");
/// `out` is then unchanged. On success returns a false error_code and clears `detail`.
/// Never throws.
std::error_code decode_message(std::string_view payload, message& out, std::string& detail);

/// Serialises a message body (which must contain "type"): compact JSON. Invalid UTF-8 in
/// strings is replaced by U+FFFD rather than thrown (a detail may quote a peer's bytes).
std::string encode_message(const nlohmann::json& body);

/// An `error` frame body. An `hresult` without a VSS symbol is left out and its value is
/// appended to the message instead.
nlohmann::json make_error(protocol_errc code, std::string_view message,
                          std::optional<std::int64_t> ref = std::nullopt,
                          std::optional<errc> hresult = std::nullopt);

// ---- engine types <-> JSON (validating; on bad input they throw bad_field) ----

/// A field that is missing, of the wrong JSON type or out of range; what() names the field
/// ("field 'usage' must be a VSS_USAGE_TYPE value (0..4)").
struct bad_field : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A writer identity object. `execution` is not on the wire (from_json leaves the default).
nlohmann::json to_json(const writer_identity& id);
writer_identity identity_from_json(const nlohmann::json& j);

/// A component object of a writer's metadata.
nlohmann::json to_json(const component_info& c);
component_info component_from_json(const nlohmann::json& j);

/// A selected component object of an `event`.
nlohmann::json to_json(const selected_component& c);
selected_component selected_component_from_json(const nlohmann::json& j);

/// The `metadata` of a `result`: components + excludes. metadata_from_json replaces
/// m.components and m.excludes (both or neither: it throws before changing `m`) and leaves
/// m.identity alone.
nlohmann::json metadata_to_json(const writer_metadata& m);
void metadata_from_json(const nlohmann::json& j, writer_metadata& m);

/// The wire name of an event ("prepare_snapshot"), and back (exact match).
std::string_view event_name(writer_event e) noexcept;
std::optional<writer_event> event_from_name(std::string_view s) noexcept;

}  // namespace vss::ipc
