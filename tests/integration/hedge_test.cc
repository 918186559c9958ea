// Hedged requests (replay.hedge), end to end: two or three regions of FakeUpstreams behind the
// real binary. Clients with no location are served ams first, then iad, then sin. A request
// says how long each region takes to answer it (`x-slow-ams: 1000`), so one test can stall
// one region on some requests and not others; the fakes answer every request with their name.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

using Clock = std::chrono::steady_clock;

class HedgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto* up : {&ams_, &iad_, &sin_}) answerAs(*up);
  }

  // Answers with the region's name, after the delay the request asks of this region.
  void answerAs(FakeUpstream& up) {
    std::string name = &up == &ams_ ? "ams" : &up == &iad_ ? "iad" : "sin";
    up.setHandler([name](const fakes::ReceivedRequest& r) {
      Action a = Action::respond(200, {}, name);
      std::string_view slow = r.header("x-slow-" + name);
      if (!slow.empty()) a.withDelay(milliseconds(std::stoi(std::string(slow))));
      if (r.header("x-reset-" + name) == "1") a = Action::reset().withDelay(milliseconds(100));
      return a;
    });
  }

  ::testing::AssertionResult start(const std::string& replay) { return proxy_.start(yaml(replay)); }

  std::string yaml(const std::string& replay, const std::string& route_extra = "") const {
    return "workers: 1\naccess_log: \"off\"\n"
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
           "    replay: " +
           replay + "\n" + route_extra;
  }

  uint16_t port() { return proxy_.listenerPort("public"); }

  HttpResponse get(const std::string& headers, milliseconds* took = nullptr) {
    TcpClient c;
    EXPECT_TRUE(c.connect(port()));
    auto t0 = Clock::now();
    EXPECT_TRUE(c.send("GET /x HTTP/1.1\r\nHost: app\r\n" + headers + "\r\n"));
    HttpResponse r;
    EXPECT_TRUE(c.readResponse(r, kWait));
    if (took) *took = std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
    return r;
  }

  long long metric(const std::string& series) {
    auto r = curl({proxy_.adminUrl("/metrics")});
    size_t at = r.out.find("\n" + series + " ");
    if (at == std::string::npos) return 0;
    return std::stoll(r.out.substr(at + series.size() + 2));
  }
  long long hedges(const std::string& outcome) {
    return metric("meridian_hedges_total{route=\"app\",outcome=\"" + outcome + "\"}");
  }

  FakeUpstream ams_, iad_, sin_;
  MeridianProcess proxy_;
};

// ams stalls 1 s; 50 ms on, the hedge goes to iad, which answers at once and wins. The stalled
// attempt is cancelled: ams sees its connection closed long before it would have answered.
TEST_F(HedgeTest, HedgeToTheNextRegionWinsAgainstAStall) {
  ASSERT_TRUE(start("{ hedge: { after: 50ms, max: 1 } }"));
  milliseconds took{};
  HttpResponse r = get("x-slow-ams: 1000\r\n", &took);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "iad");
  EXPECT_EQ(r.header("meridian-region"), "iad");
  EXPECT_LT(took, milliseconds(800));
  ASSERT_EQ(iad_.requestCount(), 1u);
  EXPECT_EQ(iad_.request(0).header("meridian-hedge"), "1");
  EXPECT_EQ(iad_.request(0).header("meridian-attempt"), "2");
  ASSERT_EQ(ams_.requestCount(), 1u);
  EXPECT_FALSE(ams_.request(0).hasHeader("meridian-hedge"));
  EXPECT_TRUE(ams_.waitForPeerClosed(1, milliseconds(800)));
  EXPECT_EQ(hedges("won"), 1);
  EXPECT_EQ(hedges("lost"), 0);
  EXPECT_EQ(sin_.requestCount(), 0u);

  // An answer within the wait is never hedged; a client's own meridian-hedge never reaches
  // the app.
  r = get("meridian-hedge: 1\r\n");
  EXPECT_EQ(r.body, "ams");
  EXPECT_EQ(iad_.requestCount(), 1u);
  EXPECT_FALSE(ams_.request(1).hasHeader("meridian-hedge"));
}

