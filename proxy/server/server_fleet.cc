// The server's side of a fleet (docs/fleet.md): the config composed from the local file and
// the fleet's keys, applied like a reload from the agent's views; the cache; what /regions
// and /metrics show of it.
#include <nlohmann/json.hpp>

#include "config/fleet_config.h"
#include "core/file_read.h"
#include "core/log.h"
#include "proxy/observe/prometheus_text.h"
#include "proxy/server/fleet_link.h"
#include "proxy/server/server.h"

namespace meridian::proxy {

namespace {

std::string diagnosticsText(const config::LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += d.text() + "\n";
  return out;
}

core::Error invalid(std::string detail) {
  return core::Error{core::ErrorKind::ConfigInvalid, core::Side::Internal, false,
                     std::move(detail)};
}

}  // namespace

core::Result<std::shared_ptr<const config::Config>> Server::composeFleet(
    const std::string& fleet_config, int64_t revision,
    const std::map<std::string, std::string>& endpoints) const {
  config::LoadResult r;
  if (revision == 0) {
    r = config::loadFile(opts_.config_path);
  } else {
    auto local = core::readRegularFile(opts_.config_path, core::kConfigFileLimit);
    if (!local.ok()) return invalid(local.error().detail + "\n");
    r = config::loadMerged(local.value(), fleet_config,
                           "fleet config revision " + std::to_string(revision));
  }
  if (!r.ok()) return invalid(diagnosticsText(r));
  r.config.source_path = opts_.config_path;
  std::string skipped;
  auto cfg = withRegisteredEndpoints(r.config, endpoints, &skipped);
  if (!skipped.empty()) logWarn("fleet: registered endpoints skipped:\n%s", skipped.c_str());
  return cfg;
}

// On the main thread, before anything is served: the fleet's keys as etcd has them now, or
// as the cache file kept them, or none (the local file alone) when neither can be had.
void Server::startFleet() {
  const config::Fleet& f = file_cfg_->fleet;
  fleet::FleetAgent::Options o;
  o.etcd.endpoints = f.etcd;
  o.etcd.ca_file = f.ca_file;
  o.etcd.cert_file = f.cert_file;
  o.etcd.key_file = f.key_file;
  o.etcd.username = f.username;
  if (!f.password_file.empty()) {
    auto pw = fleet::readPasswordFile(f.password_file);
    if (pw.ok())
      o.etcd.password = pw.value();
    else
      logError("fleet: %s", pw.error().detail.c_str());
  }
  o.prefix = f.prefix;
  o.instance = f.instance.empty() ? defaultInstanceName() : f.instance;
  o.region = f.region;
  for (const auto& l : file_cfg_->listeners) {
    if (o.region.empty()) o.region = l.region;
  }
  fleet_ = std::make_unique<fleet::FleetAgent>(
      loop_, o, [this](const fleet::FleetView& v) { onFleetView(v); });
  // For routes with idempotency.store: fleet, whenever a config (this one or a later push)
  // has them.
  fleet_idempotency_ = std::make_unique<FleetIdempotency>(o.etcd, o.prefix, o.instance);
  auto now = fleet_->readNow();
  bool from_etcd = now.ok();
  if (from_etcd) {
    fleet_start_ = std::move(now.value());
  } else {
    logWarn("fleet: etcd unreachable at start: %s", now.error().detail.c_str());
    std::string error = "no fleet.cache set";
    auto cached = f.cache.empty() ? std::nullopt : readFleetCache(f.cache, &error);
    if (cached) {
      fleet_start_ = std::move(*cached);
      ++fleet_cache_fallbacks_;
      logWarn("fleet: serving the cached fleet config (revision %lld) until etcd answers",
              static_cast<long long>(fleet_start_.config_revision));
    } else {
      logWarn("fleet: no cached fleet config (%s): serving the local file until etcd answers",
              error.c_str());
    }
  }
  fleet_store_revision_ = fleet_start_.revision;
  auto composed =
      composeFleet(fleet_start_.config, fleet_start_.config_revision, fleet_start_.endpoints);
  if (composed.ok()) {
    file_cfg_ = composed.value();
    fleet_config_ = fleet_start_.config;
    fleet_revision_ = fleet_start_.config_revision;
    fleet_endpoints_ = fleet_start_.endpoints;
    if (from_etcd) writeFleetCacheFile();
  } else {
    fleet_rejected_revision_ = fleet_start_.config_revision;
    fleet_error_ = composed.error().detail;
    logError("fleet: config revision %lld refused, serving the local file:\n%s",
             static_cast<long long>(fleet_rejected_revision_), fleet_error_.c_str());
    // The endpoints still join the local file's clusters.
    auto local = composeFleet("", 0, fleet_start_.endpoints);
    if (local.ok()) {
      file_cfg_ = local.value();
      fleet_endpoints_ = fleet_start_.endpoints;
    }
  }
  fleet_->reportServed(fleet_revision_, fleet_error_);
}

// A view from the agent: a new fleet config is applied as a reload (refused: the old one keeps
// serving and the refusal goes into the status key); new registered endpoints are applied on
// the config in force.
void Server::onFleetView(const fleet::FleetView& view) {
  if (!fleet_ || draining_) return;
  uint64_t generation = generation_;
  applyFleetChanges(view);
  if (view.health != fleet_health_ || generation != generation_) {
    fleet_health_ = view.health;
    applyFleetHealth();
  }
}

void Server::applyFleetChanges(const fleet::FleetView& view) {
  fleet_store_revision_ = view.revision;
  bool new_config =
      view.config_revision != fleet_revision_ && view.config_revision != fleet_rejected_revision_;
  bool new_endpoints = view.endpoints != fleet_endpoints_;
  if (new_config) {
    auto composed = composeFleet(view.config, view.config_revision, view.endpoints);
    std::string errors;
    if (composed.ok()) {
      resolveNewDnsNames(*composed.value());
      errors = applyConfig(composed.value(), "fleet");
    } else {
      errors = reloadFailed("fleet", composed.error().detail);
    }
    if (errors.empty()) {
      fleet_config_ = view.config;
      fleet_revision_ = view.config_revision;
      fleet_endpoints_ = view.endpoints;
      fleet_rejected_revision_ = 0;
      fleet_error_.clear();
      logInfo("fleet: serving config revision %lld", static_cast<long long>(fleet_revision_));
      writeFleetCacheFile();
      fleet_->reportServed(fleet_revision_, "");
      return;
    }
    fleet_rejected_revision_ = view.config_revision;
    fleet_error_ = errors;
    fleet_->reportServed(fleet_revision_, fleet_error_);
  }
  if (!new_endpoints) return;
  auto composed = composeFleet(fleet_config_, fleet_revision_, view.endpoints);
  if (!composed.ok()) {
    reloadFailed("fleet endpoints", composed.error().detail);
    return;
  }
  resolveNewDnsNames(*composed.value());
  if (applyConfig(composed.value(), "fleet endpoints").empty()) {
    fleet_endpoints_ = view.endpoints;
    writeFleetCacheFile();
  }
}

void Server::publishFleetHealth() {
  if (!fleet_ || !snap_ || !cfg_) return;
  const health::HealthSnapshot& h = *snap_->health;
  if (h.clusterCount() != cfg_->clusters.size()) return;
  const std::string& region = fleet_->options().region;
  nlohmann::json endpoints = nlohmann::json::object();
  for (size_t c = 0; c < cfg_->clusters.size(); ++c) {
    const config::Cluster& cluster = cfg_->clusters[c];
    if (!cluster.health_check || !cluster.health_check->fleet_source) continue;
    for (size_t e = 0; e < cluster.endpoints.size(); ++e) {
      if (cluster.endpoints[e].region != region) continue;
      endpoints[cluster.name + "|" + cluster.endpoints[e].address.text()] =
          h.at(c, e).active_healthy;
    }
  }
  if (endpoints.empty()) return fleet_->publishHealth("");
  fleet_->publishHealth(nlohmann::json{{"region", region}, {"endpoints", endpoints}}.dump());
}

// A region with at least one live reporter takes its reports: an endpoint is healthy when any
// of its region's instances says so (missing data never takes one out). A region nobody
// reports (its instances' leases expired) is checked here, as are endpoints no report names.
void Server::applyFleetHealth() {
  if (!monitor_ || !fleet_) return;
  const std::string& own = fleet_->options().region;
  struct Verdict {
    bool healthy = false;
    std::string by;
  };
  std::map<std::string, std::map<std::string, Verdict>> by_region;
  for (const auto& [instance, text] : fleet_health_) {
    if (instance == fleet_->options().instance) continue;
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object() || !j.contains("endpoints") || !j["endpoints"].is_object()) continue;
    std::string region = j.value("region", std::string());
    if (region.empty() || region == own) continue;
    auto& verdicts = by_region[region];
    for (const auto& [key, healthy] : j["endpoints"].items()) {
      if (!healthy.is_boolean()) continue;
      auto [it, added] = verdicts.try_emplace(key, Verdict{healthy.get<bool>(), instance});
      if (!added && !it->second.healthy && healthy.get<bool>()) it->second = {true, instance};
    }
  }
  health::HealthMonitor::ReportedMap reported;
  for (const auto& cluster : cfg_->clusters) {
    if (!cluster.health_check || !cluster.health_check->fleet_source) continue;
    for (const auto& e : cluster.endpoints) {
      auto region = by_region.find(e.region);
      if (e.region == own || region == by_region.end()) continue;
      auto v = region->second.find(cluster.name + "|" + e.address.text());
      if (v == region->second.end()) continue;
      reported[{cluster.name, e.address.text()}] = {
          v->second.healthy, std::string("fleet: ") +
                                 (v->second.healthy ? "healthy" : "unhealthy") +
                                 " as reported by " + v->second.by};
    }
  }
  monitor_->setReported(std::move(reported));
}

