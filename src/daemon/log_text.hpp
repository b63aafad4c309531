#pragma once
// What reaches openvssd's log from its peers (writer names, a writer's failure message, a
// client's name, a protocol error's detail) is escaped there, so that one record stays one
// line: a writer named "x\nevent=8193 ..." must not forge a record of its own.

#include <memory>
#include <string>
#include <string_view>

namespace spdlog {
class formatter;
}

namespace vss::daemon {

/// `text` with every byte that could end, forge or garble a log line written as an escape:
/// `\` as `\\`; line feed, carriage return and tab as `\n`, `\r`, `\t`; other C0 controls,
/// DEL and bytes that are not well-formed UTF-8 as `\xNN`; the C1 controls and U+2028/U+2029
/// (line and paragraph separators) as `\uNNNN`. Other UTF-8 is kept as it is.
std::string escape_log_text(std::string_view text);

/// openvssd's record layout, `pattern` in spdlog's syntax plus `%q`: the message, escaped
/// with escape_log_text. Escaping the whole message rather than each peer-supplied argument
/// means no log call can forget it.
std::unique_ptr<spdlog::formatter> make_log_formatter(const std::string& pattern);

}  // namespace vss::daemon
