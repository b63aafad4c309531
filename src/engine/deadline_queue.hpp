#pragma once
// Every deadline a session keeps, on a few clock timers shared by the whole engine
// (docs/decisions.md §33).
//
// A vss::timer per deadline costs a wake-up when it is cancelled: asio posts the cancelled
// wait's completion, and with an io thread asleep that post wakes it (an epoll_ctl, then a
// context switch on a two-core machine, where the requester being woken competes for the
// same cores). Nearly every deadline is cancelled: the phase settled, the step returned, the
// abort drained. Here a deadline is an entry in an ordered map, and cancelling it erases the
// entry, which posts nothing. The clock's timers only say when to look: one waits for the
// earliest entry, and none is ever cancelled. An entry earlier than every wait gets a wait of
// its own; a wait that finds nothing due when it fires just re-arms for the earliest entry.
//
// Built on vss::clock, so a manual_clock drives these deadlines in virtual time as before.

#include <asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "vss/clock.hpp"

namespace vss::detail {

class deadline_queue : public std::enable_shared_from_this<deadline_queue> {
 public:
  using time_point = clock::time_point;

  /// Timers come from `clk`, their handlers (and so every entry's function) run on `ex`.
  deadline_queue(std::shared_ptr<vss::clock> clk, asio::any_io_executor ex);
  deadline_queue(const deadline_queue&) = delete;
  deadline_queue& operator=(const deadline_queue&) = delete;

  /// One deadline: armed, re-armed, cancelled; cancelled when destroyed. Its queue must
  /// outlive it (sessions hold the engine core, which owns the queue). Not thread-safe by
  /// itself: call it under the owner's lock, as the session does under its mutex.
  class deadline {
   public:
    deadline() = default;
    deadline(const deadline&) = delete;
    deadline& operator=(const deadline&) = delete;
    ~deadline() { cancel(); }

    /// Runs `fn` on the queue's executor once the clock reaches `at`, never inline, unless
    /// cancelled or re-armed first. Re-arming replaces the previous `at` and `fn`.
    void arm(deadline_queue& q, time_point at, std::function<void()> fn);
    /// Forgets the pending `fn`, if any (one already run or running is not recalled). Posts
    /// nothing and wakes nobody.
    void cancel() noexcept;

   private:
    friend class deadline_queue;
    deadline_queue* queue_ = nullptr;
    std::pair<time_point, std::uint64_t> key_{};
  };

  /// Entries armed and not yet run or cancelled (for tests).
  std::size_t pending() const;
  /// Clock waits outstanding (for tests: how many timers the queue keeps armed).
  std::size_t waits() const;

 private:
  using key = std::pair<time_point, std::uint64_t>;
  key insert(time_point at, std::function<void()> fn);
  void erase(const key& k) noexcept;
  // mutex_ held: makes sure a wait falls no later than the earliest entry.
  void cover_earliest();
  void on_wait_done(std::size_t timer_index, time_point at, bool expired);

  std::shared_ptr<vss::clock> clock_;
  asio::any_io_executor executor_;
  mutable std::mutex mutex_;
  std::map<key, std::function<void()>> entries_;  // unique keys: an erase never hits a later arm
  std::uint64_t next_seq_ = 0;
  std::vector<std::unique_ptr<timer>> timers_;  // every timer made; idle ones are reused
  std::vector<std::size_t> idle_timers_;
  std::multiset<time_point> waits_;  // when each outstanding wait falls
};

}  // namespace vss::detail
