// example_backup — the README's "main job": two backups of /srv/data by eight in-process
// writers, on an embedded engine (vss::engine_host with two io threads and a
// vss::memory_provider).
//
// Backup 1 is a full backup that succeeds. Backup 2 runs the same way up to DoSnapshotSet, and
// another thread calls AbortBackup as soon as every writer has received Freeze. The program
// prints each requester phase as it happens, the snapshot's properties, one event timeline per
// writer and backup, and the final writer states, then checks the invariants it relies on
// (DESIGN.md §4) and exits 0 only if all of them hold.
//
// Usage: openvss-example-backup [--quiet] [--help]. The walkthrough of the output is in
// docs/example-backup.md.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "vss/vss.hpp"

namespace {

using steady = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;

// The longest any single step may take before the program gives up on it and reports it. A
// normal run takes a few tens of milliseconds in all.
constexpr milliseconds step_bound{3000};

// How often a writer that holds its freeze checks whether the engine still waits for it.
constexpr microseconds hold_poll_interval{200};

const steady::time_point program_start = steady::now();

std::int64_t us_between(steady::time_point from, steady::time_point to) {
  return duration_cast<microseconds>(to - from).count();
}

std::int64_t since_start_us(steady::time_point t = steady::now()) {
  return us_between(program_start, t);
}

// ---------------------------------------------------------------------------------------------
// Terminal output.

struct style {
  bool color = false;
  std::string_view bold() const { return color ? "\033[1m" : ""; }
  std::string_view dim() const { return color ? "\033[2m" : ""; }
  std::string_view green() const { return color ? "\033[32m" : ""; }
  std::string_view red() const { return color ? "\033[31m" : ""; }
  std::string_view yellow() const { return color ? "\033[33m" : ""; }
  std::string_view cyan() const { return color ? "\033[36m" : ""; }
  std::string_view reset() const { return color ? "\033[0m" : ""; }
};

// "VSS_S_ASYNC_FINISHED", "S_OK", or the message of a code from another category.
std::string symbol_of(const std::error_code& ec) {
  if (!ec) return "S_OK";
  if (ec.category() == vss::vss_category()) {
    const auto s = vss::symbol(static_cast<vss::errc>(ec.value()));
    if (!s.empty()) return std::string(s);
  }
  return ec.message();
}

std::string_view level_name(vss::application_level level) {
  switch (level) {
    case vss::application_level::front_end:
      return "front-end";
    case vss::application_level::back_end:
      return "back-end";
    case vss::application_level::system:
      return "system";
    default:
      return vss::to_string(level);
  }
}

std::string pad(std::string_view s, std::size_t width) {
  std::string out(s);
  if (out.size() < width) out.append(width - out.size(), ' ');
  return out;
}

std::string format_system_time(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  std::ostringstream os;
  os << std::put_time(&tm, "%Y-%m-%d %H:%M:%S");
  return os.str();
}

// ---------------------------------------------------------------------------------------------
// The shared timeline every writer records its events into.

struct event_record {
  int backup = 0;  // 1 or 2
  std::string writer;
  vss::application_level level = vss::application_level::front_end;
  vss::writer_event event = vss::writer_event::identify;
  std::int64_t at_us = 0;  // since program start
  std::thread::id thread;  // the thread that ran the handler
};

class timeline {
 public:
  /// Events recorded from now on belong to backup `b`.
  void set_backup(int b) {
    std::lock_guard lock(mutex_);
    backup_ = b;
  }

  /// Called by a writer at the start of each handler, on the handler's thread.
  void record(const vss::writer_identity& who, vss::writer_event e) {
    const auto now = since_start_us();
    {
      std::lock_guard lock(mutex_);
      events_.push_back({backup_, who.name, who.level, e, now, std::this_thread::get_id()});
    }
    changed_.notify_all();
  }

  std::vector<event_record> events(int backup) const {
    std::lock_guard lock(mutex_);
    std::vector<event_record> out;
    for (const auto& r : events_) {
      if (r.backup == backup) out.push_back(r);
    }
    return out;
  }

  /// Number of distinct writers that received `e` in `backup`.
  std::size_t writers_with(int backup, vss::writer_event e) const {
    std::lock_guard lock(mutex_);
    return writers_with_locked(backup, e);
  }

