// openvssd with real writer and requester processes on a temporary socket: the failure cases
// that only separate processes have (kill -9 of a frozen writer, of the requester, of the
// daemon), peer credentials, and malformed input on the wire. Every wait is bounded.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>

#include "integration/process_harness.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using vss::testing::child_process;
using vss::testing::eventually;
using vss::testing::raw_client;
using vss::testing::read_file;

namespace {

class DaemonProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/openvss-daemon-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = (dir_ / "openvss.sock").string();
    write_config("");
    start_daemon();
  }

  void TearDown() override {
    writers_.clear();
    daemon_ = {};
    // Under the sanitizer presets the daemon, the writers and the CLI are instrumented too;
    // their reports land in the output files, and a report anywhere fails the test.
    for (const auto& entry : fs::directory_iterator(dir_)) {
      const auto text = read_file(entry.path());
      for (const char* report : {"WARNING: ThreadSanitizer", "ERROR: AddressSanitizer",
                                 "ERROR: LeakSanitizer", "runtime error:"}) {
        if (text.find(report) != std::string::npos) {
          ADD_FAILURE() << entry.path().filename() << " has a sanitizer report:\n" << text;
          break;
        }
      }
    }
    std::error_code ec;
    if (!HasFailure()) fs::remove_all(dir_, ec);
  }

  void write_config(const std::string& extra) {
    std::ofstream(dir_ / "openvssd.conf") << "socket_path = " << socket_ << "\n"
                                          << "requester_uids = " << ::getuid() << "\n"
                                          << "writer_uids = " << ::getuid() << "\n"
                                          << "heartbeat_ms = 50\nlog_level = debug\n"
                                          << "state_dir = " << (dir_ / "state").string() << "\n"
                                          << "providers = memory\n"
                                          << extra;
  }

  void start_daemon() {
    daemon_ = child_process({OPENVSSD_PATH, "--config", (dir_ / "openvssd.conf").string()},
                            (dir_ / "daemon.log").string());
    ASSERT_TRUE(eventually([&] { return raw_client(socket_).connected(); }))
        << read_file(dir_ / "daemon.log");
  }

  fs::path writer_log(const std::string& name) const { return dir_ / (name + ".log"); }

  void start_writer(const std::string& name, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{
        OPENVSS_TEST_WRITER_PATH, "--socket", socket_, "--name", name, "--log",
        writer_log(name).string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    writers_[name] = child_process(argv, (dir_ / (name + ".out")).string());
  }

  std::size_t registered_writers() {
    raw_client c(socket_);
    if (!c.connected() || !c.hello("requester")) return 0;
    auto reply = c.request("status");
    if (!reply || (*reply)["type"] != "reply") return 0;
    return (*reply)["result"].value("registered_writers", std::size_t{0});
  }

  void wait_for_writers(std::size_t n) {
    ASSERT_TRUE(eventually([&] { return registered_writers() == n; }))
        << "registered: " << registered_writers() << "\n"
        << read_file(dir_ / "daemon.log");
  }

  child_process cli(std::vector<std::string> args, const std::string& out_name) {
    std::vector<std::string> argv{OPENVSS_CLI_PATH, "--socket", socket_};
    argv.insert(argv.end(), args.begin(), args.end());
    return child_process(argv, (dir_ / out_name).string());
  }

  int run_cli(std::vector<std::string> args, const std::string& out_name,
              std::chrono::milliseconds timeout = 20s) {
    auto p = cli(std::move(args), out_name);
    auto status = p.wait(timeout);
    return status.value_or(-1);
  }

  // The snapshot set a writer log line names for `event` ("Freeze {set}"), or empty.
  std::string set_of(const std::string& writer, const std::string& event) {
    std::regex line("^" + event + " (\\{?[0-9a-fA-F-]+\\}?)$");
    std::istringstream in(read_file(writer_log(writer)));
    std::string l;
    std::smatch m;
    while (std::getline(in, l)) {
      if (std::regex_match(l, m, line)) return m[1];
    }
    return {};
  }

  bool saw(const std::string& writer, const std::string& event) {
    return !set_of(writer, event).empty();
  }

  fs::path dir_;
  std::string socket_;
  child_process daemon_;
  std::map<std::string, child_process> writers_;
};

