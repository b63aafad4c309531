// vss/mocks/invariants.hpp — checks the writer-side invariants of DESIGN.md §4 on what writers
// saw, so a fault-injection test asserts properties rather than exact event traces.
//
// The rules are checked per writer over the events of ONE session (clear the recorder, or use
// a fresh one, between sessions). Identify is ignored: it may arrive at any time (spec §5).
//
//   1. freeze_ends:   a writer that received Freeze received Thaw or Abort after it.
//   2. session_end:   a writer that received PrepareBackup reached one end — BackupComplete or
//                     Abort, or neither when it received PostSnapshot (spec §10.3 D) — and, once
//                     the session is released, exactly one BackupShutdown, as its last event.
//   3. after_abort:   after Abort a writer received nothing but BackupShutdown.
//   -  at_most_once:  no event other than Identify arrived twice.
//   -  vss_order:     PrepareBackup, PrepareSnapshot, Freeze, Thaw, PostSnapshot,
//                     BackupComplete arrived in that order (any of them may be missing).
//
// Example 1 — after a scripted backup, in a user's test:
//
//   auto recorder = std::make_shared<vss::mocks::event_recorder>();
//   // ... fake writers built with fake_writer_options{.recorder = recorder}; run a backup;
//   // release the session ...
//   EXPECT_THAT(vss::mocks::check_writer_invariants(recorder->events(), /*released=*/true),
//               ::testing::IsEmpty());
//
// Example 2 — the same check on a hand-written trace:
//
//   using E = vss::writer_event;
//   auto violations = vss::mocks::check_writer_invariants(
//       {{.writer = "db", .event = E::prepare_backup}, {.writer = "db", .event = E::freeze}},
//       /*released=*/false);
//   // violations[0].rule == "freeze_ends": "db" got Freeze but neither Thaw nor Abort.
//
// Thread-safety: pure functions.

#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "vss/mocks/event_recorder.hpp"

namespace vss::mocks {

/// One broken rule for one writer.
struct invariant_violation {
  std::string writer;  ///< The writer's name, as recorded.
  std::string rule;    ///< "freeze_ends", "session_end", "after_abort", "at_most_once" or
                       ///< "vss_order".
  std::string detail;  ///< A sentence naming the events involved.

  friend bool operator==(const invariant_violation&, const invariant_violation&) = default;
};

/// Prints "<writer>: <rule>: <detail>" (so gMock shows readable failures).
std::ostream& operator<<(std::ostream& os, const invariant_violation& v);

/// Checks the rules above on `events` (in the order given, e.g. event_recorder::events()).
/// `released`: the session was released, so every writer that took part must have received its
/// BackupShutdown and the end rules apply; pass false while a session is still open (only
/// rules that hold at every moment are checked then). Returns every violation; empty if none.
std::vector<invariant_violation> check_writer_invariants(const std::vector<recorded_event>& events,
                                                         bool released);

}  // namespace vss::mocks
