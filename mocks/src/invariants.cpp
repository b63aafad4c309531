#include "vss/mocks/invariants.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <optional>

namespace vss::mocks {
namespace {

using E = writer_event;

// The position of an event in a session's forward path; nullopt for events outside it.
std::optional<int> forward_rank(E e) {
  switch (e) {
    case E::prepare_backup:
      return 0;
    case E::prepare_snapshot:
      return 1;
    case E::freeze:
      return 2;
    case E::thaw:
      return 3;
    case E::post_snapshot:
      return 4;
    case E::backup_complete:
      return 5;
    default:
      return std::nullopt;
  }
}

std::string name(E e) { return std::string(to_string(e)); }

class writer_checker {
 public:
  writer_checker(std::string writer, std::vector<invariant_violation>& out)
      : writer_(std::move(writer)), out_(out) {}

  void check(const std::vector<E>& seen, bool released) {
    std::array<int, writer_event_count> count{};
    std::optional<std::size_t> first_abort;
    int last_rank = -1;
    E last_forward = E::identify;
    for (std::size_t i = 0; i < seen.size(); ++i) {
      const E e = seen[i];
      if (e == E::identify) continue;
      if (++count[static_cast<std::size_t>(e)] == 2) {
        fail("at_most_once", name(e) + " arrived more than once");
      }
      if (first_abort && e != E::backup_shutdown && e != E::abort) {
        fail("after_abort", name(e) + " arrived after Abort");
      }
      if (e == E::abort && !first_abort) first_abort = i;
      if (auto rank = forward_rank(e)) {
        if (*rank <= last_rank && count[static_cast<std::size_t>(e)] == 1) {
          fail("vss_order", name(e) + " arrived after " + name(last_forward));
        }
        if (*rank > last_rank) {
          last_rank = *rank;
          last_forward = e;
        }
      }
      if (e == E::backup_shutdown && i + 1 < seen.size()) {
        const bool only_identify_after =
            std::all_of(seen.begin() + static_cast<long>(i) + 1, seen.end(),
                        [](E x) { return x == E::identify; });
        if (!only_identify_after) fail("session_end", "an event arrived after BackupShutdown");
      }
    }
    auto n = [&](E e) { return count[static_cast<std::size_t>(e)]; };
    if (n(E::freeze) > 0) {
      const auto freeze_at = std::find(seen.begin(), seen.end(), E::freeze);
      const bool ended =
          std::any_of(freeze_at, seen.end(), [](E x) { return x == E::thaw || x == E::abort; });
      if (!ended) fail("freeze_ends", "got Freeze but neither Thaw nor Abort after it");
    }
    if (!released) return;
    const bool took_part = n(E::prepare_backup) > 0;
    if (took_part) {
      const int ends = n(E::backup_complete) + n(E::abort);
      if (ends == 0 && n(E::post_snapshot) == 0) {
        fail("session_end", "got PrepareBackup but neither BackupComplete nor Abort");
      }
      if (n(E::backup_complete) > 0 && n(E::abort) > 0) {
        fail("session_end", "got both BackupComplete and Abort");
      }
      if (n(E::backup_shutdown) == 0) {
        fail("session_end", "took part but got no BackupShutdown when the session was released");
      }
    }
  }

 private:
  void fail(std::string rule, std::string detail) {
    out_.push_back({writer_, std::move(rule), std::move(detail)});
  }

  std::string writer_;
  std::vector<invariant_violation>& out_;
};

}  // namespace

std::ostream& operator<<(std::ostream& os, const invariant_violation& v) {
  return os << v.writer << ": " << v.rule << ": " << v.detail;
}

std::vector<invariant_violation> check_writer_invariants(const std::vector<recorded_event>& events,
                                                         bool released) {
  // std::map keeps the report in a stable (name) order.
  std::map<std::string, std::vector<E>> by_writer;
  for (const auto& r : events) by_writer[r.writer].push_back(r.event);
  std::vector<invariant_violation> out;
  for (const auto& [writer, seen] : by_writer) writer_checker(writer, out).check(seen, released);
  return out;
}

}  // namespace vss::mocks
