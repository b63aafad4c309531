// The executor under the engine's strands (engine/post_executor.hpp, decisions §25). It drops
// the properties asio would ask of an any_io_executor, so these tests pin down what the engine
// still relies on: a post never runs inline, a strand on it serialises, io_context::run()
// does not return while the strand holds handlers, and a timer given the strand as an
// any_io_executor completes on the strand; and that a shard's strand runs its next turn on
// at once, a bounded number of times, or after an entered turn hands it on to the end of the
// caller's step, never into it (decisions §36).

#include "engine/post_executor.hpp"

#include <gtest/gtest.h>

#include <asio/any_io_executor.hpp>
#include <asio/dispatch.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace vss::test {
namespace {

using detail::post_executor;
using strand_type = asio::strand<post_executor>;

// From inside a handler on the strand, hands a function that records 2 to `nested` (post or
// dispatch through the strand), then records 1; returns the order they ran in.
template <class Nested>
std::vector<int> order_of_nested(Nested nested) {
  asio::io_context io;
  strand_type strand(post_executor(io.get_executor()));
  std::vector<int> order;
  asio::post(strand, [&] {
    nested(strand, [&] { order.push_back(2); });
    order.push_back(1);
  });
  io.run();
  return order;
}

TEST(PostExecutor, APostFromInsideItsStrandRunsAfterTheCurrentHandler) {
  const auto order = order_of_nested([](auto& s, auto f) { asio::post(s, std::move(f)); });
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

TEST(PostExecutor, DispatchQueuesToo) {
  // Documented: the executor is never-blocking, so dispatch through its strand queues even
  // from inside the strand (the engine only posts).
  const auto order = order_of_nested([](auto& s, auto f) { asio::dispatch(s, std::move(f)); });
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

TEST(PostExecutor, RunDoesNotReturnWhileItsStrandHoldsHandlers) {
  // No work guard: only what is queued keeps run() going. Handlers waiting inside the strand
  // behind a running invoker, and handlers that post more, must all run before run() returns.
  asio::io_context io;
  strand_type strand(post_executor(io.get_executor()));
  constexpr int chains = 50;
  constexpr int links = 40;
  std::atomic<int> ran{0};
  std::function<void(int)> link = [&](int left) {
    ran.fetch_add(1, std::memory_order_relaxed);
    if (left > 0) asio::post(strand, [&, left] { link(left - 1); });
  };
  for (int c = 0; c < chains; ++c) asio::post(strand, [&] { link(links - 1); });
  io.run();
  EXPECT_EQ(ran.load(), chains * links);
}

// A strand on a plain post_executor, or on one made with `runs_on` (a shard's).
class PostExecutorStrand : public ::testing::TestWithParam<bool> {
 protected:
  static strand_type make(asio::io_context& io, bool runs_on) {
    return runs_on ? strand_type(post_executor(io.get_executor(), post_executor::runs_on))
                   : strand_type(post_executor(io.get_executor()));
  }
};

INSTANTIATE_TEST_SUITE_P(Kinds, PostExecutorStrand, ::testing::Bool(),
                         [](const auto& kind) { return kind.param ? "RunsOn" : "Plain"; });

// One io thread running `io` once start()ed, a log of what ran there in order, and a gate a
// handler under test waits on while the test thread queues behind it.
struct gated_run {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(io);
  std::vector<std::string> order;  // touched only by the io thread
  std::promise<void> gate;
  std::shared_future<void> gate_open = gate.get_future().share();
  std::thread runner;

  void start() {
    runner = std::thread([this] { io.run(); });
  }
  // Posts x straight on the io_context, opens the gate, and returns once x has run and
  // `strand` is idle again (a marker posted through it ran), with the io thread joined.
  void queue_x_open_and_finish(const strand_type& strand) {
    std::promise<void> x_ran;
    asio::post(io, [&] {
      order.push_back("x");
      x_ran.set_value();
    });
    gate.set_value();
    x_ran.get_future().wait();
    std::promise<void> idle;
    asio::post(strand, [&] { idle.set_value(); });
    idle.get_future().wait();
    guard.reset();
    runner.join();
  }
};

TEST_P(PostExecutorStrand, SerialisesHandlersAcrossThreads) {
  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  strand_type strand = make(io, GetParam());
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) threads.emplace_back([&] { io.run(); });
  constexpr int posts = 4000;
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> done{0};
  int unguarded = 0;  // only touched on the strand: a data race here would show under TSan
  std::vector<std::thread> posters;
  for (int p = 0; p < 2; ++p) {
    posters.emplace_back([&] {
      for (int i = 0; i < posts / 2; ++i) {
        asio::post(strand, [&] {
          if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
          ++unguarded;
          inside.fetch_sub(1);
          done.fetch_add(1);
        });
      }
    });
  }
  for (auto& t : posters) t.join();
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (done.load() < posts && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  guard.reset();
  for (auto& t : threads) t.join();
  EXPECT_EQ(done.load(), posts);
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(unguarded, posts);
}

TEST_P(PostExecutorStrand, AHandlerQueuedWhileTheStrandRanGoesFirstOnlyIfItsTurnsRunOn) {
  // One io thread runs h1 on the strand; meanwhile another thread queues h2 on the strand, and
  // then x straight on the io_context. A plain strand re-posts its turn when h1 returns, behind
  // x; one whose turns run on runs h2 at once (decisions §36).
  gated_run run;
  strand_type strand = make(run.io, GetParam());
  std::promise<void> h1_running;
  asio::post(strand, [&] {
    h1_running.set_value();
    run.gate_open.wait();
    run.order.push_back("h1");
  });
  run.start();
  h1_running.get_future().wait();
  asio::post(strand, [&] { run.order.push_back("h2"); });
  run.queue_x_open_and_finish(strand);
  const std::vector<std::string> run_on{"h1", "h2", "x"};
  const std::vector<std::string> plain{"h1", "x", "h2"};
  EXPECT_EQ(run.order, GetParam() ? run_on : plain);
}

TEST_P(PostExecutorStrand, ATurnRunsOnOnlyABoundedNumberOfTimesInARow) {
  // A chain on the strand, each link posting the next one, so every turn ends with one more
  // queued; the first link also posts x to the io_context. A plain strand lets x run after
  // the first link; one whose turns run on, after 1 + turns_run_on links, and no later.
  asio::io_context io;
  strand_type strand = make(io, GetParam());
  constexpr int links = 3 * post_executor::turns_run_on;
  int ran = 0;
  int links_before_x = -1;
  std::function<void()> link = [&] {
    if (++ran == 1) asio::post(io, [&] { links_before_x = ran; });
    if (ran < links) asio::post(strand, link);
  };
  asio::post(strand, link);
  io.run();
  EXPECT_EQ(ran, links);
  EXPECT_EQ(links_before_x, GetParam() ? 1 + post_executor::turns_run_on : 1);
}

// A session's strand step (on a plain strand) enters the shard strand, idle, inline; while the
// step's own handler m runs there, another thread queues h2 on the shard and then x straight
// on the io_context. One io thread. h2 must never run inside the step (decisions §32: that
// would hold the session's strand with another session's work). A shard whose turns run on
// hands h2 on to the step's end, ahead of x; a plain one re-posts it behind x.
TEST_P(PostExecutorStrand, AnEnteredTurnsNextTurnRunsAfterTheCallersStepNotInsideIt) {
  gated_run run;
  strand_type shard = make(run.io, GetParam());
  strand_type session(post_executor(run.io.get_executor()));
  std::promise<void> m_running;
  bool in_step = false;
  bool h2_in_step = false;
  asio::post(session, [&] {
    in_step = true;
    detail::enter_idle_strand_or_post(shard, [&] {
      run.order.push_back("m");
      m_running.set_value();
      run.gate_open.wait();
    });
    run.order.push_back("step end");
    in_step = false;
  });
  run.start();
  m_running.get_future().wait();
  asio::post(shard, [&] {
    h2_in_step = in_step;
    run.order.push_back("h2");
  });
  run.queue_x_open_and_finish(shard);
  EXPECT_FALSE(h2_in_step);
  const std::vector<std::string> handed_on{"m", "step end", "h2", "x"};
  const std::vector<std::string> plain{"m", "step end", "x", "h2"};
  EXPECT_EQ(run.order, GetParam() ? handed_on : plain);
}

// As above with two io threads, but the step then runs long: it waits for h2. h2 must not be
// held until the step ends (another session's loop waiting for this session's writers): the
// other io thread runs it meanwhile, from its post.
TEST_P(PostExecutorStrand, AnEnteredTurnsNextTurnDoesNotWaitForALongStep) {
  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  strand_type shard = make(io, GetParam());
  strand_type session(post_executor(io.get_executor()));
  std::promise<void> m_running;
  std::promise<void> queued;
  std::promise<void> h2_ran;
  std::atomic<bool> h2_ran_during_step{false};
  std::promise<void> step_done;
  asio::post(session, [&, go = queued.get_future().share(), ran = h2_ran.get_future()]() mutable {
    detail::enter_idle_strand_or_post(shard, [&] {
      m_running.set_value();
      go.wait();
    });
    h2_ran_during_step = ran.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
    step_done.set_value();
  });
  std::vector<std::thread> runners;
  for (int t = 0; t < 2; ++t) runners.emplace_back([&] { io.run(); });
  m_running.get_future().wait();
  asio::post(shard, [&] { h2_ran.set_value(); });
  queued.set_value();
  step_done.get_future().wait();
  guard.reset();
  for (auto& t : runners) t.join();
  EXPECT_TRUE(h2_ran_during_step.load());
}

TEST_P(PostExecutorStrand, AHandedTurnRunsExactlyOnceAndTheStrandGoesOn) {
  // The step's entered turn queues h2 on its own strand; for a strand that runs on, h2 is then
  // handed on, both to the step's end and to a post of its own. It must run once, and the
  // strand must take further handlers normally after.
  asio::io_context io;
  strand_type shard = make(io, GetParam());
  strand_type session(post_executor(io.get_executor()));
  int h2 = 0;
  int h3 = 0;
  asio::post(session, [&] {
    detail::enter_idle_strand_or_post(shard, [&] { asio::post(shard, [&] { ++h2; }); });
  });
  io.run();
  EXPECT_EQ(h2, 1);
  asio::post(shard, [&] { ++h3; });
  io.restart();
  io.run();
  EXPECT_EQ(h2, 1);
  EXPECT_EQ(h3, 1);
}

TEST_P(PostExecutorStrand, AStoppedIoContextRunsNoFurtherTurn) {
  // A handler queues three more on its strand and stops the io_context: run() returns before
  // any of them, as asio's own strand does (a review found the first run-on ran all three).
  asio::io_context io;
  strand_type strand = make(io, GetParam());
  int after_stop = 0;
  asio::post(strand, [&] {
    for (int i = 0; i < 3; ++i) asio::post(strand, [&] { ++after_stop; });
    io.stop();
  });
  io.run();
  EXPECT_EQ(after_stop, 0);
  io.restart();
  io.run();
  EXPECT_EQ(after_stop, 3);
}

TEST_P(PostExecutorStrand, AHandlerThatThrowsLeavesRunAndTheStrandGoesOn) {
  // h1 queues h2 (which throws) and h3 on its own strand. Whether h2 runs from the queue or
  // in a turn run on inside asio's turn-exit destructor, the exception must leave
  // io_context::run() (not end the process), and h3 must run on the next run().
  asio::io_context io;
  strand_type strand = make(io, GetParam());
  bool h3_ran = false;
  asio::post(strand, [&] {
    asio::post(strand, [] { throw std::runtime_error("h2"); });
    asio::post(strand, [&] { h3_ran = true; });
  });
  EXPECT_THROW(io.run(), std::runtime_error);
  EXPECT_FALSE(h3_ran);
  io.restart();
  io.run();
  EXPECT_TRUE(h3_ran);
}

TEST(PostExecutor, ATimerOnItsStrandCompletesOnTheStrand) {
  // The engine hands its strand to clock::create_timer as an asio::any_io_executor.
  asio::io_context io;
  strand_type strand(post_executor(io.get_executor()));
  asio::steady_timer timer{asio::any_io_executor(strand)};
  timer.expires_after(std::chrono::milliseconds(1));
  bool on_strand = false;
  bool fired = false;
  timer.async_wait([&](std::error_code ec) {
    fired = !ec;
    on_strand = strand.running_in_this_thread();
  });
  io.run();
  EXPECT_TRUE(fired);
  EXPECT_TRUE(on_strand);
}

TEST(PostExecutor, ComparesByTheWrappedExecutor) {
  asio::io_context a;
  asio::io_context b;
  EXPECT_EQ(post_executor(a.get_executor()), post_executor(a.get_executor()));
  // Each executor made with runs_on is its strand's own: it tells that strand's re-post.
  EXPECT_NE(post_executor(a.get_executor(), post_executor::runs_on),
            post_executor(a.get_executor(), post_executor::runs_on));
  const post_executor shard(a.get_executor(), post_executor::runs_on);
  EXPECT_EQ(shard, post_executor(shard));
  EXPECT_NE(post_executor(a.get_executor()), post_executor(b.get_executor()));
  EXPECT_EQ(&asio::query(post_executor(a.get_executor()), asio::execution::context),
            static_cast<asio::execution_context*>(&a));
}

}  // namespace
}  // namespace vss::test
