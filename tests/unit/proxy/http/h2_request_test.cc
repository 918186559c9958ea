// The pure parts of the HTTP/2 session: the client preface check and the request-header
// rules (RFC 9113 8.2, 8.3) with the HTTP/1-shaped head they build.
#include <gtest/gtest.h>

#include "proxy/http/h2_fields.h"
#include "proxy/http/h2_request.h"

#include <string>
#include <utility>
#include <vector>

namespace meridian::proxy {
namespace {

using h2::RequestBuilder;
using Result = RequestBuilder::Result;
using Fields = std::vector<std::pair<std::string, std::string>>;

const Fields kGet = {{":method", "GET"},
                     {":scheme", "https"},
                     {":path", "/a?b=1"},
                     {":authority", "app.example.com"},
                     {"accept", "*/*"}};

struct Built {
  Result result;
  std::string why;
  std::string bytes;
  http1::RequestHead head;
};

Built build(const Fields& fields, bool end_stream = true, size_t max_bytes = 64 * 1024,
            size_t max_headers = 100) {
  RequestBuilder b(max_bytes, max_headers);
  for (const auto& [n, v] : fields) b.add(n, v);
  Built out;
  out.result = b.finish(end_stream, "dGhlIHNhbXBsZSBub25jZQ==", out.bytes, out.head);
  out.why = b.why();
  return out;
}

std::string_view header(const http1::RequestHead& h, std::string_view name) {
  for (const auto& f : h.headers)
    if (f.name == name) return f.value;
  return {};
}

bool inside(std::string_view v, const std::string& bytes) {
  return v.data() >= bytes.data() && v.data() + v.size() <= bytes.data() + bytes.size();
}

TEST(H2Preface, MatchesWholePrefixAndOther) {
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  EXPECT_EQ(matchH2Preface(preface), PrefaceMatch::Yes);
  EXPECT_EQ(matchH2Preface(preface + "\x00\x00\x12\x04"), PrefaceMatch::Yes);
  EXPECT_EQ(matchH2Preface("PRI * HT"), PrefaceMatch::NeedMore);
  EXPECT_EQ(matchH2Preface(""), PrefaceMatch::NeedMore);
  EXPECT_EQ(matchH2Preface("GET / HTTP/1.1\r\n"), PrefaceMatch::No);
  EXPECT_EQ(matchH2Preface("PRI * HTTP/1.1\r\n"), PrefaceMatch::No);
  EXPECT_TRUE(looksLikeH2Preface(preface));
  EXPECT_FALSE(looksLikeH2Preface("PRI * HTTP/2.0\r\n"));
}

TEST(H2RequestBuilder, GetBecomesHttp1Head) {
  Built b = build(kGet);
  ASSERT_EQ(b.result, Result::Ok) << b.why;
  EXPECT_EQ(b.head.method, "GET");
  EXPECT_EQ(b.head.target, "/a?b=1");
  EXPECT_EQ(b.head.host, "app.example.com");
  EXPECT_EQ(header(b.head, "host"), "app.example.com");
  EXPECT_EQ(header(b.head, "accept"), "*/*");
  EXPECT_EQ(b.head.minor_version, 1);
  EXPECT_TRUE(b.head.keep_alive);
  EXPECT_FALSE(b.head.upgrade);
  EXPECT_EQ(b.head.framing, http1::Framing::None);
  // Every view points into the bytes the exchange will own.
  EXPECT_TRUE(inside(b.head.method, b.bytes));
  EXPECT_TRUE(inside(b.head.target, b.bytes));
  EXPECT_TRUE(inside(b.head.host, b.bytes));
  for (const auto& f : b.head.headers) {
    EXPECT_TRUE(inside(f.name, b.bytes));
    EXPECT_TRUE(inside(f.value, b.bytes));
  }
}

TEST(H2RequestBuilder, Framing) {
  Fields post = kGet;
  post[0].second = "POST";
  EXPECT_EQ(build(post, false).head.framing, http1::Framing::UntilClose);
  Fields with_cl = post;
  with_cl.emplace_back("content-length", "12");
  Built b = build(with_cl, false);
  ASSERT_EQ(b.result, Result::Ok);
  EXPECT_EQ(b.head.framing, http1::Framing::ContentLength);
  EXPECT_EQ(b.head.content_length, 12u);
  Fields zero = post;
  zero.emplace_back("content-length", "0");
  EXPECT_EQ(build(zero, false).head.framing, http1::Framing::None);
  // END_STREAM on HEADERS with a non-zero length cannot be honest.
  EXPECT_EQ(build(with_cl, true).result, Result::Malformed);
  Fields bad = post;
  bad.emplace_back("content-length", "1x");
  EXPECT_EQ(build(bad, false).result, Result::Malformed);
  Fields differing = with_cl;
  differing.emplace_back("content-length", "13");
  EXPECT_EQ(build(differing, false).result, Result::Malformed);
}

TEST(H2RequestBuilder, RefusesMalformed) {
  struct Case {
    const char* what;
    Fields fields;
  };
  const std::vector<Case> cases = {
      {"no :method", {{":scheme", "http"}, {":path", "/"}, {":authority", "h"}}},
      {"no :scheme", {{":method", "GET"}, {":path", "/"}, {":authority", "h"}}},
      {"no :path", {{":method", "GET"}, {":scheme", "http"}, {":authority", "h"}}},
      {"no :authority or host", {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}}},
      {"empty :path",
       {{":method", "GET"}, {":scheme", "http"}, {":path", ""}, {":authority", "h"}}},
      {"relative :path",
       {{":method", "GET"}, {":scheme", "http"}, {":path", "a"}, {":authority", "h"}}},
      {"unknown pseudo",
       {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "h"}, {":x", "1"}}},
      {"duplicate pseudo",
       {{":method", "GET"},
        {":method", "GET"},
        {":scheme", "http"},
        {":path", "/"},
        {":authority", "h"}}},
      {"pseudo after regular",
       {{":method", "GET"},
        {":scheme", "http"},
        {"accept", "*/*"},
        {":path", "/"},
        {":authority", "h"}}},
      {"upper-case name",
       {{":method", "GET"},
        {":scheme", "http"},
        {":path", "/"},
        {":authority", "h"},
        {"Accept", "*"}}},
      {"connection",
       {{":method", "GET"},
        {":scheme", "http"},
        {":path", "/"},
        {":authority", "h"},
        {"connection", "close"}}},
      {"keep-alive",
       {{":method", "GET"},
        {":scheme", "http"},
        {":path", "/"},
        {":authority", "h"},
        {"keep-alive", "1"}}},
      {"proxy-connection",
       {{":method", "GET"},
        {":scheme", "http"},
        {":path", "/"},
        {":authority", "h"},
        {"proxy-connection", "x"}}},
      {"transfer-encoding",
       {{":method", "GET"},
        {":scheme", "http"},
        {":path", "/"},
        {":authority", "h"},
        {"transfer-encoding", "chunked"}}},
      {"upgrade",
       {{":method", "GET"},
        {":scheme", "http"},
        {":path", "/"},
        {":authority", "h"},
        {"upgrade", "websocket"}}},
      {"te gzip",
       {{":method", "GET"},
        {":scheme", "http"},
        {":path", "/"},
        {":authority", "h"},
        {"te", "gzip"}}},
      {"CR in value",
       {{":method", "GET"},
        {":scheme", "http"},
        {":path", "/"},
        {":authority", "h"},
        {"x", "a\r\nb: c"}}},
      {":protocol without CONNECT",
       {{":method", "GET"},
        {":protocol", "websocket"},
        {":scheme", "http"},
        {":path", "/"},
        {":authority", "h"}}},
      {"CONNECT with :path", {{":method", "CONNECT"}, {":path", "/"}, {":authority", "h:443"}}},
      {"extended CONNECT, other protocol",
       {{":method", "CONNECT"},
        {":protocol", "smtp"},
        {":scheme", "http"},
        {":path", "/"},
        {":authority", "h"}}},
  };
  for (const auto& c : cases) EXPECT_EQ(build(c.fields).result, Result::Malformed) << c.what;
  Fields te = kGet;
  te.emplace_back("te", "trailers");
  EXPECT_EQ(build(te).result, Result::Ok);
}

