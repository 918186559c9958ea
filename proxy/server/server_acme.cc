// The listeners' ACME clients (docs/acme.md): one per listener with `tls.acme`, started with
// the first config and replaced when a reload changes that listener's `acme:`; their counts
// and expiries in /metrics.
#include "acme/acme_client.h"
#include "core/log.h"
#include "proxy/observe/prometheus_text.h"
#include "proxy/server/server.h"

namespace meridian::proxy {

namespace {

bool sameAcme(const config::Acme& a, const config::Acme& b) {
  return a.directory == b.directory && a.email == b.email && a.domains == b.domains &&
         a.challenges == b.challenges && a.storage == b.storage && a.ca_roots == b.ca_roots &&
         a.renew_before == b.renew_before;
}

}  // namespace

void Server::syncAcmeClients() {
  std::map<std::string, std::unique_ptr<acme::AcmeClient>> next;
  for (const auto& l : cfg_->listeners) {
    if (!l.tls || !l.tls->acme) continue;
    auto it = acme_clients_.find(l.name);
    if (it != acme_clients_.end() && sameAcme(it->second->config(), *l.tls->acme)) {
      next.emplace(l.name, std::move(it->second));
      continue;
    }
    acme::AcmeClientOptions options;
    options.listener = l.name;
    options.acme = *l.tls->acme;
    if (options.acme.inFleet()) {
      if (!fleet_) continue;  // the loader refuses it without a fleet: section
      // Its own client, with the agent's etcd, and timeouts that keep a member that is going
      // away from holding the thread long.
      acme::FleetStorage::Options f;
      f.etcd = fleet_->options().etcd;
      f.prefix = fleet_->options().prefix;
      f.instance = fleet_->options().instance;
      options.fleet = f;
    }
    auto client = std::make_unique<acme::AcmeClient>(std::move(options));
    client->start();
    next.emplace(l.name, std::move(client));
  }
  // Clients of listeners gone or changed stop here (their thread is joined).
  for (auto& [name, client] : acme_clients_) {
    if (client) {
      acme_orders_retired_[0] += client->status().orders_succeeded;
      acme_orders_retired_[1] += client->status().orders_failed;
      acme_etcd_failures_retired_ += client->status().etcd_failures;
    }
  }
  acme_clients_ = std::move(next);
}

uint64_t Server::acmeEtcdFailures() const {
  uint64_t n = acme_etcd_failures_retired_;
  for (const auto& [name, client] : acme_clients_) n += client->status().etcd_failures;
  return n;
}

std::string Server::acmeMetrics() const {
  std::string out;
  if (acme_clients_.empty() && acme_orders_retired_[0] + acme_orders_retired_[1] == 0) return out;
  uint64_t ok = acme_orders_retired_[0], failed = acme_orders_retired_[1];
  std::vector<std::pair<std::string, double>> expiry;
  time_t now = time(nullptr);
  for (const auto& [name, client] : acme_clients_) {
    auto s = client->status();
    ok += s.orders_succeeded;
    failed += s.orders_failed;
    if (s.not_after == 0) continue;
    for (const auto& d : s.domains) expiry.emplace_back(d, static_cast<double>(s.not_after - now));
  }
  appendFamilyHeader(out, "meridian_acme_orders_total",
                     "ACME orders completed by this process, by result.", "counter");
  out += "meridian_acme_orders_total{result=\"success\"} " + std::to_string(ok) + "\n";
  out += "meridian_acme_orders_total{result=\"failure\"} " + std::to_string(failed) + "\n";
  appendFamilyHeader(out, "meridian_acme_certificate_expiry_seconds",
                     "Seconds until the ACME certificate served for a domain expires.", "gauge");
  std::sort(expiry.begin(), expiry.end());
  for (const auto& [domain, seconds] : expiry) {
    MetricLabel labels[] = {{"domain", domain}};
    appendSample(out, "meridian_acme_certificate_expiry_seconds", labels, seconds);
  }
  return out;
}

}  // namespace meridian::proxy
