#include "certs/tls_info.h"

#include <openssl/crypto.h>

namespace meridian::certs {

std::string tlsLibraryVersion() {
  return OpenSSL_version(OPENSSL_VERSION);
}

}  // namespace meridian::certs
