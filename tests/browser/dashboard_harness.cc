// The world the dashboard's browser tests look at: three regions (fra, iad, sin) each with a
// blue and a green FakeUpstream, the real `meridian` binary in front of them with a 90/10
// blue-green route and an admin token, and a small steady load. Driven by the node test over
// stdin/stdout, one command per line, one JSON answer per line:
//   counts                 -> {"blue": {"fra": N, ...}, "green": {...}}  (requests served,
//                             health checks left out), since the last `reset`
//   reset                  -> {"ok": true}
//   health CLUSTER REGION up|down  -> {"ok": true}: that endpoint's /healthz answers 200 or 503
//   stop                   -> {"ok": true}: meridian is stopped (SIGTERM, reaped)
//   start                  -> the first line again: meridian started anew on the same admin
//                             port (an open page must reconnect by itself)
//   quit
// Its first line is {"admin": "127.0.0.1:P", "listener": ..., "config": PATH, "token": T,
// "pid": meridian's pid, "binary": its path}.
// Every port is the OS's choice; the load is bounded (a request every 10 ms, one connection).
#include <atomic>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/meridian_process.h"
#include "tests/fakes/tcp_client.h"

namespace {

using meridian::fakes::Action;
using meridian::fakes::FakeUpstream;
using meridian::fakes::HttpResponse;
using meridian::fakes::MeridianProcess;
using meridian::fakes::ReceivedRequest;
using meridian::fakes::TcpClient;
using std::chrono::milliseconds;

constexpr const char* kRegions[] = {"fra", "iad", "sin"};
constexpr const char* kClusters[] = {"blue", "green"};
constexpr const char* kToken = "dashboard-test-token";

struct Backend {
  FakeUpstream up;
  std::atomic<bool> healthy{true};
  std::atomic<uint64_t> served{0};
};

std::map<std::string, std::unique_ptr<Backend>> backends;  // "blue/fra" -> backend

std::string config(const std::string& token_file, const std::string& admin_port) {
  std::ostringstream y;
  y << "workers: 2\naccess_log: \"off\"\n"
    << "listeners:\n  - { name: public, address: 127.0.0.1:0, region: fra }\n"
    << "admin: { address: 127.0.0.1:" << admin_port << ", token_file: " << token_file << " }\n"
    << "geo:\n  overrides:\n"
    << "    - { cidr: 127.0.0.0/8, lat: 50.11, lon: 8.68, country: DE }\n"
    << "    - { cidr: 203.0.113.0/24, lat: 1.29, lon: 103.85, country: SG }\n"
    << "    - { cidr: 198.51.100.0/24, lat: 40.71, lon: -74.0, country: US }\n"
    << "regions:\n  - { name: fra, lat: 50.11, lon: 8.68 }\n"
    << "  - { name: iad, lat: 38.95, lon: -77.45 }\n  - { name: sin, lat: 1.35, lon: 103.82 }\n"
    << "clusters:\n";
  for (const char* c : kClusters) {
    y << "  - name: " << c << "\n    health_check: { path: /healthz, interval: 300ms, timeout: "
      << "250ms, healthy_threshold: 1, unhealthy_threshold: 1, unhealthy_interval: 300ms }\n"
      << "    endpoints:\n";
    for (const char* r : kRegions) {
      y << "      - { address: " << backends[std::string(c) + "/" + r]->up.address()
        << ", region: " << r << " }\n";
    }
  }
  y << "routes:\n  - name: app\n    match: { host: app.test, path_prefix: / }\n"
    << "    backends:\n      - { cluster: blue, weight: 90 }\n"
    << "      - { cluster: green, weight: 10 }\n";
  return y.str();
}

std::string countsJson() {
  std::ostringstream o;
  o << "{";
  bool first_cluster = true;
  for (const char* c : kClusters) {
    o << (first_cluster ? "" : ", ") << "\"" << c << "\": {";
    first_cluster = false;
    bool first = true;
    for (const char* r : kRegions) {
      o << (first ? "" : ", ") << "\"" << r << "\": " << backends[std::string(c) + "/" + r]->served;
      first = false;
    }
    o << "}";
  }
  o << "}";
  return o.str();
}

// A request every 10 ms on one kept-alive connection, until `stop`; reconnects when meridian
// restarts. Bounded: it stops with the harness.
void load(std::atomic<bool>& stop, std::atomic<uint16_t>& port) {
  TcpClient c;
  while (!stop) {
    std::this_thread::sleep_for(milliseconds(10));  // pacing, not synchronisation
    if (!c.isOpen() && !c.connect(port.load(), milliseconds(1000))) continue;
    HttpResponse r;
    if (!c.send("GET /page HTTP/1.1\r\nHost: app.test\r\n\r\n", milliseconds(2000)) ||
        !c.readResponse(r, milliseconds(5000))) {
      c.close();
    }
  }
}

}  // namespace

