#pragma once
// vss/ipc/placement.hpp — which placement groups a writer in another process may name
// (writer_placement::group, sent in the `register` message; docs/ipc-protocol.md).
//
// Thread-safety: stateless; call it from any thread.

#include <cstddef>
#include <string_view>

namespace vss::ipc {

/// The longest writer_placement::group a writer in another process may name, in bytes.
inline constexpr std::size_t max_group_bytes = 256;

/// What is_valid_group asks of a group, for error messages.
inline constexpr std::string_view group_rule =
    "UTF-8 of at most 256 bytes, without control characters";

/// Whether a writer in another process may name `group` (group_rule): well-formed UTF-8 of at
/// most max_group_bytes bytes, without control characters (C0, DEL, C1): the daemon logs it,
/// and the wire encoder would replace a malformed byte, changing the name and its length.
/// Empty means no group.
bool is_valid_group(std::string_view group) noexcept;

}  // namespace vss::ipc
