// The requester side of the openvssd protocol: every op of vss::daemon::requester_service run
// against an in-process engine (two io threads) with three fake writers and a memory provider.
// Waits are bounded (kBound); the outcomes do not depend on thread timing.

#include "daemon/requester_service.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "ipc/message.hpp"
#include "vss/engine_host.hpp"
#include "vss/memory_provider.hpp"
#include "vss/mocks/event_recorder.hpp"
#include "vss/mocks/fake_writer.hpp"
#include "vss/mocks/fault_plan.hpp"

namespace {

using json = nlohmann::json;
using vss::writer_event;
using namespace std::chrono_literals;

constexpr auto kBound = 10s;

// Collects what a requester_service sends, and checks each frame against the protocol's schema
// (the codec that the daemon and the CLI decode with).
class frame_log {
 public:
  vss::daemon::requester_service::sink sink() {
    return [this](json body) {
      vss::ipc::message decoded;
      std::string detail;
      const auto ec = vss::ipc::decode_message(vss::ipc::encode_message(body), decoded, detail);
      {
        std::lock_guard lock(mutex_);
        if (ec) invalid_.push_back(detail + " in " + body.dump());
        frames_.push_back(std::move(body));
      }
      changed_.notify_all();
    };
  }

  // Frames the codec rejected, with its reason.
  std::vector<std::string> invalid() const {
    std::lock_guard lock(mutex_);
    return invalid_;
  }

  // The reply or error that ends request `id`; a null json if none came within kBound.
  json final_for(std::int64_t id) {
    json out;
    wait([&](const json& f) {
      const bool reply = f["type"] == "reply" && f.value("id", std::int64_t{-1}) == id;
      const bool error = f["type"] == "error" && f.value("ref", std::int64_t{-1}) == id;
      if (reply || error) out = f;
      return reply || error;
    });
    return out;
  }

  // Waits until a frame matches `pred`; false after kBound.
  bool wait(const std::function<bool(const json&)>& pred) {
    std::unique_lock lock(mutex_);
    std::size_t seen = 0;
    return changed_.wait_for(lock, kBound, [&] {
      for (; seen < frames_.size(); ++seen) {
        if (pred(frames_[seen])) return true;
      }
      return false;
    });
  }

  std::vector<json> frames() const {
    std::lock_guard lock(mutex_);
    return frames_;
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return frames_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<json> frames_;
  std::vector<std::string> invalid_;
};

json request(std::int64_t id, const std::string& op, json args = json::object()) {
  return {{"type", "request"}, {"id", id}, {"op", op}, {"args", std::move(args)}};
}

bool is_phase(const json& f, const std::string& phase, const std::string& step) {
  return f["type"] == "progress" && f.value("phase", "") == phase && f.value("step", "") == step;
}

class RequesterServiceTest : public ::testing::Test {
 protected:
  RequesterServiceTest() {
    host_ = std::make_unique<vss::engine_host>(vss::host_options{.io_threads = 2});
    memory_ = std::make_shared<vss::memory_provider>();
    EXPECT_FALSE(engine().register_provider(memory_));
    recorder_ = std::make_shared<vss::mocks::event_recorder>();
    const vss::application_level levels[] = {vss::application_level::front_end,
                                             vss::application_level::back_end,
                                             vss::application_level::system};
    for (int i = 0; i < 3; ++i) {
      auto w = std::make_shared<vss::mocks::fake_writer>(
          "writer-" + std::to_string(i), levels[i],
          vss::mocks::fake_writer_options{.recorder = recorder_});
      registrations_.push_back(engine().register_writer(w));
      writers_.push_back(std::move(w));
    }
    context_ = std::make_unique<vss::daemon::service_context>(engine());
    recorder_->set_listener(
        [notify = context_->writer_event_sink()](const vss::mocks::recorded_event& e) {
          notify(e.set, e.instance, e.event);
        });
  }

  ~RequesterServiceTest() override {
    EXPECT_TRUE(log_.invalid().empty()) << log_.invalid().front();
    EXPECT_TRUE(second_log_.invalid().empty()) << second_log_.invalid().front();
    second_.reset();
    service_.reset();
    context_.reset();
    registrations_.clear();
    host_.reset();
  }

  vss::engine& engine() { return host_->engine(); }

  vss::daemon::requester_service& service() {
    if (!service_) {
      service_ = std::make_unique<vss::daemon::requester_service>(*context_, log_.sink());
    }
    return *service_;
  }

