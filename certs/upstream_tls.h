#pragma once
// The client side of TLS to a cluster's endpoints: the trusted CAs, the name verified and sent
// as SNI, an optional client certificate (mTLS), the lowest version, and a session cache per
// endpoint so that new connections resume instead of paying a full handshake. Built once per
// TLS cluster per config snapshot; only certs/ sees OpenSSL, so this hands out
// core::StreamTransport.
//
// Counters (handshakes full and resumed, failures by reason) and the session cache belong to
// the cluster, not to one snapshot: a reload keeps them (a changed `tls:` block starts a new
// session cache, since a session proves only what the old settings verified).
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/error.h"
#include "core/stream_transport.h"

namespace meridian::certs {

// Why an upstream handshake failed, as the `reason` label of
// meridian_upstream_tls_failures_total.
enum class UpstreamTlsFailure : size_t {
  UnknownCa,     // the chain does not lead to a trusted CA (self-signed, unknown issuer)
  Expired,       // a certificate outside its validity period
  NameMismatch,  // the certificate does not name the server name
  Verify,        // another verification failure (bad signature, unusable key, ...)
  Handshake,     // no verification error: the peer refused us (no client certificate, no
                 // common version or cipher), or the connection broke during the handshake
  kCount,
};
const char* upstreamTlsFailureName(UpstreamTlsFailure f);

struct UpstreamTlsOptions {
  std::string cluster;
  config::UpstreamTls tls;
  // As in TlsOptions: errors about a file start with "CONFIG:LINE:COL: ". Empty: no position.
  std::string config_file;
};

// One cluster's counters, kept for the life of the process.
struct UpstreamTlsCounters {
  std::atomic<uint64_t> full_handshakes{0};
  std::atomic<uint64_t> resumed_handshakes{0};
  std::atomic<uint64_t> failures[static_cast<size_t>(UpstreamTlsFailure::kCount)] = {};
};

class UpstreamTlsContext : public std::enable_shared_from_this<UpstreamTlsContext> {
 public:
  // Reads the CA bundle and the client certificate and key. Errors read
  // "CONFIG:LINE:COL: cluster NAME: FILE: message".
  static core::Result<std::shared_ptr<const UpstreamTlsContext>> build(
      const UpstreamTlsOptions& options);
  ~UpstreamTlsContext();
  UpstreamTlsContext(const UpstreamTlsContext&) = delete;
  UpstreamTlsContext& operator=(const UpstreamTlsContext&) = delete;

  // The client side of a new connection on `fd` (the fd stays the Stream's) to `endpoint`
  // ("10.0.0.7:443", the session cache key) whose configured host is `host`: the name sent
  // as SNI and verified is `server_name` if set, else `host` (an IP address is verified
  // against the certificate's IP addresses and sends no SNI). Offers a cached session.
  // nullptr only when OpenSSL is out of memory.
  //
  // `alpn`: the protocols offered by ALPN, in the wire format ("\x02h2\x08http/1.1"); empty
  // offers none (the server then speaks HTTP/1.1). Per connection, since a cluster's requests
  // may offer h2 while its health checks speak HTTP/1.1.
  std::unique_ptr<core::StreamTransport> newTransport(int fd, const std::string& endpoint,
                                                      std::string_view host,
                                                      std::string_view alpn = {}) const;

  // After a handshake through one of our transports: counts it (resumed or full) and keeps
  // its session for the next connection to the same endpoint.
  void handshakeDone(core::StreamTransport& t) const;
  // After a failed handshake: counts it by reason, and returns the reason (for logs).
  UpstreamTlsFailure handshakeFailed(const core::StreamTransport& t) const;

  // Equal for contexts built from the same settings of the same cluster: a pooled connection
  // made under one may serve the other (a reload that left `tls:` alone).
  uint64_t settingsId() const { return settings_id_; }
  const std::string& cluster() const { return cluster_; }

  struct Impl;

 private:
  UpstreamTlsContext();
  std::unique_ptr<Impl> impl_;
  std::string cluster_;
  uint64_t settings_id_ = 0;
};

// Every cluster's counters so far, by cluster name (for /metrics).
std::map<std::string, const UpstreamTlsCounters*> upstreamTlsCounters();

}  // namespace meridian::certs
