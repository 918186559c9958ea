// TLS to upstreams as an operator sees it: `openssl s_server` as the upstream (a real TLS
// server), certificates from `meridian certs dev` and the openssl CLI, and the real binary
// verifying them: a good chain passes and resumes, a wrong name, an expired certificate and an
// unknown CA are refused (counted by reason), mTLS is given when asked for, and a refused
// handshake moves to the next region like any connect failure.
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

#include <thread>

#include <nlohmann/json.hpp>

#include "tests/fakes/tls_tools.h"
#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

using fakes::CommandResult;

// `openssl s_server -www` on 127.0.0.1 and a port of the kernel's choosing: it answers every
// GET with a status page (HTTP/1.0, then closes), so each request is a new TLS connection.
// Its stdout stays open (it would die of SIGPIPE otherwise); after the ACCEPT line it writes
// nothing more there.
class TlsServer {
 public:
  TlsServer() = default;
  ~TlsServer() { stop(); }

  ::testing::AssertionResult start(const std::string& cert, const std::string& key,
                                   std::vector<std::string> extra = {}) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return ::testing::AssertionFailure() << "pipe";
    std::vector<std::string> argv = {"openssl", "s_server", "-accept", "127.0.0.1:0", "-cert",
                                     cert,      "-key",     key,       "-www"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    child_ = fakes::spawnChild(argv, -1, fds[1], -1);
    ::close(fds[1]);
    // It prints "ACCEPT 127.0.0.1:PORT" once listening.
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (out.find('\n', out.find("ACCEPT")) == std::string::npos ||
           out.find("ACCEPT") == std::string::npos) {
      pollfd p{fds[0], POLLIN, 0};
      int ms = fakes::remainingMs(deadline);
      if (ms == 0 || ::poll(&p, 1, ms) <= 0) break;
      char buf[512];
      ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    out_fd_ = fds[0];
    size_t at = out.find("ACCEPT 127.0.0.1:");
    if (at == std::string::npos) return ::testing::AssertionFailure() << "s_server: " << out;
    port_ = static_cast<uint16_t>(std::stoi(out.substr(at + 17)));
    return ::testing::AssertionSuccess();
  }
  void stop() {
    if (child_.pid > 0) fakes::stopChild(child_, milliseconds(2000));
    child_ = {};
    if (out_fd_ >= 0) ::close(out_fd_);
    out_fd_ = -1;
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  fakes::Child child_;
  int out_fd_ = -1;
  uint16_t port_ = 0;
};

class UpstreamTlsTest : public ProxyTest {
 protected:
  void SetUp() override {
    dir_ = proxy_.dir() + "/pki";
    CommandResult r = fakes::certsDev("localhost,127.0.0.1", dir_);
    ASSERT_EQ(r.exitCode, 0) << r.describe();
  }

  // A certificate for localhost and 127.0.0.1 signed by the dev CA, valid `days` (0: it
  // expired the second it was made), with this extended key usage; returns its path prefix.
  std::string signedCert(const std::string& name, int days, const std::string& eku) {
    std::string p = dir_ + "/" + name;
    CommandResult r = fakes::runCommand(
        {"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-subj", "/CN=" + name, "-keyout", p + ".key", "-out", p + ".csr"},
        milliseconds(20000));
    EXPECT_EQ(r.exitCode, 0) << r.describe();
    EXPECT_TRUE(fakes::writeFile(p + ".ext",
                                 "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                 "extendedKeyUsage=" +
                                     eku + "\n"));
    r = fakes::runCommand({"openssl", "x509", "-req", "-in", p + ".csr", "-CA", dir_ + "/ca.pem",
                           "-CAkey", dir_ + "/ca.key", "-CAcreateserial", "-days",
                           std::to_string(days), "-extfile", p + ".ext", "-out", p + ".pem"},
                          milliseconds(20000));
    EXPECT_EQ(r.exitCode, 0) << r.describe();
    return p;
  }

  // A cluster `secure` with these endpoints (YAML flow maps, one per line) and `tls:` keys,
  // and a route /secure/ to it.
  void secureCluster(const std::vector<std::string>& endpoints, const std::string& tls) {
    extra_clusters_ = "  - name: secure\n    endpoints:\n";
    for (const auto& e : endpoints) extra_clusters_ += "      - " + e + "\n";
    extra_clusters_ += "    tls: " + tls + "\n";
    extra_routes_ =
        "  - name: secure\n    match: { path_prefix: /secure/ }\n"
        "    backends: [ { cluster: secure } ]\n";
  }

  int get(const std::string& path) {
    CommandResult r = curl({"-o", "/dev/null", "-w", "%{http_code}", url(path)});
    return r.out.empty() ? 0 : std::stoi(r.out);
  }
  long long failures(const std::string& reason) {
    return metric("meridian_upstream_tls_failures_total{cluster=\"secure\",reason=\"" + reason +
                  "\"}");
  }
  long long handshakes(bool resumed) {
    return metric(
        std::string("meridian_upstream_tls_handshakes_total{cluster=\"secure\",resumed=\"") +
        (resumed ? "true" : "false") + "\"}");
  }

  std::string dir_;
  TlsServer server_;
};

TEST_F(UpstreamTlsTest, AVerifiedUpstreamAnswersAndLaterConnectionsResume) {
  ASSERT_TRUE(server_.start(dir_ + "/cert.pem", dir_ + "/key.pem"));
  secureCluster({"{ address: \"localhost:" + server_.address().substr(10) + "\", region: ams }"},
                "{ ca: " + dir_ + "/ca.pem }");
  ASSERT_TRUE(startProxy());
  // Verified by name (localhost, sent as SNI), each request on a new upstream connection.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(get("/secure/a"), 200) << i;
  EXPECT_EQ(handshakes(false), 1);
  EXPECT_EQ(handshakes(true), 2);
  EXPECT_EQ(failures("unknown_ca"), 0);
}

TEST_F(UpstreamTlsTest, AnIpEndpointIsVerifiedAgainstTheCertificatesAddresses) {
  ASSERT_TRUE(server_.start(dir_ + "/cert.pem", dir_ + "/key.pem"));
  secureCluster({"{ address: " + server_.address() + ", region: ams }"},
                "{ ca: " + dir_ + "/ca.pem, min_version: \"1.3\" }");
  ASSERT_TRUE(startProxy());
  EXPECT_EQ(get("/secure/a"), 200);
}

TEST_F(UpstreamTlsTest, AWrongNameIsRefused) {
  ASSERT_TRUE(server_.start(dir_ + "/cert.pem", dir_ + "/key.pem"));
  secureCluster({"{ address: " + server_.address() + ", region: ams }"},
                "{ ca: " + dir_ + "/ca.pem, server_name: app.internal }");
  ASSERT_TRUE(startProxy());
  EXPECT_EQ(get("/secure/a"), 502);
  EXPECT_GE(failures("name_mismatch"), 1);
  EXPECT_TRUE(proxy_.waitForOutput("TLS handshake failed (name_mismatch)", kWait));
}

TEST_F(UpstreamTlsTest, AnExpiredCertificateIsRefused) {
  std::string expired = signedCert("expired", 0, "serverAuth");
  ASSERT_TRUE(server_.start(expired + ".pem", expired + ".key"));
  secureCluster({"{ address: " + server_.address() + ", region: ams }"},
                "{ ca: " + dir_ + "/ca.pem }");
  ASSERT_TRUE(startProxy());
  EXPECT_EQ(get("/secure/a"), 502);
  EXPECT_GE(failures("expired"), 1);
}

TEST_F(UpstreamTlsTest, AnUnknownCaIsRefusedWithTheSystemStore) {
  ASSERT_TRUE(server_.start(dir_ + "/cert.pem", dir_ + "/key.pem"));
  secureCluster({"{ address: " + server_.address() + ", region: ams }"}, "{}");
  ASSERT_TRUE(startProxy());
  EXPECT_EQ(get("/secure/a"), 502);
  EXPECT_GE(failures("unknown_ca"), 1);
}

TEST_F(UpstreamTlsTest, VerificationOffNeedsItsKeyAndIsLoggedLoudly) {
  ASSERT_TRUE(server_.start(dir_ + "/cert.pem", dir_ + "/key.pem"));
  secureCluster({"{ address: " + server_.address() + ", region: ams }"}, "{ verify: false }");
  EXPECT_FALSE(proxy_.start(configYaml()));
  EXPECT_NE(proxy_.stderrText().find("needs allow_unverified: true"), std::string::npos)
      << proxy_.stderrText();

  MeridianProcess second;
  secureCluster({"{ address: " + server_.address() + ", region: ams }"},
                "{ verify: false, allow_unverified: true }");
  ASSERT_TRUE(second.start(configYaml()));
  EXPECT_TRUE(second.waitForOutput("are NOT verified", kWait));
  auto r =
      curl({"-o", "/dev/null", "-w", "%{http_code}",
            "http://127.0.0.1:" + std::to_string(second.listenerPort("public")) + "/secure/a"});
  EXPECT_EQ(r.out, "200");
}

// TLS 1.2 here: under TLS 1.3 the client's handshake completes before the server has judged
// its certificate, and the refusal comes as an alert on the first read (an upstream reset).
TEST_F(UpstreamTlsTest, MutualTlsIsGivenWhenTheUpstreamAsksForIt) {
  ASSERT_TRUE(server_.start(dir_ + "/cert.pem", dir_ + "/key.pem",
                            {"-Verify", "1", "-CAfile", dir_ + "/ca.pem", "-tls1_2"}));
  std::string client = signedCert("proxy", 30, "clientAuth");
  // Without a client certificate the upstream refuses the handshake.
  secureCluster({"{ address: " + server_.address() + ", region: ams }"},
                "{ ca: " + dir_ + "/ca.pem }");
  ASSERT_TRUE(startProxy());
  EXPECT_EQ(get("/secure/a"), 502);
  EXPECT_GE(failures("handshake"), 1);
  // With one, it answers (a reload brings the certificate in).
  secureCluster({"{ address: " + server_.address() + ", region: ams }"},
                "{ ca: " + dir_ + "/ca.pem, client_cert: { cert: " + client +
                    ".pem, key: " + client + ".key } }");
  proxy_.rewriteConfig(configYaml());
  auto reloaded = proxy_.reload();
  ASSERT_EQ(reloaded.status, 200) << reloaded.body;
  EXPECT_EQ(get("/secure/a"), 200);
}

TEST_F(UpstreamTlsTest, ARefusedHandshakeMovesToTheNextRegion) {
  std::string expired = signedCert("expired", 0, "serverAuth");
  TlsServer good;
  ASSERT_TRUE(server_.start(expired + ".pem", expired + ".key"));  // ams: nearest, refused
  ASSERT_TRUE(good.start(dir_ + "/cert.pem", dir_ + "/key.pem"));  // iad: verified
  secureCluster({"{ address: " + server_.address() + ", region: ams }",
                 "{ address: " + good.address() + ", region: iad }"},
                "{ ca: " + dir_ + "/ca.pem }");
  extra_regions_ = "  - { name: iad, lat: 38.9, lon: -77.4 }\n";
  ASSERT_TRUE(startProxy());
  auto r = curl({"-sS", "-D", "-", "-o", "/dev/null", url("/secure/a")});
  EXPECT_NE(r.out.find(" 200"), std::string::npos) << r.out;
  EXPECT_GE(failures("expired"), 1);
}

// The last check of the `secure` cluster's only endpoint, polled from /regions until it has
// one; its result text ("" if none came in time).
std::string lastCheckResult(ProxyTest& t, MeridianProcess& proxy) {
  auto deadline = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < deadline) {
    auto j = nlohmann::json::parse(fakes::curl({proxy.adminUrl("/regions")}).out, nullptr, false);
    if (j.is_object()) {
      const auto& ep = j["clusters"]["secure"]["ams"]["endpoints"][0];
      if (ep.is_object() && ep["last_check"].is_object())
        return ep["last_check"]["result"].get<std::string>();
    }
    std::this_thread::sleep_for(milliseconds(20));  // poll interval, bounded by the deadline
  }
  return "";
}

TEST_F(UpstreamTlsTest, HealthChecksSpeakTlsAndVerifyLikeRequests) {
  std::string expired = signedCert("expired", 0, "serverAuth");
  TlsServer bad;
  ASSERT_TRUE(server_.start(dir_ + "/cert.pem", dir_ + "/key.pem"));
  ASSERT_TRUE(bad.start(expired + ".pem", expired + ".key"));
  const std::string check = "    health_check: { path: /healthz, interval: 100ms }\n";
  secureCluster({"{ address: " + server_.address() + ", region: ams }"},
                "{ ca: " + dir_ + "/ca.pem }\n" + check);
  ASSERT_TRUE(startProxy());
  EXPECT_EQ(lastCheckResult(*this, proxy_), "check passed");

  MeridianProcess second;
  secureCluster({"{ address: " + bad.address() + ", region: ams }"},
                "{ ca: " + dir_ + "/ca.pem }\n" + check);
  ASSERT_TRUE(second.start(configYaml()));
  EXPECT_EQ(lastCheckResult(*this, second), "check failed: TLS handshake (expired)");
}

TEST_F(UpstreamTlsTest, WatchReloadsWhenTheCaFileChanges) {
  ASSERT_TRUE(server_.start(dir_ + "/cert.pem", dir_ + "/key.pem"));
  std::string bundle = dir_ + "/bundle.pem";
  std::string ca = fakes::readFile(dir_ + "/ca.pem");
  ASSERT_TRUE(fakes::writeFile(bundle, ca));
  secureCluster({"{ address: " + server_.address() + ", region: ams }"}, "{ ca: " + bundle + " }");
  ASSERT_TRUE(proxy_.start("watch: true\n" + configYaml()));
  EXPECT_EQ(get("/secure/a"), 200);
  // A new bundle, written whole and renamed into place as a deploy would.
  ASSERT_TRUE(fakes::writeFile(bundle + ".tmp", ca + "\n"));
  ASSERT_EQ(::rename((bundle + ".tmp").c_str(), bundle.c_str()), 0);
  auto deadline = std::chrono::steady_clock::now() + kWait;
  long long reloads = 0;
  while (std::chrono::steady_clock::now() < deadline &&
         (reloads = metric("meridian_config_reloads_total{result=\"ok\"}")) < 1) {
    std::this_thread::sleep_for(milliseconds(20));  // poll interval, bounded by the deadline
  }
  EXPECT_EQ(reloads, 1);
  EXPECT_EQ(get("/secure/a"), 200);
}

TEST_F(UpstreamTlsTest, ConfigShowsTheClustersTls) {
  ASSERT_TRUE(server_.start(dir_ + "/cert.pem", dir_ + "/key.pem"));
  secureCluster({"{ address: " + server_.address() + ", region: ams }"},
                "{ ca: " + dir_ + "/ca.pem, server_name: localhost }");
  ASSERT_TRUE(startProxy());
  auto cfg = nlohmann::json::parse(curl({proxy_.adminUrl("/config")}).out, nullptr, false);
  const auto& tls = cfg["config"]["clusters"][1]["tls"];
  EXPECT_EQ(tls["server_name"], "localhost");
  EXPECT_EQ(tls["verify"], true);
  EXPECT_EQ(tls["min_version"], "1.2");
  EXPECT_TRUE(cfg["config"]["clusters"][0]["tls"].is_null());
}

}  // namespace
}  // namespace meridian::integration
