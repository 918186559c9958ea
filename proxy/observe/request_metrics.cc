#include "proxy/observe/request_metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include "proxy/observe/prometheus_text.h"

namespace meridian::proxy {

size_t DurationHistogram::bucketFor(double seconds) {
  size_t i = 0;
  while (i < kDurationBounds.size() && !(seconds <= kDurationBounds[i])) ++i;
  return i;
}

void DurationHistogram::observe(double seconds) {
  // A clock step can make a duration negative, and NaN must not poison the sum: both count
  // as zero rather than being lost, so _count still matches requests_total.
  if (!(seconds > 0)) seconds = 0;  // also catches NaN
  buckets[bucketFor(seconds)].fetch_add(1, std::memory_order_relaxed);
  double us = std::min(seconds * 1e6, 1e18);
  sum_us.fetch_add(static_cast<uint64_t>(std::llround(us)), std::memory_order_relaxed);
}

void WorkerMetrics::countRequest(std::string_view route, std::string_view cluster,
                                 std::string_view region, int code, double seconds) {
  char buf[16];
  auto res = std::to_chars(buf, buf + sizeof buf, code);
  std::string_view code_text(buf, res.ptr - buf);
  requests_.get({route, cluster, region, code_text}).fetch_add(1, std::memory_order_relaxed);
  durations_.get({route}).observe(seconds);
}

void WorkerMetrics::countReplay(std::string_view route, std::string_view reason) {
  replays_.get({route, reason}).fetch_add(1, std::memory_order_relaxed);
}

void WorkerMetrics::countBudgetExhausted(std::string_view route) {
  budget_exhausted_.get({route}).fetch_add(1, std::memory_order_relaxed);
}

void WorkerMetrics::countAtCapacity(std::string_view route) {
  at_capacity_.get({route}).fetch_add(1, std::memory_order_relaxed);
}

void WorkerMetrics::countSpill(std::string_view route, std::string_view from, std::string_view to) {
  spills_.get({route, from, to}).fetch_add(1, std::memory_order_relaxed);
}

void WorkerMetrics::countHedge(std::string_view route, std::string_view outcome) {
  hedges_.get({route, outcome}).fetch_add(1, std::memory_order_relaxed);
}

void HeadLatency::rotate(int64_t now_ms) {
  if (now_ms - half_started_ms < kHalfMs) return;
  // Two halves or more have passed: the old one would be stale too.
  if (now_ms - half_started_ms >= 2 * kHalfMs)
    previous.fill(0);
  else
    previous = current;
  current.fill(0);
  half_started_ms = now_ms;
}

void HeadLatency::observe(double seconds, int64_t now_ms) {
  rotate(now_ms);
  ++current[DurationHistogram::bucketFor(seconds)];
}

std::optional<double> HeadLatency::quantile(double q, int64_t now_ms) {
  rotate(now_ms);
  std::array<uint64_t, kDurationBounds.size() + 1> both{};
  uint64_t total = 0;
  for (size_t i = 0; i < both.size(); ++i) {
    both[i] = current[i] + previous[i];
    total += both[i];
  }
  if (total < kMinSamples) return std::nullopt;
  return histogramQuantile(both, q);
}

void WorkerMetrics::countAttempt(std::string_view cluster, std::string_view endpoint, bool error,
                                 double seconds) {
  AttemptStats& a = attempts_.get({cluster, endpoint});
  a.attempts.fetch_add(1, std::memory_order_relaxed);
  if (error) a.errors.fetch_add(1, std::memory_order_relaxed);
  a.latency.observe(seconds);
}

void WorkerMetrics::countTlsHandshake(std::string_view listener, std::string_view version) {
  tls_handshakes_.get({listener, version}).fetch_add(1, std::memory_order_relaxed);
}

void WorkerMetrics::connectionOpened(std::string_view listener) {
  connections_.get({listener}).fetch_add(1, std::memory_order_relaxed);
}

void WorkerMetrics::connectionClosed(std::string_view listener) {
  connections_.get({listener}).fetch_sub(1, std::memory_order_relaxed);
}

namespace {

template <size_t N>
using SortedKey = std::array<std::string, N>;

template <size_t N>
SortedKey<N> toKey(const std::array<std::string_view, N>& labels) {
  SortedKey<N> key;
  for (size_t i = 0; i < N; ++i) key[i] = std::string(labels[i]);
  return key;
}

// Sums one family of scalar series over the workers, sorted by label values.
template <typename Value, size_t N, typename Entry, typename Select>
std::map<SortedKey<N>, Value> sumScalar(const std::vector<const WorkerMetrics*>& workers,
                                        Select select) {
  std::map<SortedKey<N>, Value> sum;
  for (const WorkerMetrics* w : workers) {
    const LabelMap<N, Entry>& family = select(*w);
    family.forEach([&](const auto& labels, const Entry& e) {
      sum[toKey<N>(labels)] += static_cast<Value>(e.load(std::memory_order_relaxed));
    });
  }
  return sum;
}

template <size_t N, typename Value>
void appendScalarFamily(std::string& out, std::string_view name, std::string_view help,
                        std::string_view type, const std::array<std::string_view, N>& names,
                        const std::map<SortedKey<N>, Value>& series) {
  appendFamilyHeader(out, name, help, type);
  std::array<MetricLabel, N> labels;
  for (const auto& [key, value] : series) {
    for (size_t i = 0; i < N; ++i) labels[i] = {names[i], key[i]};
    appendSample(out, name, labels, value);
  }
}

struct HistogramSum {
  std::array<uint64_t, kDurationBounds.size() + 1> buckets{};
  uint64_t sum_us = 0;
};

// Bucket bounds as `le` values, written as Prometheus client libraries write them.
constexpr std::array<std::string_view, kDurationBounds.size() + 1> kLe = {
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25",  "0.5",    "1",     "2.5",  "5",     "10",   "+Inf"};

void appendDurations(std::string& out, const std::map<SortedKey<1>, HistogramSum>& series) {
  constexpr std::string_view kName = "meridian_request_duration_seconds";
  appendFamilyHeader(out, kName, "Time from request head to the end of the response, by route.",
                     "histogram");
  std::string bucket_name = std::string(kName) + "_bucket";
  std::string sum_name = std::string(kName) + "_sum";
  std::string count_name = std::string(kName) + "_count";
  for (const auto& [key, h] : series) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.buckets.size(); ++i) {
      cumulative += h.buckets[i];
      MetricLabel labels[] = {{"route", key[0]}, {"le", kLe[i]}};
      appendSample(out, bucket_name, labels, cumulative);
    }
    MetricLabel route[] = {{"route", key[0]}};
    appendSample(out, sum_name, route, static_cast<double>(h.sum_us) / 1e6);
    appendSample(out, count_name, route, cumulative);
  }
}

}  // namespace