// RFC 9113 8.2.1 and 8.3.1: what HTTP/1 would refuse in a request line or a Host field is
// malformed in HTTP/2 too, since the head goes upstream as HTTP/1.1. Found by h2_request_fuzz:
// an :authority with a tab went into the upstream's Host line, and a :method with a space
// made the request line read as another request.
TEST(H2RequestBuilder, RefusesWhatHttp1WouldRefuse) {
  auto with = [](std::string_view name, std::string_view value) {
    Fields f = kGet;
    for (auto& [n, v] : f)
      if (n == name) v = std::string(value);
    if (name.front() != ':') f.emplace_back(name, value);
    return f;
  };
  const std::vector<std::pair<const char*, Fields>> cases = {
      {":authority with a tab", with(":authority", "app.example.okie\tb=2")},
      {":authority with a space", with(":authority", "app.example.com evil")},
      {":authority with userinfo", with(":authority", "user@app.example.com")},
      {":authority with a slash", with(":authority", "app.example.com/x")},
      {":authority port out of range", with(":authority", "app.example.com:65536")},
      {":authority port not digits", with(":authority", "app.example.com:8o")},
      {":authority bad IP literal", with(":authority", "[::1%25eth0]:80")},
      {":method not a token", with(":method", "GE T")},
      {":method with a slash", with(":method", "GET/")},
      {":path with a space", with(":path", "/a b")},
      {":path with a tab", with(":path", "/a\tb")},
      {":path with a DEL", with(":path", "/a\x7f")},
      {"value with leading space", with("x-a", " v")},
      {"value with trailing tab", with("x-a", "v\t")},
      {"value of a pseudo-header with a trailing space", with(":scheme", "https ")},
      {"value with NUL", with("x-a", std::string_view("a\0b", 3))},
      {"value with LF", with("x-a", "a\nb")},
      {"host field with a space", with("host", "app.example.com x")},
      // Found by h2_request_fuzz: a control byte the HTTP/1 upstream refuses (400).
      {"value with a control byte", with("idempotency-key", "ab\x01:mec")},
      {"value with DEL", with("x-a", "a\x7f")},
  };
  for (const auto& [what, fields] : cases) {
    Built b = build(fields);
    EXPECT_EQ(b.result, Result::Malformed) << what;
  }
  // Whitespace inside a value is fine; so are the ports 0 to 65535 and an empty port.
  EXPECT_EQ(build(with("x-a", "a b\tc")).result, Result::Ok);
  EXPECT_EQ(build(with("x-a", "caf\xc3\xa9")).result, Result::Ok);  // obs-text passes
  EXPECT_EQ(build(with(":authority", "app.example.com:65535")).result, Result::Ok);
  EXPECT_EQ(build(with(":authority", "[2001:db8::1]:8443")).result, Result::Ok);
  EXPECT_EQ(build(with(":method", "PURGE")).result, Result::Ok);
}

