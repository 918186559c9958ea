// HealthTable: the rules behind the monitor, driven by hand with a fake clock: rise/fall
// thresholds, assume_healthy, ejection durations and the cluster-wide cap, un-ejection, and
// state kept across reloads.
#include "health/health_table.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace meridian::health {
namespace {

using std::chrono::milliseconds;

class FakeClock final : public Clock {
 public:
  int64_t monotonicMillis() const override { return now_ms; }
  std::chrono::system_clock::time_point wallNow() const override {
    return std::chrono::system_clock::time_point(milliseconds(1'000'000 + now_ms));
  }
  void advance(int64_t ms) { now_ms += ms; }
  int64_t now_ms = 5000;
};

config::Cluster makeCluster(const std::string& name, int endpoints) {
  config::Cluster c;
  c.name = name;
  for (int i = 0; i < endpoints; ++i) {
    config::Endpoint ep;
    ep.address = {"10.0.0." + std::to_string(i + 1), 8080};
    ep.region = "ams";
    c.endpoints.push_back(ep);
  }
  return c;
}

std::shared_ptr<const config::Config> makeConfig(std::vector<config::Cluster> clusters) {
  auto cfg = std::make_shared<config::Config>();
  cfg->clusters = std::move(clusters);
  return cfg;
}

EndpointKey key(const std::string& cluster, int i) {
  return {cluster, "10.0.0." + std::to_string(i + 1) + ":8080"};
}

EndpointHealth healthOf(const HealthTable& t, size_t c, size_t e) {
  return t.health()[c][e];
}

// --- Active checks: a table of check sequences and the verdict after each step. ---

struct ThresholdCase {
  const char* name;
  bool assume_healthy;
  int healthy_threshold;
  int unhealthy_threshold;
  std::string steps;     // P = pass, F = fail
  std::string expected;  // h / u after each step
};

TEST(HealthTableActive, RiseAndFallFollowThresholds) {
  const ThresholdCase cases[] = {
      {"assumed stays up until threshold fails", true, 2, 3, "FFF", "hhu"},
      {"assumed: a pass resets the fail count", true, 2, 2, "FPFPF", "hhhhh"},
      {"assumed: comes back after healthy_threshold", true, 3, 2, "FFPPP", "huuuh"},
      {"assumed: a fail resets the pass count", true, 2, 1, "FPFPP", "uuuuh"},
      {"not assumed: the first pass heals at once", false, 3, 2, "P", "h"},
      {"not assumed: fails keep it down", false, 3, 2, "FFFP", "uuuh"},
      {"not assumed: after a fall the threshold applies", false, 2, 1, "PFPP", "huuh"},
      {"thresholds of one flip on every change", true, 1, 1, "FPFP", "uhuh"},
  };
  for (const ThresholdCase& tc : cases) {
    SCOPED_TRACE(tc.name);
    FakeClock clock;
    HealthTable table(clock);
    config::Cluster c = makeCluster("web", 1);
    c.health_check = config::HealthCheck{};
    c.health_check->assume_healthy = tc.assume_healthy;
    c.health_check->healthy_threshold = tc.healthy_threshold;
    c.health_check->unhealthy_threshold = tc.unhealthy_threshold;
    table.apply(makeConfig({c}));
    EXPECT_EQ(healthOf(table, 0, 0).healthy, tc.assume_healthy);
    std::string got;
    for (char step : tc.steps) {
      if (step == 'P')
        table.checkPassed(key("web", 0));
      else
        table.checkFailed(key("web", 0), "check failed: status 503");
      got += healthOf(table, 0, 0).healthy ? 'h' : 'u';
    }
    EXPECT_EQ(got, tc.expected);
  }
}

TEST(HealthTableActive, ReportsOnlyVisibleChangesAndKeepsReasons) {
  FakeClock clock;
  HealthTable table(clock);
  config::Cluster c = makeCluster("web", 1);
  c.health_check = config::HealthCheck{};  // thresholds 2/2, assumed healthy
  table.apply(makeConfig({c}));
  EndpointHealth h = healthOf(table, 0, 0);
  EXPECT_EQ(h.reason, "assumed");
  auto since = h.since;

  clock.advance(100);
  EXPECT_FALSE(table.checkPassed(key("web", 0)));  // healthy stays healthy: nothing to publish
  EXPECT_EQ(healthOf(table, 0, 0).reason, "check passed");
  EXPECT_EQ(healthOf(table, 0, 0).since, since);
  EXPECT_FALSE(table.checkFailed(key("web", 0), "check failed: status 503"));
  EXPECT_EQ(healthOf(table, 0, 0).reason, "check passed");  // still healthy, below threshold
  clock.advance(100);
  EXPECT_TRUE(table.checkFailed(key("web", 0), "check failed: status 503"));
  h = healthOf(table, 0, 0);
  EXPECT_FALSE(h.healthy);
  EXPECT_FALSE(h.active_healthy);
  EXPECT_EQ(h.reason, "check failed: status 503");
  EXPECT_GT(h.since, since);
  // Same failure again: no news. A different failure while down: the reason shows it.
  EXPECT_FALSE(table.checkFailed(key("web", 0), "check failed: status 503"));
  EXPECT_TRUE(table.checkFailed(key("web", 0), "check failed: connect refused"));
  EXPECT_EQ(healthOf(table, 0, 0).reason, "check failed: connect refused");
  EXPECT_FALSE(table.checkPassed(key("web", 0)));
  EXPECT_TRUE(table.checkPassed(key("web", 0)));
  EXPECT_EQ(healthOf(table, 0, 0).reason, "check passed");
}

TEST(HealthTableActive, NoHealthCheckMeansHealthyAndChecksAreIgnored) {
  FakeClock clock;
  HealthTable table(clock);
  table.apply(makeConfig({makeCluster("web", 1)}));
  EXPECT_FALSE(table.checkFailed(key("web", 0), "check failed: timeout"));
  EXPECT_FALSE(table.checkFailed(key("web", 0), "check failed: timeout"));
  EndpointHealth h = healthOf(table, 0, 0);
  EXPECT_TRUE(h.healthy);
  EXPECT_TRUE(h.active_healthy);
  EXPECT_EQ(h.reason, "no health check");
}

TEST(HealthTableActive, UnresolvedEndpointIsUnhealthyUntilItResolves) {
  FakeClock clock;
  HealthTable table(clock);
  config::Cluster c = makeCluster("web", 1);
  c.health_check = config::HealthCheck{};
  c.health_check->assume_healthy = false;
  table.apply(makeConfig({c}));
  EXPECT_TRUE(table.setResolveError(key("web", 0), "cannot resolve nope:8080: unknown"));
  EXPECT_FALSE(table.checkPassed(key("web", 0)));  // a stale check cannot heal it
  EndpointHealth h = healthOf(table, 0, 0);
  EXPECT_FALSE(h.healthy);
  EXPECT_EQ(h.reason, "cannot resolve nope:8080: unknown");
  EXPECT_FALSE(table.setResolveError(key("web", 0), "cannot resolve nope:8080: unknown"));
  // Resolved on a later reload: starts over as a new endpoint.
  EXPECT_TRUE(table.setResolveError(key("web", 0), ""));
  EXPECT_EQ(healthOf(table, 0, 0).reason, "not checked yet");
  EXPECT_TRUE(table.checkPassed(key("web", 0)));
  EXPECT_TRUE(healthOf(table, 0, 0).healthy);
}

// --- Passive outlier detection. ---

config::Cluster outlierCluster(int endpoints, int consecutive = 3) {
  config::Cluster c = makeCluster("api", endpoints);
  c.outlier = config::Outlier{};
  c.outlier->consecutive_failures = consecutive;
  c.outlier->ejection = milliseconds(10000);
  c.outlier->max_ejection = milliseconds(35000);
  c.outlier->max_ejection_percent = 50;
  return c;
}

// Reports failures until one returns true (an ejection) or `n` were sent.
bool failTimes(HealthTable& t, const EndpointKey& k, int n) {
  for (int i = 0; i < n; ++i)
    if (t.reportFailure(k, "connect failure")) return i == n - 1;
  return false;
}

TEST(HealthTablePassive, EjectsAtConsecutiveFailuresAndSuccessResetsTheCount) {
  FakeClock clock;
  HealthTable table(clock);
  table.apply(makeConfig({outlierCluster(2)}));
  EXPECT_FALSE(failTimes(table, key("api", 0), 2));
  table.reportSuccess(key("api", 0));
  EXPECT_FALSE(failTimes(table, key("api", 0), 2));  // the count started over
  EXPECT_TRUE(healthOf(table, 0, 0).healthy);
  EXPECT_TRUE(table.reportFailure(key("api", 0), "5xx status"));
  EndpointHealth h = healthOf(table, 0, 0);
  EXPECT_FALSE(h.healthy);
  EXPECT_TRUE(h.active_healthy);
  EXPECT_TRUE(h.ejected);
  EXPECT_EQ(h.ejections, 1);
  EXPECT_EQ(h.reason, "ejected for 10000ms: 3 consecutive failures (last: 5xx status)");
  EXPECT_EQ(h.ejected_until, clock.wallNow() + milliseconds(10000));
  EXPECT_EQ(table.nextEjectionEnd(), clock.now_ms + 10000);
  // Late reports while ejected change nothing.
  EXPECT_FALSE(failTimes(table, key("api", 0), 10));
  EXPECT_EQ(healthOf(table, 0, 0).ejections, 1);
}

// An endpoint failing every other request never has a run of consecutive failures; the
// failure_percentage rule ejects it once an interval holds enough requests.
TEST(HealthTablePassive, FailurePercentageEjectsWhatAlternatesBetweenSuccessAndFailure) {
  FakeClock clock;
  HealthTable table(clock);
  config::Cluster c = outlierCluster(2);
  c.outlier->failure_percentage = 50;
  c.outlier->failure_percentage_min_requests = 10;
  c.outlier->failure_percentage_interval = milliseconds(10000);
  table.apply(makeConfig({c}));
  bool ejected = false;
  int requests = 0;
  for (; requests < 100 && !ejected; ++requests) {
    if (requests % 2 == 0)
      table.reportSuccess(key("api", 0));
    else
      ejected = table.reportFailure(key("api", 0), "5xx status");
  }
  EXPECT_TRUE(ejected);
  EXPECT_EQ(requests, 10);  // the tenth request, the fifth failure: 50% of 10
  EndpointHealth h = healthOf(table, 0, 0);
  EXPECT_TRUE(h.ejected);
  EXPECT_EQ(h.reason,
            "ejected for 10000ms: 5 of 10 requests failed (failure_percentage 50%) (last: 5xx "
            "status)");
}

TEST(HealthTablePassive, FailurePercentageCountsOneIntervalAtATimeAndIsOffByDefault) {
  FakeClock clock;
  HealthTable table(clock);
  config::Cluster c = outlierCluster(2);
  c.outlier->failure_percentage = 50;
  c.outlier->failure_percentage_min_requests = 10;
  c.outlier->failure_percentage_interval = milliseconds(1000);
  config::Cluster off = outlierCluster(2);  // failure_percentage 0
  off.name = "off";
  table.apply(makeConfig({c, off}));
  // Four failures in each interval of eight requests: never ten requests in one interval.
  for (int interval = 0; interval < 5; ++interval) {
    for (int i = 0; i < 8; ++i) {
      if (i % 2 == 0)
        table.reportSuccess(key("api", 0));
      else
        EXPECT_FALSE(table.reportFailure(key("api", 0), "reset"));
    }
    clock.now_ms += 1000;
  }
  EXPECT_FALSE(healthOf(table, 0, 0).ejected);
  for (int i = 0; i < 100; ++i) {
    if (i % 2 == 0)
      table.reportSuccess(key("off", 0));
    else
      EXPECT_FALSE(table.reportFailure(key("off", 0), "reset"));
  }
  EXPECT_FALSE(healthOf(table, 1, 0).ejected);
}

TEST(HealthTablePassive, EjectionEndsWhenItsTimeComes) {
  FakeClock clock;
  HealthTable table(clock);
  table.apply(makeConfig({outlierCluster(2)}));
  ASSERT_TRUE(failTimes(table, key("api", 1), 3));
  clock.advance(9999);
  EXPECT_FALSE(table.endEjections());
  EXPECT_TRUE(healthOf(table, 0, 1).ejected);
  clock.advance(1);
  EXPECT_TRUE(table.endEjections());
  EndpointHealth h = healthOf(table, 0, 1);
  EXPECT_TRUE(h.healthy);
  EXPECT_FALSE(h.ejected);
  EXPECT_EQ(h.reason, "ejection ended");
  EXPECT_EQ(h.ejections, 1);
  EXPECT_FALSE(table.nextEjectionEnd().has_value());
}

TEST(HealthTablePassive, EjectionDurationsDoubleUpToTheCap) {
  FakeClock clock;
  HealthTable table(clock);
  table.apply(makeConfig({outlierCluster(2)}));
  const int64_t expected[] = {10000, 20000, 35000, 35000, 35000};
  for (int64_t want : expected) {
    ASSERT_TRUE(failTimes(table, key("api", 0), 3));
    EXPECT_EQ(*table.nextEjectionEnd() - clock.now_ms, want);
    clock.advance(want);
    ASSERT_TRUE(table.endEjections());
  }
  EXPECT_EQ(healthOf(table, 0, 0).ejections, 5);
}

TEST(HealthTablePassive, NoMoreThanMaxEjectionPercentAtOnce) {
  FakeClock clock;
  HealthTable table(clock);
  table.apply(makeConfig({outlierCluster(4)}));
  EXPECT_TRUE(failTimes(table, key("api", 0), 3));
  clock.advance(1000);
  EXPECT_TRUE(failTimes(table, key("api", 1), 3));   // 2 of 4: exactly 50%
  EXPECT_FALSE(failTimes(table, key("api", 2), 3));  // a 3rd would be 75%: refused
  EXPECT_EQ(table.refusedEjections(), 1u);
  EndpointHealth h = healthOf(table, 0, 2);
  EXPECT_TRUE(h.healthy);
  EXPECT_EQ(h.ejections, 0);
  // Once the first is back, the 3rd goes after another full run of failures.
  clock.advance(9000);
  EXPECT_TRUE(table.endEjections());
  EXPECT_FALSE(healthOf(table, 0, 0).ejected);
  EXPECT_TRUE(healthOf(table, 0, 1).ejected);
  EXPECT_TRUE(failTimes(table, key("api", 2), 3));
  EXPECT_TRUE(healthOf(table, 0, 2).ejected);
}

TEST(HealthTablePassive, SingleEndpointClusterIsNeverEjectedAtFiftyPercent) {
  FakeClock clock;
  HealthTable table(clock);
  table.apply(makeConfig({outlierCluster(1)}));
  EXPECT_FALSE(failTimes(table, key("api", 0), 3));
  EXPECT_TRUE(healthOf(table, 0, 0).healthy);
}

TEST(HealthTablePassive, ClustersWithoutOutlierIgnoreReports) {
  FakeClock clock;
  HealthTable table(clock);
  table.apply(makeConfig({makeCluster("web", 2)}));
  EXPECT_FALSE(failTimes(table, key("web", 0), 100));
  EXPECT_TRUE(healthOf(table, 0, 0).healthy);
  EXPECT_FALSE(table.reportFailure({"nope", "1.2.3.4:80"}, "reset"));  // unknown: ignored
}

TEST(HealthTablePassive, EjectedAndFailingChecksShowsBothAndStaysDownAfterEjection) {
  FakeClock clock;
  HealthTable table(clock);
  config::Cluster c = outlierCluster(2);
  c.health_check = config::HealthCheck{};
  c.health_check->unhealthy_threshold = 1;
  table.apply(makeConfig({c}));
  ASSERT_TRUE(failTimes(table, key("api", 0), 3));
  EXPECT_TRUE(table.checkFailed(key("api", 0), "check failed: status 500"));
  EndpointHealth h = healthOf(table, 0, 0);
  EXPECT_FALSE(h.active_healthy);
  EXPECT_TRUE(h.ejected);
  EXPECT_EQ(h.reason.find("check failed: status 500; ejected for"), 0u) << h.reason;
  clock.advance(10000);
  EXPECT_TRUE(table.endEjections());
  h = healthOf(table, 0, 0);
  EXPECT_FALSE(h.healthy);
  EXPECT_FALSE(h.ejected);
  EXPECT_EQ(h.reason, "check failed: status 500");
}

// The scenario of issue 12 item 16: failures from before an endpoint came back must not add
// up with new ones. Here 3 before it fell and 2 after it came back would have made 5.
TEST(HealthTablePassive, ComingBackStartsTheFailureCountOver) {
  FakeClock clock;
  HealthTable table(clock);
  config::Cluster c = outlierCluster(2, 5);
  c.health_check = config::HealthCheck{};  // thresholds 2/2
  table.apply(makeConfig({c}));
  EXPECT_FALSE(failTimes(table, key("api", 0), 3));
  table.checkFailed(key("api", 0), "check failed: status 503");
  EXPECT_TRUE(table.checkFailed(key("api", 0), "check failed: status 503"));
  EXPECT_FALSE(healthOf(table, 0, 0).healthy);
  // Requests that were in flight when it fell report late: still not held against it.
  EXPECT_FALSE(failTimes(table, key("api", 0), 1));
  table.checkPassed(key("api", 0));
  EXPECT_TRUE(table.checkPassed(key("api", 0)));
  ASSERT_TRUE(healthOf(table, 0, 0).healthy);
  EXPECT_FALSE(failTimes(table, key("api", 0), 4));
  EXPECT_FALSE(healthOf(table, 0, 0).ejected);
  // A full run of new failures still ejects it.
  EXPECT_TRUE(table.reportFailure(key("api", 0), "reset"));
  EXPECT_TRUE(healthOf(table, 0, 0).ejected);
}

// --- What /regions shows of the latest check. ---

TEST(HealthTableActive, EveryCheckIsShownEvenWhenItChangesNothing) {
  FakeClock clock;
  HealthTable table(clock);
  config::Cluster c = makeCluster("web", 1);
  c.health_check = config::HealthCheck{};  // thresholds 2/2, assumed healthy
  table.apply(makeConfig({c}));
  EndpointHealth h = healthOf(table, 0, 0);
  EXPECT_EQ(h.last_check, "");
  EXPECT_EQ(h.last_check_at.time_since_epoch().count(), 0);

  clock.advance(100);
  EXPECT_FALSE(table.checkPassed(key("web", 0)));  // nothing to publish...
  h = healthOf(table, 0, 0);
  EXPECT_EQ(h.reason, "check passed");  // ...but the table knows
  EXPECT_EQ(h.last_check, "check passed");
  EXPECT_TRUE(h.last_check_passed);
  EXPECT_EQ(h.last_check_at, clock.wallNow());

  clock.advance(100);
  EXPECT_FALSE(table.checkFailed(key("web", 0), "check failed: timeout"));  // below threshold
  h = healthOf(table, 0, 0);
  EXPECT_TRUE(h.healthy);
  EXPECT_EQ(h.reason, "check passed");
  EXPECT_EQ(h.last_check, "check failed: timeout");
  EXPECT_FALSE(h.last_check_passed);
  EXPECT_EQ(h.last_check_at, clock.wallNow());
}

// --- Reloads. ---

TEST(HealthTableApply, SurvivorsKeepStateNewOnesStartFreshRemovedAreForgotten) {
  FakeClock clock;
  HealthTable table(clock);
  config::Cluster api = outlierCluster(3);
  api.health_check = config::HealthCheck{};
  api.health_check->unhealthy_threshold = 1;
  table.apply(makeConfig({api}));
  ASSERT_TRUE(failTimes(table, key("api", 0), 3));                         // endpoint 0 ejected
  ASSERT_TRUE(table.checkFailed(key("api", 1), "check failed: timeout"));  // 1 down
  ASSERT_FALSE(failTimes(table, key("api", 2), 2));  // 2 has 2 failures counted
  auto since1 = healthOf(table, 0, 1).since;

  // Reload: a new cluster first, endpoint 2 dropped, a new endpoint, the order reversed.
  clock.advance(500);
  config::Cluster api2 = api;
  api2.endpoints = {api.endpoints[1], api.endpoints[0]};
  config::Endpoint fresh;
  fresh.address = {"10.0.0.9", 8080};
  fresh.region = "fra";
  api2.endpoints.push_back(fresh);
  api2.health_check->unhealthy_threshold = 3;  // new thresholds, old counts
  table.apply(makeConfig({makeCluster("other", 1), api2}));

  ASSERT_EQ(table.health().size(), 2u);
  EXPECT_EQ(table.health()[1].size(), 3u);
  EndpointHealth was1 = healthOf(table, 1, 0);
  EXPECT_FALSE(was1.healthy);
  EXPECT_EQ(was1.reason, "check failed: timeout");
  EXPECT_EQ(was1.since, since1);
  EndpointHealth was0 = healthOf(table, 1, 1);
  EXPECT_TRUE(was0.ejected);
  EXPECT_EQ(was0.ejections, 1);
  EndpointHealth added = healthOf(table, 1, 2);
  EXPECT_TRUE(added.healthy);
  EXPECT_EQ(added.reason, "assumed");
  EXPECT_EQ(table.find(key("api", 2)), nullptr);
  EXPECT_EQ(table.find({"api", "10.0.0.9:8080"})->endpoint->region, "fra");

  // Removed and re-added: it starts over (its old failure count is gone).
  table.apply(makeConfig({api}));
  EXPECT_FALSE(failTimes(table, key("api", 2), 1));
  EXPECT_EQ(table.find(key("api", 2))->passive.failures, 1);
}

TEST(HealthTableApply, DroppingSectionsDropsTheirState) {
  FakeClock clock;
  HealthTable table(clock);
  config::Cluster api = outlierCluster(2);
  api.health_check = config::HealthCheck{};
  api.health_check->unhealthy_threshold = 1;
  table.apply(makeConfig({api}));
  ASSERT_TRUE(failTimes(table, key("api", 0), 3));
  ASSERT_TRUE(table.checkFailed(key("api", 1), "check failed: timeout"));

  config::Cluster plain = makeCluster("api", 2);
  table.apply(makeConfig({plain}));
  EXPECT_TRUE(healthOf(table, 0, 0).healthy);
  EXPECT_FALSE(healthOf(table, 0, 0).ejected);
  EXPECT_TRUE(healthOf(table, 0, 1).healthy);
  EXPECT_EQ(healthOf(table, 0, 1).reason, "no health check");
  EXPECT_FALSE(table.nextEjectionEnd().has_value());

  // Switched back on: the active part starts as the new section says.
  api.health_check->assume_healthy = false;
  table.apply(makeConfig({api}));
  EXPECT_FALSE(healthOf(table, 0, 1).healthy);
  EXPECT_EQ(healthOf(table, 0, 1).reason, "not checked yet");
}

}  // namespace
}  // namespace meridian::health

