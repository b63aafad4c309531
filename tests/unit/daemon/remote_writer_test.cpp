// vss::daemon::remote_writer inside a real in-process engine (vss::engine_host, two io threads,
// a memory provider that can hold its commit): the proxy's frames go to a queue the test reads,
// and the test plays the writer process by answering each `event` with a `result` through
// deliver_result, decoded by the protocol's codec. Every frame the proxy sends is checked
// against the protocol's schema. Waits are bounded (kBound); timing assertions only use lower
// bounds, which a timer cannot undercut.

#include "daemon/remote_writer.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "ipc/message.hpp"
#include "support/holding_provider.hpp"
#include "vss/engine_host.hpp"
#include "vss/mocks/fault.hpp"

namespace {

using json = nlohmann::json;
using vss::writer_event;
using vss::writer_outcome;
using vss::daemon::remote_writer;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// The longest any one step may take (generous: TSan and a shared machine).
constexpr auto kBound = 3s;

// What the proxy sent, in order, validated against the protocol's schema.
class frame_queue {
 public:
  bool push(const json& frame) {
    vss::ipc::message decoded;
    std::string detail;
    const auto bad = vss::ipc::decode_message(vss::ipc::encode_message(frame), decoded, detail);
    {
      std::lock_guard lock(mutex_);
      if (bad) invalid_.push_back(detail + " in " + frame.dump());
      pending_.push_back(frame);
      all_.push_back(frame);
    }
    changed_.notify_all();
    return true;
  }

  std::optional<json> pop(steady::duration bound) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, bound, [&] { return !pending_.empty(); })) return std::nullopt;
    auto f = std::move(pending_.front());
    pending_.pop_front();
    return f;
  }

  std::vector<json> all() const {
    std::lock_guard lock(mutex_);
    return all_;
  }

  std::size_t total() const {
    std::lock_guard lock(mutex_);
    return all_.size();
  }

  std::vector<std::string> invalid() const {
    std::lock_guard lock(mutex_);
    return invalid_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<json> pending_;
  std::vector<json> all_;
  std::vector<std::string> invalid_;
};

// A `result` body, decoded by the codec as the daemon's connection would hand it over.
vss::ipc::message decoded(const json& body) {
  vss::ipc::message m;
  std::string detail;
  const auto ec = vss::ipc::decode_message(vss::ipc::encode_message(body), m, detail);
  EXPECT_FALSE(ec) << detail << " in " << body.dump();
  return m;
}

json complete_for(const json& event) {
  json r{{"type", "result"}, {"seq", event.at("seq")}, {"outcome", "complete"}};
  if (event.at("event") == "identify") {
    r["metadata"] = {{"components", json::array({{{"type", 1},
                                                  {"logical_path", "sql"},
                                                  {"name", "orders"},
                                                  {"caption", "Orders database"},
                                                  {"selectable", true},
                                                  {"files", json::array({"/data/orders/*.db"})},
                                                  {"volumes", json::array({"/data"})}}})},
                     {"excludes", json::array({"/data/orders/*.tmp"})}};
  }
  return r;
}

json fail_for(const json& event, const std::string& hresult, const std::string& message) {
  return {{"type", "result"},
          {"seq", event.at("seq")},
          {"outcome", "fail"},
          {"hresult", hresult},
          {"message", message}};
}

// Answers an event frame: a result body, or nullopt to leave the event unanswered.
using responder = std::function<std::optional<json>(const json& event)>;

std::optional<json> answer_all(const json& event) { return complete_for(event); }

// The report of the `n`-th delivery of `e` (0 = first); nullopt if there is none.
std::optional<vss::phase_report> report_of(const vss::backup_session& s, writer_event e,
                                           std::size_t n = 0) {
  for (const auto& r : s.phase_reports()) {
    if (r.event != e) continue;
    if (n-- == 0) return r;
  }
  return std::nullopt;
}

std::vector<std::string> event_names(const std::vector<json>& frames) {
  std::vector<std::string> out;
  for (const auto& f : frames) out.push_back(f.value("event", "?"));
  return out;
}

