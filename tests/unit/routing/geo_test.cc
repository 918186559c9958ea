// GeoDb and clientAddress: fixtures built with MaxMind's writer in a temp dir at setup, in both
// layouts (and IPv4-only); overrides; broken files and paths refused; the trusted-proxy walk as a
// table.
#include "routing/geo.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "config/units.h"
#include "tests/fakes/geo_db.h"
#include "tests/fakes/subprocess.h"

namespace meridian::routing {
namespace {

class GeoDbTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fakes::TempDir("geo");
    for (const char* layout : {"city", "flat", "flat4", "flat6"}) {
      ASSERT_TRUE(fakes::makeGeoDb(layout, dir_->file(std::string(layout) + ".mmdb")));
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
    g.databases = {{dir_->file(layout + ".mmdb"), {}}};
    return g;
  }
  static config::Geo withDbs(std::initializer_list<const char*> layouts) {
    config::Geo g;
    for (const char* layout : layouts)
      g.databases.push_back({dir_->file(std::string(layout) + ".mmdb"), {}});
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
      {"203.0.113.5", true, "NL", 52.37},     {"198.51.100.200", true, "US", 38.95},
      {"::ffff:192.0.2.9", true, "SG", 1.35}, {"100.64.3.4", true, "DE", 50.11},
      {"2001:db8:1::42", true, "JP", 35.68},  {"10.1.2.3", false, "", 0},
      {"2001:db8:2::1", false, "", 0},
  };
  // flat4 is IPv4-only (as the real ip-location-db files are): its v6 clients are unknown,
  // its v4-mapped ones are found, and its string coordinates and lower-case countries read.
  for (const char* layout : {"city", "flat", "flat4"}) {
    auto db = open(withDb(layout));
    ASSERT_NE(db, nullptr);
    bool v4_only = std::string(layout) == "flat4";
    for (const auto& c : cases) {
      GeoLocation loc = db->lookup(ip(c.ip));
      bool want = c.known && !(v4_only && !ip(c.ip).v4());
      EXPECT_EQ(loc.known, want) << layout << " " << c.ip;
      if (!want) {
        EXPECT_STREQ(loc.source, "none");
        continue;
      }
      EXPECT_EQ(loc.country, c.country) << layout << " " << c.ip;
      EXPECT_NEAR(loc.lat, c.lat, 0.01) << layout << " " << c.ip;  // flat stores floats
      EXPECT_STREQ(loc.source, "database");
    }
  }
}

TEST_F(GeoDbTest, DescribeNamesTypeAndDetectedPaths) {
  EXPECT_NE(open(withDb("city"))->describe().find("GeoIP2-City, built 20"), std::string::npos);
  EXPECT_NE(open(withDb("city"))
                ->describe()
                .find("paths location.latitude location.longitude country.iso_code"),
            std::string::npos);
  // Typed "city ipv4" but flat: the records, not the type name, decide the layout.
  EXPECT_NE(open(withDb("flat4"))->describe().find("paths latitude longitude country_code"),
            std::string::npos);
  config::Geo only;
  only.overrides.push_back({*config::parseCidr("192.0.2.0/24"), 1, 2, "SG"});
  EXPECT_EQ(open(only)->describe(), "overrides only (1)");
}

TEST_F(GeoDbTest, SocketAddressesOfBothFamiliesAreLookedUp) {
  auto db = open(withDb("city"));
  sockaddr_storage ss{};
  auto& s4 = reinterpret_cast<sockaddr_in&>(ss);
  s4.sin_family = AF_INET;
  inet_pton(AF_INET, "203.0.113.9", &s4.sin_addr);
  IpAddress a = IpAddress::fromSockaddr(ss);
  EXPECT_TRUE(a.v4());
  EXPECT_EQ(db->lookup(a).country, "NL");
  sockaddr_storage ss6{};
  auto& s6 = reinterpret_cast<sockaddr_in6&>(ss6);
  s6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:198.51.100.9", &s6.sin6_addr);  // a v4 client on a dual-stack socket
  EXPECT_EQ(IpAddress::fromSockaddr(ss6).text(), "198.51.100.9");
  EXPECT_EQ(db->lookup(IpAddress::fromSockaddr(ss6)).country, "US");
  inet_pton(AF_INET6, "2001:db8:1::9", &s6.sin6_addr);
  EXPECT_EQ(db->lookup(IpAddress::fromSockaddr(ss6)).country, "JP");
}

TEST_F(GeoDbTest, ConcurrentLookupsAgree) {
  auto db = open(withDb("city"));
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      IpAddress nl = ip("203.0.113.77"), jp = ip("2001:db8:1::77");
      for (int i = 0; i < 2000; ++i) {
        if (db->lookup(nl).country != "NL" || db->lookup(jp).country != "JP") ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(GeoDbTest, ExplicitPathsAndWrongPaths) {
  config::Geo g = withDb("flat");
  g.latitude_path = "latitude";
  g.longitude_path = "longitude";
  g.country_path = "country_code";
  EXPECT_EQ(open(g)->lookup(ip("203.0.113.5")).country, "NL");
  config::Geo c = withDb("city");
  c.latitude_path = "location.latitude";
  c.longitude_path = "location.longitude";
  c.country_path = "country.iso_code";
  EXPECT_EQ(open(c)->lookup(ip("2001:db8:1::5")).country, "JP");
  // Paths that lead nowhere in the database are refused at open, naming file and path.
  struct Wrong {
    const char* layout;
    const char* lat;
    const char* lon;
    const char* country;
    const char* named;
  };
  const Wrong wrong[] = {
      {"flat", "location.latitude", "", "", "\"location.latitude\""},
      {"flat", "", "longitude.x", "", "\"longitude.x\""},
      {"city", "", "", "country_code", "\"country_code\""},
      {"city", "location..latitude", "", "", "\"location..latitude\""},
      {"city", ".", "", "", "\".\""},
  };
  for (const auto& w : wrong) {
    config::Geo bad = withDb(w.layout);
    bad.latitude_path = w.lat;
    bad.longitude_path = w.lon;
    bad.country_path = w.country;
    auto db = GeoDb::open(bad);
    ASSERT_FALSE(db.ok()) << w.named;
    EXPECT_EQ(db.error().kind, core::ErrorKind::ConfigInvalid);
    EXPECT_NE(db.error().detail.find(bad.databases[0].path), std::string::npos) << db.error().detail;
    EXPECT_NE(db.error().detail.find(w.named), std::string::npos) << db.error().detail;
  }
}

// The ip-location-db packages ship one file per family: with both listed, both are found.
TEST_F(GeoDbTest, AListOfOneFamilyEachCoversBothFamilies) {
  auto db = open(withDbs({"flat4", "flat6"}));
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->lookup(ip("203.0.113.5")).country, "NL");
  EXPECT_EQ(db->lookup(ip("::ffff:198.51.100.9")).country, "US");
  GeoLocation v6 = db->lookup(ip("2001:db8:2::5"));
  EXPECT_TRUE(v6.known);
  EXPECT_EQ(v6.country, "US");
  EXPECT_STREQ(v6.source, "database");
  EXPECT_FALSE(db->lookup(ip("2001:db8:3::1")).known);
  EXPECT_NE(db->describe().find("city ipv4, built "), std::string::npos) << db->describe();
  EXPECT_NE(db->describe().find("; city ipv6, built "), std::string::npos) << db->describe();
}

TEST_F(GeoDbTest, TheFirstDatabaseWithARecordWins) {
  // city has 2001:db8:1::/48 in Tokyo, flat6 in Osaka; only flat6 has 2001:db8:2::/48.
  auto city_first = open(withDbs({"city", "flat6"}));
  EXPECT_NEAR(city_first->lookup(ip("2001:db8:1::5")).lat, 35.68, 0.01);
  EXPECT_EQ(city_first->lookup(ip("2001:db8:2::5")).country, "US");
  auto flat6_first = open(withDbs({"flat6", "city"}));
  EXPECT_NEAR(flat6_first->lookup(ip("2001:db8:1::5")).lat, 34.69, 0.01);
  EXPECT_EQ(flat6_first->lookup(ip("203.0.113.5")).country, "NL");  // not in flat6: next one
}

TEST_F(GeoDbTest, ABadDatabaseInTheListFailsTheOpenAtItsConfigLine) {
  config::Geo g = withDbs({"city"});
  g.databases.push_back({dir_->file("missing.mmdb"), {4, 7}});
  auto db = GeoDb::open(g, "meridian.yaml");
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.error().detail, "meridian.yaml:4:7: geo database " + dir_->file("missing.mmdb") +
                                   ": cannot read: No such file or directory");
}

// MMDB_open would block on a FIFO until a writer came (on the admin thread, at a reload), and
// map a device; both are refused before libmaxminddb sees them.
TEST_F(GeoDbTest, AFifoOrADeviceIsRefusedWithoutBlocking) {
  fakes::TempDir dir("geo_fifo");
  std::string fifo = dir.file("fifo.mmdb");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  for (auto [path, kind] : {std::pair{fifo, "a FIFO"}, std::pair{std::string("/dev/zero"),
                                                                 "a character device"}}) {
    config::Geo g;
    g.databases = {{path, {}}};
    auto db = GeoDb::open(g);
    ASSERT_FALSE(db.ok()) << path;
    EXPECT_EQ(db.error().detail,
              "geo database " + path + ": not a regular file (" + std::string(kind) + ")");
  }
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
  // Metadata intact, search tree overwritten: MMDB_open succeeds, the probe lookups do not.
  std::string corrupt = bytes;
  size_t marker = corrupt.rfind("\xab\xcd\xefMaxMind.com");
  ASSERT_NE(marker, std::string::npos);
  std::fill(corrupt.begin(), corrupt.begin() + marker / 2, '\xff');
  std::string bad_tree = dir_->write("bad_tree.mmdb", corrupt);
  struct Broken {
    std::string path;
    const char* reason;  // part of libmaxminddb's (or the system's) message
  };
  const Broken broken[] = {
      {dir_->file("missing.mmdb"), "No such file"},
      {truncated, "metadata"},
      {garbage, "metadata"},
      {bad_tree, "search tree is corrupt"},
  };
  for (const auto& b : broken) {
    config::Geo g;
    g.databases = {{b.path, {}}};
    auto db = GeoDb::open(g);
    ASSERT_FALSE(db.ok()) << b.path;
    EXPECT_EQ(db.error().kind, core::ErrorKind::ConfigInvalid);
    EXPECT_EQ(db.error().side, core::Side::Internal);
    EXPECT_NE(db.error().detail.find(b.path), std::string::npos) << db.error().detail;
    EXPECT_NE(db.error().detail.find(b.reason), std::string::npos) << db.error().detail;
  }
}

TEST_F(GeoDbTest, RealGeoLite2WhenProvided) {
  // One file, or several separated by ':' (scripts/fetch-geolite2 fetches an IPv4 and an IPv6
  // one).
  const char* paths = getenv("MERIDIAN_GEOLITE2");
  if (paths == nullptr) GTEST_SKIP() << "set MERIDIAN_GEOLITE2 to a GeoLite2 City .mmdb";
  config::Geo g;
  std::string list = paths;
  for (size_t start = 0; start <= list.size();) {
    size_t end = std::min(list.find(':', start), list.size());
    if (end > start) g.databases.push_back({list.substr(start, end - start), {}});
    start = end + 1;
  }
  auto db = open(g);
  ASSERT_NE(db, nullptr);
  // Long-lived addresses of resolvers and regional internet registries (anycast addresses
  // such as 1.1.1.1 have no record at all). GeoIP2 files hold both families; the
  // ip-location-db packages ship one file per family, so either set may be absent.
  struct Family {
    std::vector<const char*> addresses;
    const char* ripe;  // RIPE NCC, in Amsterdam
  };
  const Family families[] = {
      {{"8.8.8.8", "202.12.28.131", "133.242.0.3"}, "193.0.6.139"},
      {{"2001:4860:4860::8888", "2620:fe::fe", "2001:dc0:2001:11::194"},
       "2001:67c:2e8:22::c100:68b"},
  };
  int covered = 0;
  for (const auto& f : families) {
    if (!db->lookup(ip(f.ripe)).known) continue;
    ++covered;
    EXPECT_EQ(db->lookup(ip(f.ripe)).country, "NL");
    for (const char* addr : f.addresses) {
      GeoLocation loc = db->lookup(ip(addr));
      EXPECT_TRUE(loc.known) << addr;
      EXPECT_STREQ(loc.source, "database");
      EXPECT_EQ(loc.country.size(), 2u) << addr;
      EXPECT_LE(std::abs(loc.lat), 90.0) << addr;
      EXPECT_LE(std::abs(loc.lon), 180.0) << addr;
    }
  }
  // A file per family, both listed: both families are covered.
  EXPECT_GE(covered, static_cast<int>(std::min<size_t>(g.databases.size(), 2))) << db->describe();
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
  EXPECT_FALSE(IpAddress::parse(std::string_view("1.2.3.4\0junk", 12), a));
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
      {"203.0.113.7", {"198.51.100.1"}, "203.0.113.7"},  // untrusted peer: header ignored
      {"10.0.0.1", {"198.51.100.1"}, "198.51.100.1"},
      {"10.0.0.1", {"6.6.6.6, 198.51.100.1"}, "198.51.100.1"},   // right-most untrusted wins
      {"10.0.0.1", {"198.51.100.1, 10.9.9.9"}, "198.51.100.1"},  // chain of trusted proxies
      {"10.0.0.1", {"6.6.6.6", "198.51.100.1, 10.2.2.2"}, "198.51.100.1"},  // several fields
      {"10.0.0.1", {"198.51.100.1:5678"}, "198.51.100.1"},
      {"10.0.0.1", {"[2001:db8::7]:443"}, "2001:db8::7"},
      {"10.0.0.1", {" 2001:db8::7 "}, "2001:db8::7"},
      {"10.0.0.1", {"unknown"}, "10.0.0.1"},                     // garbage: nothing beyond the peer
      {"10.0.0.1", {"6.6.6.6, garbage, 10.3.3.3"}, "10.3.3.3"},  // stop at garbage
      {"10.0.0.1", {}, "10.0.0.1"},
      {"2001:db8:ffff::1", {"192.0.2.4"}, "192.0.2.4"},
      {"::ffff:10.0.0.1", {"192.0.2.4"}, "192.0.2.4"},   // v4-mapped peer is the same peer
      {"10.0.0.1", {"10.1.1.1, 10.2.2.2"}, "10.1.1.1"},  // all trusted: the left-most
      {"10.0.0.1", {"6.6.6.6, 10.2.2.2", "10.9.9.9"}, "6.6.6.6"},
      {"10.0.0.1", {"198.51.100.1:http"}, "10.0.0.1"},  // a port that is no number
      {"10.0.0.1", {"[2001:db8::7]x"}, "10.0.0.1"},     // junk after the bracket
      {"10.0.0.1", {"[2001:db8::7"}, "10.0.0.1"},       // unclosed bracket
      {"10.0.0.1", {"198.51.100.1,"}, "10.0.0.1"},      // empty entry is garbage
      {"10.0.0.1", {"\t198.51.100.1\t"}, "198.51.100.1"},
      {"10.0.0.1", {"::ffff:198.51.100.1"}, "198.51.100.1"},
  };
  for (const auto& c : cases) {
    IpAddress peer;
    ASSERT_TRUE(IpAddress::parse(c.peer, peer));
    EXPECT_EQ(clientAddress(peer, c.header, trusted).text(), c.want) << c.peer;
  }
}

TEST(Distance, GreatCircle) {
  EXPECT_NEAR(distanceKm(52.37, 4.90, 38.95, -77.45), 6212, 62);   // Amsterdam-Washington
  EXPECT_NEAR(distanceKm(1.35, 103.82, 35.68, 139.69), 5320, 60);  // Singapore-Tokyo
  EXPECT_NEAR(distanceKm(0, 0, 0, 180), M_PI * 6371, 1);
  EXPECT_EQ(distanceKm(10, 10, 10, 10), 0);
}

}  // namespace
}  // namespace meridian::routing
