// Properties of Router::pick over random worlds: three regions with one to three endpoints
// each, random residency, route_anyway or not, and a random sequence of events (an endpoint
// failing or passing its checks, ejected or let back, a region drained or undrained by a
// reload) with requests in between (from a residency-bound country, another or nowhere known,
// preferring a region or not). After every request:
//  - residency is never broken: every region in the order is allowed;
//  - while an allowed region has a healthy endpoint, the request is routed, only to regions
//    with a healthy endpoint, and not routed anyway; and its first region is undrained while
//    an undrained healthy allowed region exists (a preference included);
//  - with no allowed region healthy, it is refused, or with route_anyway routed anyway to
//    allowed regions, those with an endpoint not ejected first (among the undrained, then the
//    drained).
// Bounded by tests/unit/prop_params.h.
#include <rapidcheck.h>

#include <ostream>
#include <string>
#include <vector>

#include "routing/router.h"
#include "tests/unit/prop_params.h"

namespace meridian::routing {
namespace {

const std::vector<std::string> kRegions = {"ams", "iad", "sin"};

struct World {
  std::vector<int> endpoints_per_region;  // 1..3 each
  std::vector<std::string> de_allowed;    // residency for clients in DE (empty: none)
  bool route_anyway = false;
};

struct Event {
  enum Kind { CheckFails, CheckPasses, Eject, Unreject, Drain, Undrain, Request } kind;
  int target = 0;  // endpoint or region index (mod the count)
  int country = 0;  // Request: 0 DE, 1 US, 2 unknown
  int prefer = 0;   // Request: 0 none, 1..3 a region
};

// How RapidCheck prints a counterexample.
void showValue(const World& w, std::ostream& os) {
  os << "{endpoints per region " << rc::toString(w.endpoints_per_region) << ", DE allowed "
     << rc::toString(w.de_allowed) << (w.route_anyway ? ", route_anyway}" : "}");
}
void showValue(const Event& e, std::ostream& os) {
  static const char* kNames[] = {"check_fails", "check_passes", "eject", "unreject",
                                 "drain",       "undrain",      "request"};
  os << kNames[e.kind] << "(" << e.target;
  if (e.kind == Event::Request) os << ", country " << e.country << ", prefer " << e.prefer;
  os << ")";
}

std::shared_ptr<config::Config> makeConfig(const World& w, const std::vector<bool>& drained) {
  auto cfg = std::make_shared<config::Config>();
  cfg->regions = {{"ams", 52.37, 4.90, drained[0], {}},
                  {"iad", 38.95, -77.45, drained[1], {}},
                  {"sin", 1.35, 103.82, drained[2], {}}};
  config::Cluster web;
  web.name = "web";
  uint16_t port = 1;
  for (size_t r = 0; r < kRegions.size(); ++r)
    for (int i = 0; i < w.endpoints_per_region[r]; ++i)
      web.endpoints.push_back({{"127.0.0.1", port++}, kRegions[r], {}});
  cfg->clusters = {web};
  config::Route route;
  route.name = "app";
  route.match.path_prefix = "/";
  route.backends = {{"web", 1, {}}};
  if (!w.de_allowed.empty()) route.residency["DE"] = w.de_allowed;
  route.all_unhealthy =
      w.route_anyway ? config::AllUnhealthy::RouteAnyway : config::AllUnhealthy::Reject;
  cfg->routes = {route};
  return cfg;
}

rc::Gen<World> genWorld() {
  return rc::gen::build<World>(
      rc::gen::set(&World::endpoints_per_region,
                   rc::gen::container<std::vector<int>>(3, rc::gen::inRange(1, 4))),
      rc::gen::set(&World::de_allowed,
                   rc::gen::container<std::vector<std::string>>(rc::gen::elementOf(kRegions))),
      rc::gen::set(&World::route_anyway, rc::gen::arbitrary<bool>()));
}

rc::Gen<Event> genEvent() {
  return rc::gen::build<Event>(
      rc::gen::set(&Event::kind, rc::gen::element(Event::CheckFails, Event::CheckPasses,
                                                  Event::Eject, Event::Unreject, Event::Drain,
                                                  Event::Undrain, Event::Request, Event::Request)),
      rc::gen::set(&Event::target, rc::gen::inRange(0, 9)),
      rc::gen::set(&Event::country, rc::gen::inRange(0, 3)),
      rc::gen::set(&Event::prefer, rc::gen::inRange(0, 4)));
}

bool isAllowed(const World& w, int country, const std::string& region) {
  if (country != 0 || w.de_allowed.empty()) return true;
  for (const auto& r : w.de_allowed)
    if (r == region) return true;
  return false;
}

// Checks one decision against the world as it is; RC_ASSERTs name what broke.
void checkDecision(const World& w, const config::Config& cfg, const std::vector<bool>& drained,
                   const health::HealthSnapshot& health, const Event& req, const Decision& d) {
  const auto& eps = cfg.clusters[0].endpoints;
  auto regionHealthy = [&](const std::string& name, bool& not_ejected) {
    bool healthy = false;
    not_ejected = false;
    for (size_t e = 0; e < eps.size(); ++e) {
      if (eps[e].region != name) continue;
      healthy = healthy || health.healthy(0, e);
      not_ejected = not_ejected || !health.at(0, e).ejected;
    }
    return healthy;
  };
  bool any_healthy = false, any_healthy_undrained = false;
  for (size_t r = 0; r < kRegions.size(); ++r) {
    bool ne = false;
    if (!isAllowed(w, req.country, kRegions[r]) || !regionHealthy(kRegions[r], ne)) continue;
    any_healthy = true;
    any_healthy_undrained = any_healthy_undrained || !drained[r];
  }
  for (size_t i = 0; i < d.order_size; ++i)
    RC_ASSERT(isAllowed(w, req.country, d.plan->regions[d.order[i]].name));
  if (any_healthy) {
    RC_ASSERT(d.outcome == PickOutcome::Ok);
    RC_ASSERT(!d.routed_anyway);
    for (size_t i = 0; i < d.order_size; ++i) {
      bool ne = false;
      RC_ASSERT(regionHealthy(d.plan->regions[d.order[i]].name, ne));
    }
    if (any_healthy_undrained) RC_ASSERT(!d.plan->regions[d.order[0]].drained);
    return;
  }
  if (!w.route_anyway) {
    RC_ASSERT(d.outcome == PickOutcome::NoHealthyRegion);
    return;
  }
  bool any_allowed = false;
  for (const auto& r : kRegions) any_allowed = any_allowed || isAllowed(w, req.country, r);
  RC_ASSERT(d.outcome == (any_allowed ? PickOutcome::Ok : PickOutcome::NoHealthyRegion));
  if (!any_allowed) return;
  RC_ASSERT(d.routed_anyway);
  // Within each drain class, regions with an endpoint not ejected come first.
  for (size_t i = 1; i < d.order_size; ++i) {
    const RegionGroup& prev = d.plan->regions[d.order[i - 1]];
    const RegionGroup& cur = d.plan->regions[d.order[i]];
    RC_ASSERT(!(prev.drained && !cur.drained));
    bool ne_prev = false, ne_cur = false;
    regionHealthy(prev.name, ne_prev);
    regionHealthy(cur.name, ne_cur);
    if (prev.drained == cur.drained) RC_ASSERT(!(ne_cur && !ne_prev));
  }
}

MERIDIAN_PROP(RouterProp, InvariantsHoldThroughFailuresRecoveriesDrainsAndReloads, ()) {
  const World w = *genWorld();
  const auto events = *rc::gen::container<std::vector<Event>>(genEvent());
  std::vector<bool> drained(3, false);
  auto cfg = makeConfig(w, drained);
  auto router = std::make_shared<Router>(cfg);
  const size_t n = cfg->clusters[0].endpoints.size();
  std::vector<std::vector<health::EndpointHealth>> eps(1, std::vector<health::EndpointHealth>(n));
  for (const Event& ev : events) {
    health::EndpointHealth& h = eps[0][static_cast<size_t>(ev.target) % n];
    switch (ev.kind) {
      case Event::CheckFails: h.active_healthy = false; break;
      case Event::CheckPasses: h.active_healthy = true; break;
      case Event::Eject: h.ejected = true; break;
      case Event::Unreject: h.ejected = false; break;
      case Event::Drain:
      case Event::Undrain:
        // A reload with the region's drain changed: a new config and router.
        drained[static_cast<size_t>(ev.target) % 3] = ev.kind == Event::Drain;
        cfg = makeConfig(w, drained);
        router = std::make_shared<Router>(cfg);
        break;
      case Event::Request: {
        for (auto& e : eps[0]) e.healthy = e.active_healthy && !e.ejected;
        auto health = health::HealthSnapshot::make(eps, 1);
        GeoLocation where;
        where.known = ev.country != 2;
        where.country = ev.country == 0 ? "DE" : ev.country == 1 ? "US" : "";
        where.lat = ev.country == 0 ? 50.1 : 38.9;
        where.lon = ev.country == 0 ? 8.7 : -77.0;
        RequestInfo info{"h", "/", "GET", &where};
        if (ev.prefer > 0) info.prefer_region = kRegions[static_cast<size_t>(ev.prefer - 1)];
        Decision d = router->pick(info, *health, 0);
        checkDecision(w, *cfg, drained, *health, ev, d);
        break;
      }
    }
  }
}

}  // namespace
}  // namespace meridian::routing
