// Blue-green through the real binary: two FakeUpstreams answer with their colour, the proxy
// splits by weight, keeps clients on their colour with the affinity cookie across a reload,
// and lets testers pick a colour with `meridian-backend` only where the route allows it.
#include <chrono>
#include <map>

#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kRequests = 10000;

class BlueGreenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    blue_.setHandler(
        [](const fakes::ReceivedRequest&) { return Action::respond(200, {}, "blue"); });
    green_.setHandler(
        [](const fakes::ReceivedRequest&) { return Action::respond(200, {}, "green"); });
  }

  std::string config(int blue_weight, int green_weight, const std::string& route_extra = "") {
    return "workers: 2\naccess_log: \"off\"\n"
           "listeners:\n  - { name: public, address: 127.0.0.1:0, region: ams }\n"
           "admin: { address: 127.0.0.1:0 }\n"
           "regions:\n  - { name: ams, lat: 52.37, lon: 4.90 }\n"
           "clusters:\n"
           "  - name: blue\n    endpoints: [ { address: " +
           blue_.address() +
           ", region: ams } ]\n"
           "  - name: green\n    endpoints: [ { address: " +
           green_.address() +
           ", region: ams } ]\n"
           "routes:\n  - name: app\n    match: { path_prefix: / }\n"
           "    backends:\n"
           "      - { cluster: blue, weight: " +
           std::to_string(blue_weight) +
           " }\n"
           "      - { cluster: green, weight: " +
           std::to_string(green_weight) + " }\n" + route_extra;
  }

  // One request on a kept-alive connection (opened on first use); the whole response.
  HttpResponse get(TcpClient& c, const std::string& extra_headers = "") {
    HttpResponse r;
    if (!c.isOpen()) {
      EXPECT_TRUE(c.connect(proxy_.listenerPort("public")));
    }
    EXPECT_TRUE(c.send("GET /x HTTP/1.1\r\nHost: app\r\n" + extra_headers + "\r\n"));
    EXPECT_TRUE(c.readResponse(r, kWait));
    return r;
  }

  // Sends `n` requests on one connection (bounded by `limit` in all); counts the colours.
  std::map<std::string, int> split(int n, const std::string& extra_headers = "",
                                   milliseconds limit = milliseconds(60000)) {
    std::map<std::string, int> hits;
    TcpClient c;
    auto deadline = Clock::now() + limit;
    for (int i = 0; i < n && Clock::now() < deadline; ++i) {
      HttpResponse r = get(c, extra_headers);
      if (r.status != 200) {
        ADD_FAILURE() << "request " << i << ": " << r.statusLine;
        break;
      }
      hits[r.body]++;
    }
    return hits;
  }

  ::testing::AssertionResult reload(const std::string& yaml) {
    proxy_.rewriteConfig(yaml);
    auto r = proxy_.reload();
    if (r.status != 200)
      return ::testing::AssertionFailure() << "POST /reload: " << r.status << " " << r.body;
    return ::testing::AssertionSuccess();
  }

  FakeUpstream blue_, green_;
  MeridianProcess proxy_;
};

// The "name=value" part of a Set-Cookie value.
std::string cookiePair(std::string_view set_cookie) {
  return std::string(set_cookie.substr(0, set_cookie.find(';')));
}

TEST_F(BlueGreenTest, TenThousandRequestsSplitNinetyTen) {
  ASSERT_TRUE(proxy_.start(config(90, 10)));
  auto hits = split(kRequests);
  EXPECT_EQ(hits["blue"] + hits["green"], kRequests);
  EXPECT_NEAR(hits["blue"], 9000, 200);
  EXPECT_NEAR(hits["green"], 1000, 200);
}

TEST_F(BlueGreenTest, RetiredAndSoleBackends) {
  ASSERT_TRUE(proxy_.start(config(0, 100)));
  EXPECT_EQ(split(500)["green"], 500);
  ASSERT_TRUE(reload(config(1, 0)));
  EXPECT_EQ(split(500)["blue"], 500);
}

struct Client {
  TcpClient conn;
  std::string cookie;  // "meridian-backend-app=COLOUR", as the proxy set it
  std::string colour;
};

