#include "ipc/protocol_error.hpp"

#include <array>
#include <string>

namespace vss::ipc {
namespace {

struct errc_info {
  protocol_errc code;
  std::string_view name;
  std::string_view meaning;
};

constexpr std::array<errc_info, 14> k_codes{{
    {protocol_errc::empty_frame, "empty_frame", "frame length 0"},
    {protocol_errc::oversized_frame, "oversized_frame", "frame length above the maximum"},
    {protocol_errc::truncated_frame, "truncated_frame", "connection closed inside a frame"},
    {protocol_errc::bad_json, "bad_json", "payload is not valid JSON"},
    {protocol_errc::not_an_object, "not_an_object", "payload is not a JSON object"},
    {protocol_errc::missing_type, "missing_type", "message has no string \"type\""},
    {protocol_errc::unknown_type, "unknown_type", "unknown message type"},
    {protocol_errc::bad_message, "bad_message", "message field missing or invalid"},
    {protocol_errc::out_of_order, "out_of_order", "message not allowed at this point"},
    {protocol_errc::version_mismatch, "version_mismatch", "protocol version not supported"},
    {protocol_errc::not_authorized, "not_authorized", "peer not authorized for the role"},
    {protocol_errc::unknown_op, "unknown_op", "unknown request operation"},
    {protocol_errc::vss_error, "vss_error", "VSS operation failed"},
    {protocol_errc::server_busy, "server_busy", "server busy"},
}};

const errc_info* find(protocol_errc e) noexcept {
  for (const errc_info& c : k_codes) {
    if (c.code == e) return &c;
  }
  return nullptr;
}

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "vss.ipc"; }

  std::string message(int v) const override {
    if (const errc_info* c = find(static_cast<protocol_errc>(v))) {
      return std::string(c->name) + ": " + std::string(c->meaning);
    }
    return "unknown protocol error " + std::to_string(v);
  }
};

}  // namespace

const std::error_category& protocol_category() noexcept {
  static const category instance;
  return instance;
}

std::error_code make_error_code(protocol_errc e) noexcept {
  return {static_cast<int>(e), protocol_category()};
}

std::string_view to_string(protocol_errc e) noexcept {
  const errc_info* c = find(e);
  return c != nullptr ? c->name : std::string_view{};
}

std::optional<protocol_errc> protocol_errc_from_string(std::string_view s) noexcept {
  for (const errc_info& c : k_codes) {
    if (c.name == s) return c.code;
  }
  return std::nullopt;
}

bool closes_connection(protocol_errc e) noexcept {
  switch (e) {
    case protocol_errc::empty_frame:
    case protocol_errc::oversized_frame:
    case protocol_errc::truncated_frame:
    case protocol_errc::out_of_order:
    case protocol_errc::version_mismatch:
    case protocol_errc::not_authorized:
    case protocol_errc::server_busy:
      return true;
    case protocol_errc::bad_json:
    case protocol_errc::not_an_object:
    case protocol_errc::missing_type:
    case protocol_errc::unknown_type:
    case protocol_errc::bad_message:
    case protocol_errc::unknown_op:
    case protocol_errc::vss_error:
      return false;
  }
  return false;
}

}  // namespace vss::ipc
