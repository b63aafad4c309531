#pragma once
// A small scripted writer and a deterministic engine fixture for the engine's own tests
// (the shipped, richer toolkit lives in mocks/).

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/holding_provider.hpp"
#include "vss/vss.hpp"

namespace vss::test {

/// What a test_writer does with one event.
enum class action { complete, fail, hold, throw_exception, drop };

struct reaction {
  action what = action::complete;
  errc code = errc::writer_error_retryable;
};

/// A writer that records every event and reacts as scripted (default: complete at once).
class test_writer : public writer {
 public:
  explicit test_writer(std::string name, application_level level = application_level::front_end,
                       std::chrono::milliseconds freeze_timeout = std::chrono::seconds(60))
      : writer(writer_identity{
            .name = std::move(name), .level = level, .freeze_timeout = freeze_timeout}) {}

  void script(writer_event e, reaction r) {
    std::lock_guard lock(mutex_);
    script_[e] = r;
  }
  /// Called (on the handler's thread) before the scripted reaction.
  void on_event(std::function<void(writer_event)> hook) {
    std::lock_guard lock(mutex_);
    hook_ = std::move(hook);
  }
  std::vector<writer_event> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  std::size_t count(writer_event e) const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(std::count(events_.begin(), events_.end(), e));
  }
  /// Completes (or fails) the contexts held by action::hold, oldest first.
  std::size_t release_held(bool succeed = true) {
    std::vector<writer_context> held;
    {
      std::lock_guard lock(mutex_);
      held.swap(held_);
    }
    for (auto& c : held) {
      if (succeed) {
        c.complete();
      } else {
        c.fail(errc::writer_error_retryable, "released as failed");
      }
    }
    return held.size();
  }
  std::size_t held_count() const {
    std::lock_guard lock(mutex_);
    return held_.size();
  }

  void on_identify(writer_context ctx) override {
    if (auto* md = ctx.metadata()) {
      md->components.push_back({component_type::file_group,
                                "",
                                identity().name + "-data",
                                "",
                                true,
                                {"/data/" + identity().name + "/*"},
                                {"/data"}});
    }
    handle(writer_event::identify, std::move(ctx));
  }
  void on_prepare_backup(writer_context ctx) override {
    handle(writer_event::prepare_backup, std::move(ctx));
  }
  void on_prepare_snapshot(writer_context ctx) override {
    handle(writer_event::prepare_snapshot, std::move(ctx));
  }
  void on_freeze(writer_context ctx) override { handle(writer_event::freeze, std::move(ctx)); }
  void on_thaw(writer_context ctx) override { handle(writer_event::thaw, std::move(ctx)); }
  void on_post_snapshot(writer_context ctx) override {
    handle(writer_event::post_snapshot, std::move(ctx));
  }
  void on_abort(writer_context ctx) override { handle(writer_event::abort, std::move(ctx)); }
  void on_backup_complete(writer_context ctx) override {
    handle(writer_event::backup_complete, std::move(ctx));
  }
  void on_backup_shutdown(writer_context ctx) override {
    handle(writer_event::backup_shutdown, std::move(ctx));
  }

 private:
  void handle(writer_event e, writer_context ctx) {
    reaction r;
    std::function<void(writer_event)> hook;
    {
      std::lock_guard lock(mutex_);
      events_.push_back(e);
      if (auto it = script_.find(e); it != script_.end()) r = it->second;
      hook = hook_;
    }
    if (hook) hook(e);
    switch (r.what) {
      case action::complete:
        ctx.complete();
        break;
      case action::fail:
        ctx.fail(r.code, "scripted failure");
        break;
      case action::hold: {
        std::lock_guard lock(mutex_);
        held_.push_back(std::move(ctx));
        break;
      }
      case action::throw_exception:
        throw std::runtime_error("scripted throw");
      case action::drop:
        break;
    }
  }

  mutable std::mutex mutex_;
  std::map<writer_event, reaction> script_;
  std::function<void(writer_event)> hook_;
  std::vector<writer_event> events_;
  std::vector<writer_context> held_;
};

/// A single-threaded engine on a virtual clock: everything is deterministic.
class engine_test : public ::testing::Test {
 protected:
  void SetUp() override { make_engine({}); }

  void make_engine(engine_options options) {
    regs_.clear();
    engine_.reset();
    options.clock = clock_;
    if (options.shard_count == 0) options.shard_count = 2;
    engine_ = std::make_unique<engine>(io_.get_executor(), std::move(options));
    memory_ = std::make_shared<holding_provider>();
    ASSERT_FALSE(engine_->register_provider(memory_));
  }

  std::shared_ptr<test_writer> add_writer(
      const std::string& name, application_level level = application_level::front_end,
      std::chrono::milliseconds freeze_timeout = std::chrono::seconds(60)) {
    auto w = std::make_shared<test_writer>(name, level, freeze_timeout);
    regs_.push_back(engine_->register_writer(w));
    writers_.push_back(w);
    return w;
  }

