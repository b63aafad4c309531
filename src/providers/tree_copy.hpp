#pragma once
// The tree clone/copy engine of the reflink provider: copies a directory tree with its modes,
// ownership, nanosecond timestamps, symlinks, hard links, sparse files, fifos and device nodes,
// cloning file data by FICLONE where the filesystem allows and copying it otherwise.
//
// A `tree_copy` works in two passes so that a snapshot's expensive part runs before writers are
// frozen: copy() clones the whole tree and remembers what it saw of every source entry (inode,
// size, mtime, ctime); update() then brings the destination to the source's current state,
// touching only what changed. Filesystem timestamps are coarse (a clock tick, or a second), so
// a file changed in the same tick right after copy() looked at it would keep its timestamps;
// update() therefore also re-copies every file whose ctime lies within `recent_change_window`
// of the start of copy().
//
// Not preserved: extended attributes, ACLs and inode flags. Sockets are skipped (with a
// warning); device nodes need root (skipped with a warning otherwise). Nested mounts are
// copied like any directory. One directory level holds two file descriptors open, so trees
// deeper than about half the process's descriptor limit fail with EMFILE.
//
// Thread-safety: a tree_copy is used by one thread at a time; the cancel flag may be set from
// any thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace vss::providers {

/// What one pass did.
struct tree_copy_stats {
  std::uint64_t bytes_cloned = 0;       ///< File bytes shared by FICLONE (the files' sizes).
  std::uint64_t bytes_copied = 0;       ///< Data bytes copied (holes excluded).
  std::uint64_t files = 0;              ///< Regular files written (cloned or copied).
  std::uint64_t dirs = 0;               ///< Directories created.
  std::uint64_t symlinks = 0;           ///< Symbolic links created.
  std::uint64_t hardlinks = 0;          ///< Extra names linked to an already copied inode.
  std::uint64_t specials = 0;           ///< Fifos and device nodes created.
  std::uint64_t skipped = 0;            ///< Entries left out (sockets; devices without root).
  std::uint64_t removed = 0;            ///< Destination entries removed by update().
  std::uint64_t entries = 0;            ///< Source entries examined.
  std::chrono::nanoseconds duration{};  ///< Wall time of the pass.
};

/// A failure: the errno value, the path it concerns and the operation that failed.
struct tree_copy_error {
  int code = 0;           ///< errno; 0 is success; ECANCELED when the cancel flag was seen.
  std::string path;       ///< The source or destination path concerned.
  std::string operation;  ///< The failing call, e.g. "open", "FICLONE", "copy_file_range".

  /// True when this is a failure.
  explicit operator bool() const noexcept { return code != 0; }

  /// "<operation> <path>: <strerror> (<errno name>)", or "" on success.
  std::string message() const;
};

/// Options of a tree_copy.
struct tree_copy_options {
  /// Checked before every entry and every 8 MiB of data; when true the pass stops with
  /// ECANCELED. Default: none.
  const std::atomic<bool>* cancel = nullptr;
  /// Warnings (skipped entries, ownership that could not be kept). Default: none.
  std::function<void(const std::string&)> warn;
  /// Try FICLONE before copying file data. Default: true.
  bool allow_clone = true;
  /// update() re-copies files whose ctime is at most this long before the start of copy().
  /// Default: 2 s (covers one-second timestamp granularity).
  std::chrono::nanoseconds recent_change_window = std::chrono::seconds(2);
  /// Called with the number of entries examined so far, every `progress_every` entries.
  /// Default: none.
  std::function<void(std::uint64_t)> progress;
  /// See `progress`. Default: 1000.
  std::uint64_t progress_every = 1000;
};

/// Copies one directory tree to a new place, then keeps the copy up to date.
class tree_copy {
 public:
  /// Prepares a copy of `source` (a directory) to `destination` (which must not exist yet).
  tree_copy(std::filesystem::path source, std::filesystem::path destination,
            tree_copy_options options = {});
  ~tree_copy();
  tree_copy(const tree_copy&) = delete;
  tree_copy& operator=(const tree_copy&) = delete;

  /// First pass: creates `destination` and copies the whole tree into it. On failure the
  /// partial copy is left for the caller to remove (see remove_tree).
  tree_copy_error copy(tree_copy_stats& stats);

  /// Delta pass (after copy()): re-copies every file whose type, inode, size, mtime or ctime
  /// changed or that changed recently (see recent_change_window), removes what vanished, adds
  /// what appeared and resets the metadata of every directory. May be called again.
  tree_copy_error update(tree_copy_stats& stats);

  /// False once FICLONE was refused between these filesystems (EXDEV, EOPNOTSUPP, ...).
  bool cloning() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Removes `root` and everything below it, clearing the immutable and append-only flags it
/// meets (FS_IOC_SETFLAGS) so that a read-only snapshot can go. A missing root is success.
tree_copy_error remove_tree(const std::filesystem::path& root);

/// Sets (or clears) FS_IMMUTABLE_FL on `root` and on every directory and regular file below
/// it; symlinks, fifos and devices cannot carry it and are protected by their immutable
/// directory. *supported becomes false (and nothing fails) when the filesystem has no such
/// flag (tmpfs) or the caller lacks CAP_LINUX_IMMUTABLE.
tree_copy_error set_immutable_tree(const std::filesystem::path& root, bool immutable,
                                   bool* supported);

}  // namespace vss::providers
