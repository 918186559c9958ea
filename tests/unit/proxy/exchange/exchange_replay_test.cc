// Exchange, replay: a failure before the response (reset, per-try timeout, a status in
// `replay.on`) sends the request to the next region after a backoff, when docs/replay.md's
// rules allow; otherwise the client gets the failure.
#include <gtest/gtest.h>

#include <mutex>

#include "tests/fakes/fake_upstream.h"
#include "tests/unit/proxy/exchange/exchange_fakes.h"

namespace meridian::proxy::exchange_test {
namespace {

using fakes::Action;
using fakes::FakeUpstream;
using fakes::ReceivedRequest;
using Clock = std::chrono::steady_clock;

constexpr char kGet[] = "GET /r HTTP/1.1\r\nHost: app.test\r\n\r\n";

std::vector<EndpointSpec> regions(const FakeUpstream& ams, const FakeUpstream& fra) {
  return {{"ams", ams.address()}, {"fra", fra.address()}};
}
std::vector<EndpointSpec> regions(const FakeUpstream& ams, const FakeUpstream& fra,
                                  const FakeUpstream& iad) {
  return {{"ams", ams.address()}, {"fra", fra.address()}, {"iad", iad.address()}};
}

TEST(ExchangeReplay, ResetBeforeTheResponseReplaysAGetInTheNextRegion) {
  FakeUpstream ams, fra;
  ams.enqueue(Action::reset());
  FakeExchangeHost host(exchangeConfig(regions(ams, fra)));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 200);
  EXPECT_EQ(client.view().header("meridian-region"), "fra");
  ASSERT_EQ(ams.requestCount(), 1u);
  ASSERT_EQ(fra.requestCount(), 1u);
  EXPECT_EQ(ams.request(0).header("meridian-attempt"), "1");
  EXPECT_EQ(fra.request(0).header("meridian-attempt"), "2");
  EXPECT_EQ(host.counter(Counter::UpstreamResets), 1u);
  EXPECT_EQ(host.outcomesOf(health::Outcome::Reset), 1u);
  EXPECT_EQ(host.metric(R"(meridian_replays_total{route="app",reason="reset"})"), 1u);
}

TEST(ExchangeReplay, ClosedBeforeTheResponseCountsAsAReset) {
  FakeUpstream ams, fra;
  ams.enqueue(Action::closeWithoutResponse());
  FakeExchangeHost host(exchangeConfig(regions(ams, fra)));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 200);
  EXPECT_EQ(fra.requestCount(), 1u);
  EXPECT_EQ(host.metric(R"(meridian_replays_total{route="app",reason="reset"})"), 1u);
}

// A POST without Idempotency-Key may have run: never sent twice.
TEST(ExchangeReplay, ResetOfAPostWithoutIdempotencyKeyIs502) {
  FakeUpstream ams, fra;
  ams.enqueue(Action::reset());
  FakeExchangeHost host(exchangeConfig(regions(ams, fra)));
  FakeClientSide client(host);
  client.startRequest("POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 2\r\n\r\nhi");
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.errorStatus(), 502);
  EXPECT_EQ(client.errorCode(), "upstream_reset");
  EXPECT_TRUE(client.keepAlive());
  host.runFor(20ms);
  EXPECT_EQ(fra.acceptedConnections(), 0u);
  EXPECT_EQ(host.metric(R"(meridian_replays_total{route="app",reason="reset"})"), 0u);
}

// The body sent so far is kept (within body_buffer) and sent again.
TEST(ExchangeReplay, PostWithIdempotencyKeyIsReplayedWithItsBody) {
  FakeUpstream ams, fra;
  ams.enqueue(Action::reset());
  fra.setHandler([](const ReceivedRequest&) { return Action::echo(); });
  FakeExchangeHost host(exchangeConfig(regions(ams, fra)));
  FakeClientSide client(host);
  client.startRequest("POST / HTTP/1.1\r\nHost: app.test\r\nIdempotency-Key: " + uniqueKey() +
                      "\r\nContent-Length: 11\r\n\r\nhello");
  ASSERT_TRUE(host.runUntil("upstream connection", [&] { return ams.acceptedConnections() == 1; }));
  client.send(" world");
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 200);
  EXPECT_EQ(client.view().body, "hello world");
  ASSERT_EQ(ams.requestCount(), 1u);
  ASSERT_EQ(fra.requestCount(), 1u);
  EXPECT_EQ(ams.request(0).body, "hello world");
  EXPECT_EQ(fra.request(0).body, "hello world");
}

