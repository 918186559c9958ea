#include "fleet/fleet_agent.h"

#include <gtest/gtest.h>

namespace meridian::fleet {
namespace {

WatchEvent put(std::string key, std::string value, int64_t rev) {
  return WatchEvent{false, KeyValue{std::move(key), std::move(value), rev, rev, 0}};
}
WatchEvent del(std::string key, int64_t rev) {
  return WatchEvent{true, KeyValue{std::move(key), "", 0, rev, 0}};
}

TEST(FleetView, TakesTheConfigAndRegisteredEndpoints) {
  FleetKeys keys{"/m/shop/"};
  FleetView v;
  EXPECT_TRUE(applyToView(v, keys, put("/m/shop/config", "routes: []", 4)));
  EXPECT_EQ(v.config, "routes: []");
  EXPECT_EQ(v.config_revision, 4);
  EXPECT_TRUE(applyToView(v, keys, put("/m/shop/endpoints/web/ams/10.0.0.1:80", "", 5)));
  EXPECT_EQ(v.endpoints.count("web/ams/10.0.0.1:80"), 1u);
  EXPECT_TRUE(applyToView(v, keys, del("/m/shop/endpoints/web/ams/10.0.0.1:80", 6)));
  EXPECT_TRUE(v.endpoints.empty());
  EXPECT_FALSE(applyToView(v, keys, del("/m/shop/endpoints/web/ams/10.0.0.9:80", 7)));
  // Another fleet's keys, and keys of its own that are not watched, change nothing.
  EXPECT_FALSE(applyToView(v, keys, put("/m/other/config", "x", 8)));
  EXPECT_FALSE(applyToView(v, keys, put("/m/shop/status/a", "{}", 9)));
  EXPECT_TRUE(applyToView(v, keys, put("/m/shop/health/i1", R"({"region":"ams"})", 10)));
  EXPECT_EQ(v.health["i1"], R"({"region":"ams"})");
  // The same report again (a renewed lease) is no change.
  EXPECT_FALSE(applyToView(v, keys, put("/m/shop/health/i1", R"({"region":"ams"})", 11)));
  EXPECT_TRUE(applyToView(v, keys, del("/m/shop/health/i1", 12)));
  EXPECT_TRUE(v.health.empty());
  EXPECT_TRUE(applyToView(v, keys, del("/m/shop/config", 13)));
  EXPECT_EQ(v.config_revision, 0);
  EXPECT_TRUE(v.config.empty());
}

TEST(FleetKeys, TheWatchedRangeHoldsConfigEndpointsAndHealthButNotStatus) {
  FleetKeys keys{"/m/"};
  EXPECT_LE(keys.config(), keys.endpoints());
  EXPECT_LT(keys.endpoints() + "zzz", keys.watchedEnd());
  EXPECT_LT(keys.health() + "zzz", keys.watchedEnd());
  EXPECT_GT(keys.status(), keys.watchedEnd());
  // Idempotency-Keys (IdempotencyStore) come and go with keyed requests: never watched here.
  EXPECT_GT(keys.prefix + "idempotency/", keys.watchedEnd());
}

TEST(InstanceStatus, RoundTripsThroughJson) {
  InstanceStatus s{"ams-1", "ams", 12, "routes[0]: unknown cluster", 1700000000000, 0};
  auto back = parseStatus(statusJson(s));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back.value().instance, "ams-1");
  EXPECT_EQ(back.value().region, "ams");
  EXPECT_EQ(back.value().revision, 12);
  EXPECT_EQ(back.value().error, s.error);
  EXPECT_EQ(back.value().reported_at_ms, s.reported_at_ms);
  EXPECT_FALSE(parseStatus("nope").ok());
}

}  // namespace
}  // namespace meridian::fleet
