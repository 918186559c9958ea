// HTTP/2 towards clients, end to end: real h2 clients (curl, nghttp) against the real binary,
// a FakeUpstream speaking HTTP/1.1 behind it, and hand-written frames for the attacks no real
// client makes (rapid reset, resets mid-response).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

#include "tests/fakes/h2_frames.h"
#include "tests/fakes/http_wire.h"
#include "tests/fakes/tls_tools.h"
#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

namespace hf = fakes::h2frames;
using fakes::CommandResult;
using Clock = std::chrono::steady_clock;

class Http2Test : public ProxyTest {
 protected:
  fakes::CommandResult h2curl(std::vector<std::string> args) {
    args.insert(args.begin(), "--http2-prior-knowledge");
    return curl(std::move(args));
  }

  long long vmRssKiB() { return procStatusKiB(proxy_.pid(), "VmRSS"); }

  // A raw h2 connection past the preface and SETTINGS exchange.
  ::testing::AssertionResult rawConnect(TcpClient& c) {
    auto r = c.connect(port());
    if (!r) return r;
    r = c.send(hf::preface() + hf::frame(hf::kSettings, hf::kAck, 0, {}));
    if (!r) return r;
    std::vector<hf::Frame> seen;
    if (!hf::readUntilFrame(
            c, seen, [](const hf::Frame& f) { return f.type == hf::kSettings && !(f.flags & 1); },
            kWait))
      return ::testing::AssertionFailure() << "no SETTINGS from the server";
    return ::testing::AssertionSuccess();
  }
};

