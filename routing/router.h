#pragma once
// Router::pick: a pure function from (request, config snapshot, health snapshot, a random
// number) to the route, the backend cluster and the order of regions to try. Workers call it
// once per request; it allocates nothing.
//
// The routing rule: match the route (host, then longest path prefix); pick the backend (see
// below); keep the cluster's regions that hold a healthy endpoint; drop those residency
// forbids for the client's country; order the rest by great-circle distance from the client
// (or from the listener's region when the client has no location, else config order; with
// routing.order: latency, by that distance as fibre round-trip time plus the measured latency
// to the region, once every candidate is measured), with drained regions after all others;
// within those classes, with clusters[].limits, regions with an endpoint under its soft limit
// before those past it, and those at their hard limit last (Decision::spilled_from); `meridian-prefer-region` moves a healthy allowed region
// first (a drained one only first among the drained). With no healthy region: 503, or with
// all_unhealthy: route_anyway, the same order as if all were healthy except that regions whose
// endpoints are all ejected come after the others (Decision::routed_anyway). Residency is
// never broken.
//
// The backend (blue-green) comes first and its cluster's regions second, so blue and green can
// each have their own regions. In order: a `meridian-backend: NAME` override (honoured when the
// route has allow_override or the caller says the peer is a trusted proxy, and NAME is one of
// the route's backends, even at weight 0: testers reach green before it takes traffic); then
// affinity: `cookie` honours `meridian-backend-<route>=<cluster>` when it names a backend of
// the route with a positive weight (a retired or unknown cluster is ignored and a new backend
// drawn, so a cookie cannot be forged into anything the route does not serve), `client_ip`
// hashes the client address onto the weights; else a weighted draw with `random`.
#include <array>
#include <map>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "health/health_snapshot.h"
#include "routing/geo.h"
#include "routing/route_table.h"
#include "routing/telemetry.h"

namespace meridian::routing {

struct RegionGroup {
  std::string name;
  std::vector<uint32_t> endpoints;  // indices into Cluster::endpoints
  bool drained = false;
  bool located = false;  // the region has coordinates in the config
  double lat = 0, lon = 0;
  double x = 0, y = 0, z = 0;  // unit vector of (lat, lon): distance order by dot product
  std::shared_ptr<RegionLatency> latency;  // this proxy's measured latency; null without telemetry
};

// A cluster's endpoints grouped by region, regions in config order.
struct ClusterPlan {
  size_t index = 0;  // in Config::clusters
  const config::Cluster* cluster = nullptr;
  std::vector<RegionGroup> regions;
  std::vector<std::shared_ptr<EndpointLoad>> load;  // per endpoint; empty without telemetry
  int inFlight(uint32_t endpoint) const {
    return endpoint < load.size() ? load[endpoint]->inFlight() : 0;
  }
};

// An endpoint's requests in flight against its cluster's limits (a cluster without limits is
// always under soft; `soft` alone never reaches AtHard, `hard` alone spills only at hard).
enum class LoadLevel : uint8_t { UnderSoft, PastSoft, AtHard };
LoadLevel endpointLoad(const ClusterPlan& plan, uint32_t endpoint);
const char* loadLevelName(LoadLevel level);
// The lowest level among the region's endpoints that may serve: healthy ones, or with
// `routed_anyway` all of them.
LoadLevel regionLoad(const ClusterPlan& plan, const RegionGroup& region,
                     const health::HealthSnapshot& health, bool routed_anyway);
// Round trip of light in fibre over a distance: about 1 ms per 100 km.
inline double fibreRoundTripMs(double km) {
  return km / 100.0;
}

struct RequestInfo {
  std::string_view host;
  std::string_view path;
  std::string_view method;
  const GeoLocation* client = nullptr;  // where the client is; null or !known: unknown
  std::string_view prefer_region{};     // meridian-prefer-region (or fly-prefer-region)
  std::string_view listener_region{};   // orders clients with no location
  // Blue-green. Each element is one Cookie header's value ("a=1; b=2"), in request order.
  std::span<const std::string_view> cookies{};
  std::string_view backend_override{};   // the meridian-backend header, if any
  bool override_trusted = false;         // the peer is a trusted proxy: the override counts even
                                         // without the route's allow_override
  const IpAddress* client_ip = nullptr;  // for affinity: client_ip; null: a weighted draw
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
  // "only drained regions left", "all unhealthy: routing anyway", "lowest latency", "spill".
  const char* why = "";
  // Capacity (clusters[].limits) may move a request only among the first capacity_scope
  // regions of the order: those of the first region's class (a drain or an ejection is never
  // crossed), and only the first region when the client's prefer header chose it.
  size_t capacity_scope = 0;
  // When capacity put another region first: the one that would be first without it (index
  // into plan->regions), for meridian_spills_total; -1 otherwise.
  int spilled_from = -1;
  bool by_latency = false;  // ordered by measured latency (routing.order: latency, all measured)
  // No allowed region had a healthy endpoint and the route has all_unhealthy: route_anyway:
  // the exchange may then use unhealthy endpoints (not ejected ones first), and only then.
  bool routed_anyway = false;
  const std::vector<std::string>* residency = nullptr;  // the allowed regions, if restricted
  // The backend chosen (plan->cluster is its cluster), and why: "override", "cookie",
  // "client_ip", "weight" or "only backend" (a single backend with a positive weight).
  const config::Backend* backend = nullptr;
  const char* backend_why = "";
  // affinity: cookie and the request carried no valid cookie for this route: the response
  // must set one (affinitySetCookie) so that the client's next requests stay on `backend`.
  bool set_affinity_cookie = false;
};

// Runtime drain overrides (POST /regions/NAME/drain and /undrain on the admin API), by region
// name: true drains a region the config does not, false serves one the config drains. They
// replace the config's `drain:` for routing only; the config itself is never changed.
using DrainOverrides = std::map<std::string, bool, std::less<>>;

class Router {
 public:
  // `telemetry`: in-flight counts and measured latency for capacity limits and latency order;
  // without it every endpoint is under its limits and no region is measured.
  explicit Router(std::shared_ptr<const config::Config> cfg, const DrainOverrides& drain = {},
                  std::shared_ptr<Telemetry> telemetry = nullptr);

