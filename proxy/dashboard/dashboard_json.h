#pragma once
// GET /dashboard/state: everything the dashboard page shows, as one JSON object, built on the
// main thread from the snapshot, the live health, the workers' gauges and the StatsWindow.
// Figures over time: rates over the last kRateSeconds, error rates, latency quantiles and the
// served blue-green split over the last kWindowSeconds (or since start, when younger).
#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "health/health_snapshot.h"
#include "proxy/dashboard/stats_window.h"
#include "proxy/policy/snapshot.h"
#include "routing/router.h"

namespace meridian::proxy {

inline constexpr double kRateSeconds = 5;
inline constexpr double kWindowSeconds = 60;

// A config taking effect, or failing to.
struct ConfigEvent {
  std::chrono::system_clock::time_point at{};
  std::string by;      // "start", "takeover", "SIGHUP", "file change", "POST /reload"
  bool ok = true;
  std::string errors;  // the reload's errors when !ok
};

struct DashboardInput {
  const Snapshot* snap = nullptr;
  const health::HealthSnapshot* live = nullptr;  // the monitor's view, indexed like snap
  std::map<std::string, int> in_flight;          // endpoint address -> requests in flight
  // A route's retry budget, summed over the workers.
  struct BudgetUse {
    int64_t requests_in_window = 0;  // requests started in the budget's window (10 s)
    int64_t replays_in_window = 0;   // replays started in it
    int replays_in_flight = 0;
  };
  std::map<std::string, BudgetUse> budgets;
  const StatsWindow* window = nullptr;
  uint64_t generation = 0;
  ConfigEvent loaded;                      // the config in force
  std::optional<ConfigEvent> last_reload;  // the latest reload attempt, if any
  uint64_t reloads_ok = 0;
  uint64_t reloads_failed = 0;
  const routing::DrainOverrides* overrides = nullptr;
  // Reload errors quote the config file: shown only to a caller with the admin token (or when
  // none is set), like GET /config.
  bool show_errors = false;
};

std::string dashboardJson(const DashboardInput& in);

// "2026-01-02T03:04:05Z"; "" for the epoch (never happened).
std::string isoTime(std::chrono::system_clock::time_point t);

}  // namespace meridian::proxy