  /// Waits until `n` distinct writers received `e` in `backup`, at most `bound`.
  bool wait_for_writers(int backup, vss::writer_event e, std::size_t n, milliseconds bound) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, bound, [&] { return writers_with_locked(backup, e) >= n; });
  }

 private:
  std::size_t writers_with_locked(int backup, vss::writer_event e) const {
    std::vector<std::string_view> seen;
    for (const auto& r : events_) {
      if (r.backup != backup || r.event != e) continue;
      if (std::find(seen.begin(), seen.end(), r.writer) == seen.end()) seen.push_back(r.writer);
    }
    return seen.size();
  }

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  int backup_ = 0;
  std::vector<event_record> events_;
};

// ---------------------------------------------------------------------------------------------
// The writers.

/// A writer's own thread with a small timer queue: each task runs at its due time. The
/// asynchronous writers answer the engine from here, never from the engine's threads.
class worker_thread {
 public:
  worker_thread() : thread_([this] { run(); }) {}
  ~worker_thread() { stop(); }
  worker_thread(const worker_thread&) = delete;
  worker_thread& operator=(const worker_thread&) = delete;

  void after(microseconds delay, std::function<void()> task) {
    {
      std::lock_guard lock(mutex_);
      tasks_.emplace(steady::now() + delay, std::move(task));
    }
    wake_.notify_one();
  }

  /// Runs what is still queued without waiting for its due time, then joins. Idempotent.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (tasks_.empty()) {
        if (stopping_) return;
        wake_.wait(lock);
        continue;
      }
      auto first = tasks_.begin();
      if (!stopping_ && first->first > steady::now()) {
        wake_.wait_until(lock, first->first);
        continue;
      }
      auto task = std::move(first->second);
      tasks_.erase(first);
      lock.unlock();
      task();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::multimap<steady::time_point, std::function<void()>> tasks_;  // FIFO for equal times
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members it uses exist
};

struct writer_profile {
  std::string name;
  vss::application_level level = vss::application_level::front_end;
  /// Zero: every event is answered inline, on the engine's thread. Otherwise the writer
  /// answers from its own thread after this delay (OnAbort: at once, but still from there).
  microseconds answer_delay{0};
  /// Time spent "flushing" in OnFreeze before answering (asynchronous writers only).
  microseconds freeze_hold{0};
};

class demo_writer final : public vss::writer {
 public:
  demo_writer(writer_profile profile, timeline& events, const std::atomic<bool>& hold_for_abort)
      : vss::writer(identity_of(profile)),
        profile_(std::move(profile)),
        events_(events),
        hold_for_abort_(hold_for_abort) {
    if (asynchronous()) worker_ = std::make_unique<worker_thread>();
  }

  const writer_profile& profile() const { return profile_; }
  bool asynchronous() const {
    return profile_.answer_delay.count() > 0 || profile_.freeze_hold.count() > 0;
  }

  /// Answers whatever is still pending and joins the writer's thread.
  void stop() {
    if (worker_) worker_->stop();
  }

  void on_identify(vss::writer_context ctx) override {
    if (auto* md = ctx.metadata()) {
      vss::component_info c;
      c.type = vss::component_type::file_group;
      c.name = profile_.name + "-data";
      c.caption = "data of " + profile_.name;
      c.files = {"/srv/data/" + profile_.name + "/*"};
      c.volumes = {"/srv/data"};
      md->components.push_back(std::move(c));
    }
    answer(std::move(ctx));
  }
  void on_prepare_backup(vss::writer_context ctx) override { answer(std::move(ctx)); }
  void on_prepare_snapshot(vss::writer_context ctx) override { answer(std::move(ctx)); }
  void on_freeze(vss::writer_context ctx) override { answer(std::move(ctx)); }
  void on_thaw(vss::writer_context ctx) override { answer(std::move(ctx)); }
  void on_post_snapshot(vss::writer_context ctx) override { answer(std::move(ctx)); }
  void on_abort(vss::writer_context ctx) override { answer(std::move(ctx)); }
  void on_backup_complete(vss::writer_context ctx) override { answer(std::move(ctx)); }
  void on_backup_shutdown(vss::writer_context ctx) override { answer(std::move(ctx)); }

