// Debian's pebble (a test ACME server) and pebble-challtestsrv (its DNS, answering every name
// with 127.0.0.1), run by a test on loopback ports chosen at run time, with a TLS certificate
// made for the test. Stopped (SIGTERM, then SIGKILL) at destruction.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>

#include "tests/fakes/subprocess.h"

namespace meridian::fakes {

// A loopback port nothing listens on as this returns (bound to port 0, then closed).
uint16_t pickFreePort();

class Pebble {
 public:
  struct Options {
    uint16_t http_port = 0;  // where pebble's validation sends HTTP-01 and TLS-ALPN-01
    uint16_t tls_port = 0;
    long validity_seconds = 0;       // 0: pebble's default (5 years)
    std::string nonce_reject = "0";  // PEBBLE_WFE_NONCEREJECT, percent of good nonces refused
  };

  Pebble() = default;
  ~Pebble();
  Pebble(const Pebble&) = delete;
  Pebble& operator=(const Pebble&) = delete;

  static bool installed();
  // Writes its certificate (with `meridian certs dev`), config, and starts both processes;
  // waits until pebble answers. Again after stop(): the same ports (a new root, no accounts).
  ::testing::AssertionResult start(const Options& options);
  void stop();

  std::string directoryUrl() const;
  std::string caFile() const;  // what to trust pebble's own HTTPS by
  // The root that signs issued certificates (management interface /roots/0), as a file.
  std::string issuingRootFile();
  std::string log() const;

 private:
  void writeConfig(const Options& options);
  TempDir dir_{"pebble"};
  Options options_;
  uint16_t port_ = 0, management_port_ = 0, dns_port_ = 0, dns_management_port_ = 0;
  Child pebble_, challtestsrv_;
  bool made_cert_ = false;
};

}  // namespace meridian::fakes
