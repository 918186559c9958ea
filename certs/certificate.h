#pragma once
// One certificate entry of a listener, read and checked: the leaf, its chain, its key, and the
// names SNI matches it by. Internal to certs/ (it speaks OpenSSL types).
#include <ctime>
#include <string>
#include <vector>

#include "certs/openssl_util.h"
#include "core/error.h"

namespace meridian::certs {

enum class KeyType { Rsa, Ecdsa, Other };

struct LoadedCertificate {
  X509Ptr leaf;
  X509StackPtr chain;  // the rest of the cert file, in order (intermediates, maybe the root)
  PkeyPtr key;
  KeyType key_type = KeyType::Other;
  // Lower-case DNS names from the subjectAltName extension; the subject CN only when the
  // certificate has no subjectAltName at all (RFC 6125: a SAN makes the CN irrelevant).
  std::vector<std::string> names;
};

// Reads `cert_path` (PEM: leaf first, then its chain) and `key_path` (PEM private key) and
// refuses what would fail every handshake: unreadable files, a key that is not the
// certificate's, a certificate outside its validity period at `now`. Errors read
// "FILE: message". `key_at_fault` (when given) says whether the error is about the key file,
// so the caller can point at the config line that names it.
core::Result<LoadedCertificate> loadCertificate(const std::string& cert_path,
                                                const std::string& key_path, time_t now,
                                                bool* key_at_fault = nullptr);

// The same checks on PEM text in memory (an ACME certificate); errors start with `what`.
core::Result<LoadedCertificate> parseCertificate(const std::string& chain_pem,
                                                 const std::string& key_pem, time_t now,
                                                 const std::string& what);

}  // namespace meridian::certs
