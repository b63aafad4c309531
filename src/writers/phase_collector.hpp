#pragma once
// Collects the answers of N writers to one event. Answers arrive from any thread (a
// writer_context may be completed anywhere); the first answer per slot wins and later or
// duplicate ones are ignored. When the last slot is settled, `on_settled` runs exactly once, on
// the thread that settled it (the session posts it to its strand), unless its owner cancelled
// it first (cancel_on_settled: a phase nobody waits for any more).
//
// Memory ordering: each slot's payload is written by the thread that wins the slot's CAS and
// published by the acq_rel decrement of `outstanding_` (or, on the scan path, by the release
// store of its outcome); the session reads payloads only after on_settled, so it sees them all.
// Payloads are also written and read under extras_mutex_, so a read before then is safe too.
//
// Counting: answers given inline during a shard's delivery loop are counted in an
// inline_batch and released with one decrement when the loop ends (docs/decisions.md §24).
// A handler that blocks keeps its loop, and so the batch, open; the deadline and abandon
// paths (settle_each, settle_all_pending) therefore finish a phase by looking at its slots,
// not by the count.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "vss/error.hpp"
#include "vss/writer.hpp"

namespace vss::detail {

enum class slot_outcome : std::uint8_t {
  pending,
  claimed,        // transient: a thread is writing the payload
  completed,      // complete()
  failed,         // fail() or a throwing handler
  timed_out,      // the engine's deadline passed first
  abandoned,      // superseded by an abort, or the operation was cancelled
  not_delivered,  // the writer went away before the event reached it
};

/// Where the last answer of a collection landed, as its on_settled hears it.
enum class settled_at : std::uint8_t {
  elsewhere,        // any thread, possibly one holding its owner's locks (start(), a deadline)
  shard_loop_end,   // the end of a shard's delivery loop: the thread holds no engine lock
  deadline_expiry,  // a deadline run where its timer completed, off the strand, holding no lock
};

class phase_collector {
 public:
  phase_collector(writer_event event, std::size_t slots, std::function<void()> on_settled);
  /// As above, for an owner that may do at once, at the end of a shard's loop, what it would
  /// otherwise hand to its strand (decisions §30).
  phase_collector(writer_event event, std::size_t slots,
                  std::function<void(settled_at)> on_settled);

  writer_event event() const noexcept { return event_; }
  std::size_t size() const noexcept { return size_; }

  /// Settles `slot` if it is still pending. Returns true if this call settled it. Out of
  /// memory for the code's storage throws before the slot is claimed; for a message or
  /// metadata, after the outcome and code are settled (the exception then propagates).
  bool settle(std::uint32_t slot, slot_outcome outcome, errc code = errc::ok,
              std::string message = {}, std::unique_ptr<writer_metadata> metadata = nullptr);

  /// settle(slot, completed) for the common answer with no payload: no arguments to build
  /// on the fan-out's hot path. Inline (below), as release_one() is: writer_context::complete()
  /// is the one answer every trivial writer gives (docs/decisions.md §29).
  bool settle_completed(std::uint32_t slot);

  /// Settles every pending slot with `outcome` (timeouts, abandonment). Like settle_each, it
  /// finishes the phase once every slot is final, whatever an open batch still counts.
  void settle_all_pending(slot_outcome outcome, errc code);

  /// Settles each of `slots` still pending with `outcome` (expired deadlines), then finishes
  /// the phase if every slot is final (settle_if_all_final), telling on_settled `where`.
  void settle_each(const std::vector<std::uint32_t>& slots, slot_outcome outcome, errc code,
                   settled_at where = settled_at::elsewhere);

  /// Marks the collection abandoned (an abort superseded it) and settles what is pending.
  void abandon();
  /// on_settled will not run, unless it already is running: for an owner that no longer
  /// waits for the collection, so that its end costs nothing.
  void cancel_on_settled() noexcept;
  /// abandon() for an owner that no longer waits for the collection (an abort supersedes the
  /// phase), in O(1) instead of a pass over the slots: on_settled will not run (it is kept,
  /// to be destroyed with the collector), then every answer from now on is refused and a
  /// slot still pending reads as abandoned (outcome(), is_pending()), fixed by the first read. An answer that raced this call may still land if
  /// it comes before that read, as one that came just before abandon()'s pass would have.
  void supersede() noexcept;
  bool abandoned() const noexcept { return abandoned_.load(std::memory_order_acquire); }
  /// True once on_settled has been called (or is being called, or was cancelled).
  bool settled() const noexcept { return fired_.load(std::memory_order_acquire); }

  bool is_pending(std::uint32_t slot) const noexcept {
    return outcome(slot) == slot_outcome::pending;
  }

  /// Valid once settled (after on_settled ran), or superseded.
  slot_outcome outcome(std::uint32_t slot) const noexcept {
    const auto o = static_cast<slot_outcome>(outcomes_[slot].load(std::memory_order_acquire));
    if (o == slot_outcome::pending && superseded()) return abandon_on_read(slot);
    return o;
  }
  /// The slot's failure code: ok unless it failed or timed out.
  errc code(std::uint32_t slot) const;
  std::string message(std::uint32_t slot) const;
  std::unique_ptr<writer_metadata> take_metadata(std::uint32_t slot);

