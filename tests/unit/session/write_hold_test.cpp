// Flush-and-hold around the provider commit (spec §7.1), with a recording write_hold in
// virtual time: the hold comes before the commit and ends when it returns or when the hold
// budget runs out, whichever is first; a hold that cannot be taken fails the set.

#include <gtest/gtest.h>

#include "support/test_writer.hpp"

namespace vss::test {
namespace {

using E = writer_event;
using P = provider_call;
using namespace std::chrono_literals;

// Records hold and release, with how many commits the provider had seen at each.
class recording_hold : public write_hold {
 public:
  void set_provider(const holding_provider* provider) { provider_ = provider; }

  struct held final : held_writes {
    held(recording_hold* owner, std::vector<std::string> fs) : owner_(owner), fs_(std::move(fs)) {}
    ~held() override { owner_->log("release", 0); }
    const std::vector<std::string>& filesystems() const noexcept override { return fs_; }
    recording_hold* owner_;
    std::vector<std::string> fs_;
  };

  std::unique_ptr<held_writes> hold(const std::vector<std::string>& paths, std::error_code& ec,
                                    std::string& why) override {
    log("hold", paths.size());
    if (refuse) {
      ec = errc::flush_writes_timeout;
      why = "FIFREEZE on /mnt: Operation not supported (EOPNOTSUPP)";
      return nullptr;
    }
    return std::make_unique<held>(this, paths);
  }

  void log(const std::string& what, std::size_t paths) {
    std::lock_guard lock(mutex_);
    entries_.push_back(what + " commits=" + std::to_string(provider_->calls(P::commit)) +
                       (paths ? " paths=" + std::to_string(paths) : ""));
  }
  std::vector<std::string> entries() const {
    std::lock_guard lock(mutex_);
    return entries_;
  }

  bool refuse = false;

 private:
  const holding_provider* provider_ = nullptr;
  mutable std::mutex mutex_;
  std::vector<std::string> entries_;
};

class WriteHoldTest : public engine_test {
 protected:
  void SetUp() override {
    hold_ = std::make_shared<recording_hold>();
    engine_options o;
    o.write_hold = hold_;
    make_engine(o);
    hold_->set_provider(memory_.get());
  }
  std::shared_ptr<recording_hold> hold_;
};

TEST_F(WriteHoldTest, TheNamedFilesystemsAreHeldForExactlyTheCommit) {
  add_writer("w");
  memory_->set_hold_paths({"/data", "/logs"});
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_EQ(hold_->entries(),
            (std::vector<std::string>{"hold commits=0 paths=2", "release commits=1"}));
  const auto report = s.write_hold();
  EXPECT_EQ(report.filesystems, (std::vector<std::string>{"/data", "/logs"}));
  EXPECT_FALSE(report.expired);
  EXPECT_FALSE(report.failure);
  EXPECT_EQ(s.consistency(), consistency_grade::application);
}

TEST_F(WriteHoldTest, NothingIsHeldWhenNoProviderNamesAFilesystem) {
  add_writer("w");
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_TRUE(hold_->entries().empty());
  EXPECT_TRUE(s.write_hold().filesystems.empty());
}

TEST_F(WriteHoldTest, TheHoldMeasuresTheTimeTheCommitTook) {
  add_writer("w");
  memory_->set_hold_paths({"/data"});
  memory_->hold(P::commit);
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  run_until([&] { return memory_->is_held(P::commit); });
  clock_->advance(1500ms);
  memory_->release(P::commit);
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_EQ(s.write_hold().held, std::chrono::microseconds(1500ms));
}

TEST_F(WriteHoldTest, AnExpiredHoldBudgetThawsBeforeTheCommitReturns) {
  auto w = add_writer("w");
  memory_->set_hold_paths({"/data"});
  memory_->hold(P::commit);
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::hold_writes_timeout);
  EXPECT_EQ(hold_->entries(),
            (std::vector<std::string>{"hold commits=0 paths=1", "release commits=1"}));
  const auto report = s.write_hold();
  EXPECT_TRUE(report.expired);
  EXPECT_EQ(report.held, std::chrono::microseconds(10s));
  EXPECT_TRUE(memory_->is_held(P::commit));  // released while the commit still ran
  memory_->release(P::commit);
  settle();
  EXPECT_EQ(hold_->entries().size(), 2u);  // no second release
  EXPECT_EQ(w->count(E::abort), 1u);
}

TEST_F(WriteHoldTest, AHoldThatCannotBeTakenFailsTheSetWithFlushWritesTimeout) {
  auto w = add_writer("w");
  memory_->set_hold_paths({"/mnt"});
  hold_->refuse = true;
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::flush_writes_timeout);
  EXPECT_EQ(memory_->calls(P::commit), 0);
  EXPECT_EQ(memory_->calls(P::abort), 1);
  EXPECT_EQ(w->count(E::abort), 1u);
  EXPECT_EQ(w->count(E::thaw), 0u);
  const auto report = s.write_hold();
  EXPECT_EQ(report.failure, errc::flush_writes_timeout);
  EXPECT_NE(report.message.find("EOPNOTSUPP"), std::string::npos);
  EXPECT_TRUE(memory_->all_records().empty());
}

TEST_F(WriteHoldTest, AnAbortDuringTheCommitThawsWhenTheCommitReturns) {
  auto w = add_writer("w");
  memory_->set_hold_paths({"/data"});
  memory_->hold(P::commit);
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  run_until([&] { return memory_->is_held(P::commit); });
  auto abort = s.async_abort_backup(use_async_op);
  settle();
  EXPECT_EQ(hold_->entries().size(), 1u);  // still held: the commit has not returned
  memory_->release(P::commit);
  EXPECT_EQ(finish(abort), errc::async_finished);
  EXPECT_EQ(hold_->entries(),
            (std::vector<std::string>{"hold commits=0 paths=1", "release commits=1"}));
  EXPECT_EQ(op.query_status(), errc::async_cancelled);
  EXPECT_EQ(w->count(E::abort), 1u);
}

TEST_F(WriteHoldTest, AWriterThatDidNotQuiesceLeavesAHeldSetFilesystemConsistent) {
  auto bad = add_writer("bad");
  add_writer("good");
  bad->script(E::freeze, {action::fail, errc::writer_error_retryable});
  memory_->set_hold_paths({"/data"});
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_EQ(s.consistency(), consistency_grade::filesystem);
}

TEST_F(WriteHoldTest, WithoutAHoldAWriterThatDidNotQuiesceLeavesTheSetCrashConsistent) {
  auto bad = add_writer("bad");
  bad->script(E::freeze, {action::fail, errc::writer_error_retryable});
  auto s = prepared_session();
  auto op = s.async_do_snapshot_set(use_async_op);
  EXPECT_EQ(finish(op), errc::async_finished);
  EXPECT_EQ(s.consistency(), consistency_grade::crash);
}

}  // namespace
}  // namespace vss::test
