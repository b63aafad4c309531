#include "sqlite_writer.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>
#include <utility>

namespace vss::examples {

namespace {

using steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

// Fixed per application, as a VSS writer class id is ("openvs" "sqlite" in hex, roughly).
constexpr writer_class_id sqlite_writer_class =
    writer_class_id::from_u128(0x6f70656e76734c51, 0x8e5a73716c697465);

// Watchdog releases remembered for a late Thaw; one freeze runs at a time, so a few suffice.
constexpr std::size_t remembered_expiries = 16;

bool is_busy(int rc) {
  const int primary = rc & 0xff;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

std::string errmsg(sqlite3* db, int rc) {
  std::string out = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return out + " (" + sqlite3_errstr(rc) + ")";
}

std::int64_t file_bytes(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<std::int64_t>(size);
}

std::string absolute_path(const std::string& path) {
  std::error_code ec;
  auto abs = fs::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

std::string ms_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

// The first column of the first row of `sql`, as text; nullopt with `rc` set on failure.
std::optional<std::string> query_text(sqlite3* db, const char* sql, int& rc) {
  sqlite3_stmt* stmt = nullptr;
  rc = sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return std::nullopt;
  std::optional<std::string> out;
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    const auto* text = sqlite3_column_text(stmt, 0);
    out = text ? reinterpret_cast<const char*>(text) : "";
    rc = SQLITE_OK;
  } else if (rc == SQLITE_DONE) {
    out = "";
    rc = SQLITE_OK;
  }
  sqlite3_finalize(stmt);
  return out;
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

void put_le(std::vector<unsigned char>& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<unsigned char>(v >> (8 * i)));
}

std::uint64_t get_le(const unsigned char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// The waiting policy of the writer's own connection during a Freeze.
struct freeze_wait {
  steady::time_point deadline;
  const std::function<bool()>* abandoned = nullptr;
};

int freeze_busy_handler(void* arg, int count) {
  const auto* w = static_cast<const freeze_wait*>(arg);
  if (w->abandoned && *w->abandoned && (*w->abandoned)()) return 0;
  if (steady::now() >= w->deadline) return 0;
  std::this_thread::sleep_for(std::chrono::milliseconds(std::min(1 << std::min(count, 4), 10)));
  return 1;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// sqlite_writer

struct sqlite_writer::state {
  explicit state(sqlite_writer_options o)
      : options(std::move(o)), path(absolute_path(options.database)), wal(path + "-wal") {}

  void log(const std::vector<std::string>& lines) const {
    if (!options.log) return;
    for (const auto& line : lines) options.log(line);
  }

  // Ends the hold: the transaction wrote nothing, so ROLLBACK only drops the lock, and closing
  // the connection drops anything ROLLBACK could not.
  void close_connection() {
    if (!conn) return;
    sqlite3_exec(conn, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close_v2(conn);
    conn = nullptr;
    frozen = false;
    frozen_flag.store(false);
  }

  sqlite_step_result open_checked(freeze_wait& wait) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
      return {errc::writer_error_nonretryable, "SQLite database " + path + " does not exist"};
    }
    int rc = sqlite3_open_v2(path.c_str(), &conn, SQLITE_OPEN_READWRITE, nullptr);
    if (rc != SQLITE_OK) {
      auto r = sqlite_step_result{errc::writer_error_nonretryable,
                                  "cannot open SQLite database " + path + ": " + errmsg(conn, rc)};
      sqlite3_close_v2(conn);
      conn = nullptr;
      return r;
    }
    sqlite3_busy_handler(conn, freeze_busy_handler, &wait);
    auto mode = query_text(conn, "PRAGMA journal_mode", rc);
    if (!mode) {
      auto r = sqlite_step_result{
          is_busy(rc) ? errc::writer_error_retryable : errc::writer_error_nonretryable,
          "cannot read the journal mode of " + path + ": " + errmsg(conn, rc)};
      close_connection();
      return r;
    }
    if (*mode != "wal") {
      close_connection();
      return {errc::writer_error_nonretryable,
              "SQLite database " + path + " is not in WAL mode (journal_mode=" + *mode +
                  "); the sqlite writer needs PRAGMA journal_mode=WAL"};
    }
    return {};
  }

  // Called with `mutex` held. On success `conn` is open and holds the write lock.
  sqlite_step_result take_lock(steady::time_point started, const std::function<bool()>& abandoned,
                               std::vector<std::string>& lines) {
    const auto bound = std::min(options.busy_bound, options.freeze_timeout / 2);
    freeze_wait wait{started + bound, &abandoned};
    if (auto r = open_checked(wait); !r.ok()) return r;
    std::string reason = "no attempt";
    for (int attempt = 1;; ++attempt) {
      if (abandoned && abandoned()) {
        close_connection();
        return {errc::writer_error_retryable, "Freeze abandoned (the backup no longer waits)"};
      }
      if (attempt > 1 && steady::now() >= wait.deadline) {
        close_connection();
        return {errc::writer_error_retryable,
                "SQLite database " + path + " stayed busy for " + ms_text(bound) + ": " + reason};
      }
      if (attempt > 1) ++retries;
      const auto wal_before = file_bytes(wal);
      int rc =
          sqlite3_wal_checkpoint_v2(conn, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
      if (is_busy(rc)) {
        reason = "wal_checkpoint(TRUNCATE): " + errmsg(conn, rc) +
                 " (a reader or writer kept the WAL in use)";
        continue;
      }
      if (rc != SQLITE_OK) {
        auto r =
            sqlite_step_result{errc::writer_error_nonretryable,
                               "wal_checkpoint(TRUNCATE) of " + path + ": " + errmsg(conn, rc)};
        close_connection();
        return r;
      }
      rc = sqlite3_exec(conn, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
      if (is_busy(rc)) {
        reason = "BEGIN IMMEDIATE: " + errmsg(conn, rc) + " (another writer kept the lock)";
        continue;
      }
      if (rc != SQLITE_OK) {
        auto r = sqlite_step_result{errc::writer_error_nonretryable,
                                    "BEGIN IMMEDIATE on " + path + ": " + errmsg(conn, rc)};
        close_connection();
        return r;
      }
      // Under the lock nobody can append to the WAL, so an empty WAL now stays empty.
      if (const auto bytes = file_bytes(wal); bytes != 0) {
        sqlite3_exec(conn, "ROLLBACK", nullptr, nullptr, nullptr);
        reason = "a transaction committed between the checkpoint and the lock (" +
                 std::to_string(bytes) + " WAL bytes)";
        continue;
      }
      sqlite3_busy_handler(conn, nullptr, nullptr);  // `wait` lives on this stack frame
      lines.push_back("frozen: checkpointed " + path + " (WAL of " + std::to_string(wal_before) +
                      " bytes truncated) and holding the write lock (attempt " +
                      std::to_string(attempt) + ")");
      return {};
    }
  }

  void watchdog_loop() {
    std::unique_lock lock(mutex);
    while (!stopping) {
      if (!frozen) {
        cv.wait(lock);
        continue;
      }
      if (steady::now() < hold_deadline) {
        cv.wait_until(lock, hold_deadline);
        continue;
      }
      const auto set = frozen_set;
      close_connection();
      expired.push_back(set);
      if (expired.size() > remembered_expiries) expired.pop_front();
      ++watchdog_releases;
      const std::vector<std::string> lines{
          "watchdog: no Thaw or Abort within the freeze timeout (" +
          ms_text(options.freeze_timeout) + ") for set " + set.to_string() +
          "; released the write lock of " + path};
      lock.unlock();
      log(lines);
      lock.lock();
    }
  }

  bool take_expired(const snapshot_set_id& set) {
    auto it = std::find(expired.begin(), expired.end(), set);
    if (it == expired.end()) return false;
    expired.erase(it);
    return true;
  }

  const sqlite_writer_options options;
  const std::string path;  // absolute
  const std::string wal;

  std::mutex mutex;  // serialises the steps and guards everything below
  std::condition_variable cv;
  sqlite3* conn = nullptr;  // open from Freeze to the release
  bool frozen = false;
  snapshot_set_id frozen_set;
  steady::time_point hold_deadline{};
  std::deque<snapshot_set_id> expired;
  bool stopping = false;

  std::atomic<bool> frozen_flag{false};
  std::atomic<std::uint64_t> freezes{0}, releases{0}, watchdog_releases{0}, retries{0};
  std::thread watchdog;
};

namespace {

writer_identity identity_of(const sqlite_writer_options& o) {
  if (o.database.empty()) throw std::invalid_argument("sqlite_writer: empty database path");
  if (o.name.empty()) throw std::invalid_argument("sqlite_writer: empty writer name");
  if (o.freeze_timeout.count() <= 0) {
    throw std::invalid_argument("sqlite_writer: the freeze timeout must be positive");
  }
  if (o.busy_bound.count() <= 0) {
    throw std::invalid_argument("sqlite_writer: the busy bound must be positive");
  }
  writer_identity id;
  id.class_id = sqlite_writer_class;
  id.name = o.name;
  id.instance_name = absolute_path(o.database);
  id.usage = usage_type::user_data;
  id.source = source_type::transacted_db;
  id.level = o.level;
  id.freeze_timeout = o.freeze_timeout;
  // Checkpoints do I/O and fsync, and lock waits last up to busy_bound: these handlers block.
  id.execution = handler_execution::blocking;
  return id;
}

void answer(writer_context& ctx, const sqlite_step_result& r) {
  if (r.ok()) {
    ctx.complete();
  } else {
    ctx.fail(r.code, r.message);
  }
}

}  // namespace

sqlite_writer::sqlite_writer(sqlite_writer_options options)
    : writer(identity_of(options)), state_(std::make_unique<state>(std::move(options))) {
  state_->watchdog = std::thread([s = state_.get()] { s->watchdog_loop(); });
}

sqlite_writer::~sqlite_writer() {
  std::vector<std::string> lines;
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
    if (state_->frozen) {
      state_->close_connection();
      lines.push_back("writer destroyed while frozen: released the write lock of " + state_->path);
    }
  }
  state_->cv.notify_all();
  state_->watchdog.join();
  state_->log(lines);
}

const sqlite_writer_options& sqlite_writer::options() const noexcept { return state_->options; }

component_info sqlite_writer::component() const {
  const fs::path p(state_->path);
  component_info c;
  c.type = component_type::database;
  c.logical_path = p.parent_path().string();
  c.name = p.filename().string();
  c.caption = "SQLite database " + state_->path;
  c.selectable = true;
  c.files = {state_->path, state_->path + "-wal", state_->path + "-shm"};
  return c;
}

sqlite_step_result sqlite_writer::check() {
  std::lock_guard lock(state_->mutex);
  if (state_->frozen) return {};  // a frozen database was checked by its Freeze
  freeze_wait wait{steady::now() + state_->options.busy_bound};
  auto r = state_->open_checked(wait);
  if (!r.ok()) return r;
  // PASSIVE never waits and never blocks anyone; it only shortens the checkpoint at Freeze.
  sqlite3_wal_checkpoint_v2(state_->conn, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  state_->close_connection();
  return {};
}

sqlite_step_result sqlite_writer::freeze(const snapshot_set_id& set,
                                         const std::function<bool()>& abandoned) {
  const auto started = steady::now();
  std::vector<std::string> lines;
  sqlite_step_result r;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->frozen) {
      if (state_->frozen_set != set) {
        r = {errc::writer_error_retryable,
             "already frozen for snapshot set " + state_->frozen_set.to_string()};
      }
    } else {
      r = state_->take_lock(started, abandoned, lines);
      if (r.ok()) {
        state_->frozen = true;
        state_->frozen_flag.store(true);
        state_->frozen_set = set;
        state_->hold_deadline = started + state_->options.freeze_timeout;
        ++state_->freezes;
        state_->cv.notify_all();
      }
    }
    if (!r.ok()) {
      lines.push_back("Freeze vetoed (" + std::string(symbol(r.code)) + "): " + r.message);
    }
  }
  state_->log(lines);
  return r;
}

sqlite_step_result sqlite_writer::thaw(const snapshot_set_id& set) {
  std::vector<std::string> lines;
  sqlite_step_result r;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->frozen && state_->frozen_set == set) {
      state_->close_connection();
      ++state_->releases;
      lines.push_back("Thaw: released the write lock of " + state_->path);
    } else if (state_->take_expired(set)) {
      r = {errc::writer_error_timeout,
           "the freeze timeout (" + ms_text(state_->options.freeze_timeout) +
               ") ran out before Thaw; the watchdog had already released " + state_->path};
      lines.push_back("Thaw after the watchdog's release: " + r.message);
    }
  }
  state_->log(lines);
  return r;
}

sqlite_step_result sqlite_writer::release(const snapshot_set_id& set, writer_event why) {
  std::vector<std::string> lines;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->frozen && state_->frozen_set == set) {
      state_->close_connection();
      ++state_->releases;
      lines.push_back(std::string(to_string(why)) + ": released the write lock of " + state_->path);
    } else {
      state_->take_expired(set);
    }
  }
  state_->log(lines);
  return {};
}

