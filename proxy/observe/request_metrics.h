#pragma once
// Labelled request metrics, kept per worker. Only the owning worker writes a WorkerMetrics, so
// the request path takes no lock: it finds the entry for a label set (heterogeneous lookup,
// no allocation) and bumps relaxed atomics. A label set seen for the first time is inserted
// under a mutex that the scraping thread also holds while it reads, so /metrics never sees a
// map mid-rehash. Entries are keyed by copies of the label strings: route, cluster and region
// names come from config, and after a reload new names simply become new series.
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace meridian::proxy {

// Upper bounds (seconds) of meridian_request_duration_seconds; +Inf is the bucket after them.
inline constexpr std::array<double, 13> kDurationBounds = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

// Non-cumulative counts per bucket (the last is +Inf); rendering makes them cumulative and
// takes _count from their total, so a scrape racing an observe() can never show a bucket above
// _count. The sum is integer microseconds: an atomic add, no torn or drifting double.
struct DurationHistogram {
  std::array<std::atomic<uint64_t>, kDurationBounds.size() + 1> buckets{};
  std::atomic<uint64_t> sum_us{0};

  // Index of the bucket `seconds` falls in: the first bound it is <= to (le is inclusive).
  static size_t bucketFor(double seconds);
  void observe(double seconds);
};

// A hash map from N label values to an Entry whose address never changes (node-based map).
// find() is for the owner thread only and takes no lock; forEach() is for any thread.
template <size_t N, typename Entry>
class LabelMap {
 public:
  using Labels = std::array<std::string_view, N>;

  Entry& get(const Labels& labels) {
    auto it = map_.find(labels);
    if (it != map_.end()) return it->second;
    Key key;
    for (size_t i = 0; i < N; ++i) key[i] = std::string(labels[i]);
    std::lock_guard<std::mutex> lock(mu_);
    return map_.try_emplace(std::move(key)).first->second;
  }

  // Calls fn(labels, entry) for every label set, under the insertion mutex.
  template <typename Fn>
  void forEach(Fn&& fn) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, entry] : map_) {
      Labels labels;
      for (size_t i = 0; i < N; ++i) labels[i] = key[i];
      fn(labels, entry);
    }
  }

 private:
  using Key = std::array<std::string, N>;
  struct Hash {
    using is_transparent = void;
    template <typename Tuple>
    size_t operator()(const Tuple& t) const {
      size_t h = 0;
      for (const auto& s : t) {
        h ^= std::hash<std::string_view>{}(s) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
      }
      return h;
    }
  };
  struct Equal {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      for (size_t i = 0; i < N; ++i) {
        if (std::string_view(a[i]) != std::string_view(b[i])) return false;
      }
      return true;
    }
  };

  std::unordered_map<Key, Entry, Hash, Equal> map_;
  mutable std::mutex mu_;
};

struct CountTotals;

// One route's upstream time to response head on one worker, over the last 10 to 20 seconds
// (two halves of kHalf, the older dropped as a new one begins): what replay.hedge's `after:
// pNN` waits for. Owner thread only, and not on /metrics.
struct HeadLatency {
  static constexpr int64_t kHalfMs = 10000;
  static constexpr uint64_t kMinSamples = 100;  // fewer: no percentile, so no hedge
  std::array<uint64_t, kDurationBounds.size() + 1> current{}, previous{};
  int64_t half_started_ms = 0;

  void observe(double seconds, int64_t now_ms);
  // The q-quantile (0..1) in seconds, or nullopt with fewer than kMinSamples samples.
  std::optional<double> quantile(double q, int64_t now_ms);

 private:
  void rotate(int64_t now_ms);
};