TEST_F(DaemonProcess, ABackupWithThreeWriterProcessesFreezesThawsAndCompletesEachOfThem) {
  for (auto name : {"alpha", "beta", "gamma"}) start_writer(name);
  wait_for_writers(3);

  EXPECT_EQ(run_cli({"backup", "--volume", "/data", "--json"}, "backup.json"), 0)
      << read_file(dir_ / "backup.json");

  const auto set = set_of("alpha", "Freeze");
  ASSERT_FALSE(set.empty()) << read_file(writer_log("alpha"));
  for (auto name : {"alpha", "beta", "gamma"}) {
    for (auto event :
         {"PrepareBackup", "PrepareSnapshot", "Freeze", "Thaw", "PostSnapshot", "BackupComplete"}) {
      EXPECT_EQ(set_of(name, event), set) << name << " " << event << "\n"
                                          << read_file(writer_log(name));
    }
    EXPECT_FALSE(saw(name, "Abort")) << read_file(writer_log(name));
  }
  EXPECT_NE(read_file(dir_ / "daemon.log").find("event=8231"), std::string::npos);
}

TEST_F(DaemonProcess, WriterProcessesInOnePlacementGroupAreRegisteredInItAndBackedUp) {
  start_writer("alpha", {"--group", "host-7"});
  start_writer("beta", {"--group", "host-7"});
  start_writer("gamma");
  wait_for_writers(3);
  // The daemon logs each registration just after it counts the writer: wait for all three.
  const auto logged = [&](const std::string& name) {
    return read_file(dir_ / "daemon.log").find("writer '" + name + "' instance") !=
           std::string::npos;
  };
  EXPECT_TRUE(eventually([&] { return logged("alpha") && logged("beta") && logged("gamma"); }))
      << read_file(dir_ / "daemon.log");
  const auto log = read_file(dir_ / "daemon.log");
  const auto registered_in_group = [&](const std::string& name) {
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);) {
      if (line.find("writer '" + name + "' instance") != std::string::npos) {
        return line.find("in placement group 'host-7'") != std::string::npos;
      }
    }
    ADD_FAILURE() << name << " was never registered:\n" << log;
    return false;
  };
  EXPECT_TRUE(registered_in_group("alpha")) << log;
  EXPECT_TRUE(registered_in_group("beta")) << log;
  EXPECT_FALSE(registered_in_group("gamma")) << log;
  // `status` shows each writer's group while it is registered. (The log records waited for
  // above come after the daemon lists the writer, so one read suffices.)
  {
    raw_client c(socket_);
    ASSERT_TRUE(c.connected() && c.hello("requester"));
    const auto reply = c.request("status");
    ASSERT_TRUE(reply && (*reply)["type"] == "reply");
    std::map<std::string, std::string> group_of;
    for (const auto& peer : (*reply)["result"]["peers"]) {
      for (const auto& w : peer.value("writers", nlohmann::json::array())) {
        group_of[w.at("name").get<std::string>()] = w.value("group", std::string("(none)"));
      }
    }
    EXPECT_EQ(group_of, (std::map<std::string, std::string>{
                            {"alpha", "host-7"}, {"beta", "host-7"}, {"gamma", "(none)"}}))
        << reply->dump(2);
  }

  EXPECT_EQ(run_cli({"backup", "--volume", "/data", "--json"}, "backup.json"), 0)
      << read_file(dir_ / "backup.json") << read_file(dir_ / "daemon.log");
  for (auto name : {"alpha", "beta", "gamma"}) {
    EXPECT_TRUE(eventually([&] { return saw(name, "BackupComplete"); }))
        << read_file(writer_log(name));
  }
  // The daemon echoed each group (its 'registered' came before any event on the connection):
  // neither client logged its group as dropped or changed.
  for (auto name : {"alpha", "beta"}) {
    EXPECT_EQ(read_file(writer_log(name)).find("placement group"), std::string::npos)
        << read_file(writer_log(name));
  }
}

TEST_F(DaemonProcess, AWriterNameWithALineBreakCannotForgeALogRecord) {
  // A writer names itself so that, logged as it is, its registration would end one record and
  // write a second of its own making.
  const std::string forged = "2026-01-01T00:00:00.000 critical openvssd[1]: event=8193 forged";
  const std::string name = "forger\n" + forged;
  start_writer(name);
  wait_for_writers(1);
  // The daemon logs the registration just after it counts the writer: wait for the record.
  const auto escaped = "writer 'forger\\n" + forged + "' instance";
  EXPECT_TRUE(eventually([&] {
    return read_file(dir_ / "daemon.log").find(escaped) != std::string::npos;
  })) << "no escaped registration record:\n"
      << read_file(dir_ / "daemon.log");
  const auto log = read_file(dir_ / "daemon.log");
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    EXPECT_NE(line.rfind(forged, 0), 0u) << "a forged record:\n" << log;
  }
}

