// Paths are normalised before routing, for HTTP/1.1 and HTTP/2 alike: a route on /public/
// cannot be escaped with "..", "%2e%2e" or "..%2f", and the upstream gets the path that was
// matched. curl sends the paths as written (--path-as-is), as an attacker's client would.
#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

struct Protocol {
  const char* name;
  const char* curl_flag;
};

class PathNormalizeTest : public ProxyTest, public ::testing::WithParamInterface<Protocol> {
 protected:
  // One route, on /public/: nothing else is routed.
  std::string publicOnly(const std::string& limits = "") const {
    std::string y = configYaml(limits);
    size_t at = y.find("path_prefix: / }");
    EXPECT_NE(at, std::string::npos) << y;
    if (at != std::string::npos) y.replace(at, 16, "path_prefix: /public/ }");
    return y;
  }
  ::testing::AssertionResult startPublicOnly(const std::string& limits = "") {
    return proxy_.start(publicOnly(limits));
  }

  // The status of `path` sent as written, over the protocol under test.
  std::string get(const std::string& path) {
    auto r = curl({GetParam().curl_flag, "--path-as-is", "-s", "-o", "/dev/null", "-w",
                   "%{http_code}", url(path)});
    EXPECT_EQ(r.exitCode, 0) << r.describe();
    return r.out;
  }
};

TEST_P(PathNormalizeTest, DotSegmentsCannotEscapeAPrefixRoute) {
  ASSERT_TRUE(startPublicOnly());
  EXPECT_EQ(get("/admin"), "404");
  EXPECT_EQ(get("/public/../admin"), "404");
  EXPECT_EQ(get("/public/%2e%2e/admin"), "404");
  EXPECT_EQ(get("/public/.%2E/.././admin"), "404");
  EXPECT_EQ(get("/public/../../../admin"), "404");  // above the root stays at the root
  EXPECT_EQ(upstream_.requestCount(), 0u);
  EXPECT_EQ(metric("meridian_no_route_total"), 5);

  // What is routed is what goes upstream: the normal form, the query exactly as sent.
  EXPECT_EQ(get("/public/a/../b/./%7Euser/x%c3%a9?next=/../admin&q=%2e"), "200");
  EXPECT_EQ(get("/admin/../public/c"), "200");
  ASSERT_TRUE(upstream_.waitForRequests(2, kWait));
  EXPECT_EQ(upstream_.request(0).target, "/public/b/~user/x%C3%A9?next=/../admin&q=%2e");
  EXPECT_EQ(upstream_.request(1).target, "/public/c");
}

TEST_P(PathNormalizeTest, EscapedSlashesAreRefusedByDefault) {
  ASSERT_TRUE(startPublicOnly());
  auto r = curl({GetParam().curl_flag, "--path-as-is", "-s", "-D", "-", "-o", "/dev/null",
                 url("/public/..%2fadmin")});
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_TRUE(r.out.starts_with("HTTP/1.1 400") || r.out.starts_with("HTTP/2 400")) << r.out;
  EXPECT_NE(r.out.find("meridian-error: bad_path"), std::string::npos) << r.out;
  EXPECT_EQ(get("/public/a%5Cb"), "400");
  EXPECT_EQ(get("/public/a\\b"), "400");
  EXPECT_EQ(get("/public/a?slash=%2F"), "200");  // a query is not a path
  EXPECT_EQ(metric("meridian_limit_rejections_total{reason=\"escaped_slash\"}"), 3);
  EXPECT_EQ(get("/public/a%zz"), "400");  // not percent-encoding at all
  EXPECT_EQ(metric("meridian_limit_rejections_total{reason=\"bad_path\"}"), 1);
  EXPECT_EQ(upstream_.requestCount(), 1u);
}

TEST_P(PathNormalizeTest, EscapedSlashesCanBeUnescapedForwardedOrKept) {
  ASSERT_TRUE(startPublicOnly("{ escaped_slashes: unescape_and_forward }"));
  EXPECT_EQ(get("/public/..%2fadmin"), "404");
  EXPECT_EQ(get("/public/a%2Fb%5cc"), "200");
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  EXPECT_EQ(upstream_.request(0).target, "/public/a/b/c");

  proxy_.rewriteConfig(publicOnly("{ escaped_slashes: keep }"));
  ASSERT_EQ(proxy_.reload().status, 200);
  EXPECT_EQ(get("/public/..%2fadmin"), "200");  // a segment named "..%2F" for us
  ASSERT_TRUE(upstream_.waitForRequests(2, kWait));
  EXPECT_EQ(upstream_.request(1).target, "/public/..%2Fadmin");
}

TEST_P(PathNormalizeTest, EscapedSlashesCanBeRedirectedToTheUnescapedPath) {
  ASSERT_TRUE(startPublicOnly("{ escaped_slashes: unescape_and_redirect }"));
  auto r = curl({GetParam().curl_flag, "--path-as-is", "-s", "-D", "-", "-o", "/dev/null",
                 url("/public/a%2fb/..%2f..%2fc?x=%2f")});
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_TRUE(r.out.starts_with("HTTP/1.1 307") || r.out.starts_with("HTTP/2 307")) << r.out;
  EXPECT_NE(r.out.find("location: /public/c?x=%2f\r\n"), std::string::npos) << r.out;
  EXPECT_EQ(upstream_.requestCount(), 0u);
  // Where it points is served. (Followed by a second curl: curl 7.88 cannot reuse an h2c
  // prior-knowledge connection, curl issue 10634.)
  EXPECT_EQ(get("/public/a%2fb"), "307");
  EXPECT_EQ(get("/public/a/b"), "200");
  EXPECT_EQ(metric("meridian_escaped_slash_redirects_total"), 2);
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  EXPECT_EQ(upstream_.request(0).target, "/public/a/b");
}

INSTANTIATE_TEST_SUITE_P(Protocols, PathNormalizeTest,
                         ::testing::Values(Protocol{"Http11", "--http1.1"},
                                           Protocol{"H2c", "--http2-prior-knowledge"}),
                         [](const auto& info) { return std::string(info.param.name); });

// curl drops a #fragment itself; sent raw, it is a 400 (RFC 9112 3.2 has none in a request).
TEST_F(ProxyTest, FragmentInTheRequestTargetIs400) {
  ASSERT_TRUE(startProxy());
  HttpResponse r = roundTrip("GET /a#frag HTTP/1.1\r\nHost: app\r\n\r\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.header("meridian-error"), "bad_path");
  EXPECT_EQ(upstream_.requestCount(), 0u);
  EXPECT_EQ(metric("meridian_limit_rejections_total{reason=\"bad_path\"}"), 1);
}

}  // namespace
}  // namespace meridian::integration
