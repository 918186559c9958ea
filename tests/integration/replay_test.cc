// Replay, end to end: three regions of scripted FakeUpstreams behind the real binary. The
// listener's region (ams) orders clients with no location: ams, then iad, then sin.
#include <chrono>

#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

using Clock = std::chrono::steady_clock;

class ReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto* r : {&ams_, &iad_, &sin_}) answerAs(*r);
  }

  // Every request not scripted otherwise is answered 200 with the region's name.
  void answerAs(FakeUpstream& up) {
    std::string name = nameOf(up);
    up.setHandler([name](const fakes::ReceivedRequest&) { return Action::respond(200, {}, name); });
  }
  std::string nameOf(const FakeUpstream& up) const {
    return &up == &ams_ ? "ams" : &up == &iad_ ? "iad" : "sin";
  }

  ::testing::AssertionResult start(const std::string& route_extra = "") {
    std::string y =
        "workers: 1\naccess_log: \"off\"\n"
        "listeners:\n  - { name: public, address: 127.0.0.1:0, region: ams }\n"
        "admin: { address: 127.0.0.1:0 }\n"
        "regions:\n"
        "  - { name: ams, lat: 52.37, lon: 4.90 }\n"
        "  - { name: iad, lat: 38.95, lon: -77.45 }\n"
        "  - { name: sin, lat: 1.35, lon: 103.82 }\n"
        "clusters:\n  - name: web\n    endpoints:\n"
        "      - { address: " +
        ams_.address() + ", region: ams }\n      - { address: " + iad_.address() +
        ", region: iad }\n      - { address: " + sin_.address() +
        ", region: sin }\n"
        "routes:\n  - name: app\n    match: { path_prefix: / }\n"
        "    backends: [ { cluster: web, weight: 1 } ]\n"
        "    primary_region: iad\n" +
        route_extra;
    return proxy_.start(y);
  }

  HttpResponse send(const std::string& request) {
    TcpClient c;
    EXPECT_TRUE(c.connect(proxy_.listenerPort("public")));
    EXPECT_TRUE(c.send(request));
    HttpResponse r;
    EXPECT_TRUE(c.readResponse(r, kWait));
    return r;
  }
  HttpResponse get(const std::string& extra_headers = "") {
    return send("GET /x HTTP/1.1\r\nHost: app\r\n" + extra_headers + "\r\n");
  }
  HttpResponse withBody(const std::string& method, const std::string& body,
                        const std::string& extra_headers = "") {
    return send(method + " /x HTTP/1.1\r\nHost: app\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body);
  }

  FakeUpstream ams_, iad_, sin_;
  MeridianProcess proxy_;
};

// Refused twice in ams (replay.connect_tries_per_region, 2 by default), then iad.
TEST_F(ReplayTest, RefusedConnectMovesToTheNextRegion) {
  ams_.refuse();
  ASSERT_TRUE(start());
  HttpResponse r = get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "iad");
  EXPECT_EQ(r.header("meridian-region"), "iad");
  ASSERT_EQ(iad_.requestCount(), 1u);
  EXPECT_EQ(iad_.request(0).header("meridian-attempt"), "3");
}

TEST_F(ReplayTest, GetAndPutResetAfterTheRequestAreReplayedOnce) {
  ASSERT_TRUE(start());
  ams_.enqueue(Action::reset());
  HttpResponse r = get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "iad");
  EXPECT_EQ(ams_.requestCount(), 1u);
  ASSERT_EQ(iad_.requestCount(), 1u);
  EXPECT_EQ(iad_.request(0).header("meridian-attempt"), "2");

  ams_.enqueue(Action::reset());
  r = withBody("PUT", "the body");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "iad");
  ASSERT_EQ(iad_.requestCount(), 2u);
  EXPECT_EQ(iad_.request(1).body, "the body");
  EXPECT_EQ(iad_.request(1).method, "PUT");
}

// A body of many buffer chunks is kept and sent again byte for byte.
TEST_F(ReplayTest, LargeBodyIsSentAgainIntact) {
  ASSERT_TRUE(start());
  ams_.enqueue(Action::reset());
  std::string body;
  for (int i = 0; body.size() < 300 * 1024; ++i) body += std::to_string(i) + ",";
  HttpResponse r = withBody("PUT", body);
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(iad_.requestCount(), 1u);
  EXPECT_TRUE(iad_.request(0).body == body) << "replayed body differs";
}

