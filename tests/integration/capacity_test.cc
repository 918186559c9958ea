// Capacity limits and latency order end to end, through the real binary with a FakeUpstream
// in each of three regions (ams, iad, sin; the listener's region ams orders clients with no
// location, so ams is "nearest", then iad, then sin):
//   - load past ams's soft limit spills the excess to iad and comes back when the load drops,
//     with no error;
//   - at every hard limit a request waits for a slot: it is served when one frees, or gets
//     503 at_capacity at the route's request deadline (at once when the wait queue is full);
//   - with routing.order: latency, ams turning 200 ms slower loses its traffic to iad, and wins
//     it back once it recovers.
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

class CapacityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // ams: /hold answers after hold_ms_, everything else after ams_delay_ms_.
    ams_.setHandler([this](const fakes::ReceivedRequest& r) {
      int ms = r.target.rfind("/hold", 0) == 0 ? hold_ms_.load() : ams_delay_ms_.load();
      return Action::respond(200, {}, "ams").withDelay(milliseconds(ms));
    });
    for (auto* up : {&iad_, &sin_}) {
      std::string name = up == &iad_ ? "iad" : "sin";
      up->setHandler([this, name](const fakes::ReceivedRequest& r) {
        int ms = r.target.rfind("/hold", 0) == 0 ? hold_ms_.load() : 0;
        return Action::respond(200, {}, name).withDelay(milliseconds(ms));
      });
    }
  }

  // `cluster_extra`: more keys of the cluster; `top_extra`: more top-level keys.
  ::testing::AssertionResult start(const std::string& cluster_extra,
                                   const std::string& app_timeouts = "{ request: 10s }",
                                   const std::string& top_extra = "") {
    std::string y = "workers: 2\naccess_log: \"off\"\n" + top_extra +
                    "listeners:\n  - { name: public, address: 127.0.0.1:0, region: ams }\n"
                    "admin: { address: 127.0.0.1:0 }\n"
                    "regions:\n"
                    "  - { name: ams, lat: 52.37, lon: 4.90 }\n"
                    "  - { name: iad, lat: 38.95, lon: -77.45, drain: " +
                    std::string(drain_iad_ ? "true" : "false") +
                    " }\n"
                    "  - { name: sin, lat: 1.35, lon: 103.82 }\n"
                    "clusters:\n  - name: web\n    endpoints:\n"
                    "      - { address: " +
                    ams_.address() +
                    ", region: ams }\n"
                    "      - { address: " +
                    iad_.address() +
                    ", region: iad }\n"
                    "      - { address: " +
                    sin_.address() + ", region: sin }\n" + cluster_extra +
                    "routes:\n"
                    "  - name: hold\n    match: { path_prefix: /hold }\n"
                    "    backends: [ { cluster: web, weight: 1 } ]\n"
                    "    timeouts: { request: 20s }\n"
                    "  - name: app\n    match: { path_prefix: / }\n"
                    "    backends: [ { cluster: web, weight: 1 } ]\n"
                    "    timeouts: " +
                    app_timeouts + "\n";
    return proxy_.start(y);
  }

  struct Result {
    int status = 0;
    std::string body;
    std::string error;  // meridian-error
    Clock::duration took{};
  };
  Result get(const std::string& path, const std::string& extra_headers = "") {
    Result out;
    auto started = Clock::now();
    TcpClient c;
    if (!c.connect(proxy_.listenerPort("public"), 3000ms)) return out;
    if (!c.send("GET " + path + " HTTP/1.1\r\nHost: app\r\nConnection: close\r\n" + extra_headers +
                "\r\n"))
      return out;
    HttpResponse r;
    if (!c.readResponse(r, 20000ms)) return out;
    out.status = r.status;
    out.body = r.body;
    out.error = std::string(r.header("meridian-error"));
    out.took = Clock::now() - started;
    return out;
  }

  // `n` GETs of `path` at once, one thread each.
  std::vector<Result> concurrently(int n, const std::string& path) {
    std::vector<Result> results(static_cast<size_t>(n));
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i)
      threads.emplace_back([&, i] { results[static_cast<size_t>(i)] = get(path); });
    for (auto& t : threads) t.join();
    return results;
  }

  // `n` requests to /hold sent at once, held by the upstreams for hold_ms_: started by the
  // constructor, which returns once all n are in flight; join() waits for their answers.
  class Holders {
   public:
    Holders(CapacityTest& t, int n) : t_(t) {
      thread_ = std::thread([this, n] { results_ = t_.concurrently(n, "/hold"); });
      in_flight_ = t_.waitInFlight(n);
    }
    ~Holders() {
      if (thread_.joinable()) thread_.join();
    }
    bool inFlight() const { return in_flight_; }
    const std::vector<Result>& join() {
      thread_.join();
      return results_;
    }

   private:
    CapacityTest& t_;
    std::thread thread_;
    std::vector<Result> results_;
    bool in_flight_ = false;
  };

  long long metric(const std::string& series) {
    auto r = curl({proxy_.adminUrl("/metrics")});
    size_t at = r.out.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stoll(r.out.substr(at + series.size() + 2));
  }

  long long inFlight(FakeUpstream& up, const std::string& region) {
    return metric("meridian_upstream_in_flight{cluster=\"web\",region=\"" + region +
                  "\",endpoint=\"" + up.address() + "\"}");
  }

  // Waits (bounded) until the endpoints hold `n` requests in flight in total.
  bool waitInFlight(long long n) {
    auto until = Clock::now() + kWait;
    while (Clock::now() < until) {
      if (inFlight(ams_, "ams") + inFlight(iad_, "iad") + inFlight(sin_, "sin") == n) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  bool drain_iad_ = false;
  std::atomic<int> ams_delay_ms_{0};
  std::atomic<int> hold_ms_{0};
  FakeUpstream ams_, iad_, sin_;
  MeridianProcess proxy_;
};

struct Share {
  int ams = 0, iad = 0, sin = 0, errors = 0;
};

Share shareOf(const std::vector<std::vector<std::string>>& bodies_by_client) {
  Share s;
  for (const auto& bodies : bodies_by_client)
    for (const auto& b : bodies) {
      if (b == "ams")
        ++s.ams;
      else if (b == "iad")
        ++s.iad;
      else if (b == "sin")
        ++s.sin;
      else
        ++s.errors;
    }
  return s;
}

// Low load, a burst past ams's soft limit of 4, low load again: the share per region in each
// phase. ams answers in 100 ms, so `clients` concurrent loops keep that many in flight.
TEST_F(CapacityTest, LoadPastTheSoftLimitSpillsAndComesBack) {
  ams_delay_ms_ = 100;
  ASSERT_TRUE(start("    limits: { soft: 4, hard: 50 }\n"));
  auto phase = [&](int clients, int each) {
    std::vector<std::vector<std::string>> bodies(static_cast<size_t>(clients));
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c)
      threads.emplace_back([&, c] {
        for (int i = 0; i < each; ++i) {
          Result r = get("/x");
          bodies[static_cast<size_t>(c)].push_back(r.status == 200 ? r.body : "error");
        }
      });
    for (auto& t : threads) t.join();
    return shareOf(bodies);
  };
  Share low = phase(2, 5);
  Share burst = phase(12, 5);
  Share after = phase(2, 5);
  std::printf("share ams/iad/sin: low %d/%d/%d, burst %d/%d/%d, after %d/%d/%d\n", low.ams, low.iad,
              low.sin, burst.ams, burst.iad, burst.sin, after.ams, after.iad, after.sin);
  EXPECT_EQ(low.errors + burst.errors + after.errors, 0);
  EXPECT_EQ(low.ams, 10);   // under the soft limit: all nearest
  EXPECT_GT(burst.iad, 0);  // the excess spilled to the next-nearest
  EXPECT_LT(burst.ams, 60);
  EXPECT_EQ(after.ams, 10);  // back home, no oscillation
  EXPECT_EQ(metric("meridian_spills_total{route=\"app\",from=\"ams\",to=\"iad\"}"), burst.iad);
  EXPECT_EQ(std::max(0LL, metric("meridian_spills_total{route=\"app\",from=\"ams\",to=\"sin\"}")),
            burst.sin);
}

