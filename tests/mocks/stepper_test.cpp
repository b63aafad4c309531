// stepper checked against a real vss::engine: held answers reach the engine exactly when, in
// the order, and with the answer the test chooses. Deterministic: one single-threaded
// io_context and a vss::manual_clock.

#include "vss/mocks/stepper.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/test_writer.hpp"
#include "vss/mocks/event_recorder.hpp"
#include "vss/mocks/fake_writer.hpp"

namespace vss::mocks {
namespace {

using E = writer_event;
using names = std::vector<std::string>;
using namespace std::chrono_literals;

class StepperTest : public vss::test::engine_test {
 protected:
  std::shared_ptr<fake_writer> add_fake(const std::string& name,
                                        application_level level = application_level::front_end) {
    auto w = std::make_shared<fake_writer>(
        name, level, fake_writer_options{clock_, io_.get_executor(), recorder_, step_, {}});
    regs_.push_back(engine_->register_writer(w));
    return w;
  }

  writer_status status_of(backup_session& s, const writer& w) {
    auto op = s.async_gather_writer_status(use_async_op);
    EXPECT_EQ(finish(op), errc::async_finished);
    for (const auto& st : s.get_writer_status()) {
      if (st.instance_id == w.identity().instance_id) return st;
    }
    ADD_FAILURE() << "no status for " << w.identity().name;
    return {};
  }

  /// A prepared component-mode session whose only participant is `w`, on `volume`.
  backup_session component_session(const writer& w, const std::string& volume) {
    auto s = gathered_session(/*select_components=*/true);
    EXPECT_FALSE(select(s, w));
    snapshot_set_id set;
    snapshot_id snap;
    EXPECT_FALSE(s.start_snapshot_set(set));
    EXPECT_FALSE(s.add_to_snapshot_set(volume, {}, snap));
    auto p = s.async_prepare_for_backup(use_async_op);
    EXPECT_EQ(finish(p), errc::async_finished);
    return s;
  }

  /// The writers that received `event`, in the order the recorder saw it.
  names receivers_of(E event) const {
    names out;
    for (const auto& e : recorder_->events()) {
      if (e.event == event) out.push_back(e.writer);
    }
    return out;
  }

  static names writers_of(const std::vector<held_answer>& held) {
    names out;
    for (const auto& h : held) out.push_back(h.writer);
    return out;
  }

  std::shared_ptr<stepper> step_ = std::make_shared<stepper>();
  std::shared_ptr<event_recorder> recorder_ = std::make_shared<event_recorder>(clock_);
};

TEST_F(StepperTest, HoldsEachAnswerWithItsWriterEventAndSetAsFreezeLevelsArrive) {
  auto web = add_fake("web", application_level::front_end);
  auto db = add_fake("db", application_level::back_end);
  auto sys = add_fake("sys", application_level::system);
  for (const auto& w : {web, db, sys}) w->on(E::freeze, fault::hang());
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  // Freeze goes level by level: only the front-end writer has it until it answers.
  auto p = step_->pending();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].writer, "web");
  EXPECT_EQ(p[0].event, E::freeze);
  EXPECT_EQ(p[0].set, set_);
  EXPECT_TRUE(step_->release(0));
  settle();
  EXPECT_EQ(writers_of(step_->pending()), names{"db"});
  EXPECT_TRUE(step_->release("db", E::freeze));
  settle();
  EXPECT_EQ(writers_of(step_->pending()), names{"sys"});
  EXPECT_EQ(step_->release_all(), 1u);
  EXPECT_EQ(step_->size(), 0u);
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_EQ(receivers_of(E::freeze), (names{"web", "db", "sys"}));
  EXPECT_EQ(s.consistency(), consistency_grade::application);
}

TEST_F(StepperTest, TheEngineWaitsForTheAnswersStillHeld) {
  auto a = add_fake("a");
  auto b = add_fake("b");
  a->on(E::freeze, fault::hang());
  b->on(E::freeze, fault::hang());
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_EQ(step_->size(), 2u);
  EXPECT_EQ(step_->release_in_order({"a"}), 1u);
  settle();
  EXPECT_EQ(recorder_->count(E::thaw), 0u);
  EXPECT_EQ(writers_of(step_->pending()), names{"b"});
  EXPECT_EQ(step_->release_in_order({"b"}), 1u);
  settle();
  EXPECT_EQ(recorder_->count(E::thaw), 2u);
  EXPECT_EQ(finish(op), errc::async_finished);
}

