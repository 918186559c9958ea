// The ACME client's pure pieces: ARI's renewal window (RFC 9773), the backoff's bounds and
// jitter, problem documents (RFC
// 8555, 6.7), the JWS a POST carries (RFC 8555, 6.2: protected header with alg, nonce, url
// and jwk or kid; signature verified by OpenSSL), the key authorization (8.1) and storage's
// file modes.
#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "acme/ari.h"
#include "acme/backoff.h"
#include "acme/jws.h"
#include "acme/problem.h"
#include "acme/storage.h"
#include "tests/fakes/subprocess.h"

namespace meridian::acme {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(AcmeBackoff, DoublesWithJitterAndStopsAtTheCap) {
  Backoff b{seconds(5), seconds(60)};
  EXPECT_EQ(b.wait(1, 0.0), milliseconds(2500));
  EXPECT_EQ(b.wait(1, 1.0), milliseconds(5000));
  EXPECT_EQ(b.wait(2, 1.0), milliseconds(10000));
  EXPECT_EQ(b.wait(3, 0.5), milliseconds(15000));
  EXPECT_EQ(b.wait(10, 1.0), milliseconds(60000));
  EXPECT_EQ(b.wait(1000000, 0.0), milliseconds(30000));  // no overflow
  EXPECT_EQ(b.wait(1, 7.0), milliseconds(5000));         // the draw is clamped
}

TEST(AcmeAri, Rfc3339Times) {
  EXPECT_EQ(parseRfc3339("1970-01-01T00:00:00Z"), time_t{0});
  EXPECT_EQ(parseRfc3339("2025-01-02T03:04:05Z"), time_t{1735787045});
  EXPECT_EQ(parseRfc3339("2025-01-02T03:04:05.123456Z"), time_t{1735787045});
  EXPECT_EQ(parseRfc3339("2025-01-02T05:04:05+02:00"), time_t{1735787045});
  EXPECT_EQ(parseRfc3339("2025-01-01T22:04:05-05:00"), time_t{1735787045});
  EXPECT_FALSE(parseRfc3339("2025-01-02 03:04:05Z"));
  EXPECT_FALSE(parseRfc3339("2025-01-02T03:04:05"));  // no zone
  EXPECT_FALSE(parseRfc3339("2025-01-02T03:04:05Zjunk"));
}

TEST(AcmeAri, SuggestedWindowAndADrawInsideIt) {
  auto w = parseRenewalWindow(R"({"suggestedWindow":{"start":"2025-01-02T00:00:00Z",
      "end":"2025-01-03T00:00:00Z"},"explanationURL":"https://ca.example/why"})");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->second - w->first, 86400);
  EXPECT_EQ(renewalTimeIn(*w, 0.0), w->first);
  EXPECT_EQ(renewalTimeIn(*w, 0.5), w->first + 43200);
  EXPECT_LE(renewalTimeIn(*w, 0.999), w->second);
  EXPECT_FALSE(parseRenewalWindow(R"({"suggestedWindow":{"start":"2025-01-03T00:00:00Z",
      "end":"2025-01-02T00:00:00Z"}})"));  // ends before it starts
  EXPECT_FALSE(parseRenewalWindow(R"({"suggestedWindow":{"start":"soon"}})"));
  EXPECT_FALSE(parseRenewalWindow("not json"));
}

TEST(AcmeProblem, ParsesTypeDetailAndSubproblems) {
  Problem p = parseProblem(R"({"type":"urn:ietf:params:acme:error:rejectedIdentifier",
    "detail":"policy forbids","status":400,"subproblems":[{"type":
    "urn:ietf:params:acme:error:caa","detail":"CAA forbids","identifier":{"type":"dns",
    "value":"b.example"}}]})",
                           400);
  EXPECT_TRUE(p.is("rejectedIdentifier"));
  EXPECT_FALSE(p.is("badNonce"));
  EXPECT_EQ(p.text(),
            "rejectedIdentifier (400): policy forbids; b.example: caa (400): CAA forbids");
  Problem nonce = parseProblem(R"({"type":"urn:ietf:params:acme:error:badNonce"})", 400);
  EXPECT_TRUE(nonce.is("badNonce"));
  EXPECT_EQ(nonce.status, 400);
  Problem html = parseProblem("<html>bad gateway</html>", 502);
  EXPECT_EQ(html.text(), "error (502): <html>bad gateway</html>");
}

nlohmann::json decodeJson(const std::string& b64) {
  return nlohmann::json::parse(certs::base64urlDecode(b64).value_or("null"));
}

