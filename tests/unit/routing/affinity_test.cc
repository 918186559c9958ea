// Blue-green in Router::pick: weighted split, cookie and client_ip affinity, the tester
// override, and the regions of each colour. Tables of structs, no sockets, no loader.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>
#include <random>

#include "routing/explain.h"
#include "routing/router.h"

namespace meridian::routing {
namespace {

constexpr int kDraws = 10000;

// blue is in ams and iad, green in iad and sin: each colour has its own regions.
std::shared_ptr<config::Config> blueGreen(uint32_t blue_weight, uint32_t green_weight,
                                          config::Affinity affinity = config::Affinity::None) {
  auto cfg = std::make_shared<config::Config>();
  cfg->regions = {{"ams", 52.37, 4.90, false, {}},
                  {"iad", 38.95, -77.45, false, {}},
                  {"sin", 1.35, 103.82, false, {}}};
  config::Cluster blue;
  blue.name = "blue";
  blue.endpoints = {{{"127.0.0.1", 1}, "ams", {}}, {{"127.0.0.1", 2}, "iad", {}}};
  config::Cluster green;
  green.name = "green";
  green.endpoints = {{{"127.0.0.1", 3}, "iad", {}}, {{"127.0.0.1", 4}, "sin", {}}};
  cfg->clusters = {blue, green};
  config::Route r;
  r.name = "app";
  r.match.path_prefix = "/";
  r.backends = {{"blue", blue_weight, {}}, {"green", green_weight, {}}};
  r.affinity = affinity;
  cfg->routes = {r};
  return cfg;
}

// Picks `n` times with draws from a fixed-seed generator; returns the share of each cluster.
std::map<std::string, int> split(const Router& router, const RequestInfo& req, int n,
                                 uint64_t seed = 7) {
  auto health = health::HealthSnapshot::initial(router.config());
  std::mt19937_64 rng(seed);
  std::map<std::string, int> hits;
  for (int i = 0; i < n; ++i) {
    Decision d = router.pick(req, *health, rng());
    EXPECT_EQ(d.outcome, PickOutcome::Ok);
    if (d.backend != nullptr) hits[d.backend->cluster]++;
  }
  return hits;
}

Decision pickOnce(const Router& router, const RequestInfo& req, uint64_t random = 0) {
  auto health = health::HealthSnapshot::initial(router.config());
  return router.pick(req, *health, random);
}

RequestInfo request() {
  RequestInfo req;
  req.host = "h";
  req.path = "/";
  req.method = "GET";
  return req;
}

TEST(BlueGreen, TenThousandDrawsAtNinetyTenLandWithinTwoPercent) {
  Router router(blueGreen(90, 10));
  auto hits = split(router, request(), kDraws);
  EXPECT_NEAR(hits["blue"], 9000, 200);
  EXPECT_NEAR(hits["green"], 1000, 200);
  EXPECT_EQ(hits["blue"] + hits["green"], kDraws);
  Decision d = pickOnce(router, request());
  EXPECT_STREQ(d.backend_why, "weight");
  EXPECT_EQ(d.plan->cluster->name, d.backend->cluster);
  EXPECT_FALSE(d.set_affinity_cookie);  // affinity: none never sets a cookie
}

TEST(BlueGreen, AZeroWeightIsNeverDrawn) {
  Router all_green(blueGreen(0, 100));
  EXPECT_EQ(split(all_green, request(), kDraws)["green"], kDraws);
  EXPECT_STREQ(pickOnce(all_green, request()).backend_why, "only backend");
  Router all_blue(blueGreen(1, 0));
  EXPECT_EQ(split(all_blue, request(), kDraws)["blue"], kDraws);
}

// A client that keeps sending back the cookie it was given.
struct CookieClient {
  std::string cookie;  // "name=value" as sent back
  std::string lastCluster;
  int cookiesSet = 0;

