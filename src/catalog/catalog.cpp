#include "catalog/catalog.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <new>
#include <ostream>
#include <set>
#include <utility>

#include "catalog/schema.hpp"
#include "catalog/sqlite.hpp"
#include "vss/error.hpp"
#include "vss/types.hpp"

namespace vss::catalog {

namespace fs = std::filesystem;
using clock_type = std::chrono::system_clock;

std::string_view to_string(set_state s) noexcept {
  switch (s) {
    case set_state::creating:
      return "creating";
    case set_state::committed:
      return "committed";
    case set_state::completed:
      return "completed";
    case set_state::aborted:
      return "aborted";
    case set_state::failed:
      return "failed";
    case set_state::deleted:
      return "deleted";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, set_state s) { return os << to_string(s); }

std::string format_time(std::chrono::system_clock::time_point t) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch());
  auto secs = std::chrono::floor<std::chrono::seconds>(us);
  const auto frac = (us - secs).count();
  const std::time_t tt = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(frac));
  return buf;
}

std::string_view to_string(recovery_action a) noexcept {
  switch (a) {
    case recovery_action::aborted_in_creation:
      return "aborted_in_creation";
    case recovery_action::released_auto_release:
      return "released_auto_release";
    case recovery_action::vanished:
      return "vanished";
  }
  return "?";
}

std::string_view to_string(open_problem p) noexcept {
  switch (p) {
    case open_problem::none:
      return "none";
    case open_problem::state_dir:
      return "state_dir";
    case open_problem::permission:
      return "permission";
    case open_problem::damaged:
      return "damaged";
    case open_problem::foreign:
      return "foreign";
    case open_problem::newer_schema:
      return "newer_schema";
    case open_problem::unavailable:
      return "unavailable";
  }
  return "?";
}

