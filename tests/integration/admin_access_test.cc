// Who may use the admin API, end to end with curl against the real binary: what a web page
// can send (cross-site POSTs, a DNS-rebinding page's Host) is refused and counted, and with
// admin.token_file POSTs and /config need the bearer token, re-read on reload.
#include <algorithm>
#include <string>
#include <vector>

#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

using fakes::CommandResult;

class AdminAccessTest : public ProxyTest {
 protected:
  // The fixture's config with `admin` replaced.
  std::string configWithAdmin(const std::string& admin) const {
    std::string y = configYaml();
    const std::string fixture_admin = "admin: { address: 127.0.0.1:0 }\n";
    y.replace(y.find(fixture_admin), fixture_admin.size(), "admin: " + admin + "\n");
    return y;
  }

  // curl against the admin endpoint: "STATUS BODY" (headers too with -i in `args`).
  std::string admin(std::vector<std::string> args, const std::string& path) {
    args.insert(args.end(), {"-w", "%{http_code}", proxy_.adminUrl(path)});
    CommandResult r = curl(std::move(args));
    EXPECT_EQ(r.exitCode, 0) << r.describe();
    return r.out;
  }
  std::string status(std::vector<std::string> args, const std::string& path) {
    std::string out = admin(std::move(args), path);
    return out.size() >= 3 ? out.substr(out.size() - 3) : out;
  }

  bool stillServing() { return curl({proxy_.adminUrl("/ready")}).out == "ready\n"; }
};

// The request of the issue: a page on evil.example posting a "simple" request to /drain.
TEST_F(AdminAccessTest, CrossSiteDrainIsRefusedAndTheProcessServesOn) {
  ASSERT_TRUE(startProxy());
  std::string port = std::to_string(proxy_.adminPort());
  EXPECT_EQ(status({"-X", "POST", "-H", "Origin: http://evil.example", "-H", "Host: evil.example",
                    "-H", "Content-Type: text/plain", "--data", "x"},
                   "/drain"),
            "421");
  // The right Host, but sent by a page of another origin.
  EXPECT_EQ(status({"-X", "POST", "-H", "Origin: http://evil.example", "-H", "Meridian-Admin: 1"},
                   "/drain"),
            "403");
  // A form or no-cors fetch cannot add the admin header: a simple POST is refused.
  EXPECT_EQ(status({"-X", "POST", "-H", "Content-Type: text/plain", "--data", "x"}, "/drain"),
            "403");
  EXPECT_TRUE(stillServing());
  EXPECT_EQ(metric("meridian_admin_refused_total{reason=\"host\"}"), 1);
  EXPECT_EQ(metric("meridian_admin_refused_total{reason=\"origin\"}"), 1);
  EXPECT_EQ(metric("meridian_admin_refused_total{reason=\"header\"}"), 1);
  EXPECT_TRUE(proxy_.waitForOutput("admin: POST /drain from 127.0.0.1:", kWait));
  // The admin's own page (same origin), with the header: served.
  EXPECT_EQ(
      status({"-X", "POST", "-H", "Meridian-Admin: 1", "-H", "Origin: http://127.0.0.1:" + port},
             "/reload"),
      "200");
  EXPECT_EQ(status({"-X", "POST", "-H", "Meridian-Admin: 1"}, "/drain"), "200");
  EXPECT_TRUE(proxy_.waitExit(kWait));
}

