// Region faults that need no network namespace, end to end through the real binary: a region
// black-holed (connects hang: fakes::SilentPort, whose accept queue is full so SYNs are
// dropped), a connect burst against such an overflowing accept queue, a region that takes
// requests and stalls, one that flaps between refusing and answering, and a gray failure
// (no failing health check, half its requests 503). Replayable requests (GETs, POSTs with an
// Idempotency-Key) must all succeed, each within a bound set by the route's timeouts.
// Regions ams, iad, sin; the listener's region ams orders clients with no location first.
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "tests/fakes/dead_ports.h"
#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Connect 150ms, per try 300ms: the bounds each fault may cost.
constexpr auto kConnectTimeout = 150ms;
constexpr auto kPerTry = 300ms;

class RegionFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    iad_.setHandler([](const fakes::ReceivedRequest&) { return Action::respond(200, {}, "iad"); });
    sin_.setHandler([](const fakes::ReceivedRequest&) { return Action::respond(200, {}, "sin"); });
  }

  ::testing::AssertionResult start(const std::string& ams_address) {
    std::string y =
        "workers: 1\naccess_log: \"off\"\n"
        "listeners:\n  - { name: public, address: 127.0.0.1:0, region: ams }\n"
        "admin: { address: 127.0.0.1:0 }\n"
        "regions:\n"
        "  - { name: ams, lat: 52.37, lon: 4.90 }\n"
        "  - { name: iad, lat: 38.95, lon: -77.45 }\n"
        "  - { name: sin, lat: 1.35, lon: 103.82 }\n"
        "clusters:\n  - name: web\n    endpoints:\n"
        "      - { address: " + ams_address + ", region: ams }\n"
        "      - { address: " + iad_.address() + ", region: iad }\n"
        "      - { address: " + sin_.address() + ", region: sin }\n"
        "routes:\n  - name: app\n    match: { path_prefix: / }\n"
        "    backends: [ { cluster: web, weight: 1 } ]\n"
        "    timeouts: { connect: 150ms, per_try: 300ms, request: 3s, idle: 1s }\n"
        "    replay: { backoff: { base: 1ms, max: 5ms } }\n";
    return proxy_.start(y);
  }

  struct Result {
    int status = 0;
    std::string body;
    Clock::duration took{};
  };
  // A GET, or (post) a POST with an Idempotency-Key and a body, on a fresh connection.
  Result request(bool post, int n) {
    Result out;
    auto started = Clock::now();
    TcpClient c;
    if (!c.connect(proxy_.listenerPort("public"), 3000ms)) return out;
    std::string req = post ? "POST /orders HTTP/1.1\r\nHost: app\r\nIdempotency-Key: k-" +
                                 std::to_string(::getpid()) + "-" + std::to_string(n) +
                                 "\r\nContent-Length: 5\r\n\r\nhello"
                           : "GET /x HTTP/1.1\r\nHost: app\r\n\r\n";
    if (!c.send(req)) return out;
    HttpResponse r;
    if (!c.readResponse(r, kWait)) return out;
    out.status = r.status;
    out.body = r.body;
    out.took = Clock::now() - started;
    return out;
  }

  // `n` requests, alternating GET and POST with a key: every one 200, each within `bound`.
  void expectAllServed(int n, Clock::duration bound, int first = 0) {
    for (int i = first; i < first + n; ++i) {
      Result r = request(i % 2 == 1, i);
      EXPECT_EQ(r.status, 200) << "request " << i;
      EXPECT_LE(r.took, bound) << "request " << i << " took "
                               << std::chrono::duration_cast<milliseconds>(r.took).count()
                               << " ms";
    }
  }

  FakeUpstream iad_, sin_;
  MeridianProcess proxy_;
};

// Black-holed: each connect to ams hangs until the connect timeout, then iad answers. Passive
// health ejects ams after a few, so later requests do not even wait.
TEST_F(RegionFaultsTest, BlackHoledRegionCostsAtMostOneConnectTimeout) {
  fakes::SilentPort ams;
  ASSERT_TRUE(ams.open());
  ASSERT_TRUE(start(ams.address()));
  expectAllServed(12, kConnectTimeout + 500ms);
  EXPECT_EQ(iad_.requestCount(), 12u);
}

// A burst of 16 clients at once while ams's accept queue overflows: none sees an error.
TEST_F(RegionFaultsTest, ConnectBurstAgainstAnOverflowingAcceptQueue) {
  fakes::SilentPort ams;
  ASSERT_TRUE(ams.open());
  ASSERT_TRUE(start(ams.address()));
  constexpr int kClients = 16;
  std::vector<Result> results(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i)
    threads.emplace_back([&, i] { results[static_cast<size_t>(i)] = request(i % 2 == 1, 100 + i); });
  for (auto& t : threads) t.join();
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(results[static_cast<size_t>(i)].status, 200) << "client " << i;
    EXPECT_LE(results[static_cast<size_t>(i)].took, kConnectTimeout + 1s) << "client " << i;
  }
}

// ams accepts, reads the request and stalls without answering: one per-try timeout, then iad
// answers. (A stall after a whole head has reached the client cannot be replayed; the
// exchange tests cover what passive health hears then.)
TEST_F(RegionFaultsTest, StalledRegionCostsOnePerTryTimeout) {
  FakeUpstream ams;
  ams.setHandler([](const fakes::ReceivedRequest&) { return Action::hang(); });
  ASSERT_TRUE(start(ams.address()));
  for (int i = 0; i < 4; ++i) {
    Result r = request(i % 2 == 1, 200 + i);
    EXPECT_EQ(r.status, 200) << "request " << i;
    EXPECT_EQ(r.body, "iad") << "request " << i;
    EXPECT_GE(r.took, kPerTry) << "request " << i;  // it did wait for ams
    EXPECT_LE(r.took, kPerTry + 500ms) << "request " << i;
  }
}

// ams flaps: refusing, then answering, then refusing again, between requests. No client sees
// it, and when ams is up it serves.
TEST_F(RegionFaultsTest, FlappingRegionIsInvisibleToClients) {
  FakeUpstream ams;
  ams.setHandler([](const fakes::ReceivedRequest&) { return Action::respond(200, {}, "ams"); });
  ASSERT_TRUE(start(ams.address()));
  int n = 300;
  for (int flap = 0; flap < 4; ++flap) {
    ams.refuse();
    expectAllServed(3, 500ms, n);
    n += 3;
    ASSERT_TRUE(ams.reopen());
    expectAllServed(3, 500ms, n);
    n += 3;
  }
  EXPECT_GT(ams.requestCount(), 0u);
}

// Gray failure: nothing marks ams unhealthy, yet every other request there is a 503. Each
// such 503 is replayed to iad.
TEST_F(RegionFaultsTest, GrayFailureIsReplayedAway) {
  FakeUpstream ams;
  auto n = std::make_shared<std::atomic<int>>(0);
  ams.setHandler([n](const fakes::ReceivedRequest&) {
    return (n->fetch_add(1) % 2 == 0) ? Action::respond(503, {}, "busy")
                                      : Action::respond(200, {}, "ams");
  });
  ASSERT_TRUE(start(ams.address()));
  expectAllServed(20, 500ms, 400);
  EXPECT_GT(iad_.requestCount(), 0u);
}

}  // namespace
}  // namespace meridian::integration
