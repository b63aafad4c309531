#pragma once
// The command provider: snapshots are made, deleted and listed by external commands built from
// templates, so that any snapshot tool with a command line (LVM, ZFS, a storage array's CLI)
// becomes a provider without code. docs/providers.md has complete templates for LVM
// (lvcreate -s / lvremove / lvs) and ZFS (zfs snapshot / zfs destroy / zfs list -H).
//
// A template is an argv (run as is, no shell) or one line run by /bin/sh -c. Placeholders are
// replaced in every argument, or in the line:
//   {volume}       the volume as given to begin_prepare_snapshot ("vg0/data", "tank/data")
//   {snapshot_id}  the snapshot id, braced ("{4f0c1e2a-...}")
//   {set_id}       the snapshot set id, braced (empty in discard and list)
//   {name}         a short filesystem-safe name: "openvss-" + the first 8 hex digits of the
//                  snapshot id ("openvss-4f0c1e2a"); empty in list
//   {device}       device_template expanded (create and delete only)
// In a shell line each value is inserted single-quoted, so a volume with spaces or quotes stays
// one word. The same values are in the environment of every command as OPENVSS_VOLUME,
// OPENVSS_SNAPSHOT_ID, OPENVSS_SET_ID, OPENVSS_NAME, OPENVSS_DEVICE and OPENVSS_ACTION
// ("create", "delete", "list").
//
// Steps (spec §11.2): commit_snapshots runs `create` for each volume of the set in the order
// they were added; end_prepare, pre_commit, post_commit and post_final only advance the state.
// When a create fails, `delete` is run for the snapshots of the set already made (newest
// first), so the set is all or nothing. abort_snapshots runs `delete` for every snapshot of the
// set already made. delete_snapshot runs `delete`. adopt_snapshot and list() run `list`.
//
// Exit status of a command (the errno convention: exit with the errno value that says why):
//   0                  success
//   28 (ENOSPC)        VSS_E_INSUFFICIENT_STORAGE
//   13 (EACCES)        E_ACCESSDENIED
//   2  (ENOENT)        VSS_E_OBJECT_NOT_FOUND (for `delete`: already gone, which is success)
//   anything else, a signal, or the timeout      VSS_E_PROVIDER_VETO
// The command's output (stdout and stderr) goes into last_error() and the log.
//
// Example: ZFS.
//   auto zfs = std::make_shared<vss::command_provider>(vss::command_provider_options{
//       .name = "zfs",
//       .create = {"zfs", "snapshot", "{volume}@{name}"},
//       .remove = {"zfs", "destroy", "{volume}@{name}"},
//       .list = {"zfs", "list", "-H", "-t", "snapshot", "-o", "name", "{volume}"},
//       .device_template = "{volume}@{name}",
//       .supports = "tank/.*"});
//   engine.register_provider(zfs);
//
// Thread-safety: every member may be called from any thread. The asynchronous steps of all sets
// run on one worker thread the provider owns (their completion is called from it), so a command
// of one set that hangs until its timeout delays the steps of other sets. delete_snapshot,
// adopt_snapshot, discard_snapshot and list() run their command on the calling thread, without
// holding the provider's mutex. The destructor lets queued steps finish, then joins the worker.

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "vss/provider.hpp"

namespace vss {

/// One command of a command_provider: an argv run as is, or a line run by /bin/sh -c.
/// A braced list is an argv, even with one element (`{"true"}`); a plain string is a shell line
/// (`"zfs snapshot {volume}@{name} && sync"`).
struct command_template {
  /// Program and arguments; placeholders are replaced in each. Used when non-empty.
  std::vector<std::string> argv;
  /// A line for /bin/sh -c, used when `argv` is empty; values inserted single-quoted.
  std::string shell;

  /// No command.
  command_template() = default;
  /// An argv.
  command_template(std::initializer_list<std::string> args) : argv(args) {}
  /// An argv.
  command_template(std::vector<std::string> args) : argv(std::move(args)) {}
  /// A shell line.
  command_template(std::string line) : shell(std::move(line)) {}
  /// A shell line.
  command_template(const char* line) : shell(line) {}

