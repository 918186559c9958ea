#pragma once
// ExchangeHost: what an Exchange needs of the worker it runs on: the loop and its deadlines,
// the upstream pool, counters and the access log, the snapshot new requests read, randomness,
// and the per-worker state of replay budgets and Idempotency-Key waiters (and the fleet's
// Idempotency-Key store, when there is one). The Worker implements it; unit tests implement
// it with fakes, so an Exchange runs without a Worker.
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/deadline_queue.h"
#include "core/event_loop.h"
#include "health/health_monitor.h"
#include "proxy/http/http1_parser.h"
#include "proxy/observe/access_log.h"
#include "proxy/observe/request_metrics.h"
#include "proxy/observe/stats.h"
#include "proxy/policy/idempotency.h"
#include "proxy/policy/replay.h"
#include "proxy/policy/shared_idempotency.h"
#include "proxy/policy/snapshot.h"
#include "proxy/upstream/upstream_pool.h"

namespace meridian::proxy {

class Exchange;

// Exchanges waiting for another request's Idempotency-Key, by ticket. The outcome is posted
// to the waiter's loop, and finds its exchange here, or nothing if the exchange has gone.
class IdempotencyWaiters {
 public:
  void add(uint64_t ticket, Exchange* exchange) { waiting_[ticket] = exchange; }
  void remove(uint64_t ticket) { waiting_.erase(ticket); }
  void deliver(uint64_t ticket, std::shared_ptr<const StoredResponse> resp);
  // Exchanges waiting for the fleet's answer to their claim (SharedIdempotency), by its ticket.
  void addShared(uint64_t ticket, Exchange* exchange) { shared_[ticket] = exchange; }
  void removeShared(uint64_t ticket) { shared_.erase(ticket); }
  void deliverShared(uint64_t ticket, SharedIdempotency::Claim claim,
                     std::shared_ptr<const StoredResponse> resp);

 private:
  std::unordered_map<uint64_t, Exchange*> waiting_;
  std::unordered_map<uint64_t, Exchange*> shared_;
};

// Exchanges waiting for a slot under a cluster's hard limit (clusters[].limits), oldest
// first. A request on this worker that lets go of a slot wakes the oldest waiter of its cluster
// not woken yet, and a new request queues behind the waiters instead of taking the slot first,
// so slots go out in arrival order. Slots freed on other workers are found by the waiters' own
// periodic re-checks.
class CapacityWaiters {
 public:
  void add(std::string_view cluster, Exchange* exchange) {
    waiting_.push_back({cluster, exchange, false});
  }
  void remove(Exchange* exchange);
  size_t count(std::string_view cluster) const;
  // The oldest waiter for `cluster` not woken yet, now marked woken; null if none.
  Exchange* wakeNext(std::string_view cluster);
  // A woken waiter found no slot after all: it may be woken again.
  void sleepAgain(Exchange* exchange);

 private:
  struct Waiter {
    std::string_view cluster;  // the waiting exchange's snapshot keeps the name alive
    Exchange* exchange;
    bool woken;
  };
  std::deque<Waiter> waiting_;
};

class ExchangeHost {
 public:
  virtual ~ExchangeHost() = default;

  virtual core::EventLoop& loop() = 0;
  virtual core::DeadlineQueue& deadlines() = 0;
  virtual UpstreamPool& pool() = 0;
  virtual WorkerStats& stats() = 0;
  // Labelled counters (route, cluster, region...), summed over workers on /metrics.
  virtual WorkerMetrics& metrics() = 0;
  // The access log (never null; may be disabled), and a buffer to format lines in.
  virtual AccessLog& accessLog() = 0;
  virtual std::string& logScratch() = 0;
  // The snapshot a new request starts with; it keeps that one to its end.
  virtual const std::shared_ptr<const Snapshot>& snapshot() const = 0;
  virtual uint64_t random() = 0;
  // Stopping: responses end their connection instead of keeping it alive.
  virtual bool draining() const = 0;
  // Where a response head is parsed (one at a time per thread).
  virtual http1::ResponseHead& scratchResponse() = 0;
  // Passive health: an endpoint's request succeeded or failed.
  virtual void reportOutcome(const std::string& cluster, const ResolvedAddress& endpoint,
                             health::Outcome outcome) = 0;
  // The retry budget of a route on this worker, by route name (so it survives reloads).
  virtual replay::Budget& replayBudget(std::string_view route) = 0;
  virtual IdempotencyWaiters& idempotencyWaiters() = 0;
  // The fleet's Idempotency-Key store (routes with idempotency.store: fleet); null without a
  // fleet.
  virtual SharedIdempotency* sharedIdempotency() { return nullptr; }
  virtual CapacityWaiters& capacityWaiters() = 0;
  // Which worker this is (0 in tests): the slot its latency samples go to.
  virtual int workerId() const = 0;
};

}  // namespace meridian::proxy
