#pragma once
// The provider side of openvss: the IVssSoftwareSnapshotProvider +
// IVssProviderCreateSnapshotSet roles (spec §11). A provider makes the snapshots; the engine
// decides when.
//
// Call order for one snapshot set (spec §10.1):
//   begin_prepare_snapshot (once per volume, from AddToSnapshotSet)
//   end_prepare_snapshots  (DoSnapshotSet starts; may be long; abort_snapshots may arrive)
//   pre_commit_snapshots   (writers are frozen)
//   commit_snapshots       (the point in time; inside the hold budget, default 10 s)
//   post_commit_snapshots  (before writers thaw)
//   pre_final_commit_snapshots, post_final_commit_snapshots
//   abort_snapshots        (only after end_prepare_snapshots was called: discard everything
//                           not committed, and anything committed for this set)
//
// Example: a provider that snapshots nothing but accepts every volume.
//   class null_provider : public vss::provider {
//     vss::provider_properties properties() const override { return {.name = "null"}; }
//     bool is_volume_supported(std::string_view) const override { return true; }
//     std::error_code begin_prepare_snapshot(const vss::snapshot_set_id&, const vss::snapshot_id&,
//                                            std::string_view, std::uint32_t) override { return {}; }
//     void end_prepare_snapshots(const vss::snapshot_set_id&, completion done) override { done({}); }
//     void commit_snapshots(const vss::snapshot_set_id&, completion done) override { done({}); }
//     void abort_snapshots(const vss::snapshot_set_id&, completion done) override { done({}); }
//     ... // get_snapshot_properties, query, delete_snapshot
//   };
//
// Example: an asynchronous commit that runs on the provider's own thread.
//   void commit_snapshots(const vss::snapshot_set_id& set, completion done) override {
//     worker_.post([this, set, done = std::move(done)] { done(do_commit(set)); });
//   }
//
// Threading: the asynchronous steps take a `completion` that the provider calls exactly once,
// from any thread, inline or later. The engine never runs two steps of one set at once. The
// synchronous members (is_volume_supported, begin_prepare_snapshot, get_snapshot_properties,
// query, delete_snapshot) may be called from any thread concurrently and must be thread-safe
// and quick. Allowed failure codes are those of spec §11.3; any other code is reported to the
// requester as VSS_E_UNEXPECTED_PROVIDER_ERROR.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "vss/id.hpp"
#include "vss/types.hpp"

namespace vss {

/// VSS_SNAPSHOT_PROP: one snapshot as a requester sees it.
struct snapshot_properties {
  snapshot_id id;                    ///< m_SnapshotId.
  snapshot_set_id set_id;            ///< m_SnapshotSetId.
  std::int32_t snapshots_count = 0;  ///< m_lSnapshotsCount: volumes in the set at creation.
  std::string device;                ///< m_pwszSnapshotDeviceObject: where to read it.
  std::string original_volume;       ///< m_pwszOriginalVolumeName.
  std::string originating_machine;   ///< m_pwszOriginatingMachine.
  std::string service_machine;       ///< m_pwszServiceMachine.
  provider_id provider;              ///< m_ProviderId.
  std::uint32_t attributes = 0;      ///< m_lSnapshotAttributes (context | attribute bits).
  std::chrono::system_clock::time_point created;   ///< m_tsCreationTimestamp.
  snapshot_state state = snapshot_state::unknown;  ///< m_eStatus (requesters see `created`).
};

/// VSS_PROVIDER_PROP.
struct provider_properties {
  provider_id id;                                ///< m_ProviderId.
  std::string name;                              ///< m_pwszProviderName.
  provider_type type = provider_type::software;  ///< m_eProviderType.
  std::string version = "1.0";                   ///< m_pwszProviderVersion.
  /// openvss: the commit makes an atomic, flushed image of each volume (a btrfs snapshot), so
  /// a set is filesystem-consistent even where writers did not quiesce.
  bool atomic_commit = false;
};

/// Base class of every snapshot provider.
class provider {
 public:
  /// Called exactly once with the step's result ({} for S_OK), from any thread.
  using completion = std::function<void(std::error_code)>;

