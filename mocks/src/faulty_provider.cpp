#include "vss/mocks/faulty_provider.hpp"

#include <array>
#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "vss/error.hpp"

namespace vss::mocks {
namespace {

using forward_fn = std::function<void(provider::completion)>;

bool is_synchronous(provider_call c) noexcept {
  return c == provider_call::begin_prepare || c == provider_call::delete_snapshot;
}

[[noreturn]] void scripted_throw(provider_call c) {
  throw std::runtime_error(std::string("faulty_provider: scripted throw at ") +
                           std::string(to_string(c)));
}

// For calls forwarded later (after a delay or a release): nobody up the stack would catch an
// exception of the inner provider, so it is reported as the engine reports a throwing
// provider.
void forward_late(const forward_fn& forward, provider::completion done) {
  try {
    forward(done);
  } catch (...) {
    done(errc::unexpected_provider_error);
  }
}

}  // namespace

// Reached weakly from timer handlers, so a timer firing while (or after) the wrapper is
// destroyed finds nothing to do.
struct faulty_provider::state {
  struct kept {
    forward_fn forward;
    completion done;
  };
  struct delayed {
    std::unique_ptr<vss::timer> timer;
    forward_fn forward;
    completion done;
  };

  std::shared_ptr<vss::clock> clock;
  asio::any_io_executor executor;

