#pragma once
// IdempotencyTable: one per process, shared by every worker, so that two requests with the same
// Idempotency-Key (scoped per route) are never in flight at once. The first owns the key; a
// second waits for the first's outcome (answered from it, or 409 when there is none to give).
// A finished response small enough is kept for a while, so a client retrying after a lost
// answer gets the same answer instead of a second side effect. When the table is full, the
// oldest kept answer makes room for a new key (the retry it served is the least likely still
// to come); only a table full of keys in flight answers a new key 409.
//
// Waiters are told by callback, on the finishing thread and outside the lock; the caller turns
// that into a post() to its own loop (the table knows nothing of loops or exchanges).
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace meridian::proxy {

// A finished response small enough to answer waiters with.
struct StoredResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // end-to-end headers only
  std::string body;
};

class IdempotencyTable {
 public:
  struct Limits {
    size_t max_keys = 10000;
    size_t max_waiters_per_key = 16;
    size_t max_stored_body = 64 * 1024;
    std::chrono::milliseconds keep_for{60000};
  };
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  explicit IdempotencyTable(Limits limits);
  IdempotencyTable();
  // `now` replaces the steady clock (tests drive time by hand).
  IdempotencyTable(Limits limits, Clock now);

  IdempotencyTable(const IdempotencyTable&) = delete;
  IdempotencyTable& operator=(const IdempotencyTable&) = delete;

  enum class Begin { Proceed, Wait, Stored, Conflict };
  // Callback to a waiter: the owner's outcome (nullptr: it failed, was aborted, or its response
  // was too large to keep -> the waiter answers 409).
  using Notify = std::function<void(std::shared_ptr<const StoredResponse>)>;
  struct BeginResult {
    Begin kind;
    uint64_t ticket = 0;
    std::shared_ptr<const StoredResponse> stored;
    bool evicted = false;  // the oldest kept answer made room for this key
  };

  // Proceed: the caller owns the key (ticket identifies it) and must call finish(ticket, ...)
  // exactly once.
  // Wait: someone else holds it; `notify` will be called exactly once (on the finishing
  // thread, outside the lock) unless cancelWait(ticket) returns true first.
  // Stored: a recent finished response for this key (within keep_for), in `stored`.
  // Conflict: the key's waiter list is full, the key is held and `notify` is empty (the caller
  // cannot wait), or the table is full of keys in flight.
  BeginResult begin(std::string_view scope, std::string_view key, Notify notify);

  // The owner's outcome; pass nullptr when there is nothing to hand on. Stores it (if its body
  // fits max_stored_body) for keep_for and notifies every waiter, outside the lock.
  void finish(uint64_t ticket, std::shared_ptr<const StoredResponse> response);

  // A waiting client went away. True when its notify will now never be called; false when the
  // ticket is not waiting (already notified, or never was).
  bool cancelWait(uint64_t ticket);

  // Keys held (in flight + stored), for tests and metrics. Stored entries past keep_for count
  // until the next begin() or finish() purges them.
  size_t size() const;

 private:
  using Time = std::chrono::steady_clock::time_point;
  using ExpiryIndex = std::multimap<Time, std::string>;

  struct Waiter {
    uint64_t ticket = 0;
    Notify notify;
  };
  struct Entry {
    uint64_t owner = 0;  // 0 once finished: the entry holds a stored response
    std::vector<Waiter> waiters;
    std::shared_ptr<const StoredResponse> stored;
    ExpiryIndex::iterator expiry;  // valid only when owner == 0
  };

  static std::string composeKey(std::string_view scope, std::string_view key);
  // Drops stored entries whose keep_for has passed, oldest first. Caller holds mu_.
  void purgeExpired(Time now);

  const Limits limits_;
  const Clock now_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  ExpiryIndex expiry_;                                 // stored entries by when they expire
  std::unordered_map<uint64_t, std::string> owners_;   // owner ticket -> composed key
  std::unordered_map<uint64_t, std::string> waiting_;  // waiter ticket -> composed key
  uint64_t next_ticket_ = 1;
};

}  // namespace meridian::proxy