namespace {

// ---------------------------------------------------------------------------------------------
// Conversions between the C++ values and the stored ones (docs/catalog.md, "Schema").

[[noreturn]] void refuse(errc code, std::string what) {
  throw sql::failure{make_error_code(code), std::move(what), {}};
}

[[noreturn]] void corrupt(std::string what) {
  throw sql::failure{sql::make_code(SQLITE_CORRUPT), std::move(what), {}};
}

template <class Id>
Id parse_id(const std::string& text) {
  auto id = Id::parse(text);
  if (!id) corrupt("not an id in the catalog: " + text);
  return *id;
}

std::int64_t to_us(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

clock_type::time_point from_us(std::int64_t us) {
  return clock_type::time_point(
      std::chrono::duration_cast<clock_type::duration>(std::chrono::microseconds(us)));
}

// Codes of other categories have no HRESULT: they are stored as E_FAIL (error.hpp: "fail only
// when passing on a code that came from outside"), and stored_message keeps what they were.
std::int64_t to_hresult(const std::error_code& ec) {
  if (!ec) return 0;
  if (ec.category() == vss_category()) return ec.value();
  return static_cast<std::int32_t>(errc::fail);
}

std::string stored_message(const std::error_code& ec, std::string_view message) {
  std::string m(message);
  if (ec && ec.category() != vss_category()) {
    if (!m.empty()) m += " ";
    m += "(" + std::string(ec.category().name()) + " " + std::to_string(ec.value()) + ": " +
         ec.message() + ")";
  }
  return m;
}

std::error_code from_hresult(std::int64_t v) {
  if (v == 0) return {};
  return make_error_code(static_cast<errc>(static_cast<std::int32_t>(v)));
}

set_state parse_set_state(const std::string& s) {
  for (auto st : {set_state::creating, set_state::committed, set_state::completed,
                  set_state::aborted, set_state::failed, set_state::deleted}) {
    if (s == to_string(st)) return st;
  }
  corrupt("unknown set state in the catalog: " + s);
}

// Not vss::to_string(consistency_grade): that is display text ("application-consistent"); the
// stored words are the daemon protocol's.
std::string_view grade_text(consistency_grade g) {
  switch (g) {
    case consistency_grade::none:
      return "none";
    case consistency_grade::application:
      return "application";
    case consistency_grade::filesystem:
      return "filesystem";
    case consistency_grade::crash:
      return "crash";
  }
  return "none";
}

consistency_grade parse_grade(const std::string& s) {
  for (auto g : {consistency_grade::none, consistency_grade::application,
                 consistency_grade::filesystem, consistency_grade::crash}) {
    if (s == grade_text(g)) return g;
  }
  corrupt("unknown grade in the catalog: " + s);
}

recovery_action parse_action(const std::string& s) {
  for (auto a : {recovery_action::aborted_in_creation, recovery_action::released_auto_release,
                 recovery_action::vanished}) {
    if (s == to_string(a)) return a;
  }
  corrupt("unknown recovery action in the catalog: " + s);
}

constexpr auto ss = [](snapshot_state s) { return static_cast<std::int64_t>(s); };

constexpr std::string_view set_columns =
    "set_id, state, provider_id, context, host_boot_id, host_pid, host_start_ticks, session_id, "
    "requester_pid, created_us, updated_us, grade, failure_hresult, failure_message";

constexpr std::string_view snapshot_columns =
    "s.snapshot_id, s.set_id, s.original_volume, s.device, s.provider_id, s.attributes, "
    "s.state, s.snapshots_count, s.originating_machine, s.service_machine, s.created_us";

set_record read_set_row(const sql::statement& s) {
  set_record r;
  r.id = parse_id<snapshot_set_id>(s.text_at(0));
  r.state = parse_set_state(s.text_at(1));
  r.provider = parse_id<provider_id>(s.text_at(2));
  r.context = static_cast<std::uint32_t>(s.int_at(3));
  r.owner.host.boot_id = s.text_at(4);
  r.owner.host.pid = s.int_at(5);
  r.owner.host.start_ticks = static_cast<std::uint64_t>(s.int_at(6));
  r.owner.session = parse_id<session_id>(s.text_at(7));
  r.owner.requester_pid = s.int_at(8);
  r.created = from_us(s.int_at(9));
  r.updated = from_us(s.int_at(10));
  r.consistency = parse_grade(s.text_at(11));
  r.failure = from_hresult(s.int_at(12));
  r.failure_message = s.text_at(13);
  return r;
}

snapshot_properties read_snapshot_row(const sql::statement& s) {
  snapshot_properties p;
  p.id = parse_id<snapshot_id>(s.text_at(0));
  p.set_id = parse_id<snapshot_set_id>(s.text_at(1));
  p.original_volume = s.text_at(2);
  p.device = s.text_at(3);
  p.provider = parse_id<provider_id>(s.text_at(4));
  p.attributes = static_cast<std::uint32_t>(s.int_at(5));
  p.state = static_cast<snapshot_state>(s.int_at(6));
  p.snapshots_count = static_cast<std::int32_t>(s.int_at(7));
  p.originating_machine = s.text_at(8);
  p.service_machine = s.text_at(9);
  p.created = from_us(s.int_at(10));
  return p;
}

// ---------------------------------------------------------------------------------------------
// Opening

bool is_permission_errno(int e) { return e == EACCES || e == EPERM || e == EROFS; }

std::string errno_text(int e) { return std::strerror(e); }

open_result refused(open_problem p, std::string message) {
  open_result r;
  r.problem = p;
  r.message = std::move(message);
  return r;
}

std::string uid_text() { return "uid " + std::to_string(::geteuid()); }

open_result problem_with_file(open_problem p, const fs::path& file, const std::string& reason) {
  const std::string f = file.string();
  const std::string dir = file.parent_path().string();
  switch (p) {
    case open_problem::damaged:
      return refused(p, "openvss catalog " + f + " is damaged: " + reason +
                            ". openvss will not use it. Stop every openvss process, move the "
                            "file and its -wal and -shm files aside (mv " +
                            f + " " + f + ".damaged, the same for " + f + "-wal and " + f +
                            "-shm if they exist), then start again: a new, empty catalog is "
                            "created. "
                            "Snapshots recorded only in the moved file are no longer known to "
                            "openvss; keep the file to find and delete them by hand.");
    case open_problem::foreign:
      return refused(p, f + " is not an openvss catalog: " + reason +
                            ". openvss never changes another program's file. Move it (and "
                            "its -wal and -shm files) out of " +
                            dir + ", or give openvss a state directory of its own.");
    case open_problem::newer_schema:
      return refused(p, "openvss catalog " + f + " was written by a newer openvss: " + reason +
                            ". Run that openvss version or a newer one, or move the file and "
                            "its -wal and -shm files aside to start with an empty catalog.");
    case open_problem::permission:
      return refused(p, "cannot write the openvss catalog " + f + ": " + reason +
                            ". Give the user openvss runs as (" + uid_text() +
                            ") write access to it and to " + dir +
                            ", or use another state directory.");
    default:
      return refused(p, "cannot open the openvss catalog " + f + ": " + reason + ".");
  }
}

// Creates `dir` (0700) and its missing parents (0755). Returns {} or the failure.
open_result make_state_dir(const fs::path& dir) {
  std::error_code ec;
  const auto st = fs::status(dir, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st)) {
      return refused(open_problem::state_dir,
                     "the openvss state directory " + dir.string() +
                         " is not a directory. Remove or rename what is there, or use another "
                         "state directory.");
    }
  } else {
    const fs::path parent = dir.parent_path();
    if (!parent.empty()) {
      fs::create_directories(parent, ec);
      if (ec) {
        const bool perm = is_permission_errno(ec.value());
        return refused(perm ? open_problem::permission : open_problem::state_dir,
                       "cannot create the openvss state directory " + dir.string() + ": " +
                           parent.string() + ": " + ec.message() +
                           ". Create it (mode 0700, owned by the user openvss runs as, " +
                           uid_text() + ") or use another state directory.");
      }
    }
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      const int e = errno;
      return refused(is_permission_errno(e) ? open_problem::permission : open_problem::state_dir,
                     "cannot create the openvss state directory " + dir.string() + ": " +
                         errno_text(e) + ". Create it (mode 0700, owned by the user openvss " +
                         "runs as, " + uid_text() + ") or use another state directory.");
    }
    if (!fs::is_directory(dir, ec)) {
      return refused(open_problem::state_dir,
                     "the openvss state directory " + dir.string() + " is not a directory.");
    }
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    const int e = errno;
    return refused(is_permission_errno(e) ? open_problem::permission : open_problem::state_dir,
                   "cannot write to the openvss state directory " + dir.string() + ": " +
                       errno_text(e) +
                       ". The catalog and its -wal and -shm files live there: give the user "
                       "openvss runs as (" +
                       uid_text() + ") write access, or use another state directory.");
  }
  return {};
}

