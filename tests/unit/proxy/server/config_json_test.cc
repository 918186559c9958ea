// GET /config's rendering: every field, durations as written in YAML, secrets elided.
#include "proxy/server/config_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace meridian::proxy {
namespace {

using Json = nlohmann::json;

config::Config sampleConfig() {
  config::Config cfg;
  cfg.workers = 3;
  cfg.watch = true;
  config::Listener l;
  l.name = "public";
  l.address = {"127.0.0.1", 8443};
  l.region = "ams";
  l.tls = config::Tls{};
  l.tls->certificates.push_back({"certs/app.pem", "certs/app.key", {}, {}, {}});
  cfg.listeners.push_back(l);
  cfg.geo.databases = {{"geo.mmdb", {}}};
  config::Cidr trusted;
  trusted.text = "10.0.0.0/8";
  cfg.geo.trusted_proxies.push_back(trusted);
  cfg.regions.push_back({"ams", 52.37, 4.9, false, {}});
  config::Cluster c;
  c.name = "web";
  c.endpoints.push_back({{"127.0.0.1", 9001}, "ams", {3, 7}});
  c.health_check = config::HealthCheck{};
  c.outlier = config::Outlier{};
  cfg.clusters.push_back(c);
  config::Route r;
  r.name = "app";
  r.backends.push_back({"web", 90, {}});
  r.residency["DE"] = {"ams"};
  cfg.routes.push_back(r);
  return cfg;
}

TEST(DurationText, PicksTheLargestExactUnit) {
  EXPECT_EQ(durationText(config::Duration(250)), "250ms");
  EXPECT_EQ(durationText(config::Duration(2000)), "2s");
  EXPECT_EQ(durationText(config::Duration(1500)), "1500ms");
  EXPECT_EQ(durationText(config::Duration(60000)), "1m");
  EXPECT_EQ(durationText(config::Duration(3600000)), "1h");
  EXPECT_EQ(durationText(config::Duration(0)), "0ms");
}

TEST(ConfigJson, CarriesTheGenerationAndEverySection) {
  Json j = Json::parse(configJson(sampleConfig(), 7));
  EXPECT_EQ(j["generation"], 7);
  const Json& c = j["config"];
  for (const char* key : {"workers", "watch", "access_log", "listeners", "admin", "geo", "regions",
                          "clusters", "routes", "limits", "routing"})
    EXPECT_TRUE(c.contains(key)) << key;
  EXPECT_EQ(c["workers"], 3);
  EXPECT_EQ(c["watch"], true);
  EXPECT_EQ(c["listeners"][0]["address"], "127.0.0.1:8443");
  EXPECT_EQ(c["admin"]["address"], "127.0.0.1:9901");
  EXPECT_EQ(c["geo"]["trusted_proxies"][0], "10.0.0.0/8");
  EXPECT_EQ(c["clusters"][0]["endpoints"][0]["address"], "127.0.0.1:9001");
  EXPECT_EQ(c["routes"][0]["backends"][0]["weight"], 90);
  EXPECT_EQ(c["routes"][0]["residency"]["DE"][0], "ams");
  EXPECT_EQ(c["routes"][0]["affinity"], "none");
  EXPECT_EQ(c["routes"][0]["all_unhealthy"], "reject");
}

TEST(ConfigJson, DurationsAreTextAndSizesAreBytes) {
  Json c = Json::parse(configJson(sampleConfig(), 1))["config"];
  EXPECT_EQ(c["clusters"][0]["health_check"]["interval"], "1s");
  EXPECT_EQ(c["clusters"][0]["health_check"]["timeout"], "500ms");
  EXPECT_EQ(c["clusters"][0]["health_check"]["jitter"], "10%");
  EXPECT_EQ(c["clusters"][0]["outlier"]["ejection"], "10s");
  EXPECT_EQ(c["clusters"][0]["pool"]["idle_timeout"], "1m");
  EXPECT_EQ(c["routes"][0]["timeouts"]["per_try"], "10s");
  EXPECT_EQ(c["routes"][0]["replay"]["backoff"]["base"], "25ms");
  EXPECT_EQ(c["routes"][0]["replay"]["body_buffer"], 1 << 20);
  EXPECT_EQ(c["limits"]["max_header_bytes"], 64 * 1024);
  EXPECT_EQ(c["limits"]["drain_timeout"], "30s");
  EXPECT_EQ(c["limits"]["escaped_slashes"], "reject");
  EXPECT_EQ(c["routing"]["order"], "distance");
  EXPECT_EQ(c["routing"]["latency_hysteresis"], "10ms");
}

TEST(ConfigJson, CapacityLimitsAndSpill) {
  config::Config cfg = sampleConfig();
  Json c = Json::parse(configJson(cfg, 1))["config"];
  EXPECT_TRUE(c["clusters"][0]["limits"]["soft"].is_null());  // no limit
  EXPECT_EQ(c["clusters"][0]["spill"], "soft");
  cfg.clusters[0].capacity = {50, 100};
  cfg.clusters[0].spill = config::Spill::Hard;
  c = Json::parse(configJson(cfg, 1))["config"];
  EXPECT_EQ(c["clusters"][0]["limits"]["soft"], 50);
  EXPECT_EQ(c["clusters"][0]["limits"]["hard"], 100);
  EXPECT_EQ(c["clusters"][0]["spill"], "hard");
}

TEST(ConfigJson, KeyPathsAreRedactedAndCertificatePathsShown) {
  std::string text = configJson(sampleConfig(), 1);
  EXPECT_EQ(text.find("app.key"), std::string::npos) << text;
  Json cert = Json::parse(text)["config"]["listeners"][0]["tls"]["certificates"][0];
  EXPECT_EQ(cert["cert"], "certs/app.pem");
  EXPECT_EQ(cert["key"], kRedacted);
}

TEST(ConfigJson, AbsentOptionalSectionsAreNull) {
  config::Config cfg;
  cfg.listeners.push_back({"plain", {"0.0.0.0", 80}, "", std::nullopt, std::nullopt, {}});
  Json c = Json::parse(configJson(cfg, 1))["config"];
  EXPECT_EQ(c["workers"], "auto");
  EXPECT_TRUE(c["listeners"][0]["tls"].is_null());
  EXPECT_TRUE(c["listeners"][0]["redirect_to_https"].is_null());
}

// Values left out of the file are null (as docs/operations.md says), never "".
TEST(ConfigJson, AbsentValuesAreNullNotEmptyStrings) {
  config::Config cfg = sampleConfig();
  cfg.listeners[0].region.clear();
  cfg.geo.databases.clear();
  config::GeoOverride o;
  o.cidr.text = "10.20.0.0/16";
  cfg.geo.overrides.push_back(o);
  Json c = Json::parse(configJson(cfg, 1))["config"];
  EXPECT_TRUE(c["listeners"][0]["region"].is_null());
  for (const char* key : {"database", "latitude_path", "longitude_path", "country_path"})
    EXPECT_TRUE(c["geo"][key].is_null()) << key;
  EXPECT_TRUE(c["geo"]["overrides"][0]["country"].is_null());
  const Json& route = c["routes"][0];
  EXPECT_TRUE(route["match"]["host"].is_null());
  EXPECT_TRUE(route["primary_region"].is_null());
  EXPECT_TRUE(route["compat"].is_null());
  EXPECT_EQ(route["idempotency"]["store"], "local");
  EXPECT_EQ(route["match"]["path_prefix"], "/");

  cfg.routes[0].match.host = "app.example.com";
  cfg.routes[0].primary_region = "ams";
  cfg.routes[0].compat = "fly";
  cfg.routes[0].idempotency.store = config::Idempotency::Store::Fleet;
  Json set = Json::parse(configJson(cfg, 1))["config"]["routes"][0];
  EXPECT_EQ(set["match"]["host"], "app.example.com");
  EXPECT_EQ(set["primary_region"], "ams");
  EXPECT_EQ(set["compat"], "fly");
  EXPECT_EQ(set["idempotency"]["store"], "fleet");
}

// Where each value was in the file is for error messages, not for readers of /config.
TEST(ConfigJson, NoSourcePositions) {
  std::string text = configJson(sampleConfig(), 1);
  EXPECT_EQ(text.find("\"mark\""), std::string::npos) << text;
  EXPECT_EQ(text.find("\"line\""), std::string::npos) << text;
  // And no value anywhere is an empty string.
  EXPECT_EQ(text.find("\"\""), std::string::npos) << text;
}

TEST(ConfigJson, LimitsIncludeTheHttp2Ones) {
  Json l = Json::parse(configJson(sampleConfig(), 1))["config"]["limits"];
  EXPECT_EQ(l["http2_max_concurrent_streams"], 100);
  EXPECT_EQ(l["http2_max_resets_per_second"], 200);
  EXPECT_EQ(l["http2_max_continuations"], 8);
  EXPECT_EQ(l["http2_header_table_size"], 4096);
  EXPECT_EQ(l["http2_settings_timeout"], "10s");
}

}  // namespace
}  // namespace meridian::proxy