// A DNS-rebinding page reaches 127.0.0.1 under its own name: nothing is answered to it.
TEST_F(AdminAccessTest, ForeignHostCannotReadTheAnswers) {
  ASSERT_TRUE(startProxy());
  std::string port = std::to_string(proxy_.adminPort());
  for (const char* path : {"/metrics", "/config", "/regions", "/healthz"})
    EXPECT_EQ(status({"-H", "Host: rebind.evil.example:" + port}, path), "421") << path;
  for (std::string host : {"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port})
    EXPECT_EQ(status({"-H", "Host: " + host}, "/config"), "200") << host;
  EXPECT_EQ(metric("meridian_admin_refused_total{reason=\"host\"}"), 4);
}

TEST_F(AdminAccessTest, TokenGuardsPostsAndConfigAndIsReadAgainOnReload) {
  std::string token_file = proxy_.writeFile("admin.token", "first-s3cret\n");
  std::string yaml = configWithAdmin("{ address: 127.0.0.1:0, token_file: " + token_file + " }");
  ASSERT_TRUE(proxy_.start(yaml));
  std::string out = admin({"-i", "-X", "POST", "-H", "Meridian-Admin: 1"}, "/reload");
  EXPECT_EQ(out.substr(0, 12), "HTTP/1.1 401") << out;
  EXPECT_NE(out.find("www-authenticate: Bearer"), std::string::npos) << out;
  EXPECT_EQ(proxy_.reload("wrong").status, 401);
  EXPECT_EQ(status({}, "/config"), "401");
  EXPECT_EQ(status({"-H", "Authorization: Bearer first-s3cret"}, "/config"), "200");
  EXPECT_EQ(status({}, "/metrics"), "200");  // scrapers need no token
  EXPECT_EQ(metric("meridian_admin_refused_total{reason=\"token\"}"), 3);
  EXPECT_TRUE(proxy_.waitForOutput("admin: GET /config from 127.0.0.1:", kWait));
  std::string logs = proxy_.stdoutText() + proxy_.stderrText();
  EXPECT_EQ(logs.find("first-s3cret"), std::string::npos);
  EXPECT_EQ(logs.find("wrong"), std::string::npos);

  // A new token takes effect with the reload that reads it.
  proxy_.writeFile("admin.token", "second-s3cret");
  EXPECT_EQ(proxy_.reload("first-s3cret").status, 200);
  EXPECT_EQ(proxy_.reload("first-s3cret").status, 401);
  EXPECT_EQ(proxy_.reload("second-s3cret").status, 200);

  // An empty token file fails the reload, at the key, and the token in force stays.
  proxy_.writeFile("admin.token", "\n");
  auto r = proxy_.reload("second-s3cret");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find(proxy_.configPath() + ":"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(": admin.token_file: " + token_file + ": empty"), std::string::npos)
      << r.body;
  EXPECT_EQ(status({"-H", "Authorization: Bearer second-s3cret"}, "/config"), "200");
}

TEST_F(AdminAccessTest, ValidateRefusesAnOpenAdminAddressAndABadTokenFile) {
  std::string yaml = configWithAdmin("{ address: 0.0.0.0:0 }");
  std::string path = proxy_.writeFile("open.yaml", yaml);
  CommandResult r = fakes::runCommand({fakes::meridianBinary(), "validate", "-c", path}, kWait);
  EXPECT_EQ(r.exitCode, 1) << r.describe();
  size_t line = 1 + std::count(yaml.begin(), yaml.begin() + yaml.find("admin:"), '\n');
  EXPECT_EQ(r.out, path + ":" + std::to_string(line) +
                       ":19: admin.address: 0.0.0.0:0 is not a loopback address: set "
                       "admin.token_file (a bearer token for POSTs and /config)\n");

  std::string token_file = proxy_.writeFile("big.token", std::string(5000, 'x'));
  path = proxy_.writeFile(
      "big.yaml", configWithAdmin("{ address: 0.0.0.0:0, token_file: " + token_file + " }"));
  r = fakes::runCommand({fakes::meridianBinary(), "validate", "-c", path}, kWait);
  EXPECT_EQ(r.exitCode, 1) << r.describe();
  EXPECT_NE(r.out.find(": admin.token_file: " + token_file + ": too large: more than 4 KiB (the limit for an admin token file)"),
            std::string::npos)
      << r.out;

  proxy_.writeFile("big.token", "s3cret\n");
  r = fakes::runCommand({fakes::meridianBinary(), "validate", "-c", path}, kWait);
  EXPECT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_EQ(r.out, "ok\n");
}

}  // namespace
}  // namespace meridian::integration