bool sqlite_writer::frozen() const noexcept { return state_->frozen_flag.load(); }

sqlite_writer_stats sqlite_writer::stats() const noexcept {
  return {state_->freezes.load(), state_->releases.load(), state_->watchdog_releases.load(),
          state_->retries.load()};
}

void sqlite_writer::on_identify(writer_context ctx) {
  if (auto* md = ctx.metadata()) md->components.push_back(component());
  ctx.complete();
}

void sqlite_writer::on_prepare_snapshot(writer_context ctx) { answer(ctx, check()); }

void sqlite_writer::on_freeze(writer_context ctx) {
  const std::function<bool()> abandoned = [&ctx] { return ctx.abandoned(); };
  answer(ctx, freeze(ctx.snapshot_set(), abandoned));
}

void sqlite_writer::on_thaw(writer_context ctx) { answer(ctx, thaw(ctx.snapshot_set())); }

void sqlite_writer::on_abort(writer_context ctx) {
  answer(ctx, release(ctx.snapshot_set(), writer_event::abort));
}

void sqlite_writer::on_backup_shutdown(writer_context ctx) {
  answer(ctx, release(ctx.snapshot_set(), writer_event::backup_shutdown));
}

// ---------------------------------------------------------------------------------------------
// The test load

std::vector<unsigned char> load_payload(std::int64_t first_id, std::int32_t rows, std::int64_t id) {
  const std::uint64_t seed = splitmix64(static_cast<std::uint64_t>(id));
  const std::size_t filler = 16 + static_cast<std::size_t>(seed % 97);
  std::vector<unsigned char> out;
  out.reserve(16 + filler);
  put_le(out, static_cast<std::uint64_t>(first_id), 8);
  put_le(out, static_cast<std::uint32_t>(rows), 4);
  put_le(out, 0, 4);
  std::uint64_t x = seed;
  for (std::size_t i = 0; i < filler; ++i) {
    if (i % 8 == 0) x = splitmix64(x);
    out.push_back(static_cast<unsigned char>(x >> (8 * (i % 8))));
  }
  return out;
}

