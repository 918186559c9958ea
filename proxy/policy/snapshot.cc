#include "proxy/policy/snapshot.h"

#include "core/log.h"

namespace meridian::proxy {

core::Result<core::SocketAddress> resolveAddress(const config::HostPort& hp) {
  return core::resolveAddress(hp.host, hp.port);
}

const certs::TlsContext* Snapshot::tlsFor(const std::string& listener) const {
  if (!tls) return nullptr;
  for (const auto& [name, ctx] : *tls) {
    if (name == listener) return ctx.get();
  }
  return nullptr;
}

core::Result<std::shared_ptr<const TlsContexts>> buildTlsContexts(const config::Config& cfg) {
  auto out = std::make_shared<TlsContexts>();
  for (const auto& l : cfg.listeners) {
    if (!l.tls) continue;
    auto ctx = certs::TlsContext::build(
        certs::TlsOptions{l.name, *l.tls, l.tls->protocols, cfg.source_path, nullptr});
    if (!ctx.ok()) return ctx.error();
    out->emplace_back(l.name, ctx.value());
  }
  return std::shared_ptr<const TlsContexts>(std::move(out));
}

core::Result<std::shared_ptr<const UpstreamTlsContexts>> buildUpstreamTlsContexts(
    const config::Config& cfg) {
  auto out = std::make_shared<UpstreamTlsContexts>();
  for (const auto& c : cfg.clusters) {
    if (!c.tls) {
      out->push_back(nullptr);
      continue;
    }
    if (!c.tls->verify) {
      logWarn(
          "cluster %s: upstream TLS certificates are NOT verified (verify: false): anyone "
          "on the path can read and change this traffic",
          c.name.c_str());
    }
    auto ctx = certs::UpstreamTlsContext::build(
        certs::UpstreamTlsOptions{c.name, *c.tls, cfg.source_path});
    if (!ctx.ok()) return ctx.error();
    out->push_back(ctx.value());
  }
  return std::shared_ptr<const UpstreamTlsContexts>(std::move(out));
}

std::shared_ptr<const Snapshot> Snapshot::withHealth(
    std::shared_ptr<const health::HealthSnapshot> h) const {
  auto next = std::make_shared<Snapshot>(*this);
  next->health = std::move(h);
  return next;
}

std::shared_ptr<const Snapshot> Snapshot::withDrain(const routing::DrainOverrides& drain) const {
  auto next = std::make_shared<Snapshot>(*this);
  next->router = std::make_shared<routing::Router>(config, drain, router->telemetry());
  return next;
}

core::Result<std::shared_ptr<const Snapshot>> buildSnapshot(
    std::shared_ptr<const config::Config> cfg, uint64_t generation,
    const routing::DrainOverrides& drain, std::shared_ptr<routing::Telemetry> telemetry) {
  auto snap = std::make_shared<Snapshot>();
  snap->generation = generation;
  auto endpoints = std::make_shared<EndpointAddresses>();
  for (const auto& c : cfg->clusters) {
    std::vector<core::SocketAddress> eps;
    for (const auto& e : c.endpoints) {
      auto r = resolveAddress(e.address);
      if (!r.ok()) return r.error();
      eps.push_back(std::move(r.value()));
    }
    endpoints->push_back(std::move(eps));
  }
  auto tls = buildTlsContexts(*cfg);
  if (!tls.ok()) return tls.error();
  snap->tls = tls.value();
  auto upstream_tls = buildUpstreamTlsContexts(*cfg);
  if (!upstream_tls.ok()) return upstream_tls.error();
  snap->upstream_tls = upstream_tls.value();
  auto geo = routing::GeoDb::open(cfg->geo, cfg->source_path);
  if (!geo.ok()) return geo.error();
  snap->geo = geo.value();
  snap->endpoints = std::move(endpoints);
  snap->health = health::HealthSnapshot::initial(*cfg);
  snap->router = std::make_shared<routing::Router>(cfg, drain, std::move(telemetry));
  snap->config = std::move(cfg);
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

}  // namespace meridian::proxy