// Makes sure `file` exists (creating it 0600, empty), or checks that what is there starts
// like an SQLite database. SQLite itself would create the file with the umask's mode, and
// would report any non-database as "file is not a database" only at the first read.
open_result prepare_file(const fs::path& file) {
  struct stat st {};
  if (::lstat(file.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      const int e = errno;
      return problem_with_file(
          is_permission_errno(e) ? open_problem::permission : open_problem::unavailable, file,
          errno_text(e));
    }
    // A -wal or -shm file without its database belongs to a database that is gone; SQLite
    // would replay such a WAL into the new file.
    std::error_code ignored;
    fs::remove(file.string() + "-wal", ignored);
    fs::remove(file.string() + "-shm", ignored);
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) {
      const int e = errno;
      return problem_with_file(
          is_permission_errno(e) ? open_problem::permission : open_problem::unavailable, file,
          errno_text(e));
    }
    if (fd >= 0) ::close(fd);
    return {};
  }
  if (!S_ISREG(st.st_mode)) {
    return problem_with_file(open_problem::damaged, file, "it is not a regular file");
  }
  if (st.st_size == 0) return {};
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    const int e = errno;
    return problem_with_file(
        is_permission_errno(e) ? open_problem::permission : open_problem::unavailable, file,
        "cannot read it: " + errno_text(e));
  }
  char header[100] = {};
  in.read(header, sizeof header);
  const auto got = static_cast<std::size_t>(in.gcount());
  static constexpr char magic[] = "SQLite format 3";  // 16 bytes with its NUL
  if (got < sizeof magic || std::memcmp(header, magic, sizeof magic) != 0) {
    return problem_with_file(open_problem::damaged, file,
                             "it is not an SQLite database (it does not start with the SQLite "
                             "header \"SQLite format 3\")");
  }
  if (got < sizeof header) {
    return problem_with_file(
        open_problem::damaged, file,
        "it is " + std::to_string(got) + " bytes long, shorter than an SQLite header (100 bytes)");
  }
  return {};
}

open_problem problem_of(const std::error_code& ec) {
  if (ec.category() != sqlite_category()) return open_problem::unavailable;
  switch (ec.value() & 0xff) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return open_problem::damaged;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_CANTOPEN:
      return open_problem::permission;
    default:
      return open_problem::unavailable;
  }
}

// The refusal for a file that is not ours, or no problem.
open_result refusal(const fs::path& file, const schema::inspection& seen) {
  switch (seen.kind) {
    case schema::verdict::foreign:
      return problem_with_file(open_problem::foreign, file, seen.reason);
    case schema::verdict::newer_schema:
      return problem_with_file(open_problem::newer_schema, file, seen.reason);
    case schema::verdict::damaged:
      return problem_with_file(open_problem::damaged, file, seen.reason);
    case schema::verdict::fresh:
    case schema::verdict::ours:
      break;
  }
  return {};
}

std::string sqlite_reason(const sql::failure& e) {
  std::string r = "SQLite reports \"" + e.message + "\"";
  if (!e.what.empty()) r += " (at " + e.what + ")";
  return r;
}

open_result connect(sql::connection& c, const fs::path& file, int mode, const options& opts) {
  std::string message;
  const int rc = c.open(file.string(), mode | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, message);
  if (rc != SQLITE_OK) {
    return problem_with_file(problem_of(sql::make_code(rc)), file,
                             "SQLite reports \"" + message + "\"");
  }
  ::sqlite3_busy_timeout(
      c.get(), static_cast<int>(std::clamp<std::int64_t>(opts.busy_timeout.count(), 0, 1 << 30)));
  return {};
}

}  // namespace

// ---------------------------------------------------------------------------------------------

struct catalog::impl {
  fs::path file;
  options opts;
  mutable std::mutex mu;
  mutable sql::connection db;

  std::int64_t now_us() const { return to_us(opts.now ? opts.now() : clock_type::now()); }

