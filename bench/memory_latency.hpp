#pragma once
// The latency of one dependent load, at set sizes from what a core's own caches hold to well
// past what the last level gives this process: a chain through every 64-byte line of the set
// in a random order, so each hop waits for the one before and no hardware prefetcher helps.
//
// Why the harness measures it: the burst and the large-N cells are bound by how fast memory
// answers (decisions §37), and on a shared virtual machine that moves from day to day far more
// than the CPU does: on 2026-11-29 a 4 MiB set cost 187 ns per hop where it had cost 15, and
// d267c3a's own build measured N = 10,000 3–6 times slower than on its day. Recorded beside
// each run (machine.memory_latency_ns_start/_end), it tells a slower machine from a slower
// engine. BM_memory_latency in openvss-bench-micro is the same chain under Google Benchmark.

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <new>
#include <random>
#include <string>
#include <utility>

namespace vss::bench {

/// One line of a chain: the address of the next line to load.
struct alignas(64) chain_line {
  const chain_line* next = nullptr;
  std::size_t index = 0;  // only while the chain is built
};

/// A cyclic chain through every line of a set of `bytes` (at least one line), in a random
/// order drawn with a fixed seed, so that runs and builds follow the same path. The set is
/// mapped with mmap, not taken from malloc: freeing a large malloc block raises glibc's mmap
/// threshold, which would change how the harness's later allocations are served and keep
/// megabytes in its RSS, both of which the harness measures.
class random_chain {
 public:
  explicit random_chain(std::size_t bytes)
      : lines_(std::max<std::size_t>(1, bytes / sizeof(chain_line))),
        bytes_(lines_ * sizeof(chain_line)) {
    void* at = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (at == MAP_FAILED) throw std::bad_alloc();
    line_ = static_cast<chain_line*>(at);
    // Sattolo's shuffle: a permutation that is one cycle through every line, uniformly drawn.
    for (std::size_t i = 0; i < lines_; ++i) line_[i].index = i;
    std::mt19937_64 rng(42);
    for (std::size_t i = lines_ - 1; i > 0; --i) {
      const auto j = std::uniform_int_distribution<std::size_t>(0, i - 1)(rng);
      std::swap(line_[i].index, line_[j].index);
    }
    for (std::size_t i = 0; i < lines_; ++i) line_[i].next = &line_[line_[i].index];
  }
  ~random_chain() { ::munmap(line_, bytes_); }
  random_chain(const random_chain&) = delete;
  random_chain& operator=(const random_chain&) = delete;

  /// Where a walk starts.
  const chain_line* first() const noexcept { return line_; }
  /// How many lines the chain goes through.
  std::size_t size() const noexcept { return lines_; }

 private:
  std::size_t lines_;
  std::size_t bytes_;
  chain_line* line_ = nullptr;
};

/// Follows `hops` links from `p` and returns where it ended. The empty asm statement makes the
/// compiler assume the result is used and memory is read there, so the loads are neither
/// removed nor moved out of a timed region.
inline const chain_line* follow(const chain_line* p, std::size_t hops) noexcept {
  for (std::size_t i = 0; i < hops; ++i) p = p->next;
  asm volatile("" : "+r"(p) : : "memory");
  return p;
}

/// Nanoseconds per dependent load over a set of `bytes`: one untimed pass over the whole chain
/// first (the smaller sets then sit in the caches they fit), then `hops` timed hops.
inline double ns_per_dependent_load(std::size_t bytes, std::size_t hops) {
  const random_chain chain(bytes);
  const chain_line* p = follow(chain.first(), chain.size());
  const auto start = std::chrono::steady_clock::now();
  follow(p, hops);
  const std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
  return took.count() / static_cast<double>(std::max<std::size_t>(1, hops));
}

/// The profile the harness records: "256KiB=3.9 2MiB=13.3 8MiB=32.1 32MiB=158.0" (ns per
/// dependent load, one decimal; "unavailable" for a size that could not be mapped). Under half
/// a second where memory answers in ~250 ns.
inline std::string memory_latency_profile() {
  struct size_point {
    const char* name;
    std::size_t bytes;
  };
  constexpr size_point sizes[] = {{"256KiB", std::size_t{256} << 10},
                                  {"2MiB", std::size_t{2} << 20},
                                  {"8MiB", std::size_t{8} << 20},
                                  {"32MiB", std::size_t{32} << 20}};
  constexpr std::size_t hops = std::size_t{1} << 18;
  std::string profile;
  for (const auto& s : sizes) {
    char value[32] = "unavailable";
    try {
      std::snprintf(value, sizeof value, "%.1f", ns_per_dependent_load(s.bytes, hops));
    } catch (const std::bad_alloc&) {
      // A run without its profile is still a run; the JSON smoke check refuses it.
    }
    if (!profile.empty()) profile += ' ';
    profile += std::string(s.name) + '=' + value;
  }
  return profile;
}

}  // namespace vss::bench
