// TLS termination as users see it: curl and openssl s_client against the real binary, with
// certificates made by `meridian certs dev`.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/fakes/http_wire.h"
#include "tests/fakes/tls_tools.h"
#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

using fakes::CommandResult;
using fakes::sClient;
using fakes::servedCommonName;

constexpr char kRequest[] = "GET /tls HTTP/1.1\r\nHost: old.test\r\nConnection: close\r\n\r\n";

class TlsTest : public ProxyTest {
 protected:
  // A dev certificate for `hosts` in DIR/<name>; the first host is its CN.
  std::string makeCerts(const std::string& name, const std::string& hosts, bool rsa = false) {
    std::string dir = proxy_.dir() + "/" + name;
    CommandResult r = fakes::certsDev(hosts, dir, rsa);
    EXPECT_EQ(r.exitCode, 0) << r.describe();
    return dir;
  }
  static std::string entry(const std::string& dir) {
    return "        - { cert: " + dir + "/cert.pem, key: " + dir + "/key.pem }\n";
  }

  // One TLS listener `public` with these certificate entries, and a plain one `plain` that
  // redirects to https port 8443.
  std::string yaml(const std::string& entries, const std::string& min_version = "1.2",
                   int workers = 2) const {
    return configYamlWith(
        "  - name: public\n    address: 127.0.0.1:0\n    region: ams\n"
        "    tls:\n      certificates:\n" +
            entries + "      min_version: \"" + min_version +
            "\"\n"
            "  - name: plain\n    address: 127.0.0.1:0\n    redirect_to_https: 8443\n",
        "", "", workers);
  }

  uint16_t tlsPort() const { return proxy_.listenerPort("public"); }
  std::string httpsUrl(const std::string& path) const {
    return "https://127.0.0.1:" + std::to_string(tlsPort()) + path;
  }
  long long failures() { return metric("meridian_tls_handshake_failures_total"); }
};

TEST_F(TlsTest, CurlOverTlsWithADevCertificate) {
  std::string dir = makeCerts("dev", "app.test,127.0.0.1");
  ASSERT_TRUE(proxy_.start(yaml(entry(dir))));
  upstream_.enqueue(fakes::Action::respond(200, {}, "over tls\n"));
  // By IP (the certificate's IP SAN) and by name (its DNS SAN), verified against the dev CA.
  auto r = curl(
      {"--http1.1", "--cacert", dir + "/ca.pem", "-w", "\n%{http_version}", httpsUrl("/hello")});
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_EQ(r.out, "over tls\n\n1.1");
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  EXPECT_EQ(upstream_.request(0).header("x-forwarded-proto"), "https");
  std::string port = std::to_string(tlsPort());
  r = curl({"--http1.1", "--cacert", dir + "/ca.pem", "--resolve",
            "app.test:" + port + ":127.0.0.1", "https://app.test:" + port + "/"});
  EXPECT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_GE(metric("meridian_tls_handshakes_total{listener=\"public\",version=\"1.3\"}"), 2);
}

TEST_F(TlsTest, AlpnPicksH2ThenHttp11AsConfigured) {
  std::string dir = makeCerts("dev", "127.0.0.1");
  ASSERT_TRUE(proxy_.start(yaml(entry(dir))));
  // curl offers h2 first; the default protocols list h2 first too.
  auto r = curl(
      {"--cacert", dir + "/ca.pem", "-o", "/dev/null", "-w", "%{http_version}", httpsUrl("/")});
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_EQ(r.out, "2");
  CommandResult s = sClient(tlsPort(), {"-alpn", "h2,http/1.1"});
  EXPECT_NE(s.out.find("ALPN protocol: h2"), std::string::npos) << s.out;
  // A client that speaks only HTTP/1.1 gets it.
  CommandResult h1 = sClient(tlsPort(), {"-alpn", "http/1.1"});
  EXPECT_NE(h1.out.find("ALPN protocol: http/1.1"), std::string::npos) << h1.out;
}

TEST_F(TlsTest, ProtocolsWithoutH2NeverOfferIt) {
  std::string dir = makeCerts("dev", "127.0.0.1");
  std::string y = yaml(entry(dir));
  y.replace(y.find("      min_version:"), 0, "      protocols: [http/1.1]\n");
  ASSERT_TRUE(proxy_.start(y));
  auto r = curl(
      {"--cacert", dir + "/ca.pem", "-o", "/dev/null", "-w", "%{http_version}", httpsUrl("/")});
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_EQ(r.out, "1.1");
}

