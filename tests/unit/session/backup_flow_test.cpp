// A whole backup, deterministic: event order per writer and per level, writer states, the
// snapshot's life, and BackupShutdown on release.

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "support/test_writer.hpp"

namespace vss::test {
namespace {

using E = writer_event;

class BackupFlowTest : public engine_test {};

TEST_F(BackupFlowTest, FullBackupDeliversEveryEventInVssOrder) {
  auto w = add_writer("db");
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_EQ(s.state(), session_state::snapshotted);
  auto bc = s.async_backup_complete(use_async_op);
  EXPECT_EQ(finish(bc), errc::async_finished);
  EXPECT_EQ(s.state(), session_state::completed);
  s.release();
  run_until([&] { return w->count(E::backup_shutdown) == 1; });
  EXPECT_EQ(w->events(), ev({E::identify, E::prepare_backup, E::prepare_snapshot, E::freeze,
                             E::thaw, E::post_snapshot, E::backup_complete, E::backup_shutdown}));
}

TEST_F(BackupFlowTest, FreezeGoesFrontEndFirstAndThawGoesSystemFirst) {
  std::vector<std::string> order;
  std::mutex m;
  auto front = add_writer("front", application_level::front_end);
  auto back = add_writer("back", application_level::back_end);
  auto sys = add_writer("sys", application_level::system);
  for (auto& w : {front, back, sys}) {
    w->on_event([&, name = w->identity().name](E e) {
      if (e != E::freeze && e != E::thaw) return;
      std::lock_guard lock(m);
      order.push_back(std::string(to_string(e)) + ":" + name);
    });
  }
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_EQ(order, (std::vector<std::string>{"Freeze:front", "Freeze:back", "Freeze:sys",
                                             "Thaw:sys", "Thaw:back", "Thaw:front"}));
}

TEST_F(BackupFlowTest, NextLevelIsNotFrozenUntilTheCurrentLevelAnswered) {
  auto front = add_writer("front", application_level::front_end);
  auto back = add_writer("back", application_level::back_end);
  front->script(E::freeze, {action::hold});
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  EXPECT_EQ(front->count(E::freeze), 1u);
  EXPECT_EQ(back->count(E::freeze), 0u);
  EXPECT_EQ(front->release_held(), 1u);
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_EQ(back->count(E::freeze), 1u);
}

TEST_F(BackupFlowTest, WriterStatesFollowThePhases) {
  auto w = add_writer("db");
  auto s = prepared_session();
  auto st = s.async_gather_writer_status(use_async_op);
  EXPECT_EQ(finish(st), errc::async_finished);
  ASSERT_EQ(s.get_writer_status().size(), 1u);
  EXPECT_EQ(s.get_writer_status()[0].state, writer_state::stable);

  w->script(E::freeze, {action::hold});
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  auto st2 = s.async_gather_writer_status(use_async_op);
  settle();
  ASSERT_TRUE(st2.done());
  EXPECT_EQ(s.get_writer_status()[0].state, writer_state::waiting_for_freeze);
  w->release_held();
  EXPECT_EQ(finish(op), errc::async_finished);
  auto st3 = s.async_gather_writer_status(use_async_op);
  EXPECT_EQ(finish(st3), errc::async_finished);
  EXPECT_EQ(s.get_writer_status()[0].state, writer_state::waiting_for_backup_complete);
  EXPECT_FALSE(s.get_writer_status()[0].failure);
}

TEST_F(BackupFlowTest, CompletedSetIsQueryableAndApplicationConsistent) {
  add_writer("db");
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::async_finished);
  snapshot_properties props;
  ASSERT_FALSE(s.get_snapshot_properties(snapshot_, props));
  EXPECT_EQ(props.set_id, set_);
  EXPECT_EQ(props.original_volume, "/data");
  EXPECT_EQ(props.state, snapshot_state::created);
  std::vector<snapshot_properties> all;
  ASSERT_FALSE(s.query(all));
  EXPECT_EQ(all.size(), 1u);
  EXPECT_EQ(s.consistency(), consistency_grade::application);
}

TEST_F(BackupFlowTest, ReleaseDeletesAutoReleaseSnapshots) {
  add_writer("db");
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_EQ(memory_->query().size(), 1u);
  s.release();
  run_until([&] { return memory_->query().empty(); });
  EXPECT_TRUE(memory_->query().empty());
}

TEST_F(BackupFlowTest, AsyncReleaseCompletesWhenWritersAreFreeForTheNextSession) {
  auto w = add_writer("db");
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  ASSERT_EQ(finish(op), errc::async_finished);
  auto rel = s.async_release(use_async_op);
  EXPECT_EQ(finish(rel), errc::async_finished);
  EXPECT_EQ(w->count(E::backup_shutdown), 1u);
  EXPECT_EQ(s.initialize_for_backup(), errc::bad_state);
  auto again = s.async_release(use_async_op);  // idempotent
  EXPECT_EQ(finish(again), errc::async_finished);
  auto s2 = prepared_session();  // the default reject policy: the writer must be free now
  EXPECT_EQ(s2.state(), session_state::prepared);
}

TEST_F(BackupFlowTest, PersistentSnapshotsSurviveRelease) {
  add_writer("db");
  auto s = gathered_session(false, snapshot_context::app_rollback);
  ASSERT_EQ(prepare(s), errc::async_finished);
  auto op = s.async_do_snapshot_set(use_async_op);
  ASSERT_EQ(finish(op), errc::async_finished);
  s.release();
  settle();
  EXPECT_EQ(memory_->query().size(), 1u);
}

TEST_F(BackupFlowTest, ComponentModeTakesOnlyWritersWithASelectedComponent) {
  auto chosen = add_writer("chosen");
  auto other = add_writer("other");
  auto s = gathered_session(true);
  const auto& id = chosen->identity();
  EXPECT_EQ(s.add_component(id.instance_id, id.class_id, component_type::file_group, "", "missing"),
            errc::object_not_found);
  ASSERT_FALSE(select(s, *chosen));
  EXPECT_EQ(select(s, *chosen), errc::object_already_exists);
  ASSERT_EQ(prepare(s), errc::async_finished);
  auto op = s.async_do_snapshot_set(use_async_op);
  ASSERT_EQ(finish(op), errc::async_finished);
  EXPECT_EQ(chosen->count(E::freeze), 1u);
  EXPECT_EQ(other->count(E::prepare_backup), 0u);
  EXPECT_EQ(other->count(E::freeze), 0u);
}

TEST_F(BackupFlowTest, WriterSeesItsSelectedComponentsAndBackupSucceeded) {
  auto w = add_writer("db");
  std::vector<selected_component> seen_at_prepare, seen_at_complete;
  class capture : public test_writer {
   public:
    using test_writer::test_writer;
    std::vector<selected_component> at_prepare, at_complete;
    void on_prepare_backup(writer_context ctx) override {
      at_prepare = ctx.components();
      ctx.complete();
    }
    void on_backup_complete(writer_context ctx) override {
      at_complete = ctx.components();
      ctx.complete();
    }
  };
  auto c = std::make_shared<capture>("capture");
  regs_.push_back(engine_->register_writer(c));
  auto s = gathered_session(true);
  const auto& id = c->identity();
  ASSERT_FALSE(select(s, *c));
  ASSERT_EQ(prepare(s), errc::async_finished);
  auto op = s.async_do_snapshot_set(use_async_op);
  ASSERT_EQ(finish(op), errc::async_finished);
  ASSERT_FALSE(s.set_backup_succeeded(id.instance_id, id.class_id, component_type::file_group, "",
                                      "capture-data", true));
  auto bc = s.async_backup_complete(use_async_op);
  ASSERT_EQ(finish(bc), errc::async_finished);
  ASSERT_EQ(c->at_prepare.size(), 1u);
  EXPECT_FALSE(c->at_prepare[0].backup_succeeded);
  ASSERT_EQ(c->at_complete.size(), 1u);
  EXPECT_TRUE(c->at_complete[0].backup_succeeded);
  EXPECT_EQ(w->count(E::prepare_backup), 0u);  // not selected
}

TEST_F(BackupFlowTest, IdentifyFailureLeavesTheWriterOutOfTheLists) {
  add_writer("good");
  auto bad = add_writer("bad");
  bad->script(E::identify, {action::fail, errc::writer_error_nonretryable});
  auto s = engine_->create_backup_session();
  ASSERT_FALSE(s.initialize_for_backup());
  auto g = s.async_gather_writer_metadata(use_async_op);
  ASSERT_EQ(finish(g), errc::async_finished);
  ASSERT_EQ(s.get_writer_metadata().size(), 1u);
  EXPECT_EQ(s.get_writer_metadata()[0].identity.name, "good");
  ASSERT_EQ(s.get_writer_metadata()[0].components.size(), 1u);
}

TEST_F(BackupFlowTest, CallOutOfOrderIsBadStateAndChangesNothing) {
  add_writer("db");
  auto s = engine_->create_backup_session();
  EXPECT_EQ(s.abort_backup(), errc::bad_state);
  snapshot_set_id set;
  EXPECT_EQ(s.start_snapshot_set(set), errc::bad_state);
  EXPECT_EQ(s.state(), session_state::created);
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::bad_state);
  EXPECT_EQ(s.state(), session_state::created);
}

