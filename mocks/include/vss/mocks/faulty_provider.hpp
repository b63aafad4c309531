// vss/mocks/faulty_provider.hpp — a provider wrapper that forwards every call to a real
// provider, except the calls a test scripted to fail, stall or misbehave (the idea of
// LevelDB's EnvWrapper / FaultInjectionTestEnv).
//
// Wrap any provider (a vss::memory_provider, or your own), register the wrapper with the
// engine instead of the provider, and script faults per provider_call. Every call of the nine
// provider_calls is counted, logged (calls(), history()) and reported to the listener
// (set_listener()) BEFORE its fault acts. properties(),
// is_volume_supported(), get_snapshot_properties() and query() are always forwarded and not
// logged.
//
// What each fault kind does:
//                      asynchronous steps (end_prepare, pre_commit,    synchronous calls
//                      commit, post_commit, pre_final_commit,          (begin_prepare,
//                      post_final_commit, abort)                       delete_snapshot)
//   succeed            forwarded                                       forwarded
//   veto(code)         completes with `code`; inner not called         returns `code`; inner
//                                                                      not called
//   fail_without_code  completes with VSS_E_UNEXPECTED_PROVIDER_ERROR  returns that code
//                      (a provider failing without a proper code)
//   delay(d)           waits d on the clock (a timer on the executor), refused by on()
//                      then forwards; a commit delayed past
//                      engine_options::hold_budget makes DoSnapshotSet
//                      fail with VSS_E_HOLD_WRITES_TIMEOUT
//   hang,              keeps the call until release_held(): with a     refused by on()
//   hang_ignore_abort  success code it is then forwarded (the inner
//                      provider's result completes it); with a failure
//                      code it completes with that code and inner is
//                      not called. (A provider has no Abort of its
//                      own to ignore: both kinds behave the same.)
//   complete_twice     forwarded; the inner provider's result is       refused by on()
//                      passed to the completion twice (the engine must
//                      ignore the second)
//   throw_exception    throws std::runtime_error("faulty_provider: scripted throw at <call>")
//                      from the call, before calling inner
//
// Example 1 — the provider vetoes the commit:
//
//   auto faulty = std::make_shared<vss::mocks::faulty_provider>(
//       std::make_shared<vss::memory_provider>());
//   faulty->on(vss::mocks::provider_call::commit,
//              vss::mocks::fault::veto(vss::errc::provider_veto));
//   engine.register_provider(faulty);
//   ... DoSnapshotSet completes with VSS_E_PROVIDER_VETO; every frozen writer got Abort ...
//   EXPECT_EQ(faulty->calls(vss::mocks::provider_call::abort), 1u);
//
// Example 2 — hold EndPrepareSnapshots, abort meanwhile, then let the provider return:
//
//   faulty->on(vss::mocks::provider_call::end_prepare, vss::mocks::fault::hang());
//   auto op = session.async_do_snapshot_set(vss::use_async_op);
//   io.poll();
//   ASSERT_EQ(faulty->held(), 1u);
//   session.async_abort_backup(vss::use_async_op);
//   io.poll();
//   faulty->release_held();  // forwards EndPrepareSnapshots to the memory provider now
//
// Thread-safety: every member may be called from any thread, concurrently (the engine calls
// the synchronous members from several threads). Completions, forwarded calls and timers run
// outside the wrapper's lock. Destroying the wrapper cancels its delay timers and destroys
// held and delayed completions without calling them. With the real steady clock, destroy the
// wrapper before the execution context of its executor.

#pragma once

#include <asio/any_io_executor.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <system_error>
#include <vector>

#include "vss/clock.hpp"
#include "vss/mocks/fault.hpp"
#include "vss/provider.hpp"

namespace vss::mocks {

/// A vss::provider that forwards to `inner` and injects scripted faults.
class faulty_provider : public vss::provider {
 public:
  /// Wraps `inner` (must not be null: std::invalid_argument). `clock` and `executor` are
  /// needed only for delay faults; use the engine's clock (a vss::manual_clock for virtual
  /// time) and executor.
  explicit faulty_provider(std::shared_ptr<vss::provider> inner,
                           std::shared_ptr<vss::clock> clock = nullptr,
                           asio::any_io_executor executor = {});

