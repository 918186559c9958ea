#pragma once
// Endpoints named by DNS names. Each name is resolved off the event loops (DnsRefresher, its
// own thread, with c-ares) and again when its records' TTL runs out (or every
// clusters[].dns_refresh). The config the workers serve is the file's with each such endpoint
// expanded into one endpoint per address (same region, its own health and pool); when the
// answer changes, the server applies the expanded config like a reload: requests in flight
// keep their snapshot and finish on the old addresses, new addresses join (after their first
// passing check when the cluster has health checks). A failed resolution keeps the last good
// addresses. An address that leaves is dropped from the next config at once: requests already
// sent to it finish on their snapshot.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "core/dns_client.h"
#include "core/event_loop.h"

namespace meridian::proxy {

// What one name resolves to, as the server last applied it.
struct DnsName {
  std::vector<std::string> addresses;  // sorted; empty until the first success
  // Addresses that join as the cluster's health_check.assume_healthy says: the first answer's,
  // and every address of an answer that shares none with the one before (nothing else is left
  // to serve the name while a new address waits for its first check). Any other new address
  // takes traffic only after its first passing check.
  std::set<std::string> join_assumed;
  bool resolved_once = false;
  uint64_t resolutions = 0;
  uint64_t failures = 0;
  std::string last_error;
  std::chrono::seconds ttl{0};
};
using DnsNames = std::map<std::string, DnsName, std::less<>>;  // by host name

// True for a host that is a name to resolve, not a numeric address.
bool isDnsName(const std::string& host);
// Every DNS name the config's endpoints use, with the refresh their clusters ask for (the
// shortest when several do; 0: the TTL).
std::map<std::string, config::Duration> dnsNamesOf(const config::Config& cfg);
// `file` with every endpoint whose name has addresses in `names` replaced by one endpoint per
// address; names with none yet stay as written (resolved once, the old way, by the snapshot).
std::shared_ptr<const config::Config> expandDnsEndpoints(const config::Config& file,
                                                         const DnsNames& names);
// Records an answer: true when the addresses changed (the config must be applied again).
bool recordAnswer(DnsName& name, const core::DnsAnswer& answer);

class DnsRefresher {
 public:
  using OnAnswer = std::function<void(const std::string& host, const core::DnsAnswer& answer)>;
  // Answers are delivered on `loop` (the main loop), in order.
  DnsRefresher(core::EventLoop& loop, OnAnswer on_answer);
  ~DnsRefresher();
  DnsRefresher(const DnsRefresher&) = delete;
  DnsRefresher& operator=(const DnsRefresher&) = delete;

  // The names to keep resolved (a name already watched keeps its schedule), their refresh
  // (0: the answer's TTL, within [1 s, 5 min]), and the servers to ask (empty: the system's).
  // A new name was just resolved by the caller (`answered`): its next lookup follows from that
  // answer, not at once.
  void watch(const std::map<std::string, config::Duration>& names, const DnsNames& answered,
             const std::vector<std::string>& servers);

  static constexpr std::chrono::seconds kMinTtl{1};
  static constexpr std::chrono::seconds kMaxTtl{300};
  static constexpr std::chrono::seconds kRetryAfterFailure{2};

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    config::Duration refresh{0};
    Clock::time_point due{};
  };
  void run();
  // When to look a name up again after an answer.
  static Clock::duration nextLookup(config::Duration refresh, const core::DnsAnswer& answer);

  core::EventLoop& loop_;
  OnAnswer on_answer_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Entry> names_;
  std::vector<std::string> servers_;
  bool servers_changed_ = true;
  bool stop_ = false;
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace meridian::proxy
