#include "proxy/cli/demo.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "certs/dev_ca.h"
#include "config/loader.h"
#include "core/log.h"
#include "core/stream.h"
#include "proxy/http/http1_parser.h"
#include "proxy/server/server.h"

namespace meridian::proxy {

namespace {

// A demo origin: answers every request with its region's name, keep-alive, on its own loop.
// Writes (any method but GET and HEAD) are the primary's: the others ask Meridian to replay
// them there, as an app with read replicas would.
class DemoOrigin {
 public:
  DemoOrigin(std::string region, std::string color, bool primary = false)
      : region_(std::move(region)), color_(std::move(color)), primary_(primary) {
    auto fd = listenOn(config::HostPort{"127.0.0.1", 0}, 128);
    fd_ = fd.ok() ? fd.value() : -1;
    address_ = fd_ >= 0 ? localAddress(fd_) : "";
  }
  const std::string& address() const { return address_; }
  const std::string& region() const { return region_; }

  // /demo/down and /demo/up flip what /healthz answers, so a region can be taken down and
  // brought back by hand; everything else is answered with the region's name.
  std::string answer(const http1::RequestHead& head, size_t body_len) {
    std::string_view target = head.target;
    bool write = head.method != "GET" && head.method != "HEAD";
    int status = 200;
    std::string body;
    std::string extra;  // more header lines
    if (target == "/demo/down" || target == "/demo/up") {
      healthy_ = target == "/demo/up";
      body = region_ + " (" + color_ + ") now answers its health checks with " +
             (healthy_ ? "200" : "503") + "\n";
    } else if (target == "/healthz") {
      status = healthy_ ? 200 : 503;
      body = healthy_ ? "ok\n" : "down\n";
    } else if (write && !primary_) {
      // Never reaches the client: Meridian runs the request again in the primary region.
      extra = "meridian-replay: region=primary;state=" + region_ + "-replica\r\n";
      body = region_ + " is a read replica: replay this write in the primary region\n";
    } else if (write) {
      std::string_view src = http1::findHeader(head.headers, "meridian-replay-src");
      body = "hello from " + region_ + " (" + color_ + "), the primary: wrote " +
             std::to_string(body_len) + " bytes" +
             (src.empty() ? std::string() : "; meridian-replay-src: " + std::string(src)) + "\n";
    } else {
      body = "hello from " + region_ + " (" + color_ + ")\n";
    }
    return "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Service Unavailable") +
           "\r\ncontent-type: text/plain\r\ncontent-length: " + std::to_string(body.size()) +
           "\r\nx-demo-color: " + color_ + "\r\n" + extra + "\r\n" + body;
  }

  void start(core::EventLoop& loop) {
    acceptor_ =
        std::make_unique<core::Acceptor>(loop, fd_, [this, &loop](int c, const sockaddr_storage&) {
          new Conn(*this, loop, c);  // owns itself; deleted when the client leaves
        });
  }

 private:
  class Conn final : public core::StreamHandler, public core::Disposable {
   public:
    Conn(DemoOrigin& o, core::EventLoop& loop, int fd)
        : origin_(o), loop_(loop), stream_(loop, fd, this) {}
    void onData(core::Stream& s) override {
      while (!s.input().empty()) {
        size_t n = s.input().size();
        const char* d = s.input().pullup(n);
        http1::RequestHead head;
        http1::ParseResult r = http1::parseRequestHead(d, n, head);
        if (r.status == http1::ParseStatus::NeedMore) return;
        if (r.status == http1::ParseStatus::Error) return close();
        size_t body_len = head.framing == http1::Framing::ContentLength ? head.content_length : 0;
        if (n < r.consumed + body_len) return;  // wait for the (small) body
        std::string resp = origin_.answer(head, body_len);
        s.input().drain(r.consumed + body_len);
        s.output().append(resp);
      }
      if (!s.flush()) close();
    }
    void onEof(core::Stream&) override { close(); }
    void onError(core::Stream&, int) override { close(); }

   private:
    void close() {
      if (closed_) return;
      closed_ = true;
      stream_.pauseReading();
      loop_.deleteLater(this);
    }
    DemoOrigin& origin_;
    core::EventLoop& loop_;
    core::Stream stream_;
    bool closed_ = false;
  };

