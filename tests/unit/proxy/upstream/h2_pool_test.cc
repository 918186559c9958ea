// The pool's HTTP/2 path against real loopback sockets and a real event loop: what happens
// when a request gives up on a connection that is still being made.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "core/event_loop.h"
#include "core/stream.h"
#include "proxy/observe/stats.h"
#include "proxy/upstream/upstream_pool.h"

namespace meridian::proxy {
namespace {

struct Listener {
  int fd = -1;
  core::SocketAddress addr;
  Listener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd, 16), 0);
    EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    auto r = core::resolveAddress("127.0.0.1", ntohs(a.sin_port));
    EXPECT_TRUE(r.ok());
    addr = r.value();
  }
  ~Listener() { ::close(fd); }
};

struct User : UpstreamUser {
  int ready = 0, failed = 0;
  void onUpstreamReady(UpstreamConn&) override { ++ready; }
  void onUpstreamConnectFailed(int) override { ++failed; }
  void onUpstreamData(UpstreamConn&) override {}
  void onUpstreamEof(UpstreamConn&) override {}
  void onUpstreamError(UpstreamConn&, int) override {}
  void onUpstreamDrained(UpstreamConn&) override {}
};

// Calls `fn` when its socket is readable: an event ready in the same loop turn as another.
struct Trigger : core::StreamHandler {
  std::function<void()> fn;
  void onData(core::Stream& s) override {
    s.input().clear();
    if (fn) fn();
    fn = nullptr;
  }
  void onEof(core::Stream&) override {}
  void onError(core::Stream&, int) override {}
};

TEST(H2Pool, AConnectCancelledInTheTurnItCompletesIsNotPromoted) {
  core::EventLoop loop;
  WorkerStats stats;
  Listener upstream;
  config::Pool limits;
  {
    UpstreamPool pool(loop, stats);
    User user;
    // A socket that is readable before the connect starts: epoll reports it first in the turn
    // where the connect completes, and its handler withdraws the request.
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    Trigger trigger;
    core::Stream side(loop, sv[0], &trigger);
    ASSERT_EQ(::write(sv[1], "x", 1), 1);
    trigger.fn = [&] { pool.cancel(upstream.addr.text, &user); };
    ASSERT_EQ(
        pool.acquire(upstream.addr, limits, &user, false, nullptr, config::UpstreamProtocol::H2c),
        UpstreamPool::Acquire::Pending);
    // The handshake is done (the connection waits in the accept queue) before the loop looks:
    // its first turn sees the trigger, then the finished connect.
    pollfd p{upstream.fd, POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1);
    core::Timer stop(loop, [&] { loop.stop(); });
    stop.arm(core::Millis(200));
    loop.run();
    // The cancelled connection was closed, not made a session (nor deleted twice).
    EXPECT_EQ(stats.get(Counter::UpstreamH2Connections), 0u);
    EXPECT_EQ(user.ready, 0);
    EXPECT_EQ(pool.openConnections(), 0u);
    ::close(sv[1]);
  }
}

}  // namespace
}  // namespace meridian::proxy
