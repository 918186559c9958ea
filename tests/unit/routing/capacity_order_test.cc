// The region order under capacity limits and measured latency, as one table: load per region
// x spill mode x health x drain x residency x prefer header x latency order. Loads and
// latencies are set directly in the Telemetry the router reads.
#include <gtest/gtest.h>

#include <map>

#include "routing/router.h"
#include "routing/telemetry.h"

namespace meridian::routing {
namespace {

const char* const kRegions[] = {"ams", "iad", "sin"};

std::shared_ptr<config::Config> threeRegions(config::Spill spill) {
  auto cfg = std::make_shared<config::Config>();
  cfg->regions = {{"ams", 52.37, 4.90, false, {}},
                  {"iad", 38.95, -77.45, false, {}},
                  {"sin", 1.35, 103.82, false, {}}};
  config::Cluster web;
  web.name = "web";
  web.endpoints = {
      {{"127.0.0.1", 1}, "ams", {}}, {{"127.0.0.1", 2}, "iad", {}}, {{"127.0.0.1", 3}, "sin", {}}};
  web.capacity = {2, 4};
  web.spill = spill;
  cfg->clusters = {web};
  config::Route r;
  r.name = "app";
  r.backends = {{"web", 1, {}}};
  cfg->routes = {r};
  return cfg;
}

struct Case {
  const char* name;
  std::map<std::string, int> load;  // in flight per region (one endpoint each)
  config::Spill spill = config::Spill::Soft;
  std::vector<std::string> unhealthy{};
  std::vector<std::string> drained{};
  std::vector<std::string> residency{};  // allowed regions for the client's country
  std::string prefer{};
  std::map<std::string, double> latency_ms{};  // published latency; with it, order: latency
  std::vector<std::string> want;
  std::string why;
  size_t scope = 0;            // 0: not checked
  std::string spilled_from{};  // "" : none
};

// A client in Paris: ams is nearest (~430 km), then iad (~6,200 km), then sin (~10,700 km).
const Case kCases[] = {
    {"no load: nearest first",
     {},
     config::Spill::Soft,
     {},
     {},
     {},
     {},
     {},
     {"ams", "iad", "sin"},
     "nearest",
     3,
     ""},
    {"ams past soft spills to the nearest under soft",
     {{"ams", 2}},
     config::Spill::Soft,
     {},
     {},
     {},
     {},
     {},
     {"iad", "sin", "ams"},
     "spill",
     3,
     "ams"},
    {"spill: hard keeps ams until its hard limit",
     {{"ams", 3}},
     config::Spill::Hard,
     {},
     {},
     {},
     {},
     {},
     {"ams", "iad", "sin"},
     "nearest",
     3,
     ""},
    {"spill: hard leaves ams at its hard limit",
     {{"ams", 4}},
     config::Spill::Hard,
     {},
     {},
     {},
     {},
     {},
     {"iad", "sin", "ams"},
     "spill",
     3,
     "ams"},
    {"all past soft: nearest again",
     {{"ams", 2}, {"iad", 3}, {"sin", 2}},
     config::Spill::Soft,
     {},
     {},
     {},
     {},
     {},
     {"ams", "iad", "sin"},
     "nearest",
     3,
     ""},
    {"two past soft: the third takes it",
     {{"ams", 2}, {"iad", 2}},
     config::Spill::Soft,
     {},
     {},
     {},
     {},
     {},
     {"sin", "ams", "iad"},
     "spill",
     3,
     "ams"},
    {"at hard sorts after past soft",
     {{"ams", 4}, {"iad", 2}, {"sin", 2}},
     config::Spill::Soft,
     {},
     {},
     {},
     {},
     {},
     {"iad", "sin", "ams"},
     "spill",
     3,
     "ams"},
    {"a prefer header is never spilled",
     {{"ams", 3}},
     config::Spill::Soft,
     {},
     {},
     {},
     "ams",
     {},
     {"ams", "iad", "sin"},
     "preferred",
     1,
     ""},
    {"a preferred region past soft stays first",
     {{"iad", 3}},
     config::Spill::Soft,
     {},
     {},
     {},
     "iad",
     {},
     {"iad", "ams", "sin"},
     "preferred",
     1,
     ""},
    {"spill never crosses a drain",
     {{"ams", 2}, {"sin", 2}},
     config::Spill::Soft,
     {},
     {"iad"},
     {},
     {},
     {},
     {"ams", "sin", "iad"},
     "nearest",
     2,
     ""},
    {"spill passes a drained region by",
     {{"ams", 2}},
     config::Spill::Soft,
     {},
     {"iad"},
     {},
     {},
     {},
     {"sin", "ams", "iad"},
     "spill",
     2,
     "ams"},
    {"an unhealthy region is not a candidate",
     {{"iad", 2}},
     config::Spill::Soft,
     {"ams"},
     {},
     {},
     {},
     {},
     {"sin", "iad"},
     "spill",
     2,
     "iad"},
    {"residency bounds the spill",
     {{"ams", 2}},
     config::Spill::Soft,
     {},
     {},
     {"ams", "sin"},
     {},
     {},
     {"sin", "ams"},
     "spill",
     2,
     "ams"},
    {"residency: all past soft stays home",
     {{"ams", 2}, {"sin", 2}},
     config::Spill::Soft,
     {},
     {},
     {"ams", "sin"},
     {},
     {},
     {"ams", "sin"},
     "nearest",
     2,
     ""},
    {"latency: a slow near region goes after a fast far one",
     {},
     config::Spill::Soft,
     {},
     {},
     {},
     {},
     {{"ams", 300}, {"iad", 20}, {"sin", 250}},
     {"iad", "ams", "sin"},
     "lowest latency",
     3,
     ""},
    {"latency: equal latencies keep the distance order",
     {},
     config::Spill::Soft,
     {},
     {},
     {},
     {},
     {{"ams", 20}, {"iad", 20}, {"sin", 20}},
     {"ams", "iad", "sin"},
     "lowest latency",
     3,
     ""},
    {"latency: distance until every region is measured",
     {},
     config::Spill::Soft,
     {},
     {},
     {},
     {},
     {{"ams", 300}, {"iad", 20}},
     {"ams", "iad", "sin"},
     "nearest",
     3,
     ""},
    {"latency and capacity: the fastest past soft spills",
     {{"iad", 2}},
     config::Spill::Soft,
     {},
     {},
     {},
     {},
     {{"ams", 300}, {"iad", 20}, {"sin", 250}},
     {"ams", "sin", "iad"},
     "spill",
     3,
     "iad"},
    {"latency: a drained fast region stays last",
     {},
     config::Spill::Soft,
     {},
     {"iad"},
     {},
     {},
     {{"ams", 300}, {"iad", 1}, {"sin", 250}},
     {"ams", "sin", "iad"},
     "lowest latency",
     2,
     ""},
    {"latency: far and fast beats near and slow by the sum",
     {},
     config::Spill::Soft,
     {},
     {},
     {},
     {},
     {{"ams", 400}, {"iad", 20}, {"sin", 250}},
     {"iad", "sin", "ams"},
     "lowest latency",
     3,
     ""},
};

std::vector<std::string> names(const Decision& d) {
  std::vector<std::string> out;
  for (size_t i = 0; i < d.order_size; ++i) out.push_back(d.plan->regions[d.order[i]].name);
  return out;
}

TEST(CapacityOrder, Table) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    auto cfg = threeRegions(c.spill);
    for (auto& r : cfg->regions)
      r.drain = std::find(c.drained.begin(), c.drained.end(), r.name) != c.drained.end();
    if (!c.residency.empty()) cfg->routes[0].residency["FR"] = c.residency;
    if (!c.latency_ms.empty()) cfg->routing.order = config::RegionOrder::Latency;
    auto telemetry = std::make_shared<Telemetry>();
    Router router(cfg, {}, telemetry);
    for (const auto& [region, n] : c.load) {
      size_t i = static_cast<size_t>(std::find(std::begin(kRegions), std::end(kRegions), region) -
                                     std::begin(kRegions));
      auto load = telemetry->endpoint("web", cfg->clusters[0].endpoints[i].address.text());
      for (int k = 0; k < n; ++k) ASSERT_TRUE(load->tryAcquire(0));
    }
    for (const auto& [region, ms] : c.latency_ms) {
      auto latency = telemetry->region("web", region);
      latency->record(RegionLatency::kHealthSlot, ms, 1000);
      latency->publish(1000, 0, 0);
    }
    std::vector<health::EndpointHealth> eps(3);
    for (size_t i = 0; i < 3; ++i)
      eps[i].healthy =
          std::find(c.unhealthy.begin(), c.unhealthy.end(), kRegions[i]) == c.unhealthy.end();
    auto health = health::HealthSnapshot::make({eps}, 1);
    GeoLocation paris{true, 48.85, 2.35, "FR", "override"};
    RequestInfo req{"h", "/", "GET", &paris, c.prefer};
    Decision d = router.pick(req, *health, 0);
    ASSERT_EQ(d.outcome, PickOutcome::Ok);
    EXPECT_EQ(names(d), c.want);
    EXPECT_EQ(std::string(d.why), c.why);
    if (c.scope != 0) {
      EXPECT_EQ(d.capacity_scope, c.scope);
    }
    EXPECT_EQ(d.spilled_from < 0 ? "" : d.plan->regions[d.spilled_from].name, c.spilled_from);
  }
}

