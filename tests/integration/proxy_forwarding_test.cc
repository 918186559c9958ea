// The proxy forwards HTTP/1.1 faithfully: keep-alive on both sides, pipelining, chunked bodies
// both ways, Expect: 100-continue, HEAD/204/304 framing, hop-by-hop removal, forwarding
// headers, WebSocket tunnels. The real binary, real sockets, curl where a user would use it.
#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

TEST_F(ProxyTest, CurlGetsTheUpstreamResponseWithTheServingRegion) {
  upstream_.enqueue(Action::respond(200, {{"Content-Type", "text/plain"}}, "hello"));
  ASSERT_TRUE(startProxy());
  auto r = curl({"-i", url("/greeting?x=1")});
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_NE(r.out.find("HTTP/1.1 200"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("meridian-region: ams"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\r\n\r\nhello"), std::string::npos) << r.out;
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  EXPECT_EQ(upstream_.request(0).target, "/greeting?x=1");
}

TEST_F(ProxyTest, KeepAliveReusesOneUpstreamConnection) {
  ASSERT_TRUE(startProxy());
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(c.send("GET /n HTTP/1.1\r\nHost: a\r\n\r\n"));
    HttpResponse r;
    ASSERT_TRUE(c.readResponse(r, kWait));
    EXPECT_EQ(r.status, 200);
  }
  ASSERT_TRUE(upstream_.waitForRequests(20, kWait));
  EXPECT_EQ(upstream_.acceptedConnections(), 1u);
  // And separate client connections share the pool too (one worker, sequential requests).
  for (int i = 0; i < 5; ++i) EXPECT_EQ(roundTrip("GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
  EXPECT_EQ(upstream_.acceptedConnections(), 1u);
}

TEST_F(ProxyTest, PipelinedRequestsAreAnsweredInOrder) {
  upstream_.setHandler([](const fakes::ReceivedRequest& req) {
    return Action::respond(200, {}, "body-of-" + req.target);
  });
  ASSERT_TRUE(startProxy());
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  std::string batch;
  for (int i = 0; i < 5; ++i) batch += "GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: a\r\n\r\n";
  ASSERT_TRUE(c.send(batch));
  for (int i = 0; i < 5; ++i) {
    HttpResponse r;
    ASSERT_TRUE(c.readResponse(r, kWait));
    EXPECT_EQ(r.body, "body-of-/" + std::to_string(i));
  }
}

TEST_F(ProxyTest, ChunkedRequestBodyIsDecodedAndReframed) {
  upstream_.setHandler([](const fakes::ReceivedRequest&) { return Action::echo(); });
  ASSERT_TRUE(startProxy());
  auto r = roundTrip(
      "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello world");
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  auto req = upstream_.request(0);
  EXPECT_TRUE(req.chunked);
  EXPECT_EQ(req.body, "hello world");
  EXPECT_FALSE(req.hasHeader("content-length"));
  EXPECT_EQ(fakes::findHeader(req.trailers, "x-trailer"), "t");  // trailers pass on
}

TEST_F(ProxyTest, ChunkedResponseIsStreamedChunked) {
  upstream_.enqueue(Action::respond(200, {}, std::string(100000, 'z')).withChunked(4096));
  ASSERT_TRUE(startProxy());
  auto r = roundTrip("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.chunked);
  EXPECT_EQ(r.body, std::string(100000, 'z'));
}

TEST_F(ProxyTest, ResponseDelimitedByCloseBecomesChunkedForHttp11Clients) {
  upstream_.enqueue(Action::raw("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-close"));
  ASSERT_TRUE(startProxy());
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  HttpResponse r;
  ASSERT_TRUE(c.readResponse(r, kWait));
  EXPECT_TRUE(r.chunked);
  EXPECT_EQ(r.body, "until-close");
  // The client connection survives: the upstream's close ended only the upstream side.
  ASSERT_TRUE(c.send("GET /again HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_TRUE(c.readResponse(r, kWait));
  EXPECT_EQ(r.status, 200);
}

TEST_F(ProxyTest, ExpectContinueGetsInterimResponseBeforeBodyIsSent) {
  upstream_.setHandler([](const fakes::ReceivedRequest&) { return Action::echo(); });
  ASSERT_TRUE(startProxy());
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(
      c.send("PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
  ASSERT_TRUE(c.readUntilContains("HTTP/1.1 100 Continue\r\n\r\n", kWait));
  c.take();
  ASSERT_TRUE(c.send("data"));
  HttpResponse r;
  ASSERT_TRUE(c.readResponse(r, kWait));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "data");
  EXPECT_FALSE(upstream_.request(0).hasHeader("expect"));
}

TEST_F(ProxyTest, HeadAnd204And304CarryNoBody) {
  upstream_.enqueue(Action::respond(200, {}, "0123456789"));
  upstream_.enqueue(Action::respond(204));
  upstream_.enqueue(Action::respond(304, {{"ETag", "\"v1\""}}));
  ASSERT_TRUE(startProxy());
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  HttpResponse r;
  ASSERT_TRUE(c.send("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_TRUE(c.readResponse(r, kWait, /*head=*/true));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-length"), "10");
  EXPECT_EQ(r.body, "");
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_TRUE(c.readResponse(r, kWait));
  EXPECT_EQ(r.status, 204);
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_TRUE(c.readResponse(r, kWait));
  EXPECT_EQ(r.status, 304);
  EXPECT_EQ(r.header("etag"), "\"v1\"");
  // Nothing stray follows on the connection: the next exchange parses cleanly.
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_TRUE(c.readResponse(r, kWait));
  EXPECT_EQ(r.status, 200);
}

TEST_F(ProxyTest, HopByHopHeadersAreRemovedAndForwardingHeadersAdded) {
  upstream_.enqueue(Action::respond(
      200, {{"Keep-Alive", "timeout=5"}, {"X-Secret-Hop", "1"}, {"Connection", "X-Secret-Hop"}},
      "ok"));
  ASSERT_TRUE(startProxy());
  auto r = roundTrip(
      "GET / HTTP/1.1\r\nHost: app.example\r\nConnection: keep-alive, X-Drop-Me\r\n"
      "X-Drop-Me: 1\r\nKeep-Alive: 300\r\nTE: trailers\r\nProxy-Connection: x\r\n"
      "X-Forwarded-For: 203.0.113.9\r\nX-Keep: yes\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.header("keep-alive").size());
  EXPECT_TRUE(r.header("x-secret-hop").empty());
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  auto req = upstream_.request(0);
  for (const char* gone : {"x-drop-me", "keep-alive", "te", "proxy-connection"})
    EXPECT_FALSE(req.hasHeader(gone)) << gone;
  EXPECT_EQ(req.header("x-keep"), "yes");
  EXPECT_EQ(req.header("host"), "app.example");
  EXPECT_EQ(req.header("x-forwarded-for"), "203.0.113.9, 127.0.0.1");
  EXPECT_EQ(req.header("x-forwarded-proto"), "http");
  EXPECT_EQ(req.header("x-forwarded-host"), "app.example");
  EXPECT_EQ(req.header("meridian-attempt"), "1");
  EXPECT_EQ(req.header("x-request-id").size(), 32u);
}

TEST_F(ProxyTest, ClientRequestIdIsKept) {
  ASSERT_TRUE(startProxy());
  roundTrip("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: abc-123\r\n\r\n");
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  EXPECT_EQ(upstream_.request(0).header("x-request-id"), "abc-123");
}

TEST_F(ProxyTest, AbsoluteFormTargetIsSentInOriginForm) {
  ASSERT_TRUE(startProxy());
  roundTrip("GET http://app.example/p?q=1 HTTP/1.1\r\nHost: app.example\r\n\r\n");
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  EXPECT_EQ(upstream_.request(0).target, "/p?q=1");
}

TEST_F(ProxyTest, Http10ClientGetsCloseDelimitedBody) {
  upstream_.enqueue(Action::respond(200, {}, "chunky").withChunked(2));
  ASSERT_TRUE(startProxy());
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(c.send("GET / HTTP/1.0\r\nHost: a\r\n\r\n"));
  ASSERT_TRUE(c.readUntilClose(kWait));
  std::string got = c.take();
  EXPECT_EQ(got.find("transfer-encoding"), std::string::npos) << got;
  EXPECT_NE(got.find("\r\n\r\nchunky"), std::string::npos) << got;
}

TEST_F(ProxyTest, WebSocketIsTunnelledBothWays) {
  upstream_.enqueue(Action::webSocketEcho());
  ASSERT_TRUE(startProxy());
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(
      c.send("GET /live HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
             "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
  ASSERT_TRUE(c.readUntilContains("\r\n\r\n", kWait));
  std::string head = c.take();
  EXPECT_NE(head.find("101"), std::string::npos) << head;
  EXPECT_NE(head.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), std::string::npos) << head;
  // A masked text frame "Hello" (RFC 6455 5.7), twice: the echo comes back unmasked.
  const std::string frame("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c.send(frame));
    ASSERT_TRUE(c.readUntil([](std::string_view got) { return got.size() >= 7; }, kWait));
    EXPECT_EQ(c.take(), std::string("\x81\x05Hello", 7));
  }
  ASSERT_TRUE(upstream_.waitForWebSocketFrames(2, kWait));
}

// curl --http2 on a plain URL offers an h2c upgrade (Upgrade: h2c, HTTP2-Settings). It is
// never passed on: an upstream that took it would turn the connection into an HTTP/2 tunnel
// past every route and limit (h2c smuggling). The request is served as HTTP/1.1.
TEST_F(ProxyTest, H2cUpgradeIsNotForwarded) {
  ASSERT_TRUE(startProxy());
  upstream_.enqueue(Action::respond(200, {}, "plain\n"));
  auto r = curl({"--http2", "-s", "-w", "%{http_version}", url("/smuggle")});
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_EQ(r.out, "plain\n1.1");
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  auto req = upstream_.request(0);
  EXPECT_FALSE(req.hasHeader("upgrade"));
  EXPECT_FALSE(req.hasHeader("http2-settings"));
  EXPECT_FALSE(req.hasHeader("connection"));
}

// A 101 must name a protocol the client asked for: one to h2c (never offered), or to a request
// that asked for no upgrade, is a 502, not a raw tunnel.
TEST_F(ProxyTest, A101ToAnotherProtocolThanAskedIs502) {
  // Then a SETTINGS frame, as an h2c server sends.
  const std::string to_h2c =
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n" +
      std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);
  upstream_.enqueue(Action::raw(to_h2c));
  upstream_.enqueue(Action::raw(to_h2c));
  ASSERT_TRUE(startProxy());
  HttpResponse ws = roundTrip(
      "GET /live HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
  EXPECT_EQ(ws.status, 502);
  EXPECT_EQ(ws.header("meridian-error"), "upstream_protocol_error");
  HttpResponse h2c = roundTrip(
      "GET /x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
      "HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n");
  EXPECT_EQ(h2c.status, 502);
  EXPECT_EQ(metric("meridian_upstream_protocol_errors_total"), 2);
  EXPECT_EQ(metric("meridian_upgrades_total"), 0);
}

TEST_F(ProxyTest, HostMatchIgnoresCaseAndPort) {
  extra_routes_ =
      "  - name: only-api\n    match: { host: api.example.com, path_prefix: /api }\n"
      "    backends: [ { cluster: web, weight: 1 } ]\n";
  ASSERT_TRUE(startProxy());
  // The catch-all route still serves other paths; a more specific host+prefix wins.
  auto ok = roundTrip("GET /api/x HTTP/1.1\r\nHost: API.example.com:80\r\n\r\n");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.header("meridian-region"), "ams");
}

TEST_F(ProxyTest, NoMatchingRouteIs404WithReason) {
  extra_routes_ = "";
  ASSERT_TRUE(
      proxy_.start("workers: 1\nlisteners:\n  - { name: public, address: 127.0.0.1:0 }\n"
                   "admin: { address: 127.0.0.1:0 }\nregions:\n  - { name: ams, lat: 1, lon: 2 }\n"
                   "clusters:\n  - name: web\n    endpoints:\n      - { address: " +
                   upstream_.address() +
                   ", region: ams }\nroutes:\n  - name: app\n    match: { host: app.example.com }\n"
                   "    backends: [ { cluster: web, weight: 1 } ]\n"));
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: other.example.com\r\n\r\n"));
  HttpResponse r;
  ASSERT_TRUE(c.readResponse(r, kWait));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.header("meridian-error"), "no_route");
  // A 404 is the client's answer, not a reason to drop its connection.
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: app.example.com\r\n\r\n"));
  ASSERT_TRUE(c.readResponse(r, kWait));
  EXPECT_EQ(r.status, 200);
}

}  // namespace
}  // namespace meridian::integration
