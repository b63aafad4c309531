#include "vss/mocks/backup_scenario.hpp"

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <variant>

#include "vss/backup_session.hpp"

namespace vss::mocks {
namespace {

// One requester call's completion: counts how often it ran, so a second run is reported.
struct call_result {
  std::optional<std::error_code> ec;
  int runs = 0;
  auto handler() {
    return [this](std::error_code e) {
      if (++runs == 1) ec = e;
    };
  }
  bool done() const { return runs > 0; }
};

std::string describe(const std::optional<std::error_code>& ec) {
  if (!ec) return "(not called)";
  return std::string(symbol(static_cast<errc>(ec->value())));
}

}  // namespace

struct backup_scenario::state {
  explicit state(scenario_options o) : options(std::move(o)) {}

  scenario_options options;
  // The io_context outlives the engine: handlers still queued at destruction are destroyed
  // with it, after the engine is gone.
  asio::io_context io;
  std::shared_ptr<vss::manual_clock> clock = std::make_shared<vss::manual_clock>();
  std::shared_ptr<event_recorder> recorder = std::make_shared<event_recorder>(clock);
  std::shared_ptr<vss::memory_provider> memory = std::make_shared<vss::memory_provider>();
  std::shared_ptr<faulty_provider> provider;
  std::unique_ptr<vss::engine> engine;
  std::vector<std::shared_ptr<fake_writer>> writers;
  std::vector<writer_registration> registrations;
  std::optional<backup_session> session;
  std::unique_ptr<vss::timer> abort_timer;
  bool ran = false;

  // The abort trigger: armed once, fires AbortBackup `offset` after the point is reached.
  bool abort_armed = false;
  bool abort_fired = false;
  vss::clock::time_point abort_called_at{};
  vss::clock::time_point abort_done_at{};
  call_result abort;

  void arm_abort(std::chrono::nanoseconds offset) {
    if (abort_armed) return;
    abort_armed = true;
    abort_timer = clock->create_timer(io.get_executor());
    abort_timer->async_wait_until(
        clock->now() + std::chrono::duration_cast<vss::clock::duration>(offset),
        [this](bool expired) {
          if (expired) fire_abort();
        });
  }

  void fire_abort() {
    if (!session) return;
    abort_fired = true;
    abort_called_at = clock->now();
    session->async_abort_backup([this, h = abort.handler()](std::error_code ec) mutable {
      abort_done_at = clock->now();
      h(ec);
    });
  }

