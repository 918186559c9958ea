#pragma once
// The cryptography an ACME client (RFC 8555) needs, without OpenSSL in the header: base64url,
// the account key as a JWK and its thumbprint (RFC 7638), ES256 signatures in JWS form (RFC
// 7518, 3.4: r and s, 32 bytes each, not DER), the CSR for an order and the TLS-ALPN-01
// challenge certificate (RFC 8737). The JSON around them is the acme library's.
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "certs/dev_ca.h"
#include "core/error.h"

namespace meridian::certs {

// RFC 4648, 5 without padding, as JWS uses it.
std::string base64url(std::string_view bytes);
std::optional<std::string> base64urlDecode(std::string_view text);
std::string sha256(std::string_view bytes);  // the 32-byte digest

// base64url(SHA-256(jwk)) of a JWK already in RFC 7638's canonical form (required members
// only, sorted, no whitespace).
std::string jwkThumbprint(std::string_view canonical_jwk);

// An ECDSA P-256 key: the ACME account key, and each certificate's key.
class EcKey {
 public:
  static core::Result<EcKey> generate();
  static core::Result<EcKey> fromPem(std::string_view pem);  // PKCS#8 or SEC1
  std::string pem() const;                                   // PKCS#8
  // {"crv":"P-256","kty":"EC","x":"...","y":"..."}: canonical, so also the thumbprint's input.
  std::string jwk() const;
  std::string thumbprint() const { return jwkThumbprint(jwk()); }
  // ES256 over `input`: the 64-byte r || s a JWS carries (before base64url).
  core::Result<std::string> signEs256(std::string_view input) const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit EcKey(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

// A PKCS#10 request (DER) for `domains` signed by `key`: the first domain is the subject's CN,
// all are subjectAltName DNS entries (RFC 8555, 7.4 reads only the SAN).
core::Result<std::string> makeCsr(const EcKey& key, const std::vector<std::string>& domains);

// RFC 8737, 3: a self-signed certificate for `domain` with the critical acmeIdentifier
// extension (id-pe-acmeIdentifier, 1.3.6.1.5.5.7.1.31) holding SHA-256(key_authorization).
core::Result<PemPair> tlsAlpnCertificate(const std::string& domain,
                                         const std::string& key_authorization);

// What the client reads of an issued certificate (the first of a PEM chain).
struct CertificateFacts {
  time_t not_before = 0;
  time_t not_after = 0;
  std::string serial_hex;  // upper case, as openssl x509 -serial prints it
  std::vector<std::string> names;
  // RFC 9773 (ARI) certificate id: base64url(authority key id) "." base64url(serial); empty
  // without an authority key identifier.
  std::string ari_id;
};
core::Result<CertificateFacts> certificateFacts(std::string_view chain_pem);

}  // namespace meridian::certs
