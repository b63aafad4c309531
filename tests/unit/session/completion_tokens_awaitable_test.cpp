// The use_awaitable half of CompletionTokensTest (completion_tokens_test.cpp has the rest): a
// whole backup driven from a coroutine. A binary of its own, openvss_coroutine_tests, so that
// the clang build that enables co_await can build and run it without the whole unit-test
// binary (tests/CMakeLists.txt).

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/use_awaitable.hpp>

#include "support/test_writer.hpp"

namespace vss::test {
namespace {

using E = writer_event;

class CompletionTokensTest : public engine_test {};

#if defined(ASIO_HAS_CO_AWAIT)
TEST_F(CompletionTokensTest, UseAwaitableRunsAWholeBackupInACoroutine) {
  auto w = add_writer("w");
  bool done = false;
  auto s = engine_->create_backup_session();
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        EXPECT_FALSE(s.initialize_for_backup());
        EXPECT_FALSE(s.set_backup_state(false, false, backup_type::full));
        co_await s.async_gather_writer_metadata(asio::use_awaitable);
        snapshot_set_id set;
        snapshot_id snap;
        EXPECT_FALSE(s.start_snapshot_set(set));
        EXPECT_FALSE(s.add_to_snapshot_set("/data", {}, snap));
        co_await s.async_prepare_for_backup(asio::use_awaitable);
        co_await s.async_do_snapshot_set(asio::use_awaitable);
        co_await s.async_backup_complete(asio::use_awaitable);
        done = true;
      },
      asio::detached);
  settle();
  EXPECT_TRUE(done);
  EXPECT_EQ(w->count(E::backup_complete), 1u);
}
#endif
#if !defined(ASIO_HAS_CO_AWAIT)
TEST(CompletionTokensTest, UseAwaitable) {
  GTEST_SKIP() << "Asio sees no co_await support here; build with ASIO_HAS_CO_AWAIT=1";
}
#endif

}  // namespace
}  // namespace vss::test