TEST(CapacityOrder, WithoutLimitsLoadChangesNothing) {
  auto cfg = threeRegions(config::Spill::Soft);
  cfg->clusters[0].capacity = {};
  auto telemetry = std::make_shared<Telemetry>();
  Router router(cfg, {}, telemetry);
  auto load = telemetry->endpoint("web", "127.0.0.1:1");
  for (int k = 0; k < 1000; ++k) load->tryAcquire(0);
  auto health = health::HealthSnapshot::initial(*cfg);
  GeoLocation paris{true, 48.85, 2.35, "FR", "override"};
  Decision d = router.pick({"h", "/", "GET", &paris}, *health, 0);
  EXPECT_EQ(names(d), (std::vector<std::string>{"ams", "iad", "sin"}));
  EXPECT_EQ(endpointLoad(router.plan(0), 0), LoadLevel::UnderSoft);
}

TEST(EndpointLoad, HardLimitIsNeverExceeded) {
  EndpointLoad load;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(load.tryAcquire(3));
  EXPECT_FALSE(load.tryAcquire(3));
  EXPECT_EQ(load.inFlight(), 3);
  load.release();
  EXPECT_TRUE(load.tryAcquire(3));
  EXPECT_TRUE(load.tryAcquire(0));  // no hard limit
  EXPECT_EQ(load.inFlight(), 4);
}

