// Exchange, Forwarding: the request head and body stream upstream (re-framed), with
// back-pressure on the client and the body-idle timeout.
#include <gtest/gtest.h>

#include "tests/fakes/dead_ports.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/unit/proxy/exchange/exchange_fakes.h"

namespace meridian::proxy::exchange_test {
namespace {

using fakes::Action;
using fakes::FakeUpstream;
using fakes::ReceivedRequest;

Action echo(const ReceivedRequest&) {
  return Action::echo();
}

TEST(ExchangeForward, ContentLengthBodyStreamsAsItArrives) {
  FakeUpstream ams;
  ams.setHandler(echo);
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  FakeClientSide client(host);
  client.startRequest("PUT /doc HTTP/1.1\r\nHost: app.test\r\nContent-Length: 11\r\n\r\nhello");
  ASSERT_TRUE(host.runUntil("upstream connection", [&] { return ams.acceptedConnections() == 1; }));
  host.runFor(10ms);
  EXPECT_EQ(ams.requestCount(), 0u);  // 6 bytes still to come
  client.send(" world");
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 200);
  EXPECT_EQ(client.view().body, "hello world");
  ASSERT_EQ(ams.requestCount(), 1u);
  ReceivedRequest got = ams.request(0);
  EXPECT_EQ(got.header("content-length"), "11");
  EXPECT_FALSE(got.chunked);
  EXPECT_EQ(got.body, "hello world");
  EXPECT_TRUE(client.keepAlive());
}

TEST(ExchangeForward, ChunkedBodyIsReChunkedWithItsTrailers) {
  FakeUpstream ams;
  ams.setHandler(echo);
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  FakeClientSide client(host);
  client.startRequest(
      "POST /up HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
  ASSERT_TRUE(host.runUntil("upstream connection", [&] { return ams.acceptedConnections() == 1; }));
  client.send("lo\r\n");
  host.runFor(5ms);
  client.send("6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n");
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 200);
  EXPECT_EQ(client.view().body, "hello world");
  ASSERT_EQ(ams.requestCount(), 1u);
  ReceivedRequest got = ams.request(0);
  EXPECT_TRUE(got.chunked);
  EXPECT_EQ(got.body, "hello world");
  EXPECT_EQ(fakes::findHeader(got.trailers, "x-sum"), "42");
  EXPECT_TRUE(client.keepAlive());
}

TEST(ExchangeForward, BadChunkedBodyIs400) {
  FakeUpstream ams;
  ams.enqueue(Action::hang());
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  FakeClientSide client(host);
  client.startRequest("POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n");
  ASSERT_TRUE(host.runUntil("upstream connection", [&] { return ams.acceptedConnections() == 1; }));
  client.send("zz\r\n");
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.errorStatus(), 400);
  EXPECT_FALSE(client.keepAlive());
  EXPECT_EQ(host.counter(Counter::BadRequest), 1u);
}

TEST(ExchangeForward, ChunkedBodyOverTheLimitIs413) {
  FakeUpstream ams;
  ams.enqueue(Action::hang());
  RouteSpec spec;
  spec.limits = "{ max_body_bytes: 8 }";
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}, spec));
  FakeClientSide client(host);
  client.startRequest("POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n");
  ASSERT_TRUE(host.runUntil("upstream connection", [&] { return ams.acceptedConnections() == 1; }));
  client.send("9\r\n123456789\r\n");
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.errorStatus(), 413);
  EXPECT_EQ(host.counter(Counter::BodyTooLarge), 1u);
}

// Meridian answers Expect itself, once there is an upstream for the body to go to.
TEST(ExchangeForward, ExpectContinueIsAnsweredOnceConnected) {
  FakeUpstream ams;
  ams.setHandler(echo);
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  FakeClientSide client(host);
  client.startRequest(
      "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(client.continues(), 0);  // not before the upstream connection is there
  ASSERT_TRUE(host.runUntil("100 Continue", [&] { return client.continues() == 1; }));
  client.send("data");
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  ClientView v = client.view();
  EXPECT_EQ(v.interim, std::vector<int>{100});
  EXPECT_EQ(v.status, 200);
  EXPECT_EQ(v.body, "data");
  ASSERT_EQ(ams.requestCount(), 1u);
  EXPECT_FALSE(ams.request(0).hasHeader("expect"));
  EXPECT_EQ(client.continues(), 1);
}

TEST(ExchangeForward, ExpectContinueIsNotSentWhenTheBodyIsAlreadyHere) {
  FakeUpstream ams;
  ams.setHandler(echo);
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  FakeClientSide client(host);
  client.startRequest(
      "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
      "data");
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.continues(), 0);
  EXPECT_EQ(client.view().body, "data");
}

// Body bytes that arrive before there is an upstream wait in the client's buffer, bounded:
// past the high watermark the client is paused, and resumed once the bytes can move.
TEST(ExchangeForward, BodyBeforeTheConnectionPausesTheClient) {
  FakeUpstream ams;
  ams.setHandler(echo);
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  FakeClientSide client(host);
  const size_t size = highWatermark(host) + 1024;
  client.startRequest("PUT / HTTP/1.1\r\nHost: app.test\r\nContent-Length: " +
                      std::to_string(size) + "\r\n\r\n");
  client.send(fakes::patternBytes(0, size));  // still Connecting: nothing can move yet
  EXPECT_TRUE(client.inputPaused());
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  ASSERT_EQ(ams.requestCount(), 1u);
  EXPECT_EQ(ams.request(0).bodyBytes, size);
  EXPECT_TRUE(fakes::matchesPattern(ams.request(0).body));
  EXPECT_EQ(client.view().body.size(), size);
}

// The client stops sending its body while Meridian waits for more: 408 after `idle`.
TEST(ExchangeForward, StalledBodyIs408AfterTheIdleTimeout) {
  FakeUpstream ams;
  ams.enqueue(Action::hang());
  RouteSpec spec;
  spec.timeouts = "{ connect: 200ms, per_try: 300ms, request: 600ms, idle: 60ms }";
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}, spec));
  FakeClientSide client(host);
  client.startRequest("POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 10\r\n\r\nabc");
  auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_GE(std::chrono::steady_clock::now() - started, 60ms);
  EXPECT_EQ(client.errorStatus(), 408);
  EXPECT_EQ(client.errorCode(), "client_timeout");
  EXPECT_FALSE(client.keepAlive());
  EXPECT_EQ(host.counter(Counter::UpstreamTimeouts), 0u);  // not the upstream's fault
  ASSERT_TRUE(host.runUntil("upstream closed", [&] { return ams.openConnections() == 0; }));
}

// A client that half-closes after its whole request still gets the response.
TEST(ExchangeForward, HalfCloseAfterTheRequestStillGetsTheResponse) {
  FakeUpstream ams;
  ams.enqueue(Action::respond(200, {}, "late").withDelay(20ms));
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  FakeClientSide client(host);
  client.startRequest("GET / HTTP/1.1\r\nHost: app.test\r\n\r\n");
  ASSERT_TRUE(host.runUntil("upstream request", [&] { return ams.requestCount() == 1; }));
  client.closeInput();
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_TRUE(client.done());
  EXPECT_EQ(client.view().body, "late");
  EXPECT_FALSE(client.keepAlive());  // nothing more can come on it
}

}  // namespace
}  // namespace meridian::proxy::exchange_test