int main() {
  for (const char* c : kClusters) {
    for (const char* r : kRegions) {
      auto b = std::make_unique<Backend>();
      Backend* raw = b.get();
      std::string body = std::string(c) + " " + r;
      b->up.setHandler([raw, body](const ReceivedRequest& req) {
        if (req.target == "/healthz") return Action::respond(raw->healthy ? 200 : 503);
        ++raw->served;
        return Action::respond(200, {}, body);
      });
      backends[std::string(c) + "/" + r] = std::move(b);
    }
  }
  auto proxy = std::make_unique<MeridianProcess>();
  std::string token_file = proxy->writeFile("admin.token", std::string(kToken) + "\n");
  auto started = proxy->start(config(token_file, "0"));
  if (!started) {
    std::cerr << "harness: meridian did not start: " << started.message() << std::endl;
    return 1;
  }
  std::string admin_port = std::to_string(proxy->adminPort());
  std::atomic<uint16_t> port{proxy->listenerPort("public")};
  std::atomic<bool> stop{false};
  std::thread loader(load, std::ref(stop), std::ref(port));
  auto hello = [&proxy] {
    std::cout << "{\"admin\": \"127.0.0.1:" << proxy->adminPort() << "\", \"listener\": \"127.0.0.1:"
              << proxy->listenerPort("public") << "\", \"config\": \"" << proxy->configPath()
              << "\", \"token\": \"" << kToken << "\", \"pid\": " << proxy->pid()
              << ", \"binary\": \""
              << meridian::fakes::meridianBinary() << "\"}" << std::endl;
  };
  hello();
  std::string line;
  int code = 0;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    if (cmd == "quit") break;
    if (cmd == "counts") {
      std::cout << countsJson() << std::endl;
    } else if (cmd == "reset") {
      for (auto& [name, b] : backends) b->served = 0;
      std::cout << "{\"ok\": true}" << std::endl;
    } else if (cmd == "health") {
      std::string cluster, region, how;
      in >> cluster >> region >> how;
      auto it = backends.find(cluster + "/" + region);
      if (it == backends.end()) {
        std::cout << "{\"ok\": false, \"error\": \"no such endpoint\"}" << std::endl;
        continue;
      }
      it->second->healthy = how == "up";
      std::cout << "{\"ok\": true}" << std::endl;
    } else if (cmd == "stop") {
      proxy.reset();
      std::cout << "{\"ok\": true}" << std::endl;
    } else if (cmd == "start" && !proxy) {
      // The same admin port, so that an open page finds the new process where the old was.
      proxy = std::make_unique<MeridianProcess>();
      token_file = proxy->writeFile("admin.token", std::string(kToken) + "\n");
      auto again = proxy->start(config(token_file, admin_port));
      if (!again) {
        std::cout << "{\"ok\": false, \"error\": \"start failed\"}" << std::endl;
        std::cerr << "harness: " << again.message() << std::endl;
        code = 1;
        break;
      }
      port = proxy->listenerPort("public");
      hello();
    } else {
      std::cout << "{\"ok\": false, \"error\": \"unknown command\"}" << std::endl;
    }
  }
  stop = true;
  loader.join();
  return code;
}