  // Scripts the fake writers from a plan's writer rules, as a writer host would do with
  // service_context::plan_for().
  void apply(const std::string& plan_text) {
    const auto plan = vss::mocks::fault_plan::from_text(plan_text);
    for (std::size_t i = 0; i < writers_.size(); ++i) {
      for (std::size_t e = 0; e < vss::writer_event_count; ++e) {
        const auto event = static_cast<writer_event>(e);
        if (auto f = plan.writer_fault(i, writers_.size(), writers_[i]->identity().name, event)) {
          writers_[i]->on(event, *f);
        }
      }
    }
  }

  // Waits until writer `i` has received `e`.
  bool wait_event(std::size_t i, writer_event e) {
    const auto until = std::chrono::steady_clock::now() + kBound;
    while (writers_[i]->count(e) == 0) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(1ms);
    }
    return true;
  }

  bool wait_until(const std::function<bool()>& pred) {
    const auto until = std::chrono::steady_clock::now() + kBound;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(1ms);
    }
    return true;
  }

  // The set id announced by a backup's StartSnapshotSet frame.
  std::string wait_set(frame_log& log) {
    std::string set;
    log.wait([&](const json& f) {
      if (!is_phase(f, "StartSnapshotSet", "finished")) return false;
      set = f.value("set", "");
      return true;
    });
    return set;
  }

  std::unique_ptr<vss::engine_host> host_;
  std::shared_ptr<vss::memory_provider> memory_;
  std::shared_ptr<vss::mocks::event_recorder> recorder_;
  std::vector<std::shared_ptr<vss::mocks::fake_writer>> writers_;
  std::vector<vss::writer_registration> registrations_;
  std::unique_ptr<vss::daemon::service_context> context_;
  frame_log log_;
  std::unique_ptr<vss::daemon::requester_service> service_;
  frame_log second_log_;
  std::unique_ptr<vss::daemon::requester_service> second_;
};

TEST_F(RequesterServiceTest, WritersListsEveryRegisteredWriterAsStable) {
  service().handle(request(1, "writers"));
  const auto reply = log_.final_for(1);
  ASSERT_EQ(reply["type"], "reply") << reply.dump();
  const auto& list = reply["result"]["writers"];
  ASSERT_EQ(list.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& id = writers_[i]->identity();
    const auto it =
        std::find_if(list.begin(), list.end(), [&](const json& w) { return w["name"] == id.name; });
    ASSERT_NE(it, list.end()) << id.name;
    EXPECT_EQ((*it)["instance_id"], id.instance_id.to_string());
    EXPECT_EQ((*it)["class_id"], id.class_id.to_string());
    EXPECT_EQ((*it)["state"], 1);
    EXPECT_EQ((*it)["state_name"], "VSS_WS_STABLE");
    EXPECT_EQ((*it)["state_text"], "Stable");
    EXPECT_EQ((*it)["last_error"], "S_OK");
  }
}

TEST_F(RequesterServiceTest, WritersShowsAWriterThatVetoedIdentifyAsFailedWithItsCode) {
  writers_[1]->on(writer_event::identify,
                  vss::mocks::fault::veto(vss::errc::writer_error_retryable));
  service().handle(request(1, "writers"));
  const auto reply = log_.final_for(1);
  ASSERT_EQ(reply["type"], "reply") << reply.dump();
  const auto& list = reply["result"]["writers"];
  ASSERT_EQ(list.size(), 3u);
  const auto it =
      std::find_if(list.begin(), list.end(), [](const json& w) { return w["name"] == "writer-1"; });
  ASSERT_NE(it, list.end());
  EXPECT_EQ((*it)["state"], 6);
  EXPECT_EQ((*it)["state_name"], "VSS_WS_FAILED_AT_IDENTIFY");
  EXPECT_EQ((*it)["state_text"], "Failed");
  EXPECT_EQ((*it)["last_error"], "VSS_E_WRITERERROR_RETRYABLE");
  EXPECT_EQ((*it)["last_error_text"], "Retryable error");
}

