#pragma once
// What reaches openvssd's log from its peers (writer names, a writer's failure message, a
// client's name, a protocol error's detail) is escaped there, so that one record stays one
// line: a writer named "x\nevent=8193 ..." must not forge a record of its own. What it
// cannot stop: a name that imitates the record's own text inside the line (quotes and
// field=value pairs are written as they come); read a record's fields by its event id's
// layout, not by searching for them.

#include <spdlog/formatter.h>  // the declared type, not a guess at spdlog's namespace layout

#include <exception>
#include <memory>
#include <string>
#include <string_view>

namespace vss::daemon {

/// `text` with every byte that could end a log line, or hide or reorder what it shows, written
/// as an escape: detail::escape_text (core/escape_text.hpp lists the rules; the `openvss` CLI
/// shows a peer's text by the same ones). Every `\` of the result starts an escape.
std::string escape_log_text(std::string_view text);

/// openvssd's record layout, `pattern` in spdlog's syntax plus `%q`: the message, escaped
/// with escape_log_text (no padding or truncation: `%-40q` is written as `%q`). Escaping the
/// whole message rather than each peer-supplied argument means no log call can forget it.
std::unique_ptr<spdlog::formatter> make_log_formatter(const std::string& pattern);

/// What an exception says, for a record: its what(); for several handlers' exceptions that Asio
/// gathered into one `asio::multiple_exceptions`, the first one's, marked as one of several;
/// a fixed text for a null pointer or an exception that is not a std::exception. Empty only
/// if building the text itself failed (out of memory): callers log from a failure path.
std::string describe_exception(std::exception_ptr e) noexcept;

}  // namespace vss::daemon
