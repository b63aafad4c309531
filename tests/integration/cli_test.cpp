// The `openvss` binary in embedded mode (no daemon): exit codes, --json documents and the
// plain progress lines, for the main subcommands. Each run is bounded (kBound); its outcome does
// not depend on timing. The binary's path comes from the OPENVSS_CLI_PATH compile definition.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#ifndef OPENVSS_CLI_PATH
#error "define OPENVSS_CLI_PATH as the path of the built openvss binary"
#endif

namespace {

using json = nlohmann::json;

constexpr auto kBound = std::chrono::seconds(30);

struct run_result {
  int exit_code = -1;  // -1: did not exit within kBound (killed) or did not start
  std::string out;
  std::string err;

  // stdout as one JSON document (null if it is not one).
  json doc() const { return json::parse(out, nullptr, false); }
};

// Runs the CLI with `args`, without $OPENVSS_SOCKET (embedded mode), capturing its output.
run_result run(const std::vector<std::string>& args) {
  run_result r;
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) return r;
  const pid_t pid = fork();
  if (pid == 0) {
    unsetenv("OPENVSS_SOCKET");
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    std::vector<char*> argv;
    std::string path = OPENVSS_CLI_PATH;
    argv.push_back(path.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(path.c_str(), argv.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  const auto deadline = std::chrono::steady_clock::now() + kBound;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  bool killed = false;
  while (open_fds > 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      killed = true;
      break;
    }
    if (poll(fds, 2, 100) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP)) == 0) continue;
      char buf[4096];
      const auto n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!killed && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  return r;
}

std::string describe(const run_result& r) {
  return "exit " + std::to_string(r.exit_code) + "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

TEST(OpenvssCli, BackupSucceedsWithExitCodeZeroAndAJsonResult) {
  const auto r = run({"--json", "backup", "-v", "/data", "-v", "/logs"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const auto doc = r.doc();
  ASSERT_TRUE(doc.is_object()) << describe(r);
  EXPECT_EQ(doc["ok"], true);
  EXPECT_EQ(doc["op"], "backup");
  const auto& result = doc["result"];
  ASSERT_EQ(result["snapshots"].size(), 2u) << describe(r);
  EXPECT_EQ(result["snapshots"][0]["volume"], "/data");
  EXPECT_EQ(result["snapshots"][1]["volume"], "/logs");
  EXPECT_EQ(result["consistency"], "application");
  EXPECT_EQ(result["hresult"], "S_OK");
  ASSERT_EQ(result["writers"].size(), 3u);
  for (const auto& w : result["writers"]) EXPECT_EQ(w["state_name"], "VSS_WS_STABLE");
}

TEST(OpenvssCli, JsonModeWritesTheProgressFramesAsJsonLinesOnStderr) {
  const auto r = run({"--json", "backup", "-v", "/data"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  std::size_t lines = 0;
  bool saw_freeze = false;
  std::size_t from = 0;
  while (from < r.err.size()) {
    const auto end = r.err.find('\n', from);
    const auto line = r.err.substr(from, end - from);
    from = end == std::string::npos ? r.err.size() : end + 1;
    const auto frame = json::parse(line, nullptr, false);
    ASSERT_TRUE(frame.is_object()) << line;
    EXPECT_EQ(frame["type"], "progress");
    saw_freeze = saw_freeze || frame.value("event", "") == "Freeze";
    ++lines;
  }
  EXPECT_GT(lines, 10u);
  EXPECT_TRUE(saw_freeze) << r.err;
}

TEST(OpenvssCli, AVetoedBackupExitsFourWithTheWritersCode) {
  const auto r =
      run({"--json", "backup", "-v", "/data", "--inject", "writer[1].freeze=veto(retryable)"});
  ASSERT_EQ(r.exit_code, 4) << describe(r);
  const auto doc = r.doc();
  EXPECT_EQ(doc["ok"], false);
  EXPECT_EQ(doc["exit_code"], 4);
  EXPECT_EQ(doc["error"]["hresult"], "VSS_E_WRITERERROR_RETRYABLE");
  EXPECT_NE(doc["error"]["message"].get<std::string>().find("writer-1"), std::string::npos);
  EXPECT_TRUE(doc["result"]["snapshots"].empty());
}

TEST(OpenvssCli, AnAbortedBackupExitsFive) {
  const auto r = run({"--json", "backup", "-v", "/data", "--abort-after", "freeze"});
  ASSERT_EQ(r.exit_code, 5) << describe(r);
  const auto doc = r.doc();
  EXPECT_EQ(doc["error"]["hresult"], "VSS_S_ASYNC_CANCELLED");
  EXPECT_EQ(doc["result"]["abort"]["fired"], true);
  EXPECT_EQ(doc["result"]["abort"]["reason"], "abort_after freeze");
  EXPECT_TRUE(doc["result"]["snapshots"].empty());
}

TEST(OpenvssCli, AProviderVetoExitsSix) {
  const auto r = run(
      {"--json", "backup", "-v", "/data", "--inject", "provider.commit=veto(VSS_E_PROVIDER_VETO)"});
  ASSERT_EQ(r.exit_code, 6) << describe(r);
  EXPECT_EQ(r.doc()["error"]["hresult"], "VSS_E_PROVIDER_VETO");
}

TEST(OpenvssCli, ATimeoutExitsSeven) {
  const auto r =
      run({"--timeout", "0.2", "backup", "-v", "/data", "--inject", "writer[0].freeze=hang"});
  EXPECT_EQ(r.exit_code, 7) << describe(r);
}

TEST(OpenvssCli, AbortOfAnUnknownSetExitsEight) {
  const auto r = run({"abort", "{5d0c2f4e-0000-4000-8000-000000000001}"});
  EXPECT_EQ(r.exit_code, 8) << describe(r);
  EXPECT_NE(r.err.find("VSS_E_OBJECT_NOT_FOUND"), std::string::npos) << describe(r);
}

TEST(OpenvssCli, AnUnreachableDaemonExitsTwo) {
  const auto r = run({"--socket", "/nonexistent/openvss.sock", "status"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
}

TEST(OpenvssCli, BadUsageExitsOne) {
  EXPECT_EQ(run({"backup"}).exit_code, 1);  // no --volume
  EXPECT_EQ(run({"frobnicate"}).exit_code, 1);
  EXPECT_EQ(run({}).exit_code, 1);
  EXPECT_EQ(run({"delete"}).exit_code, 1);  // neither SNAPSHOT_ID nor --set
  EXPECT_EQ(run({"--demo-writers", "many", "writers"}).exit_code, 1);

  const auto bad_plan =
      run({"--json", "backup", "-v", "/data", "--inject", "writer[3].freeze=hangg"});
  ASSERT_EQ(bad_plan.exit_code, 1) << describe(bad_plan);
  EXPECT_EQ(bad_plan.doc()["error"]["code"], "bad_message");
  EXPECT_NE(bad_plan.doc()["error"]["message"].get<std::string>().find("column 17"),
            std::string::npos)
      << describe(bad_plan);

  const auto bad_phase = run({"--json", "backup", "-v", "/data", "--abort-after", "soon"});
  ASSERT_EQ(bad_phase.exit_code, 1) << describe(bad_phase);
  EXPECT_NE(bad_phase.doc()["error"]["message"].get<std::string>().find("abort_after"),
            std::string::npos);

  EXPECT_EQ(run({"--help"}).exit_code, 0);
}

TEST(OpenvssCli, WritersListsTheDemoWritersAsStable) {
  const auto r = run({"--json", "--demo-writers", "5", "writers"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const auto doc = r.doc();
  const auto& writers = doc["result"]["writers"];
  ASSERT_EQ(writers.size(), 5u) << describe(r);
  for (const auto& w : writers) {
    EXPECT_EQ(w["state"], 1);
    EXPECT_EQ(w["state_text"], "Stable");
  }
}

TEST(OpenvssCli, WithoutATerminalTheProgressIsPlainLinesAndTheResultATable) {
  const auto r = run({"backup", "-v", "/data"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("DoSnapshotSet started"), std::string::npos) << describe(r);
  EXPECT_NE(r.out.find("writer-2 received Freeze"), std::string::npos) << describe(r);
  EXPECT_NE(r.out.find("application-consistent"), std::string::npos) << describe(r);
  EXPECT_NE(r.out.find("[1] Stable"), std::string::npos) << describe(r);
  EXPECT_EQ(r.out.find('\033'), std::string::npos) << "no terminal escapes in a pipe";
}

TEST(OpenvssCli, BenchAbortReportsTheAbortLatencyDistribution) {
  const auto r = run({"--json", "bench-abort", "--count", "5", "--phase", "freeze"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const auto doc = r.doc();
  const auto& result = doc["result"];
  EXPECT_EQ(result["count"], 5);
  EXPECT_EQ(result["aborted"], 5);
  EXPECT_EQ(result["writers"], 3);
  const auto& us = result["abort_us"];
  EXPECT_LE(us["min"].get<std::int64_t>(), us["p50"].get<std::int64_t>());
  EXPECT_LE(us["p50"].get<std::int64_t>(), us["p99"].get<std::int64_t>());
  EXPECT_LE(us["p99"].get<std::int64_t>(), us["max"].get<std::int64_t>());
  EXPECT_EQ(result["samples_us"].size(), 5u);

  const auto none = run({"--json", "--demo-writers", "0", "bench-abort", "--count", "2"});
  EXPECT_EQ(none.exit_code, 9) << describe(none);
  EXPECT_EQ(none.doc()["ok"], false);
}

}  // namespace
