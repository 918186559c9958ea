// storage: fleet's pure pieces: where the keys are, the values' encodings, and the challenges
// range read back.
#include <gtest/gtest.h>

#include "acme/fleet_storage.h"
#include "fleet/fleet_agent.h"

namespace meridian::acme {
namespace {

TEST(FleetAcmeKeys, OneAccountPerDirectoryOneCertificatePerSetOfDomains) {
  auto a = FleetAcmeKeys::of("/m/", "https://ca.example/dir", {"www.app.test", "app.test"});
  auto b = FleetAcmeKeys::of("/m/", "https://ca.example/dir", {"app.test", "www.app.test"});
  auto other = FleetAcmeKeys::of("/m/", "https://other.example/dir", {"app.test"});
  // The base is the fleet's prefix, acme/ and 16 hex digits of the directory's SHA-256.
  ASSERT_EQ(a.base.size(), std::string("/m/acme/").size() + 17);
  EXPECT_TRUE(a.base.starts_with("/m/acme/"));
  EXPECT_EQ(a.base.find_first_not_of("0123456789abcdef", 8), a.base.size() - 1);
  EXPECT_EQ(a.base, b.base);
  EXPECT_NE(a.base, other.base);
  EXPECT_EQ(a.names, "app.test,www.app.test");  // sorted: the order in the config is no matter
  EXPECT_EQ(a.certificate(), b.certificate());
  EXPECT_EQ(a.certificate(), a.base + "cert/app.test,www.app.test");
  EXPECT_EQ(a.lock(), a.base + "lock/app.test,www.app.test");
  EXPECT_EQ(a.account(), a.base + "account.key");
  EXPECT_NE(a.account(), other.account());
  // Challenges and presence are shared by every directory: any instance answers any of them.
  EXPECT_EQ(a.httpChallenge("tok"), "/m/acme/challenges/http-01/tok");
  EXPECT_EQ(other.alpnChallenge("app.test"), "/m/acme/challenges/tls-alpn-01/app.test");
  EXPECT_EQ(a.members(), "/m/acme/members/");
  // Outside the range the fleet agent reads and watches (config .. health0): a presence or
  // challenge write never makes the instances re-apply their fleet config.
  fleet::FleetKeys fleet_keys{"/m/"};
  for (const auto& key : {a.account(), a.certificate(), a.lock(), a.lastOrder(),
                          a.httpChallenge("t"), a.members() + "i/public"}) {
    EXPECT_FALSE(key >= fleet_keys.config() && key < fleet_keys.watchedEnd()) << key;
  }
}

TEST(FleetAcmeValues, CertificateAndLastOrderRoundTrip) {
  auto pair = decodeCertificate(encodeCertificate("CHAIN\n", "KEY\n"));
  ASSERT_TRUE(pair);
  EXPECT_EQ(pair->first, "CHAIN\n");
  EXPECT_EQ(pair->second, "KEY\n");
  EXPECT_FALSE(decodeCertificate("{\"chain\": \"x\"}"));
  EXPECT_FALSE(decodeCertificate("not json"));

  LastOrder last{"failure", "app.test: tls-alpn-01 failed", 1700000000, 1700000005, 3};
  LastOrder back = decodeLastOrder(encodeLastOrder(last));
  EXPECT_EQ(back.result, last.result);
  EXPECT_EQ(back.detail, last.detail);
  EXPECT_EQ(back.at, last.at);
  EXPECT_EQ(back.next_attempt, last.next_attempt);
  EXPECT_EQ(back.attempt, 3);
  EXPECT_EQ(decodeLastOrder("[]").result, "");
}

TEST(FleetAcmeValues, ChallengesReadBackSkipWhatIsNotOne) {
  auto keys = FleetAcmeKeys::of("/m/", "https://ca.example/dir", {"app.test"});
  std::vector<fleet::KeyValue> kvs = {
      {keys.httpChallenge("tok1"), "tok1.thumb", 5, 5, 7},
      {keys.alpnChallenge("app.test"), "tok2.thumb", 6, 6, 7},
      {keys.challenges() + "dns-01/app.test", "x", 8, 8, 0},  // not a kind answered here
      {keys.challenges() + "http-01/", "x", 9, 9, 0},         // no token
      {"/m/other", "x", 10, 10, 0},
  };
  EXPECT_EQ(parseChallenges(keys, kvs),
            (std::vector<FleetChallenge>{{"http-01", "tok1", "tok1.thumb"},
                                         {"tls-alpn-01", "app.test", "tok2.thumb"}}));
}

}  // namespace
}  // namespace meridian::acme
