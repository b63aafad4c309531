// Real-thread stress test: AbortBackup (blocking and asynchronous) and IVssAsync::Cancel race
// DoSnapshotSet from other threads at random moments, while 1-64 writers answer each event
// inline or later from other threads, and occasionally veto. Every run checks the invariants
// of DESIGN.md §4 from what the writers and the provider actually saw:
//   (a) the DoSnapshotSet operation completes exactly once (finished, cancelled or a failure);
//       an AbortBackup called after DoSnapshotSet was initiated that returned before the
//       operation completed means it was cancelled (no lost cancellation), and such an abort
//       never turns an accepted DoSnapshotSet into VSS_E_BAD_STATE;
//   (b) per writer: Freeze is ended by Thaw or Abort, at most one Thaw and one Abort, nothing
//       but BackupShutdown after Abort, exactly one BackupShutdown after release, every event
//       carries the writer's own session's snapshot set (invariant 8), and the phases reach
//       writers in pipeline order (Freeze by level, Thaw in reverse);
//   (c) a set that did not succeed leaves no record in the provider (only the BeginPrepare
//       state of a set that never reached DoSnapshotSet, spec §3.6); a created set is readable
//       until the session is released, and gone after it (auto-release);
//   (d) AbortBackup returns within a bound;
//   (e) a reader racing the abort (the phase reports, GatherWriterStatus) always gets an
//       answer, and after the drain every writer has a status and none that answered still
//       waits for Thaw.
// Aborts come 0-500 us after DoSnapshotSet starts (a quarter at 0, racing the start); one run
// in eight aborts late (1-20 ms) so that created sets are aborted too.
//
// Bounded by count and time: OPENVSS_STRESS_ITERATIONS (default 2000 runs) and
// OPENVSS_STRESS_SECONDS (default 60), whichever comes first. Each run's plan (writer count,
// levels, behaviours, delays, abort moments) is drawn from OPENVSS_STRESS_SEED (printed; random
// if unset); OPENVSS_STRESS_RUN=<n> replays run n (or round n of the concurrent test) of that
// seed alone, and OPENVSS_STRESS_VERBOSE=1 prints each run before it starts. Thread
// interleavings are not reproducible, only the plans.
//
// Meant to run clean under ThreadSanitizer and AddressSanitizer/LeakSanitizer.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "vss/vss.hpp"

namespace vss::test {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using E = writer_event;

constexpr auto abort_bound = 5s;          // (d): AbortBackup returns within this
constexpr auto operation_bound = 10s;     // any other wait; longer means a hang
constexpr auto shutdown_bound = 5s;       // BackupShutdown after release
constexpr std::size_t max_reported = 12;  // violation messages kept for the failure report

// ---------------------------------------------------------------------------------------------
// Configuration and deterministic randomness.

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const auto value = std::strtoull(text, &end, 0);
  if (end == text || *end != '\0') {
    std::fprintf(stderr, "[stress] ignoring %s=%s (not a number)\n", name, text);
    return fallback;
  }
  return value;
}

bool env_set(const char* name) {
  const char* text = std::getenv(name);
  return text != nullptr && *text != '\0';
}

struct stress_limits {
  std::uint64_t seed = 0;
  std::uint64_t iterations = 2000;
  std::chrono::seconds budget{60};
  bool single_run = false;
  std::uint64_t first_run = 0;
  bool verbose = false;  // print each run's tag first, to pin a sanitizer report to a run
};

