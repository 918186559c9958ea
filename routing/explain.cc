#include "routing/explain.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

namespace meridian::routing {

namespace {

using Json = nlohmann::ordered_json;

Json locationJson(const IpAddress& ip, const GeoLocation& loc, std::string_view nearest) {
  Json j;
  j["ip"] = ip.text();
  j["source"] = loc.source;
  j["location"] = loc.known ? Json{{"lat", loc.lat}, {"lon", loc.lon}} : Json();
  j["country"] = loc.country.empty() ? Json() : Json(loc.country);
  j["nearest_region"] = nearest.empty() ? Json() : Json(std::string(nearest));
  return j;
}

// The highest-weight backend: the one most requests see (explain must be deterministic).
const config::Backend* mainBackend(const config::Route& route) {
  const config::Backend* best = nullptr;
  for (const auto& b : route.backends)
    if (best == nullptr || b.weight > best->weight) best = &b;
  return best;
}

// Each backend with its share of new clients and its cluster's regions (blue and green may
// be deployed in different places).
Json backendsJson(const Router& router, const config::Route& route) {
  uint64_t total = 0;
  for (const auto& b : route.backends) total += b.weight;
  const config::Config& cfg = router.config();
  Json list = Json::array();
  for (const auto& b : route.backends) {
    double share = total ? 100.0 * b.weight / static_cast<double>(total) : 0;
    Json regions = Json::array();
    if (const config::Cluster* c = cfg.findCluster(b.cluster)) {
      const ClusterPlan& plan = router.plan(static_cast<size_t>(c - cfg.clusters.data()));
      for (const auto& g : plan.regions) regions.push_back(g.name);
    }
    list.push_back({{"cluster", b.cluster},
                    {"weight", b.weight},
                    {"share_percent", share},
                    {"regions", regions}});
  }
  return list;
}

// Which backend this request gets and why; for a weighted draw, the rule explain uses (the
// highest weight, what most new clients see), since a real draw is random.
Json backendChoiceJson(const Router& router, const config::Route& route, const Decision& d) {
  Json j;
  j["cluster"] = d.backend ? Json(d.backend->cluster) : Json();
  j["why"] = d.backend_why;
  if (std::string_view(d.backend_why) == "weight")
    j["note"] = "a weighted draw; shown: the highest-weight backend";
  if (d.set_affinity_cookie) {
    j["set_cookie"] =
        affinitySetCookie(router.affinityCookie(route), d.backend ? d.backend->cluster : "", false);
  }
  return j;
}

Json candidateJson(const RegionGroup& g, size_t cluster, const health::HealthSnapshot& health,
                   const GeoLocation& client, const Decision& d) {
  size_t healthy = 0;
  for (uint32_t e : g.endpoints) healthy += health.healthy(cluster, e) ? 1 : 0;
  bool allowed = d.residency == nullptr ||
                 std::find(d.residency->begin(), d.residency->end(), g.name) != d.residency->end();
  Json j;
  j["region"] = g.name;
  j["distance_km"] = (client.known && g.located)
                         ? Json(std::round(distanceKm(client.lat, client.lon, g.lat, g.lon)))
                         : Json();
  j["healthy_endpoints"] = healthy;
  j["endpoints"] = g.endpoints.size();
  j["drained"] = g.drained;
  j["residency"] = allowed ? "allowed" : "forbidden";
  double ms = g.latency ? g.latency->published() : -1;
  j["latency_ms"] = ms >= 0 ? Json(std::round(ms * 10) / 10) : Json();
  const config::Capacity& cap = d.plan->cluster->capacity;
  if (cap.limited()) {
    int in_flight = 0;
    for (uint32_t e : g.endpoints) in_flight += d.plan->inFlight(e);
    j["load"] = {{"in_flight", in_flight},
                 {"soft", cap.soft > 0 ? Json(cap.soft) : Json()},
                 {"hard", cap.hard > 0 ? Json(cap.hard) : Json()},
                 {"level", loadLevelName(regionLoad(*d.plan, g, health, d.routed_anyway))}};
  }
  return j;
}

// Why a candidate is where it is in the order: chosen (first), spill (it would be first, but
// is past its soft limit), at_capacity (every endpoint at its hard limit), slower (ordered by
// measured latency, it costs more than the ones before it), or fallback (next if the ones
// before it fail).
const char* verdict(const Decision& d, size_t pos, const health::HealthSnapshot& health) {
  const RegionGroup& g = d.plan->regions[d.order[pos]];
  if (pos == 0) return "chosen";
  if (d.spilled_from == d.order[pos]) return "spill";
  if (regionLoad(*d.plan, g, health, d.routed_anyway) == LoadLevel::AtHard) return "at_capacity";
  if (d.by_latency) return "slower";
  return "fallback";
}

}  // namespace

core::Result<std::string> explainJson(const Router& router, const health::HealthSnapshot& health,
                                      const GeoDb& geo, const ExplainInput& in) {
  Json out;
  IpAddress ip;
  if (!IpAddress::parse(in.client_ip, ip)) {
    return core::Error{core::ErrorKind::ProtocolError, core::Side::Downstream, false,
                       "client_ip: not an IP address: \"" + in.client_ip + "\""};
  }
  GeoLocation loc = geo.lookup(ip);
  out["request"] = {{"method", in.method}, {"host", in.host}, {"path", in.path}};
  out["client"] = locationJson(ip, loc, router.nearestRegion(loc));

  const config::Route* route = router.routes().match(in.host, in.path);
  if (route == nullptr) {
    out["route"] = nullptr;
    out["status"] = 404;
    out["why"] = "no route matches this host and path";
    return out.dump(2) + "\n";
  }
  out["route"] = route->name;
  out["affinity"] = config::affinityName(route->affinity);
  out["allow_override"] = route->allow_override;
  out["backends"] = backendsJson(router, *route);
  const config::Backend* main = mainBackend(*route);
  // Draw the weighted choice so that it lands on the main backend.
  uint64_t draw = 0;
  for (const auto& b : route->backends) {
    if (&b == main) break;
    draw += b.weight;
  }
  std::string_view cookie = in.cookie;
  RequestInfo req{in.host, in.path, in.method, &loc, in.prefer_region, in.listener_region};
  if (!cookie.empty()) req.cookies = {&cookie, 1};
  req.backend_override = in.backend_override;
  req.override_trusted = in.override_trusted;
  req.client_ip = &ip;
  Decision d = router.pick(req, health, draw);
  out["backend"] = backendChoiceJson(router, *route, d);
  if (d.plan == nullptr) {
    out["status"] = 503;
    out["why"] = "the route's backend cluster does not exist";
    return out.dump(2) + "\n";
  }
  out["cluster"] = d.plan->cluster->name;
  out["residency"] = d.residency ? Json(*d.residency) : Json();
  Json candidates = Json::array();
  std::vector<bool> listed(d.plan->regions.size(), false);
  for (size_t i = 0; i < d.order_size; ++i) {
    listed[d.order[i]] = true;
    Json c = candidateJson(d.plan->regions[d.order[i]], d.plan->index, health, loc, d);
    if (d.outcome == PickOutcome::Ok) c["verdict"] = verdict(d, i, health);
    candidates.push_back(c);
  }
  for (size_t i = 0; i < d.plan->regions.size(); ++i) {  // then the excluded ones, marked
    if (listed[i]) continue;
    Json c = candidateJson(d.plan->regions[i], d.plan->index, health, loc, d);
    c["excluded"] = true;
    candidates.push_back(c);
  }
  out["candidates"] = candidates;
  if (d.outcome != PickOutcome::Ok) {
    out["chosen"] = nullptr;
    out["status"] = 503;
    out["why"] = d.residency ? "no healthy region that residency allows" : "no healthy region";
  } else {
    out["chosen"] = d.plan->regions[d.order[0]].name;
    out["status"] = 200;
    out["why"] = d.why;
  }
  return out.dump(2) + "\n";
}

}  // namespace meridian::routing
