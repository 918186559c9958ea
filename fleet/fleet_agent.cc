#include "fleet/fleet_agent.h"

#include <chrono>
#include <nlohmann/json.hpp>

#include "core/log.h"

namespace meridian::fleet {

using Clock = std::chrono::steady_clock;

int64_t unixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool applyToView(FleetView& view, const FleetKeys& keys, const WatchEvent& e) {
  const std::string& key = e.kv.key;
  if (key == keys.config()) {
    view.config = e.deleted ? "" : e.kv.value;
    view.config_revision = e.deleted ? 0 : e.kv.mod_revision;
    return true;
  }
  const std::string health = keys.health();
  if (key.starts_with(health)) {
    std::string instance = key.substr(health.size());
    if (e.deleted) return view.health.erase(instance) > 0;
    auto it = view.health.find(instance);
    if (it != view.health.end() && it->second == e.kv.value) return false;
    view.health[instance] = e.kv.value;
    return true;
  }
  const std::string endpoints = keys.endpoints();
  if (!key.starts_with(endpoints)) return false;
  std::string name = key.substr(endpoints.size());
  if (e.deleted) return view.endpoints.erase(name) > 0;
  view.endpoints.insert_or_assign(name, e.kv.value);
  return true;
}

std::string statusJson(const InstanceStatus& s) {
  nlohmann::json j = {{"instance", s.instance},
                      {"region", s.region},
                      {"revision", s.revision},
                      {"error", s.error},
                      {"reported_at_ms", s.reported_at_ms},
                      {"stale_since_ms", s.stale_since_ms}};
  return j.dump();
}

core::Result<InstanceStatus> parseStatus(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return core::Error{core::ErrorKind::ProtocolError, core::Side::Upstream, false,
                       "a status that is not a JSON object"};
  InstanceStatus s;
  s.instance = j.value("instance", std::string());
  s.region = j.value("region", std::string());
  s.revision = j.value("revision", int64_t{0});
  s.error = j.value("error", std::string());
  s.reported_at_ms = j.value("reported_at_ms", int64_t{0});
  s.stale_since_ms = j.value("stale_since_ms", int64_t{0});
  return s;
}

FleetAgent::FleetAgent(core::EventLoop& loop, Options opts, OnView on_view)
    : loop_(loop),
      opts_(std::move(opts)),
      keys_{opts_.prefix},
      on_view_(std::move(on_view)),
      client_(opts_.etcd) {
  served_.instance = opts_.instance;
  served_.region = opts_.region;
  // Instances start on different members: watches spread over the cluster.
  size_t start = std::hash<std::string>{}(opts_.instance) % client_.options().endpoints.size();
  for (size_t i = 0; i < start; ++i) client_.rotate();
}

FleetAgent::~FleetAgent() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    if (watch_ != nullptr) watch_->wakeup();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // The status key goes with its lease: a stopped instance leaves `fleet status` at once.
  if (lease_ != 0) client_.revokeLease(lease_);
}

core::Result<FleetView> FleetAgent::readNow() {
  return readAll();
}

void FleetAgent::start(FleetView from) {
  view_ = std::move(from);
  thread_ = std::thread([this] { run(); });
}

void FleetAgent::reportServed(int64_t config_revision, std::string error) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    served_.revision = config_revision;
    served_.error = std::move(error);
    served_changed_ = true;
    if (watch_ != nullptr) watch_->wakeup();
  }
  cv_.notify_all();
}

void FleetAgent::publishHealth(std::string json) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (json == health_) return;
    health_ = std::move(json);
    health_changed_ = true;
    if (watch_ != nullptr) watch_->wakeup();
  }
  cv_.notify_all();
}

std::string FleetAgent::watchedMember() const {
  std::lock_guard<std::mutex> lock(mu_);
  return watched_member_;
}

std::string FleetAgent::lastEtcdError() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

core::Result<FleetView> FleetAgent::readAll() {
  auto r = client_.range(keys_.config(), keys_.watchedEnd());
  if (!r.ok()) return r.error();
  FleetView v;
  v.revision = r.value().revision;
  for (const auto& kv : r.value().kvs) applyToView(v, keys_, WatchEvent{false, kv});
  return v;
}

bool FleetAgent::waitOrStop(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [this] { return stop_; });
  return stop_;
}

void FleetAgent::onEtcdFailure(const std::string& why) {
  ++failures_in_row_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_error_ = why;
  }
  // Stale once every endpoint has failed in a row: one member down is not news.
  if (failures_in_row_ >= static_cast<int>(client_.options().endpoints.size()) &&
      stale_since_ms_.load() == 0) {
    stale_since_ms_ = unixMillis();
    logWarn("fleet: etcd unreachable, serving the last fleet config (revision %lld): %s",
            static_cast<long long>(view_.config_revision), why.c_str());
  }
}

