// Who gets blamed, and who stays paused: passive health reports, the counters that say whose
// fault a timeout was, and the client's read pause. Each was wrong once (found by review):
// a 5xx reported twice, a queue wait reported as a connect failure, a client's stall counted
// as an upstream timeout, a client left paused after its body was sent.
#include <gtest/gtest.h>

#include "tests/fakes/dead_ports.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/unit/proxy/exchange/exchange_fakes.h"

namespace meridian::proxy::exchange_test {
namespace {

using fakes::Action;
using fakes::FakeUpstream;

constexpr char kGet[] = "GET / HTTP/1.1\r\nHost: app.test\r\n\r\n";

// A 5xx that reaches the client is one failed response, reported once to passive health. A
// status in `replay.on` that cannot be replayed was reported by divertResponse() and again by
// startResponse(): outlier ejection (consecutive_failures) tripped twice as fast.
TEST(ExchangeAccounting, UnreplayedStatusIsReportedToHealthOnce) {
  FakeUpstream ams;
  ams.enqueue(Action::respond(503, {}, "down"));
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));  // nowhere to replay to
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  ASSERT_EQ(client.view().status, 503);
  EXPECT_EQ(host.outcomesOf(health::Outcome::Status5xx), 1u);
  EXPECT_EQ(host.outcomes().size(), 1u);
}

// Once the whole body has gone upstream nothing holds the client back, so it must not stay
// paused: a paused HTTP/1 connection is not read, and a client that gives up while the
// upstream works on a slow answer goes unnoticed (no 499, the upstream keeps working). A pause
// taken while connecting (body past the high watermark) or while the upstream's buffer was
// full used to be undone only while the body was incomplete.
TEST(ExchangeAccounting, ClientIsResumedOnceItsBodyIsSent) {
  FakeUpstream ams;
  ams.enqueue(Action::hang());
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  FakeClientSide client(host);
  const size_t size = highWatermark(host) + 1024;
  client.startRequest("PUT / HTTP/1.1\r\nHost: app.test\r\nContent-Length: " +
                      std::to_string(size) + "\r\n\r\n");
  client.send(fakes::patternBytes(0, size));
  ASSERT_TRUE(client.inputPaused());  // still connecting: rightly paused
  ASSERT_TRUE(host.runUntil("whole body upstream", [&] { return ams.requestCount() == 1; }));
  host.runFor(10ms);
  EXPECT_FALSE(client.inputPaused());
}

// A request that waited in the pool's queue (this worker's own cap on connections to a busy
// endpoint) and timed out never tried to connect: that says nothing about the endpoint's
// health. It was reported as a ConnectFailure, so local saturation ejected a healthy endpoint.
TEST(ExchangeAccounting, PoolQueueTimeoutIsNotAConnectFailureOfTheEndpoint) {
  FakeUpstream ams, fra;
  ams.enqueue(Action::hang());
  RouteSpec spec;
  spec.timeouts = "{ connect: 50ms, per_try: 300ms, request: 600ms, idle: 300ms }";
  spec.cluster_extra = "    pool: { max_connections: 1, max_pending: 4 }\n";
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}, {"fra", fra.address()}}, spec));
  FakeClientSide busy(host), queued(host);
  busy.startRequest(kGet);  // holds the one connection to ams
  ASSERT_TRUE(host.runUntil("first request upstream", [&] { return ams.requestCount() == 1; }));
  queued.startRequest(kGet);  // waits for that connection
  ASSERT_TRUE(host.runUntil("second answered", [&] { return queued.finished(); }));
  EXPECT_EQ(queued.view().header("meridian-region"), "fra");  // moving on is right
  EXPECT_EQ(host.outcomesOf(health::Outcome::ConnectFailure), 0u);
  EXPECT_EQ(host.counter(Counter::UpstreamPoolWaitTimeouts), 1u);
  EXPECT_EQ(host.counter(Counter::UpstreamConnectTimeouts), 0u);
}

// `idle` bounds how long the exchange waits on the upstream. While a slow client has paused the
// upstream, the stall is the client's; counting it in UpstreamTimeouts (as it was) blamed the
// upstream in /metrics.
TEST(ExchangeAccounting, StalledClientIsNotCountedAsAnUpstreamTimeout) {
  FakeUpstream ams;
  ams.enqueue(Action::stream(2 * 1024 * 1024));
  RouteSpec spec;
  spec.timeouts = "{ connect: 200ms, per_try: 300ms, request: 600ms, idle: 50ms }";
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}, spec));
  FakeClientSide client(host);
  client.setSlowReader(true);  // and never reads
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("exchange end", [&] { return client.finished(); }));
  EXPECT_TRUE(client.aborted());  // ending it is fine
  EXPECT_EQ(host.counter(Counter::UpstreamTimeouts), 0u);
  EXPECT_EQ(host.counter(Counter::ClientStallTimeouts), 1u);
}

}  // namespace
}  // namespace meridian::proxy::exchange_test
