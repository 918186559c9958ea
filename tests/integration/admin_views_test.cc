// What the admin views and `meridian route explain` tell an on-call engineer, end to end:
// /regions shows the latest check of each endpoint (not the state assumed at start), and an
// explain request for an address that is not one is refused (400, exit 1), not answered.
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

using Clock = std::chrono::steady_clock;
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

  // The one endpoint of cluster `web` in region ams, as /regions shows it.
  Json endpoint() {
    Json j = Json::parse(adminGet("/regions").second, nullptr, false);
    if (!j.is_object()) return Json();
    return j["clusters"]["web"]["ams"]["endpoints"][0];
  }

  // Polls /regions until `want` holds for the endpoint; the last view seen otherwise.
  template <typename Pred>
  ::testing::AssertionResult waitForEndpoint(Pred want, Json& seen) {
    auto deadline = Clock::now() + kWait;
    while (Clock::now() < deadline) {
      seen = endpoint();
      if (seen.is_object() && want(seen)) return ::testing::AssertionSuccess();
      std::this_thread::sleep_for(milliseconds(20));  // poll interval, bounded by the deadline
    }
    return ::testing::AssertionFailure() << "/regions endpoint: " << seen.dump();
  }
};

TEST_F(AdminViewsTest, RegionsShowTheLatestCheckNotTheAssumptionAtStart) {
  // Shared: the handler outlives this function (checks go on until the proxy is stopped).
  auto healthy = std::make_shared<std::atomic<bool>>(true);
  upstream_.setHandler([healthy](const fakes::ReceivedRequest& req) {
    if (req.target == "/healthz") return Action::respond(*healthy ? 200 : 503);
    return Action::respond(200, {}, "ok");
  });
  cluster_options_ =
      "    health_check: { interval: 100ms, unhealthy_interval: 100ms, jitter: 0%,\n"
      "                    healthy_threshold: 2, unhealthy_threshold: 2 }\n";
  ASSERT_TRUE(startProxy());
  Json ep = endpoint();
  ASSERT_TRUE(ep.is_object());
  EXPECT_TRUE(ep.contains("last_check"));
  std::string since = ep["since"];

  // Passing checks change no verdict, yet /regions says they passed, and when.
  ASSERT_TRUE(waitForEndpoint(
      [](const Json& e) { return e["reason"] == "check passed" && !e["last_check"].is_null(); },
      ep));
  EXPECT_EQ(ep["healthy"], true);
  EXPECT_EQ(ep["last_check"]["passed"], true);
  EXPECT_EQ(ep["last_check"]["result"], "check passed");
  EXPECT_GE(ep["last_check"]["at"].get<std::string>(), since);
  EXPECT_EQ(ep["since"], since);  // still healthy since the start

  // Failing checks take it out, and say why.
  *healthy = false;
  ASSERT_TRUE(waitForEndpoint([](const Json& e) { return e["healthy"] == false; }, ep));
  EXPECT_EQ(ep["reason"], "check failed: status 503");
  EXPECT_EQ(ep["last_check"]["passed"], false);
  EXPECT_EQ(ep["last_check"]["result"], "check failed: status 503");

  *healthy = true;
  ASSERT_TRUE(waitForEndpoint([](const Json& e) { return e["healthy"] == true; }, ep));
  EXPECT_EQ(ep["reason"], "check passed");
  EXPECT_EQ(ep["last_check"]["result"], "check passed");
}

// Explain routes by the path a request would be routed by: normalised first, so a prefix that
// a real request cannot escape does not look escapable (or escaped) in explain either.
TEST_F(AdminViewsTest, ExplainNormalisesThePathAsARequestIs) {
  extra_routes_ = "  - name: public\n    match: { path_prefix: /public/ }\n"
                  "    backends: [ { cluster: web } ]\n";
  ASSERT_TRUE(startProxy());
  auto routeOf = [this](const std::string& path) {
    auto [status, body] = adminGet("/explain?client_ip=203.0.113.9&path=" + path);
    EXPECT_EQ(status, 200) << body;
    Json j = Json::parse(body, nullptr, false);
    return j.is_object() && j["route"].is_string() ? j["route"].get<std::string>() : "";
  };
  EXPECT_EQ(routeOf("/public/a"), "public");
  EXPECT_EQ(routeOf("/public/../admin"), "app");
  EXPECT_EQ(routeOf("/public/%252e%252e/admin"), "app");  // %2e%2e, sent as the query's %25
  EXPECT_EQ(routeOf("/x/../public/a"), "public");
  auto [status, body] = adminGet("/explain?client_ip=203.0.113.9&path=/public/..%252fadmin");
  EXPECT_EQ(status, 400) << body;
  EXPECT_NE(body.find("escaped slash"), std::string::npos) << body;

  // `meridian route explain` the same.
  auto cli = [this](const std::string& path) {
    return fakes::runCommand({fakes::meridianBinary(), "route", "explain", "-c",
                              proxy_.configPath(), "--client-ip", "203.0.113.9", "--path", path},
                             milliseconds(10000));
  };
  auto r = cli("/public/../admin");
  EXPECT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_EQ(Json::parse(r.out, nullptr, false)["route"], "app") << r.out;
  r = cli("/public/..%2fadmin");
  EXPECT_EQ(r.exitCode, 1) << r.describe();
  EXPECT_NE(r.err.find("escaped slash"), std::string::npos) << r.err;
}

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
