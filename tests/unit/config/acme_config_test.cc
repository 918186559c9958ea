// listeners[].tls.acme: what loads (defaults, lower-cased names, days), that it stands in for
// certificate files, and every bad value reported at its key.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/loader.h"

namespace meridian::config {
namespace {

using Lines = std::vector<std::string>;

std::string withTls(const std::string& tls) {
  return "listeners:\n  - name: public\n    address: 127.0.0.1:0\n    tls:\n" + tls +
         "regions: [{name: a, lat: 0, lon: 0}]\n"
         "clusters: [{name: c, endpoints: [{address: '10.0.0.1:80', region: a}]}]\n"
         "routes: [{name: r, backends: [{cluster: c}]}]\n";
}

Lines problems(const std::string& yaml) {
  Lines out;
  for (const auto& d : loadString(yaml, "t.yaml").diagnostics) out.push_back(d.text());
  return out;
}

TEST(AcmeConfig, LoadsWithoutCertificateFiles) {
  auto r = loadString(withTls("      acme:\n"
                              "        directory: https://acme.example/dir\n"
                              "        email: ops@example.com\n"
                              "        domains: [App.Example.com, www.example.com]\n"
                              "        storage: /var/lib/meridian/acme\n"
                              "        renew_before: 20d\n"),
                      "t.yaml");
  ASSERT_TRUE(r.diagnostics.empty()) << r.diagnostics.front().text();
  const auto& tls = *r.config.listeners[0].tls;
  ASSERT_TRUE(tls.acme);
  EXPECT_TRUE(tls.certificates.empty());
  EXPECT_EQ(tls.acme->domains, (Lines{"app.example.com", "www.example.com"}));
  EXPECT_EQ(tls.acme->challenges, (Lines{"tls-alpn-01", "http-01"}));
  EXPECT_EQ(tls.acme->renew_before, std::chrono::hours(20 * 24));
  EXPECT_EQ(tls.acme->email, "ops@example.com");
  EXPECT_TRUE(tls.acme->ca_roots.empty());
}

TEST(AcmeConfig, BadValuesAreReportedAtTheirKeys) {
  EXPECT_EQ(problems(withTls("      acme:\n"
                             "        directory: http://acme.example/dir\n"
                             "        domains: ['*.example.com', a.example, a.example]\n"
                             "        challenges: [dns-01]\n"
                             "        renew_before: 0s\n")),
            (Lines{"t.yaml:6:9: listeners[0].tls.acme: missing required key \"storage\"",
                   "t.yaml:6:20: listeners[0].tls.acme.directory: expected an https:// URL",
                   "t.yaml:7:19: listeners[0].tls.acme.domains[0]: expected a DNS name (no "
                   "wildcard: TLS-ALPN-01 and HTTP-01 cannot validate one), got "
                   "\"*.example.com\"",
                   "t.yaml:7:47: listeners[0].tls.acme.domains[2]: a.example is listed twice",
                   "t.yaml:8:21: listeners[0].tls.acme.challenges: at least one is required",
                   "t.yaml:8:22: listeners[0].tls.acme.challenges[0]: expected tls-alpn-01 or "
                   "http-01, got \"dns-01\"",
                   "t.yaml:9:23: listeners[0].tls.acme.renew_before: must be at least 1000ms, "
                   "got 0s"}));
}

TEST(AcmeConfig, TwoListenersCannotShareAStorage) {
  std::string acme = "{directory: 'https://ca.example/dir', domains: [NAME], storage: /var/acme}";
  auto listener = [&](const std::string& name, int port) {
    std::string a = acme;
    a.replace(a.find("NAME"), 4, name + ".example");
    return "  - {name: " + name + ", address: '127.0.0.1:" + std::to_string(port) +
           "', tls: {acme: " + a + "}}\n";
  };
  EXPECT_EQ(problems("listeners:\n" + listener("a", 1) + listener("b", 2) +
                     "regions: [{name: r, lat: 0, lon: 0}]\n"
                     "clusters: [{name: c, endpoints: [{address: '10.0.0.1:80', region: r}]}]\n"
                     "routes: [{name: x, backends: [{cluster: c}]}]\n"),
            (Lines{"t.yaml:3:51: listener \"b\": tls.acme.storage /var/acme is already used by "
                   "listener \"a\""}));
}

// storage: fleet keeps everything in the fleet's etcd: a load error without a fleet: section;
// with one, several listeners may use it (their keys differ by domains).
TEST(AcmeConfig, FleetStorageNeedsAFleetSection) {
  std::string acme = "{directory: 'https://ca.example/dir', domains: [NAME], storage: fleet}";
  auto listener = [&](const std::string& name, int port) {
    std::string a = acme;
    a.replace(a.find("NAME"), 4, name + ".example");
    return "  - {name: " + name + ", address: '127.0.0.1:" + std::to_string(port) +
           "', tls: {acme: " + a + "}}\n";
  };
  std::string rest =
      "regions: [{name: r, lat: 0, lon: 0}]\n"
      "clusters: [{name: c, endpoints: [{address: '10.0.0.1:80', region: r}]}]\n"
      "routes: [{name: x, backends: [{cluster: c}]}]\n";
  EXPECT_EQ(problems("listeners:\n" + listener("a", 1) + rest),
            (Lines{"t.yaml:2:51: listener \"a\": tls.acme.storage: fleet needs a fleet: section "
                   "(the etcd cluster that holds the account, certificates and challenges); "
                   "without one, give a directory"}));
  auto r = loadString("listeners:\n" + listener("a", 1) + listener("b", 2) + rest +
                          "fleet: {etcd: ['http://127.0.0.1:2379'], prefix: /m/}\n",
                      "t.yaml");
  ASSERT_TRUE(r.diagnostics.empty()) << r.diagnostics.front().text();
  EXPECT_TRUE(r.config.listeners[1].tls->acme->inFleet());
}

}  // namespace
}  // namespace meridian::config
