#include "certs/tls_context.h"

#include <algorithm>
#include <ctime>
#include <unordered_map>

#include "certs/certificate.h"
#include "certs/openssl_util.h"
#include "certs/ticket_keys.h"
#include "certs/tls_transport.h"

namespace meridian::certs {

namespace {

// TLS 1.2: forward secrecy (ECDHE) and AEAD only, ECDSA first, the server's order wins.
// TLS 1.3 suites are all AEAD with ECDHE; OpenSSL's defaults stand.
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr char kGroups[] = "X25519:P-256:P-384";
// Session ids from one listener are only resumed on the same listener.
constexpr char kSessionIdPrefix[] = "meridian:";

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

core::Error listenerError(const std::string& listener, const std::string& detail) {
  return core::Error{core::ErrorKind::ConfigInvalid, core::Side::Internal, false,
                     "listener " + listener + ": " + detail};
}

// The same, at the config line that names the file the error is about.
core::Error fileError(const TlsOptions& o, config::Mark at, const std::string& detail) {
  core::Error e = listenerError(o.listener, detail);
  if (!o.config_file.empty() && at.line > 0) {
    e.detail = o.config_file + ":" + std::to_string(at.line) + ":" + std::to_string(at.col) +
               ": " + e.detail;
  }
  return e;
}

}  // namespace

struct TlsContext::Impl {
  struct Group {
    SslCtxPtr ctx;
    std::vector<std::string> names;
    std::vector<KeyType> key_types;
    size_t first_entry = 0;
  };
  std::vector<Group> groups;                         // groups[0] holds the default certificate
  std::unordered_map<std::string, size_t> exact;     // name -> group
  std::unordered_map<std::string, size_t> wildcard;  // "example.com" for "*.example.com"
  std::string alpn;                                  // wire format: length-prefixed names

  size_t groupFor(std::string_view server_name) const {
    if (server_name.empty()) return 0;
    std::string name = lower(server_name);
    if (name.back() == '.') name.pop_back();
    if (auto it = exact.find(name); it != exact.end()) return it->second;
    size_t dot = name.find('.');
    if (dot != std::string::npos && dot > 0) {
      if (auto it = wildcard.find(name.substr(dot + 1)); it != wildcard.end()) return it->second;
    }
    return 0;
  }

  static int onServerName(SSL* ssl, int*, void* arg) {
    const auto* self = static_cast<const Impl*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == nullptr) return SSL_TLSEXT_ERR_NOACK;
    size_t g = self->groupFor(name);
    if (g != 0) SSL_set_SSL_CTX(ssl, self->groups[g].ctx.get());
    return SSL_TLSEXT_ERR_OK;
  }