TEST_F(DaemonProcess, AWriterProcessThatVetoesFreezeFailsTheBackupWithItsCode) {
  start_writer("picky", {"--veto-at", "Freeze"});
  start_writer("easy");
  wait_for_writers(2);

  EXPECT_EQ(run_cli({"backup", "--volume", "/data", "--json"}, "backup.json"), 4)  // 4: veto
      << read_file(dir_ / "backup.json");
  EXPECT_NE(read_file(dir_ / "backup.json").find("VSS_E_WRITERERROR_RETRYABLE"), std::string::npos);
  // The vetoing writer is aborted; the other one gets exactly one end of its freeze.
  EXPECT_TRUE(eventually([&] { return saw("picky", "Abort"); })) << read_file(writer_log("picky"));
  EXPECT_TRUE(eventually([&] { return saw("easy", "Thaw") != saw("easy", "Abort"); }));
  const auto log = read_file(dir_ / "daemon.log");
  EXPECT_NE(log.find("event=8229"), std::string::npos) << log;
}

TEST_F(DaemonProcess, AnInjectedVetoActsAtTheProxyWhileTheRealWriterStillSeesTheEvent) {
  start_writer("alpha");
  start_writer("beta");
  wait_for_writers(2);

  EXPECT_EQ(run_cli({"backup", "--volume", "/data", "--json", "--inject",
                     "writer[\"alpha\"].freeze=veto(retryable)"},
                    "backup.json"),
            4)
      << read_file(dir_ / "backup.json");
  EXPECT_NE(read_file(dir_ / "backup.json").find("injected by the backup's fault plan"),
            std::string::npos);
  EXPECT_TRUE(saw("alpha", "Freeze"));
  EXPECT_TRUE(eventually([&] { return saw("alpha", "Abort"); })) << read_file(writer_log("alpha"));

  // Provider rules cannot be applied to the daemon's providers: refused, nothing started.
  EXPECT_EQ(run_cli({"backup", "--volume", "/data", "--json", "--inject", "provider.commit=hang"},
                    "refused.json"),
            1)
      << read_file(dir_ / "refused.json");
  EXPECT_NE(read_file(dir_ / "refused.json").find("provider rules"), std::string::npos);
}

TEST_F(DaemonProcess, AnAbortFromASecondRequesterProcessThawsTheFrozenWriters) {
  start_writer("slow", {"--freeze-delay-ms", "4000"});
  start_writer("quick");
  wait_for_writers(2);

  auto backup = cli({"backup", "--volume", "/data", "--json"}, "backup.json");
  ASSERT_TRUE(eventually([&] { return saw("quick", "Freeze"); }))
      << read_file(dir_ / "backup.json");
  const auto set = set_of("quick", "Freeze");

  EXPECT_EQ(run_cli({"abort", set}, "abort.out"), 0) << read_file(dir_ / "abort.out");
  EXPECT_EQ(backup.wait(10s), 5) << read_file(dir_ / "backup.json");  // 5: aborted
  EXPECT_TRUE(eventually([&] { return set_of("quick", "Abort") == set; }))
      << read_file(writer_log("quick"));
  EXPECT_FALSE(saw("quick", "Thaw"));
  EXPECT_TRUE(eventually([&] { return set_of("slow", "Abort") == set; }))
      << read_file(writer_log("slow"));
}

// VSS policy (spec §3.4): a writer that fails at Freeze is failed alone; the set goes on for the
// others, who get their Thaw, and the requester fails the backup because a writer failed.
TEST_F(DaemonProcess, KillingAFrozenWriterProcessFailsTheBackupAndLeavesNoWriterFrozen) {
  start_writer("doomed", {"--hang-at", "Freeze"});
  start_writer("survivor");
  wait_for_writers(2);

  auto backup = cli({"backup", "--volume", "/data", "--json"}, "backup.json");
  ASSERT_TRUE(eventually([&] { return saw("doomed", "Freeze") && saw("survivor", "Freeze"); }))
      << read_file(dir_ / "backup.json");
  writers_["doomed"].signal(SIGKILL);

  const auto status = backup.wait(15s);
  ASSERT_TRUE(status.has_value()) << "the backup did not end after its writer died";
  EXPECT_NE(*status, 0) << read_file(dir_ / "backup.json");
  const auto json = read_file(dir_ / "backup.json");
  EXPECT_NE(json.find("VSS_E_WRITER_NOT_RESPONDING"), std::string::npos) << json;
  // Exactly one end of its freeze for the survivor (DESIGN.md invariant 1).
  EXPECT_TRUE(eventually([&] { return saw("survivor", "Thaw") != saw("survivor", "Abort"); }))
      << read_file(writer_log("survivor"));
  EXPECT_NE(read_file(dir_ / "daemon.log").find("event=8301"), std::string::npos);
  EXPECT_TRUE(eventually([&] { return registered_writers() == 1; }));
}