 private:
  static vss::writer_identity identity_of(const writer_profile& p) {
    vss::writer_identity id;
    id.name = p.name;
    id.level = p.level;
    id.usage = vss::usage_type::user_data;
    return id;
  }

  void answer(vss::writer_context ctx) {
    const auto event = ctx.event();
    events_.record(identity(), event);
    if (!worker_) {
      ctx.complete();
      return;
    }
    auto held = std::make_shared<vss::writer_context>(std::move(ctx));
    if (event == vss::writer_event::freeze && profile_.freeze_hold.count() > 0) {
      // When told to, hold the freeze until the engine stops waiting for it (the abort
      // supersedes it); the bound only keeps a misbehaving run finite.
      const auto hold =
          hold_for_abort_.load() ? duration_cast<microseconds>(step_bound) : profile_.freeze_hold;
      hold_freeze(held, steady::now() + hold);
      return;
    }
    const auto delay =
        event == vss::writer_event::abort ? microseconds::zero() : profile_.answer_delay;
    worker_->after(delay, [held] { held->complete(); });
  }

  void hold_freeze(std::shared_ptr<vss::writer_context> held, steady::time_point until) {
    worker_->after(hold_poll_interval, [this, held, until] {
      // After an abort the answer is ignored, so stop "flushing" as soon as nobody waits.
      if (held->abandoned() || steady::now() >= until) {
        held->complete();
        return;
      }
      hold_freeze(held, until);
    });
  }

  writer_profile profile_;
  timeline& events_;
  const std::atomic<bool>& hold_for_abort_;
  std::unique_ptr<worker_thread> worker_;
};

std::vector<writer_profile> writer_profiles() {
  using vss::application_level;
  auto p = [](std::string name, application_level level, int delay_us, int hold_us) {
    writer_profile w;
    w.name = std::move(name);
    w.level = level;
    w.answer_delay = microseconds(delay_us);
    w.freeze_hold = microseconds(hold_us);
    return w;
  };
  return {
      p("web-portal", application_level::front_end, 0, 0),
      p("web-api", application_level::front_end, 2000, 0),
      p("app-billing", application_level::front_end, 3000, 0),
      p("db-orders", application_level::back_end, 4000, 0),
      p("db-users", application_level::back_end, 0, 0),
      p("queue-events", application_level::back_end, 1500, 0),
      p("journal", application_level::system, 1000, 5000),
      p("catalog", application_level::system, 0, 0),
  };
}

// ---------------------------------------------------------------------------------------------
// The requester.

class requester {
 public:
  requester(bool quiet, style st) : quiet_(quiet), st_(st) {}

  int run();

 private:
  // Verbose output goes here; with --quiet it goes nowhere.
  std::ostream& out() { return quiet_ ? null_ : std::cout; }

  void heading(std::string_view title) {
    out() << '\n' << st_.bold() << st_.cyan() << "== " << title << st_.reset() << '\n';
  }

  // One requester phase: when it ended, its name, its result, and a note.
  void phase(std::string_view name, const std::error_code& ec, std::string_view note = {}) {
    const bool good = vss::succeeded(ec);
    out() << "  " << st_.dim() << "[+" << std::setw(7) << since_start_us() << " µs]" << st_.reset()
          << ' ' << pad(name, 22) << ' ' << (good ? st_.green() : st_.red())
          << (note.empty() ? symbol_of(ec) : pad(symbol_of(ec), 22)) << st_.reset();
    if (!note.empty()) out() << ' ' << note;
    out() << '\n';
  }

  // A synchronous call that must return S_OK.
  void sync_step(std::string_view name, const std::error_code& ec, std::string_view note = {}) {
    phase(name, ec, note);
    if (ec) fail(std::string(name) + " returned " + symbol_of(ec));
  }

