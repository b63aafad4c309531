#include "vss/id.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <vector>

namespace {

using vss::guid;

constexpr guid k_sample = guid::from_u128(0x0011223344556677ULL, 0x8899aabbccddeeffULL);

static_assert(sizeof(guid) == 16);
static_assert(std::is_trivially_copyable_v<guid>);
static_assert(guid{}.is_null());
static_assert(guid::null().is_null());
static_assert(!k_sample.is_null());
static_assert(k_sample.bytes()[0] == 0x00 && k_sample.bytes()[15] == 0xff);
static_assert(k_sample.high64() == 0x0011223344556677ULL);
static_assert(k_sample.low64() == 0x8899aabbccddeeffULL);
static_assert(guid::from_u128(0, 1) < guid::from_u128(0, 2));
static_assert(guid::from_u128(0, ~0ULL) < guid::from_u128(1, 0));

// Ids of different kinds neither convert nor compare.
static_assert(!std::is_convertible_v<vss::snapshot_id, vss::snapshot_set_id>);
static_assert(!std::is_convertible_v<guid, vss::snapshot_id>);
static_assert(!std::is_convertible_v<vss::snapshot_id, guid>);
static_assert(!std::equality_comparable_with<vss::snapshot_id, vss::snapshot_set_id>);
static_assert(!std::equality_comparable_with<vss::writer_class_id, vss::writer_instance_id>);
static_assert(!std::equality_comparable_with<vss::snapshot_id, guid>);
static_assert(std::totally_ordered<vss::provider_id>);
static_assert(sizeof(vss::session_id) == 16);
static_assert(vss::snapshot_id::from_u128(1, 2).value() == guid::from_u128(1, 2));

TEST(Guid, FormatsAsLowercaseRegistryString) {
  EXPECT_EQ(k_sample.to_string(), "{00112233-4455-6677-8899-aabbccddeeff}");
  EXPECT_EQ(guid::null().to_string(), "{00000000-0000-0000-0000-000000000000}");
  EXPECT_EQ(guid::from_u128(~0ULL, ~0ULL).to_string(), "{ffffffff-ffff-ffff-ffff-ffffffffffff}");
}

TEST(Guid, ParsesWithAndWithoutBracesInEitherCase) {
  for (std::string_view text : {
           "{00112233-4455-6677-8899-aabbccddeeff}",
           "00112233-4455-6677-8899-aabbccddeeff",
           "{00112233-4455-6677-8899-AABBCCDDEEFF}",
           "00112233-4455-6677-8899-AaBbCcDdEeFf",
       }) {
    EXPECT_EQ(guid::parse(text), k_sample) << text;
  }
}

TEST(Guid, ParseAndFormatRoundTrip) {
  for (int i = 0; i < 1000; ++i) {
    const guid g = guid::generate();
    const std::string text = g.to_string();
    EXPECT_EQ(guid::parse(text), g) << text;
    EXPECT_EQ(guid::parse(std::string_view(text).substr(1, 36)), g) << text;
  }
}

TEST(Guid, RejectsMalformedText) {
  for (std::string_view bad : {
           "",
           "{}",
           "0",
           "00112233-4455-6677-8899-aabbccddeef",       // one digit short
           "00112233-4455-6677-8899-aabbccddeeff0",     // one digit long
           "{00112233-4455-6677-8899-aabbccddeeff",     // unbalanced brace
           "00112233-4455-6677-8899-aabbccddeeff}",     // unbalanced brace
           "(00112233-4455-6677-8899-aabbccddeeff)",    // wrong brackets
           "}00112233-4455-6677-8899-aabbccddeeff{",    // braces swapped
           "{{00112233-4455-6677-8899-aabbccddeeff}}",  // doubled braces
           "00112233-4455-6677-8899-aabbccddeegf",      // bad hex
           "0011223g-4455-6677-8899-aabbccddeeff",      // bad hex
           "00112233-4455-6677-8899-aabbccddee f",      // space
           " 00112233-4455-6677-8899-aabbccddeeff",     // leading space
           "001122334-455-6677-8899-aabbccddeeff",      // misplaced dash
           "00112233+4455-6677-8899-aabbccddeeff",      // wrong separator
           "00112233-4455-6677-8899-aabbccdd-eff",      // extra dash
           "0011223344556677-8899-aabbccddeeff",        // missing dashes
           "00112233445566778899aabbccddeeff",          // no dashes
           "-0112233-4455-6677-8899-aabbccddeeff",      // dash instead of digit
           "+0112233-4455-6677-8899-aabbccddeeff",      // sign
       }) {
    EXPECT_EQ(guid::parse(bad), std::nullopt) << '"' << bad << '"';
  }
  std::string embedded_nul = "00112233-4455-6677-8899-aabbccddeeff";
  embedded_nul[1] = '\0';
  EXPECT_EQ(guid::parse(embedded_nul), std::nullopt);
}

TEST(Guid, GenerateGivesUniqueVersion4Ids) {
  std::unordered_set<guid> seen;
  for (int i = 0; i < 10000; ++i) {
    const guid g = guid::generate();
    ASSERT_FALSE(g.is_null());
    EXPECT_EQ(g.bytes()[6] >> 4, 4) << g;       // version 4
    EXPECT_EQ(g.bytes()[8] & 0xC0, 0x80) << g;  // RFC 4122 variant (10xx)
    EXPECT_EQ(g.to_string()[15], '4') << g;     // "xxxxxxxx-xxxx-4xxx-..."
    ASSERT_TRUE(seen.insert(g).second) << "duplicate " << g;
  }
  EXPECT_EQ(seen.size(), 10000u);
}

TEST(Guid, GenerateDoesNotRepeatTheParentsIdsInAForkedChild) {
  (void)guid::generate();  // make sure this thread's generator is seeded before the fork
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const guid child = guid::generate();
    const auto written = ::write(fds[1], child.bytes().data(), child.bytes().size());
    ::_exit(written == 16 ? 0 : 1);
  }
  const guid parent = guid::generate();
  guid::bytes_type child_bytes{};
  ::close(fds[1]);
  const auto got = ::read(fds[0], child_bytes.data(), child_bytes.size());
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(got, 16);
  EXPECT_NE(guid(child_bytes), parent);
}