TEST_F(TlsTest, SniChoosesBetweenTwoCertificates) {
  std::string one = makeCerts("one", "one.test");
  std::string two = makeCerts("two", "two.test");
  std::string rsa = makeCerts("two-rsa", "two.test", true);
  ASSERT_TRUE(proxy_.start(yaml(entry(one) + entry(two) + entry(rsa))));
  EXPECT_EQ(servedCommonName(sClient(tlsPort(), {"-servername", "one.test"})), "one.test");
  EXPECT_EQ(servedCommonName(sClient(tlsPort(), {"-servername", "two.test"})), "two.test");
  EXPECT_EQ(servedCommonName(sClient(tlsPort(), {"-noservername"})), "one.test");
  EXPECT_EQ(servedCommonName(sClient(tlsPort(), {"-servername", "other.test"})), "one.test");
  // Both key types for two.test: each client gets what it can verify.
  CommandResult ec = sClient(tlsPort(), {"-servername", "two.test", "-tls1_2"});
  EXPECT_NE(ec.out.find("Cipher is ECDHE-ECDSA-"), std::string::npos) << ec.out;
  CommandResult r =
      sClient(tlsPort(), {"-servername", "two.test", "-tls1_2", "-sigalgs", "RSA+SHA256"});
  EXPECT_NE(r.out.find("Cipher is ECDHE-RSA-"), std::string::npos) << r.out;
  EXPECT_EQ(servedCommonName(r), "two.test");
}

TEST_F(TlsTest, Tls13And12SucceedAndTls11IsRefused) {
  std::string dir = makeCerts("dev", "127.0.0.1");
  ASSERT_TRUE(proxy_.start(yaml(entry(dir))));
  EXPECT_NE(sClient(tlsPort(), {"-tls1_3"}).out.find("New, TLSv1.3"), std::string::npos);
  CommandResult r12 = sClient(tlsPort(), {"-tls1_2"});
  EXPECT_NE(r12.out.find("New, TLSv1.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256"),
            std::string::npos)
      << r12.out;
  long long before = failures();
  // The client's own security level would refuse TLS 1.1 before sending anything: lower it,
  // so the refusal measured is the server's.
  CommandResult r11 = sClient(tlsPort(), {"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"});
  EXPECT_NE(r11.exitCode, 0);
  EXPECT_NE(r11.out.find("Cipher is (NONE)"), std::string::npos) << r11.out;
  EXPECT_NE(r11.err.find("alert protocol version"), std::string::npos) << r11.err;
  EXPECT_EQ(failures(), before + 1);
  EXPECT_EQ(metric("meridian_tls_handshakes_total{listener=\"public\",version=\"1.2\"}"), 1);
  EXPECT_EQ(metric("meridian_tls_handshakes_total{listener=\"public\",version=\"1.3\"}"), 1);
}

TEST_F(TlsTest, MinVersion13RefusesTls12) {
  std::string dir = makeCerts("dev", "127.0.0.1");
  ASSERT_TRUE(proxy_.start(yaml(entry(dir), "1.3")));
  CommandResult r12 = sClient(tlsPort(), {"-tls1_2"});
  EXPECT_NE(r12.exitCode, 0);
  EXPECT_NE(r12.err.find("alert protocol version"), std::string::npos) << r12.err;
  EXPECT_NE(sClient(tlsPort(), {"-tls1_3"}).out.find("New, TLSv1.3"), std::string::npos);
  EXPECT_EQ(failures(), 1);
}

TEST_F(TlsTest, SessionsAreResumedOnTls12AndTls13) {
  std::string dir = makeCerts("dev", "127.0.0.1");
  // Two workers: the resumed connection may land on the other one, and still resumes.
  ASSERT_TRUE(proxy_.start(yaml(entry(dir))));
  for (const char* version : {"-tls1_2", "-tls1_3"}) {
    std::string session = proxy_.dir() + "/session" + version + ".pem";
    CommandResult first = sClient(tlsPort(), {version, "-sess_out", session}, kRequest);
    ASSERT_NE(first.out.find("New, TLSv1."), std::string::npos) << first.out;
    for (int i = 0; i < 3; ++i) {
      CommandResult again = sClient(tlsPort(), {version, "-sess_in", session}, kRequest);
      EXPECT_NE(again.out.find("Reused, TLSv1."), std::string::npos) << version << again.out;
      EXPECT_NE(again.out.find("HTTP/1.1 200"), std::string::npos) << again.out;
    }
  }
  // Without tickets, TLS 1.2 resumes by session id from the server's cache.
  std::string session = proxy_.dir() + "/session-id.pem";
  CommandResult first = sClient(tlsPort(), {"-tls1_2", "-no_ticket", "-sess_out", session});
  ASSERT_NE(first.out.find("New, TLSv1.2"), std::string::npos) << first.out;
  CommandResult again = sClient(tlsPort(), {"-tls1_2", "-no_ticket", "-sess_in", session});
  EXPECT_NE(again.out.find("Reused, TLSv1.2"), std::string::npos) << again.out;
}