  Decision pick(const RequestInfo& req, const health::HealthSnapshot& health,
                uint64_t random) const;

  const config::Config& config() const { return *cfg_; }
  const std::shared_ptr<Telemetry>& telemetry() const { return telemetry_; }
  const std::shared_ptr<const config::Config>& configPtr() const { return cfg_; }
  const ClusterPlan& plan(size_t cluster_index) const { return plans_[cluster_index]; }
  const RouteTable& routes() const { return table_; }

  // The configured region nearest to a location (for meridian-client-region); "" if none is
  // located or the location is unknown.
  std::string_view nearestRegion(const GeoLocation& where) const;

  // The backend a weighted draw lands on (exposed for tests of the split).
  static const config::Backend* pickBackend(const config::Route& route, uint64_t random);
  // The backend a client address lands on under affinity: client_ip. The address hashes to a
  // point in [0, 1) which is scaled onto the cumulative weights (not taken modulo the total),
  // so for unchanged weights an address always lands on the same backend, and when weights
  // change only the addresses whose point now falls in another backend's interval move: with
  // two backends exactly the share that changed hands (90/10 -> 80/20 moves 10% of clients,
  // all blue to green); with more, a changed weight also shifts the intervals after it.
  static const config::Backend* pickByAddress(const config::Route& route, const IpAddress& ip);
  // Stable 64-bit hash of the 16 address bytes (a fixed-key mix, the same in every process).
  static uint64_t addressHash(const IpAddress& ip);

  // The route's affinity cookie name (precomputed: no allocation per request).
  std::string_view affinityCookie(const config::Route& route) const;

 private:
  std::shared_ptr<const config::Config> cfg_;
  RouteTable table_;
  std::vector<ClusterPlan> plans_;
  std::vector<RegionGroup> all_regions_;   // every configured region, for nearestRegion
  std::vector<std::string> cookie_names_;  // per route, in Config::routes order
  std::shared_ptr<Telemetry> telemetry_;

  const config::Backend* chooseBackend(const RequestInfo& req, const config::Route& route,
                                       uint64_t random, Decision& d) const;
};

// `meridian-backend-<route name>`, with every character that may not appear in a cookie name
// (RFC 6265 token) replaced by '_' and, when any was, a short hash of the real name appended
// so that two routes whose names differ only there keep apart.
std::string affinityCookieName(const config::Route& route);

// The Set-Cookie value that pins a client to `cluster`: "NAME=CLUSTER; Path=/; HttpOnly;
// SameSite=Lax", plus "; Secure" on a TLS listener. A session cookie (no Max-Age): a colour
// should outlive neither the browser session nor a rollout, and every response of a route
// with cookie affinity that lacks a valid cookie sets a fresh one anyway.
std::string affinitySetCookie(std::string_view cookie_name, std::string_view cluster, bool secure);
// The same, appended to `out` (a caller-owned buffer reused across requests).
void appendAffinitySetCookie(std::string& out, std::string_view cookie_name,
                             std::string_view cluster, bool secure);

// Cookie header parsing, in place. nextCookie takes the next "name=value" pair off the front
// of `rest` (pairs separated by ';', whitespace around names and values tolerated, a quoted
// value unquoted, pairs without '=' skipped); false when none is left. findCookie returns the
// first value of `name` in one header value, empty when absent.
bool nextCookie(std::string_view& rest, std::string_view& name, std::string_view& value);
std::string_view findCookie(std::string_view header_value, std::string_view name);

// Unit vector of a point on the sphere; nearer points have larger dot products.
void unitVector(double lat, double lon, double& x, double& y, double& z);

}  // namespace meridian::routing
