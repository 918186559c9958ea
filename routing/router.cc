#include "routing/router.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace meridian::routing {

namespace {

constexpr double kDegToRad = M_PI / 180.0;
constexpr double kEarthRadiusKm = 6371.0;

RegionGroup makeGroup(const config::Config& cfg, const std::string& name,
                      const DrainOverrides& drain) {
  RegionGroup g;
  g.name = name;
  if (const config::Region* r = cfg.findRegion(name)) {
    auto o = drain.find(name);
    g.drained = o == drain.end() ? r->drain : o->second;
    g.located = true;
    g.lat = r->lat;
    g.lon = r->lon;
    unitVector(r->lat, r->lon, g.x, g.y, g.z);
  }
  return g;
}

ClusterPlan buildPlan(const config::Config& cfg, size_t index, const DrainOverrides& drain) {
  ClusterPlan plan;
  plan.index = index;
  plan.cluster = &cfg.clusters[index];
  // Regions in the order the config lists them; an endpoint whose region is not listed
  // (validation forbids it, but a hand-built config may) gets a group of its own at the end.
  for (const auto& r : cfg.regions) plan.regions.push_back(makeGroup(cfg, r.name, drain));
  const auto& eps = plan.cluster->endpoints;
  for (uint32_t i = 0; i < eps.size(); ++i) {
    auto it = std::find_if(plan.regions.begin(), plan.regions.end(),
                           [&](const RegionGroup& g) { return g.name == eps[i].region; });
    if (it == plan.regions.end()) {
      plan.regions.push_back(makeGroup(cfg, eps[i].region, drain));
      it = plan.regions.end() - 1;
    }
    it->endpoints.push_back(i);
  }
  std::erase_if(plan.regions, [](const RegionGroup& g) { return g.endpoints.empty(); });
  return plan;
}

bool anyHealthy(const RegionGroup& g, size_t cluster, const health::HealthSnapshot& health) {
  return std::any_of(g.endpoints.begin(), g.endpoints.end(),
                     [&](uint32_t e) { return health.healthy(cluster, e); });
}

const std::vector<std::string>* residencyFor(const config::Route& route,
                                             const GeoLocation* client) {
  if (client == nullptr || client->country.empty() || route.residency.empty()) return nullptr;
  auto it = route.residency.find(client->country);
  return it == route.residency.end() ? nullptr : &it->second;
}

bool allowed(const std::vector<std::string>* residency, const std::string& region) {
  return residency == nullptr ||
         std::find(residency->begin(), residency->end(), region) != residency->end();
}

// Whether some endpoint of the region is not ejected by passive outlier detection: when every
// region is unhealthy, one that only fails its active checks may still serve, while an
// ejected endpoint has just failed real requests.
bool anyNotEjected(const RegionGroup& g, size_t cluster, const health::HealthSnapshot& health) {
  return std::any_of(g.endpoints.begin(), g.endpoints.end(),
                     [&](uint32_t e) { return !health.at(cluster, e).ejected; });
}

// The class a region sorts in, before distance: undrained before drained, and when routing
// anyway, regions with an endpoint not ejected before those with none. Lower comes first; a
// prefer header moves a region only within its class.
int orderClass(const Decision& d, const health::HealthSnapshot& health, uint16_t r) {
  const RegionGroup& g = d.plan->regions[r];
  bool ejected = d.routed_anyway && !anyNotEjected(g, d.plan->index, health);
  return (g.drained ? 2 : 0) + (ejected ? 1 : 0);
}

// The capacity class a region sorts in after its order class: with spill: soft, regions with
// an endpoint under its soft limit, then those past it, then those at their hard limit; with
// spill: hard, past soft counts as under (a request stays in its region until the hard limit).
int capacityClass(const Decision& d, const health::HealthSnapshot& health, uint16_t r) {
  if (!d.plan->cluster->capacity.limited()) return 0;  // no per-request walk of the endpoints
  LoadLevel level = regionLoad(*d.plan, d.plan->regions[r], health, d.routed_anyway);
  if (d.plan->cluster->spill == config::Spill::Hard && level == LoadLevel::PastSoft) return 0;
  return static_cast<int>(level);
}

// Where a region ranks for this client, lower first: -dot product with the origin's unit
// vector by distance; with routing.order: latency and every candidate measured, the client's
// fibre round trip to the region plus latency_weight x the measured latency (ms).
struct Proximity {
  std::array<double, Decision::kMaxRegions> cost{};
  bool by_latency = false;
};

Proximity proximity(const Decision& d, const config::Routing& routing, bool have_origin, double ox,
                    double oy, double oz) {
  Proximity p;
  const auto& regions = d.plan->regions;
  auto dot = [&](const RegionGroup& g) {
    return (have_origin && g.located) ? g.x * ox + g.y * oy + g.z * oz : -2.0;
  };
  p.by_latency = routing.order == config::RegionOrder::Latency && d.order_size > 0;
  for (size_t i = 0; i < d.order_size && p.by_latency; ++i) {
    const RegionGroup& g = regions[d.order[i]];
    p.by_latency = g.latency != nullptr && g.latency->published() >= 0;
  }
  for (size_t i = 0; i < d.order_size; ++i) {
    const RegionGroup& g = regions[d.order[i]];
    if (!p.by_latency) {
      p.cost[d.order[i]] = have_origin ? -dot(g) : 0;
      continue;
    }
    double km =
        (have_origin && g.located) ? kEarthRadiusKm * std::acos(std::clamp(dot(g), -1.0, 1.0)) : 0;
    p.cost[d.order[i]] = fibreRoundTripMs(km) + routing.latency_weight * g.latency->published();
  }
  return p;
}

// Orders d.order[0..n): undrained before drained; when routing anyway, regions with an
// endpoint not ejected before those with none; then by capacity class (capacityClass); then
// by proximity, else config order. Insertion sort: n is small and the sort must not allocate.
// Returns the region that would be first without capacity (index into plan->regions).
uint16_t orderRegions(Decision& d, const health::HealthSnapshot& health, const Proximity& p,
                      bool ordered) {
  std::array<uint8_t, Decision::kMaxRegions> cls{}, cap{};
  for (size_t i = 0; i < d.order_size; ++i) {
    cls[d.order[i]] = static_cast<uint8_t>(orderClass(d, health, d.order[i]));
    cap[d.order[i]] = static_cast<uint8_t>(capacityClass(d, health, d.order[i]));
  }
  auto closer = [&](uint16_t a, uint16_t b) { return ordered && p.cost[a] < p.cost[b]; };
  uint16_t first = d.order[0];
  for (size_t i = 1; i < d.order_size; ++i) {
    uint16_t v = d.order[i];
    if (cls[v] < cls[first] || (cls[v] == cls[first] && closer(v, first))) first = v;
  }
  auto before = [&](uint16_t a, uint16_t b) {
    if (cls[a] != cls[b]) return cls[a] < cls[b];
    if (cap[a] != cap[b]) return cap[a] < cap[b];
    return closer(a, b);  // equal: stable, config order
  };
  for (size_t i = 1; i < d.order_size; ++i) {
    uint16_t v = d.order[i];
    size_t j = i;
    for (; j > 0 && before(v, d.order[j - 1]); --j) d.order[j] = d.order[j - 1];
    d.order[j] = v;
  }
  size_t scope = 1;
  while (scope < d.order_size && cls[d.order[scope]] == cls[d.order[0]]) ++scope;
  d.capacity_scope = scope;
  return first;
}

// Moves the preferred region as far forward as the order's classes allow: first, or, when it
// is drained (or, routing anyway, all its endpoints are ejected), first among its kind. A
// client's header reorders by distance only, never undoing a drain or an ejection.
void preferFirst(Decision& d, const health::HealthSnapshot& health, std::string_view prefer) {
  const auto& regions = d.plan->regions;
  for (size_t i = 0; i < d.order_size; ++i) {
    if (regions[d.order[i]].name != prefer) continue;
    size_t to = 0;
    while (to < i && orderClass(d, health, d.order[to]) < orderClass(d, health, d.order[i])) ++to;
    uint16_t v = d.order[i];
    for (size_t j = i; j > to; --j) d.order[j] = d.order[j - 1];
    d.order[to] = v;
    if (to == 0) {
      d.why = "preferred";
      d.capacity_scope = 1;  // capacity never moves a request off the region it asked for
      d.spilled_from = -1;
    }
    return;
  }
}

// splitmix64's finaliser: every input bit affects every output bit.
uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// RFC 6265 cookie-name: an RFC 7230 token.
bool tokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

uint64_t totalWeight(const config::Route& route) {
  uint64_t total = 0;
  for (const auto& b : route.backends) total += b.weight;
  return total;
}

// A backend of the route by cluster name; with `live_only`, only one with a positive weight.
const config::Backend* findBackend(const config::Route& route, std::string_view cluster,
                                   bool live_only) {
  for (const auto& b : route.backends)
    if (b.cluster == cluster && (!live_only || b.weight > 0)) return &b;
  return nullptr;
}

// The first `name` cookie, across every Cookie header, that names a live backend.
const config::Backend* cookieBackend(const config::Route& route,
                                     std::span<const std::string_view> headers,
                                     std::string_view name) {
  for (std::string_view rest : headers) {
    std::string_view n, v;
    while (nextCookie(rest, n, v)) {
      if (n != name) continue;
      if (const config::Backend* b = findBackend(route, v, true)) return b;
    }
  }
  return nullptr;
}

}  // namespace

