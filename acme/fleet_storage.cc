#include "acme/fleet_storage.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <thread>

#include "certs/acme_crypto.h"
#include "core/log.h"

namespace meridian::acme {

namespace {

using nlohmann::json;
constexpr auto kKeepEvery = std::chrono::seconds(3);
constexpr auto kCopyPoll = std::chrono::milliseconds(100);

std::string hex(const std::string& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

core::Error etcdError(const std::string& what) {
  return core::Error{core::ErrorKind::Internal, core::Side::Internal, true, "etcd: " + what};
}

}  // namespace

FleetAcmeKeys FleetAcmeKeys::of(const std::string& prefix, const std::string& directory,
                                std::vector<std::string> domains) {
  std::sort(domains.begin(), domains.end());
  FleetAcmeKeys k;
  k.prefix = prefix;
  k.base = prefix + "acme/" + hex(certs::sha256(directory)).substr(0, 16) + "/";
  for (const auto& d : domains) k.names += (k.names.empty() ? "" : ",") + d;
  return k;
}

std::string encodeCertificate(const std::string& chain_pem, const std::string& key_pem) {
  return json{{"chain", chain_pem}, {"key", key_pem}}.dump();
}

std::optional<std::pair<std::string, std::string>> decodeCertificate(const std::string& value) {
  auto j = json::parse(value, nullptr, false);
  if (!j.is_object() || !j["chain"].is_string() || !j["key"].is_string()) return std::nullopt;
  return std::make_pair(j["chain"].get<std::string>(), j["key"].get<std::string>());
}

std::string encodeLastOrder(const LastOrder& last) {
  return nlohmann::ordered_json{{"result", last.result},
                                {"detail", last.detail},
                                {"at", last.at},
                                {"next_attempt", last.next_attempt},
                                {"attempt", last.attempt}}
      .dump();
}

LastOrder decodeLastOrder(const std::string& value) {
  LastOrder last;
  auto j = json::parse(value, nullptr, false);
  if (!j.is_object()) return last;
  last.result = j.value("result", "");
  last.detail = j.value("detail", "");
  last.at = j.value("at", time_t{0});
  last.next_attempt = j.value("next_attempt", time_t{0});
  last.attempt = j.value("attempt", 0);
  return last;
}

std::vector<FleetChallenge> parseChallenges(const FleetAcmeKeys& keys,
                                            const std::vector<fleet::KeyValue>& kvs) {
  std::vector<FleetChallenge> out;
  const std::string under = keys.challenges();
  for (const auto& kv : kvs) {
    if (!kv.key.starts_with(under)) continue;
    std::string rest = kv.key.substr(under.size());
    size_t slash = rest.find('/');
    if (slash == std::string::npos || slash + 1 == rest.size()) continue;
    std::string kind = rest.substr(0, slash);
    if (kind != "http-01" && kind != "tls-alpn-01") continue;
    out.push_back(FleetChallenge{kind, rest.substr(slash + 1), kv.value});
  }
  return out;
}

FleetStorage::FleetStorage(Options opts, const std::string& listener, const std::string& directory,
                           const std::vector<std::string>& domains)
    : opts_(std::move(opts)),
      member_(FleetAcmeKeys::of(opts_.prefix, directory, domains).members() + opts_.instance + "/" +
              listener),
      keys_(FleetAcmeKeys::of(opts_.prefix, directory, domains)),
      etcd_(opts_.etcd) {}

FleetStorage::~FleetStorage() {
  leave();
}

void FleetStorage::leave() {
  unlock();
  if (member_lease_ != 0) (void)etcd_.revokeLease(member_lease_);
  member_lease_ = 0;
}

core::Result<std::optional<std::string>> FleetStorage::accountKey() {
  auto r = etcd_.range(keys_.account());
  if (!r.ok()) return etcdError(r.error().detail);
  if (r.value().kvs.empty()) return std::optional<std::string>();
  return std::optional<std::string>(r.value().kvs[0].value);
}

core::Result<std::string> FleetStorage::saveAccountKey(const std::string& pem) {
  // Created only if absent: two instances that both found none keep the first one's.
  auto put = etcd_.casPut(keys_.account(), pem, 0);
  if (!put.ok()) return etcdError(put.error().detail);
  if (put.value()) return pem;
  auto stored = accountKey();
  if (!stored.ok()) return stored.error();
  if (!stored.value()) return etcdError(keys_.account() + " vanished");
  return *stored.value();
}

core::Result<std::optional<std::pair<std::string, std::string>>> FleetStorage::certificate() {
  auto r = etcd_.range(keys_.certificate());
  if (!r.ok()) return etcdError(r.error().detail);
  if (r.value().kvs.empty()) return std::optional<std::pair<std::string, std::string>>();
  return decodeCertificate(r.value().kvs[0].value);
}

core::Result<bool> FleetStorage::saveCertificate(const std::string& chain_pem,
                                                 const std::string& key_pem) {
  auto put = etcd_.put(keys_.certificate(), encodeCertificate(chain_pem, key_pem));
  if (!put.ok()) return etcdError(put.error().detail);
  return true;
}

core::Result<std::optional<LastOrder>> FleetStorage::lastOrder() {
  auto r = etcd_.range(keys_.lastOrder());
  if (!r.ok()) return etcdError(r.error().detail);
  if (r.value().kvs.empty()) return std::optional<LastOrder>();
  return std::optional<LastOrder>(decodeLastOrder(r.value().kvs[0].value));
}

core::Result<bool> FleetStorage::saveLastOrder(const LastOrder& last) {
  auto put = etcd_.put(keys_.lastOrder(), encodeLastOrder(last));
  if (!put.ok()) return etcdError(put.error().detail);
  return true;
}

core::Result<bool> FleetStorage::lock() {
  if (lock_lease_ != 0) return true;
  auto lease = etcd_.grantLease(opts_.lock_ttl_seconds);
  if (!lease.ok()) return etcdError(lease.error().detail);
  auto claim = etcd_.claim(keys_.lock(), opts_.instance, lease.value().id, 0);
  if (!claim.ok() || !claim.value().written) {
    (void)etcd_.revokeLease(lease.value().id);
    if (!claim.ok()) return etcdError(claim.error().detail);
    return false;
  }
  lock_lease_ = lease.value().id;
  lock_kept_ = std::chrono::steady_clock::now();
  return true;
}

void FleetStorage::keepLock() {
  auto now = std::chrono::steady_clock::now();
  if (lock_lease_ == 0 || now - lock_kept_ < kKeepEvery) return;
  lock_kept_ = now;
  auto ttl = etcd_.keepAlive(lock_lease_);
  if (!ttl.ok() || ttl.value() == 0)
    logWarn("acme: the fleet lock %s may have lapsed: %s", keys_.lock().c_str(),
            ttl.ok() ? "its lease expired" : ttl.error().detail.c_str());
}

void FleetStorage::unlock() {
  if (lock_lease_ == 0) return;
  // Revoking the lease deletes the lock key (and any challenge written under it) at once;
  // if etcd cannot be reached, the lease expires by itself.
  (void)etcd_.revokeLease(lock_lease_);
  lock_lease_ = 0;
}

std::string FleetStorage::challengeKey(const FleetChallenge& c) const {
  return c.kind == "http-01" ? keys_.httpChallenge(c.name) : keys_.alpnChallenge(c.name);
}

core::Result<bool> FleetStorage::publishChallenge(const FleetChallenge& c) {
  auto put = etcd_.put(challengeKey(c), c.key_authorization, lock_lease_);
  if (!put.ok()) return etcdError(put.error().detail);
  return waitForCopies(put.value());
}

void FleetStorage::withdrawChallenge(const FleetChallenge& c) {
  (void)etcd_.remove(challengeKey(c));
}

core::Result<bool> FleetStorage::waitForCopies(int64_t revision) {
  auto deadline = std::chrono::steady_clock::now() + opts_.copy_wait;
  for (;;) {
    keepLock();
    auto r = etcd_.range(keys_.members(), fleet::prefixEnd(keys_.members()));
    if (!r.ok()) return etcdError(r.error().detail);
    std::vector<std::string> behind;
    for (const auto& kv : r.value().kvs) {
      if (kv.key == member_) continue;
      int64_t copied = 0;
      try {
        copied = std::stoll(kv.value);
      } catch (...) {
      }
      if (copied < revision) behind.push_back(kv.key.substr(keys_.members().size()));
    }
    if (behind.empty()) return true;
    if (std::chrono::steady_clock::now() > deadline) {
      std::string names;
      for (const auto& b : behind) names += (names.empty() ? "" : ", ") + b;
      // An instance that is going away (its presence not expired yet) must not hold up the
      // order for ever; the CA may then reach one that cannot answer, and the order is retried.
      logWarn("acme: %s did not copy the challenge within %lld ms; asking the CA anyway",
              names.c_str(), static_cast<long long>(opts_.copy_wait.count()));
      return true;
    }
    std::this_thread::sleep_for(kCopyPoll);
  }
}

core::Result<FleetStorage::UnderWay> FleetStorage::challengesUnderWay() {
  auto r = etcd_.range(keys_.challenges(), fleet::prefixEnd(keys_.challenges()));
  if (!r.ok()) return etcdError(r.error().detail);
  UnderWay out{r.value().revision, parseChallenges(keys_, r.value().kvs)};
  if (out.challenges != seen_) seen_told_ = false;
  seen_ = out.challenges;
  return out;
}

core::Result<bool> FleetStorage::copied(int64_t revision) {
  auto now = std::chrono::steady_clock::now();
  if (member_lease_ == 0 || now - member_kept_ >= kKeepEvery) {
    member_kept_ = now;
    auto ttl = member_lease_ != 0 ? etcd_.keepAlive(member_lease_) : core::Result<int64_t>(0);
    if (!ttl.ok() || ttl.value() == 0) {
      auto lease = etcd_.grantLease(opts_.member_ttl_seconds);
      if (!lease.ok()) return etcdError(lease.error().detail);
      member_lease_ = lease.value().id;
      seen_told_ = false;  // the presence key went with the old lease
    }
  }
  // Written only when something changed: every write moves etcd's revision, and writing it
  // each poll would make every other instance's read look new.
  if (seen_told_) return true;
  auto put = etcd_.put(member_, std::to_string(revision), member_lease_);
  if (!put.ok()) return etcdError(put.error().detail);
  seen_told_ = true;
  return true;
}

}  // namespace meridian::acme
