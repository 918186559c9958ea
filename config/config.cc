#include "config/config.h"

#include <arpa/inet.h>

#include <algorithm>

namespace meridian::config {

std::string HostPort::text() const {
  // An IPv6 literal needs brackets, or its last group would read as the port.
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

bool isLoopbackHost(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

bool Cidr::contains(const uint8_t addr16[16]) const {
  int full_bytes = prefix_len / 8;
  if (!std::equal(addr, addr + full_bytes, addr16)) return false;
  int rest = prefix_len % 8;
  if (rest == 0) return true;
  auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (addr[full_bytes] & mask) == (addr16[full_bytes] & mask);
}

const Cluster* Config::findCluster(const std::string& name) const {
  for (const auto& c : clusters) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

const Region* Config::findRegion(const std::string& name) const {
  for (const auto& r : regions) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

const char* affinityName(Affinity a) {
  switch (a) {
    case Affinity::Cookie:
      return "cookie";
    case Affinity::ClientIp:
      return "client_ip";
    case Affinity::None:
      break;
  }
  return "none";
}

const char* upstreamProtocolName(UpstreamProtocol p) {
  switch (p) {
    case UpstreamProtocol::H2:
      return "h2";
    case UpstreamProtocol::H2c:
      return "h2c";
    case UpstreamProtocol::Auto:
      return "auto";
    case UpstreamProtocol::Http1:
      break;
  }
  return "http1";
}

}  // namespace meridian::config
