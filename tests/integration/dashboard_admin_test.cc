// The dashboard's side of the admin API, end to end with curl against the real binary: the
// page is served from the binary with its security headers and within its size budget,
// /dashboard/state shows regions, routes and the served split, and runtime drains need the
// token, change routing, show as overrides, survive a reload and never touch the YAML.
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

using fakes::CommandResult;
using Json = nlohmann::json;

constexpr char kToken[] = "dash-s3cret";

class DashboardAdminTest : public ProxyTest {
 protected:
  ::testing::AssertionResult start() {
    std::string token_file = proxy_.writeFile("admin.token", std::string(kToken) + "\n");
    std::string y = configYaml();
    const std::string fixture_admin = "admin: { address: 127.0.0.1:0 }\n";
    y.replace(y.find(fixture_admin), fixture_admin.size(),
              "admin: { address: 127.0.0.1:0, token_file: " + token_file + " }\n");
    return proxy_.start(y);
  }
  // curl -i against the admin address: headers and body.
  std::string get(const std::string& path) {
    CommandResult r = curl({"-i", proxy_.adminUrl(path)});
    EXPECT_EQ(r.exitCode, 0) << r.describe();
    return r.out;
  }
  Json state() { return Json::parse(curl({proxy_.adminUrl("/dashboard/state")}).out); }
  // A POST with the admin header and, when given, the token: "STATUS" then the body.
  std::string post(const std::string& path, const std::string& token) {
    std::vector<std::string> args = {"-X", "POST", "-H", "Meridian-Admin: 1", "-w", "\n%{http_code}"};
    if (!token.empty()) args.insert(args.end(), {"-H", "Authorization: Bearer " + token});
    args.push_back(proxy_.adminUrl(path));
    return curl(args).out;
  }
  static std::string statusOf(const std::string& out) { return out.substr(out.size() - 3); }
};

TEST_F(DashboardAdminTest, PageIsServedFromTheBinaryWithItsHeadersAndWithinBudget) {
  ASSERT_TRUE(start());
  std::string page = get("/");
  EXPECT_NE(page.find("HTTP/1.1 200"), std::string::npos);
  EXPECT_NE(page.find("content-type: text/html"), std::string::npos);
  EXPECT_NE(page.find("content-security-policy: default-src 'self'"), std::string::npos);
  EXPECT_NE(page.find("x-frame-options: DENY"), std::string::npos);
  EXPECT_NE(page.find("<title>Meridian dashboard</title>"), std::string::npos);
  size_t total = 0;
  for (const char* path : {"/", "/ui/dashboard.css", "/ui/dashboard.js", "/ui/world.js"}) {
    CommandResult r = curl({"-w", "%{http_code}", proxy_.adminUrl(path)});
    ASSERT_GE(r.out.size(), 3u);
    EXPECT_EQ(r.out.substr(r.out.size() - 3), "200") << path;
    total += r.out.size() - 3;
  }
  EXPECT_LT(total, 150u * 1024);
  // Nothing the page loads comes from elsewhere.
  EXPECT_EQ(page.find("http://"), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);
  EXPECT_NE(get("/ui/nothing.js").find("404"), std::string::npos);
}

