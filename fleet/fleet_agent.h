#pragma once
// One instance's link to its fleet (docs/fleet.md), on a thread of its own: reads the fleet's
// keys under the prefix (the config, the registered endpoints), watches them, and hands every
// change to the main loop as a whole FleetView; it also keeps the instance's status key alive
// under a lease. A broken watch resumes on the next etcd endpoint from the revision after the
// last event it delivered, so no change is missed; a revision compacted away meanwhile is
// replaced by a full read. While no endpoint answers, the view delivered last stands (the
// instance keeps serving it) and staleSince() says since when. A member that hangs (accepts,
// acknowledges, never answers) leaves a watch silent rather than broken: the status report,
// made every 2 s on the same member, times out on it and moves the client on, and the watch
// follows it to the member that answered.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/event_loop.h"
#include "fleet/etcd_client.h"

namespace meridian::fleet {

// The fleet's keys as of one etcd revision.
struct FleetView {
  int64_t revision = 0;         // every change up to this store revision is in the view
  int64_t config_revision = 0;  // the config key's mod_revision; 0: no fleet config yet
  std::string config;           // the fleet config (YAML)
  // Registered endpoints: "web/ams/10.0.1.5:9000" (cluster/region/address) -> the key's value.
  std::map<std::string, std::string> endpoints;
  // Shared health: instance -> what it reports of its region's endpoints (JSON).
  std::map<std::string, std::string> health;
};

// The keys under a fleet's prefix.
struct FleetKeys {
  std::string prefix;
  std::string config() const { return prefix + "config"; }
  std::string endpoints() const { return prefix + "endpoints/"; }
  std::string health() const { return prefix + "health/"; }
  std::string status() const { return prefix + "status/"; }
  // The range the agent reads and watches, from config(): the config, every registered
  // endpoint and every health report (not the status keys, which only `fleet status` reads).
  std::string watchedEnd() const { return prefix + "health0"; }
};

// Applies a key's change to a view: true when the view changed.
bool applyToView(FleetView& view, const FleetKeys& keys, const WatchEvent& e);

// What an instance reports under <prefix>status/<instance>.
struct InstanceStatus {
  std::string instance;
  std::string region;
  int64_t revision = 0;        // the fleet config revision it serves (0: its own file)
  std::string error;           // why the last fleet config was rejected; empty when it was applied
  int64_t reported_at_ms = 0;  // Unix time, milliseconds
  int64_t stale_since_ms = 0;  // 0: in touch with etcd
};
std::string statusJson(const InstanceStatus& s);
core::Result<InstanceStatus> parseStatus(const std::string& json);

class FleetAgent {
 public:
  struct Options {
    EtcdOptions etcd;
    std::string prefix;
    std::string instance;
    std::string region;
    int status_ttl_seconds = 10;
    int report_interval_ms = 2000;
  };
  using OnView = std::function<void(const FleetView&)>;
  // Views are delivered on `loop` (the main loop), in order.
  FleetAgent(core::EventLoop& loop, Options opts, OnView on_view);
  ~FleetAgent();
  FleetAgent(const FleetAgent&) = delete;
  FleetAgent& operator=(const FleetAgent&) = delete;

  // On the caller's thread, before start(): the fleet's keys now, or why they cannot be read.
  core::Result<FleetView> readNow();
  // Starts the thread, which watches for changes after `from` (what the instance serves:
  // read by readNow(), or from the cache; revision 0: read everything first).
  void start(FleetView from);
  // From the main loop: the fleet config revision served and why the last one was rejected.
  void reportServed(int64_t config_revision, std::string error);
  // From the main loop: this instance's health report (shared health), put under
  // health/<instance> with the status key's lease when it changes. Empty: none.
  void publishHealth(std::string json);

  // For /metrics and /regions, from any thread.
  uint64_t watchReconnects() const { return watch_reconnects_.load(); }
  uint64_t fullReads() const { return full_reads_.load(); }
  int64_t staleSinceMs() const { return stale_since_ms_.load(); }  // 0: in touch
  std::string lastEtcdError() const;
  // The etcd member the watch is open on ("" between watches).
  std::string watchedMember() const;
  const Options& options() const { return opts_; }

 private:
  void run();
  core::Result<FleetView> readAll();
  // One watch stream, until it breaks, a full read is needed, or stop.
  void watchOnce(bool& need_read);
  // Hands view_ to the main loop. Views are coalesced: while one hand-over waits for the
  // loop, a newer view replaces it, so a burst of changes (10,000 registrations) is applied
  // as few times as the loop can keep up with, never once per change.
  void deliver();
  void reportIfDue(bool force = false);
  void onEtcdFailure(const std::string& why);
  void onEtcdAnswered();
  bool waitOrStop(std::chrono::milliseconds d);

  core::EventLoop& loop_;
  Options opts_;
  FleetKeys keys_;
  OnView on_view_;
  EtcdClient client_;
  FleetView view_;  // the thread's
  int64_t lease_ = 0;
  std::chrono::steady_clock::time_point next_report_{};
  int failures_in_row_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  EtcdWatch* watch_ = nullptr;          // the stream in progress, for stop's wakeup
  InstanceStatus served_;               // guarded by mu_
  std::shared_ptr<FleetView> pending_;  // guarded by mu_: the view a posted hand-over takes
  bool served_changed_ = false;
  std::string health_;  // guarded by mu_
  bool health_changed_ = false;
  int64_t health_lease_ = 0;  // the lease the health key was last put with
  std::string last_error_;
  std::string watched_member_;  // guarded by mu_
  std::atomic<uint64_t> watch_reconnects_{0};
  std::atomic<uint64_t> full_reads_{0};
  std::atomic<int64_t> stale_since_ms_{0};
  std::thread thread_;
};

int64_t unixMillis();

}  // namespace meridian::fleet
