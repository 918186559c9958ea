#include "proxy/snapshot.h"

namespace meridian::proxy {

core::Result<ResolvedAddress> resolveAddress(const config::HostPort& hp) {
  return core::resolveAddress(hp.host, hp.port);
}

std::shared_ptr<const Snapshot> Snapshot::withHealth(
    std::shared_ptr<const health::HealthSnapshot> h) const {
  auto next = std::make_shared<Snapshot>(*this);
  next->health = std::move(h);
  return next;
}

core::Result<std::shared_ptr<const Snapshot>> buildSnapshot(
    std::shared_ptr<const config::Config> cfg, uint64_t generation) {
  auto snap = std::make_shared<Snapshot>();
  snap->generation = generation;
  auto endpoints = std::make_shared<EndpointAddresses>();
  for (const auto& c : cfg->clusters) {
    std::vector<ResolvedAddress> eps;
    for (const auto& e : c.endpoints) {
      auto r = resolveAddress(e.address);
      if (!r.ok()) return r.error();
      eps.push_back(std::move(r.value()));
    }
    endpoints->push_back(std::move(eps));
  }
  auto geo = routing::GeoDb::open(cfg->geo);
  if (!geo.ok()) return geo.error();
  snap->geo = geo.value();
  snap->endpoints = std::move(endpoints);
  snap->health = health::HealthSnapshot::initial(*cfg);
  snap->router = std::make_shared<routing::Router>(cfg);
  snap->config = std::move(cfg);
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

}  // namespace meridian::proxy