std::int64_t load_checksum(std::int64_t id, std::span<const unsigned char> payload) {
  std::uint64_t h = 14695981039346656037ULL;
  auto mix = [&h](unsigned char b) {
    h ^= b;
    h *= 1099511628211ULL;
  };
  for (int i = 0; i < 8; ++i) {
    mix(static_cast<unsigned char>(static_cast<std::uint64_t>(id) >> (8 * i)));
  }
  for (unsigned char b : payload) mix(b);
  return static_cast<std::int64_t>(h);
}

namespace {

struct stmt_guard {
  sqlite3_stmt* stmt = nullptr;
  ~stmt_guard() { sqlite3_finalize(stmt); }
};

}  // namespace

load_inserter::load_inserter(const std::string& database, std::chrono::milliseconds busy_timeout,
                             std::function<bool()> stop)
    : busy_timeout_(busy_timeout), stop_(std::move(stop)) {
  int rc =
      sqlite3_open_v2(database.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    const auto what = "cannot open " + database + ": " + errmsg(db_, rc);
    sqlite3_close_v2(db_);
    throw std::runtime_error(what);
  }
  sqlite3_busy_handler(db_, &load_inserter::busy_handler, this);
  try {
    auto mode = query_text(db_, "PRAGMA journal_mode=WAL", rc);
    if (!mode) throw std::runtime_error("PRAGMA journal_mode=WAL: " + errmsg(db_, rc));
    if (*mode != "wal") {
      throw std::runtime_error(database + " cannot be put in WAL mode (journal_mode=" + *mode +
                               ")");
    }
    exec("PRAGMA synchronous=NORMAL");
    exec("CREATE TABLE IF NOT EXISTS tx(id INTEGER PRIMARY KEY, payload BLOB, checksum INTEGER)");
    auto max = query_text(db_, "SELECT coalesce(max(id), 0) FROM tx", rc);
    if (!max) throw std::runtime_error("SELECT max(id): " + errmsg(db_, rc));
    last_id_ = std::stoll(*max);
  } catch (...) {
    sqlite3_close_v2(db_);
    throw;
  }
}

