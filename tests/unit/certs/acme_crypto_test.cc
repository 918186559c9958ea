// The ACME client's cryptography against the RFCs: base64url (RFC 4648, 10), the JWK
// thumbprint (RFC 7638, 3.1's example), ES256 in JWS form verified by OpenSSL, the CSR and the
// TLS-ALPN-01 certificate's critical acmeIdentifier extension (RFC 8737, 3).
#include "certs/acme_crypto.h"

#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

namespace meridian::certs {
namespace {

TEST(AcmeCrypto, Base64UrlMatchesRfc4648WithoutPadding) {
  EXPECT_EQ(base64url(""), "");
  EXPECT_EQ(base64url("f"), "Zg");
  EXPECT_EQ(base64url("fo"), "Zm8");
  EXPECT_EQ(base64url("foo"), "Zm9v");
  EXPECT_EQ(base64url("foob"), "Zm9vYg");
  EXPECT_EQ(base64url(std::string("\xfb\xff\xbf", 3)), "-_-_");  // the URL-safe alphabet
  EXPECT_EQ(base64urlDecode("Zm9vYg").value_or("?"), "foob");
  EXPECT_EQ(base64urlDecode("-_-_").value_or("?"), std::string("\xfb\xff\xbf", 3));
  EXPECT_FALSE(base64urlDecode("Zm9v+g").has_value());  // standard alphabet refused
  EXPECT_FALSE(base64urlDecode("Zm9vY").has_value());   // impossible length
}

TEST(AcmeCrypto, ThumbprintOfRfc7638Example) {
  const std::string jwk =
      R"({"e":"AQAB","kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"})";
  EXPECT_EQ(jwkThumbprint(jwk), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

TEST(AcmeCrypto, EcJwkIsCanonicalAndSurvivesPem) {
  auto key = EcKey::generate();
  ASSERT_TRUE(key.ok());
  std::string jwk = key.value().jwk();
  // Members sorted, no whitespace, coordinates 32 bytes (43 base64url characters).
  ASSERT_EQ(jwk.rfind(R"({"crv":"P-256","kty":"EC","x":")", 0), 0u) << jwk;
  EXPECT_EQ(jwk.size(), std::string(R"({"crv":"P-256","kty":"EC","x":"","y":""})").size() + 86);
  auto again = EcKey::fromPem(key.value().pem());
  ASSERT_TRUE(again.ok()) << again.error().detail;
  EXPECT_EQ(again.value().jwk(), jwk);
  EXPECT_EQ(again.value().thumbprint(), key.value().thumbprint());
  EXPECT_FALSE(EcKey::fromPem("not a key").ok());
}

// The signature is r || s (RFC 7518, 3.4); OpenSSL verifies its DER form with the public key.
TEST(AcmeCrypto, Es256SignatureVerifiesWithOpenSsl) {
  auto key = EcKey::generate();
  ASSERT_TRUE(key.ok());
  const std::string input = base64url(R"({"alg":"ES256"})") + "." + base64url(R"({"a":1})");
  auto sig = key.value().signEs256(input);
  ASSERT_TRUE(sig.ok());
  ASSERT_EQ(sig.value().size(), 64u);
  std::string pem = key.value().pem();
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), (int)pem.size()),
                                                &BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  ASSERT_TRUE(pkey);
  auto verify = [&](const std::string& raw, const std::string& data) {
    ECDSA_SIG* s = ECDSA_SIG_new();
    const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
    ECDSA_SIG_set0(s, BN_bin2bn(p, 32, nullptr), BN_bin2bn(p + 32, 32, nullptr));
    unsigned char* der = nullptr;
    int len = i2d_ECDSA_SIG(s, &der);
    ECDSA_SIG_free(s);
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, pkey.get());
    int rc = EVP_DigestVerify(md, der, (size_t)len,
                              reinterpret_cast<const unsigned char*>(data.data()), data.size());
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    return rc == 1;
  };
  EXPECT_TRUE(verify(sig.value(), input));
  EXPECT_FALSE(verify(sig.value(), input + "x"));
}

TEST(AcmeCrypto, CsrNamesEveryDomainAndIsSignedByTheKey) {
  auto key = EcKey::generate();
  ASSERT_TRUE(key.ok());
  auto der = makeCsr(key.value(), {"app.example.com", "www.example.com"});
  ASSERT_TRUE(der.ok());
  const auto* p = reinterpret_cast<const unsigned char*>(der.value().data());
  std::unique_ptr<X509_REQ, decltype(&X509_REQ_free)> req(
      d2i_X509_REQ(nullptr, &p, (long)der.value().size()), &X509_REQ_free);
  ASSERT_TRUE(req);
  EVP_PKEY* pub = X509_REQ_get0_pubkey(req.get());
  EXPECT_EQ(X509_REQ_verify(req.get(), pub), 1);
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req.get());
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509V3_get_d2i(exts, NID_subject_alt_name, nullptr, nullptr));
  ASSERT_NE(sans, nullptr);
  ASSERT_EQ(sk_GENERAL_NAME_num(sans), 2);
  auto name = [&](int i) {
    const ASN1_IA5STRING* s = sk_GENERAL_NAME_value(sans, i)->d.dNSName;
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       (size_t)ASN1_STRING_length(s));
  };
  EXPECT_EQ(name(0), "app.example.com");
  EXPECT_EQ(name(1), "www.example.com");
  GENERAL_NAMES_free(sans);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}

TEST(AcmeCrypto, TlsAlpnCertificateCarriesTheCriticalAcmeIdentifier) {
  const std::string key_auth = "token123.thumbprint456";
  auto pem = tlsAlpnCertificate("app.example.com", key_auth);
  ASSERT_TRUE(pem.ok()) << pem.error().detail;
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.value().cert.data(), (int)pem.value().cert.size()), &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
  ASSERT_TRUE(cert);
  ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
  int at = X509_get_ext_by_OBJ(cert.get(), oid, -1);
  ASN1_OBJECT_free(oid);
  ASSERT_GE(at, 0);
  X509_EXTENSION* ext = X509_get_ext(cert.get(), at);
  EXPECT_EQ(X509_EXTENSION_get_critical(ext), 1);
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(ext);
  // The extension's value is the DER OCTET STRING of SHA-256(key authorization).
  std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                    (size_t)ASN1_STRING_length(data));
  EXPECT_EQ(value, std::string("\x04\x20", 2) + sha256(key_auth));
  auto facts = certificateFacts(pem.value().cert);
  ASSERT_TRUE(facts.ok());
  EXPECT_EQ(facts.value().names, std::vector<std::string>{"app.example.com"});
}

TEST(AcmeCrypto, FactsOfAnIssuedCertificate) {
  IssueRequest ca;
  ca.ca = true;
  ca.common_name = "test CA";
  auto issuer = issueCertificate(ca, nullptr);
  ASSERT_TRUE(issuer.ok());
  IssueRequest r;
  r.hosts = {"a.example", "b.example"};
  r.valid_seconds = 3600;
  auto leaf = issueCertificate(r, &issuer.value());
  ASSERT_TRUE(leaf.ok());
  auto f = certificateFacts(leaf.value().cert + issuer.value().cert);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f.value().names, (std::vector<std::string>{"a.example", "b.example"}));
  EXPECT_NEAR((double)(f.value().not_after - time(nullptr)), 3600, 5);
  EXPECT_FALSE(f.value().serial_hex.empty());
  EXPECT_NE(f.value().ari_id.find('.'), std::string::npos);
}

}  // namespace
}  // namespace meridian::certs
