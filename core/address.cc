#include "core/address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>

namespace meridian::core {

namespace {
std::string formatHostPort(const std::string& host, uint16_t port) {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}
}  // namespace

Result<SocketAddress> resolveAddress(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port_text = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), port_text.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    return Error{ErrorKind::ConfigInvalid, Side::Internal, false,
                 "cannot resolve " + formatHostPort(host, port) + ": " + gai_strerror(rc)};
  }
  SocketAddress out;
  std::memcpy(&out.addr, res->ai_addr, res->ai_addrlen);
  out.len = res->ai_addrlen;
  out.text = formatHostPort(host, port);
  freeaddrinfo(res);
  return out;
}

bool isIpAddress(const std::string& host) {
  in_addr v4{};
  in6_addr v6{};
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 || inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

std::string localAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  char host[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) {
    auto& s4 = reinterpret_cast<sockaddr_in&>(ss);
    inet_ntop(AF_INET, &s4.sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(s4.sin_port));
  }
  auto& s6 = reinterpret_cast<sockaddr_in6&>(ss);
  inet_ntop(AF_INET6, &s6.sin6_addr, host, sizeof host);
  return "[" + std::string(host) + "]:" + std::to_string(ntohs(s6.sin6_port));
}

}  // namespace meridian::core