stress_limits read_limits() {
  stress_limits l;
  l.seed = env_set("OPENVSS_STRESS_SEED")
               ? env_u64("OPENVSS_STRESS_SEED", 0)
               : (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  l.iterations = env_u64("OPENVSS_STRESS_ITERATIONS", 2000);
  l.budget = std::chrono::seconds(env_u64("OPENVSS_STRESS_SECONDS", 60));
  l.verbose = env_u64("OPENVSS_STRESS_VERBOSE", 0) != 0;
  if (env_set("OPENVSS_STRESS_RUN")) {
    l.single_run = true;
    l.first_run = env_u64("OPENVSS_STRESS_RUN", 0);
    l.iterations = 1;
  }
  return l;
}

std::uint64_t mix(std::uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// A small PRNG whose sequence depends only on its seed (no library distributions, so a seed
/// replays the same plan with any standard library).
class rng {
 public:
  explicit rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() { return mix(state_++); }
  /// Uniform in [lo, hi].
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + next() % (hi - lo + 1); }
  /// True with probability num/den.
  bool chance(std::uint64_t num, std::uint64_t den) { return next() % den < num; }

 private:
  std::uint64_t state_;
};

/// Waits `d`: precisely for short delays (spinning), by sleeping for long ones.
void pause_for(std::chrono::microseconds d) {
  if (d <= 0us) return;
  const auto until = steady::now() + d;
  if (d > 150us) std::this_thread::sleep_for(d - 100us);
  while (steady::now() < until) std::this_thread::yield();
}

// ---------------------------------------------------------------------------------------------
// A delay line: runs functions on its own threads once their delay has passed. Writers and the
// provider use it to answer "later, from another thread".

class delay_line {
 public:
  explicit delay_line(std::size_t threads) {
    for (std::size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }
  ~delay_line() { shutdown(); }
  delay_line(const delay_line&) = delete;
  delay_line& operator=(const delay_line&) = delete;

  /// Runs `fn` on a delay-line thread after `d` (at once, inline, once shut down).
  void after(std::chrono::microseconds d, std::function<void()> fn) {
    {
      std::lock_guard lock(mutex_);
      if (!stopped_) {
        queue_.emplace(steady::now() + d, std::move(fn));
        cv_.notify_one();
        return;
      }
    }
    fn();
  }

  /// Runs everything still queued at once, then joins the threads.
  void shutdown() {
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      stopped_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

 private:
  void work() {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (queue_.empty()) {
        if (stopped_) return;
        cv_.wait(lock);
        continue;
      }
      auto it = queue_.begin();
      // A copy: while this thread waits, another one may run and erase that entry.
      const auto due = it->first;
      if (!stopped_ && due > steady::now()) {
        cv_.wait_until(lock, due);
        continue;
      }
      auto fn = std::move(it->second);
      queue_.erase(it);
      lock.unlock();
      fn();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::multimap<steady::time_point, std::function<void()>> queue_;
  bool stopped_ = false;
  std::vector<std::thread> workers_;
};

// ---------------------------------------------------------------------------------------------
// Writers with a per-event plan.

enum class answer : std::uint8_t { inline_ok, later_ok, inline_veto, later_veto };

struct step_plan {
  answer how = answer::inline_ok;
  std::chrono::microseconds delay{0};
  errc veto = errc::writer_error_retryable;
};

struct writer_plan {
  application_level level = application_level::front_end;
  handler_execution execution = handler_execution::non_blocking;
  std::chrono::milliseconds freeze_timeout{60000};
  std::array<step_plan, writer_event_count> steps{};
};

struct event_record {
  E event;
  snapshot_set_id set;
  std::uint64_t seq;  // global order of handler entries
};

class stress_writer final : public writer {
 public:
  stress_writer(std::string name, const writer_plan& plan, std::shared_ptr<delay_line> later,
                std::shared_ptr<std::atomic<std::uint64_t>> seq)
      : writer(writer_identity{.name = std::move(name),
                               .level = plan.level,
                               .freeze_timeout = plan.freeze_timeout,
                               .execution = plan.execution}),
        plan_(plan),
        later_(std::move(later)),
        seq_(std::move(seq)) {}

  std::vector<event_record> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }

  bool got(E e) const {
    std::lock_guard lock(mutex_);
    return std::any_of(events_.begin(), events_.end(),
                       [e](const event_record& r) { return r.event == e; });
  }

  bool wait_for_shutdown(steady::time_point deadline) const {
    std::unique_lock lock(mutex_);
    return cv_.wait_until(lock, deadline, [this] { return shutdowns_ > 0; });
  }

  std::string component() const { return identity().name + "-data"; }

  void on_identify(writer_context ctx) override {
    if (auto* md = ctx.metadata()) {
      component_info c;
      c.name = component();
      c.files.push_back("/stress/" + identity().name + "/*");
      md->components.push_back(std::move(c));
    }
    handle(E::identify, std::move(ctx));
  }
  void on_prepare_backup(writer_context ctx) override { handle(E::prepare_backup, std::move(ctx)); }
  void on_prepare_snapshot(writer_context ctx) override {
    handle(E::prepare_snapshot, std::move(ctx));
  }
  void on_freeze(writer_context ctx) override { handle(E::freeze, std::move(ctx)); }
  void on_thaw(writer_context ctx) override { handle(E::thaw, std::move(ctx)); }
  void on_post_snapshot(writer_context ctx) override { handle(E::post_snapshot, std::move(ctx)); }
  void on_abort(writer_context ctx) override { handle(E::abort, std::move(ctx)); }
  void on_backup_complete(writer_context ctx) override {
    handle(E::backup_complete, std::move(ctx));
  }
  void on_backup_shutdown(writer_context ctx) override {
    handle(E::backup_shutdown, std::move(ctx));
  }

 private:
  void handle(E e, writer_context ctx) {
    {
      std::lock_guard lock(mutex_);
      events_.push_back({e, ctx.snapshot_set(), seq_->fetch_add(1)});
      if (e == E::backup_shutdown) {
        ++shutdowns_;
        cv_.notify_all();
      }
    }
    const step_plan& p = plan_.steps[static_cast<std::size_t>(e)];
    switch (p.how) {
      case answer::inline_ok:
        ctx.complete();
        return;
      case answer::inline_veto:
        ctx.fail(p.veto, "stress veto");
        return;
      case answer::later_ok:
      case answer::later_veto: {
        // writer_context is move-only; std::function needs a copyable callable.
        auto held = std::make_shared<writer_context>(std::move(ctx));
        const bool veto = p.how == answer::later_veto;
        const errc code = p.veto;
        later_->after(p.delay, [held, veto, code] {
          if (veto) {
            held->fail(code, "stress veto (late)");
          } else {
            held->complete();
          }
        });
        return;
      }
    }
  }

  const writer_plan plan_;
  const std::shared_ptr<delay_line> later_;
  const std::shared_ptr<std::atomic<std::uint64_t>> seq_;
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  std::vector<event_record> events_;
  int shutdowns_ = 0;
};

// ---------------------------------------------------------------------------------------------
// A memory_provider whose steps complete inline or after a short delay on another thread, per
// snapshot set, and which remembers which sets reached EndPrepareSnapshots.

enum class pstep : std::uint8_t {
  end_prepare,
  pre_commit,
  commit,
  post_commit,
  pre_final_commit,
  post_final_commit,
  abort,
};
constexpr std::size_t pstep_count = 7;
using provider_delays = std::array<std::int32_t, pstep_count>;  // microseconds; -1 = inline

class stress_provider final : public memory_provider {
 public:
  explicit stress_provider(std::shared_ptr<delay_line> later) : later_(std::move(later)) {}

  void plan(const snapshot_set_id& set, const provider_delays& delays) {
    std::lock_guard lock(mutex_);
    delays_[set] = delays;
  }
  void forget(const snapshot_set_id& set) {
    std::lock_guard lock(mutex_);
    delays_.erase(set);
    end_prepared_.erase(set);
  }
  bool end_prepare_called(const snapshot_set_id& set) const {
    std::lock_guard lock(mutex_);
    return end_prepared_.count(set) != 0;
  }
  std::vector<snapshot_properties> records_of(const snapshot_set_id& set) const {
    auto all = all_records();
    std::erase_if(all, [&](const snapshot_properties& p) { return p.set_id != set; });
    return all;
  }

  void end_prepare_snapshots(const snapshot_set_id& s, completion d) override {
    {
      std::lock_guard lock(mutex_);
      end_prepared_.insert(s);
    }
    step(s, pstep::end_prepare, std::move(d),
         [this, s](completion c) { memory_provider::end_prepare_snapshots(s, std::move(c)); });
  }
  void pre_commit_snapshots(const snapshot_set_id& s, completion d) override {
    step(s, pstep::pre_commit, std::move(d),
         [this, s](completion c) { memory_provider::pre_commit_snapshots(s, std::move(c)); });
  }
  void commit_snapshots(const snapshot_set_id& s, completion d) override {
    step(s, pstep::commit, std::move(d),
         [this, s](completion c) { memory_provider::commit_snapshots(s, std::move(c)); });
  }
  void post_commit_snapshots(const snapshot_set_id& s, std::int32_t n, completion d) override {
    step(s, pstep::post_commit, std::move(d), [this, s, n](completion c) {
      memory_provider::post_commit_snapshots(s, n, std::move(c));
    });
  }
  void pre_final_commit_snapshots(const snapshot_set_id& s, completion d) override {
    step(s, pstep::pre_final_commit, std::move(d),
         [this, s](completion c) { memory_provider::pre_final_commit_snapshots(s, std::move(c)); });
  }
  void post_final_commit_snapshots(const snapshot_set_id& s, completion d) override {
    step(s, pstep::post_final_commit, std::move(d), [this, s](completion c) {
      memory_provider::post_final_commit_snapshots(s, std::move(c));
    });
  }
  void abort_snapshots(const snapshot_set_id& s, completion d) override {
    step(s, pstep::abort, std::move(d),
         [this, s](completion c) { memory_provider::abort_snapshots(s, std::move(c)); });
  }

 private:
  template <class Real>
  void step(const snapshot_set_id& set, pstep which, completion done, Real real) {
    std::int32_t delay = -1;
    {
      std::lock_guard lock(mutex_);
      if (auto it = delays_.find(set); it != delays_.end()) {
        delay = it->second[static_cast<std::size_t>(which)];
      }
    }
    if (delay < 0) return real(std::move(done));
    later_->after(std::chrono::microseconds(delay),
                  [real, done = std::move(done)]() mutable { real(std::move(done)); });
  }

  const std::shared_ptr<delay_line> later_;
  mutable std::mutex mutex_;
  std::map<snapshot_set_id, provider_delays> delays_;
  std::set<snapshot_set_id> end_prepared_;
};

// ---------------------------------------------------------------------------------------------
// Run plans.

enum class abort_kind : std::uint8_t { blocking_abort, async_abort, cancel_op };

const char* to_cstr(abort_kind k) {
  switch (k) {
    case abort_kind::blocking_abort:
      return "abort_backup";
    case abort_kind::async_abort:
      return "async_abort_backup";
    case abort_kind::cancel_op:
      return "cancel";
  }
  return "?";
}

struct aborter_plan {
  abort_kind kind = abort_kind::blocking_abort;
  std::chrono::microseconds delay{0};
};

struct run_plan {
  std::uint64_t run_seed = 0;
  std::vector<writer_plan> writers;
  std::size_t volumes = 1;
  provider_delays provider{};
  bool callback_token = false;  // a counting callback instead of use_async_op
  std::vector<aborter_plan> aborters;
  bool backup_complete_on_success = false;
  bool short_freeze_windows = false;

  std::string describe() const {
    std::ostringstream os;
    os << writers.size() << " writers, " << volumes << " volume(s), "
       << (callback_token ? "callback token" : "use_async_op") << ", aborters:";
    for (const auto& a : aborters) os << " " << to_cstr(a.kind) << "@" << a.delay.count() << "us";
    if (short_freeze_windows) os << ", short freeze windows";
    return os.str();
  }
};

step_plan draw_step(rng& r, E e) {
  step_plan p;
  const bool may_veto = e == E::prepare_snapshot || e == E::freeze || e == E::thaw;
  if (may_veto && r.chance(1, 25)) {
    p.how = r.chance(1, 2) ? answer::inline_veto : answer::later_veto;
    static constexpr errc codes[] = {errc::writer_error_retryable, errc::writer_error_nonretryable,
                                     errc::writer_error_inconsistent_snapshot};
    p.veto = codes[r.between(0, 2)];
  } else {
    p.how = r.chance(1, 2) ? answer::inline_ok : answer::later_ok;
  }
  p.delay = std::chrono::microseconds(r.between(0, 200));
  return p;
}

run_plan draw_plan(std::uint64_t run_seed, std::size_t max_writers) {
  rng r(run_seed);
  run_plan plan;
  plan.run_seed = run_seed;
  const auto n = static_cast<std::size_t>(r.between(1, max_writers));
  static constexpr application_level levels[] = {
      application_level::front_end, application_level::back_end, application_level::system,
      application_level::system_rm};
  for (std::size_t i = 0; i < n; ++i) {
    writer_plan w;
    w.level = levels[r.between(0, 3)];
    w.execution = r.chance(1, 8) ? handler_execution::blocking : handler_execution::non_blocking;
    if (r.chance(1, 40)) {
      // A freeze window that may close before Thaw: the writer alone is aborted (spec §3.2).
      w.freeze_timeout = std::chrono::milliseconds(r.between(1, 3));
      plan.short_freeze_windows = true;
    }
    for (std::size_t e = 0; e < writer_event_count; ++e) {
      w.steps[e] = draw_step(r, static_cast<E>(e));
    }
    plan.writers.push_back(w);
  }
  plan.volumes = static_cast<std::size_t>(r.between(1, 3));
  for (auto& d : plan.provider) {
    d = r.chance(2, 5) ? static_cast<std::int32_t>(r.between(0, 200)) : -1;
  }
  plan.callback_token = r.chance(1, 4);
  const auto aborters = r.between(1, 3);
  // One run in eight aborts late only (1-20 ms), so that sets also get created and the abort
  // meets them after the commit or after success (spec §10.3 C5, D).
  const bool late_run = r.chance(1, 8);
  for (std::uint64_t i = 0; i < aborters; ++i) {
    aborter_plan a;
    const auto k = r.between(0, 2);
    a.kind = k == 0   ? abort_kind::blocking_abort
             : k == 1 ? abort_kind::async_abort
                      : abort_kind::cancel_op;
    // A callback token has no IVssAsync handle to cancel.
    if (a.kind == abort_kind::cancel_op && plan.callback_token) {
      a.kind = abort_kind::blocking_abort;
    }
    // Otherwise 0-500 us, a quarter of them exactly 0 (racing the start).
    a.delay = late_run         ? std::chrono::microseconds(r.between(1000, 20000))
              : r.chance(1, 4) ? 0us
                               : std::chrono::microseconds(r.between(1, 500));
    plan.aborters.push_back(a);
  }
  plan.backup_complete_on_success = r.chance(1, 2);
  return plan;
}

// ---------------------------------------------------------------------------------------------
// Shared bookkeeping.

struct stress_stats {
  std::atomic<std::uint64_t> runs{0};
  std::atomic<std::uint64_t> finished{0};
  std::atomic<std::uint64_t> cancelled{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> failed_bad_state{0};
  std::atomic<std::uint64_t> lost_cancellations{0};
  std::atomic<std::uint64_t> overtaken_starts{0};
  std::atomic<std::uint64_t> aborts_before_completion{0};
  std::atomic<std::uint64_t> aborts_called{0};
  std::atomic<std::uint64_t> cancels_called{0};
  std::atomic<std::int64_t> max_abort_us{0};
  std::atomic<std::uint64_t> writers{0};
  // Coverage: how many writers were frozen, thawed, aborted, and aborted after their Thaw.
  std::atomic<std::uint64_t> frozen{0};
  std::atomic<std::uint64_t> thawed{0};
  std::atomic<std::uint64_t> aborted{0};
  std::atomic<std::uint64_t> aborted_after_thaw{0};

  void note_abort_latency(steady::duration d) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    auto cur = max_abort_us.load();
    while (us > cur && !max_abort_us.compare_exchange_weak(cur, us)) {
    }
  }

  std::string summary() const {
    std::ostringstream os;
    os << "runs=" << runs << " writers=" << writers << " finished=" << finished
       << " cancelled=" << cancelled << " failed=" << failed << " (bad_state=" << failed_bad_state
       << ") lost_cancellations=" << lost_cancellations << " overtaken_starts=" << overtaken_starts
       << " aborts=" << aborts_called
       << " (returned_before_op_completion=" << aborts_before_completion
       << ") cancels=" << cancels_called << " max_abort_ms=" << max_abort_us / 1000.0
       << " | writers frozen=" << frozen << " thawed=" << thawed << " aborted=" << aborted
       << " aborted_after_thaw=" << aborted_after_thaw;
    return os.str();
  }
};

/// Every broken check, counted by kind; the first few messages of each kind are kept.
class violations {
 public:
  void add(const std::string& kind, std::string what) {
    std::lock_guard lock(mutex_);
    auto& k = kinds_[kind];
    if (k.messages.size() < max_reported) k.messages.push_back(std::move(what));
    ++k.count;
    ++count_;
  }
  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return count_;
  }
  std::string report() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& [kind, k] : kinds_) {
      out += std::to_string(k.count) + " x " + kind + ":\n";
      for (const auto& m : k.messages) out += "  - " + m + "\n";
      if (k.count > k.messages.size()) {
        out += "  ... and " + std::to_string(k.count - k.messages.size()) + " more\n";
      }
    }
    return out;
  }

 private:
  struct kind_record {
    std::size_t count = 0;
    std::vector<std::string> messages;
  };
  mutable std::mutex mutex_;
  std::map<std::string, kind_record> kinds_;
  std::size_t count_ = 0;
};