// One per worker thread. Only that thread may call the count and connection methods;
// renderMetrics() may read it from any thread at the same time. It must outlive the scrapes.
class WorkerMetrics {
 public:
  // One finished request: meridian_requests_total and the route's duration histogram. Empty
  // cluster or region (no route matched, no healthy region) are valid label values.
  void countRequest(std::string_view route, std::string_view cluster, std::string_view region,
                    int code, double seconds);
  void countReplay(std::string_view route, std::string_view reason);
  void countBudgetExhausted(std::string_view route);
  // Capacity (clusters[].limits): a request refused because every endpoint it could use was
  // at its hard limit, and a first attempt sent to another region than the nearest (or
  // fastest) one because that one was past its limit.
  void countAtCapacity(std::string_view route);
  void countSpill(std::string_view route, std::string_view from, std::string_view to);
  // meridian_hedges_total{route,outcome}: won, lost, cancelled or budget.
  void countHedge(std::string_view route, std::string_view outcome);
  // The route's time to response head, for hedges after a percentile (owner thread only).
  HeadLatency& headLatency(std::string_view route) { return head_latency_.get({route}); }
  // One attempt at an endpoint ended: its response head arrived (`error` for a 5xx) or it
  // failed (connect, reset, timeout: `error`). `seconds` from the attempt's start to then.
  // For the dashboard's per-endpoint rate, error rate and latency; not on /metrics.
  void countAttempt(std::string_view cluster, std::string_view endpoint, bool error,
                    double seconds);
  void countTlsHandshake(std::string_view listener, std::string_view version);
  void connectionOpened(std::string_view listener);
  void connectionClosed(std::string_view listener);

 private:
  friend void renderMetrics(const std::vector<const WorkerMetrics*>& workers, std::string& out);
  friend void sumCounts(const std::vector<const WorkerMetrics*>& workers, CountTotals& out);
  using Counter = std::atomic<uint64_t>;
  struct AttemptStats {
    Counter attempts{0};
    Counter errors{0};
    DurationHistogram latency;
  };

  LabelMap<4, Counter> requests_;  // route, cluster, region, code
  LabelMap<1, DurationHistogram> durations_;
  LabelMap<2, Counter> replays_;                   // route, reason
  LabelMap<1, Counter> budget_exhausted_;          // route
  LabelMap<1, Counter> at_capacity_;               // route
  LabelMap<3, Counter> spills_;                    // route, from, to
  LabelMap<2, Counter> hedges_;                    // route, outcome
  LabelMap<1, HeadLatency> head_latency_;          // route
  LabelMap<2, Counter> tls_handshakes_;            // listener, version
  LabelMap<1, std::atomic<int64_t>> connections_;  // listener
  LabelMap<2, AttemptStats> attempts_;             // cluster, endpoint
};

// The cumulative counters the dashboard turns into rates, summed over the workers at one
// moment. Keys are label values in the order of the comments.
struct CountTotals {
  struct Attempts {
    uint64_t attempts = 0;
    uint64_t errors = 0;
    std::array<uint64_t, kDurationBounds.size() + 1> buckets{};  // not cumulative
  };
  std::map<std::array<std::string, 4>, uint64_t> requests;  // route, cluster, region, code
  std::map<std::array<std::string, 2>, uint64_t> replays;   // route, reason
  std::map<std::array<std::string, 2>, Attempts> attempts;  // cluster, endpoint
};
void sumCounts(const std::vector<const WorkerMetrics*>& workers, CountTotals& out);

// The q-quantile (0..1) of a latency histogram, in seconds, interpolated linearly inside its
// bucket as Prometheus' histogram_quantile does; NaN for an empty one. The +Inf bucket answers
// the largest finite bound.
double histogramQuantile(const std::array<uint64_t, kDurationBounds.size() + 1>& buckets, double q);

// Appends the labelled families above, summed over `workers`, in text format 0.0.4. Every
// family prints HELP and TYPE even with no series yet, so dashboards can tell "zero" from
// "not exported".
void renderMetrics(const std::vector<const WorkerMetrics*>& workers, std::string& out);

}  // namespace meridian::proxy
