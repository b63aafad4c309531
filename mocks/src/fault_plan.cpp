// Copyright (c) openvss authors. SPDX-License-Identifier: Apache-2.0

#include "vss/mocks/fault_plan.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace vss::mocks {
namespace {

// Printed by to_string() and accepted by writer_event_from_string() in fault.cpp; the round-trip
// tests keep the two in step.
constexpr std::array<std::string_view, writer_event_count> k_event_names{
    "identify",      "prepare_backup", "prepare_snapshot", "freeze",          "thaw",
    "post_snapshot", "abort",          "backup_complete",  "backup_shutdown",
};

// The short names fault.cpp prints for the five VSS_E_WRITERERROR_* codes.
constexpr std::array<std::pair<errc, std::string_view>, 5> k_short_codes{{
    {errc::writer_error_retryable, "retryable"},
    {errc::writer_error_nonretryable, "nonretryable"},
    {errc::writer_error_inconsistent_snapshot, "inconsistent_snapshot"},
    {errc::writer_error_out_of_resources, "out_of_resources"},
    {errc::writer_error_timeout, "timeout"},
}};

struct duration_unit {
  std::string_view name;
  std::int64_t nanoseconds;
};

// Largest first: the printer picks the first unit that divides the value exactly.
constexpr std::array<duration_unit, 5> k_units{{
    {"m", 60'000'000'000},
    {"s", 1'000'000'000},
    {"ms", 1'000'000},
    {"us", 1'000},
    {"ns", 1},
}};

constexpr std::string_view k_expect_statement =
    "a statement (writer[<selector>].<event>=<fault>, provider.<call>=<fault>, "
    "abort@<point>, seed=<n>)";
constexpr std::string_view k_expect_selector =
    "a writer selector (an index, *, first, last, middle, <from>..<to>, \"<name>\")";
constexpr std::string_view k_expect_event =
    "a writer event (identify, prepare_backup, prepare_snapshot, freeze, thaw, post_snapshot, "
    "abort, backup_complete, backup_shutdown)";
constexpr std::string_view k_expect_call =
    "a provider call (begin_prepare, end_prepare, pre_commit, commit, post_commit, "
    "pre_final_commit, post_final_commit, abort, delete)";
constexpr std::string_view k_expect_fault =
    "a fault (succeed, veto(...), fail, hang, hang_ignore_abort, delay(...), complete_twice, "
    "throw)";
constexpr std::string_view k_expect_code =
    "an error code (retryable, nonretryable, inconsistent_snapshot, out_of_resources, timeout, "
    "or a VSS error symbol such as VSS_E_PROVIDER_VETO)";
constexpr std::string_view k_expect_duration =
    "a duration (an integer and a unit: ns, us, ms, s, m)";
constexpr std::string_view k_expect_unit =
    "a duration unit right after the number (ns, us, ms, s, m)";
constexpr std::string_view k_expect_probability = "a probability in [0, 1]";
constexpr std::string_view k_expect_point = "an abort point (a writer event or provider.<call>)";
constexpr std::string_view k_expect_seed = "a seed (an unsigned 64-bit integer)";
constexpr std::string_view k_expect_end = "';' or end of input";
constexpr std::string_view k_expect_end_or_probability = "'@', ';' or end of input";
constexpr std::string_view k_expect_end_or_offset = "'+', ';' or end of input";
constexpr std::string_view k_expect_escape = "an escape (\\\", \\\\ or \\xHH)";

// Hand-rolled ASCII classes: <cctype> is locale-dependent and undefined for negative chars,
// and the parser must accept arbitrary bytes.
bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_word(char c) noexcept { return is_alpha(c) || is_digit(c) || c == '_'; }
int hex_value(char c) noexcept {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool iequal(std::string_view a, std::string_view b) noexcept {
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

void append_hex_escape(std::string& out, char c) {
  constexpr std::string_view digits = "0123456789ABCDEF";
  const auto b = static_cast<unsigned char>(c);
  out += "\\x";
  out += digits[b >> 4];
  out += digits[b & 0xF];
}

// For error messages: everything outside printable ASCII is escaped, since the input may be
// arbitrary bytes.
std::string quoted(std::string_view s) {
  constexpr std::size_t k_max = 40;
  std::string out = "\"";
  for (char c : s.substr(0, k_max)) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (const auto b = static_cast<unsigned char>(c); b < 0x20 || b >= 0x7F) {
      append_hex_escape(out, c);
    } else {
      out += c;
    }
  }
  if (s.size() > k_max) out += "...";
  out += '"';
  return out;
}

// For to_string(): the quoted name must parse back to the same bytes and stay on one line.
std::string quoted_name(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (const auto b = static_cast<unsigned char>(c); b < 0x20 || b == 0x7F) {
      append_hex_escape(out, c);
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string_view event_name(writer_event e) noexcept {
  const auto i = static_cast<std::size_t>(e);
  return i < k_event_names.size() ? k_event_names[i] : std::string_view("unknown");
}

std::string duration_text(std::chrono::nanoseconds d) {
  if (d.count() == 0) return "0s";
  for (const duration_unit& u : k_units) {
    if (d.count() % u.nanoseconds == 0) {
      return std::to_string(d.count() / u.nanoseconds) + std::string(u.name);
    }
  }
  return std::to_string(d.count()) + "ns";
}

std::string probability_text(double p) {
  // The shortest fixed form of a double in [0, 1] has at most 2 + 324 + 17 characters.
  std::array<char, 512> buf{};
  const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), p, std::chars_format::fixed);
  return std::string(buf.data(), r.ptr);
}

std::string point_text(const abort_point& point) {
  if (const auto* e = std::get_if<writer_event>(&point)) return std::string(event_name(*e));
  return "provider." + std::string(to_string(std::get<provider_call>(point)));
}

// splitmix64's finaliser: cheap, well mixed, and the same on every platform.
constexpr std::uint64_t mix(std::uint64_t z) noexcept {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Distinct domains so that writer rule 0 and provider rule 0 do not share their draws.
constexpr std::uint64_t k_writer_domain = 0x5752495445525321ull;
constexpr std::uint64_t k_provider_domain = 0x50524F5649444552ull;

bool applies(double probability, std::uint64_t seed, std::uint64_t domain, std::uint64_t rule,
             std::uint64_t item) noexcept {
  if (probability >= 1.0) return true;
  if (!(probability > 0.0)) return false;
  const std::uint64_t h = mix(mix(mix(seed ^ domain) ^ rule) ^ item);
  const double u = static_cast<double>(h >> 11) * 0x1p-53;  // uniform in [0, 1)
  return u < probability;
}

fault normalised(const fault& f) {
  switch (f.kind) {
    case fault_kind::veto:
      if (symbol(f.code).empty() || succeeded(f.code)) {
        throw std::invalid_argument("fault_plan: a veto needs a known error code, not " +
                                    to_string(f));
      }
      return fault::veto(f.code);
    case fault_kind::delay:
      if (f.after.count() < 0) {
        throw std::invalid_argument("fault_plan: negative delay " + to_string(f));
      }
      return fault::delay(f.after);
    case fault_kind::succeed:
    case fault_kind::fail_without_code:
    case fault_kind::hang:
    case fault_kind::hang_ignore_abort:
    case fault_kind::complete_twice:
    case fault_kind::throw_exception:
      return fault{f.kind, errc::ok, {}};
  }
  throw std::invalid_argument("fault_plan: fault kind out of range");
}

double checked_probability(double p) {
  if (!(p >= 0.0 && p <= 1.0)) {
    throw std::invalid_argument("fault_plan: probability " + std::to_string(p) +
                                " is not in [0, 1]");
  }
  return p == 0.0 ? 0.0 : p;  // -0.0 would print as "-0", which does not parse
}

void check_event(writer_event e) {
  if (static_cast<std::size_t>(e) >= writer_event_count) {
    throw std::invalid_argument("fault_plan: writer event out of range");
  }
}

void check_call(provider_call c) {
  if (static_cast<std::size_t>(c) >= provider_call_count) {
    throw std::invalid_argument("fault_plan: provider call out of range");
  }
}

struct parse_failure {
  fault_plan::parse_error error;
};

// Recursive descent over the grammar in fault_plan.hpp, one function per production. Errors
// unwind with parse_failure; the only other exception is std::bad_alloc.
class plan_parser {
 public:
  explicit plan_parser(std::string_view text) noexcept : text_(text) {}

  fault_plan run() {
    fault_plan plan;
    for (;;) {
      skip_space();
      if (at_end()) break;
      if (text_[pos_] == ';') {
        ++pos_;
        continue;
      }
      const std::string_view next = statement(plan);
      skip_space();
      if (at_end()) break;
      if (text_[pos_] != ';') fail_at(pos_, next);
      ++pos_;
    }
    return plan;
  }

 private:
  bool at_end() const noexcept { return pos_ >= text_.size(); }

  void skip_space() noexcept {
    while (!at_end() && is_space(text_[pos_])) ++pos_;
  }

  std::string describe(std::size_t at) const {
    if (at >= text_.size()) return "end of input";
    std::size_t end = at + 1;
    if (is_word(text_[at])) {
      while (end < text_.size() && is_word(text_[end])) ++end;
    }
    return quoted(text_.substr(at, end - at));
  }

  [[noreturn]] void fail_at(std::size_t at, std::string_view expected, std::string found) const {
    throw parse_failure{{at, std::string(expected), std::move(found)}};
  }

  [[noreturn]] void fail_at(std::size_t at, std::string_view expected) const {
    fail_at(at, expected, describe(at));
  }

  bool accept(char c) noexcept {
    skip_space();
    if (at_end() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }

  void expect(char c, std::string_view expected) {
    if (!accept(c)) fail_at(pos_, expected);
  }

  // A run of [A-Za-z0-9_] after optional whitespace; empty if there is none.
  std::string_view word() noexcept {
    skip_space();
    const std::size_t start = pos_;
    while (!at_end() && is_word(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }

  std::string_view digits() noexcept {
    const std::size_t start = pos_;
    while (!at_end() && is_digit(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }

  bool at_digit() noexcept {
    skip_space();
    return !at_end() && is_digit(text_[pos_]);
  }

  std::string_view statement(fault_plan& plan) {
    const std::size_t start = pos_;
    const std::string_view keyword = word();
    if (keyword == "writer") return writer_statement(plan);
    if (keyword == "provider") return provider_statement(plan);
    if (keyword == "abort") return abort_statement(plan, start);
    if (keyword == "seed") return seed_statement(plan);
    fail_at(start, k_expect_statement);
  }

  std::string_view writer_statement(fault_plan& plan) {
    expect('[', "'['");
    writer_selector who = selector();
    expect('.', "'.'");
    const writer_event e = event();
    expect('=', "'='");
    const fault f = parse_fault();
    if (accept('@')) {
      plan.writer(std::move(who), e, f, probability());
      return k_expect_end;
    }
    plan.writer(std::move(who), e, f);
    return k_expect_end_or_probability;
  }

  std::string_view provider_statement(fault_plan& plan) {
    expect('.', "'.'");
    const provider_call c = call();
    expect('=', "'='");
    const fault f = parse_fault();
    if (accept('@')) {
      plan.provider(c, f, probability());
      return k_expect_end;
    }
    plan.provider(c, f);
    return k_expect_end_or_probability;
  }

  std::string_view abort_statement(fault_plan& plan, std::size_t keyword_at) {
    if (plan.abort()) fail_at(keyword_at, "at most one abort trigger", "a second \"abort\"");
    expect('@', "'@'");
    skip_space();
    const std::size_t point_at = pos_;
    const std::string_view w = word();
    abort_point point;
    if (w == "provider") {
      expect('.', "'.'");
      point = call();
    } else if (auto e = writer_event_from_string(w)) {
      point = *e;
    } else {
      fail_at(point_at, k_expect_point);
    }
    if (accept('+')) {
      plan.abort_at(point, duration());
      return k_expect_end;
    }
    plan.abort_at(point);
    return k_expect_end_or_offset;
  }

  std::string_view seed_statement(fault_plan& plan) {
    expect('=', "'='");
    if (!at_digit()) fail_at(pos_, k_expect_seed);
    const std::size_t start = pos_;
    const std::string_view d = digits();
    std::uint64_t value = 0;
    if (std::from_chars(d.data(), d.data() + d.size(), value).ec != std::errc{}) {
      fail_at(start,
              "a seed of at most " + std::to_string(std::numeric_limits<std::uint64_t>::max()),
              quoted(d));
    }
    plan.seed(value);
    return k_expect_end;
  }

  writer_selector selector() {
    skip_space();
    const std::size_t start = pos_;
    if (at_end()) fail_at(start, k_expect_selector);
    const char c = text_[pos_];
    if (c == '*') {
      ++pos_;
      expect(']', "']'");
      return writer_selector::all();
    }
    if (c == '"') {
      std::string name = name_literal();
      expect(']', "']'");
      return writer_selector::name(std::move(name));
    }
    if (is_digit(c)) {
      const std::size_t from = index_number();
      skip_space();
      if (text_.substr(pos_).starts_with("..")) {
        pos_ += 2;
        if (!at_digit()) fail_at(pos_, "a range end (an index)");
        const std::size_t to_at = pos_;
        const std::size_t to = index_number();
        if (to < from) {
          fail_at(to_at, "a range end not less than the start " + std::to_string(from),
                  quoted(text_.substr(to_at, pos_ - to_at)));
        }
        expect(']', "']'");
        return writer_selector::range(from, to);
      }
      expect(']', "']' or '..'");
      return writer_selector::index(from);
    }
    const std::string_view w = word();
    writer_selector result;
    if (w == "first") {
      result = writer_selector::first();
    } else if (w == "last") {
      result = writer_selector::last();
    } else if (w == "middle") {
      result = writer_selector::middle();
    } else {
      fail_at(start, k_expect_selector);
    }
    expect(']', "']'");
    return result;
  }

  std::size_t index_number() {
    const std::size_t start = pos_;
    const std::string_view d = digits();
    std::uint64_t value = 0;
    if (std::from_chars(d.data(), d.data() + d.size(), value).ec != std::errc{} ||
        value > std::numeric_limits<std::size_t>::max()) {
      fail_at(
          start,
          "a writer index of at most " + std::to_string(std::numeric_limits<std::size_t>::max()),
          quoted(d));
    }
    return static_cast<std::size_t>(value);
  }

  // At the opening '"'.
  std::string name_literal() {
    const std::size_t open = pos_++;
    std::string name;
    for (;;) {
      if (at_end()) fail_at(pos_, "'\"' closing the writer name");
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        break;
      }
      if (c != '\\') {
        name += c;
        ++pos_;
        continue;
      }
      const std::string_view rest = text_.substr(pos_);
      if (rest.size() >= 2 && (rest[1] == '"' || rest[1] == '\\')) {
        name += rest[1];
        pos_ += 2;
      } else if (rest.size() >= 4 && rest[1] == 'x' && hex_value(rest[2]) >= 0 &&
                 hex_value(rest[3]) >= 0) {
        name += static_cast<char>(hex_value(rest[2]) * 16 + hex_value(rest[3]));
        pos_ += 4;
      } else {
        fail_at(pos_, k_expect_escape,
                quoted(rest.substr(0, std::min<std::size_t>(rest.size(), 4))));
      }
    }
    if (name.empty()) fail_at(open, "a non-empty writer name", quoted(text_.substr(open, 2)));
    return name;
  }

  writer_event event() {
    skip_space();
    const std::size_t start = pos_;
    if (auto e = writer_event_from_string(word())) return *e;
    fail_at(start, k_expect_event);
  }

  provider_call call() {
    skip_space();
    const std::size_t start = pos_;
    if (auto c = provider_call_from_string(word())) return *c;
    fail_at(start, k_expect_call);
  }

  fault parse_fault() {
    skip_space();
    const std::size_t start = pos_;
    const std::string_view w = word();
    if (w == "succeed") return fault::succeed();
    if (w == "fail") return fault::fail_without_code();
    if (w == "hang") return fault::hang();
    if (w == "hang_ignore_abort") return fault::hang_ignore_abort();
    if (w == "complete_twice") return fault::complete_twice();
    if (w == "throw") return fault::throw_exception();
    if (w == "veto") {
      expect('(', "'('");
      const errc c = code();
      expect(')', "')'");
      return fault::veto(c);
    }
    if (w == "delay") {
      expect('(', "'('");
      const std::chrono::nanoseconds d = duration();
      expect(')', "')'");
      return fault::delay(d);
    }
    fail_at(start, k_expect_fault);
  }

  errc code() {
    skip_space();
    const std::size_t start = pos_;
    const std::string_view w = word();
    for (const auto& [c, name] : k_short_codes) {
      if (iequal(w, name)) return c;
    }
    const std::optional<errc> c = errc_from_symbol(w);
    if (!c || succeeded(*c)) fail_at(start, k_expect_code);
    return *c;
  }

  std::chrono::nanoseconds duration() {
    if (!at_digit()) fail_at(pos_, k_expect_duration);
    const std::size_t start = pos_;
    const std::string_view d = digits();
    const std::size_t unit_at = pos_;
    while (!at_end() && is_alpha(text_[pos_])) ++pos_;
    const std::string_view unit_name = text_.substr(unit_at, pos_ - unit_at);
    const auto unit = std::find_if(k_units.begin(), k_units.end(),
                                   [&](const duration_unit& u) { return u.name == unit_name; });
    if (unit == k_units.end()) fail_at(unit_at, k_expect_unit);
    std::uint64_t count = 0;
    constexpr auto max_ns = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (std::from_chars(d.data(), d.data() + d.size(), count).ec != std::errc{} ||
        count > max_ns / static_cast<std::uint64_t>(unit->nanoseconds)) {
      fail_at(start, "a duration of at most " + std::to_string(max_ns) + "ns",
              quoted(text_.substr(start, pos_ - start)));
    }
    return std::chrono::nanoseconds(static_cast<std::int64_t>(count) * unit->nanoseconds);
  }

  double probability() {
    skip_space();
    const std::size_t start = pos_;
    std::size_t end = start;
    while (end < text_.size() && is_digit(text_[end])) ++end;
    const bool dot = end < text_.size() && text_[end] == '.';
    if (dot) ++end;
    while (end < text_.size() && is_digit(text_[end])) ++end;
    const std::string_view number = text_.substr(start, end - start);
    if (number.size() == (dot ? 1u : 0u)) fail_at(start, k_expect_probability);
    pos_ = end;
    // from_chars wants a digit on both sides of the point in some implementations.
    std::string normal(number);
    if (normal.front() == '.') normal.insert(normal.begin(), '0');
    if (normal.back() == '.') normal.push_back('0');
    double value = 0;
    auto r = std::from_chars(normal.data(), normal.data() + normal.size(), value,
                             std::chars_format::fixed);
    // Below the smallest denormal: a probability that small is 0, not an error.
    const std::string_view integer_part = std::string_view(normal).substr(0, normal.find('.'));
    const bool underflow =
        r.ec == std::errc::result_out_of_range &&
        std::all_of(integer_part.begin(), integer_part.end(), [](char c) { return c == '0'; });
    if (underflow) {
      value = 0.0;
      r.ec = std::errc{};
    }
    if (r.ec != std::errc{} || r.ptr != normal.data() + normal.size() ||
        !(value >= 0.0 && value <= 1.0)) {
      fail_at(start, k_expect_probability, quoted(number));
    }
    return value;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

// ---- writer_selector ----------------------------------------------------------------------

writer_selector::writer_selector(selector_kind kind, std::size_t from, std::size_t to,
                                 std::string name)
    : kind_(kind), from_(from), to_(to), name_(std::move(name)) {}

writer_selector writer_selector::index(std::size_t i) noexcept {
  return {selector_kind::index, i, i, {}};
}
writer_selector writer_selector::all() noexcept { return {}; }
writer_selector writer_selector::first() noexcept { return {selector_kind::first, 0, 0, {}}; }
writer_selector writer_selector::last() noexcept { return {selector_kind::last, 0, 0, {}}; }
writer_selector writer_selector::middle() noexcept { return {selector_kind::middle, 0, 0, {}}; }

writer_selector writer_selector::range(std::size_t from, std::size_t to) {
  if (from > to) {
    throw std::invalid_argument("writer_selector: range " + std::to_string(from) + ".." +
                                std::to_string(to) + " is empty");
  }
  return {selector_kind::range, from, to, {}};
}

writer_selector writer_selector::name(std::string writer_name) {
  if (writer_name.empty()) throw std::invalid_argument("writer_selector: empty writer name");
  return {selector_kind::name, 0, 0, std::move(writer_name)};
}

bool writer_selector::matches(std::size_t at, std::size_t count,
                              std::string_view who) const noexcept {
  if (at >= count) return false;
  switch (kind_) {
    case selector_kind::index:
      return at == from_;
    case selector_kind::all:
      return true;
    case selector_kind::first:
      return at == 0;
    case selector_kind::last:
      return at == count - 1;
    case selector_kind::middle:
      return at == count / 2;
    case selector_kind::range:
      return from_ <= at && at <= to_;
    case selector_kind::name:
      return who == name_;
  }
  return false;
}

std::string to_string(const writer_selector& s) {
  switch (s.kind()) {
    case selector_kind::index:
      return std::to_string(s.from());
    case selector_kind::all:
      return "*";
    case selector_kind::first:
      return "first";
    case selector_kind::last:
      return "last";
    case selector_kind::middle:
      return "middle";
    case selector_kind::range:
      return std::to_string(s.from()) + ".." + std::to_string(s.to());
    case selector_kind::name:
      return quoted_name(s.writer_name());
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, const writer_selector& s) { return os << to_string(s); }

// ---- abort_trigger ------------------------------------------------------------------------

std::string to_string(const abort_trigger& t) {
  std::string out = "abort@" + point_text(t.point);
  if (t.offset.count() != 0) out += "+" + duration_text(t.offset);
  return out;
}

std::ostream& operator<<(std::ostream& os, const abort_trigger& t) { return os << to_string(t); }

// ---- fault_plan ---------------------------------------------------------------------------

std::string fault_plan::parse_error::message() const {
  return "fault plan, column " + std::to_string(position) + ": expected " + expected + ", found " +
         found;
}

fault_plan fault_plan::from_text(std::string_view text) {
  auto r = parse(text);
  if (!r.plan) throw std::invalid_argument(r.error.message());
  return std::move(*r.plan);
}

fault_plan::parse_result fault_plan::parse(std::string_view text) {
  try {
    return {plan_parser(text).run(), {}};
  } catch (const parse_failure& f) {
    return {std::nullopt, f.error};
  }
}

fault_plan& fault_plan::writer(writer_selector selector, writer_event e, fault f,
                               double probability) {
  check_event(e);
  writer_rules_.push_back(
      {std::move(selector), e, normalised(f), checked_probability(probability)});
  return *this;
}

fault_plan& fault_plan::provider(provider_call c, fault f, double probability) {
  check_call(c);
  provider_rules_.push_back({c, normalised(f), checked_probability(probability)});
  return *this;
}

fault_plan& fault_plan::abort_at(abort_point point, std::chrono::nanoseconds offset) {
  if (offset.count() < 0) throw std::invalid_argument("fault_plan: negative abort offset");
  if (const auto* e = std::get_if<writer_event>(&point)) {
    check_event(*e);
  } else {
    check_call(std::get<provider_call>(point));
  }
  abort_ = abort_trigger{point, offset};
  return *this;
}

fault_plan& fault_plan::seed(std::uint64_t value) noexcept {
  seed_ = value;
  return *this;
}

std::optional<fault> fault_plan::writer_fault(std::size_t index, std::size_t writer_count,
                                              std::string_view writer_name, writer_event e) const {
  for (std::size_t i = writer_rules_.size(); i-- > 0;) {
    const writer_rule& r = writer_rules_[i];
    if (r.event == e && r.selector.matches(index, writer_count, writer_name) &&
        applies(r.probability, seed_, k_writer_domain, i, index)) {
      return r.action;
    }
  }
  return std::nullopt;
}

std::optional<fault> fault_plan::provider_fault(provider_call c) const {
  for (std::size_t i = provider_rules_.size(); i-- > 0;) {
    const provider_rule& r = provider_rules_[i];
    if (r.call == c && applies(r.probability, seed_, k_provider_domain, i, 0)) return r.action;
  }
  return std::nullopt;
}

bool fault_plan::empty() const noexcept {
  return writer_rules_.empty() && provider_rules_.empty() && !abort_;
}

std::string fault_plan::to_string() const {
  std::string out;
  auto add = [&out](const std::string& statement) {
    if (!out.empty()) out += "; ";
    out += statement;
  };
  if (seed_ != 0) add("seed=" + std::to_string(seed_));
  for (const writer_rule& r : writer_rules_) {
    std::string s = "writer[" + vss::mocks::to_string(r.selector) + "]." +
                    std::string(event_name(r.event)) + "=" + vss::mocks::to_string(r.action);
    if (r.probability != 1.0) s += "@" + probability_text(r.probability);
    add(s);
  }
  for (const provider_rule& r : provider_rules_) {
    std::string s = "provider." + std::string(vss::mocks::to_string(r.call)) + "=" +
                    vss::mocks::to_string(r.action);
    if (r.probability != 1.0) s += "@" + probability_text(r.probability);
    add(s);
  }
  if (abort_) add(vss::mocks::to_string(*abort_));
  return out;
}

std::ostream& operator<<(std::ostream& os, const fault_plan& p) { return os << p.to_string(); }

std::ostream& operator<<(std::ostream& os, const fault_plan::parse_error& e) {
  return os << e.message();
}

}  // namespace vss::mocks
