#pragma once
// Endpoint health as an immutable snapshot. The main thread builds a new one on every change
// and publishes it; workers read whichever snapshot was current when a request started.
// Active and passive checks arrive with their own issue; until then every endpoint starts as
// `assume_healthy` says and the snapshot is rebuilt only on config load.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"

namespace meridian::health {

struct EndpointHealth {
  bool healthy = true;
  std::string reason;  // why it is (un)healthy: "assumed", "check failed", ...
};

class HealthSnapshot {
 public:
  // Every endpoint of every cluster of `cfg`, healthy as its cluster's health_check says.
  static std::shared_ptr<const HealthSnapshot> initial(const config::Config& cfg);

  // clusters are indexed as in Config::clusters, endpoints as in Cluster::endpoints.
  bool healthy(size_t cluster, size_t endpoint) const;
  const EndpointHealth& at(size_t cluster, size_t endpoint) const;
  uint64_t generation() const { return generation_; }

 private:
  std::vector<std::vector<EndpointHealth>> clusters_;
  uint64_t generation_ = 0;
};

}  // namespace meridian::health
