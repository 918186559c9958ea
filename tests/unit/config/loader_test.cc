// The loader: the reference example loads clean and lands in the structs; every kind of
// problem is reported at the key or value it is about, all of them in one pass.
#include "config/loader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace meridian::config {
namespace {

using std::chrono::milliseconds;
using Lines = std::vector<std::string>;

// The reference example of the product contract, verbatim except for the `web-green` cluster, which
// the example's route names but does not define (a dangling name is an error).
constexpr const char* kProductExample =
    R"(workers: auto                  # worker threads, one event loop each
watch: false                   # true: reload when this file or a file it names changes
access_log: stdout             # stdout | off | a path
listeners:
  - name: public
    address: 0.0.0.0:8443      # required
    region: ams                # where this proxy runs: the order for clients with no location
    tls:                       # absent: plain HTTP (h2c prior knowledge allowed)
      certificates:            # chosen by SNI; the first is the default
        - cert: certs/app.pem
          key: certs/app.key
      min_version: "1.2"
    redirect_to_https: 8443    # optional on a plain listener: 308 to https on that port
admin:
  address: 127.0.0.1:9901
geo:
  database: data/GeoLite2-City.mmdb        # GeoIP2/GeoLite2 City layout or a flat layout
  latitude_path: location.latitude         # defaults fit GeoIP2; flat DBs use `latitude`
  longitude_path: location.longitude
  country_path: country.iso_code
  trusted_proxies: [127.0.0.0/8, 10.0.0.0/8]  # only these may set the client address
  client_ip_header: x-forwarded-for
  overrides:                               # operator corrections, checked before the database
    - { cidr: 10.20.0.0/16, lat: 52.37, lon: 4.90, country: NL }
regions:
  - { name: ams, lat: 52.37, lon: 4.90 }
  - { name: iad, lat: 38.95, lon: -77.45 }
  - { name: sin, lat: 1.35,  lon: 103.82, drain: true }   # drained: only a failover target
clusters:
  - name: web-blue
    endpoints:
      - { address: 127.0.0.1:9001, region: ams }
      - { address: 127.0.0.1:9002, region: iad }
    health_check:
      path: /healthz
      interval: 1s
      timeout: 500ms
      healthy_threshold: 2
      unhealthy_threshold: 2
      jitter: 10%              # spread checks so they do not fire in lockstep
      unhealthy_interval: 250ms  # check faster while down, to bring it back sooner
    outlier:                   # passive: real traffic failures eject an endpoint
      consecutive_failures: 5
      ejection: 10s            # grows with repeated ejections, capped
  - name: web-green
    endpoints:
      - { address: 127.0.0.1:9101, region: sin }
routes:
  - name: app
    match: { host: app.example.com, path_prefix: / }   # host may be *.example.com
    backends:                  # blue-green: weights, any non-negative integers
      - { cluster: web-blue, weight: 90 }
      - { cluster: web-green, weight: 10 }
    affinity: cookie           # none | cookie | client_ip: a client stays on its color
    allow_override: false      # true: `meridian-backend: NAME` picks the backend (testers)
    primary_region: iad        # where `meridian-replay: region=primary` sends a request
    residency:                 # clients from these countries are served only in these regions
      DE: [ams]
    replay:
      methods: [GET, HEAD, OPTIONS, PUT, DELETE]   # plus any request with Idempotency-Key
      on: [connect_failure, reset, timeout, 502, 503, 504]
      max_attempts: 3
      body_buffer: 1MiB        # a larger request body is streamed and never replayed
      backoff: { base: 25ms, max: 250ms }          # exponential, with full jitter
      budget: 20%              # replays may add at most this share of load
    pin_after_write: 5s        # after a replay to the primary, keep this client there this long
    all_unhealthy: reject      # reject (503) | route_anyway (fail open, like Envoy's panic mode)
    compat: fly                # also honour fly-replay / fly-prefer-region
    timeouts: { connect: 1s, per_try: 10s, request: 30s, idle: 60s }
)";

// The smallest valid config; error cases append to it or replace parts of it.
constexpr const char* kMinimal = "listeners:\n  - address: 127.0.0.1:0\n";

Lines problems(const std::string& yaml) {
  Lines out;
  for (const auto& d : loadString(yaml, "t.yaml").diagnostics) out.push_back(d.text());
  return out;
}

