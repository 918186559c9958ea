#include "proxy/dashboard/stats_window.h"

namespace meridian::proxy {

void StatsWindow::add(Clock::time_point at, CountTotals totals) {
  samples_.push_back(Sample{at, std::move(totals)});
  while (samples_.size() > kCapacity) samples_.pop_front();
  ++ticks_;
}

std::optional<StatsWindow::Span> StatsWindow::span(double seconds) const {
  if (samples_.empty()) return std::nullopt;
  const Sample& newest = samples_.back();
  // Allow half a tick of timer lateness, so "the last 5 s" does not shrink to 4 samples.
  auto limit = std::chrono::duration<double>(seconds + 0.5);
  for (const Sample& s : samples_) {
    if (newest.at - s.at <= limit) {
      std::chrono::duration<double> apart = newest.at - s.at;
      return Span{&s.totals, &newest.totals, apart.count()};
    }
  }
  return Span{&newest.totals, &newest.totals, 0};
}

}  // namespace meridian::proxy
