#include "session/snapshot_steps.hpp"

namespace vss::detail {

std::string_view to_string(snapshot_step s) noexcept {
  switch (s) {
    case snapshot_step::end_prepare:
      return "EndPrepareSnapshots";
    case snapshot_step::prepare_snapshot:
      return "PrepareForSnapshot";
    case snapshot_step::freeze_front_end:
      return "Freeze(front-end)";
    case snapshot_step::freeze_back_end:
      return "Freeze(back-end)";
    case snapshot_step::freeze_system:
      return "Freeze(system)";
    case snapshot_step::pre_commit:
      return "PreCommitSnapshots";
    case snapshot_step::commit:
      return "CommitSnapshots";
    case snapshot_step::post_commit:
      return "PostCommitSnapshots";
    case snapshot_step::thaw_system:
      return "Thaw(system)";
    case snapshot_step::thaw_back_end:
      return "Thaw(back-end)";
    case snapshot_step::thaw_front_end:
      return "Thaw(front-end)";
    case snapshot_step::pre_final_commit:
      return "PreFinalCommitSnapshots";
    case snapshot_step::post_snapshot:
      return "PostSnapshot";
    case snapshot_step::post_final_commit:
      return "PostFinalCommitSnapshots";
    case snapshot_step::settle_side_aborts:
      return "SettleWriterAborts";
    case snapshot_step::done:
      return "Done";
  }
  return "?";
}

snapshot_step next_step(snapshot_step s) noexcept {
  return s == snapshot_step::done ? s
                                  : static_cast<snapshot_step>(static_cast<std::uint8_t>(s) + 1);
}

std::optional<writer_event> writer_event_of(snapshot_step s) noexcept {
  switch (s) {
    case snapshot_step::prepare_snapshot:
      return writer_event::prepare_snapshot;
    case snapshot_step::freeze_front_end:
    case snapshot_step::freeze_back_end:
    case snapshot_step::freeze_system:
      return writer_event::freeze;
    case snapshot_step::thaw_system:
    case snapshot_step::thaw_back_end:
    case snapshot_step::thaw_front_end:
      return writer_event::thaw;
    case snapshot_step::post_snapshot:
      return writer_event::post_snapshot;
    default:
      return std::nullopt;
  }
}

std::optional<int> level_group_of(snapshot_step s) noexcept {
  switch (s) {
    case snapshot_step::freeze_front_end:
    case snapshot_step::thaw_front_end:
      return 0;
    case snapshot_step::freeze_back_end:
    case snapshot_step::thaw_back_end:
      return 1;
    case snapshot_step::freeze_system:
    case snapshot_step::thaw_system:
      return 2;
    default:
      return std::nullopt;
  }
}

bool is_provider_step(snapshot_step s) noexcept {
  switch (s) {
    case snapshot_step::end_prepare:
    case snapshot_step::pre_commit:
    case snapshot_step::commit:
    case snapshot_step::post_commit:
    case snapshot_step::pre_final_commit:
    case snapshot_step::post_final_commit:
      return true;
    default:
      return false;
  }
}

bool rollback_waits_for_call(snapshot_step s) noexcept {
  return is_provider_step(s) && s != snapshot_step::end_prepare;
}

}  // namespace vss::detail
