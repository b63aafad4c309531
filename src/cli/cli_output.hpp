#pragma once
// What the `openvss` CLI prints. With --json: one JSON document on stdout per command
// ({"ok":true,"op":...,"result":...} or {"ok":false,"op":...,"exit_code":n,"error":{...},
// "result"?:...}) and the progress frames as JSON lines on stderr. Otherwise: readable tables
// on stdout, errors on stderr, and the progress of a backup on stdout, redrawn in place per
// phase and writer when stdout is a terminal, as plain lines when it is not. Readable output
// shows every text from the daemon escaped by the rules of its log (core/escape_text.hpp), so
// that what a peer named or wrote cannot drive the terminal or forge a line; --json keeps the
// text as it came (JSON escapes control characters itself).

#include <cstdint>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "cli/exit_codes.hpp"

namespace vss::cli {

/// How to print.
struct output_style {
  bool json = false;   ///< --json.
  bool live = false;   ///< stdout is a terminal: progress is redrawn in place.
  bool color = false;  ///< ANSI colours (a terminal, and NO_COLOR unset).
};

/// Renders the progress frames of one request.
class progress_printer {
 public:
  progress_printer(output_style style, std::ostream& out, std::ostream& err);

  /// Prints one `progress` body.
  void operator()(const nlohmann::json& frame);

  /// Ends a live line that is still open (call before printing anything else).
  void close();

 private:
  void redraw();
  std::string stamp(const nlohmann::json& frame) const;

  output_style style_;
  std::ostream& out_;
  std::ostream& err_;
  bool open_ = false;  // a live line is on screen without its newline
  std::string phase_;
  std::vector<std::pair<std::string, int>> events_;  // writer events of this phase, in order
  std::string last_;
};

/// "850 µs", "12.3 ms", "2.50 s".
std::string format_us(std::int64_t us);

/// Prints the final frame of `op` (a reply or error body) and returns the exit code.
int print_outcome(const std::string& op, const nlohmann::json& final_frame,
                  const output_style& style, std::ostream& out, std::ostream& err);

/// Prints a failure of the CLI itself and returns its exit code.
int print_failure(const std::string& op, const cli_error& e, const output_style& style,
                  std::ostream& out, std::ostream& err);

/// Prints a successful local result (bench-abort's summary) and returns 0.
int print_local_result(const std::string& op, const nlohmann::json& result,
                       const output_style& style, std::ostream& out);

}  // namespace vss::cli
