// openvssd — the openvss coordinator service: hosts one engine and serves writers and
// requesters on a Unix socket (docs/daemon.md).

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <asio/signal_set.hpp>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <future>
#include <iostream>
#include <string>
#include <vector>

#include "daemon/config.hpp"
#include "daemon/durable_state.hpp"
#include "daemon/log_text.hpp"
#include "daemon/provider_setup.hpp"
#include "daemon/server.hpp"
#include "vss/engine_host.hpp"
#include "vss/write_hold.hpp"

namespace {

constexpr const char* default_config_path = "/etc/openvss/openvssd.conf";

std::shared_ptr<spdlog::logger> make_logger(const vss::daemon::daemon_config& config) {
  std::shared_ptr<spdlog::logger> log;
  if (config.log_file.empty()) {
    log = spdlog::stderr_color_mt("openvssd");
  } else {
    log = spdlog::basic_logger_mt("openvssd", config.log_file);
  }
  // One line per record, key=value fields in the message (event=NNNN ...) for grep and journald;
  // the message escaped (%q), so that a peer's text cannot break a record in two.
  log->set_formatter(
      vss::daemon::make_log_formatter("%Y-%m-%dT%H:%M:%S.%e %^%l%$ openvssd[%P]: %q"));
  log->set_level(static_cast<spdlog::level::level_enum>(config.log_level));
  log->flush_on(spdlog::level::info);
  return log;
}

// systemd socket activation: LISTEN_PID is us and LISTEN_FDS is 1 → the socket is fd 3.
int inherited_socket() {
  const char* pid = std::getenv("LISTEN_PID");
  const char* fds = std::getenv("LISTEN_FDS");
  if (!pid || !fds || std::atoi(pid) != ::getpid() || std::atoi(fds) < 1) return -1;
  return 3;
}

// The io threads' hook (host_options::on_handler_exception): a handler that threw is a bug, but
// ending the daemon for it would end every backup in flight and leave their filesystems frozen
// until the next start's recovery. The record says what was thrown; the thread runs on. The
// hook must not throw: a log call that fails (out of memory, most likely here) is dropped.
std::function<void(std::exception_ptr)> log_handler_exceptions(
    std::shared_ptr<spdlog::logger> log) {
  return [log = std::move(log)](std::exception_ptr e) {
    try {
      log->error("event=8193 a handler on an io thread threw: {}; the thread runs on",
                 vss::daemon::describe_exception(e));
    } catch (...) {
    }
  };
}

// ", pinned to CPUs 0, 1" for the ready line; "" when no io thread is pinned, and a thread the
// system refused to pin shows as "-" (host_options::pin_io_threads is best effort).
std::string describe_pinning(const std::vector<int>& cpus) {
  if (std::none_of(cpus.begin(), cpus.end(), [](int c) { return c >= 0; })) return {};
  std::string text = ", pinned to CPUs ";
  for (std::size_t i = 0; i < cpus.size(); ++i) {
    if (i > 0) text += ", ";
    text += cpus[i] >= 0 ? std::to_string(cpus[i]) : "-";
  }
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"openvssd — the openvss backup coordination service (VSS semantics for Linux)"};
  std::string config_path;
  std::string socket_override;
  bool print_config = false;
  bool check_config = false;
  app.add_option("-c,--config", config_path,
                 std::string("configuration file (default: ") + default_config_path +
                     " if it exists, else built-in defaults)");
  app.add_option("-s,--socket", socket_override, "listen on this socket path instead");
  app.add_flag("--print-config", print_config, "print the effective configuration and exit");
  app.add_flag("--check-config", check_config, "validate the configuration and exit");
  app.footer(
      "Exit status: 0 after a clean shutdown (SIGTERM/SIGINT); 1 for a bad command line or "
      "configuration; 2 when the socket cannot be created; 3 when the state directory or its "
      "snapshot catalog cannot be used (damaged, foreign, not writable).");
  CLI11_PARSE(app, argc, argv);

