#include "daemon/peer_credentials.hpp"

#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>

namespace vss::daemon {
namespace {

// A uid with no passwd entry (checked by the tests that use it).
constexpr uid_t unnamed_uid = 3'999'999'999u;

bool has_passwd_entry(uid_t uid) {
  passwd entry{};
  passwd* result = nullptr;
  std::array<char, 16384> buffer{};
  return ::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &result) == 0 && result != nullptr;
}

// Both ends of an AF_UNIX socketpair, closed at scope exit.
struct socket_pair {
  socket_pair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds.data()), 0); }
  ~socket_pair() {
    for (const int fd : fds) {
      if (fd >= 0) ::close(fd);
    }
  }
  socket_pair(const socket_pair&) = delete;
  socket_pair& operator=(const socket_pair&) = delete;

  std::array<int, 2> fds{-1, -1};
};

TEST(ReadPeerCredentials, ASocketpairReportsThisProcess) {
  socket_pair pair;
  for (const int fd : pair.fds) {
    std::error_code ec = std::make_error_code(std::errc::io_error);
    const std::optional<peer_credentials> peer = read_peer_credentials(fd, ec);
    ASSERT_TRUE(peer.has_value()) << ec.message();
    EXPECT_FALSE(ec);
    EXPECT_EQ(peer->pid, ::getpid());
    EXPECT_EQ(peer->uid, ::getuid());
    EXPECT_EQ(peer->gid, ::getgid());
  }
}

TEST(ReadPeerCredentials, AnUnconnectedSocketHasNoPeer) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  std::error_code ec;
  EXPECT_EQ(read_peer_credentials(fd, ec), std::nullopt);
  EXPECT_EQ(ec, std::errc::not_connected);
  ::close(fd);
}

TEST(ReadPeerCredentials, ANonSocketFailsWithTheErrno) {
  std::array<int, 2> pipe_fds{};
  ASSERT_EQ(::pipe(pipe_fds.data()), 0);
  std::error_code ec;
  EXPECT_EQ(read_peer_credentials(pipe_fds[0], ec), std::nullopt);
  EXPECT_EQ(ec, std::errc::not_a_socket);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  EXPECT_EQ(read_peer_credentials(-1, ec), std::nullopt);
  EXPECT_EQ(ec, std::errc::bad_file_descriptor);
}

TEST(PolicyFor, EachRoleGetsItsOwnLists) {
  daemon_config config;
  config.writer_uids = {10, 11};
  config.writer_gids = {20};
  config.requester_uids = {30};
  config.requester_gids = {40, 41};
  const access_policy writer = policy_for(config, peer_role::writer);
  EXPECT_EQ(writer.uids, (std::vector<uid_t>{10, 11}));
  EXPECT_EQ(writer.gids, (std::vector<gid_t>{20}));
  const access_policy requester = policy_for(config, peer_role::requester);
  EXPECT_EQ(requester.uids, (std::vector<uid_t>{30}));
  EXPECT_EQ(requester.gids, (std::vector<gid_t>{40, 41}));
}

TEST(PolicyFor, TheDefaultConfigAllowsOnlyRootInBothRoles) {
  const daemon_config config;
  for (const peer_role role : {peer_role::writer, peer_role::requester}) {
    const access_policy policy = policy_for(config, role);
    EXPECT_TRUE(policy.allows(peer_credentials{100, 0, 0}));
    EXPECT_FALSE(policy.allows(peer_credentials{100, unnamed_uid, 4242}));
  }
}

TEST(AccessPolicy, AListedUidIsAllowed) {
  const access_policy policy{{1000, 1001}, {}};
  EXPECT_TRUE(policy.allows(peer_credentials{7, 1001, 5000}, {}));
  EXPECT_FALSE(policy.allows(peer_credentials{7, 1002, 5000}, {}));
}

TEST(AccessPolicy, AListedPrimaryGidIsAllowed) {
  const access_policy policy{{}, {34}};
  EXPECT_TRUE(policy.allows(peer_credentials{7, 1002, 34}, {}));
  EXPECT_FALSE(policy.allows(peer_credentials{7, 1002, 35}, {}));
}

TEST(AccessPolicy, AListedSupplementaryGroupIsAllowed) {
  const access_policy policy{{0}, {34, 999}};
  const std::array<gid_t, 3> groups{5000, 27, 999};
  EXPECT_TRUE(policy.allows(peer_credentials{7, 1002, 5000}, groups));
  const std::array<gid_t, 2> other_groups{5000, 27};
  EXPECT_FALSE(policy.allows(peer_credentials{7, 1002, 5000}, other_groups));
}

TEST(AccessPolicy, AnEmptyPolicyAllowsNobodyNotEvenRoot) {
  const access_policy policy{};
  const std::array<gid_t, 1> groups{0};
  EXPECT_FALSE(policy.allows(peer_credentials{1, 0, 0}, groups));
  EXPECT_FALSE(policy.allows(peer_credentials{1, 0, 0}));
}

TEST(AccessPolicy, TheAccountGroupsComeFromTheGroupDatabase) {
  // Root's passwd entry has primary group 0, whatever gid the peer process runs with.
  const access_policy policy{{}, {0}};
  EXPECT_TRUE(policy.allows(peer_credentials{1, 0, 4242}));
  ASSERT_FALSE(has_passwd_entry(unnamed_uid));
  EXPECT_FALSE(policy.allows(peer_credentials{1, unnamed_uid, 4242}));
  EXPECT_TRUE(policy.allows(peer_credentials{1, unnamed_uid, 0}));
}

TEST(AccountGroups, RootsPrimaryGroupIsIncluded) {
  const std::vector<gid_t> groups = account_groups(0);
  EXPECT_NE(std::find(groups.begin(), groups.end(), gid_t{0}), groups.end());
}

TEST(AccountGroups, AUidWithoutAPasswdEntryHasNoGroups) {
  ASSERT_FALSE(has_passwd_entry(unnamed_uid));
  EXPECT_TRUE(account_groups(unnamed_uid).empty());
}

TEST(DescribeRefusal, NamesTheUserTheRoleAndTheAllowedIds) {
  EXPECT_EQ(describe_refusal(peer_credentials{4242, 0, 0}, peer_role::writer,
                             access_policy{{1000, 1001}, {}}),
            "uid 0 (root) gid 0 pid 4242 may not connect as writer: allowed uids 1000, 1001, "
            "gids none (see writer_uids/writer_gids in the config)");
}

TEST(DescribeRefusal, LeavesOutTheNameOfAUidWithoutAPasswdEntry) {
  ASSERT_FALSE(has_passwd_entry(unnamed_uid));
  EXPECT_EQ(describe_refusal(peer_credentials{7, unnamed_uid, 4242}, peer_role::requester,
                             access_policy{{0}, {27, 34}}),
            "uid 3999999999 gid 4242 pid 7 may not connect as requester: allowed uids 0, gids "
            "27, 34 (see requester_uids/requester_gids in the config)");
}

TEST(DescribeRefusal, SaysNoneForEmptyLists) {
  EXPECT_EQ(describe_refusal(peer_credentials{7, unnamed_uid, 4242}, peer_role::requester,
                             access_policy{}),
            "uid 3999999999 gid 4242 pid 7 may not connect as requester: allowed uids none, "
            "gids none (see requester_uids/requester_gids in the config)");
}

TEST(PeerRole, HasTheProtocolSpelling) {
  EXPECT_EQ(to_string(peer_role::writer), "writer");
  EXPECT_EQ(to_string(peer_role::requester), "requester");
}

}  // namespace
}  // namespace vss::daemon
