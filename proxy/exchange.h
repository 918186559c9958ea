#pragma once
// Exchange: one request's life, from a parsed head to the last response byte. It is the only
// object that knows the whole sequence, and reads top to bottom in that order:
//
//   Routing     Router::pick chooses route, cluster and the order of regions
//   Connecting  UpstreamPool lends a connection (reused, new, or after a wait)
//   Forwarding  the request head and body stream upstream; waiting for the response head
//   Responding  the response streams back to the client
//   Tunnel      after a 101: bytes both ways until either side closes (WebSocket)
//   Done
//
// A connect failure means nothing was sent, so the next endpoint (then the next region) is
// tried. From the first response byte sent to the client, the request is never retried.
// Streams use high/low watermarks both ways: a slow reader pauses the fast writer.
#include <memory>
#include <string>

#include "core/deadline_queue.h"
#include "core/event_loop.h"
#include "health/health_monitor.h"
#include "proxy/http1_parser.h"
#include "proxy/snapshot.h"
#include "proxy/upstream_pool.h"

namespace meridian::proxy {

class DownstreamConn;
class Worker;

class Exchange final : public UpstreamUser,
                       public core::Disposable,
                       public core::DeadlineQueue::Entry {
 public:
  // `head` holds views into `head_bytes`, which the exchange now owns.
  Exchange(DownstreamConn& down, Worker& worker, std::string head_bytes,
           const http1::RequestHead& head);
  ~Exchange() override;

  void start();
  // The client side: more request bytes arrived, its output drained, or it went away.
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

  static constexpr size_t kHighWatermark = 256 * 1024;
  static constexpr size_t kLowWatermark = 64 * 1024;

 private:
  enum class State { Routing, Connecting, Forwarding, Responding, Tunnel, Done };

  // Routing and connecting.
  routing::IpAddress clientAddress() const;
  void reportOutcome(health::Outcome outcome);
  bool chooseEndpoint();
  // Whether the request can be sent again on another connection if a pooled one proves dead
  // before answering: only when it has no body, since body bytes leave the client's buffer
  // as they are forwarded (a chunked body of just its last chunk included).
  bool resendable() const { return head_.framing == http1::Framing::None; }
  void connect();
  void onConnectTimeout();
  // Forwarding.
  void sendRequestHead();
  void armResponseTimer();
  void pumpRequestBody();
  bool moveChunkedBody(core::Buffer& in, core::Buffer& out, http1::ChunkedDecoder& dec,
                       bool rechunk, uint64_t& moved, bool& done);
  // Responding.
  void parseResponseHead();
  void startResponse(const http1::ResponseHead& head);
  void pumpResponseBody();
  void finishResponse();
  void pumpTunnel();
  // Ends.
  void failBeforeResponse(const core::Error& err);
  void retryOnFreshConnection();
  void abort(const char* why);
  void finish(bool client_keep_alive);
  void releaseUpstream(bool reusable);
  void detachUpstream();
  void armTimer(core::Millis after);
  void cancelTimer();

  DownstreamConn& down_;
  Worker& worker_;
  std::shared_ptr<const Snapshot> snap_;
  std::string head_bytes_;
  http1::RequestHead head_;
  State state_ = State::Routing;

  // Where the client is and where the request goes.
  routing::GeoLocation client_;
  routing::Decision decision_;
  size_t region_pos_ = 0;  // index into decision_.order
  const ResolvedAddress* endpoint_ = nullptr;
  std::string region_;
  uint64_t tried_mask_ = 0;  // endpoints of the cluster already tried (first 64)
  int attempts_ = 0;
  int stale_retries_ = 0;
  UpstreamConn* up_ = nullptr;
  bool counted_active_ = false;

  // Request body.
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
