#include "daemon/requester_service.hpp"

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <ctime>
#include <exception>
#include <limits>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>

#include "vss/async_op.hpp"
#include "vss/backup_session.hpp"
#include "vss/clock.hpp"
#include "vss/error.hpp"
#include "vss/provider.hpp"
#include "vss/report.hpp"
#include "vss/types.hpp"

namespace vss::daemon {

using json = nlohmann::json;
using time_point = vss::clock::time_point;

namespace {

// ---- names --------------------------------------------------------------------------------

// Always a symbol errc_from_symbol() knows: the protocol's `hresult` fields must be one.
std::string symbol_of(const std::error_code& ec) {
  if (!ec) return "S_OK";
  if (ec.category() == vss_category()) {
    const auto s = symbol(static_cast<errc>(ec.value()));
    if (!s.empty()) return std::string(s);
  }
  if (ec == condition::cancelled) return std::string(symbol(errc::async_cancelled));
  return std::string(symbol(errc::fail));
}

std::string_view outcome_name(writer_outcome o) {
  switch (o) {
    case writer_outcome::completed:
      return "completed";
    case writer_outcome::failed:
      return "failed";
    case writer_outcome::timed_out:
      return "timed_out";
    case writer_outcome::abandoned:
      return "abandoned";
    case writer_outcome::not_delivered:
      return "not_delivered";
  }
  return "unknown";
}

std::string_view grade_name(consistency_grade g) {
  switch (g) {
    case consistency_grade::none:
      return "none";
    case consistency_grade::application:
      return "application";
    case consistency_grade::filesystem:
      return "filesystem";
    case consistency_grade::crash:
      return "crash";
  }
  return "unknown";
}

// What `vssadmin list writers` prints after "State: [n]".
std::string_view state_text(writer_state s) {
  switch (s) {
    case writer_state::unknown:
      return "Unknown";
    case writer_state::stable:
      return "Stable";
    case writer_state::waiting_for_freeze:
      return "Waiting for freeze";
    case writer_state::waiting_for_thaw:
      return "Waiting for thaw";
    case writer_state::waiting_for_post_snapshot:
      return "Waiting for post snapshot";
    case writer_state::waiting_for_backup_complete:
      return "Waiting for completion";
    default:
      return is_failed(s) ? "Failed" : "Unknown";
  }
}

// What `vssadmin list writers` prints after "Last error:".
std::string_view error_text(const std::error_code& ec) {
  if (!ec) return "No error";
  if (ec.category() != vss_category()) return "Unexpected error";
  switch (static_cast<errc>(ec.value())) {
    case errc::writer_error_retryable:
      return "Retryable error";
    case errc::writer_error_nonretryable:
      return "Non-retryable error";
    case errc::writer_error_timeout:
      return "Timed out";
    case errc::writer_error_inconsistent_snapshot:
      return "Inconsistent shadow copy";
    case errc::writer_error_out_of_resources:
      return "Out of resources";
    case errc::writer_error_partial_failure:
      return "Partial failure";
    case errc::writer_error_recovery_failed:
      return "Recovery failed";
    case errc::writer_not_responding:
      return "Not responding";
    default:
      return "Unexpected error";
  }
}

std::string iso_time(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::int64_t us(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

// ---- JSON of engine types ------------------------------------------------------------------

json writer_json(const writer_status& w) {
  return {{"name", w.name},
          {"instance_id", w.instance_id.to_string()},
          {"class_id", w.class_id.to_string()},
          {"level", std::string(to_string(w.level))},
          {"state", static_cast<int>(w.state)},
          {"state_name", std::string(to_string(w.state))},
          {"state_text", std::string(state_text(w.state))},
          {"last_error", symbol_of(w.failure)},
          {"last_error_text", std::string(error_text(w.failure))},
          {"message", w.message}};
}

json snapshot_json(const snapshot_properties& p) {
  return {{"id", p.id.to_string()},
          {"set", p.set_id.to_string()},
          {"volume", p.original_volume},
          {"device", p.device},
          {"provider", p.provider.to_string()},
          {"attributes", p.attributes},
          {"persistent", context_is_persistent(p.attributes)},
          {"created", iso_time(p.created)},
          {"state", std::string(to_string(p.state))},
          {"count", p.snapshots_count},
          {"originating_machine", p.originating_machine}};
}

json report_json(const phase_report& r) {
  json results = json::array();
  for (const auto& x : r.results) {
    results.push_back({{"writer", x.name},
                       {"instance_id", x.instance_id.to_string()},
                       {"outcome", std::string(outcome_name(x.outcome))},
                       {"hresult", symbol_of(x.code)},
                       {"message", x.message}});
  }
  return {{"event", std::string(to_string(r.event))},
          {"duration_us", us(r.settled - r.started)},
          {"results", std::move(results)}};
}

// GetWriterStatus leaves out writers that failed Identify (spec §6.2); a result must not be
// silent about them, so they are added from the Identify report as VSS_WS_FAILED_AT_IDENTIFY.
std::vector<writer_status> with_identify_failures(std::vector<writer_status> status,
                                                  const std::vector<phase_report>& reports,
                                                  const std::vector<writer_identity>& known) {
  for (const auto& r : reports) {
    if (r.event != writer_event::identify) continue;
    for (const auto& x : r.results) {
      if (x.outcome == writer_outcome::completed) continue;
      const bool listed = std::any_of(status.begin(), status.end(), [&](const writer_status& w) {
        return w.instance_id == x.instance_id;
      });
      if (listed) continue;
      writer_status w;
      w.instance_id = x.instance_id;
      w.name = x.name;
      w.state = writer_state::failed_at_identify;
      w.failure = x.code;
      w.message = x.message;
      for (const auto& id : known) {
        if (id.instance_id == x.instance_id) {
          w.class_id = id.class_id;
          w.level = id.level;
        }
      }
      status.push_back(std::move(w));
    }
  }
  return status;
}

json writers_json(const std::vector<writer_status>& status) {
  json out = json::array();
  for (const auto& w : status) out.push_back(writer_json(w));
  return out;
}

// ---- request bodies ------------------------------------------------------------------------

json error_body(std::string_view code, std::string_view message, std::optional<std::int64_t> ref,
                std::optional<std::string> hresult = std::nullopt) {
  json e = {{"type", "error"}, {"code", code}, {"message", message}};
  if (ref) e["ref"] = *ref;
  if (hresult) e["hresult"] = *hresult;
  return e;
}

json vss_error_body(std::int64_t ref, const std::error_code& ec, std::string_view message) {
  return error_body("vss_error", message, ref, symbol_of(ec));
}

json reply_body(std::int64_t id, json result) {
  return {{"type", "reply"}, {"id", id}, {"result", std::move(result)}};
}

struct bad_arg : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const json* find_arg(const json& args, const char* name) {
  const auto it = args.find(name);
  return it == args.end() || it->is_null() ? nullptr : &*it;
}

std::vector<std::string> string_array(const json& args, const char* name, bool required) {
  const json* v = find_arg(args, name);
  if (v == nullptr) {
    if (required) throw bad_arg(std::string("args.") + name + ": required");
    return {};
  }
  if (!v->is_array()) throw bad_arg(std::string("args.") + name + ": expected an array of strings");
  std::vector<std::string> out;
  for (const auto& e : *v) {
    if (!e.is_string() || e.get_ref<const std::string&>().empty()) {
      throw bad_arg(std::string("args.") + name + ": expected non-empty strings");
    }
    out.push_back(e.get<std::string>());
  }
  if (required && out.empty()) throw bad_arg(std::string("args.") + name + ": must not be empty");
  return out;
}

std::optional<std::string> string_arg(const json& args, const char* name) {
  const json* v = find_arg(args, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) throw bad_arg(std::string("args.") + name + ": expected a string");
  return v->get<std::string>();
}

template <class Id>
std::optional<Id> id_arg(const json& args, const char* name) {
  const auto s = string_arg(args, name);
  if (!s) return std::nullopt;
  auto id = Id::parse(*s);
  if (!id) throw bad_arg(std::string("args.") + name + ": not a GUID: \"" + *s + "\"");
  return id;
}

// "250ms", "2s": digits and a unit (ns, us, ms, s, m), as in fault plans.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view s) {
  std::size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  if (digits == 0) return std::nullopt;
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + digits, n);
  if (ec != std::errc() || end != s.data() + digits) return std::nullopt;
  const auto unit = s.substr(digits);
  std::int64_t scale = 0;
  if (unit == "ns") {
    scale = 1;
  } else if (unit == "us") {
    scale = 1'000;
  } else if (unit == "ms") {
    scale = 1'000'000;
  } else if (unit == "s") {
    scale = 1'000'000'000;
  } else if (unit == "m") {
    scale = 60'000'000'000;
  } else {
    return std::nullopt;
  }
  if (n > std::numeric_limits<std::int64_t>::max() / scale) return std::nullopt;
  return std::chrono::nanoseconds(n * scale);
}

// When a service-side abort fires.
struct trigger {
  enum class kind { writer_event, provider_call, do_snapshot_set, elapsed };
  kind what = kind::elapsed;
  writer_event event = writer_event::identify;
  mocks::provider_call call = mocks::provider_call::commit;
  std::chrono::nanoseconds offset{0};
  std::string reason;
  bool fired = false;
};

std::optional<trigger> parse_abort_after(std::string_view s) {
  trigger t;
  if (auto d = parse_duration(s)) {
    t.what = trigger::kind::elapsed;
    t.offset = *d;
  } else if (s == "do_snapshot_set" || s == "DoSnapshotSet") {
    t.what = trigger::kind::do_snapshot_set;
  } else if (auto e = mocks::writer_event_from_string(s);
             e && *e != writer_event::abort && *e != writer_event::backup_shutdown) {
    t.what = trigger::kind::writer_event;
    t.event = *e;
  } else {
    return std::nullopt;
  }
  t.reason = "abort_after " + std::string(s);
  return t;
}

struct backup_args {
  std::vector<std::string> volumes;
  std::vector<std::string> writers;
  std::vector<std::string> components;
  std::optional<std::string> provider;
  bool persistent = false;
  std::shared_ptr<const mocks::fault_plan> plan;
  std::vector<trigger> triggers;
};

backup_args parse_backup_args(const json& args, const std::string& no_provider_faults) {
  backup_args a;
  a.volumes = string_array(args, "volumes", true);
  a.writers = string_array(args, "writers", false);
  a.components = string_array(args, "components", false);
  a.provider = string_arg(args, "provider");
  if (a.provider && a.provider->empty()) throw bad_arg("args.provider: must not be empty");
  if (const json* p = find_arg(args, "persistent")) {
    if (!p->is_boolean()) throw bad_arg("args.persistent: expected a boolean");
    a.persistent = p->get<bool>();
  }
  if (const auto text = string_arg(args, "inject")) {
    auto parsed = mocks::fault_plan::parse(*text);
    if (!parsed) throw bad_arg("args.inject: " + parsed.error.message());
    a.plan = std::make_shared<const mocks::fault_plan>(std::move(*parsed.plan));
    if (!no_provider_faults.empty() && !a.plan->provider_rules().empty()) {
      throw bad_arg("args.inject: provider rules cannot be injected here: " + no_provider_faults);
    }
    if (const auto at = a.plan->abort()) {
      trigger t;
      if (const auto* e = std::get_if<writer_event>(&at->point)) {
        t.what = trigger::kind::writer_event;
        t.event = *e;
      } else {
        t.what = trigger::kind::provider_call;
        t.call = std::get<mocks::provider_call>(at->point);
      }
      t.offset = at->offset;
      t.reason = "inject " + to_string(*at);
      a.triggers.push_back(std::move(t));
    }
  }
  if (const auto text = string_arg(args, "abort_after")) {
    auto t = parse_abort_after(*text);
    if (!t) {
      throw bad_arg(
          "args.abort_after: expected a duration (\"250ms\", \"2s\"; units ns, us, ms, "
          "s, m) or a phase (identify, prepare_backup, prepare_snapshot, freeze, thaw, "
          "post_snapshot, backup_complete, do_snapshot_set), found \"" +
          *text + "\"");
    }
    a.triggers.push_back(std::move(*t));
  }
  return a;
}

// A component named by `spec`: its name, or its full path "logical_path\name" ('/' accepted).
bool component_matches(const component_info& c, std::string_view spec) {
  if (spec == c.name) return true;
  if (c.logical_path.empty()) return false;
  for (char sep : {'\\', '/'}) {
    if (spec == c.logical_path + sep + c.name) return true;
  }
  return false;
}

bool writer_matches(const writer_identity& id, std::string_view spec) {
  if (spec == id.name) return true;
  const auto parsed = writer_instance_id::parse(spec);
  return parsed && *parsed == id.instance_id;
}

}  // namespace

namespace detail {

struct backup_run;

// One requester connection's outgoing side, shared with the work it started.
struct connection_state {
  explicit connection_state(requester_service::sink s) : sink(std::move(s)) {}

