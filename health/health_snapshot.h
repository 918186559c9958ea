#pragma once
// Endpoint health as an immutable snapshot. The main thread's HealthMonitor builds a new one
// on every change and publishes it; workers read whichever snapshot was current when a request
// started. Indexed like the config it was built for: clusters as in Config::clusters,
// endpoints as in Cluster::endpoints.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"

namespace meridian::health {

struct EndpointHealth {
  bool healthy = true;         // active state and not ejected
  bool active_healthy = true;  // what the active checks say (true when there are none)
  bool ejected = false;        // passive outlier ejection in force
  std::string reason;          // why: "assumed", "check passed", "check failed: 503",
                               // "ejected: 5 consecutive failures", ...
  std::chrono::system_clock::time_point since{};  // when `healthy` last changed
  int ejections = 0;  // times ejected so far (the next ejection lasts longer)
  std::chrono::system_clock::time_point ejected_until{};
  // The latest active check, which may not have changed anything: "check passed" or why it
  // failed, and when; "" before the first check (and for clusters without checks).
  std::string last_check;
  bool last_check_passed = false;
  std::chrono::system_clock::time_point last_check_at{};
};

class HealthSnapshot {
 public:
  // Every endpoint of every cluster of `cfg`, healthy as its cluster's health_check says
  // (assume_healthy, or no health_check at all: healthy).
  static std::shared_ptr<const HealthSnapshot> initial(const config::Config& cfg);
  // Built by the monitor: one vector per cluster, one entry per endpoint.
  static std::shared_ptr<const HealthSnapshot> make(std::vector<std::vector<EndpointHealth>> c,
                                                    uint64_t generation);

  bool healthy(size_t cluster, size_t endpoint) const;
  const EndpointHealth& at(size_t cluster, size_t endpoint) const;
  size_t clusterCount() const { return clusters_.size(); }
  size_t endpointCount(size_t cluster) const { return clusters_[cluster].size(); }
  uint64_t generation() const { return generation_; }

 private:
  std::vector<std::vector<EndpointHealth>> clusters_;
  uint64_t generation_ = 0;
};

}  // namespace meridian::health
