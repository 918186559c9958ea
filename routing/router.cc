#include "routing/router.h"

#include <algorithm>

namespace meridian::routing {

namespace {

ClusterPlan buildPlan(const config::Config& cfg, size_t index) {
  ClusterPlan plan;
  plan.index = index;
  plan.cluster = &cfg.clusters[index];
  // Regions in the order the config lists them; an endpoint whose region is not listed
  // (validation forbids it, but a hand-built config may) gets a group of its own at the end.
  for (const auto& r : cfg.regions) plan.regions.push_back({r.name, {}});
  const auto& eps = plan.cluster->endpoints;
  for (uint32_t i = 0; i < eps.size(); ++i) {
    auto it = std::find_if(plan.regions.begin(), plan.regions.end(),
                           [&](const RegionGroup& g) { return g.name == eps[i].region; });
    if (it == plan.regions.end()) {
      plan.regions.push_back({eps[i].region, {}});
      it = plan.regions.end() - 1;
    }
    it->endpoints.push_back(i);
  }
  std::erase_if(plan.regions, [](const RegionGroup& g) { return g.endpoints.empty(); });
  return plan;
}

bool regionDrained(const config::Config& cfg, const std::string& name) {
  const config::Region* r = cfg.findRegion(name);
  return r != nullptr && r->drain;
}

}  // namespace

Router::Router(std::shared_ptr<const config::Config> cfg) : cfg_(std::move(cfg)), table_(*cfg_) {
  plans_.reserve(cfg_->clusters.size());
  for (size_t i = 0; i < cfg_->clusters.size(); ++i) plans_.push_back(buildPlan(*cfg_, i));
}

const config::Backend* Router::pickBackend(const config::Route& route, uint64_t random) {
  uint64_t total = 0;
  for (const auto& b : route.backends) total += b.weight;
  if (total == 0) return route.backends.empty() ? nullptr : &route.backends.front();
  uint64_t point = random % total;
  for (const auto& b : route.backends) {
    if (point < b.weight) return &b;
    point -= b.weight;
  }
  return &route.backends.back();
}

Decision Router::pick(const RequestInfo& req, const health::HealthSnapshot& health,
                      uint64_t random) const {
  Decision d;
  d.route = table_.match(req.host, req.path);
  if (d.route == nullptr) return d;
  const config::Backend* backend = pickBackend(*d.route, random);
  const config::Cluster* cluster = backend ? cfg_->findCluster(backend->cluster) : nullptr;
  if (cluster == nullptr) return d;
  d.plan = &plans_[static_cast<size_t>(cluster - cfg_->clusters.data())];

  // Healthy, undrained regions first; drained ones only as failover targets after them.
  auto add = [&](bool drained_pass) {
    for (size_t i = 0; i < d.plan->regions.size() && d.order_size < Decision::kMaxRegions; ++i) {
      const RegionGroup& g = d.plan->regions[i];
      if (regionDrained(*cfg_, g.name) != drained_pass) continue;
      bool any_healthy = std::any_of(g.endpoints.begin(), g.endpoints.end(), [&](uint32_t e) {
        return health.healthy(d.plan->index, e);
      });
      if (any_healthy) d.order[d.order_size++] = static_cast<uint16_t>(i);
    }
  };
  add(false);
  add(true);
  if (d.order_size == 0) {
    if (d.route->all_unhealthy == config::AllUnhealthy::Reject) {
      d.outcome = PickOutcome::NoHealthyRegion;
      return d;
    }
    for (size_t i = 0; i < d.plan->regions.size() && i < Decision::kMaxRegions; ++i)
      d.order[d.order_size++] = static_cast<uint16_t>(i);
  }
  d.outcome = PickOutcome::Ok;
  return d;
}

}  // namespace meridian::routing
