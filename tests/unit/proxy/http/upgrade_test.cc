// Upgrade rules: h2c is never offered upstream, and a 101 must name what the client asked for.
#include "proxy/http/upgrade.h"

#include <gtest/gtest.h>

namespace meridian::proxy::http1 {
namespace {

TEST(Upgrade, H2cAloneIsNoUpgrade) {
  EXPECT_FALSE(offersUpgradeOtherThanH2c("h2c"));
  EXPECT_FALSE(offersUpgradeOtherThanH2c(" H2C ,\th2c"));
  EXPECT_FALSE(offersUpgradeOtherThanH2c(""));
  EXPECT_FALSE(offersUpgradeOtherThanH2c(" , "));
  EXPECT_TRUE(offersUpgradeOtherThanH2c("websocket"));
  EXPECT_TRUE(offersUpgradeOtherThanH2c("h2c, websocket"));
  EXPECT_TRUE(offersUpgradeOtherThanH2c("h2"));  // not ours to judge: the 101 is checked
}

TEST(Upgrade, H2cIsLeftOutOfTheForwardedValue) {
  EXPECT_EQ(upgradeWithoutH2c("websocket"), "websocket");
  EXPECT_EQ(upgradeWithoutH2c("h2c, websocket"), "websocket");
  EXPECT_EQ(upgradeWithoutH2c("foo/1 ,H2C,\tbar"), "foo/1, bar");
  EXPECT_EQ(upgradeWithoutH2c("h2c"), "");
}

TEST(Upgrade, A101MustNameAProtocolTheClientOffered) {
  struct Row {
    const char* requested;
    const char* answered;
    bool ok;
  };
  for (const Row& r : {
           Row{"websocket", "websocket", true},
           Row{"websocket", "WebSocket", true},
           Row{"foo, websocket", " websocket ", true},
           Row{"foo, bar", "bar, foo", true},
           Row{"websocket", "h2c", false},         // another protocol than asked
           Row{"websocket", "websocket, h2c", false},
           Row{"h2c, websocket", "h2c", false},    // h2c never counts, even when offered
           Row{"websocket", "", false},            // a 101 must say what it switched to
           Row{"", "websocket", false},            // nothing was asked
           Row{"websocket", "websocket2", false},
       })
    EXPECT_EQ(upgradeAnswerMatches(r.requested, r.answered), r.ok)
        << r.requested << " / " << r.answered;
}

}  // namespace
}  // namespace meridian::proxy::http1