  /// Fires on_settled once every slot has a final outcome, whatever the count says: for the
  /// paths that settle slots while a blocked delivery loop still holds a batch (deadlines,
  /// abandonment). O(slots); a no-op before start().
  void settle_if_all_final(settled_at where = settled_at::elsewhere);

  /// Fires on_settled for an empty collection (no slots). Call once after construction.
  void start();

  /// While alive, answers to `collector` given on this thread are counted here and released
  /// with one atomic decrement when it ends, instead of one each (a shard's delivery loop).
  /// An outermost batch's finish() tells on_settled it is `settled_at::shard_loop_end`, so open
  /// one only where the thread holds no lock of the engine's.
  class inline_batch {
   public:
    explicit inline_batch(phase_collector& collector) noexcept;
    /// Releases what was counted, if finish() did not (finish() leaves nothing counted).
    ~inline_batch();
    /// Ends the batch and releases what it counted now. on_settled may then run here, and
    /// whatever it runs may throw (a completion handler, decisions §30): here that propagates
    /// as from any handler, where from the destructor it would terminate. Call it once, when
    /// the loop ends normally.
    void finish();
    /// finish() for a batch that is not a shard's loop: released as `where` if outermost.
    void finish(settled_at where);
    inline_batch(const inline_batch&) = delete;
    inline_batch& operator=(const inline_batch&) = delete;

   private:
    friend class phase_collector;
    phase_collector& collector_;
    std::size_t count_ = 0;
    inline_batch* previous_;
  };

 private:
  // The innermost batch open on this thread (batches nest if a handler runs a nested loop).
  static inline thread_local inline_batch* current_batch_ = nullptr;

  void release_one();
  void release(std::size_t count, settled_at where = settled_at::elsewhere);
  void make_room_for_codes(errc code);
  void fire(settled_at where = settled_at::elsewhere);
  bool superseded() const noexcept { return superseded_.load(std::memory_order_acquire); }
  // A superseded slot read while still pending becomes abandoned then and there (one CAS), so
  // that an answer which saw the flag unset just before supersede() cannot land after the
  // slot was read as abandoned: once read, a slot's outcome stays what was read.
  slot_outcome abandon_on_read(std::uint32_t slot) const noexcept;

  writer_event event_;
  std::size_t size_;
  std::unique_ptr<std::atomic<std::uint8_t>[]> outcomes_;
  // Read by every answer; written once, by supersede(): pending slots are then abandoned.
  std::atomic<bool> superseded_{false};
  std::atomic<std::size_t> outstanding_;
  std::atomic<bool> abandoned_{false};
  std::atomic<bool> started_{false};
  std::atomic<bool> fired_{false};  // on_settled runs once, by count or by scan
  std::function<void(settled_at)> on_settled_;

  // Rare payloads (failure codes and messages, Identify metadata) are kept aside so that the
  // common case, a trivial answer, costs one CAS and one decrement, and a collection whose
  // writers all succeed never allocates (or zeroes) a code per slot.
  mutable std::mutex extras_mutex_;
  std::unique_ptr<errc[]> codes_;  // by slot, allocated by the first answer that is not ok
  std::vector<std::pair<std::uint32_t, std::string>> messages_;
  std::vector<std::unique_ptr<writer_metadata>> metadata_;  // by slot, sized on first use
};

/// What a writer_context can see about the event it handles. Shared by every context of one
/// delivery; immutable once published.
struct event_info {
  writer_event event = writer_event::identify;
  snapshot_set_id set;
  vss::backup_type backup_type = vss::backup_type::undefined;
  bool components_selected = false;
  std::shared_ptr<const std::vector<std::string>> volumes;
  /// Per participant: the writer's selected components (null = none). Null for Identify.
  std::shared_ptr<const std::vector<std::shared_ptr<const std::vector<selected_component>>>>
      components;
  /// Per slot: the participant index into `components`.
  /// Shared with the phase and, for a delivery to every participant, with the session.
  std::shared_ptr<const std::vector<std::uint32_t>> participant_of_slot;
  /// Per slot: the writer's identity, used to seed Identify metadata.
  std::vector<const writer_identity*> identities;
};

inline void phase_collector::release_one() {
  if (current_batch_ != nullptr && &current_batch_->collector_ == this) {
    ++current_batch_->count_;
    return;
  }
  release(1);
}

inline bool phase_collector::settle_completed(std::uint32_t slot) {
  if (slot >= size_ || superseded()) return false;
  auto expected = static_cast<std::uint8_t>(slot_outcome::pending);
  // No payload: one CAS publishes the answer (a slot without a code is ok).
  if (!outcomes_[slot].compare_exchange_strong(expected,
                                               static_cast<std::uint8_t>(slot_outcome::completed),
                                               std::memory_order_acq_rel)) {
    return false;
  }
  release_one();
  return true;
}

}  // namespace vss::detail
