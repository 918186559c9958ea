#include "proxy/snapshot.h"

namespace meridian::proxy {

core::Result<ResolvedAddress> resolveAddress(const config::HostPort& hp) {
  return core::resolveAddress(hp.host, hp.port);
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
