#pragma once
// Exchange: one request's life, from a parsed head to the last response byte. It is the only
// object that knows the whole sequence, and reads top to bottom in that order:
//
//   Routing     Router::pick chooses route, cluster and the order of regions
//   CapacityWait  every allowed endpoint is at its hard limit: wait for a slot (bounded)
//   Connecting  UpstreamPool lends a connection (reused, new, or after a wait)
//   Forwarding  the request head and body stream upstream; waiting for the response head
//   Responding  the response streams back to the client
//   Tunnel      after a 101: bytes both ways until either side closes (WebSocket)
//   Backoff     between a failed attempt and its replay (a timer, never a blocked loop)
//   Hedging     the exchange's own attempt failed while hedges (replay.hedge) still wait
//   Done
//
// A connect failure means nothing was sent, so the next endpoint (then the next region) is
// tried. Other failures before the response (reset, timeout, a status in `replay.on`) replay
// the request in the next region when replay::decide says it is safe: the body sent so far is
// kept (up to `replay.body_buffer`) to be sent again. An app can also ask for a replay with a
// `meridian-replay` (or, with compat: fly, `fly-replay`) response header. From the first
// response byte sent to the client, the request is never retried.
// Streams use high/low watermarks both ways: a slow reader pauses the fast writer.
//
// Hedges (replay.hedge, exchange_hedge.cc): when the request, sent whole and replayable, has no
// response head after `after`, the same request goes to the next region too, on a connection
// of its own (HedgeAttempt). The first head to arrive wins: the exchange drops the other
// attempts and carries on with the winner's connection as if it had been its own.
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/deadline_queue.h"
#include "core/splice_relay.h"
#include "core/event_loop.h"
#include "health/health_monitor.h"
#include "proxy/exchange/client_side.h"
#include "proxy/exchange/exchange_host.h"
#include "proxy/http/http1_parser.h"
#include "proxy/policy/idempotency.h"
#include "proxy/policy/replay.h"
#include "proxy/policy/shared_idempotency.h"
#include "proxy/policy/snapshot.h"
#include "proxy/upstream/upstream_pool.h"

