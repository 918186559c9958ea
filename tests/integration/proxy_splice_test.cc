// Large response bodies between plain sockets move with splice(2) (limits.splice_min_body):
// the bytes arrive intact, both connections stay usable, and the failures of the copy path
// (an upstream dying mid-body, a client that stops reading) end the same way.
#include <netinet/in.h>
#include <sys/socket.h>

#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

constexpr uint64_t kBig = 4ull << 20;

class SpliceTest : public ProxyTest {
 protected:
  long long spliced() { return metric("meridian_spliced_responses_total"); }
  long long splicedBytes() { return metric("meridian_spliced_bytes_total"); }
};

TEST_F(SpliceTest, LargeBodiesArriveIntactAndBothConnectionsAreKept) {
  upstream_.setHandler([](const fakes::ReceivedRequest&) { return Action::stream(kBig); });
  ASSERT_TRUE(startProxy());
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send("GET /big HTTP/1.1\r\nHost: a\r\n\r\n"));
    HttpResponse r;
    ASSERT_TRUE(c.readResponse(r, kWait)) << "response " << i;
    EXPECT_EQ(r.status, 200);
    ASSERT_EQ(r.body.size(), kBig);
    EXPECT_TRUE(fakes::matchesPattern(r.body)) << "response " << i << " corrupted";
  }
  EXPECT_EQ(spliced(), 3);
  // Whatever came with the head was copied; the rest (nearly all of it) was spliced.
  EXPECT_GT(splicedBytes(), static_cast<long long>(3 * (kBig - (256 << 10))));
  // One upstream connection served all three: it was handed back clean each time.
  ASSERT_TRUE(upstream_.waitForRequests(3, kWait));
  EXPECT_EQ(upstream_.request(0).connectionId, upstream_.request(2).connectionId);
}

TEST_F(SpliceTest, SmallBodiesAndHttp2ClientsAreCopied) {
  upstream_.setHandler([](const fakes::ReceivedRequest& req) {
    return Action::stream(req.target == "/small" ? 8 * 1024 : kBig);
  });
  ASSERT_TRUE(startProxy());
  auto small = curl({"-s", "-o", "/dev/null", "-w", "%{size_download}", url("/small")});
  EXPECT_EQ(small.out, std::to_string(8 * 1024));  // below splice_min_body
  auto h2 = curl({"-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
                  "%{http_version} %{size_download}", url("/big")});
  EXPECT_EQ(h2.out, "2 " + std::to_string(kBig));
  EXPECT_EQ(spliced(), 0);
}

TEST_F(SpliceTest, SpliceMinBodyZeroTurnsItOff) {
  upstream_.setHandler([](const fakes::ReceivedRequest&) { return Action::stream(kBig); });
  ASSERT_TRUE(startProxy("{ splice_min_body: 0 }"));
  auto off = curl({"-s", "-o", "/dev/null", "-w", "%{size_download}", url("/big")});
  EXPECT_EQ(off.out, std::to_string(kBig));
  EXPECT_EQ(spliced(), 0);
}

TEST_F(SpliceTest, AnUpstreamResetMidBodyCutsTheClientAndTheProxyServesOn) {
  upstream_.enqueue(Action::stream(kBig).withResetAfter(1 << 20));
  upstream_.enqueue(Action::stream(kBig));
  ASSERT_TRUE(startProxy());
  auto cut = curl({"-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url("/a")});
  EXPECT_NE(cut.exitCode, 0) << "a cut body must not look whole";
  EXPECT_EQ(cut.out.substr(0, 3), "200");
  EXPECT_LT(std::stoull(cut.out.substr(4)), kBig);
  EXPECT_EQ(spliced(), 1);
  EXPECT_GE(metric("meridian_upstream_resets_total"), 1);
  auto next = curl({"-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url("/b")});
  EXPECT_EQ(next.out, "200 " + std::to_string(kBig));
}

// A client that stops reading fills its socket, then the pipe; nothing more is read from the
// upstream, and after the route's idle timeout the response is cut as a client stall.
TEST_F(SpliceTest, AClientThatStopsReadingIsCutAfterTheIdleTimeout) {
  upstream_.setHandler([](const fakes::ReceivedRequest&) { return Action::stream(64ull << 20); });
  ASSERT_TRUE(startProxy("", "{ idle: 300ms }"));
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  int rcvbuf = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  std::string req = "GET /big HTTP/1.1\r\nHost: a\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  auto deadline = std::chrono::steady_clock::now() + kWait;
  while (metric("meridian_client_stall_timeouts_total") < 1 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(metric("meridian_client_stall_timeouts_total"), 1);
  EXPECT_EQ(spliced(), 1);
  // Far less than the body left the upstream: the stalled pipe held it back.
  EXPECT_LT(metric("meridian_spliced_bytes_total"), 16ll << 20);
  ::close(fd);
  auto next = curl({"-s", "-o", "/dev/null", "-w", "%{http_code}", url("/again"), "-r", "0-0"});
  EXPECT_EQ(next.exitCode, 0) << next.describe();
}

}  // namespace
}  // namespace meridian::integration
