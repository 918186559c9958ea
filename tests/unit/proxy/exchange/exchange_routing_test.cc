// Exchange, Routing: which requests get an upstream at all, and the accounting every request
// gets however it ends (one metric sample, one access-log line).
#include <gtest/gtest.h>

#include "tests/fakes/fake_upstream.h"
#include "tests/unit/proxy/exchange/exchange_fakes.h"

namespace meridian::proxy::exchange_test {
namespace {

using fakes::Action;
using fakes::FakeUpstream;

constexpr char kGet[] = "GET /x HTTP/1.1\r\nHost: app.test\r\n\r\n";

TEST(ExchangeRouting, RoutedToNearestRegionAndAnswered) {
  FakeUpstream ams, fra;
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}, {"fra", fra.address()}}));
  FakeClientSide client(host);
  client.startRequest("GET /x?q=1 HTTP/1.1\r\nHost: app.test\r\nX-Request-Id: abc-1\r\n\r\n");
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));

  ClientView r = client.view();
  EXPECT_TRUE(client.done());
  EXPECT_TRUE(client.keepAlive());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
  EXPECT_EQ(r.header("meridian-region"), "ams");
  ASSERT_EQ(ams.requestCount(), 1u);
  EXPECT_EQ(fra.requestCount(), 0u);
  fakes::ReceivedRequest got = ams.request(0);
  EXPECT_EQ(got.requestLine, "GET /x?q=1 HTTP/1.1");
  EXPECT_EQ(got.header("meridian-attempt"), "1");
  EXPECT_EQ(got.header("x-request-id"), "abc-1");
  EXPECT_EQ(got.header("x-forwarded-for"), "192.0.2.10");
  EXPECT_EQ(host.outcomesOf(health::Outcome::Success), 1u);
  EXPECT_EQ(host.counter(Counter::Responses2xx), 1u);
  EXPECT_EQ(host.metric(R"(meridian_requests_total{route="app",cluster="web",region="ams",code="200"})"),
            1u);
  host.reap();
  EXPECT_EQ(host.inFlight(), 0);
}

TEST(ExchangeRouting, NoRouteIs404AndNothingIsConnected) {
  FakeUpstream ams;
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  FakeClientSide client(host);
  client.startRequest("GET / HTTP/1.1\r\nHost: other.test\r\n\r\n");
  // Answered inside start(): no loop turn needed.
  ASSERT_TRUE(client.done());
  EXPECT_EQ(client.errorStatus(), 404);
  EXPECT_EQ(client.errorCode(), "no_route");
  EXPECT_TRUE(client.keepAlive());
  EXPECT_EQ(client.view().status, 404);
  EXPECT_EQ(client.view().header("meridian-error"), "no_route");
  EXPECT_EQ(host.counter(Counter::NoRoute), 1u);
  EXPECT_EQ(host.metric(R"(meridian_requests_total{route="",cluster="",region="",code="404"})"), 1u);
  host.runFor(20ms);
  EXPECT_EQ(ams.acceptedConnections(), 0u);
}

TEST(ExchangeRouting, NoHealthyRegionIs503) {
  FakeUpstream ams;
  RouteSpec spec;
  spec.cluster_extra = "    health_check: { assume_healthy: false }\n";
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}, spec));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(client.done());
  EXPECT_EQ(client.errorStatus(), 503);
  EXPECT_EQ(client.errorCode(), "no_healthy_region");
  EXPECT_EQ(host.counter(Counter::Responses5xx), 1u);
  EXPECT_EQ(host.requestsCounted(), 1u);
  host.runFor(20ms);
  EXPECT_EQ(ams.acceptedConnections(), 0u);
}

TEST(ExchangeRouting, AllUnhealthyRouteAnywayStillConnects) {
  FakeUpstream ams;
  RouteSpec spec;
  spec.cluster_extra = "    health_check: { assume_healthy: false }\n";
  spec.extra = "    all_unhealthy: route_anyway\n";
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}, spec));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 200);
  EXPECT_EQ(ams.requestCount(), 1u);
}

// all_unhealthy: route_anyway lets the exchange use an unhealthy endpoint only when the router
// routed anyway: with a healthy endpoint in the region, the ejected one listed first (which
// the tie would pick) gets nothing.
TEST(ExchangeRouting, RouteAnywayConfiguredNeverUsesAnUnhealthyEndpointWhileAHealthyOneIs) {
  FakeUpstream ejected, healthy;
  RouteSpec spec;
  spec.extra = "    all_unhealthy: route_anyway\n";
  FakeExchangeHost host(
      exchangeConfig({{"ams", ejected.address()}, {"ams", healthy.address()}}, spec));
  host.setUnhealthy({0}, /*ejected=*/true);
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 200);
  EXPECT_EQ(ejected.requestCount(), 0u);
  EXPECT_EQ(healthy.requestCount(), 1u);
}

