// Bad input gets a clear answer and loses nothing: each limit and timeout answered with its
// status code, a meridian-error reason and a counter; ambiguous framing refused, never
// forwarded; upstream failures mapped to 502/503/504.
#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

// Sends `request` and expects `status` with `reason`, the upstream never seeing it.
void expectRefused(ProxyTest* t, TcpClient& c, const std::string& request, int status,
                   const std::string& reason) {
  ASSERT_TRUE(c.send(request));
  HttpResponse r;
  ASSERT_TRUE(c.readResponse(r, kWait)) << request;
  EXPECT_EQ(r.status, status) << request;
  EXPECT_EQ(r.header("meridian-error"), reason) << request;
}

TEST_F(ProxyTest, AmbiguousFramingIsRefusedAndNeverForwarded) {
  ASSERT_TRUE(startProxy());
  const std::vector<std::string> smuggling = {
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: "
      "chunked\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX-Bare: a\rb\r\n\r\n",
      "GET / HTTP/1.1\nHost: a\n\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET / HTTP/1.1\r\n\r\n",
  };
  for (const auto& req : smuggling) {
    TcpClient c;
    ASSERT_TRUE(c.connect(port()));
    expectRefused(this, c, req, 400, "bad_request");
    // And the connection is closed: nothing after the bad request is read as a request.
    EXPECT_TRUE(c.readUntilClose(kWait)) << req;
  }
  EXPECT_EQ(upstream_.requestCount(), 0u);
  EXPECT_GE(metric("meridian_limit_rejections_total{reason=\"bad_request\"}"),
            static_cast<long long>(smuggling.size()));
}

TEST_F(ProxyTest, OversizedHeaderBlockIs431) {
  ASSERT_TRUE(startProxy("{ max_header_bytes: 4KiB, max_headers: 10 }"));
  TcpClient big;
  ASSERT_TRUE(big.connect(port()));
  expectRefused(this, big,
                "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(5000, 'x') + "\r\n\r\n", 431,
                "header_too_large");
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 11; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  expectRefused(this, c, many + "\r\n", 431, "header_too_large");
  EXPECT_EQ(metric("meridian_limit_rejections_total{reason=\"header_too_large\"}"), 2);
  EXPECT_EQ(upstream_.requestCount(), 0u);
}

TEST_F(ProxyTest, BodyOverLimitIs413ByLengthAndWhileStreaming) {
  ASSERT_TRUE(startProxy("{ max_body_bytes: 1KiB }"));
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  expectRefused(this, c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n", 413,
                "body_too_large");
  EXPECT_EQ(upstream_.requestCount(), 0u);
  // A chunked body has no length up front: it is cut off when it crosses the limit.
  upstream_.enqueue(Action::hang());
  TcpClient s;
  ASSERT_TRUE(s.connect(port()));
  std::string chunk = "400\r\n" + std::string(1024, 'b') + "\r\n";
  expectRefused(this, s,
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + chunk,
                413, "body_too_large");
  EXPECT_EQ(metric("meridian_limit_rejections_total{reason=\"body_too_large\"}"), 2);
}

TEST_F(ProxyTest, SlowHeadIs408AndTheConnectionFreed) {
  ASSERT_TRUE(startProxy("{ header_timeout: 300ms }"));
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: a\r\n"));  // never finishes its head
  HttpResponse r;
  ASSERT_TRUE(c.readResponse(r, kWait));
  EXPECT_EQ(r.status, 408);
  EXPECT_EQ(r.header("meridian-error"), "request_header_timeout");
  EXPECT_TRUE(c.readUntilClose(kWait));
  EXPECT_EQ(metric("meridian_limit_rejections_total{reason=\"header_timeout\"}"), 1);
}

// A body that trickles in below limits.request_body_min_rate (here a few bytes per window
// where 512 are due) is cut off at the end of its window: 408, counted, and the upstream
// connection it held is let go (the upstream never sees a whole request).
TEST_F(ProxyTest, SlowUploadIs408AndTheUpstreamConnectionFreed) {
  ASSERT_TRUE(startProxy("{ request_body_timeout: 500ms, request_body_min_rate: 1KiB }"));
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(c.send("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\nx"));
  ASSERT_TRUE(upstream_.waitForConnections(1, kWait));
  // A byte per 100 ms until the answer comes (the read's deadline paces the trickle).
  auto deadline = std::chrono::steady_clock::now() + kWait;
  bool answered = false;
  while (!answered && std::chrono::steady_clock::now() < deadline) {
    if (!c.send("x")) break;  // the proxy may have closed already
    answered = c.readUntilContains("\r\n\r\n", milliseconds(100));
  }
  HttpResponse r;
  ASSERT_TRUE(c.readResponse(r, kWait));
  EXPECT_EQ(r.status, 408);
  EXPECT_EQ(r.header("meridian-error"), "client_timeout");
  EXPECT_TRUE(c.readUntilClose(kWait));
  EXPECT_EQ(metric("meridian_limit_rejections_total{reason=\"request_body_timeout\"}"), 1);
  EXPECT_TRUE(upstream_.waitForOpenConnections(0, kWait));
  EXPECT_EQ(upstream_.requestCount(), 0u);
}

