#include "proxy/server/dns_endpoints.h"

#include <algorithm>

#include "core/address.h"
#include "core/log.h"

namespace meridian::proxy {

bool isDnsName(const std::string& host) { return !core::isIpAddress(host); }

std::map<std::string, config::Duration> dnsNamesOf(const config::Config& cfg) {
  std::map<std::string, config::Duration> out;
  for (const auto& c : cfg.clusters) {
    for (const auto& e : c.endpoints) {
      if (!isDnsName(e.address.host)) continue;
      auto [it, added] = out.try_emplace(e.address.host, c.dns_refresh);
      if (!added && c.dns_refresh.count() > 0 &&
          (it->second.count() == 0 || c.dns_refresh < it->second))
        it->second = c.dns_refresh;
    }
  }
  return out;
}

std::shared_ptr<const config::Config> expandDnsEndpoints(const config::Config& file,
                                                         const DnsNames& names) {
  auto cfg = std::make_shared<config::Config>(file);
  for (auto& c : cfg->clusters) {
    std::vector<config::Endpoint> expanded;
    std::set<std::string> seen;  // two names with one address: one endpoint
    for (const auto& e : c.endpoints) {
      auto it = names.find(e.address.host);
      if (it == names.end() || it->second.addresses.empty()) {
        if (seen.insert(e.address.text()).second) expanded.push_back(e);
        continue;
      }
      for (const auto& address : it->second.addresses) {
        config::Endpoint one = e;
        one.address.host = address;
        one.dns_name = e.address.text();
        one.await_first_check = !it->second.join_assumed.contains(address);
        if (seen.insert(one.address.text()).second) expanded.push_back(std::move(one));
      }
    }
    c.endpoints = std::move(expanded);
  }
  return cfg;
}

bool recordAnswer(DnsName& name, const core::DnsAnswer& answer) {
  ++name.resolutions;
  if (!answer.error.empty()) {
    ++name.failures;
    name.last_error = answer.error;
    return false;
  }
  name.last_error.clear();
  name.ttl = answer.ttl;
  if (answer.addresses == name.addresses && name.resolved_once) return false;
  bool shares = std::any_of(answer.addresses.begin(), answer.addresses.end(), [&](const auto& a) {
    return std::binary_search(name.addresses.begin(), name.addresses.end(), a);
  });
  if (!name.resolved_once || !shares)
    name.join_assumed.insert(answer.addresses.begin(), answer.addresses.end());
  name.resolved_once = true;
  name.addresses = answer.addresses;
  return true;
}

DnsRefresher::DnsRefresher(core::EventLoop& loop, OnAnswer on_answer)
    : loop_(loop), on_answer_(std::move(on_answer)), thread_([this] { run(); }) {}

DnsRefresher::~DnsRefresher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

DnsRefresher::Clock::duration DnsRefresher::nextLookup(config::Duration refresh,
                                                      const core::DnsAnswer& answer) {
  if (!answer.error.empty()) return kRetryAfterFailure;
  if (refresh.count() > 0) return refresh;
  return std::clamp(answer.ttl, kMinTtl, kMaxTtl);
}

void DnsRefresher::watch(const std::map<std::string, config::Duration>& names,
                         const DnsNames& answered, const std::vector<std::string>& servers) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::string, Entry> next;
    for (const auto& [host, refresh] : names) {
      auto old = names_.find(host);
      Entry e = old != names_.end() ? old->second : Entry{refresh, Clock::now()};
      auto known = answered.find(host);
      if (old == names_.end() && known != answered.end() && known->second.resolutions > 0) {
        core::DnsAnswer last{known->second.addresses, known->second.ttl, known->second.last_error};
        e.due = Clock::now() + nextLookup(refresh, last);
      }
      if (e.refresh != refresh) e.due = Clock::now();
      e.refresh = refresh;
      next[host] = e;
    }
    names_ = std::move(next);
    if (servers != servers_) {
      servers_ = servers;
      servers_changed_ = true;
    }
  }
  cv_.notify_all();
}

// One lookup at a time, the earliest due first. The answer is posted to the main loop, which
// owns every record of it.
void DnsRefresher::run() {
  std::unique_ptr<core::DnsClient> client;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    auto next = std::min_element(names_.begin(), names_.end(), [](const auto& a, const auto& b) {
      return a.second.due < b.second.due;
    });
    if (next == names_.end()) {
      cv_.wait(lock);
      continue;
    }
    if (next->second.due > Clock::now()) {
      // A copy: watch() may replace the entry while this waits, and wait_until reads the
      // time again when it wakes.
      const Clock::time_point due = next->second.due;
      cv_.wait_until(lock, due);
      continue;
    }
    std::string host = next->first;
    config::Duration refresh = next->second.refresh;
    if (servers_changed_ || !client) {
      auto made = core::DnsClient::create(servers_);
      servers_changed_ = false;
      if (!made.ok()) {
        logError("%s", made.error().detail.c_str());
        next->second.due = Clock::now() + kRetryAfterFailure;
        continue;
      }
      client = std::move(made.value());
    }
    lock.unlock();
    core::DnsAnswer answer = client->lookup(host, std::chrono::milliseconds(3000));
    lock.lock();
    auto it = names_.find(host);
    if (it != names_.end()) it->second.due = Clock::now() + nextLookup(refresh, answer);
    loop_.post([fn = on_answer_, host, answer] { fn(host, answer); });
  }
}

}  // namespace meridian::proxy
