// Router::pick on the request path: geo lookup plus region ordering, 20 regions.
// Target: median under 1 us. Run: build/loadtest/router_bench (optionally with
// MERIDIAN_BENCH_GEO_DB=path.mmdb; otherwise a fixture database is generated).
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "health/health_snapshot.h"
#include "routing/geo.h"
#include "routing/router.h"

namespace meridian::routing {
namespace {

std::string fixtureDb() {
  if (const char* env = getenv("MERIDIAN_BENCH_GEO_DB")) return env;
  static std::string path;
  if (!path.empty()) return path;
  char dir[] = "/tmp/meridian-bench-XXXXXX";
  if (mkdtemp(dir) == nullptr) return "";
  path = std::string(dir) + "/geo.mmdb";
  std::string cmd = "perl " MERIDIAN_SOURCE_DIR "/tests/fixtures/make_geo_db.pl city " + path;
  if (system(cmd.c_str()) != 0) path.clear();
  return path;
}

std::shared_ptr<config::Config> twentyRegions(const std::string& db) {
  auto cfg = std::make_shared<config::Config>();
  config::Cluster web;
  web.name = "web";
  for (int i = 0; i < 20; ++i) {
    std::string name = "r" + std::to_string(i);
    cfg->regions.push_back({name, -60.0 + 6.0 * i, -170.0 + 17.0 * i, false, {}});
    web.endpoints.push_back({{"127.0.0.1", static_cast<uint16_t>(9000 + i)}, name, {}});
  }
  cfg->clusters = {web};
  config::Route r;
  r.name = "app";
  r.backends = {{"web", 1, {}}};
  r.residency["DE"] = {"r10", "r11"};
  cfg->routes = {r};
  cfg->geo.databases = {{db, {}}};
  return cfg;
}

void BM_LookupAndPick(benchmark::State& state) {
  auto cfg = twentyRegions(fixtureDb());
  auto geo = GeoDb::open(cfg->geo);
  if (!geo.ok()) {
    state.SkipWithError(geo.error().detail.c_str());
    return;
  }
  Router router(cfg);
  auto health = health::HealthSnapshot::initial(*cfg);
  const char* clients[] = {"203.0.113.5", "198.51.100.5", "192.0.2.5", "100.64.0.5"};
  IpAddress ips[4];
  for (int i = 0; i < 4; ++i) IpAddress::parse(clients[i], ips[i]);
  size_t n = 0;
  for (auto _ : state) {
    GeoLocation where = geo.value()->lookup(ips[n++ & 3]);
    Decision d = router.pick({"app.example.com", "/", "GET", &where, "", ""}, *health, n);
    benchmark::DoNotOptimize(d.order[0]);
  }
}
BENCHMARK(BM_LookupAndPick);

void BM_PickOnly(benchmark::State& state) {
  auto cfg = twentyRegions("");
  Router router(cfg);
  auto health = health::HealthSnapshot::initial(*cfg);
  GeoLocation where;
  where.known = true;
  where.lat = 52.37;
  where.lon = 4.90;
  size_t n = 0;
  for (auto _ : state) {
    Decision d = router.pick({"app.example.com", "/", "GET", &where, "", ""}, *health, ++n);
    benchmark::DoNotOptimize(d.order[0]);
  }
}
BENCHMARK(BM_PickOnly);

}  // namespace
}  // namespace meridian::routing

BENCHMARK_MAIN();