struct stress_env {
  engine& eng;
  std::shared_ptr<stress_provider> provider;
  std::shared_ptr<delay_line> later;
  std::shared_ptr<std::atomic<std::uint64_t>> seq;
  stress_stats& stats;
  violations& bad;
  std::atomic<bool>& fatal;  // a hang: stop starting runs
};

/// The DoSnapshotSet operation as the racing threads see it, for either completion token.
class op_watch {
 public:
  explicit op_watch(bool callback) : callback_(callback) {}

  /// The callback token's handler body: counts completions.
  void on_callback(std::error_code ec) {
    std::lock_guard lock(mutex_);
    ++callbacks_;
    if (callbacks_ == 1) {
      status_ = !ec                           ? make_error_code(errc::async_finished)
                : ec == errc::async_cancelled ? make_error_code(errc::async_cancelled)
                                              : ec;
    }
    cv_.notify_all();
  }

  /// Called by the driver once the initiating function returned.
  void publish(async_op op) {
    {
      std::lock_guard lock(mutex_);
      op_ = std::move(op);
      published_ = true;
    }
    started_.store(true, std::memory_order_seq_cst);
    cv_.notify_all();
  }

  bool started() const { return started_.load(std::memory_order_seq_cst); }

  /// The IVssAsync handle, once published (empty for the callback token or on timeout).
  async_op handle(steady::time_point deadline) const {
    std::unique_lock lock(mutex_);
    cv_.wait_until(lock, deadline, [this] { return published_; });
    return op_;
  }

