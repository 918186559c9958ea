// GeoDb and clientAddress: fixtures built with MaxMind's writer in a temp dir at setup, in both
// layouts; overrides; broken files refused; the trusted-proxy walk as a table.
#include "routing/geo.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include "config/units.h"
#include "tests/fakes/subprocess.h"

namespace meridian::routing {
namespace {

using std::chrono::milliseconds;

class GeoDbTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fakes::TempDir("geo");
    for (const char* layout : {"city", "flat"}) {
      auto r = fakes::runCommand({"perl", MERIDIAN_SOURCE_DIR "/tests/fixtures/make_geo_db.pl",
                                  layout, dir_->file(std::string(layout) + ".mmdb")},
                                 milliseconds(30000));
      ASSERT_EQ(r.exitCode, 0) << r.describe();
    }
  }
  static void TearDownTestSuite() { delete dir_; }

  static std::shared_ptr<const GeoDb> open(config::Geo cfg) {
    auto db = GeoDb::open(cfg);
    EXPECT_TRUE(db.ok()) << (db.ok() ? "" : db.error().detail);
    return db.ok() ? db.value() : nullptr;
  }
  static config::Geo withDb(const std::string& layout) {
    config::Geo g;
    g.database = dir_->file(layout + ".mmdb");
    return g;
  }
  static IpAddress ip(const char* text) {
    IpAddress a;
    EXPECT_TRUE(IpAddress::parse(text, a)) << text;
    return a;
  }

  static fakes::TempDir* dir_;
};
fakes::TempDir* GeoDbTest::dir_ = nullptr;

struct LookupCase {
  const char* ip;
  bool known;
  const char* country;
  double lat;
};

TEST_F(GeoDbTest, BothLayoutsDetectedAndLookedUp) {
  const LookupCase cases[] = {
      {"203.0.113.5", true, "NL", 52.37},      {"198.51.100.200", true, "US", 38.95},
      {"::ffff:192.0.2.9", true, "SG", 1.35},  {"100.64.3.4", true, "DE", 50.11},
      {"2001:db8:1::42", true, "JP", 35.68},   {"10.1.2.3", false, "", 0},
      {"2001:db8:2::1", false, "", 0},
  };
  for (const char* layout : {"city", "flat"}) {
    auto db = open(withDb(layout));
    ASSERT_NE(db, nullptr);
    for (const auto& c : cases) {
      GeoLocation loc = db->lookup(ip(c.ip));
      EXPECT_EQ(loc.known, c.known) << layout << " " << c.ip;
      if (!c.known) continue;
      EXPECT_EQ(loc.country, c.country) << layout << " " << c.ip;
      EXPECT_NEAR(loc.lat, c.lat, 0.01) << layout << " " << c.ip;  // flat stores floats
      EXPECT_STREQ(loc.source, "database");
    }
  }
}

TEST_F(GeoDbTest, ExplicitPathsAndWrongPaths) {
  config::Geo g = withDb("flat");
  g.latitude_path = "latitude";
  g.longitude_path = "longitude";
  g.country_path = "country_code";
  EXPECT_EQ(open(g)->lookup(ip("203.0.113.5")).country, "NL");
  // Paths that lead nowhere in this database give unknown locations, not garbage.
  g.latitude_path = "location.latitude";
  auto db = GeoDb::open(g);
  ASSERT_TRUE(db.ok());
  EXPECT_FALSE(db.value()->lookup(ip("203.0.113.5")).known);
  g.latitude_path = "location..latitude";
  EXPECT_FALSE(GeoDb::open(g).ok());
}

TEST_F(GeoDbTest, OverridesWinAndTheMostSpecificOneFirst) {
  config::Geo g = withDb("city");
  g.overrides.push_back({*config::parseCidr("203.0.113.0/24"), 1.0, 2.0, "XA"});
  g.overrides.push_back({*config::parseCidr("203.0.113.128/25"), 3.0, 4.0, "XB"});
  auto db = open(g);
  GeoLocation a = db->lookup(ip("203.0.113.5"));
  EXPECT_EQ(a.country, "XA");
  EXPECT_STREQ(a.source, "override");
  EXPECT_EQ(db->lookup(ip("203.0.113.200")).country, "XB");
  EXPECT_EQ(db->lookup(ip("198.51.100.1")).country, "US");  // not overridden
  // Without a database the overrides still work.
  config::Geo only;
  only.overrides = g.overrides;
  auto bare = open(only);
  EXPECT_EQ(bare->lookup(ip("203.0.113.200")).country, "XB");
  EXPECT_FALSE(bare->lookup(ip("198.51.100.1")).known);
}

