#include "vss/ipc/placement.hpp"

#include "core/utf8.hpp"

namespace vss::ipc {

bool is_valid_group(std::string_view group) noexcept {
  if (group.size() > max_group_bytes) return false;
  for (std::size_t i = 0; i < group.size();) {
    const auto b0 = static_cast<unsigned char>(group[i]);
    if (b0 < 0x20 || b0 == 0x7f) return false;  // C0, DEL
    // C1 controls (U+0080..U+009F) are the two-byte sequences 0xC2 0x80..0x9F.
    if (b0 == 0xc2 && i + 1 < group.size() && static_cast<unsigned char>(group[i + 1]) <= 0x9f) {
      return false;
    }
    const auto n = detail::utf8_sequence_length(group, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

}  // namespace vss::ipc