  virtual ~provider() = default;

  /// Who the provider is. The id must not change while registered.
  virtual provider_properties properties() const = 0;

  /// IsVolumeSupported: could this provider ever snapshot `volume`?
  virtual bool is_volume_supported(std::string_view volume) const = 0;

  /// BeginPrepareSnapshot: `volume` joins set `set` as snapshot `snapshot` (AddToSnapshotSet).
  /// Start long preparation here asynchronously and return quickly.
  virtual std::error_code begin_prepare_snapshot(const snapshot_set_id& set,
                                                 const snapshot_id& snapshot,
                                                 std::string_view volume,
                                                 std::uint32_t context) = 0;

  /// EndPrepareSnapshots: wait for preparation of every volume of the set.
  virtual void end_prepare_snapshots(const snapshot_set_id& set, completion done) = 0;

  /// PreCommitSnapshots: writers are frozen; be quick. Default: succeeds.
  virtual void pre_commit_snapshots(const snapshot_set_id& set, completion done);

  /// CommitSnapshots: make the point-in-time image of every volume, atomically. Must return
  /// within the hold budget; the engine never interrupts it.
  virtual void commit_snapshots(const snapshot_set_id& set, completion done) = 0;

  /// PostCommitSnapshots: after every provider committed, before writers thaw. Default: succeeds.
  virtual void post_commit_snapshots(const snapshot_set_id& set, std::int32_t snapshots_count,
                                     completion done);

  /// PreFinalCommitSnapshots: after Thaw, before PostSnapshot. Default: succeeds.
  virtual void pre_final_commit_snapshots(const snapshot_set_id& set, completion done);

  /// PostFinalCommitSnapshots: after PostSnapshot; the snapshots are final. Default: succeeds.
  virtual void post_final_commit_snapshots(const snapshot_set_id& set, completion done);

  /// AbortSnapshots: discard every snapshot of the set, committed or not. Must stop
  /// preparation promptly. Its result is recorded but not reported to the requester.
  virtual void abort_snapshots(const snapshot_set_id& set, completion done) = 0;

  /// GetSnapshotProperties. VSS_E_OBJECT_NOT_FOUND if unknown or not yet created.
  virtual std::error_code get_snapshot_properties(const snapshot_id& id,
                                                  snapshot_properties& out) const = 0;

  /// Query: every created snapshot this provider holds.
  virtual std::vector<snapshot_properties> query() const = 0;

  /// DeleteSnapshots for one snapshot. VSS_E_OBJECT_NOT_FOUND if unknown.
  virtual std::error_code delete_snapshot(const snapshot_id& id) = 0;

  /// Flush-and-hold (spec §7.1): a path inside each filesystem whose writes the engine holds
  /// (FIFREEZE) from just before commit_snapshots of `set` until it returns or the hold budget
  /// runs out. Default: none. Name none where the commit itself writes to the filesystem: a
  /// btrfs snapshot or a reflink onto a frozen filesystem blocks until it is thawed
  /// (docs/decisions.md).
  virtual std::vector<std::string> flush_and_hold_paths(const snapshot_set_id& set) const;

  /// Takes back a snapshot this provider made in an earlier process (the daemon reads it from
  /// its catalog at startup), so that query, get_snapshot_properties and delete_snapshot know
  /// it again. VSS_E_OBJECT_NOT_FOUND when it is no longer there. Default: VSS_E_NOT_SUPPORTED.
  virtual std::error_code adopt_snapshot(const snapshot_properties& snapshot);

  /// Removes whatever this provider may have left of snapshot `id` of `volume` whose creation
  /// never finished (recovery after a crash: no set state survives). Idempotent: nothing there
  /// is success. Default: succeeds (a provider that keeps nothing outside memory).
  virtual std::error_code discard_snapshot(const snapshot_id& id, std::string_view volume);
};

}  // namespace vss
