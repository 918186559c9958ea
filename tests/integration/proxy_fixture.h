#pragma once
// A FakeUpstream behind the real meridian binary, with a config built per test. Every port
// is 0; the binary's ports come from its ready file.
#include <gtest/gtest.h>

#include <sys/types.h>

#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/meridian_process.h"
#include "tests/fakes/subprocess.h"
#include "tests/fakes/tcp_client.h"

namespace meridian::integration {

using fakes::Action;
using fakes::curl;
using fakes::FakeUpstream;
using fakes::HttpResponse;
using fakes::MeridianProcess;
using fakes::TcpClient;
using std::chrono::milliseconds;

inline constexpr milliseconds kWait{10000};

// Memory bounds are not checked under the sanitizers: their quarantine keeps freed memory
// resident.
#ifdef MERIDIAN_SANITIZED
inline constexpr bool kCheckMemory = false;
#else
inline constexpr bool kCheckMemory = true;
#endif

// A field of /proc/PID/status in KiB ("VmRSS", "VmHWM"); -1 when absent.
inline long procStatusKiB(pid_t pid, std::string_view field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 &&
        line[field.size()] == ':')
      return std::stol(line.substr(field.size() + 1));
  return -1;
}

// How long a fresh connection's answer may take: under the sanitizers on a busy 2-core machine
// everything is several times slower (the same allowance as wrk's timeout there). A request
// that is really lost still shows, as a reset, a 5xx or no answer at all.
#ifdef MERIDIAN_SANITIZED
inline constexpr milliseconds kFreshAnswerWait{15000};
#else
inline constexpr milliseconds kFreshAnswerWait{5000};
#endif

// One GET on a fresh connection to 127.0.0.1:port, closed after it: the status, or 0 when
// connecting, sending or reading failed (for clients that count failures, not assert). `why`,
// when given, gets what went wrong, for the failure message.
inline int freshConnectionGet(uint16_t port, std::string* why = nullptr) {
  auto fail = [&](const char* what) {
    if (why) *why = what;
    return 0;
  };
  TcpClient c;
  if (!c.connect(port, milliseconds(3000))) return fail("connect failed or took over 3s");
  if (!c.send("GET /fresh HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"))
    return fail("send failed");
  HttpResponse r;
  if (!c.readResponse(r, kFreshAnswerWait)) return fail("no whole answer in time");
  if (why && r.status != 200) *why = "status " + std::to_string(r.status);
  return r.status;
}

class ProxyTest : public ::testing::Test {
 protected:
  // `limits` and `timeouts` are YAML flow maps ("{ max_headers: 10 }"), empty for defaults.
  std::string configYaml(const std::string& limits = "", const std::string& timeouts = "",
                         int workers = 1) const {
    return configYamlWith("  - { name: public, address: 127.0.0.1:0, region: ams }\n", limits,
                          timeouts, workers);
  }

  // The same config with these entries under `listeners:` (TLS ones, several).
  std::string configYamlWith(const std::string& listeners, const std::string& limits = "",
                             const std::string& timeouts = "", int workers = 1) const {
    std::string y =
        "workers: " + std::to_string(workers) +
        "\naccess_log: \"off\"\n"
        "listeners:\n" +
        listeners +
        "admin: { address: 127.0.0.1:0 }\n"
        "regions:\n  - { name: ams, lat: 52.37, lon: 4.90 }\n" +
        extra_regions_ +
        "clusters:\n  - name: web\n    endpoints:\n      - { address: " + upstream_.address() +
        ", region: ams }\n" + cluster_options_ + extra_clusters_ + "routes:\n" + extra_routes_ +
        "  - name: app\n    match: { path_prefix: / }\n"
        "    backends: [ { cluster: web, weight: 1 } ]\n";
    if (!timeouts.empty()) y += "    timeouts: " + timeouts + "\n";
    if (!limits.empty()) y += "limits: " + limits + "\n";
    return y;
  }

  // A TLS listener named `public` serving the dev certificate in `cert_dir` (certs dev's
  // layout), with more `tls:` keys in `tls_extra` (indented as they are under tls:).
  static std::string tlsListener(const std::string& cert_dir, const std::string& tls_extra = "") {
    return "  - name: public\n    address: 127.0.0.1:0\n    region: ams\n"
           "    tls:\n" +
           tls_extra + "      certificates:\n        - { cert: " + cert_dir +
           "/cert.pem, key: " + cert_dir + "/key.pem }\n";
  }

  ::testing::AssertionResult startProxy(const std::string& limits = "",
                                        const std::string& timeouts = "", int workers = 1) {
    return proxy_.start(configYaml(limits, timeouts, workers));
  }

  uint16_t port() const { return proxy_.listenerPort("public"); }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port()) + path;
  }

  // One request on a fresh connection; the whole response.
  HttpResponse roundTrip(const std::string& request, bool head = false) {
    TcpClient c;
    EXPECT_TRUE(c.connect(port()));
    EXPECT_TRUE(c.send(request));
    HttpResponse r;
    EXPECT_TRUE(c.readResponse(r, kWait, head));
    return r;
  }

  // Current value of a /metrics series (exact series text, labels included); -1 if absent.
  long long metric(const std::string& series) {
    auto r = curl({proxy_.adminUrl("/metrics")});
    size_t at = r.out.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stoll(r.out.substr(at + series.size() + 2));
  }

  FakeUpstream upstream_;
  MeridianProcess proxy_;
  std::string cluster_options_;  // more keys of the `web` cluster, e.g. "    pool: {...}\n"
  std::string extra_clusters_;
  std::string extra_routes_;
  std::string extra_regions_;  // more entries under `regions:`
};

}  // namespace meridian::integration
