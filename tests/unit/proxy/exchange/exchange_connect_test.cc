// Exchange, Connecting: a connect failure means nothing was sent, so it is tried again, whatever
// the method: in the same region (another endpoint, else the same) until
// replay.connect_tries_per_region (2) connects failed there, then in the next region.
#include <gtest/gtest.h>

#include "tests/fakes/dead_ports.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/unit/proxy/exchange/exchange_fakes.h"

namespace meridian::proxy::exchange_test {
namespace {

using fakes::FakeUpstream;
using fakes::RefusedPort;
using fakes::SilentPort;

constexpr char kGet[] = "GET / HTTP/1.1\r\nHost: app.test\r\n\r\n";

TEST(ExchangeConnect, RefusedTriesTheNextEndpointOfTheRegion) {
  RefusedPort dead;
  ASSERT_TRUE(dead.open());
  FakeUpstream ams2;
  // Ties go to the first endpoint listed (the host's random is 0): the dead one.
  FakeExchangeHost host(exchangeConfig({{"ams", dead.address()}, {"ams", ams2.address()}}));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 200);
  EXPECT_EQ(client.view().header("meridian-region"), "ams");
  ASSERT_EQ(ams2.requestCount(), 1u);
  EXPECT_EQ(ams2.request(0).header("meridian-attempt"), "2");
  ASSERT_EQ(host.outcomesOf(health::Outcome::ConnectFailure), 1u);
  EXPECT_EQ(host.outcomes()[0].endpoint, dead.address());
  EXPECT_EQ(host.metric(R"(meridian_replays_total{route="app",reason="connect_failure"})"), 1u);
}

// Nothing reached the upstream: a POST without Idempotency-Key moves on too.
TEST(ExchangeConnect, RefusedMovesAPostToTheNextRegion) {
  RefusedPort dead;
  ASSERT_TRUE(dead.open());
  FakeUpstream fra;
  fra.setHandler([](const fakes::ReceivedRequest&) { return fakes::Action::echo(); });
  FakeExchangeHost host(exchangeConfig({{"ams", dead.address()}, {"fra", fra.address()}}));
  FakeClientSide client(host);
  client.startRequest("POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\n\r\nhello");
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 200);
  EXPECT_EQ(client.view().body, "hello");
  EXPECT_EQ(client.view().header("meridian-region"), "fra");
  ASSERT_EQ(fra.requestCount(), 1u);
  EXPECT_EQ(fra.request(0).body, "hello");
}

TEST(ExchangeConnect, RefusedEverywhereIs502) {
  RefusedPort a, b;
  ASSERT_TRUE(a.open());
  ASSERT_TRUE(b.open());
  FakeExchangeHost host(exchangeConfig({{"ams", a.address()}, {"fra", b.address()}}),
                        /*capture_access_log=*/true);
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.errorStatus(), 502);
  EXPECT_EQ(client.errorCode(), "upstream_connect_failed");
  EXPECT_TRUE(client.keepAlive());
  // ams twice (connect_tries_per_region), then fra once: max_attempts (3) counts them all.
  ASSERT_EQ(host.outcomesOf(health::Outcome::ConnectFailure), 3u);
  EXPECT_EQ(host.outcomes()[0].endpoint, a.address());
  EXPECT_EQ(host.outcomes()[1].endpoint, a.address());
  EXPECT_EQ(host.outcomes()[2].endpoint, b.address());
  std::vector<std::string> lines = host.accessLogLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(R"("attempts":3)"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(
                R"("replay_reasons":["connect_failure","connect_failure","connect_failure"])"),
            std::string::npos)
      << lines[0];
}