// to: same_region: the hedge goes to the stalled request's own region again (here its only
// endpoint, on a new connection), where a tail of single slow requests is cheapest to cut.
TEST_F(HedgeTest, SameRegionHedgeStaysInTheRegion) {
  auto seen = std::make_shared<std::atomic<int>>(0);
  ams_.setHandler([seen](const fakes::ReceivedRequest&) {
    Action a = Action::respond(200, {}, "ams");
    if ((*seen)++ == 0) a.withDelay(milliseconds(1000));  // only the first one stalls
    return a;
  });
  ASSERT_TRUE(start("{ hedge: { after: 50ms, to: same_region } }"));
  milliseconds took{};
  HttpResponse r = get("", &took);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ams");
  EXPECT_LT(took, milliseconds(800));
  ASSERT_EQ(ams_.requestCount(), 2u);
  EXPECT_EQ(ams_.request(1).header("meridian-hedge"), "1");
  EXPECT_EQ(iad_.requestCount(), 0u);
  EXPECT_EQ(hedges("won"), 1);
  EXPECT_TRUE(ams_.waitForPeerClosed(1, milliseconds(800)));  // the stalled attempt, cancelled
}

// The case: ams stalls 1 s on 5% of requests (every 20th). Each stalled one is hedged
// and answered by iad well before the second; the others never wait for a hedge.
TEST_F(HedgeTest, SlowTailOfFivePercentIsCutByHedges) {
  auto seen = std::make_shared<std::atomic<int>>(0);
  ams_.setHandler([seen](const fakes::ReceivedRequest&) {
    Action a = Action::respond(200, {}, "ams");
    if (++*seen % 20 == 0) a.withDelay(milliseconds(1000));
    return a;
  });
  ASSERT_TRUE(start("{ hedge: { after: 50ms } }"));
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  milliseconds slowest{0};
  int from_iad = 0;
  for (int i = 0; i < 40; ++i) {
    auto t0 = Clock::now();
    ASSERT_TRUE(c.send("GET /x HTTP/1.1\r\nHost: app\r\n\r\n"));
    HttpResponse r;
    ASSERT_TRUE(c.readResponse(r, kWait));
    EXPECT_EQ(r.status, 200);
    from_iad += r.body == "iad";
    slowest = std::max(slowest, std::chrono::duration_cast<milliseconds>(Clock::now() - t0));
  }
  // At least the two stalled ones (a busy machine may make another answer later than 50 ms).
  EXPECT_GE(from_iad, 2);
  EXPECT_LT(slowest, milliseconds(800));
  EXPECT_GE(hedges("won"), 2);
  EXPECT_TRUE(ams_.waitForPeerClosed(2, milliseconds(800)));
}

// ams is slow (300 ms) but iad slower still (1 s): ams answers first, the hedge loses and is
// cancelled, its connection closed.
TEST_F(HedgeTest, FirstAttemptAnsweringFirstCancelsTheHedge) {
  ASSERT_TRUE(start("{ hedge: { after: 50ms } }"));
  HttpResponse r = get("x-slow-ams: 300\r\nx-slow-iad: 1000\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ams");
  ASSERT_TRUE(iad_.waitForRequests(1, kWait));
  EXPECT_EQ(iad_.request(0).header("meridian-hedge"), "1");
  EXPECT_TRUE(iad_.waitForPeerClosed(1, milliseconds(600)));
  EXPECT_EQ(hedges("lost"), 1);
  EXPECT_EQ(hedges("won"), 0);
}

// A POST without an Idempotency-Key is not replayable, so it is never hedged: it waits for ams.
TEST_F(HedgeTest, PostWithoutIdempotencyKeyIsNeverHedged) {
  ASSERT_TRUE(start("{ hedge: { after: 50ms } }"));
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(
      c.send("POST /x HTTP/1.1\r\nHost: app\r\nx-slow-ams: 400\r\nContent-Length: 4\r\n\r\nbody"));
  HttpResponse r;
  ASSERT_TRUE(c.readResponse(r, kWait));
  EXPECT_EQ(r.body, "ams");
  EXPECT_EQ(iad_.requestCount(), 0u);
  EXPECT_EQ(hedges("won") + hedges("lost") + hedges("budget"), 0);
}

// A PUT's body goes again, whole, with the hedge.
TEST_F(HedgeTest, HedgeCarriesTheWholeBody) {
  ASSERT_TRUE(start("{ hedge: { after: 50ms } }"));
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(c.send(
      "PUT /x HTTP/1.1\r\nHost: app\r\nx-slow-ams: 1000\r\nContent-Length: 8\r\n\r\nthe body"));
  HttpResponse r;
  ASSERT_TRUE(c.readResponse(r, kWait));
  EXPECT_EQ(r.body, "iad");
  ASSERT_EQ(iad_.requestCount(), 1u);
  EXPECT_EQ(iad_.request(0).body, "the body");
}

