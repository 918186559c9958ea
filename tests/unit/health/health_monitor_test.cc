// HealthMonitor on a real EventLoop against in-test HTTP servers: active checks (request
// shape, thresholds, refused, timeout), passive ejection and its end, reloads, teardown.
// Every wait is bounded: the loop runs until the expected state shows or a deadline passes.
#include "health/health_monitor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "health/http_check.h"
#include "tests/fakes/fake_upstream.h"

namespace meridian::health {
namespace {

using fakes::Action;
using fakes::FakeUpstream;
using fakes::ReceivedRequest;
using std::chrono::milliseconds;

constexpr milliseconds kDeadline{5000};

config::HealthCheck fastCheck() {
  config::HealthCheck hc;
  hc.interval = milliseconds(30);
  hc.unhealthy_interval = milliseconds(20);
  hc.timeout = milliseconds(500);
  hc.healthy_threshold = 2;
  hc.unhealthy_threshold = 2;
  return hc;
}

config::Endpoint endpointAt(uint16_t port, const std::string& host = "127.0.0.1") {
  config::Endpoint ep;
  ep.address = {host, port};
  ep.region = "ams";
  return ep;
}

config::Cluster cluster(const std::string& name, const std::vector<uint16_t>& ports) {
  config::Cluster c;
  c.name = name;
  for (uint16_t p : ports) c.endpoints.push_back(endpointAt(p));
  return c;
}

std::shared_ptr<const config::Config> configOf(std::vector<config::Cluster> clusters) {
  auto cfg = std::make_shared<config::Config>();
  cfg->clusters = std::move(clusters);
  return cfg;
}

class HealthMonitorTest : public ::testing::Test {
 protected:
  // Runs the loop until `done` holds (looked at every few ms) or `limit` passes.
  bool runUntil(const std::function<bool()>& done, milliseconds limit = kDeadline) {
    if (done()) return true;
    bool met = false;
    bool stopping = false;
    core::Timer poll(loop_, [&] {
      if (stopping) return;
      if (!done()) {
        poll.arm(milliseconds(2));
        return;
      }
      met = stopping = true;
      loop_.stop();
    });
    core::Timer deadline(loop_, [&] {
      if (stopping) return;
      stopping = true;
      loop_.stop();
    });
    poll.arm(milliseconds(1));
    deadline.arm(limit);
    loop_.run();
    return met;
  }

  EndpointHealth at(size_t c, size_t e) { return monitor_.current()->at(c, e); }
  bool healthy(size_t c, size_t e) { return monitor_.current()->healthy(c, e); }