// The lab's accept-queue overflow: a SYN dropped once is not a dead region, so a connect that
// timed out is tried once more in the same region (the only endpoint there: the same one)
// before the request crosses to the next region.
TEST(ExchangeConnect, TimeoutIsTriedAgainInTheRegionThenMoves) {
  SilentPort silent;
  ASSERT_TRUE(silent.open());
  FakeUpstream fra;
  RouteSpec spec;
  spec.timeouts = "{ connect: 50ms, per_try: 300ms, request: 600ms, idle: 300ms }";
  FakeExchangeHost host(exchangeConfig({{"ams", silent.address()}, {"fra", fra.address()}}, spec));
  FakeClientSide client(host);
  auto started = std::chrono::steady_clock::now();
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_GE(std::chrono::steady_clock::now() - started, 100ms);
  EXPECT_EQ(client.view().status, 200);
  EXPECT_EQ(client.view().header("meridian-region"), "fra");
  ASSERT_EQ(fra.requestCount(), 1u);
  EXPECT_EQ(fra.request(0).header("meridian-attempt"), "3");
  EXPECT_EQ(host.counter(Counter::UpstreamConnectTimeouts), 2u);
  ASSERT_EQ(host.outcomesOf(health::Outcome::ConnectFailure), 2u);
  EXPECT_EQ(host.outcomes()[1].endpoint, silent.address());
}

TEST(ExchangeConnect, OneConnectTryPerRegionMovesAtOnce) {
  SilentPort silent;
  ASSERT_TRUE(silent.open());
  FakeUpstream fra;
  RouteSpec spec;
  spec.timeouts = "{ connect: 50ms, per_try: 300ms, request: 600ms, idle: 300ms }";
  spec.replay = "{ connect_tries_per_region: 1 }";
  FakeExchangeHost host(exchangeConfig({{"ams", silent.address()}, {"fra", fra.address()}}, spec));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().header("meridian-region"), "fra");
  ASSERT_EQ(fra.requestCount(), 1u);
  EXPECT_EQ(fra.request(0).header("meridian-attempt"), "2");
  EXPECT_EQ(host.counter(Counter::UpstreamConnectTimeouts), 1u);
}

TEST(ExchangeConnect, TimeoutEverywhereIs504) {
  SilentPort silent;
  ASSERT_TRUE(silent.open());
  RouteSpec spec;
  spec.timeouts = "{ connect: 50ms, per_try: 300ms, request: 600ms, idle: 300ms }";
  FakeExchangeHost host(exchangeConfig({{"ams", silent.address()}}, spec));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.errorStatus(), 504);
  EXPECT_EQ(client.errorCode(), "upstream_connect_timeout");
  EXPECT_EQ(host.counter(Counter::UpstreamConnectTimeouts), 2u);  // twice in its region
  host.reap();
  EXPECT_EQ(host.inFlight(), 0);
}

// max_attempts counts connect failures too (replay::decide checks it first).
TEST(ExchangeConnect, RefusedStopsAtMaxAttempts) {
  RefusedPort a, b;
  ASSERT_TRUE(a.open());
  ASSERT_TRUE(b.open());
  FakeUpstream iad;
  RouteSpec spec;
  spec.replay = "{ max_attempts: 2, backoff: { base: 1ms, max: 1ms } }";
  FakeExchangeHost host(
      exchangeConfig({{"ams", a.address()}, {"fra", b.address()}, {"iad", iad.address()}}, spec));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.errorStatus(), 502);
  EXPECT_EQ(iad.acceptedConnections(), 0u);
}

TEST(ExchangeConnect, PoolOverloadedIs503) {
  SilentPort silent;
  ASSERT_TRUE(silent.open());
  RouteSpec spec;
  spec.cluster_extra = "    pool: { max_connections: 1, max_pending: 0 }\n";
  FakeExchangeHost host(exchangeConfig({{"ams", silent.address()}}, spec));
  FakeClientSide first(host), second(host);
  first.startRequest(kGet);  // holds the one connection, still connecting
  second.startRequest(kGet);
  ASSERT_TRUE(second.done());
  EXPECT_EQ(second.errorStatus(), 503);
  EXPECT_EQ(second.errorCode(), "upstream_overloaded");
  EXPECT_FALSE(first.finished());
}