class RemoteWriter : public ::testing::Test {
 protected:
  ~RemoteWriter() override {
    registration_.disconnect();
    host_.reset();  // shuts the engine down and joins its threads before the queue goes
  }

  void TearDown() override {
    EXPECT_THAT(queue_.invalid(), ::testing::IsEmpty())
        << "every frame the proxy sends must follow the protocol's schema";
  }

  // An engine with the holding memory provider and one registered proxy (with `fault` injected
  // at `at`, if given).
  void start(vss::phase_deadlines deadlines = {},
             std::optional<std::pair<writer_event, vss::mocks::fault>> fault = std::nullopt) {
    // A test that stops early leaves its session to be released unanswered: keep the Abort and
    // BackupShutdown that release sends from holding the teardown for a minute.
    deadlines.abort = std::min(deadlines.abort, std::chrono::milliseconds(1000));
    deadlines.backup_shutdown =
        std::min(deadlines.backup_shutdown, std::chrono::milliseconds(1000));
    vss::host_options o;
    o.io_threads = 2;
    o.engine.deadlines = deadlines;
    host_ = std::make_unique<vss::engine_host>(o);
    provider_ = std::make_shared<vss::test::holding_provider>();
    ASSERT_FALSE(host_->engine().register_provider(provider_));

    vss::writer_identity id;
    id.name = "remote-db";
    id.level = vss::application_level::back_end;
    id.freeze_timeout = 10s;
    proxy_ = std::make_shared<remote_writer>(
        id, [this](const json& frame) { return queue_.push(frame); },
        [this] { return next_seq_.fetch_add(1); });
    if (fault) {
      proxy_->inject_faults(
          [at = fault->first, f = fault->second](
              const remote_writer&,
              const vss::writer_context& ctx) -> std::optional<vss::mocks::fault> {
            if (ctx.event() == at) return f;
            return std::nullopt;
          },
          host_->io_context().get_executor());
    }
    std::error_code ec;
    registration_ = host_->engine().register_writer(proxy_, ec);
    ASSERT_FALSE(ec) << ec.message();
  }

  // Reads the proxy's frames until `done()` holds, answering each with `r`; false after kBound.
  template <class Pred>
  bool drive_until(Pred done, const responder& r = answer_all) {
    const auto until = steady::now() + kBound;
    while (!done()) {
      if (steady::now() >= until) return done();
      auto frame = queue_.pop(2ms);
      if (!frame) continue;
      if (auto answer = r(*frame)) {
        EXPECT_TRUE(proxy_->deliver_result(decoded(*answer))) << "answer to " << frame->dump();
      }
    }
    return true;
  }

  // Runs `op` to its end while answering with `r`; returns its status.
  std::error_code drive(const vss::async_op& op, const responder& r = answer_all) {
    EXPECT_TRUE(drive_until([&] { return op.done(); }, r)) << "the operation did not finish";
    return op.query_status();
  }

  // Initialize, SetBackupState(full), GatherWriterMetadata, StartSnapshotSet, AddToSnapshotSet
  // ("/data"), and PrepareForBackup answered by `r`; returns the prepare's status.
  std::error_code prepare(vss::backup_session& s, const responder& r = answer_all) {
    EXPECT_FALSE(s.initialize_for_backup());
    EXPECT_FALSE(s.set_backup_state(false, false, vss::backup_type::full));
    EXPECT_EQ(drive(s.async_gather_writer_metadata(vss::use_async_op)), vss::errc::async_finished);
    EXPECT_FALSE(s.start_snapshot_set(set_));
    EXPECT_FALSE(s.add_to_snapshot_set("/data", {}, snapshot_));
    return drive(s.async_prepare_for_backup(vss::use_async_op), r);
  }

  // Releases the session, answering what it sends (Abort, BackupShutdown).
  void release(vss::backup_session& s) {
    EXPECT_TRUE(vss::succeeded(drive(s.async_release(vss::use_async_op))));
  }

  std::vector<vss::writer_status> gather_status(vss::backup_session& s) {
    EXPECT_EQ(drive(s.async_gather_writer_status(vss::use_async_op)), vss::errc::async_finished);
    return s.get_writer_status();
  }

