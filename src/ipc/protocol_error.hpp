#pragma once
// Protocol-level failures of the openvssd wire protocol; the `code` strings of `error` frames
// (docs/ipc-protocol.md, "Error codes").
//
// Thread-safety: everything here is stateless; call it from any thread.

#include <optional>
#include <string_view>
#include <system_error>

namespace vss::ipc {

/// The `code` of an `error` frame. Values start at 1 so that no code is a false error_code.
enum class protocol_errc {
  empty_frame = 1,   ///< A frame header declared length 0. Closes.
  oversized_frame,   ///< A frame header declared more than max_frame bytes. Closes.
  truncated_frame,   ///< The connection closed in the middle of a frame.
  bad_json,          ///< The payload is not valid JSON (or nests deeper than 64 levels).
  not_an_object,     ///< The payload is JSON but not an object.
  missing_type,      ///< The object has no string "type".
  unknown_type,      ///< "type" names no message of this protocol version.
  bad_message,       ///< A field is missing, of the wrong JSON type or out of range.
  out_of_order,      ///< A message that is not allowed now (e.g. anything before `hello`). Closes.
  version_mismatch,  ///< `hello` asked for another protocol version. Closes.
  not_authorized,    ///< The peer's credentials are not allowed for the role. Closes.
  unknown_op,        ///< A `request` with an `op` the daemon does not know.
  vss_error,         ///< A requester operation failed; `hresult` carries the VSS code.
  server_busy,       ///< The daemon refuses the connection (too many clients). Closes.
};

/// The category of protocol_errc; `name()` is "vss.ipc", `message(v)` is
/// "oversized_frame: frame length above the maximum".
const std::error_category& protocol_category() noexcept;

/// Makes a protocol_category() code; found by ADL, so `std::error_code ec =
/// protocol_errc::bad_json;` works.
std::error_code make_error_code(protocol_errc e) noexcept;

/// The wire name of a code ("oversized_frame"), and back. to_string gives "" for a value that
/// is not a protocol_errc; protocol_errc_from_string is exact (case-sensitive).
std::string_view to_string(protocol_errc e) noexcept;
std::optional<protocol_errc> protocol_errc_from_string(std::string_view s) noexcept;

/// True for errors after which the stream cannot continue (the frame boundary is lost or the
/// peer must not be talked to): the receiver sends an error frame and closes. These are
/// empty_frame, oversized_frame, truncated_frame, out_of_order, version_mismatch,
/// not_authorized and server_busy.
bool closes_connection(protocol_errc e) noexcept;

}  // namespace vss::ipc

template <>
struct std::is_error_code_enum<vss::ipc::protocol_errc> : std::true_type {};
