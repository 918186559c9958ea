// The pure half of DNS endpoints: which names a config uses, how answers are recorded, and the
// config expanded from them.
#include "proxy/server/dns_endpoints.h"

#include <gtest/gtest.h>

#include "config/loader.h"

namespace meridian::proxy {
namespace {

config::Config twoClusters() {
  config::Config cfg;
  config::Cluster web;
  web.name = "web";
  web.endpoints = {{{"app.internal", 80}, "ams", {}}, {{"10.0.0.9", 80}, "iad", {}}};
  web.dns_refresh = config::Duration(5000);
  config::Cluster api = web;
  api.name = "api";
  api.endpoints = {{{"app.internal", 81}, "ams", {}}};
  api.dns_refresh = config::Duration(2000);
  cfg.clusters = {web, api};
  return cfg;
}

core::DnsAnswer answer(std::vector<std::string> a) {
  return {std::move(a), std::chrono::seconds(30), {}};
}

TEST(DnsEndpoints, NamesAndTheShortestRefresh) {
  auto names = dnsNamesOf(twoClusters());
  ASSERT_EQ(names.size(), 1u);  // the IP literal is not a name
  EXPECT_EQ(names["app.internal"], config::Duration(2000));
  EXPECT_FALSE(isDnsName("::1"));
  EXPECT_TRUE(isDnsName("localhost"));
}

TEST(DnsEndpoints, EachAddressBecomesAnEndpointOfItsRegion) {
  DnsNames names;
  EXPECT_TRUE(recordAnswer(names["app.internal"], answer({"10.1.0.1", "10.1.0.2"})));
  auto cfg = expandDnsEndpoints(twoClusters(), names);
  const auto& web = cfg->clusters[0].endpoints;
  ASSERT_EQ(web.size(), 3u);
  EXPECT_EQ(web[0].address.text(), "10.1.0.1:80");
  EXPECT_EQ(web[0].region, "ams");
  EXPECT_EQ(web[0].dns_name, "app.internal:80");
  EXPECT_FALSE(web[0].await_first_check);  // the first answer joins as configured
  EXPECT_EQ(web[2].address.text(), "10.0.0.9:80");
  EXPECT_EQ(web[2].dns_name, "");
  EXPECT_EQ(cfg->clusters[1].endpoints[1].address.text(), "10.1.0.2:81");
}

TEST(DnsEndpoints, AnAddedAddressWaitsUnlessNothingStays) {
  DnsName n;
  recordAnswer(n, answer({"10.1.0.1"}));
  EXPECT_FALSE(recordAnswer(n, answer({"10.1.0.1"})));             // unchanged
  EXPECT_TRUE(recordAnswer(n, answer({"10.1.0.1", "10.1.0.2"})));  // one added beside one kept
  DnsNames names{{"app.internal", n}};
  auto cfg = expandDnsEndpoints(twoClusters(), names);
  EXPECT_FALSE(cfg->clusters[0].endpoints[0].await_first_check);
  EXPECT_TRUE(cfg->clusters[0].endpoints[1].await_first_check);
  // A whole new set: nothing else can serve the name while it waits, so it joins as configured.
  EXPECT_TRUE(recordAnswer(n, answer({"10.2.0.1"})));
  names["app.internal"] = n;
  cfg = expandDnsEndpoints(twoClusters(), names);
  EXPECT_FALSE(cfg->clusters[0].endpoints[0].await_first_check);
}

TEST(DnsEndpoints, AFailureKeepsTheAddressesAndIsCounted) {
  DnsName n;
  recordAnswer(n, answer({"10.1.0.1"}));
  EXPECT_FALSE(recordAnswer(n, core::DnsAnswer{{}, {}, "timed out"}));
  EXPECT_EQ(n.addresses, (std::vector<std::string>{"10.1.0.1"}));
  EXPECT_EQ(n.failures, 1u);
  EXPECT_EQ(n.resolutions, 2u);
  EXPECT_EQ(n.last_error, "timed out");
}

TEST(DnsEndpoints, UnresolvedNamesStayAsWritten) {
  auto cfg = expandDnsEndpoints(twoClusters(), {});
  EXPECT_EQ(cfg->clusters[0].endpoints[0].address.text(), "app.internal:80");
}

TEST(DnsEndpoints, ConfigKeys) {
  auto r = config::loadString(
      "listeners: [{address: '127.0.0.1:0'}]\n"
      "dns: {servers: ['127.0.0.1:5353', '10.0.0.2', '::1']}\n"
      "regions: [{name: ams, lat: 1, lon: 2}]\n"
      "clusters: [{name: c, endpoints: [{address: 'a.test:80', region: ams}], dns_refresh: 2s}]\n",
      "t.yaml");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config.dns.servers,
            (std::vector<std::string>{"127.0.0.1:5353", "10.0.0.2:53", "[::1]:53"}));
  EXPECT_EQ(r.config.clusters[0].dns_refresh, config::Duration(2000));
  auto bad = config::loadString(
      "listeners: [{address: '127.0.0.1:0'}]\ndns: {servers: ['dns.example:53']}\n", "t.yaml");
  ASSERT_EQ(bad.diagnostics.size(), 1u);
  EXPECT_NE(bad.diagnostics[0].text().find("expected an IP address"), std::string::npos);
}

}  // namespace
}  // namespace meridian::proxy
