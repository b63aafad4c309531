// openvss-test-writer: a writer process for the multi-process tests. It connects to a daemon
// with vss::ipc::writer_client and appends one line per event it receives to a log file
// ("Freeze <set-id>"), so a test in another process can see exactly what the writer saw.
//
//   openvss-test-writer --socket S --name NAME --log FILE [--freeze-delay-ms N]
//                       [--freeze-timeout-ms N] [--veto-at EVENT] [--hang-at EVENT]

#include <CLI/CLI.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <fstream>
#include <iostream>
#include <mutex>

#include "vss/ipc/writer_client.hpp"

namespace {

class logging_writer : public vss::writer {
 public:
  logging_writer(vss::writer_identity id, asio::io_context& io, std::string log_path,
                 std::chrono::milliseconds freeze_delay, std::string veto_at, std::string hang_at)
      : writer(std::move(id)),
        io_(io),
        log_path_(std::move(log_path)),
        freeze_delay_(freeze_delay),
        veto_at_(std::move(veto_at)),
        hang_at_(std::move(hang_at)) {}

  void on_identify(vss::writer_context ctx) override { answer(std::move(ctx)); }
  void on_prepare_backup(vss::writer_context ctx) override { answer(std::move(ctx)); }
  void on_prepare_snapshot(vss::writer_context ctx) override { answer(std::move(ctx)); }
  void on_freeze(vss::writer_context ctx) override {
    if (freeze_delay_.count() > 0 && !should("veto", ctx) && !should("hang", ctx)) {
      note(ctx);
      auto timer = std::make_shared<asio::steady_timer>(io_, freeze_delay_);
      auto held = std::make_shared<vss::writer_context>(std::move(ctx));
      timer->async_wait([timer, held](std::error_code) { held->complete(); });
      return;
    }
    answer(std::move(ctx));
  }
  void on_thaw(vss::writer_context ctx) override { answer(std::move(ctx)); }
  void on_post_snapshot(vss::writer_context ctx) override { answer(std::move(ctx)); }
  void on_abort(vss::writer_context ctx) override { answer(std::move(ctx)); }
  void on_backup_complete(vss::writer_context ctx) override { answer(std::move(ctx)); }
  void on_backup_shutdown(vss::writer_context ctx) override { answer(std::move(ctx)); }

 private:
  bool should(const char* what, const vss::writer_context& ctx) const {
    const auto& at = std::string(what) == "veto" ? veto_at_ : hang_at_;
    return !at.empty() && at == vss::to_string(ctx.event());
  }

  void note(const vss::writer_context& ctx) {
    std::lock_guard lock(mutex_);
    std::ofstream out(log_path_, std::ios::app);
    out << vss::to_string(ctx.event()) << ' ' << ctx.snapshot_set() << std::endl;
  }

  void answer(vss::writer_context ctx) {
    note(ctx);
    if (should("hang", ctx)) {
      hung_.push_back(std::move(ctx));  // never answered while the process lives
      return;
    }
    if (should("veto", ctx)) {
      ctx.fail(vss::errc::writer_error_retryable,
               "test writer vetoes " + std::string(vss::to_string(ctx.event())));
      return;
    }
    ctx.complete();
  }

  asio::io_context& io_;
  std::string log_path_;
  std::chrono::milliseconds freeze_delay_;
  std::string veto_at_;
  std::string hang_at_;
  std::mutex mutex_;
  std::vector<vss::writer_context> hung_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"openvss-test-writer: a logging writer process for openvss's own tests"};
  std::string socket_path, name = "test-writer", log_path;
  int freeze_delay_ms = 0, freeze_timeout_ms = 60000;
  std::string veto_at, hang_at, group;
  app.add_option("--socket", socket_path)->required();
  app.add_option("--name", name);
  app.add_option("--log", log_path)->required();
  app.add_option("--freeze-delay-ms", freeze_delay_ms);
  app.add_option("--freeze-timeout-ms", freeze_timeout_ms);
  app.add_option("--veto-at", veto_at, "event name as vss::to_string prints it, e.g. Freeze");
  app.add_option("--hang-at", hang_at, "never answer this event");
  app.add_option("--group", group, "writer_placement group to register in");
  CLI11_PARSE(app, argc, argv);

  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  vss::ipc::writer_client client(
      io.get_executor(), {.socket_path = socket_path,
                          .client_name = "openvss-test-writer " + name,
                          .reconnect_min = std::chrono::milliseconds(20),
                          .reconnect_max = std::chrono::milliseconds(200),
                          .log = [&](std::string_view line) {
                            std::ofstream(log_path, std::ios::app) << "# " << line << std::endl;
                          }});
  vss::writer_identity id{.name = name,
                          .freeze_timeout = std::chrono::milliseconds(freeze_timeout_ms)};
  client.add_writer(
      std::make_shared<logging_writer>(id, io, log_path, std::chrono::milliseconds(freeze_delay_ms),
                                       veto_at, hang_at),
      {.group = group});
  client.start();
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code, int) {
    client.stop();
    guard.reset();
    io.stop();
  });
  io.run();
  return 0;
}
