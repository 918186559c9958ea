#pragma once
// HTTP/2 towards clients (RFC 9113), server side, on nghttp2. One H2Session per client
// connection that speaks h2 (ALPN "h2", or the prior-knowledge preface on a plain listener);
// each request stream is an H2Stream, a ClientSide that owns one Exchange. The exchange speaks
// HTTP/1 terms; the stream turns its heads into HEADERS frames and its body into DATA.
//
// Back-pressure both ways rides on HTTP/2 flow control: a request's DATA is granted window
// only as its exchange takes the bytes (nghttp2's automatic WINDOW_UPDATE is off), and a
// response's DATA is taken from the exchange's buffer only as the socket takes frames, so a
// slow client slows the upstream instead of growing our buffers.
//
// Protections, each from `limits:`: concurrent streams, rapid reset (CVE-2023-44487: a burst
// of streams reset, by the client, by nghttp2 or by us), CONTINUATION floods, the header list
// size, the HPACK table, an idle connection, and a client that never acknowledges our SETTINGS.
//
// A request that declares a body (content-length > 0) is not sent upstream, so opens no
// upstream connection, until its body has arrived whole or its first kBodyBeforeStart bytes
// have: nghttp2 checks DATA against content-length before we see it, so a stream that lies
// about its length is reset without costing an upstream connect.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/buffer.h"
#include "core/deadline_queue.h"
#include "core/stream.h"
#include "proxy/downstream/downstream_host.h"
#include "proxy/downstream/h2_memory.h"
#include "proxy/exchange/client_side.h"
#include "proxy/http/h2_request.h"
#include "proxy/http/http1_parser.h"

struct nghttp2_session;

namespace meridian::proxy {

class Exchange;
class H2Session;

// One request stream: the ClientSide of its Exchange.
class H2Stream final : public ClientSide, public core::Disposable {
 public:
  H2Stream(H2Session& session, int32_t id);
  ~H2Stream() override;

  int32_t id() const { return id_; }

  // ClientSide
  const routing::IpAddress& peer() const override;
  std::string_view clientIp() const override;
  const ListenSocket& listener() const override;
  std::string_view protocolName() const override { return "HTTP/2"; }
  core::Buffer& requestInput() override { return input_; }
  bool requestInputEnded() const override { return input_ended_; }
  void pauseRequestInput() override { paused_ = true; }
  void resumeRequestInput() override;
  bool requestInputPaused() const override { return paused_; }
  std::string_view requestTrailers() const override { return request_trailers_; }
  // Frames are queued with nghttp2 and sent at the end of the loop turn (H2Session::
  // sendPending), so these find the client gone only by the state the stream is in.
  HeadSent writeResponseHead(const http1::ResponseHead& head,
                             const http1::ResponseOptions& opt) override;
  Sent writeInterimResponse(const http1::ResponseHead& head) override;
  // A HEADERS frame with :status 100: an HTTP/2 client that sent `expect: 100-continue` waits
  // for it (RFC 9113 8.1) before it sends the body.
  Sent writeContinue() override;
  Sent writeErrorResponse(int status, std::string_view code, bool close,
                          bool head_request) override;
  Sent writeStoredResponse(int status,
                           const std::vector<std::pair<std::string, std::string>>& headers,
                           std::string_view body, bool close, bool head_request) override;
  core::Buffer& responseOutput() override { return output_; }
  void writeResponseTrailers(std::string_view fields) override;
  Sent flush() override;
  bool responsePending() const override { return !output_.empty(); }
  Sent shutdownWrite() override;
  void exchangeDone(bool keep_alive) override;
  void exchangeAborted() override;

 private:
  friend class H2Session;

  // Response DATA: nghttp2 asks how much is ready, then the session sends it from output_.
  long readResponse(size_t max, uint32_t* flags);
  void endResponseData(uint32_t* flags);
  Sent submitResponse(h2::FieldList& fields, bool has_body);
  // ClientGone once the stream, or its connection, is closed.
  Sent openOrGone() const;
  void endExchange();
  // Grants the client window for the request bytes the exchange has taken.
  void grantWindow();

