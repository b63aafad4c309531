// Writers declared handler_execution::blocking run on the blocking executor, never on the
// engine's threads, and still one handler at a time; every delivery yields a phase report.

#include <gtest/gtest.h>

#include <asio/thread_pool.hpp>
#include <atomic>
#include <thread>

#include "support/test_writer.hpp"

namespace vss::test {
namespace {

using E = writer_event;

class blocking_writer : public writer {
 public:
  blocking_writer()
      : writer(writer_identity{.name = "blocking", .execution = handler_execution::blocking}) {}
  std::atomic<int> running{0};
  std::atomic<int> overlaps{0};
  std::mutex m;
  std::vector<std::thread::id> threads;

  void on_prepare_snapshot(writer_context ctx) override { work(std::move(ctx)); }
  void on_freeze(writer_context ctx) override { work(std::move(ctx)); }
  void on_thaw(writer_context ctx) override { work(std::move(ctx)); }
  void on_abort(writer_context ctx) override { work(std::move(ctx)); }

 private:
  void work(writer_context ctx) {
    if (running.fetch_add(1) != 0) ++overlaps;
    {
      std::lock_guard lock(m);
      threads.push_back(std::this_thread::get_id());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // it may block: that is the point
    running.fetch_sub(1);
    ctx.complete();
  }
};

class BlockingWriterTest : public engine_test {};

TEST_F(BlockingWriterTest, HandlersRunOnTheBlockingExecutorOneAtATime) {
  engine_options o;
  o.blocking_executor = blocking_pool().get_executor();
  make_engine(o);
  advance_virtual_time_ = false;
  auto w = std::make_shared<blocking_writer>();
  regs_.push_back(engine_->register_writer(w));
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  // The io thread only routes; the blocking work happens on the pool while we keep polling.
  ASSERT_TRUE(run_until([&] { return op.done(); }, 100'000));
  EXPECT_EQ(op.query_status(), errc::async_finished);
  std::lock_guard lock(w->m);
  ASSERT_EQ(w->threads.size(), 3u);  // PrepareSnapshot, Freeze, Thaw
  for (auto id : w->threads) EXPECT_NE(id, std::this_thread::get_id());
  EXPECT_EQ(w->overlaps.load(), 0);
}

TEST_F(BlockingWriterTest, EveryDeliveryHasAReportWithOneResultPerWriter) {
  auto a = add_writer("a");
  auto b = add_writer("b");
  b->script(E::freeze, {action::fail, errc::writer_error_retryable});
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  ASSERT_EQ(finish(op), errc::async_finished);
  const auto reports = s.phase_reports();
  std::vector<E> events;
  for (const auto& r : reports) events.push_back(r.event);
  EXPECT_EQ(events, ev({E::identify, E::prepare_backup, E::prepare_snapshot, E::freeze, E::abort,
                        E::thaw, E::post_snapshot}));
  const auto& freeze = reports[3];
  ASSERT_EQ(freeze.results.size(), 2u);
  EXPECT_EQ(freeze.count(writer_outcome::completed), 1u);
  EXPECT_EQ(freeze.count(writer_outcome::failed), 1u);
  for (const auto& r : freeze.results) {
    if (r.name == "b") {
      EXPECT_EQ(r.code, errc::writer_error_retryable);
    }
  }
  EXPECT_LE(freeze.started, freeze.settled);
}

}  // namespace
}  // namespace vss::test