namespace meridian::health {
namespace {

// Shared health: a verdict another instance reported is taken at once, with no thresholds,
// and the endpoint's own checks take over again from it.
TEST(HealthTableReported, AReportedVerdictIsTakenAtOnce) {
  FakeClock clock;
  HealthTable t(clock);
  config::Cluster c = makeCluster("web", 1);
  c.health_check = config::HealthCheck{};
  c.health_check->unhealthy_threshold = 3;
  t.apply(makeConfig({c}));
  EXPECT_TRUE(healthOf(t, 0, 0).healthy);
  EXPECT_TRUE(t.setReported(key("web", 0), false, "fleet: unhealthy as reported by i0"));
  EXPECT_FALSE(healthOf(t, 0, 0).healthy);
  EXPECT_EQ(healthOf(t, 0, 0).reason, "fleet: unhealthy as reported by i0");
  EXPECT_FALSE(t.setReported(key("web", 0), false, "fleet: unhealthy as reported by i0"));
  EXPECT_TRUE(t.setReported(key("web", 0), true, "fleet: healthy as reported by i0"));
  EXPECT_TRUE(healthOf(t, 0, 0).healthy);
  // Own checks again: the usual threshold from the reported state.
  EXPECT_FALSE(t.checkFailed(key("web", 0), "check failed: status 503"));
  EXPECT_FALSE(t.checkFailed(key("web", 0), "check failed: status 503"));
  EXPECT_TRUE(t.checkFailed(key("web", 0), "check failed: status 503"));
  EXPECT_FALSE(healthOf(t, 0, 0).healthy);
}

TEST(HealthTableReported, IgnoredWithoutHealthChecks) {
  FakeClock clock;
  HealthTable t(clock);
  t.apply(makeConfig({makeCluster("web", 1)}));
  EXPECT_FALSE(t.setReported(key("web", 0), false, "fleet: unhealthy as reported by i0"));
  EXPECT_TRUE(healthOf(t, 0, 0).healthy);
}

}  // namespace
}  // namespace meridian::health
