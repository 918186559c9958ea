#pragma once
// Everything a request reads, frozen: the config, the router built from it, the geo database,
// endpoint health and resolved endpoint addresses. The main thread builds a new one on every
// reload or health change and hands it to each worker; a request keeps the one it started
// with, so neither a reload nor a health change alters a request in flight. Health is indexed
// for this snapshot's config, which is why they travel together.
#include <memory>
#include <vector>

#include "config/config.h"
#include "core/error.h"
#include "health/health_snapshot.h"
#include "proxy/upstream_pool.h"
#include "routing/geo.h"
#include "routing/router.h"

namespace meridian::proxy {

using EndpointAddresses = std::vector<std::vector<ResolvedAddress>>;  // [cluster][endpoint]

struct Snapshot {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const routing::Router> router;
  std::shared_ptr<const routing::GeoDb> geo;
  std::shared_ptr<const health::HealthSnapshot> health;
  std::shared_ptr<const EndpointAddresses> endpoints;
  uint64_t generation = 0;

  // The same snapshot with new health (sharing everything else).
  std::shared_ptr<const Snapshot> withHealth(std::shared_ptr<const health::HealthSnapshot> h) const;
};

// Resolves every endpoint address (names through the system resolver, once, at load time)
// and opens the geo database. Health starts as the config says (HealthSnapshot::initial).
core::Result<std::shared_ptr<const Snapshot>> buildSnapshot(
    std::shared_ptr<const config::Config> cfg, uint64_t generation);

// Resolves "host:port" to a socket address; numeric addresses never touch the resolver.
core::Result<ResolvedAddress> resolveAddress(const config::HostPort& hp);

}  // namespace meridian::proxy