TEST_F(DaemonProcess, KillingTheRequesterMidSnapshotAbortsItsSessionAndThawsTheWriters) {
  start_writer("slow", {"--freeze-delay-ms", "3000"});
  start_writer("quick");
  wait_for_writers(2);

  auto backup = cli({"backup", "--volume", "/data", "--json"}, "backup.json");
  ASSERT_TRUE(eventually([&] { return saw("quick", "Freeze"); }));
  backup.signal(SIGKILL);

  EXPECT_TRUE(eventually([&] { return saw("quick", "Abort"); }, 10s))
      << read_file(writer_log("quick")) << read_file(dir_ / "daemon.log");
  EXPECT_TRUE(eventually([&] { return saw("slow", "Abort"); }, 10s))
      << read_file(writer_log("slow"));
  EXPECT_FALSE(saw("quick", "Thaw"));
  EXPECT_NE(read_file(dir_ / "daemon.log").find("event=8312"), std::string::npos);
}

TEST_F(DaemonProcess, AFrozenWriterThawsItselfWhenTheDaemonDiesAndReportsItOnReconnect) {
  start_writer("leased", {"--freeze-timeout-ms", "800"});
  start_writer("slow", {"--freeze-delay-ms", "30000"});
  wait_for_writers(2);

  auto backup = cli({"backup", "--volume", "/data", "--json"}, "backup.json");
  ASSERT_TRUE(eventually([&] { return saw("leased", "Freeze"); }));
  const auto set = set_of("leased", "Freeze");
  daemon_.signal(SIGKILL);
  ASSERT_TRUE(daemon_.wait(5s).has_value());

  // Nobody can send Thaw or Abort now: the lease must end the freeze within its timeout.
  EXPECT_TRUE(eventually([&] { return set_of("leased", "Abort") == set; }, 5s))
      << read_file(writer_log("leased"));
  EXPECT_FALSE(saw("leased", "Thaw"));

  start_daemon();  // replaces the stale socket file; the writers come back by themselves
  EXPECT_TRUE(eventually([&] { return registered_writers() == 2; }, 10s));
  EXPECT_TRUE(eventually([&] {
    return read_file(dir_ / "daemon.log").find("event=8302") != std::string::npos;
  })) << read_file(dir_ / "daemon.log");
}

TEST_F(DaemonProcess, APeerWhoseUidIsNotAllowedIsRefusedAndTheRefusalIsLogged) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as another uid";
  // World-connectable socket, so that the credential check (not the file mode) refuses.
  daemon_.signal(SIGTERM);
  ASSERT_TRUE(daemon_.wait(5s).has_value());
  write_config("socket_mode = 0666\n");
  start_daemon();
  fs::permissions(dir_, fs::perms::others_exec, fs::perm_options::add);  // reach the socket

  const pid_t child = ::fork();
  if (child == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    raw_client c(socket_);
    auto answer = c.hello("requester");
    const bool refused = answer && (*answer)["type"] == "error" &&
                         (*answer)["code"] == "not_authorized" && c.closed_by_peer();
    ::_exit(refused ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const auto log = read_file(dir_ / "daemon.log");
  EXPECT_NE(log.find("event=8310"), std::string::npos) << log;
  EXPECT_NE(log.find("uid 65534"), std::string::npos) << log;
}

TEST_F(DaemonProcess, MalformedMessagesGetAnErrorAndTheConnectionStaysUsable) {
  raw_client c(socket_);
  ASSERT_TRUE(c.hello("requester"));
  const std::string bad_json = "{not json";
  const auto n = static_cast<char>(bad_json.size());
  ASSERT_TRUE(c.send_bytes(std::string{0, 0, 0, n} + bad_json));
  auto err = c.receive();
  ASSERT_TRUE(err);
  EXPECT_EQ((*err)["code"], "bad_json");
  ASSERT_TRUE(c.send_json({{"type", "no_such_type"}}));
  err = c.receive();
  ASSERT_TRUE(err);
  EXPECT_EQ((*err)["code"], "unknown_type");
  ASSERT_TRUE(c.send_json({{"type", "request"}, {"id", "seven"}, {"op", "status"}}));
  err = c.receive();
  ASSERT_TRUE(err);
  EXPECT_EQ((*err)["code"], "bad_message");
  EXPECT_NE((*err)["message"].get<std::string>().find("id"), std::string::npos);

  auto reply = c.request("status");
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["type"], "reply");
}

