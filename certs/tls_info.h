#pragma once
// What the TLS library is, for `meridian version` (TLS termination is in tls_context.h).
#include <string>

namespace meridian::certs {

std::string tlsLibraryVersion();  // e.g. "OpenSSL 3.0.17 1 Jul 2025"

}  // namespace meridian::certs
