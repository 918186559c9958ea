#pragma once
// HealthTable: the pure bookkeeping behind HealthMonitor, with no sockets and no timers, so
// every rule can be tested against a hand-driven clock: rise/fall thresholds of the active
// checks, passive outlier ejection (growing durations, the cluster-wide cap) and the composed
// EndpointHealth each endpoint shows.
//
// Every mutator returns whether the endpoint changed in a way a snapshot must show at once
// (healthy, active_healthy or ejected flipped, or an unhealthy endpoint's reason changed);
// the monitor publishes then. A healthy endpoint's reason alone ("assumed" -> "check passed")
// waits for the next snapshot, so steady passing checks never publish.
#include <chrono>
#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "health/health_snapshot.h"

namespace meridian::health {

// Time as the table sees it. Monotonic milliseconds drive every rule; wall time only labels
// `since` and `ejected_until` for people reading /regions.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t monotonicMillis() const = 0;
  virtual std::chrono::system_clock::time_point wallNow() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t monotonicMillis() const override;
  std::chrono::system_clock::time_point wallNow() const override;
};

// Identity of an endpoint across reloads.
struct EndpointKey {
  std::string cluster;
  std::string endpoint;  // HostPort::text()
  auto operator<=>(const EndpointKey&) const = default;
};

struct ActiveState {
  bool enabled = false;  // the cluster has a health_check
  bool healthy = true;
  bool fresh = false;  // never passed yet and not assumed healthy: the first pass heals
  int passes = 0;      // consecutive
  int fails = 0;       // consecutive
  std::string reason = "no health check";
  // The latest check, whatever it changed: "check passed" or why it failed; "" before the first.
  std::string last_result;
  bool last_passed = false;
  std::chrono::system_clock::time_point last_at{};
};

struct PassiveState {
  int failures = 0;  // consecutive failed requests
  // Requests and failures in the current failure_percentage interval, from window_start_ms.
  int window_requests = 0;
  int window_failures = 0;
  int64_t window_start_ms = 0;  // monotonic
  bool ejected = false;
  int ejections = 0;
  int64_t ejected_until_ms = 0;  // monotonic
  std::chrono::system_clock::time_point ejected_until{};
  std::string reason;
};

struct EndpointState {
  EndpointKey key;
  const config::Cluster* cluster = nullptr;  // in the table's current config
  const config::Endpoint* endpoint = nullptr;
  size_t cluster_index = 0;
  std::string resolve_error;  // non-empty: the address cannot be resolved
  ActiveState active;
  PassiveState passive;
  // As last settled: what the latest snapshot shows (or the next one will).
  bool healthy = true;
  bool shown_active_healthy = true;
  bool shown_ejected = false;
  std::string reason;
  std::chrono::system_clock::time_point since{};
};

class HealthTable {
 public:
  explicit HealthTable(const Clock& clock) : clock_(clock) {}
  HealthTable(const HealthTable&) = delete;
  HealthTable& operator=(const HealthTable&) = delete;

  // Re-indexes for `cfg`. Endpoints already known keep their state; new ones start as their
  // cluster's health_check says; ones no longer in `cfg` are forgotten. A cluster that lost
  // its health_check or outlier section drops that part of its endpoints' state.
  void apply(std::shared_ptr<const config::Config> cfg);

  // Empty `error`: the address resolved (an endpoint that could not be resolved before
  // starts over as a new one). Otherwise it is unhealthy with `error` as its reason.
  bool setResolveError(const EndpointKey& key, const std::string& error);

  bool checkPassed(const EndpointKey& key);
  // The active verdict another instance reported (shared health): taken as it is, with no
  // thresholds, as if this instance's own checks had settled on it.
  bool setReported(const EndpointKey& key, bool healthy, const std::string& reason);
  bool checkFailed(const EndpointKey& key, const std::string& reason);

  // Real traffic. `what` names the failure for the ejection reason ("connect failure").
  bool reportSuccess(const EndpointKey& key);
  bool reportFailure(const EndpointKey& key, const std::string& what);

  // Ends every ejection whose time has come.
  bool endEjections();
  // Monotonic time of the earliest ejection end, if any endpoint is ejected.
  std::optional<int64_t> nextEjectionEnd() const;

  const EndpointState* find(const EndpointKey& key) const;
  const config::Config* config() const { return cfg_.get(); }
  // Indexed like the config: clusters, then endpoints, in config order.
  std::vector<std::vector<EndpointHealth>> health() const;
  // Ejections the max_ejection_percent cap refused, since the table was made.
  uint64_t refusedEjections() const { return refused_ejections_; }

 private:
  EndpointState* lookup(const EndpointKey& key);
  void resetActive(EndpointState& s) const;
  void recordCheck(ActiveState& a, bool passed, const std::string& result) const;
  bool mayEject(const EndpointState& s) const;
  void eject(EndpointState& s, const std::string& why);
  // Counts one request in the endpoint's failure_percentage interval (a new interval when the
  // last one is over); true when the interval's failures reach the percentage.
  bool countInInterval(EndpointState& s, bool failed);
  // Recomputes healthy and reason after a mutation; logs and reports a visible change.
  bool settle(EndpointState& s, const std::string& detail = {});

  const Clock& clock_;
  std::shared_ptr<const config::Config> cfg_;
  std::map<EndpointKey, std::unique_ptr<EndpointState>> states_;
  std::vector<std::vector<EndpointState*>> index_;  // config order
  uint64_t refused_ejections_ = 0;
};

}  // namespace meridian::health