  std::string region_;
  std::string color_;
  bool primary_ = false;
  bool healthy_ = true;
  int fd_ = -1;
  std::string address_;
  std::unique_ptr<core::Acceptor> acceptor_;
};

// `certs`: a directory with a `meridian certs dev` certificate for 127.0.0.1 and localhost.
std::string demoConfig(const std::vector<std::unique_ptr<DemoOrigin>>& o,
                       const std::string& certs) {
  return R"(workers: 1
access_log: "off"
listeners:
  - { name: public, address: 127.0.0.1:0, region: ams }
  - name: https
    address: 127.0.0.1:0
    region: ams
    tls: { certificates: [ { cert: ")" +
         certs + R"(/cert.pem", key: ")" + certs + R"(/key.pem" } ] }
admin: { address: 127.0.0.1:0 }
geo:
  # No database needed for the demo: overrides place three documentation ranges on three
  # continents, and loopback (curl) is trusted to say where the client is.
  trusted_proxies: [127.0.0.0/8]
  overrides:
    - { cidr: 203.0.113.0/24, lat: 48.86, lon: 2.35, country: FR }
    - { cidr: 198.51.100.0/24, lat: 40.71, lon: -74.0, country: US }
    - { cidr: 192.0.2.0/24, lat: 35.68, lon: 139.69, country: JP }
regions:
  - { name: ams, lat: 52.37, lon: 4.90 }
  - { name: iad, lat: 38.95, lon: -77.45 }
  - { name: sin, lat: 1.35, lon: 103.82 }
clusters:
  - name: web-blue
    endpoints:
      - { address: )" +
         o[0]->address() + R"(, region: ams }
      - { address: )" +
         o[1]->address() + R"(, region: iad }
      - { address: )" +
         o[2]->address() + R"(, region: sin }
    health_check: { path: /healthz, interval: 1s, timeout: 500ms, unhealthy_threshold: 2,
                    healthy_threshold: 2, unhealthy_interval: 500ms }
  - name: web-green
    endpoints:
      - { address: )" +
         o[3]->address() + R"(, region: ams }
routes:
  - name: canary
    match: { host: 127.0.0.1, path_prefix: /canary }
    backends:
      - { cluster: web-blue, weight: 50 }
      - { cluster: web-green, weight: 50 }
  - name: app
    match: { host: 127.0.0.1, path_prefix: / }
    backends:
      - { cluster: web-blue, weight: 100 }
    primary_region: iad      # where `meridian-replay: region=primary` sends a write
    pin_after_write: 10s     # then the writer reads from iad for a while
)";
}

// Where everything listens, for the commands printed.
struct DemoAddresses {
  std::string pub;  // plain HTTP listener, "127.0.0.1:PORT"
  std::string tls;  // HTTPS listener
  std::string admin;
  std::string origin;  // the ams (blue) demo region itself, not through the proxy
  std::string ca;      // the dev CA that signed the HTTPS listener's certificate
};

std::string listenerAddress(const Server& server, const std::string& name) {
  for (const auto& [n, address] : server.boundListeners())
    if (n == name) return address;
  return "";
}

// Every command below is run by tests/integration/demo_test.cc, which checks it does what its
// comment says: a new command needs a check there.
void printRouting(const DemoAddresses& a) {
  const char* p = a.pub.c_str();
  printf(
      "  # each client lands in its nearest region (named in the body and the meridian-region "
      "header)\n"
      "  curl -s -H 'x-forwarded-for: 203.0.113.7' http://%s/    # Paris -> ams\n"
      "  curl -s -H 'x-forwarded-for: 198.51.100.7' http://%s/   # New York -> iad\n"
      "  curl -s -H 'x-forwarded-for: 192.0.2.7' http://%s/      # Tokyo -> sin\n"
      "  # why: candidates, distances, health and the choice\n"
      "  curl -s 'http://%s/explain?client_ip=203.0.113.7&host=127.0.0.1'\n\n",
      p, p, p, a.admin.c_str());
}

void printReplayAndTls(const DemoAddresses& a) {
  const char* t = a.tls.c_str();
  const char* ca = a.ca.c_str();
  printf(
      "  # replay: ams is a read replica; it answers a write with `meridian-replay: "
      "region=primary`,\n"
      "  # so Meridian runs the POST again in iad (the primary), and its meridian-pin cookie\n"
      "  # keeps this client reading from iad for 10s\n"
      "  curl -si -X POST -d 'note=hello' -H 'x-forwarded-for: 203.0.113.7' http://%s/notes\n\n"
      "  # HTTPS with a development certificate (`meridian certs dev`): HTTP/1.1, then HTTP/2\n"
      "  curl -s --http1.1 --cacert %s -w 'HTTP/%%{http_version}\\n' https://%s/\n"
      "  curl -s --http2 --cacert %s -w 'HTTP/%%{http_version}\\n' https://%s/\n\n",
      a.pub.c_str(), ca, t, ca, t);
}

