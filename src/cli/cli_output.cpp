#include "cli/cli_output.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <ostream>
#include <string_view>
#include <utility>
#include <vector>

#include "core/escape_text.hpp"

namespace vss::cli {

using json = nlohmann::json;

namespace {

struct colors {
  bool on = false;
  std::string_view bold() const { return on ? "\033[1m" : ""; }
  std::string_view dim() const { return on ? "\033[2m" : ""; }
  std::string_view green() const { return on ? "\033[32m" : ""; }
  std::string_view red() const { return on ? "\033[31m" : ""; }
  std::string_view yellow() const { return on ? "\033[33m" : ""; }
  std::string_view reset() const { return on ? "\033[0m" : ""; }
};

// A value from the daemon as the operator's terminal gets it, escaped (core/escape_text.hpp): a
// string as its text, anything else as its JSON, which stays the same JSON. The daemon passes on
// what its peers wrote (writer names and groups, failure messages, provider names), so a writer
// named "x\033]0;pwned\007" or "a\nWRITER ..." would otherwise retitle the terminal or forge
// a row of a table.
std::string shown(const json& value) {
  if (value.is_string()) return detail::escape_text(value.get_ref<const std::string&>());
  return detail::escape_text(value.dump(), detail::text_kind::json);
}

// `j[key]`, or null when it is absent or null.
const json* field(const json& j, const char* key) {
  const auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

// `j[key]` as the daemon sent it (a string's text, anything else as its JSON), or "": for
// --json, whose serialiser escapes what it writes.
std::string raw_str(const json& j, const char* key) {
  const json* v = field(j, key);
  if (v == nullptr) return {};
  return v->is_string() ? v->get<std::string>() : v->dump();
}

// `j[key]` as shown() shows it, or "" when it is absent or null: for readable output.
std::string str(const json& j, const char* key) {
  const json* v = field(j, key);
  return v == nullptr ? std::string() : shown(*v);
}

// `value` as indented JSON, escaped as shown() escapes JSON, line by line: the dump's own line
// breaks are its layout (a line feed in a string is `\n` inside it), and they stay.
std::string shown_indented(const json& value) {
  const std::string dumped = value.dump(2);
  std::string out;
  for (std::string_view rest = dumped;;) {
    const auto end = rest.find('\n');
    detail::append_escaped(out, rest.substr(0, end), detail::text_kind::json);
    if (end == std::string_view::npos) return out;
    out += '\n';
    rest.remove_prefix(end + 1);
  }
}

std::int64_t num(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<std::int64_t>() : 0;
}

// Left-aligned columns, two spaces apart, the header in bold.
void print_table(std::ostream& os, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows, const colors& c,
                 std::string_view indent = "") {
  std::vector<std::size_t> width(header.size(), 0);
  for (std::size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], r[i].size());
    }
  }
  auto line = [&](const std::vector<std::string>& cells, std::string_view on,
                  std::string_view off) {
    os << indent << on;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      os << cells[i];
      if (i + 1 < cells.size()) os << std::string(width[i] - cells[i].size() + 2, ' ');
    }
    os << off << '\n';
  };
  line(header, c.bold(), c.reset());
  for (const auto& r : rows) line(r, "", "");
}

std::string state_cell(const json& w) {
  return "[" + std::to_string(num(w, "state")) + "] " + str(w, "state_text");
}

std::string error_cell(const json& w) {
  std::string s = str(w, "last_error_text");
  if (str(w, "last_error") != "S_OK") s += " (" + str(w, "last_error") + ")";
  return s;
}

void print_writers(std::ostream& os, const json& writers, const colors& c,
                   std::string_view indent = "") {
  std::vector<std::vector<std::string>> rows;
  for (const auto& w : writers) {
    rows.push_back(
        {str(w, "name"), state_cell(w), error_cell(w), str(w, "level"), str(w, "instance_id")});
  }
  print_table(os, {"WRITER", "STATE", "LAST ERROR", "LEVEL", "INSTANCE ID"}, rows, c, indent);
}