TEST_F(StepperTest, ReleaseInOrderReachesTheEngineInThatOrder) {
  auto a = add_fake("a");
  auto b = add_fake("b");
  a->on(E::freeze, fault::hang());
  b->on(E::freeze, fault::hang());
  for (const names& order : {names{"b", "a"}, names{"a", "b"}}) {
    {
      // Two sessions with disjoint writers and volumes run side by side; each writer's answer
      // lets its own session go on to Thaw.
      auto s1 = component_session(*a, "/a");
      auto s2 = component_session(*b, "/b");
      recorder_->clear();
      auto op1 = s1.async_do_snapshot_set(use_async_op);
      auto op2 = s2.async_do_snapshot_set(use_async_op);
      settle();
      ASSERT_EQ(step_->size(), 2u);
      EXPECT_EQ(step_->release_in_order(order), 2u);
      settle();
      EXPECT_TRUE(op1.done());
      EXPECT_TRUE(op2.done());
      EXPECT_EQ(receivers_of(E::thaw), order);
      EXPECT_EQ(receivers_of(E::post_snapshot), order);
    }
    settle();  // both sessions released: the writers are free for the next round
  }
}

TEST_F(StepperTest, ReleaseInOrderSkipsNamesWithNothingHeld) {
  auto a = add_fake("a");
  a->on(E::prepare_snapshot, fault::hang());
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  EXPECT_EQ(step_->release_in_order({"nobody", "a", "a"}), 1u);
  EXPECT_EQ(step_->size(), 0u);
  EXPECT_EQ(finish(op), errc::async_finished);
}

TEST_F(StepperTest, ReleaseByNameAndEventAnswersWithTheGivenFault) {
  auto a = add_fake("a");
  auto b = add_fake("b");
  a->on(E::prepare_snapshot, fault::hang());
  b->on(E::prepare_snapshot, fault::hang());
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_EQ(step_->size(), 2u);
  EXPECT_FALSE(step_->release("b", E::freeze));  // no such answer held
  EXPECT_FALSE(step_->release("c", E::prepare_snapshot));
  EXPECT_TRUE(step_->release("a", E::prepare_snapshot, fault::veto(errc::writer_error_retryable)));
  EXPECT_FALSE(step_->release("a", E::prepare_snapshot));  // already released
  EXPECT_TRUE(step_->release("b", E::prepare_snapshot, fault::fail_without_code()));
  const auto before = clock_->now();
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_EQ(clock_->now(), before);  // answered, not timed out
  const auto sa = status_of(s, *a);
  EXPECT_EQ(sa.state, writer_state::failed_at_prepare_snapshot);
  EXPECT_EQ(sa.failure, errc::writer_error_retryable);
  EXPECT_EQ(sa.message, "stepper: released with a veto");
  const auto sb = status_of(s, *b);
  EXPECT_EQ(sb.state, writer_state::failed_at_prepare_snapshot);
  EXPECT_EQ(sb.failure, errc::writer_error_nonretryable);
  EXPECT_EQ(sb.message, "writer_context destroyed without complete() or fail()");
}

TEST_F(StepperTest, ReleaseByIndexOutOfRangeReturnsFalseAndKeepsEverything) {
  auto a = add_fake("a");
  a->on(E::prepare_snapshot, fault::hang());
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  EXPECT_FALSE(step_->release(1));
  EXPECT_EQ(step_->size(), 1u);
  settle();
  EXPECT_FALSE(op.done());
  EXPECT_TRUE(step_->release(0));
  EXPECT_EQ(finish(op), errc::async_finished);
}

