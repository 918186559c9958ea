#include "config/units.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace meridian::config {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

struct DurationCase {
  const char* text;
  std::optional<Duration> want;
};

TEST(ParseDuration, Table) {
  const std::vector<DurationCase> cases = {
      {"250ms", milliseconds(250)},
      {"0ms", milliseconds(0)},
      {"2s", seconds(2)},
      {"1m", minutes(1)},
      {"1h", hours(1)},
      {"90s", seconds(90)},
      {"2562047788015h", hours(2562047788015)},  // the largest hour count that fits in ms
      {"", std::nullopt},
      {"5", std::nullopt},    // missing unit
      {"ms", std::nullopt},   // missing number
      {"-1s", std::nullopt},  // negative
      {"+1s", std::nullopt},
      {"1.5s", std::nullopt},  // integers only
      {"1 s", std::nullopt},
      {" 1s", std::nullopt},
      {"1S", std::nullopt},  // units are case-sensitive
      {"30d", milliseconds(30L * 24 * 3600 * 1000)},
      {"1w", std::nullopt},
      {"1us", std::nullopt},
      {"1m30s", std::nullopt},                   // one unit only
      {"2562047788016h", std::nullopt},          // overflows int64 milliseconds
      {"99999999999999999999ms", std::nullopt},  // overflows uint64 before scaling
      {"9223372036854775808ms", std::nullopt},   // INT64_MAX + 1
  };
  for (const auto& c : cases) {
    EXPECT_EQ(parseDuration(c.text), c.want) << "input: \"" << c.text << "\"";
  }
}

struct SizeCase {
  const char* text;
  std::optional<uint64_t> want;
};

TEST(ParseSize, Table) {
  const std::vector<SizeCase> cases = {
      {"512", 512},
      {"0", 0},
      {"16KiB", 16 * 1024},
      {"1MiB", 1024 * 1024},
      {"1GiB", 1024ull * 1024 * 1024},
      {"3GiB", 3ull * 1024 * 1024 * 1024},
      {"18446744073709551615", UINT64_MAX},
      {"", std::nullopt},
      {"KiB", std::nullopt},
      {"-1", std::nullopt},
      {"1.5MiB", std::nullopt},
      {"1MB", std::nullopt},  // decimal units are ambiguous: rejected, see docs/config.md
      {"1KB", std::nullopt},
      {"1kib", std::nullopt},
      {"1B", std::nullopt},
      {"1 MiB", std::nullopt},
      {"18446744073709551616", std::nullopt},  // overflow
      {"17179869184GiB", std::nullopt},        // 2^34 GiB = 2^64: overflow when scaled
  };
  for (const auto& c : cases) {
    EXPECT_EQ(parseSize(c.text), c.want) << "input: \"" << c.text << "\"";
  }
}

struct HostPortCase {
  const char* text;
  bool ok;
  const char* host = "";
  uint16_t port = 0;
};

TEST(ParseHostPort, Table) {
  const std::vector<HostPortCase> cases = {
      {"0.0.0.0:8443", true, "0.0.0.0", 8443},
      {"127.0.0.1:0", true, "127.0.0.1", 0},
      {"127.0.0.1:65535", true, "127.0.0.1", 65535},
      {"[::1]:80", true, "::1", 80},
      {"[2001:db8::1]:443", true, "2001:db8::1", 443},
      {"localhost:9000", true, "localhost", 9000},
      {"app-1.internal.example:80", true, "app-1.internal.example", 80},
      {"web_blue:8080", true, "web_blue", 8080},
      {"127.0.0.1:65536", false},
      {"127.0.0.1:-1", false},
      {"127.0.0.1:", false},
      {"127.0.0.1", false},
      {":8080", false},
      {"::1:80", false},  // IPv6 needs brackets
      {"[::1]", false},
      {"[not-v6]:80", false},
      {"[1.2.3.4]:80", false},
      {"256.1.1.1:80", false},
      {"1.2.3:80", false},  // a numeric typo, not a host name
      {"-bad.example:80", false},
      {"bad-.example:80", false},
      {"a..b:80", false},
      {"host name:80", false},
      {"host:80:90", false},
      {"host:0x50", false},
      {"host:+80", false},
      {"host:000080", false},  // more than five digits
  };
  for (const auto& c : cases) {
    auto got = parseHostPort(c.text);
    ASSERT_EQ(got.has_value(), c.ok) << "input: \"" << c.text << "\"";
    if (!c.ok) continue;
    EXPECT_EQ(got->host, c.host) << c.text;
    EXPECT_EQ(got->port, c.port) << c.text;
  }
}

TEST(HostPortText, BracketsIpv6Only) {
  EXPECT_EQ((HostPort{"127.0.0.1", 80}).text(), "127.0.0.1:80");
  EXPECT_EQ((HostPort{"::1", 80}).text(), "[::1]:80");
  EXPECT_EQ((HostPort{"example.com", 0}).text(), "example.com:0");
  EXPECT_EQ(parseHostPort("[2001:db8::1]:443")->text(), "[2001:db8::1]:443");
}

// A 16-byte address as Cidr::contains takes it: IPv4 as v4-mapped.
std::vector<uint8_t> addr16(const char* text) {
  std::vector<uint8_t> out(16, 0);
  in_addr v4{};
  if (inet_pton(AF_INET, text, &v4) == 1) {
    out[10] = out[11] = 0xff;
    std::memcpy(out.data() + 12, &v4, 4);
    return out;
  }
  in6_addr v6{};
  EXPECT_EQ(inet_pton(AF_INET6, text, &v6), 1) << text;
  std::memcpy(out.data(), &v6, 16);
  return out;
}