  H2Session& session_;
  int32_t id_;
  // A request waiting for its body before it starts (see the top of this file).
  struct PendingStart {
    std::string bytes;
    http1::RequestHead head;  // views into `bytes`
    int64_t deadline = 0;     // monotonic ms: 408 if the body has not come by then
  };

  std::unique_ptr<h2::RequestBuilder> builder_;  // while the header block arrives
  std::unique_ptr<PendingStart> pending_;
  std::unique_ptr<Exchange> exchange_;
  core::Buffer input_;
  core::Buffer output_;
  std::string request_trailers_;   // "name: value\r\n" lines from the client's trailer block
  std::string response_trailers_;  // the same, sent as a trailing HEADERS once output_ is out
  size_t unconsumed_ = 0;          // request bytes received but not yet granted back as window
  uint64_t received_ = 0;          // request body bytes received
  uint64_t content_length_ = 0;
  bool has_content_length_ = false;
  bool input_ended_ = false;
  bool paused_ = false;
  bool tunnel_ = false;  // an extended CONNECT (WebSocket)
  bool response_submitted_ = false;
  bool response_has_body_ = false;
  bool output_ended_ = false;  // no more response bytes will be added to output_
  bool was_high_ = false;      // output_ went above the high watermark
  bool closed_ = false;        // nghttp2 closed the stream
  bool rejected_ = false;      // reset or answered locally before an exchange
  bool reset_ = false;         // we sent RST_STREAM
  // Counted toward limits.http2_max_resets_per_second: once, whoever reset the stream.
  bool reset_counted_ = false;
};

class H2Session final : public core::DeadlineQueue::Entry, public core::Deferred {
 public:
  H2Session(DownstreamHost& worker, core::Stream& stream, const ListenSocket& listener,
            const routing::IpAddress& peer, std::string_view client_ip,
            std::function<void()> on_finished);
  ~H2Session();
  H2Session(const H2Session&) = delete;
  H2Session& operator=(const H2Session&) = delete;

  // Sends our SETTINGS and consumes what stream.input() already holds (the preface a plain
  // listener peeked at). False when the session could not start (the connection must close).
  bool start();
  // From the connection's Stream handler.
  void onData();
  void onEof();
  void onError(int err);
  void onDrained();
  // GOAWAY: streams already started finish, no new ones; then on_finished().
  void drain();
  bool idle() const { return streams_.empty(); }
  void onDeadline() override;
  void runDeferred() override { sendNow(); }

  DownstreamHost& worker() { return worker_; }
  const ListenSocket& listener() const { return listener_; }
  const routing::IpAddress& peer() const { return peer_; }
  std::string_view clientIp() const { return client_ip_; }

  // nghttp2 callbacks (h2_session.cc); public so the C trampolines can reach them.
  int onBeginHeaders(int32_t stream_id);
  int onHeader(int32_t stream_id, std::string_view name, std::string_view value);
  int onFrameRecv(int32_t stream_id, uint8_t type, uint8_t flags, uint32_t error_code);
  int onInvalidFrame(int32_t stream_id, uint8_t type, int lib_error);
  int onDataChunk(int32_t stream_id, const uint8_t* data, size_t len);
  int onStreamClose(int32_t stream_id, uint32_t error_code);
  int onFrameSent(int32_t stream_id, uint8_t type, uint8_t flags);
  long onSend(const uint8_t* data, size_t len);
  int onSendData(int32_t stream_id, const uint8_t* frame_head, size_t length, size_t padlen);
  long onReadResponse(int32_t stream_id, size_t max, uint32_t* flags);

 private:
  friend class H2Stream;

