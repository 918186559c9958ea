#pragma once
// The main thread: loads the config, binds the listeners (one SO_REUSEPORT socket per worker),
// starts the workers, serves the admin endpoints, and handles signals: SIGTERM/SIGINT drain
// and exit, SIGHUP reloads the config (and so does a change of a watched file), SIGUSR2
// starts the new binary, which takes the listening sockets over (proxy/takeover.h).
#include <sys/types.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/address.h"
#include "core/event_loop.h"
#include "core/file_watch.h"
#include "acme/acme_client.h"
#include "fleet/fleet_agent.h"
#include "health/health_monitor.h"
#include "proxy/dashboard/dashboard_json.h"
#include "proxy/dashboard/stats_window.h"
#include "proxy/observe/access_log.h"
#include "proxy/policy/snapshot.h"
#include "proxy/server/dns_endpoints.h"
#include "proxy/server/fleet_idempotency.h"
#include "proxy/server/worker.h"

namespace meridian::proxy {

class AdminServer;
class TakeoverClient;
class TakeoverServer;
struct HandedSockets;

class Server {
 public:
  struct Options {
    std::string config_path;  // reloads read it again; empty for a built-in config
    std::string ready_file;
    std::function<void(Server&)> on_ready;  // runs on the main thread once listeners are up
    std::string pid_file;                   // written at start; successors connect to its ".sock"
    std::string takeover_from;      // the pid file of a running process to take the sockets of
    std::vector<std::string> argv;  // this process's command line, for SIGUSR2's re-exec
  };
  Server(Options opts, std::shared_ptr<const config::Config> cfg);
  ~Server();

  // Binds, starts the workers and runs the main loop until drained. Returns the exit code.
  int run();
  core::EventLoop& loop() { return loop_; }

  // For the admin endpoints (main thread).
  bool ready() const { return started_ && !draining_; }
  bool draining() const { return draining_; }
  // `handoff`: a successor accepts on the same sockets, so idle connections get a moment
  // for a request already on its way before they are closed.
  void beginDrain(bool handoff = false);
  // Loads the config file again. Returns "" on success, else the errors (the old config
  // keeps serving). Listeners are added, removed and rebound to match it; one that cannot be
  // bound fails the whole reload. `by`: what asked ("SIGHUP", "POST /reload", ...), for the
  // dashboard. Runtime drain overrides of regions still in the config are kept.
  std::string reload(std::string_view by = "POST /reload");
  // POST /regions/NAME/drain (true) and /undrain (false): a runtime override of the region's
  // `drain:`, for routing only, kept across reloads, lost at exit (docs/operations.md). An
  // override equal to the config's value is removed rather than kept. Returns the region's
  // state as JSON, or an Error (404) for a region the config does not name.
  core::Result<std::string> setRegionDrain(const std::string& region, bool drain);
  // GET /dashboard/state (proxy/dashboard/dashboard_json.h); `show_errors`: the caller may see
  // reload errors (it has the admin token, or none is set).
  std::string dashboardState(bool show_errors);
  // SIGUSR2: starts this binary again (as now installed at its path) with --takeover. False
  // when it cannot be started; a successor that fails later leaves this process serving.
  bool upgrade();
  std::string metricsText() const;
  static void appendUpstreamTlsMetrics(std::string& out);
  // GET /config: {"generation": N, "config": {...}}.
  std::string configJson() const;
  // GET /regions: per cluster, per region, per endpoint: health, why, since, ejections, in flight.
  std::string regionsJson() const;
  // GET /explain: `meridian route explain` on the live health and geo state; an Error (400)
  // when client_ip is not an IP address.
  core::Result<std::string> explainJson(const std::string& client_ip, const std::string& host,
                                        const std::string& path, const std::string& method) const;
  uint64_t generation() const { return generation_; }
  const std::string& adminAddress() const { return admin_address_; }
  // "127.0.0.1:8080" per listener name, once bound.
  const std::vector<std::pair<std::string, std::string>>& boundListeners() const { return bound_; }

