// Copyright (c) openvss authors. SPDX-License-Identifier: Apache-2.0
//
// vss/mocks/fault_plan.hpp — a seeded, deterministic description of which faults to inject
// where: which writers misbehave at which event, which provider calls fail or stall, and when
// the requester aborts.
//
// A plan is a value. Write it as one line of text (in a test, a plan file or on the command
// line) or build it in C++; both give equal plans, and `to_string()` prints a canonical line
// that parses back to an equal plan. The glue that drives fake writers and a faulty provider
// asks the plan per writer and event (`writer_fault`), per provider call (`provider_fault`)
// and once for the abort trigger (`abort`). A rule with a probability below 1 applies to a
// pseudo-random subset of writers chosen by a hash of (seed, rule index, writer index), so the
// same plan gives the same answers in every run, on every platform, in any query order.
//
// Text form. Whitespace (space, tab, CR, LF, VT, FF) is allowed between any two tokens; a token
// is a keyword, a name, a number, a duration, a probability, a quoted name or one of
// [ ] . .. = @ ( ) + ; *.
//
//   plan        = [ statement ] { ";" [ statement ] } ;      (empty statements are allowed)
//   statement   = writer_rule | provider_rule | abort_rule | seed_rule ;
//   writer_rule = "writer" "[" selector "]" "." event "=" fault [ "@" probability ] ;
//   selector    = index                                       (0-based writer index)
//               | "*"                                         (every writer)
//               | "first" | "last" | "middle"                 (middle: index count/2)
//               | index ".." index                            (inclusive; start <= end)
//               | quoted_name ;                               (the writer's name)
//   provider_rule = "provider" "." call "=" fault [ "@" probability ] ;
//   abort_rule  = "abort" "@" point [ "+" duration ] ;       (at most one per plan)
//   point       = event                                       (the FIRST writer receives it)
//               | "provider" "." call ;                       (the provider call starts)
//   seed_rule   = "seed" "=" uint64 ;                         (the last one counts)
//   event       = "identify" | "prepare_backup" | "prepare_snapshot" | "freeze" | "thaw"
//               | "post_snapshot" | "abort" | "backup_complete" | "backup_shutdown"
//               | the CamelCase names of vss::to_string(writer_event): "PrepareSnapshot", ... ;
//   call        = "begin_prepare" | "end_prepare" | "pre_commit" | "commit" | "post_commit"
//               | "pre_final_commit" | "post_final_commit" | "abort" | "delete" ;
//   fault       = "succeed" | "veto" "(" code ")" | "fail" | "hang" | "hang_ignore_abort"
//               | "delay" "(" duration ")" | "complete_twice" | "throw" ;
//   code        = "retryable" | "nonretryable" | "inconsistent_snapshot" | "out_of_resources"
//               | "timeout"                                   (the VSS_E_WRITERERROR_* codes)
//               | symbol ;         (any errc that is an error, by VSS symbol or enumerator
//                                   name, e.g. VSS_E_PROVIDER_VETO or provider_veto)
//   duration    = digits unit ;                                (no space inside: "12s")
//   unit        = "ns" | "us" | "ms" | "s" | "m" ;           (m is minutes)
//   probability = digits [ "." { digit } ] | "." digits ;     (in [0, 1]; no exponent)
//   index       = digits ;  uint64 = digits ;                 (decimal, must fit the type)
//   quoted_name = '"' { byte | '\"' | '\\' | '\x' hex hex } '"' ;   (not empty; a byte is
//                                   anything but '"' and '\', newlines and NUL included)
//
// Keywords, events, calls and faults are case-sensitive; codes are not (as errc_from_symbol).
// Rules are kept in order; for one writer and event (or one provider call) the LAST rule that
// matches and applies wins. Writer rules, provider rules, the seed and the abort trigger are
// kept apart, so moving a provider statement before or after a writer statement gives an
// equal plan; the order of the writer rules among themselves (and of the provider rules)
// matters.
//
// Canonical text (`to_string()`): "seed=N" first (omitted when 0), then the writer rules, then
// the provider rules, then the abort trigger, joined by "; "; probability 1 and a zero abort
// offset are omitted; durations in the largest exact unit; probabilities in the shortest
// decimal form that reads back to the same double. The empty plan prints as "".
//
// Errors: `parse()` does not throw for bad text (only std::bad_alloc can escape); it returns a
// `parse_result` whose `error` names the 0-based column (byte offset in the whole input), what
// the grammar expected there and what it found. For "writer[3].freeze=hangg" the message
// (one line) is:
//
//   fault plan, column 17: expected a fault (succeed, veto(...), fail, hang,
//   hang_ignore_abort, delay(...), complete_twice, throw), found "hangg"
//
// Rejected: unknown keywords, events, calls, faults and units; veto codes that are unknown or
// not errors (S_OK, VSS_S_*); probabilities outside [0, 1]; a second abort trigger; numbers
// that do not fit (index: std::size_t, seed: uint64, duration: int64 nanoseconds); an empty
// range (5..2) or name (""); anything after a complete statement but ';'.
//
// The builder functions throw std::invalid_argument for arguments the text form could not
// express (a probability outside [0, 1], a veto with a success or unknown code, a negative
// delay or offset, an enumerator out of range), so every plan prints and parses back.
//
// Example 1 — a plan from text, applied by hand to three writers and a provider:
//
//   auto r = vss::mocks::fault_plan::parse(
//       "writer[last].freeze=hang; provider.commit=delay(12s); abort@thaw+5ms");
//   if (!r) throw std::runtime_error(r.error.message());
//   const vss::mocks::fault_plan& plan = *r.plan;
//   // writers: three std::shared_ptr<vss::mocks::fake_writer>, names: their names.
//   for (std::size_t i = 0; i < writers.size(); ++i) {
//     if (auto f = plan.writer_fault(i, writers.size(), names[i], vss::writer_event::freeze)) {
//       writers[i]->on(vss::writer_event::freeze, *f);     // only writer 2 hangs
//     }
//   }
//   if (auto f = plan.provider_fault(vss::mocks::provider_call::commit)) {
//     provider.on(vss::mocks::provider_call::commit, *f);  // delay(12s)
//   }
//
// Example 2 — the same kind of plan built in C++: 10% of the writers veto PrepareSnapshot,
// the writer named "db-orders" always does, and the set is the same in every run:
//
//   using namespace vss::mocks;
//   fault_plan plan;
//   plan.seed(42)
//       .writer(writer_selector::all(), vss::writer_event::prepare_snapshot,
//               fault::veto(vss::errc::writer_error_retryable), 0.1)
//       .writer(writer_selector::name("db-orders"), vss::writer_event::prepare_snapshot,
//               fault::veto(vss::errc::writer_error_nonretryable))
//       .abort_at(vss::mocks::provider_call::commit, std::chrono::milliseconds(3));
//   assert(plan == fault_plan::parse(plan.to_string()).plan);
//   // plan.to_string() == "seed=42; writer[*].prepare_snapshot=veto(retryable)@0.1; "
//   //                     "writer[\"db-orders\"].prepare_snapshot=veto(nonretryable); "
//   //                     "abort@provider.commit+3ms"
//
// Thread-safety: a value type. Const member functions (the queries, to_string) may run
// concurrently from any number of threads; the builder functions need exclusive access, as
// for any standard container. parse() is reentrant.

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "vss/mocks/fault.hpp"
#include "vss/writer.hpp"