void FleetAgent::onEtcdAnswered() {
  failures_in_row_ = 0;
  if (stale_since_ms_.exchange(0) != 0) logInfo("fleet: etcd reachable again");
}

void FleetAgent::deliver() {
  auto view = std::make_shared<FleetView>(view_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    bool posted = pending_ != nullptr;
    pending_ = std::move(view);
    if (posted) return;
  }
  // The agent outlives every post: the server resets it only after its loop stopped.
  loop_.post([this] {
    std::shared_ptr<FleetView> v;
    {
      std::lock_guard<std::mutex> lock(mu_);
      v = std::move(pending_);
    }
    if (v) on_view_(*v);
  });
}

void FleetAgent::run() {
  bool need_read = view_.revision == 0;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    if (need_read) {
      auto r = readAll();
      if (!r.ok()) {
        onEtcdFailure(r.error().detail);
        if (waitOrStop(std::chrono::milliseconds(1000))) return;
        continue;
      }
      onEtcdAnswered();
      view_ = std::move(r.value());
      need_read = false;
      deliver();
    }
    reportIfDue();
    watchOnce(need_read);
    // Every endpoint failed: wait a little before the next round.
    if (failures_in_row_ > 0 &&
        failures_in_row_ % static_cast<int>(client_.options().endpoints.size()) == 0 &&
        waitOrStop(std::chrono::milliseconds(500)))
      return;
  }
}

void FleetAgent::watchOnce(bool& need_read) {
  const std::string member = client_.currentEndpoint();
  EtcdWatch watch(client_, keys_.config(), keys_.watchedEnd(), view_.revision + 1);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    watch_ = &watch;
    watched_member_ = member;
  }
  bool ended = false;
  while (!ended) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) break;
    }
    auto got = watch.next(500);
    if (!got.ok()) {
      ++watch_reconnects_;
      onEtcdFailure(got.error().detail);
      client_.rotate();
      break;
    }
    bool changed = false;
    for (const auto& m : got.value()) {
      if (m.created) onEtcdAnswered();
      if (m.compact_revision > 0) {
        logWarn("fleet: revision %lld was compacted away: reading every key again",
                static_cast<long long>(view_.revision + 1));
        ++full_reads_;
        need_read = true;
      }
      if (m.canceled || need_read) {
        ended = true;
        break;
      }
      for (const auto& e : m.events) {
        changed = applyToView(view_, keys_, e) || changed;
        // Resumes after the last event seen, not the header's revision: a stream catching up
        // may send a header ahead of events still to come.
        view_.revision = std::max(view_.revision, e.kv.mod_revision);
      }
    }
    if (changed) deliver();
    reportIfDue();
    // The report found the watch's member not answering (and moved on): so does the watch.
    if (client_.currentEndpoint() != member) {
      ++watch_reconnects_;
      logWarn("fleet: etcd member %s does not answer: watching on %s", member.c_str(),
              client_.currentEndpoint().c_str());
      break;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  watch_ = nullptr;
  watched_member_.clear();
}

// The status key, under a lease kept alive by the reports themselves: it vanishes
// status_ttl_seconds after the instance stops.
void FleetAgent::reportIfDue(bool force) {
  InstanceStatus s;
  std::string health;
  bool health_changed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!force && !served_changed_ && !health_changed_ && Clock::now() < next_report_) return;
    served_changed_ = false;
    s = served_;
    health = health_;
    health_changed = health_changed_;
    health_changed_ = false;
  }
  next_report_ = Clock::now() + std::chrono::milliseconds(opts_.report_interval_ms);
  s.reported_at_ms = unixMillis();
  s.stale_since_ms = stale_since_ms_.load();
  if (lease_ != 0) {
    auto ttl = client_.keepAlive(lease_);
    if (!ttl.ok()) return;
    if (ttl.value() <= 0) lease_ = 0;
  }
  if (lease_ == 0) {
    auto grant = client_.grantLease(opts_.status_ttl_seconds);
    if (!grant.ok()) return;
    lease_ = grant.value().id;
  }
  client_.put(keys_.status() + s.instance, statusJson(s), lease_);
  // The health key is put when it changes, or when its lease was replaced (it went with the
  // old one): every put reaches every instance's watch.
  if (!health.empty() && (health_changed || health_lease_ != lease_)) {
    if (client_.put(keys_.health() + s.instance, health, lease_).ok()) {
      health_lease_ = lease_;
    } else {
      std::lock_guard<std::mutex> lock(mu_);
      health_changed_ = true;  // tried again at the next report
    }
  }
}

}  // namespace meridian::fleet
