// Nearest healthy region, end to end: three regions of FakeUpstreams behind the real binary,
// a geo database built with MaxMind's writer, clients placed by a trusted x-forwarded-for.
#include <chrono>

#include "tests/fakes/geo_db.h"
#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

using Clock = std::chrono::steady_clock;

// Fixture addresses (tests/fixtures/make_geo_db.pl): NL (Amsterdam), US (Washington),
// SG (Singapore), DE (Frankfurt).
constexpr const char* kNl = "203.0.113.5";
constexpr const char* kUs = "198.51.100.5";
constexpr const char* kSg = "192.0.2.5";
constexpr const char* kDe = "100.64.0.5";

class GeoRoutingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto* r : {&ams_, &iad_, &sin_}) serveAs(*r, true);
    db_ = proxy_.dir() + "/geo.mmdb";
    ASSERT_TRUE(fakes::makeGeoDb("city", db_));
  }

  // Every request is answered with the region's name; /healthz with 200 or 503.
  void serveAs(FakeUpstream& up, bool healthy) {
    std::string name = &up == &ams_ ? "ams" : &up == &iad_ ? "iad" : "sin";
    up.setHandler([name, healthy](const fakes::ReceivedRequest& req) {
      if (req.target == "/healthz") return Action::respond(healthy ? 200 : 503);
      return Action::respond(200, {}, name);
    });
  }

  std::string config(const std::string& route_extra = "",
                     const std::string& trusted = "127.0.0.0/8",
                     const std::string& cluster_extra = "") {
    return "workers: 2\naccess_log: \"off\"\n"
           "listeners:\n  - { name: public, address: 127.0.0.1:0, region: sin }\n"
           "admin: { address: 127.0.0.1:0 }\n"
           "geo:\n  database: " +
           db_ + "\n  trusted_proxies: [" + trusted +
           "]\n"
           "regions:\n"
           "  - { name: ams, lat: 52.37, lon: 4.90 }\n"
           "  - { name: iad, lat: 38.95, lon: -77.45 }\n"
           "  - { name: sin, lat: 1.35, lon: 103.82 }\n"
           "clusters:\n  - name: web\n    endpoints:\n"
           "      - { address: " +
           ams_.address() +
           ", region: ams }\n"
           "      - { address: " +
           iad_.address() +
           ", region: iad }\n"
           "      - { address: " +
           sin_.address() +
           ", region: sin }\n"
           "    health_check: { path: /healthz, interval: 100ms, timeout: 200ms,\n"
           "                    unhealthy_threshold: 2, healthy_threshold: 2,\n"
           "                    unhealthy_interval: 100ms, jitter: 0% }\n" +
           cluster_extra +
           "routes:\n  - name: app\n    match: { path_prefix: / }\n"
           "    backends: [ { cluster: web, weight: 1 } ]\n" +
           route_extra;
  }

  // Requests that are not health checks.
  static size_t trafficTo(const FakeUpstream& up) {
    size_t n = 0;
    for (const auto& req : up.requests()) n += req.target != "/healthz";
    return n;
  }

  HttpResponse get(const char* client_ip, const std::string& extra_headers = "") {
    TcpClient c;
    EXPECT_TRUE(c.connect(proxy_.listenerPort("public")));
    EXPECT_TRUE(c.send(std::string("GET /x HTTP/1.1\r\nHost: app\r\nX-Forwarded-For: ") +
                       client_ip + "\r\n" + extra_headers + "\r\n"));
    HttpResponse r;
    EXPECT_TRUE(c.readResponse(r, kWait));
    return r;
  }

  // Sends requests until one is served by `region` or the deadline passes; returns how long
  // that took (or the deadline).
  milliseconds untilServedBy(const char* client_ip, const std::string& region, milliseconds limit) {
    auto start = Clock::now();
    while (Clock::now() - start < limit) {
      if (get(client_ip).header("meridian-region") == region) break;
    }
    return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  }

  std::string admin(const std::string& path) { return curl({proxy_.adminUrl(path)}).out; }

  FakeUpstream ams_, iad_, sin_;
  MeridianProcess proxy_;
  std::string db_;
};

TEST_F(GeoRoutingTest, ClientsOnThreeContinentsLandInTheirNearestRegion) {
  ASSERT_TRUE(proxy_.start(config()));
  EXPECT_EQ(get(kNl).body, "ams");
  EXPECT_EQ(get(kUs).body, "iad");
  auto sg = get(kSg);
  EXPECT_EQ(sg.body, "sin");
  EXPECT_EQ(sg.header("meridian-region"), "sin");
  // The upstream learns where the client is.
  ASSERT_TRUE(iad_.waitForRequests(1, kWait));
  fakes::ReceivedRequest seen;
  for (const auto& r : iad_.requests())
    if (r.target == "/x") seen = r;
  EXPECT_EQ(seen.header("meridian-client-region"), "iad");
  EXPECT_EQ(seen.header("meridian-client-country"), "US");
}

// The ip-location-db package ships IPv4 and IPv6 as two files: listed together, clients of
// both families have a location. (2001:db8:2::/48, in Washington, is only in the IPv6 file;
// without a location a client would be served by the listener's region, sin.)
TEST_F(GeoRoutingTest, TwoDatabasesOneFamilyEachPlaceClientsOfBothFamilies) {
  std::string v4 = proxy_.dir() + "/v4.mmdb", v6 = proxy_.dir() + "/v6.mmdb";
  for (auto [layout, path] : {std::pair{"flat4", v4}, std::pair{"flat6", v6}}) {
    auto built = fakes::runCommand(
        {"perl", std::string(MERIDIAN_SOURCE_DIR) + "/tests/fixtures/make_geo_db.pl", layout, path},
        milliseconds(30000));
    ASSERT_EQ(built.exitCode, 0) << built.describe();
  }
  db_ = "[" + v4 + ", " + v6 + "]";
  ASSERT_TRUE(proxy_.start(config()));
  EXPECT_EQ(get(kNl).body, "ams");
  EXPECT_EQ(get("2001:db8:2::5").body, "iad");
  EXPECT_EQ(get("2001:db8:3::5").body, "sin");  // in neither file
}