// A body that keeps up with the minimum rate is not cut off, however long it takes.
TEST_F(ProxyTest, UploadAtTheMinimumRateIsForwarded) {
  ASSERT_TRUE(startProxy("{ request_body_timeout: 300ms, request_body_min_rate: 1KiB }"));
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  const std::string piece(1024, 'u');  // 1 KiB per 200 ms: over 300 B per 300 ms window
  ASSERT_TRUE(c.send("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 6144\r\n\r\n"));
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(c.send(piece));
    // Pacing the upload (nothing may come back before the body is whole).
    if (i < 5) {
      EXPECT_FALSE(c.readUntilContains("\r\n\r\n", milliseconds(200))) << c.received();
    }
  }
  HttpResponse r;
  ASSERT_TRUE(c.readResponse(r, kWait));
  EXPECT_EQ(r.status, 200);
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  EXPECT_EQ(upstream_.request(0).bodyBytes, 6144u);
  EXPECT_EQ(metric("meridian_limit_rejections_total{reason=\"request_body_timeout\"}"), 0);
}

// While the upstream does not take the body (our buffer towards it is full and we stopped
// reading the client), the client is not blamed for the rate: that ends as an upstream timeout.
TEST_F(ProxyTest, UploadStalledByTheUpstreamIsNotASlowClient) {
  fakes::HeldPort stalled;  // accepts connections in the kernel, never reads them
  ASSERT_TRUE(stalled.open());
  std::string yaml = configYaml("{ request_body_timeout: 200ms, request_body_min_rate: 1MiB }",
                                "{ idle: 1500ms }");
  yaml.replace(yaml.find(upstream_.address()), upstream_.address().size(),
               "127.0.0.1:" + std::to_string(stalled.port()));
  ASSERT_TRUE(proxy_.start(yaml));
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(c.send("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 67108864\r\n\r\n"));
  // Until the proxy stops taking the body (a send makes no progress for 200 ms): the buffers
  // on the way to an upstream that never reads are full, and the proxy has stopped reading.
  // Stopping earlier would make this client a slow one.
  std::string body(16 * 1024, 'b');
  for (int i = 0; i < 4096 && c.send(body, milliseconds(200)); ++i) {
  }
  HttpResponse r;
  ASSERT_TRUE(c.readResponse(r, kWait));
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(r.header("meridian-error"), "upstream_timeout");
  EXPECT_EQ(metric("meridian_limit_rejections_total{reason=\"request_body_timeout\"}"), 0);
}

TEST_F(ProxyTest, IdleKeepAliveConnectionIsClosedQuietly) {
  ASSERT_TRUE(startProxy("{ keepalive_timeout: 300ms }"));
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  HttpResponse r;
  ASSERT_TRUE(c.readResponse(r, kWait));
  ASSERT_TRUE(c.readUntilClose(kWait));
  EXPECT_TRUE(c.take().empty());  // closed without a response: nothing was asked
  EXPECT_EQ(metric("meridian_downstream_keepalive_timeouts_total"), 1);
}

