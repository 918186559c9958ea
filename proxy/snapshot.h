#pragma once
// Everything a request reads, frozen: the config, the router built from it, endpoint health
// and resolved endpoint addresses. The main thread builds a new one on every change and hands
// it to each worker; a request keeps the one it started with, so a reload never changes a
// request in flight.
#include <memory>
#include <vector>

#include "config/config.h"
#include "core/error.h"
#include "health/health_snapshot.h"
#include "proxy/upstream_pool.h"
#include "routing/router.h"

namespace meridian::proxy {

struct Snapshot {
  std::shared_ptr<const config::Config> config;
  std::unique_ptr<routing::Router> router;
  std::shared_ptr<const health::HealthSnapshot> health;
  std::vector<std::vector<ResolvedAddress>> endpoints;  // [cluster][endpoint]
  uint64_t generation = 0;
};

// Resolves every endpoint address (names through the system resolver, once, at load time).
core::Result<std::shared_ptr<const Snapshot>> buildSnapshot(
    std::shared_ptr<const config::Config> cfg, uint64_t generation);

// Resolves "host:port" to a socket address; numeric addresses never touch the resolver.
core::Result<ResolvedAddress> resolveAddress(const config::HostPort& hp);

}  // namespace meridian::proxy
