#pragma once
// Router::pick: a pure function from (request, config snapshot, health snapshot, a random
// number) to the route, the backend cluster and the order of regions to try. Workers call it
// once per request; it allocates nothing.
//
// Regions are in config order for now; geo distance ordering arrives with its own issue and
// changes only the order this returns.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "health/health_snapshot.h"
#include "routing/route_table.h"

namespace meridian::routing {

struct RegionGroup {
  std::string name;
  std::vector<uint32_t> endpoints;  // indices into Cluster::endpoints
};

// A cluster's endpoints grouped by region, regions in config order.
struct ClusterPlan {
  size_t index = 0;  // in Config::clusters
  const config::Cluster* cluster = nullptr;
  std::vector<RegionGroup> regions;
};

struct RequestInfo {
  std::string_view host;
  std::string_view path;
  std::string_view method;
};

enum class PickOutcome { Ok, NoRoute, NoHealthyRegion };

struct Decision {
  static constexpr size_t kMaxRegions = 64;
  PickOutcome outcome = PickOutcome::NoRoute;
  const config::Route* route = nullptr;
  const ClusterPlan* plan = nullptr;
  // Indices into plan->regions, in the order to try them.
  std::array<uint16_t, kMaxRegions> order{};
  size_t order_size = 0;
};

class Router {
 public:
  explicit Router(std::shared_ptr<const config::Config> cfg);

  Decision pick(const RequestInfo& req, const health::HealthSnapshot& health,
                uint64_t random) const;

  const config::Config& config() const { return *cfg_; }
  const std::shared_ptr<const config::Config>& configPtr() const { return cfg_; }
  const ClusterPlan& plan(size_t cluster_index) const { return plans_[cluster_index]; }

  // The backend a weighted draw lands on (exposed for tests of the split).
  static const config::Backend* pickBackend(const config::Route& route, uint64_t random);

 private:
  std::shared_ptr<const config::Config> cfg_;
  RouteTable table_;
  std::vector<ClusterPlan> plans_;
};

}  // namespace meridian::routing