  void send(json body) {
    std::lock_guard lock(send_mutex);
    if (disconnected || !sink) return;
    try {
      sink(std::move(body));
    } catch (...) {
      // A failing sink must not take an engine thread down; the peer loses the frame.
    }
  }

  std::mutex send_mutex;  // serialises sink calls and guards `disconnected`
  requester_service::sink sink;
  bool disconnected = false;

  std::mutex mutex;  // guards `runs`
  std::vector<std::shared_ptr<backup_run>> runs;
};

struct context_state {
  explicit context_state(vss::engine& e) : engine(e), clock(e.options().clock) {}

  // Runs `fn` on a thread of its own; false once the context is stopping.
  bool spawn(std::function<void()> fn) {
    std::lock_guard lock(threads_mutex);
    reap_locked();
    if (stopping) return false;
    try {
      threads.emplace_back([this, fn = std::move(fn)] {
        try {
          fn();
        } catch (...) {
          // fn reports its own failures; nothing may escape a thread.
        }
        std::lock_guard l(threads_mutex);
        finished.push_back(std::this_thread::get_id());
      });
    } catch (const std::system_error&) {
      return false;  // out of threads: the caller answers server_busy; the daemon lives on
    }
    return true;
  }

  void reap_locked() {
    for (auto it = threads.begin(); it != threads.end();) {
      if (std::find(finished.begin(), finished.end(), it->get_id()) != finished.end()) {
        it->join();  // the thread is past its last use of the context
        it = threads.erase(it);
      } else {
        ++it;
      }
    }
    finished.clear();
  }

