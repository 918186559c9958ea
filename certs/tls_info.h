#pragma once
// What the TLS library is, for `meridian version`. TLS termination itself arrives with its
// own issue and will live beside this file.
#include <string>

namespace meridian::certs {

std::string tlsLibraryVersion();  // e.g. "OpenSSL 3.0.17 1 Jul 2025"

}  // namespace meridian::certs