struct CidrCase {
  const char* text;
  bool ok;
  int prefix_len = 0;
};

TEST(ParseCidr, Table) {
  const std::vector<CidrCase> cases = {
      {"10.0.0.0/8", true, 96 + 8},
      {"127.0.0.0/8", true, 104},
      {"0.0.0.0/0", true, 96},
      {"1.2.3.4", true, 128},  // a bare IPv4 address is a /32
      {"1.2.3.4/32", true, 128},
      {"::1/128", true, 128},
      {"::1", true, 128},
      {"fd00::/8", true, 8},
      {"::/0", true, 0},
      {"10.0.0.0/33", false},
      {"::/129", false},
      {"10.0.0.0/", false},
      {"10.0.0.0/-1", false},
      {"10.0.0.0/8/8", false},
      {"10.0.0/8", false},
      {"example.com/8", false},
      {"", false},
      {"/8", false},
  };
  for (const auto& c : cases) {
    auto got = parseCidr(c.text);
    ASSERT_EQ(got.has_value(), c.ok) << "input: \"" << c.text << "\"";
    if (!c.ok) continue;
    EXPECT_EQ(got->prefix_len, c.prefix_len) << c.text;
    EXPECT_EQ(got->text, c.text);
  }
}

TEST(ParseCidr, StoresIpv4AsV4Mapped) {
  auto c = parseCidr("10.1.2.3");
  ASSERT_TRUE(c);
  auto want = addr16("10.1.2.3");
  EXPECT_TRUE(std::equal(want.begin(), want.end(), c->addr));
  EXPECT_EQ(c->addr[10], 0xff);
  EXPECT_EQ(c->addr[11], 0xff);
}

struct ContainsCase {
  const char* cidr;
  const char* addr;
  bool want;
};

TEST(CidrContains, Table) {
  const std::vector<ContainsCase> cases = {
      {"10.0.0.0/8", "10.255.1.2", true},
      {"10.0.0.0/8", "11.0.0.1", false},
      {"10.0.0.0/8", "::ffff:10.1.1.1", true},  // a v4-mapped client is the same client
      {"10.20.0.0/16", "10.20.9.9", true},
      {"10.20.0.0/16", "10.21.0.1", false},
      {"10.20.0.0/12", "10.31.0.1", true},  // a prefix that ends inside a byte
      {"10.20.0.0/12", "10.32.0.1", false},
      {"10.1.2.3/8", "10.9.9.9", true},  // host bits are ignored
      {"1.2.3.4", "1.2.3.4", true},
      {"1.2.3.4", "1.2.3.5", false},
      {"0.0.0.0/0", "8.8.8.8", true},
      {"0.0.0.0/0", "2001:db8::1", false},  // v4 "everything" is not v6
      {"::/0", "8.8.8.8", true},
      {"fd00::/8", "fd12::1", true},
      {"fd00::/8", "fe80::1", false},
      {"::1", "::1", true},
      {"::1", "::2", false},
      {"2001:db8::/33", "2001:db8:7fff::1", true},
      {"2001:db8::/33", "2001:db8:8000::1", false},
  };
  for (const auto& c : cases) {
    auto cidr = parseCidr(c.cidr);
    ASSERT_TRUE(cidr) << c.cidr;
    auto a = addr16(c.addr);
    EXPECT_EQ(cidr->contains(a.data()), c.want) << c.cidr << " contains " << c.addr;
  }
}

struct PercentCase {
  const char* text;
  std::optional<int> want;
};

TEST(ParsePercent, Table) {
  const std::vector<PercentCase> cases = {
      {"10%", 10},
      {"0%", 0},
      {"100%", 100},
      {"101%", std::nullopt},
      {"10", std::nullopt},
      {"%", std::nullopt},
      {"-5%", std::nullopt},
      {"2.5%", std::nullopt},
      {"10 %", std::nullopt},
      {"", std::nullopt},
      {"0100%", std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(parsePercent(c.text), c.want) << "input: \"" << c.text << "\"";
  }
}

TEST(ConfigLookup, FindsByName) {
  Config c;
  Region ams, iad;
  ams.name = "ams";
  iad.name = "iad";
  iad.lat = 38.95;
  c.regions = {ams, iad};
  Cluster blue;
  blue.name = "web-blue";
  c.clusters.push_back(blue);
  ASSERT_NE(c.findRegion("iad"), nullptr);
  EXPECT_DOUBLE_EQ(c.findRegion("iad")->lat, 38.95);
  EXPECT_EQ(c.findRegion("sin"), nullptr);
  ASSERT_NE(c.findCluster("web-blue"), nullptr);
  EXPECT_EQ(c.findCluster("web-blue")->name, "web-blue");
  EXPECT_EQ(c.findCluster("web-green"), nullptr);
}

// A NUL byte ends a C string: inet_pton would read only the part before it.
TEST(ParseUnits, NulInsideAValueIsRefused) {
  using namespace std::string_view_literals;
  EXPECT_FALSE(parseCidr("10.0.0.0\0/8"sv));
  EXPECT_FALSE(parseCidr("10.0.0.0/8\0"sv));
  EXPECT_FALSE(parseCidr("::1\0x"sv));
  EXPECT_FALSE(parseHostPort("[::1\0]:80"sv));
  EXPECT_FALSE(parseHostPort("[::1\0zz]:80"sv));
  EXPECT_FALSE(parseHostPort("1.2.3.4\0:80"sv));
  // The fuzzer's find (config_units_fuzz): a v6 literal with a NUL run and a v4 tail.
  EXPECT_FALSE(parseCidr("::f:ff\0\0\0\0\0\0\0\x13" "0.0/1"sv));
}

}  // namespace
}  // namespace meridian::config
