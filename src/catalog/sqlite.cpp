#include "catalog/sqlite.hpp"

#include <string>

#include "catalog/catalog.hpp"
#include "vss/error.hpp"

namespace vss::catalog {
namespace {

class sqlite_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sqlite"; }
  std::string message(int rc) const override { return ::sqlite3_errstr(rc); }
  bool equivalent(int rc, const std::error_condition& cond) const noexcept override {
    if (cond.category() != vss::condition_category()) {
      return std::error_category::equivalent(rc, cond);
    }
    const int primary = rc & 0xff;
    vss::condition c = vss::condition::fatal;
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
      c = vss::condition::retryable;
    } else if (primary == SQLITE_FULL) {
      c = vss::condition::retry_after_reconfigure;
    }
    return cond == make_error_condition(c);
  }
};

}  // namespace

const std::error_category& sqlite_category() noexcept {
  static const sqlite_category_impl category;
  return category;
}

namespace sql {

std::error_code make_code(int rc) noexcept { return {rc, sqlite_category()}; }

void fail(sqlite3* db, int rc, std::string_view what) {
  throw failure{make_code(rc), db != nullptr ? ::sqlite3_errmsg(db) : ::sqlite3_errstr(rc),
                std::string(what)};
}

connection::~connection() { close(); }

int connection::open(const std::string& file, int flags, std::string& message) {
  close();
  sqlite3* db = nullptr;
  const int rc = ::sqlite3_open_v2(file.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    message = db != nullptr ? ::sqlite3_errmsg(db) : ::sqlite3_errstr(rc);
    ::sqlite3_close_v2(db);
    return rc;
  }
  db_ = db;
  return SQLITE_OK;
}

void connection::exec(std::string_view sql) {
  const std::string text(sql);
  const int rc = ::sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) fail(db_, rc, text);
}

std::int64_t connection::query_int(std::string_view sql) {
  statement s(db_, sql);
  if (!s.step()) fail(db_, SQLITE_ERROR, "no row from " + std::string(sql));
  return s.int_at(0);
}

std::string connection::query_text(std::string_view sql) {
  statement s(db_, sql);
  if (!s.step()) fail(db_, SQLITE_ERROR, "no row from " + std::string(sql));
  return s.text_at(0);
}

void connection::close() noexcept {
  if (db_ != nullptr) {
    ::sqlite3_close_v2(db_);
    db_ = nullptr;
  }
}

statement::statement(sqlite3* db, std::string_view sql) : db_(db) {
  const int rc =
      ::sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), 0, &stmt_, nullptr);
  if (rc != SQLITE_OK) fail(db, rc, sql);
}

statement::~statement() { ::sqlite3_finalize(stmt_); }

statement& statement::bind(int index, std::int64_t value) {
  const int rc = ::sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) fail(db_, rc, "bind");
  return *this;
}

statement& statement::bind(int index, std::string_view value) {
  const int rc = ::sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT,
                                       SQLITE_UTF8);
  if (rc != SQLITE_OK) fail(db_, rc, "bind");
  return *this;
}

bool statement::step() {
  const int rc = ::sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(db_, rc, ::sqlite3_sql(stmt_));
}

void statement::run() {
  while (step()) {
  }
}

void statement::reset() noexcept {
  ::sqlite3_reset(stmt_);
  ::sqlite3_clear_bindings(stmt_);
}

std::int64_t statement::int_at(int column) const noexcept {
  return ::sqlite3_column_int64(stmt_, column);
}

std::string statement::text_at(int column) const {
  const auto* text = ::sqlite3_column_text(stmt_, column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<std::size_t>(::sqlite3_column_bytes(stmt_, column)));
}

transaction::transaction(connection& c, mode m) : c_(c) {
  c_.exec(m == mode::write ? "BEGIN IMMEDIATE" : "BEGIN");
}

transaction::~transaction() {
  if (!done_) ::sqlite3_exec(c_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void transaction::commit() {
  c_.exec("COMMIT");
  done_ = true;
}

}  // namespace sql
}  // namespace vss::catalog
