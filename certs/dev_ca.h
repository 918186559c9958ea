#pragma once
// Development certificates: a local CA and a leaf for some hosts, for `meridian certs dev`,
// and the general issuing function tests use to make certificates of every shape (expired,
// RSA, wildcard, CN only).
#include <string>
#include <vector>

#include "core/error.h"

namespace meridian::certs {

enum class KeyKind { Ecdsa, Rsa };  // ECDSA P-256 or RSA-2048

struct IssueRequest {
  // DNS names and IP literals, all written into subjectAltName (IP literals as IP entries).
  std::vector<std::string> hosts;
  std::string common_name;  // empty: the first host
  KeyKind key = KeyKind::Ecdsa;
  bool ca = false;                   // a CA certificate (keyCertSign), else a TLS server leaf
  bool subject_alt_names = true;     // false: the name only in the CN (legacy certificates)
  long not_before_seconds = 0;       // from now; negative is in the past
  long valid_seconds = 90L * 86400;  // from not_before
};

struct PemPair {
  std::string cert;  // PEM certificate
  std::string key;   // PEM private key (PKCS#8)
};

// Issues a certificate signed by `issuer` (a CA's PEM pair), or self-signed when null.
core::Result<PemPair> issueCertificate(const IssueRequest& request, const PemPair* issuer);

struct DevCertFiles {
  std::string ca_cert, ca_key, cert, key;  // paths written
  bool reused_ca = false;                  // DIR already held a CA, which signed the new leaf
};

// Writes DIR/ca.pem, DIR/ca.key (a CA valid one year, reused when DIR already has one),
// DIR/cert.pem (the leaf, valid 90 days, then the CA) and DIR/key.pem. Keys are 0600.
core::Result<DevCertFiles> writeDevCertificates(const std::vector<std::string>& hosts,
                                                const std::string& dir, KeyKind leaf_key);

}  // namespace meridian::certs
