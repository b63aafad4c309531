#include "ipc/frame.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "ipc/protocol_error.hpp"

// The allocation tests count what operator new is asked for. Replacing it is not possible
// under the sanitizers (they own the allocator), so there those tests are skipped; the fuzz
// target covers the same ground under ASan (libFuzzer's -malloc_limit_mb).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define VSS_TEST_COUNTS_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define VSS_TEST_COUNTS_ALLOCATIONS 0
#endif
#endif
#ifndef VSS_TEST_COUNTS_ALLOCATIONS
#define VSS_TEST_COUNTS_ALLOCATIONS 1
#endif

namespace {

std::atomic<bool> g_tracking{false};
std::atomic<std::size_t> g_largest{0};

// Records the largest single allocation made while alive.
class largest_allocation {
 public:
  largest_allocation() {
    g_largest = 0;
    g_tracking = true;
  }
  ~largest_allocation() { g_tracking = false; }
  largest_allocation(const largest_allocation&) = delete;
  largest_allocation& operator=(const largest_allocation&) = delete;
  std::size_t bytes() const { return g_largest.load(); }
};

}  // namespace

#if VSS_TEST_COUNTS_ALLOCATIONS
void* operator new(std::size_t n) {
  if (g_tracking.load(std::memory_order_relaxed)) {
    std::size_t seen = g_largest.load(std::memory_order_relaxed);
    while (n > seen && !g_largest.compare_exchange_weak(seen, n)) {
    }
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace {

using vss::ipc::encode_frame;
using vss::ipc::frame_decoder;
using vss::ipc::protocol_errc;

std::string header(std::uint32_t n) {
  return {static_cast<char>(n >> 24), static_cast<char>((n >> 16) & 0xFF),
          static_cast<char>((n >> 8) & 0xFF), static_cast<char>(n & 0xFF)};
}

std::string frame(std::string_view payload) {
  return header(payload.size()) + std::string(payload);
}

void feed(frame_decoder& d, std::string_view bytes) { d.feed(bytes.data(), bytes.size()); }

// Every payload next() returns until it has none.
std::vector<std::string> drain(frame_decoder& d, std::error_code& ec) {
  std::vector<std::string> out;
  while (auto p = d.next(ec)) out.push_back(*p);
  return out;
}

TEST(EncodeFrame, PrefixesThePayloadWithItsBigEndianLength) {
  const std::string payload(258, 'x');
  std::error_code ec = protocol_errc::bad_json;
  const std::string f = encode_frame(payload, ec);
  EXPECT_FALSE(ec);
  ASSERT_EQ(f.size(), 262u);
  EXPECT_EQ(f.substr(0, 4), std::string("\x00\x00\x01\x02", 4));
  EXPECT_EQ(f.substr(4), payload);
}

TEST(EncodeFrame, RefusesAnEmptyPayload) {
  std::error_code ec;
  EXPECT_EQ(encode_frame("", ec), "");
  EXPECT_EQ(ec, protocol_errc::empty_frame);
}

TEST(EncodeFrame, AcceptsExactlyTheMaximumAndRefusesOneByteMore) {
  std::error_code ec;
  EXPECT_EQ(encode_frame(std::string(16, 'a'), ec, 16).size(), 20u);
  EXPECT_FALSE(ec);
  EXPECT_EQ(encode_frame(std::string(17, 'a'), ec, 16), "");
  EXPECT_EQ(ec, protocol_errc::oversized_frame);
}

TEST(EncodeFrame, RefusesAPayloadAboveTheDefaultMebibyte) {
  std::error_code ec;
  EXPECT_EQ(encode_frame(std::string(vss::ipc::default_max_frame + 1, 'a'), ec), "");
  EXPECT_EQ(ec, protocol_errc::oversized_frame);
}

TEST(FrameDecoder, ReturnsEveryFrameOfOneFeedInOrder) {
  frame_decoder d;
  feed(d, frame("{\"a\":1}") + frame("x") + frame("third"));
  std::error_code ec;
  EXPECT_EQ(drain(d, ec), (std::vector<std::string>{"{\"a\":1}", "x", "third"}));
  EXPECT_FALSE(ec);
  EXPECT_FALSE(d.has_partial_frame());
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrameDecoder, ReassemblesFramesFedOneByteAtATime) {
  const std::vector<std::string> payloads{"one", std::string(300, 'b'), "3"};
  std::string stream;
  std::vector<std::size_t> ends;  // stream offset at which each frame is complete
  for (const auto& p : payloads) {
    stream += frame(p);
    ends.push_back(stream.size());
  }
  frame_decoder d;
  std::vector<std::string> got;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    d.feed(&stream[i], 1);
    std::error_code ec;
    auto p = d.next(ec);
    ASSERT_FALSE(ec);
    const bool frame_ends_here = std::find(ends.begin(), ends.end(), i + 1) != ends.end();
    ASSERT_EQ(p.has_value(), frame_ends_here) << "after byte " << i;
    if (p) got.push_back(*p);
    EXPECT_EQ(d.has_partial_frame(), !frame_ends_here) << "after byte " << i;
  }
  EXPECT_EQ(got, payloads);
}

TEST(FrameDecoder, ReassemblesAHeaderSplitAcrossFeeds) {
  const std::string f = frame("split header");
  frame_decoder d;
  std::error_code ec;
  feed(d, f.substr(0, 1));
  EXPECT_FALSE(d.next(ec));
  feed(d, f.substr(1, 2));
  EXPECT_FALSE(d.next(ec));
  feed(d, f.substr(3, 3));
  EXPECT_FALSE(d.next(ec));
  EXPECT_FALSE(ec);
  feed(d, f.substr(6));
  auto p = d.next(ec);
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, "split header");
}

TEST(FrameDecoder, AFeedOfNothingChangesNothing) {
  frame_decoder d;
  d.feed(nullptr, 0);
  std::error_code ec;
  EXPECT_FALSE(d.next(ec));
  EXPECT_FALSE(ec);
  EXPECT_FALSE(d.has_partial_frame());
}

TEST(FrameDecoder, AcceptsAFrameOfExactlyMaxFrameBytes) {
  frame_decoder d(8);
  feed(d, frame("12345678"));
  std::error_code ec;
  auto p = d.next(ec);
  ASSERT_TRUE(p) << ec.message();
  EXPECT_EQ(*p, "12345678");
}

TEST(FrameDecoder, ALengthOfZeroIsAnEmptyFrameErrorThatBreaksTheStream) {
  frame_decoder d;
  feed(d, header(0) + frame("after"));
  std::error_code ec;
  EXPECT_FALSE(d.next(ec));
  EXPECT_EQ(ec, protocol_errc::empty_frame);
  EXPECT_TRUE(d.broken());
}

TEST(FrameDecoder, ALengthOneAboveTheMaximumIsOversized) {
  frame_decoder d(8);
  feed(d, header(9) + "123456789");
  std::error_code ec;
  EXPECT_FALSE(d.next(ec));
  EXPECT_EQ(ec, protocol_errc::oversized_frame);
  EXPECT_TRUE(d.broken());
}

TEST(FrameDecoder, AFourGibibyteClaimFailsAsSoonAsTheHeaderArrives) {
  frame_decoder d;
  feed(d, header(0xFFFFFFFFu));
  std::error_code ec;
  EXPECT_FALSE(d.next(ec));
  EXPECT_EQ(ec, protocol_errc::oversized_frame);
  EXPECT_FALSE(d.has_partial_frame());
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrameDecoder, AFourGibibyteClaimAllocatesNothingLikeItsSize) {
  if (!VSS_TEST_COUNTS_ALLOCATIONS) GTEST_SKIP() << "operator new is the sanitizer's";
  frame_decoder d;
  const std::string bytes = header(0xFFFFFFFFu) + std::string(1000, 'x');
  std::size_t largest = 0;
  {
    largest_allocation counter;
    feed(d, bytes);
    std::error_code ec;
    EXPECT_FALSE(d.next(ec));
    EXPECT_EQ(ec, protocol_errc::oversized_frame);
    largest = counter.bytes();
  }
  EXPECT_LT(largest, 4096u);
}

TEST(FrameDecoder, ABrokenDecoderStaysBrokenWhateverItIsFedAfterwards) {
  frame_decoder d(100);
  feed(d, header(101));
  std::error_code ec;
  EXPECT_FALSE(d.next(ec));
  ASSERT_EQ(ec, protocol_errc::oversized_frame);
  feed(d, frame("valid") + frame("also valid"));
  for (int i = 0; i < 3; ++i) {
    ec.clear();
    EXPECT_FALSE(d.next(ec));
    EXPECT_EQ(ec, protocol_errc::oversized_frame);
  }
  EXPECT_TRUE(d.broken());
  EXPECT_EQ(d.buffered(), 0u);
  EXPECT_FALSE(d.has_partial_frame());
}

TEST(FrameDecoder, FramesBeforeABadHeaderAreStillDelivered) {
  frame_decoder d;
  feed(d, frame("first") + frame("second") + header(0));
  std::error_code ec;
  EXPECT_EQ(drain(d, ec), (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(ec, protocol_errc::empty_frame);
}

TEST(FrameDecoder, ReportsAPartialFrameWhenTheStreamStopsInsideOne) {
  const std::string f = frame("payload");
  for (std::size_t cut : {1u, 3u, 4u, 5u, 10u}) {
    frame_decoder d;
    feed(d, f.substr(0, cut));
    std::error_code ec;
    EXPECT_FALSE(d.next(ec));
    EXPECT_FALSE(ec);
    EXPECT_TRUE(d.has_partial_frame()) << "cut at " << cut;
  }
}

TEST(FrameDecoder, HasNoPartialFrameWhenEmptyOrAfterTakingTheLastFrame) {
  frame_decoder d;
  EXPECT_FALSE(d.has_partial_frame());
  feed(d, frame("whole"));
  std::error_code ec;
  ASSERT_TRUE(d.next(ec));
  EXPECT_FALSE(d.has_partial_frame());
}

TEST(FrameDecoder, RoundTripsPayloadsOfManySizesFedInUnevenChunks) {
  std::vector<std::string> payloads;
  std::string stream;
  for (std::size_t n = 1; n < 2000; n = n * 3 / 2 + 1) {
    std::string p(n, '\0');
    for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<char>((i * 31 + n) & 0xFF);
    std::error_code ec;
    stream += encode_frame(p, ec);
    ASSERT_FALSE(ec);
    payloads.push_back(std::move(p));
  }
  frame_decoder d;
  std::vector<std::string> got;
  std::size_t at = 0;
  for (std::size_t chunk = 1; at < stream.size(); chunk = chunk % 97 + 7) {
    const std::size_t n = std::min(chunk, stream.size() - at);
    d.feed(stream.data() + at, n);
    at += n;
    std::error_code ec;
    for (auto& p : drain(d, ec)) got.push_back(std::move(p));
    ASSERT_FALSE(ec);
  }
  EXPECT_EQ(got, payloads);
  EXPECT_FALSE(d.has_partial_frame());
}

TEST(FrameDecoder, DropsConsumedBytesSoMemoryStaysBoundedOverALongStream) {
  if (!VSS_TEST_COUNTS_ALLOCATIONS) GTEST_SKIP() << "operator new is the sanitizer's";
  // Each feed ends inside a frame, so the buffer is never simply emptied: only compaction
  // keeps it from growing with the whole stream (100,001 frames, 2.4 MB).
  const std::string f = frame(std::string(20, 'p'));
  const std::string two = f + f;
  frame_decoder d;
  std::size_t frames = 0;
  std::size_t largest = 0;
  {
    largest_allocation counter;
    feed(d, two.substr(0, 30));
    for (int i = 0; i < 50000; ++i) {
      feed(d, two.substr(30));
      feed(d, two.substr(0, 30));
      std::error_code ec;
      while (auto p = d.next(ec)) ++frames;
      ASSERT_FALSE(ec);
    }
    largest = counter.bytes();
  }
  EXPECT_EQ(frames, 100001u);
  EXPECT_TRUE(d.has_partial_frame());
  EXPECT_LT(largest, 1024u);
}

}  // namespace