TEST_F(TlsTest, CertificateReloadKeepsADownloadAndServesTheNewCertificate) {
  std::string live = makeCerts("live", "old.test,127.0.0.1");
  std::string next = makeCerts("next", "new.test,127.0.0.1");
  ASSERT_TRUE(proxy_.start(yaml(entry(live), "1.2", 1)));
  constexpr uint64_t kBytes = 8 * 1024 * 1024;
  upstream_.enqueue(fakes::Action::stream(kBytes));
  // A slow download (about 4 s) is in flight while the certificate changes.
  std::string body = proxy_.dir() + "/body";
  fakes::TempDir logs("tls-download");
  int err = ::open(logs.file("err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  fakes::Child dl =
      fakes::spawnChild({"curl", "-sS", "--max-time", "30", "--http1.1", "--limit-rate", "2M",
                         "--cacert", live + "/ca.pem", "-o", body, httpsUrl("/big")},
                        -1, -1, err);
  ::close(err);
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));

  for (const char* f : {"/cert.pem", "/key.pem"})
    ASSERT_TRUE(fakes::writeFile(live + f, fakes::readFile(next + f)));
  ASSERT_TRUE(proxy_.signal(SIGHUP));
  ASSERT_TRUE(proxy_.waitForOutput("config reloaded, generation 2", kWait));
  int status = 0;
  EXPECT_FALSE(fakes::waitChild(dl, milliseconds(0), status)) << "the download ended too soon";
  EXPECT_EQ(servedCommonName(sClient(tlsPort(), {})), "new.test");

  ASSERT_TRUE(fakes::waitChild(dl, milliseconds(30000), status));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << fakes::readFile(logs.file("err"));
  std::string got = fakes::readFile(body);
  EXPECT_EQ(got.size(), kBytes);
  EXPECT_TRUE(fakes::matchesPattern(got));
}

TEST_F(TlsTest, BadCertificateAtReloadKeepsTheOldOneServing) {
  std::string live = makeCerts("live", "old.test,127.0.0.1");
  ASSERT_TRUE(proxy_.start(yaml(entry(live))));
  ASSERT_TRUE(fakes::writeFile(live + "/cert.pem", "not a certificate\n"));
  auto r = proxy_.reload();
  EXPECT_EQ(r.status, 400);
  // At the config line that names the file (`cert:` of the first entry).
  EXPECT_EQ(r.body, proxy_.configPath() + ":9:19: listener public: " + live +
                        "/cert.pem: no PEM certificate found\n");
  EXPECT_EQ(servedCommonName(sClient(tlsPort(), {})), "old.test");
  auto get =
      curl({"--cacert", live + "/ca.pem", "-o", "/dev/null", "-w", "%{http_code}", httpsUrl("/")});
  EXPECT_EQ(get.out, "200") << get.describe();
}

TEST_F(TlsTest, BadCertificateAtStartIsAnError) {
  std::string dir = makeCerts("dev", "127.0.0.1");
  std::string other = makeCerts("other", "127.0.0.1");
  std::string mismatched = "        - { cert: " + dir + "/cert.pem, key: " + other + "/key.pem }\n";
  MeridianProcess::Options quick;
  quick.readyTimeout = milliseconds(5000);
  EXPECT_FALSE(proxy_.start(yaml(mismatched), quick));
  ASSERT_TRUE(proxy_.waitExit(kWait));
  EXPECT_EQ(proxy_.exitCode(), 1);
  EXPECT_NE(proxy_.stderrText().find("listener public: " + dir +
                                     "/cert.pem: certificate does not match the private key in " +
                                     other + "/key.pem"),
            std::string::npos)
      << proxy_.stderrText();
}

TEST_F(TlsTest, PlainListenerRedirectsToHttps) {
  std::string dir = makeCerts("dev", "127.0.0.1");
  ASSERT_TRUE(proxy_.start(yaml(entry(dir))));
  TcpClient c;
  ASSERT_TRUE(c.connect(proxy_.listenerPort("plain")));
  ASSERT_TRUE(c.send("GET /a/b?c=1 HTTP/1.1\r\nHost: app.test:8080\r\n\r\n"));
  fakes::HttpResponse r;
  ASSERT_TRUE(c.readResponse(r, kWait));
  EXPECT_EQ(r.status, 308);
  EXPECT_EQ(r.header("location"), "https://app.test:8443/a/b?c=1");
  EXPECT_EQ(r.body, "");
  // Keep-alive holds: the next request on the same connection is answered too.
  ASSERT_TRUE(c.send("HEAD http://[::1]:81/x HTTP/1.1\r\nHost: [::1]:81\r\n\r\n"));
  ASSERT_TRUE(c.readResponse(r, kWait, true));
  EXPECT_EQ(r.status, 308);
  EXPECT_EQ(r.header("location"), "https://[::1]:8443/x");
  EXPECT_FALSE(c.closedByPeer());
  EXPECT_EQ(upstream_.requestCount(), 0u);
  auto curled =
      curl({"-si", "http://127.0.0.1:" + std::to_string(proxy_.listenerPort("plain")) + "/p"});
  EXPECT_NE(curled.out.find("location: https://127.0.0.1:8443/p\r\n"), std::string::npos)
      << curled.out;
}

