#pragma once
// core::StreamTransport over an OpenSSL SSL reading and writing the socket itself
// (SSL_set_fd). Internal to certs/.
#include <memory>

#include "certs/openssl_util.h"
#include "core/stream_transport.h"

namespace meridian::certs {

class TlsContext;

// The server side of a TLS connection on `fd`, started from `ctx`; `owner` is kept alive as
// long as the SSL may call back into it (its SNI and ALPN callbacks point at it).
std::unique_ptr<core::StreamTransport> makeServerTransport(SSL_CTX* ctx, int fd,
                                                           std::shared_ptr<const TlsContext> owner);

}  // namespace meridian::certs