void print_snapshots(std::ostream& os, const json& snapshots, const colors& c, bool with_set,
                     std::string_view indent = "") {
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : snapshots) {
    std::vector<std::string> row = {str(s, "id")};
    if (with_set) row.push_back(str(s, "set"));
    row.push_back(str(s, "volume"));
    row.push_back(str(s, "device"));
    row.push_back(str(s, "created"));
    row.push_back(s.value("persistent", false) ? "persistent" : "auto-release");
    rows.push_back(std::move(row));
  }
  std::vector<std::string> header = {"SNAPSHOT ID"};
  if (with_set) header.push_back("SET");
  for (const char* h : {"VOLUME", "DEVICE", "CREATED", "KIND"}) header.emplace_back(h);
  print_table(os, header, rows, c, indent);
}

// "PrepareSnapshot: 3 completed; Freeze: 2 completed, 1 failed": one entry per event, since an
// event is delivered level by level (one report each).
std::string reports_summary(const json& reports) {
  std::vector<std::pair<std::string, std::map<std::string, int>>> by_event;
  for (const auto& r : reports) {
    const std::string event = str(r, "event");
    auto it = std::find_if(by_event.begin(), by_event.end(),
                           [&](const auto& e) { return e.first == event; });
    if (it == by_event.end()) it = by_event.insert(by_event.end(), {event, {}});
    for (const auto& w : r.value("results", json::array())) ++it->second[str(w, "outcome")];
  }
  std::string s;
  for (const auto& [event, outcomes] : by_event) {
    s += (s.empty() ? "" : "; ") + event + ":";
    bool first = true;
    for (const auto& [outcome, n] : outcomes) {
      s += (first ? " " : ", ") + std::to_string(n) + " " + outcome;
      first = false;
    }
    if (first) s += " no writer";
  }
  return s;
}

std::string grade_text(const std::string& grade) {
  if (grade == "application") return "application-consistent";
  if (grade == "filesystem") return "filesystem-consistent";
  if (grade == "crash") return "crash-consistent";
  return "no snapshot";
}

void print_backup(std::ostream& os, const json& r, const colors& c) {
  const std::string grade = str(r, "consistency");
  const bool good = grade == "application";
  os << c.bold() << "Snapshot set " << (str(r, "set").empty() ? "(none)" : str(r, "set"))
     << c.reset() << "  " << (good ? c.green() : c.yellow()) << grade_text(grade) << c.reset()
     << "  " << str(r, "hresult") << "  total "
     << format_us(r.value("durations_us", json::object()).value("total", std::int64_t{0})) << '\n';
  const auto& snaps = r.value("snapshots", json::array());
  if (!snaps.empty()) {
    os << '\n';
    print_snapshots(os, snaps, c, false, "  ");
  }
  const auto& writers = r.value("writers", json::array());
  if (!writers.empty()) {
    os << '\n';
    print_writers(os, writers, c, "  ");
  }
  if (const auto h = r.find("write_hold"); h != r.end()) {
    os << '\n' << "  flush-and-hold: ";
    if (h->contains("failure")) {
      os << c.yellow() << str(*h, "failure") << c.reset() << " " << str(*h, "message");
    } else {
      bool first = true;
      for (const auto& fs : h->value("filesystems", json::array())) {
        os << (first ? "" : ", ") << shown(fs);
        first = false;
      }
      os << " held " << format_us(num(*h, "held_us"));
      if (h->value("expired", false)) os << c.yellow() << " (hold budget ran out)" << c.reset();
    }
    os << '\n';
  }
  if (const auto a = r.find("abort"); a != r.end()) {
    os << '\n' << "  abort: ";
    if (a->value("fired", false)) {
      os << str(*a, "reason") << ", AbortBackup " << str(*a, "hresult") << " in "
         << format_us(num(*a, "duration_us"));
      if (a->contains("cancel_us")) {
        os << ", the backup stopped " << format_us(num(*a, "cancel_us")) << " after the call";
      }
    } else {
      os << "requested (";
      bool first = true;
      for (const auto& t : a->value("requested", json::array())) {
        os << (first ? "" : ", ") << shown(t);
        first = false;
      }
      os << ") but never fired: the backup did not reach that point";
    }
    os << '\n';
  }
}

