#pragma once
// What the ACME client hands the listeners, shared between its thread and the workers'
// handshakes: the certificate issued for each ACME name, the TLS-ALPN-01 challenge
// certificates and the HTTP-01 answers of the orders under way. One book per process (any
// listener may be asked a challenge); tests make their own.
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

struct ssl_ctx_st;

namespace meridian::certs {

struct LoadedCertificate;

class AcmeBook {
 public:
  static std::shared_ptr<AcmeBook> process();

  // A chain (leaf first) and its key, from the ACME server or storage, served from now on
  // to new handshakes naming any of `domains`; connections made before keep theirs.
  core::Result<bool> setIssued(const std::vector<std::string>& domains,
                               const std::string& chain_pem, const std::string& key_pem);
  std::shared_ptr<const LoadedCertificate> issued(const std::string& domain) const;

  // TLS-ALPN-01: a handshake offering only `acme-tls/1` for `domain` gets this certificate.
  core::Result<bool> setAlpnChallenge(const std::string& domain,
                                      const std::string& key_authorization);
  void clearAlpnChallenge(const std::string& domain);
  std::shared_ptr<ssl_ctx_st> alpnChallenge(const std::string& domain) const;

  // HTTP-01: GET /.well-known/acme-challenge/TOKEN on a plain listener answers this.
  void setHttpChallenge(const std::string& token, const std::string& key_authorization);
  void clearHttpChallenge(const std::string& token);
  std::optional<std::string> httpAnswer(const std::string& token) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const LoadedCertificate>> issued_;
  std::map<std::string, std::shared_ptr<ssl_ctx_st>> alpn_;
  std::map<std::string, std::string> http_;
};

}  // namespace meridian::certs
