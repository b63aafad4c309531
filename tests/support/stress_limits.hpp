#pragma once
// The limits of a bounded stress test, from the environment: OPENVSS_STRESS_ITERATIONS and
// OPENVSS_STRESS_SECONDS, whichever ends first (at least one iteration always runs), and
// OPENVSS_STRESS_SEED (random if unset). CI lowers the first two under the sanitizers.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>

namespace vss::test {

/// The unsigned integer in environment variable `name`, or `fallback` if it is unset, empty
/// or not a number.
inline std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const auto value = std::strtoull(text, &end, 0);
  return end == text || *end != '\0' ? fallback : value;
}

struct stress_limits {
  std::uint64_t iterations;
  std::chrono::seconds budget;
  std::uint64_t seed;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

  /// Reads the limits, with these defaults, and prints them with the seed (`unit` names an
  /// iteration in the line, e.g. "runs").
  static stress_limits from_env(std::uint64_t default_iterations, std::uint64_t default_seconds,
                                const char* unit) {
    stress_limits l{env_or("OPENVSS_STRESS_ITERATIONS", default_iterations),
                    std::chrono::seconds(env_or("OPENVSS_STRESS_SECONDS", default_seconds)),
                    env_or("OPENVSS_STRESS_SEED", std::random_device{}())};
    std::printf("[stress] seed=%llu limits: %llu %s, %llds\n",
                static_cast<unsigned long long>(l.seed),
                static_cast<unsigned long long>(l.iterations), unit,
                static_cast<long long>(l.budget.count()));
    std::fflush(stdout);
    return l;
  }

  /// Whether iteration `done` (counting from 0) may start.
  bool more(std::uint64_t done) const {
    return done < iterations && (done == 0 || std::chrono::steady_clock::now() - start < budget);
  }

  /// Seconds since the limits were read.
  double elapsed_s() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
};

}  // namespace vss::test
