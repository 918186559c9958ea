#pragma once
// `storage: fleet` (docs/acme.md#storage-fleet): the ACME client's account key, certificate,
// last order and challenges kept in the fleet's etcd, so that one instance orders a name while
// every instance serves its certificate and answers its challenges. Blocking etcd calls, each
// bounded by the etcd client's timeouts: for the ACME client's own thread only.
#include <chrono>
#include <cstdint>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "acme/storage.h"
#include "fleet/etcd_client.h"

namespace meridian::acme {

// Where the keys are. One ACME server's account is shared by every listener and instance that
// names it; a certificate, its lock and its last order belong to one set of domains; the
// challenges under way are one range every instance copies, whatever its directory.
struct FleetAcmeKeys {
  // <prefix>acme/<first 16 hex digits of SHA-256(directory)>/, and the domains sorted and
  // joined with ",".
  static FleetAcmeKeys of(const std::string& prefix, const std::string& directory,
                          std::vector<std::string> domains);
  std::string prefix;  // the fleet's
  std::string base;
  std::string names;

  std::string account() const { return base + "account.key"; }
  std::string certificate() const { return base + "cert/" + names; }
  std::string lock() const { return base + "lock/" + names; }
  std::string lastOrder() const { return base + "last-order/" + names; }
  std::string challenges() const { return prefix + "acme/challenges/"; }
  std::string httpChallenge(const std::string& token) const {
    return challenges() + "http-01/" + token;
  }
  std::string alpnChallenge(const std::string& domain) const {
    return challenges() + "tls-alpn-01/" + domain;
  }
  // Each client's presence: the revision of the challenges it has copied.
  std::string members() const { return prefix + "acme/members/"; }
};

// A certificate and its key as one value, so no reader ever sees a chain beside another key.
std::string encodeCertificate(const std::string& chain_pem, const std::string& key_pem);
std::optional<std::pair<std::string, std::string>> decodeCertificate(const std::string& value);
std::string encodeLastOrder(const LastOrder& last);
LastOrder decodeLastOrder(const std::string& value);

// A challenge under way, as copied from etcd: "http-01" with its token, or "tls-alpn-01" with
// its domain; and the key authorization.
struct FleetChallenge {
  std::string kind;
  std::string name;
  std::string key_authorization;
  bool operator==(const FleetChallenge&) const = default;
};
// The challenges range's keys, read back ("http-01/TOKEN"); others are skipped.
std::vector<FleetChallenge> parseChallenges(const FleetAcmeKeys& keys,
                                            const std::vector<fleet::KeyValue>& kvs);

class FleetStorage {
 public:
  struct Options {
    fleet::EtcdOptions etcd;
    std::string prefix;
    std::string instance;  // this instance's name in the fleet, for the lock and presence
    int lock_ttl_seconds = 30;
    int member_ttl_seconds = 10;
    // How long an orderer waits for every other instance to have copied a challenge before
    // it asks the CA to validate.
    std::chrono::milliseconds copy_wait{10000};
  };
  FleetStorage(Options opts, const std::string& listener, const std::string& directory,
               const std::vector<std::string>& domains);
  ~FleetStorage();  // leave(), if the owner did not

  // Releases the lock and the presence (their leases are revoked): on the owner's thread.
  void leave();

  const FleetAcmeKeys& keys() const { return keys_; }

  // Account key: nullopt when none is stored yet.
  core::Result<std::optional<std::string>> accountKey();
  // Stores a new account key unless another instance stored one first: the key to use.
  core::Result<std::string> saveAccountKey(const std::string& pem);
  core::Result<std::optional<std::pair<std::string, std::string>>> certificate();
  core::Result<bool> saveCertificate(const std::string& chain_pem, const std::string& key_pem);
  core::Result<std::optional<LastOrder>> lastOrder();
  core::Result<bool> saveLastOrder(const LastOrder& last);

  // The order lock: true when this instance now holds it, false when another does.
  core::Result<bool> lock();
  // While ordering: keeps the lock's lease alive (at most every few seconds, so it may be
  // called often).
  void keepLock();
  void unlock();

  // The orderer's side of a challenge: written under the lock's lease (gone if the orderer
  // dies), then waits until every other instance present has copied it.
  core::Result<bool> publishChallenge(const FleetChallenge& c);
  void withdrawChallenge(const FleetChallenge& c);
  // Every instance's side: the challenges under way now, and the revision they were read at;
  // once copied, copied(revision) tells the orderers (this instance's presence key, under a
  // lease of its own, written when the challenges changed or the lease had to be renewed).
  struct UnderWay {
    int64_t revision = 0;
    std::vector<FleetChallenge> challenges;
  };
  core::Result<UnderWay> challengesUnderWay();
  core::Result<bool> copied(int64_t revision);

 private:
  core::Result<bool> waitForCopies(int64_t revision);
  std::string challengeKey(const FleetChallenge& c) const;

  Options opts_;
  std::string member_;  // this client's presence key
  FleetAcmeKeys keys_;
  fleet::EtcdClient etcd_;
  int64_t lock_lease_ = 0;  // 0: the lock is not held
  std::chrono::steady_clock::time_point lock_kept_{};
  int64_t member_lease_ = 0;
  std::chrono::steady_clock::time_point member_kept_{};
  std::vector<FleetChallenge> seen_;  // as told last in the presence key
  bool seen_told_ = false;
};

}  // namespace meridian::acme
