#pragma once
// Bounded polling, for tests of threads that act on their own (an engine_host's io threads, a
// client's reconnect loop): the test cannot run them to the point it waits for.

#include <chrono>
#include <thread>

namespace vss::test {

/// Polls `done` every millisecond until it holds or `bound` has passed; returns whether it held.
template <class Pred>
bool eventually(Pred done, std::chrono::steady_clock::duration bound) {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace vss::test