namespace vss::mocks {

/// Which kind of writer a `writer_selector` picks.
enum class selector_kind : std::uint8_t {
  index,   ///< One writer by 0-based index. Text: "3".
  all,     ///< Every writer. Text: "*".
  first,   ///< Index 0. Text: "first".
  last,    ///< Index count-1. Text: "last".
  middle,  ///< Index count/2 (for 4 writers: index 2). Text: "middle".
  range,   ///< Indexes from..to, both included. Text: "2..5".
  name,    ///< The writer(s) with this name. Text: "\"db-orders\"".
};

/// Which writers a writer rule applies to. Build with the named constructors.
class writer_selector {
 public:
  /// Selects every writer (the same as all()).
  writer_selector() noexcept = default;

  /// The writer at 0-based `i`.
  static writer_selector index(std::size_t i) noexcept;
  /// Every writer.
  static writer_selector all() noexcept;
  /// The writer at index 0.
  static writer_selector first() noexcept;
  /// The writer at index count-1.
  static writer_selector last() noexcept;
  /// The writer at index count/2.
  static writer_selector middle() noexcept;
  /// The writers at indexes `from` to `to`, both included. Throws std::invalid_argument if
  /// from > to.
  static writer_selector range(std::size_t from, std::size_t to);
  /// The writers whose name is exactly `writer_name` (bytes compared). Throws
  /// std::invalid_argument if it is empty.
  static writer_selector name(std::string writer_name);