// The daemon's catalog: what it holds and what recovery did at startup (docs/recovery.md).
void print_catalog(std::ostream& os, const json& k, const colors& c) {
  os << "catalog: " << str(k, "file") << '\n';
  std::string sets;
  for (const auto& [state, n] : k.value("sets", json::object()).items()) {
    if (n.get<std::int64_t>() == 0) continue;
    sets += (sets.empty() ? "" : ", ") + detail::escape_text(state) + " " +
            std::to_string(n.get<std::int64_t>());
  }
  os << "  sets: " << (sets.empty() ? "none" : sets) << "; snapshots: " << num(k, "snapshots")
     << '\n';
  const auto r = k.value("recovered_at_start", json::object());
  os << "  recovered at start: " << num(r, "sets_aborted") << " set(s) in creation aborted, "
     << num(r, "sets_released") << " auto-release set(s) released, " << num(r, "snapshots_adopted")
     << " snapshot(s) adopted, " << num(r, "sets_left") << " left for the next start";
  const auto thawed = r.value("thawed_filesystems", json::array());
  if (!thawed.empty()) os << "; thawed " << shown(thawed);
  os << '\n';
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : k.value("recent_recoveries", json::array())) {
    rows.push_back({str(e, "at"), str(e, "set"), str(e, "action"), str(e, "previous_state"),
                    std::to_string(num(e, "snapshots")), str(e, "detail")});
  }
  if (!rows.empty()) {
    print_table(os, {"AT", "SET", "ACTION", "WAS", "SNAPSHOTS", "DETAIL"}, rows, c, "  ");
  }
}

void print_status(std::ostream& os, const json& r, const colors& c) {
  for (const auto& [key, value] : r.items()) {
    if (key == "running" || key == "providers" || key == "catalog") continue;
    os << detail::escape_text(key) << ": " << shown(value) << '\n';
  }
  const auto& providers = r.value("providers", json::array());
  os << "providers: " << providers.size() << '\n';
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : providers) {
    rows.push_back({str(p, "name"), str(p, "type"), str(p, "version"), str(p, "id")});
  }
  if (!rows.empty()) print_table(os, {"PROVIDER", "TYPE", "VERSION", "ID"}, rows, c, "  ");
  const auto& running = r.value("running", json::array());
  os << "running backups: " << running.size() << '\n';
  rows.clear();
  for (const auto& b : running) {
    rows.push_back({str(b, "set").empty() ? "(no set yet)" : str(b, "set"), str(b, "phase"),
                    format_us(num(b, "elapsed_us"))});
  }
  if (!rows.empty()) print_table(os, {"SET", "PHASE", "ELAPSED"}, rows, c, "  ");
  if (const auto k = r.find("catalog"); k != r.end() && k->is_object()) print_catalog(os, *k, c);
}

void print_bench(std::ostream& os, const json& r, const colors& c) {
  os << c.bold() << "abort latency at " << str(r, "phase") << c.reset() << ": " << num(r, "aborted")
     << " of " << num(r, "count") << " backups aborted, " << num(r, "writers") << " writer(s)\n";
  std::vector<std::vector<std::string>> rows;
  for (const char* key : {"abort_us", "cancel_us"}) {
    const auto it = r.find(key);
    if (it == r.end() || it->empty()) continue;
    rows.push_back({key == std::string_view("abort_us") ? "AbortBackup call -> done"
                                                        : "AbortBackup call -> backup stopped",
                    format_us(num(*it, "min")), format_us(num(*it, "p50")),
                    format_us(num(*it, "p99")), format_us(num(*it, "max"))});
  }
  print_table(os, {"LATENCY", "MIN", "P50", "P99", "MAX"}, rows, c, "  ");
}

