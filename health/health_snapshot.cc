#include "health/health_snapshot.h"

#include <cassert>

namespace meridian::health {

std::shared_ptr<const HealthSnapshot> HealthSnapshot::initial(const config::Config& cfg) {
  auto snap = std::make_shared<HealthSnapshot>();
  snap->clusters_.reserve(cfg.clusters.size());
  for (const auto& c : cfg.clusters) {
    bool assumed = !c.health_check || c.health_check->assume_healthy;
    std::vector<EndpointHealth> eps(c.endpoints.size(),
                                    EndpointHealth{assumed, assumed ? "assumed" : "not checked yet"});
    snap->clusters_.push_back(std::move(eps));
  }
  return snap;
}

bool HealthSnapshot::healthy(size_t cluster, size_t endpoint) const {
  return at(cluster, endpoint).healthy;
}

const EndpointHealth& HealthSnapshot::at(size_t cluster, size_t endpoint) const {
  assert(cluster < clusters_.size() && endpoint < clusters_[cluster].size());
  return clusters_[cluster][endpoint];
}

}  // namespace meridian::health