  // An asynchronous call: IVssAsync::Wait (bounded), then QueryStatus.
  std::error_code wait_step(std::string_view name, const vss::async_op& op,
                            vss::errc expected = vss::errc::async_finished) {
    const auto start = steady::now();
    op.wait(step_bound);
    const auto status = op.query_status();
    std::ostringstream note;
    note << st_.dim() << us_between(start, steady::now()) << " µs" << st_.reset();
    phase(name, status, note.str());
    if (status != expected) {
      fail(std::string(name) + " ended with " + symbol_of(status) + ", expected " +
           std::string(vss::symbol(expected)));
    }
    return status;
  }

  void fail(std::string what) { failures_.push_back(std::move(what)); }
  // `observed` is shown only when the check fails.
  void check(bool ok, std::string what, std::string observed = {}) {
    if (!ok && !observed.empty()) what += " (got " + observed + ")";
    checks_.emplace_back(ok, std::move(what));
  }

  void print_writers(const vss::backup_session& s);
  void print_reports(const vss::backup_session& s, std::size_t from);
  void print_snapshot(const vss::snapshot_properties& p);
  void tally_status(const std::vector<vss::writer_status>& status);
  void print_status(const std::vector<vss::writer_status>& status);
  void print_timeline(int backup, steady::time_point backup_start);
  void check_timeline(int backup);
  void release_and_wait(vss::backup_session& s, int backup);
  void backup_1(vss::engine& eng);
  void backup_2(vss::engine& eng);
  int summary();

  bool quiet_;
  style st_;
  std::ostream null_{nullptr};
  timeline events_;
  std::atomic<bool> hold_for_abort_{false};
  std::vector<std::shared_ptr<demo_writer>> writers_;
  std::shared_ptr<vss::memory_provider> memory_;
  std::vector<std::string> failures_;
  std::vector<std::pair<bool, std::string>> checks_;

  // What the summary reports.
  steady::time_point backup_start_[3];
  vss::snapshot_set_id set_[3];
  std::error_code snapshot_result_[3];
  std::vector<vss::writer_status> final_status_[3];
  vss::consistency_grade grade_1_ = vss::consistency_grade::none;
  std::optional<std::int64_t> abort_us_;
  std::optional<std::int64_t> cancel_seen_us_;
  std::error_code abort_result_ = vss::errc::unexpected;
  std::size_t aborted_set_records_ = 0;
};

void requester::print_writers(const vss::backup_session& s) {
  for (const auto& md : s.get_writer_metadata()) {
    std::string mode = "answers inline";
    for (const auto& w : writers_) {
      if (w->identity().instance_id != md.identity.instance_id || !w->asynchronous()) continue;
      const auto& p = w->profile();
      std::ostringstream m;
      m << "answers from its own thread after " << p.answer_delay.count() / 1000.0 << " ms";
      if (p.freeze_hold.count() > 0) {
        m << "; holds Freeze " << p.freeze_hold.count() / 1000.0 << " ms (backup 2: until aborted)";
      }
      mode = m.str();
    }
    out() << "      " << pad(md.identity.name, 13) << pad(level_name(md.identity.level), 10)
          << pad(md.components.empty() || md.components.front().files.empty()
                     ? ""
                     : md.components.front().files.front(),
                 26)
          << st_.dim() << mode << st_.reset() << '\n';
  }
}

void requester::print_reports(const vss::backup_session& s, std::size_t from) {
  const auto reports = s.phase_reports();
  for (std::size_t i = from; i < reports.size(); ++i) {
    const auto& r = reports[i];
    std::ostringstream counts;
    for (auto o : {vss::writer_outcome::completed, vss::writer_outcome::failed,
                   vss::writer_outcome::timed_out, vss::writer_outcome::abandoned,
                   vss::writer_outcome::not_delivered}) {
      if (const auto n = r.count(o)) counts << n << ' ' << vss::to_string(o) << "  ";
    }
    // Freeze and Thaw go level by level: name the writers of each delivery.
    std::string levels;
    if (r.event == vss::writer_event::freeze || r.event == vss::writer_event::thaw) {
      for (const auto& res : r.results) levels += (levels.empty() ? "" : " ") + res.name;
    }
    out() << "      " << st_.dim() << "engine report: " << st_.reset()
          << pad(vss::to_string(r.event), 16) << pad(counts.str(), 28) << std::setw(6)
          << duration_cast<microseconds>(r.settled - r.started).count() << " µs";
    if (!levels.empty()) out() << "  " << st_.dim() << levels << st_.reset();
    out() << '\n';
  }
}

