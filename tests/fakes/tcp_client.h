// TcpClient: a raw TCP client for tests that need exact bytes on the wire (pipelining,
// malformed requests, half-closes, resets). Every read has a deadline.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "tests/fakes/http_wire.h"

namespace meridian::fakes {

using std::chrono::milliseconds;

struct HttpResponse {
  int status = 0;
  std::string statusLine;
  Headers headers;
  Headers trailers;
  bool chunked = false;
  std::string body;  // decoded

  std::string_view header(std::string_view name) const { return findHeader(headers, name); }
};

class TcpClient {
 public:
  TcpClient() = default;
  ~TcpClient();
  TcpClient(TcpClient&& other) noexcept;
  TcpClient& operator=(TcpClient&& other) noexcept;

  ::testing::AssertionResult connect(uint16_t port, milliseconds timeout = milliseconds(5000));
  ::testing::AssertionResult send(std::string_view bytes,
                                  milliseconds timeout = milliseconds(5000));

  // Reads until done(all bytes received so far) is true; fails at the deadline, or when the
  // peer closes first. The bytes stay in received().
  ::testing::AssertionResult readUntil(const std::function<bool(std::string_view)>& done,
                                       milliseconds timeout);
  ::testing::AssertionResult readUntilContains(std::string_view needle, milliseconds timeout);
  // Reads until the peer closes (FIN or RST; see resetByPeer()).
  ::testing::AssertionResult readUntilClose(milliseconds timeout);
  // Reads and removes exactly one response from the front of received().
  ::testing::AssertionResult readResponse(HttpResponse& response, milliseconds timeout,
                                          bool requestWasHead = false);

  std::string& received() { return received_; }
  std::string take();  // everything received and not consumed, and clears it
  bool closedByPeer() const { return peerClosed_; }
  bool resetByPeer() const { return peerReset_; }
  bool isOpen() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  void shutdownWrite();
  void close();
  void reset();  // close with RST (SO_LINGER 0)

 private:
  // One read with a deadline: false at the deadline; true on data or close.
  bool readSome(int waitMs);

  int fd_ = -1;
  std::string received_;
  bool peerClosed_ = false;
  bool peerReset_ = false;
};

// A loopback port held by a listening socket without SO_REUSEPORT, so that binding it
// elsewhere fails until close().
class HeldPort {
 public:
  HeldPort() = default;
  ~HeldPort() { close(); }
  HeldPort(const HeldPort&) = delete;
  HeldPort& operator=(const HeldPort&) = delete;

  ::testing::AssertionResult open();
  uint16_t port() const { return port_; }
  void close();

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

}  // namespace meridian::fakes