TEST_F(BackupFlowTest, AddToSnapshotSetValidatesItsInput) {
  auto s = engine_->create_backup_session();
  ASSERT_FALSE(s.initialize_for_backup());
  ASSERT_FALSE(s.start_snapshot_set(set_));
  snapshot_id id;
  EXPECT_EQ(s.add_to_snapshot_set("", {}, id), errc::invalid_arg);
  EXPECT_EQ(s.add_to_snapshot_set("/v", provider_id::generate(), id),
            errc::provider_not_registered);
  ASSERT_FALSE(s.add_to_snapshot_set("/v", {}, id));
  EXPECT_EQ(s.add_to_snapshot_set("/v", {}, id), errc::object_already_exists);
  for (int i = 1; i < 64; ++i) {
    ASSERT_FALSE(s.add_to_snapshot_set("/v" + std::to_string(i), {}, id)) << i;
  }
  EXPECT_EQ(s.add_to_snapshot_set("/v64", {}, id), errc::maximum_number_of_volumes_reached);
}

TEST_F(BackupFlowTest, VolumeNoProviderSupportsIsRejected) {
  make_engine({});
  engine_->register_provider(std::make_shared<memory_provider>(memory_provider_options{
      .name = "picky", .supports = [](std::string_view v) { return v == "/only"; }}));
  auto s = engine_->create_backup_session();
  ASSERT_FALSE(s.initialize_for_backup());
  ASSERT_FALSE(s.start_snapshot_set(set_));
  bool supported = true;
  ASSERT_FALSE(s.is_volume_supported({}, "", supported) == std::error_code{});
  ASSERT_FALSE(s.is_volume_supported({}, "/x", supported));
  EXPECT_TRUE(supported);  // the default memory provider takes anything
}

