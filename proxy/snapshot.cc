#include "proxy/snapshot.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>

namespace meridian::proxy {

core::Result<ResolvedAddress> resolveAddress(const config::HostPort& hp) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(hp.port);
  int rc = getaddrinfo(hp.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    return core::Error{core::ErrorKind::ConfigInvalid, core::Side::Internal, false,
                       "cannot resolve " + hp.text() + ": " + gai_strerror(rc)};
  }
  ResolvedAddress out;
  std::memcpy(&out.addr, res->ai_addr, res->ai_addrlen);
  out.len = res->ai_addrlen;
  out.text = hp.text();
  freeaddrinfo(res);
  return out;
}

core::Result<std::shared_ptr<const Snapshot>> buildSnapshot(
    std::shared_ptr<const config::Config> cfg, uint64_t generation) {
  auto snap = std::make_shared<Snapshot>();
  snap->generation = generation;
  for (const auto& c : cfg->clusters) {
    std::vector<ResolvedAddress> eps;
    for (const auto& e : c.endpoints) {
      auto r = resolveAddress(e.address);
      if (!r.ok()) return r.error();
      eps.push_back(std::move(r.value()));
    }
    snap->endpoints.push_back(std::move(eps));
  }
  snap->health = health::HealthSnapshot::initial(*cfg);
  snap->router = std::make_unique<routing::Router>(cfg);
  snap->config = std::move(cfg);
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

}  // namespace meridian::proxy