TEST_F(RequesterServiceTest, StatusReportsWritersProvidersAndTheDaemonsHook) {
  context_->status = [] { return json{{"uptime_s", 42}}; };
  service().handle(request(1, "status"));
  const auto reply = log_.final_for(1);
  ASSERT_EQ(reply["type"], "reply") << reply.dump();
  EXPECT_EQ(reply["result"]["uptime_s"], 42);
  EXPECT_EQ(reply["result"]["writers"], 3);
  ASSERT_EQ(reply["result"]["providers"].size(), 1u);
  EXPECT_EQ(reply["result"]["providers"][0]["name"], memory_->properties().name);
  EXPECT_TRUE(reply["result"]["running"].empty());
}

TEST_F(RequesterServiceTest, BackupRepliesWithTheSetSnapshotsGradeAndWriterStates) {
  service().handle(request(7, "backup", {{"volumes", {"/data"}}}));
  const auto reply = log_.final_for(7);
  ASSERT_EQ(reply["type"], "reply") << reply.dump();
  const auto& r = reply["result"];
  ASSERT_TRUE(vss::snapshot_set_id::parse(r["set"].get<std::string>()).has_value());
  ASSERT_EQ(r["snapshots"].size(), 1u);
  EXPECT_EQ(r["snapshots"][0]["volume"], "/data");
  EXPECT_EQ(r["snapshots"][0]["set"], r["set"]);
  EXPECT_FALSE(r["snapshots"][0]["device"].get<std::string>().empty());
  EXPECT_EQ(r["snapshots"][0]["persistent"], false);
  EXPECT_EQ(r["consistency"], "application");
  EXPECT_EQ(r["hresult"], "S_OK");
  ASSERT_EQ(r["writers"].size(), 3u);
  for (const auto& w : r["writers"]) {
    EXPECT_EQ(w["state_name"], "VSS_WS_STABLE") << w.dump();
    EXPECT_EQ(w["last_error"], "S_OK");
  }
  EXPECT_GT(r["durations_us"]["total"].get<std::int64_t>(), 0);
  EXPECT_TRUE(r["durations_us"].contains("DoSnapshotSet"));
  EXPECT_FALSE(r.contains("abort"));

  // Progress: every phase started and finished, with per-writer results, and live events.
  const auto frames = log_.frames();
  for (const std::string phase :
       {"GatherWriterMetadata", "PrepareForBackup", "DoSnapshotSet", "BackupComplete"}) {
    EXPECT_TRUE(std::any_of(frames.begin(), frames.end(), [&](const json& f) {
      return is_phase(f, phase, "started");
    })) << phase;
    const auto end = std::find_if(frames.begin(), frames.end(),
                                  [&](const json& f) { return is_phase(f, phase, "finished"); });
    ASSERT_NE(end, frames.end()) << phase;
    EXPECT_EQ((*end)["id"], 7);
    ASSERT_FALSE((*end)["reports"].empty()) << phase;
    EXPECT_EQ((*end)["reports"][0]["results"].size(), 3u) << phase;
  }
  const auto freezes = std::count_if(frames.begin(), frames.end(), [](const json& f) {
    return f["type"] == "progress" && f.value("step", "") == "event" &&
           f.value("event", "") == "Freeze";
  });
  EXPECT_EQ(freezes, 3);
  EXPECT_EQ(frames.back(), reply);  // nothing after the reply

  // Auto-release: the snapshot lives until the requester disconnects.
  EXPECT_EQ(memory_->query().size(), 1u);
  service().disconnect();
  EXPECT_TRUE(wait_until([&] { return memory_->query().empty(); }));
  EXPECT_TRUE(wait_until([&] { return writers_[0]->count(writer_event::backup_shutdown) == 1; }));
}

TEST_F(RequesterServiceTest, PersistentSnapshotsAreListedByAnotherRequesterAndDeletedByIt) {
  service().handle(request(1, "backup", {{"volumes", {"/a", "/b"}}, {"persistent", true}}));
  const auto reply = log_.final_for(1);
  ASSERT_EQ(reply["type"], "reply") << reply.dump();
  const auto set = reply["result"]["set"].get<std::string>();
  EXPECT_EQ(reply["result"]["snapshots"][0]["persistent"], true);
  service().disconnect();

  second_ = std::make_unique<vss::daemon::requester_service>(*context_, second_log_.sink());
  second_->handle(request(2, "snapshots"));
  auto listed = second_log_.final_for(2);
  ASSERT_EQ(listed["type"], "reply") << listed.dump();
  ASSERT_EQ(listed["result"]["snapshots"].size(), 2u);
  EXPECT_EQ(listed["result"]["snapshots"][0]["set"], set);

  second_->handle(request(3, "delete", {{"set", set}}));
  const auto deleted = second_log_.final_for(3);
  ASSERT_EQ(deleted["type"], "reply") << deleted.dump();
  EXPECT_EQ(deleted["result"]["deleted"], 2);
  EXPECT_TRUE(memory_->query().empty());

  second_->handle(request(4, "delete", {{"set", set}}));
  const auto again = second_log_.final_for(4);
  EXPECT_EQ(again["type"], "error");
  EXPECT_EQ(again["hresult"], "VSS_E_OBJECT_NOT_FOUND");
}

