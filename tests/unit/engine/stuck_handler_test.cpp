// A writer that blocks inside a handler it declared non-blocking, on a real two-thread engine.
// Its shard's delivery loop then never ends, so answers counted in that loop's batch
// (phase_collector::inline_batch, docs/decisions.md §24) are never released by the count; the
// phase, an abort included, must still end at its deadline (invariant 6: AbortBackup never
// hangs on a writer).

#include <gtest/gtest.h>

#include <asio/use_future.hpp>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "support/host_session.hpp"
#include "support/test_writer.hpp"
#include "vss/vss.hpp"

namespace vss::test {
namespace {

using namespace std::chrono_literals;

/// Answers every event at once, except OnAbort when told to stick: then it spins inside the
/// handler (never returning to the engine) until released, having answered first if told to.
class abort_sticker final : public writer {
 public:
  abort_sticker(std::string name, bool sticks, bool answers_first = false)
      : writer(identity_for(std::move(name))) {
    sticks_ = sticks;
    answers_first_ = answers_first;
  }
  void on_prepare_snapshot(writer_context ctx) override { ctx.complete(); }
  void on_freeze(writer_context ctx) override { ctx.complete(); }
  void on_thaw(writer_context ctx) override { ctx.complete(); }
  void on_abort(writer_context ctx) override {
    aborts.fetch_add(1);
    if (answers_first_) ctx.complete();
    if (sticks_) {
      stuck = true;
      while (!release) std::this_thread::sleep_for(1ms);
    }
    if (!answers_first_) ctx.complete();
  }

  std::atomic<int> aborts{0};
  std::atomic<bool> stuck{false};
  std::atomic<bool> release{false};