  void join_all() {
    std::list<std::thread> all;
    {
      std::lock_guard lock(threads_mutex);
      stopping = true;
      all.swap(threads);
      finished.clear();
    }
    for (auto& t : all) {
      // The last reference to the context may be dropped on one of its own threads (a
      // session's writer proxies keep it alive); that thread cannot join itself.
      if (t.get_id() == std::this_thread::get_id()) {
        t.detach();
      } else {
        t.join();
      }
    }
  }

  vss::engine& engine;
  std::shared_ptr<vss::clock> clock;

  mutable std::mutex mutex;                       // guards the three lists below
  std::vector<std::shared_ptr<backup_run>> runs;  // every backup until its session is released
  std::map<snapshot_set_id, std::shared_ptr<backup_run>> by_set;
  std::vector<std::shared_ptr<backup_run>> gathering;  // in GatherWriterMetadata (null set)

  std::shared_ptr<snapshot_journal> journal;  // set once, before requests

  std::mutex threads_mutex;
  std::list<std::thread> threads;
  std::vector<std::thread::id> finished;
  bool stopping = false;

  std::function<nlohmann::json()>* status_hook = nullptr;
  service_context::log_function* log_hook = nullptr;
  std::string no_provider_faults_;  // why provider rules are refused; empty: accepted

  std::string no_provider_faults() {
    std::lock_guard lock(mutex);
    return no_provider_faults_;
  }

  void log(int event_id, bool error, const std::string& text) {
    service_context::log_function hook;
    {
      std::lock_guard lock(mutex);
      if (log_hook != nullptr) hook = *log_hook;
    }
    if (hook) hook(event_id, error, text);
  }

  bool is_stopping() {
    std::lock_guard lock(threads_mutex);
    return stopping;
  }
  void unregister(const std::shared_ptr<backup_run>& run);
  void notify_writer_event(const snapshot_set_id& set, const writer_instance_id& writer,
                           writer_event event);
  void notify_provider_call(const snapshot_set_id& set, mocks::provider_call call);
};

using abort_done_fn = std::function<void(std::error_code, std::chrono::microseconds)>;

// One backup request, from its request to the release of its session.
struct backup_run : std::enable_shared_from_this<backup_run> {
  backup_run(std::shared_ptr<context_state> c, std::shared_ptr<connection_state> conn_,
             std::int64_t request, backup_args a)
      : ctx(std::move(c)),
        conn(std::move(conn_)),
        id(request),
        args(std::move(a)),
        started(ctx->clock->now()) {
    triggers = args.triggers;
  }

  // ---- set once, before the thread starts ----
  std::shared_ptr<context_state> ctx;
  std::shared_ptr<connection_state> conn;
  std::int64_t id;
  backup_args args;
  backup_session session;
  time_point started;

  // ---- shared with engine threads and other requesters; guarded by `mutex` ----
  mutable std::mutex mutex;
  std::condition_variable changed;
  std::string phase = "GatherWriterMetadata";
  snapshot_set_id set;
  std::map<writer_instance_id, std::string> names;
  std::vector<trigger> triggers;
  std::vector<std::unique_ptr<vss::timer>> timers;
  async_op gather_op;
  bool finished = false;             // no abort is accepted any more
  bool kept = false;                 // the session is kept for its auto-release snapshots
  bool journaled = false;            // the journal heard set_starting and not yet set_finished
  std::vector<snapshot_id> created;  // snapshots the journal knows as created
  bool abort_requested = false;
  std::string abort_reason;
  time_point abort_called{};
  bool abort_done = false;
  std::error_code abort_result;
  std::chrono::microseconds abort_duration{0};
  std::optional<time_point> cancel_seen;
  std::vector<abort_done_fn> abort_waiters;

  // ---- backup thread only ----
  std::vector<snapshot_id> snapshots;
  std::vector<writer_metadata> metadata;
  std::set<writer_instance_id> participating;
  struct selection {
    writer_instance_id instance;
    writer_class_id cls;
    component_info component;
  };
  std::vector<selection> selected;
  std::vector<writer_status> last_status;
  json durations = json::object();

  std::int64_t at_us() const { return us(ctx->clock->now() - started); }

  json progress(std::string_view phase_name, std::string_view step) const {
    return {{"type", "progress"},
            {"id", id},
            {"phase", phase_name},
            {"step", step},
            {"at_us", at_us()}};
  }

  std::string current_phase() const {
    std::lock_guard lock(mutex);
    return phase;
  }

  std::string name_of(const writer_instance_id& w) {
    {
      std::lock_guard lock(mutex);
      if (auto it = names.find(w); it != names.end()) return it->second;
    }
    std::string found = w.to_string();
    for (const auto& identity : ctx->engine.registered_writers()) {
      if (identity.instance_id == w) found = identity.name;
    }
    std::lock_guard lock(mutex);
    names[w] = found;
    return found;
  }

  // ---- abort -------------------------------------------------------------------------------

  void request_abort(const std::string& reason, abort_done_fn waiter = {}) {
    bool start = false;
    bool too_late = false;
    bool call_now = false;
    async_op gather;
    {
      std::lock_guard lock(mutex);
      if (finished && !abort_requested) {
        too_late = true;
      } else {
        if (waiter) {
          if (abort_done) {
            call_now = true;
          } else {
            abort_waiters.push_back(waiter);
          }
        }
        if (!abort_requested) {
          abort_requested = true;
          abort_reason = reason;
          abort_called = ctx->clock->now();
          gather = gather_op;
          start = true;
        }
      }
    }
    if (too_late) {
      if (waiter) waiter(errc::object_not_found, std::chrono::microseconds(0));
      return;
    }
    if (call_now) waiter(abort_result, abort_duration);
    if (!start) return;
    changed.notify_all();
    auto frame = progress("AbortBackup", "started");
    frame["reason"] = reason;
    conn->send(std::move(frame));
    // AbortBackup does nothing while metadata is gathered (no backup is underway yet), so
    // the gathering itself is cancelled.
    gather.cancel();
    session.async_abort_backup(
        [self = shared_from_this()](std::error_code ec) { self->abort_completed(ec); });
  }

  void abort_completed(std::error_code ec) {
    std::chrono::microseconds took{0};
    {
      std::lock_guard lock(mutex);
      took =
          std::chrono::duration_cast<std::chrono::microseconds>(ctx->clock->now() - abort_called);
    }
    // Sent before abort_done is set, so that it precedes the backup's final frame.
    auto frame = progress("AbortBackup", "finished");
    frame["hresult"] = symbol_of(ec);
    frame["duration_us"] = took.count();
    conn->send(std::move(frame));
    std::vector<abort_done_fn> waiters;
    {
      std::lock_guard lock(mutex);
      abort_done = true;
      abort_result = ec;
      abort_duration = took;
      waiters.swap(abort_waiters);
    }
    changed.notify_all();
    for (auto& w : waiters) w(ec, took);
  }