// The first attempt fails (reset) while the hedge still runs: the hedge answers, the client
// never sees the failure. The hedge failing while the first attempt runs is no failure either.
TEST_F(HedgeTest, EitherAttemptFailingLeavesTheOtherToAnswer) {
  ASSERT_TRUE(start("{ hedge: { after: 50ms } }"));
  HttpResponse r = get("x-reset-ams: 1\r\nx-slow-iad: 300\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "iad");
  EXPECT_EQ(sin_.requestCount(), 0u);  // no replay: the hedge was already there
  EXPECT_EQ(hedges("won"), 1);

  r = get("x-slow-ams: 300\r\nx-reset-iad: 1\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ams");
  EXPECT_EQ(hedges("lost"), 1);
}

// The first attempt and the hedge both pass their per-try timeouts (each its own, from when it
// was sent): the request is replayed to the region after both, as a timeout would be.
TEST_F(HedgeTest, BothTimingOutReplaysToTheNextRegion) {
  ASSERT_TRUE(start("{ hedge: { after: 50ms } }\n    timeouts: { per_try: 300ms, request: 5s }"));
  HttpResponse r = get("x-slow-ams: 3000\r\nx-slow-iad: 3000\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "sin");
  ASSERT_EQ(sin_.requestCount(), 1u);
  EXPECT_EQ(sin_.request(0).header("meridian-attempt"), "3");
  EXPECT_FALSE(sin_.request(0).hasHeader("meridian-hedge"));
  EXPECT_EQ(hedges("lost"), 1);  // the replay's head came first
}

// Every attempt fails and no replay is left (max_attempts 2): the client gets the failure, and
// the hedge is counted cancelled.
TEST_F(HedgeTest, AllAttemptsFailingFailsTheRequest) {
  ASSERT_TRUE(start("{ max_attempts: 2, hedge: { after: 50ms } }"));
  HttpResponse r = get("x-reset-ams: 1\r\nx-reset-iad: 1\r\n");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.header("meridian-error"), "upstream_reset");
  EXPECT_EQ(sin_.requestCount(), 0u);
  EXPECT_EQ(hedges("cancelled"), 1);
}

// Both stall: the hedges hold their budget slots while they wait. With a 1% budget only the
// 3 replays always allowed in flight (replay::Budget::kMinConcurrency) are hedged; the other
// requests are due a hedge too, refused and counted `budget`, and answered by ams.
TEST_F(HedgeTest, BudgetCapsHedges) {
  ASSERT_TRUE(start("{ budget: 1%, hedge: { after: 50ms } }"));
  constexpr int kRequests = 10;
  std::vector<std::unique_ptr<TcpClient>> clients;
  for (int i = 0; i < kRequests; ++i) {
    clients.push_back(std::make_unique<TcpClient>());
    ASSERT_TRUE(clients.back()->connect(port()));
    ASSERT_TRUE(clients.back()->send(
        "GET /x HTTP/1.1\r\nHost: app\r\nx-slow-ams: 1000\r\nx-slow-iad: 700\r\n\r\n"));
  }
  int from_iad = 0;
  for (auto& c : clients) {
    HttpResponse r;
    ASSERT_TRUE(c->readResponse(r, kWait));
    EXPECT_EQ(r.status, 200);
    from_iad += r.body == "iad";
  }
  EXPECT_EQ(from_iad, 3);
  EXPECT_EQ(iad_.requestCount(), 3u);
  EXPECT_EQ(hedges("won"), 3);
  EXPECT_EQ(hedges("budget"), kRequests - 3);
}

// `max: 2`: a second hedge, to the region after, once the first has waited as long too.
TEST_F(HedgeTest, SecondHedgeGoesToTheThirdRegion) {
  ASSERT_TRUE(start("{ hedge: { after: 50ms, max: 2 } }"));
  HttpResponse r = get("x-slow-ams: 1000\r\nx-slow-iad: 1000\r\n");
  EXPECT_EQ(r.body, "sin");
  ASSERT_EQ(sin_.requestCount(), 1u);
  EXPECT_EQ(sin_.request(0).header("meridian-attempt"), "3");
  EXPECT_EQ(sin_.request(0).header("meridian-hedge"), "1");
  EXPECT_TRUE(ams_.waitForPeerClosed(1, milliseconds(800)));
  EXPECT_TRUE(iad_.waitForPeerClosed(1, milliseconds(800)));
  EXPECT_EQ(hedges("won"), 1);
  EXPECT_EQ(hedges("lost"), 1);
}

// `after: p95`: no hedge until the route has enough measured answers; then one after about its
// 95th percentile (here a few milliseconds).
TEST_F(HedgeTest, PercentileWaitsForSamplesThenHedges) {
  ASSERT_TRUE(start("{ hedge: { after: p95 } }"));
  HttpResponse r = get("x-slow-ams: 300\r\n");
  EXPECT_EQ(r.body, "ams");  // no samples yet: no hedge
  EXPECT_EQ(iad_.requestCount(), 0u);
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(c.send("GET /x HTTP/1.1\r\nHost: app\r\n\r\n"));
    HttpResponse quick;
    ASSERT_TRUE(c.readResponse(quick, kWait));
  }
  milliseconds took{};
  r = get("x-slow-ams: 1000\r\n", &took);
  EXPECT_EQ(r.body, "iad");
  EXPECT_LT(took, milliseconds(800));
  EXPECT_EQ(hedges("won"), 1);
}

