#pragma once
// The btrfs provider: a volume is a btrfs subvolume (the root directory of one, inode 256), and
// its snapshot is a read-only btrfs snapshot of it (BTRFS_IOC_SNAP_CREATE_V2 with
// BTRFS_SUBVOL_RDONLY), made at `<snapshot_dir>/<snapshot id>`, e.g.
// "/srv/.openvss-snapshots/{4f0c...}" for the volume "/srv/data". The snapshot is atomic per
// subvolume and readable at once: `device` is its path, and the attributes carry
// VSS_VOLSNAP_ATTR_EXPOSED_LOCALLY besides the context of begin_prepare_snapshot (persistent or
// auto-release: the engine deletes auto-release snapshots itself through delete_snapshot).
//
// Steps (spec §11.2):
//   begin_prepare_snapshot  checks that the volume is a subvolume root on btrfs; quick.
//   end_prepare_snapshots   creates the snapshot directory when missing and checks that it is on
//                           the volume's filesystem (another one: VSS_E_VOLUME_NOT_SUPPORTED_BY_
//                           PROVIDER, the kernel would refuse with EXDEV).
//   pre_commit_snapshots    syncfs on each volume, so that the flush the snapshot ioctl makes
//                           itself is short.
//   commit_snapshots        one snapshot ioctl per volume, one after another: the shared window
//                           of the set. Its length is last_commit_duration() and is logged.
//   abort_snapshots         deletes every snapshot of the set already made.
// Every failure removes what the step made: when the 2nd of 3 snapshots fails, the 1st is
// deleted before the commit completes.
//
// No flush-and-hold: flush_and_hold_paths returns none. Measured on this machine, a btrfs
// snapshot of a filesystem frozen with FIFREEZE blocks until the filesystem is thawed, so a
// hold around the commit would only make the commit wait for the hold budget to run out. The
// snapshot ioctl flushes the subvolume's dirty data itself before taking the image.
//
// Names are deterministic (options, volume, snapshot id), so discard_snapshot removes what a
// crashed process left without any memory of it, and adopt_snapshot takes a snapshot back from
// its device path after a restart.
//
// Errors: a path that is not a btrfs subvolume root -> VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
// a subvolume that vanished before the commit -> VSS_E_OBJECT_NOT_FOUND; system-call failures
// through vss::providers::provider_error_from_errno (ENOSPC -> VSS_E_INSUFFICIENT_STORAGE,
// EACCES/EPERM/EROFS -> E_ACCESSDENIED, ...). last_error() keeps the reason of a set's last
// failure for logs.
//
// Example:
//   auto btrfs = std::make_shared<vss::btrfs_provider>(vss::btrfs_provider_options{
//       .snapshot_dir = "/srv/.snapshots",
//       .log = [](std::string line) { spdlog::info("btrfs: {}", line); }});
//   engine.register_provider(btrfs);
//   ... add "/srv/data" and "/srv/db" (two subvolumes) to one set and DoSnapshotSet ...
//   // Read-only snapshots now at /srv/.snapshots/{<id>}; btrfs->last_commit_duration(set).
//
// Needs CAP_SYS_ADMIN (creating and deleting snapshots).
//
// Thread-safety: every member may be called from any thread. The asynchronous steps of all sets
// run on one worker thread the provider owns (their completion is called from it); the
// destructor lets queued steps finish, then joins it. Synchronous members lock one mutex,
// never held across an ioctl.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "vss/provider.hpp"

namespace vss {

/// Options of a btrfs_provider.
struct btrfs_provider_options {
  /// Provider name. Default: "openvss btrfs provider".
  std::string name = "openvss btrfs provider";
  /// Provider id. Default: generated. Give a fixed id to find snapshots again after a restart.
  provider_id id = provider_id::generate();
  /// Directory the snapshots are made in, on the same btrfs filesystem as every volume;
  /// created (with its parents) at end_prepare_snapshots when missing. Default: empty, meaning
  /// "<parent of the volume>/.openvss-snapshots" for each volume, or
  /// "<volume>/.openvss-snapshots" when the volume is the root of its mount (its parent then
  /// belongs to another filesystem).
  std::string snapshot_dir;
  /// Called with one line per event worth logging (snapshots made and deleted, commit
  /// duration, failures), from the calling thread or the worker. Default: none.
  std::function<void(std::string)> log;
};

/// Snapshots btrfs subvolumes as read-only btrfs snapshots.
class btrfs_provider : public provider {
 public:
  /// A provider with `options`; starts its worker thread.
  explicit btrfs_provider(btrfs_provider_options options = {});
  /// Waits for queued steps to finish, then joins the worker. Snapshots stay on disk.
  ~btrfs_provider() override;

