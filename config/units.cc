#include "config/units.h"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cstring>
#include <limits>
#include <string>

namespace meridian::config {
namespace {

// Digits only: no sign, no spaces, no hex. from_chars alone would accept a prefix of "12x".
std::optional<uint64_t> parseDigits(std::string_view s, size_t max_digits = 20) {
  if (s.empty() || s.size() > max_digits) return std::nullopt;
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// Splits "123unit" into the number and the unit; both must be present for durations.
std::pair<std::string_view, std::string_view> splitNumber(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  return {s.substr(0, i), s.substr(i)};
}

std::optional<uint64_t> scaled(uint64_t n, uint64_t unit) {
  if (unit != 0 && n > std::numeric_limits<uint64_t>::max() / unit) return std::nullopt;
  return n * unit;
}

// RFC 1123 host names, plus '_' which container and service-discovery names use in practice.
bool isHostName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t label = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '.') {
      if (label == 0 || label > 63 || s[i - 1] == '-') return false;
      if (s[i - label] == '-') return false;
      label = 0;
      continue;
    }
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return false;
    ++label;
  }
  return true;
}

bool looksNumeric(std::string_view s) {
  return s.find_first_not_of("0123456789.") == std::string_view::npos;
}

// Parses an IPv4 or IPv6 literal into the 16-byte form Cidr uses; returns false otherwise.
bool parseAddress(const std::string& s, uint8_t out[16], bool* is_v4) {
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    std::memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    std::memcpy(out + 12, &v4, 4);
    *is_v4 = true;
    return true;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(out, &v6, 16);
    *is_v4 = false;
    return true;
  }
  return false;
}

// A NUL would end the C string inet_pton reads: "10.0.0.0\0/8" would be taken as 10.0.0.0.
bool hasNul(std::string_view s) {
  return s.find('\0') != std::string_view::npos;
}

}  // namespace

std::optional<Duration> parseDuration(std::string_view s) {
  auto [digits, unit] = splitNumber(s);
  auto n = parseDigits(digits);
  if (!n) return std::nullopt;
  uint64_t ms_per_unit = 0;
  if (unit == "ms")
    ms_per_unit = 1;
  else if (unit == "s")
    ms_per_unit = 1000;
  else if (unit == "m")
    ms_per_unit = 60 * 1000;
  else if (unit == "h")
    ms_per_unit = 60 * 60 * 1000;
  else if (unit == "d")  // certificate lifetimes (acme.renew_before: 30d)
    ms_per_unit = 24 * 60 * 60 * 1000;
  else
    return std::nullopt;
  auto ms = scaled(*n, ms_per_unit);
  if (!ms || *ms > static_cast<uint64_t>(std::numeric_limits<Duration::rep>::max())) {
    return std::nullopt;
  }
  return Duration(static_cast<Duration::rep>(*ms));
}

// Only binary units: "MB" means 10^6 to some and 2^20 to others (nginx, HAProxy), so it is
// rejected rather than guessed; the loader's message names the accepted spellings.
std::optional<uint64_t> parseSize(std::string_view s) {
  auto [digits, unit] = splitNumber(s);
  auto n = parseDigits(digits);
  if (!n) return std::nullopt;
  if (unit.empty()) return n;
  if (unit == "KiB") return scaled(*n, uint64_t{1} << 10);
  if (unit == "MiB") return scaled(*n, uint64_t{1} << 20);
  if (unit == "GiB") return scaled(*n, uint64_t{1} << 30);
  return std::nullopt;
}

std::optional<HostPort> parseHostPort(std::string_view s) {
  if (hasNul(s)) return std::nullopt;
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = s.substr(0, colon);
  auto port = parseDigits(s.substr(colon + 1), 5);
  if (!port || *port > 65535) return std::nullopt;
  HostPort hp;
  hp.port = static_cast<uint16_t>(*port);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    hp.host = std::string(host.substr(1, host.size() - 2));
    in6_addr v6{};
    if (inet_pton(AF_INET6, hp.host.c_str(), &v6) != 1) return std::nullopt;
    return hp;
  }
  hp.host = std::string(host);
  // "1.2.3" or "300.1.1.1" are typos of addresses, not host names.
  if (looksNumeric(hp.host)) {
    in_addr v4{};
    if (inet_pton(AF_INET, hp.host.c_str(), &v4) != 1) return std::nullopt;
    return hp;
  }
  if (!isHostName(hp.host)) return std::nullopt;
  return hp;
}

std::optional<Cidr> parseCidr(std::string_view s) {
  if (hasNul(s)) return std::nullopt;
  size_t slash = s.find('/');
  std::string addr(s.substr(0, slash));
  Cidr c;
  bool is_v4 = false;
  if (!parseAddress(addr, c.addr, &is_v4)) return std::nullopt;
  int max_len = is_v4 ? 32 : 128;
  int len = max_len;
  if (slash != std::string_view::npos) {
    auto n = parseDigits(s.substr(slash + 1), 3);
    if (!n || *n > static_cast<uint64_t>(max_len)) return std::nullopt;
    len = static_cast<int>(*n);
  }
  c.prefix_len = is_v4 ? 96 + len : len;
  // Host bits are cleared so that contains() can compare whole bytes.
  for (int bit = c.prefix_len; bit < 128; ++bit) {
    c.addr[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  }
  c.text = std::string(s);
  return c;
}

std::optional<int> parsePercent(std::string_view s) {
  if (s.empty() || s.back() != '%') return std::nullopt;
  auto n = parseDigits(s.substr(0, s.size() - 1), 3);
  if (!n || *n > 100) return std::nullopt;
  return static_cast<int>(*n);
}

}  // namespace meridian::config
