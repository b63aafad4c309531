#pragma once
// The catalog's SQLite schema (version catalog::schema_version) and the checks that decide
// whether an existing file is ours (docs/catalog.md, "Opening").

#include <cstdint>
#include <string>

#include "catalog/sqlite.hpp"

namespace vss::catalog::schema {

/// What an opened file turned out to be.
enum class verdict : std::uint8_t {
  fresh,         ///< Nothing in it: create the schema.
  ours,          ///< An openvss catalog of schema_version, passing quick_check.
  damaged,       ///< Ours by its id, but corrupt or incomplete.
  foreign,       ///< Another application's database.
  newer_schema,  ///< Ours, from a newer openvss.
};

/// The verdict, and for anything but fresh/ours the reason in a few words.
struct inspection {
  verdict kind = verdict::fresh;
  std::string reason;
  std::int64_t version = 0;  ///< user_version found.
};

/// Looks at an open connection's database. Throws sql::failure on SQLite errors (the caller
/// maps SQLITE_NOTADB / SQLITE_CORRUPT to "damaged").
inspection inspect(sql::connection& c);

/// Creates the tables and sets application_id and user_version, inside the caller's
/// transaction.
void create(sql::connection& c);

}  // namespace vss::catalog::schema
