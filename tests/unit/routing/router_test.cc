// Router::pick and RouteTable::match as tables of structs: no sockets, no loader.
#include "routing/router.h"

#include <gtest/gtest.h>

#include <map>

namespace meridian::routing {
namespace {

config::Route route(std::string name, std::string host, std::string prefix,
                    std::vector<config::Backend> backends = {{"web", 1, {}}}) {
  config::Route r;
  r.name = std::move(name);
  r.match.host = std::move(host);
  r.match.path_prefix = std::move(prefix);
  r.backends = std::move(backends);
  return r;
}

std::shared_ptr<config::Config> baseConfig() {
  auto cfg = std::make_shared<config::Config>();
  cfg->regions = {{"ams", 52.37, 4.90, false, {}},
                  {"iad", 38.95, -77.45, false, {}},
                  {"sin", 1.35, 103.82, false, {}}};
  config::Cluster web;
  web.name = "web";
  web.endpoints = {{{"127.0.0.1", 1}, "iad", {}},
                   {{"127.0.0.1", 2}, "ams", {}},
                   {{"127.0.0.1", 3}, "ams", {}},
                   {{"127.0.0.1", 4}, "sin", {}}};
  config::Cluster green = web;
  green.name = "green";
  cfg->clusters = {web, green};
  return cfg;
}

struct MatchCase {
  std::string host;
  std::string path;
  std::string want;  // route name, "" for none
};

TEST(RouteTable, HostSpecificityThenLongestPrefix) {
  auto cfg = baseConfig();
  cfg->routes = {route("any-root", "", "/"),
                 route("any-api", "", "/api"),
                 route("wild", "*.example.com", "/"),
                 route("wild-deeper", "*.eu.example.com", "/"),
                 route("exact", "app.example.com", "/"),
                 route("exact-admin", "app.example.com", "/admin")};
  RouteTable table(*cfg);
  const MatchCase cases[] = {
      {"app.example.com", "/", "exact"},
      {"APP.Example.COM:8443", "/admin/users", "exact-admin"},
      {"app.example.com.", "/x", "exact"},       // trailing dot: same host
      {"shop.example.com", "/api", "wild"},      // a host match beats a longer prefix
      {"a.eu.example.com", "/", "wild-deeper"},  // the longest wildcard suffix wins
      {"example.com", "/", "any-root"},          // *.example.com needs a label before
      {"other.org", "/api/v1", "any-api"},
      {"[::1]:8080", "/", "any-root"},
  };
  for (const auto& c : cases) {
    const config::Route* r = table.match(c.host, c.path);
    ASSERT_NE(r, nullptr) << c.host << c.path;
    EXPECT_EQ(r->name, c.want) << c.host << " " << c.path;
  }
}

TEST(RouteTable, NoMatchIsNull) {
  auto cfg = baseConfig();
  cfg->routes = {route("exact", "app.example.com", "/app")};
  RouteTable table(*cfg);
  EXPECT_EQ(table.match("app.example.com", "/other"), nullptr);
  EXPECT_EQ(table.match("evil.com", "/app"), nullptr);
  EXPECT_EQ(table.match("xapp.example.com", "/app"), nullptr);
}

TEST(Router, WeightedSplitFollowsWeights) {
  auto cfg = baseConfig();
  cfg->routes = {route("app", "", "/", {{"web", 90, {}}, {"green", 10, {}}})};
  std::map<std::string, int> hits;
  for (uint64_t i = 0; i < 1000; ++i) hits[Router::pickBackend(cfg->routes[0], i)->cluster]++;
  EXPECT_EQ(hits["web"], 900);
  EXPECT_EQ(hits["green"], 100);
}

TEST(Router, ZeroWeightBackendIsNeverPicked) {
  auto cfg = baseConfig();
  cfg->routes = {route("app", "", "/", {{"web", 0, {}}, {"green", 3, {}}})};
  for (uint64_t i = 0; i < 100; ++i)
    EXPECT_EQ(Router::pickBackend(cfg->routes[0], i)->cluster, "green");
}

TEST(Router, RegionsInConfigOrderWithTheirEndpoints) {
  auto cfg = baseConfig();
  cfg->routes = {route("app", "", "/")};
  Router router(cfg);
  auto health = health::HealthSnapshot::initial(*cfg);
  Decision d = router.pick({"h", "/", "GET"}, *health, 0);
  ASSERT_EQ(d.outcome, PickOutcome::Ok);
  ASSERT_EQ(d.order_size, 3u);
  std::vector<std::string> order;
  for (size_t i = 0; i < d.order_size; ++i) order.push_back(d.plan->regions[d.order[i]].name);
  EXPECT_EQ(order, (std::vector<std::string>{"ams", "iad", "sin"}));
  EXPECT_EQ(d.plan->regions[d.order[0]].endpoints, (std::vector<uint32_t>{1, 2}));
}

TEST(Router, DrainedRegionComesLast) {
  auto cfg = baseConfig();
  cfg->regions[0].drain = true;  // ams
  cfg->routes = {route("app", "", "/")};
  Router router(cfg);
  auto health = health::HealthSnapshot::initial(*cfg);
  Decision d = router.pick({"h", "/", "GET"}, *health, 0);
  ASSERT_EQ(d.order_size, 3u);
  EXPECT_EQ(d.plan->regions[d.order[0]].name, "iad");
  EXPECT_EQ(d.plan->regions[d.order[2]].name, "ams");
}

TEST(Router, NoRouteAndNoHealthyRegion) {
  auto cfg = baseConfig();
  cfg->routes = {route("app", "app.example.com", "/")};
  cfg->clusters[0].health_check = config::HealthCheck{};
  cfg->clusters[0].health_check->assume_healthy = false;
  Router router(cfg);
  auto health = health::HealthSnapshot::initial(*cfg);
  EXPECT_EQ(router.pick({"other", "/", "GET"}, *health, 0).outcome, PickOutcome::NoRoute);
  EXPECT_EQ(router.pick({"app.example.com", "/", "GET"}, *health, 0).outcome,
            PickOutcome::NoHealthyRegion);
  // With all_unhealthy: route_anyway, every region is a candidate (fail open).
  cfg->routes[0].all_unhealthy = config::AllUnhealthy::RouteAnyway;
  Router open(cfg);
  Decision d = open.pick({"app.example.com", "/", "GET"}, *health, 0);
  EXPECT_EQ(d.outcome, PickOutcome::Ok);
  EXPECT_EQ(d.order_size, 3u);
}

std::vector<std::string> orderOf(const Decision& d) {
  std::vector<std::string> out;
  for (size_t i = 0; i < d.order_size; ++i) out.push_back(d.plan->regions[d.order[i]].name);
  return out;
}

GeoLocation at(double lat, double lon, std::string country = "") {
  GeoLocation g;
  g.known = true;
  g.lat = lat;
  g.lon = lon;
  g.country = std::move(country);
  return g;
}

struct OrderCase {
  const char* who;
  GeoLocation where;
  std::vector<std::string> want;
};

TEST(Router, OrdersRegionsByDistanceFromTheClient) {
  auto cfg = baseConfig();
  cfg->routes = {route("app", "", "/")};
  Router router(cfg);
  auto health = health::HealthSnapshot::initial(*cfg);
  const OrderCase cases[] = {
      {"Paris", at(48.86, 2.35), {"ams", "iad", "sin"}},
      {"New York", at(40.71, -74.0), {"iad", "ams", "sin"}},
      {"Tokyo", at(35.68, 139.69), {"sin", "ams", "iad"}},
      {"Sydney", at(-33.87, 151.21), {"sin", "iad", "ams"}},
      {"Honolulu", at(21.31, -157.86), {"iad", "sin", "ams"}},
  };
  for (const auto& c : cases) {
    RequestInfo req{"h", "/", "GET", &c.where, "", ""};
    Decision d = router.pick(req, *health, 0);
    EXPECT_EQ(orderOf(d), c.want) << c.who;
    EXPECT_STREQ(d.why, "nearest") << c.who;
  }
}

TEST(Router, ClientWithNoLocationIsOrderedFromTheListenersRegion) {
  auto cfg = baseConfig();
  cfg->routes = {route("app", "", "/")};
  Router router(cfg);
  auto health = health::HealthSnapshot::initial(*cfg);
  GeoLocation nowhere;
  Decision d = router.pick({"h", "/", "GET", &nowhere, "", "sin"}, *health, 0);
  EXPECT_EQ(orderOf(d)[0], "sin");
  EXPECT_STREQ(d.why, "nearest to the listener's region");
  d = router.pick({"h", "/", "GET", &nowhere, "", ""}, *health, 0);
  EXPECT_EQ(orderOf(d), (std::vector<std::string>{"ams", "iad", "sin"}));  // config order
}

TEST(Router, ResidencyRestrictsRegionsEvenWhenTheyAreDown) {
  auto cfg = baseConfig();
  cfg->routes = {route("app", "", "/")};
  cfg->routes[0].residency["DE"] = {"ams"};
  cfg->routes[0].all_unhealthy = config::AllUnhealthy::RouteAnyway;
  Router router(cfg);
  auto healthy = health::HealthSnapshot::initial(*cfg);
  GeoLocation frankfurt = at(50.11, 8.68, "DE"), new_york = at(40.71, -74.0, "US");
  EXPECT_EQ(orderOf(router.pick({"h", "/", "GET", &frankfurt, "", ""}, *healthy, 0)),
            std::vector<std::string>{"ams"});
  // A prefer header cannot break residency either.
  EXPECT_EQ(orderOf(router.pick({"h", "/", "GET", &frankfurt, "sin", ""}, *healthy, 0)),
            std::vector<std::string>{"ams"});
  EXPECT_EQ(router.pick({"h", "/", "GET", &new_york, "", ""}, *healthy, 0).order_size, 3u);

  // ams down (both its endpoints): route_anyway fails open only within the regions residency
  // allows, so German clients still get ams, and with reject they get none.
  std::vector<std::vector<health::EndpointHealth>> eps(2, std::vector<health::EndpointHealth>(4));
  eps[0][1].healthy = eps[0][2].healthy = false;
  auto ams_down = health::HealthSnapshot::make(eps, 1);
  Decision d = router.pick({"h", "/", "GET", &frankfurt, "", ""}, *ams_down, 0);
  EXPECT_EQ(orderOf(d), std::vector<std::string>{"ams"});
  EXPECT_STREQ(d.why, "all unhealthy: routing anyway");
  cfg->routes[0].all_unhealthy = config::AllUnhealthy::Reject;
  Router strict(cfg);
  EXPECT_EQ(strict.pick({"h", "/", "GET", &frankfurt, "", ""}, *ams_down, 0).outcome,
            PickOutcome::NoHealthyRegion);
  // Everyone else just fails over.
  EXPECT_EQ(orderOf(strict.pick({"h", "/", "GET", &new_york, "", ""}, *ams_down, 0)),
            (std::vector<std::string>{"iad", "sin"}));
}

TEST(Router, PreferHeaderMovesAHealthyRegionFirstAndIgnoresUnknownOnes) {
  auto cfg = baseConfig();
  cfg->routes = {route("app", "", "/")};
  Router router(cfg);
  auto health = health::HealthSnapshot::initial(*cfg);
  GeoLocation paris = at(48.86, 2.35);
  Decision d = router.pick({"h", "/", "GET", &paris, "sin", ""}, *health, 0);
  EXPECT_EQ(orderOf(d), (std::vector<std::string>{"sin", "ams", "iad"}));
  EXPECT_STREQ(d.why, "preferred");
  EXPECT_EQ(orderOf(router.pick({"h", "/", "GET", &paris, "mars", ""}, *health, 0))[0], "ams");
  // An unhealthy preferred region is not moved first (it is not a candidate at all).
  std::vector<std::vector<health::EndpointHealth>> eps(2, std::vector<health::EndpointHealth>(4));
  eps[0][3].healthy = false;  // sin's only endpoint
  auto sin_down = health::HealthSnapshot::make(eps, 1);
  EXPECT_EQ(orderOf(router.pick({"h", "/", "GET", &paris, "sin", ""}, *sin_down, 0)),
            (std::vector<std::string>{"ams", "iad"}));
}

TEST(Router, DrainedRegionIsLastEvenWhenNearest) {
  auto cfg = baseConfig();
  cfg->regions[0].drain = true;  // ams
  cfg->routes = {route("app", "", "/")};
  Router router(cfg);
  auto health = health::HealthSnapshot::initial(*cfg);
  GeoLocation paris = at(48.86, 2.35);
  EXPECT_EQ(orderOf(router.pick({"h", "/", "GET", &paris, "", ""}, *health, 0)),
            (std::vector<std::string>{"iad", "sin", "ams"}));
}

// A preferred region that is drained does not jump ahead of the undrained ones: drain means
// "take no new traffic while another region can", and a client's header must not undo that.
// Only when nothing undrained is left may the preference pick among the drained.
TEST(Router, PreferHeaderNeverMovesADrainedRegionAheadOfAnUndrainedOne) {
  auto cfg = baseConfig();
  cfg->regions[0].drain = true;  // ams
  cfg->routes = {route("app", "", "/")};
  Router router(cfg);
  auto health = health::HealthSnapshot::initial(*cfg);
  GeoLocation paris = at(48.86, 2.35);
  Decision d = router.pick({"h", "/", "GET", &paris, "ams", ""}, *health, 0);
  EXPECT_EQ(orderOf(d), (std::vector<std::string>{"iad", "sin", "ams"}));
  EXPECT_STRNE(d.why, "preferred");
  // iad and sin down: only drained ams is left, and the preference may name it.
  std::vector<std::vector<health::EndpointHealth>> eps(2, std::vector<health::EndpointHealth>(4));
  eps[0][0].healthy = false;  // iad
  eps[0][3].healthy = false;  // sin
  auto only_ams = health::HealthSnapshot::make(eps, 1);
  EXPECT_EQ(orderOf(router.pick({"h", "/", "GET", &paris, "ams", ""}, *only_ams, 0)),
            (std::vector<std::string>{"ams"}));
  // Two drained regions: the preference orders among them.
  cfg->regions[2].drain = true;  // sin
  Router two(cfg);
  EXPECT_EQ(orderOf(two.pick({"h", "/", "GET", &paris, "sin", ""}, *health, 0)),
            (std::vector<std::string>{"iad", "sin", "ams"}));
}

// route_anyway fails open, but not blindly: a region with an endpoint that is only failing its
// active checks (not ejected by real traffic) comes before one whose endpoints are all
// ejected, and the decision says it routed anyway so the exchange may use unhealthy
// endpoints then, and only then.
TEST(Router, RouteAnywayPrefersRegionsWithAnEndpointNotEjected) {
  auto cfg = baseConfig();
  cfg->routes = {route("app", "", "/")};
  cfg->routes[0].all_unhealthy = config::AllUnhealthy::RouteAnyway;
  Router router(cfg);
  GeoLocation washington = at(38.9, -77.0);
  auto healthy = health::HealthSnapshot::initial(*cfg);
  Decision normal = router.pick({"h", "/", "GET", &washington, "", ""}, *healthy, 0);
  EXPECT_FALSE(normal.routed_anyway);
  EXPECT_EQ(orderOf(normal), (std::vector<std::string>{"iad", "ams", "sin"}));

  std::vector<std::vector<health::EndpointHealth>> eps(2, std::vector<health::EndpointHealth>(4));
  for (auto& e : eps[0]) {
    e.healthy = false;
    e.active_healthy = true;
    e.ejected = true;
  }
  eps[0][2].ejected = false;  // ams's second endpoint: failing checks, not ejected
  eps[0][2].active_healthy = false;
  auto down = health::HealthSnapshot::make(eps, 1);
  Decision d = router.pick({"h", "/", "GET", &washington, "", ""}, *down, 0);
  ASSERT_EQ(d.outcome, PickOutcome::Ok);
  EXPECT_TRUE(d.routed_anyway);
  EXPECT_STREQ(d.why, "all unhealthy: routing anyway");
  EXPECT_EQ(orderOf(d), (std::vector<std::string>{"ams", "iad", "sin"}));
}

// Shrunk by RouterProp: routing anyway with ams and sin ejected and iad only failing its
// checks, a client preferring ams still goes to iad first (the preference moves ams first
// among the ejected only).
TEST(Router, RoutedAnywayPreferenceDoesNotMoveAnEjectedRegionFirst) {
  auto cfg = std::make_shared<config::Config>();
  cfg->regions = {{"ams", 52.37, 4.90, false, {}},
                  {"iad", 38.95, -77.45, false, {}},
                  {"sin", 1.35, 103.82, false, {}}};
  config::Cluster web;
  web.name = "web";
  web.endpoints = {{{"127.0.0.1", 1}, "ams", {}},
                   {{"127.0.0.1", 2}, "iad", {}},
                   {{"127.0.0.1", 3}, "sin", {}}};
  cfg->clusters = {web};
  cfg->routes = {route("app", "", "/")};
  cfg->routes[0].all_unhealthy = config::AllUnhealthy::RouteAnyway;
  Router router(cfg);
  std::vector<std::vector<health::EndpointHealth>> eps(1, std::vector<health::EndpointHealth>(3));
  for (auto& e : eps[0]) e.healthy = false;
  eps[0][0].ejected = true;
  eps[0][1].active_healthy = false;
  eps[0][2].ejected = true;
  auto health = health::HealthSnapshot::make(eps, 1);
  GeoLocation frankfurt = at(50.1, 8.7, "DE");
  Decision d = router.pick({"h", "/", "GET", &frankfurt, "ams", ""}, *health, 0);
  EXPECT_TRUE(d.routed_anyway);
  EXPECT_EQ(orderOf(d), (std::vector<std::string>{"iad", "ams", "sin"}));
}

TEST(Router, NearestRegionForTheClientHeader) {
  auto cfg = baseConfig();
  cfg->routes = {route("app", "", "/")};
  Router router(cfg);
  EXPECT_EQ(router.nearestRegion(at(1.29, 103.85)), "sin");
  EXPECT_EQ(router.nearestRegion(GeoLocation{}), "");
}

}  // namespace
}  // namespace meridian::routing
