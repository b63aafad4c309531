#pragma once
// The DoSnapshotSet pipeline (spec §10.1) as data: the steps in order, and pure functions that
// say what each step is and what an abort arriving at a step must undo. Exhaustively tested in
// tests/unit/session/snapshot_steps_test.cpp.

#include <cstdint>
#include <optional>
#include <string_view>

#include "vss/types.hpp"
#include "vss/writer.hpp"

namespace vss::detail {

enum class snapshot_step : std::uint8_t {
  end_prepare,       // provider EndPrepareSnapshots
  prepare_snapshot,  // writers OnPrepareSnapshot
  freeze_front_end,  // writers OnFreeze, by level (spec §5.4)
  freeze_back_end,
  freeze_system,
  pre_commit,   // provider PreCommitSnapshots
  commit,       // provider CommitSnapshots, inside the hold budget
  post_commit,  // provider PostCommitSnapshots
  thaw_system,  // writers OnThaw, reverse level order (spec §5.4 CHOICE)
  thaw_back_end,
  thaw_front_end,
  pre_final_commit,    // provider PreFinalCommitSnapshots
  post_snapshot,       // writers OnPostSnapshot
  post_final_commit,   // provider PostFinalCommitSnapshots
  settle_side_aborts,  // wait for per-writer aborts (freeze/thaw vetoes, freeze timeouts)
  done,
};

inline constexpr std::size_t snapshot_step_count = 16;

std::string_view to_string(snapshot_step s) noexcept;

/// The step after `s` (done stays done).
snapshot_step next_step(snapshot_step s) noexcept;

/// The writer event a step delivers, if it is a writer step.
std::optional<writer_event> writer_event_of(snapshot_step s) noexcept;

/// The freeze slot group (0 front-end, 1 back-end, 2 system) a freeze/thaw step addresses.
std::optional<int> level_group_of(snapshot_step s) noexcept;

/// True for steps that call the provider.
bool is_provider_step(snapshot_step s) noexcept;

/// True if a provider call in flight at step `s` must be allowed to return before the
/// provider is rolled back (the commit is atomic; the others are quick). EndPrepareSnapshots
/// is the exception: AbortSnapshots may arrive while it runs (spec §11.2).
bool rollback_waits_for_call(snapshot_step s) noexcept;

}  // namespace vss::detail