// Soft alone spills but never refuses; with spill: hard the region keeps its requests up to
// its hard limit, then spills.
TEST_F(CapacityTest, SpillHardStaysHomeUntilTheHardLimit) {
  hold_ms_ = 3000;
  ASSERT_TRUE(start("    limits: { soft: 1, hard: 3 }\n    spill: hard\n"));
  Holders holders(*this, 4);
  ASSERT_TRUE(holders.inFlight());
  EXPECT_EQ(inFlight(ams_, "ams"), 3);  // past soft (1), stayed until hard (3)
  EXPECT_EQ(inFlight(iad_, "iad"), 1);
  for (const auto& r : holders.join()) EXPECT_EQ(r.status, 200);
}

// Every region at its hard limit (2 each, 6 in flight on /hold): the next request waits, and
// gets a slot as soon as one frees; no error.
TEST_F(CapacityTest, AtTheHardLimitARequestWaitsForASlot) {
  hold_ms_ = 1500;
  ASSERT_TRUE(start("    limits: { hard: 2 }\n"));
  Holders holders(*this, 6);
  ASSERT_TRUE(holders.inFlight());
  Result r = get("/x");
  EXPECT_EQ(r.status, 200);
  EXPECT_GE(r.took, 300ms);  // it waited for a holder to finish
  for (const auto& h : holders.join()) EXPECT_EQ(h.status, 200);
  EXPECT_EQ(metric("meridian_at_capacity_total{route=\"app\"}"), -1);  // none refused
}

