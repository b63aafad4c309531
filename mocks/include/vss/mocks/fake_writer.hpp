// vss/mocks/fake_writer.hpp — a writer scripted per event with a vss::mocks::fault, that
// records everything it receives.
//
// Register fake writers with your vss::engine in place of real applications, script the
// events whose failure you want to test, run a backup and assert what the engine and the
// requester saw. Every event is answered with success unless scripted otherwise. Every event
// is recorded (in the writer's own history and, if set, in a shared event_recorder) BEFORE the
// scripted fault acts, so a writer that throws or hangs still shows the event.
//
// What each fault kind does when an event meets it:
//   succeed            complete() at once.
//   veto(code)         fail(code, "fake_writer: scripted veto at <Event>"). `code` must be a
//                      VSS_E_WRITERERROR_* code (the ones writer_context::fail accepts).
//   fail_without_code  the context is destroyed unanswered; the engine records
//                      VSS_E_WRITERERROR_NONRETRYABLE ("context dropped").
//   hang               the context is kept (by the writer, or by the stepper if one is set).
//                      When this writer's Abort for the same snapshot set arrives, the kept
//                      context is destroyed unanswered (the abort superseded it, so the engine
//                      ignores it) and the Abort is answered per its own script.
//   hang_ignore_abort  as hang, but the context stays kept when the Abort arrives; only the
//                      engine's deadline, or release_held(), ends it. The Abort itself is
//                      answered per its own script, so a writer scripted hang_ignore_abort ON
//                      the Abort event never answers its Abort.
//   delay(d)           complete() after d on the options' clock (a timer on the options'
//                      executor); virtual time under vss::manual_clock.
//   complete_twice     complete() twice; the second call must have no effect.
//   throw_exception    throws std::runtime_error("fake_writer: scripted throw at <Event>")
//                      from the handler; the engine records VSS_E_WRITERERROR_NONRETRYABLE.
//
// Example 1 — a veto at Freeze fails that writer alone:
//
//   auto db = std::make_shared<vss::mocks::fake_writer>("db");
//   db->on(vss::writer_event::freeze, vss::mocks::fault::veto(vss::errc::writer_error_retryable));
//   auto reg = engine.register_writer(db);
//   ... run a full backup ...
//   EXPECT_EQ(db->events().back(), vss::writer_event::abort);
//   // get_writer_status(): db is VSS_WS_FAILED_AT_FREEZE with VSS_E_WRITERERROR_RETRYABLE.
//
// Example 2 — a slow PrepareSnapshot in virtual time:
//
//   asio::io_context io;
//   auto clock = std::make_shared<vss::manual_clock>();
//   vss::engine engine{io.get_executor(), {.clock = clock}};
//   auto db = std::make_shared<vss::mocks::fake_writer>(
//       "db", vss::application_level::back_end,
//       vss::mocks::fake_writer_options{.clock = clock, .executor = io.get_executor()});
//   db->on(vss::writer_event::prepare_snapshot,
//          vss::mocks::fault::delay(std::chrono::minutes(5)));
//   ... start DoSnapshotSet; io.poll(); clock->advance(std::chrono::minutes(5)); io.poll(); ...
//
// Thread-safety: every member may be called from any thread. The handlers run on engine
// threads while the test scripts and reads from its own; on() takes effect for events that
// arrive after it returns. Destroying the writer cancels its delay timers and drops every
// context it still holds (the engine records them as "context dropped" if it still waits);
// a timer handler racing the destructor is safe. With the real steady clock, destroy the
// writer before the execution context of the options' executor.

#pragma once

#include <asio/any_io_executor.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "vss/clock.hpp"
#include "vss/mocks/event_recorder.hpp"
#include "vss/mocks/fault.hpp"
#include "vss/mocks/stepper.hpp"
#include "vss/types.hpp"
#include "vss/writer.hpp"

