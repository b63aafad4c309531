// exec_writer: the exit-status mapping, the configuration file, and real in-process backups
// (engine_host + memory provider) whose commands are small shell scripts that append what they
// were run for to a log file.

#include "exec_writer/exec_writer.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/holding_provider.hpp"
#include "vss/vss.hpp"

namespace vss::exec {
namespace {

using namespace std::chrono_literals;
using E = writer_event;
using lines = std::vector<std::string>;

// Longest any backup step may take in these tests.
constexpr std::chrono::milliseconds step_bound{20'000};

command_result exited(int code) {
  command_result r;
  r.exit_code = code;
  return r;
}

TEST(FailureCode, MapsSysexitsStatusesToWriterErrors) {
  EXPECT_EQ(failure_code(exited(0), E::freeze), errc::ok);
  EXPECT_EQ(failure_code(exited(75), E::freeze), errc::writer_error_retryable);
  EXPECT_EQ(failure_code(exited(69), E::prepare_snapshot), errc::writer_error_out_of_resources);
  EXPECT_EQ(failure_code(exited(65), E::thaw), errc::writer_error_inconsistent_snapshot);
  EXPECT_EQ(failure_code(exited(1), E::freeze), errc::writer_error_nonretryable);
  EXPECT_EQ(failure_code(exited(127), E::freeze), errc::writer_error_nonretryable);
}

TEST(FailureCode, ASignalIsNonRetryableAndATimeoutIsTimeoutOnlyAtFreeze) {
  command_result killed;
  killed.exit_code = -1;
  killed.signal = 9;
  EXPECT_EQ(failure_code(killed, E::freeze), errc::writer_error_nonretryable);
  command_result late = killed;
  late.signal = 15;
  late.timed_out = true;
  EXPECT_EQ(failure_code(late, E::freeze), errc::writer_error_timeout);
  EXPECT_EQ(failure_code(late, E::thaw), errc::writer_error_nonretryable);
  EXPECT_EQ(failure_code(late, E::prepare_snapshot), errc::writer_error_nonretryable);
  // A command that exited 0 but whose background child outlived the timeout still timed out.
  command_result lingering = exited(0);
  lingering.timed_out = true;
  EXPECT_EQ(failure_code(lingering, E::freeze), errc::writer_error_timeout);
}

TEST(EventKey, NamesEveryEventAndParsesItBack) {
  EXPECT_EQ(event_key(E::prepare_snapshot), "prepare_snapshot");
  EXPECT_EQ(event_key(E::backup_shutdown), "backup_shutdown");
  for (std::size_t i = 0; i < writer_event_count; ++i) {
    const auto e = static_cast<E>(i);
    EXPECT_EQ(parse_event_key(event_key(e)), e);
  }
  EXPECT_FALSE(parse_event_key("Freeze"));
  EXPECT_FALSE(parse_event_key(""));
}

TEST(SplitCommandLine, SplitsOnWhitespaceAndGroupsDoubleQuotes) {
  EXPECT_EQ(split_command_line("  /usr/bin/foo --bar\tbaz  "),
            (lines{"/usr/bin/foo", "--bar", "baz"}));
  EXPECT_EQ(split_command_line(R"(/bin/sh -c "echo \"hi there\" \\ done")"),
            (lines{"/bin/sh", "-c", R"(echo "hi there" \ done)"}));
  EXPECT_EQ(split_command_line(R"(a "" b"c d"e)"), (lines{"a", "", "bc de"}));
  EXPECT_EQ(split_command_line(R"(C:\path "x\y")"), (lines{R"(C:\path)", R"(x\y)"}));
  EXPECT_TRUE(split_command_line("   ").empty());
  EXPECT_THROW(split_command_line(R"(a "b)"), std::invalid_argument);
}

TEST(ConfigFromIni, ReadsTheDocumentedExample) {
  const auto c = config_from_ini(R"(# openvss-exec-writer for PostgreSQL
[writer]
name = postgres
instance_name = main cluster
class_id = {5c2f6a2e-1c1b-4d5e-9a4f-0a1b2c3d4e5f}
level = back_end
freeze_timeout_ms = 20000

[commands]
prepare_snapshot = /usr/local/bin/pg-hook checkpoint
freeze = /usr/local/bin/pg-hook "freeze now"
thaw   = /usr/local/bin/pg-hook thaw
abort  = /usr/local/bin/pg-hook abort
hook_dir = /etc/fsfreeze-hook.d
hook_dir = /etc/openvss/hooks.d
timeout_ms = 15000
timeout_ms.freeze = 5000
)",
                                 "pg.conf");
  EXPECT_EQ(c.identity.name, "postgres");
  EXPECT_EQ(c.identity.instance_name, "main cluster");
  EXPECT_EQ(c.identity.class_id.to_string(), "{5c2f6a2e-1c1b-4d5e-9a4f-0a1b2c3d4e5f}");
  EXPECT_EQ(c.identity.level, application_level::back_end);
  EXPECT_EQ(c.identity.freeze_timeout, 20000ms);
  EXPECT_EQ(c.identity.execution, handler_execution::blocking);
  ASSERT_EQ(c.commands.size(), 4u);
  EXPECT_EQ(c.commands.at(E::freeze), (lines{"/usr/local/bin/pg-hook", "freeze now"}));
  EXPECT_EQ(c.commands.at(E::prepare_snapshot), (lines{"/usr/local/bin/pg-hook", "checkpoint"}));
  EXPECT_EQ(c.hook_dirs, (lines{"/etc/fsfreeze-hook.d", "/etc/openvss/hooks.d"}));
  EXPECT_EQ(c.timeout, 15000ms);
  ASSERT_EQ(c.timeouts.size(), 1u);
  EXPECT_EQ(c.timeouts.at(E::freeze), 5000ms);
}

std::string config_error_of(std::string_view text) {
  try {
    config_from_ini(text, "w.conf");
  } catch (const config_error& e) {
    return e.what();
  }
  return "no error";
}

TEST(ConfigFromIni, NamesTheFileAndLineOfEachProblem) {
  EXPECT_EQ(config_error_of("[writer]\nname = a\n[hooks]\n"),
            "w.conf:3: unknown section [hooks] (expected [writer] or [commands])");
  EXPECT_EQ(config_error_of("name = a\n"),
            "w.conf:1: 'name' is outside a section ([writer] or [commands])");
  EXPECT_EQ(config_error_of("[writer]\nname = a\n\n[commands]\nfreeze = a\nfreeze = b\n"),
            "w.conf:6: duplicate key 'freeze' (first set at line 5)");
  EXPECT_EQ(config_error_of("[writer]\nname = a\n[commands]\nfreeze = /bin/x \"oops\n"),
            "w.conf:4: freeze: unterminated double quote");
  EXPECT_EQ(config_error_of("[writer]\nname = a\n[commands]\nthaw =\n"),
            "w.conf:4: thaw: the command is empty");
  EXPECT_EQ(config_error_of("[writer]\nname = a\n[commands]\ntimeout_ms = 10s\n"),
            "w.conf:4: timeout_ms: expected a number of milliseconds from 1 to 86400000, got "
            "'10s'");
  EXPECT_EQ(config_error_of("[writer]\nname = a\n[commands]\ntimeout_ms.frieze = 10\n"),
            "w.conf:4: unknown event 'frieze' in 'timeout_ms.frieze'");
  EXPECT_EQ(config_error_of("[writer]\nname = a\nlevel = auto\n"),
            "w.conf:3: level: expected front_end, back_end or system, got 'auto'");
  EXPECT_EQ(config_error_of("[writer]\nname = a\nclass_id = 1234\n"),
            "w.conf:3: class_id: expected a non-null GUID, got '1234'");
  EXPECT_EQ(config_error_of("[writer]\nname = a\ncolour = blue\n").substr(0, 34),
            "w.conf:3: unknown key 'colour' in ");
  EXPECT_EQ(config_error_of("[writer]\nname = a\n[commands]\nfreez = x\n").substr(0, 34),
            "w.conf:4: unknown key 'freez' in [");
  EXPECT_EQ(config_error_of("[writer\n"),
            "w.conf:1: expected ']' at the end of the section header");
  EXPECT_EQ(config_error_of("[writer]\nname\n"), "w.conf:2: expected 'key = value'");
  EXPECT_EQ(config_error_of("\n[writer]\nlevel = system\n"), "w.conf:2: [writer] has no name");
  EXPECT_EQ(config_error_of("[commands]\nfreeze = x\n"),
            "w.conf: missing [writer] section with a name");
}

TEST(ConfigFromIni, ReportsTheLocationSeparately) {
  try {
    config_from_ini("[writer]\nname = a\nfreeze_timeout_ms = 0\n", "x.ini");
    FAIL() << "no config_error";
  } catch (const config_error& e) {
    EXPECT_EQ(e.file(), "x.ini");
    EXPECT_EQ(e.line(), 3u);
    EXPECT_EQ(e.problem().substr(0, 18), "freeze_timeout_ms:");
  }
}

TEST(ConfigFromFile, NamesAFileThatCannotBeOpened) {
  try {
    config_from_file("/nonexistent/openvss/exec.conf");
    FAIL() << "no config_error";
  } catch (const config_error& e) {
    EXPECT_EQ(e.line(), 0u);
    EXPECT_EQ(std::string(e.what()),
              "/nonexistent/openvss/exec.conf: cannot open: No such file or directory");
  }
}

TEST(ExecWriter, RunsItsHandlersAsBlockingAndRejectsBadCommands) {
  exec_writer_config c;
  c.identity.name = "w";
  exec_writer w(c);
  EXPECT_EQ(w.identity().execution, handler_execution::blocking);
  EXPECT_EQ(w.config().identity.execution, handler_execution::blocking);
  EXPECT_FALSE(w.identity().class_id.is_null());

  c.commands[E::freeze] = {};
  EXPECT_THROW(exec_writer{c}, std::invalid_argument);
  c.commands[E::freeze] = {"/bin/true"};
  c.timeouts[E::thaw] = 0ms;
  EXPECT_THROW(exec_writer{c}, std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// Real backups.

class ExecWriterBackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/openvss-exec-writer-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    log_ = dir_ + "/log";
    // Every command of these tests is this script, with what it stands for as arguments.
    logger_ = write_script("log.sh", "echo \"$* ($OPENVSS_EVENT)\" >> '" + log_ + "'\n");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write_script(const std::string& name, const std::string& body, mode_t mode = 0755) {
    const std::string path = dir_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << "#!/bin/sh\n" << body;
    ::chmod(path.c_str(), mode);
    return path;
  }

  // A hook that logs "<name> <freeze|thaw> (<event>)", then exits with `freeze_status` at freeze.
  void write_hook(const std::string& name, int freeze_status = 0) {
    write_script("hooks.d/" + name, "echo \"" + name + " $1 ($OPENVSS_EVENT)\" >> '" + log_ +
                                        "'\n[ \"$1\" = freeze ] && exit " +
                                        std::to_string(freeze_status) + "\nexit 0\n");
  }

  lines log() const {
    lines out;
    std::ifstream in(log_);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  bool has_line(const std::string& line) const {
    const auto l = log();
    return std::find(l.begin(), l.end(), line) != l.end();
  }

  exec_writer_config config(const std::vector<E>& logged) {
    exec_writer_config c;
    c.identity.name = "exec";
    for (const auto e : logged) c.commands[e] = {logger_, std::string(event_key(e))};
    return c;
  }

  struct result {
    std::error_code snapshot;  // DoSnapshotSet's final status
    std::error_code abort;     // AbortBackup's final status, when the test aborted
    writer_status status;      // the exec writer's, after DoSnapshotSet
    snapshot_set_id set;
    consistency_grade grade = consistency_grade::none;
    std::chrono::milliseconds took{0};  // DoSnapshotSet's duration
  };

  // One backup of two volumes with `w` as the only writer. With `abort_when_frozen`, the
  // provider holds PreCommitSnapshots — which comes after every writer froze — and the test
  // calls AbortBackup while it is held.
  result backup(const std::shared_ptr<exec_writer>& w, bool abort_when_frozen = false) {
    result out;
    host_options options;
    options.io_threads = 2;
    options.blocking_threads = 2;
    engine_host host(options);
    auto provider = std::make_shared<test::holding_provider>();
    if (abort_when_frozen) provider->hold(test::provider_call::pre_commit);
    EXPECT_FALSE(host.engine().register_provider(provider));
    auto reg = host.engine().register_writer(w);
    {
      backup_session s = host.engine().create_backup_session();
      EXPECT_FALSE(s.initialize_for_backup());
      EXPECT_FALSE(s.set_backup_state(false, false, backup_type::full));
      EXPECT_TRUE(s.async_gather_writer_metadata(use_async_op).wait_for(step_bound));
      EXPECT_FALSE(s.start_snapshot_set(out.set));
      snapshot_id a;
      snapshot_id b;
      EXPECT_FALSE(s.add_to_snapshot_set("/srv/a", {}, a));
      EXPECT_FALSE(s.add_to_snapshot_set("/srv/b", {}, b));
      EXPECT_TRUE(s.async_prepare_for_backup(use_async_op).wait_for(step_bound));
      const auto start = std::chrono::steady_clock::now();
      auto op = s.async_do_snapshot_set(use_async_op);
      if (abort_when_frozen) {
        const auto until = start + step_bound;
        while (!provider->is_held(test::provider_call::pre_commit) &&
               std::chrono::steady_clock::now() < until) {
          std::this_thread::sleep_for(1ms);
        }
        EXPECT_TRUE(provider->is_held(test::provider_call::pre_commit));
        EXPECT_TRUE(w->frozen());
        // AbortBackup waits for the provider call in flight, so release it once the writer
        // has handled its Abort (its abort command is the last thing it runs).
        auto aborted = s.async_abort_backup(use_async_op);
        while (!has_line("abort (abort)") && std::chrono::steady_clock::now() < until) {
          std::this_thread::sleep_for(1ms);
        }
        provider->release(test::provider_call::pre_commit, errc::async_cancelled);
        EXPECT_TRUE(aborted.wait_for(step_bound));
        out.abort = aborted.query_status();
      }
      EXPECT_TRUE(op.wait_for(step_bound));
      out.took = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
      out.snapshot = op.query_status();
      out.grade = s.consistency();
      EXPECT_TRUE(s.async_gather_writer_status(use_async_op).wait_for(step_bound));
      const auto statuses = s.get_writer_status();
      EXPECT_EQ(statuses.size(), 1u);
      if (!statuses.empty()) out.status = statuses.front();
      if (out.snapshot == errc::async_finished) {
        EXPECT_TRUE(s.async_backup_complete(use_async_op).wait_for(step_bound));
      } else if (!abort_when_frozen) {
        s.abort_backup();
      }
      EXPECT_TRUE(s.async_release(use_async_op).wait_for(step_bound));
    }
    return out;
  }

  std::string dir_;
  std::string log_;
  std::string logger_;
};

TEST_F(ExecWriterBackupTest, AFullBackupRunsFreezeThenThaw) {
  auto w = std::make_shared<exec_writer>(
      config({E::prepare_backup, E::prepare_snapshot, E::freeze, E::thaw, E::post_snapshot,
              E::abort, E::backup_complete, E::backup_shutdown}));
  const auto r = backup(w);
  EXPECT_EQ(r.snapshot, errc::async_finished);
  EXPECT_EQ(r.grade, consistency_grade::application);
  EXPECT_EQ(r.status.state, writer_state::waiting_for_backup_complete);
  EXPECT_FALSE(r.status.failure);
  EXPECT_EQ(log(),
            (lines{"prepare_backup (prepare_backup)", "prepare_snapshot (prepare_snapshot)",
                   "freeze (freeze)", "thaw (thaw)", "post_snapshot (post_snapshot)",
                   "backup_complete (backup_complete)", "backup_shutdown (backup_shutdown)"}));
  EXPECT_FALSE(w->frozen());
}

TEST_F(ExecWriterBackupTest, CommandsSeeTheBackupInTheirEnvironment) {
  const std::string env_file = dir_ + "/env";
  auto c = config({});
  c.identity.name = "env-writer";
  c.commands[E::freeze] = {
      write_script("env.sh",
                   "printf '%s\\n' \"$OPENVSS_EVENT\" \"$OPENVSS_SNAPSHOT_SET\" "
                   "\"$OPENVSS_BACKUP_TYPE\" \"$OPENVSS_VOLUMES\" \"$OPENVSS_WRITER_NAME\" > '" +
                       env_file + "'\n")};
  const auto r = backup(std::make_shared<exec_writer>(c));
  EXPECT_EQ(r.snapshot, errc::async_finished);
  lines env;
  std::ifstream in(env_file);
  for (std::string line; std::getline(in, line);) env.push_back(line);
  EXPECT_EQ(env, (lines{"freeze", r.set.to_string(), "full", "/srv/a /srv/b", "env-writer"}));
}

TEST_F(ExecWriterBackupTest, AFreezeScriptExiting75VetoesAsRetryableWithItsOutput) {
  auto c = config({E::thaw, E::abort});
  c.commands[E::freeze] = {
      write_script("busy.sh", "echo 'checkpoint in progress, try later' >&2\nexit 75\n")};
  auto w = std::make_shared<exec_writer>(c);
  const auto r = backup(w);
  EXPECT_EQ(r.snapshot, errc::async_finished);  // one writer's veto does not fail the set
  EXPECT_EQ(r.grade, consistency_grade::crash);
  EXPECT_EQ(r.status.state, writer_state::failed_at_freeze);
  EXPECT_EQ(r.status.failure, errc::writer_error_retryable);
  EXPECT_NE(r.status.message.find("checkpoint in progress, try later"), std::string::npos)
      << r.status.message;
  EXPECT_NE(r.status.message.find("Freeze: command `" + dir_ + "/busy.sh` exited with status 75"),
            std::string::npos)
      << r.status.message;
  // The failed freeze is aborted, and nothing froze, so nothing is thawed.
  EXPECT_EQ(log(), (lines{"abort (abort)"}));
  EXPECT_FALSE(w->frozen());
}

TEST_F(ExecWriterBackupTest, HooksFreezeAndThawInLexicalOrderAndOthersAreSkipped) {
  write_hook("20-second");
  write_hook("10-first");
  write_hook("15-disabled~");
  write_hook(".30-hidden");
  write_script("hooks.d/12-not-executable", "echo bad >> '" + log_ + "'\n", 0644);
  std::filesystem::create_directories(dir_ + "/hooks.d/13-a-directory");
  auto c = config({E::freeze, E::thaw});
  c.hook_dirs = {dir_ + "/hooks.d", dir_ + "/no-such-dir"};
  const auto r = backup(std::make_shared<exec_writer>(c));
  EXPECT_EQ(r.snapshot, errc::async_finished);
  EXPECT_EQ(r.status.state, writer_state::waiting_for_backup_complete);
  EXPECT_EQ(log(),
            (lines{"freeze (freeze)", "10-first freeze (freeze)", "20-second freeze (freeze)",
                   "10-first thaw (thaw)", "20-second thaw (thaw)", "thaw (thaw)"}));
}

TEST_F(ExecWriterBackupTest, AFailingFreezeHookStopsTheRestAndThawsTheFrozenOnesInReverse) {
  write_hook("10-first");
  write_hook("20-second");
  write_hook("30-broken", 3);
  write_hook("40-never");
  auto c = config({E::freeze, E::thaw, E::abort});
  c.hook_dirs = {dir_ + "/hooks.d"};
  auto w = std::make_shared<exec_writer>(c);
  const auto r = backup(w);
  EXPECT_EQ(r.status.state, writer_state::failed_at_freeze);
  EXPECT_EQ(r.status.failure, errc::writer_error_nonretryable);
  EXPECT_NE(r.status.message.find("Freeze: hook `" + dir_ +
                                  "/hooks.d/30-broken freeze` exited "
                                  "with status 3"),
            std::string::npos)
      << r.status.message;
  // The rollback thaws in reverse, ending with the thaw command (the freeze command ran); the
  // Abort that follows the failed Freeze finds nothing frozen and thaws nothing again.
  EXPECT_EQ(log(),
            (lines{"freeze (freeze)", "10-first freeze (freeze)", "20-second freeze (freeze)",
                   "30-broken freeze (freeze)", "20-second thaw (freeze)", "10-first thaw (freeze)",
                   "thaw (freeze)", "abort (abort)"}));
  EXPECT_FALSE(w->frozen());
}

TEST_F(ExecWriterBackupTest, AnAbortWhileFrozenRunsTheThawHooksAndCommand) {
  write_hook("10-only");
  auto c = config({E::freeze, E::thaw, E::abort});
  c.hook_dirs = {dir_ + "/hooks.d"};
  auto w = std::make_shared<exec_writer>(c);
  const auto r = backup(w, /*abort_when_frozen=*/true);
  EXPECT_EQ(r.abort, errc::async_finished);
  EXPECT_EQ(r.snapshot, errc::async_cancelled);
  EXPECT_EQ(log(), (lines{"freeze (freeze)", "10-only freeze (freeze)", "10-only thaw (abort)",
                          "thaw (abort)", "abort (abort)"}));
  EXPECT_FALSE(w->frozen());
}

TEST_F(ExecWriterBackupTest, AFailedThawIsNotRepeatedByTheAbortThatFollows) {
  write_hook("10-only");
  auto c = config({E::freeze, E::abort});
  c.hook_dirs = {dir_ + "/hooks.d"};
  c.commands[E::thaw] = {write_script("thaw.sh", "echo \"thaw ($OPENVSS_EVENT)\" >> '" + log_ +
                                                     "'\necho 'cannot resume' >&2\nexit 1\n")};
  auto w = std::make_shared<exec_writer>(c);
  const auto r = backup(w);
  EXPECT_EQ(r.status.state, writer_state::failed_at_thaw);
  EXPECT_EQ(r.status.failure, errc::writer_error_nonretryable);
  EXPECT_NE(r.status.message.find("cannot resume"), std::string::npos) << r.status.message;
  EXPECT_EQ(log(), (lines{"freeze (freeze)", "10-only freeze (freeze)", "10-only thaw (thaw)",
                          "thaw (thaw)", "abort (abort)"}));
}

TEST_F(ExecWriterBackupTest, AFreezeCommandThatTimesOutFailsWithWriterErrorTimeout) {
  auto c = config({E::thaw, E::abort});
  c.commands[E::freeze] = {write_script("hang.sh", "echo 'flushing'\nsleep 60\n")};
  c.timeouts[E::freeze] = 300ms;
  auto w = std::make_shared<exec_writer>(c);
  const auto r = backup(w);
  EXPECT_EQ(r.status.state, writer_state::failed_at_freeze);
  EXPECT_EQ(r.status.failure, errc::writer_error_timeout);
  EXPECT_NE(r.status.message.find("timed out after 300 ms and was killed by SIGTERM: flushing"),
            std::string::npos)
      << r.status.message;
  EXPECT_LT(r.took, 10s);
  EXPECT_EQ(log(), (lines{"abort (abort)"}));
}

TEST_F(ExecWriterBackupTest, FreezeCommandsStayWithinTheFreezeWindow) {
  auto c = config({E::abort});
  c.identity.freeze_timeout = 400ms;  // the engine's dwTimeoutFreeze; command timeout is 30 s
  c.commands[E::freeze] = {write_script("hang.sh", "sleep 60\n")};
  const auto r = backup(std::make_shared<exec_writer>(c));
  EXPECT_EQ(r.status.failure, errc::writer_error_timeout);
  EXPECT_LT(r.took, 10s);
  EXPECT_EQ(log(), (lines{"abort (abort)"}));
}

TEST_F(ExecWriterBackupTest, AMissingProgramFailsTheEventAndNamesTheProgram) {
  auto c = config({});
  c.commands[E::prepare_snapshot] = {dir_ + "/missing-tool", "--flag"};
  const auto r = backup(std::make_shared<exec_writer>(c));
  EXPECT_EQ(r.status.state, writer_state::failed_at_prepare_snapshot);
  EXPECT_EQ(r.status.failure, errc::writer_error_nonretryable);
  EXPECT_NE(r.status.message.find("exited with status 127: openvss-exec: cannot run '" + dir_ +
                                  "/missing-tool'"),
            std::string::npos)
      << r.status.message;
}

}  // namespace
}  // namespace vss::exec