  bool abort_pending() {
    std::lock_guard lock(mutex);
    if (abort_requested && !cancel_seen) cancel_seen = ctx->clock->now();
    return abort_requested;
  }

  void fire(trigger t) {
    if (t.offset.count() == 0) {
      request_abort(t.reason);
      return;
    }
    std::lock_guard lock(mutex);
    if (finished) return;
    auto tm = ctx->clock->create_timer(ctx->engine.get_executor());
    tm->async_wait_until(ctx->clock->now() + std::chrono::ceil<vss::clock::duration>(t.offset),
                         [weak = weak_from_this(), reason = t.reason](bool expired) {
                           if (auto self = weak.lock(); self && expired) {
                             self->request_abort(reason);
                           }
                         });
    timers.push_back(std::move(tm));
  }

  template <class Pred>
  void fire_matching(Pred pred) {
    std::vector<trigger> due;
    {
      std::lock_guard lock(mutex);
      if (finished) return;
      for (auto& t : triggers) {
        if (!t.fired && pred(t)) {
          t.fired = true;
          due.push_back(t);
        }
      }
    }
    for (auto& t : due) fire(t);
  }

  // ---- notifications -----------------------------------------------------------------------

  void on_writer_event(const writer_instance_id& writer, writer_event e) {
    {
      std::lock_guard lock(mutex);
      if (finished) return;
    }
    auto frame = progress(current_phase(), "event");
    frame["event"] = std::string(to_string(e));
    frame["writer"] = name_of(writer);
    frame["instance_id"] = writer.to_string();
    conn->send(std::move(frame));
    fire_matching(
        [e](const trigger& t) { return t.what == trigger::kind::writer_event && t.event == e; });
  }

  void on_provider_call(mocks::provider_call c) {
    {
      std::lock_guard lock(mutex);
      if (finished) return;
    }
    auto frame = progress(current_phase(), "provider");
    frame["call"] = std::string(mocks::to_string(c));
    conn->send(std::move(frame));
    fire_matching(
        [c](const trigger& t) { return t.what == trigger::kind::provider_call && t.call == c; });
  }

  // ---- the backup --------------------------------------------------------------------------

  void begin(const std::string& name) {
    {
      std::lock_guard lock(mutex);
      phase = name;
    }
    conn->send(progress(name, "started"));
  }

  void end(const std::string& name, const std::error_code& ec, time_point t0,
           std::size_t reports_before, const std::vector<writer_status>* status = nullptr) {
    const auto took = us(ctx->clock->now() - t0);
    durations[name] = durations.value(name, std::int64_t{0}) + took;
    auto frame = progress(name, "finished");
    frame["hresult"] = symbol_of(ec);
    frame["duration_us"] = took;
    json reports = json::array();
    const auto all = session.phase_reports();
    for (std::size_t i = reports_before; i < all.size(); ++i)
      reports.push_back(report_json(all[i]));
    frame["reports"] = std::move(reports);
    if (status != nullptr) frame["writers"] = writers_json(*status);
    conn->send(std::move(frame));
  }

  // Waits for an engine operation; the wait ends by the engine's own deadlines.
  static std::error_code wait(async_op op) {
    op.wait();
    return op.query_status();
  }

  std::vector<writer_status> gather_status() {
    if (wait(session.async_gather_writer_status(use_async_op)) == errc::async_finished) {
      last_status = session.get_writer_status();
    }
    return last_status;
  }

  // The first participating writer that failed, as vshadow's CheckSelectedWriterStatus sees it.
  std::optional<writer_status> failed_writer(const std::vector<writer_status>& status) const {
    for (const auto& w : status) {
      if (participating.count(w.instance_id) == 0) continue;
      if (is_failed(w.state) || !succeeded(w.failure)) return w;
    }
    return std::nullopt;
  }

  void run() {
    try {
      run_backup();
    } catch (const std::exception& e) {
      finish(errc::unexpected, std::string("internal error: ") + e.what());
    }
  }

  void run_backup() {
    // GatherWriterMetadata.
    begin("GatherWriterMetadata");
    auto t0 = ctx->clock->now();
    std::error_code ec;
    {
      auto op = session.async_gather_writer_metadata(use_async_op);
      bool cancel_now = false;
      {
        std::lock_guard lock(mutex);
        gather_op = op;
        cancel_now = abort_requested;
      }
      if (cancel_now) op.cancel();
      ec = wait(op);
    }
    {
      std::lock_guard lock(ctx->mutex);
      std::erase(ctx->gathering, shared_from_this());
    }
    end("GatherWriterMetadata", ec, t0, 0);
    if (abort_pending()) return finish_aborted();
    if (ec != errc::async_finished) return finish(ec, "GatherWriterMetadata failed");
    metadata = session.get_writer_metadata();
    {
      std::lock_guard lock(mutex);
      for (const auto& m : metadata) names[m.identity.instance_id] = m.identity.name;
    }
    if (!select()) return;

    // StartSnapshotSet + AddToSnapshotSet.
    begin("StartSnapshotSet");
    t0 = ctx->clock->now();
    snapshot_set_id new_set;
    if (auto e = session.start_snapshot_set(new_set)) {
      return finish_call_failed(e, "StartSnapshotSet failed");
    }
    {
      std::lock_guard lock(mutex);
      set = new_set;
    }
    {
      std::lock_guard lock(ctx->mutex);
      ctx->by_set[new_set] = shared_from_this();
    }
    provider_id provider;
    if (args.provider) {
      if (!resolve_provider(*args.provider, provider)) {
        return finish(errc::provider_not_registered,
                      "no registered provider has the id or name \"" + *args.provider + "\"");
      }
    }
    for (const auto& volume : args.volumes) {
      snapshot_id snap;
      if (auto e = session.add_to_snapshot_set(volume, provider, snap)) {
        return finish_call_failed(e, "AddToSnapshotSet(" + volume + ") failed");
      }
      snapshots.push_back(snap);
    }
    {
      auto frame = progress("StartSnapshotSet", "finished");
      frame["hresult"] = "S_OK";
      frame["duration_us"] = us(ctx->clock->now() - t0);
      frame["set"] = new_set.to_string();
      json snaps = json::array();
      for (std::size_t i = 0; i < snapshots.size(); ++i) {
        snaps.push_back({{"id", snapshots[i].to_string()}, {"volume", args.volumes[i]}});
      }
      frame["snapshots"] = std::move(snaps);
      conn->send(std::move(frame));
    }
    if (abort_pending()) return finish_aborted();

    // PrepareForBackup.
    begin("PrepareForBackup");
    t0 = ctx->clock->now();
    auto before = session.phase_reports().size();
    ec = wait(session.async_prepare_for_backup(use_async_op));
    if (abort_pending()) {
      end("PrepareForBackup", ec, t0, before);
      return finish_aborted();
    }
    auto status = gather_status();
    end("PrepareForBackup", ec, t0, before, &status);
    if (ec != errc::async_finished) return finish(ec, "PrepareForBackup failed");
    if (auto w = failed_writer(status)) return finish_vetoed(*w, "PrepareForBackup");

    // DoSnapshotSet.
    ctx->log(8231, false,
             "shadow copy creation initiated for snapshot set " + new_set.to_string() + " (" +
                 std::to_string(args.volumes.size()) + " volume(s))");
    if (auto e = journal_start(new_set)) {
      return finish(errc::unexpected, "the snapshot catalog could not record set " +
                                          new_set.to_string() +
                                          " before its creation: " + e.message());
    }
    begin("DoSnapshotSet");
    t0 = ctx->clock->now();
    before = session.phase_reports().size();
    auto dss = session.async_do_snapshot_set(use_async_op);
    fire_matching([](const trigger& t) { return t.what == trigger::kind::do_snapshot_set; });
    ec = wait(dss);
    if (abort_pending() || ec == errc::async_cancelled) {
      end("DoSnapshotSet", ec, t0, before);
      return finish_aborted();
    }
    status = gather_status();
    end("DoSnapshotSet", ec, t0, before, &status);
    if (ec != errc::async_finished) return finish(ec, "DoSnapshotSet failed");
    if (auto w = failed_writer(status)) return finish_vetoed(*w, "DoSnapshotSet");

    // SetBackupSucceeded + BackupComplete.
    for (const auto& s : selected) {
      session.set_backup_succeeded(s.instance, s.cls, s.component.type, s.component.logical_path,
                                   s.component.name, true);
    }
    if (abort_pending()) return finish_aborted();
    begin("BackupComplete");
    t0 = ctx->clock->now();
    before = session.phase_reports().size();
    ec = wait(session.async_backup_complete(use_async_op));
    if (abort_pending()) {
      end("BackupComplete", ec, t0, before);
      return finish_aborted();
    }
    status = gather_status();
    end("BackupComplete", ec, t0, before, &status);
    if (ec != errc::async_finished) return finish(ec, "BackupComplete failed");
    if (auto w = failed_writer(status)) return finish_vetoed(*w, "BackupComplete");
    finish_ok();
  }

