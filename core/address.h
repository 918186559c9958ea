#pragma once
// Socket addresses: resolving "host:port" (names through the system resolver, so call it at
// load time, never on a request) and formatting a bound socket's address.
#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "core/error.h"

namespace meridian::core {

struct SocketAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string text;  // "127.0.0.1:9001" / "[::1]:9001"
};

Result<SocketAddress> resolveAddress(const std::string& host, uint16_t port);
// True for a numeric IPv4 or IPv6 address (no brackets): a host no resolver needs to see.
bool isIpAddress(const std::string& host);
// "127.0.0.1:8080" for a bound or connected socket (getsockname).
std::string localAddress(int fd);

}  // namespace meridian::core
