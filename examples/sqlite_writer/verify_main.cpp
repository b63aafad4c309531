// openvss-sqlite-verify — checks that a snapshot copy of a database written by
// openvss-sqlite-inserter is an intact prefix of its committed transactions. Read-only: the
// database is opened with immutable=1, so it works on read-only (immutable) snapshots.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>

#include "sqlite_writer.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "openvss-sqlite-verify — checks a snapshot copy of an openvss-sqlite-inserter database"};
  std::string file;
  std::int64_t min_id = 0;
  std::optional<std::int64_t> max_id;
  bool allow_wal = false;
  app.add_option("FILE", file, "the database file of the snapshot")->required();
  app.add_option("--min-id", min_id,
                 "fail unless the largest id is at least N (an id known committed before the "
                 "snapshot)");
  app.add_option("--max-id", max_id,
                 "fail if the largest id is above N (the last id committed after the snapshot)");
  app.add_flag("--allow-wal", allow_wal,
               "accept a non-empty FILE-wal (its frames are NOT read; without this flag a "
               "non-empty -wal fails, since an application-consistent snapshot has none)");
  app.footer(
      "Checks: PRAGMA integrity_check is 'ok'; table tx has ids exactly 1..max with no gap; every "
      "row's checksum is right; the last row ends its transaction (no torn transaction); "
      "--min-id / --max-id; FILE-wal absent or empty.\n"
      "Output: one JSON line on stdout: "
      "{\"ok\":bool,\"rows\":N,\"max_id\":N,\"wal_bytes\":N,\"problem\":\"...\"} (problem is empty "
      "when ok, else the first failed check).\n"
      "Exit status: 0 ok; 1 a check failed or FILE cannot be read as a database; 2 bad command "
      "line.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  const auto r = vss::examples::verify_database(file, min_id, max_id, allow_wal);
  std::cout << r.to_json() << std::endl;
  return r.ok ? 0 : 1;
}