std::string joined(const Lines& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

TEST(LoadProductExample, LoadsWithNoDiagnostics) {
  auto r = loadString(kProductExample, "meridian.yaml");
  EXPECT_TRUE(r.ok()) << joined(problems(kProductExample));
}

TEST(LoadProductExample, TopLevelListenerAdminGeo) {
  const Config c = loadString(kProductExample, "meridian.yaml").config;
  EXPECT_EQ(c.workers, 0);
  EXPECT_FALSE(c.watch);
  EXPECT_EQ(c.access_log, "stdout");
  ASSERT_EQ(c.listeners.size(), 1u);
  const Listener& l = c.listeners[0];
  EXPECT_EQ(l.name, "public");
  EXPECT_EQ(l.address.host, "0.0.0.0");
  EXPECT_EQ(l.address.port, 8443);
  EXPECT_EQ(l.region, "ams");
  EXPECT_EQ(l.mark.line, 5);
  EXPECT_EQ(l.mark.col, 5);
  ASSERT_TRUE(l.tls);
  ASSERT_EQ(l.tls->certificates.size(), 1u);
  EXPECT_EQ(l.tls->certificates[0].cert, "certs/app.pem");
  EXPECT_EQ(l.tls->certificates[0].key, "certs/app.key");
  EXPECT_EQ(l.tls->certificates[0].mark.line, 10);
  EXPECT_EQ(l.tls->min_version, "1.2");
  EXPECT_EQ(l.tls->protocols, (Lines{"h2", "http/1.1"}));
  EXPECT_EQ(l.redirect_to_https, std::optional<uint16_t>(8443));
  EXPECT_EQ(c.admin.address.text(), "127.0.0.1:9901");
  ASSERT_EQ(c.geo.databases.size(), 1u);
  EXPECT_EQ(c.geo.databases[0].path, "data/GeoLite2-City.mmdb");
  EXPECT_EQ(c.geo.latitude_path, "location.latitude");
  EXPECT_EQ(c.geo.longitude_path, "location.longitude");
  EXPECT_EQ(c.geo.country_path, "country.iso_code");
  ASSERT_EQ(c.geo.trusted_proxies.size(), 2u);
  EXPECT_EQ(c.geo.trusted_proxies[1].text, "10.0.0.0/8");
  EXPECT_EQ(c.geo.trusted_proxies[1].prefix_len, 104);
  EXPECT_EQ(c.geo.client_ip_header, "x-forwarded-for");
  ASSERT_EQ(c.geo.overrides.size(), 1u);
  EXPECT_EQ(c.geo.overrides[0].cidr.text, "10.20.0.0/16");
  EXPECT_DOUBLE_EQ(c.geo.overrides[0].lat, 52.37);
  EXPECT_DOUBLE_EQ(c.geo.overrides[0].lon, 4.90);
  EXPECT_EQ(c.geo.overrides[0].country, "NL");
}

TEST(LoadProductExample, RegionsAndClusters) {
  const Config c = loadString(kProductExample, "meridian.yaml").config;
  ASSERT_EQ(c.regions.size(), 3u);
  EXPECT_EQ(c.regions[1].name, "iad");
  EXPECT_DOUBLE_EQ(c.regions[1].lon, -77.45);
  EXPECT_FALSE(c.regions[1].drain);
  EXPECT_TRUE(c.regions[2].drain);
  EXPECT_EQ(c.regions[2].mark.line, 28);  // flow maps are marked at their `{`
  EXPECT_EQ(c.regions[2].mark.col, 5);
  ASSERT_EQ(c.clusters.size(), 2u);
  const Cluster& blue = c.clusters[0];
  EXPECT_EQ(blue.name, "web-blue");
  EXPECT_EQ(blue.mark.line, 30);
  ASSERT_EQ(blue.endpoints.size(), 2u);
  EXPECT_EQ(blue.endpoints[1].address.text(), "127.0.0.1:9002");
  EXPECT_EQ(blue.endpoints[1].region, "iad");
  EXPECT_EQ(blue.endpoints[1].mark.line, 33);
  EXPECT_EQ(blue.endpoints[1].mark.col, 9);
  ASSERT_TRUE(blue.health_check);
  EXPECT_EQ(blue.health_check->path, "/healthz");
  EXPECT_EQ(blue.health_check->interval, milliseconds(1000));
  EXPECT_EQ(blue.health_check->timeout, milliseconds(500));
  EXPECT_EQ(blue.health_check->jitter_percent, 10);
  EXPECT_EQ(blue.health_check->unhealthy_interval, milliseconds(250));
  EXPECT_TRUE(blue.health_check->assume_healthy);
  ASSERT_TRUE(blue.outlier);
  EXPECT_EQ(blue.outlier->consecutive_failures, 5);
  EXPECT_EQ(blue.outlier->ejection, milliseconds(10000));
  EXPECT_EQ(blue.outlier->max_ejection, milliseconds(300000));  // default
  EXPECT_EQ(blue.pool.max_connections, 1024);                   // default
  EXPECT_FALSE(c.clusters[1].health_check);                     // absent: no active checks
  EXPECT_EQ(c.findCluster("web-green"), &c.clusters[1]);
}

TEST(LoadProductExample, Route) {
  const Config c = loadString(kProductExample, "meridian.yaml").config;
  ASSERT_EQ(c.routes.size(), 1u);
  const Route& r = c.routes[0];
  EXPECT_EQ(r.name, "app");
  EXPECT_EQ(r.match.host, "app.example.com");
  EXPECT_EQ(r.match.path_prefix, "/");
  ASSERT_EQ(r.backends.size(), 2u);
  EXPECT_EQ(r.backends[0].cluster, "web-blue");
  EXPECT_EQ(r.backends[0].weight, 90u);
  EXPECT_EQ(r.backends[1].weight, 10u);
  EXPECT_EQ(r.backends[1].mark.line, 53);
  EXPECT_EQ(r.affinity, Affinity::Cookie);
  EXPECT_FALSE(r.allow_override);
  EXPECT_EQ(r.primary_region, "iad");
  ASSERT_EQ(r.residency.count("DE"), 1u);
  EXPECT_EQ(r.residency.at("DE"), Lines{"ams"});
  EXPECT_EQ(r.replay.methods, (Lines{"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}));
  EXPECT_EQ(r.replay.on, (Lines{"connect_failure", "reset", "timeout", "502", "503", "504"}));
  EXPECT_EQ(r.replay.max_attempts, 3);
  EXPECT_EQ(r.replay.body_buffer, 1u << 20);
  EXPECT_EQ(r.replay.backoff_base, milliseconds(25));
  EXPECT_EQ(r.replay.backoff_max, milliseconds(250));
  EXPECT_EQ(r.replay.budget_percent, 20);
  EXPECT_EQ(r.pin_after_write, milliseconds(5000));
  EXPECT_EQ(r.all_unhealthy, AllUnhealthy::Reject);
  EXPECT_EQ(r.compat, "fly");
  EXPECT_EQ(r.timeouts.connect, milliseconds(1000));
  EXPECT_EQ(r.timeouts.per_try, milliseconds(10000));
  EXPECT_EQ(r.timeouts.request, milliseconds(30000));
  EXPECT_EQ(r.timeouts.idle, milliseconds(60000));
  EXPECT_EQ(r.timeouts.unacked, milliseconds(300));  // not in the file: the default
  EXPECT_EQ(r.mark.line, 49);
}

TEST(LoadMinimal, DefaultsApply) {
  auto r = loadString(kMinimal, "t.yaml");
  ASSERT_TRUE(r.ok()) << joined(problems(kMinimal));
  const Config& c = r.config;
  EXPECT_EQ(c.listeners[0].name, "127.0.0.1:0");  // unnamed: known by its address
  EXPECT_FALSE(c.listeners[0].tls);
  EXPECT_EQ(c.admin.address.text(), "127.0.0.1:9901");
  EXPECT_EQ(c.access_log, "stdout");
  EXPECT_EQ(c.limits.max_headers, 100);
  EXPECT_EQ(c.limits.buffer_per_direction, 32u * 1024);
  EXPECT_EQ(c.limits.request_body_timeout, milliseconds(10000));
  EXPECT_EQ(c.limits.request_body_min_rate, 1024u);
  EXPECT_EQ(c.limits.max_interim_responses, 16);
  EXPECT_TRUE(c.source_path.empty());  // only loadFile knows a path
}

// The defaults the lab chose (docs/resilience.md): a connect timeout under Linux's 1 s SYN
// retransmission, and a second connect in the region before crossing regions.
TEST(LoadMinimal, LabDefaults) {
  EXPECT_EQ(Timeouts{}.connect, milliseconds(500));
  EXPECT_EQ(Replay{}.connect_tries_per_region, 2);
  auto r = loadString(std::string(kMinimal) + "regions: [{name: ams, lat: 0, lon: 0}]\n" +
                          "clusters: [{name: c, endpoints: [{address: 127.0.0.1:1, region: ams}]}]\n" +
                          "routes: [{name: r, match: {path_prefix: /}, backends: [{cluster: c}],\n" +
                          "          replay: {connect_tries_per_region: 3}}]\n",
                      "t.yaml");
  ASSERT_TRUE(r.ok()) << joined(problems(kMinimal));
  EXPECT_EQ(r.config.routes[0].replay.connect_tries_per_region, 3);
  EXPECT_EQ(r.config.routes[0].timeouts.connect, milliseconds(500));
}

// timeouts.unacked: a duration, 0 turning the check off.
TEST(LoadMinimal, UnackedTimeout) {
  auto withUnacked = [](const std::string& v) {
    return loadString(
        std::string(kMinimal) + "regions: [{name: ams, lat: 0, lon: 0}]\n" +
            "clusters: [{name: c, endpoints: [{address: 127.0.0.1:1, region: ams}]}]\n" +
            "routes: [{name: r, match: {path_prefix: /}, backends: [{cluster: c}],\n" +
            "          timeouts: {unacked: " + v + "}}]\n",
        "t.yaml");
  };
  auto off = withUnacked("0s");
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off.config.routes[0].timeouts.unacked, milliseconds(0));
  auto on = withUnacked("1s");
  ASSERT_TRUE(on.ok());
  EXPECT_EQ(on.config.routes[0].timeouts.unacked, milliseconds(1000));
  EXPECT_FALSE(withUnacked("soon").ok());
}

TEST(LoadLimitsAndPool, ValuesLand) {
  auto r = loadString(std::string(kMinimal) +
                          "limits:\n"
                          "  max_header_bytes: 16KiB\n"
                          "  max_headers: 50\n"
                          "  max_body_bytes: 0\n"
                          "  max_connections: 200\n"
                          "  header_timeout: 2s\n"
                          "  keepalive_timeout: 1m\n"
                          "  drain_timeout: 0ms\n"
                          "  escaped_slashes: unescape_and_forward\n"
                          "  buffer_per_direction: 16KiB\n"
                          "  request_body_timeout: 5s\n"
                          "  request_body_min_rate: 0\n"
                          "  max_interim_responses: 0\n"
                          "regions: [{name: ams, lat: 1, lon: 2}]\n"
                          "clusters:\n"
                          "  - name: c\n"
                          "    endpoints: [{address: 'backend.internal:80', region: ams}]\n"
                          "    pool: {max_connections: 8, max_pending: 0, idle_timeout: 5s}\n"
                          "    health_check: {assume_healthy: false}\n"
                          "    outlier: {max_ejection: 1m, max_ejection_percent: 30%,\n"
                          "              failure_percentage: 40%,\n"
                          "              failure_percentage_min_requests: 50,\n"
                          "              failure_percentage_interval: 30s}\n",
                      "t.yaml");
  ASSERT_TRUE(r.ok()) << joined(problems(kMinimal));
  const Limits& l = r.config.limits;
  EXPECT_EQ(l.max_header_bytes, 16u * 1024);
  EXPECT_EQ(l.max_headers, 50);
  EXPECT_EQ(l.max_body_bytes, 0u);
  EXPECT_EQ(l.max_connections, 200);
  EXPECT_EQ(l.header_timeout, milliseconds(2000));
  EXPECT_EQ(l.keepalive_timeout, milliseconds(60000));
  EXPECT_EQ(l.drain_timeout, milliseconds(0));
  EXPECT_EQ(l.escaped_slashes, config::EscapedSlashes::UnescapeAndForward);
  EXPECT_EQ(loadString(kMinimal, "t").config.limits.escaped_slashes,
            config::EscapedSlashes::Reject);
  EXPECT_EQ(l.buffer_per_direction, 16u * 1024);
  EXPECT_EQ(l.request_body_timeout, milliseconds(5000));
  EXPECT_EQ(l.request_body_min_rate, 0u);
  EXPECT_EQ(l.max_interim_responses, 0);
  const Cluster& c = r.config.clusters[0];
  EXPECT_EQ(c.endpoints[0].address.host, "backend.internal");
  EXPECT_EQ(c.pool.max_connections, 8);
  EXPECT_EQ(c.pool.max_pending, 0);
  EXPECT_EQ(c.pool.idle_timeout, milliseconds(5000));
  EXPECT_FALSE(c.health_check->assume_healthy);
  EXPECT_EQ(c.health_check->interval, milliseconds(1000));  // the rest keep their defaults
  EXPECT_EQ(c.outlier->max_ejection, milliseconds(60000));
  EXPECT_EQ(c.outlier->max_ejection_percent, 30);
  EXPECT_EQ(c.outlier->failure_percentage, 40);
  EXPECT_EQ(c.outlier->failure_percentage_min_requests, 50);
  EXPECT_EQ(c.outlier->failure_percentage_interval, milliseconds(30000));
  EXPECT_EQ(config::Outlier{}.failure_percentage, 0);  // off unless asked for
}

TEST(LoadCapacity, LimitsSpillAndRoutingLand) {
  auto r =
      loadString(std::string(kMinimal) +
                     "regions: [{name: ams, lat: 1, lon: 2}]\n"
                     "routing: {order: latency, latency_weight: 0.5, latency_hysteresis: 25ms,\n"
                     "          latency_hysteresis_percent: 30%}\n"
                     "clusters:\n"
                     "  - name: c\n"
                     "    endpoints: [{address: '127.0.0.1:1', region: ams}]\n"
                     "    limits: {soft: 50, hard: 100}\n"
                     "    spill: hard\n"
                     "  - name: d\n"
                     "    endpoints: [{address: '127.0.0.1:1', region: ams}]\n"
                     "    limits: {hard: 10}\n",
                 "t.yaml");
  ASSERT_TRUE(r.ok()) << joined(problems(kMinimal));
  const Cluster& c = r.config.clusters[0];
  EXPECT_EQ(c.capacity.soft, 50);
  EXPECT_EQ(c.capacity.hard, 100);
  EXPECT_EQ(c.spill, config::Spill::Hard);
  const Cluster& d = r.config.clusters[1];
  EXPECT_EQ(d.capacity.soft, 0);
  EXPECT_EQ(d.capacity.hard, 10);
  EXPECT_EQ(d.spill, config::Spill::Soft);
  EXPECT_EQ(r.config.routing.order, config::RegionOrder::Latency);
  EXPECT_DOUBLE_EQ(r.config.routing.latency_weight, 0.5);
  EXPECT_EQ(r.config.routing.latency_hysteresis, milliseconds(25));
  EXPECT_EQ(r.config.routing.latency_hysteresis_percent, 30);
  const Config plain = loadString(kMinimal, "t").config;
  EXPECT_EQ(plain.routing.order, config::RegionOrder::Distance);
  EXPECT_FALSE(config::Cluster{}.capacity.limited());
}

TEST(LoadCapacity, BadValuesAreNamed) {
  const std::string base = std::string(kMinimal) +
                           "regions: [{name: ams, lat: 1, lon: 2}]\n"
                           "clusters:\n"
                           "  - name: c\n"
                           "    endpoints: [{address: '127.0.0.1:1', region: ams}]\n";
  EXPECT_EQ(problems(base + "    limits: {soft: 20, hard: 10}\n"),
            (Lines{"t.yaml:7:20: clusters[0].limits.soft: must not exceed hard (10), got 20"}));
  EXPECT_EQ(problems(base + "    limits: {soft: 0}\n").size(), 1u);
  EXPECT_EQ(problems(base + "    limits: {max: 3}\n").size(), 1u);
  EXPECT_EQ(problems(base + "    spill: sometimes\n").size(), 1u);
  EXPECT_EQ(problems(std::string(kMinimal) + "routing: {order: fastest}\n").size(), 1u);
  EXPECT_EQ(problems(std::string(kMinimal) + "routing: {latency_weight: -1}\n").size(), 1u);
}

TEST(LoadUpstreamTls, ValuesLandAndDefaultsVerify) {
  auto r = loadString(
      "listeners: [{address: '127.0.0.1:0'}]\n"
      "regions: [{name: ams, lat: 1, lon: 2}]\n"
      "clusters:\n"
      "  - name: c\n"
      "    endpoints: [{address: 'app.internal:443', region: ams}]\n"
      "    tls:\n"
      "      ca: certs/ca.pem\n"
      "      server_name: app.internal\n"
      "      client_cert: {cert: certs/proxy.pem, key: certs/proxy.key}\n"
      "      min_version: \"1.3\"\n"
      "  - name: d\n"
      "    endpoints: [{address: 'app.internal:443', region: ams}]\n"
      "    tls: {}\n"
      "  - name: e\n"
      "    endpoints: [{address: 'app.internal:80', region: ams}]\n",
      "t.yaml");
  ASSERT_TRUE(r.ok());
  const UpstreamTls& t = *r.config.clusters[0].tls;
  EXPECT_EQ(t.ca, "certs/ca.pem");
  EXPECT_EQ(t.server_name, "app.internal");
  EXPECT_EQ(t.client_cert->cert, "certs/proxy.pem");
  EXPECT_EQ(t.client_cert->key, "certs/proxy.key");
  EXPECT_EQ(t.min_version, "1.3");
  EXPECT_TRUE(t.verify);
  const UpstreamTls& d = *r.config.clusters[1].tls;  // every default: system store, verify
  EXPECT_TRUE(d.ca.empty());
  EXPECT_TRUE(d.server_name.empty());
  EXPECT_FALSE(d.client_cert);
  EXPECT_EQ(d.min_version, "1.2");
  EXPECT_TRUE(d.verify);
  EXPECT_FALSE(r.config.clusters[2].tls);  // absent: plain
}

TEST(LoadUpstreamTls, VerifyOffNeedsItsKeyAndValuesAreChecked) {
  const std::string head =
      "listeners: [{address: '127.0.0.1:0'}]\n"
      "regions: [{name: ams, lat: 1, lon: 2}]\n"
      "clusters:\n"
      "  - name: c\n"
      "    endpoints: [{address: 'a:443', region: ams}]\n";
  EXPECT_EQ(problems(head + "    tls: {verify: false}\n"),
            Lines{"t.yaml:6:19: clusters[0].tls.verify: false turns off certificate "
                  "verification; it needs allow_unverified: true beside it"});
  EXPECT_TRUE(problems(head + "    tls: {verify: false, allow_unverified: true}\n").empty());
  EXPECT_EQ(problems(head + "    tls: {ca: '', min_version: '1.1', client_cert: {cert: a}, "
                            "sni: x}\n"),
            (Lines{"t.yaml:6:15: clusters[0].tls.ca: must not be empty (leave it out for the "
                   "system store)",
                   "t.yaml:6:32: clusters[0].tls.min_version: expected 1.2 or 1.3, got \"1.1\"",
                   "t.yaml:6:52: clusters[0].tls.client_cert: missing required key \"key\"",
                   "t.yaml:6:63: unknown key \"sni\" in clusters[0].tls"}));
}

TEST(LoadTopLevel, WorkersAutoOrPositive) {
  EXPECT_EQ(loadString("workers: 4\n" + std::string(kMinimal), "t").config.workers, 4);
  EXPECT_EQ(problems("workers: 0\n" + std::string(kMinimal)),
            Lines{"t.yaml:1:10: workers: expected auto or an integer from 1 to 1024, got \"0\""});
  EXPECT_EQ(problems("workers: many\n" + std::string(kMinimal)),
            Lines{"t.yaml:1:10: workers: expected auto or an integer from 1 to 1024, "
                  "got \"many\""});
}

TEST(LoadTopLevel, AccessLogAndWatch) {
  auto r =
      loadString("access_log: /var/log/meridian.log\nwatch: true\n" + std::string(kMinimal), "t");
  EXPECT_EQ(r.config.access_log, "/var/log/meridian.log");
  EXPECT_TRUE(r.config.watch);
  EXPECT_EQ(problems("access_log: ''\n" + std::string(kMinimal)),
            Lines{"t.yaml:1:13: access_log: expected stdout, off or a file path"});
}

TEST(LoadErrors, UnknownKeyAtTheKeyWithSuggestion) {
  EXPECT_EQ(problems("listeners:\n"
                     "  - address: 127.0.0.1:0\n"
                     "    adress: 127.0.0.1:1\n"
                     "colour: blue\n"),
            (Lines{"t.yaml:3:5: unknown key \"adress\" in listeners[0] (did you mean "
                   "\"address\"?)",
                   "t.yaml:4:1: unknown key \"colour\""}));
}

TEST(LoadErrors, WrongTypes) {
  EXPECT_EQ(problems("watch: yes\n"
                     "listeners: {address: 127.0.0.1:0}\n"
                     "regions:\n"
                     "  - {name: ams, lat: north, lon: 2}\n"),
            (Lines{"t.yaml:1:8: watch: expected true or false, got \"yes\"",
                   "t.yaml:2:12: listeners: expected a list, got a map",
                   "t.yaml:4:22: regions[0].lat: expected a number, got \"north\""}));
}

TEST(LoadErrors, BadDurationAtTheValue) {
  EXPECT_EQ(
      problems(std::string(kMinimal) + "regions: [{name: ams, lat: 1, lon: 2}]\n"
                                       "clusters:\n"
                                       "  - name: c\n"
                                       "    endpoints: [{address: 10.0.0.1:80, region: ams}]\n"
                                       "    health_check:\n"
                                       "      interval: 5\n"
                                       "      timeout: 0ms\n"),
      (Lines{"t.yaml:8:17: clusters[0].health_check.interval: invalid duration \"5\" "
             "(write an integer and a unit: 250ms, 2s, 1m, 1h)",
             "t.yaml:9:16: clusters[0].health_check.timeout: must be at least 1ms, got 0ms"}));
}

TEST(LoadErrors, DanglingClusterAndRegion) {
  EXPECT_EQ(problems("listeners:\n"
                     "  - address: 127.0.0.1:0\n"
                     "    region: fra\n"
                     "regions: [{name: ams, lat: 1, lon: 2}, {name: iad, lat: 3, lon: 4}]\n"
                     "clusters:\n"
                     "  - name: blue\n"
                     "    endpoints: [{address: 10.0.0.1:80, region: sin}]\n"
                     "routes:\n"
                     "  - name: app\n"
                     "    backends: [{cluster: green}]\n"
                     "    primary_region: ord\n"
                     "    residency: {DE: [ams, fra]}\n"),
            (Lines{"t.yaml:3:13: listeners[0].region: unknown region \"fra\" (known: ams, iad)",
                   "t.yaml:7:48: clusters[0].endpoints[0].region: unknown region \"sin\" "
                   "(known: ams, iad)",
                   "t.yaml:10:26: routes[0].backends[0].cluster: unknown cluster \"green\" "
                   "(known: blue)",
                   "t.yaml:11:21: routes[0].primary_region: unknown region \"ord\" "
                   "(known: ams, iad)",
                   "t.yaml:12:27: routes[0].residency.DE[1]: unknown region \"fra\" "
                   "(known: ams, iad)"}));
}

TEST(LoadErrors, DanglingClusterWhenNoneDefined) {
  EXPECT_EQ(problems(std::string(kMinimal) + "routes: [{name: a, backends: [{cluster: x}]}]\n"),
            Lines{"t.yaml:3:41: routes[0].backends[0].cluster: unknown cluster \"x\" "
                  "(no clusters are defined)"});
}

TEST(LoadErrors, DuplicateNames) {
  EXPECT_EQ(problems("listeners:\n"
                     "  - {name: pub, address: 127.0.0.1:0}\n"
                     "  - {name: pub, address: 127.0.0.1:0}\n"
                     "regions:\n"
                     "  - {name: ams, lat: 1, lon: 2}\n"
                     "  - {name: ams, lat: 1, lon: 2}\n"
                     "clusters:\n"
                     "  - {name: c, endpoints: [{address: 'a:1', region: ams}]}\n"
                     "  - {name: c, endpoints: [{address: 'b:1', region: ams}]}\n"
                     "routes:\n"
                     "  - {name: r, backends: [{cluster: c}]}\n"
                     "  - {name: r, backends: [{cluster: c}], match: {path_prefix: /x}}\n"),
            (Lines{"t.yaml:3:12: listeners[1].name: duplicate listener name \"pub\" "
                   "(first at 2:12)",
                   "t.yaml:6:12: regions[1].name: duplicate region name \"ams\" (first at 5:12)",
                   "t.yaml:9:12: clusters[1].name: duplicate cluster name \"c\" (first at 8:12)",
                   "t.yaml:12:12: routes[1].name: duplicate route name \"r\" (first at 11:12)"}));
}

TEST(LoadErrors, DuplicateKey) {
  EXPECT_EQ(problems(std::string(kMinimal) + "watch: true\nwatch: false\n"),
            Lines{"t.yaml:4:1: duplicate key \"watch\" (first at 3:1)"});
}

TEST(LoadErrors, ManyProblemsAllReportedInFileOrder) {
  EXPECT_EQ(problems("workers: -2\n"
                     "listeners:\n"
                     "  - address: 127.0.0.1:99999\n"
                     "    tls: {min_version: '1.1'}\n"
                     "regions: [{name: ams, lat: 91, lon: 2}]\n"
                     "clusters:\n"
                     "  - name: c\n"
                     "    endpoints: [{address: 10.0.0.1:80}]\n"
                     "routes:\n"
                     "  - name: r\n"
                     "    match: {host: 'a.example.com:443', path_prefix: api}\n"
                     "    backends: [{cluster: c, weight: -1}]\n"
                     "    replay: {on: [500, 404, reset], max_attempts: 0, budget: 120%}\n"
                     "    affinity: sticky\n"),
            (Lines{"t.yaml:1:10: workers: expected auto or an integer from 1 to 1024, "
                   "got \"-2\"",
                   "t.yaml:3:14: listeners[0].address: invalid address \"127.0.0.1:99999\" "
                   "(write host:port: 0.0.0.0:8443, [::1]:8443, app.internal:80)",
                   "t.yaml:4:10: listeners[0].tls: at least one certificate is required",
                   "t.yaml:4:24: listeners[0].tls.min_version: expected 1.2 or 1.3, got \"1.1\"",
                   "t.yaml:5:28: regions[0].lat: must be from -90 to 90, got 91",
                   "t.yaml:8:17: clusters[0].endpoints[0]: missing required key \"region\"",
                   "t.yaml:11:19: routes[0].match.host: expected a host name, *.suffix or *, "
                   "without a port, got \"a.example.com:443\"",
                   "t.yaml:11:53: routes[0].match.path_prefix: must start with '/', got \"api\"",
                   "t.yaml:12:37: routes[0].backends[0].weight: must be from 0 to 4294967295, "
                   "got -1",
                   "t.yaml:13:24: routes[0].replay.on[1]: expected connect_failure, reset, "
                   "timeout, a 5xx status or a gRPC status name (unavailable, "
                   "resource_exhausted, ...), got \"404\"",
                   "t.yaml:13:51: routes[0].replay.max_attempts: must be at least 1, got 0",
                   "t.yaml:13:62: routes[0].replay.budget: invalid percentage \"120%\" "
                   "(write an integer from 0% to 100%)",
                   "t.yaml:14:15: routes[0].affinity: expected none, cookie or client_ip, "
                   "got \"sticky\""}));
}

TEST(LoadErrors, RequiredKeys) {
  EXPECT_EQ(problems("listeners:\n"
                     "  - name: x\n"
                     "regions: [{lat: 1, lon: 2}]\n"
                     "clusters: [{endpoints: [{region: r}]}, {name: e}]\n"
                     "routes: [{backends: []}, {name: b}]\n"),
            (Lines{"t.yaml:2:5: listeners[0]: missing required key \"address\"",
                   "t.yaml:3:11: regions[0]: missing required key \"name\"",
                   "t.yaml:4:12: clusters[0]: missing required key \"name\"",
                   "t.yaml:4:25: clusters[0].endpoints[0]: missing required key \"address\"",
                   "t.yaml:4:34: clusters[0].endpoints[0].region: unknown region \"r\" "
                   "(no regions are defined)",
                   "t.yaml:4:40: clusters[1]: missing required key \"endpoints\"",
                   "t.yaml:5:10: routes[0]: missing required key \"name\"",
                   "t.yaml:5:21: routes[0].backends: at least one backend is required",
                   "t.yaml:5:26: routes[1]: missing required key \"backends\""}));
}

TEST(LoadErrors, NoListeners) {
  EXPECT_EQ(problems("watch: false\n"), Lines{"t.yaml:1:1: missing required key \"listeners\""});
  EXPECT_EQ(problems("listeners: []\n"),
            Lines{"t.yaml:1:12: listeners: at least one listener is required"});
}

TEST(LoadErrors, WeightsMustNotAllBeZero) {
  std::string base = std::string(kMinimal) +
                     "regions: [{name: ams, lat: 1, lon: 2}]\n"
                     "clusters:\n"
                     "  - {name: a, endpoints: [{address: 'a:1', region: ams}]}\n"
                     "  - {name: b, endpoints: [{address: 'b:1', region: ams}]}\n";
  EXPECT_EQ(problems(base + "routes: [{name: r, backends: [{cluster: a, weight: 0}, "
                            "{cluster: b, weight: 0}]}]\n"),
            Lines{"t.yaml:7:30: routes[0].backends: all weights are 0; give one backend a "
                  "positive weight"});
  EXPECT_TRUE(loadString(base + "routes: [{name: r, backends: [{cluster: a, weight: 0}, "
                                "{cluster: b, weight: 1}]}]\n",
                         "t")
                  .ok());
  EXPECT_EQ(problems(base + "routes: [{name: r, backends: [{cluster: a}, {cluster: a}]}]\n"),
            Lines{"t.yaml:7:55: routes[0].backends[1].cluster: cluster \"a\" is listed twice"});
}

TEST(LoadErrors, EnumsAndChoices) {
  std::string base = std::string(kMinimal) +
                     "regions: [{name: ams, lat: 1, lon: 2}]\n"
                     "clusters: [{name: a, endpoints: [{address: 'a:1', region: ams}]}]\n"
                     "routes:\n"
                     "  - name: r\n"
                     "    backends: [{cluster: a}]\n";
  auto ok = loadString(base + "    affinity: client_ip\n    all_unhealthy: route_anyway\n", "t");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.config.routes[0].affinity, Affinity::ClientIp);
  EXPECT_EQ(ok.config.routes[0].all_unhealthy, AllUnhealthy::RouteAnyway);
  EXPECT_EQ(problems(base + "    all_unhealthy: fail_open\n    compat: envoy\n"),
            (Lines{"t.yaml:8:20: routes[0].all_unhealthy: expected reject or route_anyway, "
                   "got \"fail_open\"",
                   "t.yaml:9:13: routes[0].compat: expected fly, got \"envoy\""}));
}

TEST(LoadErrors, ReplayMethodsAndHostPatterns) {
  std::string base = std::string(kMinimal) +
                     "regions: [{name: ams, lat: 1, lon: 2}]\n"
                     "clusters: [{name: a, endpoints: [{address: 'a:1', region: ams}]}]\n"
                     "routes:\n"
                     "  - name: r\n"
                     "    backends: [{cluster: a}]\n";
  auto ok = loadString(base +
                           "    match: {host: '*.Example.com'}\n"
                           "    replay: {methods: [GET, PURGE], on: [599]}\n",
                       "t");
  ASSERT_TRUE(ok.ok()) << joined(problems(base));
  EXPECT_EQ(ok.config.routes[0].match.host, "*.example.com");
  EXPECT_EQ(ok.config.routes[0].replay.methods, (Lines{"GET", "PURGE"}));
  EXPECT_EQ(ok.config.routes[0].replay.on, Lines{"599"});
  EXPECT_EQ(problems(base + "    match: {host: 'a*.example.com'}\n"
                            "    replay: {methods: ['GET /', 'P(O)ST']}\n"),
            (Lines{"t.yaml:8:19: routes[0].match.host: expected a host name, *.suffix or *, "
                   "without a port, got \"a*.example.com\"",
                   "t.yaml:9:24: routes[0].replay.methods[0]: \"GET /\" is not an HTTP method",
                   "t.yaml:9:33: routes[0].replay.methods[1]: \"P(O)ST\" is not an HTTP method"}));
}

TEST(LoadErrors, TlsNeedsCertificateAndKnownVersion) {
  EXPECT_EQ(problems("listeners:\n"
                     "  - address: 0.0.0.0:443\n"
                     "    tls:\n"
                     "      certificates: []\n"
                     "      min_version: 1.3\n"
                     "      protocols: [h3]\n"),
            (Lines{"t.yaml:4:21: listeners[0].tls.certificates: at least one certificate is "
                   "required",
                   "t.yaml:6:19: listeners[0].tls.protocols[0]: expected h2 or http/1.1, got "
                   "\"h3\""}));
  EXPECT_EQ(problems("listeners:\n"
                     "  - address: 0.0.0.0:443\n"
                     "    tls: {certificates: [{cert: a.pem, key: a.key}], protocols: []}\n"),
            Lines{"t.yaml:3:65: listeners[0].tls.protocols: at least one protocol is required"});
  auto r = loadString(
      "listeners:\n"
      "  - address: 0.0.0.0:443\n"
      "    tls: {certificates: [{cert: a.pem, key: a.key}], min_version: 1.3,\n"
      "          protocols: [http/1.1]}\n",
      "t");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config.listeners[0].tls->min_version, "1.3");
  EXPECT_EQ(r.config.listeners[0].tls->protocols, Lines{"http/1.1"});
}

TEST(LoadErrors, EndpointsAndOutlier) {
  EXPECT_EQ(problems(std::string(kMinimal) + "regions: [{name: ams, lat: 1, lon: 2}]\n"
                                             "clusters:\n"
                                             "  - name: c\n"
                                             "    endpoints:\n"
                                             "      - {address: '10.0.0.1:0', region: ams}\n"
                                             "      - {address: '10.0.0.2:80', region: ams}\n"
                                             "      - {address: '10.0.0.2:80', region: ams}\n"
                                             "    outlier: {ejection: 1m, max_ejection: 30s}\n"),
            (Lines{"t.yaml:7:19: clusters[0].endpoints[0].address: port 0 is only valid on a "
                   "listener",
                   "t.yaml:9:9: clusters[0].endpoints[2]: endpoint 10.0.0.2:80 is listed twice",
                   "t.yaml:10:43: clusters[0].outlier: max_ejection (30000ms) must be at least "
                   "ejection (60000ms)"}));
}

TEST(LoadErrors, GeoValues) {
  EXPECT_EQ(problems(std::string(kMinimal) +
                     "geo:\n"
                     "  latitude_path: location..lat\n"
                     "  trusted_proxies: [10.0.0.0/8, 10.0.0.0/33, fd00::/8]\n"
                     "  client_ip_header: 'x forwarded'\n"
                     "  overrides:\n"
                     "    - {cidr: 10.20.0.0/16, lat: 52.37, lon: 190, country: nl}\n"
                     "    - {lat: 1, lon: 2}\n"),
            (Lines{"t.yaml:4:18: geo.latitude_path: expected a dotted path such as "
                   "location.latitude, got \"location..lat\"",
                   "t.yaml:5:33: geo.trusted_proxies[1]: invalid CIDR \"10.0.0.0/33\" "
                   "(write 10.0.0.0/8, fd00::/8, or a single address)",
                   "t.yaml:6:21: geo.client_ip_header: expected a header name, got "
                   "\"x forwarded\"",
                   "t.yaml:8:45: geo.overrides[0].lon: must be from -180 to 180, got 190",
                   "t.yaml:8:59: geo.overrides[0].country: expected a two-letter ISO country "
                   "code such as NL, got \"nl\"",
                   "t.yaml:9:7: geo.overrides[1]: missing required key \"cidr\""}));
}

TEST(LoadErrors, LimitsHealthCheckAndPoolValues) {
  EXPECT_EQ(problems("listeners:\n"
                     "  - {address: 127.0.0.1:0, redirect_to_https: 0}\n"
                     "regions: [{name: 'a b', lat: 1, lon: 2}, {name: ams, lat: 1, lon: 2}]\n"
                     "clusters:\n"
                     "  - name: c\n"
                     "    endpoints: [{address: 'a:1', region: ams}]\n"
                     "    health_check: {path: healthz, healthy_threshold: 0, jitter: 10}\n"
                     "    pool: {max_connections: 0, max_pending: -1, idle_timeout: 1.5s}\n"
                     "limits:\n"
                     "  max_header_bytes: 0\n"
                     "  max_body_bytes: 1MB\n"
                     "  header_timeout: 10\n"
                     "  escaped_slashes: decode\n"
                     "  buffer_per_direction: 1KiB\n"
                     "  request_body_timeout: 0ms\n"
                     "  max_interim_responses: -1\n"),
            (Lines{"t.yaml:2:47: listeners[0].redirect_to_https: must be from 1 to 65535, got 0",
                   "t.yaml:3:18: regions[0].name: \"a b\" may contain only letters, digits, "
                   "'.', '_' and '-'",
                   "t.yaml:7:26: clusters[0].health_check.path: must start with '/', got "
                   "\"healthz\"",
                   "t.yaml:7:54: clusters[0].health_check.healthy_threshold: must be at least 1, "
                   "got 0",
                   "t.yaml:7:65: clusters[0].health_check.jitter: invalid percentage \"10\" "
                   "(write an integer from 0% to 100%)",
                   "t.yaml:8:29: clusters[0].pool.max_connections: must be at least 1, got 0",
                   "t.yaml:8:45: clusters[0].pool.max_pending: must be at least 0, got -1",
                   "t.yaml:8:63: clusters[0].pool.idle_timeout: invalid duration \"1.5s\" "
                   "(write an integer and a unit: 250ms, 2s, 1m, 1h)",
                   "t.yaml:10:21: limits.max_header_bytes: must be at least 1",
                   "t.yaml:11:19: limits.max_body_bytes: invalid size \"1MB\" (write bytes, or "
                   "an integer and KiB, MiB or GiB: 512, 16KiB, 1MiB)",
                   "t.yaml:12:19: limits.header_timeout: invalid duration \"10\" (write an "
                   "integer and a unit: 250ms, 2s, 1m, 1h)",
                   "t.yaml:13:20: limits.escaped_slashes: expected reject, keep, "
                   "unescape_and_redirect or unescape_and_forward, got \"decode\"",
                   "t.yaml:14:25: limits.buffer_per_direction: must be from 4KiB to 64MiB, got "
                   "1024 bytes",
                   "t.yaml:15:25: limits.request_body_timeout: must be at least 1ms, got 0ms",
                   "t.yaml:16:26: limits.max_interim_responses: must be at least 0, got -1"}));
}

TEST(LoadErrors, KeysMustBeStringsAndMergesMaps) {
  EXPECT_EQ(problems(std::string(kMinimal) + "? [a, b]\n: 1\nadmin: {<<: 5}\n"),
            (Lines{"t.yaml:3:3: a key must be a string, got a list",
                   "t.yaml:5:13: admin: a merge key `<<` takes a map or a list of maps"}));
}

TEST(LoadErrors, SmallerChecks) {
  EXPECT_EQ(problems("listeners:\n"
                     "  - name: ''\n"
                     "    address: 0.0.0.0:443\n"
                     "    tls: {certificates: [{cert: a.pem}], protocols: [h2, h2]}\n"
                     "admin: {address: 'localhost'}\n"
                     "routes:\n"
                     "  - name: r\n"
                     "    backends: [{cluster: c}]\n"
                     "    replay: {backoff: {base: 1s, max: 100ms}}\n"
                     "clusters: [{name: c, endpoints: [{address: 'c:1', region: a}]}]\n"
                     "regions: [{name: a, lat: 0, lon: 0}]\n"),
            (Lines{"t.yaml:2:11: listeners[0].name: must not be empty",
                   "t.yaml:4:26: listeners[0].tls.certificates[0]: missing required key \"key\"",
                   "t.yaml:4:58: listeners[0].tls.protocols[1]: h2 is listed twice",
                   "t.yaml:5:18: admin.address: invalid address \"localhost\" (write host:port: "
                   "0.0.0.0:8443, [::1]:8443, app.internal:80)",
                   "t.yaml:9:39: routes[0].replay.backoff: max (100ms) must be at least base "
                   "(1000ms)"}));
}

TEST(LoadAdmin, TokenFileIsKeptWithItsMark) {
  auto r = loadString(
      std::string(kMinimal) + "admin: {address: 0.0.0.0:9901, token_file: t.token}\n", "t.yaml");
  ASSERT_TRUE(r.ok()) << joined(problems(kMinimal));
  EXPECT_EQ(r.config.admin.token_file, "t.token");
  EXPECT_EQ(r.config.admin.token_file_mark.line, 3);
  EXPECT_EQ(r.config.admin.token_file_mark.col, 44);
}

TEST(LoadAdmin, NonLoopbackAddressNeedsATokenFile) {
  EXPECT_EQ(problems(std::string(kMinimal) + "admin: {address: 0.0.0.0:9901}\n"),
            (Lines{"t.yaml:3:18: admin.address: 0.0.0.0:9901 is not a loopback address: set "
                   "admin.token_file (a bearer token for POSTs and /config)"}));
  EXPECT_EQ(problems(std::string(kMinimal) + "admin:\n  address: admin.internal:9901\n").size(),
            1u);
  EXPECT_EQ(problems(std::string(kMinimal) + "admin: {address: '[::]:9901'}\n").size(), 1u);
  for (const char* loopback : {"127.0.0.1:9901", "127.1.2.3:0", "'[::1]:9901'", "localhost:9901"})
    EXPECT_EQ(problems(std::string(kMinimal) + "admin: {address: " + loopback + "}\n"), Lines{})
        << loopback;
  EXPECT_EQ(problems(std::string(kMinimal) + "admin: {address: 0.0.0.0:9901, token_file: ''}\n"),
            (Lines{"t.yaml:3:18: admin.address: 0.0.0.0:9901 is not a loopback address: set "
                   "admin.token_file (a bearer token for POSTs and /config)",
                   "t.yaml:3:44: admin.token_file: must not be empty"}));
}

TEST(LoadErrors, ListenerAddressUsedTwice) {
  EXPECT_EQ(problems("listeners:\n"
                     "  - {name: a, address: 0.0.0.0:80}\n"
                     "  - {name: b, address: 0.0.0.0:80}\n"),
            Lines{"t.yaml:3:5: listener \"b\": address 0.0.0.0:80 is already used by listener "
                  "\"a\""});
}

TEST(LoadErrors, RoutesWithTheSameMatch) {
  std::string base = std::string(kMinimal) +
                     "regions: [{name: ams, lat: 1, lon: 2}]\n"
                     "clusters: [{name: a, endpoints: [{address: 'a:1', region: ams}]}]\n"
                     "routes:\n"
                     "  - {name: one, backends: [{cluster: a}], match: {host: '*'}}\n"
                     "  - {name: two, backends: [{cluster: a}]}\n";
  EXPECT_EQ(problems(base),
            Lines{"t.yaml:7:5: route \"two\" has the same match as route \"one\" and would "
                  "never be chosen"});
}

TEST(LoadErrors, ResidencyCountryCodes) {
  EXPECT_EQ(problems(std::string(kMinimal) +
                     "regions: [{name: ams, lat: 1, lon: 2}]\n"
                     "clusters: [{name: a, endpoints: [{address: 'a:1', region: ams}]}]\n"
                     "routes:\n"
                     "  - name: r\n"
                     "    backends: [{cluster: a}]\n"
                     "    residency:\n"
                     "      de: [ams]\n"
                     "      FR: []\n"),
            (Lines{"t.yaml:9:7: routes[0].residency: expected a two-letter ISO country code "
                   "such as DE, got \"de\"",
                   "t.yaml:10:11: routes[0].residency.FR: at least one region is required"}));
}

TEST(LoadYaml, SyntaxErrorAtItsMark) {
  EXPECT_EQ(problems("listeners: [\n  - a\n"),
            Lines{"t.yaml:2:3: YAML syntax error: illegal block entry"});
}

TEST(LoadYaml, EmptyAndNonMapDocuments) {
  EXPECT_EQ(problems(""), Lines{"t.yaml:1:1: the config is empty"});
  EXPECT_EQ(problems("# only a comment\n"), Lines{"t.yaml:1:1: the config is empty"});
  EXPECT_EQ(problems("- a\n- b\n"),
            Lines{"t.yaml:1:1: the config must be a map of settings (workers, listeners, ...), "
                  "got a list"});
  EXPECT_EQ(problems("hello\n"),
            Lines{"t.yaml:1:1: the config must be a map of settings (workers, listeners, ...), "
                  "got \"hello\""});
}

TEST(LoadYaml, OnlyOneDocument) {
  EXPECT_EQ(problems(std::string(kMinimal) + "---\nworkers: 2\n"),
            Lines{"t.yaml:4:1: only one YAML document is allowed (found a second one)"});
}

// Found by config_fuzz: yaml-cpp 0.7's LoadAll reports empty documents forever on this input.
TEST(LoadYaml, MalformedInputThatMadeYamlCppLoopEndsWithADiagnostic) {
  const std::string input(",rs:\nregions\xaf& - address:dress: 127backends.0.]0.)pool1:0\n");
  EXPECT_EQ(problems(input),
            Lines{"t.yaml:1:1: the config must be a map of settings (workers, listeners, ...), "
                  "got nothing"});
}

TEST(LoadYaml, NullValueIsReportedAtItsKey) {
  EXPECT_EQ(problems("listeners:\n  - address:\n    region: ams\n"),
            (Lines{"t.yaml:2:5: listeners[0].address: missing value (expected host:port)",
                   "t.yaml:3:13: listeners[0].region: unknown region \"ams\" (no regions are "
                   "defined)"}));
}

TEST(LoadYaml, MergeKeysShareSettings) {
  auto r = loadString(std::string(kMinimal) +
                          "regions: [{name: ams, lat: 1, lon: 2}]\n"
                          "clusters:\n"
                          "  - name: a\n"
                          "    endpoints: [{address: 'a:1', region: ams}]\n"
                          "    health_check: &hc {path: /up, interval: 2s}\n"
                          "  - name: b\n"
                          "    endpoints: [{address: 'b:1', region: ams}]\n"
                          "    health_check: {<<: *hc, interval: 3s}\n",
                      "t");
  ASSERT_TRUE(r.ok()) << joined(problems(kMinimal));
  EXPECT_EQ(r.config.clusters[1].health_check->path, "/up");
  EXPECT_EQ(r.config.clusters[1].health_check->interval, milliseconds(3000));
  EXPECT_EQ(r.config.clusters[0].health_check->interval, milliseconds(2000));
}

TEST(LoadYaml, ProblemsAreCapped) {
  std::string yaml = kMinimal;
  for (int i = 0; i < 300; ++i) yaml += "x" + std::to_string(i) + ": 1\n";
  auto d = loadString(yaml, "t.yaml").diagnostics;
  ASSERT_EQ(d.size(), 101u);
  EXPECT_EQ(d.back().text(), "t.yaml:0:0: too many problems; stopped after 100");
}

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    std::string pattern = ::testing::TempDir() + "meridian_config_XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    int fd = mkstemp(buf.data());
    EXPECT_GE(fd, 0);
    path_ = buf.data();
    EXPECT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    close(fd);
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(LoadFile, SetsSourcePathAndNamesTheFile) {
  TempFile good(kMinimal);
  auto r = loadFile(good.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config.source_path, good.path());
  TempFile bad("watch: maybe\n" + std::string(kMinimal));
  auto b = loadFile(bad.path());
  ASSERT_EQ(b.diagnostics.size(), 1u);
  EXPECT_EQ(b.diagnostics[0].text(),
            bad.path() + ":1:8: watch: expected true or false, got \"maybe\"");
}

TEST(LoadFile, MissingFileIsOneDiagnostic) {
  std::string path = ::testing::TempDir() + "meridian_config_does_not_exist.yaml";
  auto r = loadFile(path);
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics[0].text(), path + ":0:0: cannot read: No such file or directory");
}

TEST(LoadFile, DirectoryIsUnreadable) {
  auto r = loadFile("/");
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics[0].text(), "/:0:0: cannot read: Is a directory");
}

}  // namespace
}  // namespace meridian::config