// The same, but no slot frees before the route's request deadline (500 ms): 503 at_capacity,
// counted. With pool.max_pending: 0 no request may wait: 503 at once.
TEST_F(CapacityTest, NoSlotBeforeTheDeadlineIs503AtCapacity) {
  hold_ms_ = 4000;
  ASSERT_TRUE(start("    limits: { hard: 2 }\n", "{ request: 500ms }"));
  Holders holders(*this, 6);
  ASSERT_TRUE(holders.inFlight());
  Result r = get("/x");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.error, "at_capacity");
  EXPECT_GE(r.took, 450ms);
  EXPECT_LT(r.took, 3000ms);
  EXPECT_EQ(metric("meridian_at_capacity_total{route=\"app\"}"), 1);
  for (const auto& h : holders.join()) EXPECT_EQ(h.status, 200);
}

TEST_F(CapacityTest, AFullWaitQueueIs503AtOnce) {
  hold_ms_ = 3000;
  ASSERT_TRUE(start("    limits: { hard: 1 }\n    pool: { max_pending: 0 }\n"));
  Holders holders(*this, 3);
  ASSERT_TRUE(holders.inFlight());
  Result r = get("/x");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.error, "at_capacity");
  EXPECT_LT(r.took, 1000ms);
  holders.join();
}

// Spill never crosses a drain: with ams and sin full (hard 1 each), a request waits and gets
// 503 at_capacity rather than going to the drained iad, which is idle.
TEST_F(CapacityTest, CapacityNeverSpillsIntoADrainedRegion) {
  drain_iad_ = true;
  hold_ms_ = 3000;
  ASSERT_TRUE(start("    limits: { hard: 1 }\n", "{ request: 500ms }"));
  Holders holders(*this, 2);
  ASSERT_TRUE(holders.inFlight());
  EXPECT_EQ(inFlight(iad_, "iad"), 0);
  Result r = get("/x");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.error, "at_capacity");
  EXPECT_EQ(iad_.requestCount(), 0u);
  holders.join();
}

// A client's meridian-prefer-region keeps its request in that region past the soft limit
// (up to hard); without the header the same request spills.
TEST_F(CapacityTest, APreferredRegionIsNotSpilled) {
  hold_ms_ = 3000;
  ASSERT_TRUE(start("    limits: { soft: 1, hard: 3 }\n"));
  Holders holders(*this, 1);
  ASSERT_TRUE(holders.inFlight());
  EXPECT_EQ(get("/x", "meridian-prefer-region: ams\r\n").body, "ams");
  EXPECT_EQ(get("/x").body, "iad");
  holders.join();
}

// routing.order: latency. ams turns 200 ms slower (requests and health checks): iad, farther
// (about 60 ms of fibre from ams) but fast, takes the traffic within a few seconds; ams wins
// it back once it is fast again.
TEST_F(CapacityTest, ASlowRegionLosesItsTrafficAndWinsItBack) {
  ASSERT_TRUE(start("    health_check: { path: /healthz, interval: 100ms, timeout: 1s }\n",
                    "{ request: 10s }", "routing: { order: latency }\n"));
  // Served by `region` from some request on, within `bound`: then 10 more in a row.
  auto movesTo = [&](const std::string& region, Clock::duration bound) {
    auto until = Clock::now() + bound;
    while (Clock::now() < until) {
      if (get("/x").body == region) break;
      std::this_thread::sleep_for(20ms);
    }
    int there = 0;
    for (int i = 0; i < 10; ++i) there += get("/x").body == region ? 1 : 0;
    return there;
  };
  EXPECT_EQ(movesTo("ams", 5s), 10);
  ams_delay_ms_ = 200;
  auto slowed = Clock::now();
  EXPECT_EQ(movesTo("iad", 5s), 10);
  std::printf("moved to iad after %lld ms\n",
              static_cast<long long>(
                  std::chrono::duration_cast<milliseconds>(Clock::now() - slowed).count()));
  auto explained = curl({proxy_.adminUrl("/explain?client_ip=192.0.2.1")});
  EXPECT_NE(explained.out.find("\"why\": \"lowest latency\""), std::string::npos) << explained.out;
  EXPECT_NE(explained.out.find("\"verdict\": \"slower\""), std::string::npos) << explained.out;
  EXPECT_GT(metric("meridian_region_latency_seconds{cluster=\"web\",region=\"ams\"}"), -1);
  ams_delay_ms_ = 0;
  auto recovered = Clock::now();
  EXPECT_EQ(movesTo("ams", 10s), 10);
  std::printf("back to ams after %lld ms\n",
              static_cast<long long>(
                  std::chrono::duration_cast<milliseconds>(Clock::now() - recovered).count()));
}

}  // namespace
}  // namespace meridian::integration
