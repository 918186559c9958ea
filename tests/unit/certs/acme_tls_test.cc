// A listener's ACME names at the handshake: refused until a certificate is issued (never the
// default or a made-up one), the TLS-ALPN-01 challenge certificate for a client offering
// acme-tls/1, and a newly issued certificate served to the next handshake.
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "certs/acme_book.h"
#include "certs/acme_crypto.h"
#include "certs/dev_ca.h"
#include "certs/tls_context.h"
#include "tests/fakes/subprocess.h"

namespace meridian::certs {
namespace {

using core::IoStatus;

struct Seen {
  bool ok = false;
  std::string alpn;
  std::string serial;
  bool acme_identifier = false;
};

Seen handshake(const TlsContext& ctx, const char* sni, const char* alpn) {
  Seen seen;
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) != 0) return seen;
  auto server = ctx.newTransport(fds[0]);
  SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
  SSL* c = SSL_new(cctx);
  SSL_set_fd(c, fds[1]);
  if (sni != nullptr) SSL_set_tlsext_host_name(c, sni);
  if (alpn != nullptr) {
    std::string wire = std::string(1, (char)strlen(alpn)) + alpn;
    SSL_set_alpn_protos(c, reinterpret_cast<const unsigned char*>(wire.data()), wire.size());
  }
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
  seen.ok = client_done && server_done;
  if (seen.ok) {
    const unsigned char* p = nullptr;
    unsigned int n = 0;
    SSL_get0_alpn_selected(c, &p, &n);
    seen.alpn.assign(reinterpret_cast<const char*>(p), n);
    X509* peer = SSL_get1_peer_certificate(c);
    BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(peer), nullptr);
    char* hex = BN_bn2hex(bn);
    seen.serial = hex;
    OPENSSL_free(hex);
    BN_free(bn);
    ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
    seen.acme_identifier = X509_get_ext_by_OBJ(peer, oid, -1) >= 0;
    ASN1_OBJECT_free(oid);
    X509_free(peer);
  }
  SSL_free(c);
  SSL_CTX_free(cctx);
  server.reset();
  close(fds[0]);
  close(fds[1]);
  return seen;
}

class AcmeTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    IssueRequest ca;
    ca.ca = true;
    ca.common_name = "test ACME CA";
    auto issued = issueCertificate(ca, nullptr);
    ASSERT_TRUE(issued.ok());
    ca_ = issued.value();
  }

  std::shared_ptr<const TlsContext> build(std::vector<config::TlsCertificate> files = {}) {
    TlsOptions o;
    o.listener = "public";
    o.tls.certificates = std::move(files);
    o.tls.acme = config::Acme{};
    o.tls.acme->domains = {"app.example"};
    o.alpn = {"h2", "http/1.1"};
    o.acme = book_;
    auto ctx = TlsContext::build(o);
    EXPECT_TRUE(ctx.ok()) << ctx.error().detail;
    return ctx.ok() ? ctx.value() : nullptr;
  }

  // Issues for `hosts` and hands the book the chain; returns the leaf's serial.
  std::string issue(std::vector<std::string> hosts) {
    IssueRequest r;
    r.hosts = hosts;
    auto leaf = issueCertificate(r, &ca_);
    EXPECT_TRUE(leaf.ok());
    auto set = book_->setIssued(hosts, leaf.value().cert + ca_.cert, leaf.value().key);
    EXPECT_TRUE(set.ok()) << set.error().detail;
    return certificateFacts(leaf.value().cert).value().serial_hex;
  }

  std::shared_ptr<AcmeBook> book_ = std::make_shared<AcmeBook>();
  PemPair ca_;
  fakes::TempDir dir_{"acme-tls"};
};

TEST_F(AcmeTlsTest, AcmeNameIsRefusedUntilIssuedEvenWithAFileCertificate) {
  IssueRequest r;
  r.hosts = {"files.example"};
  auto leaf = issueCertificate(r, &ca_);
  ASSERT_TRUE(leaf.ok());
  config::TlsCertificate file;
  file.cert = dir_.write("f.pem", leaf.value().cert);
  file.key = dir_.write("f.key", leaf.value().key);
  auto ctx = build({file});
  ASSERT_TRUE(ctx);
  EXPECT_FALSE(handshake(*ctx, "app.example", "http/1.1").ok);
  EXPECT_TRUE(handshake(*ctx, "files.example", "http/1.1").ok);  // other names: the files
  std::string serial = issue({"app.example"});
  Seen s = handshake(*ctx, "APP.example.", "h2");
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.serial, serial);
  EXPECT_EQ(s.alpn, "h2");
}

TEST_F(AcmeTlsTest, WithoutFilesNoOtherNameIsServed) {
  auto ctx = build();
  ASSERT_TRUE(ctx);
  issue({"app.example"});
  EXPECT_TRUE(handshake(*ctx, "app.example", nullptr).ok);
  EXPECT_FALSE(handshake(*ctx, "other.example", nullptr).ok);
  EXPECT_FALSE(handshake(*ctx, nullptr, nullptr).ok);
}

TEST_F(AcmeTlsTest, AcmeTlsHandshakeGetsTheChallengeCertificate) {
  auto ctx = build();
  ASSERT_TRUE(ctx);
  EXPECT_FALSE(handshake(*ctx, "app.example", "acme-tls/1").ok);  // no challenge under way
  ASSERT_TRUE(book_->setAlpnChallenge("app.example", "tok.thumb").ok());
  Seen s = handshake(*ctx, "app.example", "acme-tls/1");
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.alpn, "acme-tls/1");
  EXPECT_TRUE(s.acme_identifier);
  EXPECT_FALSE(handshake(*ctx, "else.example", "acme-tls/1").ok);  // not an ACME name
  EXPECT_FALSE(handshake(*ctx, "app.example", "http/1.1").ok);     // still not issued
  book_->clearAlpnChallenge("app.example");
  EXPECT_FALSE(handshake(*ctx, "app.example", "acme-tls/1").ok);
}

TEST_F(AcmeTlsTest, ARenewedCertificateServesTheNextHandshake) {
  auto ctx = build();
  ASSERT_TRUE(ctx);
  std::string first = issue({"app.example"});
  EXPECT_EQ(handshake(*ctx, "app.example", nullptr).serial, first);
  std::string second = issue({"app.example"});
  ASSERT_NE(first, second);
  EXPECT_EQ(handshake(*ctx, "app.example", nullptr).serial, second);
}

}  // namespace
}  // namespace meridian::certs