// Past the pool's cap a request waits for a connection, and gets the first one given back.
TEST(ExchangeConnect, QueuedRequestGetsTheConnectionOnceItIsFree) {
  FakeUpstream ams;
  ams.enqueue(fakes::Action::respond(200, {}, "first").withDelay(20ms));
  RouteSpec spec;
  spec.cluster_extra = "    pool: { max_connections: 1, max_pending: 4 }\n";
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}, spec));
  FakeClientSide first(host), second(host);
  first.startRequest(kGet);
  second.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("both answered", [&] { return first.finished() && second.finished(); }));
  EXPECT_EQ(first.view().body, "first");
  EXPECT_EQ(second.view().status, 200);
  EXPECT_EQ(ams.acceptedConnections(), 1u);
  EXPECT_EQ(host.counter(Counter::UpstreamReused), 1u);
}

// A kept-alive connection that closes before answering: the upstream closed it as the request
// went out, which is no failure of the request. One without a body goes again on a fresh
// connection, as the same attempt.
TEST(ExchangeConnect, StaleKeptAliveConnectionIsRetriedOnAFreshOne) {
  FakeUpstream ams, fra;
  ams.enqueue(fakes::Action::respond(200, {}, "first"));
  ams.enqueue(fakes::Action::closeWithoutResponse());
  ams.enqueue(fakes::Action::respond(200, {}, "third"));
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}, {"fra", fra.address()}}));
  {
    FakeClientSide first(host);
    first.startRequest(kGet);
    ASSERT_TRUE(host.runUntil("first response", [&] { return first.finished(); }));
  }
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().body, "third");
  EXPECT_EQ(host.counter(Counter::UpstreamStaleRetries), 1u);
  EXPECT_EQ(host.counter(Counter::UpstreamResets), 0u);
  ASSERT_EQ(ams.requestCount(), 3u);
  EXPECT_EQ(ams.acceptedConnections(), 2u);
  EXPECT_EQ(ams.request(2).header("meridian-attempt"), "1");
  EXPECT_EQ(fra.acceptedConnections(), 0u);
}

// With a body, the bytes already left the client's buffer: a reset like any other.
TEST(ExchangeConnect, StaleConnectionIsNotRetriedForARequestWithABody) {
  FakeUpstream ams;
  ams.enqueue(fakes::Action::respond(200, {}, "first"));
  ams.enqueue(fakes::Action::closeWithoutResponse());
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  {
    FakeClientSide first(host);
    first.startRequest(kGet);
    ASSERT_TRUE(host.runUntil("first response", [&] { return first.finished(); }));
  }
  FakeClientSide client(host);
  client.startRequest("POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 2\r\n\r\nhi");
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.errorStatus(), 502);
  EXPECT_EQ(host.counter(Counter::UpstreamStaleRetries), 0u);
  EXPECT_EQ(ams.requestCount(), 2u);
}

// A connect failure in the last region of the order, after a replay moved there: an untried
// healthy endpoint in an earlier region still takes the request (as after any other failure
// in the last region), rather than a 502.
TEST(ExchangeConnect, RefusedInTheLastRegionFallsBackToAnUntriedEndpointOfAnEarlierOne) {
  FakeUpstream ams1, ams2;
  ams1.setHandler([](const fakes::ReceivedRequest&) { return fakes::Action::respond(503); });
  RefusedPort fra;
  ASSERT_TRUE(fra.open());
  // 503 in ams, then fra refuses twice (connect_tries_per_region), then back to ams2: four
  // attempts.
  RouteSpec spec;
  spec.replay = "{ max_attempts: 4 }";
  FakeExchangeHost host(exchangeConfig(
      {{"ams", ams1.address()}, {"ams", ams2.address()}, {"fra", fra.address()}}, spec));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 200);
  EXPECT_EQ(ams1.requestCount(), 1u);
  EXPECT_EQ(ams2.requestCount(), 1u);
  EXPECT_EQ(host.outcomesOf(health::Outcome::ConnectFailure), 2u);
}

}  // namespace
}  // namespace meridian::proxy::exchange_test