TEST_F(ReplayTest, ChunkedBodyIsSentWholeAgain) {
  ASSERT_TRUE(start());
  ams_.enqueue(Action::reset());
  HttpResponse r = send(
      "PUT /x HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(iad_.requestCount(), 1u);
  EXPECT_EQ(iad_.request(0).body, "hello world");
}

TEST_F(ReplayTest, ResetMidResponseIsNeverReplayed) {
  ASSERT_TRUE(start());
  ams_.enqueue(Action::stream(1 << 20).withResetAfter(4096));
  TcpClient c;
  ASSERT_TRUE(c.connect(proxy_.listenerPort("public")));
  ASSERT_TRUE(c.send("GET /big HTTP/1.1\r\nHost: app\r\n\r\n"));
  EXPECT_TRUE(c.readUntilClose(kWait));
  EXPECT_TRUE(c.received().starts_with("HTTP/1.1 200")) << c.received().substr(0, 100);
  EXPECT_LT(c.received().size(), size_t{1} << 20);
  EXPECT_EQ(iad_.requestCount(), 0u);
  EXPECT_EQ(sin_.requestCount(), 0u);
}

TEST_F(ReplayTest, HangPastThePerTryTimeoutIsReplayed) {
  ASSERT_TRUE(start("    timeouts: { per_try: 300ms, request: 5s }\n"));
  ams_.enqueue(Action::hang());
  auto t0 = Clock::now();
  HttpResponse r = get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "iad");
  EXPECT_GE(Clock::now() - t0, milliseconds(300));
}

TEST_F(ReplayTest, Status503WithRetryAfterWaitsThenReplays) {
  ASSERT_TRUE(start());
  ams_.enqueue(Action::respond(503, {{"Retry-After", "1"}}, "busy"));
  auto t0 = Clock::now();
  HttpResponse r = get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "iad");
  // Retry-After: 1 is honoured (the backoff alone would be at most 250ms).
  EXPECT_GE(Clock::now() - t0, milliseconds(900));
}

TEST_F(ReplayTest, LastRegionsStatusIsPassedOnWhenAllFail) {
  ASSERT_TRUE(start());
  for (auto* up : {&ams_, &iad_, &sin_}) up->enqueue(Action::respond(503, {}, nameOf(*up)));
  HttpResponse r = get();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "sin");  // max_attempts 3: the third answer goes to the client
  EXPECT_EQ(ams_.requestCount() + iad_.requestCount() + sin_.requestCount(), 3u);
}

TEST_F(ReplayTest, PostWithoutAKeyIsNotReplayed) {
  ASSERT_TRUE(start());
  ams_.enqueue(Action::reset());
  HttpResponse r = withBody("POST", "order=1");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.header("meridian-error"), "upstream_reset");
  EXPECT_EQ(ams_.requestCount(), 1u);
  EXPECT_EQ(iad_.requestCount(), 0u);
}

TEST_F(ReplayTest, PostWithAnIdempotencyKeyIsReplayed) {
  ASSERT_TRUE(start());
  ams_.enqueue(Action::reset());
  HttpResponse r = withBody("POST", "order=1", "Idempotency-Key: k-1\r\n");
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(iad_.requestCount(), 1u);
  EXPECT_EQ(iad_.request(0).body, "order=1");
  EXPECT_EQ(iad_.request(0).header("idempotency-key"), "k-1");
}

TEST_F(ReplayTest, BodyOverTheBufferIsStreamedAndNotReplayed) {
  ASSERT_TRUE(start("    replay: { body_buffer: 1KiB }\n"));
  ams_.enqueue(Action::reset());
  std::string body(4096, 'b');
  HttpResponse r = withBody("PUT", body);
  EXPECT_EQ(r.status, 502);
  ASSERT_EQ(ams_.requestCount(), 1u);
  EXPECT_EQ(ams_.request(0).body.size(), body.size());
  EXPECT_EQ(iad_.requestCount(), 0u);

  // Under the limit the same request is replayed.
  ams_.enqueue(Action::reset());
  r = withBody("PUT", std::string(512, 'b'));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(iad_.requestCount(), 1u);
}

TEST_F(ReplayTest, StatusNotListedInReplayOnIsPassedOn) {
  ASSERT_TRUE(start("    replay: { on: [connect_failure, reset] }\n"));
  ams_.enqueue(Action::respond(503, {}, "busy"));
  HttpResponse r = get();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "busy");
  EXPECT_EQ(iad_.requestCount(), 0u);
}