 private:
  static writer_identity identity_for(std::string name) {
    writer_identity id;
    id.name = std::move(name);
    return id;
  }
  bool sticks_ = false;
  bool answers_first_ = false;
};

/// A two-io-thread host with a 200 ms abort deadline and `shards` shards, a memory provider,
/// `writers` registered, and one session prepared over them.
struct stuck_fixture {
  explicit stuck_fixture(std::size_t shards) : host(options(shards)) {}
  static host_options options(std::size_t shards) {
    host_options o;
    o.io_threads = 2;
    o.engine.shard_count = shards;
    o.engine.deadlines.abort = 200ms;
    return o;
  }
  void prepare(const std::vector<std::shared_ptr<abort_sticker>>& writers) {
    ASSERT_FALSE(host.engine().register_provider(std::make_shared<memory_provider>()));
    for (const auto& w : writers) regs.push_back(host.engine().register_writer(w));
    ASSERT_NO_FATAL_FAILURE(prepare_on(host.engine(), s));
  }
  engine_host host;
  std::vector<writer_registration> regs;
  backup_session s;
};

TEST(StuckHandler, AnAbortEndsAtItsDeadlineWhileAHandlerBlocksItsShardsLoop) {
  stuck_fixture f(1);  // every writer in one loop: the first answers, the second sticks
  auto first = std::make_shared<abort_sticker>("answers", false);
  auto second = std::make_shared<abort_sticker>("sticks", true);
  f.prepare({first, second});
  auto& s = f.s;

  // The abort waits for OnAbort of both writers, or for the abort deadline.
  auto aborted = s.async_abort_backup(asio::use_future);
  const bool ended = aborted.wait_for(10s) == std::future_status::ready;
  const bool still_stuck = !second->release;
  second->release = true;  // let the loop (and the engine's shutdown) go on in any case
  ASSERT_TRUE(ended) << "the abort waited for a handler that never returned";
  EXPECT_TRUE(still_stuck);
  EXPECT_TRUE(second->stuck);
  EXPECT_EQ(first->aborts, 1);
  EXPECT_NO_THROW(aborted.get());
  // The stuck writer is reported as not answering; the other one answered.
  auto status = s.async_gather_writer_status(asio::use_future);
  ASSERT_EQ(status.wait_for(10s), std::future_status::ready);
  bool saw_stuck = false;
  for (const auto& st : s.get_writer_status()) {
    if (st.name == "sticks") {
      saw_stuck = true;
      EXPECT_EQ(st.failure, make_error_code(errc::writer_not_responding));
    } else {
      EXPECT_FALSE(st.failure) << st.name;
    }
  }
  EXPECT_TRUE(saw_stuck);
}

// Decisions §32: the abort's last loop runs on its strand step's thread, so a handler blocking
// there holds that thread; the deadline must still end the abort, off the strand.
TEST(StuckHandler, AnAbortOfOneStuckWriterEndsAtItsDeadline) {
  stuck_fixture f(1);
  auto w = std::make_shared<abort_sticker>("sticks", true);
  f.prepare({w});
  auto aborted = f.s.async_abort_backup(asio::use_future);
  const bool ended = aborted.wait_for(5s) == std::future_status::ready;
  w->release = true;
  EXPECT_TRUE(ended) << "the abort waited for a handler that never returned";
  EXPECT_TRUE(w->stuck);
}

TEST(StuckHandler, AnAbortEndsWhenAHandlerAnswersAndThenBlocks) {
  // Every slot is final, but the answer is still counted in the blocked loop's batch.
  stuck_fixture f(1);
  auto w = std::make_shared<abort_sticker>("answers, then sticks", true, /*answers_first=*/true);
  f.prepare({w});
  auto aborted = f.s.async_abort_backup(asio::use_future);
  const bool ended = aborted.wait_for(5s) == std::future_status::ready;
  w->release = true;
  EXPECT_TRUE(ended) << "the abort waited for a handler that never returned";
}

TEST(StuckHandler, AWriterOfAnotherShardHearsItsAbortWhileOneHandlerBlocks) {
  // Decisions §33: both shards' loops are kept to run on the strand step's thread, the last
  // shard's first. Its handler blocks there; the other loop, not yet started, is handed to its
  // shard's strand by the writer leg's timer, so the other writer hears OnAbort long before
  // the abort deadline and answers in time.
  stuck_fixture f(2);
  auto stuck = std::make_shared<abort_sticker>("sticks", true);
  auto other = std::make_shared<abort_sticker>("answers", false);
  f.prepare({other, stuck});  // registered second: the last shard, whose loop runs first
  auto aborted = f.s.async_abort_backup(asio::use_future);
  const bool ended = aborted.wait_for(5s) == std::future_status::ready;
  const int other_aborts = other->aborts.load();
  stuck->release = true;
  EXPECT_TRUE(ended) << "the abort waited for a handler that never returned";
  EXPECT_EQ(other_aborts, 1) << "the other shard's writer did not hear OnAbort in time";
  auto status = f.s.async_gather_writer_status(asio::use_future);
  ASSERT_EQ(status.wait_for(10s), std::future_status::ready);
  for (const auto& st : f.s.get_writer_status()) {
    if (st.name == "answers") {
      EXPECT_FALSE(st.failure) << st.failure.message();
    }
  }
}

// Decisions §32 and §36: a session is held by another session's stuck handler only through
// their shard. Session A's abort step enters the idle shard with A's loop; B's Identify loop
// queues on the shard meanwhile and then sticks. A's strand (its GatherWriterStatus) must not
// be held by it. (Found by a review of the first version of §36, which ran B's loop on inside
// A's step.)
TEST(StuckHandler, AnotherSessionsStuckLoopDoesNotHoldThisSessionsStrand) {
  host_options o;
  o.io_threads = 2;
  o.engine.shard_count = 1;
  o.engine.deadlines.abort = 200ms;
  engine_host host(o);
  ASSERT_FALSE(host.engine().register_provider(std::make_shared<memory_provider>()));
  auto w = std::make_shared<test_writer>("w");
  auto reg = host.engine().register_writer(w);
  backup_session a;
  ASSERT_NO_FATAL_FAILURE(prepare_on(host.engine(), a));
  std::atomic<bool> in_abort{false};
  std::atomic<bool> b_requested{false};
  std::atomic<bool> release{false};
  std::atomic<bool> stuck{false};
  w->on_event([&](writer_event e) {
    if (e == writer_event::abort) {  // A's loop, run in A's abort step
      in_abort = true;
      while (!b_requested) std::this_thread::sleep_for(1ms);
      std::this_thread::sleep_for(20ms);       // B's Identify loop queues on the shard meanwhile
    } else if (e == writer_event::identify) {  // B's loop
      stuck = true;
      while (!release) std::this_thread::sleep_for(1ms);
    }
  });
  auto a_abort = a.async_abort_backup(asio::use_future);
  while (!in_abort) std::this_thread::sleep_for(1ms);
  auto b = host.engine().create_backup_session();
  ASSERT_FALSE(b.initialize_for_backup());
  ASSERT_FALSE(b.set_backup_state(false, false, backup_type::full));
  auto gathered = b.async_gather_writer_metadata(asio::use_future);
  std::this_thread::sleep_for(2ms);
  b_requested = true;
  ASSERT_EQ(a_abort.wait_for(5s), std::future_status::ready);
  for (int i = 0; i < 1000 && !stuck; ++i) std::this_thread::sleep_for(1ms);
  auto status = a.async_gather_writer_status(asio::use_future);
  const bool answered = status.wait_for(1s) == std::future_status::ready;
  release = true;
  EXPECT_TRUE(stuck.load());
  EXPECT_TRUE(answered) << "A's strand is held by B's stuck Identify";
  gathered.wait_for(5s);
  status.wait_for(5s);
}

}  // namespace
}  // namespace vss::test