TEST_F(ProxyTest, ConnectionsOverTheLimitGet503) {
  ASSERT_TRUE(startProxy("{ max_connections: 2 }"));
  TcpClient a, b;
  ASSERT_TRUE(a.connect(port()));
  ASSERT_TRUE(b.connect(port()));
  // Both accepted connections are known to the proxy once each has been answered.
  for (TcpClient* c : {&a, &b}) {
    ASSERT_TRUE(c->send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    HttpResponse r;
    ASSERT_TRUE(c->readResponse(r, kWait));
  }
  TcpClient third;
  ASSERT_TRUE(third.connect(port()));
  ASSERT_TRUE(third.readUntilClose(kWait));
  EXPECT_NE(third.take().find("meridian-error: too_many_connections"), std::string::npos);
  a.close();
  // The slot comes back once the proxy has seen the close; until then attempts are refused
  // (and may be closed before the request is even written).
  bool served = false;
  auto deadline = std::chrono::steady_clock::now() + kWait;
  while (!served && std::chrono::steady_clock::now() < deadline) {
    TcpClient again;
    HttpResponse r;
    served = again.connect(port()) && again.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n") &&
             again.readResponse(r, kWait) && r.status == 200;
  }
  EXPECT_TRUE(served);
}

// A client that announced its last request (`Connection: close`) and sent nothing after it
// has nothing more to send: its connection is closed as soon as the response is out, not
// held through a lingering close until its FIN (or 2 s). Here the client never closes; the
// one connection slot must still be free once it has read the response and our FIN.
TEST_F(ProxyTest, ConnectionCloseRequestFreesItsConnectionWithoutLingering) {
  ASSERT_TRUE(startProxy("{ max_connections: 1 }"));
  TcpClient a;
  ASSERT_TRUE(a.connect(port()));
  ASSERT_TRUE(a.send("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
  ASSERT_TRUE(a.readUntilClose(kWait));
  EXPECT_NE(a.take().find("HTTP/1.1 200"), std::string::npos);
  ASSERT_TRUE(a.isOpen());  // our side stays open: no FIN from the client
  TcpClient b;
  ASSERT_TRUE(b.connect(port()));
  ASSERT_TRUE(b.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  HttpResponse r;
  ASSERT_TRUE(b.readResponse(r, kWait));
  EXPECT_EQ(r.status, 200) << r.header("meridian-error");
}

TEST_F(ProxyTest, UpstreamThatDoesNotAnswerIs504) {
  upstream_.enqueue(Action::hang());
  ASSERT_TRUE(startProxy("", "{ per_try: 300ms }"));
  auto r = roundTrip("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(r.header("meridian-error"), "upstream_timeout");
}

TEST_F(ProxyTest, RefusedUpstreamIs502) {
  upstream_.refuse();
  ASSERT_TRUE(startProxy());
  auto r = roundTrip("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.header("meridian-error"), "upstream_connect_failed");
}

TEST_F(ProxyTest, UpstreamResetBeforeResponseIs502) {
  upstream_.enqueue(Action::reset());
  ASSERT_TRUE(startProxy());
  auto r = roundTrip("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.header("meridian-error"), "upstream_reset");
  EXPECT_EQ(upstream_.requestCount(), 1u);  // never silently retried: POST is not safe
}

TEST_F(ProxyTest, UpstreamResetMidResponseResetsTheClient) {
  upstream_.enqueue(Action::stream(1 << 20).withResetAfter(100000));
  ASSERT_TRUE(startProxy());
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_TRUE(c.readUntilClose(kWait));
  // The client sees a truncated response and a closed connection, never a clean end.
  std::string got = c.take();
  EXPECT_NE(got.find("200"), std::string::npos);
  EXPECT_LT(got.size(), size_t{1} << 20);
}

TEST_F(ProxyTest, MalformedUpstreamResponseIs502) {
  upstream_.enqueue(
      Action::raw("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"));
  ASSERT_TRUE(startProxy());
  auto r = roundTrip("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.header("meridian-error"), "upstream_protocol_error");
}

// 1xx responses go on to an HTTP/1.1 client with their reason phrases, up to
// limits.max_interim_responses per attempt; an upstream that sends more gets the request a 502.
TEST_F(ProxyTest, InterimResponsesKeepTheirReasonAndAreCapped) {
  upstream_.enqueue(Action::raw(
      "HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload"
      "\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  std::string flood;
  for (int i = 0; i < 17; ++i) flood += "HTTP/1.1 102 Processing\r\n\r\n";
  upstream_.enqueue(Action::raw(flood + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  ASSERT_TRUE(startProxy());  // limits.max_interim_responses: 16

  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(c.send("GET /hints HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_TRUE(c.readUntilContains("\r\n\r\nok", kWait));
  std::string got = c.take();
  EXPECT_TRUE(
      got.starts_with("HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\n"
                      "Link: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n"))
      << got;

  TcpClient d;
  ASSERT_TRUE(d.connect(port()));
  ASSERT_TRUE(d.send("GET /flood HTTP/1.1\r\nHost: a\r\n\r\n"));
  HttpResponse r;  // the 1xx are skipped as a client skips them
  ASSERT_TRUE(d.readResponse(r, kWait));
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.header("meridian-error"), "upstream_protocol_error");
  EXPECT_EQ(metric("meridian_upstream_interim_limit_total"), 1);
}

TEST_F(ProxyTest, PooledConnectionClosedByUpstreamIsNotTheClientsFailure) {
  ASSERT_TRUE(startProxy());
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  HttpResponse r;
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_TRUE(c.readResponse(r, kWait));
  ASSERT_TRUE(upstream_.waitForOpenConnections(1, kWait));
  // The upstream closes its idle keep-alive connection; the next request must still succeed.
  EXPECT_EQ(upstream_.closeIdleConnections(), 1u);
  ASSERT_TRUE(upstream_.waitForOpenConnections(0, kWait));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    ASSERT_TRUE(c.readResponse(r, kWait));
    EXPECT_EQ(r.status, 200);
  }
  EXPECT_EQ(upstream_.acceptedConnections(), 2u);
}

}  // namespace
}  // namespace meridian::integration