TEST(ExchangeReplay, ChunkedBodyIsReplayedWhole) {
  FakeUpstream ams, fra;
  ams.enqueue(Action::reset());
  fra.setHandler([](const ReceivedRequest&) { return Action::echo(); });
  FakeExchangeHost host(exchangeConfig(regions(ams, fra)));
  FakeClientSide client(host);
  client.startRequest(
      "PUT / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().body, "abcde");
  ASSERT_EQ(fra.requestCount(), 1u);
  EXPECT_EQ(fra.request(0).body, "abcde");
  EXPECT_TRUE(fra.request(0).chunked);
}

TEST(ExchangeReplay, BodyOverTheReplayBufferIsNotReplayed) {
  FakeUpstream ams, fra;
  ams.enqueue(Action::reset());
  RouteSpec spec;
  spec.replay = "{ body_buffer: 4, backoff: { base: 1ms, max: 1ms } }";
  FakeExchangeHost host(exchangeConfig(regions(ams, fra), spec));
  FakeClientSide client(host);
  client.startRequest("PUT / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\n\r\nhello");
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.errorStatus(), 502);
  EXPECT_EQ(client.errorCode(), "upstream_reset");
  EXPECT_EQ(fra.acceptedConnections(), 0u);
}

// A status in replay.on never reaches the client while another region can answer.
TEST(ExchangeReplay, StatusInReplayOnIsReplayed) {
  FakeUpstream ams, fra;
  ams.enqueue(Action::respond(503, {}, "ams is sick"));
  FakeExchangeHost host(exchangeConfig(regions(ams, fra)));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  ClientView v = client.view();
  EXPECT_EQ(v.status, 200);
  EXPECT_EQ(v.header("meridian-region"), "fra");
  EXPECT_EQ(client.received().find("sick"), std::string::npos);
  EXPECT_EQ(host.metric(R"(meridian_replays_total{route="app",reason="503"})"), 1u);
  EXPECT_EQ(host.outcomesOf(health::Outcome::Status5xx), 1u);
  EXPECT_EQ(host.counter(Counter::Responses5xx), 0u);
}

TEST(ExchangeReplay, StatusNotInReplayOnGoesToTheClient) {
  FakeUpstream ams, fra;
  ams.enqueue(Action::respond(500, {}, "boom"));
  FakeExchangeHost host(exchangeConfig(regions(ams, fra)));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 500);
  EXPECT_EQ(client.view().body, "boom");
  EXPECT_EQ(fra.requestCount(), 0u);
}

// With no region left, the client gets what the last attempt produced.
TEST(ExchangeReplay, LastAttemptsStatusGoesToTheClientAsItIs) {
  FakeUpstream ams, fra;
  ams.enqueue(Action::respond(503, {}, "ams down"));
  fra.enqueue(Action::respond(503, {}, "fra down"));
  FakeExchangeHost host(exchangeConfig(regions(ams, fra)));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 503);
  EXPECT_EQ(client.view().body, "fra down");
  EXPECT_EQ(client.errorStatus(), 0);  // the upstream's own response, not one of ours
}

TEST(ExchangeReplay, StopsAtMaxAttempts) {
  FakeUpstream ams, fra, iad;
  ams.enqueue(Action::reset());
  fra.enqueue(Action::reset());
  RouteSpec spec;
  spec.replay = "{ max_attempts: 2, backoff: { base: 1ms, max: 1ms } }";
  FakeExchangeHost host(exchangeConfig(regions(ams, fra, iad), spec));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.errorStatus(), 502);
  EXPECT_EQ(ams.requestCount(), 1u);
  EXPECT_EQ(fra.requestCount(), 1u);
  EXPECT_EQ(iad.acceptedConnections(), 0u);
}

// The replay waits its backoff (a timer: the loop goes on), here the ceiling of the jitter.
TEST(ExchangeReplay, BackoffWaitsBeforeTheReplay) {
  FakeUpstream ams, fra;
  std::mutex mu;
  Clock::time_point failed_at, replayed_at;
  ams.setHandler([&](const ReceivedRequest&) {
    std::lock_guard lock(mu);
    failed_at = Clock::now();
    return Action::reset();
  });
  fra.setHandler([&](const ReceivedRequest&) {
    std::lock_guard lock(mu);
    replayed_at = Clock::now();
    return Action::respond(200, {}, "ok");
  });
  RouteSpec spec;
  spec.replay = "{ backoff: { base: 80ms, max: 80ms } }";
  FakeExchangeHost host(exchangeConfig(regions(ams, fra), spec));
  host.setRandom(80);  // full jitter: random % (80 + 1) = 80 ms
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 200);
  std::lock_guard lock(mu);
  EXPECT_GE(replayed_at - failed_at, 78ms);  // timers are in whole milliseconds
}

// Retry-After sets the least wait, but never past the request deadline: then no replay.
TEST(ExchangeReplay, RetryAfterBeyondTheDeadlineIsNotWaitedFor) {
  FakeUpstream ams, fra;
  ams.enqueue(Action::respond(503, {{"Retry-After", "1"}}, "later"));
  RouteSpec spec;
  spec.timeouts = "{ connect: 200ms, per_try: 200ms, request: 200ms, idle: 300ms }";
  FakeExchangeHost host(exchangeConfig(regions(ams, fra), spec));
  FakeClientSide client(host);
  auto started = Clock::now();
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_LT(Clock::now() - started, 200ms);
  EXPECT_EQ(client.view().status, 503);
  EXPECT_EQ(client.view().body, "later");
  EXPECT_EQ(fra.acceptedConnections(), 0u);
}