TEST_F(DaemonProcess, BrokenFramingClosesOnlyThatConnection) {
  raw_client bystander(socket_);
  ASSERT_TRUE(bystander.hello("requester"));

  {
    raw_client oversized(socket_);
    ASSERT_TRUE(oversized.hello("requester"));
    ASSERT_TRUE(oversized.send_bytes(std::string("\xff\xff\xff\xff", 4) + "xxxx"));
    auto err = oversized.receive();
    ASSERT_TRUE(err);
    EXPECT_EQ((*err)["code"], "oversized_frame");
    EXPECT_TRUE(oversized.closed_by_peer());
  }
  {
    raw_client empty(socket_);
    ASSERT_TRUE(empty.send_bytes(std::string(4, '\0')));
    auto err = empty.receive();
    ASSERT_TRUE(err);
    EXPECT_EQ((*err)["code"], "empty_frame");
    EXPECT_TRUE(empty.closed_by_peer());
  }
  {
    raw_client truncated(socket_);
    ASSERT_TRUE(truncated.send_bytes(std::string{0, 0, 0, 100} + "{\"type\":\"hel"));
  }  // closes mid-frame
  {
    raw_client early(socket_);
    ASSERT_TRUE(early.send_json({{"type", "request"}, {"id", 1}, {"op", "status"}}));
    auto err = early.receive();
    ASSERT_TRUE(err);
    EXPECT_EQ((*err)["code"], "out_of_order");
    EXPECT_TRUE(early.closed_by_peer());
  }

  auto reply = bystander.request("status");
  ASSERT_TRUE(reply) << read_file(dir_ / "daemon.log");
  EXPECT_EQ((*reply)["type"], "reply");
  EXPECT_NE(read_file(dir_ / "daemon.log").find("truncated_frame"), std::string::npos);
}

TEST_F(DaemonProcess, AProtocolVersionMismatchIsRefusedNamingBothVersions) {
  raw_client c(socket_);
  auto answer = c.hello("writer", 2);
  ASSERT_TRUE(answer);
  EXPECT_EQ((*answer)["code"], "version_mismatch");
  const auto text = (*answer)["message"].get<std::string>();
  EXPECT_NE(text.find("1"), std::string::npos);
  EXPECT_NE(text.find("2"), std::string::npos);
  EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(DaemonProcess, TheExecWriterRunsFsfreezeHookScriptsAroundTheSnapshot) {
  const auto hooks = dir_ / "hooks";
  fs::create_directories(hooks);
  const auto hook_log = dir_ / "hook.log";
  {
    std::ofstream script(hooks / "10-log");
    script << "#!/bin/sh\necho \"$1 $OPENVSS_SNAPSHOT_SET\" >> " << hook_log.string() << "\n";
  }
  fs::permissions(hooks / "10-log", fs::perms::owner_all);
  writers_["exec"] = child_process({OPENVSS_EXEC_WRITER_PATH, "--socket", socket_, "--name",
                                    "hooks", "--hook-dir", hooks.string(), "--group", "host-9"},
                                   (dir_ / "exec.out").string());
  wait_for_writers(1);
  EXPECT_NE(read_file(dir_ / "daemon.log").find("in placement group 'host-9'"), std::string::npos)
      << read_file(dir_ / "daemon.log");

  EXPECT_EQ(run_cli({"backup", "--volume", "/data", "--json"}, "backup.json"), 0)
      << read_file(dir_ / "backup.json") << read_file(dir_ / "exec.out");
  const auto log = read_file(hook_log);
  const auto freeze = log.find("freeze ");
  const auto thaw = log.find("thaw ");
  ASSERT_NE(freeze, std::string::npos) << log;
  ASSERT_NE(thaw, std::string::npos) << log;
  EXPECT_LT(freeze, thaw);
}

}  // namespace
