// engine_host's io threads: unpinned by default, each pinned to one CPU of the allowed set
// when asked (host_options::pin_io_threads), and what io_thread_cpus() reports matches the
// affinity the threads really have; what a handler throws goes to
// host_options::on_handler_exception, and the thread runs on.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>

#include <asio/multiple_exceptions.hpp>
#include <asio/post.hpp>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/eventually.hpp"
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

// Records what the host's hook hears, from any io thread.
struct exceptions_heard {
  std::mutex m;
  std::vector<std::string> what;

  std::function<void(std::exception_ptr)> hook() {
    return [this](std::exception_ptr e) {
      std::string text = "not a std::exception";
      try {
        std::rethrow_exception(e);
      } catch (const asio::multiple_exceptions& several) {
        text = "several, the first: ";
        try {
          std::rethrow_exception(several.first_exception());
        } catch (const std::exception& x) {
          text += x.what();
        }
      } catch (const std::exception& x) {
        text = x.what();
      } catch (...) {
      }
      std::lock_guard lock(m);
      what.push_back(std::move(text));
    };
  }
  std::vector<std::string> seen() {
    std::lock_guard lock(m);
    return what;
  }
  // Waits (bounded) until the hook has heard `n` exceptions.
  bool wait_for(std::size_t n) {
    return vss::test::eventually([&] { return seen().size() >= n; }, std::chrono::seconds(10));
  }
};

// A host whose hook records into `heard`, with a memory provider, one writer that holds its
// context at `held` (a test_writer named `name`), and a session of it prepared for backup.
struct hooked_host_with_writer {
  exceptions_heard heard;
  vss::engine_host host{{.io_threads = 2, .on_handler_exception = heard.hook()}};
  std::shared_ptr<vss::test::test_writer> writer;
  vss::writer_registration registration;
  vss::backup_session session;

  hooked_host_with_writer(const std::string& name, vss::writer_event held)
      : writer(std::make_shared<vss::test::test_writer>(name)) {
    writer->script(held, {vss::test::action::hold});
  }
  // Registers and prepares; call under ASSERT_NO_FATAL_FAILURE.
  void prepare() {
    ASSERT_FALSE(host.engine().register_provider(std::make_shared<vss::memory_provider>()));
    registration = host.engine().register_writer(writer);
    ASSERT_NO_FATAL_FAILURE(vss::test::prepare_on(host.engine(), session));
  }
  // Whether the writer came to hold its context within the bound.
  bool writer_holds() {
    return vss::test::eventually([&] { return writer->held_count() > 0; },
                                 std::chrono::seconds(10));
  }
};

TEST(EngineHostTest, AHandlersExceptionGoesToTheHookAndTheThreadRunsOn) {
  exceptions_heard heard;
  vss::engine_host host{{.io_threads = 1, .on_handler_exception = heard.hook()}};
  asio::post(host.io_context(), [] { throw std::runtime_error("from a handler"); });
  // The one io thread must run what comes after the throw.
  std::promise<std::thread::id> after;
  asio::post(host.io_context(), [&after] { after.set_value(std::this_thread::get_id()); });
  auto ran = after.get_future();
  ASSERT_EQ(ran.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_NE(ran.get(), std::this_thread::get_id());
  EXPECT_EQ(heard.seen(), (std::vector<std::string>{"from a handler"}));
}

TEST(EngineHostTest, ARequestersThrowingHandlerDoesNotStopTheAbortThatCancelsItsOperation) {
  // The cancelled DoSnapshotSet's callback runs on an io thread, inline in the abort's step
  // (decisions §51): what it throws reaches the hook, and the abort still reaches the writer.
  hooked_host_with_writer h("frozen", vss::writer_event::freeze);
  ASSERT_NO_FATAL_FAILURE(h.prepare());
  std::atomic<int> handler_runs{0};
  h.session.async_do_snapshot_set([&handler_runs](std::error_code) {
    handler_runs.fetch_add(1);
    throw std::runtime_error("the requester's DoSnapshotSet handler");
  });
  ASSERT_TRUE(h.writer_holds());
  ASSERT_EQ(h.writer->held_count(), 1u);
  EXPECT_FALSE(h.session.abort_backup());
  EXPECT_EQ(h.session.state(), vss::session_state::aborted);
  EXPECT_EQ(h.writer->count(vss::writer_event::abort), 1u);
  ASSERT_TRUE(h.heard.wait_for(1));
  EXPECT_EQ(handler_runs.load(), 1);
  EXPECT_EQ(h.heard.seen(), (std::vector<std::string>{"the requester's DoSnapshotSet handler"}));
}

TEST(EngineHostTest, TwoWaitersThatThrowAtOneDrainReachTheHookAsOneException) {
  // Both AbortBackup handlers run inline in the drain's step; Asio gathers what they throw into
  // one asio::multiple_exceptions that keeps the first (engine_host.hpp says so).
  hooked_host_with_writer h("slow-abort", vss::writer_event::abort);
  ASSERT_NO_FATAL_FAILURE(h.prepare());
  std::atomic<int> runs{0};
  for (const char* name : {"first waiter", "second waiter"}) {
    h.session.async_abort_backup([&runs, name](std::error_code) {
      runs.fetch_add(1);
      throw std::runtime_error(name);
    });
  }
  // The drain waits for the held OnAbort, so both waiters are registered before it.
  ASSERT_TRUE(h.writer_holds());
  ASSERT_EQ(h.writer->held_count(), 1u);
  EXPECT_EQ(h.writer->release_held(), 1u);
  ASSERT_TRUE(h.heard.wait_for(1));
  EXPECT_EQ(runs.load(), 2);
  EXPECT_EQ(h.heard.seen(), (std::vector<std::string>{"several, the first: first waiter"}));
  EXPECT_EQ(h.session.state(), vss::session_state::aborted);
}

}  // namespace
