#include "certs/upstream_tls.h"

#include <arpa/inet.h>

#include <functional>
#include <mutex>
#include <unordered_map>

#include "certs/certificate.h"
#include "certs/openssl_util.h"
#include "certs/tls_transport.h"
#include "core/file_read.h"

namespace meridian::certs {

namespace {

using SessionPtr = std::unique_ptr<SSL_SESSION, decltype(&SSL_SESSION_free)>;

// What a cluster keeps across reloads: its counters, and the sessions of its endpoints under
// the settings they were verified with.
struct ClusterState {
  UpstreamTlsCounters counters;
  std::mutex mu;  // guards the two below; taken once per new connection, never per request
  uint64_t settings_id = 0;
  std::unordered_map<std::string, SessionPtr> sessions;  // by endpoint
};

struct Registry {
  std::mutex mu;
  std::map<std::string, std::unique_ptr<ClusterState>> clusters;
};

Registry& registry() {
  static Registry r;
  return r;
}

ClusterState& stateFor(const std::string& cluster) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto& slot = r.clusters[cluster];
  if (!slot) slot = std::make_unique<ClusterState>();
  return *slot;
}

core::Error clusterError(const UpstreamTlsOptions& o, config::Mark at, const std::string& detail) {
  core::Error e{core::ErrorKind::ConfigInvalid, core::Side::Internal, false,
                "cluster " + o.cluster + ": " + detail};
  if (!o.config_file.empty() && at.line > 0) {
    e.detail = o.config_file + ":" + std::to_string(at.line) + ":" + std::to_string(at.col) + ": " +
               e.detail;
  }
  return e;
}

bool isIpAddress(std::string_view host) {
  std::string h(host);
  unsigned char buf[16];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

uint64_t settingsIdOf(const config::UpstreamTls& t) {
  std::string s = t.ca + '\n' + t.server_name + '\n' + t.min_version + '\n' +
                  (t.verify ? "verify" : "no-verify") + '\n';
  if (t.client_cert) s += t.client_cert->cert + '\n' + t.client_cert->key;
  return std::hash<std::string>{}(s) | 1;  // never 0, which means "plain"
}

// OpenSSL hands every new session (TLS 1.3: each ticket, after the handshake) here; the
// transport's session key says which endpoint it is for. Returning 1 keeps the reference.
int onNewSession(SSL* ssl, SSL_SESSION* session) {
  auto* state = static_cast<ClusterState*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  const std::string* key = sessionKeyOf(ssl);
  if (state == nullptr || key == nullptr) return 0;
  std::lock_guard<std::mutex> lock(state->mu);
  state->sessions.insert_or_assign(*key, SessionPtr(session, &SSL_SESSION_free));
  return 1;
}

}  // namespace

const char* upstreamTlsFailureName(UpstreamTlsFailure f) {
  switch (f) {
    case UpstreamTlsFailure::UnknownCa:
      return "unknown_ca";
    case UpstreamTlsFailure::Expired:
      return "expired";
    case UpstreamTlsFailure::NameMismatch:
      return "name_mismatch";
    case UpstreamTlsFailure::Verify:
      return "verify_failed";
    default:
      return "handshake";
  }
}

struct UpstreamTlsContext::Impl {
  SslCtxPtr ctx;
  ClusterState* state = nullptr;
  std::string server_name;
};

UpstreamTlsContext::UpstreamTlsContext() : impl_(std::make_unique<Impl>()) {}
UpstreamTlsContext::~UpstreamTlsContext() = default;

core::Result<std::shared_ptr<const UpstreamTlsContext>> UpstreamTlsContext::build(
    const UpstreamTlsOptions& o) {
  const config::UpstreamTls& t = o.tls;
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return clusterError(o, t.mark, "TLS context: " + takeOpenSslError());
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_min_proto_version(c, t.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION);
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_read_ahead(c, 1);
  SSL_CTX_set_verify(c, t.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  if (t.ca.empty()) {
    if (SSL_CTX_set_default_verify_paths(c) != 1)
      return clusterError(o, t.mark, "the system CA store: " + takeOpenSslError());
  } else {
    // Read as every file the config names is (a regular file, capped), then parsed from memory.
    auto pem = core::readRegularFile(t.ca, core::kPemFileLimit);
    if (!pem.ok()) return clusterError(o, t.ca_mark, pem.error().detail);
    BioPtr bio(BIO_new_mem_buf(pem.value().data(), static_cast<int>(pem.value().size())));
    X509_STORE* store = SSL_CTX_get_cert_store(c);
    int added = 0;
    while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      X509Ptr owned(x);
      if (X509_STORE_add_cert(store, x) == 1) ++added;
    }
    ERR_clear_error();  // the loop ends on "no start line"
    if (added == 0) return clusterError(o, t.ca_mark, t.ca + ": no PEM certificate in it");
  }
  if (t.client_cert) {
    bool key_at_fault = false;
    auto cert =
        loadCertificate(t.client_cert->cert, t.client_cert->key, time(nullptr), &key_at_fault);
    if (!cert.ok()) {
      return clusterError(o, key_at_fault ? t.client_cert->key_mark : t.client_cert->cert_mark,
                          cert.error().detail);
    }
    if (SSL_CTX_use_cert_and_key(c, cert.value().leaf.get(), cert.value().key.get(),
                                 cert.value().chain.get(), 1) != 1) {
      return clusterError(o, t.client_cert->cert_mark,
                          t.client_cert->cert + ": " + takeOpenSslError());
    }
  }
  // Sessions live in our per-endpoint cache, not OpenSSL's (which a client does not look up).
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(c, &onNewSession);

  std::shared_ptr<UpstreamTlsContext> out(new UpstreamTlsContext());
  out->cluster_ = o.cluster;
  out->settings_id_ = settingsIdOf(t);
  Impl& impl = *out->impl_;
  impl.state = &stateFor(o.cluster);
  {
    std::lock_guard<std::mutex> lock(impl.state->mu);
    if (impl.state->settings_id != out->settings_id_) {
      impl.state->sessions.clear();
      impl.state->settings_id = out->settings_id_;
    }
  }
  SSL_CTX_set_app_data(c, impl.state);
  impl.server_name = t.server_name;
  impl.ctx = std::move(ctx);
  return std::shared_ptr<const UpstreamTlsContext>(std::move(out));
}

std::unique_ptr<core::StreamTransport> UpstreamTlsContext::newTransport(
    int fd, const std::string& endpoint, std::string_view host, std::string_view alpn) const {
  SslPtr ssl(SSL_new(impl_->ctx.get()));
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1 ||
      (!alpn.empty() &&
       SSL_set_alpn_protos(ssl.get(), reinterpret_cast<const unsigned char*>(alpn.data()),
                           static_cast<unsigned int>(alpn.size())) != 0)) {
    ERR_clear_error();
    return nullptr;
  }
  std::string name = impl_->server_name.empty() ? std::string(host) : impl_->server_name;
  if (isIpAddress(name)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), name.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl.get(), name.c_str());
    SSL_set1_host(ssl.get(), name.c_str());
  }
  {
    std::lock_guard<std::mutex> lock(impl_->state->mu);
    auto it = impl_->state->sessions.find(endpoint);
    if (it != impl_->state->sessions.end()) {
      // A session is resumed at most once under TLS 1.3 (its ticket is single-use on most
      // servers); the handshake's new ticket replaces it.
      if (SSL_SESSION_is_resumable(it->second.get())) SSL_set_session(ssl.get(), it->second.get());
      if (SSL_SESSION_get_protocol_version(it->second.get()) == TLS1_3_VERSION)
        impl_->state->sessions.erase(it);
    }
  }
  return makeClientTransport(std::move(ssl), shared_from_this(), endpoint);
}