TEST(H2RequestBuilder, HostFieldWithoutAuthority) {
  Built b = build({{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {"host", "h.example"}});
  ASSERT_EQ(b.result, Result::Ok) << b.why;
  EXPECT_EQ(b.head.host, "h.example");
  // With both naming one origin (case and a default port aside), :authority is sent, once.
  Fields both = kGet;  // :scheme https, :authority app.example.com
  both.emplace_back("host", "App.Example.COM:443");
  Built c = build(both);
  ASSERT_EQ(c.result, Result::Ok) << c.why;
  EXPECT_EQ(c.head.host, "app.example.com");
  int hosts = 0;
  for (const auto& f : c.head.headers) hosts += f.name == "host";
  EXPECT_EQ(hosts, 1);
}

// RFC 9113 8.3.1: a Host naming another origin than :authority is malformed, not overruled,
// since whatever reads the Host behind us would see another request than the one we routed.
TEST(H2RequestBuilder, HostThatDisagreesWithAuthorityIsMalformed) {
  struct Case {
    const char* scheme;
    const char* authority;  // nullptr: none
    std::vector<const char*> hosts;
    Result want;
  };
  const std::vector<Case> cases = {
      {"https", "app.example.com", {"other.example"}, Result::Malformed},
      {"https", "app.example.com", {"app.example.com:8443"}, Result::Malformed},
      {"http", "app.example.com", {"app.example.com:443"}, Result::Malformed},
      {"https", "app.example.com:8443", {"app.example.com"}, Result::Malformed},
      {"https", "[::1]:443", {"[::2]"}, Result::Malformed},
      {"https", "app.example.com", {"app.example.com", "evil.example"}, Result::Malformed},
      // The same origin, written differently.
      {"https", "app.example.com", {"APP.example.com"}, Result::Ok},
      {"https", "app.example.com", {"app.example.com:443"}, Result::Ok},
      {"http", "app.example.com:80", {"app.example.com"}, Result::Ok},
      {"https", "app.example.com:", {"app.example.com"}, Result::Ok},
      {"https", "[::1]:443", {"[::1]"}, Result::Ok},
      {"https", "app.example.com:8443", {"app.example.com:8443"}, Result::Ok},
      // No :authority: the first Host is the authority, and a second must agree with it.
      {"https", nullptr, {"h.example", "h.example:443"}, Result::Ok},
      {"https", nullptr, {"h.example", "x.example"}, Result::Malformed},
  };
  for (const Case& c : cases) {
    Fields f = {{":method", "GET"}, {":scheme", c.scheme}, {":path", "/"}};
    if (c.authority != nullptr) f.emplace_back(":authority", c.authority);
    for (const char* h : c.hosts) f.emplace_back("host", h);
    Built b = build(f);
    EXPECT_EQ(b.result, c.want) << c.scheme << " " << (c.authority ? c.authority : "-") << " "
                                << c.hosts.front() << ": " << b.why;
    if (c.want == Result::Malformed) {
      EXPECT_EQ(b.why, "host differs from :authority");
    }
  }
}

TEST(H2RequestBuilder, CookiesAreJoined) {
  Fields f = kGet;
  f.emplace_back("cookie", "a=1");
  f.emplace_back("cookie", "b=2");
  Built b = build(f);
  ASSERT_EQ(b.result, Result::Ok);
  EXPECT_EQ(header(b.head, "cookie"), "a=1; b=2");
}

// Found by h2_request_fuzz: an empty cookie field left "a=1; " (trailing whitespace) upstream.
TEST(H2RequestBuilder, EmptyCookieFieldsAreSkippedWhenJoined) {
  Fields f = kGet;
  f.emplace_back("cookie", "");
  f.emplace_back("cookie", "a=1");
  f.emplace_back("cookie", "");
  Built b = build(f);
  ASSERT_EQ(b.result, Result::Ok);
  EXPECT_EQ(header(b.head, "cookie"), "a=1");
  Fields only_empty = kGet;
  only_empty.emplace_back("cookie", "");
  Built e = build(only_empty);
  ASSERT_EQ(e.result, Result::Ok);
  EXPECT_EQ(header(e.head, "cookie"), "");
}

TEST(H2RequestBuilder, Limits) {
  Fields big = kGet;
  big.emplace_back("x-big", std::string(2000, 'a'));
  EXPECT_EQ(build(big, true, 1024).result, Result::TooLarge);
  EXPECT_EQ(build(big, true, 4096).result, Result::Ok);
  Fields many = kGet;
  for (int i = 0; i < 10; ++i) many.emplace_back("x-" + std::to_string(i), "v");
  EXPECT_EQ(build(many, true, 64 * 1024, 5).result, Result::TooLarge);
  EXPECT_EQ(build(many, true, 64 * 1024, 11).result, Result::Ok);
}

TEST(H2RequestBuilder, PlainConnectIsLeftToTheCaller) {
  Built b = build({{":method", "CONNECT"}, {":authority", "h.example:443"}});
  ASSERT_EQ(b.result, Result::Ok) << b.why;
  EXPECT_EQ(b.head.method, "CONNECT");
  EXPECT_FALSE(b.head.upgrade);
}

TEST(H2RequestBuilder, ExtendedConnectBecomesWebSocketUpgrade) {
  Built b = build({{":method", "CONNECT"},
                   {":protocol", "websocket"},
                   {":scheme", "https"},
                   {":path", "/chat"},
                   {":authority", "app.example.com"},
                   {"sec-websocket-version", "13"}},
                  false);
  ASSERT_EQ(b.result, Result::Ok) << b.why;
  EXPECT_EQ(b.head.method, "GET");
  EXPECT_EQ(b.head.target, "/chat");
  EXPECT_TRUE(b.head.upgrade);
  EXPECT_EQ(b.head.framing, http1::Framing::None);
  EXPECT_EQ(header(b.head, "upgrade"), "websocket");
  EXPECT_EQ(header(b.head, "sec-websocket-key"), "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(header(b.head, "sec-websocket-version"), "13");
}

}  // namespace
}  // namespace meridian::proxy