  bool done() const {
    std::lock_guard lock(mutex_);
    return callback_ ? callbacks_ > 0 : (published_ && op_.done());
  }

  bool wait_until(steady::time_point deadline) const {
    if (callback_) {
      std::unique_lock lock(mutex_);
      return cv_.wait_until(lock, deadline, [this] { return callbacks_ > 0; });
    }
    const auto op = handle(deadline);
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    return op && op.wait_for(std::max(left, 1ms));
  }

  /// The final status in IVssAsync terms (VSS_S_ASYNC_FINISHED, _CANCELLED, or the failure).
  std::error_code status() const {
    std::lock_guard lock(mutex_);
    return callback_ ? status_ : op_.query_status();
  }

  /// How often the operation completed. With use_async_op a second completion cannot be
  /// observed here: async_op_handler asserts on it (the stress binaries are built without
  /// NDEBUG); the callback token counts every call.
  int completions() const {
    std::lock_guard lock(mutex_);
    return callback_ ? callbacks_ : (op_.done() ? 1 : 0);
  }

 private:
  const bool callback_;
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  async_op op_;
  bool published_ = false;
  std::atomic<bool> started_{false};
  int callbacks_ = 0;
  std::error_code status_ = make_error_code(errc::async_pending);
};

struct aborter_result {
  bool ran = false;
  bool after_start = false;  // DoSnapshotSet's initiating function had returned
  bool returned = false;     // the abort returned / its operation completed in time
  bool op_done_at_return = false;
  std::error_code code;
  steady::duration elapsed{};
};

void run_aborter(backup_session s, aborter_plan plan, std::shared_ptr<op_watch> watch,
                 std::shared_ptr<std::atomic<bool>> go, aborter_result* out) {
  while (!go->load(std::memory_order_acquire)) std::this_thread::yield();
  pause_for(plan.delay);
  aborter_result r;
  r.ran = true;
  switch (plan.kind) {
    case abort_kind::blocking_abort: {
      r.after_start = watch->started();
      const auto t0 = steady::now();
      r.code = s.abort_backup();
      r.elapsed = steady::now() - t0;
      r.returned = true;
      r.op_done_at_return = watch->done();
      break;
    }
    case abort_kind::async_abort: {
      r.after_start = watch->started();
      const auto t0 = steady::now();
      auto op = s.async_abort_backup(use_async_op);
      r.returned =
          op.wait_for(std::chrono::duration_cast<std::chrono::milliseconds>(abort_bound + 1s));
      r.elapsed = steady::now() - t0;
      r.op_done_at_return = watch->done();
      r.code = op.query_status();
      break;
    }
    case abort_kind::cancel_op: {
      auto op = watch->handle(steady::now() + operation_bound);
      r.after_start = static_cast<bool>(op);
      r.code = op ? op.cancel() : make_error_code(errc::unexpected);
      r.returned = true;
      break;
    }
  }
  *out = r;
}