void requester::print_snapshot(const vss::snapshot_properties& p) {
  auto row = [&](std::string_view k, const auto& v) {
    out() << "      " << pad(k, 18) << v << '\n';
  };
  row("snapshot id", p.id);
  row("snapshot set", p.set_id);
  row("original volume", p.original_volume);
  row("device", p.device);
  row("snapshots in set", p.snapshots_count);
  row("state", vss::to_string(p.state));
  std::ostringstream attrs;
  attrs << "0x" << std::hex << std::setw(8) << std::setfill('0') << p.attributes << " ("
        << static_cast<vss::snapshot_context>(p.attributes) << ')';
  row("attributes", attrs.str());
  row("provider", p.provider);
  row("created", format_system_time(p.created));
  row("machine", p.originating_machine);
}

void requester::tally_status(const std::vector<vss::writer_status>& status) {
  std::map<std::string_view, int> by_state;
  for (const auto& w : status) ++by_state[vss::to_string(w.state)];
  out() << "      " << status.size() << " writers:";
  for (const auto& [state, n] : by_state) out() << ' ' << n << "x " << state;
  out() << '\n';
}

void requester::print_status(const std::vector<vss::writer_status>& status) {
  for (const auto& w : status) {
    const bool bad = vss::is_failed(w.state) || w.failure;
    out() << "    " << pad(w.name, 13) << pad(level_name(w.level), 10)
          << (bad ? st_.red() : st_.green()) << pad(vss::to_string(w.state), 36) << st_.reset()
          << (w.failure ? w.failure.message() : "S_OK");
    if (!w.message.empty()) out() << " — \"" << w.message << '"';
    out() << '\n';
  }
}

void requester::print_timeline(int backup, steady::time_point backup_start) {
  const auto records = events_.events(backup);
  const auto base = since_start_us(backup_start);
  out() << "  " << st_.bold() << "Backup " << backup << st_.reset() << st_.dim()
        << "  (µs since the backup started, at +" << base << " µs)" << st_.reset() << '\n';
  std::map<std::thread::id, int> thread_label;
  std::map<int, int> per_thread;
  for (const auto& r : records) {
    const auto [it, added] =
        thread_label.emplace(r.thread, static_cast<int>(thread_label.size()) + 1);
    ++per_thread[it->second];
  }
  for (const auto& w : writers_) {
    const auto& id = w->identity();
    out() << "    " << st_.bold() << pad(id.name, 13) << st_.reset()
          << pad("[" + std::string(level_name(id.level)) + "]", 11);
    for (const auto& r : records) {
      if (r.writer != id.name) continue;
      const bool abort = r.event == vss::writer_event::abort;
      out() << ' ' << (abort ? st_.yellow() : "") << vss::to_string(r.event) << "(+"
            << r.at_us - base << "µs)" << (abort ? st_.reset() : "");
    }
    out() << '\n';
  }
  out() << "    " << st_.dim() << records.size() << " handler calls ran on " << thread_label.size()
        << " engine thread(s):";
  for (const auto& [label, n] : per_thread) out() << " T" << label << "=" << n;
  out() << st_.reset() << '\n';
}