TEST_F(BlueGreenTest, CookieKeepsClientsOnTheirColourAndAReloadMovesOnlyNewClients) {
  ASSERT_TRUE(proxy_.start(config(50, 50, "    affinity: cookie\n")));
  std::vector<Client> clients(20);
  std::map<std::string, int> colours;
  for (auto& c : clients) {
    HttpResponse first = get(c.conn);
    ASSERT_EQ(first.status, 200);
    std::string_view set = first.header("set-cookie");
    ASSERT_FALSE(set.empty()) << "no affinity cookie set";
    EXPECT_TRUE(set.starts_with("meridian-backend-app=" + first.body + ";")) << set;
    EXPECT_NE(set.find("HttpOnly"), std::string_view::npos) << set;
    EXPECT_EQ(set.find("Secure"), std::string_view::npos) << set;  // plain listener
    c.cookie = cookiePair(set);
    c.colour = first.body;
    colours[c.colour]++;
  }
  EXPECT_GT(colours["blue"], 0);
  EXPECT_GT(colours["green"], 0);
  for (int i = 1; i < 100; ++i) {
    for (auto& c : clients) {
      HttpResponse r = get(c.conn, "Cookie: a=1; " + c.cookie + "; b=2\r\n");
      ASSERT_EQ(r.body, c.colour) << "request " << i;
      ASSERT_TRUE(r.header("set-cookie").empty()) << "a valid cookie is not set again";
    }
  }

  // 50/50 -> 10/90: both colours stay live, so existing clients stay where they are and
  // only new clients follow the new weights.
  ASSERT_TRUE(reload(config(10, 90, "    affinity: cookie\n")));
  for (auto& c : clients) {
    TcpClient fresh;
    for (int i = 0; i < 10; ++i)
      EXPECT_EQ(get(fresh, "Cookie: " + c.cookie + "\r\n").body, c.colour);
  }
  auto fresh = split(1000);
  EXPECT_NEAR(fresh["green"], 900, 60);

  // Green retired: its clients are moved to blue and given a new cookie.
  ASSERT_TRUE(reload(config(1, 0, "    affinity: cookie\n")));
  TcpClient c;
  HttpResponse r = get(c, "Cookie: meridian-backend-app=green\r\n");
  EXPECT_EQ(r.body, "blue");
  EXPECT_EQ(cookiePair(r.header("set-cookie")), "meridian-backend-app=blue");
}

TEST_F(BlueGreenTest, ForgedCookieIsIgnored) {
  ASSERT_TRUE(proxy_.start(config(100, 0, "    affinity: cookie\n")));
  TcpClient c;
  for (const char* forged : {"evil", "green", "../blue"}) {
    HttpResponse r = get(c, std::string("Cookie: meridian-backend-app=") + forged + "\r\n");
    EXPECT_EQ(r.body, "blue") << forged;
    EXPECT_EQ(cookiePair(r.header("set-cookie")), "meridian-backend-app=blue") << forged;
  }
}

TEST_F(BlueGreenTest, OverrideHeaderOnlyWhereTheRouteAllowsIt) {
  // Green not yet live (weight 0): testers reach it only by override.
  ASSERT_TRUE(proxy_.start(config(100, 0)));
  EXPECT_EQ(split(50, "meridian-backend: green\r\n")["blue"], 50);
  ASSERT_TRUE(reload(config(100, 0, "    allow_override: true\n")));
  EXPECT_EQ(split(50, "meridian-backend: green\r\n")["green"], 50);
  EXPECT_EQ(split(50, "meridian-backend: purple\r\n")["blue"], 50);  // not a backend: ignored
  EXPECT_EQ(split(50)["blue"], 50);
  // The header is the proxy's: it never reaches the app.
  ASSERT_GT(green_.requestCount(), 0u);
  for (const auto& r : green_.requests()) EXPECT_FALSE(r.hasHeader("meridian-backend"));
  for (const auto& r : blue_.requests()) EXPECT_FALSE(r.hasHeader("meridian-backend"));
}

}  // namespace
}  // namespace meridian::integration
