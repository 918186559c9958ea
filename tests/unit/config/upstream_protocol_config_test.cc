// clusters[].protocol and pool.h2_ping_interval: what loads, and what is refused with why.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/loader.h"

namespace meridian::config {
namespace {

using Lines = std::vector<std::string>;

// A cluster `c` with `more` under it (indented four spaces).
std::string withCluster(const std::string& more) {
  return "listeners:\n  - address: 127.0.0.1:0\n"
         "regions: [{name: a, lat: 0, lon: 0}]\n"
         "clusters:\n"
         "  - name: c\n"
         "    endpoints: [{address: '10.0.0.1:80', region: a}]\n" +
         more + "routes: [{name: r, backends: [{cluster: c}]}]\n";
}

Lines problems(const std::string& yaml) {
  Lines out;
  for (const auto& d : loadString(yaml, "t.yaml").diagnostics) out.push_back(d.text());
  return out;
}

TEST(UpstreamProtocolConfig, Http1ByDefaultWithAPingInterval) {
  auto r = loadString(withCluster(""), "t.yaml");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config.clusters[0].protocol, UpstreamProtocol::Http1);
  EXPECT_EQ(r.config.clusters[0].pool.h2_ping_interval, std::chrono::milliseconds(30000));
}

TEST(UpstreamProtocolConfig, EachValueLoads) {
  auto h2c =
      loadString(withCluster("    protocol: h2c\n    pool: { h2_ping_interval: 5s }\n"), "t.yaml");
  ASSERT_TRUE(h2c.ok());
  EXPECT_EQ(h2c.config.clusters[0].protocol, UpstreamProtocol::H2c);
  EXPECT_EQ(h2c.config.clusters[0].pool.h2_ping_interval, std::chrono::milliseconds(5000));
  auto h2 = loadString(withCluster("    protocol: h2\n    tls: {}\n"), "t.yaml");
  ASSERT_TRUE(h2.ok());
  EXPECT_EQ(h2.config.clusters[0].protocol, UpstreamProtocol::H2);
  auto autop = loadString(withCluster("    protocol: auto\n"), "t.yaml");
  ASSERT_TRUE(autop.ok());
  EXPECT_EQ(autop.config.clusters[0].protocol, UpstreamProtocol::Auto);
  EXPECT_STREQ(upstreamProtocolName(UpstreamProtocol::Auto), "auto");
}

TEST(UpstreamProtocolConfig, H2NeedsTlsAndH2cRefusesIt) {
  EXPECT_EQ(problems(withCluster("    protocol: h2\n")),
            (Lines{"t.yaml:7:15: clusters[0].protocol: h2 is negotiated over TLS (ALPN) and needs "
                   "`tls`; use h2c for HTTP/2 on plain TCP"}));
  EXPECT_EQ(problems(withCluster("    protocol: h2c\n    tls: {}\n")),
            (Lines{"t.yaml:7:15: clusters[0].protocol: h2c is HTTP/2 on plain TCP; with `tls` "
                   "use h2 (or auto)"}));
}

TEST(UpstreamProtocolConfig, UnknownValueNamesTheChoices) {
  Lines p = problems(withCluster("    protocol: http2\n"));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("clusters[0].protocol"), std::string::npos) << p[0];
  EXPECT_NE(p[0].find("h2c"), std::string::npos) << p[0];
}

TEST(UpstreamProtocolConfig, ReplayOnTakesGrpcStatusNames) {
  std::string y = withCluster("");
  y.replace(y.find("routes:"), std::string::npos,
            "routes:\n  - name: r\n    backends: [{cluster: c}]\n"
            "    replay: { on: [unavailable, resource_exhausted, 503] }\n");
  auto r = loadString(y, "t.yaml");
  ASSERT_TRUE(r.ok()) << problems(y)[0];
  EXPECT_EQ(r.config.routes[0].replay.on,
            (std::vector<std::string>{"unavailable", "resource_exhausted", "503"}));
  y.replace(y.find("unavailable"), 11, "unavailabel");
  Lines p = problems(y);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("gRPC status name"), std::string::npos) << p[0];
}

}  // namespace
}  // namespace meridian::config
