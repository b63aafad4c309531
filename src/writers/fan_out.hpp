#pragma once
// Writer fan-out (DESIGN.md §2, docs/decisions.md §16).
//
// Registration is Boost.Signals2: the engine keeps one registry signal per shard whose slots
// are every registered writer of that shard (thread-safe connect/disconnect while emitting,
// lifetime-tracked slots); Identify is emitted through it. A session's events go only to its
// participants, fixed at PrepareForBackup, so the session keeps them in a plain vector and
// each delivery is a list of (slot, participant) per shard in freeze-group order (front-end,
// back-end, system). One event is delivered with ONE post per shard, never one per writer
// (perf-anchors.md §3.2); on the shard it is a plain loop, because per-slot Signals2 emission
// measured 95-520 ns per writer on the abort path (docs/abort-latency-findings.md).

#include <asio/any_io_executor.hpp>
#include <asio/strand.hpp>
#include <boost/signals2.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/post_executor.hpp"
#include "vss/writer.hpp"
#include "writers/phase_collector.hpp"

namespace vss::detail {

namespace bs2 = boost::signals2;
using strand_type = asio::strand<post_executor>;  // decisions §25

struct writer_entry;

/// One event delivery to some participants of a session: the collector its answers go to and
/// the event its handlers read, both kept alive by `owner`. The writer contexts of the delivery
/// borrow `owner` while their handlers run, and a context a writer keeps owns it
/// (writer_context). So the owner must not refer to writers: a writer keeping its context
/// would keep itself alive.
struct delivery {
  std::shared_ptr<const void> owner;
  phase_collector* collector = nullptr;
  const event_info* info = nullptr;
};

/// A phase's collector and the event it delivers, in one allocation that is the owner of its
/// deliveries (decision 48).
struct phase_parts {
  phase_parts(writer_event event, std::size_t slots, std::function<void(settled_at)> on_settled)
      : collector(event, slots, std::move(on_settled)) {
    info.event = event;
  }
  /// The delivery of `parts`, which it keeps alive. By value: a caller's shared_ptr to a
  /// derived type converts once, into the owner, rather than into a temporary then copied.
  static delivery delivery_of(std::shared_ptr<phase_parts> parts) {
    auto* collector = &parts->collector;
    const auto* info = &parts->info;
    return {std::move(parts), collector, info};
  }

  event_info info;
  phase_collector collector;
};

/// One participant as the delivery loop sees it. `inline_writer` is the writer itself for a
/// non-blocking writer (null for a blocking one, which goes through its entry's strand), so
/// the loop reaches the writer without loading its entry: at 10,000 writers each extra
/// object per writer is a cache miss (docs/decisions.md §24).
struct member {
  vss::writer* inline_writer = nullptr;
  std::shared_ptr<writer_entry> entry;  // keeps the writer alive
};

/// A session's participants, by participant index (fixed at PrepareForBackup).
using member_list = std::vector<member>;

/// Makes the member for `entry`.
member make_member(const std::shared_ptr<writer_entry>& entry);

/// An Identify delivery to registered writers, by registration id.
struct identify_delivery {
  std::shared_ptr<phase_collector> collector;
  std::shared_ptr<const event_info> info;
  std::shared_ptr<const std::unordered_map<std::uint64_t, std::uint32_t>> slot_of;
  /// Per collector slot: set by the slot that reached the writer (only written on the slot's
  /// shard strand; each shard touches only its own writers' bytes).
  std::shared_ptr<std::vector<char>> visited;
  /// Keeps collector and info alive for contexts that leave the handler (writer_context).
  std::shared_ptr<const void> owner;
};

using registry_signal =
    bs2::signal_type<void(const identify_delivery&), bs2::keywords::group_type<int>>::type;

/// A registered writer instance.
struct writer_entry {
  std::shared_ptr<vss::writer> w;
  std::uint64_t registration = 0;
  std::uint32_t shard = 0;
  /// writer_placement::group (empty: none); the engine frees the group's shard with its last
  /// writer.
  std::string group;
  /// For blocking writers: a strand on the blocking executor, so that the writer never runs
  /// two handlers at once there either.
  std::optional<strand_type> blocking_strand;
  bs2::scoped_connection registry_connection;
};

/// Slot group of a level: Freeze is delivered front-end first (spec §5.4).
int freeze_group(application_level level) noexcept;

/// Runs the writer's handler for `info->event`: inline with a context that borrows `owner`
/// (which must outlive the call), or on the writer's blocking strand with one that owns it.
void invoke_writer(const std::shared_ptr<writer_entry>& entry,
                   const std::shared_ptr<const void>& owner, phase_collector* collector,
                   std::uint32_t slot, const event_info* info);

/// Delivers `d` to one shard's slots [first, end), on that shard's strand: a plain loop over
/// the participants `d.info->participant_of_slot` names (docs/decisions.md §16). A delivery
/// numbers its slots shard by shard, so a shard's part is one contiguous range. `d` must stay
/// alive for the call (its owner is lent to the contexts).
void deliver_to_shard(const delivery& d, const member_list& members, std::uint32_t first,
                      std::uint32_t end);

/// Connects `entry` to `signal` as a lifetime-tracked slot (registry).
bs2::connection connect_registered(registry_signal& signal,
                                   const std::shared_ptr<writer_entry>& entry);

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