  bool resolve_provider(const std::string& spec, provider_id& out) const {
    const auto parsed = provider_id::parse(spec);
    for (const auto& p : ctx->engine.registered_providers()) {
      if ((parsed && p.id == *parsed) || p.name == spec) {
        out = p.id;
        return true;
      }
    }
    return false;
  }

  // Chooses the writers and components that take part; false when it finished the backup.
  bool select() {
    std::vector<const writer_metadata*> included;
    if (args.writers.empty()) {
      for (const auto& m : metadata) included.push_back(&m);
    } else {
      for (const auto& spec : args.writers) {
        const auto it = std::find_if(metadata.begin(), metadata.end(), [&](const auto& m) {
          return writer_matches(m.identity, spec);
        });
        if (it == metadata.end()) {
          // A writer that vetoed Identify is absent from the metadata: report its own code.
          for (const auto& r : session.phase_reports()) {
            if (r.event != writer_event::identify) continue;
            for (const auto& x : r.results) {
              if ((x.name == spec || x.instance_id.to_string() == spec) && x.code) {
                finish(x.code, "writer \"" + spec + "\" failed Identify: " + symbol_of(x.code) +
                                   (x.message.empty() ? "" : " (" + x.message + ")"));
                return false;
              }
            }
          }
          finish(errc::object_not_found,
                 "writer \"" + spec + "\" is not registered or did not answer Identify");
          return false;
        }
        if (std::find(included.begin(), included.end(), &*it) == included.end()) {
          included.push_back(&*it);
        }
      }
    }
    const bool component_mode = !args.writers.empty() || !args.components.empty();
    if (!component_mode) {
      for (const auto* m : included) participating.insert(m->identity.instance_id);
      return true;
    }
    std::vector<bool> used(args.components.size(), false);
    for (const auto* m : included) {
      for (const auto& c : m->components) {
        bool take = args.components.empty() && c.selectable;
        for (std::size_t i = 0; i < args.components.size(); ++i) {
          if (component_matches(c, args.components[i])) {
            take = true;
            used[i] = true;
          }
        }
        if (!take) continue;
        if (auto e = session.add_component(m->identity.instance_id, m->identity.class_id, c.type,
                                           c.logical_path, c.name)) {
          finish_call_failed(e, "AddComponent(" + m->identity.name + ", " + c.name + ") failed");
          return false;
        }
        selected.push_back({m->identity.instance_id, m->identity.class_id, c});
        participating.insert(m->identity.instance_id);
      }
    }
    for (std::size_t i = 0; i < used.size(); ++i) {
      if (!used[i]) {
        finish(errc::object_not_found,
               "component \"" + args.components[i] + "\" not found in the selected writers");
        return false;
      }
    }
    if (selected.empty()) {
      finish(errc::invalid_arg, "the selected writers have no selectable component");
      return false;
    }
    return true;
  }

  // ---- the journal (the daemon's catalog) ---------------------------------------------------

  std::error_code journal_start(const snapshot_set_id& new_set) {
    if (!ctx->journal) return {};
    journal_set j;
    j.set = new_set;
    j.context =
        args.persistent ? to_raw(snapshot_context::app_rollback) : to_raw(snapshot_context::backup);
    if (args.provider) resolve_provider(*args.provider, j.provider);
    for (std::size_t i = 0; i < snapshots.size(); ++i) {
      j.volumes.emplace_back(snapshots[i], args.volumes[i]);
    }
    j.requester = "request " + std::to_string(id);
    if (auto e = ctx->journal->set_starting(j)) return e;
    journaled = true;
    return {};
  }

  void journal_end(std::error_code ec, bool aborted, const std::string& message) {
    if (!journaled) return;
    journaled = false;
    journal_outcome o;
    o.result = ec;
    o.aborted = aborted;
    o.message = message;
    o.grade = session.consistency();
    for (const auto& s : snapshots) {
      snapshot_properties p;
      if (!session.get_snapshot_properties(s, p)) o.snapshots.push_back(p);
    }
    o.writers = last_status;
    for (const auto& p : o.snapshots) created.push_back(p.id);
    snapshot_set_id which;
    {
      std::lock_guard lock(mutex);
      which = set;
    }
    ctx->journal->set_finished(which, o);
  }

  // The session is released: auto-release snapshots are gone with it (spec §11.5).
  void journal_released() {
    if (!ctx->journal || args.persistent) return;
    for (const auto& s : created) ctx->journal->snapshot_deleted(s);
    created.clear();
  }

  // ---- endings -----------------------------------------------------------------------------

  json result(const std::error_code& ec) {
    json r;
    {
      std::lock_guard lock(mutex);
      r["set"] = set.is_null() ? json(nullptr) : json(set.to_string());
    }
    json snaps = json::array();
    for (const auto& s : snapshots) {
      snapshot_properties p;
      if (!session.get_snapshot_properties(s, p)) snaps.push_back(snapshot_json(p));
    }
    r["snapshots"] = std::move(snaps);
    r["consistency"] = std::string(grade_name(session.consistency()));
    if (const auto hold = session.write_hold(); !hold.filesystems.empty() || hold.failure) {
      json h = {{"filesystems", hold.filesystems},
                {"held_us", hold.held.count()},
                {"expired", hold.expired}};
      if (hold.failure) {
        h["failure"] = symbol_of(hold.failure);
        h["message"] = hold.message;
      }
      r["write_hold"] = std::move(h);
    }
    r["writers"] = writers_json(with_identify_failures(last_status, session.phase_reports(),
                                                       ctx->engine.registered_writers()));
    durations["total"] = at_us();
    r["durations_us"] = durations;
    r["hresult"] = symbol_of(ec);
    r["persistent"] = args.persistent;
    std::lock_guard lock(mutex);
    if (abort_requested || !triggers.empty()) {
      json a = {{"fired", abort_requested}};
      json requested = json::array();
      for (const auto& t : triggers) requested.push_back(t.reason);
      a["requested"] = std::move(requested);
      if (abort_requested) {
        a["reason"] = abort_reason;
        a["hresult"] = symbol_of(abort_result);
        a["duration_us"] = abort_duration.count();
        if (cancel_seen) a["cancel_us"] = us(*cancel_seen - abort_called);
      }
      r["abort"] = std::move(a);
    }
    return r;
  }

