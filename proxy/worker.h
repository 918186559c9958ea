#pragma once
// A worker: one thread, one EventLoop, its own listening sockets (SO_REUSEPORT), its own
// upstream pools and counters. A connection lives and dies on one worker: no locks on the
// request path.
#include <atomic>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/deadline_queue.h"
#include "core/event_loop.h"
#include "health/health_monitor.h"
#include "proxy/http1_parser.h"
#include "proxy/snapshot.h"
#include "proxy/stats.h"
#include "proxy/upstream_pool.h"

namespace meridian::proxy {

class DownstreamConn;

struct ListenSocket {
  int fd = -1;
  std::string name;    // the listener's name
  std::string region;  // the listener's region
  bool tls = false;
};

class Worker {
 public:
  Worker(int id, std::shared_ptr<const Snapshot> snap, std::vector<ListenSocket> sockets,
         std::atomic<int>& open_connections);
  ~Worker();

  void start();
  void join();
  // Thread-safe. New requests use the new snapshot; requests in flight keep theirs.
  void publish(std::shared_ptr<const Snapshot> snap);
  // Thread-safe. Stop accepting, finish what is in flight, then stop the loop. After
  // `deadline` whatever is left is closed.
  void drain(core::Millis deadline);

  // For the connections and exchanges of this worker (its own thread only).
  core::EventLoop& loop() { return loop_; }
  UpstreamPool& pool() { return pool_; }
  core::DeadlineQueue& deadlines() { return deadlines_; }
  WorkerStats& stats() { return stats_; }
  const std::shared_ptr<const Snapshot>& snapshot() const { return snap_; }
  uint64_t random() { return rng_(); }
  bool draining() const { return draining_; }
  // Where connections parse request heads (one at a time per thread).
  http1::RequestHead& scratchHead() { return scratch_head_; }
  http1::ResponseHead& scratchResponse() { return scratch_response_; }
  void onConnectionClosed(DownstreamConn* conn);
  // Passive health: failures are sent to the main thread, and the first success after them
  // (to reset its count); a healthy steady state sends nothing.
  using OutcomeSink =
      std::function<void(const std::string& cluster, const std::string& endpoint, health::Outcome)>;
  void setOutcomeSink(OutcomeSink sink) { outcome_sink_ = std::move(sink); }
  void reportOutcome(const std::string& cluster, const ResolvedAddress& endpoint,
                     health::Outcome outcome);
  int id() const { return id_; }

 private:
  void onAccept(int fd, const ListenSocket& ls);
  void checkDrained();

  int id_;
  core::EventLoop loop_;
  core::DeadlineQueue deadlines_;  // before anything that schedules on it
  WorkerStats stats_;
  UpstreamPool pool_;
  std::shared_ptr<const Snapshot> snap_;
  std::vector<ListenSocket> sockets_;
  std::vector<std::unique_ptr<core::Acceptor>> acceptors_;
  std::unordered_set<DownstreamConn*> conns_;
  std::atomic<int>& open_connections_;
  OutcomeSink outcome_sink_;
  std::unordered_map<std::string, int> failing_;  // endpoint -> consecutive failures seen here
  std::mt19937_64 rng_;
  http1::RequestHead scratch_head_;
  http1::ResponseHead scratch_response_;
  std::unique_ptr<core::Timer> drain_deadline_;
  bool draining_ = false;
  std::thread thread_;
};

}  // namespace meridian::proxy