  // Runs `f` under the mutex; converts what it throws into the returned code.
  template <class F>
  std::error_code guarded(F&& f) const {
    try {
      std::lock_guard lock(mu);
      f();
      return {};
    } catch (const sql::failure& e) {
      return e.code;
    } catch (const std::bad_alloc&) {
      return make_error_code(errc::out_of_memory);
    } catch (const std::exception&) {
      return make_error_code(errc::unexpected);
    }
  }

  std::optional<set_state> state_of(const snapshot_set_id& set) const {
    sql::statement s(db.get(), "SELECT state FROM sets WHERE set_id = ?");
    s.bind(1, set.to_string());
    if (!s.step()) return std::nullopt;
    return parse_set_state(s.text_at(0));
  }

  set_state require_state(const snapshot_set_id& set, std::initializer_list<set_state> allowed,
                          std::string_view what) const {
    const auto st = state_of(set);
    if (!st) refuse(errc::object_not_found, "unknown snapshot set " + set.to_string());
    if (std::find(allowed.begin(), allowed.end(), *st) == allowed.end()) {
      refuse(errc::bad_state, std::string(what) + ": snapshot set " + set.to_string() + " is " +
                                  std::string(to_string(*st)));
    }
    return *st;
  }

  bool snapshot_known(const snapshot_id& id) const {
    sql::statement s(db.get(), "SELECT 1 FROM snapshots WHERE snapshot_id = ?");
    s.bind(1, id.to_string());
    return s.step();
  }

  void insert_snapshot(const snapshot_set_id& set, std::int64_t position, const planned_snapshot& p,
                       std::int64_t now) {
    if (p.id.is_null()) refuse(errc::invalid_arg, "null snapshot id");
    if (snapshot_known(p.id)) {
      refuse(errc::object_already_exists, "snapshot " + p.id.to_string() + " is known");
    }
    sql::statement s(db.get(),
                     "INSERT INTO snapshots (snapshot_id, set_id, position, original_volume, "
                     "provider_id, state, snapshots_count, created_us) "
                     "VALUES (?, ?, ?, ?, ?, ?, 0, ?)");
    s.bind(1, p.id.to_string())
        .bind(2, set.to_string())
        .bind(3, position)
        .bind(4, p.volume)
        .bind(5, p.provider.to_string())
        .bind(6, ss(snapshot_state::preparing))
        .bind(7, now);
    s.run();
  }

  void recount(const snapshot_set_id& set) {
    sql::statement s(db.get(),
                     "UPDATE snapshots SET snapshots_count = "
                     "(SELECT count(*) FROM snapshots WHERE set_id = ?1) WHERE set_id = ?1");
    s.bind(1, set.to_string());
    s.run();
  }

  void upsert_writers(const snapshot_set_id& set, std::span<const writer_status> writers) {
    sql::statement s(
        db.get(),
        "INSERT INTO set_writers (set_id, instance_id, class_id, name, level, state, "
        "failure_hresult, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (set_id, instance_id) DO UPDATE SET class_id = excluded.class_id, "
        "name = excluded.name, level = excluded.level, state = excluded.state, "
        "failure_hresult = excluded.failure_hresult, message = excluded.message");
    for (const auto& w : writers) {
      s.reset();
      s.bind(1, set.to_string())
          .bind(2, w.instance_id.to_string())
          .bind(3, w.class_id.to_string())
          .bind(4, w.name)
          .bind(5, static_cast<std::int64_t>(w.level))
          .bind(6, static_cast<std::int64_t>(w.state))
          .bind(7, to_hresult(w.failure))
          .bind(8, stored_message(w.failure, w.message));
      s.run();
    }
  }

  // Applies provider-reported properties to journaled snapshots of `set`; a snapshot whose
  // state is reported unknown gets `default_state`.
  void apply_properties(const snapshot_set_id& set, std::span<const snapshot_properties> props,
                        snapshot_state default_state) {
    sql::statement owner(db.get(), "SELECT set_id FROM snapshots WHERE snapshot_id = ?");
    sql::statement update(
        db.get(),
        "UPDATE snapshots SET "
        "original_volume = CASE WHEN ?2 = '' THEN original_volume ELSE ?2 END, device = ?3, "
        "provider_id = CASE WHEN ?4 = ?5 THEN provider_id ELSE ?4 END, attributes = ?6, "
        "state = ?7, snapshots_count = CASE WHEN ?8 > 0 THEN ?8 ELSE snapshots_count END, "
        "originating_machine = ?9, service_machine = ?10, "
        "created_us = CASE WHEN ?11 = 0 THEN created_us ELSE ?11 END "
        "WHERE snapshot_id = ?1");
    for (const auto& p : props) {
      owner.reset();
      owner.bind(1, p.id.to_string());
      if (!owner.step() || owner.text_at(0) != set.to_string() ||
          (!p.set_id.is_null() && p.set_id != set)) {
        refuse(errc::snapshot_not_in_set,
               "snapshot " + p.id.to_string() + " is not in set " + set.to_string());
      }
      const snapshot_state st = p.state == snapshot_state::unknown ? default_state : p.state;
      update.reset();
      update.bind(1, p.id.to_string())
          .bind(2, p.original_volume)
          .bind(3, p.device)
          .bind(4, p.provider.to_string())
          .bind(5, provider_id{}.to_string())
          .bind(6, static_cast<std::int64_t>(p.attributes))
          .bind(7, ss(st))
          .bind(8, static_cast<std::int64_t>(p.snapshots_count))
          .bind(9, p.originating_machine)
          .bind(10, p.service_machine)
          .bind(11, to_us(p.created));
      update.run();
    }
  }

