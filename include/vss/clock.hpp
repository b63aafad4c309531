#pragma once
// Time source for every deadline the engine keeps (phase deadlines, freeze windows, the
// provider hold budget). The engine never reads std::chrono clocks directly: it asks a
// vss::clock, so tests can run a 60 s freeze timeout in virtual time (see manual_clock.hpp).
//
// Thread-safety: clock::now() and clock::create_timer() may be called from any thread.
// A timer's members must be called from one strand at a time (the engine calls them from
// the owning session's strand).

#include <asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <memory>

namespace vss {

/// A one-shot, re-armable timer created by a vss::clock.
class timer {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  virtual ~timer() = default;

  /// Arms the timer. `fn(true)` is posted to the timer's executor once the clock reaches
  /// `deadline`; `fn(false)` is posted instead if the timer is re-armed, cancelled or destroyed
  /// first. Re-arming cancels the previous wait. `fn` is never invoked inline.
  virtual void async_wait_until(time_point deadline, std::function<void(bool expired)> fn) = 0;

  /// Cancels the pending wait, if any (its handler receives `false`).
  virtual void cancel() = 0;
};

/// The source of time and timers for an engine. Default: steady_clock_source().
class clock {
 public:
  using time_point = timer::time_point;
  using duration = std::chrono::steady_clock::duration;

  virtual ~clock() = default;

  /// The current time on this clock (monotonic).
  virtual time_point now() const noexcept = 0;

  /// Creates a timer whose handlers run on `ex`.
  virtual std::unique_ptr<timer> create_timer(const asio::any_io_executor& ex) = 0;
};

/// The real monotonic clock (std::chrono::steady_clock with asio::steady_timer).
std::shared_ptr<clock> steady_clock_source();

}  // namespace vss