 private:
  // A listener's sockets: one or more per worker, all in one SO_REUSEPORT group.
  struct BoundListener {
    config::Listener cfg;
    std::string bound;                  // "127.0.0.1:8080"
    std::vector<std::vector<int>> fds;  // [worker] -> sockets it accepts on
  };
  // The phases of run().
  // The first config's snapshot, access log and admin token (into `admin_token`).
  bool loadFirstConfig(std::string& admin_token);
  bool receiveSockets(TakeoverClient& predecessor, HandedSockets& inherited);
  void startWorkers();
  void announceReady(const std::string& admin_address);
  bool bindListeners(HandedSockets& inherited);
  core::Result<BoundListener> bindListener(const config::Listener& l, std::vector<int> inherited);
  std::string applyListeners(const config::Config& next);
  void refreshBound();
  void writeReadyFile(const std::string& admin_address);
  void onHealth(std::shared_ptr<const health::HealthSnapshot> health);
  // Once a second: the workers' counters into the dashboard's window.
  void sampleStats();
  // The measured latencies the routers order by (Telemetry::publish), every 250 ms.
  void publishLatency();
  // Applies a config as loaded from the file (reload, or a DNS answer that changed): expands
  // its DNS names, builds the snapshot, rebinds listeners. "" or the errors (old config kept).
  std::string applyConfig(std::shared_ptr<const config::Config> file, std::string_view by);
  // Resolves, now and on this thread, the DNS names of `file` never resolved yet (start, and a
  // reload that adds a name), then keeps every name resolved from the refresher's thread.
  void resolveNewDnsNames(const config::Config& file);
  void onDnsAnswer(const std::string& host, const core::DnsAnswer& answer);
  std::string reloadFailed(std::string_view by, const std::string& errors);
  void watchDnsNames();
  std::string dnsMetrics() const;
  // fleet: (server_fleet.cc, docs/fleet.md). At start: the fleet's keys from etcd, else from
  // the cache file, composed into file_cfg_; then the agent's views, applied like reloads.
  void startFleet();
  void onFleetView(const fleet::FleetView& view);
  void applyFleetChanges(const fleet::FleetView& view);
  // Shared health (health_check.source: fleet): this instance's verdicts on its own region's
  // endpoints, to the agent; the other regions' reports, to the health monitor.
  void publishFleetHealth();
  void applyFleetHealth();
  // The local file with a fleet config (revision 0: the file alone) and registered endpoints.
  core::Result<std::shared_ptr<const config::Config>> composeFleet(
      const std::string& fleet_config, int64_t revision,
      const std::map<std::string, std::string>& endpoints) const;
  void writeFleetCacheFile();
  std::string fleetMetrics() const;
  // ACME (server_acme.cc): a client per listener with tls.acme, kept while its config is.
  void syncAcmeClients();
  std::string acmeMetrics() const;
  uint64_t acmeEtcdFailures() const;  // storage: fleet, in meridian_fleet_fallbacks_total
  std::string fleetJson() const;
  void publish();
  void watchFiles();
  bool startTakeoverServer();
  void onHandedOver();
  void reapUpgrade();
  void removePidFile();
  ListenSocket socketFor(const config::Listener& l, int fd) const;

  Options opts_;
  std::shared_ptr<const config::Config> cfg_;  // as served: DNS names expanded to addresses
  std::shared_ptr<const config::Config>
      file_cfg_;  // as the file says (what a DNS change re-expands)
  DnsNames dns_names_;
  std::unique_ptr<DnsRefresher> dns_refresher_;
  // fleet: the agent (null without a fleet: section), the fleet config in force (revision 0:
  // the file's own), the last one refused and why, and the registered endpoints in force.
  std::unique_ptr<fleet::FleetAgent> fleet_;
  std::map<std::string, std::unique_ptr<acme::AcmeClient>> acme_clients_;  // by listener
  uint64_t acme_orders_retired_[2] = {0, 0};  // success, failure of clients since replaced
  uint64_t acme_etcd_failures_retired_ = 0;
  fleet::FleetView fleet_start_;  // what the agent watches after
  std::string fleet_config_;
  int64_t fleet_revision_ = 0;
  int64_t fleet_store_revision_ = 0;
  int64_t fleet_rejected_revision_ = 0;
  std::string fleet_error_;
  std::map<std::string, std::string> fleet_endpoints_;
  uint64_t fleet_cache_fallbacks_ = 0;
  std::map<std::string, std::string> fleet_health_;  // instance -> its health report
  // idempotency.store: fleet. Its threads post to the workers' loops: reset once they are
  // joined.
  std::unique_ptr<FleetIdempotency> fleet_idempotency_;
  // In-flight counts and measured latency, for the whole life of the process (every router
  // built from a reload shares them).
  std::shared_ptr<routing::Telemetry> telemetry_ = std::make_shared<routing::Telemetry>();
  std::shared_ptr<const Snapshot> snap_;
  core::EventLoop loop_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<AdminServer> admin_;
  std::shared_ptr<AccessLog> access_log_;  // outlives the workers (they are joined first)
  std::unique_ptr<health::HealthMonitor> monitor_;
  std::atomic<int> open_connections_{0};
  std::vector<std::pair<std::string, std::string>> bound_;
  std::vector<BoundListener> listeners_;
  std::unique_ptr<core::FileWatch> watch_;
  std::unique_ptr<TakeoverServer> takeover_;
  pid_t upgrade_child_ = -1;
  bool handed_over_ = false;
  std::string admin_address_;
  routing::DrainOverrides drain_overrides_;
  StatsWindow stats_;
  std::unique_ptr<core::Timer> sampler_;
  std::unique_ptr<core::Timer> latency_publisher_;  // routing.order: latency, 4 times a second
  ConfigEvent loaded_;
  std::optional<ConfigEvent> last_reload_;
  // The last GET /dashboard/state answers (with and without errors), while nothing changed:
  // ten open dashboards cost one build per second, not ten.
  std::string state_cache_[2];
  uint64_t state_cache_key_[2] = {0, 0};
  uint64_t state_changes_ = 0;  // bumped by reloads, health changes and drain overrides
  uint64_t generation_ = 1;
  uint64_t reloads_ok_ = 0;
  uint64_t reloads_failed_ = 0;
  bool started_ = false;
  bool draining_ = false;
  std::thread joiner_;
};

// The meridian_upstream_healthy gauges of a snapshot, in Prometheus text format.
std::string healthGauges(const Snapshot& s);
// The in-flight and measured-latency gauges of a snapshot's router.
std::string loadGauges(const Snapshot& s);

// Creates a listening TCP socket bound to `hp` (SO_REUSEPORT so each worker can have one).
core::Result<int> listenOn(const config::HostPort& hp, int backlog);
using core::localAddress;

}  // namespace meridian::proxy