void renderMetrics(const std::vector<const WorkerMetrics*>& workers, std::string& out) {
  appendScalarFamily<4>(out, "meridian_requests_total",
                        "Requests answered, by route, backend cluster, region and status.",
                        "counter", {"route", "cluster", "region", "code"},
                        sumScalar<uint64_t, 4, WorkerMetrics::Counter>(
                            workers, [](const WorkerMetrics& w) -> auto& { return w.requests_; }));

  std::map<SortedKey<1>, HistogramSum> durations;
  for (const WorkerMetrics* w : workers) {
    w->durations_.forEach([&](const auto& labels, const DurationHistogram& h) {
      HistogramSum& sum = durations[toKey<1>(labels)];
      for (size_t i = 0; i < h.buckets.size(); ++i) {
        sum.buckets[i] += h.buckets[i].load(std::memory_order_relaxed);
      }
      sum.sum_us += h.sum_us.load(std::memory_order_relaxed);
    });
  }
  appendDurations(out, durations);

  appendScalarFamily<2>(out, "meridian_replays_total",
                        "Requests replayed to another region, by route and reason.", "counter",
                        {"route", "reason"},
                        sumScalar<uint64_t, 2, WorkerMetrics::Counter>(
                            workers, [](const WorkerMetrics& w) -> auto& { return w.replays_; }));
  appendScalarFamily<1>(
      out, "meridian_replay_budget_exhausted_total",
      "Replays not attempted because the route's replay budget was spent.", "counter", {"route"},
      sumScalar<uint64_t, 1, WorkerMetrics::Counter>(
          workers, [](const WorkerMetrics& w) -> auto& { return w.budget_exhausted_; }));
  appendScalarFamily<2>(out, "meridian_hedges_total",
                        "Hedged requests, by route and outcome: won (the hedge answered first), "
                        "lost, cancelled, budget (due but refused by the replay budget).",
                        "counter", {"route", "outcome"},
                        sumScalar<uint64_t, 2, WorkerMetrics::Counter>(
                            workers, [](const WorkerMetrics& w) -> auto& { return w.hedges_; }));
  appendScalarFamily<1>(
      out, "meridian_at_capacity_total",
      "Requests answered 503 at_capacity: every endpoint they could use was at its hard limit.",
      "counter", {"route"},
      sumScalar<uint64_t, 1, WorkerMetrics::Counter>(
          workers, [](const WorkerMetrics& w) -> auto& { return w.at_capacity_; }));
  appendScalarFamily<3>(
      out, "meridian_spills_total",
      "First attempts sent past the nearest (or fastest) region because it was past its limit.",
      "counter", {"route", "from", "to"},
      sumScalar<uint64_t, 3, WorkerMetrics::Counter>(
          workers, [](const WorkerMetrics& w) -> auto& { return w.spills_; }));
  appendScalarFamily<1>(
      out, "meridian_downstream_connections", "Client connections open now, by listener.", "gauge",
      {"listener"},
      sumScalar<int64_t, 1, std::atomic<int64_t>>(
          workers, [](const WorkerMetrics& w) -> auto& { return w.connections_; }));
  appendScalarFamily<2>(
      out, "meridian_tls_handshakes_total", "TLS handshakes completed, by listener and version.",
      "counter", {"listener", "version"},
      sumScalar<uint64_t, 2, WorkerMetrics::Counter>(
          workers, [](const WorkerMetrics& w) -> auto& { return w.tls_handshakes_; }));
}