  // Runs ready handlers; when none are ready, jumps the virtual clock to the next deadline.
  bool drive(const std::function<bool()>& done) {
    const auto limit = clock->now() + options.virtual_time_limit;
    for (;;) {
      io.restart();
      io.poll();
      if (done()) return true;
      io.restart();
      if (io.poll() != 0) continue;
      if (clock->now() >= limit || !clock->advance_to_next()) return done();
    }
  }
};

backup_scenario::backup_scenario(scenario_options options)
    : s_(std::make_unique<state>(std::move(options))) {
  auto& s = *s_;
  if (s.options.writers == 0) {
    throw std::invalid_argument("backup_scenario: at least one writer is needed");
  }
  if (s.options.volumes.empty()) {
    throw std::invalid_argument("backup_scenario: at least one volume is needed");
  }
  engine_options eo = s.options.engine;
  eo.clock = s.clock;
  if (eo.shard_count == 0) eo.shard_count = 2;
  s.engine = std::make_unique<vss::engine>(s.io.get_executor(), std::move(eo));
  s.provider = std::make_shared<faulty_provider>(s.memory, s.clock, s.io.get_executor());
  if (auto ec = s.engine->register_provider(s.provider)) {
    throw std::system_error(ec, "backup_scenario: register_provider");
  }
  const auto& plan = s.options.plan;
  for (std::size_t i = 0; i < s.options.writers; ++i) {
    const auto& levels = s.options.levels;
    writer_identity id;
    id.class_id = writer_class_id::generate();
    id.instance_id = writer_instance_id::generate();
    id.name = "writer-" + std::to_string(i);
    id.level = levels.empty() ? application_level::front_end : levels[i % levels.size()];
    id.freeze_timeout = s.options.freeze_timeout;
    fake_writer_options fo;
    fo.clock = s.clock;
    fo.executor = s.io.get_executor();
    fo.recorder = s.recorder;
    fo.components = {component_info{.name = id.name + "-data", .volumes = s.options.volumes}};
    auto w = std::make_shared<fake_writer>(id, std::move(fo));
    for (std::size_t e = 0; e < writer_event_count; ++e) {
      const auto event = static_cast<writer_event>(e);
      if (auto f = plan.writer_fault(i, s.options.writers, id.name, event)) w->on(event, *f);
    }
    s.registrations.push_back(s.engine->register_writer(w));
    s.writers.push_back(std::move(w));
  }
  for (std::size_t c = 0; c < provider_call_count; ++c) {
    const auto call = static_cast<provider_call>(c);
    if (auto f = plan.provider_fault(call)) s.provider->on(call, *f);
  }
  if (auto trigger = plan.abort()) {
    const auto offset = trigger->offset;
    if (const auto* event = std::get_if<writer_event>(&trigger->point)) {
      s.recorder->set_listener([&s, want = *event, offset](const recorded_event& r) {
        // Listeners run inside a writer's handler: arm a timer rather than call in.
        if (r.event == want) asio::post(s.io, [&s, offset] { s.arm_abort(offset); });
      });
    } else {
      s.provider->set_listener(
          [&s, want = std::get<provider_call>(trigger->point), offset](provider_call c) {
            if (c == want) asio::post(s.io, [&s, offset] { s.arm_abort(offset); });
          });
    }
  }
}

backup_scenario::~backup_scenario() {
  auto& s = *s_;
  if (s.abort_timer) s.abort_timer->cancel();
  s.session.reset();
  s.registrations.clear();
  if (s.engine) {
    s.engine->shutdown();
    s.drive([] { return false; });
  }
}

fake_writer& backup_scenario::writer(std::size_t i) { return *s_->writers.at(i); }
std::size_t backup_scenario::writer_count() const noexcept { return s_->writers.size(); }
faulty_provider& backup_scenario::provider() noexcept { return *s_->provider; }
vss::manual_clock& backup_scenario::clock() noexcept { return *s_->clock; }
event_recorder& backup_scenario::recorder() noexcept { return *s_->recorder; }
vss::engine& backup_scenario::engine() noexcept { return *s_->engine; }

scenario_result backup_scenario::run() {
  auto& s = *s_;
  if (s.ran) throw std::logic_error("backup_scenario::run: a scenario runs once");
  s.ran = true;
  scenario_result r;
  const auto started = s.clock->now();
  bool all_done = true;
  auto fail = [&r](std::string rule, std::string detail) {
    r.violations.push_back({"(requester)", std::move(rule), std::move(detail)});
  };
  // Drives one asynchronous call; false when the forward path must stop.
  auto step = [&](call_result& c, std::optional<std::error_code>& out, auto start) {
    if (s.abort_fired) return false;
    start(c.handler());
    if (!s.drive([&] { return c.done(); })) {
      all_done = false;
      return false;
    }
    out = c.ec;
    return !*c.ec;
  };

  s.session.emplace(s.engine->create_backup_session());
  auto& session = *s.session;
  call_result gather, prepare, snapshot, status, complete, release;
  bool ok = !session.initialize_for_backup() &&
            !session.set_backup_state(s.options.select_components, false, backup_type::full);
  ok = ok && step(gather, r.gather_writer_metadata,
                  [&](auto h) { session.async_gather_writer_metadata(std::move(h)); });
  if (ok && s.options.select_components) {
    for (const auto& w : s.writers) {
      const auto& id = w->identity();
      (void)session.add_component(id.instance_id, id.class_id, component_type::file_group, "",
                                  id.name + "-data");
    }
  }
  snapshot_set_id set;
  ok = ok && !session.start_snapshot_set(set);
  for (const auto& volume : s.options.volumes) {
    snapshot_id snap;
    ok = ok && !session.add_to_snapshot_set(volume, provider_id{}, snap);
  }
  ok = ok && step(prepare, r.prepare_for_backup,
                  [&](auto h) { session.async_prepare_for_backup(std::move(h)); });
  ok = ok && step(snapshot, r.do_snapshot_set,
                  [&](auto h) { session.async_do_snapshot_set(std::move(h)); });
  if (s.abort_armed && !s.abort_fired) {
    // The trigger's point was reached but its offset runs past the forward path: let it land.
    s.drive([&] { return s.abort_fired; });
  }
  // The DoSnapshotSet result may have arrived through the abort; record it either way.
  if (snapshot.done()) r.do_snapshot_set = snapshot.ec;
  if (ok && !s.abort_fired) {
    std::optional<std::error_code> ignored;
    step(status, ignored, [&](auto h) { session.async_gather_writer_status(std::move(h)); });
    for (const auto& w : s.writers) {
      const auto& id = w->identity();
      (void)session.set_backup_succeeded(id.instance_id, id.class_id, component_type::file_group,
                                         "", id.name + "-data", true);
    }
    step(complete, r.backup_complete, [&](auto h) { session.async_backup_complete(std::move(h)); });
  }
  if (s.abort_armed && !s.abort_fired) s.drive([&] { return s.abort_fired; });
  if (s.abort_fired && !s.drive([&] { return s.abort.done(); })) all_done = false;
  {
    call_result final_status;
    session.async_gather_writer_status(final_status.handler());
    if (s.drive([&] { return final_status.done(); })) r.writers = session.get_writer_status();
  }
  session.async_release(release.handler());
  if (!s.drive([&] { return release.done(); })) all_done = false;
  // Let the provider rollback and every timer that is due finish.
  s.drive([] { return false; });

  r.abort_fired = s.abort_fired;
  if (s.abort.done()) {
    r.abort_backup = s.abort.ec;
    r.abort_duration = s.abort_done_at - s.abort_called_at;
  }
  r.finished = all_done && (!s.abort_fired || s.abort.done());
  r.events = s.recorder->events();
  r.snapshots_left = s.memory->query().size();
  r.virtual_elapsed = s.clock->now() - started;

  r.violations = check_writer_invariants(r.events, /*released=*/true);
  for (auto* c : {&gather, &prepare, &snapshot, &status, &complete, &release, &s.abort}) {
    if (c->runs > 1)
      fail("op_once", "a completion handler ran " + std::to_string(c->runs) + " times");
  }
  if (!r.finished) fail("finished", "the backup did not finish within the virtual time limit");
  if (r.abort_backup && *r.abort_backup) {
    fail("abort_result", "AbortBackup returned " + describe(r.abort_backup));
  }
  const auto& eo = s.options.engine;
  const auto abort_bound = std::chrono::nanoseconds(eo.deadlines.abort) +
                           std::chrono::nanoseconds(eo.hold_budget) + std::chrono::seconds(1);
  if (r.abort_backup && r.abort_duration > abort_bound) {
    fail("abort_deadline",
         "AbortBackup took " + std::to_string(r.abort_duration.count() / 1'000'000) + " ms");
  }
  const bool set_succeeded = r.do_snapshot_set && !*r.do_snapshot_set;
  if (!set_succeeded && r.snapshots_left != 0) {
    fail("snapshots_left",
         std::to_string(r.snapshots_left) + " snapshot(s) left by a set that did not succeed");
  }

  std::ostringstream out;
  out << "plan: " << s.options.plan.to_string() << "\n"
      << "GatherWriterMetadata " << describe(r.gather_writer_metadata) << ", PrepareForBackup "
      << describe(r.prepare_for_backup) << ", DoSnapshotSet " << describe(r.do_snapshot_set)
      << ", BackupComplete " << describe(r.backup_complete) << ", AbortBackup "
      << describe(r.abort_backup) << "\n"
      << s.recorder->timeline();
  for (const auto& v : r.violations) out << "violation: " << v << "\n";
  r.timeline = out.str();
  return r;
}

}  // namespace vss::mocks