TEST_F(GeoDbTest, MissingTruncatedOrCorruptDatabaseIsRefusedByName) {
  std::string good = dir_->file("city.mmdb");
  std::ifstream in(good, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string truncated = dir_->write("truncated.mmdb", bytes.substr(0, bytes.size() / 2));
  std::string garbage = dir_->write("garbage.mmdb", std::string(4096, '\x5a'));
  for (const std::string& path : {dir_->file("missing.mmdb"), truncated, garbage}) {
    config::Geo g;
    g.database = path;
    auto db = GeoDb::open(g);
    ASSERT_FALSE(db.ok()) << path;
    EXPECT_NE(db.error().detail.find(path), std::string::npos) << db.error().detail;
  }
}

TEST_F(GeoDbTest, RealGeoLite2WhenProvided) {
  const char* path = getenv("MERIDIAN_GEOLITE2");
  if (path == nullptr) GTEST_SKIP() << "set MERIDIAN_GEOLITE2 to a GeoLite2 City .mmdb";
  config::Geo g;
  g.database = path;
  auto db = open(g);
  ASSERT_NE(db, nullptr);
  // Long-lived addresses of a resolver and three regional internet registries (anycast
  // addresses such as 1.1.1.1 have no record at all).
  for (const char* addr : {"8.8.8.8", "193.0.6.139", "202.12.28.131", "133.242.0.3"}) {
    GeoLocation loc = db->lookup(ip(addr));
    EXPECT_TRUE(loc.known) << addr;
    EXPECT_EQ(loc.country.size(), 2u) << addr;
    EXPECT_LE(std::abs(loc.lat), 90.0);
    EXPECT_LE(std::abs(loc.lon), 180.0);
  }
  EXPECT_EQ(db->lookup(ip("193.0.6.139")).country, "NL");  // RIPE NCC, Amsterdam
}

TEST(IpAddress, ParseAndPrint) {
  IpAddress a, b;
  ASSERT_TRUE(IpAddress::parse("192.0.2.1", a));
  ASSERT_TRUE(IpAddress::parse("::ffff:192.0.2.1", b));
  EXPECT_TRUE(a.v4());
  EXPECT_EQ(a.text(), "192.0.2.1");
  EXPECT_EQ(b.text(), "192.0.2.1");  // v4-mapped is the same client
  ASSERT_TRUE(IpAddress::parse("2001:db8::1", a));
  EXPECT_FALSE(a.v4());
  EXPECT_EQ(a.text(), "2001:db8::1");
  for (const char* bad : {"", "1.2.3", "1.2.3.4:80", "[::1]", "unknown", "1.2.3.256"})
    EXPECT_FALSE(IpAddress::parse(bad, a)) << bad;
}

struct ClientCase {
  const char* peer;
  std::vector<std::string_view> header;
  const char* want;
};

TEST(ClientAddress, OnlyTrustedPeersMayNameTheClient) {
  std::vector<config::Cidr> trusted = {*config::parseCidr("10.0.0.0/8"),
                                       *config::parseCidr("2001:db8:ffff::/48")};
  const ClientCase cases[] = {
      {"203.0.113.7", {"198.51.100.1"}, "203.0.113.7"},       // untrusted peer: header ignored
      {"10.0.0.1", {"198.51.100.1"}, "198.51.100.1"},
      {"10.0.0.1", {"6.6.6.6, 198.51.100.1"}, "198.51.100.1"},  // right-most untrusted wins
      {"10.0.0.1", {"198.51.100.1, 10.9.9.9"}, "198.51.100.1"},  // chain of trusted proxies
      {"10.0.0.1", {"6.6.6.6", "198.51.100.1, 10.2.2.2"}, "198.51.100.1"},  // several fields
      {"10.0.0.1", {"198.51.100.1:5678"}, "198.51.100.1"},
      {"10.0.0.1", {"[2001:db8::7]:443"}, "2001:db8::7"},
      {"10.0.0.1", {" 2001:db8::7 "}, "2001:db8::7"},
      {"10.0.0.1", {"unknown"}, "10.0.0.1"},                   // garbage: nothing beyond the peer
      {"10.0.0.1", {"6.6.6.6, garbage, 10.3.3.3"}, "10.3.3.3"},  // stop at garbage
      {"10.0.0.1", {}, "10.0.0.1"},
      {"2001:db8:ffff::1", {"192.0.2.4"}, "192.0.2.4"},
  };
  for (const auto& c : cases) {
    IpAddress peer;
    ASSERT_TRUE(IpAddress::parse(c.peer, peer));
    EXPECT_EQ(clientAddress(peer, c.header, trusted).text(), c.want) << c.peer;
  }
}

TEST(Distance, GreatCircle) {
  EXPECT_NEAR(distanceKm(52.37, 4.90, 38.95, -77.45), 6212, 62);    // Amsterdam-Washington
  EXPECT_NEAR(distanceKm(1.35, 103.82, 35.68, 139.69), 5320, 60);   // Singapore-Tokyo
  EXPECT_NEAR(distanceKm(0, 0, 0, 180), M_PI * 6371, 1);
  EXPECT_EQ(distanceKm(10, 10, 10, 10), 0);
}

}  // namespace
}  // namespace meridian::routing
