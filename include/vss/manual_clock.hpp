#pragma once
// A virtual clock for deterministic tests: time moves only when the test calls advance().
// With it a whole backup with 60 s freeze timeouts and a 10 s hold budget runs in
// microseconds of real time.
//
// Example:
//   auto clk = std::make_shared<vss::manual_clock>();
//   vss::engine eng{io.get_executor(), {.clock = clk}};
//   ...                       // start a backup whose writer never answers Freeze
//   clk->advance(std::chrono::seconds(61));
//   io.poll();                // the freeze timeout fires; the writer is aborted
//
// Thread-safety: every member may be called from any thread. Expired handlers are posted to
// their timers' executors, so advance() never runs engine code inline.

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>

#include "vss/clock.hpp"

namespace vss {

/// A vss::clock whose time is advanced by hand.
class manual_clock : public clock, public std::enable_shared_from_this<manual_clock> {
 public:
  /// Starts at `start` (default: the steady_clock epoch plus one hour, so that
  /// `now() - duration` never underflows in tests).
  explicit manual_clock(time_point start = time_point{} + std::chrono::hours(1));

  time_point now() const noexcept override;
  std::unique_ptr<timer> create_timer(const asio::any_io_executor& ex) override;

  /// Moves time forward by `d` and posts the handlers of every timer that is now due.
  void advance(duration d);

  /// Moves time to `t` (no-op if `t` is in the past) and posts the due handlers.
  void advance_to(time_point t);

  /// Jumps to the earliest pending deadline, if any, and fires it. Returns false when no
  /// timer is armed. Handy for "run until idle" loops in tests.
  bool advance_to_next();

  /// Number of armed timers.
  std::size_t pending_timers() const;

 private:
  struct entry;
  class manual_timer;
  friend class manual_timer;

  void arm(const std::shared_ptr<entry>& e);
  void disarm(const std::shared_ptr<entry>& e);

  mutable std::mutex mutex_;
  time_point now_;
  std::multimap<time_point, std::shared_ptr<entry>> armed_;
};

}  // namespace vss
