// The fault sweep: for every event of every writer position, every provider call and every fault
// kind, and with an abort landing at every step of DoSnapshotSet, run a whole backup in virtual
// time and assert the DESIGN.md §4 invariants (not exact traces). Each test prints how many
// combinations it ran.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "vss/mocks/backup_scenario.hpp"
#include "vss/mocks/fault_plan.hpp"

namespace vss::mocks {
namespace {

using namespace std::chrono_literals;
using E = writer_event;

// Six writers, levels front, back, system, front, back, system: positions 0 (first, front end),
// 1 (back end), 2 (system), 3 (middle) and 5 (last) cover every position the issue names.
constexpr std::size_t writer_count = 6;
const std::vector<std::size_t> positions{0, 1, 2, 3, 5};

const std::vector<E> all_events{
    E::identify,      E::prepare_backup, E::prepare_snapshot, E::freeze,         E::thaw,
    E::post_snapshot, E::abort,          E::backup_complete,  E::backup_shutdown};

// Every writer fault kind, with each VSS_E_WRITERERROR_* veto and delays inside and beyond the
// 60 s freeze window.
std::vector<fault> writer_faults() {
  return {fault::succeed(),
          fault::veto(errc::writer_error_retryable),
          fault::veto(errc::writer_error_nonretryable),
          fault::veto(errc::writer_error_inconsistent_snapshot),
          fault::veto(errc::writer_error_out_of_resources),
          fault::veto(errc::writer_error_timeout),
          fault::fail_without_code(),
          fault::hang(),
          fault::hang_ignore_abort(),
          fault::delay(1s),
          fault::delay(2min),
          fault::complete_twice(),
          fault::throw_exception()};
}

// Provider faults, with a commit delay beyond the 10 s hold budget.
std::vector<fault> provider_faults() {
  return {fault::veto(errc::provider_veto),
          fault::veto(errc::unexpected_provider_error),
          fault::fail_without_code(),
          fault::hang(),
          fault::delay(1s),
          fault::delay(20s),
          fault::complete_twice(),
          fault::throw_exception()};
}

// Every point of a backup an abort can be aimed at: the writer events of PrepareForBackup and
// DoSnapshotSet and after, and every provider step.
struct abort_point {
  std::variant<writer_event, provider_call> point;
  std::string name;
};
std::vector<abort_point> abort_points() {
  std::vector<abort_point> out;
  for (E e : {E::prepare_backup, E::prepare_snapshot, E::freeze, E::thaw, E::post_snapshot,
              E::backup_complete}) {
    out.push_back({e, std::string(to_string(e))});
  }
  for (std::size_t c = 0; c < provider_call_count; ++c) {
    const auto call = static_cast<provider_call>(c);
    if (call == provider_call::abort || call == provider_call::delete_snapshot) continue;
    out.push_back({call, "provider." + std::string(to_string(call))});
  }
  return out;
}

struct sweep_counts {
  int runs = 0;
  int set_failed = 0;
  int writer_failed = 0;
  int aborted = 0;
};

void run_and_check(const fault_plan& plan, sweep_counts& counts) {
  backup_scenario scenario({.writers = writer_count, .plan = plan});
  const scenario_result r = scenario.run();
  ++counts.runs;
  if (!r.do_snapshot_set || *r.do_snapshot_set) ++counts.set_failed;
  if (r.abort_fired) ++counts.aborted;
  for (const auto& w : r.writers) {
    if (w.failure) {
      ++counts.writer_failed;
      break;
    }
  }
  EXPECT_THAT(r.violations, ::testing::IsEmpty()) << r.timeline;
  EXPECT_TRUE(r.finished) << r.timeline;
}

void report(const char* what, const sweep_counts& c) {
  std::printf(
      "[ sweep    ] %s: %d combinations, %d with a failed snapshot set, %d with a failed "
      "writer, %d aborted\n",
      what, c.runs, c.set_failed, c.writer_failed, c.aborted);
}

TEST(FaultSweep, CleanBackupSucceedsAndKeepsEveryInvariant) {
  backup_scenario scenario({.writers = writer_count});
  const auto r = scenario.run();
  EXPECT_THAT(r.violations, ::testing::IsEmpty()) << r.timeline;
  ASSERT_TRUE(r.do_snapshot_set.has_value());
  EXPECT_FALSE(*r.do_snapshot_set) << r.timeline;
  ASSERT_TRUE(r.backup_complete.has_value());
  EXPECT_FALSE(*r.backup_complete) << r.timeline;
  // VSS_CTX_BACKUP snapshots are auto-release: deleted when the session is released.
  EXPECT_EQ(r.snapshots_left, 0u);
}

TEST(FaultSweep, EveryWriterFaultAtEveryEventAndPosition) {
  sweep_counts counts;
  for (std::size_t pos : positions) {
    for (E e : all_events) {
      for (const fault& f : writer_faults()) {
        fault_plan plan;
        plan.writer(writer_selector::index(pos), e, f);
        SCOPED_TRACE(plan.to_string());
        run_and_check(plan, counts);
      }
    }
  }
  report("writer faults", counts);
  EXPECT_EQ(counts.runs,
            static_cast<int>(positions.size() * all_events.size() * writer_faults().size()));
  // Not vacuous: the faults reach the writers and show in their status. (Spec §2.2, §3.2: a
  // writer's failure fails that writer; DoSnapshotSet itself still creates the set.)
  EXPECT_GT(counts.writer_failed, 100);
}

TEST(FaultSweep, EveryProviderFaultAtEveryCall) {
  sweep_counts counts;
  for (std::size_t c = 0; c < provider_call_count; ++c) {
    const auto call = static_cast<provider_call>(c);
    const bool synchronous =
        call == provider_call::begin_prepare || call == provider_call::delete_snapshot;
    for (const fault& f : provider_faults()) {
      // A synchronous call has no completion to hold, delay or repeat.
      if (synchronous && f.kind != fault_kind::veto && f.kind != fault_kind::fail_without_code &&
          f.kind != fault_kind::throw_exception) {
        continue;
      }
      fault_plan plan;
      plan.provider(call, f);
      SCOPED_TRACE(plan.to_string());
      run_and_check(plan, counts);
    }
  }
  report("provider faults", counts);
  EXPECT_GT(counts.set_failed, 0);
}

TEST(FaultSweep, AbortAtEveryStepWithEveryOffset) {
  sweep_counts counts;
  for (const auto& point : abort_points()) {
    for (auto offset : {0ns, std::chrono::nanoseconds(1ms), std::chrono::nanoseconds(61s)}) {
      fault_plan plan;
      plan.abort_at(point.point, offset);
      SCOPED_TRACE(plan.to_string());
      run_and_check(plan, counts);
    }
  }
  report("aborts", counts);
  EXPECT_GT(counts.aborted, 0);
}

TEST(FaultSweep, AbortAtEveryStepWhileWritersMisbehave) {
  sweep_counts counts;
  const std::vector<fault> faults{fault::hang(), fault::hang_ignore_abort(),
                                  fault::veto(errc::writer_error_retryable),
                                  fault::throw_exception(), fault::delay(1s)};
  for (const auto& point : abort_points()) {
    for (std::size_t pos : {std::size_t{0}, writer_count - 1}) {
      for (E e : {E::prepare_snapshot, E::freeze, E::thaw, E::abort}) {
        for (const fault& f : faults) {
          fault_plan plan;
          plan.writer(writer_selector::index(pos), e, f);
          plan.abort_at(point.point);
          SCOPED_TRACE(plan.to_string());
          run_and_check(plan, counts);
        }
      }
    }
  }
  report("aborts with faulty writers", counts);
  EXPECT_GT(counts.aborted, 0);
}

}  // namespace
}  // namespace vss::mocks
