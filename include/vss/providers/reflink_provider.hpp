#pragma once
// A snapshot provider for plain directory trees: a volume is a directory (an absolute path),
// and its snapshot is a copy of the tree under a snapshot root, made by reflink (FICLONE) where
// the filesystem shares data blocks (btrfs, XFS with reflink=1) and by copying elsewhere
// (ext4, tmpfs, or a root on another filesystem than the volume). Modes, ownership,
// nanosecond timestamps, symlinks, hard links, sparse files, fifos and (as root) device nodes
// are preserved; sockets are skipped; extended attributes, ACLs and inode flags are not copied.
//
// The copy runs in two passes so that the commit stays inside the hold budget (spec §11.2):
//   end_prepare_snapshots  clones the whole tree into "<root>/.staging-<id>", before writers
//                          freeze, on a thread of the provider;
//   commit_snapshots       (writers frozen) re-clones what changed since (type, inode, size,
//                          mtime or ctime differ, or the file changed within
//                          `recent_change_window` before the first pass), removes what
//                          vanished, adds what appeared, resets directory metadata, then
//                          renames the staging directory to "<root>/<id>", the `device`;
//   post_final_commit_snapshots  makes the snapshot read-only: FS_IMMUTABLE_FL on every
//                          directory and regular file (btrfs, XFS, ext4; symlinks and special
//                          files are protected by their immutable directory). Where the
//                          filesystem has no such flag (tmpfs) or the process lacks
//                          CAP_LINUX_IMMUTABLE, the snapshot stays writable and the report and
//                          the log say so. delete_snapshot clears the flag before removing.
// Both names are derived from (snapshot root, snapshot id) only, so discard_snapshot and
// adopt_snapshot work without any state of an earlier process.
//
// Flush-and-hold: none when the snapshot root is on the volume's filesystem (a reflink onto a
// frozen filesystem would block until thaw); the volume when the root is on another
// filesystem, since the commit then only reads the frozen source.
//
// Errors (spec §11.3): a volume that is not an absolute directory path, or that contains the
// snapshot root, is VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER; a vanished volume is
// VSS_E_OBJECT_NOT_FOUND, a full snapshot root VSS_E_INSUFFICIENT_STORAGE, permission denied
// E_ACCESSDENIED, a directory already at a snapshot's final name VSS_E_OBJECT_ALREADY_EXISTS
// (left alone), most others VSS_E_PROVIDER_VETO. A step cancelled by abort_snapshots completes
// with VSS_E_BAD_STATE. Every failure removes what the set had made; last_error() keeps the
// reason.
//
// Example:
//   vss::reflink_provider_options o;
//   o.snapshot_root = "/srv/snapshots";
//   o.log = [](std::string line) { spdlog::info("{}", line); };
//   auto reflink = std::make_shared<vss::reflink_provider>(std::move(o));
//   engine.register_provider(reflink);
//   ... back up volume "/srv/data"; the snapshot is readable at snapshot_properties::device,
//   e.g. "/srv/snapshots/{6f1c...}"; reflink->report(id)->commit_duration is the time spent
//   inside the hold window.
//
// Thread-safety: every member may be called from any thread. The asynchronous steps that copy
// (end_prepare, commit, post_final, abort) run on a thread the provider starts per step and
// complete from it; the destructor cancels running copies and joins those threads.
// delete_snapshot and discard_snapshot remove a tree inline (not under the provider's lock).

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

/// Options of a reflink_provider.
struct reflink_provider_options {
  /// Provider name. Default: "openvss reflink provider".
  std::string name = "openvss reflink provider";
  /// Provider id. Default: generated.
  provider_id id = provider_id::generate();
  /// Where snapshots go; it must not lie inside a volume. Created when missing (mode 0777
  /// less the umask; the snapshots inside keep their volumes' modes).
  /// Default: empty, meaning "<parent of the volume>/.openvss-snapshots" for each volume.
  std::filesystem::path snapshot_root;
  /// Receives one line per finished pass (sizes, counts, durations), per warning (skipped
  /// sockets, a snapshot left writable) and per failure; called from any thread, never with
  /// the provider's lock held. Default: none.
  std::function<void(std::string)> log;
  /// The commit copies again every file whose ctime lies at most this long before the start
  /// of the first pass: a change in the same timestamp tick would not show in its times.
  /// Default: 2 s.
  std::chrono::nanoseconds recent_change_window = std::chrono::seconds(2);
  /// Called on the copying thread with the number of entries examined so far in the first
  /// pass, every `progress_every` entries. Default: none.
  std::function<void(const snapshot_id&, std::uint64_t entries)> progress;
  /// See `progress`. Default: 1000.
  std::uint64_t progress_every = 1000;
};

/// What one copy pass of one snapshot did.
struct reflink_pass_stats {
  std::uint64_t bytes_cloned = 0;       ///< File bytes shared by FICLONE (the files' sizes).
  std::uint64_t bytes_copied = 0;       ///< Data bytes copied (holes excluded).
  std::uint64_t files = 0;              ///< Regular files written (cloned or copied).
  std::uint64_t dirs = 0;               ///< Directories created.
  std::uint64_t symlinks = 0;           ///< Symbolic links created.
  std::uint64_t hardlinks = 0;          ///< Extra names linked to an already copied file.
  std::uint64_t specials = 0;           ///< Fifos and device nodes created.
  std::uint64_t skipped = 0;            ///< Entries left out (sockets; device nodes without root).
  std::uint64_t removed = 0;            ///< Entries removed because they vanished (commit only).
  std::uint64_t entries = 0;            ///< Source entries examined.
  std::chrono::nanoseconds duration{};  ///< Wall time of the pass.
};

