#pragma once
// Every deadline a session keeps, on a few clock timers shared by the whole engine
// (docs/decisions.md §33).
//
// A vss::timer per deadline costs a wake-up when it is cancelled: asio posts the cancelled
// wait's completion, and with an io thread asleep that post wakes it (an epoll_ctl, then a
// context switch on a two-core machine, where the requester being woken competes for the
// same cores). Nearly every deadline is cancelled: the phase settled, the step returned, the
// abort drained. Here a deadline is a node of an ordered intrusive set, and cancelling it
// unlinks the node, which posts nothing. The node is the deadline object itself, so arming
// allocates no node and cancelling looks nothing up (decision 47). The clock's timers only say
// when to look: one waits for the earliest entry, and none is ever cancelled. An entry earlier than every wait gets a wait of
// its own; a wait that finds nothing due when it fires just re-arms for the earliest entry.
//
// Built on vss::clock, so a manual_clock drives these deadlines in virtual time as before.

#include <asio/any_io_executor.hpp>
#include <atomic>
#include <boost/intrusive/set.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
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
    /// As above, but `fn` runs only if `owner` is alive when it is due, and keeps it alive
    /// while it runs. The owner's lifetime is kept beside the function instead of captured in
    /// it: std::function stores a function of a raw pointer and an id (16 trivially copyable
    /// bytes) inline, and a weak_ptr in its captures would cost an allocation per arm
    /// (decision 47).
    void arm(deadline_queue& q, time_point at, std::weak_ptr<const void> owner,
             std::function<void()> fn);
    /// Forgets the pending `fn`, if any (one already run or running is not recalled). Posts
    /// nothing and wakes nobody.
    void cancel() noexcept;
    /// True from arm() until cancel(), even once its function ran (a cancel then does nothing).
    bool armed() const noexcept { return armed_; }

   private:
    friend class deadline_queue;
    lane* lane_ = nullptr;  // chosen at the first arm, kept after
    bool armed_ = false;
    // Under the lane's lock: the queue links the deadline, takes its function out to run it
    // (with the lock released) and puts it back after a throw; arm and cancel change these
    // only while holding that lock too.
    boost::intrusive::set_member_hook<> hook_;  // safe mode: is_linked() says if it is queued
    std::pair<time_point, std::uint64_t> key_{};
    std::function<void()> fn_;         // while linked
    std::weak_ptr<const void> owner_;  // while linked, if `guarded_`
    bool guarded_ = false;
  };

  /// Entries armed and not yet run or cancelled (for tests).
  std::size_t pending() const;
  /// Clock waits outstanding (for tests: how many timers the queue keeps armed).
  std::size_t waits() const;

 private:
  using key = std::pair<time_point, std::uint64_t>;
  struct by_key {
    bool operator()(const deadline& a, const deadline& b) const noexcept { return a.key_ < b.key_; }
  };
  using entry_set =
      boost::intrusive::set<deadline,
                            boost::intrusive::member_hook<
                                deadline, boost::intrusive::set_member_hook<>, &deadline::hook_>,
                            boost::intrusive::compare<by_key>>;
  struct alignas(64) lane {
    deadline_queue* queue = nullptr;
    std::size_t index = 0;
    mutable std::mutex mutex;
    entry_set entries;  // unique keys: an entry taken out and put back cannot meet a later arm
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
  // Drops `d`'s entry if `was_armed`, queues it again at `at`, in one hold of the lane's lock.
  void rearm(lane& l, deadline& d, bool was_armed, time_point at, std::function<void()> fn,
             std::weak_ptr<const void> owner, bool guarded);
  void erase(lane& l, deadline& d) noexcept;
  // The lane's lock held: drops `d`'s entry wherever it is, handing its function to `dropped`
  // to be destroyed once the lock is released; true if it was the queue's last entry.
  bool forget(lane& l, deadline& d, std::function<void()>& dropped) noexcept;
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
