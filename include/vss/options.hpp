#pragma once
// Engine configuration. Every option has an in-class default that follows the VSS defaults of
// spec §7 (or the openvss CHOICE where VSS publishes no number).

#include <asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <memory>

#include "vss/clock.hpp"
#include "vss/write_hold.hpp"

namespace vss {

/// How long the engine waits for every writer to answer one event (spec §7.2 CHOICE). A
/// writer that misses its deadline is failed with VSS_E_WRITER_NOT_RESPONDING and its late
/// answer is ignored. Freeze has no entry here: it uses each writer's own freeze_timeout.
struct phase_deadlines {
  std::chrono::milliseconds identify{60'000};           ///< Default: 60 s.
  std::chrono::milliseconds prepare_backup{600'000};    ///< Default: 600 s.
  std::chrono::milliseconds prepare_snapshot{600'000};  ///< Default: 600 s.
  std::chrono::milliseconds thaw{60'000};               ///< Default: 60 s.
  std::chrono::milliseconds post_snapshot{600'000};     ///< Default: 600 s.
  std::chrono::milliseconds backup_complete{600'000};   ///< Default: 600 s.
  std::chrono::milliseconds abort{60'000};              ///< Default: 60 s.
  std::chrono::milliseconds backup_shutdown{60'000};    ///< Default: 60 s.
  /// Longest a provider step other than the commit may take (EndPrepareSnapshots,
  /// PreCommitSnapshots, PostCommitSnapshots, ...; the commit has engine_options::hold_budget).
  /// On expiry the set fails: VSS_E_FLUSH_WRITES_TIMEOUT for PreCommitSnapshots (writers are
  /// frozen then), VSS_E_UNEXPECTED_PROVIDER_ERROR otherwise. VSS has no such bound; without
  /// one a hung provider hangs DoSnapshotSet forever (docs/decisions.md §17). Default: 600 s.
  std::chrono::milliseconds provider_step{600'000};
};

/// What happens when a session wants a volume or writer that another session holds.
enum class overlap_policy : std::uint8_t {
  /// PrepareForBackup (or AddToSnapshotSet, for a volume) fails with
  /// VSS_E_SNAPSHOT_SET_IN_PROGRESS, as VSS does. Default.
  reject,
  /// PrepareForBackup waits its turn, bounded by the prepare_backup deadline.
  wait,
};

/// Options of a vss::engine.
struct engine_options {
  /// Number of writer shards: each is a strand on the engine's executor, and one event is
  /// delivered with one post per shard. Match the number of threads running the executor.
  /// Default: 0, meaning std::thread::hardware_concurrency().
  std::size_t shard_count = 0;

  /// Per-event deadlines. Default: see phase_deadlines.
  phase_deadlines deadlines{};

  /// Longest time the provider commit may take (the flush-and-hold window, spec §7.1). When it
  /// runs out DoSnapshotSet fails with VSS_E_HOLD_WRITES_TIMEOUT. Default: 10 s.
  std::chrono::milliseconds hold_budget{10'000};

  /// Holds writes on the filesystems the set's providers name (provider::flush_and_hold_paths)
  /// around the commit, released when it returns or hold_budget runs out (write_hold.hpp).
  /// Default: null, meaning an fsfreeze_write_hold without a state file.
  std::shared_ptr<vss::write_hold> write_hold;

  /// Most volumes in one snapshot set. Default: 64 (VSS).
  std::size_t max_volumes_per_set = 64;

  /// Overlapping sessions. Default: reject.
  overlap_policy overlap = overlap_policy::reject;

  /// Time source. Default: null, meaning steady_clock_source().
  std::shared_ptr<vss::clock> clock;

  /// Where handlers of writers declared handler_execution::blocking run. Default: empty,
  /// meaning the engine's own executor (a blocking handler then occupies an engine thread).
  /// Its execution context must outlive the engine and every session (the engine keeps
  /// strands on it).
  asio::any_io_executor blocking_executor;
};

}  // namespace vss
