// writer_placement (decisions §41): writers registered with the same group share one shard, a
// new group takes the next shard in turn as an ungrouped writer does, and a group is forgotten
// with its last writer, so that the name may land elsewhere next time and the engine keeps no
// entry for groups that are gone. Through the public call, two writers of one group never run
// at once, where two ungrouped ones on two shards do; grouped writers take part in a backup
// like any other.

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "engine/engine_core.hpp"
#include "support/host_session.hpp"
#include "support/test_writer.hpp"
#include "vss/vss.hpp"

namespace vss::test {
namespace {

using detail::engine_core;

struct placement_fixture {
  explicit placement_fixture(std::size_t shards) {
    engine_options o;
    o.shard_count = shards;
    core = std::make_shared<engine_core>(io.get_executor(), o);
  }
  // Registers a new writer named `name` in `group`; its shard.
  std::uint32_t add(const std::string& name, const std::string& group = "") {
    std::error_code ec;
    auto entry = core->register_writer(std::make_shared<test_writer>(name), group, ec);
    EXPECT_FALSE(ec) << name << ": " << ec.message();
    if (!entry) return ~0u;
    ids[name] = entry->w->identity().instance_id;
    return entry->shard;
  }
  void remove(const std::string& name) { core->unregister_writer(ids.at(name)); }