  // Our order wins (config `protocols`); no overlap: no ALPN, and the client speaks HTTP/1.1.
  static int onAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                    unsigned int inlen, void* arg) {
    const auto* self = static_cast<const Impl*>(arg);
    if (self->alpn.empty()) return SSL_TLSEXT_ERR_NOACK;
    unsigned char* selected = nullptr;
    int rc = SSL_select_next_proto(&selected, outlen,
                                   reinterpret_cast<const unsigned char*>(self->alpn.data()),
                                   static_cast<unsigned int>(self->alpn.size()), in, inlen);
    if (rc != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_NOACK;
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }

  core::Result<SslCtxPtr> newCtx(const TlsOptions& o) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx) return listenerError(o.listener, "TLS context: " + takeOpenSslError());
    SSL_CTX* c = ctx.get();
    int min = o.tls.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
    SSL_CTX_set_min_proto_version(c, min);
    SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION);
    SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    // Writes may be partial and retried from a buffer that moved (our output buffer is
    // rearranged by pullup). Record buffers are given back when a connection idles
    // (Stream::releaseBuffers), not after every record as SSL_MODE_RELEASE_BUFFERS would.
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // Read ahead: one read() takes whatever the socket holds (a record's header and body,
    // several records) instead of a header read, a body read and an EAGAIN read per record.
    SSL_CTX_set_read_ahead(c, 1);
    if (SSL_CTX_set_cipher_list(c, kTls12Ciphers) != 1 || SSL_CTX_set1_groups_list(c, kGroups) != 1)
      return listenerError(o.listener, "TLS context: " + takeOpenSslError());
    std::string sid = kSessionIdPrefix + o.listener;
    sid.resize(std::min(sid.size(), size_t{SSL_MAX_SID_CTX_LENGTH}));
    SSL_CTX_set_session_id_context(c, reinterpret_cast<const unsigned char*>(sid.data()),
                                   static_cast<unsigned int>(sid.size()));
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_timeout(c, static_cast<long>(kTicketKeyInterval.count()));
    SSL_CTX_set_tlsext_ticket_key_evp_cb(c, &ticketKeyCallback);
    SSL_CTX_set_tlsext_servername_callback(c, &Impl::onServerName);
    SSL_CTX_set_tlsext_servername_arg(c, this);
    SSL_CTX_set_alpn_select_cb(c, &Impl::onAlpn, this);
    return ctx;
  }

  // A certificate with the same names as an earlier one and another key type joins it (one
  // SSL_CTX serves both); anything else starts a group.
  core::Result<bool> add(const TlsOptions& o, size_t entry, LoadedCertificate cert) {
    Group* into = nullptr;
    for (auto& g : groups) {
      bool same_names = g.names == cert.names;
      bool new_type =
          std::find(g.key_types.begin(), g.key_types.end(), cert.key_type) == g.key_types.end();
      if (same_names && new_type && cert.key_type != KeyType::Other) {
        into = &g;
        break;
      }
    }
    if (into == nullptr) {
      auto ctx = newCtx(o);
      if (!ctx.ok()) return ctx.error();
      groups.push_back(Group{std::move(ctx.value()), cert.names, {}, entry});
      into = &groups.back();
      size_t index = groups.size() - 1;
      for (const auto& n : cert.names) {
        if (n.size() > 2 && n.compare(0, 2, "*.") == 0)
          wildcard.emplace(n.substr(2), index);
        else
          exact.emplace(n, index);
      }
    }
    into->key_types.push_back(cert.key_type);
    const auto& c = o.tls.certificates[entry];
    ERR_clear_error();
    if (SSL_CTX_use_cert_and_key(into->ctx.get(), cert.leaf.get(), cert.key.get(), cert.chain.get(),
                                 1) != 1) {
      return fileError(o, c.cert_mark, c.cert + ": " + takeOpenSslError());
    }
    return true;
  }
};

TlsContext::TlsContext() : impl_(std::make_unique<Impl>()) {}
TlsContext::~TlsContext() = default;

core::Result<std::shared_ptr<const TlsContext>> TlsContext::build(const TlsOptions& options) {
  if (options.tls.certificates.empty())
    return listenerError(options.listener, "tls: at least one certificate is required");
  std::shared_ptr<TlsContext> ctx(new TlsContext());
  Impl& impl = *ctx->impl_;
  for (const auto& p : options.alpn) {
    impl.alpn.push_back(static_cast<char>(p.size()));
    impl.alpn += p;
  }
  time_t now = time(nullptr);
  for (size_t i = 0; i < options.tls.certificates.size(); ++i) {
    const auto& c = options.tls.certificates[i];
    bool key_at_fault = false;
    auto cert = loadCertificate(c.cert, c.key, now, &key_at_fault);
    if (!cert.ok())
      return fileError(options, key_at_fault ? c.key_mark : c.cert_mark, cert.error().detail);
    auto added = impl.add(options, i, std::move(cert.value()));
    if (!added.ok()) return added.error();
  }
  return std::shared_ptr<const TlsContext>(std::move(ctx));
}

std::unique_ptr<core::StreamTransport> TlsContext::newTransport(int fd) const {
  return makeServerTransport(impl_->groups.front().ctx.get(), fd, shared_from_this());
}

size_t TlsContext::select(std::string_view server_name) const {
  return impl_->groups[impl_->groupFor(server_name)].first_entry;
}

}  // namespace meridian::certs
