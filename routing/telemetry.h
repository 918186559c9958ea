#pragma once
// What this proxy measures at run time and the router reads: requests in flight per endpoint
// (for capacity limits) and latency per region (for `routing.order: latency`). One Telemetry
// lives for the whole process; entries are found by name, so they outlive reloads, and each
// router built from a config holds the entries of its clusters directly (no lookup per
// request).
//
// In flight is one shared atomic per endpoint, counted by every worker: a hard limit is a
// limit for the whole process, not per worker. Latency is an EWMA kept per writer (one slot
// per worker, one for the health checks) so that no two threads write one cache line; the
// main thread merges the slots a few times a second and publishes the value the router
// orders by, moving it only when the change is larger than the hysteresis.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "config/config.h"

namespace meridian::routing {

class EndpointLoad {
 public:
  // Takes a slot unless `hard` (>0) slots are taken already; a hard limit of 0 always takes.
  // The check and the increment are one step, so two workers cannot both take the last slot.
  bool tryAcquire(int hard);
  void release() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }
  int inFlight() const { return in_flight_.load(std::memory_order_relaxed); }

 private:
  alignas(64) std::atomic<int> in_flight_{0};
};

class RegionLatency {
 public:
  static constexpr size_t kHealthSlot = 0;
  static constexpr size_t kSlots = 33;  // the health checks, then workers 0..31 (id modulo 32)
  // How far a new sample moves a slot's average (an EWMA over roughly the last 5 samples).
  static constexpr double kAlpha = 0.2;
  // Request samples older than this no longer count: once a slow region has lost its traffic,
  // its health checks alone say when it is fast again.
  static constexpr int64_t kTrafficFreshMs = 3000;

  static size_t workerSlot(int worker_id) { return 1 + static_cast<size_t>(worker_id) % 32; }

  // One sample (milliseconds) into a slot; only one thread writes a given slot.
  void record(size_t slot, double ms, int64_t now_ms);
  // The region's latency now: the requests' average (over the worker slots with a fresh
  // sample) when there is one, else the health checks'; negative when neither was measured.
  double merged(int64_t now_ms) const;
  // What the router orders by (negative: not measured yet).
  double published() const { return published_.load(std::memory_order_relaxed); }
  // Moves the published value to merged() when it differs by more than both hysteresis
  // bounds (always when none was published yet). Main thread, which also writes the health
  // slot: when the requests' samples have just gone stale, it seeds the health checks'
  // average with the requests' last one, so the checks move on from what the region was
  // last seen to cost rather than from an average that never saw it slow.
  void publish(int64_t now_ms, double hysteresis_ms, int hysteresis_percent);

 private:
  struct alignas(64) Slot {
    std::atomic<double> ewma_ms{-1};
    std::atomic<int64_t> last_ms{0};
  };
  // The mean of the worker slots with a sample (fresh ones only with `fresh_only`); -1: none.
  double trafficMean(int64_t now_ms, bool fresh_only) const;

  Slot slots_[kSlots];
  std::atomic<double> published_{-1};
  bool traffic_fresh_ = false;  // at the last publish (main thread only)
};

class Telemetry {
 public:
  std::shared_ptr<EndpointLoad> endpoint(const std::string& cluster, const std::string& endpoint);
  std::shared_ptr<RegionLatency> region(const std::string& cluster, const std::string& region);

  // Publishes every region's latency (main thread, a few times a second), and forgets entries
  // no router holds any more.
  void publish(const config::Routing& routing, int64_t now_ms);

  // For /metrics and the views: every entry some router still holds.
  void forEachEndpoint(
      const std::function<void(const std::string& cluster, const std::string& endpoint,
                               const EndpointLoad&)>& fn) const;
  void forEachRegion(const std::function<void(const std::string& cluster, const std::string& region,
                                              const RegionLatency&)>& fn) const;

 private:
  using Key = std::pair<std::string, std::string>;
  mutable std::mutex mu_;
  std::map<Key, std::shared_ptr<EndpointLoad>> endpoints_;
  std::map<Key, std::shared_ptr<RegionLatency>> regions_;
};

}  // namespace meridian::routing