  vss::daemon::daemon_config config;
  try {
    if (!config_path.empty()) {
      config = vss::daemon::load_config(config_path);
    } else if (std::filesystem::exists(default_config_path)) {
      config = vss::daemon::load_config(default_config_path);
    }
  } catch (const vss::daemon::config_error& e) {
    std::cerr << "openvssd: " << e.what() << "\n";
    return 1;
  }
  if (!socket_override.empty()) config.socket_path = socket_override;
  if (print_config) {
    std::cout << vss::daemon::describe(config);
    return 0;
  }
  if (check_config) {
    std::cout << "configuration OK\n";
    return 0;
  }

  std::shared_ptr<spdlog::logger> log;
  try {
    log = make_logger(config);
  } catch (const spdlog::spdlog_ex& e) {
    std::cerr << "openvssd: cannot open log_file '" << config.log_file << "': " << e.what() << "\n";
    return 1;
  }

  std::vector<std::shared_ptr<vss::provider>> providers;
  try {
    providers = vss::daemon::make_providers(
        config, [log](const std::string& line) { log->info("{}", line); });
  } catch (const std::exception& e) {
    log->critical("event=8193 cannot set up the providers: {}", e.what());
    return 1;
  }

  // Before the engine: thaw what a dead predecessor left frozen, open the catalog, and
  // recover the sets it left in creation (docs/daemon.md, "Restart and recovery").
  std::string state_error;
  const auto state = vss::daemon::open_durable_state(
      config.state_dir, providers,
      [log](int event, bool error, const std::string& text) {
        if (error) {
          log->error("event={} {}", event, text);
        } else {
          log->info("event={} {}", event, text);
        }
      },
      state_error);
  if (!state) {
    log->critical("event=8314 {}", state_error);
    return 3;
  }

  auto engine_options = vss::daemon::to_engine_options(config);
  engine_options.write_hold = std::make_shared<vss::fsfreeze_write_hold>(vss::fsfreeze_options{
      .state_file = vss::daemon::held_filesystems_file(config.state_dir).string()});
  vss::engine_host host({.io_threads = config.io_threads,
                         .engine = std::move(engine_options),
                         .pin_io_threads = config.pin_io_threads,
                         .on_handler_exception = log_handler_exceptions(log)});
  for (const auto& p : providers) {
    if (auto ec = host.engine().register_provider(p)) {
      log->critical("event=8193 cannot register provider {}: {}", p->properties().name,
                    ec.message());
      return 1;
    }
  }

  vss::daemon::server srv(host.io_context().get_executor(), host.engine(), config, log);
  srv.services().set_journal(state->journal);
  srv.services().status = [base = srv.services().status, &state] {
    auto out = base ? base() : nlohmann::json::object();
    out["catalog"] = state->status();
    return out;
  };
  const int fd = inherited_socket();
  if (auto ec = fd >= 0 ? srv.adopt(fd) : srv.listen()) {
    log->critical("event=8193 cannot listen on {}: {}", config.socket_path, ec.message());
    return 2;
  }

  std::promise<int> stopped;
  asio::signal_set signals(host.io_context(), SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code ec, int signal) {
    if (ec) return;
    log->info("signal {}: shutting down (aborting sessions in flight)", signal);
    srv.stop();
    host.engine().async_shutdown([&](std::error_code) { stopped.set_value(0); });
  });
  log->info("openvssd ready (pid {}, {} io threads{})", ::getpid(), config.io_threads,
            describe_pinning(host.io_thread_cpus()));
  const int status = stopped.get_future().get();
  // Every connection's handlers refer to the server: let them finish before it goes.
  if (!srv.wait_idle(std::chrono::seconds(10))) {
    log->warn("event=8193 connections still closing after 10 s; exiting anyway");
  }
  log->info("openvssd stopped");
  return status;
}