void Server::writeFleetCacheFile() {
  const std::string& path = file_cfg_->fleet.cache;
  if (path.empty()) return;
  fleet::FleetView v;
  v.revision = fleet_store_revision_;
  v.config_revision = fleet_revision_;
  v.config = fleet_config_;
  v.endpoints = fleet_endpoints_;
  std::string error;
  if (!writeFleetCache(path, v, &error)) logWarn("fleet: cache: %s", error.c_str());
}

std::string Server::fleetJson() const {
  if (!fleet_) return "null";
  int64_t stale_since = fleet_->staleSinceMs();
  auto iso = [](int64_t ms) {
    return isoTime(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
  };
  nlohmann::ordered_json j = {
      {"instance", fleet_->options().instance},
      {"region", fleet_->options().region},
      {"prefix", fleet_->options().prefix},
      {"revision", fleet_revision_},
      {"rejected_revision",
       fleet_rejected_revision_ ? nlohmann::json(fleet_rejected_revision_) : nlohmann::json()},
      {"last_error", fleet_error_.empty() ? nlohmann::json() : nlohmann::json(fleet_error_)},
      {"registered_endpoints", fleet_endpoints_.size()},
      {"etcd_member", fleet_->watchedMember()},
      {"stale", stale_since != 0},
      {"stale_since", stale_since != 0 ? nlohmann::json(iso(stale_since)) : nlohmann::json()},
      {"etcd_error",
       stale_since != 0 ? nlohmann::json(fleet_->lastEtcdError()) : nlohmann::json()}};
  return j.dump();
}

std::string Server::fleetMetrics() const {
  if (!fleet_) return "";
  std::string out;
  appendGauge(out, "meridian_fleet_config_revision",
              "The fleet config revision served (0: the local file's own).",
              static_cast<double>(fleet_revision_));
  appendGauge(out, "meridian_fleet_registered_endpoints",
              "Endpoints registered under the fleet prefix, as last applied.",
              static_cast<double>(fleet_endpoints_.size()));
  appendGauge(out, "meridian_fleet_stale",
              "1 while etcd cannot be reached (the last fleet data keeps serving).",
              fleet_->staleSinceMs() != 0 ? 1.0 : 0.0);
  appendFamilyHeader(out, "meridian_fleet_watch_reconnects_total",
                     "Watch streams that broke and were opened again (on the next endpoint).",
                     "counter");
  out +=
      "meridian_fleet_watch_reconnects_total " + std::to_string(fleet_->watchReconnects()) + "\n";
  appendFamilyHeader(out, "meridian_fleet_full_reads_total",
                     "Full reads of the fleet keys after the watched revision was compacted.",
                     "counter");
  out += "meridian_fleet_full_reads_total " + std::to_string(fleet_->fullReads()) + "\n";
  appendGauge(out, "meridian_fleet_idempotency_waiting",
              "Requests waiting for the outcome of another instance's request with their "
              "Idempotency-Key (idempotency.store: fleet).",
              static_cast<double>(fleet_idempotency_ ? fleet_idempotency_->waiting() : 0));
  appendFamilyHeader(
      out, "meridian_fleet_fallbacks_total",
      "Times fleet data was replaced by a local fallback: cache (a start from the cache file), "
      "idempotency (a keyed request served by the local table alone, etcd unreachable), acme "
      "(storage: fleet: an etcd read or write of the ACME client that failed; what is held "
      "keeps serving).",
      "counter");
  out += "meridian_fleet_fallbacks_total{what=\"cache\"} " +
         std::to_string(fleet_cache_fallbacks_) + "\n";
  out += "meridian_fleet_fallbacks_total{what=\"idempotency\"} " +
         std::to_string(fleet_idempotency_ ? fleet_idempotency_->fallbacks() : 0) + "\n";
  out +=
      "meridian_fleet_fallbacks_total{what=\"acme\"} " + std::to_string(acmeEtcdFailures()) + "\n";
  return out;
}

}  // namespace meridian::proxy
