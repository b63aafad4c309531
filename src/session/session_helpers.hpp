#pragma once
// Small pure helpers shared by the session's translation units.

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "vss/error.hpp"
#include "vss/report.hpp"
#include "vss/types.hpp"
#include "vss/writer.hpp"
#include "writers/phase_collector.hpp"

namespace vss::detail {

// Spec §11.3: what a provider may return; anything else becomes
// VSS_E_UNEXPECTED_PROVIDER_ERROR.
inline std::error_code map_provider_error(std::error_code ec) {
  if (!ec) return ec;
  if (ec.category() == vss_category()) {
    switch (static_cast<errc>(ec.value())) {
      case errc::out_of_memory:
      case errc::invalid_arg:
      case errc::access_denied:
      case errc::bad_state:
      case errc::object_not_found:
      case errc::insufficient_storage:
      case errc::volume_not_supported:
      case errc::volume_not_supported_by_provider:
      case errc::maximum_number_of_snapshots_reached:
      case errc::provider_veto:
      case errc::unsupported_context:
      case errc::flush_writes_timeout:
      case errc::hold_writes_timeout:
        return ec;
      default:
        break;
    }
  }
  return errc::unexpected_provider_error;
}

/// Indices 0..n-1 ordered by `bucket[i]` (a stable counting sort): the slot order of a
/// delivery to every participant (shard by shard, freeze groups in order within a shard).
inline std::vector<std::uint32_t> order_by_bucket(const std::vector<std::uint32_t>& bucket) {
  std::uint32_t buckets = 0;
  for (auto b : bucket) buckets = std::max(buckets, b + 1);
  std::vector<std::uint32_t> next(buckets + 1, 0);
  for (auto b : bucket) ++next[b + 1];
  for (std::size_t b = 1; b < next.size(); ++b) next[b] += next[b - 1];
  std::vector<std::uint32_t> order(bucket.size());
  for (std::uint32_t i = 0; i < bucket.size(); ++i) order[next[bucket[i]]++] = i;
  return order;
}

inline writer_outcome to_outcome(slot_outcome o) {
  switch (o) {
    case slot_outcome::completed:
      return writer_outcome::completed;
    case slot_outcome::failed:
      return writer_outcome::failed;
    case slot_outcome::timed_out:
      return writer_outcome::timed_out;
    case slot_outcome::not_delivered:
      return writer_outcome::not_delivered;
    default:
      return writer_outcome::abandoned;
  }
}

inline writer_state failed_state(writer_event e) {
  switch (e) {
    case writer_event::identify:
      return writer_state::failed_at_identify;
    case writer_event::prepare_backup:
      return writer_state::failed_at_prepare_backup;
    case writer_event::prepare_snapshot:
      return writer_state::failed_at_prepare_snapshot;
    case writer_event::freeze:
      return writer_state::failed_at_freeze;
    case writer_event::thaw:
      return writer_state::failed_at_thaw;
    case writer_event::post_snapshot:
      return writer_state::failed_at_post_snapshot;
    case writer_event::backup_complete:
      return writer_state::failed_at_backup_complete;
    case writer_event::backup_shutdown:
      return writer_state::failed_at_backup_shutdown;
    case writer_event::abort:
      break;
  }
  return writer_state::unknown;
}

inline writer_state success_state(writer_event e, writer_state current) {
  switch (e) {
    case writer_event::prepare_backup:
      return writer_state::stable;
    case writer_event::prepare_snapshot:
      return writer_state::waiting_for_freeze;
    case writer_event::freeze:
      return writer_state::waiting_for_thaw;
    case writer_event::thaw:
      return writer_state::waiting_for_post_snapshot;
    case writer_event::post_snapshot:
      return writer_state::waiting_for_backup_complete;
    case writer_event::backup_complete:
    case writer_event::backup_shutdown:
    case writer_event::abort:
      // Spec §3.4 CHOICE: a failed writer keeps its failure state after OnAbort.
      return is_failed(current) ? current : writer_state::stable;
    case writer_event::identify:
      break;
  }
  return current;
}

inline bool names_match(const component_info& c, component_type type, std::string_view path,
                        std::string_view name) {
  return c.type == type && c.logical_path == path && c.name == name;
}

/// Runs a synchronous provider call outside the snapshot pipeline: a provider's exception must
/// never escape into the engine or the requester (the pipeline maps it to
/// VSS_E_UNEXPECTED_PROVIDER_ERROR, spec §11.3); `fallback` is returned instead. So a provider
/// that throws from is_volume_supported does not support the volume, one that throws from
/// query() has no snapshots, and one that throws from a call returning an error_code failed it.
template <class F, class R>
R provider_call_or(F&& f, R fallback) noexcept {
  try {
    return std::forward<F>(f)();
  } catch (...) {
    return fallback;
  }
}

/// The error a throwing provider call stands for.
inline std::error_code provider_threw() noexcept { return errc::unexpected_provider_error; }

}  // namespace vss::detail
