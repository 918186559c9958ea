// The upstream pool as an operator configures it: idle connections expire, the cap per
// endpoint holds, and requests beyond it wait in a bounded queue or get 503.
#include <set>

#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

TEST_F(ProxyTest, IdlePooledConnectionsExpire) {
  cluster_options_ = "    pool: { idle_timeout: 200ms }\n";
  ASSERT_TRUE(startProxy());
  EXPECT_EQ(roundTrip("GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
  ASSERT_TRUE(upstream_.waitForConnections(1, kWait));
  // The proxy closes its idle upstream connection after idle_timeout.
  EXPECT_TRUE(upstream_.waitForOpenConnections(0, kWait));
  EXPECT_EQ(roundTrip("GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
  EXPECT_EQ(upstream_.acceptedConnections(), 2u);
}

TEST_F(ProxyTest, CapPerEndpointQueuesThenRefuses) {
  cluster_options_ = "    pool: { max_connections: 1, max_pending: 1 }\n";
  upstream_.enqueue(Action::respond(200, {}, "first").withDelay(milliseconds(1000)));
  // The wait for a pooled connection counts against `connect`: make it outlast the delay.
  ASSERT_TRUE(startProxy("", "{ connect: 5s }"));
  TcpClient first, second, third;
  ASSERT_TRUE(first.connect(port()));
  ASSERT_TRUE(first.send("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));  // the one connection is busy now
  // Two more while it is busy: the queue holds one of them, the other is refused. Which is
  // which depends on the order the proxy reads them, so the test accepts either.
  ASSERT_TRUE(second.connect(port()));
  ASSERT_TRUE(third.connect(port()));
  ASSERT_TRUE(second.send("GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_TRUE(third.send("GET /3 HTTP/1.1\r\nHost: a\r\n\r\n"));
  HttpResponse r1, r2, r3;
  ASSERT_TRUE(first.readResponse(r1, kWait));
  ASSERT_TRUE(second.readResponse(r2, kWait));
  ASSERT_TRUE(third.readResponse(r3, kWait));
  EXPECT_EQ(r1.body, "first");
  std::multiset<int> statuses = {r2.status, r3.status};
  EXPECT_EQ(statuses, (std::multiset<int>{200, 503}));
  const HttpResponse& refused = r2.status == 503 ? r2 : r3;
  EXPECT_EQ(refused.header("meridian-error"), "upstream_overloaded");
  // Both went over the single allowed connection.
  EXPECT_EQ(upstream_.acceptedConnections(), 1u);
  EXPECT_EQ(metric("meridian_upstream_overloaded_total"), 1);
}

}  // namespace
}  // namespace meridian::integration