TEST_F(DashboardAdminTest, StateShowsRegionsRoutesAndTheServedSplit) {
  ASSERT_TRUE(start());
  for (int i = 0; i < 20; ++i) ASSERT_EQ(roundTrip("GET /x HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
  // The counters are sampled once a second: wait (bounded) for a sample after the requests.
  Json s;
  auto deadline = std::chrono::steady_clock::now() + kWait;
  do {
    s = state();
    if (s["routes"][0]["served_total"].get<int>() >= 20) break;
    std::this_thread::sleep_for(milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(s["regions"].size(), 1u);
  EXPECT_EQ(s["regions"][0]["name"], "ams");
  EXPECT_EQ(s["regions"][0]["state"], "up");
  EXPECT_EQ(s["regions"][0]["clusters"][0]["endpoints"][0]["address"], upstream_.address());
  EXPECT_EQ(s["regions"][0]["clusters"][0]["endpoints"][0]["attempts"].get<int>(), 20);
  EXPECT_EQ(s["routes"][0]["name"], "app");
  EXPECT_EQ(s["routes"][0]["backends"][0]["served"].get<int>(), 20);
  EXPECT_EQ(s["routes"][0]["backends"][0]["configured_pct"].get<double>(), 100);
  // The retry budget as the proxy applies it: 20% of the requests started in the last 10 s.
  const Json& budget = s["routes"][0]["budget"];
  EXPECT_EQ(budget["window_seconds"], 10);
  EXPECT_EQ(budget["requests_in_window"].get<int>(), 20) << budget.dump();
  EXPECT_EQ(budget["replays_allowed"].get<int>(), 4) << budget.dump();
  EXPECT_EQ(budget["replays_in_window"].get<int>(), 0);
  EXPECT_EQ(budget["in_use_pct"].get<double>(), 0);
  EXPECT_EQ(s["config"]["generation"], 1);
  EXPECT_EQ(s["config"]["loaded"]["by"], "start");
}

TEST_F(DashboardAdminTest, RuntimeDrainNeedsTheTokenShowsAsOverrideAndSurvivesReload) {
  ASSERT_TRUE(start());
  std::string yaml = fakes::readFile(proxy_.configPath());
  EXPECT_EQ(statusOf(post("/regions/ams/drain", "")), "401");
  EXPECT_EQ(statusOf(post("/regions/ams/drain", "wrong")), "401");
  EXPECT_EQ(curl({"-X", "POST", "-w", "%{http_code}", "-H", std::string("Authorization: Bearer ") + kToken,
                  proxy_.adminUrl("/regions/ams/drain")}).out.substr(0, 3),
            "sen");  // "send the header `Meridian-Admin: 1`": a cross-site form cannot drain
  EXPECT_EQ(statusOf(post("/regions/nowhere/drain", kToken)), "404");
  EXPECT_NE(get("/regions/ams/drain").find("405"), std::string::npos);
  EXPECT_EQ(state()["regions"][0]["state"], "up");

  EXPECT_EQ(statusOf(post("/regions/ams/drain", kToken)), "200");
  Json s = state();
  EXPECT_EQ(s["regions"][0]["state"], "drained");
  EXPECT_EQ(s["regions"][0]["drain_override"], "drained");
  EXPECT_EQ(s["drain_overrides"]["ams"], "drained");
  // Routing sees it: the only region left is a drained one.
  Json explain = Json::parse(curl({proxy_.adminUrl("/explain?client_ip=192.0.2.1")}).out);
  EXPECT_EQ(explain["why"], "only drained regions left");
  EXPECT_EQ(Json::parse(curl({proxy_.adminUrl("/regions")}).out)["clusters"]["web"]["ams"]["drained"], true);
  // Kept across a reload, never written to the file.
  ASSERT_EQ(proxy_.reload(kToken).status, 200);
  EXPECT_EQ(state()["regions"][0]["drain_override"], "drained");
  EXPECT_EQ(fakes::readFile(proxy_.configPath()), yaml);

  // Undrain: the config does not drain ams, so the override goes away.
  EXPECT_EQ(statusOf(post("/regions/ams/undrain", kToken)), "200");
  s = state();
  EXPECT_EQ(s["regions"][0]["state"], "up");
  EXPECT_TRUE(s["regions"][0]["drain_override"].is_null());
  EXPECT_TRUE(s["drain_overrides"].empty());
}

TEST_F(DashboardAdminTest, ReloadErrorsAreShownOnlyWithTheToken) {
  ASSERT_TRUE(start());
  proxy_.rewriteConfig("this: is: not yaml\n");
  EXPECT_EQ(proxy_.reload(kToken).status, 400);
  Json open = state();
  EXPECT_EQ(open["config"]["last_reload"]["ok"], false);
  EXPECT_EQ(open["config"]["last_reload"]["by"], "POST /reload");
  EXPECT_TRUE(open["config"]["last_reload"]["errors"].is_null());
  EXPECT_EQ(open["config"]["last_reload"]["errors_hidden"], true);
  Json with_token = Json::parse(
      curl({"-H", std::string("Authorization: Bearer ") + kToken, proxy_.adminUrl("/dashboard/state")})
          .out);
  EXPECT_NE(with_token["config"]["last_reload"]["errors"].get<std::string>().find("config.yaml"),
            std::string::npos);
}

}  // namespace
}  // namespace meridian::integration