TEST_F(RequesterServiceTest, AnInjectedVetoFailsTheBackupWithTheWritersCode) {
  const std::string plan = "writer[1].freeze=veto(retryable)";
  apply(plan);
  std::shared_ptr<const vss::mocks::fault_plan> seen;
  recorder_->set_listener(
      [&, notify = context_->writer_event_sink()](const vss::mocks::recorded_event& e) {
        if (e.event == writer_event::freeze && e.writer == "writer-1") {
          seen = context_->plan_for(e.set);
        }
        notify(e.set, e.instance, e.event);
      });
  service().handle(request(1, "backup", {{"volumes", {"/data"}}, {"inject", plan}}));
  const auto error = log_.final_for(1);
  ASSERT_EQ(error["type"], "error") << error.dump();
  EXPECT_EQ(error["code"], "vss_error");
  EXPECT_EQ(error["hresult"], "VSS_E_WRITERERROR_RETRYABLE");
  EXPECT_NE(error["message"].get<std::string>().find("writer-1"), std::string::npos);
  const auto& writers = error["result"]["writers"];
  const auto it = std::find_if(writers.begin(), writers.end(),
                               [](const json& w) { return w["name"] == "writer-1"; });
  ASSERT_NE(it, writers.end());
  EXPECT_EQ((*it)["state_name"], "VSS_WS_FAILED_AT_FREEZE");
  EXPECT_TRUE(error["result"]["snapshots"].empty());
  EXPECT_TRUE(memory_->query().empty());
  ASSERT_NE(seen, nullptr);
  EXPECT_EQ(*seen, vss::mocks::fault_plan::from_text(plan));
}

TEST_F(RequesterServiceTest, AbortAfterFreezeCancelsAndEveryFrozenWriterIsThawedOrAborted) {
  service().handle(request(1, "backup", {{"volumes", {"/data"}}, {"abort_after", "freeze"}}));
  const auto error = log_.final_for(1);
  ASSERT_EQ(error["type"], "error") << error.dump();
  EXPECT_EQ(error["hresult"], "VSS_S_ASYNC_CANCELLED");
  const auto& abort = error["result"]["abort"];
  EXPECT_EQ(abort["fired"], true);
  EXPECT_EQ(abort["reason"], "abort_after freeze");
  EXPECT_EQ(abort["hresult"], "S_OK");
  EXPECT_GE(abort["duration_us"].get<std::int64_t>(), 0);
  EXPECT_TRUE(error["result"]["snapshots"].empty());
  EXPECT_EQ(error["result"]["consistency"], "none");
  EXPECT_TRUE(memory_->query().empty());
  std::size_t frozen = 0;
  for (const auto& w : writers_) {
    const auto events = w->events();
    const auto freeze = std::find(events.begin(), events.end(), writer_event::freeze);
    if (freeze == events.end()) continue;
    ++frozen;
    EXPECT_NE(std::find_if(freeze, events.end(),
                           [](writer_event e) {
                             return e == writer_event::thaw || e == writer_event::abort;
                           }),
              events.end())
        << w->identity().name;
  }
  EXPECT_GE(frozen, 1u);
  EXPECT_TRUE(context_->running_backups().empty());
}

TEST_F(RequesterServiceTest, AnInjectedAbortTriggerFiresLikeAbortAfter) {
  service().handle(request(1, "backup", {{"volumes", {"/data"}}, {"inject", "abort@thaw"}}));
  const auto error = log_.final_for(1);
  ASSERT_EQ(error["type"], "error") << error.dump();
  EXPECT_EQ(error["hresult"], "VSS_S_ASYNC_CANCELLED");
  EXPECT_EQ(error["result"]["abort"]["reason"], "inject abort@thaw");
  EXPECT_GE(writers_[0]->count(writer_event::thaw) + writers_[1]->count(writer_event::thaw) +
                writers_[2]->count(writer_event::thaw),
            1u);
}