TEST_F(Http2Test, CurlH2cGetAndPost) {
  ASSERT_TRUE(startProxy());
  upstream_.enqueue(
      Action::respond(200, {{"X-App", "yes"}, {"Connection", "keep-alive"}}, "hello h2\n"));
  auto r = h2curl({"-D", "-", "-w", "%{http_version}", url("/get?q=1")});
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_NE(r.out.find("HTTP/2 200"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("x-app: yes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("meridian-region: ams"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("connection:"), std::string::npos) << r.out;  // hop-by-hop dropped
  EXPECT_TRUE(r.out.ends_with("hello h2\n2")) << r.out;
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  auto req = upstream_.request(0);
  EXPECT_EQ(req.requestLine, "GET /get?q=1 HTTP/1.1");
  EXPECT_EQ(req.header("host"), "127.0.0.1:" + std::to_string(port()));
  EXPECT_EQ(req.header("x-forwarded-proto"), "http");

  upstream_.enqueue(Action::echo());
  fakes::TempDir dir("h2post");
  std::string body = fakes::patternBytes(0, 300'000);
  std::string file = dir.write("body.bin", body);
  r = h2curl(
      {"--data-binary", "@" + file, "-H", "content-type: application/octet-stream", url("/post")});
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_EQ(r.out.size(), body.size());
  EXPECT_TRUE(r.out == body);
  ASSERT_TRUE(upstream_.waitForRequests(2, kWait));
  EXPECT_EQ(upstream_.request(1).method, "POST");
  EXPECT_EQ(upstream_.request(1).bodyBytes, body.size());
  EXPECT_GE(metric("meridian_http2_connections_total"), 2);
}

// An HTTP/2 client that asks for 100-continue waits for it before it sends its body (curl up
// to --expect100-timeout): the proxy sends it, as a HEADERS frame, once the request is upstream.
TEST_F(Http2Test, ExpectContinueGetsAHundredContinue) {
  ASSERT_TRUE(startProxy());
  upstream_.enqueue(Action::echo());
  fakes::TempDir dir("h2expect");
  std::string body = fakes::patternBytes(0, 5000);
  std::string file = dir.write("body.bin", body);
  auto start = Clock::now();
  auto r = h2curl({"-H", "Expect: 100-continue", "--expect100-timeout", "15", "--data-binary",
                   "@" + file, "-w", "%{http_code}", url("/post")});
  auto took = Clock::now() - start;
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_EQ(r.out, body + "200");
  // Without the 100, curl sends the body only when its 15 s wait runs out.
  EXPECT_LT(took, std::chrono::seconds(10));
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  EXPECT_EQ(upstream_.request(0).bodyBytes, body.size());
}

TEST_F(Http2Test, UploadArrivesIntact) {
  ASSERT_TRUE(startProxy());
  upstream_.enqueue(Action::respond(201, {}, "stored\n"));
  fakes::TempDir dir("h2upload");
  const size_t kSize = 4 * 1024 * 1024;
  std::string file = dir.write("up.bin", fakes::patternBytes(0, kSize));
  auto r = h2curl({"-X", "PUT", "--data-binary", "@" + file, "-w", "%{http_code}", url("/up")});
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_EQ(r.out, "stored\n201");
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  auto req = upstream_.request(0);
  EXPECT_EQ(req.bodyBytes, kSize);
  EXPECT_TRUE(fakes::matchesPattern(req.body)) << "body corrupted";
}

TEST_F(Http2Test, UploadWithoutContentLengthEndsWithTheStream) {
  ASSERT_TRUE(startProxy());
  upstream_.enqueue(Action::respond(200, {}, "got it\n"));
  fakes::TempDir dir("h2chunked");
  std::string file = dir.write("up.bin", fakes::patternBytes(0, 700'000));
  // curl sends no content-length for a "chunked" body over HTTP/2: DATA until END_STREAM.
  auto r = h2curl({"-H", "transfer-encoding: chunked", "--data-binary", "@" + file, url("/up")});
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_EQ(r.out, "got it\n");
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  EXPECT_EQ(upstream_.request(0).bodyBytes, 700'000u);
  EXPECT_TRUE(fakes::matchesPattern(upstream_.request(0).body));
}

TEST_F(Http2Test, HundredConcurrentStreamsOnOneConnection) {
  ASSERT_TRUE(startProxy());
  // Answered late enough that the streams overlap.
  upstream_.setHandler([](const fakes::ReceivedRequest& req) {
    return Action::respond(200, {}, "body of " + req.target + "\n").withDelay(milliseconds(50));
  });
  std::vector<std::string> argv = {"nghttp", "-t", "20", "-s"};
  for (int i = 0; i < 100; ++i) argv.push_back(url("/s" + std::to_string(i)));
  CommandResult r = fakes::runCommand(argv, milliseconds(30000));
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  for (int i = 0; i < 100; ++i) {
    std::string want = "body of /s" + std::to_string(i) + "\n";
    EXPECT_NE(r.out.find(want), std::string::npos) << want;
  }
  // -s prints one line per stream with its status.
  size_t ok = 0;
  for (size_t at = r.out.find(" 200 "); at != std::string::npos; at = r.out.find(" 200 ", at + 1))
    ++ok;
  EXPECT_EQ(ok, 100u) << r.out;
  EXPECT_EQ(upstream_.requestCount(), 100u);
  EXPECT_EQ(metric("meridian_http2_connections_total"), 1);
}

TEST_F(Http2Test, SlowReaderDoesNotMakeTheProxyBufferTheBody) {
#ifdef MERIDIAN_SANITIZED
  GTEST_SKIP() << "sanitizer quarantine makes RSS meaningless";
#endif
  ASSERT_TRUE(startProxy());
  const uint64_t kSize = 20 * 1024 * 1024;
  upstream_.enqueue(Action::respond(200, {}, "warm\n"));
  ASSERT_EQ(h2curl({url("/warm")}).exitCode, 0);
  long long before = vmRssKiB();
  ASSERT_GT(before, 0);
  upstream_.enqueue(Action::stream(kSize));
  // A client that grants the whole body in flow-control window, then does not read: only the
  // proxy's own back-pressure keeps it from holding the body.
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  std::string window("\x00\x04\x7f\xff\xff\xff", 6);  // SETTINGS_INITIAL_WINDOW_SIZE
  ASSERT_TRUE(c.send(
      std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + hf::frame(hf::kSettings, 0, 0, window) +
      hf::windowUpdate(0, 0x7fffffff - 65535) + hf::frame(hf::kSettings, hf::kAck, 0, {}) +
      hf::frame(hf::kHeaders, hf::kEndStream | hf::kEndHeaders, 1, hf::requestBlock("/big"))));
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  long long peak = before;
  for (auto until = Clock::now() + std::chrono::milliseconds(1500); Clock::now() < until;) {
    peak = std::max(peak, vmRssKiB());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // sampling, not waiting
  }
  // Now read it all: every byte arrives.
  uint64_t got = 0;
  std::vector<hf::Frame> seen;
  bool done = hf::readUntilFrame(
      c, seen,
      [&](const hf::Frame& f) {
        if (f.type != hf::kData || f.stream != 1) return false;
        got += f.payload.size();
        return (f.flags & hf::kEndStream) != 0;
      },
      std::chrono::milliseconds(30000));
  ASSERT_TRUE(done) << got << " bytes";
  EXPECT_EQ(got, kSize);
  // The body is 20 MiB; what the proxy holds at once is bounded by its watermarks.
  EXPECT_LT(peak - before, 8 * 1024) << "RSS grew from " << before << " KiB to " << peak;
}

TEST_F(Http2Test, ResetMidResponseCancelsTheUpstreamRequest) {
  ASSERT_TRUE(startProxy());
  upstream_.enqueue(Action::stream(500ull * 1024 * 1024));
  TcpClient c;
  ASSERT_TRUE(rawConnect(c));
  ASSERT_TRUE(c.send(
      hf::frame(hf::kHeaders, hf::kEndStream | hf::kEndHeaders, 1, hf::requestBlock("/big"))));
  std::vector<hf::Frame> seen;
  ASSERT_TRUE(hf::readUntilFrame(
      c, seen, [](const hf::Frame& f) { return f.type == hf::kData && f.stream == 1; }, kWait));
  ASSERT_TRUE(upstream_.waitForOpenConnections(1, kWait));
  ASSERT_TRUE(c.send(hf::rstStream(1, hf::kCancel)));
  // The upstream sees its connection closed: the request is cancelled, not read to the end.
  EXPECT_TRUE(upstream_.waitForOpenConnections(0, kWait));
  EXPECT_GE(metric("meridian_client_aborts_total"), 1);
  // The connection itself lives on: a PING is answered.
  ASSERT_TRUE(c.send(hf::frame(hf::kPing, 0, 0, "12345678")));
  EXPECT_TRUE(hf::readUntilFrame(
      c, seen, [](const hf::Frame& f) { return f.type == hf::kPing && (f.flags & hf::kAck); },
      kWait));
}

TEST_F(Http2Test, RapidResetGetsGoawayAndTheNextClientIsServed) {
  ASSERT_TRUE(startProxy("{ http2_max_resets_per_second: 50 }"));
  upstream_.setHandler([](const fakes::ReceivedRequest&) {
    return Action::respond(200, {}, "ok\n").withDelay(milliseconds(200));
  });
  TcpClient c;
  ASSERT_TRUE(rawConnect(c));
  std::string burst;
  for (uint32_t id = 1; id < 2 * 400; id += 2) {
    burst += hf::frame(hf::kHeaders, hf::kEndStream | hf::kEndHeaders, id, hf::requestBlock("/r"));
    burst += hf::rstStream(id, hf::kCancel);
  }
  c.send(burst);
  std::vector<hf::Frame> seen;
  bool goaway = hf::readUntilFrame(
      c, seen, [](const hf::Frame& f) { return f.type == hf::kGoaway; }, kWait);
  ASSERT_TRUE(goaway) << "no GOAWAY after " << seen.size() << " frames";
  const hf::Frame& g = seen.back();
  ASSERT_EQ(g.payload.size(), 8u);
  EXPECT_EQ(static_cast<uint8_t>(g.payload[7]), hf::kEnhanceYourCalm);
  EXPECT_TRUE(c.readUntilClose(kWait));
  EXPECT_EQ(metric("meridian_limit_rejections_total{reason=\"http2_rapid_reset\"}"), 1);
  upstream_.setHandler(nullptr);
  upstream_.enqueue(Action::respond(200, {}, "next\n"));
  auto r = h2curl({url("/next")});
  EXPECT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_EQ(r.out, "next\n");
}

// Sends `streams` requests in batches of `batch`, each stream made by `make(id)`; after each
// batch reads until every stream of it was reset or a GOAWAY came. Returns the GOAWAY's error
// code (-1 when none came) and, in `answered`, the streams reset before it.
int sendUntilGoaway(TcpClient& c, int streams, int batch,
                    const std::function<std::string(uint32_t)>& make, int& answered) {
  answered = 0;
  uint32_t id = 1;
  for (int sent = 0; sent < streams; sent += batch) {
    std::string bytes;
    std::set<uint32_t> open;
    for (int i = 0; i < batch; ++i, id += 2) {
      bytes += make(id);
      open.insert(id);
    }
    if (!c.send(bytes)) return -1;
    std::vector<hf::Frame> seen;
    int goaway = -1;
    bool done = hf::readUntilFrame(
        c, seen,
        [&](const hf::Frame& f) {
          if (f.type == hf::kRstStream && open.erase(f.stream) == 1) ++answered;
          if (f.type == hf::kGoaway && f.payload.size() == 8)
            goaway = static_cast<uint8_t>(f.payload[7]);
          return goaway >= 0 || open.empty();
        },
        kWait);
    if (goaway >= 0) return goaway;
    if (!done) return -1;
  }
  return -1;
}

// Streams that lie about their content-length are reset by nghttp2 itself; those resets
// count toward the limit like any other, and none of them costs an upstream connect.
TEST_F(Http2Test, ContentLengthMismatchResetsGetGoawayAndNoUpstreamConnects) {
  const int kLimit = 50;
  ASSERT_TRUE(startProxy("{ http2_max_resets_per_second: " + std::to_string(kLimit) + " }"));
  long long connects = metric("meridian_upstream_connects_total");
  TcpClient c;
  ASSERT_TRUE(rawConnect(c));
  int answered = 0;
  int code = sendUntilGoaway(
      c, 3000, 40,
      [](uint32_t id) {
        return hf::frame(hf::kHeaders, hf::kEndHeaders, id,
                         hf::requestBlock("/cl", "POST", {{"content-length", "1"}})) +
               hf::frame(hf::kData, hf::kEndStream, id, "ab");
      },
      answered);
  ASSERT_EQ(code, hf::kEnhanceYourCalm) << "no GOAWAY after " << answered << " resets";
  EXPECT_LE(answered, 3 * kLimit);  // the window is a second: allow it to turn over
  EXPECT_TRUE(c.readUntilClose(kWait));
  EXPECT_EQ(metric("meridian_limit_rejections_total{reason=\"http2_rapid_reset\"}"), 1);
  EXPECT_EQ(metric("meridian_upstream_connects_total"), connects);
  EXPECT_EQ(upstream_.acceptedConnections(), 0u);
}

// A request whose declared body is large starts after its first 16 KiB, so it may connect
// upstream before its body turns out short; the reset limit bounds those connects.
TEST_F(Http2Test, BodiesCutShortAfterTheirStartAreBoundedByTheResetLimit) {
  const int kLimit = 30;
  ASSERT_TRUE(startProxy("{ http2_max_resets_per_second: " + std::to_string(kLimit) + " }"));
  upstream_.setHandler([](const fakes::ReceivedRequest&) { return Action::hang(); });
  long long connects = metric("meridian_upstream_connects_total");
  TcpClient c;
  ASSERT_TRUE(rawConnect(c));
  const std::string chunk(16384, 'x');
  int answered = 0;
  int code = sendUntilGoaway(
      c, 600, 20,
      [&chunk](uint32_t id) {
        return hf::frame(hf::kHeaders, hf::kEndHeaders, id,
                         hf::requestBlock("/short", "POST", {{"content-length", "40000"}})) +
               hf::frame(hf::kData, 0, id, chunk) + hf::frame(hf::kData, hf::kEndStream, id, "y");
      },
      answered);
  ASSERT_EQ(code, hf::kEnhanceYourCalm) << "no GOAWAY after " << answered << " resets";
  EXPECT_TRUE(c.readUntilClose(kWait));
  long long opened = metric("meridian_upstream_connects_total") - connects;
  EXPECT_GE(opened, 1);  // they did start: this is the path the limit has to bound
  EXPECT_LE(opened, 3 * kLimit);
}

// A declared body is waited for before the request goes upstream; once it is whole, the
// request goes with it.
TEST_F(Http2Test, DeclaredBodyIsWaitedForBeforeConnecting) {
  ASSERT_TRUE(startProxy());
  upstream_.enqueue(Action::respond(200, {}, "posted\n"));
  long long connects = metric("meridian_upstream_connects_total");
  TcpClient c;
  ASSERT_TRUE(rawConnect(c));
  ASSERT_TRUE(c.send(hf::frame(hf::kHeaders, hf::kEndHeaders, 1,
                               hf::requestBlock("/p", "POST", {{"content-length", "5"}})) +
                     hf::frame(hf::kData, 0, 1, "he") + hf::frame(hf::kPing, 0, 0, "12345678")));
  std::vector<hf::Frame> seen;
  ASSERT_TRUE(hf::readUntilFrame(
      c, seen, [](const hf::Frame& f) { return f.type == hf::kPing && (f.flags & hf::kAck); },
      kWait));
  // The PING was read after the HEADERS and the first DATA: nothing went upstream.
  EXPECT_EQ(metric("meridian_upstream_connects_total"), connects);
  ASSERT_TRUE(c.send(hf::frame(hf::kData, hf::kEndStream, 1, "llo")));
  std::string body;
  ASSERT_TRUE(hf::readUntilFrame(
      c, seen,
      [&body](const hf::Frame& f) {
        if (f.type == hf::kData && f.stream == 1) body += f.payload;
        return f.type == hf::kData && f.stream == 1 && (f.flags & hf::kEndStream);
      },
      kWait));
  EXPECT_EQ(body, "posted\n");
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  EXPECT_EQ(upstream_.request(0).body, "hello");
}

// A declared body that never comes is answered 408 after limits.header_timeout.
TEST_F(Http2Test, DeclaredBodyThatNeverComesGets408) {
  ASSERT_TRUE(startProxy("{ header_timeout: 200ms }"));
  TcpClient c;
  ASSERT_TRUE(rawConnect(c));
  ASSERT_TRUE(c.send(hf::frame(hf::kHeaders, hf::kEndHeaders, 1,
                               hf::requestBlock("/p", "POST", {{"content-length", "5"}})) +
                     hf::frame(hf::kData, 0, 1, "he")));
  std::vector<hf::Frame> seen;
  std::string body;
  ASSERT_TRUE(hf::readUntilFrame(
      c, seen,
      [&body](const hf::Frame& f) {
        if (f.type == hf::kData && f.stream == 1) body += f.payload;
        return f.type == hf::kData && f.stream == 1 && (f.flags & hf::kEndStream);
      },
      kWait));
  EXPECT_EQ(body, "408 Request Timeout: client_timeout\n");
  EXPECT_EQ(upstream_.acceptedConnections(), 0u);
  // The connection lives on.
  upstream_.enqueue(Action::respond(200, {}, "next\n"));
  ASSERT_TRUE(c.send(
      hf::frame(hf::kHeaders, hf::kEndStream | hf::kEndHeaders, 3, hf::requestBlock("/next"))));
  EXPECT_TRUE(hf::readUntilFrame(
      c, seen, [](const hf::Frame& f) { return f.type == hf::kData && f.stream == 3; }, kWait));
}

TEST_F(Http2Test, OversizedHeaderBlockIsRefusedAndTheNextClientServed) {
  ASSERT_TRUE(startProxy("{ max_header_bytes: 8KiB }"));
  long long before = metric("meridian_limit_rejections_total{reason=\"header_too_large\"}");
  auto r = h2curl({"-H", "x-big: " + std::string(20000, 'a'), "-w", "%{http_code}", "-o",
                   "/dev/null", url("/big-header")});
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_EQ(r.out, "431");
  EXPECT_EQ(metric("meridian_limit_rejections_total{reason=\"header_too_large\"}"), before + 1);
  EXPECT_EQ(upstream_.requestCount(), 0u);
  upstream_.enqueue(Action::respond(200, {}, "fine\n"));
  r = h2curl({url("/small")});
  EXPECT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_EQ(r.out, "fine\n");
}

TEST_F(Http2Test, ContinuationFloodClosesTheConnection) {
  ASSERT_TRUE(startProxy("{ http2_max_continuations: 4 }"));
  TcpClient c;
  ASSERT_TRUE(rawConnect(c));
  std::string flood = hf::frame(hf::kHeaders, hf::kEndStream, 1, hf::requestBlock("/c"));
  for (int i = 0; i < 50; ++i)
    flood += hf::frame(hf::kContinuation, 0, 1, std::string(1, 0x40) + "\x01x\x01y");
  c.send(flood);
  EXPECT_TRUE(c.readUntilClose(kWait));
  EXPECT_EQ(metric("meridian_limit_rejections_total{reason=\"http2_continuation_flood\"}"), 1);
  EXPECT_EQ(upstream_.requestCount(), 0u);
}

// SETTINGS frames whose ACKs the client never reads pile up in the outbound queue (nghttp2
// stops at 1000): a flood of well-formed frames, answered ENHANCE_YOUR_CALM, not
// PROTOCOL_ERROR.
TEST_F(Http2Test, SettingsFloodGetsGoawayEnhanceYourCalm) {
  ASSERT_TRUE(startProxy());
  TcpClient c;
  ASSERT_TRUE(rawConnect(c));
  std::string flood;
  for (int i = 0; i < 5000; ++i) flood += hf::frame(hf::kSettings, 0, 0, {});
  c.send(flood);
  std::vector<hf::Frame> seen;
  bool goaway = hf::readUntilFrame(
      c, seen, [](const hf::Frame& f) { return f.type == hf::kGoaway; }, kWait);
  ASSERT_TRUE(goaway) << "no GOAWAY after " << seen.size() << " frames";
  const hf::Frame& g = seen.back();
  ASSERT_EQ(g.payload.size(), 8u);
  EXPECT_EQ(static_cast<uint8_t>(g.payload[7]), hf::kEnhanceYourCalm);
  EXPECT_TRUE(c.readUntilClose(kWait));
  EXPECT_EQ(metric("meridian_limit_rejections_total{reason=\"http2_flood\"}"), 1);
}

TEST_F(Http2Test, MalformedRequestIsResetAndCounted) {
  ASSERT_TRUE(startProxy());
  TcpClient c;
  ASSERT_TRUE(rawConnect(c));
  long long before = metric("meridian_limit_rejections_total{reason=\"bad_request\"}");
  // A connection-specific header field is malformed in HTTP/2.
  ASSERT_TRUE(c.send(hf::frame(hf::kHeaders, hf::kEndStream | hf::kEndHeaders, 1,
                               hf::requestBlock("/m", "GET", {{"connection", "close"}}))));
  std::vector<hf::Frame> seen;
  ASSERT_TRUE(hf::readUntilFrame(
      c, seen, [](const hf::Frame& f) { return f.type == hf::kRstStream && f.stream == 1; },
      kWait));
  EXPECT_EQ(static_cast<uint8_t>(seen.back().payload[3]), 0x1);  // PROTOCOL_ERROR
  EXPECT_EQ(metric("meridian_limit_rejections_total{reason=\"bad_request\"}"), before + 1);
  EXPECT_EQ(upstream_.requestCount(), 0u);
}

// RFC 9113 8.3.1: a Host naming another origin than :authority makes the request malformed;
// it is reset, never routed by one and passed on with the other.
TEST_F(Http2Test, HostThatDisagreesWithAuthorityIsResetAndCounted) {
  ASSERT_TRUE(startProxy());
  TcpClient c;
  ASSERT_TRUE(rawConnect(c));
  long long before = metric("meridian_limit_rejections_total{reason=\"bad_request\"}");
  ASSERT_TRUE(c.send(hf::frame(hf::kHeaders, hf::kEndStream | hf::kEndHeaders, 1,
                               hf::requestBlock("/h", "GET", {{"host", "admin.internal"}}))));
  std::vector<hf::Frame> seen;
  ASSERT_TRUE(hf::readUntilFrame(
      c, seen, [](const hf::Frame& f) { return f.type == hf::kRstStream && f.stream == 1; },
      kWait));
  EXPECT_EQ(static_cast<uint8_t>(seen.back().payload[3]), 0x1);  // PROTOCOL_ERROR
  EXPECT_EQ(metric("meridian_limit_rejections_total{reason=\"bad_request\"}"), before + 1);
  // The same origin written another way is fine, on the same connection.
  ASSERT_TRUE(c.send(hf::frame(hf::kHeaders, hf::kEndStream | hf::kEndHeaders, 3,
                               hf::requestBlock("/h", "GET", {{"host", "H2.test:80"}}))));
  ASSERT_TRUE(hf::readUntilFrame(
      c, seen,
      [](const hf::Frame& f) { return f.stream == 3 && (f.flags & hf::kEndStream) != 0; }, kWait));
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  EXPECT_EQ(upstream_.requestCount(), 1u);
  EXPECT_EQ(upstream_.request(0).header("host"), "h2.test");
}

TEST_F(Http2Test, DrainSendsGoawayAndFinishesTheStreamInFlight) {
  ASSERT_TRUE(startProxy());
  upstream_.enqueue(Action::respond(200, {}, "finished\n").withDelay(milliseconds(300)));
  TcpClient c;
  ASSERT_TRUE(rawConnect(c));
  ASSERT_TRUE(c.send(
      hf::frame(hf::kHeaders, hf::kEndStream | hf::kEndHeaders, 1, hf::requestBlock("/slow"))));
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  auto d = curl({"-X", "POST", "-H", "Meridian-Admin: 1", proxy_.adminUrl("/drain")});
  ASSERT_EQ(d.exitCode, 0) << d.describe();
  std::vector<hf::Frame> seen;
  bool goaway = false;
  std::string body;
  ASSERT_TRUE(hf::readUntilFrame(
      c, seen,
      [&](const hf::Frame& f) {
        goaway = goaway || f.type == hf::kGoaway;
        if (f.type == hf::kData && f.stream == 1) body += f.payload;
        return f.type == hf::kData && f.stream == 1 && (f.flags & hf::kEndStream);
      },
      kWait));
  EXPECT_EQ(body, "finished\n");
  if (!goaway)
    hf::readUntilFrame(
        c, seen, [](const hf::Frame& f) { return f.type == hf::kGoaway; }, kWait);
  bool any_goaway = false;
  for (const auto& f : seen) any_goaway = any_goaway || f.type == hf::kGoaway;
  EXPECT_TRUE(any_goaway);
  EXPECT_TRUE(c.readUntilClose(kWait));
}

TEST_F(Http2Test, CurlOverTlsNegotiatesH2) {
  fakes::TempDir dir("h2tls");
  CommandResult certs = fakes::certsDev("127.0.0.1", dir.path() + "/dev");
  ASSERT_EQ(certs.exitCode, 0) << certs.describe();
  std::string d = dir.path() + "/dev";
  ASSERT_TRUE(proxy_.start(configYamlWith(tlsListener(d))));
  upstream_.enqueue(Action::respond(200, {}, "secure h2\n"));
  auto r = curl({"--http2", "--cacert", d + "/ca.pem", "-w", "%{http_version}",
                 "https://127.0.0.1:" + std::to_string(port()) + "/tls"});
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_EQ(r.out, "secure h2\n2");
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  EXPECT_EQ(upstream_.request(0).header("x-forwarded-proto"), "https");
}

}  // namespace
}  // namespace meridian::integration

namespace meridian::integration {
namespace {

// Trailers pass both ways. An upstream's chunked response with trailer fields reaches an h2
// client as a trailing HEADERS frame (hop-by-hop ones dropped), and an HTTP/1.1 client in the
// last chunk; an h2 client's trailers reach the upstream in the last chunk of a chunked body.
constexpr std::string_view kChunkedWithTrailers =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: grpc-status\r\n\r\n"
    "5\r\nhello\r\n0\r\nGrpc-Status: 0\r\nConnection: close\r\nX-Digest: abc\r\n\r\n";

TEST_F(Http2Test, ResponseTrailersReachAnH2ClientAsTrailingHeaders) {
  ASSERT_TRUE(startProxy());
  upstream_.enqueue(Action::raw(std::string(kChunkedWithTrailers)));
  CommandResult r = fakes::runCommand({"nghttp", "-v", "-t", "20", url("/t")}, milliseconds(30000));
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_NE(r.out.find("hello"), std::string::npos) << r.out;
  // The trailing block comes after the DATA: its fields are printed after the body's frame.
  size_t data = r.out.find("recv DATA frame");
  size_t status = r.out.find("grpc-status: 0");
  ASSERT_NE(data, std::string::npos) << r.out;
  ASSERT_NE(status, std::string::npos) << r.out;
  EXPECT_GT(status, data) << r.out;
  EXPECT_NE(r.out.find("x-digest: abc"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("connection: close"), std::string::npos) << "hop-by-hop trailer passed";
}

TEST_F(Http2Test, ResponseTrailersReachAnHttp11ClientInTheLastChunk) {
  ASSERT_TRUE(startProxy());
  upstream_.enqueue(Action::raw(std::string(kChunkedWithTrailers)));
  auto r = curl({"--http1.1", "--raw", url("/t")});
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_NE(r.out.find("5\r\nhello\r\n0\r\nGrpc-Status: 0\r\nX-Digest: abc\r\n\r\n"),
            std::string::npos)
      << r.out;
}

TEST_F(Http2Test, RequestTrailersFromAnH2ClientReachTheUpstream) {
  ASSERT_TRUE(startProxy());
  upstream_.enqueue(Action::respond(200, {}, "ok\n"));
  // No content-length: the body goes upstream chunked, and its trailers in the last chunk.
  TcpClient c;
  ASSERT_TRUE(rawConnect(c));
  ASSERT_TRUE(c.send(hf::frame(hf::kHeaders, hf::kEndHeaders, 1, hf::requestBlock("/up", "POST")) +
                     hf::frame(hf::kData, 0, 1, "hello") +
                     hf::frame(hf::kHeaders, hf::kEndHeaders | hf::kEndStream, 1,
                               hf::fieldBlock({{"x-checksum", "1234"}, {"te", "trailers"}}))));
  std::vector<hf::Frame> seen;
  ASSERT_TRUE(hf::readUntilFrame(
      c, seen, [](const hf::Frame& f) { return f.stream == 1 && (f.flags & hf::kEndStream) != 0; },
      kWait));
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  auto req = upstream_.request(0);
  EXPECT_TRUE(req.chunked);
  EXPECT_EQ(req.body, "hello");
  EXPECT_EQ(fakes::findHeader(req.trailers, "x-checksum"), "1234");
  EXPECT_FALSE(fakes::hasHeader(req.trailers, "te"));  // hop-by-hop

  // With a content-length the body keeps it, and HTTP/1.1 has no place for trailers.
  upstream_.enqueue(Action::respond(200, {}, "ok\n"));
  TcpClient d;
  ASSERT_TRUE(rawConnect(d));
  ASSERT_TRUE(d.send(hf::frame(hf::kHeaders, hf::kEndHeaders, 1,
                               hf::requestBlock("/up", "POST", {{"content-length", "5"}})) +
                     hf::frame(hf::kData, 0, 1, "hello") +
                     hf::frame(hf::kHeaders, hf::kEndHeaders | hf::kEndStream, 1,
                               hf::fieldBlock({{"x-checksum", "1234"}}))));
  seen.clear();
  ASSERT_TRUE(hf::readUntilFrame(
      d, seen, [](const hf::Frame& f) { return f.stream == 1 && (f.flags & hf::kEndStream) != 0; },
      kWait));
  ASSERT_TRUE(upstream_.waitForRequests(2, kWait));
  EXPECT_EQ(upstream_.request(1).body, "hello");
  EXPECT_TRUE(upstream_.request(1).trailers.empty());
}

}  // namespace
}  // namespace meridian::integration

namespace meridian::integration {
namespace {

// A masked client text frame (RFC 6455 5.3), payload under 126 bytes.
std::string maskedTextFrame(std::string_view payload) {
  const char mask[4] = {0x11, 0x22, 0x33, 0x44};
  std::string f;
  f += static_cast<char>(0x81);  // FIN, text
  f += static_cast<char>(0x80 | payload.size());
  f.append(mask, 4);
  for (size_t i = 0; i < payload.size(); ++i) f += static_cast<char>(payload[i] ^ mask[i % 4]);
  return f;
}

// RFC 8441: WebSocket over an h2 stream. The extended CONNECT becomes an HTTP/1.1 upgrade
// upstream; the 101 comes back as a 200, and frames ride DATA both ways.
TEST_F(Http2Test, WebSocketOverExtendedConnectEchoes) {
  ASSERT_TRUE(startProxy());
  upstream_.setHandler([](const fakes::ReceivedRequest&) { return Action::webSocketEcho(); });
  TcpClient c;
  ASSERT_TRUE(rawConnect(c));
  ASSERT_TRUE(c.send(
      hf::frame(hf::kHeaders, hf::kEndHeaders, 1,
                hf::requestBlock("/ws", "CONNECT",
                                 {{":protocol", "websocket"}, {"sec-websocket-version", "13"}}))));
  std::vector<hf::Frame> seen;
  ASSERT_TRUE(hf::readUntilFrame(
      c, seen, [](const hf::Frame& f) { return f.type == hf::kHeaders && f.stream == 1; }, kWait));
  const hf::Frame& head = seen.back();
  EXPECT_FALSE(head.flags & hf::kEndStream);
  // :status 200 is entry 8 of HPACK's static table: an indexed field, 0x88.
  ASSERT_FALSE(head.payload.empty());
  EXPECT_EQ(static_cast<uint8_t>(head.payload[0]), 0x88) << "not a 200";

  ASSERT_TRUE(c.send(hf::frame(hf::kData, 0, 1, maskedTextFrame("over h2"))));
  std::string echoed;
  seen.clear();
  ASSERT_TRUE(hf::readUntilFrame(
      c, seen,
      [&echoed](const hf::Frame& f) {
        if (f.type == hf::kData && f.stream == 1) echoed += f.payload;
        return echoed.size() >= 9;
      },
      kWait));
  EXPECT_EQ(echoed, std::string("\x81\x07over h2", 9));  // unmasked, as the upstream sends it

  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  auto req = upstream_.request(0);
  EXPECT_EQ(req.method, "GET");
  EXPECT_TRUE(fakes::headerHasToken(req.headers, "upgrade", "websocket"));
  EXPECT_FALSE(req.header("sec-websocket-key").empty());
}

}  // namespace
}  // namespace meridian::integration