  void pick(const Router& router, uint64_t random) {
    std::string_view header = cookie;
    RequestInfo req = request();
    if (!cookie.empty()) req.cookies = {&header, 1};
    Decision d = pickOnce(router, req, random);
    ASSERT_NE(d.backend, nullptr);
    lastCluster = d.backend->cluster;
    if (d.set_affinity_cookie) {
      ++cookiesSet;
      std::string set = affinitySetCookie(router.affinityCookie(*d.route), lastCluster, false);
      cookie = set.substr(0, set.find(';'));
    } else {
      EXPECT_STREQ(d.backend_why, "cookie");
    }
  }
};

TEST(BlueGreen, CookieKeepsAClientOnItsBackendWhileBothWeightsArePositive) {
  std::mt19937_64 rng(11);
  std::vector<CookieClient> clients(50);
  Router before(blueGreen(90, 10, config::Affinity::Cookie));
  std::vector<std::string> first;
  for (auto& c : clients) {
    c.pick(before, rng());
    first.push_back(c.lastCluster);
  }
  // A change that keeps both colours live (90/10 -> 10/90) moves no existing client; 100
  // requests each, alternating between the two configs, all stay where they started.
  Router after(blueGreen(10, 90, config::Affinity::Cookie));
  for (int i = 0; i < 100; ++i) {
    for (size_t k = 0; k < clients.size(); ++k) {
      clients[k].pick(i % 2 ? before : after, rng());
      EXPECT_EQ(clients[k].lastCluster, first[k]);
    }
  }
  for (const auto& c : clients) EXPECT_EQ(c.cookiesSet, 1);
  // New clients follow the new weights.
  auto fresh = split(after, request(), kDraws);
  EXPECT_NEAR(fresh["green"], 9000, 200);
}

TEST(BlueGreen, RetiringABackendMovesItsCookieClients) {
  // Green retired (weight 0): a cookie naming it is no longer honoured; the client is drawn
  // again, gets blue and a new cookie, and stays there.
  Router retired(blueGreen(100, 0, config::Affinity::Cookie));
  CookieClient c;
  c.cookie = "meridian-backend-app=green";
  c.pick(retired, 3);
  EXPECT_EQ(c.lastCluster, "blue");
  EXPECT_EQ(c.cookiesSet, 1);
  EXPECT_EQ(c.cookie, "meridian-backend-app=blue");
  for (uint64_t i = 0; i < 100; ++i) c.pick(retired, i);
  EXPECT_EQ(c.cookiesSet, 1);
}

TEST(BlueGreen, ForgedOrForeignCookiesAreIgnored) {
  Router router(blueGreen(100, 0, config::Affinity::Cookie));
  for (std::string_view forged :
       {"meridian-backend-app=evil", "meridian-backend-app=", "meridian-backend-other=green",
        "meridian-backend-ap=blue", "meridian-backend-app=blue-x", "meridian-backend-app"}) {
    RequestInfo req = request();
    req.cookies = {&forged, 1};
    Decision d = pickOnce(router, req);
    ASSERT_NE(d.backend, nullptr) << forged;
    EXPECT_EQ(d.backend->cluster, "blue") << forged;
    EXPECT_STREQ(d.backend_why, "only backend") << forged;
    EXPECT_TRUE(d.set_affinity_cookie) << forged;
  }
}

TEST(BlueGreen, CookieFoundAmongSeveralCookiesAndHeaders) {
  Router router(blueGreen(100, 1, config::Affinity::Cookie));
  const std::vector<std::vector<std::string_view>> cases = {
      {"a=1; meridian-backend-app=green; b=2"},
      {"a=1;meridian-backend-app=green"},
      {"  meridian-backend-app = \"green\"  ;x=y"},
      {"a=1", "b=2; meridian-backend-app=green"},
      // An invalid copy first (another path's, or forged) does not hide a valid one.
      {"meridian-backend-app=evil", "meridian-backend-app=green"},
      {"junk; ; =x; meridian-backend-app=green"},
  };
  for (const auto& headers : cases) {
    RequestInfo req = request();
    req.cookies = headers;
    for (uint64_t r = 0; r < 101; ++r) {  // every draw would have been blue but one
      Decision d = pickOnce(router, req, r);
      ASSERT_NE(d.backend, nullptr);
      EXPECT_EQ(d.backend->cluster, "green") << headers.back();
      EXPECT_STREQ(d.backend_why, "cookie");
      EXPECT_FALSE(d.set_affinity_cookie);
    }
  }
}

TEST(BlueGreen, CookieParsing) {
  std::string_view rest = " a=1 ;b = \"two\";;novalue; =x ;c=";
  std::vector<std::pair<std::string_view, std::string_view>> got;
  std::string_view n, v;
  while (nextCookie(rest, n, v)) got.emplace_back(n, v);
  std::vector<std::pair<std::string_view, std::string_view>> want = {
      {"a", "1"}, {"b", "two"}, {"c", ""}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(findCookie("x=1; y=2", "y"), "2");
  EXPECT_EQ(findCookie("x=1; y=2", "z"), "");
  EXPECT_EQ(findCookie("", "z"), "");
}

TEST(BlueGreen, CookieNameAndSetCookieValue) {
  config::Route r;
  r.name = "app";
  EXPECT_EQ(affinityCookieName(r), "meridian-backend-app");
  r.name = "Shop.v2_x";
  EXPECT_EQ(affinityCookieName(r), "meridian-backend-Shop.v2_x");
  // Characters a cookie name may not hold become '_' plus a hash of the real name, so two
  // routes differing only there get different cookies.
  r.name = "my app;v=1";
  std::string a = affinityCookieName(r);
  r.name = "my_app_v_1";
  EXPECT_EQ(affinityCookieName(r), "meridian-backend-my_app_v_1");
  EXPECT_NE(a, "meridian-backend-my_app_v_1");
  EXPECT_TRUE(a.starts_with("meridian-backend-my_app_v_1-")) << a;
  EXPECT_EQ(a.find_first_of(" ;=,\"()<>@:/[]?{}\\\t"), std::string::npos) << a;

  EXPECT_EQ(affinitySetCookie("meridian-backend-app", "green", false),
            "meridian-backend-app=green; Path=/; HttpOnly; SameSite=Lax");
  EXPECT_EQ(affinitySetCookie("meridian-backend-app", "green", true),
            "meridian-backend-app=green; Path=/; HttpOnly; SameSite=Lax; Secure");
  std::string reused = "stale";
  reused.clear();
  appendAffinitySetCookie(reused, "n", "blue", false);
  EXPECT_EQ(reused, "n=blue; Path=/; HttpOnly; SameSite=Lax");

  Router router(blueGreen(1, 1, config::Affinity::Cookie));
  EXPECT_EQ(router.affinityCookie(router.config().routes[0]), "meridian-backend-app");
}

TEST(BlueGreen, SetAffinityCookieOnlyWhenNeeded) {
  std::string_view valid = "meridian-backend-app=blue";
  for (auto affinity :
       {config::Affinity::None, config::Affinity::ClientIp, config::Affinity::Cookie}) {
    Router router(blueGreen(50, 50, affinity));
    IpAddress ip;
    ASSERT_TRUE(IpAddress::parse("192.0.2.1", ip));
    RequestInfo req = request();
    req.client_ip = &ip;
    bool is_cookie = affinity == config::Affinity::Cookie;
    EXPECT_EQ(pickOnce(router, req).set_affinity_cookie, is_cookie);
    req.cookies = {&valid, 1};
    EXPECT_FALSE(pickOnce(router, req).set_affinity_cookie);
    // An override is a tester's one request: it neither reads nor sets the cookie.
    req.cookies = {};
    req.backend_override = "green";
    req.override_trusted = true;
    Decision d = pickOnce(router, req);
    EXPECT_STREQ(d.backend_why, "override");
    EXPECT_FALSE(d.set_affinity_cookie);
  }
}

IpAddress randomAddress(std::mt19937_64& rng, bool v6) {
  IpAddress ip;
  uint64_t a = rng(), b = rng();
  if (v6) {
    for (int i = 0; i < 8; ++i) ip.bytes[i] = static_cast<uint8_t>(a >> (8 * i));
    for (int i = 0; i < 8; ++i) ip.bytes[8 + i] = static_cast<uint8_t>(b >> (8 * i));
  } else {
    ip.bytes[10] = ip.bytes[11] = 0xff;
    for (int i = 0; i < 4; ++i) ip.bytes[12 + i] = static_cast<uint8_t>(a >> (8 * i));
  }
  return ip;
}

TEST(BlueGreen, ClientIpIsStableAndSplitsByWeight) {
  Router router(blueGreen(90, 10, config::Affinity::ClientIp));
  Router shifted(blueGreen(80, 20, config::Affinity::ClientIp));
  auto health = health::HealthSnapshot::initial(router.config());
  std::mt19937_64 rng(5);
  for (bool v6 : {false, true}) {
    std::map<std::string, int> hits;
    int moved = 0;
    for (int i = 0; i < kDraws; ++i) {
      IpAddress ip = randomAddress(rng, v6);
      RequestInfo req = request();
      req.client_ip = &ip;
      Decision d = router.pick(req, *health, rng());
      ASSERT_NE(d.backend, nullptr);
      EXPECT_STREQ(d.backend_why, "client_ip");
      hits[d.backend->cluster]++;
      // The same address, any draw: the same backend.
      EXPECT_EQ(router.pick(req, *health, rng()).backend, d.backend);
      // 90/10 -> 80/20: green keeps every client it had; only blue clients move.
      const config::Backend* now = shifted.pick(req, *health, rng()).backend;
      if (d.backend->cluster == "green") {
        EXPECT_EQ(now->cluster, "green");
      }
      if (now->cluster != d.backend->cluster) ++moved;
    }
    EXPECT_NEAR(hits["blue"], 9000, 200) << (v6 ? "v6" : "v4");
    EXPECT_NEAR(hits["green"], 1000, 200) << (v6 ? "v6" : "v4");
    EXPECT_NEAR(moved, 1000, 200) << (v6 ? "v6" : "v4");  // the 10% that had to move
  }
}

TEST(BlueGreen, ClientIpHashIsFixedAcrossProcesses) {
  IpAddress a, b;
  ASSERT_TRUE(IpAddress::parse("192.0.2.1", a));
  ASSERT_TRUE(IpAddress::parse("192.0.2.2", b));
  EXPECT_EQ(Router::addressHash(a), Router::addressHash(a));
  EXPECT_NE(Router::addressHash(a), Router::addressHash(b));
  // Pinned: a change here would move every client_ip client on upgrade.
  EXPECT_EQ(Router::addressHash(a), 14986054172780987788ULL) << std::hex << Router::addressHash(a);
}

TEST(BlueGreen, ClientIpWithoutAnAddressFallsBackToTheDraw) {
  Router router(blueGreen(90, 10, config::Affinity::ClientIp));
  EXPECT_STREQ(pickOnce(router, request()).backend_why, "weight");
}

struct OverrideCase {
  const char* what;
  bool allow_override;
  bool trusted;
  std::string_view header;
  const char* want;  // cluster
  const char* why;
};

TEST(BlueGreen, OverrideHeader) {
  // Green at weight 0: not yet live, reachable only by override.
  const OverrideCase cases[] = {
      {"allowed by the route", true, false, "green", "green", "override"},
      {"untrusted, not allowed", false, false, "green", "blue", "only backend"},
      {"trusted proxy", false, true, "green", "green", "override"},
      {"unknown name", true, true, "purple", "blue", "only backend"},
      {"a cluster of another route", true, true, "other", "blue", "only backend"},
      {"names the drawn one", true, false, "blue", "blue", "override"},
      {"empty", true, true, "", "blue", "only backend"},
  };
  auto cfg = blueGreen(100, 0, config::Affinity::Cookie);
  cfg->clusters.push_back(cfg->clusters[0]);
  cfg->clusters.back().name = "other";
  for (const auto& c : cases) {
    cfg->routes[0].allow_override = c.allow_override;
    Router router(cfg);
    RequestInfo req = request();
    req.backend_override = c.header;
    req.override_trusted = c.trusted;
    Decision d = pickOnce(router, req);
    ASSERT_NE(d.backend, nullptr) << c.what;
    EXPECT_EQ(d.backend->cluster, c.want) << c.what;
    EXPECT_EQ(d.plan->cluster->name, c.want) << c.what;
    EXPECT_STREQ(d.backend_why, c.why) << c.what;
  }
}

std::vector<std::string> orderOf(const Decision& d) {
  std::vector<std::string> out;
  for (size_t i = 0; i < d.order_size; ++i) out.push_back(d.plan->regions[d.order[i]].name);
  return out;
}

TEST(BlueGreen, EachBackendOrdersItsOwnRegions) {
  Router router(blueGreen(1, 1));
  GeoLocation paris;
  paris.known = true;
  paris.lat = 48.86;
  paris.lon = 2.35;
  RequestInfo req = request();
  req.client = &paris;
  req.override_trusted = true;
  req.backend_override = "blue";
  EXPECT_EQ(orderOf(pickOnce(router, req)), (std::vector<std::string>{"ams", "iad"}));
  req.backend_override = "green";
  EXPECT_EQ(orderOf(pickOnce(router, req)), (std::vector<std::string>{"iad", "sin"}));
  // The weight picks the colour first; regions are then ordered within it.
  req.backend_override = {};
  for (uint64_t r : {0, 1}) {
    Decision d = pickOnce(router, req, r);
    EXPECT_EQ(orderOf(d)[0], d.backend->cluster == "blue" ? "ams" : "iad");
  }
  // A colour with no healthy region is not rescued by the other one.
  std::vector<std::vector<health::EndpointHealth>> eps(2, std::vector<health::EndpointHealth>(2));
  eps[1][0].healthy = eps[1][1].healthy = false;
  auto green_down = health::HealthSnapshot::make(eps, 1);
  req.backend_override = "green";
  EXPECT_EQ(router.pick(req, *green_down, 0).outcome, PickOutcome::NoHealthyRegion);
}

TEST(BlueGreen, ExplainShowsAffinitySharesAndTheChosenBackend) {
  auto cfg = blueGreen(90, 10, config::Affinity::Cookie);
  cfg->routes[0].allow_override = true;
  Router router(cfg);
  auto health = health::HealthSnapshot::initial(*cfg);
  auto geo = GeoDb::open(config::Geo{});
  ASSERT_TRUE(geo.ok());
  ExplainInput in;
  in.client_ip = "192.0.2.1";
  auto j = nlohmann::json::parse(explainJson(router, *health, *geo.value(), in).value());
  EXPECT_EQ(j["affinity"], "cookie");
  EXPECT_EQ(j["allow_override"], true);
  ASSERT_EQ(j["backends"].size(), 2u);
  EXPECT_EQ(j["backends"][1]["cluster"], "green");
  EXPECT_EQ(j["backends"][1]["share_percent"], 10.0);
  EXPECT_EQ(j["backends"][1]["regions"], nlohmann::json({"iad", "sin"}));
  EXPECT_EQ(j["backend"]["cluster"], "blue");
  EXPECT_EQ(j["backend"]["why"], "weight");
  EXPECT_EQ(j["backend"]["set_cookie"],
            "meridian-backend-app=blue; Path=/; HttpOnly; SameSite=Lax");
  EXPECT_EQ(j["cluster"], "blue");

  in.cookie = "meridian-backend-app=green";
  j = nlohmann::json::parse(explainJson(router, *health, *geo.value(), in).value());
  EXPECT_EQ(j["backend"]["cluster"], "green");
  EXPECT_EQ(j["backend"]["why"], "cookie");
  EXPECT_FALSE(j["backend"].contains("set_cookie"));
  EXPECT_EQ(j["candidates"][0]["region"], "iad");

  in.cookie.clear();
  in.backend_override = "green";
  j = nlohmann::json::parse(explainJson(router, *health, *geo.value(), in).value());
  EXPECT_EQ(j["backend"]["why"], "override");
}

}  // namespace
}  // namespace meridian::routing