// ---------------------------------------------------------------------------------------------
// One session, start to release, with every check.

std::string name_of(const std::error_code& ec) { return ec ? ec.message() : "S_OK"; }

class session_run {
 public:
  session_run(stress_env& env, const run_plan& plan, std::string tag, bool component_mode)
      : env_(env), plan_(plan), tag_(std::move(tag)), component_mode_(component_mode) {}

  void execute() {
    register_writers();
    if (prepare()) race_and_check();
    regs_.clear();
    if (!set_.is_null()) env_.provider->forget(set_);
  }

 private:
  /// Records a broken check. `kind` groups the report; `detail` is appended to it.
  void violation(const std::string& kind, const std::string& detail = {}) {
    env_.bad.add(kind, tag_ + " [run seed " + std::to_string(plan_.run_seed) + "; " +
                           plan_.describe() + "]" + (detail.empty() ? "" : ": " + detail));
  }
  /// Records a violation and returns false (ends the calling step).
  bool fail(const std::string& kind, const std::string& detail = {}) {
    violation(kind, detail);
    return false;
  }
  void hang(const std::string& what) {
    violation("HANG: " + what);
    env_.fatal.store(true);
  }

  void register_writers() {
    for (std::size_t i = 0; i < plan_.writers.size(); ++i) {
      auto w = std::make_shared<stress_writer>(tag_ + "-w" + std::to_string(i), plan_.writers[i],
                                               env_.later, env_.seq);
      std::error_code ec;
      regs_.push_back(env_.eng.register_writer(w, ec));
      if (ec) violation("register_writer failed", name_of(ec));
      writers_.push_back(std::move(w));
    }
    env_.stats.writers += writers_.size();
  }

  bool wait(async_op& op, const char* what, errc expected) {
    if (!op.wait_for(std::chrono::duration_cast<std::chrono::milliseconds>(operation_bound))) {
      hang(std::string(what) + " did not complete");
      return false;
    }
    if (op.query_status() != expected) {
      violation(std::string(what) + " did not finish", name_of(op.query_status()));
      return false;
    }
    return true;
  }

  /// Until `stop`: the reports and, now and then, GatherWriterStatus, which must complete
  /// (finished, or refused in a state that does not allow it) within the operation bound.
  void read_while_racing(backup_session s, const std::atomic<bool>& stop,
                         const std::atomic<bool>& go) {
    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
    for (int round = 0; !stop.load(std::memory_order_acquire); ++round) {
      for (const auto& report : s.phase_reports()) {
        // Identify goes to every registered writer; every later event to this session's own.
        if (report.event != E::identify && report.results.size() > writers_.size()) {
          violation("a phase report lists more writers than the session has",
                    std::to_string(report.results.size()));
        }
      }
      if (round % 8 != 0) {
        std::this_thread::yield();
        continue;
      }
      auto op = s.async_gather_writer_status(use_async_op);
      if (!op.wait_for(std::chrono::duration_cast<std::chrono::milliseconds>(operation_bound))) {
        hang("GatherWriterStatus racing the abort did not complete");
        return;
      }
      const auto status = op.query_status();
      if (status != errc::async_finished && status != errc::bad_state) {
        violation("GatherWriterStatus racing the abort failed", name_of(status));
      }
    }
  }

  /// After the drain every writer of the session has a status, and none still waits for Thaw
  /// unless it did not answer in time (the abort's answers are applied when the status is next
  /// read, decisions §27; a window that closed keeps its failure, decisions §31).
  void check_status_after_abort() {
    auto op = session_.async_gather_writer_status(use_async_op);
    if (!wait(op, "GatherWriterStatus after the abort", errc::async_finished)) return;
    const auto statuses = session_.get_writer_status();
    for (const auto& w : writers_) {
      const auto it = std::find_if(statuses.begin(), statuses.end(), [&](const writer_status& st) {
        return st.instance_id == w->identity().instance_id;
      });
      if (it == statuses.end()) {
        violation("a writer has no status after the abort", w->identity().name);
      } else if (it->state == writer_state::waiting_for_thaw &&
                 it->failure != errc::writer_not_responding) {
        // Only a writer that did not answer in time keeps its last state (spec §6.2 CHOICE).
        violation("a writer still waits for Thaw after the abort",
                  w->identity().name + " (got Abort: " + (w->got(E::abort) ? "yes" : "no") +
                      ", got Thaw: " + (w->got(E::thaw) ? "yes" : "no") +
                      ", failure: " + name_of(it->failure) + ")");
      }
    }
  }

  bool prepare() {
    session_ = env_.eng.create_backup_session();
    if (auto ec = session_.initialize_for_backup()) {
      return fail("initialize_for_backup failed", name_of(ec));
    }
    if (auto ec = session_.set_backup_state(component_mode_, false, backup_type::full)) {
      return fail("set_backup_state failed", name_of(ec));
    }
    auto gather = session_.async_gather_writer_metadata(use_async_op);
    if (!wait(gather, "GatherWriterMetadata", errc::async_finished)) return false;
    const auto metadata = session_.get_writer_metadata();
    for (const auto& w : writers_) {
      const bool seen = std::any_of(metadata.begin(), metadata.end(), [&](const auto& m) {
        return m.identity.instance_id == w->identity().instance_id;
      });
      if (!seen) return fail("a writer is missing from the metadata", w->identity().name);
      if (!component_mode_) continue;
      if (auto ec = session_.add_component(w->identity().instance_id, w->identity().class_id,
                                           component_type::file_group, "", w->component())) {
        return fail("add_component failed", name_of(ec));
      }
    }
    if (auto ec = session_.start_snapshot_set(set_)) {
      return fail("start_snapshot_set failed", name_of(ec));
    }
    env_.provider->plan(set_, plan_.provider);
    for (std::size_t v = 0; v < plan_.volumes; ++v) {
      snapshot_id snap;
      const auto volume = "/stress/" + tag_ + "/vol" + std::to_string(v);
      if (auto ec = session_.add_to_snapshot_set(volume, provider_id{}, snap)) {
        return fail("add_to_snapshot_set failed", volume + ": " + name_of(ec));
      }
      snapshots_.push_back(snap);
    }
    auto prep = session_.async_prepare_for_backup(use_async_op);
    return wait(prep, "PrepareForBackup", errc::async_finished);
  }

