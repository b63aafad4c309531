#include "catalog/schema.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <string_view>

#include "catalog/catalog.hpp"

namespace vss::catalog::schema {
namespace {

// STRICT tables (SQLite >= 3.37) reject a value of the wrong type instead of storing it.
// Ids are the lowercase braced text form, times microseconds since the Unix epoch (UTC),
// HRESULTs signed 32-bit values, snapshot states the VSS_SNAPSHOT_STATE numbers.
constexpr std::string_view ddl = R"sql(
CREATE TABLE sets (
  set_id           TEXT PRIMARY KEY NOT NULL,
  state            TEXT NOT NULL CHECK (state IN
                     ('creating','committed','completed','aborted','failed','deleted')),
  provider_id      TEXT NOT NULL,
  context          INTEGER NOT NULL,
  host_boot_id     TEXT NOT NULL,
  host_pid         INTEGER NOT NULL,
  host_start_ticks INTEGER NOT NULL,
  session_id       TEXT NOT NULL,
  requester_pid    INTEGER NOT NULL,
  created_us       INTEGER NOT NULL,
  updated_us       INTEGER NOT NULL,
  grade            TEXT NOT NULL CHECK (grade IN ('none','application','filesystem','crash')),
  failure_hresult  INTEGER NOT NULL DEFAULT 0,
  failure_message  TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX sets_by_state ON sets(state, updated_us);
CREATE TABLE snapshots (
  snapshot_id         TEXT PRIMARY KEY NOT NULL,
  set_id              TEXT NOT NULL REFERENCES sets(set_id) ON DELETE CASCADE,
  position            INTEGER NOT NULL,
  original_volume     TEXT NOT NULL,
  device              TEXT NOT NULL DEFAULT '',
  provider_id         TEXT NOT NULL,
  attributes          INTEGER NOT NULL DEFAULT 0,
  state               INTEGER NOT NULL,
  snapshots_count     INTEGER NOT NULL,
  originating_machine TEXT NOT NULL DEFAULT '',
  service_machine     TEXT NOT NULL DEFAULT '',
  created_us          INTEGER NOT NULL
) STRICT;
CREATE INDEX snapshots_by_set ON snapshots(set_id, position);
CREATE TABLE set_writers (
  set_id          TEXT NOT NULL REFERENCES sets(set_id) ON DELETE CASCADE,
  instance_id     TEXT NOT NULL,
  class_id        TEXT NOT NULL,
  name            TEXT NOT NULL,
  level           INTEGER NOT NULL,
  state           INTEGER NOT NULL,
  failure_hresult INTEGER NOT NULL,
  message         TEXT NOT NULL,
  PRIMARY KEY (set_id, instance_id)
) STRICT;
CREATE TABLE recoveries (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  at_us           INTEGER NOT NULL,
  set_id          TEXT NOT NULL,
  action          TEXT NOT NULL,
  previous_state  TEXT NOT NULL,
  owner_pid       INTEGER NOT NULL,
  snapshots       INTEGER NOT NULL,
  failed          INTEGER NOT NULL,
  result_hresult  INTEGER NOT NULL,
  detail          TEXT NOT NULL
) STRICT;
)sql";

constexpr std::array<std::string_view, 4> tables{"sets", "snapshots", "set_writers", "recoveries"};

std::string hex32(std::int64_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", static_cast<unsigned>(static_cast<std::uint32_t>(v)));
  return buf;
}

}  // namespace

inspection inspect(sql::connection& c) {
  inspection r;
  const std::int64_t app = static_cast<std::uint32_t>(c.query_int("PRAGMA application_id"));
  r.version = c.query_int("PRAGMA user_version");
  const std::int64_t objects = c.query_int("SELECT count(*) FROM sqlite_schema");
  if (app != application_id) {
    // A database with no id, no version and no object holds nothing anyone could lose: what a
    // crash between creating the file and the first commit leaves, or `sqlite3 FILE ""`.
    if (app == 0 && r.version == 0 && objects == 0) return r;
    r.kind = verdict::foreign;
    if (app == 0) {
      r.reason = "it is an SQLite database of another program (no application_id, " +
                 std::to_string(objects) + " schema objects)";
    } else {
      r.reason = "it is an SQLite database of another program (application_id " + hex32(app) +
                 ", openvss uses " + hex32(application_id) + " \"OVSS\")";
    }
    return r;
  }
  if (r.version > schema_version) {
    r.kind = verdict::newer_schema;
    r.reason = "its schema version is " + std::to_string(r.version) +
               ", newer than the version this openvss understands (" +
               std::to_string(schema_version) + ")";
    return r;
  }
  if (r.version < 1) {
    r.kind = verdict::damaged;
    r.reason = "it has the openvss application_id but schema version " + std::to_string(r.version);
    return r;
  }
  std::string check = c.query_text("PRAGMA quick_check(1)");
  if (check != "ok") {
    std::replace(check.begin(), check.end(), '\n', ' ');
    r.kind = verdict::damaged;
    r.reason = "PRAGMA quick_check reports: " + check;
    return r;
  }
  for (std::string_view table : tables) {
    sql::statement s(c.get(), "SELECT count(*) FROM sqlite_schema WHERE type='table' AND name=?");
    s.bind(1, table);
    if (!s.step() || s.int_at(0) != 1) {
      r.kind = verdict::damaged;
      r.reason = "its table `" + std::string(table) + "` is missing";
      return r;
    }
  }
  r.kind = verdict::ours;
  return r;
}

void create(sql::connection& c) {
  c.exec(ddl);
  c.exec("PRAGMA application_id = " + std::to_string(application_id));
  c.exec("PRAGMA user_version = " + std::to_string(schema_version));
}

}  // namespace vss::catalog::schema
