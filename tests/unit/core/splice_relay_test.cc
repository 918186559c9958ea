// SpliceRelay between two real loopback TCP connections: every byte arrives in order, an early
// close of the source is reported as such, and an emptied pipe serves the next relay.
#include "core/splice_relay.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "tests/fakes/http_wire.h"

namespace meridian::core {
namespace {

// A connected pair of TCP sockets on loopback: [0] is ours (non-blocking), [1] the peer's.
struct TcpPair {
  int fd[2] = {-1, -1};
  TcpPair() {
    int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(lfd, 1);
    ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
    fd[1] = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ::connect(fd[1], reinterpret_cast<sockaddr*>(&a), sizeof a);
    fd[0] = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ::close(lfd);
  }
  ~TcpPair() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
  void closePeer() {
    ::close(fd[1]);
    fd[1] = -1;
  }
};

class Recorder : public SpliceRelay::Handler {
 public:
  explicit Recorder(EventLoop& loop) : loop_(loop) {}
  void onSplice(SpliceRelay&, SpliceRelay::Status s, uint64_t moved, int) override {
    moved_ += moved;
    status_ = s;
    if (s != SpliceRelay::Status::Moving) loop_.stop();
  }
  EventLoop& loop_;
  uint64_t moved_ = 0;
  SpliceRelay::Status status_ = SpliceRelay::Status::Moving;
};

// Writes `bytes` of the test pattern to `fd` (blocking), from a thread.
std::thread writer(int fd, uint64_t bytes) {
  return std::thread([fd, bytes] {
    std::string data = fakes::patternBytes(0, bytes);
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  });
}

// Reads `bytes` from `fd` (blocking), from a thread, into `out`.
std::thread reader(int fd, uint64_t bytes, std::string& out) {
  return std::thread([fd, bytes, &out] {
    char buf[65536];
    while (out.size() < bytes) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      out.append(buf, static_cast<size_t>(n));
    }
  });
}

// Runs the loop until the relay ends, at most 10 s.
void runBounded(EventLoop& loop) {
  Timer guard(loop, [&loop] { loop.stop(); });
  guard.arm(Millis(10000));
  loop.run();
}

TEST(SpliceRelay, MovesEveryByteInOrderAndReusesItsPipe) {
  EventLoop loop;
  constexpr uint64_t kBytes = 3 << 20;  // many pipefuls, past both socket buffers
  for (int round = 0; round < 2; ++round) {
    TcpPair src, dst;
    Recorder rec(loop);
    std::string got;
    std::thread w = writer(src.fd[1], kBytes);
    std::thread r = reader(dst.fd[1], kBytes, got);
    uint64_t pipes_before = SpliceRelay::pipesCreated();
    auto relay = SpliceRelay::make(loop, src.fd[0], dst.fd[0], kBytes, &rec);
    ASSERT_NE(relay, nullptr);
    relay->start();
    if (rec.status_ == SpliceRelay::Status::Moving) runBounded(loop);
    w.join();
    r.join();
    EXPECT_EQ(rec.status_, SpliceRelay::Status::Done);
    EXPECT_EQ(rec.moved_, kBytes);
    ASSERT_EQ(got.size(), kBytes);
    EXPECT_TRUE(fakes::matchesPattern(got));
    // The second relay takes the first one's emptied pipe.
    if (round == 1) {
      EXPECT_EQ(SpliceRelay::pipesCreated(), pipes_before);
    }
  }
}

TEST(SpliceRelay, ASourceThatClosesEarlyIsReported) {
  EventLoop loop;
  TcpPair src, dst;
  Recorder rec(loop);
  std::string got;
  std::thread w = writer(src.fd[1], 100000);
  w.join();
  src.closePeer();
  std::thread r = reader(dst.fd[1], 100000, got);
  auto relay = SpliceRelay::make(loop, src.fd[0], dst.fd[0], 1 << 20, &rec);
  ASSERT_NE(relay, nullptr);
  relay->start();
  if (rec.status_ == SpliceRelay::Status::Moving) runBounded(loop);
  EXPECT_EQ(rec.status_, SpliceRelay::Status::SourceEof);
  relay.reset();
  ::shutdown(dst.fd[0], SHUT_WR);  // ends the reader once it has what arrived
  r.join();
  EXPECT_LE(got.size(), 100000u);
  EXPECT_TRUE(fakes::matchesPattern(got));
}

}  // namespace
}  // namespace meridian::core