// Routed anyway (nothing healthy): an endpoint only failing its active checks is tried before
// one ejected by real traffic, in the region and across regions.
TEST(ExchangeRouting, RoutedAnywayTriesAnEndpointNotEjectedFirst) {
  FakeUpstream ams_ejected, ams_failing_checks, fra_failing_checks;
  RouteSpec spec;
  spec.extra = "    all_unhealthy: route_anyway\n";
  FakeExchangeHost host(exchangeConfig({{"ams", ams_ejected.address()},
                                        {"ams", ams_failing_checks.address()},
                                        {"fra", fra_failing_checks.address()}},
                                       spec));
  // All three unhealthy, only ams's first ejected.
  std::vector<std::vector<health::EndpointHealth>> eps(1, std::vector<health::EndpointHealth>(3));
  for (auto& e : eps[0]) e.healthy = false, e.active_healthy = false;
  eps[0][0].ejected = true;
  host.setHealth(eps);
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 200);
  EXPECT_EQ(client.view().header("meridian-region"), "ams");
  EXPECT_EQ(ams_ejected.requestCount(), 0u);
  EXPECT_EQ(ams_failing_checks.requestCount(), 1u);
}

TEST(ExchangeRouting, PreferRegionHeaderMovesThatRegionFirst) {
  FakeUpstream ams, fra;
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}, {"fra", fra.address()}}));
  FakeClientSide client(host);
  client.startRequest("GET / HTTP/1.1\r\nHost: app.test\r\nMeridian-Prefer-Region: fra\r\n\r\n");
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().header("meridian-region"), "fra");
  EXPECT_EQ(ams.requestCount(), 0u);
  EXPECT_EQ(fra.requestCount(), 1u);
}

// A drained region stays behind the undrained ones even when the client prefers it
// (meridian-prefer-region, and fly-prefer-region on a compat: fly route).
TEST(ExchangeRouting, PreferRegionHeaderNeverSendsToADrainedRegion) {
  FakeUpstream ams, fra;
  std::string yaml = exchangeConfig({{"ams", ams.address()}, {"fra", fra.address()}});
  yaml.replace(yaml.find("{ name: fra,"), 12, "{ name: fra, drain: true,");
  FakeExchangeHost host(yaml);
  FakeClientSide client(host);
  client.startRequest("GET / HTTP/1.1\r\nHost: app.test\r\nMeridian-Prefer-Region: fra\r\n\r\n");
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().header("meridian-region"), "ams");
  EXPECT_EQ(fra.requestCount(), 0u);
}

TEST(ExchangeRouting, ContentLengthOverLimitIs413BeforeRouting) {
  FakeUpstream ams;
  RouteSpec spec;
  spec.limits = "{ max_body_bytes: 16 }";
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}, spec));
  FakeClientSide client(host);
  client.startRequest("POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 17\r\n\r\n");
  ASSERT_TRUE(client.done());
  EXPECT_EQ(client.errorStatus(), 413);
  EXPECT_FALSE(client.keepAlive());  // the body was never read
  EXPECT_EQ(host.counter(Counter::BodyTooLarge), 1u);
}

// One request, however many attempts: one sample, one log line with every attempt in it.
TEST(ExchangeAccounting, OneLogLineAndOneSampleForAReplayedRequest) {
  FakeUpstream ams, fra;
  ams.enqueue(Action::reset());
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}, {"fra", fra.address()}}),
                        /*capture_access_log=*/true);
  FakeClientSide client(host);
  client.startRequest("GET /logged HTTP/1.1\r\nHost: app.test\r\nX-Request-Id: rid-7\r\n\r\n");
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  ASSERT_EQ(client.view().status, 200);
  host.reap();

  EXPECT_EQ(host.counter(Counter::Requests), 1u);
  EXPECT_EQ(host.requestsCounted(), 1u);
  EXPECT_EQ(host.countedCode(), "200");
  EXPECT_EQ(host.metric(R"(meridian_requests_total{route="app",cluster="web",region="fra",code="200"})"),
            1u);
  std::vector<std::string> lines = host.accessLogLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(R"("request_id":"rid-7")"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(R"("status":200)"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(R"("region":"fra")"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(R"("attempts":2)"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(R"("replay_reasons":["reset"])"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(R"("path":"/logged")"), std::string::npos) << lines[0];
}

TEST(ExchangeAccounting, OneLogLineForAClientThatWentAway) {
  FakeUpstream ams;
  ams.enqueue(Action::hang());
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}), /*capture_access_log=*/true);
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("upstream request", [&] { return ams.requestCount() == 1; }));
  client.disconnect();
  host.reap();
  EXPECT_EQ(host.requestsCounted(), 1u);
  EXPECT_EQ(host.countedCode(), "499");
  EXPECT_EQ(host.counter(Counter::ClientAborts), 1u);
  std::vector<std::string> lines = host.accessLogLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(R"("status":499)"), std::string::npos) << lines[0];
  EXPECT_EQ(host.inFlight(), 0);
}

}  // namespace
}  // namespace meridian::proxy::exchange_test
