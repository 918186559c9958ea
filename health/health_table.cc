#include "health/health_table.h"

#include <algorithm>

#include "core/event_loop.h"
#include "core/log.h"

namespace meridian::health {

int64_t SystemClock::monotonicMillis() const {
  return core::monotonicMillis();
}

std::chrono::system_clock::time_point SystemClock::wallNow() const {
  return std::chrono::system_clock::now();
}

namespace {

std::string inARow(int n) {
  return " (" + std::to_string(n) + " in a row)";
}

std::string composeReason(const EndpointState& s) {
  if (!s.resolve_error.empty()) return s.resolve_error;
  // Both at once: the active failure is the lasting one, so it leads.
  if (s.passive.ejected && !s.active.healthy) return s.active.reason + "; " + s.passive.reason;
  if (s.passive.ejected) return s.passive.reason;
  return s.active.reason;
}

// ejection * 2^(ejections so far), capped; doubling stops at the cap so it cannot overflow.
int64_t ejectionMillis(const config::Outlier& o, int ejections_so_far) {
  int64_t cap = o.max_ejection.count();
  int64_t d = o.ejection.count();
  for (int i = 0; i < ejections_so_far && d < cap; ++i) d *= 2;
  return std::min(d, cap);
}

}  // namespace

void HealthTable::apply(std::shared_ptr<const config::Config> cfg) {
  std::map<EndpointKey, std::unique_ptr<EndpointState>> next;
  std::vector<std::vector<EndpointState*>> index;
  std::vector<EndpointState*> added;
  std::vector<EndpointState*> kept;
  for (size_t c = 0; c < cfg->clusters.size(); ++c) {
    const config::Cluster& cluster = cfg->clusters[c];
    index.emplace_back();
    for (const config::Endpoint& ep : cluster.endpoints) {
      EndpointKey key{cluster.name, ep.address.text()};
      std::unique_ptr<EndpointState>& slot = next[key];
      if (!slot) {  // a duplicate listing (rejected by validation) shares the first's state
        auto old = states_.find(key);
        if (old != states_.end()) {
          slot = std::move(old->second);
          kept.push_back(slot.get());
        } else {
          slot = std::make_unique<EndpointState>();
          slot->key = key;
          added.push_back(slot.get());
        }
      }
      slot->cluster = &cluster;
      slot->endpoint = &ep;
      slot->cluster_index = c;
      index.back().push_back(slot.get());
    }
  }
  cfg_ = std::move(cfg);
  states_ = std::move(next);
  index_ = std::move(index);

  for (EndpointState* s : added) {
    resetActive(*s);
    s->healthy = s->shown_active_healthy = s->active.healthy;
    s->reason = composeReason(*s);
    s->since = clock_.wallNow();
  }
  for (EndpointState* s : kept) {
    // Only a section switched on or off resets its part; changed thresholds and durations
    // apply from the next event on.
    if (s->active.enabled != s->cluster->health_check.has_value()) resetActive(*s);
    if (!s->cluster->outlier) s->passive = PassiveState{};
    settle(*s, " (config reloaded)");
  }
}

void HealthTable::resetActive(EndpointState& s) const {
  s.active = ActiveState{};
  const auto& hc = s.cluster->health_check;
  if (!hc) return;
  s.active.enabled = true;
  // An address a DNS name gained after its first answer waits for its first pass too: it may
  // be an instance still starting.
  bool assume = hc->assume_healthy && !(s.endpoint != nullptr && s.endpoint->await_first_check);
  s.active.healthy = assume;
  // As Envoy does: a host not assumed healthy is out until its first pass, then in at once.
  s.active.fresh = !assume;
  s.active.reason = assume ? "assumed" : "not checked yet";
}

bool HealthTable::setResolveError(const EndpointKey& key, const std::string& error) {
  EndpointState* s = lookup(key);
  if (s == nullptr || error == s->resolve_error) return false;
  bool was_unresolved = !s->resolve_error.empty();
  s->resolve_error = error;
  // Nothing was ever checked at the old address: start over as a new endpoint.
  if (was_unresolved && error.empty()) resetActive(*s);
  return settle(*s);
}

void HealthTable::recordCheck(ActiveState& a, bool passed, const std::string& result) const {
  a.last_result = result;
  a.last_passed = passed;
  a.last_at = clock_.wallNow();
}

bool HealthTable::checkPassed(const EndpointKey& key) {
  EndpointState* s = lookup(key);
  if (s == nullptr || !s->active.enabled || !s->resolve_error.empty()) return false;
  ActiveState& a = s->active;
  recordCheck(a, true, "check passed");
  a.fails = 0;
  ++a.passes;
  if (!a.healthy && (a.fresh || a.passes >= s->cluster->health_check->healthy_threshold)) {
    a.healthy = true;
    a.fresh = false;
  }
  if (a.healthy) a.reason = "check passed";
  return settle(*s, inARow(a.passes));
}

bool HealthTable::setReported(const EndpointKey& key, bool healthy, const std::string& reason) {
  EndpointState* s = lookup(key);
  if (s == nullptr || !s->active.enabled || !s->resolve_error.empty()) return false;
  ActiveState& a = s->active;
  if (a.healthy == healthy && !a.fresh && a.reason == reason) return false;
  recordCheck(a, healthy, reason);
  a.healthy = healthy;
  a.fresh = false;
  a.passes = 0;
  a.fails = 0;
  a.reason = reason;
  return settle(*s);
}

bool HealthTable::checkFailed(const EndpointKey& key, const std::string& reason) {
  EndpointState* s = lookup(key);
  if (s == nullptr || !s->active.enabled || !s->resolve_error.empty()) return false;
  ActiveState& a = s->active;
  recordCheck(a, false, reason);
  a.passes = 0;
  ++a.fails;
  if (a.healthy && a.fails >= s->cluster->health_check->unhealthy_threshold) a.healthy = false;
  // A healthy endpoint keeps "check passed" through failures below the threshold.
  if (!a.healthy) a.reason = reason;
  return settle(*s, inARow(a.fails));
}

bool HealthTable::reportSuccess(const EndpointKey& key) {
  EndpointState* s = lookup(key);
  if (s == nullptr || !s->cluster->outlier || s->passive.ejected) return false;
  s->passive.failures = 0;
  countInInterval(*s, false);
  return false;
}

bool HealthTable::reportFailure(const EndpointKey& key, const std::string& what) {
  EndpointState* s = lookup(key);
  // While ejected, late reports of requests that started before are no news.
  if (s == nullptr || !s->cluster->outlier || s->passive.ejected) return false;
  const config::Outlier& o = *s->cluster->outlier;
  PassiveState& p = s->passive;
  const bool in_a_row = ++p.failures >= o.consecutive_failures;
  const bool share = countInInterval(*s, true);
  if (!in_a_row && !share) return false;
  std::string why = in_a_row ? std::to_string(o.consecutive_failures) + " consecutive failures"
                             : std::to_string(p.window_failures) + " of " +
                                   std::to_string(p.window_requests) +
                                   " requests failed (failure_percentage " +
                                   std::to_string(o.failure_percentage) + "%)";
  why += " (last: " + what + ")";
  // Refused or not, the run and the interval are used up: without this a refused endpoint
  // would log on every further failure; it is reconsidered after another full run.
  p.failures = 0;
  p.window_requests = p.window_failures = 0;
  p.window_start_ms = clock_.monotonicMillis();
  if (!mayEject(*s)) {
    ++refused_ejections_;
    logWarn("health: cluster %s endpoint %s (region %s) not ejected after %s: "
            "max_ejection_percent %d%% reached",
            s->key.cluster.c_str(), s->key.endpoint.c_str(), s->endpoint->region.c_str(),
            why.c_str(), o.max_ejection_percent);
    return false;
  }
  eject(*s, why);
  return settle(*s, " (ejection " + std::to_string(p.ejections) + ")");
}

bool HealthTable::countInInterval(EndpointState& s, bool failed) {
  const config::Outlier& o = *s.cluster->outlier;
  if (o.failure_percentage <= 0) return false;
  PassiveState& p = s.passive;
  const int64_t now = clock_.monotonicMillis();
  if (p.window_requests == 0 || now - p.window_start_ms >= o.failure_percentage_interval.count()) {
    p.window_requests = p.window_failures = 0;
    p.window_start_ms = now;
  }
  ++p.window_requests;
  if (failed) ++p.window_failures;
  return p.window_requests >= o.failure_percentage_min_requests &&
         static_cast<int64_t>(p.window_failures) * 100 >=
             static_cast<int64_t>(o.failure_percentage) * p.window_requests;
}

bool HealthTable::mayEject(const EndpointState& s) const {
  const std::vector<EndpointState*>& peers = index_[s.cluster_index];
  size_t ejected = std::count_if(peers.begin(), peers.end(),
                                 [](const EndpointState* p) { return p->passive.ejected; });
  auto total = static_cast<int64_t>(peers.size());
  return static_cast<int64_t>(ejected + 1) * 100 <=
         static_cast<int64_t>(s.cluster->outlier->max_ejection_percent) * total;
}

void HealthTable::eject(EndpointState& s, const std::string& why) {
  const config::Outlier& o = *s.cluster->outlier;
  PassiveState& p = s.passive;
  int64_t ms = ejectionMillis(o, p.ejections);
  ++p.ejections;
  p.ejected = true;
  p.ejected_until_ms = clock_.monotonicMillis() + ms;
  p.ejected_until = clock_.wallNow() + std::chrono::milliseconds(ms);
  p.reason = "ejected for " + std::to_string(ms) + "ms: " + why;
}

bool HealthTable::endEjections() {
  int64_t now = clock_.monotonicMillis();
  bool visible = false;
  for (auto& [key, s] : states_) {
    PassiveState& p = s->passive;
    if (!p.ejected || p.ejected_until_ms > now) continue;
    p.ejected = false;
    p.failures = 0;
    p.reason.clear();
    if (s->active.healthy) s->active.reason = "ejection ended";
    visible |= settle(*s, s->active.healthy ? "" : " (ejection ended)");
  }
  return visible;
}

std::optional<int64_t> HealthTable::nextEjectionEnd() const {
  std::optional<int64_t> next;
  for (const auto& [key, s] : states_) {
    if (s->passive.ejected && (!next || s->passive.ejected_until_ms < *next))
      next = s->passive.ejected_until_ms;
  }
  return next;
}

const EndpointState* HealthTable::find(const EndpointKey& key) const {
  auto it = states_.find(key);
  return it == states_.end() ? nullptr : it->second.get();
}

EndpointState* HealthTable::lookup(const EndpointKey& key) {
  auto it = states_.find(key);
  return it == states_.end() ? nullptr : it->second.get();
}

std::vector<std::vector<EndpointHealth>> HealthTable::health() const {
  std::vector<std::vector<EndpointHealth>> out;
  out.reserve(index_.size());
  for (const auto& cluster : index_) {
    std::vector<EndpointHealth>& row = out.emplace_back();
    row.reserve(cluster.size());
    for (const EndpointState* s : cluster) {
      EndpointHealth h;
      h.healthy = s->healthy;
      h.active_healthy = s->shown_active_healthy;
      h.ejected = s->shown_ejected;
      h.reason = s->reason;
      h.since = s->since;
      h.ejections = s->passive.ejections;
      h.last_check = s->active.last_result;
      h.last_check_passed = s->active.last_passed;
      h.last_check_at = s->active.last_at;
      if (s->passive.ejected) h.ejected_until = s->passive.ejected_until;
      row.push_back(std::move(h));
    }
  }
  return out;
}

bool HealthTable::settle(EndpointState& s, const std::string& detail) {
  bool active = s.resolve_error.empty() && s.active.healthy;
  bool ejected = s.passive.ejected;
  bool healthy = active && !ejected;
  std::string reason = composeReason(s);
  bool flipped =
      healthy != s.healthy || active != s.shown_active_healthy || ejected != s.shown_ejected;
  bool visible = flipped || (!healthy && reason != s.reason);
  if (flipped) {
    // A flip underneath an unchanged verdict (checks pass again while still ejected) is
    // logged too: it explains why the endpoint stays out.
    const char* verb = healthy == s.healthy ? (healthy ? "is still healthy" : "is still unhealthy")
                                            : (healthy ? "is now healthy" : "is now unhealthy");
    auto log = healthy ? core::LogLevel::Info : core::LogLevel::Warn;
    core::logLine(log, "health: cluster %s endpoint %s (region %s) %s: %s%s", s.key.cluster.c_str(),
                  s.key.endpoint.c_str(), s.endpoint->region.c_str(), verb, reason.c_str(),
                  detail.c_str());
  }
  if (healthy != s.healthy) s.since = clock_.wallNow();
  // Back in rotation: failures of real traffic from before it went out (or reported late,
  // while it was out) are not held against it, so it takes a full run of new ones to eject it.
  if (healthy && !s.healthy) s.passive.failures = 0;
  s.healthy = healthy;
  s.shown_active_healthy = active;
  s.shown_ejected = ejected;
  s.reason = std::move(reason);
  return visible;
}

}  // namespace meridian::health