  frame_queue queue_;  // first: the engine's threads send into it until host_ is gone
  std::atomic<std::uint64_t> next_seq_{1};
  std::unique_ptr<vss::engine_host> host_;
  std::shared_ptr<vss::test::holding_provider> provider_;
  std::shared_ptr<remote_writer> proxy_;
  vss::writer_registration registration_;
  vss::snapshot_set_id set_;
  vss::snapshot_id snapshot_;
};

TEST_F(RemoteWriter, AFullBackupForwardsEveryEventAndCompletesItWithTheWritersAnswers) {
  start();
  auto s = host_->engine().create_backup_session();
  ASSERT_EQ(prepare(s), vss::errc::async_finished);

  const auto metadata = s.get_writer_metadata();
  ASSERT_EQ(metadata.size(), 1u);
  EXPECT_EQ(metadata[0].identity.name, "remote-db");
  ASSERT_EQ(metadata[0].components.size(), 1u) << "the identify result's metadata is the WMD";
  EXPECT_EQ(metadata[0].components[0].name, "orders");
  EXPECT_EQ(metadata[0].components[0].logical_path, "sql");
  EXPECT_THAT(metadata[0].components[0].files, ::testing::ElementsAre("/data/orders/*.db"));
  EXPECT_THAT(metadata[0].excludes, ::testing::ElementsAre("/data/orders/*.tmp"));

  EXPECT_EQ(drive(s.async_do_snapshot_set(vss::use_async_op)), vss::errc::async_finished);
  EXPECT_EQ(s.consistency(), vss::consistency_grade::application);
  EXPECT_EQ(drive(s.async_backup_complete(vss::use_async_op)), vss::errc::async_finished);
  const auto status = gather_status(s);
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0].state, vss::writer_state::stable);
  EXPECT_FALSE(status[0].failure);
  release(s);

  const auto frames = queue_.all();
  EXPECT_THAT(
      event_names(frames),
      ::testing::ElementsAre("identify", "prepare_backup", "prepare_snapshot", "freeze", "thaw",
                             "post_snapshot", "backup_complete", "backup_shutdown"));
  std::uint64_t last_seq = 0;
  for (const auto& f : frames) {
    EXPECT_EQ(f.value("type", ""), "event");
    EXPECT_EQ(f.value("instance_id", ""), proxy_->identity().instance_id.to_string());
    const auto seq = f.at("seq").get<std::uint64_t>();
    EXPECT_GT(seq, last_seq) << "events are numbered in order, each once";
    last_seq = seq;
    if (f.at("event") == "identify") continue;
    EXPECT_EQ(f.value("set", ""), set_.to_string()) << f.dump();
    EXPECT_EQ(f.value("backup_type", 0), static_cast<int>(vss::backup_type::full));
    EXPECT_EQ(f.at("volumes"), json::array({"/data"})) << f.dump();
  }
  for (const auto& r : s.phase_reports()) {
    ASSERT_EQ(r.results.size(), 1u);
    EXPECT_EQ(r.results[0].outcome, writer_outcome::completed) << vss::to_string(r.event);
  }
  const auto st = proxy_->status();
  EXPECT_TRUE(st.connected);
  EXPECT_EQ(st.events, 8u);
  EXPECT_EQ(st.last_event, writer_event::backup_shutdown);
  EXPECT_EQ(st.last_error, "");
}

TEST_F(RemoteWriter, AResultForASeqNotInFlightIsNotDelivered) {
  start();
  EXPECT_FALSE(proxy_->deliver_result(
      decoded({{"type", "result"}, {"seq", 12345}, {"outcome", "complete"}})));

  auto s = host_->engine().create_backup_session();
  ASSERT_FALSE(s.initialize_for_backup());
  ASSERT_FALSE(s.set_backup_state(false, false, vss::backup_type::full));
  EXPECT_EQ(drive(s.async_gather_writer_metadata(vss::use_async_op)), vss::errc::async_finished);
  const auto frames = queue_.all();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_FALSE(proxy_->deliver_result(decoded(complete_for(frames[0]))))
      << "an event is answered once; a second answer finds nothing in flight";
}

