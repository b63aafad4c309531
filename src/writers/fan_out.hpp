#pragma once
// Writer fan-out over Boost.Signals2 (DESIGN.md §2).
//
// Writers are slots. The engine keeps one registry signal per shard, whose slots are every
// registered writer of that shard (thread-safe signal, lifetime-tracked slots, used for
// Identify). A session, when its participants are fixed, builds one signal per shard whose
// slots are only its participants; those signals are touched only from their shard strand
// (after the session strand built them), so they use Signals2's dummy_mutex. Slot groups are
// the freeze levels: front-end, back-end, system. One event is delivered with ONE post per
// shard; the shard emits its signal there, and each slot looks its writer up in the delivery
// to see whether it is addressed. Never one post per writer (perf-anchors.md §3.2).

#include <asio/any_io_executor.hpp>
#include <asio/strand.hpp>
#include <boost/signals2.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "vss/writer.hpp"
#include "writers/phase_collector.hpp"

namespace vss::detail {

namespace bs2 = boost::signals2;
using strand_type = asio::strand<asio::any_io_executor>;

/// One event delivery to some participants of a session.
struct delivery {
  std::shared_ptr<phase_collector> collector;
  std::shared_ptr<const event_info> info;
  /// Per participant index: its collector slot, or -1 if not addressed.
  std::shared_ptr<const std::vector<std::int32_t>> slot_of;
};

/// An Identify delivery to registered writers, by registration id.
struct identify_delivery {
  std::shared_ptr<phase_collector> collector;
  std::shared_ptr<const event_info> info;
  std::shared_ptr<const std::unordered_map<std::uint64_t, std::uint32_t>> slot_of;
  /// Per collector slot: set by the slot that reached the writer (only written on the slot's
  /// shard strand; each shard touches only its own writers' bytes).
  std::shared_ptr<std::vector<char>> visited;
};

using session_signal =
    bs2::signal_type<void(const delivery&), bs2::keywords::mutex_type<bs2::dummy_mutex>,
                     bs2::keywords::group_type<int>>::type;
using registry_signal =
    bs2::signal_type<void(const identify_delivery&), bs2::keywords::group_type<int>>::type;

/// A registered writer instance.
struct writer_entry {
  std::shared_ptr<vss::writer> w;
  std::uint64_t registration = 0;
  std::uint32_t shard = 0;
  /// For blocking writers: a strand on the blocking executor, so that the writer never runs
  /// two handlers at once there either.
  std::optional<strand_type> blocking_strand;
  bs2::scoped_connection registry_connection;
};

/// Slot group of a level: Freeze is delivered front-end first (spec §5.4).
int freeze_group(application_level level) noexcept;

/// Runs the writer's handler for `info->event` (inline, or on its blocking strand).
void invoke_writer(const std::shared_ptr<writer_entry>& entry,
                   std::shared_ptr<phase_collector> collector, std::uint32_t slot,
                   std::shared_ptr<const event_info> info);

/// Connects `entry` to `signal` as a lifetime-tracked slot (registry).
bs2::connection connect_registered(registry_signal& signal,
                                   const std::shared_ptr<writer_entry>& entry);

/// Connects participant `index` to a session shard signal.
void connect_participant(session_signal& signal, std::uint32_t index,
                         std::shared_ptr<writer_entry> entry);

/// Marks the current thread as running engine work (so blocking AbortBackup won't wait on it).
class engine_thread_scope {
 public:
  engine_thread_scope() noexcept;
  ~engine_thread_scope();
  engine_thread_scope(const engine_thread_scope&) = delete;
  engine_thread_scope& operator=(const engine_thread_scope&) = delete;
};
bool on_engine_thread() noexcept;

}  // namespace vss::detail
