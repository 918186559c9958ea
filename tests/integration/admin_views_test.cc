// What the admin views and `meridian route explain` tell an on-call engineer, end to end: an
// explain request for an address that is not one is refused (400, exit 1), not answered.
#include <nlohmann/json.hpp>

#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

using Json = nlohmann::json;

class AdminViewsTest : public ProxyTest {
 protected:
  std::string admin(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(proxy_.adminPort()) + path;
  }

  // "CODE\nBODY" of a GET on the admin listener.
  std::pair<int, std::string> adminGet(const std::string& path) {
    auto r = curl({"-w", "\n%{http_code}", admin(path)});
    size_t nl = r.out.rfind('\n');
    if (nl == std::string::npos) return {0, r.out};
    return {std::atoi(r.out.c_str() + nl + 1), r.out.substr(0, nl)};
  }
};

TEST_F(AdminViewsTest, ExplainRefusesAClientIpThatIsNotAnAddress) {
  ASSERT_TRUE(startProxy());
  auto [status, body] = adminGet("/explain?client_ip=bad&host=x");
  EXPECT_EQ(status, 400) << body;
  EXPECT_NE(body.find("not an IP address"), std::string::npos) << body;
  auto good = adminGet("/explain?client_ip=203.0.113.9");
  EXPECT_EQ(good.first, 200) << good.second;
  EXPECT_EQ(Json::parse(good.second)["chosen"], "ams");

  auto r = fakes::runCommand({fakes::meridianBinary(), "route", "explain", "-c",
                              proxy_.configPath(), "--client-ip", "notanip"},
                             milliseconds(10000));
  EXPECT_EQ(r.exitCode, 1) << r.describe();
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("not an IP address"), std::string::npos) << r.err;
  r = fakes::runCommand({fakes::meridianBinary(), "route", "explain", "-c", proxy_.configPath(),
                         "--client-ip", "203.0.113.9"},
                        milliseconds(10000));
  EXPECT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_EQ(Json::parse(r.out)["chosen"], "ams");
}

}  // namespace
}  // namespace meridian::integration
