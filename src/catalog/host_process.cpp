#include "catalog/host_process.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

namespace vss::catalog {
namespace {

std::string read_boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

// Field 22 of /proc/<pid>/stat (the start time), or nothing when the process is gone or is a
// zombie (field 3 state Z or X): a daemon killed under a parent that never reaps it keeps its
// start time, but it owns nothing any more. Field 2 (comm) is in parentheses and may itself
// contain spaces and ')', so the fields are counted after the LAST ')'.
std::optional<std::uint64_t> read_start_ticks(std::int64_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return std::nullopt;
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  const auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 1));
  std::string field;
  for (int n = 3; n <= 22; ++n) {
    if (!(fields >> field)) return std::nullopt;
    if (n == 3 && (field == "Z" || field == "X")) return std::nullopt;
  }
  try {
    return std::stoull(field);
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace

host_process host_process::current() {
  host_process p;
  p.boot_id = read_boot_id();
  p.pid = static_cast<std::int64_t>(::getpid());
  p.start_ticks = read_start_ticks(p.pid).value_or(0);
  return p;
}

std::optional<host_process> host_process::of(std::int64_t pid) {
  if (pid <= 0) return std::nullopt;
  const auto ticks = read_start_ticks(pid);
  if (!ticks) return std::nullopt;
  return host_process{read_boot_id(), pid, *ticks};
}

bool host_process::alive() const {
  if (pid <= 0) return false;
  const auto now = of(pid);
  if (!now) return false;
  // An unreadable boot id (either side) cannot prove a reboot; the start time still tells a
  // reused pid apart.
  if (!boot_id.empty() && !now->boot_id.empty() && boot_id != now->boot_id) return false;
  return now->start_ticks == start_ticks;
}

bool owner_gone(const set_owner& owner, const host_process& self,
                std::span<const session_id> live_sessions) {
  if (owner.host == self) {
    return std::find(live_sessions.begin(), live_sessions.end(), owner.session) ==
           live_sessions.end();
  }
  return !owner.host.alive();
}

}  // namespace vss::catalog
