#include "certs/tls_context.h"

#include <algorithm>
#include <ctime>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "certs/acme_book.h"
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
    e.detail = o.config_file + ":" + std::to_string(at.line) + ":" + std::to_string(at.col) + ": " +
               e.detail;
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

  // ACME: the names, the book, and the context made for the book's current certificate.
  std::unordered_set<std::string> acme_names;
  std::shared_ptr<AcmeBook> book;
  TlsOptions options;  // to make that context like the others
  mutable std::mutex acme_mu;
  mutable std::shared_ptr<const LoadedCertificate> acme_source;
  mutable SslCtxPtr acme_ctx;

  static std::string normalName(std::string_view server_name) {
    std::string name = lower(server_name);
    if (!name.empty() && name.back() == '.') name.pop_back();
    return name;
  }

  // The context serving the issued certificate of an ACME name, made again when the book
  // holds a newer one; null until one is issued. Handshakes on other workers may ask at the
  // same time, hence the lock; an SSL moved to the old context keeps it alive.
  SSL_CTX* acmeContext(const std::string& name) const {
    auto cert = book->issued(name);
    if (!cert) return nullptr;
    std::lock_guard lock(acme_mu);
    if (cert != acme_source) {
      auto ctx = const_cast<Impl*>(this)->newCtx(options);
      if (!ctx.ok()) return nullptr;
      if (SSL_CTX_use_cert_and_key(ctx.value().get(), cert->leaf.get(), cert->key.get(),
                                   cert->chain.get(), 1) != 1) {
        ERR_clear_error();
        return nullptr;
      }
      acme_ctx = std::move(ctx.value());
      acme_source = cert;
    }
    return acme_ctx.get();
  }

  // Before SNI and ALPN are processed: a validation handshake (ALPN acme-tls/1) moves to the
  // challenge context, or fails when this name has no challenge under way.
  static int onClientHello(SSL* ssl, int* alert, void* arg) {
    const auto* self = static_cast<const Impl*>(arg);
    if (self->acme_names.empty()) return SSL_CLIENT_HELLO_SUCCESS;
    const unsigned char* alpn = nullptr;
    size_t alpn_len = 0;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &alpn,
                                  &alpn_len) != 1 ||
        !offersAcmeTls(alpn, alpn_len))
      return SSL_CLIENT_HELLO_SUCCESS;
    std::string name = normalName(clientHelloServerName(ssl));
    auto challenge = self->acme_names.count(name) ? self->book->alpnChallenge(name) : nullptr;
    if (!challenge) {
      *alert = SSL_AD_UNRECOGNIZED_NAME;
      return SSL_CLIENT_HELLO_ERROR;
    }
    SSL_set_SSL_CTX(ssl, challenge.get());
    return SSL_CLIENT_HELLO_SUCCESS;
  }

  // The ALPN extension body: a 2-byte list length, then length-prefixed names.
  static bool offersAcmeTls(const unsigned char* p, size_t len) {
    if (len < 2) return false;
    size_t end = std::min(len, size_t{2} + ((size_t{p[0]} << 8) | p[1]));
    for (size_t i = 2; i < end;) {
      size_t n = p[i];
      if (i + 1 + n > end) return false;
      if (std::string_view(reinterpret_cast<const char*>(p + i + 1), n) == "acme-tls/1")
        return true;
      i += 1 + n;
    }
    return false;
  }

  // The host_name of the server_name extension (RFC 6066, 3), "" when absent or malformed.
  static std::string_view clientHelloServerName(SSL* ssl) {
    const unsigned char* p = nullptr;
    size_t len = 0;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) != 1 || len < 5)
      return {};
    size_t list = (size_t{p[0]} << 8) | p[1];
    if (list + 2 > len || p[2] != TLSEXT_NAMETYPE_host_name) return {};
    size_t n = (size_t{p[3]} << 8) | p[4];
    if (5 + n > len) return {};
    return std::string_view(reinterpret_cast<const char*>(p + 5), n);
  }

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

  static int onServerName(SSL* ssl, int* alert, void* arg) {
    const auto* self = static_cast<const Impl*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == nullptr) return SSL_TLSEXT_ERR_NOACK;
    if (!self->acme_names.empty()) {
      std::string normal = normalName(name);
      if (self->acme_names.count(normal)) {
        // Never the default certificate instead: a client would see a name mismatch, or
        // worse, trust a certificate that was not issued for this name.
        SSL_CTX* issued = self->acmeContext(normal);
        if (issued == nullptr) {
          *alert = SSL_AD_UNRECOGNIZED_NAME;
          return SSL_TLSEXT_ERR_ALERT_FATAL;
        }
        SSL_set_SSL_CTX(ssl, issued);
        return SSL_TLSEXT_ERR_OK;
      }
    }
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
    if (!acme_names.empty()) SSL_CTX_set_client_hello_cb(c, &Impl::onClientHello, this);
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
  if (options.tls.certificates.empty() && !options.tls.acme)
    return listenerError(options.listener, "tls: at least one certificate is required");
  std::shared_ptr<TlsContext> ctx(new TlsContext());
  Impl& impl = *ctx->impl_;
  for (const auto& p : options.alpn) {
    impl.alpn.push_back(static_cast<char>(p.size()));
    impl.alpn += p;
  }
  if (options.tls.acme) {
    impl.acme_names.insert(options.tls.acme->domains.begin(), options.tls.acme->domains.end());
    impl.book = options.acme ? options.acme : AcmeBook::process();
    impl.options = options;
    if (options.tls.certificates.empty()) {
      // No files: the first context has no certificate, so a handshake for any other name
      // (or none) fails instead of being served something made up.
      auto bare = impl.newCtx(options);
      if (!bare.ok()) return bare.error();
      impl.groups.push_back(Impl::Group{std::move(bare.value()), {}, {}, 0});
    }
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