namespace vss::mocks {

/// Options of a fake_writer. Every field is optional.
struct fake_writer_options {
  /// Clock of delay faults; use the engine's (a vss::manual_clock for virtual time). Also
  /// stamps history(). Default: null (delay faults are refused; history uses the steady
  /// clock).
  std::shared_ptr<vss::clock> clock;
  /// Executor of the delay timers; use the engine's. Default: empty (delay faults are
  /// refused).
  asio::any_io_executor executor;
  /// A log shared with other writers; every event is recorded there too. Default: null.
  std::shared_ptr<event_recorder> recorder;
  /// If set, hang and hang_ignore_abort hand their contexts to this stepper (under the
  /// writer's name) instead of keeping them. Default: null.
  std::shared_ptr<vss::mocks::stepper> stepper;
  /// The components reported at Identify. Default: empty, meaning one selectable file_group
  /// component "<name>-data" (no logical path) with files "/data/<name>/*" on volume "/data".
  std::vector<component_info> components;
};

/// A vss::writer whose answer to each event is a scripted fault.
class fake_writer : public vss::writer {
 public:
  /// A writer named `name` at `level`, with generated ids and the default 60 s freeze
  /// timeout.
  explicit fake_writer(std::string name, application_level level = application_level::front_end,
                       fake_writer_options options = {});

  /// A writer with this exact identity (to set the freeze timeout, ids, execution, ...).
  explicit fake_writer(writer_identity identity, fake_writer_options options = {});

  /// Cancels delay timers and drops every context still held (see the file comment).
  ~fake_writer() override;

  /// Scripts `event` to meet `f` from now on (the default for every event is succeed).
  /// Throws std::invalid_argument for a delay fault when the options have no clock or no
  /// executor, or a negative delay; and for a veto whose code writer_context::fail rejects
  /// (errc::ok, or anything but a VSS_E_WRITERERROR_* code). Returns *this for chaining.
  fake_writer& on(writer_event event, fault f);

  /// The fault currently scripted for `event`.
  fault script(writer_event event) const;

  /// Every event received so far, in order.
  std::vector<writer_event> events() const;

  /// How many times `event` was received.
  std::size_t count(writer_event event) const;

  /// This writer's own events with time (on the options' clock, else the steady clock),
  /// handler thread and snapshot set; `sequence` counts this writer's events from 0.
  std::vector<recorded_event> history() const;

  /// Number of contexts this writer keeps for hang faults (those handed to a stepper are not
  /// counted).
  std::size_t held() const;

  /// Answers every kept context, oldest first, with `answer` (succeed, veto(code),
  /// fail_without_code or complete_twice, as stepper::release; a veto's message is
  /// "fake_writer: released with a veto") and forgets them. Returns how many. Throws
  /// std::invalid_argument for any other answer. An answer to a context the
  /// engine no longer waits for (superseded or past its deadline) is ignored by the engine.
  std::size_t release_held(fault answer = {});

  /// OnIdentify: fills ctx.metadata() with the components, then meets the script.
  void on_identify(writer_context ctx) override;
  /// OnPrepareBackup: meets the script.
  void on_prepare_backup(writer_context ctx) override;
  /// OnPrepareSnapshot: meets the script.
  void on_prepare_snapshot(writer_context ctx) override;
  /// OnFreeze: meets the script.
  void on_freeze(writer_context ctx) override;
  /// OnThaw: meets the script.
  void on_thaw(writer_context ctx) override;
  /// OnPostSnapshot: meets the script.
  void on_post_snapshot(writer_context ctx) override;
  /// OnAbort: drops contexts kept by hang faults for the same snapshot set, then meets the
  /// script.
  void on_abort(writer_context ctx) override;
  /// OnBackupComplete: meets the script.
  void on_backup_complete(writer_context ctx) override;
  /// OnBackupShutdown: meets the script.
  void on_backup_shutdown(writer_context ctx) override;

 private:
  struct state;

  void handle(writer_event event, writer_context ctx);

  std::shared_ptr<state> state_;
};

}  // namespace vss::mocks