TEST_F(RequesterServiceTest, AbortAfterADurationAbortsABackupHeldByAHungWriter) {
  writers_[2]->on(writer_event::freeze, vss::mocks::fault::hang());
  service().handle(request(1, "backup", {{"volumes", {"/data"}}, {"abort_after", "50ms"}}));
  const auto error = log_.final_for(1);
  ASSERT_EQ(error["type"], "error") << error.dump();
  EXPECT_EQ(error["hresult"], "VSS_S_ASYNC_CANCELLED");
  EXPECT_EQ(error["result"]["abort"]["reason"], "abort_after 50ms");
  EXPECT_EQ(writers_[2]->count(writer_event::abort), 1u);
}

TEST_F(RequesterServiceTest, DisconnectMidBackupAbortsItAndSilencesTheSink) {
  writers_[2]->on(writer_event::freeze, vss::mocks::fault::hang());
  service().handle(request(1, "backup", {{"volumes", {"/data"}}}));
  ASSERT_TRUE(wait_event(2, writer_event::freeze));
  ASSERT_EQ(context_->running_backups().size(), 1u);
  service().disconnect();
  const auto sent = log_.size();
  ASSERT_TRUE(wait_event(2, writer_event::abort));
  EXPECT_TRUE(wait_until([&] { return context_->running_backups().empty(); }));
  EXPECT_TRUE(wait_until([&] { return writers_[2]->count(writer_event::backup_shutdown) == 1; }));
  EXPECT_TRUE(memory_->query().empty());
  EXPECT_EQ(log_.size(), sent);
  service().handle(request(2, "status"));
  EXPECT_EQ(log_.size(), sent);
}

TEST_F(RequesterServiceTest, ASecondRequesterAbortsABackupBySetId) {
  writers_[1]->on(writer_event::freeze, vss::mocks::fault::hang());
  service().handle(request(1, "backup", {{"volumes", {"/data"}}}));
  const auto set = wait_set(log_);
  ASSERT_FALSE(set.empty());
  ASSERT_TRUE(wait_event(1, writer_event::freeze));

  second_ = std::make_unique<vss::daemon::requester_service>(*context_, second_log_.sink());
  second_->handle(request(9, "status"));
  const auto status = second_log_.final_for(9);
  ASSERT_EQ(status["result"]["running"].size(), 1u) << status.dump();
  EXPECT_EQ(status["result"]["running"][0]["set"], set);

  second_->handle(request(10, "abort", {{"set", set}}));
  const auto aborted = second_log_.final_for(10);
  ASSERT_EQ(aborted["type"], "reply") << aborted.dump();
  EXPECT_EQ(aborted["result"]["set"], set);
  EXPECT_EQ(aborted["result"]["hresult"], "S_OK");

  const auto error = log_.final_for(1);
  ASSERT_EQ(error["type"], "error") << error.dump();
  EXPECT_EQ(error["hresult"], "VSS_S_ASYNC_CANCELLED");
  EXPECT_EQ(error["result"]["set"], set);
  EXPECT_EQ(writers_[1]->count(writer_event::abort), 1u);
}

TEST_F(RequesterServiceTest, AbortOfASetThatIsNotRunningIsObjectNotFound) {
  service().handle(request(1, "abort", {{"set", vss::snapshot_set_id::generate().to_string()}}));
  const auto error = log_.final_for(1);
  EXPECT_EQ(error["type"], "error");
  EXPECT_EQ(error["code"], "vss_error");
  EXPECT_EQ(error["hresult"], "VSS_E_OBJECT_NOT_FOUND");
}

TEST_F(RequesterServiceTest, NamedWritersRunInComponentModeAndOnlyTheyTakePart) {
  service().handle(request(1, "backup", {{"volumes", {"/data"}}, {"writers", {"writer-1"}}}));
  const auto reply = log_.final_for(1);
  ASSERT_EQ(reply["type"], "reply") << reply.dump();
  EXPECT_EQ(writers_[1]->count(writer_event::freeze), 1u);
  EXPECT_EQ(writers_[0]->count(writer_event::prepare_backup), 0u);
  EXPECT_EQ(writers_[2]->count(writer_event::freeze), 0u);

  service().handle(request(2, "backup", {{"volumes", {"/x"}}, {"writers", {"no-such-writer"}}}));
  const auto error = log_.final_for(2);
  ASSERT_EQ(error["type"], "error") << error.dump();
  EXPECT_EQ(error["hresult"], "VSS_E_OBJECT_NOT_FOUND");
  EXPECT_NE(error["message"].get<std::string>().find("no-such-writer"), std::string::npos);
}

