// Self-tests of the test fakes: FakeUpstream (through raw sockets and curl), TcpClient and the
// process harness. They use no Meridian code, so they run before the proxy exists.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/meridian_process.h"
#include "tests/fakes/subprocess.h"
#include "tests/fakes/tcp_client.h"

namespace meridian::fakes {
namespace {

using namespace std::chrono_literals;

constexpr milliseconds kWait = 5s;  // generous: only a broken fake ever waits this long

std::string get(std::string_view path, std::string_view extra = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: fake\r\n" + std::string(extra) + "\r\n";
}

std::string url(const FakeUpstream& up, std::string_view path) {
  return "http://" + up.address() + std::string(path);
}

TEST(FakeUpstream, KeepAliveServesTwoRequestsOnOneConnection) {
  FakeUpstream up;
  up.enqueue(Action::respond(200, {{"X-N", "1"}}, "first"));
  up.enqueue(Action::respond(201, {{"X-N", "2"}}, "second"));
  TcpClient client;
  ASSERT_TRUE(client.connect(up.port()));
  HttpResponse r1, r2;
  ASSERT_TRUE(client.send(get("/a")));
  ASSERT_TRUE(client.readResponse(r1, kWait));
  ASSERT_TRUE(client.send(get("/b")));
  ASSERT_TRUE(client.readResponse(r2, kWait));
  EXPECT_EQ(r1.status, 200);
  EXPECT_EQ(r1.body, "first");
  EXPECT_EQ(r2.status, 201);
  EXPECT_EQ(r2.body, "second");
  EXPECT_EQ(r2.header("x-n"), "2");
  ASSERT_TRUE(up.waitForRequests(2, kWait));
  auto requests = up.requests();
  EXPECT_EQ(requests[0].requestLine, "GET /a HTTP/1.1");
  EXPECT_EQ(requests[1].target, "/b");
  EXPECT_EQ(requests[0].connectionId, requests[1].connectionId);
  EXPECT_EQ(up.acceptedConnections(), 1u);
}

TEST(FakeUpstream, PipelinedRequestsAreAnsweredInOrder) {
  FakeUpstream up;
  up.setHandler([](const ReceivedRequest& r) { return Action::respond(200, {}, r.target); });
  up.enqueue(Action::respond(200, {}, "slow").withDelay(50ms));  // the first must still come first
  TcpClient client;
  ASSERT_TRUE(client.connect(up.port()));
  ASSERT_TRUE(client.send(get("/one") + get("/two") + get("/three")));
  HttpResponse r;
  ASSERT_TRUE(client.readResponse(r, kWait));
  EXPECT_EQ(r.body, "slow");
  ASSERT_TRUE(client.readResponse(r, kWait));
  EXPECT_EQ(r.body, "/two");
  ASSERT_TRUE(client.readResponse(r, kWait));
  EXPECT_EQ(r.body, "/three");
  EXPECT_EQ(up.acceptedConnections(), 1u);
}

TEST(FakeUpstream, CurlReusesTheConnectionAndHeadersAreRecordedInOrder) {
  FakeUpstream up;
  auto run = curl({"-H", "X-First: 1", "-H", "x-second: two", url(up, "/a"), url(up, "/b")});
  ASSERT_EQ(run.exitCode, 0) << run.describe();
  EXPECT_EQ(run.out, "ok\nok\n");
  ASSERT_TRUE(up.waitForRequests(2, kWait));
  EXPECT_EQ(up.acceptedConnections(), 1u);
  ReceivedRequest r = up.request(0);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.header("host"), up.address());
  std::vector<std::string> names;
  for (const Header& h : r.headers) names.push_back(h.name);
  auto first = std::find(names.begin(), names.end(), "X-First");
  auto second = std::find(names.begin(), names.end(), "x-second");
  ASSERT_NE(first, names.end());
  ASSERT_NE(second, names.end());
  EXPECT_LT(first, second);
}

TEST(FakeUpstream, ChunkedRequestBodyIsDecoded) {
  FakeUpstream up;
  up.enqueue(Action::echo());
  TcpClient client;
  ASSERT_TRUE(client.connect(up.port()));
  ASSERT_TRUE(
      client.send("POST /up HTTP/1.1\r\nHost: fake\r\nTransfer-Encoding: chunked\r\n"
                  "Content-Type: text/x-test\r\n\r\n"
                  "5;ext=1\r\nhello\r\n"));
  ASSERT_TRUE(client.send("7\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n"));
  HttpResponse r;
  ASSERT_TRUE(client.readResponse(r, kWait));
  EXPECT_EQ(r.body, "hello, world");
  EXPECT_EQ(r.header("content-type"), "text/x-test");
  ReceivedRequest got = up.request(0);
  EXPECT_TRUE(got.chunked);
  EXPECT_EQ(got.body, "hello, world");
  EXPECT_EQ(got.bodyBytes, 12u);
  ASSERT_EQ(got.trailers.size(), 1u);
  EXPECT_EQ(got.trailers[0].name, "X-Trailer");
}

TEST(FakeUpstream, CurlChunkedUploadAndEcho) {
  FakeUpstream up;
  up.setHandler([](const ReceivedRequest&) { return Action::echo(); });
  std::string payload = patternBytes(0, 300'000);
  auto run = runCommand({"curl", "-sS", "--max-time", "20", "-H", "Transfer-Encoding: chunked",
                         "--data-binary", "@-", url(up, "/echo")},
                        30s, payload);
  ASSERT_EQ(run.exitCode, 0) << run.describe();
  EXPECT_EQ(run.out.size(), payload.size());
  EXPECT_TRUE(run.out == payload);
  ReceivedRequest got = up.request(0);
  EXPECT_TRUE(got.chunked);
  EXPECT_EQ(got.body.size(), payload.size());
  EXPECT_TRUE(matchesPattern(got.body));
}

TEST(FakeUpstream, LargeUploadWithExpectContinue) {
  FakeUpstream up;
  TempDir dir("upload");
  std::string file = dir.write("body.bin", patternBytes(0, 3 * 1024 * 1024));
  auto run = curl({"-H", "Expect: 100-continue", "--data-binary", "@" + file, "-o", "/dev/null",
                   "-w", "%{http_code}", url(up, "/big")});
  ASSERT_EQ(run.exitCode, 0) << run.describe();
  EXPECT_EQ(run.out, "200");
  ReceivedRequest got = up.request(0);
  EXPECT_EQ(got.header("expect"), "100-continue");
  EXPECT_EQ(got.bodyBytes, 3u * 1024 * 1024);
  EXPECT_TRUE(matchesPattern(got.body));
}

TEST(FakeUpstream, ChunkedResponseAndHead) {
  FakeUpstream up;
  up.enqueue(Action::respond(200, {}, patternBytes(0, 100'000)).withChunked(1000));
  up.enqueue(Action::respond(200, {}, "not sent for HEAD"));
  TcpClient client;
  ASSERT_TRUE(client.connect(up.port()));
  HttpResponse r;
  ASSERT_TRUE(client.send(get("/c")));
  ASSERT_TRUE(client.readResponse(r, kWait));
  EXPECT_TRUE(r.chunked);
  EXPECT_EQ(r.body.size(), 100'000u);
  EXPECT_TRUE(matchesPattern(r.body));
  ASSERT_TRUE(client.send("HEAD /h HTTP/1.1\r\nHost: fake\r\n\r\n"));
  ASSERT_TRUE(client.readResponse(r, kWait, /*requestWasHead=*/true));
  EXPECT_EQ(r.header("content-length"), "17");
  EXPECT_EQ(r.body, "");
  EXPECT_TRUE(client.received().empty());
}

TEST(FakeUpstream, StreamsA100MiBBodyToCurl) {
  FakeUpstream up;
  constexpr uint64_t kSize = 100ull * 1024 * 1024;
  up.enqueue(Action::stream(kSize));
  up.enqueue(Action::stream(3'000'000).withChunked(70'000));
  auto run = curl({"-o", "/dev/null", "-o", "/dev/null", "-w", "%{size_download}\n",
                   url(up, "/big"), url(up, "/chunked")});
  ASSERT_EQ(run.exitCode, 0) << run.describe();
  EXPECT_EQ(run.out, std::to_string(kSize) + "\n3000000\n");
  EXPECT_EQ(up.acceptedConnections(), 1u);
}

TEST(FakeUpstream, StreamedBodyBytesFollowThePattern) {
  FakeUpstream up;
  up.enqueue(Action::stream(1'000'003));
  TcpClient client;
  ASSERT_TRUE(client.connect(up.port()));
  ASSERT_TRUE(client.send(get("/s")));
  HttpResponse r;
  ASSERT_TRUE(client.readResponse(r, kWait));
  EXPECT_EQ(r.header("content-length"), "1000003");
  EXPECT_EQ(r.body.size(), 1'000'003u);
  EXPECT_TRUE(matchesPattern(r.body));
}

TEST(FakeUpstream, ResetAfterNBytesOfResponse) {
  FakeUpstream up;
  std::string body(10'000, 'x');
  up.enqueue(Action::respond(200, {}, body).withResetAfter(50));
  TcpClient client;
  ASSERT_TRUE(client.connect(up.port()));
  ASSERT_TRUE(client.send(get("/r")));
  ASSERT_TRUE(client.readUntilClose(kWait));
  EXPECT_TRUE(client.resetByPeer());
  EXPECT_LE(client.received().size(), 50u);
  EXPECT_EQ(client.received(),
            std::string("HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n" + body)
                .substr(0, client.received().size()));
  ASSERT_TRUE(up.waitForOpenConnections(0, kWait));
}

TEST(FakeUpstream, ResetMidStreamIsSeenByCurl) {
  FakeUpstream up;
  up.enqueue(Action::stream(10'000'000).withResetAfter(1'000'000));
  auto run = curl({"-o", "/dev/null", url(up, "/r")});
  EXPECT_EQ(run.exitCode, 56) << run.describe();  // CURLE_RECV_ERROR: connection reset
}

TEST(FakeUpstream, ResetAndCloseWithoutResponse) {
  FakeUpstream up;
  up.enqueue(Action::reset());
  up.enqueue(Action::closeWithoutResponse());
  TcpClient a;
  ASSERT_TRUE(a.connect(up.port()));
  ASSERT_TRUE(a.send(get("/reset")));
  ASSERT_TRUE(a.readUntilClose(kWait));
  EXPECT_TRUE(a.resetByPeer());
  EXPECT_EQ(a.received(), "");
  TcpClient b;
  ASSERT_TRUE(b.connect(up.port()));
  ASSERT_TRUE(b.send(get("/close")));
  ASSERT_TRUE(b.readUntilClose(kWait));
  EXPECT_FALSE(b.resetByPeer());
  EXPECT_EQ(b.received(), "");
  auto run = curl({url(up, "/after")});  // the default handler is back
  EXPECT_EQ(run.out, "ok\n");
}

TEST(FakeUpstream, HangNeverAnswersAndWaitsStayBounded) {
  FakeUpstream up;
  up.enqueue(Action::hang());
  TcpClient client;
  ASSERT_TRUE(client.connect(up.port()));
  ASSERT_TRUE(client.send(get("/hang")));
  ASSERT_TRUE(up.waitForRequests(1, kWait));
  EXPECT_EQ(up.request(0).target, "/hang");
  // Bounded negative checks: a wait that cannot succeed returns at its deadline.
  auto start = std::chrono::steady_clock::now();
  auto more = up.waitForRequests(2, 100ms);
  EXPECT_FALSE(more);
  EXPECT_NE(std::string(more.message()).find("/hang"), std::string::npos);
  EXPECT_FALSE(client.readUntil([](std::string_view got) { return !got.empty(); }, 100ms));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_EQ(up.closeIdleConnections(), 0u);  // a hanging request is not idle
  EXPECT_EQ(up.closeAllConnections(), 1u);
  ASSERT_TRUE(client.readUntilClose(kWait));
}

TEST(FakeUpstream, DelayHoldsTheResponse) {
  FakeUpstream up;
  up.enqueue(Action::respond(200, {}, "late").withDelay(150ms));
  auto start = std::chrono::steady_clock::now();
  auto run = curl({url(up, "/d")});
  EXPECT_EQ(run.out, "late");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
}

TEST(FakeUpstream, RefuseThenReopenOnTheSamePort) {
  FakeUpstream up;
  uint16_t port = up.port();
  TcpClient before;
  ASSERT_TRUE(before.connect(port));  // an accepted connection survives refuse()
  ASSERT_TRUE(up.waitForConnections(1, kWait));
  up.refuse();
  TcpClient refused;
  auto connected = refused.connect(port);
  EXPECT_FALSE(connected);
  EXPECT_NE(std::string(connected.message()).find("refused"), std::string::npos)
      << connected.message();
  auto run = curl({url(up, "/x")});
  EXPECT_EQ(run.exitCode, 7) << run.describe();  // CURLE_COULDNT_CONNECT
  ASSERT_TRUE(before.send(get("/still")));
  HttpResponse r;
  ASSERT_TRUE(before.readResponse(r, kWait));
  ASSERT_TRUE(up.reopen());
  EXPECT_EQ(up.port(), port);
  run = curl({url(up, "/again")});
  EXPECT_EQ(run.exitCode, 0) << run.describe();
  EXPECT_EQ(run.out, "ok\n");
  EXPECT_EQ(up.acceptedConnections(), 2u);
}

TEST(FakeUpstream, IdleTimeoutAndCloseIdleConnections) {
  FakeUpstream::Options options;
  options.idleTimeout = 100ms;
  FakeUpstream up(options);
  TcpClient client;
  ASSERT_TRUE(client.connect(up.port()));
  ASSERT_TRUE(client.send(get("/i")));
  HttpResponse r;
  ASSERT_TRUE(client.readResponse(r, kWait));
  ASSERT_TRUE(client.readUntilClose(kWait));  // closed by the idle timer
  EXPECT_FALSE(client.resetByPeer());
  ASSERT_TRUE(up.waitForOpenConnections(0, kWait));

  up.setIdleTimeout(0ms);
  up.enqueue(Action::hang());
  TcpClient busy, idle;
  ASSERT_TRUE(busy.connect(up.port()));
  ASSERT_TRUE(busy.send(get("/busy")));
  ASSERT_TRUE(up.waitForRequests(2, kWait));
  ASSERT_TRUE(idle.connect(up.port()));
  ASSERT_TRUE(up.waitForConnections(3, kWait));
  EXPECT_EQ(up.closeIdleConnections(), 1u);
  ASSERT_TRUE(idle.readUntilClose(kWait));
  EXPECT_EQ(up.openConnections(), 1u);
}

TEST(FakeUpstream, ConnectionCloseAndHttp10CloseAfterResponse) {
  FakeUpstream up;
  TcpClient a;
  ASSERT_TRUE(a.connect(up.port()));
  ASSERT_TRUE(a.send(get("/c", "Connection: close\r\n")));
  ASSERT_TRUE(a.readUntilClose(kWait));
  EXPECT_NE(a.received().find("Connection: close"), std::string::npos);
  TcpClient b;
  ASSERT_TRUE(b.connect(up.port()));
  ASSERT_TRUE(b.send("GET /old HTTP/1.0\r\n\r\n"));
  ASSERT_TRUE(b.readUntilClose(kWait));
  EXPECT_NE(b.received().find("\r\n\r\nok\n"), std::string::npos);
}

TEST(FakeUpstream, RawResponseBytesAreSentVerbatim) {
  FakeUpstream up;
  std::string raw = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc";
  up.enqueue(Action::raw(raw).withClose());
  TcpClient client;
  ASSERT_TRUE(client.connect(up.port()));
  ASSERT_TRUE(client.send(get("/raw")));
  ASSERT_TRUE(client.readUntilClose(kWait));
  EXPECT_EQ(client.received(), raw);
}

// RFC 6455 section 1.3 gives this key and accept value.
TEST(FakeUpstream, RawCloseDelimitedResponseClosesTheConnection) {
  FakeUpstream up;
  up.enqueue(Action::raw("HTTP/1.1 200 OK\r\n\r\nuntil-close"));
  auto run = curl({url(up, "/raw")});
  EXPECT_EQ(run.exitCode, 0) << run.describe();
  EXPECT_EQ(run.out, "until-close");
  ASSERT_TRUE(up.waitForOpenConnections(0, kWait));
}

TEST(FakeUpstream, WebSocketAcceptMatchesRfc6455Example) {
  EXPECT_EQ(webSocketAccept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(FakeUpstream, WebSocketUpgradeAndEcho) {
  FakeUpstream up;
  up.enqueue(Action::webSocketEcho());
  TcpClient client;
  ASSERT_TRUE(client.connect(up.port()));
  ASSERT_TRUE(client.send(get("/ws",
                              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n")));
  HttpResponse r;
  ASSERT_TRUE(client.readResponse(r, kWait));
  EXPECT_EQ(r.status, 101);
  EXPECT_EQ(r.header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_TRUE(headerHasToken(r.headers, "upgrade", "websocket"));

  std::string big(70'000, 'b');  // needs the 64-bit length form
  ASSERT_TRUE(client.send(encodeWebSocketFrame({true, 1, "hello"}, true) +
                          encodeWebSocketFrame({true, 2, big}, true) +
                          encodeWebSocketFrame({true, 9, "ping!"}, true)));
  WebSocketFrame frame;
  auto nextFrame = [&]() -> ::testing::AssertionResult {
    size_t used = 0;
    auto got = client.readUntil(
        [&](std::string_view data) { return (used = parseWebSocketFrame(data, frame)) > 0; },
        kWait);
    if (got) client.received().erase(0, used);
    return got;
  };
  ASSERT_TRUE(nextFrame());
  EXPECT_EQ(frame.opcode, 1);
  EXPECT_EQ(frame.payload, "hello");
  ASSERT_TRUE(nextFrame());
  EXPECT_EQ(frame.opcode, 2);
  EXPECT_EQ(frame.payload, big);
  ASSERT_TRUE(nextFrame());
  EXPECT_EQ(frame.opcode, 10);  // pong
  EXPECT_EQ(frame.payload, "ping!");
  // Server frames are unmasked: byte 1 has no mask bit.
  std::string wire = encodeWebSocketFrame({true, 1, "x"}, false);
  EXPECT_EQ(static_cast<uint8_t>(wire[1]) & 0x80, 0);

  ASSERT_TRUE(client.send(encodeWebSocketFrame({true, 8, std::string("\x03\xe8", 2)}, true)));
  ASSERT_TRUE(nextFrame());
  EXPECT_EQ(frame.opcode, 8);
  ASSERT_TRUE(client.readUntilClose(kWait));
  ASSERT_TRUE(up.waitForWebSocketFrames(4, kWait));
  EXPECT_EQ(up.webSocketFrames()[0].payload, "hello");
}

TEST(FakeUpstream, ManyConcurrentConnections) {
  FakeUpstream up;
  up.setHandler([](const ReceivedRequest& r) { return Action::respond(200, {}, r.target); });
  std::vector<TcpClient> clients(200);
  for (size_t i = 0; i < clients.size(); ++i) {
    ASSERT_TRUE(clients[i].connect(up.port()));
    ASSERT_TRUE(clients[i].send(get("/" + std::to_string(i))));
  }
  for (size_t i = 0; i < clients.size(); ++i) {
    HttpResponse r;
    ASSERT_TRUE(clients[i].readResponse(r, kWait));
    EXPECT_EQ(r.body, "/" + std::to_string(i));
  }
  EXPECT_TRUE(up.waitForConnections(200, kWait));
  EXPECT_EQ(up.requestCount(), 200u);
}

TEST(FakeUpstream, MalformedRequestGets400AndClose) {
  FakeUpstream up;
  TcpClient client;
  ASSERT_TRUE(client.connect(up.port()));
  ASSERT_TRUE(client.send("GET / HTTP/1.1\r\nbad header line\r\n\r\n"));
  ASSERT_TRUE(client.readUntilClose(kWait));
  EXPECT_EQ(client.received().rfind("HTTP/1.1 400", 0), 0u) << client.received();
  EXPECT_EQ(up.requestCount(), 0u);
}

// ---- Harness: subprocesses and the process runner ---------------------------------------------

TEST(Harness, RunCommandCapturesOutputAndStdin) {
  auto run = runCommand({"cat"}, 10s, "piped input");
  EXPECT_EQ(run.exitCode, 0);
  EXPECT_EQ(run.out, "piped input");
  run = runCommand({"sh", "-c", "echo oops >&2; exit 3"}, 10s);
  EXPECT_EQ(run.exitCode, 3);
  EXPECT_EQ(run.err, "oops\n");
}

TEST(Harness, RunCommandKillsAtTheDeadline) {
  auto start = std::chrono::steady_clock::now();
  auto run = runCommand({"sleep", "30"}, 200ms);
  EXPECT_TRUE(run.timedOut);
  EXPECT_EQ(run.termSignal, SIGKILL);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(Harness, ParsesTheReadyFile) {
  ReadyInfo info;
  ASSERT_TRUE(parseReadyFile(R"({"pid": 1234, "admin": "127.0.0.1:9901",
      "listeners": {"public": "127.0.0.1:8443", "tls": "[::1]:443"}})",
                             info));
  EXPECT_EQ(info.pid, 1234);
  EXPECT_EQ(portOf(info.admin), 9901);
  EXPECT_EQ(portOf(info.listeners.at("public")), 8443);
  EXPECT_EQ(portOf(info.listeners.at("tls")), 443);
  EXPECT_FALSE(parseReadyFile(R"({"pid": 1234, "admin": "127.0.0.1:99)", info));
  EXPECT_FALSE(parseReadyFile("", info));
}

// A stand-in binary, so the harness can be tested before Meridian serves: it writes the ready
// file from its arguments (run -c FILE --ready-file PATH) and waits for a signal.
class FakeBinary {
 public:
  explicit FakeBinary(const std::string& body) : dir_("fakebin") {
    path_ = dir_.write("meridian", "#!/bin/sh\n" + body);
    chmod(path_.c_str(), 0755);
    const char* old = getenv("MERIDIAN_BINARY");
    if (old != nullptr) old_ = old;
    setenv("MERIDIAN_BINARY", path_.c_str(), 1);
  }
  ~FakeBinary() {
    if (old_.empty())
      unsetenv("MERIDIAN_BINARY");
    else
      setenv("MERIDIAN_BINARY", old_.c_str(), 1);
  }

 private:
  TempDir dir_;
  std::string path_;
  std::string old_;
};

TEST(Harness, MeridianProcessStartsWaitsForReadyAndStops) {
  FakeBinary fake(R"sh(test "$1" = run || exit 2
echo "config: $(cat "$3")"
echo "starting" >&2
trap 'echo got-term; exit 0' TERM
printf '{"pid": %d, "admin": "127.0.0.1:4001", "listeners": {"public": "127.0.0.1:4002"}}' $$ > "$5.tmp"
mv "$5.tmp" "$5"
while :; do sleep 0.05; done
)sh");
  MeridianProcess proc;
  ASSERT_TRUE(proc.start("workers: 1\n"));
  EXPECT_EQ(proc.pid(), proc.ready().pid);
  EXPECT_EQ(proc.adminPort(), 4001);
  EXPECT_EQ(proc.listenerPort("public"), 4002);
  ASSERT_TRUE(proc.waitForOutput("config: workers: 1", kWait));
  EXPECT_NE(proc.stderrText().find("starting"), std::string::npos);
  ASSERT_TRUE(proc.signal(SIGTERM));
  auto exited = proc.waitExit(kWait);
  ASSERT_TRUE(exited);
  EXPECT_EQ(proc.exitCode(), 0);
  ASSERT_TRUE(proc.waitForOutput("got-term", kWait));
}

TEST(Harness, MeridianProcessReportsAnEarlyExit) {
  FakeBinary fake("echo 'config.yaml:1:1: unknown key' >&2\nexit 1\n");
  MeridianProcess proc;
  auto started = proc.start("bogus: 1\n");
  ASSERT_FALSE(started);
  EXPECT_NE(std::string(started.message()).find("unknown key"), std::string::npos);
  EXPECT_EQ(proc.exitCode(), 1);
}

TEST(Harness, RunValidatePassesTheConfigFile) {
  FakeBinary fake("test \"$1\" = validate && cat \"$3\" && echo \"$3:2:3: nope\" && exit 1\n");
  ValidateResult result = runValidate("a: 1\nb: 2\n");
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_EQ(result.output(), "a: 1\nb: 2\n" + result.configPath + ":2:3: nope\n");
}

}  // namespace
}  // namespace meridian::fakes