  void set_snapshot_states(const snapshot_set_id& set, snapshot_state to,
                           std::string_view only_from_sql = {}) {
    std::string text = "UPDATE snapshots SET state = ? WHERE set_id = ?";
    if (!only_from_sql.empty()) text += " AND state IN (" + std::string(only_from_sql) + ")";
    sql::statement s(db.get(), text);
    s.bind(1, ss(to)).bind(2, set.to_string());
    s.run();
  }

  void update_set(const snapshot_set_id& set, set_state to, std::int64_t now) {
    sql::statement s(db.get(), "UPDATE sets SET state = ?, updated_us = ? WHERE set_id = ?");
    s.bind(1, to_string(to)).bind(2, now).bind(3, set.to_string());
    s.run();
  }

  void prune_history() {
    sql::statement s(db.get(),
                     "DELETE FROM sets WHERE state IN ('aborted','failed','deleted') AND rowid NOT "
                     "IN (SELECT rowid FROM sets WHERE state IN ('aborted','failed','deleted') "
                     "ORDER BY updated_us DESC, rowid DESC LIMIT ?)");
    s.bind(1, static_cast<std::int64_t>(opts.history_limit));
    s.run();
  }

  void end_set(const snapshot_set_id& set, set_state to, const std::error_code& why,
               std::string_view message, std::span<const writer_status> writers,
               std::string_view what) {
    sql::transaction tx(db);
    require_state(set, {set_state::creating, set_state::committed}, what);
    const auto now = now_us();
    set_snapshot_states(set, snapshot_state::aborted);
    sql::statement s(db.get(),
                     "UPDATE sets SET state = ?, updated_us = ?, failure_hresult = ?, "
                     "failure_message = ? WHERE set_id = ?");
    s.bind(1, to_string(to))
        .bind(2, now)
        .bind(3, to_hresult(why))
        .bind(4, stored_message(why, message))
        .bind(5, set.to_string());
    s.run();
    upsert_writers(set, writers);
    prune_history();
    tx.commit();
  }

  // Loads "SELECT <set columns> FROM sets <tail>" with `bind` applied, plus the snapshots
  // and writers of each set. Call inside a read transaction.
  template <class Bind>
  std::vector<set_record> load_sets(std::string_view tail, Bind&& bind) const {
    std::vector<set_record> out;
    {
      sql::statement s(db.get(),
                       "SELECT " + std::string(set_columns) + " FROM sets " + std::string(tail));
      bind(s);
      while (s.step()) out.push_back(read_set_row(s));
    }
    sql::statement snaps(db.get(), "SELECT " + std::string(snapshot_columns) +
                                       " FROM snapshots s WHERE s.set_id = ? ORDER BY s.position");
    sql::statement writers(db.get(),
                           "SELECT instance_id, class_id, name, level, state, failure_hresult, "
                           "message FROM set_writers WHERE set_id = ? ORDER BY rowid");
    for (auto& r : out) {
      snaps.reset();
      snaps.bind(1, r.id.to_string());
      while (snaps.step()) r.snapshots.push_back(read_snapshot_row(snaps));
      writers.reset();
      writers.bind(1, r.id.to_string());
      while (writers.step()) {
        writer_status w;
        w.instance_id = parse_id<writer_instance_id>(writers.text_at(0));
        w.class_id = parse_id<writer_class_id>(writers.text_at(1));
        w.name = writers.text_at(2);
        w.level = static_cast<application_level>(writers.int_at(3));
        w.state = static_cast<writer_state>(writers.int_at(4));
        w.failure = from_hresult(writers.int_at(5));
        w.message = writers.text_at(6);
        r.writers.push_back(std::move(w));
      }
    }
    return out;
  }

  std::vector<snapshot_properties> visible(const snapshot_set_id* set) const {
    std::string text = "SELECT " + std::string(snapshot_columns) +
                       " FROM snapshots s JOIN sets t ON t.set_id = s.set_id "
                       "WHERE t.state = 'completed' AND s.state = ?";
    if (set != nullptr) text += " AND s.set_id = ?";
    text += " ORDER BY t.created_us, t.rowid, s.position";
    sql::statement s(db.get(), text);
    s.bind(1, ss(snapshot_state::created));
    if (set != nullptr) s.bind(2, set->to_string());
    std::vector<snapshot_properties> out;
    while (s.step()) out.push_back(read_snapshot_row(s));
    return out;
  }
};

