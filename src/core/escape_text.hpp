#pragma once
// Text a peer gave us (a writer's name or failure message, a client's name, a provider's name),
// escaped before a person reads it: in openvssd's log (daemon/log_text.hpp) and in what the
// `openvss` CLI prints (cli/cli_output.cpp). Header-only, so that each program has the one
// implementation without linking the other's code; the template writes into a std::string or
// straight into the buffer spdlog formats a record into.

#include <cstddef>
#include <string>
#include <string_view>

#include "core/utf8.hpp"

namespace vss::detail {

namespace escape_text_parts {

inline constexpr char hex_digits[] = "0123456789abcdef";

// Appends `text` to `out`: a std::string, or a fmt/spdlog memory buffer (both take a range).
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

}  // namespace escape_text_parts

/// What append_escaped is given.
enum class text_kind {
  plain,  ///< Any bytes.
  json,   ///< JSON text, as nlohmann::json::dump writes it.
};

/// Appends `text` to `out` (a std::string, or anything with `append(first, last)` over chars,
/// such as spdlog's memory_buf_t) with every byte that could end a line, move the cursor,
/// recolour or retitle a terminal, or hide or reorder what it shows written as an escape: `\`
/// as `\\`; line feed, carriage return and tab as `\n`, `\r`, `\t`; other C0 controls (ESC
/// among them), DEL and bytes that are not well-formed UTF-8 as `\xNN`; as `\uNNNN` the C1
/// controls, U+2028/U+2029 (line and paragraph separators) and the bidirectional controls
/// (U+061C, U+200E/F, U+202A–202E, U+2066–2069). Other UTF-8 is kept as it is. Every `\` of
/// the result starts one of these escapes.
///
/// JSON text (`kind` json) stays the same JSON: its `\` start JSON's own escapes and are kept,
/// and the C0 controls and DEL are written `\u00NN` (nlohmann::json escapes every C0 control
/// itself, but leaves DEL and the code points above as they are).
template <class Buffer>
void append_escaped(Buffer& out, std::string_view text, text_kind kind = text_kind::plain) {
  using namespace escape_text_parts;
  for (std::size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    if (b >= 0x20 && b < 0x7F) {
      const bool doubled = b == '\\' && kind == text_kind::plain;
      append(out, doubled ? std::string_view("\\\\") : text.substr(i, 1));
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
    const auto n = b < 0x80 ? 0 : utf8_sequence_length(text, i);
    if (n == 0) {  // a C0 control, DEL, or a byte that is not well-formed UTF-8
      // JSON has no `\xNN`; nlohmann::json leaves DEL as it is.
      if (kind == text_kind::json && b < 0x80) {
        append_code_point(out, b);
      } else {
        append_hex_byte(out, b);
      }
      ++i;
      continue;
    }
    const auto cp = utf8_code_point(text, i, n);
    if (needs_code_point_escape(cp)) {
      append_code_point(out, cp);
    } else {
      append(out, text.substr(i, n));
    }
    i += n;
  }
}

/// `text` escaped as append_escaped describes.
inline std::string escape_text(std::string_view text, text_kind kind = text_kind::plain) {
  std::string out;
  out.reserve(text.size());
  append_escaped(out, text, kind);
  return out;
}

}  // namespace vss::detail
