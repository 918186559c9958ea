#pragma once
// One listener's ACME client (RFC 8555): a thread of its own, off the event loops, that keeps
// a certificate for the listener's `tls.acme.domains` in the AcmeBook the handshakes read.
// At start it serves what storage holds; it orders when there is none (or it names other
// domains) and again `renew_before` the expiry, or earlier when the server's renewal
// information (ARI, RFC 9773) suggests it. An order creates or reuses the account (its
// key kept in storage, 0600), answers one challenge per name (TLS-ALPN-01 through the book's
// challenge certificates, HTTP-01 through its tokens, in the configured order), finalizes
// with a CSR for a fresh key and downloads the chain. A failure is logged with the server's
// problem document and retried after an exponential, jittered, bounded wait; the certificate
// being served is never withdrawn.
#include <atomic>
#include <condition_variable>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "acme/backoff.h"
#include "acme/fleet_storage.h"
#include "acme/https_client.h"
#include "acme/storage.h"
#include "certs/acme_book.h"
#include "certs/acme_crypto.h"
#include "config/config.h"

namespace meridian::acme {

struct AcmeClientOptions {
  std::string listener;
  config::Acme acme;
  std::shared_ptr<certs::AcmeBook> book;  // null: AcmeBook::process()
  Backoff backoff;
  // How long one authorization or the order may stay pending before the attempt fails.
  std::chrono::seconds poll_limit{120};
  // storage: fleet (docs/acme.md#storage-fleet): where etcd is, and how often the fleet's
  // certificate, last order and challenges are read.
  std::optional<FleetStorage::Options> fleet;
  std::chrono::milliseconds fleet_poll{1000};
};

// What `meridian certs status` and /metrics show.
struct AcmeStatus {
  std::string listener;
  std::vector<std::string> domains;
  time_t not_after = 0;  // of the certificate served; 0: none yet
  std::string serial;
  LastOrder last;
  uint64_t orders_succeeded = 0;
  uint64_t orders_failed = 0;
  uint64_t etcd_failures = 0;  // storage: fleet: etcd reads or writes that failed
};

class AcmeClient {
 public:
  explicit AcmeClient(AcmeClientOptions options);
  ~AcmeClient();  // stops the thread (an order under way is abandoned at its next step)
  AcmeClient(const AcmeClient&) = delete;
  AcmeClient& operator=(const AcmeClient&) = delete;

  // Hands the book the stored certificate (if any, and for these domains), then starts the
  // thread.
  void start();
  AcmeStatus status() const;
  const config::Acme& config() const { return opts_.acme; }

  // One whole order, on the calling thread.
  core::Result<bool> orderOnce();

 private:
  struct Directory {
    std::string new_nonce, new_account, new_order;
    std::string renewal_info;  // RFC 9773 (ARI); empty when the server does not offer it
  };
  void run();
  // The order's outcome: logged, the next attempt scheduled (backoff on failure), recorded.
  void afterOrder(const core::Result<bool>& r);
  bool loadStored();
  // Serves a stored chain and key when they name exactly the configured domains.
  bool serveStored(const std::pair<std::string, std::string>& stored);
  // storage: fleet: the loop, and one read of the fleet's certificate, last order and
  // challenges (false when etcd could not be reached: what is held keeps serving).
  void runFleet();
  bool syncFleet();
  void copyChallenges(const std::vector<FleetChallenge>& now);
  bool etcdUnreachable(const core::Error& e);
  time_t dueAt(time_t now) const;
  bool waitFor(std::chrono::milliseconds d);  // false when stopping
  core::Result<bool> ensureDirectory();
  core::Result<bool> ensureAccount();
  // ARI: asks the server when to renew the certificate served (at most every 6 hours).
  void checkRenewalInfo(time_t now);
  core::Result<HttpsAnswer> signedPost(const std::string& url,
                                       const std::optional<std::string>& payload,
                                       const char* accept = nullptr);
  core::Result<bool> authorize(const std::string& authz_url);
  core::Result<std::string> pollStatus(const std::string& url, const char* until,
                                       std::string* body);
  void recordResult(const core::Result<bool>& r, time_t next_attempt);

  AcmeClientOptions opts_;
  std::shared_ptr<certs::AcmeBook> book_;
  FileStorage storage_;
  std::unique_ptr<FleetStorage> fleet_;  // storage: fleet; null with files
  std::vector<FleetChallenge> copied_;   // challenges copied from the fleet into the book
  std::string fleet_chain_;              // the fleet's certificate as last considered
  time_t shared_retry_at_ = 0;           // the fleet's last order failed: not before this
  bool etcd_down_ = false;
  std::atomic<bool> abort_{false};
  HttpsClient http_;
  Directory dir_;
  std::optional<certs::EcKey> account_key_;
  std::string kid_;
  std::string nonce_;
  std::string last_problem_;    // the type of the last error answer (problem document)
  size_t challenge_start_ = 0;  // rotates after a failed authorization
  std::string ari_id_;          // of the certificate served
  time_t ari_due_ = 0;          // the renewal time ARI suggested; 0: none
  time_t ari_checked_ = 0;
  int failures_ = 0;
  time_t retry_at_ = 0;
  std::mt19937_64 rng_{std::random_device{}()};

  mutable std::mutex mu_;  // guards status_, stopping_
  std::condition_variable cv_;
  bool stopping_ = false;
  AcmeStatus status_;
  std::thread thread_;
};

}  // namespace meridian::acme