LoadLevel endpointLoad(const ClusterPlan& plan, uint32_t endpoint) {
  const config::Capacity& c = plan.cluster->capacity;
  if (!c.limited() || endpoint >= plan.load.size()) return LoadLevel::UnderSoft;
  int n = plan.load[endpoint]->inFlight();
  if (c.hard > 0 && n >= c.hard) return LoadLevel::AtHard;
  int soft = c.soft > 0 ? c.soft : c.hard;
  return n >= soft ? LoadLevel::PastSoft : LoadLevel::UnderSoft;
}

const char* loadLevelName(LoadLevel level) {
  switch (level) {
    case LoadLevel::UnderSoft:
      return "under_soft";
    case LoadLevel::PastSoft:
      return "past_soft";
    case LoadLevel::AtHard:
      return "at_hard";
  }
  return "";
}

LoadLevel regionLoad(const ClusterPlan& plan, const RegionGroup& region,
                     const health::HealthSnapshot& health, bool routed_anyway) {
  LoadLevel best = LoadLevel::AtHard;
  bool any = false;
  for (uint32_t e : region.endpoints) {
    if (!routed_anyway && !health.healthy(plan.index, e)) continue;
    any = true;
    best = std::min(best, endpointLoad(plan, e));
  }
  return any ? best : LoadLevel::UnderSoft;
}

