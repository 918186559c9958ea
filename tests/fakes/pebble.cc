#include "tests/fakes/pebble.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "tests/fakes/tcp_client.h"
#include "tests/fakes/tls_tools.h"

namespace meridian::fakes {

uint16_t pickFreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

void Pebble::writeConfig(const Options& options) {
  auto lo = [](uint16_t p) { return "127.0.0.1:" + std::to_string(p); };
  std::string config = "{\"pebble\": {\"listenAddress\": \"" + lo(port_) +
                       "\", \"managementListenAddress\": \"" + lo(management_port_) +
                       "\", \"certificate\": \"" + dir_.file("tls/cert.pem") +
                       "\", \"privateKey\": \"" + dir_.file("tls/key.pem") +
                       "\", \"httpPort\": " + std::to_string(options.http_port) +
                       ", \"tlsPort\": " + std::to_string(options.tls_port) +
                       ", \"ocspResponderURL\": \"\", \"externalAccountBindingRequired\": false";
  if (options.validity_seconds > 0)
    config += ", \"certificateValidityPeriod\": " + std::to_string(options.validity_seconds);
  config += "}}\n";
  dir_.write("pebble.json", config);
}

bool Pebble::installed() {
  return ::access("/usr/bin/pebble", X_OK) == 0 &&
         ::access("/usr/bin/pebble-challtestsrv", X_OK) == 0;
}

Pebble::~Pebble() {
  stop();
  if (challtestsrv_.pid > 0) stopChild(challtestsrv_, milliseconds(3000));
}

::testing::AssertionResult Pebble::start(const Options& options) {
  options_ = options;
  if (!made_cert_) {
    auto r = certsDev("localhost,127.0.0.1", dir_.file("tls"));
    if (r.exitCode != 0) return ::testing::AssertionFailure() << "certs dev: " << r.describe();
    made_cert_ = true;
    port_ = pickFreePort();
    management_port_ = pickFreePort();
    dns_port_ = pickFreePort();
    dns_management_port_ = pickFreePort();
  }
  auto lo = [](uint16_t p) { return "127.0.0.1:" + std::to_string(p); };
  int log =
      ::open(dir_.file("pebble.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (challtestsrv_.pid < 0) {
    // DNS for the validation: every name is 127.0.0.1 (no AAAA, meridian listens on IPv4).
    challtestsrv_ =
        spawnChild({"/usr/bin/pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
                    "-dns01", lo(dns_port_), "-http01", "", "-https01", "", "-tlsalpn01", "",
                    "-management", lo(dns_management_port_)},
                   -1, log, log);
  }
  setenv("PEBBLE_VA_NOSLEEP", "1", 1);
  setenv("PEBBLE_WFE_NONCEREJECT", options.nonce_reject.c_str(), 1);
  setenv("PEBBLE_AUTHZREUSE", "0", 1);
  // pebble takes fixed ports, picked free here; a process binding port 0 meanwhile (another
  // test's listener) may take one first, and pebble exits. The management port is only ours
  // to read the root from: a new one is picked and pebble started again (bounded). The ACME
  // port is in the configs of the proxies under test, and stays.
  for (int attempt = 0; attempt < 5; ++attempt) {
    writeConfig(options);
    pebble_ = spawnChild(
        {"/usr/bin/pebble", "-config", dir_.file("pebble.json"), "-dnsserver", lo(dns_port_)}, -1,
        log, log);
    // Ready once both its ports answer as pebble (its management port over TLS with its own
    // certificate: a port another process took does not), or gone (bounded).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    bool exited = false;
    while (std::chrono::steady_clock::now() < deadline && !exited) {
      TcpClient c;
      if (c.connect(port_, milliseconds(500)) &&
          curl({"-sf", "--cacert", caFile(),
                "https://127.0.0.1:" + std::to_string(management_port_) + "/roots/0"})
                  .exitCode == 0) {
        ::close(log);
        return ::testing::AssertionSuccess();
      }
      int status = 0;
      exited = ::waitpid(pebble_.pid, &status, WNOHANG) == pebble_.pid;
      if (!exited) std::this_thread::sleep_for(milliseconds(50));
    }
    if (!exited) break;
    if (pebble_.pidfd >= 0) ::close(pebble_.pidfd);
    pebble_ = Child{};
    management_port_ = pickFreePort();
  }
  ::close(log);
  return ::testing::AssertionFailure() << "pebble did not listen within 15s (5 tries):\n"
                                       << this->log();
}

void Pebble::stop() {
  if (pebble_.pid > 0) stopChild(pebble_, milliseconds(3000));
  pebble_ = Child{};
}

std::string Pebble::directoryUrl() const {
  return "https://127.0.0.1:" + std::to_string(port_) + "/dir";
}

std::string Pebble::caFile() const {
  return dir_.file("tls/ca.pem");
}

std::string Pebble::issuingRootFile() {
  auto r = curl(
      {"--cacert", caFile(), "https://127.0.0.1:" + std::to_string(management_port_) + "/roots/0"});
  return dir_.write("root.pem", r.out);
}

std::string Pebble::log() const {
  return tail(readFile(dir_.file("pebble.log")), 4000);
}

}  // namespace meridian::fakes
