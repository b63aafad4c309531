// openvss-sqlite-inserter — a load generator for the sqlite writer's tests: inserts checksummed
// rows into a WAL-mode database, in transactions, as fast as it can, and reports each commit
// only once COMMIT has returned. A database frozen by the writer just makes it wait.

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <system_error>

#include "sqlite_writer.hpp"

namespace {

std::atomic<bool> signalled{false};

extern "C" void on_signal(int) { signalled.store(true); }

bool write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "openvss-sqlite-inserter — inserts checksummed rows into a SQLite database in WAL "
      "mode, as fast as it can (a load for the sqlite writer's tests)"};
  std::string database, until_file, committed_log;
  double seconds = 0;
  int max_rows = 16;
  int busy_timeout_ms = 30000;
  app.add_option("--database", database, "the database; created in WAL mode when missing")
      ->required();
  app.add_option("--seconds", seconds, "stop after S seconds")->check(CLI::PositiveNumber);
  app.add_option("--until-file", until_file, "stop once file F exists");
  app.add_option("--committed-log", committed_log,
                 "append the committed ids to F instead of stdout (fsync'd every 100 commits and "
                 "at exit)");
  app.add_option("--max-rows-per-tx", max_rows,
                 "each transaction inserts 1..K rows (varies per transaction; default 16)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--busy-timeout-ms", busy_timeout_ms,
                 "longest wait for a locked database (default 30000)")
      ->check(CLI::Range(1, 86400000));
  app.footer(
      "Table: tx(id INTEGER PRIMARY KEY, payload BLOB, checksum INTEGER); ids continue after the "
      "largest one present. Runs until --seconds, --until-file, SIGTERM or SIGINT, whichever "
      "comes first (a transaction waiting for the lock is rolled back).\n"
      "Output: after each COMMIT returned, one line with the transaction's last id (so every id "
      "printed is committed), on stdout or in --committed-log. At the end one summary line on "
      "stderr: transactions, rows, last id and the longest transaction (the longest wait).\n"
      "Exit status: 0 stopped as asked; 1 bad command line; 2 SQLite error (cannot open, "
      "insert failed) or the output cannot be written; 3 the database stayed locked longer "
      "than --busy-timeout-ms.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);

  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  std::optional<clock::time_point> end;
  if (seconds > 0) {
    end =
        start + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(seconds));
  }
  auto time_to_stop = [&] {
    if (signalled.load()) return true;
    if (end && clock::now() >= *end) return true;
    std::error_code ec;
    return !until_file.empty() && std::filesystem::exists(until_file, ec);
  };

  int out = STDOUT_FILENO;
  if (!committed_log.empty()) {
    out = ::open(committed_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0) {
      const auto why = std::generic_category().message(errno);
      std::cerr << "openvss-sqlite-inserter: " << committed_log << ": " << why << "\n";
      return 2;
    }
  }

  int status = 0;
  std::uint64_t transactions = 0;
  std::uint64_t rows = 0;
  std::int64_t last_id = 0;
  clock::duration longest{};
  try {
    vss::examples::load_inserter inserter(database, std::chrono::milliseconds(busy_timeout_ms),
                                          time_to_stop);
    last_id = inserter.last_id();
    while (!time_to_stop()) {
      const auto k =
          static_cast<std::int32_t>(1 + mix(static_cast<std::uint64_t>(inserter.last_id())) %
                                            static_cast<std::uint64_t>(max_rows));
      const auto t0 = clock::now();
      const auto outcome = inserter.insert_transaction(k);
      if (outcome == vss::examples::load_inserter::outcome::stopped) break;
      if (outcome == vss::examples::load_inserter::outcome::busy) {
        std::cerr << "openvss-sqlite-inserter: the database stayed locked for more than "
                  << busy_timeout_ms << " ms\n";
        status = 3;
        break;
      }
      longest = std::max(longest, clock::now() - t0);
      last_id = inserter.last_id();
      ++transactions;
      rows += static_cast<std::uint64_t>(k);
      if (!write_all(out, std::to_string(last_id) + "\n")) {
        const auto why = std::generic_category().message(errno);
        std::cerr << "openvss-sqlite-inserter: cannot write the committed id: " << why << "\n";
        status = 2;
        break;
      }
      if (out != STDOUT_FILENO && transactions % 100 == 0) ::fsync(out);
    }
  } catch (const std::exception& e) {
    std::cerr << "openvss-sqlite-inserter: " << e.what() << "\n";
    status = 2;
  }
  if (out != STDOUT_FILENO) {
    ::fsync(out);
    ::close(out);
  }
  std::cerr << "openvss-sqlite-inserter: " << transactions << " transactions, " << rows
            << " rows, last id " << last_id << ", longest transaction "
            << std::chrono::duration_cast<std::chrono::milliseconds>(longest).count() << " ms\n";
  return status;
}