void unitVector(double lat, double lon, double& x, double& y, double& z) {
  double la = lat * kDegToRad, lo = lon * kDegToRad;
  x = std::cos(la) * std::cos(lo);
  y = std::cos(la) * std::sin(lo);
  z = std::sin(la);
}

Router::Router(std::shared_ptr<const config::Config> cfg, const DrainOverrides& drain,
               std::shared_ptr<Telemetry> telemetry)
    : cfg_(std::move(cfg)), table_(*cfg_), telemetry_(std::move(telemetry)) {
  plans_.reserve(cfg_->clusters.size());
  for (size_t i = 0; i < cfg_->clusters.size(); ++i) {
    plans_.push_back(buildPlan(*cfg_, i, drain));
    if (telemetry_ == nullptr) continue;
    ClusterPlan& plan = plans_.back();
    for (const auto& ep : plan.cluster->endpoints)
      plan.load.push_back(telemetry_->endpoint(plan.cluster->name, ep.address.text()));
    for (auto& g : plan.regions) g.latency = telemetry_->region(plan.cluster->name, g.name);
  }
  for (const auto& r : cfg_->regions) all_regions_.push_back(makeGroup(*cfg_, r.name, drain));
  cookie_names_.reserve(cfg_->routes.size());
  for (const auto& r : cfg_->routes) cookie_names_.push_back(affinityCookieName(r));
}

