#pragma once
// The last minute of the workers' cumulative counters, one sample a second, taken by the main
// thread. The dashboard's rates and its served split are differences between two samples, so
// the request path pays nothing for them beyond the counters /metrics already keeps.
#include <chrono>
#include <deque>
#include <optional>

#include "proxy/observe/request_metrics.h"

namespace meridian::proxy {

class StatsWindow {
 public:
  using Clock = std::chrono::steady_clock;
  // A minute and the sample before it: a 60-second difference needs 61 samples.
  static constexpr size_t kCapacity = 61;

  void add(Clock::time_point at, CountTotals totals);
  // How many samples were ever added (the dashboard's cache key).
  uint64_t ticks() const { return ticks_; }

  // Two samples: the newest and the oldest held that is at most `seconds` older than it.
  // `seconds` is how far apart they really are (0 when only one sample is held).
  struct Span {
    const CountTotals* from = nullptr;
    const CountTotals* to = nullptr;
    double seconds = 0;
  };
  std::optional<Span> span(double seconds) const;

 private:
  struct Sample {
    Clock::time_point at;
    CountTotals totals;
  };
  std::deque<Sample> samples_;
  uint64_t ticks_ = 0;
};

}  // namespace meridian::proxy