/// Size and duration of one snapshot's creation.
struct reflink_snapshot_report {
  snapshot_id id;                ///< The snapshot.
  snapshot_set_id set;           ///< Its set.
  std::string volume;            ///< The original volume (directory).
  std::string device;            ///< Where the snapshot is (or will be) readable.
  bool same_filesystem = false;  ///< Snapshot root on the volume's filesystem (no hold).
  bool read_only = false;        ///< FS_IMMUTABLE_FL was set on the snapshot.
  reflink_pass_stats prepare;    ///< The full pass of EndPrepareSnapshots.
  reflink_pass_stats commit;     ///< The delta pass of CommitSnapshots.
  /// EndPrepareSnapshots' work for this snapshot (root creation, leftovers, first pass).
  std::chrono::nanoseconds prepare_duration{};
  /// The whole CommitSnapshots of its set (every delta pass and rename): the time spent
  /// inside the hold window.
  std::chrono::nanoseconds commit_duration{};
};

/// The reflink/copy provider.
class reflink_provider : public provider {
 public:
  /// A provider with these options; touches no filesystem yet.
  explicit reflink_provider(reflink_provider_options options = {});
  /// Cancels running copies and joins the provider's threads. Unfinished sets keep their
  /// staging directories (discard_snapshot removes them).
  ~reflink_provider() override;
  reflink_provider(const reflink_provider&) = delete;
  reflink_provider& operator=(const reflink_provider&) = delete;

  /// Name, id and type (software) from the options.
  provider_properties properties() const override;
  /// IsVolumeSupported: an absolute path of an existing directory that does not contain
  /// (and is not) its snapshot root.
  bool is_volume_supported(std::string_view volume) const override;
  /// BeginPrepareSnapshot: records the snapshot (state VSS_SS_PREPARING); copies nothing yet
  /// (a few stat calls). VSS_E_BAD_STATE once the set went past preparation.
  std::error_code begin_prepare_snapshot(const snapshot_set_id& set, const snapshot_id& snapshot,
                                         std::string_view volume, std::uint32_t context) override;
  /// EndPrepareSnapshots: the full clone of every volume of the set, on a provider thread.
  void end_prepare_snapshots(const snapshot_set_id& set, completion done) override;
  /// PreCommitSnapshots: a state check, inline.
  void pre_commit_snapshots(const snapshot_set_id& set, completion done) override;
  /// CommitSnapshots: the delta pass and the rename to the final name, on a provider thread.
  void commit_snapshots(const snapshot_set_id& set, completion done) override;
  /// PostCommitSnapshots: records `snapshots_count`, inline.
  void post_commit_snapshots(const snapshot_set_id& set, std::int32_t snapshots_count,
                             completion done) override;
  /// PostFinalCommitSnapshots: makes the snapshots read-only (see the file comment) and
  /// VSS_SS_CREATED, on a provider thread.
  void post_final_commit_snapshots(const snapshot_set_id& set, completion done) override;
  /// AbortSnapshots: stops a running copy of the set (checked per file), then removes the
  /// staging and final directories of every snapshot of the set, committed or not.
  void abort_snapshots(const snapshot_set_id& set, completion done) override;
  /// GetSnapshotProperties of a created snapshot; attributes = context | EXPOSED_LOCALLY.
  std::error_code get_snapshot_properties(const snapshot_id& id,
                                          snapshot_properties& out) const override;
  /// Query: every created snapshot.
  std::vector<snapshot_properties> query() const override;
  /// DeleteSnapshots for one created snapshot: clears its immutable flags and removes it.
  /// VSS_E_OBJECT_NOT_FOUND if unknown; VSS_E_BAD_STATE while it is still being created.
  std::error_code delete_snapshot(const snapshot_id& id) override;
  /// The volumes of `set` whose snapshot root is on another filesystem (see the file comment).
  std::vector<std::string> flush_and_hold_paths(const snapshot_set_id& set) const override;
  /// Takes back a snapshot of an earlier process: `snapshot.device` must be the directory
  /// snapshot_path(snapshot.id, snapshot.original_volume), else VSS_E_OBJECT_NOT_FOUND.
  /// Adopting a snapshot already known with the same device succeeds and changes nothing.
  std::error_code adopt_snapshot(const snapshot_properties& snapshot) override;
  /// Removes the staging and final directories of `id` (clearing immutable flags). Nothing
  /// there is success. VSS_E_BAD_STATE when this object still knows the snapshot (delete it, or
  /// abort its set, instead).
  std::error_code discard_snapshot(const snapshot_id& id, std::string_view volume) override;

  /// Size and duration of a snapshot's creation, from EndPrepareSnapshots on, until it is
  /// deleted or its set aborted; nullopt for an unknown id.
  std::optional<reflink_snapshot_report> report(const snapshot_id& id) const;
  /// The reason of the last failure of `set` ("" if none), kept after the set is aborted.
  std::string last_error(const snapshot_set_id& set) const;
  /// The snapshot root used for `volume` (options.snapshot_root, or the default); empty for a
  /// volume that is not an absolute path.
  std::filesystem::path snapshot_root(std::string_view volume) const;
  /// "<root>/<id as a braced GUID>": where snapshot `id` of `volume` is readable.
  std::filesystem::path snapshot_path(const snapshot_id& id, std::string_view volume) const;
  /// "<root>/.staging-<id as a braced GUID>": where it is built.
  std::filesystem::path staging_path(const snapshot_id& id, std::string_view volume) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace vss