TEST(Guid, OrdersLikeItsText) {
  std::vector<guid> ids;
  for (int i = 0; i < 200; ++i) ids.push_back(guid::generate());
  ids.push_back(guid::null());
  ids.push_back(guid::from_u128(~0ULL, ~0ULL));
  std::vector<std::string> texts;
  for (const guid& g : ids) texts.push_back(g.to_string());
  std::sort(ids.begin(), ids.end());
  std::sort(texts.begin(), texts.end());
  for (std::size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i].to_string(), texts[i]);
  EXPECT_TRUE(ids.front().is_null());
}

TEST(Guid, FromU128RoundTripsThroughHighAndLow) {
  const guid g = guid::generate();
  EXPECT_EQ(guid::from_u128(g.high64(), g.low64()), g);
}

TEST(Guid, PrintsItsText) {
  std::ostringstream os;
  os << k_sample;
  EXPECT_EQ(os.str(), "{00112233-4455-6677-8899-aabbccddeeff}");
  EXPECT_EQ(::testing::PrintToString(k_sample), "{00112233-4455-6677-8899-aabbccddeeff}");
}

TEST(Guid, SequentialLiteralIdsHashApart) {
  std::set<std::size_t> hashes;
  for (std::uint64_t i = 0; i < 10000; ++i) {
    hashes.insert(std::hash<guid>{}(guid::from_u128(0, i)));
    hashes.insert(std::hash<guid>{}(guid::from_u128(i + 1, 0)));
  }
  EXPECT_EQ(hashes.size(), 20000u);
}

TEST(BasicId, HasTheGuidOperations) {
  const auto id = vss::snapshot_set_id::from_u128(0x0011223344556677ULL, 0x8899aabbccddeeffULL);
  EXPECT_EQ(id.value(), k_sample);
  EXPECT_EQ(id.to_string(), k_sample.to_string());
  EXPECT_EQ(vss::snapshot_set_id::parse(id.to_string()), id);
  EXPECT_EQ(vss::snapshot_set_id::parse("nonsense"), std::nullopt);
  EXPECT_EQ(vss::snapshot_set_id(k_sample), id);
  EXPECT_TRUE(vss::snapshot_set_id{}.is_null());
  EXPECT_TRUE(vss::snapshot_set_id::null().is_null());
  EXPECT_FALSE(id.is_null());
  EXPECT_LT(vss::snapshot_set_id::null(), id);

  const auto fresh = vss::snapshot_set_id::generate();
  EXPECT_FALSE(fresh.is_null());
  EXPECT_NE(fresh, vss::snapshot_set_id::generate());
  EXPECT_EQ(fresh.value().bytes()[6] >> 4, 4);
}

TEST(BasicId, PrintsItsText) {
  const auto id = vss::writer_class_id(k_sample);
  std::ostringstream os;
  os << id;
  EXPECT_EQ(os.str(), "{00112233-4455-6677-8899-aabbccddeeff}");
  EXPECT_EQ(::testing::PrintToString(id), "{00112233-4455-6677-8899-aabbccddeeff}");
}

TEST(BasicId, WorksAsAKeyOfUnorderedAndOrderedContainers) {
  std::unordered_set<vss::snapshot_id> set;
  std::map<vss::provider_id, int> map;
  for (int i = 0; i < 1000; ++i) {
    set.insert(vss::snapshot_id::generate());
    map.emplace(vss::provider_id::from_u128(0, static_cast<std::uint64_t>(i)), i);
  }
  EXPECT_EQ(set.size(), 1000u);
  const vss::snapshot_id first = *set.begin();
  EXPECT_EQ(set.count(first), 1u);
  EXPECT_EQ(set.count(vss::snapshot_id::null()), 0u);
  EXPECT_EQ(std::hash<vss::snapshot_id>{}(first), std::hash<guid>{}(first.value()));
  EXPECT_EQ(map.at(vss::provider_id::from_u128(0, 7)), 7);
  EXPECT_EQ(map.begin()->second, 0);
}

}  // namespace
