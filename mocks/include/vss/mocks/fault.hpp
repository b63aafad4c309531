// vss/mocks/fault.hpp — what a fake writer or a faulty provider does when a call reaches it.
//
// A `fault` is a value: a kind plus the code, delay or count it needs. fake_writer takes one per
// writer event, faulty_provider one per provider call, and fault_plan (text or builder) produces
// them. The same vocabulary is used everywhere so a fault written in a test, in a plan file or
// on the command line means the same thing.
//
// Example 1 — a writer that vetoes Freeze with a retryable error:
//
//   auto w = std::make_shared<vss::mocks::fake_writer>("db");
//   w->on(vss::writer_event::freeze, vss::mocks::fault::veto(vss::errc::writer_error_retryable));
//
// Example 2 — a provider whose commit takes 12 s of (virtual) time:
//
//   vss::mocks::faulty_provider p(std::make_shared<vss::memory_provider>(), clock,
//                                 io.get_executor());  // the engine's clock and executor
//   p.on(vss::mocks::provider_call::commit, vss::mocks::fault::delay(std::chrono::seconds(12)));
//
// Thread-safety: plain values; copy freely.

#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "vss/error.hpp"
#include "vss/writer.hpp"

namespace vss::mocks {

/// What happens when a call meets a fault.
enum class fault_kind : std::uint8_t {
  succeed,            ///< Answer at once with success (the default for every event and call).
  veto,               ///< Writer: ctx.fail(code). Provider: return / complete with `code`.
  fail_without_code,  ///< Writer: drop the context unanswered (VSS: return false without
                      ///< SetWriterFailure); the engine records VSS_E_WRITERERROR_NONRETRYABLE.
  hang,               ///< Never answer on its own; a writer answers its Abort and is then
                      ///< released (the held context is dropped when the writer is aborted).
  hang_ignore_abort,  ///< Never answer, not even when aborted; only the deadline ends it.
  delay,              ///< Answer with success after `after` on the engine's clock.
  complete_twice,     ///< Writer: call complete() twice (the second call must be ignored).
  throw_exception,    ///< Throw std::runtime_error from the handler or provider call.
};

/// The number of fault kinds (for sweeps).
inline constexpr std::size_t fault_kind_count = 8;

/// Stable lower-case name: "succeed", "veto", "fail", "hang", "hang_ignore_abort", "delay",
/// "complete_twice", "throw"; "unknown" for a value outside the enumeration.
std::string_view to_string(fault_kind k) noexcept;
/// Writes to_string(k).
std::ostream& operator<<(std::ostream& os, fault_kind k);

/// One fault: a kind and what it needs. Build with the named constructors.
struct fault {
  /// What happens. Default: succeed.
  fault_kind kind = fault_kind::succeed;
  /// For veto: the code to fail with (writers: a VSS_E_WRITERERROR_* code; providers: any).
  errc code = errc::ok;
  /// For delay: how long, on the engine's clock (virtual under vss::manual_clock).
  std::chrono::nanoseconds after{0};

  /// Answer at once with success.
  static fault succeed() { return {}; }
  /// Fail with `code` (a writer's SetWriterFailure(code); a provider's return value).
  static fault veto(errc code) { return {fault_kind::veto, code, {}}; }
  /// Writer: drop the context unanswered ("fail" in the text form).
  static fault fail_without_code() { return {fault_kind::fail_without_code, errc::ok, {}}; }
  /// Never answer on its own; released by Abort.
  static fault hang() { return {fault_kind::hang, errc::ok, {}}; }
  /// Never answer, not even when aborted.
  static fault hang_ignore_abort() { return {fault_kind::hang_ignore_abort, errc::ok, {}}; }
  /// Succeed after `d` on the engine's clock.
  static fault delay(std::chrono::nanoseconds d) { return {fault_kind::delay, errc::ok, d}; }
  /// Writer: call complete() twice.
  static fault complete_twice() { return {fault_kind::complete_twice, errc::ok, {}}; }
  /// Throw std::runtime_error ("throw" in the text form).
  static fault throw_exception() { return {fault_kind::throw_exception, errc::ok, {}}; }

  /// Member-wise: two faults of one kind that differ in an unused field are not equal.
  friend bool operator==(const fault&, const fault&) = default;
};

/// The text form used by fault_plan: "succeed", "veto(retryable)", "veto(nonretryable)",
/// "veto(inconsistent_snapshot)", "veto(out_of_resources)", "veto(timeout)" (the five
/// VSS_E_WRITERERROR_* codes by short name), "veto(VSS_E_PROVIDER_VETO)" (any other code by
/// its VSS symbol), "fail", "hang", "hang_ignore_abort", "delay(12s)" (units ns, us, ms, s, m;
/// printed in the largest unit that divides it exactly; zero is "delay(0s)"), "complete_twice",
/// "throw". Only `code` (veto) and `after` (delay) are printed; the other fields are ignored.
/// A code that is not a known `errc` prints as its hex HRESULT, "veto(0x80042305)", which no
/// parser accepts.
std::string to_string(const fault& f);
/// Writes to_string(f).
std::ostream& operator<<(std::ostream& os, const fault& f);

/// The provider calls a faulty_provider can fail or delay (spec §11 steps plus queries).
enum class provider_call : std::uint8_t {
  begin_prepare,      ///< begin_prepare_snapshot (AddToSnapshotSet). Text: "begin_prepare".
  end_prepare,        ///< end_prepare_snapshots (before PrepareSnapshot). Text: "end_prepare".
  pre_commit,         ///< pre_commit_snapshots (after Freeze). Text: "pre_commit".
  commit,             ///< commit_snapshots (inside the flush-and-hold). Text: "commit".
  post_commit,        ///< post_commit_snapshots (before Thaw). Text: "post_commit".
  pre_final_commit,   ///< pre_final_commit_snapshots. Text: "pre_final_commit".
  post_final_commit,  ///< post_final_commit_snapshots. Text: "post_final_commit".
  abort,              ///< abort_snapshots (rollback). Text: "abort".
  delete_snapshot,    ///< delete_snapshot (DeleteSnapshots). Text: "delete".
};

/// The number of provider calls (for sweeps).
inline constexpr std::size_t provider_call_count = 9;

/// The text name shown beside each enumerator above ("begin_prepare", ..., "delete");
/// "unknown" for a value outside the enumeration.
std::string_view to_string(provider_call c) noexcept;
/// Writes to_string(c).
std::ostream& operator<<(std::ostream& os, provider_call c);

/// Parses a provider call name as printed by to_string() (exact, case-sensitive); nullopt if
/// unknown.
std::optional<provider_call> provider_call_from_string(std::string_view name) noexcept;

/// Parses a writer event name in the text form: "identify", "prepare_backup",
/// "prepare_snapshot", "freeze", "thaw", "post_snapshot", "abort", "backup_complete",
/// "backup_shutdown" (the CamelCase names of vss::to_string(writer_event), e.g. "PrepareSnapshot",
/// are accepted too; both exact and case-sensitive); nullopt if unknown.
std::optional<writer_event> writer_event_from_string(std::string_view name) noexcept;

}  // namespace vss::mocks
