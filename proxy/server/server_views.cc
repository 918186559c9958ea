// What the admin endpoints show of the live state: /regions, /explain and the health gauges
// on /metrics. Read on the main thread from the current snapshot.
#include <nlohmann/json.hpp>

#include <ctime>
#include <sstream>

#include "proxy/observe/prometheus_text.h"
#include "proxy/policy/request_target.h"
#include "proxy/server/server.h"
#include "routing/explain.h"

namespace meridian::proxy {

namespace {

using Json = nlohmann::ordered_json;

// Label values are quoted strings in the Prometheus text format: escape \ " and newlines.
std::string labelValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// A check's outcome and time; null before the first check.
Json lastCheckJson(const health::EndpointHealth& h) {
  if (h.last_check.empty()) return nullptr;
  return {
      {"passed", h.last_check_passed}, {"result", h.last_check}, {"at", isoTime(h.last_check_at)}};
}

// Each DNS name the endpoints use: its addresses in use, the TTL of the last answer, and the
// resolutions and failures so far (a failure keeps the addresses).
Json dnsJson(const DnsNames& names) {
  Json out = Json::object();
  for (const auto& [host, n] : names) {
    out[host] = {{"addresses", n.addresses},
                 {"ttl_seconds", n.ttl.count()},
                 {"resolutions", n.resolutions},
                 {"failures", n.failures},
                 {"last_error", n.last_error.empty() ? Json() : Json(n.last_error)}};
  }
  return out;
}

}  // namespace

std::string Server::regionsJson() const {
  const Snapshot& s = *snap_;
  // The monitor's own view, not the snapshot's: a snapshot is republished only when a verdict
  // changes, so it would still say "assumed" long after the checks began to pass.
  std::shared_ptr<const health::HealthSnapshot> live = monitor_ ? monitor_->live() : s.health;
  if (live->clusterCount() != s.config->clusters.size()) live = s.health;
  Json clusters = Json::object();
  for (size_t c = 0; c < s.config->clusters.size(); ++c) {
    const routing::ClusterPlan& plan = s.router->plan(c);
    Json regions = Json::object();
    for (const auto& g : plan.regions) {
      Json endpoints = Json::array();
      bool any_healthy = false;
      for (uint32_t e : g.endpoints) {
        const health::EndpointHealth& h = live->at(c, e);
        const std::string& address = (*s.endpoints)[c][e].text;
        int in_flight = 0;
        for (const auto& w : workers_) in_flight += w->pool().inFlight(address);
        any_healthy = any_healthy || h.healthy;
        const std::string& dns_name = plan.cluster->endpoints[e].dns_name;
        endpoints.push_back({{"address", address},
                             {"dns_name", dns_name.empty() ? Json() : Json(dns_name)},
                             {"healthy", h.healthy},
                             {"reason", h.reason},
                             {"since", isoTime(h.since)},
                             {"last_check", lastCheckJson(h)},
                             {"ejected", h.ejected},
                             {"ejected_until", h.ejected ? Json(isoTime(h.ejected_until)) : Json()},
                             {"ejections", h.ejections},
                             {"in_flight", in_flight}});
      }
      auto o = drain_overrides_.find(g.name);
      Json override_state = o == drain_overrides_.end() ? Json() : Json(o->second ? "drained" : "serving");
      regions[g.name] = {{"healthy", any_healthy},
                         {"drained", g.drained},
                         {"drain_override", override_state},
                         {"endpoints", endpoints}};
    }
    clusters[plan.cluster->name] = regions;
  }
  Json out = {{"generation", generation_},
              {"health_generation", s.health->generation()},
              {"clusters", clusters},
              {"dns", dnsJson(dns_names_)},
              {"fleet", Json::parse(fleetJson())}};
  return out.dump(2) + "\n";
}

// meridian_dns_resolutions_total{name,result} and meridian_dns_addresses{name}.
std::string Server::dnsMetrics() const {
  std::string out;
  appendFamilyHeader(out, "meridian_dns_resolutions_total",
                     "Lookups of endpoint DNS names, by result (a failure keeps the addresses).",
                     "counter");
  for (const auto& [host, n] : dns_names_) {
    MetricLabel ok[] = {{"name", host}, {"result", "ok"}};
    appendSample(out, "meridian_dns_resolutions_total", ok, n.resolutions - n.failures);
    MetricLabel failed[] = {{"name", host}, {"result", "error"}};
    appendSample(out, "meridian_dns_resolutions_total", failed, n.failures);
  }
  appendFamilyHeader(out, "meridian_dns_addresses", "Addresses in use for an endpoint DNS name.",
                     "gauge");
  for (const auto& [host, n] : dns_names_) {
    MetricLabel name[] = {{"name", host}};
    appendSample(out, "meridian_dns_addresses", name, n.addresses.size());
  }
  return out;
}

core::Result<std::string> Server::explainJson(const std::string& client_ip, const std::string& host,
                                              const std::string& path,
                                              const std::string& method) const {
  routing::ExplainInput in;
  in.client_ip = client_ip;
  in.host = host;
  // The path a real request would be routed by: normalised as the exchange does.
  auto routed = routedPath(path.empty() ? "/" : path, cfg_->limits.escaped_slashes);
  if (!routed.ok()) return routed.error();
  in.path = routed.value();
  in.method = method.empty() ? "GET" : method;
  if (!cfg_->listeners.empty()) in.listener_region = cfg_->listeners.front().region;
  return routing::explainJson(*snap_->router, *snap_->health, *snap_->geo, in);
}

// meridian_upstream_healthy{cluster,region,endpoint}: 1 while the endpoint takes traffic.
std::string healthGauges(const Snapshot& s) {
  std::ostringstream out;
  out << "# HELP meridian_upstream_healthy 1 while the endpoint is healthy (active checks "
         "passing and not ejected).\n# TYPE meridian_upstream_healthy gauge\n";
  for (size_t c = 0; c < s.config->clusters.size(); ++c) {
    const config::Cluster& cluster = s.config->clusters[c];
    for (size_t e = 0; e < cluster.endpoints.size(); ++e) {
      out << "meridian_upstream_healthy{cluster=\"" << labelValue(cluster.name) << "\",region=\""
          << labelValue(cluster.endpoints[e].region) << "\",endpoint=\""
          << labelValue((*s.endpoints)[c][e].text) << "\"} " << (s.health->healthy(c, e) ? 1 : 0)
          << "\n";
    }
  }
  return out.str();
}

// meridian_upstream_in_flight (requests in flight per endpoint, over all workers: what the
// capacity limits count) and meridian_region_latency_seconds (the measured latency
// routing.order: latency uses; regions not measured yet are left out).
std::string loadGauges(const Snapshot& s) {
  std::string out;
  appendFamilyHeader(out, "meridian_upstream_in_flight",
                     "Requests in flight to the endpoint, over all workers.", "gauge");
  const routing::Router& router = *s.router;
  for (size_t c = 0; c < s.config->clusters.size(); ++c) {
    const config::Cluster& cluster = s.config->clusters[c];
    const routing::ClusterPlan& plan = router.plan(c);
    for (size_t e = 0; e < cluster.endpoints.size(); ++e) {
      MetricLabel labels[] = {{"cluster", cluster.name},
                              {"region", cluster.endpoints[e].region},
                              {"endpoint", (*s.endpoints)[c][e].text}};
      appendSample(out, "meridian_upstream_in_flight", labels,
                   plan.inFlight(static_cast<uint32_t>(e)));
    }
  }
  appendFamilyHeader(out, "meridian_region_latency_seconds",
                     "Measured latency to the region (EWMA of response heads and health checks).",
                     "gauge");
  const int64_t now = core::monotonicMillis();
  for (size_t c = 0; c < s.config->clusters.size(); ++c) {
    for (const auto& g : router.plan(c).regions) {
      double ms = g.latency ? g.latency->merged(now) : -1;
      if (ms < 0) continue;
      MetricLabel labels[] = {{"cluster", s.config->clusters[c].name}, {"region", g.name}};
      appendSample(out, "meridian_region_latency_seconds", labels, ms / 1000.0);
    }
  }
  return out;
}

}  // namespace meridian::proxy
