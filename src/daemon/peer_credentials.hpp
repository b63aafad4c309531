#pragma once
// Who is on the other end of a Unix socket, and whether the daemon lets them in.
//
// openvssd reads the peer's credentials (SO_PEERCRED: the pid, uid and gid of the process
// that called connect(), fixed at that moment) and, when `hello` names a role, checks them
// against the config's writer_uids/writer_gids or requester_uids/requester_gids
// (docs/ipc-protocol.md, error `not_authorized`).
//
// Group membership. A peer is allowed when its uid is listed, its primary gid (from
// SO_PEERCRED) is listed, or one of the groups of its *account* is listed. The account's
// groups come from the user and group databases (the passwd entry's primary group, then
// getgrouplist on the uid's user name), not from the process: SO_PEERCRED carries no
// supplementary groups, and SO_PEERGROUPS needs Linux 4.13. So a process that dropped a group
// with setgroups() is still let in for it, a group added to the account after the process
// started counts at once, and a uid with no passwd entry is checked by uid and gid only.
//
// Thread-safety: everything here is reentrant. access_policy::allows and describe_refusal
// may query NSS (passwd, group: possibly LDAP), which can block: call them once per
// connection, not on a latency-critical path.

#include <sys/types.h>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "daemon/config.hpp"

namespace vss::daemon {

/// The credentials of a connected Unix-socket peer (struct ucred).
struct peer_credentials {
  pid_t pid;  ///< Process that connected.
  uid_t uid;  ///< Its effective uid at connect().
  gid_t gid;  ///< Its effective gid at connect().
};

/// The peer credentials of the connected Unix socket `fd` (getsockopt SO_PEERCRED). On failure
/// sets `ec` (the errno, e.g. ENOTSOCK, EBADF) and returns nullopt; clears `ec` on success.
std::optional<peer_credentials> read_peer_credentials(int fd, std::error_code& ec);

/// The role a client asks for in `hello`.
enum class peer_role { writer, requester };

/// The config-file spelling of `role` ("writer", "requester").
std::string_view to_string(peer_role role) noexcept;

/// Which peers may connect in one role.
struct access_policy {
  std::vector<uid_t> uids;  ///< Allowed uids.
  std::vector<gid_t> gids;  ///< Allowed groups (primary or supplementary).

  /// True when the peer's uid is in `uids`, or its primary gid or one of its account's
  /// groups (account_groups) is in `gids`. The group database is consulted only
  /// when the uid and the primary gid are not enough and `gids` is not empty.
  bool allows(const peer_credentials& peer) const;

  /// The same decision with the account's groups given instead of looked up.
  bool allows(const peer_credentials& peer, std::span<const gid_t> supplementary_gids) const;
};

/// The policy of `role` in `config`: writer_uids/writer_gids or requester_uids/requester_gids.
access_policy policy_for(const daemon_config& config, peer_role role);

/// The groups of the account `uid`: the primary group of its passwd entry and the groups that
/// list its user name in the group database (getgrouplist). Empty when the uid has no passwd
/// entry or the lookup fails.
std::vector<gid_t> account_groups(uid_t uid);

/// Why `peer` was refused `role` under `policy`, for the log and the `not_authorized` reply:
/// "uid 1000 (alice) gid 1000 pid 4242 may not connect as requester: allowed uids 0, gids
/// none (see requester_uids/requester_gids in the config)". The user name is left out when
/// the uid has no passwd entry.
std::string describe_refusal(const peer_credentials& peer, peer_role role,
                             const access_policy& policy);

}  // namespace vss::daemon
