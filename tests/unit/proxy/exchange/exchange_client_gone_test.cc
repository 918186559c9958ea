// Exchange, the client going away in each state: the exchange ends at once (the side hears
// exchangeAborted), lets go of its upstream, is counted once (499 before any answer), and
// nothing it armed fires afterwards. (A client gone while waiting for an Idempotency-Key is in
// exchange_idempotency_test.cc; Routing itself never waits.)
#include <gtest/gtest.h>

#include "tests/fakes/dead_ports.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/unit/proxy/exchange/exchange_fakes.h"

namespace meridian::proxy::exchange_test {
namespace {

using fakes::Action;
using fakes::FakeUpstream;

constexpr char kGet[] = "GET /g HTTP/1.1\r\nHost: app.test\r\n\r\n";

// What every client-gone case ends with.
void expectEndedOnce(FakeExchangeHost& host, const FakeClientSide& client, const char* code) {
  EXPECT_TRUE(client.aborted());
  EXPECT_FALSE(client.done());
  EXPECT_FALSE(client.exchangeAlive());
  host.reap();
  EXPECT_EQ(host.inFlight(), 0);
  EXPECT_EQ(host.counter(Counter::ClientAborts), 1u);
  EXPECT_EQ(host.requestsCounted(), 1u);
  EXPECT_EQ(host.countedCode(), code);
}

TEST(ExchangeClientGone, WhileConnecting) {
  fakes::SilentPort silent;
  ASSERT_TRUE(silent.open());
  FakeUpstream fra;
  RouteSpec spec;
  spec.timeouts = "{ connect: 40ms, per_try: 300ms, request: 600ms, idle: 300ms }";
  FakeExchangeHost host(exchangeConfig({{"ams", silent.address()}, {"fra", fra.address()}}, spec));
  FakeClientSide client(host);
  client.startRequest(kGet);
  host.runFor(5ms);
  client.disconnect();
  expectEndedOnce(host, client, "499");
  host.runFor(60ms);  // past the connect timeout it had armed: no failover, no answer
  EXPECT_EQ(fra.acceptedConnections(), 0u);
  EXPECT_EQ(client.received(), "");
  EXPECT_EQ(host.counter(Counter::UpstreamConnectTimeouts), 0u);
}

TEST(ExchangeClientGone, WhileWaitingForTheResponse) {
  FakeUpstream ams, fra;
  ams.enqueue(Action::hang());
  RouteSpec spec;
  spec.timeouts = "{ connect: 200ms, per_try: 40ms, request: 600ms, idle: 300ms }";
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}, {"fra", fra.address()}}, spec));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("upstream request", [&] { return ams.requestCount() == 1; }));
  client.disconnect();
  expectEndedOnce(host, client, "499");
  ASSERT_TRUE(host.runUntil("upstream closed", [&] { return ams.openConnections() == 0; }));
  host.runFor(60ms);  // past the per-try timeout: no replay
  EXPECT_EQ(fra.acceptedConnections(), 0u);
  EXPECT_EQ(host.counter(Counter::UpstreamTimeouts), 0u);
}

// Forwarding: a client that closes before its body is whole has gone.
TEST(ExchangeClientGone, ClosingBeforeTheBodyIsWhole) {
  FakeUpstream ams;
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  FakeClientSide client(host);
  client.startRequest("PUT / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 10\r\n\r\n12345");
  ASSERT_TRUE(host.runUntil("upstream connection", [&] { return ams.acceptedConnections() == 1; }));
  client.closeInput();
  expectEndedOnce(host, client, "499");
  ASSERT_TRUE(host.runUntil("upstream closed", [&] { return ams.openConnections() == 0; }));
  EXPECT_EQ(ams.requestCount(), 0u);
}

TEST(ExchangeClientGone, WhileTheResponseStreams) {
  FakeUpstream ams;
  ams.enqueue(Action::stream(4 * 1024 * 1024));
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  FakeClientSide client(host);
  client.setSlowReader(true);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("client buffer full",
                            [&] { return client.pending() > highWatermark(host); }));
  client.disconnect();
  expectEndedOnce(host, client, "200");  // the status it had started to get
  ASSERT_TRUE(host.runUntil("upstream closed", [&] { return ams.openConnections() == 0; }));
}

// The same, noticed by a failed write rather than announced by the connection.
TEST(ExchangeClientGone, WriteFailsWhileTheResponseStreams) {
  FakeUpstream ams;
  ams.enqueue(Action::stream(4 * 1024 * 1024));
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  FakeClientSide client(host);
  client.setSlowReader(true);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("client buffer full",
                            [&] { return client.pending() > highWatermark(host); }));
  client.failWrites();
  client.read();  // the buffer drains; the exchange writes more and finds the client gone
  ASSERT_TRUE(host.runUntil("exchange end", [&] { return client.finished(); }));
  expectEndedOnce(host, client, "200");
  ASSERT_TRUE(host.runUntil("upstream closed", [&] { return ams.openConnections() == 0; }));
}

TEST(ExchangeClientGone, DuringTheBackoffBeforeAReplay) {
  FakeUpstream ams, fra;
  ams.enqueue(Action::reset());
  RouteSpec spec;
  spec.replay = "{ backoff: { base: 60ms, max: 60ms } }";
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}, {"fra", fra.address()}}, spec));
  host.setRandom(60);  // the backoff is its ceiling, 60 ms
  FakeClientSide client(host);
  client.startRequest(kGet);
  // The replay is counted as the backoff starts.
  ASSERT_TRUE(host.runUntil("backoff", [&] {
    return host.metric(R"(meridian_replays_total{route="app",reason="reset"})") == 1;
  }));
  EXPECT_EQ(fra.acceptedConnections(), 0u);
  client.disconnect();
  expectEndedOnce(host, client, "499");
  host.runFor(90ms);  // past the backoff: the replay never starts
  EXPECT_EQ(fra.acceptedConnections(), 0u);
  EXPECT_EQ(host.replayBudget("app").replaysInFlight(), 0);
  EXPECT_EQ(host.replayBudget("app").requestsInFlight(), 0);
}

TEST(ExchangeClientGone, InATunnel) {
  FakeUpstream ams;
  ams.enqueue(Action::webSocketEcho());
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  FakeClientSide client(host);
  client.startRequest(
      "GET /ws HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  ASSERT_TRUE(host.runUntil("101", [&] { return client.view().status == 101; }));
  client.disconnect();
  expectEndedOnce(host, client, "101");
  ASSERT_TRUE(host.runUntil("upstream closed", [&] { return ams.openConnections() == 0; }));
}

}  // namespace
}  // namespace meridian::proxy::exchange_test
