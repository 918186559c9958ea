// ACME end to end: the real binary gets, serves and renews its certificate from Debian's
// pebble (started by the test on loopback, its DNS from pebble-challtestsrv answering every
// name with 127.0.0.1). Pebble's validation connects to the listener ports meridian serves,
// chosen before either starts. Skipped where pebble is not installed.
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "tests/fakes/etcd_cluster.h"
#include "tests/fakes/pebble.h"
#include "tests/fakes/tls_tools.h"
#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

using fakes::Pebble;
using fakes::pickFreePort;

constexpr milliseconds kIssueWait{60000};

class AcmeTest : public ProxyTest {
 protected:
  void SetUp() override {
    if (!Pebble::installed()) GTEST_SKIP() << "pebble and pebble-challtestsrv are not installed";
    tls_port_ = pickFreePort();
    http_port_ = pickFreePort();
  }

  // A TLS listener `public` on tls_port_ whose certificate comes from pebble, and a plain one
  // `plain` on http_port_ that redirects to https.
  std::string acmeConfig(const std::string& domains, const std::string& challenges,
                         const std::string& renew_before = "30d") {
    storage_ = store_.file("acme");
    return configYamlWith("  - name: public\n    address: 127.0.0.1:" + std::to_string(tls_port_) +
                              "\n    region: ams\n    tls:\n      acme:\n"
                              "        directory: " +
                              pebble_.directoryUrl() +
                              "\n"
                              "        email: ops@example.com\n"
                              "        domains: " +
                              domains +
                              "\n"
                              "        challenges: " +
                              challenges +
                              "\n"
                              "        storage: " +
                              storage_ +
                              "\n"
                              "        ca_roots: " +
                              pebble_.caFile() +
                              "\n"
                              "        renew_before: " +
                              renew_before +
                              "\n"
                              "  - name: plain\n    address: 127.0.0.1:" +
                              std::to_string(http_port_) +
                              "\n    region: ams\n    redirect_to_https: 443\n",
                          "", "", 2);
  }

  Pebble::Options pebbleOptions(long validity = 0, std::string nonce_reject = "0") const {
    return Pebble::Options{http_port_, tls_port_, validity, std::move(nonce_reject)};
  }

  // curl over TLS to `name` (resolved to 127.0.0.1), trusting pebble's issuing root: the
  // status, or 0 with curl's error.
  int httpsGet(const std::string& name, std::string* why = nullptr) {
    return httpsGetAt(tls_port_, name, why);
  }
  int httpsGetAt(uint16_t tls_port, const std::string& name, std::string* why = nullptr) {
    std::string port = std::to_string(tls_port);
    auto r =
        curl({"-o", "/dev/null", "-w", "%{http_code}", "--cacert", pebble_.issuingRootFile(),
              "--resolve", name + ":" + port + ":127.0.0.1", "https://" + name + ":" + port + "/"});
    if (why) *why = r.err;
    return r.exitCode == 0 ? std::stoi(r.out) : 0;
  }

  // The serial of the certificate a new handshake naming `name` is served ("" when refused).
  std::string servedSerial(const std::string& name) { return servedSerialAt(tls_port_, name); }
  std::string servedSerialAt(uint16_t tls_port, const std::string& name) {
    auto s = fakes::sClient(tls_port, {"-servername", name});
    size_t begin = s.out.find("-----BEGIN CERTIFICATE-----");
    size_t end = s.out.find("-----END CERTIFICATE-----");
    if (begin == std::string::npos || end == std::string::npos) return "";
    auto x = fakes::runCommand({"openssl", "x509", "-noout", "-serial"}, milliseconds(10000),
                               s.out.substr(begin, end + 26 - begin));
    std::string serial = x.out.substr(x.out.find('=') + 1);
    while (!serial.empty() && serial.back() == '\n') serial.pop_back();
    return serial;
  }

  // Waits until meridian_acme_orders_total{result} reaches `n` (bounded).
  ::testing::AssertionResult waitForOrders(const std::string& result, long long n,
                                           milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string series = "meridian_acme_orders_total{result=\"" + result + "\"}";
    while (std::chrono::steady_clock::now() < deadline) {
      if (metric(series) >= n) return ::testing::AssertionSuccess();
      std::this_thread::sleep_for(milliseconds(100));
    }
    return ::testing::AssertionFailure()
           << series << " did not reach " << n << "; now " << metric(series) << "\n"
           << fakes::tail(proxy_.stderrText(), 3000) << "\npebble:\n"
           << pebble_.log();
  }