  core::EventLoop loop_;
  std::vector<std::shared_ptr<const HealthSnapshot>> published_;
  HealthMonitor monitor_{loop_, [this](std::shared_ptr<const HealthSnapshot> s) {
                           published_.push_back(std::move(s));
                         }};
};

TEST_F(HealthMonitorTest, HealthyEndpointComesUpStaysUpAndSeesAProperRequest) {
  FakeUpstream up;
  config::Cluster c = cluster("web", {up.port()});
  c.health_check = fastCheck();
  c.health_check->assume_healthy = false;  // out until the first pass, then in at once
  monitor_.apply(configOf({c}));
  ASSERT_EQ(published_.size(), 1u);
  EXPECT_FALSE(published_[0]->healthy(0, 0));
  EXPECT_EQ(published_[0]->at(0, 0).reason, "not checked yet");

  ASSERT_TRUE(runUntil([&] { return healthy(0, 0); }));
  ASSERT_TRUE(runUntil([&] { return up.requestCount() >= 4; }));
  // Passing checks publish nothing: the apply and the one transition only.
  ASSERT_EQ(published_.size(), 2u);
  EXPECT_EQ(published_[1]->generation(), published_[0]->generation() + 1);
  EXPECT_TRUE(healthy(0, 0));
  EXPECT_EQ(at(0, 0).reason, "check passed");

  std::set<uint64_t> connections;
  for (const ReceivedRequest& r : up.requests()) {
    EXPECT_EQ(r.requestLine, "GET /healthz HTTP/1.1");
    EXPECT_EQ(r.header("Host"), up.address());
    EXPECT_EQ(r.header("User-Agent"), "meridian-health");
    EXPECT_EQ(r.header("Connection"), "close");
    connections.insert(r.connectionId);
  }
  EXPECT_EQ(connections.size(), up.requests().size());  // a connection per check
}

TEST_F(HealthMonitorTest, FailingEndpointFallsAfterThresholdAndRisesAfterThreshold) {
  FakeUpstream up;
  std::atomic<int> status{503};
  std::atomic<int> answered503{0}, answered200{0};
  up.setHandler([&](const ReceivedRequest&) {
    int s = status.load();
    ++(s == 200 ? answered200 : answered503);
    return Action::respond(s);
  });
  config::Cluster c = cluster("web", {up.port()});
  c.health_check = fastCheck();
  c.health_check->unhealthy_threshold = 2;
  c.health_check->healthy_threshold = 3;
  monitor_.apply(configOf({c}));
  EXPECT_TRUE(healthy(0, 0));  // assumed

  ASSERT_TRUE(runUntil([&] { return !healthy(0, 0); }));
  EXPECT_GE(answered503.load(), 2);
  EXPECT_FALSE(at(0, 0).active_healthy);
  EXPECT_EQ(at(0, 0).reason, "check failed: status 503");

  status = 200;
  ASSERT_TRUE(runUntil([&] { return healthy(0, 0); }));
  EXPECT_GE(answered200.load(), 3);
  EXPECT_EQ(at(0, 0).reason, "check passed");
  ASSERT_EQ(published_.size(), 3u);  // apply, down, up: not one per check
  EXPECT_FALSE(published_[1]->healthy(0, 0));
  EXPECT_EQ(published_[2]->generation(), published_[0]->generation() + 2);
  EXPECT_GT(published_[2]->at(0, 0).since, published_[1]->at(0, 0).since);
}

TEST_F(HealthMonitorTest, RefusedConnectMakesItUnhealthy) {
  FakeUpstream up;
  up.refuse();
  config::Cluster c = cluster("web", {up.port()});
  c.health_check = fastCheck();
  c.health_check->unhealthy_threshold = 1;
  monitor_.apply(configOf({c}));
  ASSERT_TRUE(runUntil([&] { return !healthy(0, 0); }));
  EXPECT_NE(at(0, 0).reason.find("refused"), std::string::npos) << at(0, 0).reason;
}

TEST_F(HealthMonitorTest, HangingEndpointTimesOut) {
  FakeUpstream up;
  up.setHandler([](const ReceivedRequest&) { return Action::hang(); });
  config::Cluster c = cluster("web", {up.port()});
  c.health_check = fastCheck();
  c.health_check->timeout = milliseconds(50);
  c.health_check->unhealthy_threshold = 1;
  int64_t started = core::monotonicMillis();
  monitor_.apply(configOf({c}));
  ASSERT_TRUE(runUntil([&] { return !healthy(0, 0); }));
  EXPECT_GE(core::monotonicMillis() - started, 50);
  EXPECT_EQ(at(0, 0).reason, "check failed: timeout");
}

// The lab's stalled region: heads arrive, bodies do not. A check that passed on the status line
// kept such a region healthy while every real request through it timed out.
TEST_F(HealthMonitorTest, ACheckWhoseBodyStallsFails) {
  FakeUpstream up;
  up.setHandler([](const ReceivedRequest&) {
    return Action::raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nok");  // 98 never come
  });
  config::Cluster c = cluster("web", {up.port()});
  c.health_check = fastCheck();
  c.health_check->timeout = milliseconds(50);
  c.health_check->unhealthy_threshold = 1;
  monitor_.apply(configOf({c}));
  ASSERT_TRUE(runUntil([&] { return !healthy(0, 0); }));
  // The fake closes after its bytes since the check asked for Connection: close; either way
  // the body never came whole.
  const std::string& why = at(0, 0).reason;
  EXPECT_TRUE(why == "check failed: timeout" ||
              why == "check failed: closed before the whole response")
      << why;
}

TEST_F(HealthMonitorTest, ABodyCutShortFailsAWholeOnePasses) {
  FakeUpstream cut, whole, unsized;
  cut.setHandler([](const ReceivedRequest&) {
    return Action::raw("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nok");
  });
  whole.setHandler([](const ReceivedRequest&) { return Action::respond(200, {}, "ok\n"); });
  unsized.setHandler([](const ReceivedRequest&) {
    return Action::raw("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nok, until the close");
  });
  config::Cluster c = cluster("web", {cut.port(), whole.port(), unsized.port()});
  c.health_check = fastCheck();
  c.health_check->unhealthy_threshold = 1;
  monitor_.apply(configOf({c}));
  ASSERT_TRUE(runUntil([&] { return !healthy(0, 0); }));
  EXPECT_EQ(at(0, 0).reason, "check failed: closed before the whole response");
  ASSERT_TRUE(runUntil([&] { return whole.requestCount() >= 3 && unsized.requestCount() >= 3; }));
  EXPECT_TRUE(healthy(0, 1));
  EXPECT_TRUE(healthy(0, 2));
}

TEST_F(HealthMonitorTest, UnresolvableEndpointIsUnhealthyWithTheReason) {
  config::Cluster c;
  c.name = "web";
  c.endpoints.push_back(endpointAt(80, "no-such-host.invalid"));
  monitor_.apply(configOf({c}));
  EXPECT_FALSE(healthy(0, 0));
  EXPECT_NE(at(0, 0).reason.find("cannot resolve"), std::string::npos) << at(0, 0).reason;
}

TEST_F(HealthMonitorTest, PassiveReportsEjectAndTheEjectionEnds) {
  // No health_check: nothing connects, so these ports need no listener.
  config::Cluster api = cluster("api", {1, 2});
  api.outlier = config::Outlier{};
  api.outlier->consecutive_failures = 3;
  api.outlier->ejection = milliseconds(60);
  api.outlier->max_ejection = milliseconds(1000);
  config::Cluster plain = cluster("plain", {3, 4});
  monitor_.apply(configOf({api, plain}));
  size_t before = published_.size();

  monitor_.report("api", "127.0.0.1:1", Outcome::ConnectFailure);
  monitor_.report("api", "127.0.0.1:1", Outcome::Status5xx);
  monitor_.report("api", "127.0.0.1:1", Outcome::Success);  // starts the count over
  for (int i = 0; i < 5; ++i) monitor_.report("plain", "127.0.0.1:3", Outcome::Reset);
  monitor_.report("nope", "127.0.0.1:1", Outcome::Reset);
  EXPECT_EQ(published_.size(), before);

  // Read before the ejection: read after it, time spent in between would shorten the wait seen.
  int64_t ejected_at = core::monotonicMillis();
  for (int i = 0; i < 3; ++i) monitor_.report("api", "127.0.0.1:1", Outcome::Timeout);
  ASSERT_EQ(published_.size(), before + 1);  // published at once, not at the next check
  EndpointHealth h = at(0, 0);
  EXPECT_FALSE(h.healthy);
  EXPECT_TRUE(h.ejected);
  EXPECT_EQ(h.ejections, 1);
  EXPECT_EQ(h.reason, "ejected for 60ms: 3 consecutive failures (last: timeout)");
  EXPECT_TRUE(healthy(0, 1));
  EXPECT_TRUE(healthy(1, 0));

  ASSERT_TRUE(runUntil([&] { return healthy(0, 0); }));
  EXPECT_GE(core::monotonicMillis() - ejected_at, 59);
  EXPECT_EQ(at(0, 0).reason, "ejection ended");

  // The second ejection lasts twice as long.
  ejected_at = core::monotonicMillis();
  for (int i = 0; i < 3; ++i) monitor_.report("api", "127.0.0.1:1", Outcome::Reset);
  EXPECT_EQ(at(0, 0).ejections, 2);
  ASSERT_TRUE(runUntil([&] { return healthy(0, 0); }));
  EXPECT_GE(core::monotonicMillis() - ejected_at, 119);
}

TEST_F(HealthMonitorTest, ApplyKeepsSurvivorsStartsNewOnesAndStopsRemovedOnes) {
  FakeUpstream failing, removed, added;
  failing.setHandler([](const ReceivedRequest&) { return Action::respond(503); });
  config::HealthCheck hc = fastCheck();
  hc.unhealthy_threshold = 1;
  config::Cluster c = cluster("web", {failing.port(), removed.port()});
  c.health_check = hc;
  monitor_.apply(configOf({c}));
  ASSERT_TRUE(runUntil([&] { return !healthy(0, 0) && removed.requestCount() >= 1; }));

  config::Cluster c2 = cluster("web", {added.port(), failing.port()});
  c2.health_check = hc;
  size_t published_before = published_.size();
  monitor_.apply(configOf({cluster("other", {9}), c2}));
  ASSERT_EQ(published_.size(), published_before + 1);  // indexed for the new config at once
  EXPECT_EQ(monitor_.current()->clusterCount(), 2u);
  EXPECT_TRUE(healthy(1, 0));
  EXPECT_EQ(at(1, 0).reason, "assumed");
  EXPECT_FALSE(healthy(1, 1));  // the survivor kept its state
  EXPECT_EQ(at(1, 1).reason, "check failed: status 503");

  size_t removed_seen = removed.requestCount();
  size_t failing_seen = failing.requestCount();
  ASSERT_TRUE(runUntil(
      [&] { return added.requestCount() >= 3 && failing.requestCount() >= failing_seen + 3; }));
  EXPECT_LE(removed.requestCount(), removed_seen + 1);  // at most the check in flight
}

TEST_F(HealthMonitorTest, DestroyedMonitorCallsNothingBack) {
  FakeUpstream up;
  up.setHandler([](const ReceivedRequest&) { return Action::hang(); });
  int calls = 0;
  auto monitor = std::make_unique<HealthMonitor>(
      loop_, [&](std::shared_ptr<const HealthSnapshot>) { ++calls; });
  config::Cluster c = cluster("web", {up.port()});
  c.health_check = fastCheck();
  c.health_check->timeout = milliseconds(40);
  c.health_check->unhealthy_threshold = 1;
  c.outlier = config::Outlier{};
  c.outlier->consecutive_failures = 1;
  c.outlier->ejection = milliseconds(20);
  c.outlier->max_ejection_percent = 100;
  monitor->apply(configOf({c}));
  monitor->report("web", up.address(), Outcome::Reset);  // an ejection timer is armed too
  ASSERT_TRUE(runUntil([&] { return up.requestCount() >= 1; }));
  int calls_before = calls;
  monitor.reset();  // a check hangs in flight, timers are armed
  runUntil([] { return false; }, milliseconds(150));
  EXPECT_EQ(calls, calls_before);
}

struct StatusLineCase {
  const char* line;
  int status;
};

TEST(ParseStatusLine, AcceptsHttp1StatusLinesOnly) {
  const StatusLineCase cases[] = {
      {"HTTP/1.1 200 OK", 200},
      {"HTTP/1.0 204", 204},
      {"HTTP/1.1 503 Service Unavailable", 503},
      {"HTTP/1.1 200 ", 200},
      {"HTTP/2 200 OK", -1},
      {"HTTP/1.1 20 OK", -1},
      {"HTTP/1.1 2000 OK", -1},
      {"HTTP/1.1 abc OK", -1},
      {"HTTP/1.1 099 OK", -1},
      {"http/1.1 200 OK", -1},
      {"SSH-2.0-OpenSSH_9.2", -1},
      {"", -1},
  };
  for (const StatusLineCase& tc : cases) {
    EXPECT_EQ(parseStatusLine(tc.line), tc.status) << tc.line;
  }
}

}  // namespace
}  // namespace meridian::health