TEST_F(GeoRoutingTest, UntrustedPeerCannotPlaceItselfWithTheHeader) {
  // Only 10.0.0.0/8 may set the client address: the test client (127.0.0.1) is not trusted,
  // so its header is ignored, it has no location, and the listener's region (sin) serves it.
  ASSERT_TRUE(proxy_.start(config("", "10.0.0.0/8")));
  EXPECT_EQ(get(kNl).body, "sin");
  EXPECT_EQ(get(kUs).body, "sin");
}

TEST_F(GeoRoutingTest, PreferRegionHeaderMovesAHealthyRegionFirst) {
  ASSERT_TRUE(proxy_.start(config()));
  EXPECT_EQ(get(kNl, "meridian-prefer-region: sin\r\n").body, "sin");
  EXPECT_EQ(get(kNl, "meridian-prefer-region: nowhere\r\n").body, "ams");
}

TEST_F(GeoRoutingTest, FailingHealthChecksMoveTrafficToTheNextNearestAndBack) {
  ASSERT_TRUE(proxy_.start(config()));
  ASSERT_EQ(get(kNl).body, "ams");
  serveAs(ams_, false);
  // unhealthy_threshold (2) x interval (100ms) + one interval, plus scheduling slack.
  milliseconds down = untilServedBy(kNl, "iad", milliseconds(5000));
  EXPECT_LT(down.count(), 300 + 700) << "took " << down.count() << "ms to fail over";
  EXPECT_EQ(get(kNl).body, "iad");  // the next-nearest from Amsterdam
  EXPECT_NE(admin("/metrics").find("meridian_upstream_healthy{cluster=\"web\",region=\"ams\""),
            std::string::npos);
  serveAs(ams_, true);
  milliseconds up = untilServedBy(kNl, "ams", milliseconds(5000));
  EXPECT_LT(up.count(), 300 + 700) << "took " << up.count() << "ms to come back";
}

TEST_F(GeoRoutingTest, EndpointThatResetsTrafficIsEjectedThenReadmitted) {
  ams_.setHandler([](const fakes::ReceivedRequest& req) {
    return req.target == "/healthz" ? Action::respond(200) : Action::reset();
  });
  ASSERT_TRUE(proxy_.start(
      config("", "127.0.0.0/8", "    outlier: { consecutive_failures: 2, ejection: 500ms }\n")));
  // Real traffic fails twice at ams (each GET replayed to iad, so the client sees 200), then
  // ams is ejected: requests go straight to iad as their first attempt.
  EXPECT_EQ(get(kNl).body, "iad");
  EXPECT_EQ(get(kNl).body, "iad");
  EXPECT_EQ(trafficTo(ams_), 2u);
  milliseconds ejected = untilServedBy(kNl, "iad", milliseconds(3000));
  EXPECT_LT(ejected.count(), 3000);
  iad_.clearRecorded();
  EXPECT_EQ(get(kNl).body, "iad");
  for (const auto& req : iad_.requests()) {
    if (req.target != "/healthz") {
      EXPECT_EQ(req.header("meridian-attempt"), "1");
    }
  }
  EXPECT_EQ(trafficTo(iad_), 1u);
  EXPECT_NE(admin("/regions").find("\"ejected\": true"), std::string::npos);
  serveAs(ams_, true);
  // Readmitted once the ejection ends.
  milliseconds back = untilServedBy(kNl, "ams", milliseconds(5000));
  EXPECT_LT(back.count(), 5000);
}

TEST_F(GeoRoutingTest, ResidencyHoldsWhenThePinnedRegionIsDown) {
  ASSERT_TRUE(proxy_.start(config("    residency: { DE: [ams] }\n")));
  EXPECT_EQ(get(kDe).body, "ams");
  serveAs(ams_, false);
  // Once ams is down, German clients get 503: never another region.
  auto start = Clock::now();
  HttpResponse r;
  while (Clock::now() - start < milliseconds(5000)) {
    r = get(kDe);
    ASSERT_NE(r.body, "iad");
    ASSERT_NE(r.body, "sin");
    if (r.status == 503) break;
  }
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.header("meridian-error"), "no_healthy_region");
  EXPECT_EQ(get(kNl).body, "iad");  // others fail over as usual
}

TEST_F(GeoRoutingTest, RouteExplainShowsTheChoiceAndWhy) {
  std::string path = proxy_.writeFile("explain.yaml", config());
  auto r = fakes::runCommand(
      {fakes::meridianBinary(), "route", "explain", "-c", path, "--client-ip", kUs, "--path", "/x"},
      milliseconds(10000));
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_NE(r.out.find("\"chosen\": \"iad\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"why\": \"nearest\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"country\": \"US\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"distance_km\""), std::string::npos) << r.out;
  // The live version answers the same on the admin listener.
  ASSERT_TRUE(proxy_.start(config()));
  std::string live = admin("/explain?client_ip=" + std::string(kSg) + "&path=/x");
  EXPECT_NE(live.find("\"chosen\": \"sin\""), std::string::npos) << live;
}

}  // namespace
}  // namespace meridian::integration