void requester::check_timeline(int backup) {
  const auto records = events_.events(backup);
  bool freeze_ended = true;
  bool quiet_after_abort = true;
  bool shutdown_for_all = true;
  std::string first_bad_freeze;
  std::string first_bad_abort;
  for (const auto& w : writers_) {
    const auto& name = w->identity().name;
    std::vector<vss::writer_event> seen;
    for (const auto& r : records) {
      if (r.writer == name) seen.push_back(r.event);
    }
    using vss::writer_event;
    // Invariant 1: a writer that got Freeze gets Thaw or Abort after it.
    const auto freeze = std::find(seen.begin(), seen.end(), writer_event::freeze);
    if (freeze != seen.end() && std::find_if(freeze, seen.end(), [](writer_event e) {
                                  return e == writer_event::thaw || e == writer_event::abort;
                                }) == seen.end()) {
      freeze_ended = false;
      if (first_bad_freeze.empty()) first_bad_freeze = " (" + name + ")";
    }
    // Invariant 3: after Abort only BackupShutdown.
    const auto abort = std::find(seen.begin(), seen.end(), writer_event::abort);
    if (abort != seen.end() && std::any_of(std::next(abort), seen.end(), [](writer_event e) {
          return e != writer_event::backup_shutdown;
        })) {
      quiet_after_abort = false;
      if (first_bad_abort.empty()) first_bad_abort = " (" + name + ")";
    }
    // Invariant 2: BackupShutdown when the session is released.
    if (std::count(seen.begin(), seen.end(), writer_event::backup_shutdown) != 1) {
      shutdown_for_all = false;
    }
  }
  const auto tag = "backup " + std::to_string(backup) + ": ";
  check(freeze_ended, tag + "every writer that got Freeze got Thaw or Abort" + first_bad_freeze);
  check(quiet_after_abort,
        tag + "no writer got an event after Abort except BackupShutdown" + first_bad_abort);
  check(shutdown_for_all, tag + "every writer got exactly one BackupShutdown on release");
}

void requester::release_and_wait(vss::backup_session& s, int backup) {
  // async_release completes once every writer answered BackupShutdown and the session's
  // writers are free for the next backup.
  auto released = s.async_release(vss::use_async_op);
  released.wait(step_bound);
  const bool all = events_.wait_for_writers(backup, vss::writer_event::backup_shutdown,
                                            writers_.size(), step_bound);
  std::ostringstream note;
  note << events_.writers_with(backup, vss::writer_event::backup_shutdown) << " of "
       << writers_.size() << " writers got BackupShutdown";
  phase("Release", {}, note.str());
  if (!all) {
    fail("backup " + std::to_string(backup) + ": BackupShutdown did not reach every writer");
  }
}

void requester::backup_1(vss::engine& eng) {
  heading("Backup 1: full backup of /srv/data");
  backup_start_[1] = steady::now();
  events_.set_backup(1);
  vss::backup_session s = eng.create_backup_session();
  sync_step("InitializeForBackup", s.initialize_for_backup());
  sync_step("SetBackupState", s.set_backup_state(false, false, vss::backup_type::full),
            "non-component mode, VSS_BT_FULL");
  wait_step("GatherWriterMetadata", s.async_gather_writer_metadata(vss::use_async_op));
  print_writers(s);
  const auto started = s.start_snapshot_set(set_[1]);
  sync_step("StartSnapshotSet", started, set_[1].to_string());
  vss::snapshot_id snap;
  sync_step("AddToSnapshotSet", s.add_to_snapshot_set("/srv/data", {}, snap),
            "/srv/data -> memory provider");
  wait_step("PrepareForBackup", s.async_prepare_for_backup(vss::use_async_op));
  const auto before = s.phase_reports().size();
  snapshot_result_[1] = wait_step("DoSnapshotSet", s.async_do_snapshot_set(vss::use_async_op));
  print_reports(s, before);

  vss::snapshot_properties props;
  const auto props_ec = s.get_snapshot_properties(snap, props);
  sync_step("GetSnapshotProperties", props_ec);
  if (!props_ec) print_snapshot(props);
  grade_1_ = s.consistency();
  out() << "      " << pad("consistency", 18)
        << (grade_1_ == vss::consistency_grade::application ? st_.green() : st_.red())
        << vss::to_string(grade_1_) << st_.reset() << '\n';

  wait_step("GatherWriterStatus", s.async_gather_writer_status(vss::use_async_op));
  tally_status(s.get_writer_status());
  wait_step("BackupComplete", s.async_backup_complete(vss::use_async_op));
  wait_step("GatherWriterStatus", s.async_gather_writer_status(vss::use_async_op));
  final_status_[1] = s.get_writer_status();
  tally_status(final_status_[1]);
  release_and_wait(s, 1);

  check(snapshot_result_[1] == vss::errc::async_finished,
        "backup 1: DoSnapshotSet finished with VSS_S_ASYNC_FINISHED",
        symbol_of(snapshot_result_[1]));
  check(grade_1_ == vss::consistency_grade::application,
        "backup 1: the snapshot set is application-consistent",
        std::string(vss::to_string(grade_1_)));
}

