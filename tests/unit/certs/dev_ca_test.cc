// Development certificates: what `meridian certs dev` writes, where, and with which key usage.
#include "certs/dev_ca.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

#include "tests/fakes/subprocess.h"

namespace meridian::certs {
namespace {

// keyUsage bits of a PEM certificate (KU_* from OpenSSL), or 0 when it cannot be read.
uint32_t keyUsage(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), -1), &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
  return cert ? X509_get_key_usage(cert.get()) : 0;
}

// An ECDSA key signs; it cannot encipher a key (RFC 5480, 3: keyEncipherment MUST NOT be set),
// and strict clients refuse a certificate that says it can. RSA keeps it for RSA key transport.
TEST(DevCa, LeafKeyUsageFitsItsKeyType) {
  IssueRequest ecdsa;
  ecdsa.hosts = {"localhost"};
  auto e = issueCertificate(ecdsa, nullptr);
  ASSERT_TRUE(e.ok()) << e.error().detail;
  EXPECT_EQ(keyUsage(e.value().cert), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));

  IssueRequest rsa = ecdsa;
  rsa.key = KeyKind::Rsa;
  auto r = issueCertificate(rsa, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(keyUsage(r.value().cert),
            static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));

  IssueRequest ca;
  ca.ca = true;
  auto c = issueCertificate(ca, nullptr);
  ASSERT_TRUE(c.ok()) << c.error().detail;
  EXPECT_EQ(keyUsage(c.value().cert), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
}

TEST(DevCa, FilesAreJoinedToTheDirectoryWithOneSlash) {
  fakes::TempDir dir("dev_ca");
  for (const std::string& out : {dir.path() + "/a/", dir.path() + "/b", dir.path() + "/c//"}) {
    auto files = writeDevCertificates({"localhost"}, out, KeyKind::Ecdsa);
    ASSERT_TRUE(files.ok()) << files.error().detail;
    std::string base = out.substr(0, out.find_last_not_of('/') + 1);
    EXPECT_EQ(files.value().ca_cert, base + "/ca.pem");
    EXPECT_EQ(files.value().ca_key, base + "/ca.key");
    EXPECT_EQ(files.value().cert, base + "/cert.pem");
    EXPECT_EQ(files.value().key, base + "/key.pem");
    EXPECT_EQ(keyUsage(fakes::readFile(files.value().cert)),
              static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  }
}

}  // namespace
}  // namespace meridian::certs
