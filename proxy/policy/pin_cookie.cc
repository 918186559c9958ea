#include "proxy/policy/pin_cookie.h"

#include <charconv>

#include "routing/router.h"

namespace meridian::proxy::pin {

std::string_view pinnedRegion(std::span<const std::string_view> cookie_headers, int64_t now) {
  for (std::string_view header : cookie_headers) {
    std::string_view value = routing::findCookie(header, kCookieName);
    size_t colon = value.rfind(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    int64_t until = 0;
    std::string_view digits = value.substr(colon + 1);
    auto r = std::from_chars(digits.data(), digits.data() + digits.size(), until);
    if (r.ec != std::errc() || r.ptr != digits.data() + digits.size()) continue;
    if (until > now) return value.substr(0, colon);
  }
  return {};
}

void formatSetCookie(std::string_view region, int64_t now, int64_t seconds, bool secure,
                     std::string& out) {
  out.assign(kCookieName);
  out += '=';
  out += region;
  out += ':';
  out += std::to_string(now + seconds);
  out += "; Max-Age=";
  out += std::to_string(seconds);
  out += "; Path=/; HttpOnly; SameSite=Lax";
  if (secure) out += "; Secure";
}

}  // namespace meridian::proxy::pin
