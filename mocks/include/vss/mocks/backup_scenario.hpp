// vss/mocks/backup_scenario.hpp — a whole backup against fake writers and a faulty provider,
// driven by a fault_plan, in virtual time, with the DESIGN.md §4 invariants checked at the end.
//
// backup_scenario owns a single-threaded io_context, a vss::manual_clock, an engine, N
// fake_writers (levels as configured), a faulty_provider over a vss::memory_provider and an
// event_recorder. run() performs the requester's full sequence — InitializeForBackup,
// SetBackupState, GatherWriterMetadata, AddComponent for every writer, StartSnapshotSet,
// AddToSnapshotSet, PrepareForBackup, DoSnapshotSet, GatherWriterStatus, SetBackupSucceeded,
// BackupComplete, release — stopping the forward path at the first call that fails, as a
// requester would. It applies the plan's writer and provider faults before the run and fires
// its abort trigger (AbortBackup from another "thread" of control, at a virtual moment). When
// nothing is ready to run, the clock jumps to the next deadline, so 60 s freeze timeouts cost
// microseconds.
//
// Example 1 — writer 2 hangs at Freeze: only it fails, after its 60 s freeze timeout (spec
// §3.2), which costs microseconds of real time:
//
//   vss::mocks::backup_scenario s(
//       {.plan = vss::mocks::fault_plan::from_text("writer[2].freeze=hang")});
//   auto r = s.run();
//   EXPECT_THAT(r.violations, ::testing::IsEmpty()) << r.timeline;
//   EXPECT_THAT(r.do_snapshot_set, ::testing::Optional(vss::mocks::IsOk()));
//   EXPECT_THAT(r.writers, ::testing::Contains(
//                              vss::mocks::WriterFailureIs(vss::errc::writer_error_timeout)));
//
// Example 2 — an abort 5 ms (virtual) after Freeze reached the first writer, with your own
// writer taking part next to the fakes:
//
//   vss::mocks::fault_plan plan;
//   plan.abort_at(vss::writer_event::freeze, std::chrono::milliseconds(5));
//   vss::mocks::backup_scenario s({.writers = 8, .plan = plan, .select_components = false});
//   auto mine = std::make_shared<my_writer>();
//   auto registration = s.engine().register_writer(mine);
//   auto r = s.run();
//   EXPECT_TRUE(r.abort_fired);
//   EXPECT_THAT(r.do_snapshot_set, ::testing::Optional(vss::mocks::IsAborted()));
//   EXPECT_EQ(r.snapshots_left, 0u);
//
// Thread-safety: one thread drives a scenario; run() may be called once.

#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "vss/engine.hpp"
#include "vss/manual_clock.hpp"
#include "vss/memory_provider.hpp"
#include "vss/mocks/event_recorder.hpp"
#include "vss/mocks/fake_writer.hpp"
#include "vss/mocks/fault_plan.hpp"
#include "vss/mocks/faulty_provider.hpp"
#include "vss/mocks/invariants.hpp"
#include "vss/options.hpp"
#include "vss/report.hpp"

namespace vss::mocks {

/// How to build a scenario. Every field has a default; `{}` is a clean 6-writer backup.
struct scenario_options {
  /// Number of fake writers, named "writer-0", "writer-1", ... Default: 6.
  std::size_t writers = 6;
  /// Application levels, used in turn (writer i gets levels[i % size]); empty = all front_end.
  /// Default: front_end, back_end, system.
  std::vector<application_level> levels{application_level::front_end, application_level::back_end,
                                        application_level::system};
  /// Each writer's freeze timeout (the window between Freeze and Thaw). Default: 60 s.
  std::chrono::milliseconds freeze_timeout{60'000};
  /// The faults to inject and the abort trigger. Default: none.
  fault_plan plan;
  /// Engine options; `clock` is replaced by the scenario's manual clock and `shard_count`
  /// 0 becomes 2. Default: the engine's defaults.
  engine_options engine;
  /// Volumes added to the snapshot set. Default: "/data".
  std::vector<std::string> volumes{"/data"};
  /// SetBackupState(select_components): select every writer's component. Default: true.
  bool select_components = true;
  /// Virtual time after which run() gives up and reports `finished == false`. Default: 24 h.
  std::chrono::hours virtual_time_limit{24};
};

/// What happened. Results of calls that were never made (an earlier call failed) are empty
/// optionals.
struct scenario_result {
  std::optional<std::error_code> gather_writer_metadata;
  std::optional<std::error_code> prepare_for_backup;
  std::optional<std::error_code> do_snapshot_set;
  std::optional<std::error_code> backup_complete;
  /// AbortBackup's result, when the plan's abort trigger fired.
  std::optional<std::error_code> abort_backup;
  /// True when the abort trigger's moment came (the abort was called).
  bool abort_fired = false;
  /// Virtual time from the AbortBackup call to its completion.
  std::chrono::nanoseconds abort_duration{0};
  /// True when every started call completed and the session was released within the limit.
  bool finished = false;
  /// Writer status after the last GatherWriterStatus (empty if it never ran).
  std::vector<vss::writer_status> writers;
  /// Every event every writer saw, in order.
  std::vector<recorded_event> events;
  /// Snapshots the memory provider still holds at the end.
  std::size_t snapshots_left = 0;
  /// Broken invariants: the writer rules of check_writer_invariants(), plus "op_once" (a
  /// completion ran twice), "finished", "abort_result" (AbortBackup did not return S_OK),
  /// "abort_deadline" (it took longer than the abort deadline plus the hold budget), and
  /// "snapshots_left" (a set that did not succeed left snapshots behind).
  std::vector<invariant_violation> violations;
  /// Virtual time the whole run took.
  std::chrono::nanoseconds virtual_elapsed{0};
  /// A printable account (results and every writer event) for failure messages.
  std::string timeline;
};

/// A backup against fakes, in virtual time. See the file comment.
class backup_scenario {
 public:
  /// Builds the engine, writers and provider and applies the plan's faults. Throws
  /// std::invalid_argument for options that cannot describe a backup (no writers, no
  /// volumes).
  explicit backup_scenario(scenario_options options = {});
  ~backup_scenario();
  backup_scenario(const backup_scenario&) = delete;
  backup_scenario& operator=(const backup_scenario&) = delete;

  /// Runs the backup to the end (or the virtual time limit) and checks the invariants.
  /// Call once.
  scenario_result run();

  /// The i-th fake writer, to add faults beyond the plan before run(). Throws std::out_of_range.
  fake_writer& writer(std::size_t i);
  /// The number of writers.
  std::size_t writer_count() const noexcept;
  /// The faulty provider (wrapping the memory provider).
  faulty_provider& provider() noexcept;
  /// The virtual clock.
  vss::manual_clock& clock() noexcept;
  /// The recorder every writer reports to.
  event_recorder& recorder() noexcept;
  /// The engine, e.g. to register your own writer before run() (with select_components false
  /// it takes part like the fakes; its events are not in the recorder).
  vss::engine& engine() noexcept;

 private:
  struct state;
  std::unique_ptr<state> s_;
};

}  // namespace vss::mocks
