// Exchange, idempotency.store: fleet: the request that owns its key in this process claims it
// from the fleet's store (a fake here, answered by the test) and runs, answers with the stored
// response, or 409; an unreachable store leaves the local claim alone. Every claim is released
// once, with what the request did.
#include <gtest/gtest.h>

#include "tests/fakes/fake_upstream.h"
#include "tests/unit/proxy/exchange/exchange_fakes.h"

namespace meridian::proxy::exchange_test {
namespace {

using fakes::Action;
using fakes::FakeUpstream;
using Claim = SharedIdempotency::Claim;

// Claims are answered by the test, on its own thread, as the store's threads would.
class FakeShared final : public SharedIdempotency {
 public:
  struct Claimed {
    std::string scope, key;
    std::chrono::milliseconds wait;
    Done done;
  };
  struct Released {
    uint64_t ticket;
    bool completed;
    std::shared_ptr<const StoredResponse> response;
  };
  uint64_t claim(const std::string& scope, const std::string& key, std::chrono::milliseconds wait,
                 Done done) override {
    claims.push_back({scope, key, wait, std::move(done)});
    return claims.size();
  }
  void release(uint64_t ticket, bool completed,
               std::shared_ptr<const StoredResponse> response) override {
    released.push_back({ticket, completed, std::move(response)});
  }
  void answer(size_t i, Claim c, std::shared_ptr<const StoredResponse> r = nullptr) {
    claims[i].done(c, std::move(r));
  }
  std::vector<Claimed> claims;
  std::vector<Released> released;
};

std::string post(const std::string& key) {
  return "POST /pay HTTP/1.1\r\nHost: app.test\r\nIdempotency-Key: " + key +
         "\r\nContent-Length: 3\r\n\r\nabc";
}

std::string fleetConfig(const std::string& upstream, const std::string& store = "fleet") {
  RouteSpec route;
  route.extra = "    idempotency: { store: " + store + " }\n";
  return exchangeConfig({{"ams", upstream}}, route) +
         "fleet: { etcd: [\"http://127.0.0.1:1\"], prefix: /t/ }\n";
}

Action created() {
  return Action::respond(201, {{"Content-Type", "application/json"}}, R"({"id":7})");
}

TEST(ExchangeSharedIdempotency, OwnedFleetWideTheRequestRunsAndItsResponseIsReleased) {
  FakeUpstream ams;
  ams.enqueue(created());
  FakeShared shared;
  FakeExchangeHost host(fleetConfig(ams.address()));
  host.setShared(&shared);
  FakeClientSide client(host);
  const std::string key = uniqueKey();
  client.startRequest(post(key));
  ASSERT_EQ(shared.claims.size(), 1u);
  EXPECT_EQ(shared.claims[0].scope, "app");
  EXPECT_EQ(shared.claims[0].key, key);
  EXPECT_EQ(shared.claims[0].wait, 600ms);  // the route's timeouts.request
  host.runFor(20ms);
  EXPECT_EQ(ams.requestCount(), 0u) << "sent before the fleet answered";
  shared.answer(0, Claim::Proceed);
  ASSERT_TRUE(host.runUntil("answered", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 201);
  EXPECT_EQ(ams.requestCount(), 1u);
  ASSERT_EQ(shared.released.size(), 1u);
  EXPECT_EQ(shared.released[0].ticket, 1u);
  EXPECT_TRUE(shared.released[0].completed);
  ASSERT_NE(shared.released[0].response, nullptr);
  EXPECT_EQ(shared.released[0].response->status, 201);
  EXPECT_EQ(shared.released[0].response->body, R"({"id":7})");
}

// Another instance's answer: given to this request, and to the requests of this process that
// waited for it on the local table; the upstream sees none of them.
TEST(ExchangeSharedIdempotency, AStoredAnswerFromTheFleetAnswersThisProcessToo) {
  FakeUpstream ams;
  FakeShared shared;
  FakeExchangeHost host(fleetConfig(ams.address()));
  host.setShared(&shared);
  const std::string key = uniqueKey();
  FakeClientSide first(host), second(host);
  first.startRequest(post(key));
  second.startRequest(post(key));
  ASSERT_EQ(shared.claims.size(), 1u) << "the local table lets one request of a process ask";
  auto stored = std::make_shared<StoredResponse>();
  stored->status = 201;
  stored->headers = {{"content-type", "application/json"}};
  stored->body = R"({"id":9})";
  shared.answer(0, Claim::Stored, stored);
  ASSERT_TRUE(
      host.runUntil("both answered", [&] { return first.finished() && second.finished(); }));
  host.reap();
  for (FakeClientSide* c : {&first, &second}) {
    EXPECT_EQ(c->storedStatus(), 201);
    EXPECT_EQ(c->view().body, R"({"id":9})");
    EXPECT_EQ(c->view().header("content-type"), "application/json");
  }
  EXPECT_EQ(ams.requestCount(), 0u);
  ASSERT_EQ(shared.released.size(), 1u);
}

TEST(ExchangeSharedIdempotency, AConflictIs409) {
  FakeUpstream ams;
  FakeShared shared;
  FakeExchangeHost host(fleetConfig(ams.address()));
  host.setShared(&shared);
  FakeClientSide client(host);
  client.startRequest(post(uniqueKey()));
  shared.answer(0, Claim::Conflict);
  ASSERT_TRUE(host.runUntil("answered", [&] { return client.finished(); }));
  host.reap();
  EXPECT_EQ(client.errorStatus(), 409);
  EXPECT_EQ(client.errorCode(), "idempotency_conflict");
  EXPECT_EQ(ams.requestCount(), 0u);
  ASSERT_EQ(shared.released.size(), 1u);
  EXPECT_FALSE(shared.released[0].completed);
}

// etcd unreachable: the request runs on the local table's claim alone.
TEST(ExchangeSharedIdempotency, AnUnavailableStoreLeavesTheLocalClaim) {
  FakeUpstream ams;
  ams.enqueue(created());
  FakeShared shared;
  FakeExchangeHost host(fleetConfig(ams.address()));
  host.setShared(&shared);
  FakeClientSide client(host);
  client.startRequest(post(uniqueKey()));
  shared.answer(0, Claim::Unavailable);
  ASSERT_TRUE(host.runUntil("answered", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 201);
  EXPECT_EQ(ams.requestCount(), 1u);
}

// The fleet never answers: the request waits no longer than its route's timeouts.request.
TEST(ExchangeSharedIdempotency, NoAnswerWithinTheRequestTimeoutIs409) {
  FakeUpstream ams;
  FakeShared shared;
  FakeExchangeHost host(fleetConfig(ams.address()));
  host.setShared(&shared);
  FakeClientSide client(host);
  client.startRequest(post(uniqueKey()));
  ASSERT_TRUE(host.runUntil(
      "answered", [&] { return client.finished(); }, 2000ms));
  host.reap();
  EXPECT_EQ(client.errorStatus(), 409);
  ASSERT_EQ(shared.released.size(), 1u);
  EXPECT_FALSE(shared.released[0].completed);
  shared.answer(0, Claim::Proceed);  // too late: nobody is there to take it
  host.runFor(20ms);
  EXPECT_EQ(ams.requestCount(), 0u);
}

// The client goes away while the fleet is asked: the claim is released (the store deletes a
// key it creates meanwhile) and a late answer finds nobody.
TEST(ExchangeSharedIdempotency, AClientGoneWhileTheFleetIsAskedReleasesTheClaim) {
  FakeUpstream ams;
  FakeShared shared;
  FakeExchangeHost host(fleetConfig(ams.address()));
  host.setShared(&shared);
  FakeClientSide client(host);
  client.startRequest(post(uniqueKey()));
  client.disconnect();
  host.reap();
  ASSERT_EQ(shared.released.size(), 1u);
  EXPECT_FALSE(shared.released[0].completed);
  shared.answer(0, Claim::Proceed);
  host.runFor(20ms);
  EXPECT_EQ(ams.requestCount(), 0u);
}

// A response not kept (above 64 KiB) is released as completed without one: the fleet's
// waiters get 409, not a second run.
TEST(ExchangeSharedIdempotency, AResponseTooLargeIsReleasedCompletedButNotKept) {
  FakeUpstream ams;
  ams.enqueue(Action::respond(200, {}, std::string(70 * 1024, 'x')));
  FakeShared shared;
  FakeExchangeHost host(fleetConfig(ams.address()));
  host.setShared(&shared);
  FakeClientSide client(host);
  client.startRequest(post(uniqueKey()));
  shared.answer(0, Claim::Proceed);
  ASSERT_TRUE(host.runUntil("answered", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 200);
  ASSERT_EQ(shared.released.size(), 1u);
  EXPECT_TRUE(shared.released[0].completed);
  EXPECT_EQ(shared.released[0].response, nullptr);
}

TEST(ExchangeSharedIdempotency, ALocalRouteNeverAsksTheFleet) {
  FakeUpstream ams;
  ams.enqueue(created());
  FakeShared shared;
  FakeExchangeHost host(fleetConfig(ams.address(), "local"));
  host.setShared(&shared);
  FakeClientSide client(host);
  client.startRequest(post(uniqueKey()));
  ASSERT_TRUE(host.runUntil("answered", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 201);
  EXPECT_TRUE(shared.claims.empty());
}

}  // namespace
}  // namespace meridian::proxy::exchange_test
