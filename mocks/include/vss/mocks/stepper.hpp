// vss/mocks/stepper.hpp — hold writer answers and release them one by one, in an order the
// test chooses (the idea of stdexec's impulse_scheduler, applied to writer_contexts).
//
// A writer that hangs hands its writer_context to a stepper instead of answering. The test
// then looks at what is pending and releases the answers one at a time, in any order and
// with any answer (success, a veto, or no answer at all), running the engine in between. That
// turns an interleaving that a real system produces only by chance into a deterministic test.
// fake_writer does this for every hang fault when fake_writer_options::stepper is set; your
// own writers may call hold() from their handlers.
//
// Example 1 — two writers hang at Freeze; "db" is answered first, then "web":
//
//   auto step = std::make_shared<vss::mocks::stepper>();
//   vss::mocks::fake_writer_options opts{.stepper = step};
//   auto web = std::make_shared<vss::mocks::fake_writer>("web", vss::application_level::front_end,
//                                                        opts);
//   auto db = std::make_shared<vss::mocks::fake_writer>("db", vss::application_level::front_end,
//                                                       opts);
//   web->on(vss::writer_event::freeze, vss::mocks::fault::hang());
//   db->on(vss::writer_event::freeze, vss::mocks::fault::hang());
//   ... register both, start DoSnapshotSet, io.poll() ...
//   ASSERT_EQ(step->size(), 2u);
//   step->release_in_order({"db", "web"});
//   io.poll();
//
// Example 2 — a real-thread test: wait until the writer is inside its handler, then veto it:
//
//   ... start the backup on a thread pool ...
//   ASSERT_TRUE(step->wait_for(1, std::chrono::seconds(5)));
//   step->release("db", vss::writer_event::prepare_snapshot,
//                 vss::mocks::fault::veto(vss::errc::writer_error_retryable));
//
// Answers a release() accepts: fault::succeed() → complete(); fault::veto(code) →
// fail(code, "stepper: released with a veto"); fault::fail_without_code() →
// the context is destroyed unanswered (VSS_E_WRITERERROR_NONRETRYABLE, "context dropped");
// fault::complete_twice() → complete() twice. Any other kind (hang, delay, throw), or a veto
// whose code writer_context::fail would reject, makes release() throw std::invalid_argument
// and leaves the answer held.
//
// Thread-safety: every member may be called from any thread. Contexts are answered outside
// the stepper's lock, so an engine that reacts inline cannot deadlock with it. A context that
// is still held when the stepper is destroyed is dropped (answered as "context dropped").

#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "vss/id.hpp"
#include "vss/mocks/fault.hpp"
#include "vss/writer.hpp"

namespace vss::mocks {

/// What a stepper holds: whose answer, to which event.
struct held_answer {
  /// The name the writer gave to hold().
  std::string writer;
  /// The event waiting for its answer (writer_context::event()).
  writer_event event = writer_event::identify;
  /// The snapshot set of the event (writer_context::snapshot_set(); null for Identify).
  snapshot_set_id set;
};

/// Holds writer_contexts and releases them on request.
class stepper {
 public:
  stepper() = default;
  stepper(const stepper&) = delete;
  stepper& operator=(const stepper&) = delete;
  /// Drops every context still held.
  ~stepper();

  /// Number of answers held.
  std::size_t size() const;

  /// The held answers, oldest first; index i here is index i for release(std::size_t).
  std::vector<held_answer> pending() const;

  /// Takes `ctx` and holds it under the name `writer` (called by fake_writer for hang
  /// faults). Names should be unique among the writers sharing a stepper. Wakes wait_for().
  void hold(std::string writer, writer_context ctx);

  /// Answers the held context at `index` of pending() with `answer` and forgets it. Returns
  /// false (and does nothing) if `index` is out of range. Throws std::invalid_argument for an
  /// answer kind it cannot give (see the file comment).
  bool release(std::size_t index, fault answer = fault::succeed());

  /// Answers the oldest held context of writer `writer` for event `e`. Returns false if there
  /// is none.
  bool release(std::string_view writer, writer_event e, fault answer = {});

  /// Answers every held context, oldest first, with `answer`. Returns how many.
  std::size_t release_all(fault answer = {});

  /// For each name in `writers`, in order, completes the oldest held context of that writer
  /// with success. A name with nothing held is skipped. Returns how many were released.
  std::size_t release_in_order(const std::vector<std::string>& writers);

  /// Destroys, unanswered, the oldest held context of `writer` for event `e` in snapshot set
  /// `set`. fake_writer calls it when an Abort supersedes a hang: the engine no longer waits
  /// for that answer. Returns false if there is none.
  bool drop(std::string_view writer, writer_event e, const snapshot_set_id& set);

  /// Blocks until at least `count` answers are held or `timeout` passes (real time). Returns
  /// true if `count` were reached. For tests where the engine runs on other threads; a
  /// single-threaded test checks size() after io_context::poll() instead.
  bool wait_for(std::size_t count, std::chrono::milliseconds timeout);

 private:
  struct entry {
    held_answer what;
    writer_context ctx;
  };

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<entry> held_;
};

}  // namespace vss::mocks