  void race_and_check() {
    auto watch = std::make_shared<op_watch>(plan_.callback_token);
    auto go = std::make_shared<std::atomic<bool>>(false);
    std::vector<aborter_result> results(plan_.aborters.size());
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < plan_.aborters.size(); ++i) {
      threads.emplace_back(run_aborter, session_, plan_.aborters[i], watch, go, &results[i]);
    }
    // A reader races the abort too: the abort's writer leg may end on a shard thread while
    // the strand or the requester reads what it records (decisions §30).
    std::atomic<bool> stop_reading{false};
    std::thread reader(
        [this, s = session_, &stop_reading, go] { read_while_racing(s, stop_reading, *go); });
    go->store(true, std::memory_order_release);
    if (plan_.callback_token) {
      session_.async_do_snapshot_set([watch](std::error_code ec) { watch->on_callback(ec); });
      watch->publish(async_op{});
    } else {
      watch->publish(session_.async_do_snapshot_set(use_async_op));
    }
    for (auto& t : threads) t.join();
    stop_reading.store(true, std::memory_order_release);
    reader.join();

    // (a) The operation completes, exactly once.
    if (!watch->wait_until(steady::now() + operation_bound)) {
      hang("DoSnapshotSet did not complete");
      return;
    }
    const auto status = watch->status();
    check_outcome(status, results);

    // End the backup as a requester would: BackupComplete after success, otherwise (and
    // sometimes after success) AbortBackup, which is due after a cancel or a failure.
    const bool finished = status == errc::async_finished;
    const auto state = session_.state();
    if (finished && state == session_state::snapshotted) check_snapshots_readable();
    if (finished && state == session_state::snapshotted && plan_.backup_complete_on_success) {
      auto bc = session_.async_backup_complete(use_async_op);
      if (!wait(bc, "BackupComplete", errc::async_finished)) return;
      backup_completed_ = true;
    } else {
      const auto t0 = steady::now();
      const auto ec = session_.abort_backup();
      const auto took = steady::now() - t0;
      env_.stats.note_abort_latency(took);
      if (ec) violation("final abort_backup() did not return S_OK", name_of(ec));
      if (took > abort_bound) violation("(d) final abort_backup() too slow", ms(took));
      check_status_after_abort();
      // (c) The abort is drained: a set that did not succeed left nothing behind.
      if (!finished && env_.provider->end_prepare_called(set_)) {
        const auto left = env_.provider->records_of(set_).size();
        if (left != 0) {
          violation("(c) records of a failed set left after abort_backup()",
                    std::to_string(left) + " record(s)");
        }
      }
    }
    const auto end_state = session_.state();
    if (end_state != session_state::completed && end_state != session_state::aborted) {
      std::ostringstream os;
      os << end_state;
      violation("session not completed or aborted at the end", os.str());
    }

