#include "health/health_monitor.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <random>

#include "core/address.h"
#include "health/health_table.h"
#include "health/http_check.h"

namespace meridian::health {

namespace {

const char* outcomeName(Outcome o) {
  switch (o) {
    case Outcome::Success:
      return "success";
    case Outcome::ConnectFailure:
      return "connect failure";
    case Outcome::Reset:
      return "reset";
    case Outcome::Timeout:
      return "timeout";
    case Outcome::Status5xx:
      return "5xx status";
  }
  return "failure";
}

}  // namespace

struct HealthMonitor::Impl {
  // The active checking of one endpoint: a timer for the next check and the check in flight.
  struct Probe {
    Probe(Impl& impl, core::EventLoop& loop, EndpointKey k);
    EndpointKey key;
    std::string host;  // the Host header: the endpoint as configured
    core::SocketAddress addr;
    std::optional<CheckTls> tls;  // the cluster's `tls:`
    core::Timer timer;
    HttpCheck check;
    std::chrono::steady_clock::time_point started{};
  };

  Impl(core::EventLoop& l, Publish p)
      : loop(l),
        publish(std::move(p)),
        table(clock),
        eject_timer(l, [this] { onEjectionTimer(); }),
        rng(std::random_device{}()),
        current(HealthSnapshot::make({}, 0)) {}

  using UpstreamTls = std::vector<std::shared_ptr<const certs::UpstreamTlsContext>>;
  void apply(std::shared_ptr<const config::Config> cfg,
             std::shared_ptr<const UpstreamTls> upstream_tls);
  // Probes for every checked endpoint of the config in force that is not reported.
  void syncProbes();
  bool applyReported();
  void report(const EndpointKey& key, Outcome outcome);
  void runCheck(Probe& probe);
  void onCheckDone(Probe& probe, bool passed, const std::string& reason);
  void schedule(Probe& probe, bool first);
  core::Millis jittered(core::Millis base, int jitter_percent);
  void armEjectionTimer();
  void onEjectionTimer();
  void publishNow();