std::string_view Router::affinityCookie(const config::Route& route) const {
  size_t i = static_cast<size_t>(&route - cfg_->routes.data());
  return i < cookie_names_.size() ? std::string_view(cookie_names_[i]) : std::string_view();
}

const config::Backend* Router::pickBackend(const config::Route& route, uint64_t random) {
  uint64_t total = totalWeight(route);
  if (total == 0) return route.backends.empty() ? nullptr : &route.backends.front();
  uint64_t point = random % total;
  for (const auto& b : route.backends) {
    if (point < b.weight) return &b;
    point -= b.weight;
  }
  return &route.backends.back();
}

uint64_t Router::addressHash(const IpAddress& ip) {
  uint64_t hi = 0, lo = 0;
  for (int i = 0; i < 8; ++i) hi = (hi << 8) | ip.bytes[i];
  for (int i = 8; i < 16; ++i) lo = (lo << 8) | ip.bytes[i];
  return mix64(lo ^ mix64(hi ^ 0x6d6572696469616eULL));  // the key spells "meridian"
}

const config::Backend* Router::pickByAddress(const config::Route& route, const IpAddress& ip) {
  uint64_t total = totalWeight(route);
  if (total == 0) return route.backends.empty() ? nullptr : &route.backends.front();
  // hash / 2^64 scaled onto [0, total): monotonic in the hash, unlike hash % total.
  auto point =
      static_cast<uint64_t>((static_cast<unsigned __int128>(addressHash(ip)) * total) >> 64);
  for (const auto& b : route.backends) {
    if (point < b.weight) return &b;
    point -= b.weight;
  }
  return &route.backends.back();
}

const config::Backend* Router::chooseBackend(const RequestInfo& req, const config::Route& route,
                                             uint64_t random, Decision& d) const {
  if (!req.backend_override.empty() && (route.allow_override || req.override_trusted)) {
    if (const config::Backend* b = findBackend(route, req.backend_override, false)) {
      d.backend_why = "override";
      return b;
    }
  }
  size_t live = 0;
  for (const auto& b : route.backends) live += b.weight > 0 ? 1 : 0;
  const char* drawn = live == 1 ? "only backend" : "weight";
  switch (route.affinity) {
    case config::Affinity::Cookie:
      if (const config::Backend* b = cookieBackend(route, req.cookies, affinityCookie(route))) {
        d.backend_why = "cookie";
        return b;
      }
      d.set_affinity_cookie = true;
      break;
    case config::Affinity::ClientIp:
      if (req.client_ip != nullptr) {
        d.backend_why = live == 1 ? drawn : "client_ip";
        return pickByAddress(route, *req.client_ip);
      }
      break;
    case config::Affinity::None:
      break;
  }
  d.backend_why = drawn;
  return pickBackend(route, random);
}

std::string_view Router::nearestRegion(const GeoLocation& where) const {
  if (!where.known) return {};
  double x, y, z;
  unitVector(where.lat, where.lon, x, y, z);
  const RegionGroup* best = nullptr;
  double best_dot = -2;
  for (const auto& g : all_regions_) {
    double dot = g.x * x + g.y * y + g.z * z;
    if (g.located && dot > best_dot) {
      best = &g;
      best_dot = dot;
    }
  }
  return best ? std::string_view(best->name) : std::string_view();
}

