#pragma once
// One hedge (replay.hedge): the exchange's request sent again, whole, to another endpoint while
// the exchange's own attempt still waits for its response head. The hedge is the UpstreamUser
// of its own connection until a head arrives on it, which it only peeks at (the bytes stay in
// the connection's input); then the exchange adopts the connection and reads the head as its
// own. A hedge that fails tells the exchange, which carries on with whatever attempt is left.
// Deleted through the loop (Disposable): its own callbacks may end it. Every way out (cancel,
// takeConnection) takes its connect deadline off the queue first.
#include <chrono>
#include <string>

#include "proxy/exchange/exchange.h"

namespace meridian::proxy {

class Exchange::HedgeAttempt final : public UpstreamUser,
                                     public core::Disposable,
                                     public core::DeadlineQueue::Entry {
 public:
  HedgeAttempt(Exchange& exchange, const Target& target, int attempt);

  // Asks the pool for a connection; the request goes as soon as there is one. May end the
  // hedge at once (hedgeFailed) when no connection can be had.
  void start();
  // Lets go of the connection (closed: the upstream sees the hedge cancelled) or of its place
  // in the pool's queue. It hears nothing more.
  void cancel();
  // The connection, now the exchange's, with its count of requests in flight on the endpoint
  // and its slot of the endpoint's capacity (`slot`, null without one).
  UpstreamConn* takeConnection(routing::EndpointLoad*& slot);
  // Past its per-try time (State::Hedging): a timeout, or a connect that never finished.
  void timeOut();

  const Target& target() const { return target_; }
  std::chrono::steady_clock::time_point started() const { return started_; }

  // UpstreamUser
  void onUpstreamReady(UpstreamConn& conn) override;
  void onUpstreamConnectFailed(int err) override;
  void onUpstreamData(UpstreamConn& conn) override;
  void onUpstreamEof(UpstreamConn& conn) override;
  void onUpstreamError(UpstreamConn& conn, int err) override;
  void onUpstreamDrained(UpstreamConn&) override {}
  // timeouts.connect, as for any attempt's connect.
  void onDeadline() override;

 private:
  void fail(replay::Reason reason, health::Outcome outcome);
  std::atomic<int>& activeCount();

  Exchange& exchange_;
  Target target_;
  int attempt_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  UpstreamConn* conn_ = nullptr;
  routing::EndpointLoad* load_slot_ = nullptr;  // held like an attempt's (clusters[].limits)
  bool counted_active_ = false;
  bool done_ = false;  // cancelled, failed or adopted
};

}  // namespace meridian::proxy
