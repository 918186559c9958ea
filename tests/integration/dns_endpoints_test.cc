// Endpoints named by DNS names, end to end: a real DNS server (Debian's dnsmasq, on a loopback
// port this test picks) answers `app.test` from a hosts file the test rewrites (dnsmasq reads
// it again on SIGHUP), with a TTL of 1 s. Two FakeUpstreams share one port on 127.0.0.2 and
// 127.0.0.3, as two instances behind one name. Under steady load the name moves from one
// address to the other: the new one takes traffic, the old one drains, no request fails; when
// the DNS server dies, the last good addresses keep serving.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A port free for both UDP and TCP on 127.0.0.1 (dnsmasq listens on both): a UDP port from
// the kernel, kept only when TCP can bind it too.
uint16_t freeDnsPort() {
  for (int attempt = 0; attempt < 100; ++attempt) {
    int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(udp, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(udp, reinterpret_cast<sockaddr*>(&a), &len);
    bool ok = ::bind(tcp, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(udp);
    ::close(tcp);
    if (ok) return ntohs(a.sin_port);
  }
  return 0;
}

// One A query for app.test: true once the server answers at all.
bool dnsAnswers(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  timeval tv{0, 200000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  static const unsigned char query[] = {0x12, 0x34, 1,   0, 0,   1,   0,   0,   0, 0, 0, 0, 3,
                                        'a',  'p',  'p', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1};
  ::sendto(fd, query, sizeof query, 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  char buf[512];
  bool ok = ::recv(fd, buf, sizeof buf, 0) > 0;
  ::close(fd);
  return ok;
}

class DnsEndpointsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    first_.setHandler(
        [](const fakes::ReceivedRequest&) { return Action::respond(200, {}, "first"); });
    second_ = std::make_unique<FakeUpstream>(
        FakeUpstream::Options{milliseconds(0), 64 << 20, "127.0.0.3", first_.port()});
    second_->setHandler([this](const fakes::ReceivedRequest& r) {
      if (r.target == "/healthz" && !second_ready_) return Action::respond(503, {}, "starting");
      return Action::respond(200, {}, "second");
    });
  }
  void TearDown() override {
    if (dns_.pid > 0) fakes::stopChild(dns_, 2000ms);
  }

  ::testing::AssertionResult startDns(const std::string& hosts) {
    dir_.write("hosts", hosts);
    dns_port_ = freeDnsPort();
    struct File {
      int fd_;
      int fd() const { return fd_; }
      ~File() {
        if (fd_ >= 0) ::close(fd_);
      }
    } err{::open(dir_.file("dnsmasq.err").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644)};
    // Debian puts it in /usr/sbin, which a non-root PATH may lack.
    std::string dnsmasq =
        ::access("/usr/sbin/dnsmasq", X_OK) == 0 ? "/usr/sbin/dnsmasq" : "dnsmasq";
    dns_ = fakes::spawnChild(
        {dnsmasq, "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
         "--addn-hosts=" + dir_.file("hosts"), "--listen-address=127.0.0.1", "--bind-interfaces",
         "--port=" + std::to_string(dns_port_), "--local-ttl=1", "--user=root",
         "--pid-file=", "--log-facility=" + dir_.file("dnsmasq.log")},
        -1, -1, err.fd());
    auto until = Clock::now() + kWait;
    while (Clock::now() < until)
      if (dnsAnswers(dns_port_)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "dnsmasq does not answer: " << fakes::readFile(dir_.file("dnsmasq.log"))
           << fakes::readFile(dir_.file("dnsmasq.err"));
  }

  void setHosts(const std::string& hosts) {
    dir_.write("hosts", hosts);
    ::kill(dns_.pid, SIGHUP);  // dnsmasq reads its hosts files again
  }

  ::testing::AssertionResult startProxy() {
    std::string y =
        "workers: 2\naccess_log: \"off\"\n"
        "listeners:\n  - { name: public, address: 127.0.0.1:0, region: ams }\n"
        "admin: { address: 127.0.0.1:0 }\n"
        "dns: { servers: [\"127.0.0.1:" +
        std::to_string(dns_port_) +
        "\"] }\n"
        "regions:\n  - { name: ams, lat: 52.37, lon: 4.90 }\n"
        "clusters:\n  - name: web\n    endpoints:\n"
        "      - { address: \"app.test:" +
        std::to_string(first_.port()) +
        "\", region: ams }\n"
        "    dns_refresh: 200ms\n"
        "    health_check: { path: /healthz, interval: 100ms, unhealthy_interval: 100ms }\n"
        "routes:\n  - name: app\n    match: { path_prefix: / }\n"
        "    backends: [ { cluster: web, weight: 1 } ]\n";
    return proxy_.start(y);
  }

  // GETs one after another on keep-alive connections until stopped: counts by body.
  struct Load {
    std::atomic<bool> stop{false};
    std::atomic<int> first{0}, second{0}, errors{0};
    std::thread thread;
  };
  void startLoad(Load& load) {
    load.thread = std::thread([this, &load] {
      while (!load.stop) {
        TcpClient c;
        if (!c.connect(proxy_.listenerPort("public"), 3000ms)) {
          ++load.errors;
          continue;
        }
        for (int i = 0; i < 20 && !load.stop; ++i) {
          HttpResponse r;
          if (!c.send("GET /x HTTP/1.1\r\nHost: app\r\n\r\n") || !c.readResponse(r, kWait)) {
            ++load.errors;
            break;
          }
          if (r.status != 200)
            ++load.errors;
          else if (r.body == "first")
            ++load.first;
          else if (r.body == "second")
            ++load.second;
        }
      }
    });
  }

  // Bounded: until `pred` holds, or kWait.
  template <typename Pred>
  bool eventually(Pred pred) {
    auto until = Clock::now() + kWait;
    while (Clock::now() < until) {
      if (pred()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  std::atomic<bool> second_ready_{true};
  fakes::TempDir dir_{"dns"};
  fakes::Child dns_;
  uint16_t dns_port_ = 0;
  FakeUpstream first_{FakeUpstream::Options{milliseconds(0), 64 << 20, "127.0.0.2", 0}};
  std::unique_ptr<FakeUpstream> second_;
  MeridianProcess proxy_;
};

TEST_F(DnsEndpointsTest, TheNameMovesUnderLoadWithNoError) {
  ASSERT_TRUE(startDns("127.0.0.2 app.test\n"));
  ASSERT_TRUE(startProxy());
  Load load;
  startLoad(load);
  EXPECT_TRUE(eventually([&] { return load.first > 50; }));
  setHosts("127.0.0.3 app.test\n");
  EXPECT_TRUE(eventually([&] { return load.second > 0; })) << "the new address never served";
  int first_then = load.first;
  int second_then = load.second;
  EXPECT_TRUE(eventually([&] { return load.second > second_then + 200; }));
  // Drained: requests already on their way may still finish there, new ones do not go.
  EXPECT_LE(load.first - first_then, 40);
  load.stop = true;
  load.thread.join();
  EXPECT_EQ(load.errors, 0);
  auto regions = curl({proxy_.adminUrl("/regions")});
  EXPECT_NE(regions.out.find("\"dns_name\": \"app.test:"), std::string::npos) << regions.out;
  EXPECT_NE(regions.out.find("127.0.0.3:" + std::to_string(first_.port())), std::string::npos);
  auto metrics = curl({proxy_.adminUrl("/metrics")});
  EXPECT_NE(metrics.out.find("meridian_dns_addresses{name=\"app.test\"} 1\n"), std::string::npos)
      << metrics.out;
}

// An address added beside one that stays takes traffic only after its first passing check.
TEST_F(DnsEndpointsTest, AnAddedAddressWaitsForItsFirstPassingCheck) {
  second_ready_ = false;
  ASSERT_TRUE(startDns("127.0.0.2 app.test\n"));
  ASSERT_TRUE(startProxy());
  Load load;
  startLoad(load);
  EXPECT_TRUE(eventually([&] { return load.first > 20; }));
  setHosts("127.0.0.2 app.test\n127.0.0.3 app.test\n");
  EXPECT_TRUE(eventually([&] {
    auto r = curl({proxy_.adminUrl("/regions")});
    return r.out.find("127.0.0.3:" + std::to_string(first_.port())) != std::string::npos;
  }));
  int before = load.first;
  EXPECT_TRUE(eventually([&] { return load.first > before + 100; }));
  EXPECT_EQ(load.second, 0);  // failing its checks: never used
  second_ready_ = true;
  EXPECT_TRUE(eventually([&] { return load.second > 20; }));
  load.stop = true;
  load.thread.join();
  EXPECT_EQ(load.errors, 0);
}

// Both addresses: both take traffic. Then the DNS server dies: lookups fail, are counted, and
// the last good addresses keep serving without an error.
TEST_F(DnsEndpointsTest, AFailedLookupKeepsTheLastGoodAddresses) {
  ASSERT_TRUE(startDns("127.0.0.2 app.test\n127.0.0.3 app.test\n"));
  ASSERT_TRUE(startProxy());
  Load load;
  startLoad(load);
  EXPECT_TRUE(eventually([&] { return load.first > 20 && load.second > 20; }));
  fakes::stopChild(dns_, 2000ms);
  dns_.pid = -1;
  auto failures = [&] {
    auto m = curl({proxy_.adminUrl("/metrics")});
    return m.out.find("meridian_dns_resolutions_total{name=\"app.test\",result=\"error\"} 0\n") ==
               std::string::npos &&
           m.out.find("result=\"error\"}") != std::string::npos;
  };
  EXPECT_TRUE(eventually(failures));
  int before = load.first + load.second;
  EXPECT_TRUE(eventually([&] { return load.first + load.second > before + 200; }));
  load.stop = true;
  load.thread.join();
  EXPECT_EQ(load.errors, 0);
  auto metrics = curl({proxy_.adminUrl("/metrics")});
  EXPECT_NE(metrics.out.find("meridian_dns_addresses{name=\"app.test\"} 2\n"), std::string::npos)
      << metrics.out;
}

}  // namespace
}  // namespace meridian::integration