  using Fields = std::vector<std::pair<std::string, std::string>>;
  H2Stream* find(int32_t id);
  void submitResponse(H2Stream& s, h2::FieldList& fields, bool has_body);
  void submitHeaders(int32_t id, h2::FieldList& fields, bool end_stream);
  void submitTrailers(int32_t id, h2::FieldList& fields);
  void resumeData(int32_t id);
  void headersDone(H2Stream& s, bool end_stream);
  void startExchange(H2Stream& s, std::string bytes, const http1::RequestHead& head);
  void answerEarly(H2Stream& s, int status, const char* code, const http1::RequestHead* head,
                   uint64_t bytes_in);
  void startPending(H2Stream& s);
  void dropPending(H2Stream& s);
  void expirePending();
  void inputEnded(H2Stream& s);
  void resetStream(H2Stream& s, uint32_t code);
  void releaseStream(int32_t stream_id);
  // One more stream reset, of `s` (once per stream) or of one we hold nothing for.
  void countReset(H2Stream* s);
  // Sends what nghttp2 has queued at the end of this loop turn (sendNow), so the frames of
  // every stream answered in the turn leave in one write. Safe to call from anywhere: it never
  // sends, fails or finishes the session before it returns, so a stream's exchange that calls
  // it is never called back from inside (ClientSide's rule).
  void sendPending();
  // Sends what nghttp2 has queued, as far as the socket's buffer allows; then tells streams
  // whose response buffer drained.
  void sendNow();
  void notifyDrained();
  void consume(int32_t stream_id, size_t n);
  void scheduleDeadline();
  void releaseFramePages();
  void closeWith(uint32_t code);
  void checkFinished();
  void finish();

  DownstreamHost& worker_;
  core::Stream& stream_;
  const ListenSocket& listener_;
  routing::IpAddress peer_;
  std::string client_ip_;
  std::function<void()> on_finished_;
  H2Memory memory_;  // what session_ allocates with; outlives it (deleted in ~H2Session)
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, std::unique_ptr<H2Stream>> streams_;
  std::vector<int32_t> drained_;  // streams whose response buffer went below the low mark
  size_t max_header_bytes_;
  size_t max_headers_;
  uint32_t max_streams_;
  uint32_t max_resets_;
  core::Millis settings_timeout_;
  core::Millis idle_timeout_;
  int64_t idle_deadline_ms_ = 0;  // monotonic: when an idle session times out
  // nghttp2's frame buffer has had a frame packed in it since its pages last went back.
  bool frame_pages_in_use_ = false;
  static constexpr core::Millis kFramePagesDelay{200};
  core::Millis body_wait_timeout_;  // limits.header_timeout: for a PendingStart's body
  // Output towards the socket (limits.buffer_per_direction): above it nghttp2 is told to wait
  // (WOULDBLOCK) until the socket drains. Each stream's response buffer is bounded by its
  // exchange's watermarks.
  size_t output_high_watermark_;
  int64_t reset_window_start_ = 0;  // monotonic ms
  uint32_t resets_in_window_ = 0;
  size_t pending_starts_ = 0;      // streams with a PendingStart
  int64_t settings_deadline_ = 0;  // monotonic ms
  // Inside nghttp2 (mem_recv or send), sending waits until the call returns.
  bool receiving_ = false;
  bool sending_ = false;
  bool want_send_ = false;
  uint64_t appended_ = 0;  // bytes nghttp2 has handed us, to see progress
  bool starting_ = false;
  bool settings_acked_ = false;
  bool draining_ = false;  // GOAWAY sent: in-flight streams finish
  bool closing_ = false;   // GOAWAY with an error sent: close once it is written
  bool read_paused_ = false;
  bool failed_ = false;  // the connection is unusable: tear down
  bool finished_ = false;

 public:
  static constexpr int32_t kStreamWindow = 256 * 1024;
  // A declared body this large starts its request before the rest of it arrives.
  static constexpr uint64_t kBodyBeforeStart = 16 * 1024;
};

}  // namespace meridian::proxy
