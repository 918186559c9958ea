// StatsWindow keeps a minute of samples and answers spans between the newest and an older
// one; histogramQuantile (the dashboard's p50/p99) interpolates inside a bucket.
#include "proxy/dashboard/stats_window.h"

#include <gtest/gtest.h>

#include <cmath>

namespace meridian::proxy {
namespace {

using Clock = StatsWindow::Clock;
using std::chrono::milliseconds;

CountTotals withRequests(uint64_t n) {
  CountTotals t;
  t.requests[{"app", "blue", "fra", "200"}] = n;
  return t;
}

TEST(StatsWindow, EmptyHasNoSpan) {
  StatsWindow w;
  EXPECT_FALSE(w.span(5).has_value());
  EXPECT_EQ(w.ticks(), 0u);
}

TEST(StatsWindow, SpanReachesBackAsFarAsAskedAndNoFurther) {
  StatsWindow w;
  Clock::time_point t0 = Clock::now();
  for (int i = 0; i <= 10; ++i) w.add(t0 + milliseconds(1000 * i), withRequests(100 * i));
  auto five = w.span(5);
  ASSERT_TRUE(five.has_value());
  EXPECT_DOUBLE_EQ(five->seconds, 5.0);
  EXPECT_EQ(five->to->requests.begin()->second - five->from->requests.begin()->second, 500u);
  // Younger than asked: the oldest sample held.
  auto all = w.span(60);
  EXPECT_DOUBLE_EQ(all->seconds, 10.0);
  EXPECT_EQ(all->from->requests.begin()->second, 0u);
}

TEST(StatsWindow, KeepsOneMinuteAndTheSampleBeforeIt) {
  StatsWindow w;
  Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 200; ++i) w.add(t0 + milliseconds(1000 * i), withRequests(i));
  EXPECT_EQ(w.ticks(), 200u);
  auto minute = w.span(60);
  EXPECT_DOUBLE_EQ(minute->seconds, 60.0);
  EXPECT_EQ(minute->to->requests.begin()->second - minute->from->requests.begin()->second, 60u);
  // Nothing older than the capacity is held, however far back one asks.
  EXPECT_DOUBLE_EQ(w.span(1000)->seconds, static_cast<double>(StatsWindow::kCapacity - 1));
}

TEST(StatsWindow, LateTimerStillCountsAsTheSameSpan) {
  StatsWindow w;
  Clock::time_point t0 = Clock::now();
  w.add(t0, withRequests(0));
  w.add(t0 + milliseconds(5300), withRequests(53));  // one tick 300 ms late
  EXPECT_NEAR(w.span(5)->seconds, 5.3, 1e-9);
}

TEST(HistogramQuantile, InterpolatesInsideTheBucket) {
  std::array<uint64_t, kDurationBounds.size() + 1> b{};
  EXPECT_TRUE(std::isnan(histogramQuantile(b, 0.5)));
  b[2] = 100;  // all in (0.0025, 0.005]
  EXPECT_NEAR(histogramQuantile(b, 0.5), 0.00375, 1e-9);
  EXPECT_NEAR(histogramQuantile(b, 1.0), 0.005, 1e-9);
  b[kDurationBounds.size()] = 100;  // half beyond the last bound: p99 reads that bound
  EXPECT_NEAR(histogramQuantile(b, 0.99), kDurationBounds.back(), 1e-9);
  EXPECT_NEAR(histogramQuantile(b, 0.25), 0.00375, 1e-9);
}

}  // namespace
}  // namespace meridian::proxy
