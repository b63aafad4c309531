#pragma once
// Thin RAII over the SQLite C API for the catalog: a connection, prepared statements, an
// IMMEDIATE transaction, and the error category of SQLite result codes.
//
// Inside src/catalog/ a failing call throws `sql::failure` (a std::error_code and the SQLite
// message); every public member of `catalog` catches it and returns the code, so no exception
// leaves the catalog.
//
// Thread-safety: none; the catalog serialises every use of one connection with its mutex.

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace vss::catalog::sql {

/// Thrown inside the catalog implementation; caught at its public boundary.
struct failure {
  std::error_code code;
  std::string message;  ///< SQLite's message (sqlite3_errmsg), or the catalog's own text.
  std::string what;     ///< The statement or step that failed; may be empty.
};

/// A code of the SQLite category (catalog::sqlite_category()) for result code `rc`.
std::error_code make_code(int rc) noexcept;

/// Throws `failure` with `rc`, the connection's message and `what`.
[[noreturn]] void fail(sqlite3* db, int rc, std::string_view what);

/// Owns one sqlite3 connection.
class connection {
 public:
  connection() = default;
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// sqlite3_open_v2; on failure returns the result code and `message`, and owns nothing.
  int open(const std::string& file, int flags, std::string& message);

  /// Runs `sql` (one or more statements, no results); throws `failure`.
  void exec(std::string_view sql);

  /// Runs a one-row, one-column query and returns its integer; throws `failure`.
  std::int64_t query_int(std::string_view sql);

  /// Runs a one-row, one-column query and returns its text; throws `failure`.
  std::string query_text(std::string_view sql);

  /// Closes now (also done by the destructor).
  void close() noexcept;

  sqlite3* get() const noexcept { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

/// One prepared statement; bind indexes start at 1, column indexes at 0.
class statement {
 public:
  /// Prepares `sql` on `db`; throws `failure`.
  statement(sqlite3* db, std::string_view sql);
  ~statement();
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  statement& bind(int index, std::int64_t value);
  statement& bind(int index, std::string_view value);

  /// True when a row is available, false when done; throws `failure` on an error.
  bool step();

  /// Steps to completion, expecting no row; throws `failure`.
  void run();

  /// Resets for another run with new bindings.
  void reset() noexcept;

  std::int64_t int_at(int column) const noexcept;
  std::string text_at(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

/// A write transaction (BEGIN IMMEDIATE: takes the write lock at once, so that a second
/// process waits in the busy handler instead of failing a lock upgrade), or a read one (BEGIN:
/// one consistent snapshot for several SELECTs). ROLLBACK on destruction unless commit() ran.
class transaction {
 public:
  enum class mode { write, read };
  explicit transaction(connection& c, mode m = mode::write);
  ~transaction();
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;

  void commit();

 private:
  connection& c_;
  bool done_ = false;
};

}  // namespace vss::catalog::sql
