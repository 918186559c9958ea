// Exchange and passive health: each attempt reports exactly one outcome, and a response counts
// as a success only once its whole body has arrived. An upstream that sends a head and then
// stalls (or dies mid-body) is failing, however good its head looked.
#include <gtest/gtest.h>

#include "tests/fakes/fake_upstream.h"
#include "tests/unit/proxy/exchange/exchange_fakes.h"

namespace meridian::proxy::exchange_test {
namespace {

using fakes::Action;
using fakes::FakeUpstream;

constexpr char kGet[] = "GET / HTTP/1.1\r\nHost: app.test\r\n\r\n";

std::vector<health::Outcome> outcomes(const FakeExchangeHost& host) {
  std::vector<health::Outcome> out;
  for (const auto& o : host.outcomes()) out.push_back(o.outcome);
  return out;
}

TEST(ExchangeHealthReport, AWholeResponseIsOneSuccess) {
  FakeUpstream ams;
  ams.setHandler([](const fakes::ReceivedRequest&) { return Action::stream(256 * 1024); });
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 200);
  EXPECT_EQ(outcomes(host), std::vector<health::Outcome>{health::Outcome::Success});
}

// The head arrives, then nothing: the idle timeout ends it, and that is the one outcome.
TEST(ExchangeHealthReport, AHeadThenAStallIsATimeoutNotASuccess) {
  FakeUpstream ams;
  ams.setHandler([](const fakes::ReceivedRequest&) {
    return Action::raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
  });
  RouteSpec spec;
  spec.timeouts = "{ connect: 200ms, per_try: 300ms, request: 600ms, idle: 100ms }";
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}, spec));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("abort", [&] { return client.finished(); }));
  EXPECT_TRUE(client.aborted());
  EXPECT_EQ(outcomes(host), std::vector<health::Outcome>{health::Outcome::Timeout});
}

// The upstream resets mid-body: one Reset, not a Success and then a Reset.
TEST(ExchangeHealthReport, AResetMidBodyIsOneReset) {
  FakeUpstream ams;
  ams.setHandler(
      [](const fakes::ReceivedRequest&) { return Action::stream(1 << 20).withResetAfter(4096); });
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("abort", [&] { return client.finished(); }));
  EXPECT_TRUE(client.aborted());
  EXPECT_EQ(outcomes(host), std::vector<health::Outcome>{health::Outcome::Reset});
}

// A close before the promised length: the same.
TEST(ExchangeHealthReport, ACloseMidBodyIsOneReset) {
  FakeUpstream ams;
  ams.setHandler([](const fakes::ReceivedRequest&) {
    return Action::raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n0123");
  });
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("abort", [&] { return client.finished(); }));
  EXPECT_TRUE(client.aborted());
  EXPECT_EQ(outcomes(host), std::vector<health::Outcome>{health::Outcome::Reset});
}

// A 5xx is reported at its head (its body changes nothing), once.
TEST(ExchangeHealthReport, A5xxIsOneFailure) {
  FakeUpstream ams;
  ams.setHandler([](const fakes::ReceivedRequest&) { return Action::respond(500, {}, "oops"); });
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("response", [&] { return client.finished(); }));
  EXPECT_EQ(client.view().status, 500);
  EXPECT_EQ(outcomes(host), std::vector<health::Outcome>{health::Outcome::Status5xx});
}

// The client going away mid-body is not the upstream's failure: nothing is held against it.
TEST(ExchangeHealthReport, AClientGoneMidBodyIsNoFailureOfTheUpstream) {
  FakeUpstream ams;
  ams.setHandler([](const fakes::ReceivedRequest&) {
    return Action::raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
  });
  FakeExchangeHost host(exchangeConfig({{"ams", ams.address()}}));
  FakeClientSide client(host);
  client.startRequest(kGet);
  ASSERT_TRUE(host.runUntil("head", [&] { return !client.received().empty(); }));
  client.disconnect();
  ASSERT_TRUE(host.runUntil("abort", [&] { return client.finished(); }));
  for (const auto& o : host.outcomes()) EXPECT_EQ(o.outcome, health::Outcome::Success);
  EXPECT_LE(host.outcomes().size(), 1u);
}

}  // namespace
}  // namespace meridian::proxy::exchange_test