TEST_F(StepperTest, ReleaseRefusesAnswersItCannotGiveAndKeepsTheContext) {
  auto a = add_fake("a");
  a->on(E::freeze, fault::hang());
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_EQ(step_->size(), 1u);
  for (const fault& bad :
       {fault::hang(), fault::hang_ignore_abort(), fault::delay(1s), fault::throw_exception(),
        fault::veto(errc::ok), fault::veto(errc::provider_veto)}) {
    EXPECT_THROW(step_->release(0, bad), std::invalid_argument);
    EXPECT_THROW(step_->release("a", E::freeze, bad), std::invalid_argument);
    EXPECT_THROW(step_->release_all(bad), std::invalid_argument);
  }
  EXPECT_EQ(step_->size(), 1u);
  EXPECT_EQ(step_->release_all(fault::complete_twice()), 1u);
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_EQ(status_of(s, *a).state, writer_state::waiting_for_backup_complete);
}

TEST_F(StepperTest, ReleaseAllAnswersEveryHeldContext) {
  auto a = add_fake("a");
  auto b = add_fake("b");
  a->on(E::prepare_snapshot, fault::hang());
  b->on(E::prepare_snapshot, fault::hang());
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  EXPECT_EQ(step_->release_all(fault::veto(errc::writer_error_nonretryable)), 2u);
  EXPECT_EQ(step_->release_all(), 0u);
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_EQ(status_of(s, *a).failure, errc::writer_error_nonretryable);
  EXPECT_EQ(status_of(s, *b).failure, errc::writer_error_nonretryable);
}

TEST_F(StepperTest, DropDestroysOnlyTheMatchingAnswer) {
  auto a = add_fake("a");
  auto b = add_fake("b");
  a->on(E::prepare_snapshot, fault::hang());
  b->on(E::prepare_snapshot, fault::hang());
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  EXPECT_FALSE(step_->drop("a", E::prepare_snapshot, snapshot_set_id::generate()));
  EXPECT_FALSE(step_->drop("a", E::freeze, set_));
  EXPECT_TRUE(step_->drop("a", E::prepare_snapshot, set_));
  EXPECT_EQ(writers_of(step_->pending()), names{"b"});
  EXPECT_TRUE(step_->release(0));
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_EQ(status_of(s, *a).failure, errc::writer_error_nonretryable);
  EXPECT_EQ(status_of(s, *b).state, writer_state::waiting_for_backup_complete);
}

TEST_F(StepperTest, WaitForIsTrueOnceEnoughAreHeldAndFalseOnTimeout) {
  EXPECT_FALSE(step_->wait_for(1, 1ms));
  EXPECT_TRUE(step_->wait_for(0, 0ms));
  auto a = add_fake("a");
  a->on(E::prepare_snapshot, fault::hang());
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  EXPECT_TRUE(step_->wait_for(1, 0ms));
  EXPECT_FALSE(step_->wait_for(2, 1ms));
  EXPECT_EQ(step_->release_all(), 1u);
  EXPECT_EQ(finish(op), errc::async_finished);
}

// A writer of your own can use a stepper too; destroying the stepper drops what it holds.
class own_writer : public vss::writer {
 public:
  explicit own_writer(stepper& step) : writer({.name = "own"}), step_(step) {}
  void on_prepare_snapshot(writer_context ctx) override { step_.hold("own", std::move(ctx)); }
  void on_freeze(writer_context ctx) override { ctx.complete(); }
  void on_thaw(writer_context ctx) override { ctx.complete(); }
  void on_abort(writer_context ctx) override { ctx.complete(); }

 private:
  stepper& step_;
};

TEST_F(StepperTest, DestroyingTheStepperDropsWhatItHolds) {
  auto own_step = std::make_unique<stepper>();
  auto w = std::make_shared<own_writer>(*own_step);
  regs_.push_back(engine_->register_writer(w));
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  settle();
  ASSERT_EQ(own_step->size(), 1u);
  EXPECT_EQ(own_step->pending()[0].writer, "own");
  own_step.reset();
  const auto before = clock_->now();
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_EQ(clock_->now(), before);
  const auto st = status_of(s, *w);
  EXPECT_EQ(st.failure, errc::writer_error_nonretryable);
  EXPECT_EQ(st.message, "writer_context destroyed without complete() or fail()");
}

}  // namespace
}  // namespace vss::mocks