  /// True when there is no command.
  bool empty() const noexcept { return argv.empty() && shell.empty(); }
};

/// Options of a command_provider.
struct command_provider_options {
  /// Provider name. Default: "openvss command provider".
  std::string name = "openvss command provider";
  /// Provider id. Default: generated. Give a fixed id to find snapshots again after a restart.
  provider_id id = provider_id::generate();
  /// Makes the snapshot of one volume. Required.
  command_template create;
  /// Deletes one snapshot (`delete` is a keyword, hence the name). Required.
  command_template remove;
  /// Lists snapshots: a snapshot exists when its {name} appears in the output as a whole word
  /// (delimited by anything but letters, digits, '-' and '_'). Default: none; then
  /// adopt_snapshot is VSS_E_NOT_SUPPORTED and discard_snapshot relies on `remove` alone.
  command_template list;
  /// Longest run of each command; then its process group is killed and the step fails with
  /// VSS_E_PROVIDER_VETO. Keep the create timeout inside the hold budget (10 s) when the set
  /// has other providers. Default: 10 s.
  std::chrono::milliseconds timeout{10'000};
  /// The snapshot's `device` (where a reader finds it), with the placeholders of `create`
  /// but {device}: "/dev/vg0/{name}" for LVM, "{volume}@{name}" for ZFS. Default:
  /// "{volume}@{name}".
  std::string device_template = "{volume}@{name}";
  /// Whether `device` is a local path a reader can open (a block device, a directory such as
  /// "/{volume}/.zfs/snapshot/{name}"); sets VSS_VOLSNAP_ATTR_EXPOSED_LOCALLY. Default: false.
  bool exposed_locally = false;
  /// Whether flush_and_hold_paths returns the set's volumes, so that the engine freezes them
  /// (FIFREEZE) around the commit: the volumes must then be mount points. Default: false (LVM
  /// freezes the filesystem itself while it suspends the origin; ZFS snapshots are atomic and
  /// ZFS cannot be frozen).
  bool hold = false;
  /// ECMAScript regular expression a volume must match as a whole to be supported
  /// ("/dev/vg0/.*" for a prefix). Default: empty, meaning every non-empty volume. The
  /// constructor throws std::regex_error for an invalid expression.
  std::string supports;
  /// Called with one line per event worth logging (commands run, their failures and output),
  /// from the calling thread or the worker. Default: none.
  std::function<void(std::string)> log;
};

/// Makes, deletes and lists snapshots with external commands.
class command_provider : public provider {
 public:
  /// A provider with `options`; starts its worker thread. Throws std::invalid_argument when
  /// `create` or `remove` is empty or the timeout is not positive, std::regex_error for a bad
  /// `supports`.
  explicit command_provider(command_provider_options options);
  /// Waits for queued steps to finish, then joins the worker. Snapshots stay.
  ~command_provider() override;

  command_provider(const command_provider&) = delete;
  command_provider& operator=(const command_provider&) = delete;

  /// Name and id from the options; type VSS_PROV_SOFTWARE.
  provider_properties properties() const override;
  /// True when `volume` is non-empty and matches `supports`.
  bool is_volume_supported(std::string_view volume) const override;
  /// Records `volume` as snapshot `snapshot` of `set`; runs nothing.
  /// VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER when not supported; VSS_E_OBJECT_ALREADY_EXISTS
  /// for a snapshot id already known or a volume already in the set.
  std::error_code begin_prepare_snapshot(const snapshot_set_id& set, const snapshot_id& snapshot,
                                         std::string_view volume, std::uint32_t context) override;
  /// Advances the state; completes inline.
  void end_prepare_snapshots(const snapshot_set_id& set, completion done) override;
  /// Advances the state; completes inline.
  void pre_commit_snapshots(const snapshot_set_id& set, completion done) override;
  /// Runs `create` for each volume of the set (on the worker); on failure runs `remove` for
  /// those already made.
  void commit_snapshots(const snapshot_set_id& set, completion done) override;
  /// Advances the state; completes inline.
  void post_commit_snapshots(const snapshot_set_id& set, std::int32_t snapshots_count,
                             completion done) override;
  /// Completes inline; the snapshots become visible to query (VSS_SS_CREATED).
  void post_final_commit_snapshots(const snapshot_set_id& set, completion done) override;
  /// Runs `remove` for every snapshot of the set already made and forgets the set's snapshots
  /// (on the worker). Fails with the first failed remove, after trying them all.
  void abort_snapshots(const snapshot_set_id& set, completion done) override;
  /// Properties of a created (or adopted) snapshot; VSS_E_OBJECT_NOT_FOUND otherwise.
  std::error_code get_snapshot_properties(const snapshot_id& id,
                                          snapshot_properties& out) const override;
  /// Every created or adopted snapshot.
  std::vector<snapshot_properties> query() const override;
  /// Runs `remove` for a created snapshot. Exit 0 or 2 (already gone) forgets it; any other
  /// failure keeps it and is mapped as in the file comment. VSS_E_OBJECT_NOT_FOUND if unknown;
  /// VSS_E_BAD_STATE while it is still being created.
  std::error_code delete_snapshot(const snapshot_id& id) override;
  /// The set's volumes when `hold` is set; none otherwise.
  std::vector<std::string> flush_and_hold_paths(const snapshot_set_id& set) const override;
  /// Takes back a snapshot made by an earlier command_provider: runs `list` for
  /// `snapshot.original_volume` and adopts the snapshot when its {name} appears.
  /// VSS_E_OBJECT_NOT_FOUND when it does not; VSS_E_NOT_SUPPORTED without a `list` template;
  /// E_INVALIDARG without an id or a volume. Adopting a snapshot already known succeeds.
  std::error_code adopt_snapshot(const snapshot_properties& snapshot) override;
  /// Removes what a crashed run may have left of snapshot `id` of `volume`: with a `list`
  /// template, runs `remove` only when the name is listed; without one, runs `remove` and
  /// takes exit 0 and 2 as success. VSS_E_BAD_STATE when this object still knows the snapshot
  /// (delete it, or abort its set, instead).
  std::error_code discard_snapshot(const snapshot_id& id, std::string_view volume) override;

  /// Runs `list` for `volume` (may be empty when the template does not use {volume}) and
  /// stores the non-empty lines of its output in `lines`. VSS_E_NOT_SUPPORTED without a
  /// `list` template; a failed command is mapped as in the file comment.
  std::error_code list(std::string_view volume, std::vector<std::string>& lines) const;

  /// The {name} of snapshot `id`: "openvss-" + its first 8 hex digits.
  static std::string snapshot_name(const snapshot_id& id);

  /// The reason of the last failure of `set` ("" when none), with the command's output.
  std::string last_error(const snapshot_set_id& set) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace vss