  // Ends the run: no abort is accepted from now on, and the timers stop.
  void close_run() {
    std::vector<std::unique_ptr<vss::timer>> spent;
    {
      std::lock_guard lock(mutex);
      finished = true;
      spent.swap(timers);
    }
    for (auto& t : spent) t->cancel();
  }

  void release_session() {
    begin("Release");
    const auto t0 = ctx->clock->now();
    const auto before = session.phase_reports().size();
    // Waiting here frees the writers before the requester hears the outcome, so that its next
    // backup does not meet VSS_E_SNAPSHOT_SET_IN_PROGRESS.
    auto ec = wait(session.async_release(use_async_op));
    end("Release", ec == errc::async_finished ? std::error_code{} : ec, t0, before);
    journal_released();
    forget();
  }

  void finish(std::error_code ec, const std::string& message) {
    // The VSS service's event ids (spec 9): 12293 for a provider's failure, 8229 for a writer's
    // veto, 8193 for anything else.
    const auto sym = symbol_of(ec);
    const int event_id = sym.find("PROVIDER") != std::string::npos ||
                                 sym.find("_WRITES_TIMEOUT") != std::string::npos
                             ? 12293
                             : (sym.find("WRITER") != std::string::npos ? 8229 : 8193);
    ctx->log(event_id, true, "backup request " + std::to_string(id) + " failed: " + message);
    close_run();
    bool has_set = false;
    {
      std::lock_guard lock(mutex);
      has_set = !set.is_null();
    }
    // A failed backup still has to be aborted by its requester (spec §10.3).
    if (has_set) {
      begin("AbortBackup");
      const auto t0 = ctx->clock->now();
      const auto before = session.phase_reports().size();
      end("AbortBackup", session.abort_backup(), t0, before);
    }
    if (!metadata.empty()) gather_status();
    journal_end(ec, false, message);
    auto body = vss_error_body(id, ec, message);
    body["result"] = result(ec);
    release_session();
    conn->send(std::move(body));
  }

  void finish_vetoed(const writer_status& w, std::string_view phase_name) {
    const auto code = w.failure ? w.failure : make_error_code(errc::writer_error_nonretryable);
    finish(code, "writer \"" + w.name + "\" failed in " + std::string(phase_name) + " (" +
                     std::string(to_string(w.state)) + "): " + symbol_of(w.failure) +
                     (w.message.empty() ? "" : " - " + w.message));
  }

  // A synchronous call failed: if an abort fired meanwhile (a timed abort lands between any
  // two calls), the call failed because of it (VSS_E_BAD_STATE on an aborted session) and the
  // backup ends as aborted, not as that call's failure.
  void finish_call_failed(std::error_code ec, const std::string& message) {
    if (abort_pending()) return finish_aborted();
    finish(ec, message);
  }

  void finish_aborted() {
    // A cancellation nobody asked for (the engine shutting down) still ends with AbortBackup.
    request_abort("the engine cancelled the backup");
    std::string reason;
    {
      std::unique_lock lock(mutex);
      changed.wait(lock, [&] { return abort_done; });
      reason = abort_reason;
    }
    close_run();
    if (!metadata.empty()) gather_status();
    const std::error_code ec = errc::async_cancelled;
    journal_end(ec, true, "aborted (" + reason + ")");
    auto body = vss_error_body(id, ec, "backup aborted (" + reason + ")");
    body["result"] = result(ec);
    release_session();
    conn->send(std::move(body));
  }

  void finish_ok() {
    {
      std::unique_lock lock(mutex);
      if (abort_requested) {
        lock.unlock();
        return finish_aborted();
      }
      finished = true;
    }
    close_run();
    journal_end({}, false, {});
    auto body = reply_body(id, result({}));
    if (args.persistent) {
      release_session();
      conn->send(std::move(body));
      return;
    }
    // The auto-release snapshots live as long as the session: until the requester goes.
    {
      std::lock_guard lock(mutex);
      kept = true;
    }
    conn->send(std::move(body));
    // A disconnect() that came while the backup ran found it running and only asked for an
    // abort, which came too late: the session is released here instead.
    bool gone = false;
    {
      std::lock_guard lock(conn->send_mutex);
      gone = conn->disconnected;
    }
    if (gone) release_kept();
  }

  // Releases a kept session without waiting (the requester is gone).
  void release_kept() {
    {
      std::lock_guard lock(mutex);
      if (!kept) return;
      kept = false;
    }
    session.async_release([self = shared_from_this()](std::error_code) {
      self->journal_released();
      self->forget();
    });
  }

  // The session is released: nobody can reach this run any more.
  void forget() {
    auto self = shared_from_this();
    ctx->unregister(self);
    std::lock_guard lock(conn->mutex);
    std::erase(conn->runs, self);
  }

