// A burst of AbortBackups over many sessions of one engine at once, from two requester
// threads, on two io threads and two shards (decisions §34, §36): the sessions' abort steps
// enter the same shard strands from both io threads, and a shard's turns run on or are handed
// on between them. Every session must drain exactly once, each of its writers hear OnAbort
// exactly once, and its volume be free again once its AbortBackup reported done. Half the
// bursts run with the io threads pinned, one CPU each (host_options::pin_io_threads,
// decisions §39): the same strands then meet on fixed CPUs instead of wherever the
// scheduler puts them. Half the bursts, drawn apart from those, register each session's
// writers as one placement group (writer_placement, decisions §41): each session's writers
// then share one shard, and the sessions of both shards abort at once.
//
// Bounded by count and time: OPENVSS_STRESS_ITERATIONS (default 200 bursts) and
// OPENVSS_STRESS_SECONDS (default 30), whichever comes first; at least one burst runs. Each
// burst's shape is drawn from OPENVSS_STRESS_SEED (printed; random if unset).

#include <gtest/gtest.h>

#include <asio/use_future.hpp>
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

#include "support/host_session.hpp"
#include "support/stress_limits.hpp"
#include "support/test_writer.hpp"
#include "vss/vss.hpp"

namespace vss::test {
namespace {

using namespace std::chrono_literals;

std::string volume_of(std::size_t k) { return "/burst" + std::to_string(k); }

/// A session of `eng` in component mode, with only `own` selected, prepared with volume_of(k).
std::string prepare_own(engine& eng, backup_session& s, std::size_t k,
                        const std::vector<std::shared_ptr<test_writer>>& own) {
  if (auto err = select_own_on(eng, s, own, volume_of(k)); !err.empty()) return err;
  auto prepared = s.async_prepare_for_backup(use_async_op);
  if (!prepared.wait_for(10s) || prepared.query_status() != errc::async_finished) {
    return "PrepareForBackup did not finish";
  }
  return "";
}

TEST(AbortBurstStress, EverySessionOfABurstDrainsOnceAndFreesItsVolume) {
  const auto limits = stress_limits::from_env(200, 30, "bursts");
  const auto seed = limits.seed;
  std::mt19937_64 rng(seed);
  std::uint64_t bursts = 0;
  for (; limits.more(bursts); ++bursts) {
    const std::size_t sessions = 8 + rng() % 41;  // 8..48
    const std::size_t per_session = 1 + rng() % 6;
    const bool pinned = rng() % 2 == 0;
    const bool grouped = rng() % 2 == 0;
    SCOPED_TRACE("burst " + std::to_string(bursts) + " (seed " + std::to_string(seed) +
                 "): " + std::to_string(sessions) + " sessions of " + std::to_string(per_session) +
                 " writers" + (pinned ? ", io threads pinned" : "") +
                 (grouped ? ", one placement group per session" : ""));

    // Declared before the host: its destructor may still run handlers that refer to these.
    std::atomic<std::size_t> done{0};
    std::atomic<std::size_t> failed{0};
    std::promise<void> all_done;
    std::vector<std::atomic<int>> completions(sessions);
    std::vector<std::vector<std::shared_ptr<test_writer>>> writers(sessions);
    auto on_done = [&](std::size_t k, std::error_code ec) {
      completions[k].fetch_add(1);
      if (ec) failed.fetch_add(1);
      if (done.fetch_add(1) + 1 == sessions) all_done.set_value();
    };
    engine_host host(host_options{.io_threads = 2, .pin_io_threads = pinned});
    auto& eng = host.engine();
    ASSERT_EQ(eng.options().shard_count, 2u);
    ASSERT_FALSE(eng.register_provider(std::make_shared<memory_provider>()));
    std::vector<writer_registration> regs;
    for (std::size_t k = 0; k < sessions; ++k) {
      for (std::size_t i = 0; i < per_session; ++i) {
        writers[k].push_back(
            std::make_shared<test_writer>("s" + std::to_string(k) + "w" + std::to_string(i)));
        const auto group = grouped ? "session" + std::to_string(k) : std::string{};
        regs.push_back(eng.register_writer(writers[k].back(), {.group = group}));
      }
    }
    std::vector<backup_session> s(sessions);
    for (std::size_t k = 0; k < sessions; ++k) {
      ASSERT_EQ(prepare_own(eng, s[k], k, writers[k]), "") << "session " << k;
    }

    // Two requester threads abort alternate sessions, all at once.
    std::atomic<bool> go{false};
    std::vector<std::thread> requesters;
    for (std::size_t t = 0; t < 2; ++t) {
      requesters.emplace_back([&, t] {
        while (!go.load()) std::this_thread::yield();
        for (std::size_t k = t; k < sessions; k += 2) {
          s[k].async_abort_backup([&on_done, k](std::error_code ec) { on_done(k, ec); });
        }
      });
    }
    go.store(true);
    for (auto& r : requesters) r.join();
    ASSERT_EQ(all_done.get_future().wait_for(20s), std::future_status::ready)
        << done.load() << " of " << sessions << " aborts reported done";
    EXPECT_EQ(failed.load(), 0u);
    for (std::size_t k = 0; k < sessions; ++k) {
      EXPECT_EQ(completions[k].load(), 1) << "session " << k;
      for (const auto& w : writers[k]) {
        EXPECT_EQ(w->count(writer_event::abort), 1u) << w->identity().name;
      }
    }
    // Every volume is free: one new set takes them all.
    backup_session check = eng.create_backup_session();
    ASSERT_FALSE(check.initialize_for_backup());
    ASSERT_FALSE(check.set_backup_state(false, false, backup_type::full));
    snapshot_set_id set;
    ASSERT_FALSE(check.start_snapshot_set(set));
    for (std::size_t k = 0; k < sessions; ++k) {
      snapshot_id snap;
      EXPECT_FALSE(check.add_to_snapshot_set(volume_of(k), {}, snap)) << volume_of(k);
    }
    if (::testing::Test::HasFailure()) break;
  }
  std::printf("[stress] %llu bursts in %.1f s\n", static_cast<unsigned long long>(bursts),
              limits.elapsed_s());
  EXPECT_GT(bursts, 0u);
}

}  // namespace
}  // namespace vss::test