void printFailoverAndMore(const DemoAddresses& a) {
  const char* p = a.pub.c_str();
  const char* admin = a.admin.c_str();
  const char* o = a.origin.c_str();
  std::string host = a.pub.substr(0, a.pub.rfind(':'));
  std::string port = a.pub.substr(a.pub.rfind(':') + 1);
  printf(
      "  # take ams down (its health checks start failing): Paris fails over to iad within ~3s\n"
      "  curl -s http://%s/demo/down\n"
      "  curl -s http://%s/regions\n"
      "  curl -s -H 'x-forwarded-for: 203.0.113.7' http://%s/\n"
      "  curl -s http://%s/demo/up      # and it comes back after two passing checks\n\n"
      "  # blue-green: /canary is split 50/50 between the blue and green clusters\n"
      "  for i in 1 2 3 4 5 6; do curl -s http://%s/canary; done\n\n"
      "  # ambiguous framing is refused, never forwarded (400)\n"
      "  printf 'POST / HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 3\\r\\n"
      "Transfer-Encoding: chunked\\r\\n\\r\\n' | nc -q1 %s %s\n\n"
      "  # a host no route serves: 404 with meridian-error: no_route\n"
      "  curl -si -H 'Host: other.example' http://%s/\n\n"
      "  # requests, replays and health, as Prometheus scrapes them\n"
      "  curl -s http://%s/metrics | grep -E '^meridian_(requests_total|replays_total|"
      "upstream_healthy)'\n\n",
      o, admin, p, o, p, host.c_str(), port.c_str(), p, admin);
}

void printTryThis(Server& server, const std::vector<std::unique_ptr<DemoOrigin>>& origins,
                  const std::string& certs) {
  DemoAddresses a{listenerAddress(server, "public"), listenerAddress(server, "https"),
                  server.adminAddress(), origins[0]->address(), certs + "/ca.pem"};
  printf(
      "\nMeridian demo is up: the proxy on http://%s and https://%s, admin on http://%s\n"
      "Three demo regions (ams, iad, sin) sit behind it; iad is the primary.\n"
      "The dashboard: open http://%s/ in a browser. Try:\n\n",
      a.pub.c_str(), a.tls.c_str(), a.admin.c_str(), a.admin.c_str());
  printRouting(a);
  printReplayAndTls(a);
  printFailoverAndMore(a);
  printf("Ctrl-C drains and exits.\n\n");
  fflush(stdout);
}

// A fresh directory with a dev CA and a certificate for the HTTPS listener; "" on failure.
std::string makeDemoCerts() {
  std::error_code ec;
  std::filesystem::path tmp = std::filesystem::temp_directory_path(ec);
  if (ec) tmp = "/tmp";
  std::string dir = (tmp / "meridian-demo-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) {
    fprintf(stderr, "demo: cannot make a directory in %s\n", tmp.c_str());
    return "";
  }
  auto files = certs::writeDevCertificates({"127.0.0.1", "localhost"}, dir, certs::KeyKind::Ecdsa);
  if (!files.ok()) {
    fprintf(stderr, "demo: certs: %s\n", files.error().detail.c_str());
    std::filesystem::remove_all(dir, ec);
    return "";
  }
  return dir;
}

// --ready-file PATH, as `meridian run` takes it (for scripts and tests); false on anything else.
bool parseDemoArgs(const std::vector<std::string>& args, std::string& ready_file) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--ready-file" && i + 1 < args.size()) {
      ready_file = args[++i];
    } else {
      fprintf(stderr,
              "meridian: unexpected argument '%s'\nusage: meridian demo [--ready-file PATH]\n",
              args[i].c_str());
      return false;
    }
  }
  return true;
}

int serveDemo(const std::vector<std::unique_ptr<DemoOrigin>>& origins, const std::string& certs,
              const std::string& ready_file) {
  config::LoadResult r = config::loadString(demoConfig(origins, certs), "demo");
  if (!r.ok()) {
    for (const auto& d : r.diagnostics) fprintf(stderr, "%s\n", d.text().c_str());
    return 1;
  }
  Server::Options opts;
  opts.ready_file = ready_file;
  opts.on_ready = [&origins, &certs](Server& s) { printTryThis(s, origins, certs); };
  Server server(opts, std::make_shared<const config::Config>(std::move(r.config)));
  return server.run();
}

}  // namespace

int runDemo(const std::vector<std::string>& args) {
  std::string ready_file;
  if (!parseDemoArgs(args, ready_file)) return 2;
  std::vector<std::unique_ptr<DemoOrigin>> origins;
  origins.push_back(std::make_unique<DemoOrigin>("ams", "blue"));
  origins.push_back(std::make_unique<DemoOrigin>("iad", "blue", true));
  origins.push_back(std::make_unique<DemoOrigin>("sin", "blue"));
  origins.push_back(std::make_unique<DemoOrigin>("ams", "green"));
  for (auto& o : origins) {
    if (o->address().empty()) {
      fprintf(stderr, "demo: cannot listen on loopback\n");
      return 1;
    }
  }
  std::string certs = makeDemoCerts();
  if (certs.empty()) return 1;
  core::EventLoop origin_loop;
  for (auto& o : origins) o->start(origin_loop);
  std::thread origin_thread([&] { origin_loop.run(); });
  int rc = serveDemo(origins, certs, ready_file);
  origin_loop.stop();
  origin_thread.join();
  std::error_code ec;
  std::filesystem::remove_all(certs, ec);  // the demo's CA is trusted by nothing after it
  return rc;
}

}  // namespace meridian::proxy