TEST_F(RemoteWriter, AFailWithAWriterHresultIsRecordedWithThatCode) {
  start();
  auto s = host_->engine().create_backup_session();
  const auto status = prepare(s, [](const json& e) -> std::optional<json> {
    if (e.at("event") == "prepare_backup") {
      return fail_for(e, "VSS_E_WRITERERROR_RETRYABLE", "busy");
    }
    return complete_for(e);
  });
  EXPECT_EQ(status, vss::errc::async_finished);
  const auto report = report_of(s, writer_event::prepare_backup);
  ASSERT_TRUE(report);
  ASSERT_EQ(report->results.size(), 1u);
  EXPECT_EQ(report->results[0].outcome, writer_outcome::failed);
  EXPECT_EQ(report->results[0].code, vss::errc::writer_error_retryable);
  EXPECT_EQ(report->results[0].message, "busy");
  EXPECT_EQ(proxy_->status().last_error, "VSS_E_WRITERERROR_RETRYABLE: busy");
  release(s);
}

TEST_F(RemoteWriter, AFailWithANonWriterHresultIsRecordedAsNonRetryable) {
  start();
  auto s = host_->engine().create_backup_session();
  const auto status = prepare(s, [](const json& e) -> std::optional<json> {
    if (e.at("event") == "prepare_backup") return fail_for(e, "VSS_E_BAD_STATE", "not now");
    return complete_for(e);
  });
  EXPECT_EQ(status, vss::errc::async_finished) << "a writer's veto does not fail the call";
  const auto report = report_of(s, writer_event::prepare_backup);
  ASSERT_TRUE(report);
  ASSERT_EQ(report->results.size(), 1u);
  EXPECT_EQ(report->results[0].outcome, writer_outcome::failed);
  EXPECT_EQ(report->results[0].code, vss::errc::writer_error_nonretryable);
  EXPECT_EQ(report->results[0].message, "not now");
  const auto writers = gather_status(s);
  ASSERT_EQ(writers.size(), 1u);
  EXPECT_EQ(writers[0].state, vss::writer_state::failed_at_prepare_backup);
  EXPECT_EQ(writers[0].failure, vss::errc::writer_error_nonretryable);
  EXPECT_EQ(proxy_->status().last_error, "VSS_E_BAD_STATE: not now");
  release(s);
}

// ---- a lost connection (decisions §19) ---------------------------------------------------------

TEST_F(RemoteWriter, ALostConnectionFailsTheFreezeInFlightWithWriterNotResponding) {
  start();
  auto s = host_->engine().create_backup_session();
  ASSERT_EQ(prepare(s), vss::errc::async_finished);

  json freeze;
  std::size_t frames_at_loss = 0;
  const auto status =
      drive(s.async_do_snapshot_set(vss::use_async_op), [&](const json& e) -> std::optional<json> {
        if (e.at("event") != "freeze") return complete_for(e);
        freeze = e;
        frames_at_loss = queue_.total();
        proxy_->connection_lost("test: the writer's process died");
        return std::nullopt;
      });
  ASSERT_FALSE(freeze.is_null()) << "Freeze was never sent";
  // The writer fails alone; the set goes on without it.
  EXPECT_EQ(status, vss::errc::async_finished);
  EXPECT_EQ(s.consistency(), vss::consistency_grade::crash);

  const auto frozen = report_of(s, writer_event::freeze);
  ASSERT_TRUE(frozen);
  ASSERT_EQ(frozen->results.size(), 1u);
  EXPECT_NE(frozen->results[0].outcome, writer_outcome::completed);
  EXPECT_EQ(frozen->results[0].code, vss::errc::writer_not_responding);
  const auto aborted = report_of(s, writer_event::abort);
  ASSERT_TRUE(aborted) << "a writer that failed at Freeze is aborted";
  ASSERT_EQ(aborted->results.size(), 1u);
  EXPECT_EQ(aborted->results[0].outcome, writer_outcome::completed)
      << "nothing is left to hold: the Abort of a dead writer is done";

  const auto writers = gather_status(s);
  ASSERT_EQ(writers.size(), 1u);
  EXPECT_EQ(writers[0].state, vss::writer_state::failed_at_freeze);
  EXPECT_EQ(writers[0].failure, vss::errc::writer_not_responding);

  release(s);
  const auto shutdown = report_of(s, writer_event::backup_shutdown);
  ASSERT_TRUE(shutdown);
  ASSERT_EQ(shutdown->results.size(), 1u);
  EXPECT_EQ(shutdown->results[0].outcome, writer_outcome::completed);

  EXPECT_EQ(queue_.total(), frames_at_loss) << "no frame goes to a lost connection";
  EXPECT_FALSE(proxy_->deliver_result(decoded(complete_for(freeze))))
      << "a late answer to the failed Freeze is refused";
  const auto st = proxy_->status();
  EXPECT_FALSE(st.connected);
  EXPECT_EQ(st.last_error, "VSS_E_WRITER_NOT_RESPONDING");
}