void UpstreamTlsContext::handshakeDone(core::StreamTransport& t) const {
  SSL* ssl = sslOf(t);
  bool resumed = ssl != nullptr && SSL_session_reused(ssl) == 1;
  auto& c = impl_->state->counters;
  (resumed ? c.resumed_handshakes : c.full_handshakes).fetch_add(1, std::memory_order_relaxed);
}

UpstreamTlsFailure UpstreamTlsContext::handshakeFailed(const core::StreamTransport& t) const {
  UpstreamTlsFailure f = UpstreamTlsFailure::Handshake;
  if (SSL* ssl = sslOf(t)) {
    switch (SSL_get_verify_result(ssl)) {
      case X509_V_OK:
        break;
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        f = UpstreamTlsFailure::UnknownCa;
        break;
      case X509_V_ERR_CERT_HAS_EXPIRED:
      case X509_V_ERR_CERT_NOT_YET_VALID:
        f = UpstreamTlsFailure::Expired;
        break;
      case X509_V_ERR_HOSTNAME_MISMATCH:
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
        f = UpstreamTlsFailure::NameMismatch;
        break;
      default:
        f = UpstreamTlsFailure::Verify;
        break;
    }
  }
  impl_->state->counters.failures[static_cast<size_t>(f)].fetch_add(1, std::memory_order_relaxed);
  return f;
}

std::map<std::string, const UpstreamTlsCounters*> upstreamTlsCounters() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::map<std::string, const UpstreamTlsCounters*> out;
  for (const auto& [name, state] : r.clusters) out.emplace(name, &state->counters);
  return out;
}

}  // namespace meridian::certs