    // Release: the last handle goes.
    session_ = backup_session{};
    const auto deadline = steady::now() + shutdown_bound;
    for (const auto& w : writers_) {
      if (!w->got(E::prepare_backup)) {
        violation("(b) a writer never got PrepareBackup", w->identity().name);
        continue;
      }
      if (!w->wait_for_shutdown(deadline)) {
        violation("(b) no BackupShutdown after release",
                  w->identity().name + " within " + ms(shutdown_bound));
      }
    }
    for (const auto& w : writers_) check_writer(*w, finished);
    if (!plan_.short_freeze_windows) check_phase_order();
    check_provider_after_release(finished);
    if (watch->completions() != 1) {
      violation("(a) DoSnapshotSet did not complete exactly once",
                std::to_string(watch->completions()) + " completions");
    }
    if (watch->status() != status) violation("(a) DoSnapshotSet status changed after completion");
  }

  static std::string ms(steady::duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
  }

  void check_outcome(const std::error_code& status, const std::vector<aborter_result>& results) {
    auto& st = env_.stats;
    ++st.runs;
    if (status == errc::async_finished) {
      ++st.finished;
    } else if (status == errc::async_cancelled) {
      ++st.cancelled;
    } else {
      ++st.failed;
      if (status == errc::bad_state) ++st.failed_bad_state;
    }
    // An abort that was called before DoSnapshotSet's initiating function returned may have
    // made DoSnapshotSet itself out of order: then VSS_E_BAD_STATE is its right answer, and a
    // later abort had nothing to cancel.
    bool any_abort_before_start = false;
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (plan_.aborters[i].kind != abort_kind::cancel_op && results[i].ran &&
          !results[i].after_start) {
        any_abort_before_start = true;
      }
    }
    const bool rejected_as_out_of_order = status == errc::bad_state && any_abort_before_start;
    for (std::size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      const auto kind = plan_.aborters[i].kind;
      const std::string who = std::string(to_cstr(kind)) + " #" + std::to_string(i);
      if (!r.ran) {
        violation("an aborter did not run", who);
        continue;
      }
      if (kind == abort_kind::cancel_op) {
        ++st.cancels_called;
        // IVssAsync::Cancel on a cancellable operation: S_OK, or its final status.
        if (r.code == errc::unexpected) violation("cancel() returned VSS_E_UNEXPECTED", who);
        if (r.code == errc::async_finished && status != errc::async_finished) {
          violation("cancel() said finished, the operation did not",
                    who + "; op " + name_of(status));
        }
        continue;
      }
      ++st.aborts_called;
      // (d) Bounded.
      if (!r.returned) {
        hang(who + " did not return within " + ms(abort_bound + 1s));
        continue;
      }
      st.note_abort_latency(r.elapsed);
      if (r.elapsed > abort_bound) violation("(d) abort too slow", who + " took " + ms(r.elapsed));
      const auto expected = kind == abort_kind::async_abort ? make_error_code(errc::async_finished)
                                                            : std::error_code{};
      if (r.code != expected) {
        violation("abort returned an unexpected code", who + ": " + name_of(r.code));
      }
      // (a) No lost cancellation: an abort that was called after DoSnapshotSet started and
      // returned before it completed must have cancelled it.
      if (r.after_start && !r.op_done_at_return && !rejected_as_out_of_order) {
        ++st.aborts_before_completion;
        if (status != errc::async_cancelled) {
          ++st.lost_cancellations;
          violation(
              "(a) lost cancellation: abort returned before DoSnapshotSet completed, "
              "which then did not end cancelled",
              who + "; op " + name_of(status));
        }
      }
    }
    // An abort requested after DoSnapshotSet's initiating function returned must stop it
    // (cancelled) or come too late (finished); reporting VSS_E_BAD_STATE means the abort
    // overtook a DoSnapshotSet the session had already accepted.
    if (status == errc::bad_state && !any_abort_before_start) {
      ++st.overtaken_starts;
      violation(
          "(a) DoSnapshotSet accepted, then aborted from another thread, reported "
          "VSS_E_BAD_STATE instead of VSS_S_ASYNC_CANCELLED");
    }
    if (status != errc::async_finished && status != errc::async_cancelled &&
        status != errc::bad_state) {
      violation("(a) DoSnapshotSet failed though no failure was injected", name_of(status));
    }
  }

  void check_snapshots_readable() {
    for (const auto& snap : snapshots_) {
      snapshot_properties props;
      if (auto ec = session_.get_snapshot_properties(snap, props)) {
        violation("(c) a snapshot of a created set is not readable",
                  snap.to_string() + ": " + name_of(ec));
      } else if (props.set_id != set_) {
        violation("(c) a snapshot belongs to another set", snap.to_string());
      }
    }
  }

  // (b) DESIGN.md §4 invariants 1, 2, 3 and 8 for one writer, from what it received.
  bool backup_completed_ = false;  // BackupComplete was called and finished in this run

  void check_writer(const stress_writer& w, bool set_created) {
    const auto& name = w.identity().name;
    std::vector<event_record> events = w.events();
    // Identify may come from any session's GatherWriterMetadata at any time.
    std::erase_if(events, [](const event_record& r) { return r.event == E::identify; });
    std::array<int, writer_event_count> n{};
    for (const auto& r : events) ++n[static_cast<std::size_t>(r.event)];
    auto count = [&](E e) { return n[static_cast<std::size_t>(e)]; };
    std::ostringstream seq;
    for (const auto& r : events) seq << " " << r.event;
    auto bad = [&](const std::string& kind, const std::string& detail = {}) {
      violation("(b) " + kind, name + (detail.empty() ? "" : " " + detail) + "; got" + seq.str());
    };

    if (count(E::prepare_backup) != 1) bad("PrepareBackup count != 1");
    if (!events.empty() && events.front().event != E::prepare_backup) {
      bad("an event before PrepareBackup");
    }
    for (E e : {E::prepare_snapshot, E::freeze, E::thaw, E::post_snapshot, E::abort,
                E::backup_complete}) {
      if (count(e) > 1) {
        std::ostringstream os;
        os << e << " x" << count(e);
        bad("an event delivered more than once", os.str());
      }
    }
    env_.stats.frozen += count(E::freeze) > 0;
    env_.stats.thawed += count(E::thaw) > 0;
    env_.stats.aborted += count(E::abort) > 0;
    env_.stats.aborted_after_thaw += count(E::thaw) > 0 && count(E::abort) > 0;
    if (count(E::freeze) > 0 && count(E::thaw) + count(E::abort) == 0) bad("left frozen");
    if (count(E::thaw) > 0 && count(E::freeze) == 0) bad("Thaw without Freeze");
    if (count(E::backup_complete) + count(E::abort) > 1) bad("both BackupComplete and Abort");
    // Invariant 2: exactly one end, except "neither" for a writer past PostSnapshot in a backup
    // abandoned before BackupComplete (spec §10.3 D).
    if (count(E::backup_complete) + count(E::abort) == 0 &&
        !(count(E::post_snapshot) > 0 && !backup_completed_)) {
      bad("neither BackupComplete nor Abort (invariant 2)");
    }
    if (count(E::backup_shutdown) != 1) {
      bad("BackupShutdown count != 1", std::to_string(count(E::backup_shutdown)));
    } else if (events.back().event != E::backup_shutdown) {
      bad("an event after BackupShutdown");
    }
    bool after_abort = false;
    bool after_freeze = false;
    for (const auto& r : events) {
      if (after_abort && r.event != E::backup_shutdown) {
        std::ostringstream os;
        os << r.event;
        bad("an event other than BackupShutdown after Abort", os.str());
      }
      if (r.event == E::thaw && !after_freeze) bad("Thaw before Freeze");
      if (r.event == E::abort) after_abort = true;
      if (r.event == E::freeze) after_freeze = true;
      // Invariant 8: every event is about this session's set. BackupShutdown names the set
      // only if it was created (spec §10.3).
      const auto expected = r.event != E::backup_shutdown || set_created ? set_ : snapshot_set_id{};
      if (r.set != expected) {
        std::ostringstream os;
        os << r.event << " carried " << r.set << ", expected " << expected;
        bad("an event carried the wrong snapshot set (invariant 8)", os.str());
      }
    }
  }

  /// Freeze goes level by level (front-end, back-end, system), Thaw in reverse, between
  /// PrepareSnapshot and PostSnapshot (spec §5.4, §10.1). Checked from the global order of
  /// handler entries, so only in runs where no freeze window can close early (a timed-out
  /// slot settles before its handler may even run).
  void check_phase_order() {
    // Phases in pipeline order; each phase's handler entries must all precede the next's.
    std::vector<std::vector<std::uint64_t>> phases(8);
    auto group = [](application_level l) {
      return l == application_level::back_end                                      ? 1
             : l == application_level::system || l == application_level::system_rm ? 2
                                                                                   : 0;
    };
    for (const auto& w : writers_) {
      const int g = group(w->identity().level);
      for (const auto& r : w->events()) {
        switch (r.event) {
          case E::prepare_snapshot:
            phases[0].push_back(r.seq);
            break;
          case E::freeze:
            phases[1 + g].push_back(r.seq);
            break;
          case E::thaw:
            phases[6 - g].push_back(r.seq);
            break;
          case E::post_snapshot:
            phases[7].push_back(r.seq);
            break;
          default:
            break;
        }
      }
    }
    static const char* names[] = {"PrepareSnapshot", "Freeze(front-end)", "Freeze(back-end)",
                                  "Freeze(system)",  "Thaw(system)",      "Thaw(back-end)",
                                  "Thaw(front-end)", "PostSnapshot"};
    int prev = -1;
    for (int p = 0; p < 8; ++p) {
      if (phases[p].empty()) continue;
      if (prev >= 0) {
        const auto last_prev = *std::max_element(phases[prev].begin(), phases[prev].end());
        const auto first_this = *std::min_element(phases[p].begin(), phases[p].end());
        if (first_this < last_prev) {
          violation("(b) phase order: " + std::string(names[p]) + " before the last " +
                    names[prev]);
        }
      }
      prev = p;
    }
  }

  // (c) After release nothing of the set is left, except the BeginPrepare state of a set that
  // never reached DoSnapshotSet, which the provider discards with the next set (spec §3.6).
  void check_provider_after_release(bool set_created) {
    const auto left = env_.provider->records_of(set_);
    if (left.empty()) return;
    if (!set_created && !env_.provider->end_prepare_called(set_) &&
        std::all_of(left.begin(), left.end(), [](const snapshot_properties& p) {
          return p.state == snapshot_state::preparing;
        })) {
      return;
    }
    std::ostringstream os;
    os << left.size() << " record(s), first in state " << left.front().state;
    violation(set_created ? "(c) records of a created set left after release"
                          : "(c) records of a failed set left after release",
              os.str());
  }

  stress_env& env_;
  const run_plan& plan_;
  const std::string tag_;
  const bool component_mode_;
  std::vector<std::shared_ptr<stress_writer>> writers_;
  std::vector<writer_registration> regs_;
  backup_session session_;
  snapshot_set_id set_;
  std::vector<snapshot_id> snapshots_;
};

