// The dashboard's side of the main thread: the once-a-second sample of the workers' counters,
// runtime region drains, and GET /dashboard/state (built at most once a sample while nothing
// changes, however many pages poll it).
#include <nlohmann/json.hpp>

#include "core/log.h"
#include "proxy/server/server.h"

namespace meridian::proxy {

void Server::sampleStats() {
  CountTotals totals;
  std::vector<const WorkerMetrics*> metrics;
  for (const auto& w : workers_) metrics.push_back(&w->metrics());
  sumCounts(metrics, totals);
  stats_.add(StatsWindow::Clock::now(), std::move(totals));
  if (!sampler_) sampler_ = std::make_unique<core::Timer>(loop_, [this] { sampleStats(); });
  sampler_->arm(core::Millis(1000));
}

core::Result<std::string> Server::setRegionDrain(const std::string& region, bool drain) {
  const config::Region* r = cfg_->findRegion(region);
  if (r == nullptr) {
    return core::Error{core::ErrorKind::ConfigInvalid, core::Side::Downstream, false,
                       "no region named \"" + region + "\" in the config"};
  }
  if (r->drain == drain) {
    drain_overrides_.erase(region);
  } else {
    drain_overrides_[region] = drain;
  }
  snap_ = snap_->withDrain(drain_overrides_);
  ++state_changes_;
  publish();
  auto o = drain_overrides_.find(region);
  logInfo("region %s %s at runtime (%s)", region.c_str(), drain ? "drained" : "undrained",
          o == drain_overrides_.end() ? "as the config says: no override" : "override");
  nlohmann::ordered_json j = {
      {"region", region},
      {"drained", drain},
      {"drain_config", r->drain},
      {"drain_override",
       o == drain_overrides_.end() ? nlohmann::ordered_json()
                                   : nlohmann::ordered_json(o->second ? "drained" : "serving")}};
  return j.dump() + "\n";
}

std::string Server::dashboardState(bool show_errors) {
  size_t slot = show_errors ? 1 : 0;
  // Samples and changes only ever grow, so their sum names one state of everything shown.
  uint64_t key = stats_.ticks() + (state_changes_ << 20) + 1;
  if (state_cache_key_[slot] == key) return state_cache_[slot];
  std::shared_ptr<const health::HealthSnapshot> live = monitor_ ? monitor_->live() : snap_->health;
  if (live->clusterCount() != snap_->config->clusters.size()) live = snap_->health;
  DashboardInput in;
  in.snap = snap_.get();
  in.live = live.get();
  for (const auto& eps : *snap_->endpoints) {
    for (const auto& e : eps) {
      int n = 0;
      for (const auto& w : workers_) n += w->pool().inFlight(e.text);
      in.in_flight[e.text] = n;
    }
  }
  for (const auto& w : workers_) {
    w->forEachBudget([&](const std::string& route, const replay::Budget& budget) {
      auto [requests, replays] = budget.startedInWindow();
      auto& b = in.budgets[route];
      b.requests_in_window += requests;
      b.replays_in_window += replays;
      b.replays_in_flight += budget.replaysInFlight();
    });
  }
  in.window = &stats_;
  in.generation = generation_;
  in.loaded = loaded_;
  in.last_reload = last_reload_;
  in.reloads_ok = reloads_ok_;
  in.reloads_failed = reloads_failed_;
  in.overrides = &drain_overrides_;
  in.show_errors = show_errors;
  state_cache_[slot] = dashboardJson(in);
  state_cache_key_[slot] = key;
  return state_cache_[slot];
}

}  // namespace meridian::proxy