  asio::io_context io;
  std::shared_ptr<engine_core> core;
  std::map<std::string, writer_instance_id> ids;
};

TEST(WriterPlacementTest, UngroupedWritersTakeTheShardsInTurn) {
  placement_fixture f(3);
  EXPECT_EQ(f.add("w0"), 0u);
  EXPECT_EQ(f.add("w1"), 1u);
  EXPECT_EQ(f.add("w2"), 2u);
  EXPECT_EQ(f.add("w3"), 0u);
}

TEST(WriterPlacementTest, WritersOfOneGroupShareAShardAndNewGroupsTakeTheNextInTurn) {
  placement_fixture f(3);
  EXPECT_EQ(f.add("a1", "a"), 0u);
  EXPECT_EQ(f.add("b1", "b"), 1u);
  EXPECT_EQ(f.add("a2", "a"), 0u);
  EXPECT_EQ(f.add("u", ""), 2u);  // an ungrouped writer takes a turn like a new group
  EXPECT_EQ(f.add("c1", "c"), 0u);
  EXPECT_EQ(f.add("b2", "b"), 1u);
  EXPECT_EQ(f.add("a3", "a"), 0u);
}

TEST(WriterPlacementTest, AGroupIsForgottenWithItsLastWriter) {
  placement_fixture f(2);
  EXPECT_EQ(f.add("a1", "a"), 0u);
  EXPECT_EQ(f.add("a2", "a"), 0u);
  f.remove("a1");
  EXPECT_EQ(f.add("a3", "a"), 0u);  // a2 still holds the group on shard 0
  f.remove("a2");
  f.remove("a3");
  // Gone with its last writer: the name is a new group, which takes the next turn (shard 1).
  EXPECT_EQ(f.add("a4", "a"), 1u);
}

TEST(WriterPlacementTest, ARefusedRegistrationDoesNotHoldItsGroup) {
  placement_fixture f(2);
  auto w = std::make_shared<test_writer>("dup");
  std::error_code ec;
  auto first = f.core->register_writer(w, "g", ec);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->shard, 0u);
  EXPECT_FALSE(f.core->register_writer(w, "g", ec));
  EXPECT_EQ(ec, make_error_code(errc::writer_already_subscribed));
  f.core->unregister_writer(w->identity().instance_id);
  // Had the refused registration counted, "g" would still be on shard 0.
  EXPECT_EQ(f.add("g2", "g"), 1u);
}

// Two writers, each in a session of its own, whose PrepareBackup handlers each wait (up to
// `window`) for the other to be running too; the two sessions prepare at once on two io
// threads. Returns the most handlers seen running at once: 1 if the writers share a shard
// (its strand runs one handler at a time), 2 if each session's step could enter its own.
int most_running_at_once(const writer_placement& a, const writer_placement& b,
                         std::chrono::milliseconds window) {
  using namespace std::chrono_literals;
  engine_host host{{.io_threads = 2}};
  auto& eng = host.engine();
  EXPECT_FALSE(eng.register_provider(std::make_shared<memory_provider>()));
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  auto overlap = [&](writer_event e) {
    if (e != writer_event::prepare_backup) return;
    const int now = running.fetch_add(1) + 1;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    const auto until = std::chrono::steady_clock::now() + window;
    // Until the other one has been seen running beside this one (by either of them).
    while (most.load() < 2 && std::chrono::steady_clock::now() < until) {
      if (running.load() == 2) most.store(2);
      std::this_thread::yield();
    }
    running.fetch_sub(1);
  };
  auto wa = std::make_shared<test_writer>("a");
  auto wb = std::make_shared<test_writer>("b");
  wa->on_event(overlap);
  wb->on_event(overlap);
  auto ra = eng.register_writer(wa, a);
  auto rb = eng.register_writer(wb, b);
  backup_session sa;
  backup_session sb;
  // Both sessions gather before either prepares: each GatherWriterMetadata asks every writer,
  // and a handler that waits would hold the other's Identify.
  EXPECT_EQ(select_own_on(eng, sa, std::vector{wa}, "/a"), "");
  EXPECT_EQ(select_own_on(eng, sb, std::vector{wb}, "/b"), "");
  auto pa = sa.async_prepare_for_backup(use_async_op);
  auto pb = sb.async_prepare_for_backup(use_async_op);
  EXPECT_TRUE(pa.wait_for(window * 2 + 10s));
  EXPECT_TRUE(pb.wait_for(window * 2 + 10s));
  EXPECT_EQ(pa.query_status(), errc::async_finished);
  EXPECT_EQ(pb.query_status(), errc::async_finished);
  EXPECT_EQ(wa->count(writer_event::prepare_backup), 1u);
  EXPECT_EQ(wb->count(writer_event::prepare_backup), 1u);
  return most.load();
}

TEST(WriterPlacementTest, TwoWritersOfOneGroupNeverRunAtOnce) {
  // Through the public call: had the group been dropped, the two would be on two shards, as
  // in the test below, and would run together.
  // A window of 1 s: long enough that, on a busy machine, the second handler would start
  // inside it if it could.
  EXPECT_EQ(most_running_at_once({.group = "g"}, {.group = "g"}, std::chrono::seconds(1)), 1);
}

TEST(WriterPlacementTest, TwoUngroupedWritersOnTwoShardsDoRunAtOnce) {
  // The check above can see an overlap: spread over two shards, the two sessions' handlers
  // meet (the wait ends as soon as they do).
  EXPECT_EQ(most_running_at_once({}, {}, std::chrono::seconds(10)), 2);
}

TEST(WriterPlacementTest, GroupedWritersTakePartInABackupAndItsAbort) {
  engine_host host{{.io_threads = 2}};
  auto& eng = host.engine();
  ASSERT_FALSE(eng.register_provider(std::make_shared<memory_provider>()));
  auto a1 = std::make_shared<test_writer>("a1");
  auto a2 = std::make_shared<test_writer>("a2");
  auto loose = std::make_shared<test_writer>("loose");
  std::error_code ec;
  auto r1 = eng.register_writer(a1, {.group = "machine-a"}, ec);
  ASSERT_FALSE(ec);
  auto r2 = eng.register_writer(a2, {.group = "machine-a"});
  auto r3 = eng.register_writer(loose);
  backup_session s;
  ASSERT_NO_FATAL_FAILURE(prepare_on(eng, s));
  EXPECT_FALSE(s.abort_backup());
  EXPECT_EQ(s.state(), session_state::aborted);
  for (const auto& w : {a1, a2, loose}) {
    EXPECT_EQ(w->count(writer_event::prepare_backup), 1u) << w->identity().name;
    EXPECT_EQ(w->count(writer_event::abort), 1u) << w->identity().name;
  }
}

}  // namespace
}  // namespace vss::test