  mutable std::mutex mutex;
  std::array<fault, provider_call_count> script{};
  std::array<std::size_t, provider_call_count> counts{};
  std::vector<provider_call> history;
  std::vector<kept> held;
  std::map<std::uint64_t, delayed> timers;
  std::uint64_t next_timer = 0;
  std::shared_ptr<const std::function<void(provider_call)>> listener;
};

faulty_provider::faulty_provider(std::shared_ptr<vss::provider> inner,
                                 std::shared_ptr<vss::clock> clock, asio::any_io_executor executor)
    : inner_(std::move(inner)), state_(std::make_shared<state>()) {
  if (!inner_) throw std::invalid_argument("faulty_provider: the inner provider is null");
  state_->clock = std::move(clock);
  state_->executor = std::move(executor);
}

faulty_provider::~faulty_provider() {
  std::map<std::uint64_t, state::delayed> timers;
  std::vector<state::kept> held;
  {
    std::lock_guard lock(state_->mutex);
    timers.swap(state_->timers);
    held.swap(state_->held);
  }
  for (auto& [id, d] : timers) d.timer.reset();
}

faulty_provider& faulty_provider::on(provider_call call, fault f) {
  const bool sync = is_synchronous(call);
  switch (f.kind) {
    case fault_kind::veto:
      if (f.code == errc::ok) {
        throw std::invalid_argument(
            "faulty_provider::on: a veto needs a failure code (e.g. errc::provider_veto), not "
            "errc::ok");
      }
      break;
    case fault_kind::delay:
      if (sync) {
        throw std::invalid_argument(std::string("faulty_provider::on: ") +
                                    std::string(to_string(call)) +
                                    " is synchronous and cannot be delayed");
      }
      if (!state_->clock || !state_->executor) {
        throw std::invalid_argument(
            "faulty_provider::on: a delay fault needs the clock and executor constructor "
            "arguments (use the engine's)");
      }
      if (f.after < std::chrono::nanoseconds::zero()) {
        throw std::invalid_argument(
            "faulty_provider::on: a delay fault needs a non-negative delay");
      }
      break;
    case fault_kind::hang:
    case fault_kind::hang_ignore_abort:
    case fault_kind::complete_twice:
      if (sync) {
        throw std::invalid_argument(std::string("faulty_provider::on: ") +
                                    std::string(to_string(call)) +
                                    " is synchronous: it has no completion to hold or repeat");
      }
      break;
    default:
      break;
  }
  std::lock_guard lock(state_->mutex);
  state_->script[static_cast<std::size_t>(call)] = f;
  return *this;
}

fault faulty_provider::script(provider_call call) const {
  std::lock_guard lock(state_->mutex);
  return state_->script[static_cast<std::size_t>(call)];
}

std::size_t faulty_provider::calls(provider_call call) const {
  std::lock_guard lock(state_->mutex);
  return state_->counts[static_cast<std::size_t>(call)];
}

std::vector<provider_call> faulty_provider::history() const {
  std::lock_guard lock(state_->mutex);
  return state_->history;
}

std::size_t faulty_provider::held() const {
  std::lock_guard lock(state_->mutex);
  return state_->held.size();
}

std::size_t faulty_provider::release_held(std::error_code ec) {
  std::vector<state::kept> held;
  {
    std::lock_guard lock(state_->mutex);
    held.swap(state_->held);
  }
  for (auto& k : held) {
    if (vss::succeeded(ec)) {
      forward_late(k.forward, std::move(k.done));
    } else {
      k.done(ec);
    }
  }
  return held.size();
}

const std::shared_ptr<vss::provider>& faulty_provider::inner() const noexcept { return inner_; }

void faulty_provider::set_listener(std::function<void(provider_call)> fn) {
  auto shared =
      fn ? std::make_shared<const std::function<void(provider_call)>>(std::move(fn)) : nullptr;
  std::lock_guard lock(state_->mutex);
  state_->listener = std::move(shared);
}

fault faulty_provider::enter(provider_call call) {
  fault f;
  std::shared_ptr<const std::function<void(provider_call)>> listener;
  {
    std::lock_guard lock(state_->mutex);
    ++state_->counts[static_cast<std::size_t>(call)];
    state_->history.push_back(call);
    f = state_->script[static_cast<std::size_t>(call)];
    listener = state_->listener;
  }
  if (listener) (*listener)(call);
  return f;
}

void faulty_provider::step(provider_call call, forward_fn forward, completion done) {
  const fault f = enter(call);
  switch (f.kind) {
    case fault_kind::succeed:
      forward(std::move(done));
      return;
    case fault_kind::veto:
      done(f.code);
      return;
    case fault_kind::fail_without_code:
      done(errc::unexpected_provider_error);
      return;
    case fault_kind::hang:
    case fault_kind::hang_ignore_abort: {
      std::lock_guard lock(state_->mutex);
      state_->held.push_back({std::move(forward), std::move(done)});
      return;
    }
    case fault_kind::delay: {
      auto& s = *state_;
      std::lock_guard lock(s.mutex);
      const auto id = s.next_timer++;
      auto& d = s.timers[id];
      d.forward = std::move(forward);
      d.done = std::move(done);
      d.timer = s.clock->create_timer(s.executor);
      // Armed under the lock: the handler (never run inline) then always finds its entry.
      d.timer->async_wait_until(s.clock->now() + std::chrono::ceil<vss::clock::duration>(f.after),
                                [weak = std::weak_ptr<state>(state_), id](bool expired) {
                                  auto self = weak.lock();
                                  if (!self || !expired) return;
                                  state::delayed due;
                                  {
                                    std::lock_guard l(self->mutex);
                                    auto it = self->timers.find(id);
                                    if (it == self->timers.end()) return;
                                    due = std::move(it->second);
                                    self->timers.erase(it);
                                  }
                                  forward_late(due.forward, std::move(due.done));
                                });
      return;
    }
    case fault_kind::complete_twice:
      forward([done = std::move(done)](std::error_code ec) {
        done(ec);
        done(ec);
      });
      return;
    case fault_kind::throw_exception:
      scripted_throw(call);
  }
}

provider_properties faulty_provider::properties() const { return inner_->properties(); }

bool faulty_provider::is_volume_supported(std::string_view volume) const {
  return inner_->is_volume_supported(volume);
}

std::error_code faulty_provider::begin_prepare_snapshot(const snapshot_set_id& set,
                                                        const snapshot_id& snapshot,
                                                        std::string_view volume,
                                                        std::uint32_t context) {
  const fault f = enter(provider_call::begin_prepare);
  switch (f.kind) {
    case fault_kind::veto:
      return f.code;
    case fault_kind::fail_without_code:
      return errc::unexpected_provider_error;
    case fault_kind::throw_exception:
      scripted_throw(provider_call::begin_prepare);
    default:
      return inner_->begin_prepare_snapshot(set, snapshot, volume, context);
  }
}

void faulty_provider::end_prepare_snapshots(const snapshot_set_id& set, completion done) {
  step(
      provider_call::end_prepare,
      [inner = inner_, set](completion c) { inner->end_prepare_snapshots(set, std::move(c)); },
      std::move(done));
}

void faulty_provider::pre_commit_snapshots(const snapshot_set_id& set, completion done) {
  step(
      provider_call::pre_commit,
      [inner = inner_, set](completion c) { inner->pre_commit_snapshots(set, std::move(c)); },
      std::move(done));
}

void faulty_provider::commit_snapshots(const snapshot_set_id& set, completion done) {
  step(
      provider_call::commit,
      [inner = inner_, set](completion c) { inner->commit_snapshots(set, std::move(c)); },
      std::move(done));
}

void faulty_provider::post_commit_snapshots(const snapshot_set_id& set,
                                            std::int32_t snapshots_count, completion done) {
  step(
      provider_call::post_commit,
      [inner = inner_, set, snapshots_count](completion c) {
        inner->post_commit_snapshots(set, snapshots_count, std::move(c));
      },
      std::move(done));
}

void faulty_provider::pre_final_commit_snapshots(const snapshot_set_id& set, completion done) {
  step(
      provider_call::pre_final_commit,
      [inner = inner_, set](completion c) { inner->pre_final_commit_snapshots(set, std::move(c)); },
      std::move(done));
}

void faulty_provider::post_final_commit_snapshots(const snapshot_set_id& set, completion done) {
  step(
      provider_call::post_final_commit,
      [inner = inner_, set](completion c) {
        inner->post_final_commit_snapshots(set, std::move(c));
      },
      std::move(done));
}

void faulty_provider::abort_snapshots(const snapshot_set_id& set, completion done) {
  step(
      provider_call::abort,
      [inner = inner_, set](completion c) { inner->abort_snapshots(set, std::move(c)); },
      std::move(done));
}

std::error_code faulty_provider::get_snapshot_properties(const snapshot_id& id,
                                                         snapshot_properties& out) const {
  return inner_->get_snapshot_properties(id, out);
}

std::vector<snapshot_properties> faulty_provider::query() const { return inner_->query(); }

std::error_code faulty_provider::delete_snapshot(const snapshot_id& id) {
  const fault f = enter(provider_call::delete_snapshot);
  switch (f.kind) {
    case fault_kind::veto:
      return f.code;
    case fault_kind::fail_without_code:
      return errc::unexpected_provider_error;
    case fault_kind::throw_exception:
      scripted_throw(provider_call::delete_snapshot);
    default:
      return inner_->delete_snapshot(id);
  }
}

}  // namespace vss::mocks
