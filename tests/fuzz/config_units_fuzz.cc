// libFuzzer target for the small value grammars of the config: durations, sizes, percents,
// host:port and CIDRs (config/units.h). Besides "never crash", it checks that whatever is
// accepted means exactly what was written:
//  - a duration or size re-formatted in its smallest unit parses to the same value;
//  - an accepted value holds only the bytes its grammar allows (no NUL or space: a value cut
//    short by a C string would silently mean something else);
//  - a host:port's text() parses back to the same host and port;
//  - a CIDR contains its own address, its canonical form ("ADDR/LEN") parses to the same
//    prefix, and an address just outside its prefix is not contained.
#include <arpa/inet.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "config/units.h"
#include "tests/fuzz/fuzz_check.h"

namespace config = meridian::config;

namespace {

bool onlyOf(std::string_view s, std::string_view allowed) {
  return s.find_first_not_of(allowed) == std::string_view::npos;
}

constexpr std::string_view kHostChars =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:[]";
constexpr std::string_view kCidrChars = "0123456789abcdefABCDEF.:/";

void checkDuration(std::string_view in) {
  auto d = config::parseDuration(in);
  if (!d) return;
  FUZZ_CHECK(d->count() >= 0);
  FUZZ_CHECK(onlyOf(in, "0123456789mshd"));  // ms, s, m, h, d
  auto again = config::parseDuration(std::to_string(d->count()) + "ms");
  FUZZ_CHECK(again && *again == *d);
}

void checkSize(std::string_view in) {
  auto n = config::parseSize(in);
  if (!n) return;
  FUZZ_CHECK(onlyOf(in, "0123456789KMGiB"));
  auto again = config::parseSize(std::to_string(*n));
  FUZZ_CHECK(again && *again == *n);
}

void checkPercent(std::string_view in) {
  auto p = config::parsePercent(in);
  if (!p) return;
  FUZZ_CHECK(*p >= 0 && *p <= 100);
  FUZZ_CHECK(onlyOf(in, "0123456789%"));
}

void checkHostPort(std::string_view in) {
  auto hp = config::parseHostPort(in);
  if (!hp) return;
  FUZZ_CHECK(!hp->host.empty());
  FUZZ_CHECK(onlyOf(in, kHostChars));
  auto again = config::parseHostPort(hp->text());
  FUZZ_CHECK(again && again->host == hp->host && again->port == hp->port);
}

void checkCidr(std::string_view in) {
  auto c = config::parseCidr(in);
  if (!c) return;
  FUZZ_CHECK(c->prefix_len >= 0 && c->prefix_len <= 128);
  FUZZ_CHECK(onlyOf(in, kCidrChars));
  FUZZ_CHECK(c->contains(c->addr));
  // Canonical text of the prefix: IPv4 for a v4-mapped address with a /96 or longer prefix.
  bool v4 = c->prefix_len >= 96 && in.find(':') == std::string_view::npos;
  char text[INET6_ADDRSTRLEN] = {};
  if (v4)
    FUZZ_CHECK(inet_ntop(AF_INET, c->addr + 12, text, sizeof text) != nullptr);
  else
    FUZZ_CHECK(inet_ntop(AF_INET6, c->addr, text, sizeof text) != nullptr);
  int len = v4 ? c->prefix_len - 96 : c->prefix_len;
  auto again = config::parseCidr(std::string(text) + "/" + std::to_string(len));
  FUZZ_CHECK(again && again->prefix_len == c->prefix_len);
  FUZZ_CHECK(std::memcmp(again->addr, c->addr, 16) == 0);
  if (c->prefix_len == 0) return;
  // Flip the last bit of the prefix: that address is outside.
  uint8_t outside[16];
  std::memcpy(outside, c->addr, 16);
  int bit = c->prefix_len - 1;
  outside[bit / 8] ^= static_cast<uint8_t>(0x80u >> (bit % 8));
  FUZZ_CHECK(!c->contains(outside));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(bytes), size);
  checkDuration(in);
  checkSize(in);
  checkPercent(in);
  checkHostPort(in);
  checkCidr(in);
  return 0;
}
