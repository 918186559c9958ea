#pragma once
// The fleet-wide Idempotency-Key (`idempotency: {store: fleet}`, docs/fleet.md): a key is
// claimed in etcd, under <prefix>idempotency/, so that two requests with it are never in
// flight at once at any instances. The first request's claim creates the key (a transaction:
// create_revision == 0) under a lease, its value saying "in flight at <instance>"; a second
// finds it and waits for the outcome with a watch on that key from the revision it read. The
// owner then writes the finished response (64 KiB or less) with a lease of keep_for, or a
// marker "done, not kept" (waiters get 409; the next request may claim the key again, as with
// the local table), or deletes the key when it failed.
//
// All etcd I/O runs on threads of the store's own: a few for claims and finishes, one per
// waiting request (bounded). Answers go to a callback on those threads; the caller posts them
// to its loop. Every call is bounded by the etcd client's timeouts, and a wait by its deadline.
// When etcd cannot be reached, a claim answers Unavailable (the caller falls back to its local
// table), without trying etcd again for retry_after; the first such answer is logged, and the
// recovery.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "fleet/etcd_client.h"
#include "fleet/idempotency_record.h"

namespace meridian::fleet {

// A watch on one key, as the store uses it.
class IdemWatch {
 public:
  virtual ~IdemWatch() = default;
  // Messages within `timeout_ms` (none: nothing happened); an Error when the stream broke.
  virtual core::Result<std::vector<WatchMessage>> next(int timeout_ms) = 0;
  // From any thread: a next() in progress returns at once.
  virtual void wakeup() = 0;
};

// What the store needs of etcd: one per thread (EtcdClient is not shared). Tests give a fake.
class IdemEtcd {
 public:
  virtual ~IdemEtcd() = default;
  virtual core::Result<LeaseGrant> grantLease(int64_t ttl_seconds) = 0;
  virtual core::Result<ClaimAnswer> claim(const std::string& key, const std::string& value,
                                          int64_t lease, int64_t mod_revision) = 0;
  virtual core::Result<bool> putIfUnchanged(const std::string& key, const std::string& value,
                                            int64_t lease, int64_t mod_revision) = 0;
  virtual core::Result<bool> removeIfUnchanged(const std::string& key, int64_t mod_revision) = 0;
  virtual core::Result<RangeResult> range(const std::string& key) = 0;
  // A watch from `start_revision` on the member calls go to now.
  virtual std::unique_ptr<IdemWatch> watch(const std::string& key, int64_t start_revision) = 0;
  // A watch broke: the next member's turn.
  virtual void nextMember() = 0;
  virtual size_t members() const = 0;
};

// On EtcdClient and EtcdWatch.
std::unique_ptr<IdemEtcd> makeEtcdIdem(const EtcdOptions& opts);

class IdempotencyStore {
 public:
  struct Options {
    std::string prefix;                         // the fleet's: keys go under <prefix>idempotency/
    std::string instance;                       // written as the owner
    std::chrono::milliseconds keep_for{60000};  // a finished key's lifetime
    size_t max_stored_body = 64 * 1024;
    int threads = 16;          // claims and finishes at once
    size_t max_waits = 256;    // requests waiting on a watch at once; beyond, 409
    size_t max_queue = 10000;  // claims and finishes queued; beyond, a claim gets 409
    // etcd unreachable: claims fall back (Unavailable) for this long before etcd is tried again.
    std::chrono::milliseconds retry_after{1000};
  };
  enum class Outcome {
    Proceed,     // this request owns the key fleet-wide: run it, then release() its response
    Stored,      // an earlier request's response, in `stored`
    Conflict,    // 409: the key is busy (its owner failed, its response was not kept, the
                 // wait ran out, or the bounds were reached)
    Unavailable  // etcd cannot be reached: the caller falls back to its local table
  };
  struct Result {
    Outcome outcome = Outcome::Conflict;
    std::shared_ptr<const IdemResponse> stored;
  };
  using Done = std::function<void(Result)>;
  using MakeEtcd = std::function<std::unique_ptr<IdemEtcd>()>;