  btrfs_provider(const btrfs_provider&) = delete;
  btrfs_provider& operator=(const btrfs_provider&) = delete;

  /// Name and id from the options; type VSS_PROV_SOFTWARE.
  provider_properties properties() const override;
  /// True when `volume` is the root directory of a btrfs subvolume (statfs f_type ==
  /// BTRFS_SUPER_MAGIC, inode 256).
  bool is_volume_supported(std::string_view volume) const override;
  /// Records `volume` as snapshot `snapshot` of `set`. VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER
  /// when not a subvolume root, or when `context` asks for VSS_VOLSNAP_ATTR_PLEX (a btrfs
  /// snapshot shares its blocks: it is differential); VSS_E_OBJECT_ALREADY_EXISTS for a
  /// snapshot id already known.
  std::error_code begin_prepare_snapshot(const snapshot_set_id& set, const snapshot_id& snapshot,
                                         std::string_view volume, std::uint32_t context) override;
  /// Creates missing snapshot directories and checks each volume and directory (on the worker).
  void end_prepare_snapshots(const snapshot_set_id& set, completion done) override;
  /// syncfs on each volume's filesystem (on the worker).
  void pre_commit_snapshots(const snapshot_set_id& set, completion done) override;
  /// Makes the read-only snapshot of every volume of the set (on the worker); on failure
  /// deletes those already made.
  void commit_snapshots(const snapshot_set_id& set, completion done) override;
  /// Advances the state; completes inline.
  void post_commit_snapshots(const snapshot_set_id& set, std::int32_t snapshots_count,
                             completion done) override;
  /// Completes inline; the snapshots become visible to query (VSS_SS_CREATED).
  void post_final_commit_snapshots(const snapshot_set_id& set, completion done) override;
  /// Deletes every snapshot of the set already made and forgets the set's snapshots (on the
  /// worker).
  void abort_snapshots(const snapshot_set_id& set, completion done) override;
  /// Properties of a created (or adopted) snapshot; VSS_E_OBJECT_NOT_FOUND otherwise.
  std::error_code get_snapshot_properties(const snapshot_id& id,
                                          snapshot_properties& out) const override;
  /// Every created or adopted snapshot.
  std::vector<snapshot_properties> query() const override;
  /// Deletes a created snapshot (BTRFS_IOC_SNAP_DESTROY; root may delete a read-only one). A
  /// snapshot someone already removed from disk is forgotten and the call succeeds.
  /// VSS_E_OBJECT_NOT_FOUND if unknown; VSS_E_BAD_STATE while it is still being created.
  std::error_code delete_snapshot(const snapshot_id& id) override;
  /// None: see the file comment (a btrfs snapshot of a frozen filesystem waits for the thaw).
  std::vector<std::string> flush_and_hold_paths(const snapshot_set_id& set) const override;
  /// Takes back a snapshot made by an earlier btrfs_provider with the same snapshot_dir:
  /// `snapshot.device` must be snapshot_path(snapshot.id, snapshot.original_volume) and a
  /// read-only subvolume, else VSS_E_OBJECT_NOT_FOUND; E_INVALIDARG without an id or a volume.
  /// Adopting a snapshot already known at the same device succeeds and changes nothing.
  std::error_code adopt_snapshot(const snapshot_properties& snapshot) override;
  /// Deletes `<snapshot_dir of volume>/<id>` when it is there (a subvolume). Nothing there is
  /// success; a non-subvolume in its place is left alone (VSS_E_PROVIDER_VETO);
  /// VSS_E_BAD_STATE when this object still knows the snapshot (delete it, or abort its set).
  std::error_code discard_snapshot(const snapshot_id& id, std::string_view volume) override;

  /// "<snapshot_dir>/<id as a braced GUID>": where snapshot `id` of `volume` is (or would be)
  /// made and readable.
  std::filesystem::path snapshot_path(const snapshot_id& id, std::string_view volume) const;

  /// How long the last commit_snapshots of `set` took, from before its first snapshot ioctl
  /// to after its last: the window the set's snapshots share. nullopt before a commit.
  std::optional<std::chrono::microseconds> last_commit_duration(const snapshot_set_id& set) const;

  /// The reason of the last failure of `set` ("" when none), for logs.
  std::string last_error(const snapshot_set_id& set) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace vss
