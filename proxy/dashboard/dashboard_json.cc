#include "proxy/dashboard/dashboard_json.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <ctime>

#include "proxy/policy/replay.h"

namespace meridian::proxy {

namespace {

using Json = nlohmann::ordered_json;

// A number rounded to `places` decimals, for a compact page; null when not finite.
Json rounded(double v, int places = 2) {
  if (!std::isfinite(v)) return nullptr;
  double f = std::pow(10.0, places);
  return std::round(v * f) / f;
}

template <typename Map, typename Key>
uint64_t valueAt(const Map& m, const Key& k) {
  auto it = m.find(k);
  return it == m.end() ? 0 : it->second;
}

// Requests between two samples, summed over the series `keep` selects.
template <typename Keep>
uint64_t requestsBetween(const StatsWindow::Span& s, Keep keep) {
  uint64_t n = 0;
  for (const auto& [key, count] : s.to->requests) {
    if (keep(key)) n += count - std::min(count, valueAt(s.from->requests, key));
  }
  return n;
}

double perSecond(uint64_t n, const StatsWindow::Span& s) {
  return s.seconds > 0 ? static_cast<double>(n) / s.seconds : 0;
}

Json lastCheckJson(const health::EndpointHealth& h) {
  if (h.last_check.empty()) return nullptr;
  return {{"passed", h.last_check_passed}, {"result", h.last_check}, {"at", isoTime(h.last_check_at)}};
}

// One endpoint's health and traffic: rate over the rate span, errors and latency over the
// window span.
Json endpointJson(const DashboardInput& in, const std::string& cluster, const std::string& address,
                  const health::EndpointHealth& h, const StatsWindow::Span& rate,
                  const StatsWindow::Span& window) {
  std::array<std::string, 2> key{cluster, address};
  CountTotals::Attempts none;
  auto pick = [&](const CountTotals* t) -> const CountTotals::Attempts& {
    auto it = t->attempts.find(key);
    return it == t->attempts.end() ? none : it->second;
  };
  const auto& rate_to = pick(rate.to);
  const auto& rate_from = pick(rate.from);
  const auto& win_to = pick(window.to);
  const auto& win_from = pick(window.from);
  uint64_t attempts = win_to.attempts - std::min(win_to.attempts, win_from.attempts);
  uint64_t errors = win_to.errors - std::min(win_to.errors, win_from.errors);
  std::array<uint64_t, kDurationBounds.size() + 1> buckets{};
  for (size_t i = 0; i < buckets.size(); ++i) {
    buckets[i] = win_to.buckets[i] - std::min(win_to.buckets[i], win_from.buckets[i]);
  }
  auto in_flight = in.in_flight.find(address);
  Json j = {{"address", address},
            {"healthy", h.healthy},
            {"reason", h.reason},
            {"since", isoTime(h.since)},
            {"ejected", h.ejected},
            {"ejected_until", h.ejected ? Json(isoTime(h.ejected_until)) : Json()},
            {"ejections", h.ejections},
            {"in_flight", in_flight == in.in_flight.end() ? 0 : in_flight->second},
            {"rps", rounded(perSecond(rate_to.attempts - std::min(rate_to.attempts,
                                                                  rate_from.attempts),
                                      rate))},
            {"attempts", attempts},
            {"error_rate", attempts ? rounded(100.0 * errors / attempts, 1) : Json()},
            {"p50_ms", rounded(histogramQuantile(buckets, 0.5) * 1000, 1)},
            {"p99_ms", rounded(histogramQuantile(buckets, 0.99) * 1000, 1)},
            {"last_check", lastCheckJson(h)}};
  return j;
}

// A region: where it is, whether it is drained (and by what), its state over all clusters,
// its request rate and its endpoints by cluster.
Json regionJson(const DashboardInput& in, const std::string& name, const StatsWindow::Span& rate,
                const StatsWindow::Span& window) {
  const Snapshot& s = *in.snap;
  const config::Config& cfg = *s.config;
  const config::Region* r = cfg.findRegion(name);
  bool config_drain = r != nullptr && r->drain;
  bool drained = config_drain;
  Json override_state = nullptr;
  if (auto o = in.overrides->find(name); o != in.overrides->end()) {
    drained = o->second;
    override_state = o->second ? "drained" : "serving";
  }
  size_t total = 0, healthy = 0;
  Json clusters = Json::array();
  for (size_t c = 0; c < cfg.clusters.size(); ++c) {
    const routing::ClusterPlan& plan = s.router->plan(c);
    for (const auto& g : plan.regions) {
      if (g.name != name) continue;
      Json endpoints = Json::array();
      for (uint32_t e : g.endpoints) {
        const health::EndpointHealth& h = in.live->at(c, e);
        ++total;
        healthy += h.healthy ? 1 : 0;
        endpoints.push_back(
            endpointJson(in, plan.cluster->name, (*s.endpoints)[c][e].text, h, rate, window));
      }
      clusters.push_back({{"cluster", plan.cluster->name}, {"endpoints", endpoints}});
    }
  }
  const char* state = drained ? "drained"
                      : total == 0 ? "empty"
                      : healthy == total ? "up"
                      : healthy == 0 ? "down"
                                     : "degraded";
  uint64_t served = requestsBetween(rate, [&](const auto& k) { return k[2] == name; });
  return {{"name", name},
          {"located", r != nullptr},
          {"lat", r ? r->lat : 0},
          {"lon", r ? r->lon : 0},
          {"state", state},
          {"drained", drained},
          {"drain_config", config_drain},
          {"drain_override", override_state},
          {"endpoints", total},
          {"healthy_endpoints", healthy},
          {"rps", rounded(perSecond(served, rate))},
          {"clusters", clusters}};
}

// Replays of a route by reason between two samples.
Json replaysJson(const std::string& route, const StatsWindow::Span& window) {
  Json out = Json::object();
  for (const auto& [key, count] : window.to->replays) {
    if (key[0] != route) continue;
    uint64_t n = count - std::min(count, valueAt(window.from->replays, key));
    out[key[1]] = {{"last_window", n}, {"total", count}};
  }
  return out;
}

Json routeJson(const DashboardInput& in, const config::Route& route, const StatsWindow::Span& rate,
               const StatsWindow::Span& window) {
  uint64_t weights = 0;
  for (const auto& b : route.backends) weights += b.weight;
  uint64_t served_total = requestsBetween(
      window, [&](const auto& k) { return k[0] == route.name && !k[1].empty(); });
  Json backends = Json::array();
  for (const auto& b : route.backends) {
    uint64_t served = requestsBetween(
        window, [&](const auto& k) { return k[0] == route.name && k[1] == b.cluster; });
    backends.push_back(
        {{"cluster", b.cluster},
         {"weight", b.weight},
         {"configured_pct", weights ? rounded(100.0 * b.weight / weights, 1) : Json(0)},
         {"served", served},
         {"served_pct", served_total ? rounded(100.0 * served / served_total, 1) : Json()}});
  }
  // The rule replay::Budget applies: replays started in the window may be `percent` of the
  // requests started in it, and kMinConcurrency replays in flight are always allowed.
  auto found = in.budgets.find(route.name);
  const DashboardInput::BudgetUse use =
      found == in.budgets.end() ? DashboardInput::BudgetUse{} : found->second;
  const int64_t allowed = use.requests_in_window * std::max(route.replay.budget_percent, 0) / 100;
  uint64_t route_requests = requestsBetween(rate, [&](const auto& k) { return k[0] == route.name; });
  return {{"name", route.name},
          {"host", route.match.host},
          {"path_prefix", route.match.path_prefix},
          {"rps", rounded(perSecond(route_requests, rate))},
          {"served_total", served_total},
          {"backends", backends},
          {"replays", replaysJson(route.name, window)},
          {"budget",
           {{"percent", route.replay.budget_percent},
            {"window_seconds", replay::Budget::kWindow.count()},
            {"requests_in_window", use.requests_in_window},
            {"replays_in_window", use.replays_in_window},
            {"replays_allowed", allowed},
            {"replays_in_flight", use.replays_in_flight},
            {"always_allowed_in_flight", replay::Budget::kMinConcurrency},
            {"in_use_pct", allowed > 0 ? rounded(100.0 * use.replays_in_window / allowed, 1)
                                       : Json()}}}};
}

Json configEventJson(const ConfigEvent& e, bool show_errors) {
  Json j = {{"at", isoTime(e.at)}, {"by", e.by}, {"ok", e.ok}};
  if (!e.ok) {
    if (show_errors) {
      j["errors"] = e.errors;
    } else {
      j["errors"] = nullptr;
      j["errors_hidden"] = true;  // the page asks for the token to show them
    }
  }
  return j;
}

}  // namespace

std::string isoTime(std::chrono::system_clock::time_point t) {
  if (t.time_since_epoch().count() == 0) return "";
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string dashboardJson(const DashboardInput& in) {
  const config::Config& cfg = *in.snap->config;
  CountTotals empty;
  StatsWindow::Span none{&empty, &empty, 0};
  StatsWindow::Span rate = in.window ? in.window->span(kRateSeconds).value_or(none) : none;
  StatsWindow::Span window = in.window ? in.window->span(kWindowSeconds).value_or(none) : none;

  // Every configured region, then any region only an endpoint names.
  std::vector<std::string> names;
  for (const auto& r : cfg.regions) names.push_back(r.name);
  for (size_t c = 0; c < cfg.clusters.size(); ++c) {
    for (const auto& g : in.snap->router->plan(c).regions) {
      if (std::find(names.begin(), names.end(), g.name) == names.end()) names.push_back(g.name);
    }
  }
  Json regions = Json::array();
  for (const auto& n : names) regions.push_back(regionJson(in, n, rate, window));
  Json routes = Json::array();
  for (const auto& r : cfg.routes) routes.push_back(routeJson(in, r, rate, window));
  Json overrides = Json::object();
  for (const auto& [region, drained] : *in.overrides) overrides[region] = drained ? "drained" : "serving";
  uint64_t all = requestsBetween(rate, [](const auto&) { return true; });

  Json out = {
      {"time", isoTime(std::chrono::system_clock::now())},
      {"rate_seconds", rounded(rate.seconds, 1)},
      {"window_seconds", rounded(window.seconds, 1)},
      {"rps", rounded(perSecond(all, rate))},
      {"config",
       {{"generation", in.generation},
        {"loaded", configEventJson(in.loaded, in.show_errors)},
        {"last_reload", in.last_reload ? configEventJson(*in.last_reload, in.show_errors) : Json()},
        {"reloads_ok", in.reloads_ok},
        {"reloads_failed", in.reloads_failed}}},
      {"drain_overrides", overrides},
      {"regions", regions},
      {"routes", routes},
  };
  return out.dump() + "\n";
}

}  // namespace meridian::proxy
