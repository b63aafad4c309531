#include "vss/report.hpp"

#include <algorithm>

namespace vss {

std::string_view to_string(writer_outcome o) noexcept {
  switch (o) {
    case writer_outcome::completed:
      return "completed";
    case writer_outcome::failed:
      return "failed";
    case writer_outcome::timed_out:
      return "timed out";
    case writer_outcome::abandoned:
      return "abandoned";
    case writer_outcome::not_delivered:
      return "not delivered";
  }
  return "?";
}

std::size_t phase_report::count(writer_outcome o) const noexcept {
  return static_cast<std::size_t>(std::count_if(
      results.begin(), results.end(), [o](const writer_result& r) { return r.outcome == o; }));
}

std::string_view to_string(consistency_grade g) noexcept {
  switch (g) {
    case consistency_grade::none:
      return "none";
    case consistency_grade::application:
      return "application-consistent";
    case consistency_grade::filesystem:
      return "filesystem-consistent";
    case consistency_grade::crash:
      return "crash-consistent";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, consistency_grade g) { return os << to_string(g); }

}  // namespace vss
