#pragma once
// Everything a request reads, frozen: the config, the router built from it, the geo database,
// endpoint health and resolved endpoint addresses. The main thread builds a new one on every
// reload or health change and hands it to each worker; a request keeps the one it started
// with, so neither a reload nor a health change alters a request in flight. Health is indexed
// for this snapshot's config, which is why they travel together.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "certs/acme_book.h"
#include "certs/tls_context.h"
#include "certs/upstream_tls.h"
#include "config/config.h"
#include "core/address.h"
#include "core/error.h"
#include "health/health_snapshot.h"
#include "routing/geo.h"
#include "routing/router.h"

namespace meridian::proxy {

using EndpointAddresses = std::vector<std::vector<core::SocketAddress>>;  // [cluster][endpoint]
// One TLS context per TLS listener, by listener name. Built with the config it came from, so
// a reload that cannot read a certificate fails whole and the old contexts keep serving.
using TlsContexts = std::vector<std::pair<std::string, std::shared_ptr<const certs::TlsContext>>>;

// One client TLS context per cluster, by cluster index (null for a plain cluster).
using UpstreamTlsContexts = std::vector<std::shared_ptr<const certs::UpstreamTlsContext>>;

struct Snapshot {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const routing::Router> router;
  std::shared_ptr<const routing::GeoDb> geo;
  std::shared_ptr<const health::HealthSnapshot> health;
  std::shared_ptr<const EndpointAddresses> endpoints;
  std::shared_ptr<const TlsContexts> tls;
  std::shared_ptr<const UpstreamTlsContexts> upstream_tls;
  uint64_t generation = 0;
  // ACME certificates and challenges (the process's, which outlive snapshots): plain
  // listeners answer HTTP-01 from it.
  std::shared_ptr<certs::AcmeBook> acme = certs::AcmeBook::process();

  // The TLS context of a listener; null for a plain one.
  const certs::TlsContext* tlsFor(const std::string& listener) const;

  // The same snapshot with new health (sharing everything else).
  std::shared_ptr<const Snapshot> withHealth(std::shared_ptr<const health::HealthSnapshot> h) const;
  // The same snapshot with a router built under other runtime drain overrides.
  std::shared_ptr<const Snapshot> withDrain(const routing::DrainOverrides& drain) const;
};

// Resolves every endpoint address (names through the system resolver, once, at load time),
// opens the geo database and reads every TLS listener's certificates. Health starts as the config
// says (HealthSnapshot::initial).
// `drain`: the runtime drain overrides the router applies over the config's `drain:`.
// `telemetry`: the process's in-flight counts and measured latencies (null: none, as for
// `meridian validate` and `route explain` from the command line).
core::Result<std::shared_ptr<const Snapshot>> buildSnapshot(
    std::shared_ptr<const config::Config> cfg, uint64_t generation,
    const routing::DrainOverrides& drain = {},
    std::shared_ptr<routing::Telemetry> telemetry = nullptr);

// Reads and checks every TLS listener's certificates: the contexts, or the first error
// ("listener NAME: FILE: message"). Also what `meridian validate` checks.
core::Result<std::shared_ptr<const TlsContexts>> buildTlsContexts(const config::Config& cfg);

// Reads every TLS cluster's CA bundle and client certificate: the contexts, or the first error
// ("cluster NAME: FILE: message"). A cluster with verification off is logged as a warning each
// time. Also checked by `meridian validate`.
core::Result<std::shared_ptr<const UpstreamTlsContexts>> buildUpstreamTlsContexts(
    const config::Config& cfg);

// Resolves "host:port" to a socket address; numeric addresses never touch the resolver.
core::Result<core::SocketAddress> resolveAddress(const config::HostPort& hp);

}  // namespace meridian::proxy
