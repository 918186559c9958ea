// What a slow reader costs the proxy: clients that ask for a large response and never read
// it. The proxy must stop reading the upstream once limits.buffer_per_direction is buffered
// for the client (HTTP/1.1 connection or HTTP/2 stream), and give the memory back once the
// clients are gone. Measured as the load test does (loadtest/run.sh slow): RSS growth of the
// process divided by the number of readers.
//
// Each client announces a 1460-byte MSS and a 4 KiB receive buffer, as a client on a real
// network would: over loopback's own 64 KiB MSS the kernel would let the proxy's socket take
// megabytes, and the proxy's buffers would never fill.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "tests/fakes/h2_frames.h"
#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

namespace hf = fakes::h2frames;
using Clock = std::chrono::steady_clock;

constexpr int kReaders = 1000;
constexpr int kStreams = 100;  // limits.http2_max_concurrent_streams, by default
// More than the kernel takes on the proxy's side (about 100 KiB with that MSS) plus what the
// proxy may buffer, so every response waits in the proxy.
constexpr uint64_t kResponseBytes = 512 * 1024;
// Measured with the default buffer_per_direction (32 KiB): about 54 KiB per HTTP/1.1 reader
// (up to three 16 KiB read blocks, the exchange, both connections), 66 KiB once on a machine
// busy with builds; 290 KiB before the bound.
constexpr double kMaxKiBPerReader = 72.0;
// A spliced response waits in a pipe (kernel memory, not RSS): what is left is the exchange
// and both connections. Fewer readers than SpliceRelay::kMaxPipesInUse, so all are spliced.
constexpr int kSplicedReaders = 400;
constexpr double kMaxKiBPerSplicedReader = 16.0;
constexpr double kMaxKiBPerStream = 64.0;

class SlowReaderMemoryTest : public ProxyTest {
 protected:
  void SetUp() override {
    upstream_.setHandler([](const fakes::ReceivedRequest& r) {
      return r.target == "/big" ? Action::stream(kResponseBytes) : Action::respond(200, {}, "ok");
    });
  }
  void TearDown() override { closeClients(); }

  void closeClients() {
    for (int fd : fds_) ::close(fd);
    fds_.clear();
  }

  long rssKiB() { return procStatusKiB(proxy_.pid(), "VmRSS"); }

  // RSS once it stops moving: five samples 200 ms apart within 1% of each other, or the last
  // sample at the deadline (the caller's bound then fails on a number still moving).
  long settledRssKiB(milliseconds timeout = milliseconds(30000)) {
    std::vector<long> last;
    auto deadline = Clock::now() + timeout;
    while (true) {
      last.push_back(rssKiB());
      if (last.size() > 5) last.erase(last.begin());
      auto [lo, hi] = std::minmax_element(last.begin(), last.end());
      if ((last.size() == 5 && *hi - *lo <= *hi / 100) || Clock::now() > deadline)
        return last.back();
      std::this_thread::sleep_for(milliseconds(200));  // sampling, not waiting for an event
    }
  }

  // Polls until RSS is at most `kib`, at most `timeout`; returns the last sample.
  long rssFallsTo(long kib, milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    long rss = rssKiB();
    while (rss > kib && Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(100));
      rss = rssKiB();
    }
    return rss;
  }

  // A connected socket with a small receive window and MSS, as a slow mobile client has.
  ::testing::AssertionResult connectSlowClient(int& fd) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return ::testing::AssertionFailure() << "socket: " << strerror(errno);
    fds_.push_back(fd);
    int rcvbuf = 4096, mss = 1460;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      return ::testing::AssertionFailure() << "connect: " << strerror(errno);
    return ::testing::AssertionSuccess();
  }

  static ::testing::AssertionResult sendAll(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return ::testing::AssertionFailure() << "send: " << strerror(errno);
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return ::testing::AssertionSuccess();
  }

  // The whole response once, so the worker's pools and first-use allocations are in `before`.
  void warmUp() {
    auto r = curl({"-s", "-o", "/dev/null", "-w", "%{size_download}", url("/big")});
    ASSERT_EQ(r.exitCode, 0) << r.describe();
    ASSERT_EQ(r.out, std::to_string(kResponseBytes));
  }

  // `readers` clients ask for /big and never read; RSS per reader must stay under `max_kib`,
  // and (memory_returns) most of it must come back once they leave.
  void slowReaders(const std::string& limit, int readers, double max_kib, bool memory_returns);

  std::vector<int> fds_;
};

// Each HTTP/1.1 reader's response is copied through the proxy's buffers (splicing off).
TEST_F(SlowReaderMemoryTest, Http1SlowReadersHoldABoundedBufferAndGiveItBack) {
  slowReaders("splice_min_body: 0", kReaders, kMaxKiBPerReader, true);
}

