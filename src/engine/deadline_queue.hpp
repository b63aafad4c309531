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
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "vss/clock.hpp"

namespace vss::detail {

class deadline_queue : public std::enable_shared_from_this<deadline_queue> {
  struct lane;

 public:
  using time_point = clock::time_point;

  /// Timers come from `clk`, their handlers (and so every entry's function) run on `ex`. The
  /// entries are spread over `lanes` independent lanes, each with its own lock and clock
  /// waits, so that io threads arming and cancelling at once seldom wait for each other.
  /// A wait runs only the entries due by its own time; one already due that falls later gets a
  /// wait of its own, queued behind whatever the clock has already posted. So with one lane,
  /// entries and other timers of the same clock run in deadline order, even when a virtual
  /// clock jumps past several at once. Across lanes a stale wait can still run a lane's entry
  /// early relative to another lane's: use one lane where that order must be exact. When the
  /// last entry goes, the waits still outstanding are cancelled, so that an idle engine holds
  /// no timer (an io_context then runs out of work as before).
  ///
  /// With a non-zero `linger`, the waits outlive the last entry by that long before they are
  /// cancelled (decisions §38): an engine that goes idle between one backup and the next
  /// would otherwise cancel its clock waits each time, each cancel a posted completion that
  /// wakes an idle io thread, and arm a new one for the next deadline. Zero cancels at once.
  deadline_queue(std::shared_ptr<vss::clock> clk, asio::any_io_executor ex, std::size_t lanes = 1,
                 clock::duration linger = clock::duration::zero());
  ~deadline_queue();
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
    /// True from arm() until cancel(), even once its function ran (a cancel then does nothing).
    bool armed() const noexcept { return armed_; }

   private:
    lane* lane_ = nullptr;  // chosen at the first arm, kept after
    bool armed_ = false;
    std::pair<time_point, std::uint64_t> key_{};
  };

  /// Entries armed and not yet run or cancelled (for tests).
  std::size_t pending() const;
  /// Clock waits outstanding (for tests: how many timers the queue keeps armed).
  std::size_t waits() const;

 private:
  using key = std::pair<time_point, std::uint64_t>;
  struct alignas(64) lane {
    deadline_queue* queue = nullptr;
    std::size_t index = 0;
    mutable std::mutex mutex;
    std::map<key, std::function<void()>> entries;  // unique keys: an erase never hits a later arm
    std::uint64_t next_seq = 0;
    std::vector<std::unique_ptr<timer>> timers;  // every timer made; idle ones are reused
    // Per timer: idle, waiting (for wait_at), or cancelled (its completion still to come, so
    // it covers nothing and is not reused yet).
    enum class wait_state : char { idle, waiting, cancelled };
    std::vector<wait_state> state;
    std::vector<time_point> wait_at;  // per timer: when its wait falls
    std::vector<std::size_t> idle_timers;
    // Entries a wait has taken out to run and not yet run: a cancel still reaches them, so
    // that one put back after a throw (on_wait_done) is only one nobody cancelled meanwhile.
    std::set<key> taken;
  };
  lane& lane_for(const void* owner) noexcept;
  // Erases `*old` if set, inserts `at`, in one hold of the lane's lock.
  key rearm(lane& l, const key* old, time_point at, std::function<void()> fn);
  void erase(lane& l, const key& k) noexcept;
  // The lane's lock held: drops `k` wherever it is; true if it was the queue's last entry.
  bool forget(lane& l, const key& k) noexcept;
  // Cancels the outstanding waits once no lane holds an entry (lanes' locks not held).
  void cancel_waits_if_idle() noexcept;
  // The last entry just went (lanes' locks not held): cancels the waits now, or, with a
  // linger, arms the linger wait unless it is armed already.
  void went_idle() noexcept;
  // The lane's lock held: makes sure a wait falls no later than its earliest entry.
  void cover_earliest(lane& l);
  // The lane's lock held: the earliest time a waiting timer falls, if any (a lane keeps a few
  // timers: looking at each costs less than keeping them ordered).
  static std::optional<time_point> earliest_wait(const lane& l) noexcept;
  // Sums `count(lane)` over the lanes, each under its lock (for tests).
  template <class Count>
  std::size_t sum_over_lanes(Count count) const;
  void on_wait_done(std::size_t lane_index, std::size_t timer_index, bool expired);

  std::shared_ptr<vss::clock> clock_;
  asio::any_io_executor executor_;
  std::vector<std::unique_ptr<lane>> lanes_;
  std::atomic<std::size_t> entries_{0};  // over all lanes
  const clock::duration linger_;
  std::mutex linger_mutex_;
  std::unique_ptr<timer> linger_timer_;  // made at the first idle moment, then reused
  bool linger_armed_ = false;            // linger_mutex_
};

}  // namespace vss::detail
