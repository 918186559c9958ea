#pragma once
// Router::pick: a pure function from (request, config snapshot, health snapshot, a random
// number) to the route, the backend cluster and the order of regions to try. Workers call it
// once per request; it allocates nothing.
//
// The routing rule: match the route (host, then longest path prefix); pick the backend by
// weight; keep the cluster's regions that hold a healthy endpoint; drop those residency
// forbids for the client's country; order the rest by great-circle distance from the client
// (or from the listener's region when the client has no location, else config order), with
// drained regions after all others; `meridian-prefer-region` moves a healthy allowed region
// first. With no healthy region: 503, or with all_unhealthy: route_anyway, the same order as
// if all were healthy. Residency is never broken.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "health/health_snapshot.h"
#include "routing/geo.h"
#include "routing/route_table.h"

namespace meridian::routing {

struct RegionGroup {
  std::string name;
  std::vector<uint32_t> endpoints;  // indices into Cluster::endpoints
  bool drained = false;
  bool located = false;  // the region has coordinates in the config
  double lat = 0, lon = 0;
  double x = 0, y = 0, z = 0;  // unit vector of (lat, lon): distance order by dot product
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
  const GeoLocation* client = nullptr;  // where the client is; null or !known: unknown
  std::string_view prefer_region;       // meridian-prefer-region (or fly-prefer-region)
  std::string_view listener_region;     // orders clients with no location
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
  // Why the first region is first: "nearest", "preferred", "listener region", "config order",
  // "only drained regions left", "all unhealthy: routing anyway".
  const char* why = "";
  const std::vector<std::string>* residency = nullptr;  // the allowed regions, if restricted
};

class Router {
 public:
  explicit Router(std::shared_ptr<const config::Config> cfg);

  Decision pick(const RequestInfo& req, const health::HealthSnapshot& health,
                uint64_t random) const;

  const config::Config& config() const { return *cfg_; }
  const std::shared_ptr<const config::Config>& configPtr() const { return cfg_; }
  const ClusterPlan& plan(size_t cluster_index) const { return plans_[cluster_index]; }
  const RouteTable& routes() const { return table_; }

  // The configured region nearest to a location (for meridian-client-region); "" if none is
  // located or the location is unknown.
  std::string_view nearestRegion(const GeoLocation& where) const;

  // The backend a weighted draw lands on (exposed for tests of the split).
  static const config::Backend* pickBackend(const config::Route& route, uint64_t random);

 private:
  std::shared_ptr<const config::Config> cfg_;
  RouteTable table_;
  std::vector<ClusterPlan> plans_;
  std::vector<RegionGroup> all_regions_;  // every configured region, for nearestRegion
};

// Unit vector of a point on the sphere; nearer points have larger dot products.
void unitVector(double lat, double lon, double& x, double& y, double& z);

}  // namespace meridian::routing
