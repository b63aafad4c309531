// vss/mocks/event_recorder.hpp — one shared, ordered log of every event every writer received.
//
// An event_recorder is shared (through std::shared_ptr) by the fake writers of a test, or by
// your own writers, which call record() at the top of each handler. It keeps one log across
// all writers, in the order the events arrived, with a sequence number, the engine-clock time
// and the thread that ran the handler. Use it to assert cross-writer ordering ("every
// front-end writer froze before any back-end writer"), and print timeline() in a failure
// message to see what happened.
//
// Example 1 — the freeze order of two fake writers, checked through a shared recorder:
//
//   auto rec = std::make_shared<vss::mocks::event_recorder>(clock);
//   vss::mocks::fake_writer_options opts{.recorder = rec};
//   auto web = std::make_shared<vss::mocks::fake_writer>("web", vss::application_level::front_end,
//                                                        opts);
//   auto db = std::make_shared<vss::mocks::fake_writer>("db", vss::application_level::back_end,
//                                                       opts);
//   ... register both, run a DoSnapshotSet ...
//   std::vector<std::string> frozen;
//   for (const auto& e : rec->events()) {
//     if (e.event == vss::writer_event::freeze) frozen.push_back(e.writer);
//   }
//   EXPECT_EQ(frozen, (std::vector<std::string>{"web", "db"})) << rec->timeline();
//
// Example 2 — a hand-written writer that logs into the recorder, and a listener that wakes a
// waiting test thread on the first Abort:
//
//   void my_writer::on_abort(vss::writer_context ctx) {
//     recorder_->record(identity().name, identity().instance_id, vss::writer_event::abort,
//                       ctx.snapshot_set());
//     ctx.complete();
//   }
//   std::promise<void> aborted;
//   std::atomic<bool> once{false};
//   rec->set_listener([&](const vss::mocks::recorded_event& e) {
//     if (e.event == vss::writer_event::abort && !once.exchange(true)) aborted.set_value();
//   });
//   ... start the backup on engine threads, make it abort ...
//   ASSERT_EQ(aborted.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
//
// Thread-safety: every member may be called from any thread at any time; writers record from
// engine threads while the test thread reads. Readers get copies.

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "vss/clock.hpp"
#include "vss/id.hpp"
#include "vss/writer.hpp"

namespace vss::mocks {

/// One event as a writer received it.
struct recorded_event {
  /// Position in the recorder's log: 0 for the first event recorded (or the first after
  /// clear()), then 1, 2, ... with no gaps.
  std::uint64_t sequence = 0;
  /// The writer's name (writer_identity::name).
  std::string writer;
  /// The writer's instance id.
  writer_instance_id instance;
  /// The event (OnIdentify, OnFreeze, ...).
  writer_event event = writer_event::identify;
  /// The snapshot set of the event (writer_context::snapshot_set(); null for Identify).
  snapshot_set_id set;
  /// When it was recorded, on the recorder's clock.
  vss::clock::time_point at{};
  /// The thread that recorded it (the thread that ran the writer's handler).
  std::thread::id thread;
};

/// A thread-safe, ordered log of writer events, shared between writers.
class event_recorder {
 public:
  /// The listener type of set_listener().
  using listener = std::function<void(const recorded_event&)>;

  /// Records times on `clock`: pass the engine's vss::manual_clock so that recorded times are
  /// the virtual times the engine sees. Default: the real steady clock. A null clock means
  /// the default too.
  explicit event_recorder(std::shared_ptr<vss::clock> clock = vss::steady_clock_source());

  event_recorder(const event_recorder&) = delete;
  event_recorder& operator=(const event_recorder&) = delete;

  /// Appends one event, stamped with the next sequence number, the clock's now() and the
  /// calling thread, then calls the listener (if any) with it. Call it first thing in a
  /// handler, before answering, so that the log order is the order of delivery.
  void record(std::string_view writer, const writer_instance_id& instance, writer_event event,
              const snapshot_set_id& set);

  /// Every event recorded since construction or the last clear(), in sequence order.
  std::vector<recorded_event> events() const;

  /// The events of the writer named `writer`, in order.
  std::vector<writer_event> events_of(std::string_view writer) const;

  /// How many times `event` was recorded, across all writers.
  std::size_t count(writer_event event) const;

  /// How many times the writer named `writer` received `event`.
  std::size_t count(std::string_view writer, writer_event event) const;

  /// The names of the writers that recorded anything, in order of their first event.
  std::vector<std::string> writers() const;

  /// Forgets every event; the next one gets sequence 0 again. The listener stays.
  void clear();

  /// The whole log as text, one event per line, for failure messages:
  ///
  ///   #0    +0.000000s  T1  web  Freeze          set {5d0c...}
  ///   #1    +60.000000s  T1  db   Abort           set {5d0c...}
  ///
  /// Times are relative to the first event; threads are numbered T1, T2, ... in order of
  /// appearance. "(no events)" when the log is empty.
  std::string timeline() const;

  /// Calls `fn` after each record(), on the recording thread, outside the recorder's lock (so
  /// `fn` may call the recorder back). Records made on several threads call it concurrently
  /// and possibly out of sequence order. Replaces any previous listener; an empty `fn`
  /// removes it. `fn` must not throw.
  void set_listener(listener fn);

 private:
  std::shared_ptr<vss::clock> clock_;
  mutable std::mutex mutex_;
  std::vector<recorded_event> events_;
  std::shared_ptr<const listener> listener_;
};

}  // namespace vss::mocks