TEST(RegionLatency, RequestsOutweighChecksWhileFresh) {
  RegionLatency r;
  EXPECT_LT(r.merged(0), 0);  // nothing measured
  r.record(RegionLatency::kHealthSlot, 10, 0);
  EXPECT_DOUBLE_EQ(r.merged(0), 10);
  r.record(RegionLatency::workerSlot(0), 200, 0);
  r.record(RegionLatency::workerSlot(1), 100, 0);
  EXPECT_DOUBLE_EQ(r.merged(1000), 150);  // the workers' mean
  // Once the requests are stale (the region lost its traffic), the checks alone count.
  EXPECT_DOUBLE_EQ(r.merged(RegionLatency::kTrafficFreshMs + 1), 10);
}

// Found in the lab: a region slow for longer than the requests' freshness got a burst of
// traffic back when the order fell back to the health checks, whose average had seen only a
// few slow checks. The fallback now starts from the requests' last average.
TEST(RegionLatency, FallingBackToChecksStartsFromTheRequestsLastAverage) {
  RegionLatency r;
  r.record(RegionLatency::kHealthSlot, 36, 0);  // fast for a long time
  r.publish(0, 10, 20);
  for (int i = 0; i < 20; ++i) r.record(RegionLatency::workerSlot(0), 236, 100);  // slow now
  r.record(RegionLatency::kHealthSlot, 236, 500);  // one slow check so far: average 76
  r.publish(500, 10, 20);
  EXPECT_NEAR(r.published(), 236, 1);
  // The region lost its traffic; 3 s later its requests' samples are stale.
  r.publish(RegionLatency::kTrafficFreshMs + 200, 10, 20);
  EXPECT_NEAR(r.merged(RegionLatency::kTrafficFreshMs + 200), 236, 1);
  EXPECT_NEAR(r.published(), 236, 1);  // not the checks' 76: no burst back
  // Then the checks alone move it: fast again, it comes down a fifth of the way per check.
  r.record(RegionLatency::kHealthSlot, 36, RegionLatency::kTrafficFreshMs + 1000);
  EXPECT_NEAR(r.merged(RegionLatency::kTrafficFreshMs + 1000), 196, 1);
}

