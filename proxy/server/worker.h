#pragma once
// A worker: one thread, one EventLoop, its own listening sockets (SO_REUSEPORT), its own
// upstream pools and counters. A connection lives and dies on one worker: no locks on the
// request path.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/deadline_queue.h"
#include "core/event_loop.h"
#include "proxy/downstream/downstream_host.h"
#include "proxy/exchange/client_side.h"

namespace meridian::proxy {

class DownstreamConn;

class Worker final : public DownstreamHost {
 public:
  Worker(int id, std::shared_ptr<const Snapshot> snap, std::vector<ListenSocket> sockets,
         std::atomic<int>& open_connections);
  ~Worker();

  void start();
  void join();
  // Thread-safe. New requests use the new snapshot; requests in flight keep theirs.
  void publish(std::shared_ptr<const Snapshot> snap);
  // Thread-safe. Stop accepting, finish what is in flight, then stop the loop. After
  // `deadline` whatever is left is closed. Idle connections are closed at once, or after
  // `idle_grace` when the listening sockets live on in a successor process: a connection
  // accepted just before the stop may still have its first request on the wire.
  void drain(core::Millis deadline, core::Millis idle_grace = core::Millis(0));
  // Thread-safe (a reload). Listeners named in `remove` stop accepting and their connections
  // close once idle; then the sockets in `add` start accepting. Sockets are closed here.
  void updateListeners(std::vector<ListenSocket> add, std::vector<std::string> remove);

  // For the connections and exchanges of this worker (its own thread only).
  core::EventLoop& loop() override { return loop_; }
  UpstreamPool& pool() override { return pool_; }
  core::DeadlineQueue& deadlines() override { return deadlines_; }
  WorkerStats& stats() override { return stats_; }
  // Labelled counters (route, cluster, region...), summed over workers on /metrics.
  WorkerMetrics& metrics() override { return metrics_; }
  const WorkerMetrics& metrics() const { return metrics_; }
  // The access log requests are written to (never null once started; may be disabled), and
  // a buffer to format lines in. Thread-safe to set: it takes effect on this worker's loop.
  void setAccessLog(std::shared_ptr<AccessLog> log);
  AccessLog& accessLog() override { return *access_log_; }
  std::string& logScratch() override { return log_scratch_; }
  const std::shared_ptr<const Snapshot>& snapshot() const override { return snap_; }
  uint64_t random() override { return rng_(); }
  bool draining() const override { return draining_; }
  // Where connections parse request heads (one at a time per thread).
  http1::RequestHead& scratchHead() override { return scratch_head_; }
  http1::ResponseHead& scratchResponse() override { return scratch_response_; }
  void onConnectionClosed(DownstreamConn* conn) override;
  // Passive health: failures are sent to the main thread, and the first success after them
  // (to reset its count); a healthy steady state sends nothing.
  using OutcomeSink =
      std::function<void(const std::string& cluster, const std::string& endpoint, health::Outcome)>;
  void setOutcomeSink(OutcomeSink sink) { outcome_sink_ = std::move(sink); }
  void reportOutcome(const std::string& cluster, const ResolvedAddress& endpoint,
                     health::Outcome outcome) override;
  int id() const { return id_; }
  // The retry budget of a route on this worker, by route name (so it survives reloads).
  replay::Budget& replayBudget(std::string_view route) override;
  // Calls fn(route, requests in flight, replays in flight) for each route's budget; any thread.
  void forEachBudget(
      const std::function<void(const std::string&, const replay::Budget&)>& fn) const;
  IdempotencyWaiters& idempotencyWaiters() override { return idem_waiters_; }
  // Before start(): the fleet's Idempotency-Key store, which outlives the worker's requests.
  void setSharedIdempotency(SharedIdempotency* shared) { shared_idem_ = shared; }
  SharedIdempotency* sharedIdempotency() override { return shared_idem_; }
  CapacityWaiters& capacityWaiters() override { return capacity_waiters_; }
  int workerId() const override { return id_; }

 private:
  void onAccept(int fd, const sockaddr_storage& peer, const ListenSocket& ls);
  void checkDrained();
  void startAccepting(std::unique_ptr<ListenSocket> s);
  void closeSocketsLater(std::vector<std::unique_ptr<ListenSocket>> sockets);
  void sweepRetired();

  int id_;
  core::EventLoop loop_;
  core::DeadlineQueue deadlines_;  // before anything that schedules on it
  WorkerStats stats_;
  WorkerMetrics metrics_;
  std::shared_ptr<AccessLog> access_log_;
  std::string log_scratch_;
  UpstreamPool pool_;
  std::shared_ptr<const Snapshot> snap_;
  // Stable addresses: connections keep a reference to their listener. acceptors_[i] serves
  // sockets_[i]; a removed listener waits in retired_ until its last connection is gone.
  std::vector<std::unique_ptr<ListenSocket>> sockets_;
  std::vector<std::unique_ptr<core::Acceptor>> acceptors_;
  std::vector<std::unique_ptr<ListenSocket>> retired_;
  std::unique_ptr<core::Timer> retire_sweep_;
  std::unique_ptr<core::Timer> idle_grace_;
  std::unordered_set<DownstreamConn*> conns_;
  std::atomic<int>& open_connections_;
  OutcomeSink outcome_sink_;
  // Endpoints that failed here since this worker last reported a success for them: only those
  // owe the monitor a success (to end their run). Not a count: the run is counted in one
  // place, the monitor's table, which also starts it over when an endpoint comes back.
  std::unordered_set<std::string> failing_;
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // Found without a lock by this worker; inserted, and read by the admin thread, under
  // budgets_mu_ (nodes never move, and only this worker inserts).
  std::unordered_map<std::string, replay::Budget, NameHash, std::equal_to<>> budgets_;
  mutable std::mutex budgets_mu_;
  IdempotencyWaiters idem_waiters_;
  SharedIdempotency* shared_idem_ = nullptr;
  CapacityWaiters capacity_waiters_;
  std::mt19937_64 rng_;
  http1::RequestHead scratch_head_;
  http1::ResponseHead scratch_response_;
  std::unique_ptr<core::Timer> drain_deadline_;
  // Runs core::Buffer::trimFreedMemory() this long after many buffers went back.
  static constexpr core::Millis kTrimDelay{500};
  core::Timer trim_timer_;
  bool draining_ = false;
  std::thread thread_;
};

}  // namespace meridian::proxy
