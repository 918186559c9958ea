#include "proxy/cli/demo.h"

#include <stdio.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/loader.h"
#include "core/log.h"
#include "core/stream.h"
#include "proxy/http/http1_parser.h"
#include "proxy/server/server.h"

namespace meridian::proxy {

namespace {

// A demo origin: answers every request with its region's name, keep-alive, on its own loop.
class DemoOrigin {
 public:
  DemoOrigin(std::string region, std::string color)
      : region_(std::move(region)), color_(std::move(color)) {
    auto fd = listenOn(config::HostPort{"127.0.0.1", 0}, 128);
    fd_ = fd.ok() ? fd.value() : -1;
    address_ = fd_ >= 0 ? localAddress(fd_) : "";
  }
  const std::string& address() const { return address_; }
  const std::string& region() const { return region_; }

  // /demo/down and /demo/up flip what /healthz answers, so a region can be taken down and
  // brought back by hand; everything else is answered with the region's name.
  std::string answer(std::string_view target) {
    int status = 200;
    std::string body;
    if (target == "/demo/down" || target == "/demo/up") {
      healthy_ = target == "/demo/up";
      body = region_ + " (" + color_ + ") now answers its health checks with " +
             (healthy_ ? "200" : "503") + "\n";
    } else if (target == "/healthz") {
      status = healthy_ ? 200 : 503;
      body = healthy_ ? "ok\n" : "down\n";
    } else {
      body = "hello from " + region_ + " (" + color_ + ")\n";
    }
    return "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Service Unavailable") +
           "\r\ncontent-type: text/plain\r\ncontent-length: " + std::to_string(body.size()) +
           "\r\nx-demo-color: " + color_ + "\r\n\r\n" + body;
  }

  void start(core::EventLoop& loop) {
    acceptor_ = std::make_unique<core::Acceptor>(loop, fd_, [this, &loop](int c) {
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
        std::string resp = origin_.answer(head.target);
        size_t body_len = head.framing == http1::Framing::ContentLength ? head.content_length : 0;
        if (n < r.consumed + body_len) return;  // wait for the (small) body
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
  bool healthy_ = true;
  int fd_ = -1;
  std::string address_;
  std::unique_ptr<core::Acceptor> acceptor_;
};

std::string demoConfig(const std::vector<std::unique_ptr<DemoOrigin>>& o) {
  return R"(workers: 1
access_log: "off"
listeners:
  - { name: public, address: 127.0.0.1:0, region: ams }
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
)";
}

void printTryThis(Server& server, const std::vector<std::unique_ptr<DemoOrigin>>& origins) {
  std::string pub = server.boundListeners().front().second;
  std::string admin = server.adminAddress();
  const char* p = pub.c_str();
  printf(
      "\nMeridian demo is up: the proxy on http://%s, admin on http://%s\n"
      "Three demo regions (ams, iad, sin) sit behind it. Try:\n\n"
      "  # each client lands in its nearest region (named in the meridian-region header)\n"
      "  curl -s -H 'x-forwarded-for: 203.0.113.7' http://%s/    # Paris -> ams\n"
      "  curl -s -H 'x-forwarded-for: 198.51.100.7' http://%s/   # New York -> iad\n"
      "  curl -s -H 'x-forwarded-for: 192.0.2.7' http://%s/      # Tokyo -> sin\n"
      "  # why: candidates, distances, health and the choice\n"
      "  curl -s 'http://%s/explain?client_ip=203.0.113.7'\n\n"
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
      "  curl -s http://%s/metrics | grep -E 'meridian_(responses|upstream_healthy)'\n\n"
      "Ctrl-C drains and exits.\n\n",
      p, admin.c_str(), p, p, p, admin.c_str(), origins[0]->address().c_str(), admin.c_str(), p,
      origins[0]->address().c_str(), p, pub.substr(0, pub.rfind(':')).c_str(),
      pub.substr(pub.rfind(':') + 1).c_str(), p, admin.c_str());
  fflush(stdout);
}

}  // namespace

int runDemo() {
  std::vector<std::unique_ptr<DemoOrigin>> origins;
  origins.push_back(std::make_unique<DemoOrigin>("ams", "blue"));
  origins.push_back(std::make_unique<DemoOrigin>("iad", "blue"));
  origins.push_back(std::make_unique<DemoOrigin>("sin", "blue"));
  origins.push_back(std::make_unique<DemoOrigin>("ams", "green"));
  for (auto& o : origins) {
    if (o->address().empty()) {
      fprintf(stderr, "demo: cannot listen on loopback\n");
      return 1;
    }
  }
  core::EventLoop origin_loop;
  for (auto& o : origins) o->start(origin_loop);
  std::thread origin_thread([&] { origin_loop.run(); });

  config::LoadResult r = config::loadString(demoConfig(origins), "demo");
  if (!r.ok()) {
    for (const auto& d : r.diagnostics) fprintf(stderr, "%s\n", d.text().c_str());
    origin_loop.stop();
    origin_thread.join();
    return 1;
  }
  Server::Options opts;
  opts.on_ready = [&origins](Server& s) { printTryThis(s, origins); };
  Server server(opts, std::make_shared<const config::Config>(std::move(r.config)));
  int rc = server.run();
  origin_loop.stop();
  origin_thread.join();
  return rc;
}

}  // namespace meridian::proxy