// HTTP/2 with prior knowledge on the redirecting listener is redirected too, never proxied in
// cleartext (the upstream would see x-forwarded-proto: http).
TEST_F(TlsTest, PlainListenerRedirectsHttp2WithPriorKnowledgeToo) {
  std::string dir = makeCerts("dev", "127.0.0.1");
  ASSERT_TRUE(proxy_.start(yaml(entry(dir))));
  std::string plain = "http://127.0.0.1:" + std::to_string(proxy_.listenerPort("plain"));
  auto r = curl({"--http2-prior-knowledge", "-s", "-D", "-", "-o", "/dev/null",
                 plain + "/foo?x=1"});
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_TRUE(r.out.starts_with("HTTP/2 308")) << r.out;
  EXPECT_NE(r.out.find("location: https://127.0.0.1:8443/foo?x=1\r\n"), std::string::npos)
      << r.out;
  // A POST with a body is redirected as well (308 keeps its method). nghttp, since curl 7.88
  // drops a response that the RST_STREAM(NO_ERROR) ending the unread upload overtakes.
  std::string body = proxy_.writeFile("body.txt", "field=1");
  CommandResult post = fakes::runCommand(
      {"nghttp", "-v", "-t", "20", "-d", body, plain + "/form"}, milliseconds(30000));
  ASSERT_EQ(post.exitCode, 0) << post.describe();
  EXPECT_NE(post.out.find(":status: 308"), std::string::npos) << post.out;
  EXPECT_NE(post.out.find("location: https://127.0.0.1:8443/form"), std::string::npos)
      << post.out;
  EXPECT_EQ(upstream_.requestCount(), 0u);
}

TEST_F(TlsTest, GarbageInsteadOfAClientHelloIsClosedAndCounted) {
  std::string dir = makeCerts("dev", "127.0.0.1");
  ASSERT_TRUE(proxy_.start(yaml(entry(dir), "1.2", 1)));
  TcpClient c;
  ASSERT_TRUE(c.connect(tlsPort()));
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(c.readUntilClose(kWait));
  EXPECT_EQ(failures(), 1);
  auto r =
      curl({"--cacert", dir + "/ca.pem", "-o", "/dev/null", "-w", "%{http_code}", httpsUrl("/")});
  EXPECT_EQ(r.out, "200") << r.describe();
}

}  // namespace
}  // namespace meridian::integration

namespace meridian::integration {
namespace {

// Large uploads over TLS, HTTP/1.1 and h2, with OpenSSL reading ahead: records arrive faster
// than one read event takes them (16 KiB each), and however records, reads and the per-event
// cap line up, the body arrives whole. (Bytes read ahead with the handshake's last flight are
// covered by the session-resumption test, whose client sends its request right behind it.)
TEST_F(TlsTest, LargeUploadsOverTlsArriveIntact) {
  std::string dir = makeCerts("up", "127.0.0.1");
  ASSERT_TRUE(proxy_.start(yaml(entry(dir))));
  fakes::TempDir files("tls-upload");
  const size_t kSize = 6 * 1024 * 1024;
  std::string file = files.write("up.bin", fakes::patternBytes(0, kSize));
  int n = 0;
  for (const char* version : {"--http1.1", "--http2"}) {
    upstream_.enqueue(fakes::Action::respond(201, {}, "stored\n"));
    auto r = curl({version, "--cacert", dir + "/ca.pem", "-X", "PUT", "--data-binary",
                   "@" + file, "-w", "%{http_code} %{http_version}", httpsUrl("/up")});
    ASSERT_EQ(r.exitCode, 0) << r.describe();
    EXPECT_EQ(r.out, std::string("stored\n201 ") + (n == 0 ? "1.1" : "2")) << version;
    ASSERT_TRUE(upstream_.waitForRequests(static_cast<size_t>(n + 1), kWait));
    auto req = upstream_.request(static_cast<size_t>(n));
    EXPECT_EQ(req.bodyBytes, kSize) << version;
    EXPECT_TRUE(fakes::matchesPattern(req.body)) << version << ": body corrupted";
    ++n;
  }
}

}  // namespace
}  // namespace meridian::integration