  /// Which kind of selector this is.
  selector_kind kind() const noexcept { return kind_; }
  /// The index (index), the first index (range); 0 for the other kinds.
  std::size_t from() const noexcept { return from_; }
  /// The index (index), the last index (range); 0 for the other kinds.
  std::size_t to() const noexcept { return to_; }
  /// The name (name); empty for the other kinds.
  const std::string& writer_name() const noexcept { return name_; }

  /// True if the writer at `index` of `writer_count` writers, named `writer_name`, is
  /// selected. Always false when index >= writer_count.
  bool matches(std::size_t index, std::size_t writer_count,
               std::string_view writer_name) const noexcept;

  /// Same kind and same fields.
  friend bool operator==(const writer_selector&, const writer_selector&) = default;

 private:
  writer_selector(selector_kind kind, std::size_t from, std::size_t to, std::string name);

  selector_kind kind_ = selector_kind::all;
  std::size_t from_ = 0;
  std::size_t to_ = 0;
  std::string name_;
};

/// The selector's text form, as inside "writer[...]": "3", "*", "first", "last", "middle",
/// "2..5", "\"db-orders\"" (in a name, '"' and '\' are escaped with '\', bytes below 0x20
/// and 0x7F as \xHH; other bytes, UTF-8 included, are kept).
std::string to_string(const writer_selector& s);
/// Writes to_string(s).
std::ostream& operator<<(std::ostream& os, const writer_selector& s);

/// The moment an abort trigger fires: when the first writer receives a writer event, or when
/// a provider call starts.
using abort_point = std::variant<writer_event, provider_call>;

/// When the requester aborts the backup (AbortBackup): `offset` after `point` (on the engine's
/// clock). Text: "abort@freeze+5ms", "abort@provider.commit".
struct abort_trigger {
  /// The event or provider call that starts the countdown.
  abort_point point;
  /// How long after `point` to abort; never negative. Default: at once.
  std::chrono::nanoseconds offset{0};

  /// Same point and offset.
  friend bool operator==(const abort_trigger&, const abort_trigger&) = default;
};

/// The trigger's text form: "abort@freeze+5ms", "abort@provider.commit".
std::string to_string(const abort_trigger& t);
/// Writes to_string(t).
std::ostream& operator<<(std::ostream& os, const abort_trigger& t);

/// One writer rule: "writer[selector].event=action@probability".
struct writer_rule {
  /// The writers it applies to.
  writer_selector selector;
  /// The event it applies to.
  writer_event event = writer_event::identify;
  /// What a selected writer does at `event` (stored normalised: unused fields are zero).
  fault action;
  /// The share of selected writers it applies to, in [0, 1]. Default: 1 (all of them).
  double probability = 1.0;

  /// Member-wise.
  friend bool operator==(const writer_rule&, const writer_rule&) = default;
};

/// One provider rule: "provider.call=action@probability".
struct provider_rule {
  /// The provider call it applies to.
  provider_call call = provider_call::begin_prepare;
  /// What the call does (stored normalised: unused fields are zero).
  fault action;
  /// The chance, in [0, 1], that the rule applies (decided once per plan). Default: 1.
  double probability = 1.0;

  /// Member-wise.
  friend bool operator==(const provider_rule&, const provider_rule&) = default;
};

/// A seeded, deterministic fault plan; see the top of this file for the text form.
class fault_plan {
 public:
  /// Where and why parse() rejected a text.
  struct parse_error {
    /// 0-based column of the offending token: a byte offset into the whole input, newlines
    /// included. Equal to the input's length when the input ended too early.
    std::size_t position = 0;
    /// What the grammar expected there, e.g. "a fault (succeed, veto(...), ...)".
    std::string expected;
    /// What was there, quoted and shortened to 40 bytes ("\"hangg\"", "\";\"", "\"\\x01\""),
    /// or "end of input".
    std::string found;

    /// "fault plan, column 17: expected a fault (...), found \"hangg\"".
    std::string message() const;

