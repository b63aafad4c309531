// event_recorder: the log itself (sequence, time, thread, filters, timeline, listener), and
// the log of a real backup shared by fake writers. Deterministic: a vss::manual_clock and a
// single-threaded io_context (one joined helper thread where a second thread id is needed).

#include "vss/mocks/event_recorder.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "support/test_writer.hpp"
#include "vss/manual_clock.hpp"
#include "vss/mocks/fake_writer.hpp"

namespace vss::mocks {
namespace {

using E = writer_event;
using names = std::vector<std::string>;
using namespace std::chrono_literals;

class EventRecorderTest : public ::testing::Test {
 protected:
  std::shared_ptr<manual_clock> clock_ = std::make_shared<manual_clock>();
  event_recorder rec_{clock_};
  writer_instance_id web_ = writer_instance_id::generate();
  writer_instance_id db_ = writer_instance_id::generate();
  snapshot_set_id set_ = snapshot_set_id::generate();
};

TEST_F(EventRecorderTest, RecordsSequenceTimeThreadAndWhatWasGiven) {
  const auto t0 = clock_->now();
  rec_.record("web", web_, E::identify, {});
  clock_->advance(1500ms);
  rec_.record("db", db_, E::freeze, set_);
  const auto log = rec_.events();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].sequence, 0u);
  EXPECT_EQ(log[0].writer, "web");
  EXPECT_EQ(log[0].instance, web_);
  EXPECT_EQ(log[0].event, E::identify);
  EXPECT_TRUE(log[0].set.is_null());
  EXPECT_EQ(log[0].at, t0);
  EXPECT_EQ(log[0].thread, std::this_thread::get_id());
  EXPECT_EQ(log[1].sequence, 1u);
  EXPECT_EQ(log[1].writer, "db");
  EXPECT_EQ(log[1].instance, db_);
  EXPECT_EQ(log[1].event, E::freeze);
  EXPECT_EQ(log[1].set, set_);
  EXPECT_EQ(log[1].at, t0 + 1500ms);
}

TEST_F(EventRecorderTest, FiltersCountAndListWritersInOrderOfFirstEvent) {
  rec_.record("db", db_, E::prepare_backup, set_);
  rec_.record("web", web_, E::prepare_backup, set_);
  rec_.record("db", db_, E::freeze, set_);
  rec_.record("web", web_, E::freeze, set_);
  rec_.record("db", db_, E::abort, set_);
  EXPECT_EQ(rec_.events_of("db"), (std::vector<E>{E::prepare_backup, E::freeze, E::abort}));
  EXPECT_EQ(rec_.events_of("web"), (std::vector<E>{E::prepare_backup, E::freeze}));
  EXPECT_TRUE(rec_.events_of("nobody").empty());
  EXPECT_EQ(rec_.count(E::freeze), 2u);
  EXPECT_EQ(rec_.count(E::thaw), 0u);
  EXPECT_EQ(rec_.count("db", E::abort), 1u);
  EXPECT_EQ(rec_.count("web", E::abort), 0u);
  EXPECT_EQ(rec_.writers(), (names{"db", "web"}));
}

TEST_F(EventRecorderTest, ClearForgetsEverythingAndRestartsTheSequence) {
  rec_.record("db", db_, E::identify, {});
  rec_.record("db", db_, E::identify, {});
  rec_.clear();
  EXPECT_TRUE(rec_.events().empty());
  EXPECT_TRUE(rec_.writers().empty());
  EXPECT_EQ(rec_.count(E::identify), 0u);
  rec_.record("web", web_, E::thaw, set_);
  ASSERT_EQ(rec_.events().size(), 1u);
  EXPECT_EQ(rec_.events()[0].sequence, 0u);
}

TEST_F(EventRecorderTest, TimelineShowsOneLinePerEventWithRelativeTimes) {
  EXPECT_EQ(rec_.timeline(), "(no events)\n");
  clock_->advance(10s);  // times are relative to the first event, not to the clock's start
  rec_.record("web", web_, E::freeze, set_);
  clock_->advance(1500ms);
  rec_.record("database", db_, E::abort, set_);
  const auto text = rec_.timeline();
  const auto newline = text.find('\n');
  ASSERT_NE(newline, std::string::npos);
  const auto first = text.substr(0, newline);
  const auto second = text.substr(newline + 1, text.find('\n', newline + 1) - newline - 1);
  EXPECT_EQ(first, "#0    +0.000000s  T1  web       Freeze          set " + set_.to_string());
  EXPECT_EQ(second, "#1    +1.500000s  T1  database  Abort           set " + set_.to_string());
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
}

