#include "certs/acme_book.h"

#include "certs/acme_crypto.h"
#include "certs/certificate.h"
#include "certs/openssl_util.h"

namespace meridian::certs {

namespace {

constexpr unsigned char kAcmeTls[] =
    "\x0a"
    "acme-tls/1";

// RFC 8737, 4: the validation handshake negotiates acme-tls/1 and nothing else.
int selectAcmeTls(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                  unsigned int inlen, void*) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kAcmeTls, sizeof kAcmeTls - 1, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// Set on the challenge context so that the listener's own SNI callback, which would move the
// handshake to a served certificate, is not the one called.
int keepChallenge(SSL*, int*, void*) {
  return SSL_TLSEXT_ERR_OK;
}

core::Result<std::shared_ptr<SSL_CTX>> challengeContext(const PemPair& pem) {
  auto loaded = parseCertificate(pem.cert, pem.key, time(nullptr), "TLS-ALPN-01 certificate");
  if (!loaded.ok()) return loaded.error();
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), &SSL_CTX_free);
  if (!ctx || SSL_CTX_use_cert_and_key(ctx.get(), loaded.value().leaf.get(),
                                       loaded.value().key.get(), nullptr, 1) != 1) {
    return core::Error{core::ErrorKind::Internal, core::Side::Internal, false,
                       "TLS-ALPN-01 context: " + takeOpenSslError()};
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
  SSL_CTX_set_alpn_select_cb(ctx.get(), &selectAcmeTls, nullptr);
  SSL_CTX_set_tlsext_servername_callback(ctx.get(), &keepChallenge);
  return ctx;
}

}  // namespace

std::shared_ptr<AcmeBook> AcmeBook::process() {
  static auto book = std::make_shared<AcmeBook>();
  return book;
}

core::Result<bool> AcmeBook::setIssued(const std::vector<std::string>& domains,
                                       const std::string& chain_pem, const std::string& key_pem) {
  auto loaded = parseCertificate(chain_pem, key_pem, time(nullptr), "ACME certificate");
  if (!loaded.ok()) return loaded.error();
  auto shared = std::make_shared<const LoadedCertificate>(std::move(loaded.value()));
  std::lock_guard lock(mu_);
  for (const auto& d : domains) issued_[d] = shared;
  return true;
}

std::shared_ptr<const LoadedCertificate> AcmeBook::issued(const std::string& domain) const {
  std::lock_guard lock(mu_);
  auto it = issued_.find(domain);
  return it == issued_.end() ? nullptr : it->second;
}

core::Result<bool> AcmeBook::setAlpnChallenge(const std::string& domain,
                                              const std::string& key_authorization) {
  auto pem = tlsAlpnCertificate(domain, key_authorization);
  if (!pem.ok()) return pem.error();
  auto ctx = challengeContext(pem.value());
  if (!ctx.ok()) return ctx.error();
  std::lock_guard lock(mu_);
  alpn_[domain] = ctx.value();
  return true;
}

void AcmeBook::clearAlpnChallenge(const std::string& domain) {
  std::lock_guard lock(mu_);
  alpn_.erase(domain);
}

std::shared_ptr<SSL_CTX> AcmeBook::alpnChallenge(const std::string& domain) const {
  std::lock_guard lock(mu_);
  auto it = alpn_.find(domain);
  return it == alpn_.end() ? nullptr : it->second;
}

void AcmeBook::setHttpChallenge(const std::string& token, const std::string& key_authorization) {
  std::lock_guard lock(mu_);
  http_[token] = key_authorization;
}

void AcmeBook::clearHttpChallenge(const std::string& token) {
  std::lock_guard lock(mu_);
  http_.erase(token);
}

std::optional<std::string> AcmeBook::httpAnswer(const std::string& token) const {
  std::lock_guard lock(mu_);
  auto it = http_.find(token);
  if (it == http_.end()) return std::nullopt;
  return it->second;
}

}  // namespace meridian::certs
