#include "certs/tls_transport.h"

#include <errno.h>
#include <string.h>

#include <algorithm>

namespace meridian::certs {

namespace {

using core::IoStatus;

// The largest plaintext of one TLS record: reading this much at a time takes a whole record
// out of the SSL, so no decrypted byte waits inside it where socket readiness cannot see it.
constexpr size_t kMaxRecord = 16384;

class OpenSslTransport final : public core::StreamTransport {
 public:
  OpenSslTransport(SslPtr ssl, std::shared_ptr<const void> owner, std::string session_key = {})
      : ssl_(std::move(ssl)), owner_(std::move(owner)), session_key_(std::move(session_key)) {}

  SSL* ssl() const { return ssl_.get(); }
  const std::string& sessionKey() const { return session_key_; }

  // A connection closed without close_notify (most clients just close) would otherwise take
  // its session out of the cache, and TLS 1.2 session-id resumption would never happen. A
  // fatal error has already removed it.
  ~OpenSslTransport() override {
    if (established_) SSL_set_shutdown(ssl_.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }

  IoStatus handshake() override {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_.get());
    if (rc != 1) return status(rc);
    established_ = true;
    return IoStatus::Ok;
  }

  IoStatus read(core::Buffer& in, size_t max, size_t& got) override {
    got = 0;
    char chunk[kMaxRecord];
    ERR_clear_error();
    int n = SSL_read(ssl_.get(), chunk, sizeof chunk);
    if (n <= 0) return status(n);
    in.append(chunk, static_cast<size_t>(n));
    got = static_cast<size_t>(n);
    return IoStatus::Ok;
  }

  IoStatus write(core::Buffer& out) override {
    while (!out.empty()) {
      // A retried write must offer the same bytes: the length is remembered, and the buffer
      // only ever grows at its end, so its front still holds them.
      size_t len = pending_write_ != 0 ? pending_write_ : std::min(out.size(), kMaxRecord);
      const char* data = out.pullup(len);
      ERR_clear_error();
      int n = SSL_write(ssl_.get(), data, static_cast<int>(len));
      if (n <= 0) {
        IoStatus st = status(n);
        pending_write_ = st == IoStatus::Error ? 0 : len;
        return st;
      }
      pending_write_ = 0;
      out.drain(static_cast<size_t>(n));
    }
    return IoStatus::Ok;
  }

  bool hasPending() const override { return SSL_has_pending(ssl_.get()) == 1; }

  IoStatus shutdown() override {
    ERR_clear_error();
    int rc = SSL_shutdown(ssl_.get());
    // 0: our close_notify is out, the peer's not yet in; we do not wait for it.
    if (rc >= 0) return IoStatus::Ok;
    return status(rc);
  }

  void releaseBuffers() override { SSL_free_buffers(ssl_.get()); }

  std::string_view protocol() const override {
    const unsigned char* p = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl_.get(), &p, &len);
    return {reinterpret_cast<const char*>(p), len};
  }

  std::string_view version() const override {
    switch (SSL_version(ssl_.get())) {
      case TLS1_3_VERSION:
        return "1.3";
      case TLS1_2_VERSION:
        return "1.2";
      default:
        return "other";
    }
  }

  std::string lastError() const override { return last_error_; }

 private:
  IoStatus status(int rc) {
    int err = SSL_get_error(ssl_.get(), rc);
    switch (err) {
      case SSL_ERROR_WANT_READ:
        return IoStatus::WantRead;
      case SSL_ERROR_WANT_WRITE:
        return IoStatus::WantWrite;
      case SSL_ERROR_ZERO_RETURN:
        return IoStatus::Eof;
      case SSL_ERROR_SYSCALL:
        if (errno == EAGAIN || errno == EINTR) return IoStatus::WantRead;
        last_error_ = errno != 0 ? strerror(errno) : "connection closed during the handshake";
        ERR_clear_error();
        return IoStatus::Error;
      default:
        last_error_ = takeOpenSslError("TLS error");
        return IoStatus::Error;
    }
  }

  SslPtr ssl_;
  std::shared_ptr<const void> owner_;
  std::string session_key_;
  size_t pending_write_ = 0;
  bool established_ = false;
  std::string last_error_;
};

}  // namespace

// The SSL's ex_data slot that points back at its transport (client side only).
static int transportIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

std::unique_ptr<core::StreamTransport> makeServerTransport(SSL_CTX* ctx, int fd,
                                                           std::shared_ptr<const void> owner) {
  SslPtr ssl(SSL_new(ctx));
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) {
    ERR_clear_error();
    return nullptr;
  }
  SSL_set_accept_state(ssl.get());
  return std::make_unique<OpenSslTransport>(std::move(ssl), std::move(owner));
}

std::unique_ptr<core::StreamTransport> makeClientTransport(SslPtr ssl,
                                                           std::shared_ptr<const void> owner,
                                                           std::string session_key) {
  SSL* raw = ssl.get();
  SSL_set_connect_state(raw);
  auto t =
      std::make_unique<OpenSslTransport>(std::move(ssl), std::move(owner), std::move(session_key));
  SSL_set_ex_data(raw, transportIndex(), t.get());
  return t;
}

const std::string* sessionKeyOf(SSL* ssl) {
  auto* t = static_cast<OpenSslTransport*>(SSL_get_ex_data(ssl, transportIndex()));
  return t != nullptr ? &t->sessionKey() : nullptr;
}

SSL* sslOf(const core::StreamTransport& t) {
  const auto* o = dynamic_cast<const OpenSslTransport*>(&t);
  return o != nullptr ? o->ssl() : nullptr;
}

}  // namespace meridian::certs