Decision Router::pick(const RequestInfo& req, const health::HealthSnapshot& health,
                      uint64_t random) const {
  Decision d;
  d.route = table_.match(req.host, req.path);
  if (d.route == nullptr) return d;
  d.backend = chooseBackend(req, *d.route, random, d);
  const config::Cluster* cluster = d.backend ? cfg_->findCluster(d.backend->cluster) : nullptr;
  if (cluster == nullptr) return d;
  d.plan = &plans_[static_cast<size_t>(cluster - cfg_->clusters.data())];
  d.residency = residencyFor(*d.route, req.client);

  // Candidates: allowed regions with a healthy endpoint; failing that, with route_anyway,
  // every allowed region (fail open, but never across a residency rule).
  for (int pass = 0; pass < 2 && d.order_size == 0; ++pass) {
    if (pass == 1 && d.route->all_unhealthy != config::AllUnhealthy::RouteAnyway) break;
    for (size_t i = 0; i < d.plan->regions.size() && d.order_size < Decision::kMaxRegions; ++i) {
      const RegionGroup& g = d.plan->regions[i];
      if (!allowed(d.residency, g.name)) continue;
      if (pass == 0 && !anyHealthy(g, d.plan->index, health)) continue;
      d.order[d.order_size++] = static_cast<uint16_t>(i);
    }
    if (pass == 1 && d.order_size > 0) {
      d.why = "all unhealthy: routing anyway";
      d.routed_anyway = true;
    }
  }
  if (d.order_size == 0) {
    d.outcome = PickOutcome::NoHealthyRegion;
    return d;
  }

  // Order from the client's location, else from the listener's region, else config order.
  double ox = 0, oy = 0, oz = 0;
  bool have_origin = false;
  const char* why = "config order";
  if (req.client != nullptr && req.client->known) {
    unitVector(req.client->lat, req.client->lon, ox, oy, oz);
    have_origin = true;
    why = "nearest";
  } else if (!req.listener_region.empty()) {
    for (const auto& g : all_regions_) {
      if (g.name != req.listener_region || !g.located) continue;
      ox = g.x, oy = g.y, oz = g.z;
      have_origin = true;
      why = "nearest to the listener's region";
    }
  }
  Proximity prox = proximity(d, cfg_->routing, have_origin, ox, oy, oz);
  d.by_latency = prox.by_latency;
  if (prox.by_latency) why = "lowest latency";
  uint16_t first = orderRegions(d, health, prox, have_origin || prox.by_latency);
  if (first != d.order[0]) {
    d.spilled_from = first;
    if (*d.why == '\0') d.why = "spill";
  }
  if (*d.why == '\0')
    d.why = d.plan->regions[d.order[0]].drained ? "only drained regions left" : why;
  if (!req.prefer_region.empty()) preferFirst(d, health, req.prefer_region);
  d.outcome = PickOutcome::Ok;
  return d;
}

std::string affinityCookieName(const config::Route& route) {
  std::string name = "meridian-backend-" + route.name;
  bool replaced = false;
  for (char& c : name) {
    if (tokenChar(c)) continue;
    c = '_';
    replaced = true;
  }
  if (replaced) {
    uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a: stable across processes and builds
    for (unsigned char c : route.name) h = (h ^ c) * 0x100000001b3ULL;
    char suffix[10];
    std::snprintf(suffix, sizeof suffix, "-%08x", static_cast<unsigned>(h >> 32));
    name += suffix;
  }
  return name;
}

void appendAffinitySetCookie(std::string& out, std::string_view cookie_name,
                             std::string_view cluster, bool secure) {
  out.append(cookie_name);
  out += '=';
  out.append(cluster);
  out.append("; Path=/; HttpOnly; SameSite=Lax");
  if (secure) out.append("; Secure");
}

std::string affinitySetCookie(std::string_view cookie_name, std::string_view cluster, bool secure) {
  std::string out;
  appendAffinitySetCookie(out, cookie_name, cluster, secure);
  return out;
}

bool nextCookie(std::string_view& rest, std::string_view& name, std::string_view& value) {
  while (!rest.empty()) {
    size_t end = rest.find(';');
    std::string_view pair = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    name = trim(pair.substr(0, eq));
    value = trim(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    if (!name.empty()) return true;
  }
  return false;
}

std::string_view findCookie(std::string_view header_value, std::string_view name) {
  std::string_view n, v;
  while (nextCookie(header_value, n, v))
    if (n == name) return v;
  return {};
}

}  // namespace meridian::routing
