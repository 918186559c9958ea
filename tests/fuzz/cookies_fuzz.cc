// libFuzzer target for the two cookies Meridian reads back from clients: the blue-green
// affinity cookie (`meridian-backend-<route>`, read with routing::nextCookie/findCookie) and the
// read-your-writes pin (`meridian-pin=REGION:EXPIRY`). The input is split at the first newline:
// a route name, then a Cookie header value. Besides "never crash", it checks:
//  - nextCookie walks the header in finitely many steps, each pair with a non-empty name and
//    views inside the header, and findCookie returns the first pair nextCookie gives;
//  - the affinity cookie name is a token whatever the route's name, two names differing only
//    in a replaced character stay apart, and the Set-Cookie Meridian writes for a cluster reads
//    back (as a Cookie header) as that cluster;
//  - a pin read from the header is a live one, and the pin Meridian sets reads back as its
//    region until it expires, and not after.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config.h"
#include "proxy/policy/pin_cookie.h"
#include "routing/router.h"
#include "tests/fuzz/fuzz_check.h"

namespace routing = meridian::routing;
namespace pin = meridian::proxy::pin;

namespace {

bool within(std::string_view v, std::string_view in) {
  return v.empty() || (v.data() >= in.data() && v.data() + v.size() <= in.data() + in.size());
}

bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// cookie-octet (RFC 6265 4.1.1): what a cookie value may hold unquoted.
bool isCookieOctet(char c) {
  auto u = static_cast<unsigned char>(c);
  return u == 0x21 || (u >= 0x23 && u <= 0x2B) || (u >= 0x2D && u <= 0x3A) ||
         (u >= 0x3C && u <= 0x5B) || (u >= 0x5D && u <= 0x7E);
}

void checkWalk(std::string_view header) {
  std::string_view rest = header, name, value;
  size_t steps = 0;
  bool first = true;
  std::string_view first_value;
  std::string_view wanted;
  while (routing::nextCookie(rest, name, value)) {
    FUZZ_CHECK(++steps <= header.size());
    FUZZ_CHECK(!name.empty() && within(name, header) && within(value, header));
    if (first) {
      wanted = name;
      first_value = value;
      first = false;
    }
  }
  if (!first) FUZZ_CHECK(routing::findCookie(header, wanted) == first_value);
}

void checkAffinity(std::string_view route_name, std::string_view header) {
  meridian::config::Route route;
  route.name = std::string(route_name);
  std::string cookie = routing::affinityCookieName(route);
  FUZZ_CHECK(!cookie.empty());
  for (char c : cookie) FUZZ_CHECK(isTokenChar(c));
  // A route named like the cookie-safe spelling of this one must get another cookie.
  std::string plain(route_name);
  bool replaced = false;
  for (char& c : plain)
    if (!isTokenChar(c)) {
      c = '_';
      replaced = true;
    }
  if (replaced) {
    meridian::config::Route twin;
    twin.name = plain;
    FUZZ_CHECK(routing::affinityCookieName(twin) != cookie);
  }
  // The cluster: the header's first cookie-octet run, as a cluster name might be.
  size_t n = 0;
  while (n < header.size() && n < 64 && isCookieOctet(header[n])) ++n;
  std::string_view cluster = header.substr(0, n);
  if (cluster.empty()) return;
  std::string set_cookie = routing::affinitySetCookie(cookie, cluster, (header.size() & 1) != 0);
  // The browser sends back the NAME=VALUE part, after whatever cookies it already had.
  std::string sent = "a=1; " + set_cookie.substr(0, set_cookie.find(';')) + "; z=2";
  FUZZ_CHECK(routing::findCookie(sent, cookie) == cluster);
}

void checkPin(std::string_view header) {
  const int64_t now = 1700000000;
  std::string_view headers[] = {header};
  std::string_view region = pin::pinnedRegion(headers, now);
  if (!region.empty()) {
    FUZZ_CHECK(within(region, header));
    FUZZ_CHECK(pin::pinnedRegion(headers, INT64_MAX).empty());
  }
  // Round trip of a pin we set, for a region spelled like the header's first token.
  size_t n = 0;
  while (n < header.size() && n < 32 && isTokenChar(header[n]) && header[n] != ':') ++n;
  if (n == 0) return;
  std::string set_cookie;
  pin::formatSetCookie(header.substr(0, n), now, 30, false, set_cookie);
  std::string sent = set_cookie.substr(0, set_cookie.find(';'));
  std::string_view sent_headers[] = {header, sent};
  std::string_view got = pin::pinnedRegion(sent_headers, now);
  FUZZ_CHECK(got == (region.empty() ? header.substr(0, n) : region));
  std::string_view only_ours[] = {sent};
  FUZZ_CHECK(pin::pinnedRegion(only_ours, now + 30).empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(bytes), size);
  size_t nl = in.find('\n');
  std::string_view route_name = in.substr(0, nl);
  std::string_view header = nl == std::string_view::npos ? in : in.substr(nl + 1);
  checkWalk(header);
  checkAffinity(route_name, header);
  checkPin(header);
  return 0;
}