  core::EventLoop& loop;
  Publish publish;
  SystemClock clock;
  HealthTable table;  // after clock: it keeps a reference
  core::Timer eject_timer;
  std::mt19937_64 rng;
  uint64_t generation = 0;
  std::shared_ptr<const HealthSnapshot> current;
  CheckTimed check_timed;
  std::shared_ptr<const config::Config> cfg;
  std::shared_ptr<const UpstreamTls> upstream_tls;
  HealthMonitor::ReportedMap reported;
  // Last: destroyed first, so no check outlives what its callbacks touch.
  std::map<EndpointKey, std::unique_ptr<Probe>> probes;
};

HealthMonitor::Impl::Probe::Probe(Impl& impl, core::EventLoop& loop, EndpointKey k)
    : key(std::move(k)), timer(loop, [&impl, this] { impl.runCheck(*this); }), check(loop) {}

void HealthMonitor::Impl::apply(std::shared_ptr<const config::Config> c,
                                std::shared_ptr<const UpstreamTls> tls) {
  cfg = std::move(c);
  upstream_tls = std::move(tls);
  table.apply(cfg);
  syncProbes();
  applyReported();
  armEjectionTimer();  // a cluster that lost its outlier section ended its ejections
  publishNow();
}

bool HealthMonitor::Impl::applyReported() {
  bool visible = false;
  for (const auto& [key, r] : reported)
    visible = table.setReported(EndpointKey{key.first, key.second}, r.healthy, r.reason) || visible;
  return visible;
}

void HealthMonitor::Impl::syncProbes() {
  if (!cfg) return;
  std::map<EndpointKey, std::unique_ptr<Probe>> next;
  for (size_t ci = 0; ci < cfg->clusters.size(); ++ci) {
    const config::Cluster& cluster = cfg->clusters[ci];
    const auto* tls_context =
        upstream_tls != nullptr && ci < upstream_tls->size() ? &(*upstream_tls)[ci] : nullptr;
    for (const config::Endpoint& ep : cluster.endpoints) {
      EndpointKey key{cluster.name, ep.address.text()};
      // Resolved on every apply (load time, as core/address.h asks): a name may have moved.
      auto resolved = core::resolveAddress(ep.address.host, ep.address.port);
      table.setResolveError(key, resolved.ok() ? std::string() : resolved.error().detail);
      if (!resolved.ok() || !cluster.health_check || next.count(key) != 0) continue;
      if (reported.contains({key.cluster, key.endpoint})) continue;
      auto old = probes.find(key);
      bool fresh = old == probes.end();
      std::unique_ptr<Probe> probe =
          fresh ? std::make_unique<Probe>(*this, loop, key) : std::move(old->second);
      probe->host = ep.address.text();
      probe->addr = resolved.value();
      probe->tls.reset();
      if (tls_context != nullptr && *tls_context != nullptr)
        probe->tls = CheckTls{*tls_context, probe->addr.text, ep.address.host};
      // A survivor keeps its schedule; new settings take effect when it next schedules.
      if (fresh) schedule(*probe, true);
      next[key] = std::move(probe);
    }
  }
  probes.swap(next);  // `next` now holds the probes of removed endpoints: they stop here
  next.clear();
}

void HealthMonitor::Impl::report(const EndpointKey& key, Outcome outcome) {
  bool visible = outcome == Outcome::Success ? table.reportSuccess(key)
                                             : table.reportFailure(key, outcomeName(outcome));
  if (!visible) return;
  armEjectionTimer();
  publishNow();
}

void HealthMonitor::Impl::runCheck(Probe& probe) {
  const EndpointState* s = table.find(probe.key);
  if (s == nullptr || !s->cluster->health_check) return;
  const config::HealthCheck& hc = *s->cluster->health_check;
  probe.started = std::chrono::steady_clock::now();
  probe.check.start(
      probe.addr, probe.host, hc.path, hc.timeout,
      [this, &probe](bool passed, const std::string& reason) {
        onCheckDone(probe, passed, reason);
      },
      probe.tls ? &*probe.tls : nullptr,
      s->cluster->protocol == config::UpstreamProtocol::H2c ||
          s->cluster->protocol == config::UpstreamProtocol::H2);
}

void HealthMonitor::Impl::onCheckDone(Probe& probe, bool passed, const std::string& reason) {
  bool visible = passed ? table.checkPassed(probe.key) : table.checkFailed(probe.key, reason);
  const EndpointState* s = table.find(probe.key);
  if (passed && check_timed && s != nullptr && s->endpoint != nullptr) {
    std::chrono::duration<double, std::milli> took =
        std::chrono::steady_clock::now() - probe.started;
    check_timed(probe.key.cluster, s->endpoint->region, took.count());
  }
  schedule(probe, false);
  // Last: the publish callback is the user's, and the probe must not be touched after it.
  if (visible) publishNow();
}

// Healthy endpoints are checked every `interval`, unhealthy ones every `unhealthy_interval`
// (judged by the active checks alone: checking an ejected endpoint faster gains nothing).
void HealthMonitor::Impl::schedule(Probe& probe, bool first) {
  const EndpointState* s = table.find(probe.key);
  if (s == nullptr || !s->cluster->health_check) return;
  const config::HealthCheck& hc = *s->cluster->health_check;
  core::Millis base = s->active.healthy ? hc.interval : hc.unhealthy_interval;
  if (first) {
    // Spread the first checks over one interval so endpoints never fire in lockstep.
    std::uniform_int_distribution<int64_t> spread(0, std::max<int64_t>(base.count(), 0));
    probe.timer.arm(core::Millis(spread(rng)));
  } else {
    probe.timer.arm(jittered(base, hc.jitter_percent));
  }
}

core::Millis HealthMonitor::Impl::jittered(core::Millis base, int jitter_percent) {
  int64_t spread = base.count() * std::clamp(jitter_percent, 0, 100) / 100;
  std::uniform_int_distribution<int64_t> jitter(-spread, spread);
  return core::Millis(std::max<int64_t>(base.count() + jitter(rng), 1));
}

void HealthMonitor::Impl::armEjectionTimer() {
  std::optional<int64_t> next = table.nextEjectionEnd();
  if (!next) {
    eject_timer.cancel();
    return;
  }
  eject_timer.arm(core::Millis(std::max<int64_t>(*next - clock.monotonicMillis(), 0)));
}

void HealthMonitor::Impl::onEjectionTimer() {
  bool visible = table.endEjections();
  armEjectionTimer();
  if (visible) publishNow();
}

void HealthMonitor::Impl::publishNow() {
  current = HealthSnapshot::make(table.health(), ++generation);
  if (publish) publish(current);
}

HealthMonitor::HealthMonitor(core::EventLoop& loop, Publish publish)
    : impl_(std::make_unique<Impl>(loop, std::move(publish))) {}

HealthMonitor::~HealthMonitor() = default;

void HealthMonitor::apply(std::shared_ptr<const config::Config> cfg,
                          std::shared_ptr<const Impl::UpstreamTls> upstream_tls) {
  impl_->apply(std::move(cfg), std::move(upstream_tls));
}

void HealthMonitor::report(const std::string& cluster, const std::string& endpoint,
                           Outcome outcome) {
  impl_->report(EndpointKey{cluster, endpoint}, outcome);
}

void HealthMonitor::onCheckTimed(CheckTimed fn) {
  impl_->check_timed = std::move(fn);
}

void HealthMonitor::setReported(ReportedMap reported) {
  if (reported.size() == impl_->reported.size() &&
      std::equal(reported.begin(), reported.end(), impl_->reported.begin(),
                 [](const auto& a, const auto& b) {
                   return a.first == b.first && a.second.healthy == b.second.healthy &&
                          a.second.reason == b.second.reason;
                 }))
    return;
  // Which endpoints are probed here depends on which are reported, not on their verdicts: a
  // verdict that flips rebuilds no probe (nor resolves every endpoint's address again).
  const bool same_endpoints =
      reported.size() == impl_->reported.size() &&
      std::equal(reported.begin(), reported.end(), impl_->reported.begin(),
                 [](const auto& a, const auto& b) { return a.first == b.first; });
  impl_->reported = std::move(reported);
  if (!same_endpoints) impl_->syncProbes();
  if (impl_->applyReported()) impl_->publishNow();
}

std::shared_ptr<const HealthSnapshot> HealthMonitor::current() const {
  return impl_->current;
}

std::shared_ptr<const HealthSnapshot> HealthMonitor::live() const {
  return HealthSnapshot::make(impl_->table.health(), impl_->generation);
}

}  // namespace meridian::health
