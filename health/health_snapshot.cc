#include "health/health_snapshot.h"

#include <cassert>

namespace meridian::health {

std::shared_ptr<const HealthSnapshot> HealthSnapshot::initial(const config::Config& cfg) {
  std::vector<std::vector<EndpointHealth>> clusters;
  clusters.reserve(cfg.clusters.size());
  auto now = std::chrono::system_clock::now();
  for (const auto& c : cfg.clusters) {
    clusters.emplace_back();
    for (const auto& e : c.endpoints) {
      bool assumed = !c.health_check || (c.health_check->assume_healthy && !e.await_first_check);
      EndpointHealth h;
      h.healthy = h.active_healthy = assumed;
      h.reason = !c.health_check ? "no health check" : assumed ? "assumed" : "not checked yet";
      h.since = now;
      clusters.back().push_back(std::move(h));
    }
  }
  return make(std::move(clusters), 0);
}

std::shared_ptr<const HealthSnapshot> HealthSnapshot::make(
    std::vector<std::vector<EndpointHealth>> c, uint64_t generation) {
  auto snap = std::make_shared<HealthSnapshot>();
  snap->clusters_ = std::move(c);
  snap->generation_ = generation;
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