namespace meridian::proxy::h2 {
namespace {

std::vector<std::pair<std::string, std::string>> asPairs(FieldList& list) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const nghttp2_nv& nv : list.nva())
    out.emplace_back(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                     std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen));
  return out;
}

// Lower-cased names and numbers are kept by the list (its store may move as it grows); other
// views are pointed at as they are.
TEST(H2FieldList, KeepsLoweredNamesAndNumbersAcrossGrowth) {
  FieldList list;
  std::string value = "text/html";
  list.addNumber(":status", 204);
  list.addLowered("Content-Type", value);
  for (int i = 0; i < 50; ++i) list.addLowered("X-Long-Header-Name-" + std::to_string(i), "v");
  list.addNumber("content-length", 18446744073709551615ull);
  list.add("meridian-region", "ams");
  auto got = asPairs(list);
  ASSERT_EQ(got.size(), 54u);
  EXPECT_EQ(got[0], (std::pair<std::string, std::string>{":status", "204"}));
  EXPECT_EQ(got[1], (std::pair<std::string, std::string>{"content-type", "text/html"}));
  EXPECT_EQ(got[51].first, "x-long-header-name-49");
  EXPECT_EQ(got[52].second, "18446744073709551615");
  EXPECT_EQ(got[53].second, "ams");
  list.clear();
  list.addNumber(":status", 200);
  EXPECT_EQ(asPairs(list).size(), 1u);
}

}  // namespace
}  // namespace meridian::proxy::h2
