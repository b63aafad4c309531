#pragma once
// Flush-and-hold (spec §7.1), the Linux counterpart of VSS's FlushAndHoldWrites /
// ReleaseWrites: around the provider commit the engine freezes every filesystem that the
// set's providers name (provider::flush_and_hold_paths) and thaws them when the commit returns
// or the hold budget (engine_options::hold_budget, default 10 s) runs out, whichever is first.
//
// fsfreeze_write_hold does what fsfreeze(8) does: FIFREEZE on a descriptor of each
// filesystem's mount point (the kernel syncs it, then blocks every writer), FITHAW to let go.
// A filesystem named by several paths is frozen once. The kernel does not thaw a filesystem
// when the process that froze it dies, so the holder writes the mount points it holds to a
// state file first (fsync'd) and removes them after the thaw: thaw_leftovers() at the next
// start thaws what a crashed holder left frozen (docs/daemon.md says what openvssd does).
//
// Example: an engine whose holds are recorded for crash recovery.
//   vss::thaw_leftovers("/var/lib/openvss/held-filesystems");  // at startup, before the engine
//   vss::engine_options o;
//   o.write_hold = std::make_shared<vss::fsfreeze_write_hold>(
//       vss::fsfreeze_options{.state_file = "/var/lib/openvss/held-filesystems"});
//
// Thread-safety: hold() may be called from several threads at once; a held_writes is released
// once, by its destruction, from any thread.

#include <chrono>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace vss {

/// Writes held on some filesystems; destroying it releases them (FITHAW).
class held_writes {
 public:
  virtual ~held_writes() = default;

  /// The mount points held, one per filesystem.
  virtual const std::vector<std::string>& filesystems() const noexcept = 0;
};

/// Holds writes to filesystems around a provider commit.
class write_hold {
 public:
  virtual ~write_hold() = default;

  /// Flushes and holds writes on the filesystem of each of `paths`. Blocks while the kernel
  /// flushes. On failure nothing stays held and `ec` is VSS_E_FLUSH_WRITES_TIMEOUT (the
  /// filesystem cannot be frozen, or is already frozen by someone else), with `why` saying
  /// which filesystem and why.
  virtual std::unique_ptr<held_writes> hold(const std::vector<std::string>& paths,
                                            std::error_code& ec, std::string& why) = 0;
};

/// Options of fsfreeze_write_hold.
struct fsfreeze_options {
  /// File listing the mount points currently held, for thaw_leftovers() after a crash.
  /// Default: empty, meaning none is kept (a crash while holding leaves them frozen).
  std::string state_file;
};

/// FIFREEZE / FITHAW. Needs CAP_SYS_ADMIN.
class fsfreeze_write_hold : public write_hold {
 public:
  explicit fsfreeze_write_hold(fsfreeze_options options = {});

  std::unique_ptr<held_writes> hold(const std::vector<std::string>& paths, std::error_code& ec,
                                    std::string& why) override;

 private:
  fsfreeze_options options_;
};

/// Thaws every filesystem listed in `state_file` (left by a holder that died while holding)
/// and empties the file. Returns the mount points it thawed; a listed filesystem that was not
/// frozen any more is left out. A missing file is nothing to do.
std::vector<std::string> thaw_leftovers(const std::string& state_file);

/// The mount point of the filesystem that holds `path` (from /proc/self/mountinfo), or an
/// empty string when it cannot be found.
std::string mount_point_of(const std::string& path);

}  // namespace vss
