#include "vss/ipc/placement.hpp"

#include "core/utf8.hpp"

namespace vss::ipc {

bool is_valid_group(std::string_view group) noexcept {
  if (group.size() > max_group_bytes) return false;
  for (std::size_t i = 0; i < group.size();) {
    const auto n = detail::utf8_sequence_length(group, i);
    if (n == 0) return false;
    const auto cp = detail::utf8_code_point(group, i, n);
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return false;  // C0, DEL, C1
    i += n;
  }
  return true;
}

}  // namespace vss::ipc