  void on_disconnect() {
    bool was_kept = false;
    {
      std::lock_guard lock(mutex);
      was_kept = kept;
    }
    if (was_kept) {
      release_kept();
    } else {
      request_abort("requester disconnected");
    }
  }
};

void context_state::unregister(const std::shared_ptr<backup_run>& run) {
  std::lock_guard lock(mutex);
  std::erase(runs, run);
  std::erase(gathering, run);
  for (auto it = by_set.begin(); it != by_set.end();) {
    it = it->second == run ? by_set.erase(it) : std::next(it);
  }
}

}  // namespace detail

// ---- service_context ----------------------------------------------------------------------

service_context::service_context(vss::engine& engine)
    : state_(std::make_shared<detail::context_state>(engine)) {
  state_->status_hook = &status;
  state_->log_hook = &log;
}

service_context::~service_context() {
  std::vector<std::shared_ptr<detail::backup_run>> runs;
  {
    std::lock_guard lock(state_->mutex);
    runs = state_->runs;
  }
  for (auto& r : runs) r->request_abort("service shutting down");
  state_->join_all();
  for (auto& r : runs) r->release_kept();
  std::lock_guard lock(state_->mutex);
  state_->status_hook = nullptr;
  state_->log_hook = nullptr;
}

vss::engine& service_context::engine() const noexcept { return state_->engine; }

void service_context::set_journal(std::shared_ptr<snapshot_journal> journal) {
  std::lock_guard lock(state_->mutex);
  state_->journal = std::move(journal);
}

void service_context::refuse_provider_faults(std::string why) {
  std::lock_guard lock(state_->mutex);
  state_->no_provider_faults_ = std::move(why);
}

void detail::context_state::notify_writer_event(const snapshot_set_id& set,
                                                const writer_instance_id& writer,
                                                writer_event event) {
  std::vector<std::shared_ptr<backup_run>> targets;
  {
    std::lock_guard lock(mutex);
    if (set.is_null()) {
      if (event == writer_event::identify) targets = gathering;
    } else if (auto it = by_set.find(set); it != by_set.end()) {
      targets.push_back(it->second);
    }
  }
  for (auto& r : targets) r->on_writer_event(writer, event);
}

void detail::context_state::notify_provider_call(const snapshot_set_id& set,
                                                 mocks::provider_call call) {
  std::vector<std::shared_ptr<backup_run>> targets;
  {
    std::lock_guard lock(mutex);
    for (const auto& [s, run] : by_set) {
      if (set.is_null() || s == set) targets.push_back(run);
    }
  }
  for (auto& r : targets) r->on_provider_call(call);
}

void service_context::notify_writer_event(const snapshot_set_id& set,
                                          const writer_instance_id& writer, writer_event event) {
  state_->notify_writer_event(set, writer, event);
}

void service_context::notify_provider_call(const snapshot_set_id& set, mocks::provider_call call) {
  state_->notify_provider_call(set, call);
}

std::function<void(const snapshot_set_id&, const writer_instance_id&, writer_event)>
service_context::writer_event_sink() const {
  return [weak = std::weak_ptr<detail::context_state>(state_)](
             const snapshot_set_id& set, const writer_instance_id& writer, writer_event e) {
    if (auto state = weak.lock(); state && !state->is_stopping()) {
      state->notify_writer_event(set, writer, e);
    }
  };
}

std::function<void(const snapshot_set_id&, mocks::provider_call)>
service_context::provider_call_sink() const {
  return [weak = std::weak_ptr<detail::context_state>(state_)](const snapshot_set_id& set,
                                                               mocks::provider_call call) {
    if (auto state = weak.lock(); state && !state->is_stopping()) {
      state->notify_provider_call(set, call);
    }
  };
}

std::shared_ptr<const mocks::fault_plan> service_context::plan_for(
    const snapshot_set_id& set) const {
  std::lock_guard lock(state_->mutex);
  if (set.is_null()) {
    return state_->gathering.size() == 1 ? state_->gathering.front()->args.plan : nullptr;
  }
  const auto it = state_->by_set.find(set);
  return it == state_->by_set.end() ? nullptr : it->second->args.plan;
}

std::vector<snapshot_set_id> service_context::running_backups() const {
  std::vector<std::shared_ptr<detail::backup_run>> runs;
  {
    std::lock_guard lock(state_->mutex);
    for (const auto& [s, run] : state_->by_set) runs.push_back(run);
  }
  std::vector<snapshot_set_id> out;
  for (const auto& r : runs) {
    std::lock_guard lock(r->mutex);
    if (!r->finished) out.push_back(r->set);
  }
  return out;
}

namespace {

std::error_code abort_running(detail::context_state& ctx, const snapshot_set_id& set,
                              detail::abort_done_fn done) {
  std::shared_ptr<detail::backup_run> run;
  {
    std::lock_guard lock(ctx.mutex);
    if (auto it = ctx.by_set.find(set); it != ctx.by_set.end()) run = it->second;
  }
  if (run) {
    std::lock_guard lock(run->mutex);
    if (run->finished && !run->abort_requested) run.reset();
  }
  if (!run) return errc::object_not_found;
  run->request_abort("abort requested for set " + set.to_string(), std::move(done));
  return {};
}

}  // namespace

std::error_code service_context::abort_backup(
    const snapshot_set_id& set,
    std::function<void(std::error_code, std::chrono::microseconds)> done) {
  return abort_running(*state_, set, std::move(done));
}

// ---- requester_service --------------------------------------------------------------------

namespace {

json status_result(detail::context_state& ctx) {
  json r = json::object();
  std::function<nlohmann::json()> hook;
  std::vector<std::shared_ptr<detail::backup_run>> runs;
  {
    std::lock_guard lock(ctx.mutex);
    if (ctx.status_hook != nullptr) hook = *ctx.status_hook;
    runs = ctx.runs;
  }
  if (hook) {
    json extra = hook();
    if (extra.is_object()) r.update(extra);
  }
  json running = json::array();
  for (const auto& run : runs) {
    std::lock_guard lock(run->mutex);
    if (run->finished) continue;
    running.push_back({{"set", run->set.is_null() ? json(nullptr) : json(run->set.to_string())},
                       {"request", run->id},
                       {"phase", run->phase},
                       {"elapsed_us", us(ctx.clock->now() - run->started)}});
  }
  r["running"] = std::move(running);
  r["writers"] = ctx.engine.registered_writers().size();
  json providers = json::array();
  for (const auto& p : ctx.engine.registered_providers()) {
    providers.push_back({{"id", p.id.to_string()},
                         {"name", p.name},
                         {"type", std::string(to_string(p.type))},
                         {"version", p.version}});
  }
  r["providers"] = std::move(providers);
  return r;
}

// A session for an administrative op: Query and DeleteSnapshots see every context.
std::error_code admin_session(vss::engine& engine, backup_session& s) {
  s = engine.create_backup_session();
  if (auto ec = s.initialize_for_backup()) return ec;
  return s.set_context(to_raw(snapshot_context::all));
}

void run_writers(detail::context_state& ctx, detail::connection_state& conn, std::int64_t id) {
  auto s = ctx.engine.create_backup_session();
  if (auto ec = s.initialize_for_backup()) {
    return conn.send(vss_error_body(id, ec, "InitializeForBackup failed"));
  }
  auto op = s.async_gather_writer_metadata(use_async_op);
  op.wait();
  if (auto ec = op.query_status(); ec != errc::async_finished) {
    s.release();
    return conn.send(vss_error_body(id, ec, "GatherWriterMetadata failed"));
  }
  auto st = s.async_gather_writer_status(use_async_op);
  st.wait();
  if (auto ec = st.query_status(); ec != errc::async_finished) {
    s.release();
    return conn.send(vss_error_body(id, ec, "GatherWriterStatus failed"));
  }
  auto status = with_identify_failures(s.get_writer_status(), s.phase_reports(),
                                       ctx.engine.registered_writers());
  s.release();
  conn.send(reply_body(id, {{"writers", writers_json(status)}}));
}

void run_snapshots(detail::context_state& ctx, detail::connection_state& conn, std::int64_t id,
                   std::optional<snapshot_set_id> only) {
  backup_session s;
  std::vector<snapshot_properties> found;
  std::error_code ec = admin_session(ctx.engine, s);
  if (!ec) ec = s.query(found);
  s.release();
  if (ec) return conn.send(vss_error_body(id, ec, "Query failed"));
  json list = json::array();
  for (const auto& p : found) {
    if (!only || p.set_id == *only) list.push_back(snapshot_json(p));
  }
  conn.send(reply_body(id, {{"snapshots", std::move(list)}}));
}

void run_delete(detail::context_state& ctx, detail::connection_state& conn, std::int64_t id,
                guid target, object_type type) {
  backup_session s;
  std::int32_t deleted = 0;
  snapshot_id not_deleted;
  std::error_code ec = admin_session(ctx.engine, s);
  std::vector<snapshot_properties> doomed;  // the snapshots the journal must forget
  if (!ec && ctx.journal) {
    std::vector<snapshot_properties> all;
    if (!s.query(all)) {
      for (const auto& p : all) {
        if ((type == object_type::snapshot && p.id == snapshot_id(target)) ||
            (type == object_type::snapshot_set && p.set_id == snapshot_set_id(target))) {
          doomed.push_back(p);
        }
      }
    }
  }
  if (!ec) ec = s.delete_snapshots(target, type, true, deleted, not_deleted);
  if (!doomed.empty()) {
    // A failure stops the deletion part way: the journal forgets what is really gone.
    std::vector<snapshot_properties> left;
    (void)s.query(left);
    for (const auto& p : doomed) {
      const bool still_there = std::any_of(
          left.begin(), left.end(), [&](const snapshot_properties& q) { return q.id == p.id; });
      if (!still_there) ctx.journal->snapshot_deleted(p.id);
    }
  }
  s.release();
  if (ec) {
    std::string what = type == object_type::snapshot ? "snapshot " : "snapshot set ";
    what += target.to_string();
    auto body = vss_error_body(
        id, ec,
        "DeleteSnapshots(" + what + ") failed" +
            (not_deleted.is_null() ? "" : " at snapshot " + not_deleted.to_string()) + " after " +
            std::to_string(deleted) + " deleted");
    body["result"] = {{"deleted", deleted}};
    return conn.send(std::move(body));
  }
  conn.send(reply_body(id, {{"deleted", deleted}}));
}

void start_backup(const std::shared_ptr<detail::context_state>& ctx,
                  const std::shared_ptr<detail::connection_state>& conn, std::int64_t id,
                  const json& args) {
  auto run = std::make_shared<detail::backup_run>(
      ctx, conn, id, parse_backup_args(args, ctx->no_provider_faults()));
  const bool component_mode = !run->args.writers.empty() || !run->args.components.empty();
  auto& s = run->session;
  s = ctx->engine.create_backup_session();
  std::error_code ec = s.initialize_for_backup();
  if (!ec && run->args.persistent) ec = s.set_context(to_raw(snapshot_context::app_rollback));
  if (!ec) ec = s.set_backup_state(component_mode, false, backup_type::full);
  if (ec) return conn->send(vss_error_body(id, ec, "the backup session could not be set up"));
  for (const auto& identity : ctx->engine.registered_writers()) {
    run->names[identity.instance_id] = identity.name;
  }
  {
    std::lock_guard lock(ctx->mutex);
    ctx->runs.push_back(run);
    ctx->gathering.push_back(run);
  }
  {
    std::lock_guard lock(conn->mutex);
    conn->runs.push_back(run);
  }
  run->fire_matching([](const trigger& t) { return t.what == trigger::kind::elapsed; });
  if (!ctx->spawn([run] { run->run(); })) {
    run->close_run();
    run->forget();
    s.release();
    conn->send(error_body("server_busy", "the service is shutting down", id));
  }
}

}  // namespace

requester_service::requester_service(service_context& context, sink out)
    : context_(context.state_),
      connection_(std::make_shared<detail::connection_state>(std::move(out))) {}

requester_service::~requester_service() { disconnect(); }

void requester_service::disconnect() {
  {
    std::lock_guard lock(connection_->send_mutex);
    if (connection_->disconnected) return;
    connection_->disconnected = true;
  }
  std::vector<std::shared_ptr<detail::backup_run>> runs;
  {
    std::lock_guard lock(connection_->mutex);
    runs.swap(connection_->runs);
  }
  for (auto& r : runs) r->on_disconnect();
}

void requester_service::handle(const nlohmann::json& request) {
  {
    std::lock_guard lock(connection_->send_mutex);
    if (connection_->disconnected) return;
  }
  auto& conn = *connection_;
  if (!request.is_object()) {
    return conn.send(error_body("bad_message", "request: expected an object", std::nullopt));
  }
  const auto id_it = request.find("id");
  if (id_it == request.end() || !id_it->is_number_integer()) {
    return conn.send(error_body("bad_message", "id: expected an integer", std::nullopt));
  }
  const auto id = id_it->get<std::int64_t>();
  const auto op_it = request.find("op");
  if (op_it == request.end() || !op_it->is_string()) {
    return conn.send(error_body("bad_message", "op: expected a string", id));
  }
  static const json no_args = json::object();
  const json* args = &no_args;
  if (const auto a = request.find("args"); a != request.end() && !a->is_null()) {
    if (!a->is_object())
      return conn.send(error_body("bad_message", "args: expected an object", id));
    args = &*a;
  }
  const auto& op = op_it->get_ref<const std::string&>();
  auto ctx = context_;
  auto out = connection_;
  auto busy = [&] { conn.send(error_body("server_busy", "the service is shutting down", id)); };
  try {
    if (op == "status") {
      conn.send(reply_body(id, status_result(*ctx)));
    } else if (op == "writers") {
      if (!ctx->spawn([ctx, out, id] { run_writers(*ctx, *out, id); })) busy();
    } else if (op == "snapshots") {
      auto only = id_arg<snapshot_set_id>(*args, "set");
      if (!ctx->spawn([ctx, out, id, only] { run_snapshots(*ctx, *out, id, only); })) busy();
    } else if (op == "delete") {
      const auto snap = id_arg<snapshot_id>(*args, "snapshot");
      const auto set = id_arg<snapshot_set_id>(*args, "set");
      if (snap.has_value() == set.has_value()) {
        throw bad_arg("args: give exactly one of \"snapshot\" and \"set\"");
      }
      const guid target = snap ? snap->value() : set->value();
      const auto type = snap ? object_type::snapshot : object_type::snapshot_set;
      if (!ctx->spawn([ctx, out, id, target, type] { run_delete(*ctx, *out, id, target, type); })) {
        busy();
      }
    } else if (op == "abort") {
      const auto set = id_arg<snapshot_set_id>(*args, "set");
      if (!set) throw bad_arg("args.set: required");
      auto done = [out, id, set = *set](std::error_code ec, std::chrono::microseconds took) {
        if (ec) {
          out->send(vss_error_body(
              id, ec,
              ec == errc::object_not_found
                  ? "the backup of set " + set.to_string() + " finished before the abort"
                  : "AbortBackup failed"));
          return;
        }
        out->send(reply_body(
            id, {{"set", set.to_string()}, {"hresult", "S_OK"}, {"duration_us", took.count()}}));
      };
      if (auto ec = abort_running(*ctx, *set, std::move(done))) {
        conn.send(vss_error_body(id, ec, "no backup of set " + set->to_string() + " is running"));
      }
    } else if (op == "backup") {
      start_backup(ctx, out, id, *args);
    } else {
      conn.send(error_body("unknown_op", "unknown op \"" + op + "\"", id));
    }
  } catch (const bad_arg& e) {
    conn.send(error_body("bad_message", e.what(), id, std::string(symbol(errc::invalid_arg))));
  }
}

}  // namespace vss::daemon