TEST_F(RemoteWriter, AfterALostConnectionThawCompletesAndPostSnapshotFailsWithoutAFrame) {
  start();
  provider_->hold(vss::test::provider_call::commit);
  auto s = host_->engine().create_backup_session();
  ASSERT_EQ(prepare(s), vss::errc::async_finished);

  auto op = s.async_do_snapshot_set(vss::use_async_op);
  ASSERT_TRUE(drive_until([&] { return provider_->is_held(vss::test::provider_call::commit); }))
      << "the commit was never reached";
  const auto frames_at_loss = queue_.total();
  EXPECT_EQ(event_names(queue_.all()).back(), "freeze");
  proxy_->connection_lost("test: the writer's process died");
  ASSERT_TRUE(provider_->release(vss::test::provider_call::commit));
  EXPECT_EQ(drive(op), vss::errc::async_finished);

  const auto thaw = report_of(s, writer_event::thaw);
  ASSERT_TRUE(thaw);
  ASSERT_EQ(thaw->results.size(), 1u);
  EXPECT_EQ(thaw->results[0].outcome, writer_outcome::completed);
  const auto post = report_of(s, writer_event::post_snapshot);
  ASSERT_TRUE(post);
  ASSERT_EQ(post->results.size(), 1u);
  EXPECT_EQ(post->results[0].code, vss::errc::writer_not_responding);
  release(s);
  EXPECT_EQ(queue_.total(), frames_at_loss) << "no frame goes to a lost connection";
}

// The engine aborts a writer whose Thaw failed; this is the sequence a writer client sees after
// its lease ran out and it answered the late Thaw with VSS_E_WRITERERROR_TIMEOUT.
TEST_F(RemoteWriter, AThawFailedWithTimeoutIsFollowedByAnAbortForThatWriter) {
  start();
  auto s = host_->engine().create_backup_session();
  ASSERT_EQ(prepare(s), vss::errc::async_finished);
  const auto status =
      drive(s.async_do_snapshot_set(vss::use_async_op), [](const json& e) -> std::optional<json> {
        if (e.at("event") == "thaw") {
          return fail_for(e, "VSS_E_WRITERERROR_TIMEOUT", "thawed itself");
        }
        return complete_for(e);
      });
  EXPECT_EQ(status, vss::errc::async_finished);
  const auto names = event_names(queue_.all());
  const auto thaw = std::find(names.begin(), names.end(), "thaw");
  ASSERT_NE(thaw, names.end());
  EXPECT_NE(std::find(thaw, names.end(), "abort"), names.end())
      << "after a failed Thaw the writer gets Abort for the same set";
  release(s);
}

// ---- injected faults (decisions §22) -----------------------------------------------------------

