#pragma once
// core::StreamTransport over an OpenSSL SSL reading and writing the socket itself
// (SSL_set_fd). Internal to certs/.
#include <memory>
#include <string>

#include "certs/openssl_util.h"
#include "core/stream_transport.h"

namespace meridian::certs {

class TlsContext;

// The server side of a TLS connection on `fd`, started from `ctx`; `owner` is kept alive as
// long as the SSL may call back into it (its SNI and ALPN callbacks point at it).
std::unique_ptr<core::StreamTransport> makeServerTransport(SSL_CTX* ctx, int fd,
                                                           std::shared_ptr<const void> owner);

// The client side, from an SSL the caller has set up (names to verify, SNI, session) and that
// reads and writes `fd`. `session_key` lives as long as the transport and is reachable from
// the SSL through sessionKeyOf (the new-session callback files the session under it).
std::unique_ptr<core::StreamTransport> makeClientTransport(SslPtr ssl,
                                                           std::shared_ptr<const void> owner,
                                                           std::string session_key);
const std::string* sessionKeyOf(SSL* ssl);

// The SSL under a transport made here; null for any other transport.
SSL* sslOf(const core::StreamTransport& t);

}  // namespace meridian::certs
