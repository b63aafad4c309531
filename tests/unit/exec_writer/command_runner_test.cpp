// run_command: exit statuses, output capture and its cap, timeouts that kill the whole process
// group, missing programs, the environment, and concurrent use.

#include "exec_writer/command_runner.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace vss::exec {
namespace {

using namespace std::chrono_literals;

const std::string sh = "/bin/sh";

command_result shell(const std::string& script, std::chrono::milliseconds timeout = 10s,
                     const run_options& options = {}) {
  return run_command({sh, "-c", script}, timeout, options);
}

// A process that ended but was not reaped yet by its (new) parent is a zombie: it runs no more.
// Orphans are reparented to PID 1, which in a container may reap late or never.
bool is_running(pid_t pid) {
  if (::kill(pid, 0) != 0) return errno != ESRCH;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 >= text.size()) return false;
  return text[paren + 2] != 'Z' && text[paren + 2] != 'X';
}

bool gone_within(pid_t pid, std::chrono::milliseconds bound) {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (is_running(pid)) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

TEST(RunCommand, ReportsTheExitStatusOfTheProgram) {
  EXPECT_EQ(run_command({"true"}, 10s).exit_code, 0);
  EXPECT_EQ(run_command({"false"}, 10s).exit_code, 1);
  const auto r = shell("exit 75");
  EXPECT_EQ(r.exit_code, 75);
  EXPECT_EQ(r.signal, 0);
  EXPECT_FALSE(r.timed_out);
}

TEST(RunCommand, PassesArgumentsVerbatimWithoutAShell) {
  const auto r = run_command({"printf", "%s|", "a b", "$HOME", "*", "'q'"}, 10s);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "a b|$HOME|*|'q'|");
}

TEST(RunCommand, CapturesStdoutAndStderrInTheOrderWritten) {
  const auto r = shell("echo one; echo two >&2; echo three; echo four >&2");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "one\ntwo\nthree\nfour\n");
}

TEST(RunCommand, ReportsTheSignalThatKilledTheProgram) {
  const auto r = shell("kill -KILL $$");
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_FALSE(r.timed_out);
}

TEST(RunCommand, KeepsTheHeadAndTailOfLongOutputWithACutMarker) {
  run_options o;
  o.max_output = 100;
  // 10,000 bytes: 'a' * 5000 then 'b' * 5000.
  const auto r =
      shell("head -c 5000 /dev/zero | tr '\\0' a; head -c 5000 /dev/zero | tr '\\0' b", 10s, o);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, std::string(50, 'a') + "\n[... 9900 bytes cut]\n" + std::string(50, 'b'));
}

TEST(RunCommand, KeepsOutputThatFitsTheCapWhole) {
  run_options o;
  o.max_output = 6;
  EXPECT_EQ(shell("printf 123456", 10s, o).output, "123456");
  EXPECT_EQ(shell("printf 1234567", 10s, o).output, "123\n[... 1 bytes cut]\n567");
}

TEST(RunCommand, TimeoutKillsTheCommandAndItsGrandchildren) {
  // The shell starts a background sleep (a grandchild of the runner), prints its pid and waits.
  const auto before = std::chrono::steady_clock::now();
  const auto r = shell("sleep 60 & echo $!; sleep 60", 300ms);
  const auto took = std::chrono::steady_clock::now() - before;
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.signal, SIGTERM);
  EXPECT_LT(took, 5s);
  EXPECT_GE(r.duration, 300ms);
  std::istringstream in(r.output);
  pid_t grandchild = 0;
  ASSERT_TRUE(in >> grandchild) << r.output;
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(gone_within(grandchild, 2s)) << "grandchild " << grandchild << " still runs";
}

TEST(RunCommand, TimeoutEscalatesToSigkillWhenSigtermIsIgnored) {
  const auto before = std::chrono::steady_clock::now();
  const auto r = shell("trap '' TERM; echo ready; while :; do sleep 0.05; done", 200ms);
  const auto took = std::chrono::steady_clock::now() - before;
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_GE(took, 200ms + kill_grace);
  EXPECT_LT(took, 5s);
  EXPECT_EQ(r.output, "ready\n");
}

TEST(RunCommand, WaitsForABackgroundProcessThatHoldsTheOutputOpen) {
  // The shell exits at once, but its background child keeps the pipe until the timeout.
  const auto r = shell("sleep 60 & echo $!", 300ms);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0);  // the shell itself exited normally before the timeout
  std::istringstream in(r.output);
  pid_t background = 0;
  ASSERT_TRUE(in >> background) << r.output;
  EXPECT_TRUE(gone_within(background, 2s));
}

TEST(RunCommand, DoesNotWaitForABackgroundProcessWithItsOutputRedirected) {
  const auto r = shell("sleep 1 >/dev/null 2>&1 & echo started", 5s);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_LT(r.duration, 900ms);
}