load_inserter::~load_inserter() { sqlite3_close_v2(db_); }

int load_inserter::busy_handler(void* self, int count) {
  auto* me = static_cast<load_inserter*>(self);
  const auto now = steady::now();
  if (count == 0) me->busy_since_ = now;
  if (me->stop_ && me->stop_()) {
    me->stopped_ = true;
    return 0;
  }
  if (now - me->busy_since_ >= me->busy_timeout_) return 0;
  std::this_thread::sleep_for(std::chrono::milliseconds(std::min(count + 1, 5)));
  return 1;
}

void load_inserter::exec(const char* sql) {
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    std::string what = std::string(sql) + ": " + (error ? error : sqlite3_errstr(rc));
    sqlite3_free(error);
    throw std::runtime_error(what);
  }
}

load_inserter::outcome load_inserter::insert_transaction(std::int32_t rows) {
  if (rows < 1) throw std::invalid_argument("load_inserter: a transaction needs a row");
  stopped_ = false;
  int rc = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
  if (is_busy(rc)) return stopped_ ? outcome::stopped : outcome::busy;
  if (rc != SQLITE_OK) throw std::runtime_error("BEGIN IMMEDIATE: " + errmsg(db_, rc));
  auto fail = [this](const std::string& what) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw std::runtime_error(what);
  };
  stmt_guard insert;
  rc = sqlite3_prepare_v2(db_, "INSERT INTO tx(id, payload, checksum) VALUES(?1, ?2, ?3)", -1,
                          &insert.stmt, nullptr);
  if (rc != SQLITE_OK) fail("prepare INSERT: " + errmsg(db_, rc));
  const std::int64_t first = last_id_ + 1;
  for (std::int64_t id = first; id < first + rows; ++id) {
    const auto payload = load_payload(first, rows, id);
    sqlite3_bind_int64(insert.stmt, 1, id);
    sqlite3_bind_blob(insert.stmt, 2, payload.data(), static_cast<int>(payload.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert.stmt, 3, load_checksum(id, payload));
    rc = sqlite3_step(insert.stmt);
    if (rc != SQLITE_DONE) fail("INSERT id " + std::to_string(id) + ": " + errmsg(db_, rc));
    sqlite3_reset(insert.stmt);
  }
  rc = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  if (is_busy(rc)) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return stopped_ ? outcome::stopped : outcome::busy;
  }
  if (rc != SQLITE_OK) fail("COMMIT: " + errmsg(db_, rc));
  last_id_ = first + rows - 1;
  return outcome::committed;
}

