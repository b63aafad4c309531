// Real-thread stress test: an engine shutdown races the release of a finished backup, as it
// does when a host goes away right after its last requester (the CLI's embedded channel
// releases the kept session on disconnect and destroys the host at once).
//
// Each run builds an engine_host (2 io threads), runs a full backup of 1-4 writers to
// BackupComplete, then releases the session (async_release, or release()) on one
// thread while another calls async_shutdown, each after its own random delay of 0-200 us.
// Invariant 2 (DESIGN.md §4): a shutdown completes only after every writer of a session
// released before it began answered BackupShutdown, so in the runs where the release call
// returned first each writer has seen its one BackupShutdown by the time the shutdown's
// handler runs; in every run, each writer has had exactly one once the host is gone. A
// session that outlives its host (the leak this test was written for) is LeakSanitizer's to
// report.
//
// Bounded by count and time: OPENVSS_STRESS_ITERATIONS (default 500 runs) and
// OPENVSS_STRESS_SECONDS (default 20), whichever comes first. Meant to run clean under
// ThreadSanitizer and AddressSanitizer/LeakSanitizer.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <future>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/stress_limits.hpp"
#include "support/test_writer.hpp"
#include "vss/vss.hpp"

namespace vss::test {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using E = writer_event;

void spin_for(std::chrono::microseconds d) {
  const auto until = steady::now() + d;
  while (steady::now() < until) {
  }
}

// Everything up to BackupComplete, with every writer answering inline. Returns "" or what
// went wrong.
std::string finished_backup(backup_session& s, std::size_t run) {
  if (auto ec = s.initialize_for_backup()) return "initialize_for_backup: " + ec.message();
  if (auto ec = s.set_backup_state(false, false, backup_type::full)) {
    return "set_backup_state: " + ec.message();
  }
  const auto step = [](async_op op, const char* what) -> std::string {
    if (!op.wait_for(10s)) return std::string(what) + ": no completion within 10 s";
    const auto status = op.query_status();
    return status == errc::async_finished ? "" : std::string(what) + ": " + status.message();
  };
  if (auto e = step(s.async_gather_writer_metadata(use_async_op), "GatherWriterMetadata");
      !e.empty()) {
    return e;
  }
  snapshot_set_id set;
  snapshot_id snap;
  if (auto ec = s.start_snapshot_set(set)) return "start_snapshot_set: " + ec.message();
  if (auto ec = s.add_to_snapshot_set("/vol" + std::to_string(run), {}, snap)) {
    return "add_to_snapshot_set: " + ec.message();
  }
  if (auto e = step(s.async_prepare_for_backup(use_async_op), "PrepareForBackup"); !e.empty()) {
    return e;
  }
  if (auto e = step(s.async_do_snapshot_set(use_async_op), "DoSnapshotSet"); !e.empty()) {
    return e;
  }
  if (auto e = step(s.async_backup_complete(use_async_op), "BackupComplete"); !e.empty()) {
    return e;
  }
  return "";
}

TEST(ShutdownRaceStress, AShutdownRacingAReleaseWaitsForEveryBackupShutdown) {
  const auto limits = stress_limits::from_env(500, 20, "runs");
  const auto seed = limits.seed;
  std::mt19937_64 rng(seed);
  std::size_t runs = 0;
  std::size_t checked = 0;  // runs whose release was requested before the shutdown began
  std::size_t early = 0;    // of those, shutdowns done before a writer's BackupShutdown
  for (; limits.more(runs); ++runs) {
    const std::size_t writers = 1 + rng() % 4;
    const bool plain_release = rng() % 4 == 0;  // release() rather than async_release
    const auto release_delay = std::chrono::microseconds(rng() % 200);
    const auto shutdown_delay = std::chrono::microseconds(rng() % 200);

    // Declared before the host: if an ASSERT below returns early, the host's destructor still
    // runs handlers that refer to these.
    std::promise<void> released;
    std::promise<bool> shut_down;  // true: every writer had its BackupShutdown by then
    std::vector<std::shared_ptr<test_writer>> ws;
    auto host = std::make_unique<engine_host>(host_options{.io_threads = 2});
    auto& eng = host->engine();
    ASSERT_FALSE(eng.register_provider(std::make_shared<memory_provider>()));
    std::vector<writer_registration> regs;
    for (std::size_t i = 0; i < writers; ++i) {
      ws.push_back(std::make_shared<test_writer>("w" + std::to_string(i)));
      regs.push_back(eng.register_writer(ws.back()));
    }
    auto session = eng.create_backup_session();
    const auto failure = finished_backup(session, runs);
    ASSERT_EQ(failure, "") << "run " << runs << " (seed " << seed << ")";

    std::atomic<bool> release_called{false};
    bool shutdown_after_release = false;
    std::thread releaser([&] {
      spin_for(release_delay);
      if (plain_release) {
        session.release();
      } else {
        session.async_release([&](std::error_code) { released.set_value(); });
      }
      release_called.store(true);
    });
    std::thread stopper([&] {
      spin_for(shutdown_delay);
      // Only a release requested before the shutdown began is one it must wait for.
      shutdown_after_release = release_called.load();
      eng.async_shutdown([&](std::error_code) {
        bool all = true;
        for (const auto& w : ws) all = all && w->count(E::backup_shutdown) == 1;
        shut_down.set_value(all);
      });
    });
    releaser.join();
    stopper.join();
    auto shutdown_done = shut_down.get_future();
    ASSERT_EQ(shutdown_done.wait_for(10s), std::future_status::ready)
        << "run " << runs << ": async_shutdown never completed";
    const bool all_shut_down = shutdown_done.get();
    if (shutdown_after_release) {
      ++checked;
      if (!all_shut_down) ++early;
    }
    if (!plain_release) {
      ASSERT_EQ(released.get_future().wait_for(10s), std::future_status::ready)
          << "run " << runs << ": async_release never completed";
    }
    regs.clear();
    session = {};
    // The host's own shutdown waits for a release that came after ours began.
    host.reset();
    for (const auto& w : ws) {
      EXPECT_EQ(w->count(E::backup_shutdown), 1u) << "run " << runs << " (seed " << seed << ")";
    }
  }
  const auto secs = limits.elapsed_s();
  std::printf(
      "[stress] %zu runs in %.1fs; %zu with the release first, of which %zu shut down "
      "before a BackupShutdown\n",
      runs, secs, checked, early);
  EXPECT_EQ(early, 0u) << "seed " << seed;
  EXPECT_GT(checked, 0u) << "no run released before its shutdown began";
  EXPECT_GT(runs, 0u);
}

}  // namespace
}  // namespace vss::test
