// TLS contexts: certificate choice by SNI (exact, wildcard, default, CN fallback, RSA next to
// ECDSA), refusal of certificates that cannot serve, and resumption across contexts. The
// handshakes run over a socketpair against a real OpenSSL client.
#include "certs/tls_context.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "certs/dev_ca.h"
#include "core/buffer.h"
#include "tests/fakes/subprocess.h"

namespace meridian::certs {
namespace {

using core::IoStatus;

class TlsContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    IssueRequest ca;
    ca.common_name = "test CA";
    ca.ca = true;
    auto issued = issueCertificate(ca, nullptr);
    ASSERT_TRUE(issued.ok()) << issued.error().detail;
    ca_ = issued.value();
  }

  // Issues a leaf for `hosts` and writes it as NAME.pem / NAME.key; returns the config entry.
  config::TlsCertificate leaf(const std::string& name, IssueRequest r) {
    auto issued = issueCertificate(r, &ca_);
    EXPECT_TRUE(issued.ok()) << issued.error().detail;
    config::TlsCertificate c;
    c.cert = dir_.write(name + ".pem", issued.value().cert + ca_.cert);
    c.key = dir_.write(name + ".key", issued.value().key);
    return c;
  }
  config::TlsCertificate leaf(const std::string& name, std::vector<std::string> hosts,
                              KeyKind key = KeyKind::Ecdsa) {
    IssueRequest r;
    r.hosts = std::move(hosts);
    r.key = key;
    return leaf(name, r);
  }

  core::Result<std::shared_ptr<const TlsContext>> build(std::vector<config::TlsCertificate> certs,
                                                        std::string min_version = "1.2") {
    TlsOptions o;
    o.listener = "public";
    o.tls.certificates = std::move(certs);
    o.tls.min_version = min_version;
    o.alpn = {"http/1.1"};
    return TlsContext::build(o);
  }

  fakes::TempDir dir_{"tls-context"};
  PemPair ca_;
};

// A client handshake against the context over a socketpair, both sides non-blocking, driven
// in turns until both finish (bounded).
struct Handshake {
  bool ok = false;
  std::string version;
  std::string subject_cn;
  int key_type = 0;  // EVP_PKEY_EC or EVP_PKEY_RSA of the served certificate
  bool reused = false;
  SSL_SESSION* session = nullptr;  // the client's, for resumption (owned by the caller)
};

Handshake handshake(const TlsContext& ctx, const char* sni, const char* sigalgs = nullptr,
                    SSL_SESSION* resume = nullptr, int max_version = TLS1_3_VERSION) {
  Handshake h;
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) != 0) return h;
  auto server = ctx.newTransport(fds[0]);
  SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_max_proto_version(cctx, max_version);
  if (sigalgs != nullptr) SSL_CTX_set1_sigalgs_list(cctx, sigalgs);
  SSL* c = SSL_new(cctx);
  SSL_set_fd(c, fds[1]);
  if (sni != nullptr) SSL_set_tlsext_host_name(c, sni);
  if (resume != nullptr) SSL_set_session(c, resume);
  SSL_set_connect_state(c);
  bool client_done = false, server_done = false;
  for (int i = 0; i < 200 && !(client_done && server_done); ++i) {
    if (!client_done) {
      int rc = SSL_do_handshake(c);
      if (rc == 1)
        client_done = true;
      else if (SSL_get_error(c, rc) != SSL_ERROR_WANT_READ)
        break;
    }
    if (!server_done) {
      IoStatus st = server->handshake();
      if (st == IoStatus::Ok)
        server_done = true;
      else if (st != IoStatus::WantRead && st != IoStatus::WantWrite)
        break;
    }
  }
  if (client_done && server_done) {
    // Application data carries the TLS 1.3 tickets to the client.
    core::Buffer out;
    out.append("hello");
    server->write(out);
    char buf[16];
    int n = 0;
    for (int i = 0; i < 50 && n <= 0; ++i) n = SSL_read(c, buf, sizeof buf);
    h.ok = n == 5;
    h.version = std::string(server->version());
    h.reused = SSL_session_reused(c) == 1;
    X509* peer = SSL_get1_peer_certificate(c);
    if (peer != nullptr) {
      char cn[256] = {};
      X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
      h.subject_cn = cn;
      h.key_type = EVP_PKEY_get_base_id(X509_get0_pubkey(peer));
      X509_free(peer);
    }
    h.session = SSL_get1_session(c);
    SSL_shutdown(c);  // a session of a connection dropped without close_notify is not resumed
  }
  SSL_free(c);
  SSL_CTX_free(cctx);
  server.reset();
  close(fds[0]);
  close(fds[1]);
  return h;
}

