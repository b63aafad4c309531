#include "vss/mocks/fake_writer.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "held_answer.hpp"

namespace vss::mocks {
namespace {

std::string event_name(writer_event e) { return std::string(vss::to_string(e)); }

}  // namespace

// Everything mutable lives here, owned by the writer and reached WEAKLY from timer handlers:
// a delay timer that fires while (or after) the writer is destroyed finds nothing to do.
struct fake_writer::state {
  struct kept {
    writer_context ctx;
    writer_event event;
    fault_kind kind;
    snapshot_set_id set;
  };
  struct handed {  // a hang context given to the stepper, dropped if its Abort arrives
    writer_event event;
    snapshot_set_id set;
  };
  struct delayed {
    std::unique_ptr<vss::timer> timer;
    writer_context ctx;
  };

  std::string name;
  writer_instance_id instance;
  fake_writer_options options;
  std::shared_ptr<vss::clock> history_clock;

  mutable std::mutex mutex;
  std::array<fault, writer_event_count> script{};
  std::vector<recorded_event> history;
  std::vector<kept> held;
  std::vector<handed> handed_off;
  std::map<std::uint64_t, delayed> timers;
  std::uint64_t next_timer = 0;
};

fake_writer::fake_writer(std::string name, application_level level, fake_writer_options options)
    : fake_writer(writer_identity{.name = std::move(name), .level = level}, std::move(options)) {}

fake_writer::fake_writer(writer_identity identity, fake_writer_options options)
    : writer(std::move(identity)), state_(std::make_shared<state>()) {
  auto& s = *state_;
  s.name = this->identity().name;
  s.instance = this->identity().instance_id;
  s.options = std::move(options);
  if (s.options.components.empty()) {
    s.options.components.push_back({component_type::file_group,
                                    "",
                                    s.name + "-data",
                                    "",
                                    true,
                                    {"/data/" + s.name + "/*"},
                                    {"/data"}});
  }
  s.history_clock = s.options.clock ? s.options.clock : vss::steady_clock_source();
}

fake_writer::~fake_writer() {
  std::map<std::uint64_t, state::delayed> timers;
  std::vector<state::kept> held;
  {
    std::lock_guard lock(state_->mutex);
    timers.swap(state_->timers);
    held.swap(state_->held);
  }
  // Timers go first: cancelling posts their handlers, which find the map empty. The contexts
  // are then dropped, outside the lock.
  for (auto& [id, d] : timers) d.timer.reset();
}

fake_writer& fake_writer::on(writer_event event, fault f) {
  switch (f.kind) {
    case fault_kind::delay:
      if (!state_->options.clock || !state_->options.executor) {
        throw std::invalid_argument(
            "fake_writer::on: a delay fault needs fake_writer_options::clock and "
            "fake_writer_options::executor (use the engine's)");
      }
      if (f.after < std::chrono::nanoseconds::zero()) {
        throw std::invalid_argument("fake_writer::on: a delay fault needs a non-negative delay");
      }
      break;
    case fault_kind::veto:
      detail::check_writer_veto(f.code, "fake_writer::on");
      break;
    default:
      break;
  }
  std::lock_guard lock(state_->mutex);
  state_->script[static_cast<std::size_t>(event)] = f;
  return *this;
}

fault fake_writer::script(writer_event event) const {
  std::lock_guard lock(state_->mutex);
  return state_->script[static_cast<std::size_t>(event)];
}

std::vector<writer_event> fake_writer::events() const {
  std::lock_guard lock(state_->mutex);
  std::vector<writer_event> out;
  out.reserve(state_->history.size());
  for (const auto& e : state_->history) out.push_back(e.event);
  return out;
}

std::size_t fake_writer::count(writer_event event) const {
  std::lock_guard lock(state_->mutex);
  return static_cast<std::size_t>(
      std::count_if(state_->history.begin(), state_->history.end(),
                    [&](const recorded_event& e) { return e.event == event; }));
}

std::vector<recorded_event> fake_writer::history() const {
  std::lock_guard lock(state_->mutex);
  return state_->history;
}

std::size_t fake_writer::held() const {
  std::lock_guard lock(state_->mutex);
  return state_->held.size();
}

std::size_t fake_writer::release_held(fault answer) {
  detail::check_held_answer(answer, "fake_writer::release_held");
  std::vector<state::kept> held;
  {
    std::lock_guard lock(state_->mutex);
    held.swap(state_->held);
  }
  for (auto& k : held) detail::give(std::move(k.ctx), answer, "fake_writer");
  return held.size();
}

void fake_writer::on_identify(writer_context ctx) {
  if (auto* md = ctx.metadata()) md->components = state_->options.components;
  handle(writer_event::identify, std::move(ctx));
}

void fake_writer::on_prepare_backup(writer_context ctx) {
  handle(writer_event::prepare_backup, std::move(ctx));
}

void fake_writer::on_prepare_snapshot(writer_context ctx) {
  handle(writer_event::prepare_snapshot, std::move(ctx));
}

void fake_writer::on_freeze(writer_context ctx) { handle(writer_event::freeze, std::move(ctx)); }

void fake_writer::on_thaw(writer_context ctx) { handle(writer_event::thaw, std::move(ctx)); }

void fake_writer::on_post_snapshot(writer_context ctx) {
  handle(writer_event::post_snapshot, std::move(ctx));
}

void fake_writer::on_abort(writer_context ctx) { handle(writer_event::abort, std::move(ctx)); }

void fake_writer::on_backup_complete(writer_context ctx) {
  handle(writer_event::backup_complete, std::move(ctx));
}

void fake_writer::on_backup_shutdown(writer_context ctx) {
  handle(writer_event::backup_shutdown, std::move(ctx));
}

void fake_writer::handle(writer_event event, writer_context ctx) {
  auto& s = *state_;
  const auto set = ctx.snapshot_set();
  fault f;
  {
    std::lock_guard lock(s.mutex);
    f = s.script[static_cast<std::size_t>(event)];
    s.history.push_back({s.history.size(), s.name, s.instance, event, set, s.history_clock->now(),
                         std::this_thread::get_id()});
  }
  if (s.options.recorder) s.options.recorder->record(s.name, s.instance, event, set);

  if (event == writer_event::abort) {
    // The abort supersedes every hang of this session: the engine no longer waits for those
    // answers, so the writer lets go of them (hang_ignore_abort contexts stay).
    std::vector<state::kept> superseded;
    std::vector<writer_event> in_stepper;
    {
      std::lock_guard lock(s.mutex);
      auto keep = std::stable_partition(s.held.begin(), s.held.end(), [&](const state::kept& k) {
        return k.kind != fault_kind::hang || k.event == writer_event::identify || k.set != set;
      });
      std::move(keep, s.held.end(), std::back_inserter(superseded));
      s.held.erase(keep, s.held.end());
      auto handed = std::stable_partition(
          s.handed_off.begin(), s.handed_off.end(), [&](const state::handed& h) {
            return h.event == writer_event::identify || h.set != set;
          });
      for (auto it = handed; it != s.handed_off.end(); ++it) in_stepper.push_back(it->event);
      s.handed_off.erase(handed, s.handed_off.end());
    }
    for (auto e : in_stepper) s.options.stepper->drop(s.name, e, set);
  }

  switch (f.kind) {
    case fault_kind::succeed:
      ctx.complete();
      return;
    case fault_kind::veto:
      ctx.fail(f.code, "fake_writer: scripted veto at " + event_name(event));
      return;
    case fault_kind::fail_without_code:
      return;  // `ctx` goes out of scope unanswered
    case fault_kind::hang:
    case fault_kind::hang_ignore_abort:
      if (s.options.stepper) {
        if (f.kind == fault_kind::hang) {
          std::lock_guard lock(s.mutex);
          s.handed_off.push_back({event, set});
        }
        s.options.stepper->hold(s.name, std::move(ctx));
      } else {
        std::lock_guard lock(s.mutex);
        s.held.push_back({std::move(ctx), event, f.kind, set});
      }
      return;
    case fault_kind::delay: {
      std::lock_guard lock(s.mutex);
      const auto id = s.next_timer++;
      auto& d = s.timers[id];
      d.ctx = std::move(ctx);
      d.timer = s.options.clock->create_timer(s.options.executor);
      // Armed under the lock: the handler (never run inline) then always finds its entry.
      d.timer->async_wait_until(
          s.options.clock->now() + std::chrono::ceil<vss::clock::duration>(f.after),
          [weak = std::weak_ptr<state>(state_), id](bool expired) {
            auto self = weak.lock();
            if (!self || !expired) return;
            writer_context due;
            std::unique_ptr<vss::timer> spent;
            {
              std::lock_guard l(self->mutex);
              auto it = self->timers.find(id);
              if (it == self->timers.end()) return;
              due = std::move(it->second.ctx);
              spent = std::move(it->second.timer);
              self->timers.erase(it);
            }
            due.complete();
          });
      return;
    }
    case fault_kind::complete_twice:
      ctx.complete();
      ctx.complete();
      return;
    case fault_kind::throw_exception:
      throw std::runtime_error("fake_writer: scripted throw at " + event_name(event));
  }
}

}  // namespace vss::mocks
