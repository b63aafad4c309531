// openvss — the vshadow/vssadmin-style command line of openvss: run a backup, list writers and
// their states, list/delete snapshots, abort a running backup, benchmark abort latency.
//
// It talks to openvssd over --socket PATH (or $OPENVSS_SOCKET); without either it runs an
// embedded engine with demo writers (embedded_channel.hpp). Usage and exit codes: --help.

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "cli/cli_output.hpp"
#include "cli/commands.hpp"
#include "cli/embedded_channel.hpp"
#include "cli/exit_codes.hpp"
#include "cli/requester_channel.hpp"

namespace {

using json = nlohmann::json;
using namespace vss::cli;

std::atomic<bool> stop_requested{false};

extern "C" void on_stop_signal(int) { stop_requested.store(true); }

// Ctrl-C and SIGTERM end the wait for the current request: the connection is dropped, which
// makes the service abort the backup this process started (exit code 5).
void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

constexpr const char* description =
    "openvss: run and inspect openvss backups (the vshadow / vssadmin of openvss).\n"
    "\n"
    "Talks to openvssd over --socket PATH or $OPENVSS_SOCKET. Without either it runs an\n"
    "embedded engine in this process: a memory provider and --demo-writers fake writers\n"
    "(writer-0, writer-1, ...) that obey the fault plan of backup --inject; nothing it\n"
    "creates outlives the process.\n";

std::string footer() {
  return "Output: tables on stdout, errors on stderr; backup progress on stdout, redrawn in\n"
         "place per phase and writer on a terminal, plain lines otherwise. With --json: one\n"
         "JSON document on stdout ({\"ok\":true,\"op\",\"result\"} or {\"ok\":false,\"op\",\n"
         "\"exit_code\",\"error\":{code,hresult,message},\"result\"?}) and the progress frames\n"
         "as JSON lines on stderr (drop them with 2>/dev/null). Without --json, text from\n"
         "peers (writer names, messages) is shown escaped as in openvssd's log: \\n, \\xNN,\n"
         "\\uNNNN (docs/daemon.md, Logs).\n"
         "\n"
         "Fault plans (--inject), e.g. \"writer[1].freeze=veto(retryable)\",\n"
         "\"writer[last].prepare_snapshot=delay(2s); provider.commit=veto(VSS_E_PROVIDER_VETO)\",\n"
         "\"abort@thaw+5ms\": see vss/mocks/fault_plan.hpp.\n"
         "\n" +
         exit_code_help();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{description, "openvss"};
  app.footer(footer());
  app.require_subcommand(1);
  app.fallthrough();

  std::string socket;
  bool json_output = false;
  std::size_t demo_writers = 3;
  double timeout_s = 0;
  app.add_option("--socket", socket, "Talk to openvssd at PATH (default: embedded mode)")
      ->envname("OPENVSS_SOCKET")
      ->type_name("PATH");
  app.add_flag("--json", json_output, "Machine-readable output (see below)");
  app.add_option("--demo-writers", demo_writers,
                 "Embedded mode: number of fake writers (default 3)")
      ->check(CLI::Range(0, 100000))
      ->type_name("N");
  app.add_option("--timeout", timeout_s,
                 "Give up waiting for a request after SECONDS and abort it (exit code 7)")
      ->check(CLI::PositiveNumber)
      ->type_name("SECONDS");

  auto* writers = app.add_subcommand(
      "writers", "List the writers and their states (Identify + GatherWriterStatus)");

  backup_options b;
  std::string provider;
  std::string inject;
  std::string abort_after;
  auto* backup = app.add_subcommand("backup", "Run a backup: create a snapshot set of VOLUMEs");
  backup->add_option("-v,--volume", b.volumes, "Volume to snapshot (repeatable)")
      ->required()
      ->type_name("VOLUME");
  backup
      ->add_option("--writer", b.writers,
                   "Include only this writer, by name or instance id (repeatable; component "
                   "mode)")
      ->type_name("WRITER");
  backup
      ->add_option("--component", b.components,
                   "Select only this component, by name or logical_path\\name (repeatable)")
      ->type_name("COMPONENT");
  backup->add_option("--provider", provider, "Provider id or name (default: automatic)")
      ->type_name("PROVIDER");
  backup->add_flag("--persistent", b.persistent,
                   "Keep the snapshots (VSS_CTX_APP_ROLLBACK); default: auto-release, deleted "
                   "when this requester disconnects");
  backup->add_option("--inject", inject, "Fault plan to inject (see below)")->type_name("PLAN");
  backup
      ->add_option("--abort-after", abort_after,
                   "Abort after DURATION (250ms, 2s) or at PHASE: identify, prepare_backup, "
                   "prepare_snapshot, freeze, thaw, post_snapshot, backup_complete, "
                   "do_snapshot_set")
      ->type_name("DURATION|PHASE");

  std::string snapshots_set;
  auto* snapshots = app.add_subcommand("snapshots", "List snapshots (Query, every context)");
  snapshots->add_option("--set", snapshots_set, "Only the snapshots of this set")
      ->type_name("SET_ID");

  std::string delete_snapshot;
  std::string delete_set;
  auto* del = app.add_subcommand("delete", "Delete a snapshot, or every snapshot of a set");
  del->add_option("snapshot", delete_snapshot, "Snapshot to delete")->type_name("SNAPSHOT_ID");
  del->add_option("--set", delete_set, "Delete every snapshot of this set")->type_name("SET_ID");

  std::string abort_set;
  auto* abort = app.add_subcommand("abort", "Abort a running backup (AbortBackup), by set id");
  abort->add_option("set", abort_set, "Snapshot set of the backup")
      ->required()
      ->type_name("SET_ID");

  auto* status = app.add_subcommand("status", "Show the service: providers, running backups");

  bench_options bench;
  auto* bench_abort = app.add_subcommand(
      "bench-abort",
      "Abort-latency benchmark against the registered writers: COUNT backups, each aborted at "
      "PHASE; p50/p99/max of the AbortBackup call's latency");
  bench_abort->add_option("--count", bench.count, "Backups to run (default 100)")
      ->check(CLI::Range(1, 1000000))
      ->type_name("COUNT");
  bench_abort
      ->add_option("--phase", bench.phase,
                   "Where to abort, as backup --abort-after (default freeze)")
      ->type_name("PHASE");
  bench_abort->add_option("-v,--volume", bench.volumes, "Volume(s) of each backup (default /data)")
      ->type_name("VOLUME");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : to_int(exit_code::usage);
  }
  if (del->parsed() && delete_snapshot.empty() == delete_set.empty()) {
    std::cerr << "openvss delete: give a SNAPSHOT_ID or --set SET_ID (one of them)\n"
              << "Run with --help for more information.\n";
    return to_int(exit_code::usage);
  }
  if (!provider.empty()) b.provider = provider;
  if (backup->count("--inject") > 0) b.inject = inject;
  if (!abort_after.empty()) b.abort_after = abort_after;