void requester::backup_2(vss::engine& eng) {
  heading("Backup 2: the same, aborted from another thread while every writer is frozen");
  backup_start_[2] = steady::now();
  events_.set_backup(2);
  hold_for_abort_ = true;
  vss::backup_session s = eng.create_backup_session();
  sync_step("InitializeForBackup", s.initialize_for_backup());
  sync_step("SetBackupState", s.set_backup_state(false, false, vss::backup_type::full));
  wait_step("GatherWriterMetadata", s.async_gather_writer_metadata(vss::use_async_op));
  const auto started = s.start_snapshot_set(set_[2]);
  sync_step("StartSnapshotSet", started, set_[2].to_string());
  vss::snapshot_id snap;
  sync_step("AddToSnapshotSet", s.add_to_snapshot_set("/srv/data", {}, snap));
  wait_step("PrepareForBackup", s.async_prepare_for_backup(vss::use_async_op));

  // The aborter: waits until every writer has received Freeze (the system level is the last
  // to get it, and "journal" holds its freeze), then calls the blocking AbortBackup.
  std::atomic<bool> all_frozen{false};
  steady::time_point abort_called{};
  steady::time_point abort_returned{};
  std::thread aborter([this, s, &all_frozen, &abort_called, &abort_returned]() mutable {
    all_frozen =
        events_.wait_for_writers(2, vss::writer_event::freeze, writers_.size(), step_bound);
    abort_called = steady::now();
    abort_result_ = s.abort_backup();
    abort_returned = steady::now();
  });

  const auto before = s.phase_reports().size();
  auto op = s.async_do_snapshot_set(vss::use_async_op);
  op.wait(step_bound);
  const auto op_seen = steady::now();
  snapshot_result_[2] = op.query_status();
  aborter.join();
  hold_for_abort_ = false;

  abort_us_ = us_between(abort_called, abort_returned);
  cancel_seen_us_ = us_between(abort_called, op_seen);
  {
    std::ostringstream note;
    note << "requester saw it " << *cancel_seen_us_ << " µs after AbortBackup was called";
    phase("DoSnapshotSet", snapshot_result_[2], note.str());
  }
  {
    std::ostringstream note;
    note << "called at +" << since_start_us(abort_called) << " µs from another thread, took "
         << st_.bold() << *abort_us_ << " µs" << st_.reset();
    phase("AbortBackup", abort_result_, note.str());
  }
  print_reports(s, before);
  out() << "      " << pad("session state", 18) << vss::to_string(s.state()) << '\n';

  std::size_t records = 0;
  for (const auto& r : memory_->all_records()) {
    if (r.set_id == set_[2]) ++records;
  }
  aborted_set_records_ = records;
  vss::snapshot_properties ignored;
  const auto props_ec = s.get_snapshot_properties(snap, ignored);
  out() << "      " << pad("memory provider", 18) << (records == 0 ? st_.green() : st_.red())
        << records << " record(s) of set " << set_[2] << st_.reset()
        << "; GetSnapshotProperties: " << symbol_of(props_ec) << '\n';
  out() << "      " << pad("consistency", 18) << vss::to_string(s.consistency()) << '\n';

  wait_step("GatherWriterStatus", s.async_gather_writer_status(vss::use_async_op));
  final_status_[2] = s.get_writer_status();
  tally_status(final_status_[2]);
  release_and_wait(s, 2);

  check(all_frozen, "backup 2: every writer received Freeze before AbortBackup was called");
  check(snapshot_result_[2] == vss::errc::async_cancelled,
        "backup 2: DoSnapshotSet ended with VSS_S_ASYNC_CANCELLED", symbol_of(snapshot_result_[2]));
  check(!abort_result_, "backup 2: AbortBackup returned S_OK", symbol_of(abort_result_));
  check(records == 0 && props_ec == vss::errc::object_not_found,
        "backup 2: the aborted set left no snapshot in the memory provider",
        std::to_string(records) + " record(s), GetSnapshotProperties " + symbol_of(props_ec));
}