// ---------------------------------------------------------------------------------------------
// Verification

std::string verify_result::to_json() const {
  nlohmann::ordered_json j{{"ok", ok},
                           {"rows", rows},
                           {"max_id", max_id},
                           {"wal_bytes", wal_bytes},
                           {"problem", problem}};
  return j.dump();
}

namespace {

std::string uri_of(const std::string& path) {
  std::string out = "file:";
  for (char c : path) {
    if (c == '%' || c == '?' || c == '#') {
      static constexpr char hex[] = "0123456789ABCDEF";
      const auto u = static_cast<unsigned char>(c);
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out + "?immutable=1";
}

// Fills `r` except ok; returns the problem, or empty.
std::string verify_into(sqlite3* db, verify_result& r, std::int64_t min_id,
                        std::optional<std::int64_t> max_id_bound) {
  int rc = SQLITE_OK;
  {
    stmt_guard check;
    rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &check.stmt, nullptr);
    if (rc != SQLITE_OK) return "PRAGMA integrity_check: " + errmsg(db, rc);
    rc = sqlite3_step(check.stmt);
    if (rc != SQLITE_ROW) return "PRAGMA integrity_check: " + errmsg(db, rc);
    const auto* first = reinterpret_cast<const char*>(sqlite3_column_text(check.stmt, 0));
    const std::string verdict = first ? first : "";
    if (verdict != "ok") return "integrity_check: " + verdict;
  }
  auto has_table =
      query_text(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'tx'", rc);
  if (!has_table) return "reading the schema: " + errmsg(db, rc);
  if (*has_table != "1") return "no table tx";
  {
    stmt_guard totals;
    rc = sqlite3_prepare_v2(db, "SELECT count(*), coalesce(max(id), 0) FROM tx", -1, &totals.stmt,
                            nullptr);
    if (rc != SQLITE_OK || sqlite3_step(totals.stmt) != SQLITE_ROW) {
      return "counting rows: " + errmsg(db, rc);
    }
    r.rows = sqlite3_column_int64(totals.stmt, 0);
    r.max_id = sqlite3_column_int64(totals.stmt, 1);
  }
  stmt_guard scan;
  rc = sqlite3_prepare_v2(db, "SELECT id, payload, checksum FROM tx ORDER BY id", -1, &scan.stmt,
                          nullptr);
  if (rc != SQLITE_OK) return "SELECT FROM tx: " + errmsg(db, rc);
  std::int64_t expected = 1;
  std::int64_t tx_first = 0;
  std::int64_t tx_end = 0;  // last id of the current transaction
  while ((rc = sqlite3_step(scan.stmt)) == SQLITE_ROW) {
    const std::int64_t id = sqlite3_column_int64(scan.stmt, 0);
    const std::string at = "id " + std::to_string(id);
    if (id != expected) {
      return "ids are not 1..max: expected id " + std::to_string(expected) + ", found " +
             std::to_string(id);
    }
    const auto* data = static_cast<const unsigned char*>(sqlite3_column_blob(scan.stmt, 1));
    const int size = sqlite3_column_bytes(scan.stmt, 1);
    std::span<const unsigned char> payload(data, data ? static_cast<std::size_t>(size) : 0);
    if (load_checksum(id, payload) != sqlite3_column_int64(scan.stmt, 2)) {
      return at + ": wrong checksum";
    }
    if (payload.size() < 16) return at + ": payload too short";
    const auto first = static_cast<std::int64_t>(get_le(payload.data(), 8));
    const auto rows = static_cast<std::int64_t>(get_le(payload.data() + 8, 4));
    if (id > tx_end) {  // the first row of a new transaction
      if (first != id || rows < 1) return at + ": does not start a transaction";
      tx_first = first;
      tx_end = first + rows - 1;
    } else if (first != tx_first || first + rows - 1 != tx_end) {
      return at + ": belongs to another transaction than the rows before it";
    }
    ++expected;
  }
  if (rc != SQLITE_DONE) return "reading tx: " + errmsg(db, rc);
  if (r.max_id != tx_end) {
    return "torn transaction: the last row is id " + std::to_string(r.max_id) +
           " but its transaction ends at id " + std::to_string(tx_end);
  }
  if (r.max_id < min_id) {
    return "missing committed transactions: max id " + std::to_string(r.max_id) +
           " is below --min-id " + std::to_string(min_id);
  }
  if (max_id_bound && r.max_id > *max_id_bound) {
    return "max id " + std::to_string(r.max_id) + " is above --max-id " +
           std::to_string(*max_id_bound);
  }
  return {};
}

}  // namespace

verify_result verify_database(const std::string& database, std::int64_t min_id,
                              std::optional<std::int64_t> max_id_bound, bool allow_wal) {
  verify_result r;
  r.wal_bytes = file_bytes(database + "-wal");
  std::error_code ec;
  if (!fs::is_regular_file(database, ec)) {
    r.problem = database + " is not a regular file";
    return r;
  }
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(uri_of(database).c_str(), &db,
                                 SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
  if (rc != SQLITE_OK) {
    r.problem = "cannot open " + database + ": " + errmsg(db, rc);
  } else {
    r.problem = verify_into(db, r, min_id, max_id_bound);
  }
  sqlite3_close_v2(db);
  if (r.problem.empty() && r.wal_bytes != 0 && !allow_wal) {
    r.problem = "the -wal file holds " + std::to_string(r.wal_bytes) +
                " bytes: not a checkpointed snapshot (immutable=1 does not read WAL frames)";
  }
  r.ok = r.problem.empty();
  return r;
}

}  // namespace vss::examples