TEST_F(RequesterServiceTest, BadArgsAreRejectedNamingTheFieldAndNothingStarts) {
  struct bad_case {
    std::string op;
    json args;
    std::string names;
  };
  const std::vector<bad_case> cases = {
      {"backup", json::object(), "args.volumes"},
      {"backup", {{"volumes", "/data"}}, "args.volumes"},
      {"backup", {{"volumes", json::array()}}, "args.volumes"},
      {"backup", {{"volumes", {"/data"}}, {"persistent", "yes"}}, "args.persistent"},
      {"backup", {{"volumes", {"/data"}}, {"writers", {1}}}, "args.writers"},
      {"backup", {{"volumes", {"/data"}}, {"inject", "writer[3].freeze=hangg"}}, "column 17"},
      {"backup", {{"volumes", {"/data"}}, {"abort_after", "soon"}}, "args.abort_after"},
      {"backup", {{"volumes", {"/data"}}, {"abort_after", "abort"}}, "args.abort_after"},
      {"delete", json::object(), "snapshot"},
      {"delete", {{"snapshot", "nope"}}, "args.snapshot"},
      {"abort", json::object(), "args.set"},
  };
  std::int64_t id = 100;
  for (const auto& c : cases) {
    service().handle(request(++id, c.op, c.args));
    const auto error = log_.final_for(id);
    EXPECT_EQ(error["type"], "error") << c.args.dump();
    EXPECT_EQ(error["code"], "bad_message") << c.args.dump();
    EXPECT_NE(error.value("message", "").find(c.names), std::string::npos)
        << error.dump() << " should name " << c.names;
  }
  service().handle(request(200, "frobnicate"));
  EXPECT_EQ(log_.final_for(200)["code"], "unknown_op");
  service().handle({{"type", "request"}, {"op", "status"}});
  ASSERT_TRUE(log_.wait([](const json& f) {
    return f["type"] == "error" && !f.contains("ref") && f["message"] == "id: expected an integer";
  }));
  EXPECT_TRUE(recorder_->events().empty());
  EXPECT_TRUE(context_->running_backups().empty());
}

}  // namespace

// ---- the journal (the daemon's catalog) ---------------------------------------------------

namespace {

// Records what the service tells the journal, with what the writers had seen by then.
class recording_journal : public vss::daemon::snapshot_journal {
 public:
  explicit recording_journal(std::vector<std::shared_ptr<vss::mocks::fake_writer>> writers)
      : writers_(std::move(writers)) {}

  std::error_code set_starting(const vss::daemon::journal_set& set) override {
    std::lock_guard lock(mutex_);
    started_.push_back(set);
    freezes_at_start_ = 0;
    for (const auto& w : writers_) freezes_at_start_ += w->count(writer_event::prepare_snapshot);
    return refuse_;
  }
  void set_finished(const vss::snapshot_set_id& set,
                    const vss::daemon::journal_outcome& outcome) override {
    std::lock_guard lock(mutex_);
    finished_.emplace_back(set, outcome);
  }
  void snapshot_deleted(const vss::snapshot_id& snapshot) override {
    std::lock_guard lock(mutex_);
    deleted_.push_back(snapshot);
  }

  std::error_code refuse_;
  std::mutex mutex_;
  std::vector<vss::daemon::journal_set> started_;
  std::vector<std::pair<vss::snapshot_set_id, vss::daemon::journal_outcome>> finished_;
  std::vector<vss::snapshot_id> deleted_;
  std::size_t freezes_at_start_ = 0;

 private:
  std::vector<std::shared_ptr<vss::mocks::fake_writer>> writers_;
};

}  // namespace

class RequesterServiceJournalTest : public RequesterServiceTest {
 protected:
  RequesterServiceJournalTest() : journal_(std::make_shared<recording_journal>(writers_)) {
    context_->set_journal(journal_);
  }
  std::shared_ptr<recording_journal> journal_;
};