TEST_F(BackupFlowTest, ANamedProviderIsFoundAmongManyAndADuplicateIdIsRefused) {
  // Each provider takes only its own volume, so the answer to a named AddToSnapshotSet tells
  // which provider the engine picked.
  std::vector<provider_id> ids;
  for (int k = 0; k < 40; ++k) {
    const auto volume = "/v" + std::to_string(k);
    auto p = std::make_shared<memory_provider>(
        memory_provider_options{.name = "p" + std::to_string(k),
                                .supports = [volume](std::string_view v) { return v == volume; }});
    ids.push_back(p->properties().id);
    ASSERT_FALSE(engine_->register_provider(p)) << k;
  }
  // Another object under a registered id is refused, and changes nothing.
  EXPECT_EQ(engine_->register_provider(
                std::make_shared<memory_provider>(memory_provider_options{.id = ids[7]})),
            errc::provider_already_registered);
  const auto listed = engine_->registered_providers();
  ASSERT_EQ(listed.size(), 41u);  // the fixture's own first, then in registration order
  for (int k = 0; k < 40; ++k) EXPECT_EQ(listed[k + 1].id, ids[k]) << k;

  auto s = engine_->create_backup_session();
  ASSERT_FALSE(s.initialize_for_backup());
  ASSERT_FALSE(s.start_snapshot_set(set_));
  snapshot_id id;
  EXPECT_EQ(s.add_to_snapshot_set("/v36", ids[37], id), errc::volume_not_supported_by_provider);
  EXPECT_FALSE(s.add_to_snapshot_set("/v37", ids[37], id));
  EXPECT_FALSE(s.add_to_snapshot_set("/v0", ids[0], id));
  EXPECT_EQ(s.add_to_snapshot_set("/v1", provider_id::generate(), id),
            errc::provider_not_registered);
}

// A writer that keeps its last context as a member (answered or not) must not keep itself, or
// its fellow participants, alive through the context.
class keeping_writer : public writer {
 public:
  keeping_writer() : writer({.name = "keeper"}) {}
  void on_prepare_snapshot(writer_context ctx) override { keep(std::move(ctx)); }
  void on_freeze(writer_context ctx) override { keep(std::move(ctx)); }
  void on_thaw(writer_context ctx) override { keep(std::move(ctx)); }
  void on_abort(writer_context ctx) override { keep(std::move(ctx)); }

 private:
  void keep(writer_context ctx) {
    last_ = std::move(ctx);
    last_->complete();
  }
  std::optional<writer_context> last_;
};

TEST_F(BackupFlowTest, AWriterKeepingItsContextIsNotKeptAliveByIt) {
  auto other = add_writer("other");
  std::weak_ptr<writer> weak;
  {
    auto keeper = std::make_shared<keeping_writer>();
    weak = keeper;
    auto reg = engine_->register_writer(keeper);
    auto s = prepared_session();
    auto op = s.async_do_snapshot_set(use_async_op);
    EXPECT_EQ(finish(op), errc::async_finished);
    s.release();
    settle();
  }
  settle();
  EXPECT_TRUE(weak.expired()) << "a kept context formed a cycle back to its writer";
}

}  // namespace
}  // namespace vss::test