void print_result(std::ostream& os, const std::string& op, const json& r, const colors& c) {
  if (op == "writers") {
    const auto& writers = r.value("writers", json::array());
    if (writers.empty()) {
      os << "No writers registered.\n";
    } else {
      print_writers(os, writers, c);
    }
  } else if (op == "snapshots") {
    const auto& snaps = r.value("snapshots", json::array());
    if (snaps.empty()) {
      os << "No snapshots.\n";
    } else {
      print_snapshots(os, snaps, c, true);
    }
  } else if (op == "delete") {
    os << "Deleted " << num(r, "deleted") << " snapshot(s).\n";
  } else if (op == "abort") {
    os << "Aborted the backup of set " << str(r, "set") << ": AbortBackup " << str(r, "hresult")
       << " in " << format_us(num(r, "duration_us")) << ".\n";
  } else if (op == "status") {
    print_status(os, r, c);
  } else if (op == "backup") {
    print_backup(os, r, c);
  } else if (op == "bench-abort") {
    print_bench(os, r, c);
  } else {
    os << shown_indented(r) << '\n';
  }
}

}  // namespace

std::string format_us(std::int64_t us) {
  char buf[32];
  if (us < 1000) {
    std::snprintf(buf, sizeof buf, "%lld µs", static_cast<long long>(us));
  } else if (us < 1'000'000) {
    std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(us) / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f s", static_cast<double>(us) / 1e6);
  }
  return buf;
}

progress_printer::progress_printer(output_style style, std::ostream& out, std::ostream& err)
    : style_(style), out_(out), err_(err) {}

std::string progress_printer::stamp(const json& frame) const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "[+%9.3f ms] ", static_cast<double>(num(frame, "at_us")) / 1e3);
  return buf;
}

void progress_printer::redraw() {
  const colors c{style_.color};
  out_ << "\r\033[K  " << c.bold() << phase_ << c.reset() << " ...";
  bool first = true;
  for (const auto& [event, n] : events_) {
    out_ << (first ? " " : ", ") << event << ' ' << n;
    first = false;
  }
  if (!last_.empty()) out_ << c.dim() << "  (" << last_ << ")" << c.reset();
  out_ << std::flush;
  open_ = true;
}

void progress_printer::close() {
  if (open_) {
    out_ << '\n' << std::flush;
    open_ = false;
  }
}

void progress_printer::operator()(const json& frame) {
  if (style_.json) {
    err_ << frame.dump() << '\n' << std::flush;
    return;
  }
  const colors c{style_.color};
  const std::string phase = str(frame, "phase");
  const std::string step = str(frame, "step");
  if (step == "started") {
    if (style_.live) {
      close();
      phase_ = phase;
      events_.clear();
      last_ = str(frame, "reason");
      redraw();
    } else {
      out_ << stamp(frame) << phase << " started";
      if (frame.contains("reason")) out_ << " (" << str(frame, "reason") << ")";
      out_ << '\n';
    }
  } else if (step == "event") {
    if (style_.live) {
      if (phase != phase_) return;
      const std::string event = str(frame, "event");
      auto it = std::find_if(events_.begin(), events_.end(),
                             [&](const auto& e) { return e.first == event; });
      if (it == events_.end()) it = events_.insert(events_.end(), {event, 0});
      ++it->second;
      last_ = str(frame, "writer") + " " + str(frame, "event");
      redraw();
    } else {
      out_ << stamp(frame) << "  " << str(frame, "writer") << " received " << str(frame, "event")
           << '\n';
    }
  } else if (step == "provider") {
    if (style_.live) {
      last_ = "provider " + str(frame, "call");
      redraw();
    } else {
      out_ << stamp(frame) << "  provider " << str(frame, "call") << '\n';
    }
  } else if (step == "finished") {
    const std::string hresult = str(frame, "hresult");
    const bool ok = hresult == "S_OK" || hresult == "VSS_S_ASYNC_FINISHED";
    std::string detail;
    if (frame.contains("set")) detail = "set " + str(frame, "set");
    const auto summary = reports_summary(frame.value("reports", json::array()));
    if (!summary.empty()) detail += (detail.empty() ? "" : "; ") + summary;
    if (style_.live) {
      out_ << "\r\033[K" << (ok ? c.green() : c.red()) << (ok ? "  ok " : "  !! ") << c.reset()
           << c.bold() << phase << c.reset() << "  " << hresult << "  "
           << format_us(num(frame, "duration_us")) << c.dim()
           << (detail.empty() ? "" : "  " + detail) << c.reset() << '\n';
      open_ = false;
      phase_.clear();
      events_.clear();
      last_.clear();
    } else {
      out_ << stamp(frame) << phase << " finished: " << hresult << " in "
           << format_us(num(frame, "duration_us")) << (detail.empty() ? "" : " (" + detail + ")")
           << '\n';
    }
    // Writers that did not simply complete, one line each.
    for (const auto& r : frame.value("reports", json::array())) {
      for (const auto& w : r.value("results", json::array())) {
        if (str(w, "outcome") == "completed") continue;
        out_ << "       " << c.red() << str(w, "writer") << c.reset() << "  " << str(r, "event")
             << "  " << str(w, "outcome") << "  " << str(w, "hresult")
             << (str(w, "message").empty() ? "" : "  " + str(w, "message")) << '\n';
      }
    }
  }
  out_ << std::flush;
}

