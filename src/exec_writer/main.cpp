// openvss-exec-writer — a writer process that runs commands per event (docs/exec-writer.md),
// connected to openvssd with the writer client. Existing fsfreeze-hook.d scripts work as they
// are: `--hook-dir /etc/fsfreeze-hook.d`.

#include <CLI/CLI.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <cstdlib>
#include <iostream>

#include "exec_writer/exec_writer.hpp"
#include "vss/ipc/writer_client.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "openvss-exec-writer — a VSS-style writer that runs a command per event, served by "
      "openvssd"};
  const char* env_socket = std::getenv("OPENVSS_SOCKET");
  std::string socket_path = env_socket ? env_socket : "/run/openvss/openvss.sock";
  std::string config_path, name, group;
  std::vector<std::string> hook_dirs;
  std::map<std::string, std::string> commands;
  int timeout_ms = 0, freeze_timeout_ms = 0;
  bool check = false, verbose = false;
  app.add_option("-s,--socket", socket_path, "the daemon's socket ($OPENVSS_SOCKET)");
  app.add_option("-c,--config", config_path, "writer file (docs/exec-writer.md)");
  app.add_option("-n,--name", name, "writer name (without --config)");
  for (const char* event : {"identify", "prepare_backup", "prepare_snapshot", "freeze", "thaw",
                            "post_snapshot", "abort", "backup_complete", "backup_shutdown"}) {
    app.add_option(std::string("--") + event, commands[event],
                   std::string("command line to run at ") + event);
  }
  app.add_option("--hook-dir", hook_dirs,
                 "fsfreeze-hook.d style directory: each executable runs with 'freeze' / 'thaw'");
  app.add_option("--group", group,
                 "placement group on the daemon's engine: writers of one group share a shard "
                 "(vss::writer_placement; default none)");
  app.add_option("--timeout-ms", timeout_ms, "time limit of each command (default 30000)");
  app.add_option("--freeze-timeout-ms", freeze_timeout_ms,
                 "the writer's freeze timeout: longest time frozen (default 60000)");
  app.add_flag("--check", check, "validate the configuration, print it, and exit");
  app.add_flag("-v,--verbose", verbose, "log connection events to stderr");
  app.footer(
      "Command exit status: 0 success; 75 (EX_TEMPFAIL) veto, retryable; 69 (EX_UNAVAILABLE) "
      "out of resources; 65 (EX_DATAERR) inconsistent snapshot; anything else, a signal or a "
      "timeout: non-retryable veto (a timeout at freeze: VSS_E_WRITERERROR_TIMEOUT).\n"
      "Program exit status: 0 after SIGTERM/SIGINT; 1 bad command line or configuration.");
  CLI11_PARSE(app, argc, argv);

  vss::exec::exec_writer_config config;
  try {
    if (!config_path.empty()) {
      config = vss::exec::config_from_file(config_path);
    } else {
      if (name.empty()) {
        std::cerr << "openvss-exec-writer: give --config FILE or --name NAME (see --help)\n";
        return 1;
      }
      config.identity.name = name;
    }
    for (const auto& [event, line] : commands) {
      if (line.empty()) continue;
      auto e = vss::exec::parse_event_key(event);
      auto argv_of = vss::exec::split_command_line(line);
      if (!e || argv_of.empty()) {
        std::cerr << "openvss-exec-writer: --" << event << ": empty command\n";
        return 1;
      }
      config.commands[*e] = std::move(argv_of);
    }
  } catch (const std::exception& e) {
    std::cerr << "openvss-exec-writer: " << e.what() << "\n";
    return 1;
  }
  for (auto& dir : hook_dirs) config.hook_dirs.push_back(dir);
  if (timeout_ms > 0) config.timeout = std::chrono::milliseconds(timeout_ms);
  if (freeze_timeout_ms > 0) {
    config.identity.freeze_timeout = std::chrono::milliseconds(freeze_timeout_ms);
  }
  config.identity.execution = vss::handler_execution::blocking;  // commands block
  // One the daemon would refuse leaves the writer unregistered: say so now.
  if (!vss::ipc::is_valid_group(group)) {
    std::cerr << "openvss-exec-writer: --group: must be " << vss::ipc::group_rule << "\n";
    return 1;
  }
  if (check) {
    std::cout << "writer '" << config.identity.name << "': " << config.commands.size()
              << " event command(s), " << config.hook_dirs.size() << " hook dir(s), freeze timeout "
              << config.identity.freeze_timeout.count() << " ms"
              << (group.empty() ? "" : ", placement group '" + group + "'") << "\n";
    return 0;
  }

  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  vss::ipc::writer_client client(io.get_executor(),
                                 {.socket_path = socket_path,
                                  .client_name = "openvss-exec-writer " + config.identity.name,
                                  .log = [verbose](std::string_view line) {
                                    if (verbose)
                                      std::cerr << "openvss-exec-writer: " << line << "\n";
                                  }});
  client.add_writer(std::make_shared<vss::exec::exec_writer>(std::move(config)), {.group = group});
  client.start();
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code, int) {
    client.stop();  // a writer still frozen runs its thaw now
    guard.reset();
  });
  io.run();
  return 0;
}
