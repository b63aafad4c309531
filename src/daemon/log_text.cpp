// Escaping openvssd's log records (log_text.hpp), by the rules of core/escape_text.hpp.
#include "daemon/log_text.hpp"

#include <spdlog/pattern_formatter.h>

#include <asio/multiple_exceptions.hpp>

#include "core/escape_text.hpp"

namespace vss::daemon {
namespace {

// The message of a record, escaped: spdlog's %v with escape_log_text applied, written straight
// into the record's buffer.
class escaped_message final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    detail::append_escaped(dest, {msg.payload.data(), msg.payload.size()});
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<escaped_message>();
  }
};

}  // namespace

std::string escape_log_text(std::string_view text) { return detail::escape_text(text); }

std::unique_ptr<spdlog::formatter> make_log_formatter(const std::string& pattern) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<escaped_message>('q').set_pattern(pattern);
  return formatter;
}

std::string describe_exception(std::exception_ptr e) noexcept {
  if (!e) return "no exception";
  try {
    try {
      std::rethrow_exception(e);
    } catch (const asio::multiple_exceptions& several) {
      // Derived from std::exception, whose what() here says only "multiple exceptions".
      return describe_exception(several.first_exception()) +
             " (the first of several thrown in one handler's run)";
    } catch (const std::exception& x) {
      return x.what();
    } catch (...) {
      return "an exception that is not a std::exception";
    }
  } catch (...) {
    return {};
  }
}

}  // namespace vss::daemon
