// engine_host's io threads: unpinned by default, each pinned to one CPU of the allowed set
// when asked (host_options::pin_io_threads), and what io_thread_cpus() reports matches the
// affinity the threads really have.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>

#include <asio/post.hpp>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "support/host_session.hpp"
#include "support/test_writer.hpp"
#include "vss/vss.hpp"

namespace {

std::vector<int> cpus_of_this_thread() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (pthread_getaffinity_np(pthread_self(), sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

// The affinity each io thread reports from inside a handler: one handler per thread, each
// held until all of them run, so that no thread takes two.
std::vector<std::vector<int>> affinity_seen_by_io_threads(vss::engine_host& host,
                                                          std::size_t threads) {
  std::mutex m;
  std::vector<std::vector<int>> seen;
  std::atomic<std::size_t> arrived{0};
  std::vector<std::future<void>> done;
  for (std::size_t i = 0; i < threads; ++i) {
    auto p = std::make_shared<std::promise<void>>();
    done.push_back(p->get_future());
    asio::post(host.io_context(), [&, p] {
      arrived.fetch_add(1);
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (arrived.load() < threads && std::chrono::steady_clock::now() < until) {
        std::this_thread::yield();
      }
      {
        std::lock_guard lock(m);
        seen.push_back(cpus_of_this_thread());
      }
      p->set_value();
    });
  }
  for (auto& f : done) f.wait();
  return seen;
}

TEST(EngineHostTest, IoThreadsAreNotPinnedByDefault) {
  const auto allowed = cpus_of_this_thread();
  vss::engine_host host{{.io_threads = 2}};
  EXPECT_EQ(host.io_thread_cpus(), (std::vector<int>{-1, -1}));
  for (const auto& cpus : affinity_seen_by_io_threads(host, 2)) EXPECT_EQ(cpus, allowed);
}

TEST(EngineHostTest, PinnedIoThreadsEachRunOnOneAllowedCpuInTurn) {
  const auto allowed = cpus_of_this_thread();
  ASSERT_FALSE(allowed.empty());
  vss::engine_host host{{.io_threads = 3, .pin_io_threads = true}};
  const auto& reported = host.io_thread_cpus();
  ASSERT_EQ(reported.size(), 3u);
  for (std::size_t i = 0; i < reported.size(); ++i) {
    EXPECT_EQ(reported[i], allowed[i % allowed.size()]) << "io thread " << i;
  }
  // What the threads themselves see: one CPU each, and together the CPUs reported.
  std::multiset<int> expected(reported.begin(), reported.end());
  std::multiset<int> seen;
  for (const auto& cpus : affinity_seen_by_io_threads(host, 3)) {
    ASSERT_EQ(cpus.size(), 1u);
    seen.insert(cpus.front());
  }
  EXPECT_EQ(seen, expected);
}

TEST(EngineHostTest, APinnedHostRunsAndAbortsABackup) {
  vss::engine_host host{{.io_threads = 2, .pin_io_threads = true}};
  ASSERT_FALSE(host.engine().register_provider(std::make_shared<vss::memory_provider>()));
  auto w = std::make_shared<vss::test::test_writer>("pinned");
  auto reg = host.engine().register_writer(w);
  vss::backup_session s;
  ASSERT_NO_FATAL_FAILURE(vss::test::prepare_on(host.engine(), s));
  EXPECT_FALSE(s.abort_backup());
  EXPECT_EQ(s.state(), vss::session_state::aborted);
  EXPECT_EQ(w->count(vss::writer_event::abort), 1u);
}

}  // namespace
