#pragma once
// HTTP/2 to an upstream: one nghttp2 client session over one connection (h2c, or TLS where
// ALPN chose h2), whose streams the pool lends to requests as channels (H2StreamChannel).
//
// Each channel transcodes at its edge (proxy/http/h2_transcode.h): the Exchange writes an
// HTTP/1.1 request into output() and reads an HTTP/1.1 response from input(). Flow control is
// the Exchange's back-pressure: body bytes stay in output() until nghttp2 pulls them within the
// peer's windows (the Exchange stops reading its client while they pile up), and received
// DATA is handed back to the peer's window (nghttp2_session_consume) only while the Exchange
// reads, so a slow client holds the upstream to one window per stream.
//
// Events reach the users after nghttp2 returns (never from inside its callbacks), so a user
// may release its stream, or the whole session may end, while they are being told.
#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/event_loop.h"
#include "core/stream.h"
#include "proxy/http/h2_transcode.h"
#include "proxy/http/http1_parser.h"
#include "proxy/upstream/upstream_channel.h"

namespace meridian::proxy {

class H2UpstreamSession;
class UpstreamConn;
class UpstreamPool;
struct EndpointPool;

class H2StreamChannel final : public UpstreamChannel {
 public:
  H2StreamChannel(H2UpstreamSession& session, UpstreamConn& lease)
      : session_(session), lease_(lease) {}
  core::Buffer& input() override { return in_; }
  core::Buffer& output() override { return out_; }
  bool flush() override;
  bool writePending() const override { return !out_.empty(); }
  void setLowWatermark(size_t bytes) override { low_watermark_ = bytes; }
  void pauseReading() override { paused_ = true; }
  void resumeReading() override;
  void shutdownWrite() override {}
  int socketFd() const override;
  // The upstream did not process this request (a GOAWAY's last stream id is below it, it
  // answered REFUSED_STREAM, or the connection ended before it was sent): safe to send again.
  bool refused() const { return refused_; }

 private:
  friend class H2UpstreamSession;
  bool submitHead();
  H2UpstreamSession& session_;
  UpstreamConn& lease_;
  core::Buffer in_;
  core::Buffer out_;
  std::optional<h2::RequestBody> body_;
  std::optional<h2::ResponseWriter> resp_;
  int32_t id_ = 0;  // 0 until the head is submitted
  size_t low_watermark_ = 0;
  uint64_t unconsumed_ = 0;  // response DATA bytes not yet given back to the windows
  bool deferred_ = false;    // nghttp2 waits for body bytes (NGHTTP2_ERR_DEFERRED)
  bool paused_ = false;
  bool want_drain_ = false;  // a flush left body bytes behind: tell the user when they go
  bool closed_ = false;      // nghttp2 closed the stream
  bool failed_ = false;
  bool refused_ = false;
  bool released_ = false;  // the lease let go (the channel lives on until the loop reaps it)
  bool queued_ = false;    // in the session's pending_ list
  // Events for the user, delivered by H2UpstreamSession::dispatch.
  bool ev_data_ = false;
  bool ev_drained_ = false;
  bool ev_error_ = false;
};

class H2UpstreamSession final : public core::StreamHandler,
                                public core::Disposable,
                                public core::Deferred {
 public:
  // Takes over a connected stream (TLS already established where there is TLS).
  H2UpstreamSession(UpstreamPool& pool, EndpointPool& ep, std::unique_ptr<core::Stream> stream,
                    bool tls, uint64_t tls_settings);
  ~H2UpstreamSession() override;

  // Sends the preface and our SETTINGS. False: the session could not start (it is closed).
  bool start();
  // Another stream may be opened now (not going away, below the peer's stream limit).
  bool canTake() const;
  uint64_t tlsSettings() const { return tls_settings_; }
  int fd() const { return stream_->fd(); }
  size_t streamsOpen() const { return channels_.size(); }
  // A channel for a new request on `lease` (its head comes with the first flush).
  std::unique_ptr<H2StreamChannel> open(UpstreamConn& lease);
  // The lease is done with its channel: an unfinished stream is reset (CANCEL).
  void release(H2StreamChannel& ch);
  // No new streams; closed once the last one ends (drain, shutdown).
  void drain();

  // StreamHandler
  void onData(core::Stream&) override;
  void onEof(core::Stream&) override;
  void onError(core::Stream&, int err) override;
  void onDrained(core::Stream&) override;
  void runDeferred() override { sendNow(); }

  // nghttp2 callbacks.
  int onHeader(const nghttp2_frame* frame, std::string_view name, std::string_view value);
  int onFrameRecv(const nghttp2_frame* frame);
  int onDataChunk(int32_t id, const uint8_t* data, size_t len);
  int onStreamClose(int32_t id, uint32_t error_code);
  int onFrameNotSent(const nghttp2_frame* frame, int lib_error);
  ssize_t onSend(const uint8_t* data, size_t len);
  ssize_t onReadBody(int32_t id, uint8_t* buf, size_t length, uint32_t* flags);

 private:
  friend class H2StreamChannel;
  friend class UpstreamPool;
  H2StreamChannel* find(int32_t id);
  void sendPending();
  void sendNow();
  void dispatch();
  void consume(H2StreamChannel& ch);
  void queue(H2StreamChannel& ch);
  void noteDrains();
  void fail(const char* why);
  void maybeDelete();
  void maybeIdle();
  void onIdleTimer();
  void onPingTimer();

  UpstreamPool& pool_;
  EndpointPool& ep_;
  std::unique_ptr<core::Stream> stream_;
  nghttp2_session* session_ = nullptr;
  const bool tls_;
  const uint64_t tls_settings_;
  std::vector<H2StreamChannel*> channels_;  // lent, in order
  std::vector<H2StreamChannel*> pending_;   // with events for their users
  std::unordered_map<int32_t, H2StreamChannel*> by_id_;
  core::Timer idle_timer_;
  core::Timer ping_timer_;
  int32_t goaway_last_id_ = INT32_MAX;
  bool going_away_ = false;  // GOAWAY received or drain(): no new streams
  bool ping_outstanding_ = false;
  bool sending_ = false;
  bool closed_ = false;
  bool dispatching_ = false;
  bool deleted_ = false;
};

}  // namespace meridian::proxy