catalog::catalog(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

catalog::~catalog() = default;

const fs::path& catalog::file() const noexcept { return impl_->file; }

open_result catalog::open(const fs::path& state_dir, options opts) {
  try {
    if (state_dir.empty()) {
      return refused(open_problem::state_dir, "no openvss state directory given");
    }
    if (auto r = make_state_dir(state_dir); r.problem != open_problem::none) return r;
    const fs::path file = state_dir / file_name;
    if (auto r = prepare_file(file); r.problem != open_problem::none) return r;

    // First a read-only look: a file that is not ours must not even be checkpointed or have
    // a hot journal rolled back by us.
    schema::inspection seen;
    {
      sql::connection look;
      if (auto r = connect(look, file, SQLITE_OPEN_READONLY, opts);
          r.problem != open_problem::none) {
        return r;
      }
      try {
        seen = schema::inspect(look);
      } catch (const sql::failure& e) {
        return problem_with_file(problem_of(e.code), file, sqlite_reason(e));
      }
    }
    if (auto r = refusal(file, seen); r.problem != open_problem::none) return r;

    auto p = std::make_unique<impl>();
    p->file = file;
    p->opts = std::move(opts);
    if (auto r = connect(p->db, file, SQLITE_OPEN_READWRITE, p->opts);
        r.problem != open_problem::none) {
      return r;
    }
    if (::sqlite3_db_readonly(p->db.get(), "main") == 1) {
      return problem_with_file(open_problem::permission, file,
                               "SQLite can open it for reading only");
    }
    try {
      // WAL: readers never block the writer, and a commit is one append to the -wal file.
      // synchronous=FULL: that append is fsync'ed before COMMIT returns, so a set journaled
      // before its provider creates anything survives a power cut too, not only kill -9.
      // WAL must be chosen outside a transaction.
      p->db.exec("PRAGMA journal_mode = WAL");
      p->db.exec("PRAGMA synchronous = FULL");
      p->db.exec("PRAGMA foreign_keys = ON");
      if (seen.kind == schema::verdict::fresh) {
        // Look again under the write lock: another process may have created it meanwhile.
        sql::transaction tx(p->db);
        seen = schema::inspect(p->db);
        if (seen.kind == schema::verdict::fresh) {
          schema::create(p->db);
          seen.kind = schema::verdict::ours;
        }
        tx.commit();
        if (auto r = refusal(file, seen); r.problem != open_problem::none) return r;
      }
    } catch (const sql::failure& e) {
      return problem_with_file(problem_of(e.code), file, sqlite_reason(e));
    }
    return open_result{std::unique_ptr<catalog>(new catalog(std::move(p))), open_problem::none, {}};
  } catch (const std::bad_alloc&) {
    return refused(open_problem::unavailable, "out of memory opening the openvss catalog");
  } catch (const std::exception& e) {
    return refused(open_problem::unavailable,
                   std::string("cannot open the openvss catalog: ") + e.what());
  }
}

std::error_code catalog::journal_set_creating(const new_set& set) {
  return impl_->guarded([&] {
    if (set.id.is_null()) refuse(errc::invalid_arg, "null snapshot set id");
    std::set<snapshot_id> ids;
    for (const auto& p : set.snapshots) {
      if (!ids.insert(p.id).second) {
        refuse(errc::object_already_exists, "snapshot " + p.id.to_string() + " given twice");
      }
    }
    auto& d = *impl_;
    sql::transaction tx(d.db);
    if (d.state_of(set.id)) {
      refuse(errc::object_already_exists, "snapshot set " + set.id.to_string() + " is known");
    }
    const auto now = d.now_us();
    sql::statement s(
        d.db.get(),
        "INSERT INTO sets (set_id, state, provider_id, context, host_boot_id, "
        "host_pid, host_start_ticks, session_id, requester_pid, created_us, "
        "updated_us, grade) VALUES (?, 'creating', ?, ?, ?, ?, ?, ?, ?, ?, ?, 'none')");
    s.bind(1, set.id.to_string())
        .bind(2, set.provider.to_string())
        .bind(3, static_cast<std::int64_t>(set.context))
        .bind(4, set.owner.host.boot_id)
        .bind(5, set.owner.host.pid)
        .bind(6, static_cast<std::int64_t>(set.owner.host.start_ticks))
        .bind(7, set.owner.session.to_string())
        .bind(8, set.owner.requester_pid)
        .bind(9, now)
        .bind(10, now);
    s.run();
    std::int64_t position = 0;
    for (const auto& p : set.snapshots) d.insert_snapshot(set.id, position++, p, now);
    d.recount(set.id);
    tx.commit();
  });
}

std::error_code catalog::journal_snapshot(const snapshot_set_id& set,
                                          const planned_snapshot& snapshot) {
  return impl_->guarded([&] {
    auto& d = *impl_;
    sql::transaction tx(d.db);
    d.require_state(set, {set_state::creating}, "journal_snapshot");
    sql::statement next(d.db.get(),
                        "SELECT coalesce(max(position) + 1, 0) FROM snapshots WHERE set_id = ?");
    next.bind(1, set.to_string());
    next.step();
    d.insert_snapshot(set, next.int_at(0), snapshot, d.now_us());
    d.recount(set);
    tx.commit();
  });
}

std::error_code catalog::record_writers(const snapshot_set_id& set,
                                        std::span<const writer_status> writers) {
  return impl_->guarded([&] {
    auto& d = *impl_;
    sql::transaction tx(d.db);
    d.require_state(set,
                    {set_state::creating, set_state::committed, set_state::completed,
                     set_state::aborted, set_state::failed},
                    "record_writers");
    d.upsert_writers(set, writers);
    tx.commit();
  });
}

std::error_code catalog::mark_committed(const snapshot_set_id& set,
                                        std::span<const snapshot_properties> snapshots) {
  return impl_->guarded([&] {
    auto& d = *impl_;
    sql::transaction tx(d.db);
    d.require_state(set, {set_state::creating}, "mark_committed");
    d.set_snapshot_states(set, snapshot_state::committed,
                          std::to_string(ss(snapshot_state::preparing)));
    d.apply_properties(set, snapshots, snapshot_state::committed);
    d.update_set(set, set_state::committed, d.now_us());
    tx.commit();
  });
}

std::error_code catalog::mark_completed(const snapshot_set_id& set, consistency_grade g,
                                        std::span<const snapshot_properties> snapshots,
                                        std::span<const writer_status> writers) {
  return impl_->guarded([&] {
    auto& d = *impl_;
    sql::transaction tx(d.db);
    d.require_state(set, {set_state::committed}, "mark_completed");
    d.apply_properties(set, snapshots, snapshot_state::created);
    d.set_snapshot_states(set, snapshot_state::created);
    sql::statement s(d.db.get(), "UPDATE sets SET grade = ? WHERE set_id = ?");
    s.bind(1, grade_text(g)).bind(2, set.to_string());
    s.run();
    d.upsert_writers(set, writers);
    d.update_set(set, set_state::completed, d.now_us());
    tx.commit();
  });
}

std::error_code catalog::mark_aborted(const snapshot_set_id& set, std::error_code why,
                                      std::string_view message,
                                      std::span<const writer_status> writers) {
  return impl_->guarded(
      [&] { impl_->end_set(set, set_state::aborted, why, message, writers, "mark_aborted"); });
}

std::error_code catalog::mark_failed(const snapshot_set_id& set, std::error_code why,
                                     std::string_view message,
                                     std::span<const writer_status> writers) {
  return impl_->guarded(
      [&] { impl_->end_set(set, set_state::failed, why, message, writers, "mark_failed"); });
}

std::error_code catalog::record_deleted(const snapshot_id& snapshot) {
  return impl_->guarded([&] {
    auto& d = *impl_;
    sql::transaction tx(d.db);
    sql::statement find(d.db.get(),
                        "SELECT s.set_id FROM snapshots s JOIN sets t ON t.set_id = s.set_id "
                        "WHERE s.snapshot_id = ? AND s.state = ? AND t.state = 'completed'");
    find.bind(1, snapshot.to_string()).bind(2, ss(snapshot_state::created));
    if (!find.step()) {
      refuse(errc::object_not_found, "no created snapshot " + snapshot.to_string());
    }
    const auto set = parse_id<snapshot_set_id>(find.text_at(0));
    sql::statement del(d.db.get(), "UPDATE snapshots SET state = ? WHERE snapshot_id = ?");
    del.bind(1, ss(snapshot_state::deleted)).bind(2, snapshot.to_string());
    del.run();
    sql::statement left(d.db.get(),
                        "SELECT count(*) FROM snapshots WHERE set_id = ? AND state <> ?");
    left.bind(1, set.to_string()).bind(2, ss(snapshot_state::deleted));
    left.step();
    if (left.int_at(0) == 0) {
      d.update_set(set, set_state::deleted, d.now_us());
      d.prune_history();
    }
    tx.commit();
  });
}

std::error_code catalog::record_recovery(recovery_entry& entry) {
  return impl_->guarded([&] {
    auto& d = *impl_;
    sql::transaction tx(d.db);
    const auto now = d.now_us();
    sql::statement s(d.db.get(),
                     "INSERT INTO recoveries (at_us, set_id, action, previous_state, owner_pid, "
                     "snapshots, failed, result_hresult, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                     "?)");
    s.bind(1, now)
        .bind(2, entry.set.to_string())
        .bind(3, to_string(entry.action))
        .bind(4, to_string(entry.previous_state))
        .bind(5, entry.owner_pid)
        .bind(6, static_cast<std::int64_t>(entry.snapshots))
        .bind(7, static_cast<std::int64_t>(entry.failed))
        .bind(8, to_hresult(entry.result))
        .bind(9, stored_message(entry.result, entry.detail));
    s.run();
    const auto seq = ::sqlite3_last_insert_rowid(d.db.get());
    sql::statement prune(d.db.get(), "DELETE FROM recoveries WHERE seq <= ?");
    prune.bind(1, seq - static_cast<std::int64_t>(d.opts.recovery_log_limit));
    prune.run();
    tx.commit();
    entry.seq = seq;
    entry.at = from_us(now);
  });
}

std::error_code catalog::query(std::vector<snapshot_properties>& out) const {
  return impl_->guarded([&] { out = impl_->visible(nullptr); });
}

std::error_code catalog::query(const snapshot_set_id& set,
                               std::vector<snapshot_properties>& out) const {
  return impl_->guarded([&] { out = impl_->visible(&set); });
}

std::error_code catalog::get_snapshot_properties(const snapshot_id& id,
                                                 snapshot_properties& out) const {
  return impl_->guarded([&] {
    sql::statement s(impl_->db.get(),
                     "SELECT " + std::string(snapshot_columns) +
                         " FROM snapshots s JOIN sets t ON t.set_id = s.set_id WHERE "
                         "s.snapshot_id = ? AND s.state = ? AND t.state = 'completed'");
    s.bind(1, id.to_string()).bind(2, ss(snapshot_state::created));
    if (!s.step()) refuse(errc::object_not_found, "no created snapshot " + id.to_string());
    out = read_snapshot_row(s);
  });
}

std::error_code catalog::get_set(const snapshot_set_id& id, set_record& out) const {
  return impl_->guarded([&] {
    sql::transaction tx(impl_->db, sql::transaction::mode::read);
    auto sets =
        impl_->load_sets("WHERE set_id = ?", [&](sql::statement& s) { s.bind(1, id.to_string()); });
    tx.commit();
    if (sets.empty()) refuse(errc::object_not_found, "unknown snapshot set " + id.to_string());
    out = std::move(sets.front());
  });
}

std::error_code catalog::sets_in_creation(std::vector<set_record>& out) const {
  return impl_->guarded([&] {
    sql::transaction tx(impl_->db, sql::transaction::mode::read);
    out = impl_->load_sets("WHERE state IN ('creating','committed') ORDER BY created_us, rowid",
                           [](sql::statement&) {});
    tx.commit();
  });
}

std::error_code catalog::auto_release_sets_of_dead_owners(const host_process& self,
                                                          std::span<const session_id> live_sessions,
                                                          std::vector<set_record>& out) const {
  return impl_->guarded([&] {
    sql::transaction tx(impl_->db, sql::transaction::mode::read);
    auto sets = impl_->load_sets("WHERE state = 'completed' ORDER BY created_us, rowid",
                                 [](sql::statement&) {});
    tx.commit();
    out.clear();
    for (auto& r : sets) {
      if (context_auto_release(r.context) && owner_gone(r.owner, self, live_sessions)) {
        out.push_back(std::move(r));
      }
    }
  });
}

std::error_code catalog::recent_sets(std::size_t limit, std::vector<set_record>& out) const {
  return impl_->guarded([&] {
    sql::transaction tx(impl_->db, sql::transaction::mode::read);
    out = impl_->load_sets("ORDER BY updated_us DESC, rowid DESC LIMIT ?", [&](sql::statement& s) {
      s.bind(1, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
    });
    tx.commit();
  });
}

std::error_code catalog::recent_recoveries(std::size_t limit,
                                           std::vector<recovery_entry>& out) const {
  return impl_->guarded([&] {
    sql::statement s(impl_->db.get(),
                     "SELECT seq, at_us, set_id, action, previous_state, owner_pid, snapshots, "
                     "failed, result_hresult, detail FROM recoveries ORDER BY seq DESC LIMIT ?");
    s.bind(1, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
    out.clear();
    while (s.step()) {
      recovery_entry e;
      e.seq = s.int_at(0);
      e.at = from_us(s.int_at(1));
      e.set = parse_id<snapshot_set_id>(s.text_at(2));
      e.action = parse_action(s.text_at(3));
      e.previous_state = parse_set_state(s.text_at(4));
      e.owner_pid = s.int_at(5);
      e.snapshots = static_cast<std::uint32_t>(s.int_at(6));
      e.failed = static_cast<std::uint32_t>(s.int_at(7));
      e.result = from_hresult(s.int_at(8));
      e.detail = s.text_at(9);
      out.push_back(std::move(e));
    }
  });
}

std::error_code catalog::stats(catalog_stats& out) const {
  return impl_->guarded([&] {
    sql::transaction tx(impl_->db, sql::transaction::mode::read);
    catalog_stats r;
    sql::statement s(impl_->db.get(), "SELECT state, count(*) FROM sets GROUP BY state");
    while (s.step()) {
      r.sets[static_cast<std::size_t>(parse_set_state(s.text_at(0)))] =
          static_cast<std::size_t>(s.int_at(1));
    }
    r.snapshots = impl_->visible(nullptr).size();
    tx.commit();
    out = r;
  });
}

}  // namespace vss::catalog