TEST_F(RequesterServiceJournalTest, TheSetIsJournaledBeforeDoSnapshotSetAndItsOutcomeAfter) {
  service().handle(request(1, "backup", {{"volumes", {"/a", "/b"}}, {"persistent", true}}));
  const auto reply = log_.final_for(1);
  ASSERT_EQ(reply["type"], "reply") << reply.dump();
  std::lock_guard lock(journal_->mutex_);
  ASSERT_EQ(journal_->started_.size(), 1u);
  const auto& started = journal_->started_[0];
  EXPECT_EQ(started.set.to_string(), reply["result"]["set"]);
  ASSERT_EQ(started.volumes.size(), 2u);
  EXPECT_EQ(started.volumes[0].second, "/a");
  EXPECT_TRUE(vss::context_is_persistent(started.context));
  EXPECT_EQ(journal_->freezes_at_start_, 0u) << "journaled after DoSnapshotSet had begun";
  ASSERT_EQ(journal_->finished_.size(), 1u);
  const auto& [set, outcome] = journal_->finished_[0];
  EXPECT_EQ(set, started.set);
  EXPECT_FALSE(outcome.result);
  EXPECT_EQ(outcome.grade, vss::consistency_grade::application);
  EXPECT_EQ(outcome.snapshots.size(), 2u);
  EXPECT_EQ(outcome.writers.size(), 3u);
  EXPECT_TRUE(journal_->deleted_.empty());  // persistent: nothing goes at release
}

TEST_F(RequesterServiceJournalTest, AutoReleaseSnapshotsAreJournaledDeletedWhenTheRequesterGoes) {
  service().handle(request(1, "backup", {{"volumes", {"/a"}}}));
  ASSERT_EQ(log_.final_for(1)["type"], "reply");
  {
    std::lock_guard lock(journal_->mutex_);
    EXPECT_TRUE(journal_->deleted_.empty());
  }
  service().disconnect();
  EXPECT_TRUE(wait_until([&] {
    std::lock_guard lock(journal_->mutex_);
    return journal_->deleted_.size() == 1;
  }));
  std::lock_guard lock(journal_->mutex_);
  EXPECT_EQ(journal_->deleted_[0], journal_->finished_.at(0).second.snapshots.at(0).id);
}

TEST_F(RequesterServiceJournalTest, AnAbortedBackupIsJournaledAbortedWithoutSnapshots) {
  service().handle(request(1, "backup", {{"volumes", {"/a"}}, {"abort_after", "freeze"}}));
  const auto end = log_.final_for(1);
  ASSERT_EQ(end["hresult"], "VSS_S_ASYNC_CANCELLED") << end.dump();
  std::lock_guard lock(journal_->mutex_);
  ASSERT_EQ(journal_->finished_.size(), 1u);
  const auto& outcome = journal_->finished_[0].second;
  EXPECT_TRUE(outcome.aborted);
  EXPECT_EQ(outcome.result, vss::errc::async_cancelled);
  EXPECT_TRUE(outcome.snapshots.empty());
  EXPECT_EQ(outcome.grade, vss::consistency_grade::none);
}

TEST_F(RequesterServiceJournalTest, AJournalThatCannotRecordTheSetStopsTheBackupBeforeCreation) {
  journal_->refuse_ = vss::errc::unexpected;
  service().handle(request(1, "backup", {{"volumes", {"/a"}}}));
  const auto end = log_.final_for(1);
  ASSERT_EQ(end["type"], "error") << end.dump();
  EXPECT_EQ(end["hresult"], "VSS_E_UNEXPECTED");
  EXPECT_NE(end["message"].get<std::string>().find("catalog"), std::string::npos) << end.dump();
  for (const auto& w : writers_) EXPECT_EQ(w->count(writer_event::prepare_snapshot), 0u);
  EXPECT_TRUE(memory_->all_records().empty());
  std::lock_guard lock(journal_->mutex_);
  EXPECT_TRUE(journal_->finished_.empty());
}

TEST_F(RequesterServiceJournalTest, DeletedSnapshotsAreJournaled) {
  service().handle(request(1, "backup", {{"volumes", {"/a", "/b"}}, {"persistent", true}}));
  const auto reply = log_.final_for(1);
  ASSERT_EQ(reply["type"], "reply") << reply.dump();
  service().handle(request(2, "delete", {{"set", reply["result"]["set"]}}));
  ASSERT_EQ(log_.final_for(2)["type"], "reply");
  std::lock_guard lock(journal_->mutex_);
  EXPECT_EQ(journal_->deleted_.size(), 2u);
}
