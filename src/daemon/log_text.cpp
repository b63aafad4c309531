// Escaping openvssd's log records (log_text.hpp).
#include "daemon/log_text.hpp"

#include <spdlog/pattern_formatter.h>

#include "core/utf8.hpp"

namespace vss::daemon {
namespace {

constexpr char hex_digits[] = "0123456789abcdef";

// Appends `text` to `out`: a std::string, or the buffer spdlog formats a record into.
template <class Buffer>
void append(Buffer& out, std::string_view text) {
  out.append(text.data(), text.data() + text.size());
}

template <class Buffer>
void append_hex_byte(Buffer& out, unsigned char b) {
  const char escape[] = {'\\', 'x', hex_digits[b >> 4], hex_digits[b & 0xF]};
  append(out, {escape, sizeof escape});
}

template <class Buffer>
void append_code_point(Buffer& out, unsigned cp) {
  const char escape[] = {'\\',
                         'u',
                         hex_digits[(cp >> 12) & 0xF],
                         hex_digits[(cp >> 8) & 0xF],
                         hex_digits[(cp >> 4) & 0xF],
                         hex_digits[cp & 0xF]};
  append(out, {escape, sizeof escape});
}

// C1 controls (NEL ends a line, CSI starts a terminal's control sequence), the line and
// paragraph separators, and the bidirectional controls, which reorder what a terminal shows.
constexpr bool needs_code_point_escape(unsigned cp) noexcept {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || cp == 0x200E || cp == 0x200F ||
         (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

// escape_log_text's work, appended to `out` (see the header for what is escaped).
template <class Buffer>
void append_escaped(Buffer& out, std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    if (b >= 0x20 && b < 0x7F) {
      append(out, b == '\\' ? std::string_view("\\\\") : text.substr(i, 1));
      ++i;
      continue;
    }
    switch (b) {
      case '\n':
        append(out, "\\n");
        ++i;
        continue;
      case '\r':
        append(out, "\\r");
        ++i;
        continue;
      case '\t':
        append(out, "\\t");
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
    const auto cp = detail::utf8_code_point(text, i, n);
    if (needs_code_point_escape(cp)) {
      append_code_point(out, cp);
    } else {
      append(out, text.substr(i, n));
    }
    i += n;
  }
}

// The message of a record, escaped: spdlog's %v with escape_log_text applied, written straight
// into the record's buffer.
class escaped_message final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    append_escaped(dest, {msg.payload.data(), msg.payload.size()});
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<escaped_message>();
  }
};

}  // namespace

std::string escape_log_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  append_escaped(out, text);
  return out;
}

std::unique_ptr<spdlog::formatter> make_log_formatter(const std::string& pattern) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<escaped_message>('q').set_pattern(pattern);
  return formatter;
}

}  // namespace vss::daemon