int print_outcome(const std::string& op, const json& final_frame, const output_style& style,
                  std::ostream& out, std::ostream& err) {
  const colors c{style.color};
  if (final_frame.value("type", "") == "reply") {
    const json& result = final_frame.contains("result") ? final_frame["result"] : json::object();
    if (style.json) {
      out << json{{"ok", true}, {"op", op}, {"result", result}}.dump(2) << '\n';
    } else {
      print_result(out, op, result, c);
    }
    return to_int(exit_code::ok);
  }
  const auto code = exit_code_of(final_frame);
  if (style.json) {
    json doc = {{"ok", false},
                {"op", op},
                {"exit_code", to_int(code)},
                {"error",
                 {{"code", raw_str(final_frame, "code")},
                  {"hresult", raw_str(final_frame, "hresult")},
                  {"message", raw_str(final_frame, "message")}}}};
    if (final_frame.contains("result")) doc["result"] = final_frame["result"];
    out << doc.dump(2) << '\n';
  } else {
    if (final_frame.contains("result") && op == "backup")
      print_backup(out, final_frame["result"], c);
    err << "openvss " << op << ": " << c.red() << str(final_frame, "hresult") << c.reset()
        << (str(final_frame, "hresult").empty() ? str(final_frame, "code") : "") << ": "
        << str(final_frame, "message") << '\n';
  }
  return to_int(code);
}

int print_failure(const std::string& op, const cli_error& e, const output_style& style,
                  std::ostream& out, std::ostream& err) {
  if (style.json) {
    out << json{{"ok", false},
                {"op", op},
                {"exit_code", to_int(e.code())},
                {"error", {{"code", "cli"}, {"message", e.what()}}}}
               // The message may quote bytes the daemon sent that are not UTF-8 (a protocol
               // error's detail): replaced (U+FFFD), not thrown on from this handler.
               .dump(2, ' ', false, json::error_handler_t::replace)
        << '\n';
  }
  // Its message can carry the daemon's text (a protocol error's detail, a refusal's reason).
  err << "openvss " << op << ": " << detail::escape_text(e.what()) << '\n';
  return to_int(e.code());
}

int print_local_result(const std::string& op, const json& result, const output_style& style,
                       std::ostream& out) {
  if (style.json) {
    out << json{{"ok", true}, {"op", op}, {"result", result}}.dump(2) << '\n';
  } else {
    print_result(out, op, result, colors{style.color});
  }
  return to_int(exit_code::ok);
}

}  // namespace vss::cli