  /// Runs ready handlers; when none are ready, jumps the virtual clock to the next deadline.
  /// Stops when `done()` holds or nothing is left to do.
  template <class Pred>
  bool run_until(Pred done, int max_rounds = 10000) {
    for (int i = 0; i < max_rounds; ++i) {
      io_.restart();
      io_.poll();
      if (done()) return true;
      io_.restart();
      if (io_.poll() != 0) continue;
      if (!advance_virtual_time_) {
        // Work is running on other threads (a blocking pool): wait in real time instead.
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        continue;
      }
      if (!clock_->advance_to_next()) return done();
    }
    return done();
  }

  /// When false, run_until never moves the virtual clock (for tests with real helper threads).
  bool advance_virtual_time_ = true;

  /// Runs ready handlers only (no virtual time passes).
  void settle() {
    io_.restart();
    while (io_.poll() > 0) io_.restart();
  }

  std::error_code finish(async_op& op) {
    EXPECT_TRUE(run_until([&] { return op.done(); }));
    return op.query_status();
  }

  /// Initialize (optionally SetContext), SetBackupState and GatherWriterMetadata.
  backup_session gathered_session(bool select_components = false,
                                  std::optional<snapshot_context> context = std::nullopt) {
    auto s = engine_->create_backup_session();
    EXPECT_FALSE(s.initialize_for_backup());
    if (context) {
      EXPECT_FALSE(s.set_context(static_cast<std::uint32_t>(*context)));
    }
    EXPECT_FALSE(s.set_backup_state(select_components, false, backup_type::full));
    auto g = s.async_gather_writer_metadata(use_async_op);
    EXPECT_EQ(finish(g), errc::async_finished);
    return s;
  }

  /// AddComponent for the one component a test_writer declares ("<name>-data").
  std::error_code select(backup_session& s, const writer& w) {
    const auto& id = w.identity();
    return s.add_component(id.instance_id, id.class_id, component_type::file_group, "",
                           id.name + "-data");
  }

  /// StartSnapshotSet with one volume, then PrepareForBackup; returns the prepare's status.
  std::error_code prepare(backup_session& s, const std::string& volume = "/data") {
    EXPECT_FALSE(s.start_snapshot_set(set_));
    EXPECT_FALSE(s.add_to_snapshot_set(volume, provider_id{}, snapshot_));
    auto p = s.async_prepare_for_backup(use_async_op);
    return finish(p);
  }

  /// Initialize, gather, start a set with one volume, prepare: ready for DoSnapshotSet.
  backup_session prepared_session(const std::string& volume = "/data") {
    auto s = gathered_session();
    EXPECT_EQ(prepare(s, volume), errc::async_finished);
    return s;
  }

  /// A prepared session whose DoSnapshotSet (`snap`) waits in Freeze: `holder` keeps its
  /// Freeze context.
  backup_session frozen_session(test_writer& holder, async_op& snap) {
    holder.script(writer_event::freeze, {action::hold});
    auto s = prepared_session();
    snap = s.async_do_snapshot_set(use_async_op);
    settle();
    EXPECT_EQ(holder.held_count(), 1u);
    return s;
  }

  /// A blocking pool for tests that need one (blocking_pool()). Declared before io_ so that it
  /// outlives every handler still queued there: strands on it must die before it does.
  std::optional<asio::thread_pool> blocking_pool_;
  asio::thread_pool& blocking_pool() {
    if (!blocking_pool_) blocking_pool_.emplace(2);
    return *blocking_pool_;
  }

  asio::io_context io_;
  std::shared_ptr<manual_clock> clock_ = std::make_shared<manual_clock>();
  std::unique_ptr<engine> engine_;
  std::shared_ptr<holding_provider> memory_;
  std::vector<std::shared_ptr<test_writer>> writers_;
  std::vector<writer_registration> regs_;
  snapshot_set_id set_;
  snapshot_id snapshot_;
};

inline std::vector<writer_event> ev(std::initializer_list<writer_event> l) { return l; }

/// Runs `io` on a thread of its own and reports whether run() returned, i.e. ran out of work,
/// within `bound`; stops it otherwise. For tests of an engine on the real clock that must hold
/// no timer once idle.
inline bool io_run_returns_within(asio::io_context& io, std::chrono::milliseconds bound) {
  std::atomic<bool> returned{false};
  io.restart();
  std::thread runner([&] {
    io.run();
    returned = true;
  });
  const auto give_up = std::chrono::steady_clock::now() + bound;
  while (!returned && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const bool in_time = returned;
  io.stop();
  runner.join();
  return in_time;
}

}  // namespace vss::test