TEST_F(TlsContextTest, SniPicksExactThenWildcardElseTheFirst) {
  auto ctx = build({leaf("default", {"a.test"}), leaf("exact", {"b.test", "c.test"}),
                    leaf("wild", {"*.w.test"}), leaf("exact-in-wild", {"x.w.test"})});
  ASSERT_TRUE(ctx.ok()) << ctx.error().detail;
  const TlsContext& c = *ctx.value();
  EXPECT_EQ(c.select(""), 0u);
  EXPECT_EQ(c.select("a.test"), 0u);
  EXPECT_EQ(c.select("b.test"), 1u);
  EXPECT_EQ(c.select("c.test"), 1u);
  EXPECT_EQ(c.select("B.Test."), 1u);       // case and a trailing dot do not matter
  EXPECT_EQ(c.select("y.w.test"), 2u);      // one label under the wildcard
  EXPECT_EQ(c.select("x.w.test"), 3u);      // an exact name beats a wildcard
  EXPECT_EQ(c.select("z.y.w.test"), 0u);    // a wildcard covers one label only
  EXPECT_EQ(c.select("w.test"), 0u);        // nor the bare domain
  EXPECT_EQ(c.select("unknown.test"), 0u);  // default

  Handshake h = handshake(c, "b.test");
  ASSERT_TRUE(h.ok);
  EXPECT_EQ(h.subject_cn, "b.test");
  SSL_SESSION_free(h.session);
  h = handshake(c, "y.w.test");
  ASSERT_TRUE(h.ok);
  EXPECT_EQ(h.subject_cn, "*.w.test");
  SSL_SESSION_free(h.session);
  h = handshake(c, nullptr);
  ASSERT_TRUE(h.ok);
  EXPECT_EQ(h.subject_cn, "a.test");
  SSL_SESSION_free(h.session);
}

TEST_F(TlsContextTest, CommonNameCountsOnlyWithoutSubjectAltNames) {
  IssueRequest legacy;
  legacy.common_name = "legacy.test";
  legacy.subject_alt_names = false;
  IssueRequest modern;
  modern.hosts = {"san.test"};
  modern.common_name = "cn-ignored.test";
  auto ctx = build({leaf("default", {"a.test"}), leaf("legacy", legacy), leaf("modern", modern)});
  ASSERT_TRUE(ctx.ok()) << ctx.error().detail;
  EXPECT_EQ(ctx.value()->select("legacy.test"), 1u);
  EXPECT_EQ(ctx.value()->select("san.test"), 2u);
  EXPECT_EQ(ctx.value()->select("cn-ignored.test"), 0u);
}

TEST_F(TlsContextTest, RsaAndEcdsaForOneNameAreBothServed) {
  auto ctx = build({leaf("default", {"a.test"}), leaf("ec", {"dual.test"}, KeyKind::Ecdsa),
                    leaf("rsa", {"dual.test"}, KeyKind::Rsa)});
  ASSERT_TRUE(ctx.ok()) << ctx.error().detail;
  EXPECT_EQ(ctx.value()->select("dual.test"), 1u);
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    Handshake ec = handshake(*ctx.value(), "dual.test", nullptr, nullptr, version);
    ASSERT_TRUE(ec.ok);
    EXPECT_EQ(ec.key_type, EVP_PKEY_EC) << "a client that can verify ECDSA gets ECDSA";
    SSL_SESSION_free(ec.session);
    Handshake rsa =
        handshake(*ctx.value(), "dual.test", "rsa_pss_rsae_sha256:RSA+SHA256", nullptr, version);
    ASSERT_TRUE(rsa.ok);
    EXPECT_EQ(rsa.key_type, EVP_PKEY_RSA) << "an RSA-only client gets RSA";
    SSL_SESSION_free(rsa.session);
  }
}