namespace meridian::proxy {

class Exchange final : public UpstreamUser,
                       public core::Disposable,
                       public core::DeadlineQueue::Entry,
                       private core::SpliceRelay::Handler {
 public:
  // `head` holds views into `head_bytes`, which the exchange now owns. The client side (an
  // HTTP/1 connection or an HTTP/2 stream) and the host outlive the exchange.
  Exchange(ClientSide& client, ExchangeHost& host, std::string head_bytes,
           const http1::RequestHead& head);
  ~Exchange() override;

  void start();
  // The client side: more request bytes arrived, its output drained, or it went away. Called
  // from the loop, never from inside a ClientSide call (a client found gone there is that
  // call's result).
  void onDownstreamData();
  void onDownstreamDrained();
  void onDownstreamEof();
  void onDownstreamGone();
  // True once the whole request body was read from the client.
  bool requestComplete() const { return request_done_; }

  // UpstreamUser
  void onUpstreamReady(UpstreamConn& conn) override;
  void onUpstreamConnectFailed(int err) override;
  void onUpstreamData(UpstreamConn& conn) override;
  void onUpstreamEof(UpstreamConn& conn) override;
  void onUpstreamError(UpstreamConn& conn, int err) override;
  void onUpstreamDrained(UpstreamConn& conn) override;
  // Connect, per-try or idle deadline: whichever the state had armed.
  void onDeadline() override;
  // The request that held this one's Idempotency-Key is done (through IdempotencyWaiters).
  void onIdempotencyOutcome(std::shared_ptr<const StoredResponse> resp);
  // The fleet's answer to this request's claim of its key (idempotency.store: fleet).
  void onSharedClaim(SharedIdempotency::Claim claim, std::shared_ptr<const StoredResponse> resp);

  // What one direction may buffer (limits.buffer_per_direction, from the exchange's own
  // snapshot): above the high watermark the sending side is no longer read, and once the
  // buffer is down to the low one it is read again. The client side asks for them too, so it
  // reports a drain by the same marks the exchange paused on.
  size_t highWatermark() const { return high_watermark_; }
  size_t lowWatermark() const { return high_watermark_ / 2; }
  static constexpr size_t kMaxStoredBody = 64 * 1024;  // kept for Idempotency-Key waiters
  static constexpr size_t kMaxIdempotencyKey = 256;

 private:
  enum class State {
    Routing,
    CapacityWait,
    Connecting,
    Forwarding,
    Responding,
    Tunnel,
    Backoff,
    Hedging,
    Done
  };

  void countStart();
  // The request target (exchange_target.cc). Each false/true when the client was answered
  // (400, an escaped-slash redirect, the redirect to https).
  bool normalizeTarget();
  bool redirectToHttps();
  bool answerAcmeChallenge();
  // Routing and connecting.
  void pickRoute();
  // After routing and the Idempotency-Key: a slot of the cluster, an endpoint, a connection.
  void sendToUpstream();
  routing::IpAddress clientAddress() const;
  bool peerIsTrusted() const;
  void setCookies(http1::ResponseOptions& opt);
  void reportOutcome(health::Outcome outcome);
  void reportOutcome(const ResolvedAddress& endpoint, std::chrono::steady_clock::time_point started,
                     health::Outcome outcome);
  void reportAttemptOnce(health::Outcome outcome);
  bool chooseEndpoint();
  // Whether the request can be sent again on another connection if a pooled one proves dead
  // before answering: only when it has no body, since body bytes leave the client's buffer
  // as they are forwarded (a chunked body of just its last chunk included).
  bool resendable() const { return head_.framing == http1::Framing::None; }
  void connect();
  UpstreamPool::Acquire acquireConnection(const ResolvedAddress& endpoint, UpstreamUser* user,
                                          bool safe_to_resend);
  void onConnectTimeout();
  void onPoolWaitTimeout();
  void resumeClientOnceBodySent();
  // Forwarding.
  void sendRequestHead();
  http1::ForwardInfo forwardInfo() const;
  void armResponseTimer();
  void pumpRequestBody();
  bool moveRequestBody(core::Buffer& in, core::Buffer& out, uint64_t& moved);
  void failRequestBody(const core::Error& err, const char* why);
  bool moveChunkedBody(core::Buffer& in, core::Buffer& out, http1::ChunkedDecoder& dec,
                       bool rechunk, uint64_t& moved, bool& done);
  // Replay (exchange_replay.cc).
  bool tryReplay(const replay::Failure& failure, core::Millis at_least = core::Millis(0),
                 bool record = true);
  // Where the next attempt goes: kept aside while a replay is weighed.
  struct Target {
    const ResolvedAddress* endpoint;
    std::string region;
    size_t region_pos;
    uint64_t tried_mask;
  };
  Target target() const;
  void setTarget(const Target& t);
  bool chooseNextRegion();
  bool chooseAfterConnectFailure();
  size_t endpointIndex() const;
  bool chooseUntried();
  bool chooseInRegion(std::string_view region);
  bool divertResponse(const http1::ResponseHead& head);
  bool followReplayHeader(const http1::ResponseHead& head);
  void resendAfterBackoff();
  void keepSentBody(const core::Buffer& out, size_t from);
  void endReplay();
  void countReplay(const replay::Failure* failure, std::string_view app_reason = {});
  // Hedged requests (exchange_hedge.cc).
  class HedgeAttempt;
  void armHedgeTimer();
  std::optional<core::Millis> hedgeDelay();
  void onHedgeTimer();
  void observeHeadLatency();
  void settleHedges(bool hedge_won);
  void endHedges();
  bool handOverToHedges(const replay::Failure& own_failure);
  void armHedgingTimer();
  void adoptHedge(HedgeAttempt& hedge);
  void hedgeFailed(HedgeAttempt& hedge, const replay::Failure& failure);
  void dropHedge(HedgeAttempt& hedge);
  void failWith(const replay::Failure& failure);
  // Idempotency-Key (exchange_idempotency.cc).
  static IdempotencyTable& idempotencyTable();
  bool claimIdempotencyKey();
  bool claimSharedKey(std::string_view key);
  void onIdempotencyWaitTimeout();
  void onSharedWaitTimeout();
  void answerStored(const StoredResponse& resp);
  void startStoring(const http1::ResponseHead& head);
  void storeBody(const core::Buffer& in, size_t n);
  void releaseIdempotencyKey(bool completed);
  // Responding and Tunnel (exchange_response.cc).
  void parseResponseHead();
  bool startResponse(const http1::ResponseHead& head);
  void pumpResponseBody();
  size_t responseReadSize(size_t buffered) const;
  // A large body between two plain sockets (exchange_splice.cc).
  bool startSplice();
  void onSplice(core::SpliceRelay& relay, core::SpliceRelay::Status status, uint64_t moved,
                int err) override;
  void finishResponse();
  void pumpTunnel();
  // Ends.
  void recordOutcome();
  void failBeforeResponse(const core::Error& err);
  bool keepClient() const;
  // gRPC (exchange_grpc.cc).
  bool startGrpc();
  bool divertGrpcStatus(const http1::ResponseHead& head);
  void writeGrpcError(int status, const char* code, bool keep);
  void retryOnFreshConnection();
  // The one ending of a response that cannot be completed (the client's side is reset): the
  // client went away, or something failed after the response began.
  enum class Cause : uint8_t { ClientGone, Failure };
  void abort(Cause cause, const char* why);
  // Acts on what a call towards the client found: true when the client has gone, and the
  // exchange has ended (abort) because of it.
  bool endIfClientGone(Sent sent);
  void finish(bool client_keep_alive);
  void releaseUpstream(bool reusable);
  void detachUpstream();
  void armTimer(core::Millis after);
  void cancelTimer();
  // Capacity limits and measured latency (exchange_capacity.cc).
  bool takeLoadSlot();
  void releaseLoadSlot();
  // A slot of `endpoint`'s in-flight count into `slot` (kept when already held); false at its
  // hard limit. releaseSlot gives one back and wakes a waiter.
  bool takeSlotFor(const ResolvedAddress& endpoint, routing::EndpointLoad*& slot);
  void releaseSlot(routing::EndpointLoad*& slot);
  void waitForCapacity();
  void onCapacityCheck();
  void recordLatency();
  void countSpill();
  // Slow uploads and 1xx floods (exchange_limits.cc).
  void startBodyClock();
  void onBodyRateCheck();
  bool tooManyInterim();

  void armAckCheck();
  void onAckCheck();

  // A deadline of its own, beside the one the state arms (per-try, idle...), that calls `On`:
  // replay.hedge's wait, the request body's rate check, the unacknowledged-request check.
  template <void (Exchange::*On)()>
  class SideTimer final : public core::DeadlineQueue::Entry {
   public:
    explicit SideTimer(Exchange& exchange) : exchange_(exchange) {}
    void onDeadline() override { (exchange_.*On)(); }

   private:
    Exchange& exchange_;
  };

  ClientSide& down_;
  ExchangeHost& host_;
  std::shared_ptr<const Snapshot> snap_;
  std::string head_bytes_;
  http1::RequestHead head_;
  std::string target_;  // the normalised target head_.target points to, when it changed
  State state_ = State::Routing;

  // Where the client is and where the request goes.
  routing::IpAddress client_addr_;
  routing::GeoLocation client_;
  routing::Decision decision_;
  size_t region_pos_ = 0;  // index into decision_.order
  const ResolvedAddress* endpoint_ = nullptr;
  std::string region_;
  uint64_t tried_mask_ = 0;  // endpoints of the cluster already tried (first 64)
  int attempts_ = 0;
  int connects_in_region_ = 0;  // failed connects in region_ (replay.connect_tries_per_region)
  // This attempt's outcome went to passive health already (reportAttemptOnce): a 5xx at its
  // head, or a response whose body ended (success) or did not (timeout, reset). One per attempt.
  bool status_reported_ = false;
  int stale_retries_ = 0;
  // Capacity (clusters[].limits): the slot this attempt holds in its endpoint's in-flight
  // count, whether the last endpoint choice skipped one at its hard limit, and, while waiting
  // for a slot, when to give up (monotonic ms).
  routing::EndpointLoad* load_slot_ = nullptr;
  bool capacity_blocked_ = false;
  int64_t capacity_deadline_ms_ = 0;

  // Replay. The request body as it went upstream (its upstream framing), kept while it fits
  // `replay.body_buffer`, so a replay can send it again.
  core::Buffer sent_body_;
  bool body_overflow_ = false;
  replay::Budget* budget_ = nullptr;  // the route's, on this worker; set once routed
  bool holds_budget_ = false;         // a replay of this request counts against the route's budget
  bool app_replayed_ = false;         // followed a meridian-replay / fly-replay header already
  bool replay_src_fly_ = false;
  std::string replay_src_;  // meridian-replay-src on an app-directed replay
  static constexpr int kMaxFailures = 8;
  replay::Failure failures_[kMaxFailures];  // why each failed attempt failed, for the log
  int failure_count_ = 0;

  // Hedges: those still waiting for a head (each deleted through the loop once it leaves).
  SideTimer<&Exchange::onHedgeTimer> hedge_timer_{*this};  // replay.hedge.after
  std::vector<HedgeAttempt*> hedges_;
  bool hedge_armed_ = false;  // the timer was armed once (a request hedges from its first send)
  int hedges_sent_ = 0;       // replay.hedge.max bounds it
  int hedges_open_ = 0;       // sent and not yet counted in meridian_hedges_total
  int hedge_slots_ = 0;       // replay budget slots the hedges took (given back at the end)
  size_t hedge_pos_ = 0;      // the region (order index) the latest hedge went to
  bool attempt_is_hedge_ = false;  // the exchange's attempt is an adopted hedge
  replay::Failure own_failure_;    // why the exchange's own attempt failed (State::Hedging)

  // Idempotency-Key: the ticket of the key this request owns or waits for.
  uint64_t idem_ticket_ = 0;
  bool idem_owner_ = false;
  // The fleet's claim of the key (store: fleet), from claim to release, and whether its answer
  // is still awaited.
  uint64_t shared_ticket_ = 0;
  bool shared_pending_ = false;
  std::shared_ptr<StoredResponse> stored_;  // the owner's response, while it is small

  // A gRPC call (content-type application/grpc*): errors we make are gRPC statuses, and its
  // grpc-timeout, when it has one, bounds the whole call.
  bool grpc_ = false;
  std::optional<core::Millis> grpc_timeout_;

  int final_status_ = 0;  // the status the client got (for the log)
  std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point attempt_started_at_ = started_at_;  // per-endpoint latency
  uint64_t bytes_out_ = 0;  // response bytes handed to the client side (head and body)
  bool recorded_ = false;
  std::string affinity_cookie_;  // Set-Cookie values of the response: blue-green backend,
  std::string pin_cookie_;       // and the read-your-writes pin
  UpstreamConn* up_ = nullptr;
  bool counted_active_ = false;

  size_t high_watermark_;

  // Request body.
  // limits.request_body_min_rate, judged once per limits.request_body_timeout.
  SideTimer<&Exchange::onBodyRateCheck> body_check_{*this};
  SideTimer<&Exchange::onAckCheck> ack_check_{*this};  // timeouts.unacked (exchange_ack.cc)
  int64_t request_sent_ms_ = 0;       // monotonic: when this attempt's request was sent whole
  uint64_t body_window_bytes_ = 0;    // body bytes received when the rate window began
  bool body_window_excused_ = false;  // we stopped reading the client in this window
  int interim_responses_ = 0;         // 1xx heads in this attempt
  uint64_t req_remaining_ = 0;
  uint64_t req_body_bytes_ = 0;
  http1::ChunkedDecoder req_chunks_;
  bool request_done_ = false;
  bool sent_continue_ = false;

  // Response. Its head is parsed into the worker's scratch and written out at once; what
  // the body needs is kept here.
  struct ResponseFraming {
    int status = 0;
    http1::Framing framing = http1::Framing::None;
    bool keep_alive = true;
  } resp_;
  http1::ChunkedDecoder resp_chunks_;
  uint64_t resp_remaining_ = 0;
  bool resp_chunked_to_client_ = false;
  // Moving the rest of a Content-Length body with splice(2); the upstream is not read meanwhile.
  std::unique_ptr<core::SpliceRelay> splice_;
  bool response_started_ = false;  // a byte of the final response went to the client
  bool upstream_eof_ = false;
  bool client_eof_ = false;
  bool close_client_ = false;

  int64_t deadline_ms_ = 0;      // the route's request deadline (monotonic ms), set once the
                                 // request is sent whole; 0 until then
  std::string_view request_id_;  // the client's (a view into head_bytes_) or generated_id_
  char generated_id_[32] = {};
};

}  // namespace meridian::proxy
