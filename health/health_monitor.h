#pragma once
// HealthMonitor: the main thread's view of every endpoint's health. It runs the active HTTP
// checks on the main loop (own connections, never the proxy's pools), takes passive outcomes
// of real traffic reported by the workers, and publishes a new HealthSnapshot whenever an
// endpoint's `healthy` changes (and on apply()).
//
// Endpoints are identified across reloads by (cluster name, endpoint address text): state of an
// endpoint that survives a reload is kept; one removed stops being checked; one added starts.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include <vector>

#include "certs/upstream_tls.h"
#include "config/config.h"
#include "core/event_loop.h"
#include "health/health_snapshot.h"

namespace meridian::health {

// What one real request's attempt taught us about an endpoint.
enum class Outcome { Success, ConnectFailure, Reset, Timeout, Status5xx };

class HealthMonitor {
 public:
  using Publish = std::function<void(std::shared_ptr<const HealthSnapshot>)>;
  HealthMonitor(core::EventLoop& loop, Publish publish);
  ~HealthMonitor();

  // Starts checking the endpoints of `cfg` (first checks spread over one interval with
  // jitter), keeps the state of endpoints that were already known, publishes a snapshot
  // indexed for `cfg`. Called at start and on every successful reload.
  // `upstream_tls`: the TLS context of each cluster, by index (null entries, or no vector:
  // plain); a check of a TLS cluster's endpoint speaks TLS with it.
  void apply(std::shared_ptr<const config::Config> cfg,
             std::shared_ptr<const std::vector<std::shared_ptr<const certs::UpstreamTlsContext>>>
                 upstream_tls = nullptr);

  // A worker's report of a real request (posted to the main thread). Unknown endpoints (a
  // reload raced the report) are ignored.
  void report(const std::string& cluster, const std::string& endpoint, Outcome outcome);

  // Called with the duration of every passing check (main thread): the latency to the
  // endpoint's region that routing.order: latency uses.
  using CheckTimed = std::function<void(const std::string& cluster, const std::string& region,
                                        double milliseconds)>;
  void onCheckTimed(CheckTimed fn);

  // Shared health (health_check.source: fleet): endpoints, by (cluster, address), whose active
  // health other instances report. They are not checked here; each takes the verdict given.
  // Replaces the previous set: an endpoint left out is checked here again (its region's
  // reporters are gone), starting from the last verdict it had.
  struct Reported {
    bool healthy = true;
    std::string reason;
  };
  using ReportedMap = std::map<std::pair<std::string, std::string>, Reported>;
  void setReported(ReportedMap reported);

  std::shared_ptr<const HealthSnapshot> current() const;
  // Every endpoint as the monitor sees it now, indexed like current(). Unlike current(), which
  // is republished only when a verdict changes, it carries each endpoint's latest check and
  // reason: what /regions shows. Built on each call (main thread).
  std::shared_ptr<const HealthSnapshot> live() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace meridian::health
