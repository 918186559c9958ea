// HTTP/2 to upstreams and gRPC through the real binary: nghttpd (Debian's nghttp2-server) as
// the h2c and TLS h2 upstream, Python's grpcio as gRPC server and client, and small fakes for
// what no real server does on demand (a GOAWAY that refuses our stream, an upstream that never
// answers). What is checked is what an operator would see: statuses, bodies, trailers, counters,
// and connections counted in /proc.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/fakes/dead_ports.h"
#include "tests/fakes/h2_frames.h"
#include "tests/fakes/tls_tools.h"
#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

using fakes::CommandResult;
namespace h2f = fakes::h2frames;

constexpr const char* kPython = "/usr/bin/python3";  // Debian's, with python3-grpcio

// Ports of `pid`'s TCP sockets in state `st` ("0A" listening, "01" established) with local
// port `local_port` (0: any), from /proc: nghttpd binds port 0 and does not say which.
std::vector<uint16_t> tcpPorts(const std::string& st, uint16_t local_port, pid_t pid) {
  std::set<std::string> inodes;
  if (pid > 0) {
    std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
    if (DIR* d = ::opendir(fd_dir.c_str())) {
      while (dirent* e = ::readdir(d)) {
        char target[128];
        ssize_t n = ::readlink((fd_dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
        if (n <= 0) continue;
        std::string t(target, static_cast<size_t>(n));
        if (t.starts_with("socket:[")) inodes.insert(t.substr(8, t.size() - 9));
      }
      ::closedir(d);
    }
  }
  std::vector<uint16_t> out;
  std::ifstream f("/proc/net/tcp");
  std::string line;
  std::getline(f, line);  // header
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string sl, local, remote, state, queues, timer, retr, uid, timeout, inode;
    in >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode;
    if (state != st) continue;
    uint16_t port =
        static_cast<uint16_t>(std::stoul(local.substr(local.find(':') + 1), nullptr, 16));
    if (local_port != 0 && port != local_port) continue;
    if (pid > 0 && !inodes.contains(inode)) continue;
    out.push_back(port);
  }
  return out;
}

// A child server whose port is found in /proc once it listens.
class ChildServer {
 public:
  ~ChildServer() { stop(); }
  ::testing::AssertionResult start(const std::vector<std::string>& argv) {
    child_ = fakes::spawnChild(argv, -1, -1, -1);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    // Until it execs, the child holds this process's sockets too: those are not its own.
    auto ours = tcpPorts("0A", 0, ::getpid());
    while (std::chrono::steady_clock::now() < deadline) {
      for (uint16_t p : tcpPorts("0A", 0, child_.pid)) {
        if (std::find(ours.begin(), ours.end(), p) != ours.end()) continue;
        port_ = p;
        return ::testing::AssertionSuccess();
      }
      ::poll(nullptr, 0, 20);
    }
    return ::testing::AssertionFailure() << argv[0] << " did not listen";
  }
  void stop() {
    if (child_.pid > 0) fakes::stopChild(child_, milliseconds(2000));
    child_ = {};
  }
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // Connections to it, as the server's side of each (so the proxy's upstream connections).
  size_t connections() const { return tcpPorts("01", port_, child_.pid).size(); }

 private:
  fakes::Child child_;
  uint16_t port_ = 0;
};

// The gRPC server of tests/fixtures/grpc_server.py, in region-named `label`.
class GrpcServer {
 public:
  ~GrpcServer() { stop(); }
  ::testing::AssertionResult start(const std::string& dir, const std::string& label,
                                   const std::string& mode = "ok") {
    ready_ = dir + "/grpc-" + label + ".port";
    child_ = fakes::spawnChild(
        {kPython, std::string(MERIDIAN_SOURCE_DIR) + "/tests/fixtures/grpc_server.py", ready_,
         label, "--mode", mode},
        -1, -1, -1);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      std::string p = fakes::readFile(ready_);
      if (!p.empty()) {
        port_ = static_cast<uint16_t>(std::stoi(p));
        return ::testing::AssertionSuccess();
      }
      ::poll(nullptr, 0, 20);
    }
    return ::testing::AssertionFailure() << "grpc_server.py did not start";
  }
  void stop() {
    if (child_.pid > 0) fakes::stopChild(child_, milliseconds(2000));
    child_ = {};
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  fakes::Child child_;
  std::string ready_;
  uint16_t port_ = 0;
};

// A listening socket nobody accepts from: connects complete (the kernel's backlog) and what
// is sent is never answered. An upstream that hangs.
class HangingPort {
 public:
  ~HangingPort() {
    if (fd_ >= 0) ::close(fd_);
  }
  ::testing::AssertionResult open() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 64) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      return ::testing::AssertionFailure() << "hanging port";
    port_ = ntohs(a.sin_port);
    return ::testing::AssertionSuccess();
  }
  int fd() const { return fd_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// An HTTP/2 server that, on each of `connections` connections in turn, reads up to the first
// request HEADERS and answers with SETTINGS and GOAWAY(last_stream_id 0): the request was not
// processed.
class GoawayServer {
 public:
  ~GoawayServer() {
    if (thread_.joinable()) thread_.join();
  }
  ::testing::AssertionResult start(int connections) {
    auto r = port_.open();
    if (!r) return r;
    thread_ = std::thread([this, connections] {
      for (int i = 0; i < connections; ++i) serve();
    });
    return ::testing::AssertionSuccess();
  }
  std::string address() const { return port_.address(); }
  int requestsSeen() const { return requests_; }

 private:
  void serve() {
    pollfd p{port_.fd(), POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) return;
    int c = ::accept4(port_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    saw_headers_ = false;
    std::string in;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!saw_headers_ && std::chrono::steady_clock::now() < deadline) {
      pollfd q{c, POLLIN, 0};
      if (::poll(&q, 1, fakes::remainingMs(deadline)) <= 0) break;
      char buf[4096];
      ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
      // Frames after the 24-byte preface: 9-byte headers, the type at offset 3.
      for (size_t at = 24; in.size() >= 24 && at + 9 <= in.size();) {
        size_t len = (static_cast<uint8_t>(in[at]) << 16) |
                     (static_cast<uint8_t>(in[at + 1]) << 8) | static_cast<uint8_t>(in[at + 2]);
        if (static_cast<uint8_t>(in[at + 3]) == h2f::kHeaders) saw_headers_ = true;
        at += 9 + len;
      }
    }
    if (saw_headers_) ++requests_;
    std::string goaway(8, '\0');  // last stream id 0, NO_ERROR
    std::string out = h2f::frame(h2f::kSettings, 0, 0, "") + h2f::frame(h2f::kGoaway, 0, 0, goaway);
    (void)!::write(c, out.data(), out.size());
    ::shutdown(c, SHUT_WR);
    char drain[4096];
    pollfd q{c, POLLIN, 0};
    while (::poll(&q, 1, 2000) > 0 && ::read(c, drain, sizeof drain) > 0) {
    }
    ::close(c);
  }
  HangingPort port_;
  std::thread thread_;
  bool saw_headers_ = false;  // this connection's
  std::atomic<int> requests_{0};
};

class UpstreamH2Test : public ProxyTest {
 protected:
  void SetUp() override {
    www_ = proxy_.dir() + "/www";
    ASSERT_EQ(fakes::runCommand({"mkdir", "-p", www_}, milliseconds(5000)).exitCode, 0);
    ASSERT_TRUE(fakes::writeFile(www_ + "/index.html", "hello over h2\n"));
    big_.assign(300 * 1024, 'x');
    for (size_t i = 0; i < big_.size(); i += 7) big_[i] = static_cast<char>('a' + i % 26);
    ASSERT_TRUE(fakes::writeFile(www_ + "/big.bin", big_));
  }

  // Two regions, ams (the listener's, first) and fra; one cluster `c` with `cluster_keys`
  // (indented four spaces, endpoints included) and one route with `route_keys`.
  std::string config(const std::string& cluster_keys, const std::string& route_keys = "") {
    return "workers: 1\naccess_log: \"off\"\n"
           "listeners:\n  - { name: public, address: 127.0.0.1:0, region: ams }\n"
           "admin: { address: 127.0.0.1:0 }\n"
           "regions:\n  - { name: ams, lat: 52.37, lon: 4.90 }\n"
           "  - { name: fra, lat: 50.11, lon: 8.68 }\n"
           "clusters:\n  - name: c\n" +
           cluster_keys +
           "routes:\n  - name: app\n    match: { path_prefix: / }\n"
           "    backends: [ { cluster: c } ]\n" +
           route_keys;
  }
  static std::string endpoints(const std::vector<std::pair<std::string, std::string>>& eps) {
    std::string y = "    endpoints:\n";
    for (const auto& [addr, region] : eps)
      y += "      - { address: " + addr + ", region: " + region + " }\n";
    return y;
  }

  ::testing::AssertionResult startNghttpd(ChildServer& s, bool tls) {
    std::vector<std::string> argv = {"nghttpd", "-a", "127.0.0.1", "-d", www_};
    if (!tls) {
      argv.push_back("--no-tls");
      argv.push_back("0");
    } else {
      pki_ = proxy_.dir() + "/pki";
      CommandResult r = fakes::certsDev("localhost,127.0.0.1", pki_);
      if (r.exitCode != 0) return ::testing::AssertionFailure() << r.describe();
      argv.insert(argv.end(), {"0", pki_ + "/key.pem", pki_ + "/cert.pem"});
    }
    return s.start(argv);
  }

  long long h2(const std::string& what) {
    return metric("meridian_upstream_h2_" + what + "_total");
  }

  nlohmann::json grpcCall(const std::string& method, const std::string& timeout_s = "10") {
    CommandResult r = fakes::runCommand(
        {kPython, std::string(MERIDIAN_SOURCE_DIR) + "/tests/fixtures/grpc_client.py",
         std::to_string(port()), method, timeout_s},
        milliseconds(30000));
    EXPECT_EQ(r.exitCode, 0) << r.describe();
    return nlohmann::json::parse(r.out.empty() ? "{}" : r.out);
  }

  std::string www_;
  std::string pki_;
  std::string big_;
};

TEST_F(UpstreamH2Test, H2cCarriesGetAndPostAndManyRequestsShareOneConnection) {
  ChildServer ng;
  ASSERT_TRUE(startNghttpd(ng, false));
  ASSERT_TRUE(proxy_.start(config("    protocol: h2c\n" + endpoints({{ng.address(), "ams"}}))));

  CommandResult r = curl({"-sS", url("/index.html")});
  EXPECT_EQ(r.out, "hello over h2\n");
  // A body larger than any window both ways: flow control and back-pressure in each direction.
  ASSERT_TRUE(fakes::writeFile(proxy_.dir() + "/up.bin", big_));
  for (const char* te : {"", "Transfer-Encoding: chunked"}) {
    r = curl({"-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", te, "--data-binary",
              "@" + proxy_.dir() + "/up.bin", url("/index.html")});
    EXPECT_EQ(r.out, "200") << te;
  }
  r = curl({"-sS", url("/big.bin")});
  EXPECT_EQ(r.out.size(), big_.size());
  EXPECT_TRUE(r.out == big_);

  // 64 clients at once, 640 requests: one upstream connection carries them all.
  r = fakes::runCommand({"h2load", "--h1", "-n", "640", "-c", "64", url("/index.html")},
                        milliseconds(60000));
  EXPECT_NE(r.out.find("640 succeeded"), std::string::npos) << r.out;
  EXPECT_EQ(h2("connections"), 1);
  EXPECT_EQ(ng.connections(), 1u);
  EXPECT_GE(h2("streams"), 644);
  EXPECT_EQ(metric("meridian_upstream_connects_total"), 1);
}

TEST_F(UpstreamH2Test, H2OverTlsIsChosenByAlpnAndAutoFallsBackToHttp1) {
  ChildServer ng;
  ASSERT_TRUE(startNghttpd(ng, true));
  // `auto` over TLS: ALPN picks h2 from nghttpd. The FakeUpstream (plain) in region fra is
  // spoken to in HTTP/1.1 by a second, plain cluster with `auto` too.
  std::string y = config("    protocol: auto\n    tls: { ca: " + pki_ + "/ca.pem }\n" +
                         endpoints({{ng.address(), "ams"}}));
  y.replace(y.find("routes:\n"), 8,
            "  - name: plain\n    protocol: auto\n    endpoints:\n      - { address: " +
                upstream_.address() +
                ", region: ams }\nroutes:\n  - name: p\n    match: { path_prefix: /plain/ }\n"
                "    backends: [ { cluster: plain } ]\n");
  ASSERT_TRUE(proxy_.start(y));
  EXPECT_EQ(curl({"-sS", url("/index.html")}).out, "hello over h2\n");
  EXPECT_EQ(curl({"-sS", url("/index.html")}).out, "hello over h2\n");
  EXPECT_EQ(h2("streams"), 2);
  EXPECT_EQ(h2("connections"), 1);
  EXPECT_EQ(ng.connections(), 1u);
  CommandResult r = curl({"-sS", "-o", "/dev/null", "-w", "%{http_code}", url("/plain/x")});
  EXPECT_EQ(r.out, "200");
  EXPECT_EQ(h2("streams"), 2);  // the plain request went as HTTP/1.1
}

TEST_F(UpstreamH2Test, H2IsRefusedWhenAlpnDoesNotChooseIt) {
  // protocol: h2 to a TLS server that speaks only HTTP/1.x (openssl s_server, no ALPN): the
  // connect fails and the request gets a 502 saying so, not garbage; nghttpd is served.
  ChildServer ng;
  ASSERT_TRUE(startNghttpd(ng, true));
  ChildServer h1;
  ASSERT_TRUE(h1.start({"openssl", "s_server", "-accept", "127.0.0.1:0", "-cert",
                        pki_ + "/cert.pem", "-key", pki_ + "/key.pem", "-www", "-quiet"}));
  std::string y = config("    protocol: h2\n    tls: { ca: " + pki_ + "/ca.pem }\n" +
                         endpoints({{ng.address(), "ams"}}));
  y.replace(y.find("routes:\n"), 8,
            "  - name: old\n    protocol: h2\n    tls: { ca: " + pki_ +
                "/ca.pem }\n    endpoints:\n      - { address: " + h1.address() +
                ", region: ams }\n"
                // The same server with `auto`: no h2 in its ALPN answer, so HTTP/1.1.
                "  - name: auto1\n    protocol: auto\n    tls: { ca: " +
                pki_ + "/ca.pem }\n    endpoints:\n      - { address: " + h1.address() +
                ", region: ams }\n"
                "routes:\n  - name: o\n    match: { path_prefix: /old/ }\n"
                "    backends: [ { cluster: old } ]\n"
                "  - name: a\n    match: { path_prefix: /auto1/ }\n"
                "    backends: [ { cluster: auto1 } ]\n");
  ASSERT_TRUE(proxy_.start(y));
  EXPECT_EQ(curl({"-sS", url("/index.html")}).out, "hello over h2\n");
  CommandResult r = curl({"-sS", "-i", url("/old/")});
  EXPECT_NE(r.out.find("HTTP/1.1 502"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("meridian-error: upstream_connect_failed"), std::string::npos) << r.out;
  r = curl({"-sS", "-o", "/dev/null", "-w", "%{http_code}", url("/auto1/")});
  EXPECT_EQ(r.out, "200");
  auto cfg = nlohmann::json::parse(curl({proxy_.adminUrl("/config")}).out);
  EXPECT_EQ(cfg["config"]["clusters"][0]["protocol"], "h2") << cfg.dump().substr(0, 400);
  EXPECT_EQ(cfg["config"]["clusters"][0]["pool"]["h2_ping_interval"], "30s");
}

TEST_F(UpstreamH2Test, GoawayBelowOurStreamReplaysItElsewhere) {
  GoawayServer refusing;
  ASSERT_TRUE(refusing.start(2));
  ChildServer ng;
  ASSERT_TRUE(startNghttpd(ng, false));
  ASSERT_TRUE(proxy_.start(config(
      "    protocol: h2c\n" + endpoints({{refusing.address(), "ams"}, {ng.address(), "fra"}}),
      "    replay: { connect_tries_per_region: 1 }\n")));
  CommandResult r = curl({"-sS", "-i", url("/index.html")});
  EXPECT_NE(r.out.find("200 OK"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("meridian-region: fra"), std::string::npos) << r.out;
  EXPECT_EQ(h2("goaways"), 1);
  EXPECT_EQ(h2("refused"), 1);
  // The next request does not go to the connection that is going away: a new one is made
  // (and refused again).
  r = curl({"-sS", "-i", url("/index.html")});
  EXPECT_NE(r.out.find("meridian-region: fra"), std::string::npos) << r.out;
  EXPECT_EQ(refusing.requestsSeen(), 2);
  EXPECT_EQ(h2("goaways"), 2);
  EXPECT_EQ(h2("refused"), 2);
}

TEST_F(UpstreamH2Test, ClientGoneResetsTheStreamAndAnUnansweredPingClosesTheConnection) {
  HangingPort hang;
  ASSERT_TRUE(hang.open());
  ASSERT_TRUE(proxy_.start(config("    protocol: h2c\n    pool: { h2_ping_interval: 100ms }\n" +
                                  endpoints({{hang.address(), "ams"}}))));
  // An HTTP/2 client that gives up after 0.5 s and closes its connection (an HTTP/1.1 client's
  // close after a whole request reads as a half-close, which still waits for the answer).
  auto started = std::chrono::steady_clock::now();
  CommandResult r =
      fakes::runCommand({"nghttp", "--timeout=500ms", url("/slow")}, milliseconds(10000));
  EXPECT_NE((r.out + r.err).find("Timeout"), std::string::npos) << r.describe();
  auto deadline = std::chrono::steady_clock::now() + kWait;
  while (h2("cancels") < 1 && std::chrono::steady_clock::now() < deadline) ::poll(nullptr, 0, 20);
  EXPECT_EQ(h2("cancels"), 1);
  EXPECT_EQ(h2("streams"), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));  // not per_try
  // Idle now: its PING goes unanswered, and the connection is closed at the next interval.
  while (h2("ping_timeouts") < 1 && std::chrono::steady_clock::now() < deadline)
    ::poll(nullptr, 0, 20);
  EXPECT_EQ(h2("ping_timeouts"), 1);
}

TEST_F(UpstreamH2Test, GrpcCallsPassWithTheirTrailers) {
  GrpcServer g;
  ASSERT_TRUE(g.start(proxy_.dir(), "ams"));
  ASSERT_TRUE(proxy_.start(config("    protocol: h2c\n" + endpoints({{g.address(), "ams"}}))));
  auto ok = grpcCall("Unary");
  EXPECT_EQ(ok["code"], "OK") << ok.dump();
  EXPECT_EQ(ok["responses"][0], "hi@ams");
  EXPECT_EQ(ok["trailing"]["x-region"], "ams") << ok.dump();
  auto fail = grpcCall("Fail");
  EXPECT_EQ(fail["code"], "INVALID_ARGUMENT") << fail.dump();
  EXPECT_EQ(fail["details"], "bad thing");
  auto stream = grpcCall("Stream");
  EXPECT_EQ(stream["code"], "OK") << stream.dump();
  EXPECT_EQ(stream["responses"].size(), 3u);
}

TEST_F(UpstreamH2Test, GrpcUnavailableIsReplayedToTheNextRegion) {
  GrpcServer down, up;
  ASSERT_TRUE(down.start(proxy_.dir(), "ams", "unavailable"));
  ASSERT_TRUE(up.start(proxy_.dir(), "fra"));
  ASSERT_TRUE(proxy_.start(
      config("    protocol: h2c\n" + endpoints({{down.address(), "ams"}, {up.address(), "fra"}}),
             "    replay: { methods: [POST], on: [unavailable] }\n")));
  auto r = grpcCall("Unary");
  EXPECT_EQ(r["code"], "OK") << r.dump();
  EXPECT_EQ(r["responses"][0], "hi@fra");
  EXPECT_EQ(metric("meridian_replays_total{route=\"app\",reason=\"unavailable\"}"), 1);
}

TEST_F(UpstreamH2Test, GrpcErrorsMadeByTheProxyAreGrpcStatuses) {
  // grpc-timeout (300 ms) bounds the try although per_try is 10 s: DEADLINE_EXCEEDED from us.
  HangingPort hang;
  ASSERT_TRUE(hang.open());
  fakes::RefusedPort refused;
  ASSERT_TRUE(refused.open());
  std::string y = config("    protocol: h2c\n" + endpoints({{hang.address(), "ams"}}),
                         "    timeouts: { per_try: 10s }\n");
  y.replace(
      y.find("routes:\n"), 8,
      "  - name: dead\n    protocol: h2c\n    endpoints:\n      - { address: " + refused.address() +
          ", region: ams }\nroutes:\n  - name: d\n    match: { path_prefix: /dead. }\n"
          "    backends: [ { cluster: dead } ]\n");
  ASSERT_TRUE(proxy_.start(y));
  ASSERT_TRUE(fakes::writeFile(proxy_.dir() + "/msg.bin", std::string("\0\0\0\0\2hi", 7)));
  auto started = std::chrono::steady_clock::now();
  CommandResult r = fakes::runCommand(
      {"nghttp", "-v", "-H", "content-type: application/grpc", "-H", "te: trailers", "-H",
       "grpc-timeout: 300m", "-d", proxy_.dir() + "/msg.bin", url("/test.Echo/Unary")},
      milliseconds(15000));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_NE(r.out.find(":status: 200"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("grpc-status: 4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("meridian-error: upstream_timeout"), std::string::npos) << r.out;

  // A connect failure with nowhere else to go: UNAVAILABLE, the reason in the message.
  CommandResult d =
      fakes::runCommand({"nghttp", "-v", "-H", "content-type: application/grpc", "-H",
                         "te: trailers", "-d", proxy_.dir() + "/msg.bin", url("/dead.Echo/Unary")},
                        milliseconds(15000));
  EXPECT_NE(d.out.find(":status: 200"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("grpc-status: 14"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("meridian-error: upstream_connect_failed"), std::string::npos) << d.out;

  // The same call over HTTP/1.1: refused, saying why.
  CommandResult h1 = curl({"-sS", "-i", "-H", "content-type: application/grpc", "--data-binary",
                           "@" + proxy_.dir() + "/msg.bin", url("/test.Echo/Unary")});
  EXPECT_NE(h1.out.find("HTTP/1.1 415 Unsupported Media Type"), std::string::npos) << h1.out;
  EXPECT_NE(h1.out.find("meridian-error: grpc_needs_http2"), std::string::npos) << h1.out;
  EXPECT_NE(h1.out.find("gRPC needs HTTP/2"), std::string::npos) << h1.out;
}

}  // namespace
}  // namespace meridian::integration

namespace meridian::integration {
namespace {

TEST_F(UpstreamH2Test, HealthChecksOfAnH2cClusterSpeakHttp2) {
  // nghttpd answers no HTTP/1.1: an endpoint that starts unhealthy becomes healthy only if
  // the check spoke HTTP/2 to it.
  ChildServer ng;
  ASSERT_TRUE(startNghttpd(ng, false));
  ASSERT_TRUE(proxy_.start(config("    protocol: h2c\n" + endpoints({{ng.address(), "ams"}}) +
                                  "    health_check: { path: /index.html, interval: 100ms, "
                                  "assume_healthy: false, healthy_threshold: 1 }\n")));
  auto deadline = std::chrono::steady_clock::now() + kWait;
  std::string body;
  while (std::chrono::steady_clock::now() < deadline) {
    body = curl({"-sS", url("/index.html")}).out;
    if (body == "hello over h2\n") break;
    ::poll(nullptr, 0, 50);
  }
  EXPECT_EQ(body, "hello over h2\n");
}

}  // namespace
}  // namespace meridian::integration

namespace meridian::integration {
namespace {

TEST_F(UpstreamH2Test, AHedgeOnAnotherStreamWinsAndTheLoserIsReset) {
  // The near region's upstream takes the stream and never answers; the hedge, after 100 ms,
  // goes to nghttpd in the next region on a stream of its own. Its answer wins; the first
  // stream is reset, and the connection to the hanging upstream is left as it was.
  HangingPort hang;
  ASSERT_TRUE(hang.open());
  ChildServer ng;
  ASSERT_TRUE(startNghttpd(ng, false));
  ASSERT_TRUE(proxy_.start(
      config("    protocol: h2c\n" + endpoints({{hang.address(), "ams"}, {ng.address(), "fra"}}),
             "    replay: { hedge: { after: 100ms } }\n")));
  CommandResult r = curl({"-sS", "-i", "-m", "5", url("/index.html")});
  EXPECT_NE(r.out.find("200 OK"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("meridian-region: fra"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("hello over h2"), std::string::npos) << r.out;
  EXPECT_EQ(h2("streams"), 2);
  EXPECT_EQ(h2("cancels"), 1);
  EXPECT_EQ(h2("connections"), 2);
}

}  // namespace
}  // namespace meridian::integration
