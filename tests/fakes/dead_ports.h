// Loopback ports where a connect fails in a known way, for tests of what a client does when an
// upstream is down. Plain POSIX sockets, like the other fakes.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace meridian::fakes {

// A port that refuses connections (RST): bound on 127.0.0.1 but not listening, so nothing else
// can take it while the test holds it (a port closed after use could be reused meanwhile).
class RefusedPort {
 public:
  RefusedPort() = default;
  ~RefusedPort() { close(); }
  RefusedPort(const RefusedPort&) = delete;
  RefusedPort& operator=(const RefusedPort&) = delete;

  ::testing::AssertionResult open();
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  void close();

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// A port where connects neither succeed nor fail: it listens with a backlog of 0 and one
// connection made by open() fills its accept queue, so the kernel drops further SYNs (Linux,
// tcp_abort_on_overflow off, the default) and a connect waits until its caller gives up.
class SilentPort {
 public:
  SilentPort() = default;
  ~SilentPort() { close(); }
  SilentPort(const SilentPort&) = delete;
  SilentPort& operator=(const SilentPort&) = delete;

  ::testing::AssertionResult open();
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  void close();

 private:
  int listen_fd_ = -1;
  int filler_fd_ = -1;
  uint16_t port_ = 0;
};

}  // namespace meridian::fakes
