// The fleet: section, and a fleet config merged with an instance's per-host keys.
#include "config/fleet_config.h"

#include <gtest/gtest.h>

namespace meridian::config {
namespace {

constexpr const char* kLocal = R"(workers: 2
listeners:
  - name: public
    address: 127.0.0.1:0
    region: ams
admin:
  address: 127.0.0.1:0
regions:
  - {name: ams, lat: 52.4, lon: 4.9}
clusters:
  - name: local-only
    endpoints: [{address: "127.0.0.1:1", region: ams}]
routes:
  - name: all
    match: {path_prefix: /}
    backends: [{cluster: local-only}]
fleet:
  etcd: [http://127.0.0.1:2379, "https://10.0.0.2:2379"]
  prefix: /meridian/shop/
  instance: ams-1
  cache: /var/lib/meridian/fleet.json
)";

constexpr const char* kFleet = R"(regions:
  - {name: ams, lat: 52.4, lon: 4.9}
  - {name: fra, lat: 50.1, lon: 8.7}
clusters:
  - name: web
    endpoints:
      - {address: "127.0.0.1:2", region: ams}
      - {address: "127.0.0.1:3", region: fra}
routes:
  - name: all
    match: {path_prefix: /}
    backends: [{cluster: web}]
)";

TEST(FleetSection, IsReadWithItsDefaults) {
  auto r = loadString(kLocal, "local.yaml");
  ASSERT_TRUE(r.ok()) << r.diagnostics[0].text();
  const Fleet& f = r.config.fleet;
  EXPECT_TRUE(f.enabled());
  EXPECT_EQ(f.etcd.size(), 2u);
  EXPECT_EQ(f.prefix, "/meridian/shop/");
  EXPECT_EQ(f.instance, "ams-1");
  EXPECT_EQ(f.cache, "/var/lib/meridian/fleet.json");
}

TEST(FleetSection, AbsentMeansNoFleet) {
  std::string yaml = kLocal;
  yaml.resize(yaml.find("fleet:"));
  auto r = loadString(yaml, "local.yaml");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.config.fleet.enabled());
}

TEST(FleetSection, BadValuesAreReported) {
  auto r = loadString(R"(listeners: [{address: "127.0.0.1:0"}]
fleet:
  etcd: [127.0.0.1:2379]
  prefix: /no-slash
  cert_file: c.pem
)",
                      "f.yaml");
  ASSERT_EQ(r.diagnostics.size(), 3u) << r.diagnostics[0].text();
  // In the order of the file.
  EXPECT_NE(r.diagnostics[0].message.find("cert_file and key_file go together"), std::string::npos);
  EXPECT_NE(r.diagnostics[1].message.find("expected an etcd client URL"), std::string::npos);
  EXPECT_NE(r.diagnostics[2].message.find("must end with /"), std::string::npos);
}

TEST(FleetMerge, FleetKeysReplaceTheFilesAndPerHostKeysStay) {
  auto r = loadMerged(kLocal, kFleet, "fleet revision 7");
  ASSERT_TRUE(r.ok()) << r.diagnostics[0].text();
  EXPECT_EQ(r.config.workers, 2);
  ASSERT_EQ(r.config.listeners.size(), 1u);
  EXPECT_EQ(r.config.listeners[0].region, "ams");
  EXPECT_EQ(r.config.regions.size(), 2u);
  ASSERT_EQ(r.config.clusters.size(), 1u);
  EXPECT_EQ(r.config.clusters[0].name, "web");
  EXPECT_EQ(r.config.fleet.instance, "ams-1");
}

TEST(FleetMerge, ErrorsPointAtTheFleetConfigsOwnLines) {
  std::string bad = kFleet;
  bad.replace(bad.rfind("cluster: web"), 12, "cluster: nope");
  auto r = loadMerged(kLocal, bad, "fleet revision 8");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.diagnostics[0].file, "fleet revision 8");
  EXPECT_EQ(r.diagnostics[0].line, 12);
  EXPECT_NE(r.diagnostics[0].message.find("nope"), std::string::npos);
}

TEST(FleetCheck, RefusesPerHostKeysAndInvalidConfigs) {
  EXPECT_TRUE(checkFleetConfig(kFleet, "routes.yaml").empty());
  auto per_host =
      checkFleetConfig(std::string(kFleet) + "admin: {address: 127.0.0.1:1}\n", "routes.yaml");
  ASSERT_EQ(per_host.size(), 1u);
  EXPECT_EQ(per_host[0].line, 13);
  EXPECT_NE(per_host[0].message.find("admin: is per host"), std::string::npos);
  std::string bad = kFleet;
  bad.replace(bad.rfind("cluster: web"), 12, "cluster: nope");
  EXPECT_FALSE(checkFleetConfig(bad, "routes.yaml").empty());
  EXPECT_FALSE(checkFleetConfig("regions: [", "routes.yaml").empty());
}

TEST(FleetHealthSource, IsLocalUnlessSaid) {
  std::string yaml = kFleet;
  yaml.insert(yaml.find("routes:"), "    health_check: { source: fleet }\n");
  auto r = loadMerged(kLocal, yaml, "fleet");
  ASSERT_TRUE(r.ok()) << r.diagnostics[0].text();
  ASSERT_TRUE(r.config.clusters[0].health_check.has_value());
  EXPECT_TRUE(r.config.clusters[0].health_check->fleet_source);
  yaml = kFleet;
  yaml.insert(yaml.find("routes:"), "    health_check: { source: gossip }\n");
  auto bad = loadMerged(kLocal, yaml, "fleet");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.diagnostics[0].message.find("local"), std::string::npos);
  auto local = loadString(kLocal, "local.yaml");
  EXPECT_FALSE(local.config.clusters[0].health_check.has_value());
}

// idempotency.store: fleet needs a fleet: section: in an instance's file, and in a pushed
// fleet config (checked with a stand-in, since every instance has one).
TEST(FleetIdempotencyStore, NeedsAFleetSection) {
  std::string yaml = kFleet;
  yaml += "    idempotency: { store: fleet }\n";
  auto merged = loadMerged(kLocal, yaml, "fleet");
  ASSERT_TRUE(merged.ok()) << merged.diagnostics[0].text();
  EXPECT_EQ(merged.config.routes[0].idempotency.store, Idempotency::Store::Fleet);
  EXPECT_TRUE(checkFleetConfig(yaml, "routes.yaml").empty());
  std::string alone = kLocal;
  alone.resize(alone.find("fleet:"));
  alone += "    idempotency: { store: fleet }\n";
  auto refused = loadString(alone, "local.yaml");
  ASSERT_EQ(refused.diagnostics.size(), 1u);
  EXPECT_EQ(refused.diagnostics[0].line, 17);
  EXPECT_NE(refused.diagnostics[0].message.find(
                "routes[0].idempotency.store: fleet needs a fleet: section"),
            std::string::npos)
      << refused.diagnostics[0].text();
  auto local = loadString(kLocal, "local.yaml");
  EXPECT_EQ(local.config.routes[0].idempotency.store, Idempotency::Store::Local);
  yaml = kFleet;
  yaml += "    idempotency: { store: gossip }\n";
  EXPECT_FALSE(loadMerged(kLocal, yaml, "fleet").ok());
}

}  // namespace
}  // namespace meridian::config
