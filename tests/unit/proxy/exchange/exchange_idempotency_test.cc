// Exchange, Idempotency-Key: the first request with a key owns it; a second with the same key
// waits for the first's outcome and is answered from it, or gets 409.
#include <gtest/gtest.h>

#include "tests/fakes/fake_upstream.h"
#include "tests/unit/proxy/exchange/exchange_fakes.h"

namespace meridian::proxy::exchange_test {
namespace {

using fakes::Action;
using fakes::FakeUpstream;

std::string post(const std::string& key, std::string_view body = "abc") {
  return "POST /pay HTTP/1.1\r\nHost: app.test\r\nIdempotency-Key: " + key +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

Action created() {
  return Action::respond(201, {{"Content-Type", "application/json"}, {"X-Other", "1"}},
                         R"({"id":7})");
}

TEST(ExchangeIdempotency, WaiterIsAnsweredWithTheOwnersResponse) {
  FakeUpstream ams;
  ams.enqueue(created().withDelay(40ms));
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  const std::string key = uniqueKey();
  FakeClientSide owner(host), waiter(host);
  owner.startRequest(post(key));
  ASSERT_TRUE(host.runUntil("owner's request upstream", [&] { return ams.requestCount() == 1; }));
  waiter.startRequest(post(key));
  EXPECT_FALSE(waiter.finished());
  ASSERT_TRUE(host.runUntil("both answered", [&] { return owner.finished() && waiter.finished(); }));
  EXPECT_EQ(owner.view().status, 201);
  EXPECT_EQ(owner.storedStatus(), 0);
  EXPECT_EQ(waiter.storedStatus(), 201);
  ClientView v = waiter.view();
  EXPECT_EQ(v.status, 201);
  EXPECT_EQ(v.body, R"({"id":7})");
  EXPECT_EQ(v.header("content-type"), "application/json");
  EXPECT_TRUE(waiter.done());
  EXPECT_EQ(ams.requestCount(), 1u);  // the upstream never saw the second
  EXPECT_EQ(host.requestsCounted(), 2u);
}

TEST(ExchangeIdempotency, ALaterRequestIsAnsweredFromTheStoredResponse) {
  FakeUpstream ams;
  ams.enqueue(created());
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  const std::string key = uniqueKey();
  FakeClientSide first(host);
  first.startRequest(post(key));
  ASSERT_TRUE(host.runUntil("first answered", [&] { return first.finished(); }));
  FakeClientSide again(host);
  again.startRequest(post(key));
  ASSERT_TRUE(again.done());  // answered inside start()
  EXPECT_EQ(again.storedStatus(), 201);
  EXPECT_EQ(again.view().body, R"({"id":7})");
  EXPECT_EQ(ams.requestCount(), 1u);
}

TEST(ExchangeIdempotency, WaiterGets409WhenTheOwnerFailed) {
  FakeUpstream ams;
  ams.enqueue(Action::reset().withDelay(30ms));
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  const std::string key = uniqueKey();
  FakeClientSide owner(host), waiter(host);
  owner.startRequest(post(key));
  ASSERT_TRUE(host.runUntil("owner's request upstream", [&] { return ams.requestCount() == 1; }));
  waiter.startRequest(post(key));
  ASSERT_TRUE(host.runUntil("both answered", [&] { return owner.finished() && waiter.finished(); }));
  EXPECT_EQ(owner.errorStatus(), 502);
  EXPECT_EQ(waiter.errorStatus(), 409);
  EXPECT_EQ(waiter.errorCode(), "idempotency_conflict");
}

// Only a Content-Length body of at most 64 KiB is kept for waiters.
TEST(ExchangeIdempotency, WaiterGets409WhenTheAnswerWasNotKept) {
  FakeUpstream ams;
  ams.enqueue(Action::respond(200, {}, "streamed").withChunked(4).withDelay(30ms));
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  const std::string key = uniqueKey();
  FakeClientSide owner(host), waiter(host);
  owner.startRequest(post(key));
  ASSERT_TRUE(host.runUntil("owner's request upstream", [&] { return ams.requestCount() == 1; }));
  waiter.startRequest(post(key));
  ASSERT_TRUE(host.runUntil("both answered", [&] { return owner.finished() && waiter.finished(); }));
  EXPECT_EQ(owner.view().body, "streamed");
  EXPECT_EQ(waiter.errorStatus(), 409);
}

// A waiter waits no longer than the route's request timeout.
TEST(ExchangeIdempotency, WaiterTimesOutWith409) {
  FakeUpstream ams;
  RouteSpec spec;
  spec.timeouts = "{ connect: 200ms, per_try: 300ms, request: 60ms, idle: 300ms }";
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}, spec));
  const std::string key = uniqueKey();
  FakeClientSide owner(host), waiter(host);
  // The owner is still uploading: its own deadline has not started.
  owner.startRequest("POST /pay HTTP/1.1\r\nHost: app.test\r\nIdempotency-Key: " + key +
                     "\r\nContent-Length: 6\r\n\r\nabc");
  ASSERT_TRUE(host.runUntil("owner connected", [&] { return ams.acceptedConnections() == 1; }));
  auto started = std::chrono::steady_clock::now();
  waiter.startRequest(post(key));
  ASSERT_TRUE(host.runUntil("waiter answered", [&] { return waiter.finished(); }));
  EXPECT_GE(std::chrono::steady_clock::now() - started, 60ms);
  EXPECT_EQ(waiter.errorStatus(), 409);
  EXPECT_EQ(waiter.errorCode(), "idempotency_conflict");
  EXPECT_FALSE(owner.finished());
  owner.send("def");
  ASSERT_TRUE(host.runUntil("owner answered", [&] { return owner.finished(); }));
  EXPECT_EQ(owner.view().status, 200);
  EXPECT_EQ(ams.requestCount(), 1u);
}

TEST(ExchangeIdempotency, WaiterThatGoesAwayHearsNothingMore) {
  FakeUpstream ams;
  ams.enqueue(created().withDelay(30ms));
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  const std::string key = uniqueKey();
  FakeClientSide owner(host), waiter(host);
  owner.startRequest(post(key));
  ASSERT_TRUE(host.runUntil("owner's request upstream", [&] { return ams.requestCount() == 1; }));
  waiter.startRequest(post(key));
  waiter.disconnect();
  EXPECT_TRUE(waiter.aborted());
  ASSERT_TRUE(host.runUntil("owner answered", [&] { return owner.finished(); }));
  host.runFor(10ms);  // the owner's outcome, posted to the loop, finds no waiter
  EXPECT_EQ(waiter.storedStatus(), 0);
  EXPECT_EQ(waiter.received(), "");
  EXPECT_EQ(host.counter(Counter::ClientAborts), 1u);
  EXPECT_EQ(host.requestsCounted(), 2u);
  EXPECT_EQ(host.inFlight(), 0);
}

TEST(ExchangeIdempotency, KeyOver256BytesIs400) {
  FakeUpstream ams;
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  FakeClientSide client(host);
  client.startRequest(post(std::string(257, 'k')));
  ASSERT_TRUE(client.done());
  EXPECT_EQ(client.errorStatus(), 400);
  EXPECT_EQ(ams.acceptedConnections(), 0u);
}

}  // namespace
}  // namespace meridian::proxy::exchange_test
