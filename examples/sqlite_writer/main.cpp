// openvss-sqlite-writer — the sqlite writer (sqlite_writer.hpp) as a process of its own,
// registered with openvssd through the writer client: backups coordinated by the daemon then
// checkpoint the database and hold its writers out for the freeze window.

#include <CLI/CLI.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "sqlite_writer.hpp"
#include "vss/ipc/writer_client.hpp"

namespace {

// One line per call, timestamped, to stderr or an appended file; callable from any thread.
class log_sink {
 public:
  bool open(const std::string& path) {
    if (path.empty()) return true;
    file_ = std::fopen(path.c_str(), "a");
    return file_ != nullptr;
  }
  ~log_sink() {
    if (file_) std::fclose(file_);
  }
  void line(std::string_view what) {
    const auto now = std::chrono::system_clock::now();
    const auto t = std::chrono::system_clock::to_time_t(now);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char stamp[96];
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms));
    std::lock_guard lock(mutex_);
    FILE* to = file_ ? file_ : stderr;
    std::fprintf(to, "%s openvss-sqlite-writer: %.*s\n", stamp, static_cast<int>(what.size()),
                 what.data());
    std::fflush(to);
  }

 private:
  std::mutex mutex_;
  FILE* file_ = nullptr;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "openvss-sqlite-writer — a VSS-style writer for a SQLite database in WAL mode, "
      "served by openvssd"};
  const char* env_socket = std::getenv("OPENVSS_SOCKET");
  std::string socket_path = env_socket ? env_socket : "/run/openvss/openvss.sock";
  std::string database, log_path;
  std::string name = "sqlite";
  int freeze_timeout_ms = 20000;
  app.add_option("-s,--socket", socket_path, "the daemon's socket ($OPENVSS_SOCKET)");
  app.add_option("-d,--database", database, "the SQLite database file (WAL mode)")->required();
  app.add_option("-n,--name", name, "writer name (default sqlite)");
  app.add_option("--freeze-timeout-ms", freeze_timeout_ms,
                 "longest time the database stays frozen (default 20000)")
      ->check(CLI::Range(1, 86400000));
  app.add_option("--log", log_path, "append log lines to FILE instead of stderr");
  app.footer(
      "At Freeze the writer checkpoints the database (wal_checkpoint(TRUNCATE)) and holds its "
      "write lock (BEGIN IMMEDIATE): readers go on, writers wait. Thaw, Abort or BackupShutdown "
      "release it, and so does a watchdog once the freeze timeout runs out. A database that is "
      "missing or not in WAL mode vetoes at PrepareSnapshot (VSS_E_WRITERERROR_NONRETRYABLE).\n"
      "Output: timestamped log lines (connections, freezes, releases, vetoes, watchdog "
      "releases) on stderr or in --log FILE; nothing on stdout.\n"
      "Exit status: 0 after SIGTERM/SIGINT (a frozen database is released first); 1 bad "
      "command line or --log file; 2 the daemon refused the writer for good (not authorised, "
      "protocol version mismatch).");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }

  log_sink sink;
  if (!sink.open(log_path)) {
    std::perror(("openvss-sqlite-writer: " + log_path).c_str());
    return 1;
  }
  std::shared_ptr<vss::examples::sqlite_writer> writer;
  try {
    writer = std::make_shared<vss::examples::sqlite_writer>(vss::examples::sqlite_writer_options{
        .database = database,
        .name = name,
        .freeze_timeout = std::chrono::milliseconds(freeze_timeout_ms),
        .log = [&sink](std::string_view line) { sink.line(line); }});
  } catch (const std::exception& e) {
    std::cerr << "openvss-sqlite-writer: " << e.what() << "\n";
    return 1;
  }
  if (auto r = writer->check(); !r.ok()) {
    sink.line("warning: " + r.message + " (Freeze will veto until this is fixed)");
  }

  int status = 0;
  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  vss::ipc::writer_client client(io.get_executor(),
                                 {.socket_path = socket_path,
                                  .client_name = "openvss-sqlite-writer " + name,
                                  .log = [&sink](std::string_view line) { sink.line(line); }});
  client.add_writer(writer);
  client.start();
  sink.line("writer '" + name + "' for " + writer->component().files.front() + " on " +
            socket_path + ", freeze timeout " + std::to_string(freeze_timeout_ms) + " ms");

  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::steady_timer refusal_check(io);
  auto stop = [&] {
    signals.cancel();
    refusal_check.cancel();
    client.stop();  // a frozen database is released now
    guard.reset();
  };
  signals.async_wait([&](std::error_code ec, int signal) {
    if (ec) return;
    sink.line("signal " + std::to_string(signal) + ": stopping");
    stop();
  });
  std::function<void()> watch_refusal = [&] {
    refusal_check.expires_after(std::chrono::milliseconds(250));
    refusal_check.async_wait([&](std::error_code ec) {
      if (ec) return;
      if (client.state() == vss::ipc::client_state::refused) {
        sink.line("refused by the daemon: " + client.last_error());
        status = 2;
        stop();
        return;
      }
      watch_refusal();
    });
  };
  watch_refusal();
  io.run();
  sink.line("stopped");
  return status;
}