TEST_F(ReplayTest, AppDirectedReplayToThePrimary) {
  ASSERT_TRUE(start());
  ams_.enqueue(Action::respond(409, {{"meridian-replay", "region=primary;state=tx42"}}, "no"));
  HttpResponse r = withBody("POST", "write=1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "iad");
  EXPECT_EQ(r.header("meridian-replay"), "");
  ASSERT_EQ(iad_.requestCount(), 1u);
  const auto req = iad_.request(0);
  EXPECT_EQ(req.body, "write=1");
  std::string src(req.header("meridian-replay-src"));
  EXPECT_TRUE(src.starts_with("region=ams;state=tx42;t=")) << src;
}

// Read-your-writes: after a write replayed to the primary, the client's reads stay there for
// pin_after_write (and only on routes that have it).
TEST_F(ReplayTest, PinAfterWriteKeepsTheClientOnThePrimary) {
  ASSERT_TRUE(start("    pin_after_write: 30s\n"));
  ams_.enqueue(Action::respond(200, {{"meridian-replay", "region=primary"}}));
  HttpResponse write = withBody("POST", "w=1");
  EXPECT_EQ(write.body, "iad");
  std::string cookie;
  for (const auto& [name, value] : write.headers)
    if (fakes::equalsIgnoreCase(name, "set-cookie") && value.starts_with("meridian-pin="))
      cookie = value;
  ASSERT_FALSE(cookie.empty()) << "no pin cookie";
  EXPECT_NE(cookie.find("Max-Age=30"), std::string::npos) << cookie;
  std::string pair = cookie.substr(0, cookie.find(';'));
  EXPECT_EQ(get("Cookie: " + pair + "\r\n").body, "iad");
  EXPECT_EQ(get().body, "ams");  // without the cookie: the nearest region as usual
  // An expired pin is ignored.
  EXPECT_EQ(get("Cookie: meridian-pin=iad:1000\r\n").body, "ams");
}

// The same over HTTP/2 (h2c): the pin cookie rides the response's HEADERS frame too.
TEST_F(ReplayTest, PinAfterWriteReachesAnHttp2Client) {
  ASSERT_TRUE(start("    pin_after_write: 30s\n"));
  ams_.enqueue(Action::respond(200, {{"meridian-replay", "region=primary"}}));
  fakes::CommandResult r =
      curl({"--http2-prior-knowledge", "-D", "-", "-d", "w=1",
            "http://127.0.0.1:" + std::to_string(proxy_.listenerPort("public")) + "/x"});
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_NE(r.out.find("HTTP/2 200"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("set-cookie: meridian-pin=iad:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("iad"), std::string::npos) << r.out;
}

TEST_F(ReplayTest, NoPinWithoutPinAfterWrite) {
  ASSERT_TRUE(start());
  ams_.enqueue(Action::respond(200, {{"meridian-replay", "region=primary"}}));
  HttpResponse write = withBody("POST", "w=1");
  EXPECT_EQ(write.body, "iad");
  for (const auto& [name, value] : write.headers)
    EXPECT_FALSE(fakes::equalsIgnoreCase(name, "set-cookie")) << value;
}

TEST_F(ReplayTest, ClientCannotForgeTheReplaySource) {
  ASSERT_TRUE(start());
  HttpResponse r = get("meridian-replay-src: region=evil\r\nfly-replay-src: region=evil\r\n");
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(ams_.requestCount(), 1u);
  EXPECT_FALSE(ams_.request(0).hasHeader("meridian-replay-src"));
  EXPECT_FALSE(ams_.request(0).hasHeader("fly-replay-src"));
}

TEST_F(ReplayTest, SecondReplayHeaderIs508) {
  ASSERT_TRUE(start());
  ams_.enqueue(Action::respond(200, {{"meridian-replay", "region=iad"}}));
  iad_.enqueue(Action::respond(200, {{"meridian-replay", "region=sin"}}));
  HttpResponse r = get();
  EXPECT_EQ(r.status, 508);
  EXPECT_EQ(r.header("meridian-error"), "replay_loop");
  EXPECT_EQ(sin_.requestCount(), 0u);
}

TEST_F(ReplayTest, ReplayToAnUnknownRegionIsRefused) {
  ASSERT_TRUE(start());
  ams_.enqueue(Action::respond(200, {{"meridian-replay", "region=nowhere"}}));
  HttpResponse r = get();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.header("meridian-error"), "replay_target_unavailable");
}

TEST_F(ReplayTest, FlyReplayNeedsCompatFly) {
  ASSERT_TRUE(start());
  ams_.enqueue(Action::respond(200, {{"fly-replay", "region=iad"}}, "ams"));
  HttpResponse r = get();
  EXPECT_EQ(r.body, "ams");  // not ours to follow without compat: fly
  EXPECT_EQ(iad_.requestCount(), 0u);
}

TEST_F(ReplayTest, FlyReplayAndPreferRegionWithCompatFly) {
  ASSERT_TRUE(start("    compat: fly\n"));
  ams_.enqueue(Action::respond(200, {{"fly-replay", "region=sin;state=s1"}}));
  HttpResponse r = get();
  EXPECT_EQ(r.body, "sin");
  ASSERT_EQ(sin_.requestCount(), 1u);
  std::string src(sin_.request(0).header("fly-replay-src"));
  EXPECT_TRUE(src.starts_with("region=ams;state=s1;t=")) << src;

  r = get("fly-prefer-region: iad\r\n");
  EXPECT_EQ(r.body, "iad");
}

TEST_F(ReplayTest, AllAttemptsResetGives502AfterMaxAttempts) {
  ASSERT_TRUE(start());
  for (auto* up : {&ams_, &iad_, &sin_}) up->enqueue(Action::reset());
  HttpResponse r = get();
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(ams_.requestCount(), 1u);
  EXPECT_EQ(iad_.requestCount(), 1u);
  EXPECT_EQ(sin_.requestCount(), 1u);
}

// Two requests with one Idempotency-Key: the second is not sent while the first is in flight;
// it gets the first's answer.
TEST_F(ReplayTest, SameIdempotencyKeyWaitsForTheFirstAndGetsItsAnswer) {
  ASSERT_TRUE(start());
  ams_.enqueue(Action::respond(201, {{"Content-Type", "text/plain"}}, "created 7")
                   .withDelay(milliseconds(500)));
  const std::string post =
      "POST /orders HTTP/1.1\r\nHost: app\r\nIdempotency-Key: order-7\r\n"
      "Content-Length: 3\r\n\r\nabc";
  TcpClient first, second;
  ASSERT_TRUE(first.connect(proxy_.listenerPort("public")));
  ASSERT_TRUE(first.send(post));
  ASSERT_TRUE(ams_.waitForRequests(1, kWait));  // the first is in flight now
  ASSERT_TRUE(second.connect(proxy_.listenerPort("public")));
  ASSERT_TRUE(second.send(post));
  HttpResponse r1, r2;
  ASSERT_TRUE(first.readResponse(r1, kWait));
  ASSERT_TRUE(second.readResponse(r2, kWait));
  EXPECT_EQ(r1.status, 201);
  EXPECT_EQ(r2.status, 201);
  EXPECT_EQ(r2.body, "created 7");
  EXPECT_EQ(r2.header("content-type"), "text/plain");
  EXPECT_EQ(ams_.requestCount() + iad_.requestCount() + sin_.requestCount(), 1u);

  // A different key is not held back.
  HttpResponse other = withBody("POST", "x", "Idempotency-Key: order-8\r\n");
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(ams_.requestCount(), 2u);
}

TEST_F(ReplayTest, SameIdempotencyKeyGets409WhenTheAnswerWasTooBigToKeep) {
  ASSERT_TRUE(start());
  ams_.enqueue(Action::stream(256 * 1024).withDelay(milliseconds(500)));
  const std::string post =
      "POST /export HTTP/1.1\r\nHost: app\r\nIdempotency-Key: big-1\r\n"
      "Content-Length: 1\r\n\r\nx";
  TcpClient first, second;
  ASSERT_TRUE(first.connect(proxy_.listenerPort("public")));
  ASSERT_TRUE(first.send(post));
  ASSERT_TRUE(ams_.waitForRequests(1, kWait));
  ASSERT_TRUE(second.connect(proxy_.listenerPort("public")));
  ASSERT_TRUE(second.send(post));
  HttpResponse r1, r2;
  ASSERT_TRUE(first.readResponse(r1, kWait));
  ASSERT_TRUE(second.readResponse(r2, kWait));
  EXPECT_EQ(r1.status, 200);
  EXPECT_EQ(r1.body.size(), 256u * 1024);
  EXPECT_EQ(r2.status, 409);
  EXPECT_EQ(r2.header("meridian-error"), "idempotency_conflict");
  EXPECT_EQ(ams_.requestCount(), 1u);
}

}  // namespace
}  // namespace meridian::integration