TEST_F(EventRecorderTest, TimelineNumbersThreadsInOrderOfAppearance) {
  rec_.record("a", web_, E::identify, {});
  std::thread([&] { rec_.record("b", db_, E::identify, {}); }).join();
  rec_.record("a", web_, E::prepare_backup, set_);
  const auto log = rec_.events();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_NE(log[1].thread, log[0].thread);
  EXPECT_EQ(log[2].thread, log[0].thread);
  const auto text = rec_.timeline();
  EXPECT_NE(text.find("T1  a  Identify"), std::string::npos) << text;
  EXPECT_NE(text.find("T2  b  Identify"), std::string::npos) << text;
  EXPECT_NE(text.find("T1  a  PrepareBackup"), std::string::npos) << text;
}

TEST_F(EventRecorderTest, ListenerSeesEachEventAfterItIsLoggedAndMayCallBack) {
  std::vector<std::uint64_t> seen;
  std::vector<std::size_t> sizes;
  rec_.set_listener([&](const recorded_event& e) {
    seen.push_back(e.sequence);
    sizes.push_back(rec_.events().size());  // no deadlock: called outside the lock
  });
  rec_.record("db", db_, E::identify, {});
  rec_.record("db", db_, E::prepare_backup, set_);
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{0, 1}));
  EXPECT_EQ(sizes, (std::vector<std::size_t>{1, 2}));
  rec_.set_listener({});
  rec_.record("db", db_, E::abort, set_);
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(rec_.events().size(), 3u);
}

TEST_F(EventRecorderTest, ListenerIsReplacedNotAdded) {
  int first = 0;
  int second = 0;
  rec_.set_listener([&](const recorded_event&) { ++first; });
  rec_.record("db", db_, E::identify, {});
  rec_.set_listener([&](const recorded_event&) { ++second; });
  rec_.record("db", db_, E::identify, {});
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 1);
}

TEST_F(EventRecorderTest, NullClockMeansTheSteadyClock) {
  event_recorder steady{nullptr};
  const auto before = std::chrono::steady_clock::now();
  steady.record("db", db_, E::identify, {});
  const auto after = std::chrono::steady_clock::now();
  const auto at = steady.events().at(0).at;
  EXPECT_GE(at, before);
  EXPECT_LE(at, after);
}

// Shared by fake writers in a real backup: one log in delivery order.
class EventRecorderBackupTest : public vss::test::engine_test {
 protected:
  std::shared_ptr<fake_writer> add_fake(const std::string& name, application_level level) {
    auto w = std::make_shared<fake_writer>(name, level, fake_writer_options{.recorder = rec_});
    regs_.push_back(engine_->register_writer(w));
    return w;
  }
  names receivers_of(E event) const {
    names out;
    for (const auto& e : rec_->events()) {
      if (e.event == event) out.push_back(e.writer);
    }
    return out;
  }

  std::shared_ptr<event_recorder> rec_ = std::make_shared<event_recorder>(clock_);
};

TEST_F(EventRecorderBackupTest, LogsFreezeByLevelAndThawInReverseAcrossWriters) {
  add_fake("sys", application_level::system);
  add_fake("db", application_level::back_end);
  add_fake("web", application_level::front_end);
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_EQ(receivers_of(E::freeze), (names{"web", "db", "sys"})) << rec_->timeline();
  EXPECT_EQ(receivers_of(E::thaw), (names{"sys", "db", "web"})) << rec_->timeline();
  const auto log = rec_->events();
  for (std::size_t i = 0; i < log.size(); ++i) EXPECT_EQ(log[i].sequence, i);
  // Every writer's own events are in VSS order within the shared log.
  for (const auto& name : {"sys", "db", "web"}) {
    EXPECT_EQ(rec_->events_of(name),
              (std::vector<E>{E::identify, E::prepare_backup, E::prepare_snapshot, E::freeze,
                              E::thaw, E::post_snapshot}))
        << name;
  }
  EXPECT_EQ(rec_->writers().size(), 3u);
}

}  // namespace
}  // namespace vss::mocks
