// Exchange, app-directed replay: a response with `meridian-replay` (or, on compat: fly routes,
// `fly-replay`) is not shown to the client; the request runs where the app asked, once.
#include <gtest/gtest.h>

#include "tests/fakes/fake_upstream.h"
#include "tests/unit/proxy/exchange/exchange_fakes.h"

namespace meridian::proxy::exchange_test {
namespace {

using fakes::Action;
using fakes::FakeUpstream;

constexpr char kPost[] = "POST /w HTTP/1.1\r\nHost: app.test\r\nContent-Length: 3\r\n\r\nabc";

Action askReplay(std::string value, std::string header = "Meridian-Replay") {
  return Action::respond(409, {{std::move(header), std::move(value)}}, "not here");
}

struct ThreeRegions {
  FakeUpstream ams, fra, iad;
  std::vector<EndpointSpec> endpoints() const {
    return {{"ams", ams.address()}, {"fra", fra.address()}, {"iad", iad.address()}};
  }
};

TEST(ExchangeAppReplay, NamedRegionGetsTheRequestWithItsSource) {
  ThreeRegions up;
  up.ams.enqueue(askReplay("region=iad;state=abc"));
  up.iad.setHandler([](const fakes::ReceivedRequest&) { return Action::echo(); });
  FakeExchangeHost host(exchangeConfig(up.endpoints()));
  FakeClientSide client(host);
  client.startRequest(kPost);  // a POST too: the app asked
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  ClientView v = client.view();
  EXPECT_EQ(v.status, 200);
  EXPECT_EQ(v.body, "abc");
  EXPECT_EQ(v.header("meridian-region"), "iad");
  EXPECT_FALSE(v.hasHeader("meridian-replay"));
  EXPECT_EQ(client.received().find("not here"), std::string::npos);
  ASSERT_EQ(up.iad.requestCount(), 1u);
  EXPECT_EQ(up.fra.requestCount(), 0u);
  std::string src(up.iad.request(0).header("meridian-replay-src"));
  EXPECT_EQ(src.rfind("region=ams;state=abc;t=", 0), 0u) << src;
  EXPECT_EQ(up.iad.request(0).body, "abc");
  EXPECT_EQ(host.metric(R"(meridian_replays_total{route="app",reason="meridian-replay"})"), 1u);
}

TEST(ExchangeAppReplay, ElsewhereGoesToTheNextRegion) {
  ThreeRegions up;
  up.ams.enqueue(askReplay("elsewhere=true"));
  FakeExchangeHost host(exchangeConfig(up.endpoints()));
  FakeClientSide client(host);
  client.startRequest(kPost);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 200);
  EXPECT_EQ(client.view().header("meridian-region"), "fra");
}

TEST(ExchangeAppReplay, ASecondReplayIs508) {
  ThreeRegions up;
  up.ams.enqueue(askReplay("region=iad"));
  up.iad.enqueue(askReplay("region=fra"));
  FakeExchangeHost host(exchangeConfig(up.endpoints()));
  FakeClientSide client(host);
  client.startRequest(kPost);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.errorStatus(), 508);
  EXPECT_EQ(client.errorCode(), "replay_loop");
  EXPECT_EQ(up.fra.requestCount(), 0u);
}

TEST(ExchangeAppReplay, UnknownRegionIs503) {
  ThreeRegions up;
  up.ams.enqueue(askReplay("region=syd"));
  FakeExchangeHost host(exchangeConfig(up.endpoints()));
  FakeClientSide client(host);
  client.startRequest(kPost);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.errorStatus(), 503);
  EXPECT_EQ(client.errorCode(), "replay_target_unavailable");
}

TEST(ExchangeAppReplay, UnreadableHeaderIs502) {
  ThreeRegions up;
  up.ams.enqueue(askReplay("nonsense"));
  FakeExchangeHost host(exchangeConfig(up.endpoints()));
  FakeClientSide client(host);
  client.startRequest(kPost);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.errorStatus(), 502);
  EXPECT_EQ(client.errorCode(), "replay_refused");
}

TEST(ExchangeAppReplay, PrimaryWithPinAfterWriteSetsThePinCookie) {
  ThreeRegions up;
  up.ams.enqueue(askReplay("region=primary"));
  RouteSpec spec;
  spec.extra = "    primary_region: iad\n    pin_after_write: 5s\n";
  FakeExchangeHost host(exchangeConfig(up.endpoints(), spec));
  FakeClientSide client(host);
  client.startRequest(kPost);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  ClientView v = client.view();
  EXPECT_EQ(v.status, 200);
  EXPECT_EQ(v.header("meridian-region"), "iad");
  std::string cookie(v.header("set-cookie"));
  EXPECT_EQ(cookie.rfind("meridian-pin=iad:", 0), 0u) << cookie;
  EXPECT_NE(cookie.find("Max-Age=5"), std::string::npos) << cookie;
}

TEST(ExchangeAppReplay, FlyReplayIsFollowedOnCompatFlyRoutes) {
  ThreeRegions up;
  up.ams.enqueue(askReplay("region=iad;state=s1", "Fly-Replay"));
  RouteSpec spec;
  spec.extra = "    compat: fly\n";
  FakeExchangeHost host(exchangeConfig(up.endpoints(), spec));
  FakeClientSide client(host);
  client.startRequest(kPost);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 200);
  ASSERT_EQ(up.iad.requestCount(), 1u);
  std::string src(up.iad.request(0).header("fly-replay-src"));
  EXPECT_EQ(src.rfind("region=ams;state=s1;t=", 0), 0u) << src;
  EXPECT_EQ(host.metric(R"(meridian_replays_total{route="app",reason="fly-replay"})"), 1u);
}

TEST(ExchangeAppReplay, FlyReplayIsPassedThroughElsewhere) {
  ThreeRegions up;
  up.ams.enqueue(askReplay("region=iad", "Fly-Replay"));
  FakeExchangeHost host(exchangeConfig(up.endpoints()));
  FakeClientSide client(host);
  client.startRequest(kPost);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 409);
  EXPECT_EQ(client.view().header("fly-replay"), "region=iad");
  EXPECT_EQ(up.iad.requestCount(), 0u);
}

}  // namespace
}  // namespace meridian::proxy::exchange_test
