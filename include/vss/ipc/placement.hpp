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

/// Whether a writer in another process may name `group`: well-formed UTF-8 of at most
/// max_group_bytes bytes, without control characters (C0, DEL, C1): the daemon logs it, and
/// the wire encoder would replace a malformed byte, changing the name and its length.
/// Empty means no group.
constexpr bool is_valid_group(std::string_view group) noexcept {
  if (group.size() > max_group_bytes) return false;
  for (std::size_t i = 0; i < group.size();) {
    const auto lead = static_cast<unsigned char>(group[i]);
    if (lead < 0x80) {
      if (lead < 0x20 || lead == 0x7f) return false;
      ++i;
      continue;
    }
    // Length and smallest code point of the sequence (overlong forms are malformed).
    std::size_t n = 0;
    char32_t cp = 0, least = 0;
    if ((lead & 0xe0) == 0xc0) {
      n = 2, cp = lead & 0x1f, least = 0x80;
    } else if ((lead & 0xf0) == 0xe0) {
      n = 3, cp = lead & 0x0f, least = 0x800;
    } else if ((lead & 0xf8) == 0xf0) {
      n = 4, cp = lead & 0x07, least = 0x10000;
    } else {
      return false;
    }
    if (i + n > group.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(group[i + k]);
      if ((c & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < least || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    if (cp >= 0x80 && cp <= 0x9f) return false;  // C1 controls
    i += n;
  }
  return true;
}

}  // namespace vss::ipc