  uint16_t tls_port_ = 0, http_port_ = 0;
  fakes::TempDir store_{"acme-store"};  // outlives a meridian process, as /var/lib would
  std::string storage_;
  Pebble pebble_;
};

TEST_F(AcmeTest, TlsAlpn01FromNothingThenServedAcrossARestart) {
  ASSERT_TRUE(pebble_.start(pebbleOptions()));
  ASSERT_TRUE(proxy_.start(acmeConfig("[app.test, www.app.test]", "[tls-alpn-01]")));
  ASSERT_TRUE(proxy_.waitForOutput("certificate for app.test,www.app.test issued", kIssueWait));
  std::string why;
  EXPECT_EQ(httpsGet("app.test", &why), 200) << why;
  EXPECT_EQ(httpsGet("www.app.test", &why), 200) << why;
  ASSERT_TRUE(waitForOrders("success", 1, kWait));  // counted just after the log line
  EXPECT_GT(metric("meridian_acme_certificate_expiry_seconds{domain=\"app.test\"}"), 86400);
  struct stat st {};
  ASSERT_EQ(stat((storage_ + "/account.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((storage_ + "/certificate.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string serial = servedSerial("app.test");
  ASSERT_FALSE(serial.empty());
  auto status = fakes::runCommand(
      {fakes::meridianBinary(), "certs", "status", "-c", proxy_.configPath()}, kWait);
  EXPECT_EQ(status.exitCode, 0) << status.describe();
  EXPECT_NE(status.out.find("www.app.test"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find(" success"), std::string::npos) << status.out;
  auto config = curl({proxy_.adminUrl("/config")});
  EXPECT_NE(config.out.find(R"("renew_before": "720h")"), std::string::npos) << config.out;

  // A restart serves the stored certificate at once and orders nothing.
  std::string yaml = fakes::readFile(proxy_.configPath());
  ASSERT_TRUE(proxy_.signal(SIGTERM));
  ASSERT_TRUE(proxy_.waitExit(kWait));
  fakes::MeridianProcess again;
  ASSERT_TRUE(again.start(yaml));
  EXPECT_EQ(servedSerial("app.test"), serial);
  EXPECT_EQ(httpsGet("app.test", &why), 200) << why;
  auto m = curl({again.adminUrl("/metrics")});
  EXPECT_NE(m.out.find("meridian_acme_orders_total{result=\"success\"} 0"), std::string::npos);
  EXPECT_EQ(again.stderrText().find("no certificate stored"), std::string::npos);
  EXPECT_EQ(again.stderrText().find("new account key"), std::string::npos);
}

TEST_F(AcmeTest, Http01OnThePlainListenerBeforeItsRedirect) {
  ASSERT_TRUE(pebble_.start(pebbleOptions()));
  ASSERT_TRUE(proxy_.start(acmeConfig("[app.test]", "[http-01]")));
  ASSERT_TRUE(proxy_.waitForOutput("answering http-01 for app.test", kIssueWait));
  ASSERT_TRUE(proxy_.waitForOutput("certificate for app.test issued", kIssueWait));
  std::string why;
  EXPECT_EQ(httpsGet("app.test", &why), 200) << why;
  // Other paths on the plain listener still redirect; an unknown token too.
  auto r = curl(
      {"-o", "/dev/null", "-w", "%{http_code}",
       "http://127.0.0.1:" + std::to_string(http_port_) + "/.well-known/acme-challenge/unknown"});
  EXPECT_EQ(r.out, "308");
}

// A reload that leaves `acme:` alone keeps the client (no new order); one that adds a domain
// starts a new client, which finds the stored certificate short of a name and orders again.
TEST_F(AcmeTest, ReloadKeepsTheClientUnlessItsAcmeChanges) {
  ASSERT_TRUE(pebble_.start(pebbleOptions()));
  ASSERT_TRUE(proxy_.start(acmeConfig("[app.test]", "[tls-alpn-01]")));
  ASSERT_TRUE(waitForOrders("success", 1, kIssueWait));
  std::string first = servedSerial("app.test");
  auto same = proxy_.reload();
  ASSERT_EQ(same.status, 200) << same.body;
  EXPECT_EQ(metric("meridian_acme_orders_total{result=\"success\"}"), 1);
  EXPECT_EQ(servedSerial("app.test"), first);
  proxy_.rewriteConfig(acmeConfig("[app.test, new.app.test]", "[tls-alpn-01]"));
  auto changed = proxy_.reload();
  ASSERT_EQ(changed.status, 200) << changed.body;
  ASSERT_TRUE(proxy_.waitForOutput("certificate for app.test,new.app.test issued", kIssueWait));
  std::string why;
  EXPECT_EQ(httpsGet("new.app.test", &why), 200) << why;
  EXPECT_NE(servedSerial("app.test"), first);
}

TEST_F(AcmeTest, NoncesRejectedAtRandomStillSucceed) {
  ASSERT_TRUE(pebble_.start(pebbleOptions(0, "50")));
  ASSERT_TRUE(proxy_.start(acmeConfig("[app.test, www.app.test]", "[tls-alpn-01, http-01]")));
  ASSERT_TRUE(waitForOrders("success", 1, kIssueWait));
  std::string why;
  EXPECT_EQ(httpsGet("www.app.test", &why), 200) << why;
  EXPECT_EQ(metric("meridian_acme_orders_total{result=\"failure\"}"), 0);
}

// Pebble validates TLS-ALPN-01 on a port where nothing listens: the order fails with the
// server's reason in the log and the failure counted, and the name stays refused.
TEST_F(AcmeTest, AChallengeThatCannotSucceedIsLoggedAndCounted) {
  Pebble::Options o = pebbleOptions();
  o.tls_port = pickFreePort();
  ASSERT_TRUE(pebble_.start(o));
  ASSERT_TRUE(proxy_.start(acmeConfig("[app.test]", "[tls-alpn-01]")));
  ASSERT_TRUE(waitForOrders("failure", 1, kIssueWait));
  std::string log = proxy_.stderrText();
  EXPECT_NE(log.find("order for app.test failed (attempt 1, next in"), std::string::npos) << log;
  EXPECT_NE(log.find("app.test: tls-alpn-01 failed: unauthorized (403): Failed to connect to"),
            std::string::npos)
      << log;
  EXPECT_EQ(servedSerial("app.test"), "");  // refused, never a made-up certificate
  EXPECT_EQ(metric("meridian_acme_orders_total{result=\"success\"}"), 0);
  auto status = fakes::runCommand(
      {fakes::meridianBinary(), "certs", "status", "-c", proxy_.configPath()}, kWait);
  EXPECT_EQ(status.exitCode, 1) << status.describe();  // a name without a certificate
  EXPECT_NE(status.out.find("failure  app.test: tls-alpn-01 failed"), std::string::npos)
      << status.out;
  EXPECT_NE(status.out.find("(next attempt "), std::string::npos) << status.out;
}

// With pebble gone the certificate keeps serving while renewals fail and back off; once pebble
// is back (a new one: new root, no account), the next attempt renews.
TEST_F(AcmeTest, CaDownKeepsServingThenRenewsWhenBack) {
  ASSERT_TRUE(pebble_.start(pebbleOptions(60)));
  // Due for renewal 10 s after each issue.
  ASSERT_TRUE(proxy_.start(acmeConfig("[app.test]", "[tls-alpn-01]", "50s")));
  ASSERT_TRUE(waitForOrders("success", 1, kIssueWait));
  std::string first = servedSerial("app.test");
  ASSERT_FALSE(first.empty());
  pebble_.stop();
  ASSERT_TRUE(waitForOrders("failure", 1, kIssueWait));
  EXPECT_NE(proxy_.stderrText().find("order for app.test failed (attempt 1"), std::string::npos);
  EXPECT_EQ(servedSerial("app.test"), first);
  std::string why;
  EXPECT_EQ(httpsGet("app.test", &why), 0);  // pebble's old root is gone with it
  ASSERT_TRUE(pebble_.start(pebbleOptions(60)));
  ASSERT_TRUE(waitForOrders("success", 2, kIssueWait));
  std::string second = servedSerial("app.test");
  EXPECT_FALSE(second.empty());
  EXPECT_NE(second, first);
  EXPECT_EQ(httpsGet("app.test", &why), 200) << why;
}

// Renewal under load: wrk keeps 8 TLS connections busy (and makes new ones) while the
// certificate is renewed; no request fails, and new handshakes get the new serial.
TEST_F(AcmeTest, RenewalUnderLoadDropsNothing) {
  ASSERT_TRUE(pebble_.start(pebbleOptions(60)));
  ASSERT_TRUE(proxy_.start(acmeConfig("[localhost]", "[tls-alpn-01]", "52s")));
  ASSERT_TRUE(waitForOrders("success", 1, kIssueWait));
  std::string first = servedSerial("localhost");
  ASSERT_FALSE(first.empty());
  fakes::CommandResult wrk;
  std::thread load([&] {
    wrk = fakes::runCommand({"wrk", "-t1", "-c8", "-d14s", "--timeout", "5s",
                             "https://localhost:" + std::to_string(tls_port_) + "/"},
                            milliseconds(40000));
  });
  ASSERT_TRUE(waitForOrders("success", 2, milliseconds(20000)));
  std::string second = servedSerial("localhost");
  load.join();
  EXPECT_FALSE(second.empty());
  EXPECT_NE(second, first);
  ASSERT_EQ(wrk.exitCode, 0) << wrk.describe();
  EXPECT_EQ(wrk.out.find("Socket errors"), std::string::npos) << wrk.out;
  EXPECT_EQ(wrk.out.find("Non-2xx"), std::string::npos) << wrk.out;
  EXPECT_NE(wrk.out.find("requests in"), std::string::npos) << wrk.out;
  printf("renewed %s -> %s under load:\n%s", first.c_str(), second.c_str(), wrk.out.c_str());
}

// storage: fleet: two instances on one fleet prefix in a real etcd. Pebble's validation reaches
// instance B only, so whichever instance orders, B answers the challenge (A's challenge reaches
// B through etcd). One order in all; both serve its certificate.
class AcmeFleetTest : public AcmeTest {
 protected:
  static constexpr const char* kPrefix = "/meridian/acme-test/";

  void SetUp() override {
    AcmeTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_TRUE(etcd_.start(1));
    for (auto& p : ports_) p = {pickFreePort(), pickFreePort()};
  }

  // Instance i's file: its TLS and plain listeners, storage: fleet, and the fleet section.
  std::string fleetConfig(int i, const std::string& renew_before = "30d",
                          const std::string& challenges = "[http-01]") {
    std::string tls = std::to_string(ports_[i].first), http = std::to_string(ports_[i].second);
    return configYamlWith("  - name: public\n    address: 127.0.0.1:" + tls +
                              "\n    region: ams\n    tls:\n      acme:\n"
                              "        directory: " +
                              pebble_.directoryUrl() +
                              "\n        domains: [app.test]\n        challenges: " + challenges +
                              "\n"
                              "        storage: fleet\n        ca_roots: " +
                              pebble_.caFile() + "\n        renew_before: " + renew_before +
                              "\n  - name: plain\n    address: 127.0.0.1:" + http +
                              "\n    region: ams\n    redirect_to_https: 443\n",
                          "", "", 1) +
           "fleet:\n  etcd: [ " + etcd_.endpoints() + " ]\n  prefix: " + kPrefix +
           "\n  instance: " + (i == 0 ? "a" : "b") + "\n";
  }

  // The keys under <prefix>acme/ etcd holds now (etcdctl, keys only).
  std::string acmeKeys() {
    auto r = fakes::runCommand({"etcdctl", "--endpoints", etcd_.endpoints(), "get", "--prefix",
                                "--keys-only", std::string(kPrefix) + "acme/"},
                               kWait);
    return r.out;
  }

  long long metricAt(fakes::MeridianProcess& p, const std::string& series) {
    auto r = curl({p.adminUrl("/metrics")});
    size_t at = r.out.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stoll(r.out.substr(at + series.size() + 2));
  }
  long long ordersInAll(const std::string& result) {
    std::string series = "meridian_acme_orders_total{result=\"" + result + "\"}";
    return metricAt(proxy_, series) + metricAt(b_, series);
  }

  // Until `check` holds (bounded by `timeout`).
  template <typename F>
  bool eventually(F check, milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (check()) return true;
      std::this_thread::sleep_for(milliseconds(100));
    }
    return check();
  }

  // Both instances running with `storage: fleet` and present in etcd (each copies the
  // challenges), pebble started once they are, validating on B's ports.
  void startBothThenPebble(long validity = 0, const std::string& renew_before = "30d",
                           const std::string& challenges = "[http-01]") {
    Pebble::Options o{ports_[1].second, ports_[1].first, validity, "0"};
    // Pebble's ports are fixed at its first start: up, then down while the instances start,
    // so that neither orders before both are there to answer.
    ASSERT_TRUE(pebble_.start(o));
    pebble_.stop();
    ASSERT_TRUE(proxy_.start(fleetConfig(0, renew_before, challenges)));
    ASSERT_TRUE(b_.start(fleetConfig(1, renew_before, challenges)));
    ASSERT_TRUE(eventually(
        [&] {
          std::string keys = acmeKeys();
          return keys.find("acme/members/a/public") != std::string::npos &&
                 keys.find("acme/members/b/public") != std::string::npos;
        },
        kWait))
        << acmeKeys();
    ASSERT_TRUE(pebble_.start(o));
  }

  std::string logs() {
    return "A:\n" + fakes::tail(proxy_.stderrText(), 3000) + "\nB:\n" +
           fakes::tail(b_.stderrText(), 3000) + "\npebble:\n" + pebble_.log();
  }

  fakes::EtcdCluster etcd_;
  std::pair<uint16_t, uint16_t> ports_[2];  // tls, http of A and B
  fakes::MeridianProcess b_;
};

TEST_F(AcmeFleetTest, OneOrderBothServeAndTheOtherInstanceAnswers) {
  startBothThenPebble();
  ASSERT_TRUE(eventually([&] { return ordersInAll("success") >= 1; }, kIssueWait)) << logs();
  uint16_t tls_a = ports_[0].first, tls_b = ports_[1].first;
  std::string serial;
  ASSERT_TRUE(eventually(
      [&] {
        serial = servedSerialAt(tls_a, "app.test");
        return !serial.empty() && serial == servedSerialAt(tls_b, "app.test");
      },
      kWait))
      << logs();
  EXPECT_EQ(ordersInAll("success"), 1) << logs();
  // The orders that failed are those made while pebble was down, never a challenge B could
  // not answer (an instance that did not copy the orderer's challenge).
  EXPECT_EQ(proxy_.stderrText().find("http-01 failed"), std::string::npos) << logs();
  EXPECT_EQ(b_.stderrText().find("http-01 failed"), std::string::npos) << logs();
  std::string why;
  EXPECT_EQ(httpsGetAt(tls_a, "app.test", &why), 200) << why;
  EXPECT_EQ(httpsGetAt(tls_b, "app.test", &why), 200) << why;
  // What etcd holds: one account, the certificate, the last order; no challenge, no lock.
  std::string keys = acmeKeys();
  EXPECT_NE(keys.find("/account.key"), std::string::npos) << keys;
  EXPECT_NE(keys.find("/cert/app.test"), std::string::npos) << keys;
  EXPECT_NE(keys.find("/last-order/app.test"), std::string::npos) << keys;
  EXPECT_EQ(keys.find("/challenges/"), std::string::npos) << keys;
  EXPECT_EQ(keys.find("/lock/"), std::string::npos) << keys;
  // certs status reads the certificate and the last order from etcd.
  auto status =
      fakes::runCommand({fakes::meridianBinary(), "certs", "status", "-c", b_.configPath()}, kWait);
  EXPECT_EQ(status.exitCode, 0) << status.describe();
  EXPECT_NE(status.out.find("app.test"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find(" success"), std::string::npos) << status.out;
  bool a_ordered = metricAt(proxy_, "meridian_acme_orders_total{result=\"success\"}") == 1;
  std::string other = a_ordered ? b_.stderrText() : proxy_.stderrText();
  EXPECT_NE(other.find("serving the fleet's certificate for app.test, serial"), std::string::npos)
      << logs();
  printf("ordered by %s; serial %s served by both; pebble validated at B\n", a_ordered ? "A" : "B",
         serial.c_str());
}

// TLS-ALPN-01 the same way: the challenge certificate is made by B from the key authorization
// the orderer wrote to etcd.
TEST_F(AcmeFleetTest, TlsAlpn01AnsweredByEitherInstance) {
  startBothThenPebble(0, "30d", "[tls-alpn-01]");
  ASSERT_TRUE(eventually([&] { return ordersInAll("success") >= 1; }, kIssueWait)) << logs();
  uint16_t tls_a = ports_[0].first, tls_b = ports_[1].first;
  std::string serial;
  ASSERT_TRUE(eventually(
      [&] {
        serial = servedSerialAt(tls_a, "app.test");
        return !serial.empty() && serial == servedSerialAt(tls_b, "app.test");
      },
      kWait))
      << logs();
  EXPECT_EQ(ordersInAll("success"), 1) << logs();
  EXPECT_EQ(proxy_.stderrText().find("tls-alpn-01 failed"), std::string::npos) << logs();
  EXPECT_EQ(b_.stderrText().find("tls-alpn-01 failed"), std::string::npos) << logs();
  std::string why;
  EXPECT_EQ(httpsGetAt(tls_a, "app.test", &why), 200) << why;
  EXPECT_EQ(httpsGetAt(tls_b, "app.test", &why), 200) << why;
}

// Renewal the same way: pebble's 60 s certificates are due 10 s after issue; each renewal is
// one order by whichever instance takes the lock, and both serve the new serial.
TEST_F(AcmeFleetTest, RenewalIsOneOrderAndBothPickItUp) {
  startBothThenPebble(60, "50s");
  ASSERT_TRUE(eventually([&] { return ordersInAll("success") >= 1; }, kIssueWait)) << logs();
  uint16_t tls_a = ports_[0].first, tls_b = ports_[1].first;
  std::string first;
  ASSERT_TRUE(eventually(
      [&] {
        first = servedSerialAt(tls_a, "app.test");
        return !first.empty() && first == servedSerialAt(tls_b, "app.test");
      },
      kWait))
      << logs();
  ASSERT_TRUE(eventually([&] { return ordersInAll("success") >= 2; }, kIssueWait)) << logs();
  std::string second;
  ASSERT_TRUE(eventually(
      [&] {
        second = servedSerialAt(tls_a, "app.test");
        return second != first && second == servedSerialAt(tls_b, "app.test");
      },
      kWait))
      << logs();
  // The second is due 10 s after it was issued: no third order yet.
  EXPECT_EQ(ordersInAll("success"), 2) << logs();
  EXPECT_EQ(proxy_.stderrText().find("http-01 failed"), std::string::npos) << logs();
  EXPECT_EQ(b_.stderrText().find("http-01 failed"), std::string::npos) << logs();
}

// etcd gone: both keep serving the certificate they hold, and count it.
TEST_F(AcmeFleetTest, EtcdDownKeepsServingAndCounts) {
  startBothThenPebble();
  ASSERT_TRUE(eventually([&] { return ordersInAll("success") >= 1; }, kIssueWait)) << logs();
  uint16_t tls_a = ports_[0].first, tls_b = ports_[1].first;
  std::string serial;
  ASSERT_TRUE(eventually(
      [&] {
        serial = servedSerialAt(tls_a, "app.test");
        return !serial.empty() && serial == servedSerialAt(tls_b, "app.test");
      },
      kWait))
      << logs();
  etcd_.kill(0);
  const std::string fallbacks = "meridian_fleet_fallbacks_total{what=\"acme\"}";
  ASSERT_TRUE(eventually([&] { return metricAt(b_, fallbacks) >= 1; }, kWait)) << logs();
  EXPECT_EQ(servedSerialAt(tls_a, "app.test"), serial);
  EXPECT_EQ(servedSerialAt(tls_b, "app.test"), serial);
  EXPECT_NE(b_.stderrText().find("serving the certificate held"), std::string::npos) << logs();
}

}  // namespace
}  // namespace meridian::integration
