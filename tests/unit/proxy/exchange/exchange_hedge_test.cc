// Exchange, hedges: the lifetimes the end-to-end tests cannot reach deterministically. A hedge
// whose connect never completes (a silent port) while the client leaves or the first attempt
// times out; a hedge refused at once. Run under ASan+UBSan too.
#include <gtest/gtest.h>

#include "tests/fakes/dead_ports.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/unit/proxy/exchange/exchange_fakes.h"

namespace meridian::proxy::exchange_test {
namespace {

using fakes::Action;
using fakes::FakeUpstream;

constexpr char kGet[] = "GET /r HTTP/1.1\r\nHost: app.test\r\n\r\n";

RouteSpec hedging() {
  RouteSpec r;
  r.replay = "{ backoff: { base: 1ms, max: 1ms }, hedge: { after: 50ms } }";
  return r;
}

// The hedge's connect is still pending when the client goes: both attempts are let go of, the
// hedge counted cancelled, and fra hears nothing (it was never tried).
TEST(ExchangeHedge, ClientLeavingWhileTheHedgeConnects) {
  FakeUpstream ams;
  ams.setHandler([](const fakes::ReceivedRequest&) { return Action::hang(); });
  fakes::SilentPort fra;
  ASSERT_TRUE(fra.open());
  FakeExchangeHost host(
      exchangeConfig({{"ams", ams.address()}, {"fra", fra.address()}}, hedging()));
  {
    FakeClientSide client(host);
    client.startRequest(kGet);
    ASSERT_TRUE(host.runUntil("the request at ams", [&] { return ams.requestCount() == 1; }));
    host.runFor(120ms);  // the hedge was due at 50 ms; its connect hangs
    EXPECT_EQ(host.pool().openConnections(), 2u);
    client.disconnect();
    EXPECT_TRUE(client.aborted());
  }
  host.reap();
  EXPECT_EQ(host.pool().openConnections(), 0u);
  EXPECT_EQ(host.inFlight(), 0);
  EXPECT_EQ(host.metric(R"(meridian_hedges_total{route="app",outcome="cancelled"})"), 1u);
  EXPECT_EQ(host.outcomesOf(health::Outcome::ConnectFailure), 0u);
  EXPECT_TRUE(ams.waitForPeerClosed(1, 2000ms));
}

// The first attempt times out (per_try 300 ms) while the hedge still connects (its connect
// timeout is longer here): the hedge carries the request until its own per-try time (from
// 50 ms), then counts as a connect failure, and the request is replayed to iad as the first
// attempt's timeout would have been.
TEST(ExchangeHedge, FirstAttemptTimingOutLeavesTheHedgeItsOwnTime) {
  FakeUpstream ams, iad;
  ams.setHandler([](const fakes::ReceivedRequest&) { return Action::hang(); });
  fakes::SilentPort fra;
  ASSERT_TRUE(fra.open());
  RouteSpec route = hedging();
  route.timeouts = "{ connect: 500ms, per_try: 300ms, request: 900ms, idle: 300ms }";
  FakeExchangeHost host(exchangeConfig(
      {{"ams", ams.address()}, {"fra", fra.address()}, {"iad", iad.address()}}, route));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 200);
  EXPECT_EQ(client.view().header("meridian-region"), "iad");
  ASSERT_EQ(iad.requestCount(), 1u);
  EXPECT_EQ(iad.request(0).header("meridian-attempt"), "3");
  EXPECT_EQ(host.outcomesOf(health::Outcome::Timeout), 1u);         // ams
  EXPECT_EQ(host.outcomesOf(health::Outcome::ConnectFailure), 1u);  // fra, the hedge
  EXPECT_EQ(host.metric(R"(meridian_replays_total{route="app",reason="timeout"})"), 1u);
  EXPECT_EQ(host.metric(R"(meridian_hedges_total{route="app",outcome="lost"})"), 1u);
}

// A hedge whose connect does not finish within timeouts.connect (200 ms) is a connect failure
// of its endpoint; the first attempt, slower still, answers.
TEST(ExchangeHedge, HedgeConnectTimeoutIsAConnectFailure) {
  FakeUpstream ams;
  ams.setHandler([](const fakes::ReceivedRequest&) {
    return Action::respond(200, {}, "ams").withDelay(700ms);
  });
  fakes::SilentPort fra;
  ASSERT_TRUE(fra.open());
  // The hedge's connect times out at 250 ms; ams answers at 700 ms, well after it even on a
  // busy machine (280 ms, within the default per_try, left 30 ms and failed under load).
  RouteSpec route = hedging();
  route.timeouts = "{ connect: 200ms, per_try: 2000ms, request: 3000ms, idle: 2000ms }";
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}, {"fra", fra.address()}}, route));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().body, "ams");
  EXPECT_EQ(host.outcomesOf(health::Outcome::ConnectFailure), 1u);
  EXPECT_EQ(host.counter(Counter::UpstreamConnectTimeouts), 1u);
  EXPECT_EQ(host.metric(R"(meridian_hedges_total{route="app",outcome="lost"})"), 1u);
}

// A hedge refused at once is a connect failure of its endpoint, nothing more: the first
// attempt answers.
TEST(ExchangeHedge, RefusedHedgeLeavesTheFirstAttempt) {
  FakeUpstream ams;
  ams.setHandler([](const fakes::ReceivedRequest&) {
    return Action::respond(200, {}, "ams").withDelay(200ms);
  });
  fakes::RefusedPort fra;
  ASSERT_TRUE(fra.open());
  FakeExchangeHost host(
      exchangeConfig({{"ams", ams.address()}, {"fra", fra.address()}}, hedging()));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 200);
  EXPECT_EQ(client.view().body, "ams");
  EXPECT_EQ(host.outcomesOf(health::Outcome::ConnectFailure), 1u);
  EXPECT_EQ(host.metric(R"(meridian_hedges_total{route="app",outcome="lost"})"), 1u);
}

// No hedge with the budget spent: counted, and the first attempt answers alone.
TEST(ExchangeHedge, NoBudgetNoHedge) {
  FakeUpstream ams, fra;
  ams.setHandler([](const fakes::ReceivedRequest&) {
    return Action::respond(200, {}, "ams").withDelay(150ms);
  });
  RouteSpec route = hedging();
  route.replay = "{ budget: 0%, hedge: { after: 50ms } }";
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}, {"fra", fra.address()}}, route));
  // The three replays always allowed in flight are taken.
  replay::Budget& budget = host.replayBudget("app");
  for (int i = 0; i < replay::Budget::kMinConcurrency; ++i) ASSERT_TRUE(budget.tryStartReplay(0));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().body, "ams");
  EXPECT_EQ(fra.requestCount(), 0u);
  EXPECT_EQ(host.metric(R"(meridian_hedges_total{route="app",outcome="budget"})"), 1u);
  for (int i = 0; i < replay::Budget::kMinConcurrency; ++i) budget.replayFinished();
}

}  // namespace
}  // namespace meridian::proxy::exchange_test
