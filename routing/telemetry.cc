#include "routing/telemetry.h"

#include <algorithm>
#include <cmath>

namespace meridian::routing {

bool EndpointLoad::tryAcquire(int hard) {
  if (hard <= 0) {
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  int n = in_flight_.load(std::memory_order_relaxed);
  while (n < hard) {
    if (in_flight_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) return true;
  }
  return false;
}

void RegionLatency::record(size_t slot, double ms, int64_t now_ms) {
  Slot& s = slots_[slot % kSlots];
  double prev = s.ewma_ms.load(std::memory_order_relaxed);
  double next = prev < 0 ? ms : prev + kAlpha * (ms - prev);
  s.ewma_ms.store(next, std::memory_order_relaxed);
  s.last_ms.store(now_ms, std::memory_order_relaxed);
}

double RegionLatency::trafficMean(int64_t now_ms, bool fresh_only) const {
  double sum = 0;
  int n = 0;
  for (size_t i = 1; i < kSlots; ++i) {
    double v = slots_[i].ewma_ms.load(std::memory_order_relaxed);
    if (v < 0) continue;
    if (fresh_only && now_ms - slots_[i].last_ms.load(std::memory_order_relaxed) > kTrafficFreshMs)
      continue;
    sum += v;
    ++n;
  }
  return n > 0 ? sum / n : -1;
}

double RegionLatency::merged(int64_t now_ms) const {
  double traffic = trafficMean(now_ms, true);
  if (traffic >= 0) return traffic;
  return slots_[kHealthSlot].ewma_ms.load(std::memory_order_relaxed);
}

void RegionLatency::publish(int64_t now_ms, double hysteresis_ms, int hysteresis_percent) {
  bool fresh = trafficMean(now_ms, true) >= 0;
  if (traffic_fresh_ && !fresh) {
    double last = trafficMean(now_ms, false);
    if (last >= 0) slots_[kHealthSlot].ewma_ms.store(last, std::memory_order_relaxed);
  }
  traffic_fresh_ = fresh;
  double now = merged(now_ms);
  if (now < 0) return;
  double shown = published_.load(std::memory_order_relaxed);
  double band = std::max(hysteresis_ms, shown * hysteresis_percent / 100.0);
  if (shown < 0 || std::fabs(now - shown) > band) published_.store(now, std::memory_order_relaxed);
}

std::shared_ptr<EndpointLoad> Telemetry::endpoint(const std::string& cluster,
                                                  const std::string& endpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& entry = endpoints_[{cluster, endpoint}];
  if (!entry) entry = std::make_shared<EndpointLoad>();
  return entry;
}

std::shared_ptr<RegionLatency> Telemetry::region(const std::string& cluster,
                                                 const std::string& region) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& entry = regions_[{cluster, region}];
  if (!entry) entry = std::make_shared<RegionLatency>();
  return entry;
}

void Telemetry::publish(const config::Routing& routing, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(endpoints_, [](const auto& e) { return e.second.use_count() == 1; });
  std::erase_if(regions_, [](const auto& e) { return e.second.use_count() == 1; });
  auto hysteresis_ms = static_cast<double>(routing.latency_hysteresis.count());
  for (auto& [key, r] : regions_)
    r->publish(now_ms, hysteresis_ms, routing.latency_hysteresis_percent);
}

void Telemetry::forEachEndpoint(const std::function<void(const std::string&, const std::string&,
                                                         const EndpointLoad&)>& fn) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, e] : endpoints_) fn(key.first, key.second, *e);
}

void Telemetry::forEachRegion(const std::function<void(const std::string&, const std::string&,
                                                       const RegionLatency&)>& fn) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, r] : regions_) fn(key.first, key.second, *r);
}

}  // namespace meridian::routing