    /// Member-wise.
    friend bool operator==(const parse_error&, const parse_error&) = default;
  };

  /// The outcome of parse(): a plan, or (when `plan` is empty) an error.
  struct parse_result;

  /// The empty plan: seed 0, no rules, no abort trigger.
  fault_plan() = default;

  /// Parses the text form (see the top of this file). Never throws for bad input and accepts
  /// any bytes: the result holds either the plan or the first error.
  static parse_result parse(std::string_view text);

  /// parse() for text a test trusts: returns the plan, or throws std::invalid_argument whose
  /// what() is the parse error's message (column and what was expected).
  static fault_plan from_text(std::string_view text);

  /// Appends "writer[selector].event=f@probability". Throws std::invalid_argument if
  /// `probability` is not in [0, 1] (NaN included), `e` or `f.kind` is out of range, a veto's
  /// code is not a known error code (VSS_E_WRITERERROR_* is what a writer context accepts;
  /// other codes exercise the engine's rejection of them), or a delay is negative.
  fault_plan& writer(writer_selector selector, writer_event e, fault f, double probability = 1.0);

  /// Appends "provider.call=f@probability"; throws as writer() does.
  fault_plan& provider(provider_call c, fault f, double probability = 1.0);

  /// Sets the abort trigger "abort@point+offset", replacing an earlier one (the text form
  /// rejects a second "abort" statement instead). Throws std::invalid_argument if `offset`
  /// is negative or the point's enumerator is out of range.
  fault_plan& abort_at(abort_point point, std::chrono::nanoseconds offset = {});

  /// Sets the seed of the probability draws ("seed=N"). Default: 0.
  fault_plan& seed(std::uint64_t value) noexcept;

  /// The seed of the probability draws.
  std::uint64_t seed() const noexcept { return seed_; }

  /// What the writer at `index` of `writer_count` writers, named `writer_name`, does at
  /// event `e`: the fault of the last rule that selects it, is for `e` and applies to it, or
  /// nullopt when none does (the writer behaves normally). A rule with probability p applies
  /// to the writer iff u < p, where u in [0, 1) is derived from a 64-bit hash of (seed, rule
  /// index among the writer rules, `index`): p = 1 always applies, p = 0 never, and a rule
  /// that does not apply lets earlier rules through. Pure: the answer depends only on the
  /// plan and the arguments.
  std::optional<fault> writer_fault(std::size_t index, std::size_t writer_count,
                                    std::string_view writer_name, writer_event e) const;

  /// What provider call `c` does: the fault of the last rule for `c` that applies, or nullopt.
  /// A rule with probability p applies or not by a hash of (seed, rule index among the
  /// provider rules), once for the whole plan (every call `c` gets the same answer).
  std::optional<fault> provider_fault(provider_call c) const;

  /// The abort trigger, if any.
  std::optional<abort_trigger> abort() const { return abort_; }

  /// The writer rules in the order they were added.
  const std::vector<writer_rule>& writer_rules() const noexcept { return writer_rules_; }

  /// The provider rules in the order they were added.
  const std::vector<provider_rule>& provider_rules() const noexcept { return provider_rules_; }

  /// True if the plan injects nothing: no rules and no abort trigger (the seed is ignored).
  bool empty() const noexcept;

  /// The canonical text (see the top of this file); parse(to_string()) gives an equal plan.
  std::string to_string() const;

  /// Same seed, same rules in the same order, same abort trigger.
  friend bool operator==(const fault_plan&, const fault_plan&) = default;

 private:
  std::uint64_t seed_ = 0;
  std::vector<writer_rule> writer_rules_;
  std::vector<provider_rule> provider_rules_;
  std::optional<abort_trigger> abort_;
};

/// The outcome of fault_plan::parse().
struct fault_plan::parse_result {
  /// The plan; empty if the text was rejected.
  std::optional<fault_plan> plan;
  /// Why the text was rejected; default-constructed when `plan` holds a value.
  parse_error error;

  /// True if the text was accepted.
  explicit operator bool() const noexcept { return plan.has_value(); }
};

/// Writes p.to_string().
std::ostream& operator<<(std::ostream& os, const fault_plan& p);

/// Writes e.message().
std::ostream& operator<<(std::ostream& os, const fault_plan::parse_error& e);

}  // namespace vss::mocks