void sumCounts(const std::vector<const WorkerMetrics*>& workers, CountTotals& out) {
  for (const WorkerMetrics* w : workers) {
    w->requests_.forEach([&](const auto& l, const WorkerMetrics::Counter& c) {
      out.requests[toKey<4>(l)] += c.load(std::memory_order_relaxed);
    });
    w->replays_.forEach([&](const auto& l, const WorkerMetrics::Counter& c) {
      out.replays[toKey<2>(l)] += c.load(std::memory_order_relaxed);
    });
    w->attempts_.forEach([&](const auto& l, const WorkerMetrics::AttemptStats& a) {
      CountTotals::Attempts& sum = out.attempts[toKey<2>(l)];
      sum.attempts += a.attempts.load(std::memory_order_relaxed);
      sum.errors += a.errors.load(std::memory_order_relaxed);
      for (size_t i = 0; i < sum.buckets.size(); ++i) {
        sum.buckets[i] += a.latency.buckets[i].load(std::memory_order_relaxed);
      }
    });
  }
}

double histogramQuantile(const std::array<uint64_t, kDurationBounds.size() + 1>& buckets,
                         double q) {
  uint64_t total = 0;
  for (uint64_t b : buckets) total += b;
  if (total == 0) return std::nan("");
  double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(total);
  uint64_t below = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (buckets[i] > 0 && static_cast<double>(below + buckets[i]) >= rank) {
      if (i == kDurationBounds.size()) return kDurationBounds.back();
      double lo = i == 0 ? 0 : kDurationBounds[i - 1];
      double within = (rank - static_cast<double>(below)) / static_cast<double>(buckets[i]);
      return lo + (kDurationBounds[i] - lo) * std::clamp(within, 0.0, 1.0);
    }
    below += buckets[i];
  }
  return kDurationBounds.back();
}

}  // namespace meridian::proxy