  const bool terminal = ::isatty(STDOUT_FILENO) == 1;
  output_style style;
  style.json = json_output;
  style.live = terminal && !json_output;
  style.color = style.live && std::getenv("NO_COLOR") == nullptr;

  std::string op = app.get_subcommands().front()->get_name();
  install_stop_handlers();
  wait_limits limits;
  limits.stop = &stop_requested;
  if (timeout_s > 0) {
    limits.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout_s * 1000));
  }
  try {
    std::unique_ptr<requester_channel> channel;
    if (!socket.empty()) {
      channel = std::make_unique<socket_channel>(socket, limits);
    } else {
      channel = std::make_unique<embedded_channel>(demo_writers, limits);
    }
    if (writers->parsed()) return run_op(*channel, "writers", json::object(), style);
    if (status->parsed()) return run_op(*channel, "status", json::object(), style);
    if (snapshots->parsed()) {
      json args = json::object();
      if (!snapshots_set.empty()) args["set"] = snapshots_set;
      return run_op(*channel, "snapshots", args, style);
    }
    if (del->parsed()) {
      return run_op(
          *channel, "delete",
          delete_set.empty() ? json{{"snapshot", delete_snapshot}} : json{{"set", delete_set}},
          style);
    }
    if (abort->parsed()) return run_op(*channel, "abort", {{"set", abort_set}}, style);
    if (backup->parsed()) return run_backup(*channel, b, style);
    if (bench_abort->parsed()) return run_bench_abort(*channel, bench, style);
  } catch (const cli_error& e) {
    return print_failure(op, e, style, std::cout, std::cerr);
  } catch (const std::exception& e) {
    return print_failure(op, cli_error(exit_code::vss_error, e.what()), style, std::cout,
                         std::cerr);
  }
  return to_int(exit_code::usage);
}
