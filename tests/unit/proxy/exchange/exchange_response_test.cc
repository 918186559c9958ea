// Exchange, Responding and Tunnel: the response streams back re-framed for the client, with
// back-pressure from a slow client; failures after the first byte end the client's connection
// instead of replaying; a 101 turns the exchange into a tunnel.
#include <gtest/gtest.h>

#include "tests/fakes/fake_upstream.h"
#include "tests/unit/proxy/exchange/exchange_fakes.h"

namespace meridian::proxy::exchange_test {
namespace {

using fakes::Action;
using fakes::FakeUpstream;

constexpr char kGet[] = "GET /r HTTP/1.1\r\nHost: app.test\r\n\r\n";

// One request through a fresh host with one upstream in ams; returns what the client saw.
struct OneRequest {
  FakeUpstream ams;
  FakeUpstream fra;
  RouteSpec spec;
  std::unique_ptr<FakeExchangeHost> host;
  std::unique_ptr<FakeClientSide> client;

  ::testing::AssertionResult run(std::string_view request = kGet) {
    host = std::make_unique<FakeExchangeHost>(
        exchangeConfig({{"ams", ams.address()}, {"fra", fra.address()}}, spec));
    client = std::make_unique<FakeClientSide>(*host);
    client->startRequest(request);
    return host->runUntil("the end of the exchange", [&] { return client->finished(); });
  }
  ~OneRequest() { client.reset(); }
};

TEST(ExchangeResponse, LargeContentLengthBodyArrivesWhole) {
  OneRequest t;
  const uint64_t size = 600 * 1024;
  t.ams.enqueue(Action::stream(size));
  ASSERT_TRUE(t.run());
  ClientView v = t.client->view();
  EXPECT_TRUE(t.client->done());
  EXPECT_EQ(v.status, 200);
  EXPECT_EQ(v.header("content-length"), std::to_string(size));
  ASSERT_EQ(v.body.size(), size);
  EXPECT_TRUE(fakes::matchesPattern(v.body));
  EXPECT_TRUE(t.client->keepAlive());
}

TEST(ExchangeResponse, ChunkedBodyIsChunkedToTheClient) {
  OneRequest t;
  t.ams.enqueue(Action::respond(200, {}, "hello chunked world").withChunked(5));
  ASSERT_TRUE(t.run());
  ClientView v = t.client->view();
  EXPECT_TRUE(v.complete);
  EXPECT_TRUE(v.chunked);
  EXPECT_EQ(v.body, "hello chunked world");
  EXPECT_TRUE(t.client->keepAlive());
}

TEST(ExchangeResponse, TrailersReachTheClient) {
  OneRequest t;
  t.ams.enqueue(Action::raw(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Digest\r\n\r\n"
      "3\r\nabc\r\n0\r\nX-Digest: d41d\r\n\r\n"));
  ASSERT_TRUE(t.run());
  ClientView v = t.client->view();
  EXPECT_TRUE(v.complete);
  EXPECT_EQ(v.body, "abc");
  EXPECT_EQ(fakes::findHeader(v.trailers, "x-digest"), "d41d");
}

TEST(ExchangeResponse, UntilCloseBodyIsChunkedToAnHttp11Client) {
  OneRequest t;
  t.ams.enqueue(Action::raw("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the close"));
  ASSERT_TRUE(t.run());
  ClientView v = t.client->view();
  EXPECT_TRUE(t.client->done());
  EXPECT_TRUE(v.chunked);
  EXPECT_TRUE(v.complete);
  EXPECT_EQ(v.body, "until the close");
  EXPECT_TRUE(t.client->keepAlive());  // the client's connection survives: its body is framed
}

TEST(ExchangeResponse, UntilCloseBodyToAnHttp10ClientEndsItsConnection) {
  OneRequest t;
  t.ams.enqueue(Action::raw("HTTP/1.1 200 OK\r\n\r\nold client"));
  ASSERT_TRUE(t.run("GET /r HTTP/1.0\r\nHost: app.test\r\nConnection: keep-alive\r\n\r\n"));
  ClientView v = t.client->view();
  EXPECT_FALSE(v.chunked);
  EXPECT_EQ(v.body, "old client");
  EXPECT_FALSE(t.client->keepAlive());
}

// 103 Early Hints go on to the client; 100 Continue is Meridian's own to give.
TEST(ExchangeResponse, InterimResponsesBeforeTheFinalOne) {
  OneRequest t;
  t.ams.enqueue(Action::raw(
      "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  ASSERT_TRUE(t.run());
  ClientView v = t.client->view();
  EXPECT_EQ(v.interim, std::vector<int>{103});
  EXPECT_EQ(v.status, 200);
  EXPECT_EQ(v.body, "ok");
}

TEST(ExchangeResponse, HeadResponseHasNoBody) {
  OneRequest t;
  t.ams.enqueue(Action::respond(200, {{"Content-Length", "1234"}}));
  ASSERT_TRUE(t.run("HEAD /r HTTP/1.1\r\nHost: app.test\r\n\r\n"));
  ClientView v = t.client->view(/*request_was_head=*/true);
  EXPECT_EQ(v.status, 200);
  EXPECT_EQ(v.header("content-length"), "1234");
  EXPECT_TRUE(v.complete);
  EXPECT_TRUE(v.after.empty());
  EXPECT_TRUE(t.client->keepAlive());
}

TEST(ExchangeResponse, KeptAliveUpstreamConnectionServesTheNextRequest) {
  FakeUpstream ams;
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  for (int i = 0; i < 2; ++i) {
    FakeClientSide client(host);
    client.startRequest(kGet);
    ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
    EXPECT_EQ(client.view().status, 200);
  }
  EXPECT_EQ(ams.requestCount(), 2u);
  EXPECT_EQ(ams.acceptedConnections(), 1u);
  EXPECT_EQ(ams.request(1).connectionId, ams.request(0).connectionId);
}

TEST(ExchangeResponse, DrainingWorkerClosesTheClientAfterTheResponse) {
  FakeUpstream ams;
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  host.setDraining(true);
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 200);
  EXPECT_EQ(client.view().header("connection"), "close");
  EXPECT_FALSE(client.keepAlive());
}

// A slow client: the exchange stops reading the upstream while the client's buffer is past the
// high watermark, and reads again as the client drains it.
TEST(ExchangeResponse, SlowClientPausesTheUpstream) {
  FakeUpstream ams;
  const uint64_t size = 1024 * 1024;
  ams.enqueue(Action::stream(size));
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  FakeClientSide client(host);
  client.setSlowReader(true);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("client buffer full",
                            [&] { return client.pending() > highWatermark(host); }));
  host.runFor(20ms);  // the upstream has more to send, but nothing more is taken
  const size_t bound = highWatermark(host) + 2 * core::Buffer::kReadBlockSize;
  EXPECT_LE(client.pending(), bound);
  EXPECT_FALSE(client.finished());
  int reads = 0;
  while (!client.finished() && reads < 200) {
    client.read();
    ++reads;
    ASSERT_TRUE(host.runUntil("more response",
                              [&] { return client.pending() > 0 || client.finished(); }));
  }
  client.read();
  EXPECT_TRUE(client.done());
  EXPECT_LE(client.maxPending(), bound);
  EXPECT_GT(reads, 3);
  ClientView v = client.view();
  ASSERT_EQ(v.body.size(), size);
  EXPECT_TRUE(fakes::matchesPattern(v.body));
}

// After the first byte, a failure is never replayed: the client's connection is ended, so a
// truncated body cannot pass for a whole one.
TEST(ExchangeResponse, UpstreamCloseMidBodyAbortsTheClient) {
  OneRequest t;
  t.ams.enqueue(Action::raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789").withClose());
  ASSERT_TRUE(t.run());
  EXPECT_TRUE(t.client->aborted());
  ClientView v = t.client->view();
  EXPECT_EQ(v.status, 200);
  EXPECT_EQ(v.body, "0123456789");
  EXPECT_FALSE(v.complete);
  EXPECT_EQ(t.host->counter(Counter::UpstreamResets), 1u);
  EXPECT_EQ(t.fra.acceptedConnections(), 0u);
  EXPECT_EQ(t.host->requestsCounted(), 1u);
  EXPECT_EQ(t.host->countedCode(), "200");
}

TEST(ExchangeResponse, IdleUpstreamMidBodyAbortsAfterTheIdleTimeout) {
  OneRequest t;
  t.spec.timeouts = "{ connect: 200ms, per_try: 300ms, request: 600ms, idle: 50ms }";
  t.ams.enqueue(Action::raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"));
  auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(t.run());
  EXPECT_GE(std::chrono::steady_clock::now() - started, 50ms);
  EXPECT_TRUE(t.client->aborted());
  EXPECT_EQ(t.client->view().body, "0123456789");
  EXPECT_EQ(t.host->counter(Counter::UpstreamTimeouts), 1u);
  ASSERT_TRUE(t.host->runUntil("upstream closed", [&] { return t.ams.openConnections() == 0; }));
}

TEST(ExchangeResponse, BadChunkedBodyAbortsTheClient) {
  OneRequest t;
  t.ams.enqueue(Action::raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"));
  ASSERT_TRUE(t.run());
  EXPECT_TRUE(t.client->aborted());
  EXPECT_EQ(t.host->counter(Counter::UpstreamProtocolErrors), 1u);
}

TEST(ExchangeResponse, MalformedResponseHeadIs502) {
  OneRequest t;
  t.ams.enqueue(Action::raw("HTTP/1.1 2x0 Nope\r\n\r\n").withClose());
  ASSERT_TRUE(t.run());
  EXPECT_EQ(t.client->errorStatus(), 502);
  EXPECT_EQ(t.client->errorCode(), "upstream_protocol_error");
  EXPECT_EQ(t.host->counter(Counter::UpstreamProtocolErrors), 1u);
}

TEST(ExchangeResponse, UnsolicitedSwitchingProtocolsIs502) {
  OneRequest t;
  t.ams.enqueue(Action::raw("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\n\r\n"));
  ASSERT_TRUE(t.run());
  EXPECT_EQ(t.client->errorStatus(), 502);
  EXPECT_EQ(t.client->errorCode(), "upstream_protocol_error");
}

// ---- Tunnel --------------------------------------------------------------------------------

constexpr char kUpgrade[] =
    "GET /ws HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

std::string echoedPayload(const FakeClientSide& client) {
  fakes::WebSocketFrame frame;
  std::string after = client.view().after;
  return fakes::parseWebSocketFrame(after, frame) > 0 ? frame.payload : "";
}

TEST(ExchangeTunnel, BytesFlowBothWaysAfter101UntilBothSidesClose) {
  FakeUpstream ams;
  ams.enqueue(Action::webSocketEcho());
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  FakeClientSide client(host);
  client.startRequest(kUpgrade);
  ASSERT_TRUE(host.runUntil("101", [&] { return client.view().status == 101; }));
  EXPECT_EQ(client.view().header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(host.counter(Counter::Upgrades), 1u);
  client.send(fakes::encodeWebSocketFrame({true, 1, "ping through"}, /*masked=*/true));
  ASSERT_TRUE(host.runUntil("echo", [&] { return echoedPayload(client) == "ping through"; }));
  ASSERT_TRUE(ams.waitForWebSocketFrames(1, 0ms));
  client.closeInput();  // the client closes its side; the upstream follows
  ASSERT_TRUE(host.runUntil("tunnel closed", [&] { return client.finished(); }));
  EXPECT_TRUE(client.done());
  EXPECT_FALSE(client.keepAlive());
  EXPECT_TRUE(client.writeShutdown());
  EXPECT_EQ(host.countedCode(), "101");
}

TEST(ExchangeTunnel, IdleTunnelIsClosedAfterTheIdleTimeout) {
  FakeUpstream ams;
  ams.enqueue(Action::webSocketEcho());
  RouteSpec spec;
  spec.timeouts = "{ connect: 200ms, per_try: 300ms, request: 600ms, idle: 50ms }";
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}, spec));
  FakeClientSide client(host);
  client.startRequest(kUpgrade);
  ASSERT_TRUE(host.runUntil("tunnel end", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 101);
  EXPECT_TRUE(client.aborted());
  EXPECT_EQ(host.counter(Counter::UpstreamTimeouts), 1u);
  ASSERT_TRUE(host.runUntil("upstream closed", [&] { return ams.openConnections() == 0; }));
}

}  // namespace
}  // namespace meridian::proxy::exchange_test