TEST_F(TlsContextTest, CertificateThatDoesNotMatchItsKeyIsRefused) {
  config::TlsCertificate a = leaf("a", {"a.test"});
  config::TlsCertificate b = leaf("b", {"b.test"});
  a.key = b.key;
  auto ctx = build({a});
  ASSERT_FALSE(ctx.ok());
  EXPECT_EQ(ctx.error().detail, "listener public: " + a.cert +
                                    ": certificate does not match the private key in " + b.key);
}

TEST_F(TlsContextTest, ExpiredAndNotYetValidCertificatesAreRefused) {
  IssueRequest expired;
  expired.hosts = {"old.test"};
  expired.not_before_seconds = -10 * 86400;
  expired.valid_seconds = 86400;
  config::TlsCertificate old = leaf("old", expired);
  auto ctx = build({old});
  ASSERT_FALSE(ctx.ok());
  EXPECT_NE(ctx.error().detail.find("listener public: " + old.cert + ": certificate expired on"),
            std::string::npos)
      << ctx.error().detail;

  IssueRequest future;
  future.hosts = {"new.test"};
  future.not_before_seconds = 86400;
  config::TlsCertificate early = leaf("early", future);
  ctx = build({leaf("fine", {"fine.test"}), early});
  ASSERT_FALSE(ctx.ok());
  EXPECT_NE(ctx.error().detail.find(early.cert + ": certificate is not valid before"),
            std::string::npos)
      << ctx.error().detail;
}

TEST_F(TlsContextTest, UnreadableFilesAreRefusedWithTheirName) {
  config::TlsCertificate missing = leaf("a", {"a.test"});
  missing.cert = dir_.file("missing.pem");
  auto ctx = build({missing});
  ASSERT_FALSE(ctx.ok());
  EXPECT_EQ(ctx.error().detail,
            "listener public: " + missing.cert + ": cannot read: No such file or directory");

  config::TlsCertificate garbage = leaf("b", {"b.test"});
  garbage.cert = dir_.write("garbage.pem", "not a certificate\n");
  ctx = build({garbage});
  ASSERT_FALSE(ctx.ok());
  EXPECT_EQ(ctx.error().detail, "listener public: " + garbage.cert + ": no PEM certificate found");

  config::TlsCertificate bad_key = leaf("c", {"c.test"});
  bad_key.key = dir_.write("bad.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n");
  ctx = build({bad_key});
  ASSERT_FALSE(ctx.ok());
  EXPECT_NE(ctx.error().detail.find(bad_key.key + ": no PEM private key found"), std::string::npos)
      << ctx.error().detail;
}

// As every other config error: the message starts at the line naming the file.
TEST_F(TlsContextTest, FileErrorsPointAtTheConfigLineThatNamesTheFile) {
  config::TlsCertificate c = leaf("a", {"a.test"});
  c.cert_mark = {5, 17};
  c.key_mark = {6, 16};
  auto with_position = [&](config::TlsCertificate entry) {
    TlsOptions o;
    o.listener = "public";
    o.tls.certificates = {std::move(entry)};
    o.config_file = "meridian.yaml";
    auto ctx = TlsContext::build(o);
    return ctx.ok() ? std::string("built") : ctx.error().detail;
  };
  config::TlsCertificate no_key = c;
  no_key.key = dir_.file("missing.key");
  EXPECT_EQ(with_position(no_key), "meridian.yaml:6:16: listener public: " + no_key.key +
                                       ": cannot read: No such file or directory");
  config::TlsCertificate no_cert = c;
  no_cert.cert = dir_.file("missing.pem");
  EXPECT_EQ(with_position(no_cert), "meridian.yaml:5:17: listener public: " + no_cert.cert +
                                        ": cannot read: No such file or directory");
  config::TlsCertificate other_key = c;
  other_key.key = leaf("b", {"b.test"}).key;
  EXPECT_EQ(with_position(other_key), "meridian.yaml:5:17: listener public: " + c.cert +
                                          ": certificate does not match the private key in " +
                                          other_key.key);
}