  IdempotencyStore(Options opts, MakeEtcd make_etcd);
  // Joins every thread; answers still due are not given.
  ~IdempotencyStore();
  IdempotencyStore(const IdempotencyStore&) = delete;
  IdempotencyStore& operator=(const IdempotencyStore&) = delete;

  // Claims `key` of route `scope`. `done` is called once, on a store thread, unless release()
  // came first. `wait`: how long a second request waits for the owner (and how long the owner's
  // claim lives at least: its request may take that long). Every claim is released once.
  uint64_t claim(const std::string& scope, const std::string& key, std::chrono::milliseconds wait,
                 Done done);
  // The claim's request is over. An owner that completed passes its response, written for
  // keep_for (nullptr, or a body above max_stored_body: the "not kept" marker); one that failed
  // (`completed` false) has its key deleted. A claim not answered yet is abandoned (a key it
  // creates meanwhile is deleted; a wait ends).
  void release(uint64_t ticket, bool completed, std::shared_ptr<const IdemResponse> response);

  // Claims answered Unavailable (each one served by the local table instead), any thread.
  uint64_t fallbacks() const { return fallbacks_.load(); }
  // Requests waiting now for an owner's outcome (a watch each), any thread.
  size_t waiting() const {
    std::lock_guard lock(mu_);
    return waits_;
  }
  // The etcd key of `key` on route `scope`.
  std::string keyFor(const std::string& scope, const std::string& key) const;

 private:
  enum class Phase { Queued, Claiming, Waiting, Owner, Answered };
  struct Claim {
    std::string key;  // the etcd key
    std::chrono::milliseconds wait;
    Done done;
    Phase phase = Phase::Queued;
    int64_t mod_revision = 0;  // the owner's in-flight value, as written
    bool released = false;
    bool completed = false;                        // given to release()
    std::shared_ptr<const IdemResponse> response;  // given to release()
    IdemWatch* watch = nullptr;                    // while waiting
  };
  struct Job {
    uint64_t ticket;
    bool finish;  // else a claim
  };
  // What a claim found: an answer, or a wait. `revision`: the owner's value as written
  // (Proceed), or the store's revision the key was read at (a wait goes on from there).
  struct Found {
    Result result;
    bool wait = false;
    int64_t revision = 0;
  };

  void runPool();
  void doClaim(IdemEtcd& etcd, uint64_t ticket);
  core::Result<Found> claimOnce(IdemEtcd& etcd, const std::string& key,
                                std::chrono::milliseconds wait);
  void doFinish(IdemEtcd& etcd, uint64_t ticket);
  void startWait(uint64_t ticket, int64_t revision);
  Result waitFor(IdemEtcd& etcd, uint64_t ticket, const std::string& key,
                 std::chrono::steady_clock::time_point deadline, int64_t revision);
  // What a key's value (or its deletion) means to a waiter; nullopt: wait on.
  static std::optional<Result> outcomeOf(const std::optional<std::string>& value);
  // Gives the claim its answer (or, released meanwhile, drops it; a key it owns is deleted).
  void answer(uint64_t ticket, Result r, int64_t mod_revision = 0);
  core::Result<int64_t> leaseFor(IdemEtcd& etcd, std::chrono::milliseconds life);
  bool etcdDown();
  void onEtcdFailure(const std::string& why);
  void onEtcdAnswered();

  const Options opts_;
  const MakeEtcd make_etcd_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  uint64_t next_ticket_ = 1;
  std::unordered_map<uint64_t, Claim> claims_;
  std::deque<Job> jobs_;
  size_t waits_ = 0;
  std::vector<std::thread> pool_;  // started by the first claim
  struct Waiter {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> over;
  };
  std::vector<Waiter> waiters_;  // joined when over, at the next wait or at the end

  std::mutex lease_mu_;
  struct Lease {
    int64_t id = 0;
    std::chrono::steady_clock::time_point granted;
  };
  std::map<int64_t, Lease> leases_;  // by TTL: shared by the keys claimed within a second

  std::mutex down_mu_;
  bool down_ = false;
  std::chrono::steady_clock::time_point retry_at_{};
  std::atomic<uint64_t> fallbacks_{0};
};

}  // namespace meridian::fleet
