#pragma once
// Comparing secrets (the admin bearer token) without leaking, through timing, how much of a
// guess was right: OpenSSL's CRYPTO_memcmp, behind a header that does not include OpenSSL.
#include <string_view>

namespace meridian::certs {

// True when `a` and `b` are equal. The time taken depends on neither their contents nor
// their lengths: both are hashed (SHA-256) and the digests compared in constant time.
bool secretEquals(std::string_view a, std::string_view b);

}  // namespace meridian::certs