  /// Cancels delay timers; held and delayed completions are destroyed without being called.
  ~faulty_provider() override;

  faulty_provider(const faulty_provider&) = delete;
  faulty_provider& operator=(const faulty_provider&) = delete;

  /// Scripts `call` to meet `f` from now on (default: succeed, i.e. forward). Throws
  /// std::invalid_argument for a fault that cannot apply: a veto with errc::ok; a delay
  /// without clock or executor, or with a negative delay; hang, hang_ignore_abort, delay or
  /// complete_twice on a synchronous call (begin_prepare, delete_snapshot). Returns *this.
  faulty_provider& on(provider_call call, fault f);

  /// The fault currently scripted for `call`.
  fault script(provider_call call) const;

  /// How many times `call` was made.
  std::size_t calls(provider_call call) const;

  /// Every scripted-call kind made, in order.
  std::vector<provider_call> history() const;

  /// Number of asynchronous calls kept by hang faults.
  std::size_t held() const;

  /// Releases every kept call, oldest first: with a success `ec` ({} or any code for which
  /// vss::succeeded() is true) each call is forwarded to the inner provider, whose result
  /// completes it; with a failure `ec` each completes with `ec` and the inner provider is
  /// not called. Returns how many were released.
  std::size_t release_held(std::error_code ec = {});

  /// Calls `fn(call)` for every logged call (the nine provider_calls), on the calling thread,
  /// after the call is counted and BEFORE its fault acts, outside the wrapper's lock (so `fn`
  /// may call the wrapper back). Calls made on several threads call it concurrently. Replaces
  /// any previous listener; an empty `fn` removes it. `fn` must not throw and must not block:
  /// it runs inside the engine's call (post any reaction to an executor).
  void set_listener(std::function<void(provider_call)> fn);

  /// The wrapped provider.
  const std::shared_ptr<vss::provider>& inner() const noexcept;

  /// Forwarded.
  provider_properties properties() const override;
  /// Forwarded.
  bool is_volume_supported(std::string_view volume) const override;
  /// provider_call::begin_prepare.
  std::error_code begin_prepare_snapshot(const snapshot_set_id& set, const snapshot_id& snapshot,
                                         std::string_view volume, std::uint32_t context) override;
  /// provider_call::end_prepare.
  void end_prepare_snapshots(const snapshot_set_id& set, completion done) override;
  /// provider_call::pre_commit.
  void pre_commit_snapshots(const snapshot_set_id& set, completion done) override;
  /// provider_call::commit.
  void commit_snapshots(const snapshot_set_id& set, completion done) override;
  /// provider_call::post_commit.
  void post_commit_snapshots(const snapshot_set_id& set, std::int32_t snapshots_count,
                             completion done) override;
  /// provider_call::pre_final_commit.
  void pre_final_commit_snapshots(const snapshot_set_id& set, completion done) override;
  /// provider_call::post_final_commit.
  void post_final_commit_snapshots(const snapshot_set_id& set, completion done) override;
  /// provider_call::abort.
  void abort_snapshots(const snapshot_set_id& set, completion done) override;
  /// Forwarded.
  std::error_code get_snapshot_properties(const snapshot_id& id,
                                          snapshot_properties& out) const override;
  /// Forwarded.
  std::vector<snapshot_properties> query() const override;
  /// provider_call::delete_snapshot.
  std::error_code delete_snapshot(const snapshot_id& id) override;

 private:
  struct state;

  /// Logs `call`, then applies its fault to an asynchronous step whose real work is `forward`.
  void step(provider_call call, std::function<void(completion)> forward, completion done);
  /// Logs `call` and returns its fault (synchronous calls).
  fault enter(provider_call call);

  std::shared_ptr<vss::provider> inner_;
  std::shared_ptr<state> state_;
};

}  // namespace vss::mocks
