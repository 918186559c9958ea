#include "certs/openssl_util.h"

namespace meridian::certs {

std::string takeOpenSslError(const char* fallback) {
  unsigned long last = 0;
  // The last error is the most specific one (the outer layers are pushed first).
  while (unsigned long e = ERR_get_error()) last = e;
  if (last == 0) return fallback;
  const char* reason = ERR_reason_error_string(last);
  if (reason != nullptr) return reason;
  char buf[256];
  ERR_error_string_n(last, buf, sizeof buf);
  return buf;
}

}  // namespace meridian::certs
