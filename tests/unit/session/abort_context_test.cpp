// What OnAbort's context carries: the session's set, backup type, volumes and each writer's
// own selected components, with one shard and with several (one loop per shard). Written for a
// change that built the abort's delivery ahead of time (decisions §38, not kept); it pins what
// any such change must still carry.

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "support/test_writer.hpp"

namespace vss::test {
namespace {

using E = writer_event;

/// A test_writer that also records what its OnAbort context says.
class abort_recorder final : public test_writer {
 public:
  using test_writer::test_writer;
  struct seen {
    snapshot_set_id set;
    backup_type type = backup_type::undefined;
    bool components_selected = false;
    std::vector<std::string> component_names;
    std::vector<bool> backup_succeeded;
    std::vector<std::string> volumes;
  };
  void on_abort(writer_context ctx) override {
    seen s;
    s.set = ctx.snapshot_set();
    s.type = ctx.backup_type();
    s.components_selected = ctx.components_selected();
    for (const auto& c : ctx.components()) {
      s.component_names.push_back(c.name);
      s.backup_succeeded.push_back(c.backup_succeeded);
    }
    s.volumes = ctx.volumes();
    {
      std::lock_guard lock(mutex_);
      seen_.push_back(std::move(s));
    }
    test_writer::on_abort(std::move(ctx));
  }
  std::vector<seen> aborts() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<seen> seen_;
};

class AbortContextTest : public engine_test {
 protected:
  std::shared_ptr<abort_recorder> add_recorder(const std::string& name) {
    auto w = std::make_shared<abort_recorder>(name);
    regs_.push_back(engine_->register_writer(w));
    writers_.push_back(w);
    return w;
  }
};

TEST_F(AbortContextTest, OnAbortCarriesTheSetTheTypeTheVolumesAndEachWritersComponents) {
  for (std::size_t shards : {1u, 3u}) {
    SCOPED_TRACE(shards);
    make_engine({.shard_count = shards});
    std::vector<std::shared_ptr<abort_recorder>> ws;
    for (int i = 0; i < 5; ++i) ws.push_back(add_recorder("w" + std::to_string(i)));
    ws[0]->script(E::freeze, {action::hold});
    auto s = gathered_session(/*select_components=*/true);
    for (std::size_t i = 0; i < ws.size(); i += 2) ASSERT_FALSE(select(s, *ws[i]));  // 0, 2, 4
    ASSERT_EQ(prepare(s), errc::async_finished);
    auto snap = s.async_do_snapshot_set(use_async_op);
    settle();
    auto op = s.async_abort_backup(use_async_op);
    EXPECT_EQ(finish(op), errc::async_finished);
    for (std::size_t i = 0; i < ws.size(); ++i) {
      SCOPED_TRACE(ws[i]->identity().name);
      const auto aborts = ws[i]->aborts();
      if (i % 2 == 1) {
        EXPECT_TRUE(aborts.empty()) << "not a participant";
        continue;
      }
      ASSERT_EQ(aborts.size(), 1u);
      const auto& a = aborts[0];
      EXPECT_EQ(a.set, set_);
      EXPECT_EQ(a.type, backup_type::full);
      EXPECT_TRUE(a.components_selected);
      EXPECT_EQ(a.component_names, std::vector<std::string>{ws[i]->identity().name + "-data"});
      EXPECT_EQ(a.volumes, std::vector<std::string>{"/data"});
    }
    ws[0]->release_held();
    settle();
  }
}

}  // namespace
}  // namespace vss::test
