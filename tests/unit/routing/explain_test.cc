// explainJson: what `meridian route explain` and GET /explain print, and what they refuse.
#include "routing/explain.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace meridian::routing {
namespace {

std::shared_ptr<config::Config> oneRegion() {
  auto cfg = std::make_shared<config::Config>();
  cfg->regions = {{"ams", 52.37, 4.90, false, {}}};
  config::Cluster web;
  web.name = "web";
  web.endpoints = {{{"127.0.0.1", 1}, "ams", {}}};
  cfg->clusters = {web};
  config::Route r;
  r.name = "app";
  r.match.host = "app.example.com";
  r.backends = {{"web", 1, {}}};
  cfg->routes = {r};
  return cfg;
}

TEST(Explain, AnAddressThatIsNotAnIpIsAnErrorNotAnAnswer) {
  auto cfg = oneRegion();
  Router router(cfg);
  auto health = health::HealthSnapshot::initial(*cfg);
  auto geo = GeoDb::open(config::Geo{});
  ASSERT_TRUE(geo.ok());
  for (const char* bad : {"notanip", "", "203.0.113", "1.2.3.4.5", "::g"}) {
    SCOPED_TRACE(bad);
    ExplainInput in;
    in.client_ip = bad;
    in.host = "app.example.com";
    auto r = explainJson(router, *health, *geo.value(), in);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(core::toHttpStatus(r.error()), 400);
    EXPECT_NE(r.error().detail.find("not an IP address"), std::string::npos) << r.error().detail;
  }
  ExplainInput in;
  in.client_ip = "2001:db8::1";
  in.host = "app.example.com";
  auto r = explainJson(router, *health, *geo.value(), in);
  ASSERT_TRUE(r.ok());
  auto j = nlohmann::json::parse(r.value());
  EXPECT_EQ(j["route"], "app");
  EXPECT_EQ(j["chosen"], "ams");
}

}  // namespace
}  // namespace meridian::routing