TEST(RegionLatency, EwmaMovesAFifthOfTheWay) {
  RegionLatency r;
  r.record(1, 100, 0);
  r.record(1, 200, 0);
  EXPECT_DOUBLE_EQ(r.merged(0), 120);
}

TEST(RegionLatency, PublishedValueMovesOnlyPastTheHysteresis) {
  RegionLatency r;
  r.record(RegionLatency::kHealthSlot, 100, 0);
  r.publish(0, 10, 20);
  EXPECT_DOUBLE_EQ(r.published(), 100);
  for (double ms : {110.0, 90.0, 115.0, 85.0}) {  // within max(10 ms, 20%) = 20 ms of 100
    RegionLatency probe;
    probe.record(RegionLatency::kHealthSlot, 100, 0);
    probe.publish(0, 10, 20);
    probe.record(RegionLatency::kHealthSlot, 100 + (ms - 100) * 5, 0);  // EWMA lands on `ms`
    probe.publish(0, 10, 20);
    EXPECT_DOUBLE_EQ(probe.published(), 100) << ms;
  }
  r.record(RegionLatency::kHealthSlot, 300, 0);  // EWMA 140: past the band
  r.publish(0, 10, 20);
  EXPECT_DOUBLE_EQ(r.published(), 140);
}

TEST(Telemetry, EntriesNoRouterHoldsAreForgotten) {
  auto telemetry = std::make_shared<Telemetry>();
  auto cfg = threeRegions(config::Spill::Soft);
  {
    Router router(cfg, {}, telemetry);
    size_t n = 0;
    telemetry->forEachEndpoint([&](const auto&, const auto&, const auto&) { ++n; });
    EXPECT_EQ(n, 3u);
  }
  telemetry->publish(cfg->routing, 0);
  size_t n = 0;
  telemetry->forEachEndpoint([&](const auto&, const auto&, const auto&) { ++n; });
  telemetry->forEachRegion([&](const auto&, const auto&, const auto&) { ++n; });
  EXPECT_EQ(n, 0u);
}

TEST(Telemetry, ARebuiltRouterSharesTheCounts) {
  auto telemetry = std::make_shared<Telemetry>();
  auto cfg = threeRegions(config::Spill::Soft);
  Router before(cfg, {}, telemetry);
  before.plan(0).load[0]->tryAcquire(0);
  Router after(cfg, {}, telemetry);  // a reload: the request in flight is still counted
  EXPECT_EQ(after.plan(0).inFlight(0), 1);
}

}  // namespace
}  // namespace meridian::routing