TEST_F(RemoteWriter, AnInjectedVetoFailsTheEventWhileTheWriterStillGetsTheFrame) {
  start({}, std::pair{writer_event::prepare_backup,
                      vss::mocks::fault::veto(vss::errc::writer_error_retryable)});
  auto s = host_->engine().create_backup_session();
  std::optional<json> sent;
  const responder writer = [&](const json& e) -> std::optional<json> {
    if (e.at("event") != "prepare_backup") return complete_for(e);
    sent = e;
    return std::nullopt;  // answered below, after the engine has settled the event
  };
  EXPECT_EQ(prepare(s, writer), vss::errc::async_finished);
  // The veto settles the event before the frame goes out, so PrepareForBackup may finish first.
  ASSERT_TRUE(drive_until([&] { return sent.has_value(); }, writer))
      << "the real writer still receives the vetoed event";
  EXPECT_EQ(sent->value("set", ""), set_.to_string());

  const auto report = report_of(s, writer_event::prepare_backup);
  ASSERT_TRUE(report);
  ASSERT_EQ(report->results.size(), 1u);
  EXPECT_EQ(report->results[0].outcome, writer_outcome::failed);
  EXPECT_EQ(report->results[0].code, vss::errc::writer_error_retryable);
  EXPECT_FALSE(proxy_->deliver_result(decoded(complete_for(*sent))))
      << "the writer's own answer to a vetoed event is dropped";
  const auto writers = gather_status(s);
  ASSERT_EQ(writers.size(), 1u);
  EXPECT_EQ(writers[0].state, vss::writer_state::failed_at_prepare_backup);
  EXPECT_EQ(writers[0].failure, vss::errc::writer_error_retryable);
  release(s);
}

TEST_F(RemoteWriter, AnInjectedHangIsEndedByTheEnginesDeadline) {
  vss::phase_deadlines deadlines;
  deadlines.prepare_backup = 200ms;
  start(deadlines, std::pair{writer_event::prepare_backup, vss::mocks::fault::hang()});
  auto s = host_->engine().create_backup_session();
  std::optional<json> sent;
  bool delivered = true;
  const auto status = prepare(s, [&](const json& e) -> std::optional<json> {
    if (e.at("event") != "prepare_backup") return complete_for(e);
    sent = e;
    // The writer answers at once; the plan says the engine never hears it.
    delivered = proxy_->deliver_result(decoded(complete_for(e)));
    return std::nullopt;
  });
  EXPECT_EQ(status, vss::errc::async_finished);
  ASSERT_TRUE(sent) << "the real writer still receives the hung event";
  EXPECT_FALSE(delivered) << "a hung event is not in flight: the writer's answer is dropped";
  // The proxy never completed the event: the engine's deadline did.
  const auto report = report_of(s, writer_event::prepare_backup);
  ASSERT_TRUE(report);
  ASSERT_EQ(report->results.size(), 1u);
  EXPECT_EQ(report->results[0].outcome, writer_outcome::timed_out);
  EXPECT_EQ(report->results[0].code, vss::errc::writer_not_responding);
  EXPECT_GE(report->settled - report->started, 200ms);
  release(s);
}

TEST_F(RemoteWriter, AnInjectedDelayHoldsTheWritersAnswerForTheDelay) {
  start({}, std::pair{writer_event::prepare_backup, vss::mocks::fault::delay(150ms)});
  auto s = host_->engine().create_backup_session();
  steady::time_point answered;
  bool delivered = false;
  auto status = prepare(s, [&](const json& e) -> std::optional<json> {
    if (e.at("event") != "prepare_backup") return complete_for(e);
    answered = steady::now();
    delivered = proxy_->deliver_result(decoded(complete_for(e)));
    return std::nullopt;
  });
  const auto finished = steady::now();
  EXPECT_EQ(status, vss::errc::async_finished);
  EXPECT_TRUE(delivered) << "the delayed event is in flight when the writer answers";
  EXPECT_GE(finished - answered, 150ms);
  const auto report = report_of(s, writer_event::prepare_backup);
  ASSERT_TRUE(report);
  ASSERT_EQ(report->results.size(), 1u);
  EXPECT_EQ(report->results[0].outcome, writer_outcome::completed);
  EXPECT_GE(report->settled - report->started, 150ms);
  release(s);
}

}  // namespace