// Replays in flight are bounded per route and worker (at least 3 of them): past that, the
// failure is answered and the refusal counted.
TEST(ExchangeReplay, ExhaustedBudgetAnswersTheFailure) {
  FakeUpstream ams, fra;
  ams.enqueue(Action::reset());
  FakeExchangeHost host(exchangeConfig(regions(ams, fra)));
  replay::Budget& budget = host.replayBudget("app");  // three other requests replaying
  for (int i = 0; i < replay::Budget::kMinConcurrency; ++i) ASSERT_TRUE(budget.tryStartReplay(20));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.errorStatus(), 502);
  EXPECT_EQ(fra.acceptedConnections(), 0u);
  EXPECT_EQ(host.metric(R"(meridian_replay_budget_exhausted_total{route="app"})"), 1u);
  EXPECT_EQ(host.metric(R"(meridian_replays_total{route="app",reason="reset"})"), 0u);
  host.reap();
  EXPECT_EQ(budget.replaysInFlight(), replay::Budget::kMinConcurrency);
  EXPECT_EQ(budget.requestsInFlight(), 0);
}

// A replay holds one budget slot until its request ends.
TEST(ExchangeReplay, AReplayHoldsABudgetSlotUntilItEnds) {
  FakeUpstream ams, fra;
  ams.enqueue(Action::reset());
  fra.enqueue(Action::hang());
  FakeExchangeHost host(exchangeConfig(regions(ams, fra)));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("replayed request", [&] { return fra.requestCount() == 1; }));
  EXPECT_EQ(host.replayBudget("app").replaysInFlight(), 1);
  EXPECT_EQ(host.replayBudget("app").requestsInFlight(), 1);
  client.disconnect();
  host.reap();
  EXPECT_EQ(host.replayBudget("app").replaysInFlight(), 0);
  EXPECT_EQ(host.replayBudget("app").requestsInFlight(), 0);
}

TEST(ExchangeReplay, PerTryTimeoutReplaysInTheNextRegion) {
  FakeUpstream ams, fra;
  ams.enqueue(Action::hang());
  RouteSpec spec;
  spec.timeouts = "{ connect: 200ms, per_try: 50ms, request: 600ms, idle: 300ms }";
  FakeExchangeHost host(exchangeConfig(regions(ams, fra), spec));
  FakeClientSide client(host);
  auto started = Clock::now();
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_GE(Clock::now() - started, 50ms);
  EXPECT_EQ(client.view().status, 200);
  EXPECT_EQ(client.view().header("meridian-region"), "fra");
  EXPECT_EQ(host.counter(Counter::UpstreamTimeouts), 1u);
  EXPECT_EQ(host.outcomesOf(health::Outcome::Timeout), 1u);
  EXPECT_EQ(host.metric(R"(meridian_replays_total{route="app",reason="timeout"})"), 1u);
  ASSERT_TRUE(host.runUntil("abandoned attempt closed", [&] { return ams.openConnections() == 0; }));
}

TEST(ExchangeReplay, PerTryTimeoutOfAPostIs504) {
  FakeUpstream ams, fra;
  ams.enqueue(Action::hang());
  RouteSpec spec;
  spec.timeouts = "{ connect: 200ms, per_try: 50ms, request: 600ms, idle: 300ms }";
  FakeExchangeHost host(exchangeConfig(regions(ams, fra), spec));
  FakeClientSide client(host);
  client.startRequest("POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 1\r\n\r\nx");
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.errorStatus(), 504);
  EXPECT_EQ(client.errorCode(), "upstream_timeout");
  EXPECT_EQ(fra.acceptedConnections(), 0u);
}

// The request deadline bounds every attempt together: the second attempt gets what is left.
TEST(ExchangeReplay, RequestDeadlineEndsTheAttempts) {
  FakeUpstream ams, fra, iad;
  ams.enqueue(Action::hang());
  fra.enqueue(Action::hang());
  RouteSpec spec;
  spec.timeouts = "{ connect: 200ms, per_try: 150ms, request: 200ms, idle: 300ms }";
  FakeExchangeHost host(exchangeConfig(regions(ams, fra, iad), spec));
  FakeClientSide client(host);
  auto started = Clock::now();
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  auto took = Clock::now() - started;
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 290ms);  // not a second whole per_try (300 ms in all)
  EXPECT_EQ(client.errorStatus(), 504);
  EXPECT_EQ(fra.requestCount(), 1u);
  EXPECT_EQ(iad.acceptedConnections(), 0u);
}

}  // namespace
}  // namespace meridian::proxy::exchange_test