// The client going away (a reset) mid-hedge cancels both attempts.
TEST_F(HedgeTest, ClientGoneCancelsEveryAttempt) {
  ASSERT_TRUE(start("{ hedge: { after: 50ms } }"));
  {
    TcpClient c;
    ASSERT_TRUE(c.connect(port()));
    ASSERT_TRUE(
        c.send("GET /x HTTP/1.1\r\nHost: app\r\nx-slow-ams: 2000\r\nx-slow-iad: 2000\r\n\r\n"));
    ASSERT_TRUE(iad_.waitForRequests(1, kWait));
    c.reset();  // a FIN alone would be a half-close: the answer would still be awaited
  }
  EXPECT_TRUE(ams_.waitForPeerClosed(1, milliseconds(1500)));
  EXPECT_TRUE(iad_.waitForPeerClosed(1, milliseconds(1500)));
  EXPECT_EQ(hedges("cancelled"), 1);  // counted before the connections were closed
}

// HTTP/2 clients go through the same exchange: they are hedged too.
TEST_F(HedgeTest, Http2ClientIsHedged) {
  ASSERT_TRUE(start("{ hedge: { after: 50ms } }"));
  auto r = curl({"--http2-prior-knowledge", "-s", "-H", "x-slow-ams: 1000",
                 "http://127.0.0.1:" + std::to_string(port()) + "/x"});
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_EQ(r.out, "iad");
  ASSERT_EQ(iad_.requestCount(), 1u);
  EXPECT_EQ(iad_.request(0).header("meridian-hedge"), "1");
  EXPECT_EQ(hedges("won"), 1);
}

// `meridian validate` refuses bad hedges, each at its value; /config shows a good one.
TEST_F(HedgeTest, ValidateRefusesBadValuesAndConfigShowsTheHedge) {
  fakes::TempDir dir;
  dir.write("bad.yaml",
            yaml("{ hedge: { after: 2s, max: 4 } }", "    timeouts: { per_try: 1s }\n"));
  auto r = fakes::runCommand({fakes::meridianBinary(), "validate", "-c", dir.path() + "/bad.yaml"},
                             kWait);
  EXPECT_EQ(r.exitCode, 1) << r.describe();
  EXPECT_NE(r.out.find("routes[0].replay.hedge.after: 2000ms must be below timeouts.per_try "
                       "(1000ms)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("routes[0].replay.hedge.max: must be from 1 to 3, got 4"), std::string::npos)
      << r.out;
  dir.write("p.yaml", yaml("{ hedge: { after: p100 } }"));
  r = fakes::runCommand({fakes::meridianBinary(), "validate", "-c", dir.path() + "/p.yaml"}, kWait);
  EXPECT_EQ(r.exitCode, 1) << r.describe();
  EXPECT_NE(r.out.find("hedge.after: expected a duration (50ms) or a percentile"),
            std::string::npos)
      << r.out;

  ASSERT_TRUE(start("{ hedge: { after: p95, max: 2 } }"));
  auto c = curl({proxy_.adminUrl("/config")});
  size_t hedge = c.out.find("\"hedge\": {");
  ASSERT_NE(hedge, std::string::npos) << c.out;
  EXPECT_NE(c.out.find("\"after\": \"p95\",", hedge), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("\"max\": 2", hedge), std::string::npos) << c.out;
}

}  // namespace
}  // namespace meridian::integration