// /dev/zero was read until memory ran out, a FIFO blocked until a writer came.
TEST_F(TlsContextTest, DevicesFifosAndHugeFilesAreRefusedNotRead) {
  config::TlsCertificate c = leaf("a", {"a.test"});
  std::string fifo = dir_.file("fifo.key");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  config::TlsCertificate zero_key = c, fifo_key = c, zero_cert = c, huge_cert = c;
  zero_key.key = "/dev/zero";
  fifo_key.key = fifo;
  zero_cert.cert = "/dev/zero";
  huge_cert.cert = dir_.write("huge.pem", std::string((1 << 20) + 1, '-'));
  const std::pair<config::TlsCertificate, std::string> cases[] = {
      {zero_key, "/dev/zero: not a regular file (a character device)"},
      {fifo_key, fifo + ": not a regular file (a FIFO)"},
      {zero_cert, "/dev/zero: not a regular file (a character device)"},
      {huge_cert,
       huge_cert.cert + ": too large: more than 1 MiB (the limit for a certificate or key file)"},
  };
  for (const auto& [entry, why] : cases) {
    auto ctx = build({entry});
    ASSERT_FALSE(ctx.ok()) << why;
    EXPECT_EQ(ctx.error().detail, "listener public: " + why);
  }
}

TEST_F(TlsContextTest, MinVersionRefusesOlderClients) {
  auto ctx = build({leaf("a", {"a.test"})}, "1.3");
  ASSERT_TRUE(ctx.ok()) << ctx.error().detail;
  EXPECT_FALSE(handshake(*ctx.value(), "a.test", nullptr, nullptr, TLS1_2_VERSION).ok);
  Handshake h = handshake(*ctx.value(), "a.test");
  EXPECT_TRUE(h.ok);
  EXPECT_EQ(h.version, "1.3");
  SSL_SESSION_free(h.session);
}

// Ticket keys are process-wide: a ticket from one context resumes on another (a reload).
TEST_F(TlsContextTest, TicketsResumeAcrossContexts) {
  std::vector<config::TlsCertificate> certs = {leaf("a", {"a.test"})};
  auto first = build(certs);
  auto second = build(certs);
  ASSERT_TRUE(first.ok() && second.ok());
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    Handshake full = handshake(*first.value(), "a.test", nullptr, nullptr, version);
    ASSERT_TRUE(full.ok);
    EXPECT_FALSE(full.reused);
    Handshake again = handshake(*second.value(), "a.test", nullptr, full.session, version);
    ASSERT_TRUE(again.ok);
    EXPECT_TRUE(again.reused) << "TLS " << again.version;
    SSL_SESSION_free(full.session);
    SSL_SESSION_free(again.session);
  }
}

TEST(DevCaTest, WritesCaLeafAndPrivateKeys) {
  fakes::TempDir dir("certs-dev");
  std::string out = dir.file("dev");
  auto files = writeDevCertificates({"app.test", "127.0.0.1"}, out, KeyKind::Ecdsa);
  ASSERT_TRUE(files.ok()) << files.error().detail;
  EXPECT_FALSE(files.value().reused_ca);
  struct stat st {};
  ASSERT_EQ(stat(files.value().key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(files.value().ca_key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string chain = fakes::readFile(files.value().cert);
  std::string ca = fakes::readFile(files.value().ca_cert);
  EXPECT_NE(chain.find(ca), std::string::npos) << "cert.pem carries the CA after the leaf";
  TlsOptions o;
  o.listener = "dev";
  o.tls.certificates = {{files.value().cert, files.value().key, {}, {}, {}}};
  auto ctx = TlsContext::build(o);
  ASSERT_TRUE(ctx.ok()) << ctx.error().detail;
  // A second run keeps the CA (already trusted) and issues a new leaf under it.
  auto again = writeDevCertificates({"other.test"}, out, KeyKind::Rsa);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again.value().reused_ca);
  EXPECT_EQ(fakes::readFile(files.value().ca_cert), ca);
}

}  // namespace
}  // namespace meridian::certs
