// What goes upstream and back to the client, byte for byte: framing is the proxy's own,
// hop-by-hop fields never cross, forwarding fields are added.
#include "proxy/http/http1_writer.h"

#include <gtest/gtest.h>

namespace meridian::proxy::http1 {
namespace {

std::string drainAll(core::Buffer& b) {
  std::string s(b.pullup(b.size()), b.size());
  b.clear();
  return s;
}

// The head points into `bytes`: keep them alive while it is used.
RequestHead parseRequest(const std::string& bytes) {
  RequestHead h;
  ParseResult r = parseRequestHead(bytes.data(), bytes.size(), h);
  EXPECT_EQ(r.status, ParseStatus::Complete) << parseErrorName(r.error);
  return h;
}

TEST(Http1Writer, UpstreamRequestHead) {
  std::string raw =
      "POST http://app.example/p?q HTTP/1.1\r\nHost: app.example\r\nConnection: close, X-Hop\r\n"
      "X-Hop: 1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\nAccept: */*\r\n"
      "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: ftp\r\n\r\n";
  RequestHead h = parseRequest(raw);
  ForwardInfo fwd{"192.0.2.7", "http", "rid", true, 2, {}, {}, {}, false};
  core::Buffer out;
  writeUpstreamRequestHead(h, fwd, out);
  EXPECT_EQ(drainAll(out),
            "POST /p?q HTTP/1.1\r\nhost: app.example\r\nAccept: */*\r\n"
            "x-forwarded-for: 10.0.0.1, 192.0.2.7\r\nx-forwarded-proto: http\r\n"
            "x-forwarded-host: app.example\r\nx-request-id: rid\r\nmeridian-attempt: 2\r\n"
            "transfer-encoding: chunked\r\n\r\n");
}

TEST(Http1Writer, AbsoluteFormWithOnlyAQueryGetsARootPath) {
  std::string raw = "GET http://a?x=1 HTTP/1.1\r\nHost: a\r\n\r\n";
  RequestHead h = parseRequest(raw);
  core::Buffer out;
  writeUpstreamRequestHead(h, ForwardInfo{"1.2.3.4", "http", "r", false, 1, {}, {}, {}, false},
                           out);
  std::string s = drainAll(out);
  EXPECT_TRUE(s.starts_with("GET /?x=1 HTTP/1.1\r\n")) << s;
}

// An interim response keeps the upstream's reason phrase (any 1xx), or says the standard one.
TEST(Http1Writer, InterimResponseKeepsItsReasonPhrase) {
  struct Case {
    std::string raw;
    std::string first_line;
  } cases[] = {
      {"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n",
       "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"},
      {"HTTP/1.1 102 Processing\r\n\r\n", "HTTP/1.1 102 Processing\r\n\r\n"},
      {"HTTP/1.1 102 \r\n\r\n", "HTTP/1.1 102 Processing\r\n\r\n"},
      {"HTTP/1.1 103 \r\n\r\n", "HTTP/1.1 103 Early Hints\r\n\r\n"},
      {"HTTP/1.1 199 Still Thinking\r\nConnection: x\r\n\r\n",
       "HTTP/1.1 199 Still Thinking\r\n\r\n"},
  };
  for (const Case& c : cases) {
    ResponseHead h;
    ASSERT_EQ(parseResponseHead(c.raw.data(), c.raw.size(), false, h).status, ParseStatus::Complete)
        << c.raw;
    core::Buffer out;
    writeInterimResponse(h, out);
    EXPECT_EQ(drainAll(out), c.first_line) << c.raw;
  }
}

TEST(Http1Writer, UpgradeKeepsUpgradeHeaders) {
  std::string raw =
      "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
  RequestHead h = parseRequest(raw);
  core::Buffer out;
  writeUpstreamRequestHead(h, ForwardInfo{"1.2.3.4", "http", "r", false, 1, {}, {}, {}, false},
                           out);
  std::string s = drainAll(out);
  EXPECT_NE(s.find("upgrade: websocket\r\nconnection: upgrade\r\n"), std::string::npos) << s;
}

TEST(Http1Writer, H2cUpgradesAndHttp2SettingsAreNeverSentUpstream) {
  // Connection does not name HTTP2-Settings here: it goes all the same.
  std::string raw =
      "GET /x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
      "HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n";
  RequestHead h = parseRequest(raw);
  core::Buffer out;
  writeUpstreamRequestHead(h, ForwardInfo{"1.2.3.4", "http", "r", false, 1, {}, {}, {}, false},
                           out);
  std::string s = drainAll(out);
  EXPECT_EQ(s.find("pgrade"), std::string::npos) << s;
  EXPECT_EQ(s.find("ettings"), std::string::npos) << s;
  // Offered beside another protocol, h2c is left out of what the upstream may pick.
  std::string both =
      "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c, websocket\r\n\r\n";
  RequestHead hb = parseRequest(both);
  writeUpstreamRequestHead(hb, ForwardInfo{"1.2.3.4", "http", "r", false, 1, {}, {}, {}, false},
                           out);
  s = drainAll(out);
  EXPECT_NE(s.find("upgrade: websocket\r\nconnection: upgrade\r\n"), std::string::npos) << s;
}

TEST(Http1Writer, ClientResponseReframesAndDropsHopByHop) {
  std::string raw =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: X-Hop\r\nX-Hop: 1\r\n"
      "Keep-Alive: timeout=5\r\nContent-Type: text/plain\r\nmeridian-region: fake\r\n\r\n";
  ResponseHead h;
  ASSERT_EQ(parseResponseHead(raw.data(), raw.size(), false, h).status, ParseStatus::Complete);
  core::Buffer out;
  ResponseOptions opt;
  opt.region = "ams";
  EXPECT_TRUE(writeClientResponseHead(h, opt, out));
  EXPECT_EQ(drainAll(out),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nmeridian-region: ams\r\n"
            "transfer-encoding: chunked\r\n\r\n");
  opt.client_http10 = true;
  opt.close = true;
  EXPECT_FALSE(writeClientResponseHead(h, opt, out));
  std::string s = drainAll(out);
  EXPECT_EQ(s.find("transfer-encoding"), std::string::npos) << s;
  EXPECT_NE(s.find("connection: close\r\n"), std::string::npos) << s;
}

TEST(Http1Writer, BackendOverrideHeaderIsNeverForwarded) {
  std::string raw =
      "GET / HTTP/1.1\r\nHost: a\r\nMeridian-Backend: green\r\nmeridian-backend: blue\r\n"
      "Cookie: meridian-backend-app=green\r\n\r\n";
  RequestHead h = parseRequest(raw);
  ForwardInfo fwd;
  fwd.client_ip = "1.2.3.4";
  fwd.proto = "http";
  fwd.request_id = "r";
  core::Buffer out;
  writeUpstreamRequestHead(h, fwd, out);
  std::string s = drainAll(out);
  EXPECT_EQ(s.find("eridian-backend:"), std::string::npos) << s;
  EXPECT_EQ(s.find("Meridian-Backend"), std::string::npos) << s;
  // The affinity cookie is the client's own Cookie header: passed on like any other.
  EXPECT_NE(s.find("Cookie: meridian-backend-app=green\r\n"), std::string::npos) << s;
}

// A hedge says so after its attempt number; a client's own meridian-hedge never goes upstream.
TEST(Http1Writer, HedgeIsMarkedAndTheClientsOwnMarkIsDropped) {
  std::string raw = "GET / HTTP/1.1\r\nHost: a\r\nMeridian-Hedge: 1\r\n\r\n";
  RequestHead h = parseRequest(raw);
  ForwardInfo fwd;
  fwd.client_ip = "1.2.3.4";
  fwd.proto = "http";
  fwd.request_id = "r";
  core::Buffer out;
  writeUpstreamRequestHead(h, fwd, out);
  std::string s = drainAll(out);
  EXPECT_EQ(s.find("edge:"), std::string::npos) << s;
  fwd.attempt = 2;
  fwd.hedge = true;
  writeUpstreamRequestHead(h, fwd, out);
  s = drainAll(out);
  EXPECT_NE(s.find("meridian-attempt: 2\r\nmeridian-hedge: 1\r\n"), std::string::npos) << s;
  EXPECT_EQ(s.find("Meridian-Hedge"), std::string::npos) << s;
}

TEST(Http1Writer, ClientResponseSetsTheAffinityCookieBesideTheAppsOwn) {
  std::string raw =
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nSet-Cookie: session=abc; Path=/\r\n\r\n";
  ResponseHead h;
  ASSERT_EQ(parseResponseHead(raw.data(), raw.size(), false, h).status, ParseStatus::Complete);
  core::Buffer out;
  ResponseOptions opt;
  opt.region = "ams";
  opt.set_cookie = "meridian-backend-app=green; Path=/; HttpOnly; SameSite=Lax";
  writeClientResponseHead(h, opt, out);
  EXPECT_EQ(drainAll(out),
            "HTTP/1.1 200 OK\r\nSet-Cookie: session=abc; Path=/\r\nmeridian-region: ams\r\n"
            "set-cookie: meridian-backend-app=green; Path=/; HttpOnly; SameSite=Lax\r\n"
            "content-length: 2\r\n\r\n");
  opt.set_cookie = {};  // none asked: none written
  writeClientResponseHead(h, opt, out);
  std::string s = drainAll(out);
  EXPECT_EQ(s.find("set-cookie"), std::string::npos) << s;
}

TEST(Http1Writer, HeadResponseKeepsItsContentLength) {
  std::string raw = "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n";
  ResponseHead h;
  ASSERT_EQ(parseResponseHead(raw.data(), raw.size(), true, h).status, ParseStatus::Complete);
  core::Buffer out;
  writeClientResponseHead(h, ResponseOptions{}, out);
  std::string s = drainAll(out);
  EXPECT_NE(s.find("Content-Length: 42\r\n"), std::string::npos) << s;
}

TEST(Http1Writer, ErrorResponse) {
  core::Buffer out;
  writeErrorResponse(502, "upstream_reset", true, false, out);
  EXPECT_EQ(drainAll(out),
            "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: 32\r\n"
            "meridian-error: upstream_reset\r\nconnection: close\r\n\r\n"
            "502 Bad Gateway: upstream_reset\n");
}

TEST(Http1Writer, OriginForm) {
  EXPECT_EQ(originForm("/a?b"), "/a?b");
  EXPECT_EQ(originForm("http://h/a?b"), "/a?b");
  EXPECT_EQ(originForm("http://h"), "/");
  EXPECT_EQ(originForm("http://h?x=1"), "?x=1");
  EXPECT_EQ(originForm("*"), "*");
}

}  // namespace
}  // namespace meridian::proxy::http1
