// Escaping openvssd's log records (log_text.hpp).
#include "daemon/log_text.hpp"

#include <spdlog/pattern_formatter.h>

#include "core/utf8.hpp"

namespace vss::daemon {
namespace {

constexpr char hex_digits[] = "0123456789abcdef";

void append_hex_byte(std::string& out, unsigned char b) {
  out += "\\x";
  out += hex_digits[b >> 4];
  out += hex_digits[b & 0xF];
}

void append_code_point(std::string& out, unsigned cp) {
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out += hex_digits[(cp >> shift) & 0xF];
}

// The code point of the well-formed sequence of `n` bytes at s[i].
unsigned decode(std::string_view s, std::size_t i, std::size_t n) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  static constexpr unsigned lead_mask[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  unsigned cp = byte(0) & lead_mask[n];
  for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (byte(k) & 0x3F);
  return cp;
}

// C1 controls (NEL ends a line, CSI starts a terminal's control sequence), the line and
// paragraph separators, and the bidirectional controls, which reorder what a terminal shows.
constexpr bool needs_code_point_escape(unsigned cp) noexcept {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || cp == 0x200E || cp == 0x200F ||
         (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

// The message of a record, escaped: spdlog's %v with escape_log_text applied.
class escaped_message final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const auto text = escape_log_text({msg.payload.data(), msg.payload.size()});
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<escaped_message>();
  }
};

}  // namespace

std::string escape_log_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    if (b >= 0x20 && b < 0x7F) {
      if (b == '\\') out += '\\';
      out += static_cast<char>(b);
      ++i;
      continue;
    }
    switch (b) {
      case '\n':
        out += "\\n";
        ++i;
        continue;
      case '\r':
        out += "\\r";
        ++i;
        continue;
      case '\t':
        out += "\\t";
        ++i;
        continue;
      default:
        break;
    }
    const auto n = b < 0x80 ? 0 : detail::utf8_sequence_length(text, i);
    if (n == 0) {  // a C0 control, DEL, or a byte that is not well-formed UTF-8
      append_hex_byte(out, b);
      ++i;
      continue;
    }
    const auto cp = decode(text, i, n);
    if (needs_code_point_escape(cp)) {
      append_code_point(out, cp);
    } else {
      out.append(text.substr(i, n));
    }
    i += n;
  }
  return out;
}

std::unique_ptr<spdlog::formatter> make_log_formatter(const std::string& pattern) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<escaped_message>('q').set_pattern(pattern);
  return formatter;
}

}  // namespace vss::daemon