int requester::summary() {
  const bool ok = failures_.empty() && std::all_of(checks_.begin(), checks_.end(),
                                                   [](const auto& c) { return c.first; });
  if (!quiet_) std::cout << '\n';
  std::cout << st_.bold() << st_.cyan() << "== Summary" << st_.reset() << '\n';
  std::cout << "  backup 1   " << symbol_of(snapshot_result_[1]) << ", " << vss::to_string(grade_1_)
            << '\n';
  std::cout << "  backup 2   " << symbol_of(snapshot_result_[2]) << ", AbortBackup "
            << symbol_of(abort_result_);
  if (abort_us_) std::cout << " in " << *abort_us_ << " µs";
  std::cout << ", " << aborted_set_records_ << " snapshot record(s) left\n";
  for (const auto& [good, what] : checks_) {
    std::cout << "  " << (good ? st_.green() : st_.red()) << (good ? "ok  " : "FAIL") << st_.reset()
              << "  " << what << '\n';
  }
  for (const auto& what : failures_) {
    std::cout << "  " << st_.red() << "FAIL" << st_.reset() << "  " << what << '\n';
  }
  std::cout << "  " << st_.bold() << (ok ? st_.green() : st_.red())
            << (ok ? "all checks passed" : "some checks failed") << st_.reset() << " ("
            << since_start_us() / 1000 << " ms)\n";
  return ok ? 0 : 1;
}

int requester::run() {
  vss::host_options options;
  options.io_threads = 2;
  auto host = std::make_unique<vss::engine_host>(options);
  auto& eng = host->engine();

  memory_ = std::make_shared<vss::memory_provider>();
  if (auto ec = eng.register_provider(memory_)) fail("register_provider: " + symbol_of(ec));
  std::vector<vss::writer_registration> registrations;
  for (auto& profile : writer_profiles()) {
    auto w = std::make_shared<demo_writer>(profile, events_, hold_for_abort_);
    std::error_code ec;
    registrations.push_back(eng.register_writer(w, ec));
    if (ec) fail("register_writer(" + profile.name + "): " + symbol_of(ec));
    writers_.push_back(std::move(w));
  }
  out() << st_.bold() << "openvss example: two backups, eight writers, one memory provider"
        << st_.reset() << '\n'
        << st_.dim() << "  engine_host with 2 io threads, " << writers_.size()
        << " writers registered (front-end, back-end, system)" << st_.reset() << '\n';

  backup_1(eng);
  check_timeline(1);
  backup_2(eng);
  check_timeline(2);

  heading("Writer event timelines");
  print_timeline(1, backup_start_[1]);
  print_timeline(2, backup_start_[2]);
  heading("Final writer states (GatherWriterStatus)");
  out() << "  " << st_.bold() << "Backup 1" << st_.reset() << st_.dim()
        << "  (after BackupComplete)" << st_.reset() << '\n';
  print_status(final_status_[1]);
  out() << "  " << st_.bold() << "Backup 2" << st_.reset() << st_.dim() << "  (after AbortBackup)"
        << st_.reset() << '\n';
  print_status(final_status_[2]);

  // Every answer is delivered before the engine goes away.
  for (auto& w : writers_) w->stop();
  registrations.clear();
  host.reset();
  return summary();
}

void usage(std::ostream& os) {
  os << "usage: openvss-example-backup [--quiet] [--help]\n"
        "\n"
        "Runs two backups of /srv/data with eight in-process writers on an embedded openvss\n"
        "engine: a full backup that succeeds, and one that another thread aborts while every\n"
        "writer is frozen. Prints each phase, the snapshot, per-writer event timelines and the\n"
        "final writer states, and exits 0 only if its own checks hold.\n"
        "\n"
        "  --quiet   print only the summary\n"
        "  --help    print this text\n";
}

}  // namespace

int main(int argc, char** argv) {
  bool quiet = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--quiet" || arg == "-q") {
      quiet = true;
    } else if (arg == "--help" || arg == "-h") {
      usage(std::cout);
      return 0;
    } else {
      std::cerr << "openvss-example-backup: unknown argument '" << arg << "'\n";
      usage(std::cerr);
      return 2;
    }
  }
  style st;
  st.color = ::isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr;
  requester r(quiet, st);
  return r.run();
}