bool verifies(const certs::EcKey& key, const std::string& input, const std::string& raw) {
  std::string pem = key.pem();
  BIO* bio = BIO_new_mem_buf(pem.data(), (int)pem.size());
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ECDSA_SIG* s = ECDSA_SIG_new();
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  ECDSA_SIG_set0(s, BN_bin2bn(p, 32, nullptr), BN_bin2bn(p + 32, 32, nullptr));
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(s, &der);
  ECDSA_SIG_free(s);
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, pkey);
  int rc = EVP_DigestVerify(md, der, (size_t)len, (const unsigned char*)input.data(), input.size());
  EVP_MD_CTX_free(md);
  OPENSSL_free(der);
  EVP_PKEY_free(pkey);
  return rc == 1;
}

TEST(AcmeJws, NewAccountCarriesTheJwkAndVerifies) {
  auto key = certs::EcKey::generate();
  ASSERT_TRUE(key.ok());
  auto body = signJws(key.value(), "https://ca.example/new-acct", "nonce-1", "",
                      std::string(R"({"termsOfServiceAgreed":true})"));
  ASSERT_TRUE(body.ok());
  auto jws = nlohmann::json::parse(body.value());
  ASSERT_EQ(jws.size(), 3u);  // flattened: protected, payload, signature
  auto header = decodeJson(jws["protected"]);
  EXPECT_EQ(header["alg"], "ES256");
  EXPECT_EQ(header["nonce"], "nonce-1");
  EXPECT_EQ(header["url"], "https://ca.example/new-acct");
  EXPECT_EQ(header["jwk"], nlohmann::json::parse(key.value().jwk()));
  EXPECT_FALSE(header.contains("kid"));
  EXPECT_EQ(decodeJson(jws["payload"])["termsOfServiceAgreed"], true);
  std::string input = jws["protected"].get<std::string>() + "." + jws["payload"].get<std::string>();
  auto sig = certs::base64urlDecode(jws["signature"].get<std::string>());
  ASSERT_TRUE(sig.has_value());
  EXPECT_TRUE(verifies(key.value(), input, *sig));
  EXPECT_FALSE(verifies(key.value(), input + "x", *sig));
}

TEST(AcmeJws, PostAsGetHasKidAndEmptyPayload) {
  auto key = certs::EcKey::generate();
  ASSERT_TRUE(key.ok());
  auto body = signJws(key.value(), "https://ca.example/order/1", "n2", "https://ca.example/acct/7",
                      std::nullopt);
  ASSERT_TRUE(body.ok());
  auto jws = nlohmann::json::parse(body.value());
  EXPECT_EQ(jws["payload"], "");
  auto header = decodeJson(jws["protected"]);
  EXPECT_EQ(header["kid"], "https://ca.example/acct/7");
  EXPECT_FALSE(header.contains("jwk"));
  auto sig = certs::base64urlDecode(jws["signature"].get<std::string>());
  EXPECT_TRUE(verifies(key.value(), jws["protected"].get<std::string>() + ".", *sig));
}

TEST(AcmeJws, KeyAuthorizationIsTokenDotThumbprint) {
  auto key = certs::EcKey::generate();
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(keyAuthorization("tok-1", key.value()), "tok-1." + key.value().thumbprint());
}

TEST(AcmeStorage, KeysAre0600AndSurviveARestart) {
  fakes::TempDir dir{"acme-storage"};
  FileStorage s(dir.path() + "/acme");
  ASSERT_TRUE(s.ensureDir().ok());
  EXPECT_FALSE(s.accountKey().has_value());
  ASSERT_TRUE(s.saveAccountKey("KEY").ok());
  ASSERT_TRUE(s.saveCertificate("CHAIN", "CERTKEY").ok());
  struct stat st {};
  ASSERT_EQ(stat(s.path("account.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(s.path("certificate.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir.path() + "/acme").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  FileStorage again(dir.path() + "/acme/");
  EXPECT_EQ(again.accountKey().value_or(""), "KEY");
  EXPECT_EQ(again.certificate()->first, "CHAIN");
  ASSERT_TRUE(again.saveLastOrder({"failure", "connection refused", 100, 200}).ok());
  LastOrder last = s.lastOrder();
  EXPECT_EQ(last.result, "failure");
  EXPECT_EQ(last.detail, "connection refused");
  EXPECT_EQ(last.next_attempt, 200);
}

}  // namespace
}  // namespace meridian::acme
