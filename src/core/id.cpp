#include "vss/id.hpp"

#include <pthread.h>

#include <atomic>
#include <ostream>
#include <random>

namespace vss {
namespace {

// A forked child inherits its parent's thread_local generator state and would repeat the
// parent's ids; the atfork handler bumps a generation that makes each thread reseed.
std::atomic<unsigned> g_fork_generation{0};

void on_fork_child() noexcept { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }

struct generator {
  std::mt19937_64 engine;
  unsigned generation = ~0u;

  void reseed() {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    engine.seed(seq);
  }
};

std::mt19937_64& thread_engine() {
  static const bool registered = (::pthread_atfork(nullptr, nullptr, &on_fork_child), true);
  (void)registered;
  thread_local generator gen;
  const unsigned now = g_fork_generation.load(std::memory_order_relaxed);
  if (gen.generation != now) {
    gen.reseed();
    gen.generation = now;
  }
  return gen.engine;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr bool is_dash_position(std::size_t i) noexcept {
  return i == 8 || i == 13 || i == 18 || i == 23;
}

}  // namespace

guid guid::generate() {
  std::mt19937_64& engine = thread_engine();
  const std::uint64_t hi = engine();
  const std::uint64_t lo = engine();
  guid g = from_u128(hi, lo);
  g.bytes_[6] = static_cast<std::uint8_t>((g.bytes_[6] & 0x0F) | 0x40);  // version 4
  g.bytes_[8] = static_cast<std::uint8_t>((g.bytes_[8] & 0x3F) | 0x80);  // RFC 4122 variant
  return g;
}

std::optional<guid> guid::parse(std::string_view text) noexcept {
  if (text.size() == 38) {
    if (text.front() != '{' || text.back() != '}') return std::nullopt;
    text = text.substr(1, 36);
  }
  if (text.size() != 36) return std::nullopt;
  bytes_type bytes{};
  std::size_t out = 0;
  for (std::size_t i = 0; i < text.size();) {
    if (is_dash_position(i)) {
      if (text[i] != '-') return std::nullopt;
      ++i;
      continue;
    }
    const int high = hex_value(text[i]);
    const int low = hex_value(text[i + 1]);
    if (high < 0 || low < 0 || is_dash_position(i + 1)) return std::nullopt;
    bytes[out++] = static_cast<std::uint8_t>(high << 4 | low);
    i += 2;
  }
  return guid{bytes};
}

std::string guid::to_string() const {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string text(38, '-');
  text.front() = '{';
  text.back() = '}';
  std::size_t pos = 1;
  for (std::size_t i = 0; i < bytes_.size(); ++i) {
    if (is_dash_position(pos - 1)) ++pos;
    text[pos++] = k_digits[bytes_[i] >> 4];
    text[pos++] = k_digits[bytes_[i] & 0x0F];
  }
  return text;
}

std::ostream& operator<<(std::ostream& os, const guid& g) { return os << g.to_string(); }

}  // namespace vss