// The same readers with splicing on (the default): the body waits in a pipe, not in RSS.
TEST_F(SlowReaderMemoryTest, Http1SplicedSlowReadersHoldTheirBodiesOutsideTheProcess) {
  // What they hold (a few MiB in all) is below what makes a worker trim its freed memory
  // (core::Buffer::kTrimAfterBytes), so only the bound is checked.
  slowReaders("splice_min_body: 16KiB", kSplicedReaders, kMaxKiBPerSplicedReader, false);
}

void SlowReaderMemoryTest::slowReaders(const std::string& limit, int readers, double max_kib,
                                       bool memory_returns) {
  ASSERT_TRUE(startProxy("{ header_timeout: 120s, keepalive_timeout: 120s, " + limit + " }"));
  warmUp();
  long before = settledRssKiB();
  for (int i = 0; i < readers; ++i) {
    int fd = -1;
    ASSERT_TRUE(connectSlowClient(fd)) << "reader " << i;
    ASSERT_TRUE(sendAll(fd, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n"));
  }
  // Every request is being answered (and each response stalls at its reader).
  ASSERT_TRUE(upstream_.waitForRequests(readers + 1, milliseconds(60000)));
  long during = settledRssKiB();
  double per_reader = static_cast<double>(during - before) / readers;
  RecordProperty("KiBPerSlowReader", std::to_string(per_reader));
  if (kCheckMemory) {
    EXPECT_LT(per_reader, max_kib)
        << "RSS " << before << " KiB -> " << during << " KiB with " << readers << " readers";
  }

  // They give up: the exchanges end, the upstream connections close, the memory goes back.
  closeClients();
  EXPECT_TRUE(upstream_.waitForOpenConnections(0, milliseconds(30000)));
  if (kCheckMemory && memory_returns) {
    long target = before + (during - before) / 4;
    long after = rssFallsTo(target, milliseconds(10000));
    EXPECT_LE(after, target) << "RSS " << before << " KiB -> " << during << " KiB -> " << after
                             << " KiB once the readers left";
  }
  // And the proxy serves on.
  warmUp();
}

TEST_F(SlowReaderMemoryTest, Http2StreamsAtAZeroWindowHoldABoundedBufferEach) {
  ASSERT_TRUE(startProxy("{ header_timeout: 120s, keepalive_timeout: 120s }"));
  warmUp();
  long before = settledRssKiB();
  int fd = -1;
  ASSERT_TRUE(connectSlowClient(fd));
  // SETTINGS_INITIAL_WINDOW_SIZE 0: no stream may receive a byte of DATA.
  std::string zero_window("\x00\x04\x00\x00\x00\x00", 6);
  std::string out = std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") +
                    hf::frame(hf::kSettings, 0, 0, zero_window) +
                    hf::frame(hf::kSettings, hf::kAck, 0, {});
  for (int i = 0; i < kStreams; ++i)
    out += hf::frame(hf::kHeaders, hf::kEndStream | hf::kEndHeaders, 1 + 2 * i,
                     hf::requestBlock("/big"));
  ASSERT_TRUE(sendAll(fd, out));
  ASSERT_TRUE(upstream_.waitForRequests(kStreams + 1, milliseconds(30000)));
  long during = settledRssKiB();
  double per_stream = static_cast<double>(during - before) / kStreams;
  RecordProperty("KiBPerZeroWindowStream", std::to_string(per_stream));
  if (kCheckMemory) {
    EXPECT_LT(per_stream, kMaxKiBPerStream)
        << "RSS " << before << " KiB -> " << during << " KiB with " << kStreams << " streams";
  }

  // The client opens its window for one stream: that response arrives whole, so the others
  // were paused, not lost.
  ASSERT_TRUE(sendAll(fd, hf::windowUpdate(0, 0x7fffffff - 65535) +
                              hf::windowUpdate(1, static_cast<uint32_t>(kResponseBytes))));
  uint64_t got = 0;
  bool ended = false;
  std::string buffered;
  auto deadline = Clock::now() + milliseconds(30000);
  timeval tv{0, 200 * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while (!ended && Clock::now() < deadline) {
    char buf[65536];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) continue;  // the receive timeout: look at the deadline again
    buffered.append(buf, static_cast<size_t>(n));
    for (const hf::Frame& f : hf::parse(buffered)) {
      if (f.type != hf::kData || f.stream != 1) continue;
      got += f.payload.size();
      ended = (f.flags & hf::kEndStream) != 0;
    }
  }
  EXPECT_TRUE(ended) << got << " bytes of stream 1";
  EXPECT_EQ(got, kResponseBytes);

  // The other streams' upstream requests are cancelled with the connection; stream 1's
  // upstream connection, its response complete, stays in the pool.
  closeClients();
  EXPECT_TRUE(upstream_.waitForOpenConnections(1, milliseconds(30000)));
}

}  // namespace
}  // namespace meridian::integration