TEST(RunCommand, AMissingProgramExitsWith127AndIsNamed) {
  const auto r = run_command({"openvss-no-such-program-xyz", "arg"}, 10s);
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_EQ(r.signal, 0);
  EXPECT_NE(r.output.find("openvss-no-such-program-xyz"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("No such file"), std::string::npos) << r.output;

  const auto abs = run_command({"/nonexistent/dir/tool"}, 10s);
  EXPECT_EQ(abs.exit_code, 127);
  EXPECT_NE(abs.output.find("/nonexistent/dir/tool"), std::string::npos) << abs.output;
}

TEST(RunCommand, AFileThatIsNotExecutableExitsWith126) {
  char dir_template[] = "/tmp/openvss-runner-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string file = std::string(dir_template) + "/plain";
  std::ofstream(file) << "#!/bin/sh\necho hi\n";
  const auto r = run_command({file}, 10s);
  EXPECT_EQ(r.exit_code, 126);
  EXPECT_NE(r.output.find(file), std::string::npos) << r.output;
  ::unlink(file.c_str());
  ::rmdir(dir_template);
}

TEST(RunCommand, AddsAndReplacesEnvironmentVariables) {
  ASSERT_EQ(::setenv("OPENVSS_RUNNER_TEST_VAR", "old", 1), 0);
  run_options o;
  o.env = {"OPENVSS_RUNNER_TEST_VAR=new", "OPENVSS_OTHER=a b=c", "NOT_AN_ASSIGNMENT"};
  const auto r =
      shell("printf '%s|%s|%s' \"$OPENVSS_RUNNER_TEST_VAR\" \"$OPENVSS_OTHER\" \"$HOME\"", 10s, o);
  ::unsetenv("OPENVSS_RUNNER_TEST_VAR");
  EXPECT_EQ(r.exit_code, 0);
  const char* home = std::getenv("HOME");
  EXPECT_EQ(r.output, "new|a b=c|" + std::string(home != nullptr ? home : ""));
}

TEST(RunCommand, RunsInTheWorkingDirectory) {
  run_options o;
  o.working_dir = "/proc";
  EXPECT_EQ(run_command({"pwd"}, 10s, o).output, "/proc\n");
  o.working_dir = "/nonexistent-openvss-dir";
  const auto r = run_command({"pwd"}, 10s, o);
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_NE(r.output.find("/nonexistent-openvss-dir"), std::string::npos) << r.output;
}

TEST(RunCommand, StdinIsEmptyAndNoDescriptorLeaksIntoTheCommand) {
  // A descriptor opened without O_CLOEXEC, as careless code elsewhere in a process might.
  const int leaked = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(leaked, 3);
  // A single command, not a pipeline: while the shell sets a pipeline up it holds the pipes'
  // descriptors itself, and an `ls` started early lists them (a CI run under ASan saw
  // "0 1 2 3 4 5"). ls sorts the names, one per line when its output is not a terminal.
  const auto r = shell("cat; ls /proc/$$/fd");
  ::close(leaked);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "0\n1\n2\n");
}

TEST(RunCommand, TheCommandLeadsItsOwnProcessGroup) {
  const auto r = shell("printf '%s %s' \"$(cut -d' ' -f5 /proc/$$/stat)\" $$");
  ASSERT_EQ(r.exit_code, 0);
  std::istringstream in(r.output);
  pid_t pgid = 0;
  pid_t pid = 0;
  ASSERT_TRUE(in >> pgid >> pid) << r.output;
  EXPECT_EQ(pgid, pid);
  EXPECT_NE(pgid, ::getpgrp());
}

TEST(RunCommand, IgnoredAndBlockedSignalsAreNotPassedOn) {
  // A shell cannot undo a signal ignored on entry: `kill -PIPE $$` would be a no-op.
  struct sigaction ignore {};
  struct sigaction old {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, &old), 0);
  const auto piped = shell("kill -PIPE $$; echo survived");
  ::sigaction(SIGPIPE, &old, nullptr);
  EXPECT_EQ(piped.signal, SIGPIPE) << piped.output;

  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGUSR1);
  sigset_t old_mask;
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &term, &old_mask), 0);
  const auto usr1 = shell("kill -USR1 $$; echo survived");
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  EXPECT_EQ(usr1.signal, SIGUSR1) << usr1.output;
}

TEST(RunCommand, RejectsAnEmptyArgvAndANonPositiveTimeout) {
  EXPECT_THROW(run_command({}, 1s), std::invalid_argument);
  EXPECT_THROW(run_command({"true"}, 0ms), std::invalid_argument);
}

TEST(RunCommand, RunsConcurrentlyOnSeveralThreads) {
  std::vector<std::future<command_result>> runs;
  for (int i = 0; i < 8; ++i) {
    runs.push_back(std::async(std::launch::async, [i] {
      return shell("sleep 0.2; echo " + std::to_string(i) + "; exit " + std::to_string(i), 10s);
    }));
  }
  const auto before = std::chrono::steady_clock::now();
  for (int i = 0; i < 8; ++i) {
    const auto r = runs[static_cast<std::size_t>(i)].get();
    EXPECT_EQ(r.exit_code, i);
    EXPECT_EQ(r.output, std::to_string(i) + "\n");
  }
  // Eight 200 ms sleeps in parallel, not in sequence.
  EXPECT_LT(std::chrono::steady_clock::now() - before, 1500ms);
}

TEST(CapOutput, KeepsShortTextAndCutsTheMiddleOfLongText) {
  EXPECT_EQ(cap_output("hello", 5), "hello");
  EXPECT_EQ(cap_output("hello world", 4), "he\n[... 7 bytes cut]\nld");
  EXPECT_EQ(cap_output("abc", 0), "\n[... 3 bytes cut]\n");
}

}  // namespace
}  // namespace vss::exec