// ---------------------------------------------------------------------------------------------
// The fixture: one engine_host (2 io threads, real steady clock) for the whole test.

class AbortRaceStress : public ::testing::Test {
 protected:
  void SetUp() override {
    limits_ = read_limits();
    later_ = std::make_shared<delay_line>(2);
    host_ = std::make_unique<engine_host>(host_options{.io_threads = 2, .blocking_threads = 2});
    provider_ = std::make_shared<stress_provider>(later_);
    ASSERT_FALSE(host_->engine().register_provider(provider_));
    std::printf("[stress] seed=%llu (replay: OPENVSS_STRESS_SEED=%llu) limits: %llu runs, %llds\n",
                static_cast<unsigned long long>(limits_.seed),
                static_cast<unsigned long long>(limits_.seed),
                static_cast<unsigned long long>(limits_.iterations),
                static_cast<long long>(limits_.budget.count()));
    std::fflush(stdout);  // before any sanitizer report, which goes to stderr
  }

  void TearDown() override {
    // Late answers first (while the engine still runs), then the engine and its threads.
    later_->shutdown();
    host_.reset();
  }

  stress_env env() {
    return stress_env{host_->engine(), provider_, later_, seq_, stats_, bad_, fatal_};
  }

  void report(const char* test, steady::duration took) {
    const auto secs = std::chrono::duration<double>(took).count();
    std::printf("[stress] %s: %s in %.1fs (seed=%llu)\n", test, stats_.summary().c_str(), secs,
                static_cast<unsigned long long>(limits_.seed));
    std::fflush(stdout);
    RecordProperty("seed", std::to_string(limits_.seed));
    RecordProperty("runs", std::to_string(stats_.runs.load()));
    RecordProperty("lost_cancellations", std::to_string(stats_.lost_cancellations.load()));
  }

  stress_limits limits_;
  std::shared_ptr<delay_line> later_;
  std::unique_ptr<engine_host> host_;
  std::shared_ptr<stress_provider> provider_;
  std::shared_ptr<std::atomic<std::uint64_t>> seq_ =
      std::make_shared<std::atomic<std::uint64_t>>(0);
  stress_stats stats_;
  violations bad_;
  std::atomic<bool> fatal_{false};
};

TEST_F(AbortRaceStress, AbortRacingDoSnapshotSetKeepsEveryInvariant) {
  const auto t0 = steady::now();
  const auto stop_at = t0 + limits_.budget;
  auto e = env();
  std::uint64_t run = limits_.first_run;
  for (std::uint64_t done = 0; done < limits_.iterations && !fatal_; ++done, ++run) {
    if (done > 0 && steady::now() >= stop_at) break;  // at least one run, whatever the budget
    const auto plan = draw_plan(mix(limits_.seed ^ mix(run)), 64);
    if (limits_.verbose) {
      std::printf("[stress] r%llu: %s\n", static_cast<unsigned long long>(run),
                  plan.describe().c_str());
      std::fflush(stdout);
    }
    session_run(e, plan, "r" + std::to_string(run), /*component_mode=*/false).execute();
  }
  report("single session", steady::now() - t0);
  EXPECT_EQ(stats_.lost_cancellations, 0u);
  EXPECT_EQ(bad_.count(), 0u) << "replay with OPENVSS_STRESS_SEED=" << limits_.seed
                              << " (OPENVSS_STRESS_RUN=<n> for run rn alone)\n"
                              << bad_.report();
  EXPECT_GT(stats_.runs, 0u);
}

TEST_F(AbortRaceStress, ConcurrentSessionsEachRacingTheirOwnAbortStayIsolated) {
  // Up to 16 sessions at once, with disjoint writers (component mode) and volumes, each
  // racing its own aborts; the iteration limit counts sessions.
  const auto t0 = steady::now();
  const auto stop_at = t0 + limits_.budget;
  auto e = env();
  std::uint64_t sessions = 0;
  for (std::uint64_t round = limits_.first_run; sessions < limits_.iterations && !fatal_; ++round) {
    if (sessions > 0 && steady::now() >= stop_at) break;
    rng r(mix(limits_.seed ^ mix(round) ^ 0x5e55));
    const auto m = limits_.single_run
                       ? r.between(2, 16)
                       : std::min<std::uint64_t>(r.between(2, 16), limits_.iterations - sessions);
    std::vector<run_plan> plans;
    for (std::uint64_t k = 0; k < m; ++k) plans.push_back(draw_plan(r.next(), 16));
    if (limits_.verbose) {
      std::printf("[stress] c%llu: %llu sessions\n", static_cast<unsigned long long>(round),
                  static_cast<unsigned long long>(m));
      std::fflush(stdout);
    }
    std::vector<std::thread> drivers;
    for (std::uint64_t k = 0; k < m; ++k) {
      drivers.emplace_back([&, k] {
        session_run(e, plans[k], "c" + std::to_string(round) + "s" + std::to_string(k),
                    /*component_mode=*/true)
            .execute();
      });
    }
    for (auto& d : drivers) d.join();
    sessions += m;
  }
  report("concurrent sessions", steady::now() - t0);
  EXPECT_EQ(stats_.lost_cancellations, 0u);
  EXPECT_EQ(bad_.count(), 0u) << "replay with OPENVSS_STRESS_SEED=" << limits_.seed
                              << " (OPENVSS_STRESS_RUN=<n> for round cn alone)\n"
                              << bad_.report();
  EXPECT_GT(stats_.runs, 0u);
}

}  // namespace
}  // namespace vss::test
