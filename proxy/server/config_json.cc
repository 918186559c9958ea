#include "proxy/server/config_json.h"

#include <nlohmann/json.hpp>

namespace meridian::proxy {

namespace {

using Json = nlohmann::ordered_json;

// An optional value left out of the file is null, as the docs say, not "".
Json orNull(const std::string& v) {
  return v.empty() ? Json(nullptr) : Json(v);
}

Json tlsJson(const config::Tls& tls) {
  Json certs = Json::array();
  for (const auto& c : tls.certificates)
    certs.push_back(Json{{"cert", c.cert}, {"key", kRedacted}});
  Json j{{"certificates", certs}, {"min_version", tls.min_version}, {"protocols", tls.protocols}};
  if (tls.acme) {
    const auto& a = *tls.acme;
    j["acme"] = Json{{"directory", a.directory},
                     {"email", orNull(a.email)},
                     {"domains", a.domains},
                     {"challenges", a.challenges},
                     {"storage", a.storage},
                     {"ca_roots", orNull(a.ca_roots)},
                     {"renew_before", durationText(a.renew_before)}};
  } else {
    j["acme"] = nullptr;
  }
  return j;
}

Json listenerJson(const config::Listener& l) {
  Json j{{"name", l.name}, {"address", l.address.text()}, {"region", orNull(l.region)}};
  j["tls"] = l.tls ? tlsJson(*l.tls) : Json(nullptr);
  j["redirect_to_https"] = l.redirect_to_https ? Json(*l.redirect_to_https) : Json(nullptr);
  return j;
}

Json geoJson(const config::Geo& g) {
  Json trusted = Json::array();
  for (const auto& c : g.trusted_proxies) trusted.push_back(c.text);
  Json overrides = Json::array();
  for (const auto& o : g.overrides)
    overrides.push_back(Json{
        {"cidr", o.cidr.text}, {"lat", o.lat}, {"lon", o.lon}, {"country", orNull(o.country)}});
  Json databases = Json::array();
  for (const auto& db : g.databases) databases.push_back(db.path);
  // Paths left out are detected from the database when it is opened: null here.
  return Json{{"database", databases.empty() ? Json(nullptr) : databases},
              {"latitude_path", orNull(g.latitude_path)},
              {"longitude_path", orNull(g.longitude_path)},
              {"country_path", orNull(g.country_path)},
              {"trusted_proxies", trusted},
              {"client_ip_header", g.client_ip_header},
              {"overrides", overrides}};
}

Json healthCheckJson(const config::HealthCheck& h) {
  return Json{{"path", h.path},
              {"interval", durationText(h.interval)},
              {"timeout", durationText(h.timeout)},
              {"healthy_threshold", h.healthy_threshold},
              {"unhealthy_threshold", h.unhealthy_threshold},
              {"jitter", std::to_string(h.jitter_percent) + "%"},
              {"unhealthy_interval", durationText(h.unhealthy_interval)},
              {"assume_healthy", h.assume_healthy}};
}

Json clusterJson(const config::Cluster& c) {
  Json endpoints = Json::array();
  for (const auto& e : c.endpoints)
    endpoints.push_back(Json{{"address", e.address.text()}, {"region", e.region}});
  Json j{{"name", c.name}, {"endpoints", endpoints}};
  j["health_check"] = c.health_check ? healthCheckJson(*c.health_check) : Json(nullptr);
  if (c.outlier) {
    j["outlier"] =
        Json{{"consecutive_failures", c.outlier->consecutive_failures},
             {"ejection", durationText(c.outlier->ejection)},
             {"max_ejection", durationText(c.outlier->max_ejection)},
             {"max_ejection_percent", c.outlier->max_ejection_percent},
             {"failure_percentage", c.outlier->failure_percentage},
             {"failure_percentage_min_requests", c.outlier->failure_percentage_min_requests},
             {"failure_percentage_interval", durationText(c.outlier->failure_percentage_interval)}};
  } else {
    j["outlier"] = nullptr;
  }
  j["pool"] = Json{{"max_connections", c.pool.max_connections},
                   {"max_pending", c.pool.max_pending},
                   {"idle_timeout", durationText(c.pool.idle_timeout)},
                   {"h2_ping_interval", durationText(c.pool.h2_ping_interval)}};
  j["protocol"] = config::upstreamProtocolName(c.protocol);
  auto limit = [](int n) { return n > 0 ? Json(n) : Json(nullptr); };
  j["limits"] = Json{{"soft", limit(c.capacity.soft)}, {"hard", limit(c.capacity.hard)}};
  j["spill"] = c.spill == config::Spill::Hard ? "hard" : "soft";
  if (c.tls) {
    const config::UpstreamTls& t = *c.tls;
    Json client = t.client_cert ? Json{{"cert", t.client_cert->cert}, {"key", t.client_cert->key}}
                                : Json(nullptr);
    j["tls"] = Json{{"ca", t.ca.empty() ? Json(nullptr) : Json(t.ca)},
                    {"server_name", t.server_name.empty() ? Json(nullptr) : Json(t.server_name)},
                    {"client_cert", client},
                    {"min_version", t.min_version},
                    {"verify", t.verify}};
  } else {
    j["tls"] = nullptr;
  }
  return j;
}

// null when off; `after` as configured: a duration or "p95".
Json hedgeJson(const config::Hedge& h) {
  if (!h.enabled()) return nullptr;
  std::string after = h.percentile > 0 ? "p" + std::to_string(h.percentile) : durationText(h.after);
  return Json{
      {"after", after}, {"max", h.max}, {"to", h.same_region ? "same_region" : "next_region"}};
}

Json routeJson(const config::Route& r) {
  Json backends = Json::array();
  for (const auto& b : r.backends)
    backends.push_back(Json{{"cluster", b.cluster}, {"weight", b.weight}});
  Json residency = Json::object();
  for (const auto& [country, regions] : r.residency) residency[country] = regions;
  const auto& p = r.replay;
  return Json{{"name", r.name},
              {"match", Json{{"host", orNull(r.match.host)}, {"path_prefix", r.match.path_prefix}}},
              {"backends", backends},
              {"affinity", config::affinityName(r.affinity)},
              {"allow_override", r.allow_override},
              {"primary_region", orNull(r.primary_region)},
              {"residency", residency},
              {"replay", Json{{"methods", p.methods},
                              {"on", p.on},
                              {"max_attempts", p.max_attempts},
                              {"connect_tries_per_region", p.connect_tries_per_region},
                              {"body_buffer", p.body_buffer},
                              {"backoff", Json{{"base", durationText(p.backoff_base)},
                                               {"max", durationText(p.backoff_max)}}},
                              {"budget", std::to_string(p.budget_percent) + "%"},
                              {"hedge", hedgeJson(p.hedge)}}},
              {"pin_after_write", durationText(r.pin_after_write)},
              {"all_unhealthy",
               r.all_unhealthy == config::AllUnhealthy::RouteAnyway ? "route_anyway" : "reject"},
              {"compat", orNull(r.compat)},
              {"idempotency",
               Json{{"store", r.idempotency.store == config::Idempotency::Store::Fleet ? "fleet"
                                                                                       : "local"}}},
              {"timeouts", Json{{"connect", durationText(r.timeouts.connect)},
                                {"per_try", durationText(r.timeouts.per_try)},
                                {"request", durationText(r.timeouts.request)},
                                {"idle", durationText(r.timeouts.idle)},
                                {"unacked", durationText(r.timeouts.unacked)}}}};
}

const char* escapedSlashesText(config::EscapedSlashes e) {
  switch (e) {
    case config::EscapedSlashes::Keep:
      return "keep";
    case config::EscapedSlashes::UnescapeAndRedirect:
      return "unescape_and_redirect";
    case config::EscapedSlashes::UnescapeAndForward:
      return "unescape_and_forward";
    case config::EscapedSlashes::Reject:
      break;
  }
  return "reject";
}

Json limitsJson(const config::Limits& l) {
  return Json{{"max_header_bytes", l.max_header_bytes},
              {"max_headers", l.max_headers},
              {"max_body_bytes", l.max_body_bytes},
              {"max_connections", l.max_connections},
              {"header_timeout", durationText(l.header_timeout)},
              {"keepalive_timeout", durationText(l.keepalive_timeout)},
              {"drain_timeout", durationText(l.drain_timeout)},
              {"http2_max_concurrent_streams", l.http2_max_concurrent_streams},
              {"http2_max_resets_per_second", l.http2_max_resets_per_second},
              {"http2_max_continuations", l.http2_max_continuations},
              {"http2_header_table_size", l.http2_header_table_size},
              {"http2_settings_timeout", durationText(l.http2_settings_timeout)},
              {"escaped_slashes", escapedSlashesText(l.escaped_slashes)},
              {"buffer_per_direction", l.buffer_per_direction},
              {"splice_min_body", l.splice_min_body},
              {"request_body_timeout", durationText(l.request_body_timeout)},
              {"request_body_min_rate", l.request_body_min_rate},
              {"max_interim_responses", l.max_interim_responses}};
}

}  // namespace

std::string durationText(config::Duration d) {
  int64_t ms = d.count();
  if (ms == 0) return "0ms";
  if (ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
  if (ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string configJson(const config::Config& cfg, uint64_t generation) {
  Json c;
  c["workers"] = cfg.workers == 0 ? Json("auto") : Json(cfg.workers);
  c["watch"] = cfg.watch;
  c["access_log"] = cfg.access_log;
  c["listeners"] = Json::array();
  for (const auto& l : cfg.listeners) c["listeners"].push_back(listenerJson(l));
  // The token file's path, never its contents.
  c["admin"] =
      Json{{"address", cfg.admin.address.text()},
           {"token_file", cfg.admin.token_file.empty() ? Json() : Json(cfg.admin.token_file)}};
  c["geo"] = geoJson(cfg.geo);
  c["regions"] = Json::array();
  for (const auto& r : cfg.regions)
    c["regions"].push_back(
        Json{{"name", r.name}, {"lat", r.lat}, {"lon", r.lon}, {"drain", r.drain}});
  c["clusters"] = Json::array();
  for (const auto& cl : cfg.clusters) c["clusters"].push_back(clusterJson(cl));
  c["routes"] = Json::array();
  for (const auto& r : cfg.routes) c["routes"].push_back(routeJson(r));
  c["limits"] = limitsJson(cfg.limits);
  c["routing"] =
      Json{{"order", cfg.routing.order == config::RegionOrder::Latency ? "latency" : "distance"},
           {"latency_weight", cfg.routing.latency_weight},
           {"latency_hysteresis", durationText(cfg.routing.latency_hysteresis)},
           {"latency_hysteresis_percent", cfg.routing.latency_hysteresis_percent}};
  c["source_path"] = orNull(cfg.source_path);  // null for a built-in config
  Json out{{"generation", generation}, {"config", c}};
  return out.dump(2) + "\n";
}

}  // namespace meridian::proxy
