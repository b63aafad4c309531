#include "daemon/peer_credentials.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace vss::daemon {

namespace {

// The passwd entry's name and primary group of `uid`, or nullopt when it has none (or the
// lookup fails).
struct account {
  std::string name;
  gid_t gid;
};

std::optional<account> find_account(uid_t uid) {
  const long hint = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(hint > 0 ? static_cast<std::size_t>(hint) : 4096);
  passwd entry{};
  passwd* result = nullptr;
  for (;;) {
    const int rc = ::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &result);
    if (rc == ERANGE && buffer.size() < (std::size_t{64} << 20)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (rc != 0 || result == nullptr) return std::nullopt;
    return account{result->pw_name, result->pw_gid};
  }
}

template <class Id>
bool contains(const std::vector<Id>& ids, Id id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

template <class Id>
std::string id_list(const std::vector<Id>& ids) {
  if (ids.empty()) return "none";
  std::string out;
  for (const Id id : ids) {
    if (!out.empty()) out += ", ";
    out += std::to_string(id);
  }
  return out;
}

}  // namespace

std::optional<peer_credentials> read_peer_credentials(int fd, std::error_code& ec) {
  ucred cred{};
  socklen_t size = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &size) != 0) {
    ec.assign(errno, std::generic_category());
    return std::nullopt;
  }
  // An unconnected socket succeeds too, with pid 0 and uid/gid -1: never let that pass as
  // credentials (uid -1 is no account, but pid 0 would read as the kernel).
  if (size != sizeof(cred) || cred.pid == 0) {
    ec = std::make_error_code(std::errc::not_connected);
    return std::nullopt;
  }
  ec.clear();
  return peer_credentials{cred.pid, cred.uid, cred.gid};
}

std::string_view to_string(peer_role role) noexcept {
  return role == peer_role::writer ? "writer" : "requester";
}

bool access_policy::allows(const peer_credentials& peer,
                           std::span<const gid_t> supplementary_gids) const {
  if (contains(uids, peer.uid) || contains(gids, peer.gid)) return true;
  return std::any_of(supplementary_gids.begin(), supplementary_gids.end(),
                     [&](gid_t gid) { return contains(gids, gid); });
}

bool access_policy::allows(const peer_credentials& peer) const {
  if (contains(uids, peer.uid) || contains(gids, peer.gid)) return true;
  if (gids.empty()) return false;
  return allows(peer, account_groups(peer.uid));
}

access_policy policy_for(const daemon_config& config, peer_role role) {
  if (role == peer_role::writer) return {config.writer_uids, config.writer_gids};
  return {config.requester_uids, config.requester_gids};
}

std::vector<gid_t> account_groups(uid_t uid) {
  const std::optional<account> user = find_account(uid);
  if (!user) return {};
  std::vector<gid_t> groups(32);
  for (int attempt = 0; attempt < 8; ++attempt) {
    int count = static_cast<int>(groups.size());
    if (::getgrouplist(user->name.c_str(), user->gid, groups.data(), &count) >= 0) {
      groups.resize(static_cast<std::size_t>(count));
      return groups;
    }
    // glibc stores the needed size in `count`; other libcs may not, so grow at least 2x.
    groups.resize(std::max(static_cast<std::size_t>(count), groups.size() * 2));
  }
  return {};
}

std::string describe_refusal(const peer_credentials& peer, peer_role role,
                             const access_policy& policy) {
  std::string text = "uid " + std::to_string(peer.uid);
  if (const auto user = find_account(peer.uid)) text += " (" + user->name + ")";
  const std::string role_name(to_string(role));
  text += " gid " + std::to_string(peer.gid) + " pid " + std::to_string(peer.pid) +
          " may not connect as " + role_name + ": allowed uids " + id_list(policy.uids) +
          ", gids " + id_list(policy.gids) + " (see " + role_name + "_uids/" + role_name +
          "_gids in the config)";
  return text;
}

}  // namespace vss::daemon
