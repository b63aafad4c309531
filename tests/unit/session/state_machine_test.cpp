#include "session/state_machine.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vss::detail {

// Lets gtest print a machine in failure messages.
void PrintTo(const session_machine& m, std::ostream* os) {
  *os << "{" << m.state << (m.context_set ? " context_set" : "")
      << (m.admin_used ? " admin_used" : "") << (m.backup_state_set ? " backup_state_set" : "")
      << (m.metadata_gathered ? " metadata_gathered" : "")
      << (m.metadata_in_flight ? " metadata_in_flight" : "")
      << (m.prepare_in_flight ? " prepare_in_flight" : "")
      << (m.backup_complete_in_flight ? " backup_complete_in_flight" : "") << "}";
}

}  // namespace vss::detail

namespace {

using vss::errc;
using vss::session_state;
using vss::detail::session_call;
using vss::detail::session_machine;
using vss::detail::step;
using vss::detail::step_result;
using S = session_state;
using C = session_call;

constexpr unsigned state_count = static_cast<unsigned>(S::failed) + 1;
constexpr unsigned call_count = static_cast<unsigned>(C::count_);

std::string describe(const session_machine& m) {
  std::ostringstream os;
  PrintTo(m, &os);
  return os.str();
}

std::string code_name(errc code) {
  if (code == errc::ok) return "ok";
  if (code == errc::bad_state) return "bad_state";
  return "errc(" + std::to_string(static_cast<std::int32_t>(code)) + ")";
}

std::vector<session_call> all_calls() {
  std::vector<session_call> calls;
  for (unsigned i = 0; i < call_count; ++i) calls.push_back(static_cast<session_call>(i));
  return calls;
}

bool busy(const session_machine& m) {
  return m.metadata_in_flight || m.prepare_in_flight || m.backup_complete_in_flight;
}

// ---------------------------------------------------------------------------------------------
// The expectation: the rules of the brief restated as one row of data per call (where the call
// may be made, what it needs, what it changes), independent of the switch in state_machine.cpp.

using state_mask = std::uint16_t;

constexpr state_mask bit(session_state s) {
  return static_cast<state_mask>(1u << static_cast<unsigned>(s));
}
constexpr state_mask any_state = static_cast<state_mask>((1u << state_count) - 1);
template <class... States>
constexpr state_mask only(States... s) {
  return static_cast<state_mask>((bit(s) | ...));
}
template <class... States>
constexpr state_mask all_but(States... s) {
  return static_cast<state_mask>(any_state & ~only(s...));
}

// States in which AbortBackup finds a backup underway and aborts it.
constexpr state_mask abortable =
    only(S::set_started, S::prepared, S::snapshotting, S::snapshotted, S::failed);

enum class effect {
  always,      // an accepted call acts on the backup even if the machine looks the same
  if_changed,  // reads and ignorable calls: an effect only if the machine changed
};

using precondition = bool (*)(const session_machine&);
using mutation = void (*)(session_machine&);

struct call_rule {
  session_call call;
  state_mask where;
  bool needs_idle;
  precondition needs;
  mutation apply;
  effect eff;
};

constexpr precondition no_precondition = [](const session_machine&) { return true; };
constexpr mutation no_change = [](session_machine&) {};

const std::vector<call_rule>& rules() {
  static const std::vector<call_rule> table = {
      {C::initialize_for_backup, only(S::created), false, no_precondition,
       [](session_machine& m) { m.state = S::initialized; }, effect::always},
      {C::set_context, only(S::initialized), true,
       [](const session_machine& m) { return !m.context_set && !m.admin_used; },
       [](session_machine& m) { m.context_set = true; }, effect::always},
      {C::set_backup_state, only(S::initialized, S::set_started), true, no_precondition,
       [](session_machine& m) { m.backup_state_set = true; }, effect::always},
      {C::gather_writer_metadata, only(S::initialized, S::set_started), true,
       [](const session_machine& m) { return !m.metadata_gathered; },
       [](session_machine& m) { m.metadata_in_flight = true; }, effect::always},
      {C::add_component, only(S::initialized, S::set_started), true,
       [](const session_machine& m) { return m.metadata_gathered; }, no_change, effect::always},
      {C::start_snapshot_set, only(S::initialized), true, no_precondition,
       [](session_machine& m) { m.state = S::set_started; }, effect::always},
      {C::add_to_snapshot_set, only(S::set_started, S::prepared), true, no_precondition, no_change,
       effect::always},
      {C::prepare_for_backup, only(S::set_started), true,
       [](const session_machine& m) { return m.backup_state_set && m.metadata_gathered; },
       [](session_machine& m) { m.prepare_in_flight = true; }, effect::always},
      {C::do_snapshot_set, only(S::prepared), true, no_precondition,
       [](session_machine& m) { m.state = S::snapshotting; }, effect::always},
      {C::gather_writer_status, all_but(S::created), false, no_precondition, no_change,
       effect::if_changed},
      {C::set_backup_succeeded, only(S::snapshotted), true, no_precondition, no_change,
       effect::always},
      {C::backup_complete, only(S::snapshotted), true, no_precondition,
       [](session_machine& m) { m.backup_complete_in_flight = true; }, effect::always},
      {C::abort_backup, all_but(S::created), false, no_precondition,
       [](session_machine& m) {
         if ((bit(m.state) & abortable) != 0) m.state = S::aborted;
       },
       effect::if_changed},
      {C::get_snapshot_properties, all_but(S::created, S::snapshotting, S::failed), false,
       no_precondition, no_change, effect::if_changed},
      {C::query, all_but(S::created, S::failed), false, no_precondition,
       [](session_machine& m) { m.admin_used = true; }, effect::if_changed},
      {C::delete_snapshots, all_but(S::created, S::snapshotting, S::failed, S::aborted), false,
       no_precondition, [](session_machine& m) { m.admin_used = true; }, effect::always},
      {C::is_volume_supported, all_but(S::created, S::failed), false, no_precondition, no_change,
       effect::if_changed},
      {C::gather_metadata_done, any_state, false,
       [](const session_machine& m) { return m.metadata_in_flight; },
       [](session_machine& m) {
         m.metadata_in_flight = false;
         m.metadata_gathered = true;
       },
       effect::always},
      {C::prepare_done, any_state, false,
       [](const session_machine& m) { return m.prepare_in_flight; },
       [](session_machine& m) {
         m.prepare_in_flight = false;
         if (m.state == S::set_started) m.state = S::prepared;
       },
       effect::always},
      {C::prepare_failed, any_state, false,
       [](const session_machine& m) { return m.prepare_in_flight; },
       [](session_machine& m) {
         m.prepare_in_flight = false;
         if (m.state != S::aborted) m.state = S::failed;
       },
       effect::always},
      {C::snapshot_done, only(S::snapshotting, S::aborted), false, no_precondition,
       [](session_machine& m) {
         if (m.state == S::snapshotting) m.state = S::snapshotted;
       },
       effect::if_changed},
      {C::snapshot_failed, only(S::snapshotting, S::aborted), false, no_precondition,
       [](session_machine& m) {
         if (m.state == S::snapshotting) m.state = S::failed;
       },
       effect::if_changed},
      {C::snapshot_cancelled, only(S::snapshotting, S::aborted), false, no_precondition,
       [](session_machine& m) {
         if (m.state == S::snapshotting) m.state = S::failed;
       },
       effect::if_changed},
      {C::backup_complete_done, any_state, false,
       [](const session_machine& m) { return m.backup_complete_in_flight; },
       [](session_machine& m) {
         m.backup_complete_in_flight = false;
         if (m.state != S::aborted) m.state = S::completed;
       },
       effect::always},
  };
  return table;
}

const call_rule& rule_for(session_call c) {
  for (const call_rule& r : rules()) {
    if (r.call == c) return r;
  }
  ADD_FAILURE() << "no rule for " << vss::detail::to_string(c);
  return rules().front();
}

struct expectation {
  bool accepted;
  session_machine next;
  bool has_effect;
};

expectation expected(const session_machine& m, session_call c) {
  const call_rule& r = rule_for(c);
  if ((r.where & bit(m.state)) == 0 || (r.needs_idle && busy(m)) || !r.needs(m)) {
    return {false, m, false};
  }
  session_machine next = m;
  r.apply(next);
  return {true, next, r.eff == effect::always || next != m};
}

// Every machine reachable from a fresh object. Successors are taken from both step() and the
// expectation, so a wrong rejection on either side cannot hide part of the space.
std::vector<session_machine> reachable_machines() {
  std::vector<session_machine> seen{session_machine{}};
  auto visit = [&seen](const session_machine& m) {
    for (const session_machine& s : seen) {
      if (s == m) return;
    }
    seen.push_back(m);
  };
  for (std::size_t i = 0; i < seen.size(); ++i) {
    const session_machine m = seen[i];
    for (session_call c : all_calls()) {
      if (const step_result r = step(m, c); r.code == errc::ok) visit(r.next);
      if (const expectation e = expected(m, c); e.accepted) visit(e.next);
    }
  }
  return seen;
}

// Applies `calls` to `m`, expecting each to be accepted.
session_machine run(session_machine m, const std::vector<session_call>& calls) {
  for (session_call c : calls) {
    const step_result r = step(m, c);
    EXPECT_EQ(code_name(r.code), "ok") << vss::detail::to_string(c) << " in " << describe(m);
    m = r.next;
  }
  return m;
}

session_machine after(const std::vector<session_call>& calls) { return run({}, calls); }

// A component-mode backup up to a completed PrepareForBackup.
const std::vector<session_call> prepared_backup = {
    C::initialize_for_backup, C::set_context,   C::gather_writer_metadata, C::gather_metadata_done,
    C::set_backup_state,      C::add_component, C::start_snapshot_set,     C::add_to_snapshot_set,
    C::prepare_for_backup,    C::prepare_done};

// ---------------------------------------------------------------------------------------------

TEST(SessionStateMachine, ExpectationTableHasExactlyOneRulePerCall) {
  std::set<session_call> covered;
  for (const call_rule& r : rules()) EXPECT_TRUE(covered.insert(r.call).second);
  EXPECT_EQ(covered.size(), call_count);
}

TEST(SessionStateMachine, EveryCallInEveryReachableMachineFollowsTheRules) {
  const std::vector<session_machine> machines = reachable_machines();
  std::size_t pairs = 0;
  for (const session_machine& m : machines) {
    for (session_call c : all_calls()) {
      SCOPED_TRACE(describe(m) + " + " + std::string(vss::detail::to_string(c)));
      const step_result got = step(m, c);
      const expectation want = expected(m, c);
      EXPECT_EQ(code_name(got.code), want.accepted ? "ok" : "bad_state");
      EXPECT_EQ(got.next, want.next);
      EXPECT_EQ(got.has_effect, want.has_effect);
      if (got.code != errc::ok) {
        EXPECT_EQ(got.next, m) << "a rejected call changed the machine";
        EXPECT_FALSE(got.has_effect) << "a rejected call reported an effect";
      }
      if (!got.has_effect) {
        EXPECT_EQ(got.next, m) << "a call without effect changed the machine";
      }
      ++pairs;
    }
  }
  RecordProperty("reachable_machines", static_cast<int>(machines.size()));
  RecordProperty("pairs_checked", static_cast<int>(pairs));
  std::cout << "[ session  ] " << machines.size() << " reachable machines x " << call_count
            << " calls = " << pairs << " (machine, call) pairs checked\n";
}

TEST(SessionStateMachine, EverySessionStateIsReachable) {
  std::set<session_state> states;
  for (const session_machine& m : reachable_machines()) states.insert(m.state);
  EXPECT_EQ(states.size(), state_count);
}

// The per-state lists of the brief, checked against step() as a second, differently shaped
// statement of the same rules.
TEST(SessionStateMachine, CreatedAbortedFailedAndSnapshottingAcceptOnlyTheirListedCalls) {
  const std::set<session_call> completions = {
      C::gather_metadata_done, C::prepare_done,       C::prepare_failed,      C::snapshot_done,
      C::snapshot_failed,      C::snapshot_cancelled, C::backup_complete_done};
  struct whitelist {
    session_state state;
    std::set<session_call> always;  // accepted in every reachable machine in this state
    bool completions_allowed;       // completions accepted when their operation is in flight
  };
  const whitelist lists[] = {
      {S::created, {C::initialize_for_backup}, false},
      {S::aborted,
       {C::abort_backup, C::gather_writer_status, C::get_snapshot_properties, C::query,
        C::is_volume_supported, C::snapshot_done, C::snapshot_failed, C::snapshot_cancelled},
       true},
      {S::failed, {C::abort_backup, C::gather_writer_status}, true},
      {S::snapshotting,
       {C::abort_backup, C::gather_writer_status, C::query, C::is_volume_supported,
        C::snapshot_done, C::snapshot_failed, C::snapshot_cancelled},
       false},
  };
  std::size_t machines_checked = 0;
  for (const session_machine& m : reachable_machines()) {
    for (const whitelist& w : lists) {
      if (m.state != w.state) continue;
      ++machines_checked;
      for (session_call c : all_calls()) {
        const bool accepted = step(m, c).code == errc::ok;
        const bool listed = w.always.count(c) != 0;
        const bool completion = w.completions_allowed && completions.count(c) != 0;
        if (listed) {
          EXPECT_TRUE(accepted) << vss::detail::to_string(c) << " in " << describe(m);
        } else if (!completion) {
          EXPECT_FALSE(accepted) << vss::detail::to_string(c) << " in " << describe(m);
        }
      }
    }
  }
  EXPECT_GT(machines_checked, std::size_t{0});
}

TEST(SessionStateMachine, AbortBackupIsAcceptedInEveryReachableMachineExceptBeforeInitialize) {
  for (const session_machine& m : reachable_machines()) {
    const step_result r = step(m, C::abort_backup);
    EXPECT_EQ(code_name(r.code), m.state == S::created ? "bad_state" : "ok") << describe(m);
  }
}

TEST(SessionStateMachine, EveryInFlightOperationCanAlwaysReportItsCompletion) {
  for (const session_machine& m : reachable_machines()) {
    if (m.metadata_in_flight) {
      EXPECT_EQ(code_name(step(m, C::gather_metadata_done).code), "ok") << describe(m);
    }
    if (m.prepare_in_flight) {
      EXPECT_EQ(code_name(step(m, C::prepare_done).code), "ok") << describe(m);
      EXPECT_EQ(code_name(step(m, C::prepare_failed).code), "ok") << describe(m);
    }
    if (m.backup_complete_in_flight) {
      EXPECT_EQ(code_name(step(m, C::backup_complete_done).code), "ok") << describe(m);
    }
    if (m.state == S::snapshotting) {
      EXPECT_EQ(code_name(step(m, C::snapshot_done).code), "ok") << describe(m);
    }
  }
}

TEST(SessionStateMachine, ACallOutsideTheEnumIsBadStateAndChangesNothing) {
  const session_machine m = after({C::initialize_for_backup});
  for (session_call c : {C::count_, static_cast<session_call>(200)}) {
    const step_result r = step(m, c);
    EXPECT_EQ(code_name(r.code), "bad_state");
    EXPECT_EQ(r.next, m);
    EXPECT_FALSE(r.has_effect);
  }
}

// --- Scenarios --------------------------------------------------------------------------------

TEST(SessionStateMachine, AFullComponentModeBackupGoesFromCreatedToCompleted) {
  struct line {
    session_call call;
    session_state state_after;
    bool has_effect;
  };
  const line script[] = {
      {C::initialize_for_backup, S::initialized, true},
      {C::set_context, S::initialized, true},
      {C::gather_writer_metadata, S::initialized, true},
      {C::gather_metadata_done, S::initialized, true},
      {C::set_backup_state, S::initialized, true},
      {C::add_component, S::initialized, true},
      {C::start_snapshot_set, S::set_started, true},
      {C::add_to_snapshot_set, S::set_started, true},
      {C::prepare_for_backup, S::set_started, true},
      {C::prepare_done, S::prepared, true},
      {C::gather_writer_status, S::prepared, false},
      {C::do_snapshot_set, S::snapshotting, true},
      {C::snapshot_done, S::snapshotted, true},
      {C::gather_writer_status, S::snapshotted, false},
      {C::get_snapshot_properties, S::snapshotted, false},
      {C::set_backup_succeeded, S::snapshotted, true},
      {C::backup_complete, S::snapshotted, true},
      {C::backup_complete_done, S::completed, true},
      {C::gather_writer_status, S::completed, false},
  };
  session_machine m;
  for (const line& l : script) {
    SCOPED_TRACE(vss::detail::to_string(l.call));
    const step_result r = step(m, l.call);
    ASSERT_EQ(code_name(r.code), "ok") << "in " << describe(m);
    EXPECT_EQ(r.next.state, l.state_after);
    EXPECT_EQ(r.has_effect, l.has_effect);
    m = r.next;
  }
  EXPECT_FALSE(busy(m));
  EXPECT_TRUE(m.context_set && m.backup_state_set && m.metadata_gathered);
}

TEST(SessionStateMachine, AbortBackupBeforeInitializeForBackupIsBadState) {
  const session_machine fresh;
  const step_result r = step(fresh, C::abort_backup);
  EXPECT_EQ(code_name(r.code), "bad_state");
  EXPECT_EQ(r.next, fresh);
  EXPECT_FALSE(r.has_effect);
}

TEST(SessionStateMachine, SecondSetContextIsBadState) {
  const session_machine m = after({C::initialize_for_backup, C::set_context});
  const step_result r = step(m, C::set_context);
  EXPECT_EQ(code_name(r.code), "bad_state");
  EXPECT_EQ(r.next, m);
}

TEST(SessionStateMachine, SetContextAfterQueryIsBadState) {
  const session_machine m = after({C::initialize_for_backup, C::query});
  EXPECT_EQ(code_name(step(m, C::set_context).code), "bad_state");
}

TEST(SessionStateMachine, BackupCompleteAfterAFailedDoSnapshotSetIsBadState) {
  const session_machine m = run(after(prepared_backup), {C::do_snapshot_set, C::snapshot_failed});
  ASSERT_EQ(m.state, S::failed);
  for (session_call c : {C::backup_complete, C::set_backup_succeeded}) {
    const step_result r = step(m, c);
    EXPECT_EQ(code_name(r.code), "bad_state") << vss::detail::to_string(c);
    EXPECT_EQ(r.next, m);
  }
  // The documented way out is AbortBackup (spec §3.1), after which BackupComplete stays refused.
  const session_machine aborted = run(m, {C::abort_backup});
  EXPECT_EQ(aborted.state, S::aborted);
  EXPECT_EQ(code_name(step(aborted, C::backup_complete).code), "bad_state");
}

TEST(SessionStateMachine, AbortBackupTwiceIsOkWithNoSecondEffect) {
  const session_machine started = after({C::initialize_for_backup, C::start_snapshot_set});
  const step_result first = step(started, C::abort_backup);
  ASSERT_EQ(code_name(first.code), "ok");
  EXPECT_TRUE(first.has_effect);
  EXPECT_EQ(first.next.state, S::aborted);

  const step_result second = step(first.next, C::abort_backup);
  EXPECT_EQ(code_name(second.code), "ok");
  EXPECT_FALSE(second.has_effect);
  EXPECT_EQ(second.next, first.next);
}

TEST(SessionStateMachine, AbortBackupWithNothingUnderwayIsIgnored) {
  const session_machine m = after({C::initialize_for_backup, C::gather_writer_metadata});
  const step_result r = step(m, C::abort_backup);
  EXPECT_EQ(code_name(r.code), "ok");
  EXPECT_FALSE(r.has_effect);
  EXPECT_EQ(r.next, m);
  EXPECT_EQ(code_name(step(r.next, C::gather_metadata_done).code), "ok");
}

TEST(SessionStateMachine, CancelOnDoSnapshotSetLeavesTheObjectFailedNotAborted) {
  const session_machine m = run(after(prepared_backup), {C::do_snapshot_set});
  const step_result cancelled = step(m, C::snapshot_cancelled);
  ASSERT_EQ(code_name(cancelled.code), "ok");
  EXPECT_TRUE(cancelled.has_effect);
  EXPECT_EQ(cancelled.next.state, S::failed);
  // The requester must still call AbortBackup, and that call does take effect (spec §3.5).
  const step_result abort = step(cancelled.next, C::abort_backup);
  EXPECT_EQ(code_name(abort.code), "ok");
  EXPECT_TRUE(abort.has_effect);
  EXPECT_EQ(abort.next.state, S::aborted);
}

TEST(SessionStateMachine, AbortBackupDuringDoSnapshotSetSwallowsTheLateCompletion) {
  const session_machine aborted =
      run(after(prepared_backup), {C::do_snapshot_set, C::abort_backup});
  ASSERT_EQ(aborted.state, S::aborted);
  const step_result late = step(aborted, C::snapshot_done);
  EXPECT_EQ(code_name(late.code), "ok");
  EXPECT_FALSE(late.has_effect);
  EXPECT_EQ(late.next, aborted);
  EXPECT_EQ(code_name(step(aborted, C::backup_complete).code), "bad_state");
}

TEST(SessionStateMachine, PrepareForBackupOvertakenByAbortBackupStaysAbortedWhenItCompletes) {
  const std::vector<session_call> to_prepare(prepared_backup.begin(), prepared_backup.end() - 1);
  const session_machine m = run(after(to_prepare), {C::abort_backup});
  ASSERT_EQ(m.state, S::aborted);
  ASSERT_TRUE(m.prepare_in_flight);
  const step_result done = step(m, C::prepare_done);
  EXPECT_EQ(code_name(done.code), "ok");
  EXPECT_EQ(done.next.state, S::aborted);
  EXPECT_FALSE(done.next.prepare_in_flight);
}

// --- Names ------------------------------------------------------------------------------------

TEST(SessionStateName, EveryStateIsNamedAfterItsEnumerator) {
  const std::pair<session_state, std::string_view> names[] = {
      {S::created, "created"},
      {S::initialized, "initialized"},
      {S::set_started, "set_started"},
      {S::prepared, "prepared"},
      {S::snapshotting, "snapshotting"},
      {S::snapshotted, "snapshotted"},
      {S::completed, "completed"},
      {S::aborted, "aborted"},
      {S::failed, "failed"},
  };
  static_assert(std::size(names) == state_count);
  for (const auto& [state, name] : names) EXPECT_EQ(vss::to_string(state), name);
}

TEST(SessionStateName, StreamingAStateWritesItsName) {
  std::ostringstream os;
  os << S::snapshotting << '/' << S::aborted;
  EXPECT_EQ(os.str(), "snapshotting/aborted");
}

TEST(SessionStateName, AValueOutsideTheEnumIsNamedUnknown) {
  EXPECT_EQ(vss::to_string(static_cast<session_state>(state_count)), "unknown");
}

TEST(SessionCallName, EveryCallHasItsOwnName) {
  std::set<std::string_view> names;
  for (session_call c : all_calls()) {
    const std::string_view name = vss::detail::to_string(c);
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(names.insert(name).second) << name;
  }
  EXPECT_EQ(vss::detail::to_string(C::abort_backup), "abort_backup");
  EXPECT_EQ(vss::detail::to_string(C::count_), "unknown");
}

}  // namespace
