#pragma once
// Latency samples and their percentiles, for the abort-latency harness.
//
// A cell holds at most ~1e5 samples, so the "histogram" keeps every sample (nanoseconds) and
// sorts once when asked for percentiles: exact nearest-rank percentiles, no bucket error.
//
// Thread-safety: none; one thread records and summarises.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vss::bench {

/// The percentiles the harness reports, in microseconds.
struct summary {
  std::size_t samples = 0;
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  double max_us = 0;
};

/// Every sample of one (system, metric, cell).
class histogram {
 public:
  /// Records one duration; negative durations (clock misuse) are recorded as zero.
  void record(std::chrono::nanoseconds d) {
    samples_ns_.push_back(std::max<std::int64_t>(0, d.count()));
    sorted_ = false;
  }

  /// Number of samples recorded.
  std::size_t size() const noexcept { return samples_ns_.size(); }

  /// Appends every sample of `other`.
  void merge(const histogram& other) {
    samples_ns_.insert(samples_ns_.end(), other.samples_ns_.begin(), other.samples_ns_.end());
    sorted_ = false;
  }

  /// Nearest-rank percentile `q` in [0, 1], in microseconds; 0 when empty.
  double percentile_us(double q) {
    if (samples_ns_.empty()) return 0;
    sort();
    const auto n = samples_ns_.size();
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(n)));
    rank = std::clamp<std::size_t>(rank, 1, n);
    return static_cast<double>(samples_ns_[rank - 1]) / 1000.0;
  }

  /// p50 / p99 / p99.9 / max. With fewer than 1,000 samples p99.9 is the max.
  summary summarise() {
    summary s;
    s.samples = samples_ns_.size();
    if (s.samples == 0) return s;
    s.p50_us = percentile_us(0.50);
    s.p99_us = percentile_us(0.99);
    s.p999_us = percentile_us(0.999);
    s.max_us = percentile_us(1.0);
    return s;
  }

 private:
  void sort() {
    if (sorted_) return;
    std::sort(samples_ns_.begin(), samples_ns_.end());
    sorted_ = true;
  }

  std::vector<std::int64_t> samples_ns_;
  bool sorted_ = false;
};

}  // namespace vss::bench
