#pragma once
// The read-your-writes pin: after a write the app had replayed to the route's primary region,
// the response sets `meridian-pin=REGION:UNIX_EXPIRY`, and the client's next requests prefer
// that region until the expiry (residency still wins: the pin only reorders allowed regions).
// Pure, so the cookie's grammar is table-tested and fuzzed on its own.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace meridian::proxy::pin {

inline constexpr std::string_view kCookieName = "meridian-pin";

// The region a pin in any of these Cookie header values keeps the client on at `now` (unix
// seconds); empty when there is none, it is malformed, or it has expired. The first live pin
// wins. The view points into the header value.
std::string_view pinnedRegion(std::span<const std::string_view> cookie_headers, int64_t now);

// Replaces `out` with the Set-Cookie value of a pin on `region` for `seconds` from `now`:
// "meridian-pin=REGION:EXPIRY; Max-Age=SECONDS; Path=/; HttpOnly; SameSite=Lax" (+ "; Secure").
void formatSetCookie(std::string_view region, int64_t now, int64_t seconds, bool secure,
                     std::string& out);

}  // namespace meridian::proxy::pin
