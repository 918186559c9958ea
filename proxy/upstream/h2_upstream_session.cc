#include "proxy/upstream/h2_upstream_session.h"

#include <errno.h>

#include <algorithm>

#include "core/log.h"
#include "proxy/observe/stats.h"
#include "proxy/upstream/upstream_pool.h"

namespace meridian::proxy {

namespace {

// Our receive windows: a stream may have this much response in flight to us before the
// Exchange reads it (it reads while its client keeps up), the connection this much over all
// of its streams.
constexpr int32_t kStreamWindow = 256 * 1024;
constexpr int32_t kConnectionWindow = 16 * 1024 * 1024;
// nghttp2 stops producing frames while this much waits for the socket.
constexpr size_t kOutputHighWatermark = 256 * 1024;
constexpr size_t kReadSize = 128 * 1024;

H2UpstreamSession* self(void* ud) {
  return static_cast<H2UpstreamSession*>(ud);
}

int onHeaderCb(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
               const uint8_t* value, size_t valuelen, uint8_t, void* ud) {
  return self(ud)->onHeader(frame, {reinterpret_cast<const char*>(name), namelen},
                            {reinterpret_cast<const char*>(value), valuelen});
}
int onFrameRecvCb(nghttp2_session*, const nghttp2_frame* frame, void* ud) {
  return self(ud)->onFrameRecv(frame);
}
int onDataChunkCb(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                  void* ud) {
  return self(ud)->onDataChunk(id, data, len);
}
int onStreamCloseCb(nghttp2_session*, int32_t id, uint32_t error_code, void* ud) {
  return self(ud)->onStreamClose(id, error_code);
}
int onFrameNotSendCb(nghttp2_session*, const nghttp2_frame* frame, int lib_error, void* ud) {
  return self(ud)->onFrameNotSent(frame, lib_error);
}
ssize_t sendCb(nghttp2_session*, const uint8_t* data, size_t len, int, void* ud) {
  return self(ud)->onSend(data, len);
}
ssize_t readBodyCb(nghttp2_session*, int32_t id, uint8_t* buf, size_t length, uint32_t* flags,
                   nghttp2_data_source*, void* ud) {
  return self(ud)->onReadBody(id, buf, length, flags);
}

}  // namespace

// ---- The channel ---------------------------------------------------------------------------

int H2StreamChannel::socketFd() const {
  return session_.fd();
}

bool H2StreamChannel::flush() {
  if (failed_) {
    errno = refused_ ? ECONNREFUSED : ECONNRESET;
    return false;
  }
  if (id_ == 0 && !submitHead()) return false;
  if (id_ == 0) return true;  // the head is not whole yet
  if (deferred_ && !out_.empty()) {
    deferred_ = false;
    nghttp2_session_resume_data(session_.session_, id_);
  }
  if (!out_.empty()) want_drain_ = true;
  session_.sendPending();
  return true;
}

// The request head the Exchange wrote, as HEADERS. False (errno set) when it cannot go as
// HTTP/2: a malformed head, or an upgrade (WebSocket over HTTP/2, RFC 8441, is not spoken).
bool H2StreamChannel::submitHead() {
  size_t avail = std::min<size_t>(out_.size(), 64 * 1024);
  if (avail == 0) return true;
  const char* p = out_.pullup(avail);
  // The worker's own head, cleared: its field vector keeps its capacity from request to
  // request (a fresh one grew by four allocations per request).
  static thread_local http1::RequestHead probe;
  probe.clear();
  http1::ParseResult r = http1::parseRequestHead(p, avail, probe);
  if (r.status == http1::ParseStatus::NeedMore) return true;
  if (r.status == http1::ParseStatus::Error || probe.upgrade || probe.method == "CONNECT") {
    failed_ = true;
    errno = EPROTO;
    return false;
  }
  // One parse: the fields point into out_ until nghttp2 has copied them (submit copies every
  // name and value), and what the body and the response need of the head is kept by value.
  resp_.emplace(probe.method == "HEAD");
  h2::FieldList& fields = h2::scratchFields();
  h2::requestFields(probe, session_.tls_, fields);
  std::vector<nghttp2_nv>& nva = fields.nva();
  nghttp2_data_provider prd{};
  prd.read_callback = readBodyCb;
  const bool has_body = probe.framing != http1::Framing::None;
  if (has_body) body_.emplace(probe);
  int32_t id = nghttp2_submit_request(session_.session_, nullptr, nva.data(), nva.size(),
                                      has_body ? &prd : nullptr, nullptr);
  out_.drain(r.consumed);  // the head; what follows is body
  if (id < 0) {
    // Stream ids ran out on this connection: nothing was sent, another connection takes it.
    failed_ = true;
    refused_ = true;
    session_.going_away_ = true;
    errno = ECONNREFUSED;
    return false;
  }
  id_ = id;
  session_.by_id_[id] = this;
  session_.pool_.stats_.add(Counter::UpstreamH2Streams);
  return true;
}

void H2StreamChannel::resumeReading() {
  if (!paused_) return;
  paused_ = false;
  if (unconsumed_ > 0) {
    session_.consume(*this);
    session_.sendPending();
  }
}

// ---- The session ---------------------------------------------------------------------------

H2UpstreamSession::H2UpstreamSession(UpstreamPool& pool, EndpointPool& ep,
                                     std::unique_ptr<core::Stream> stream, bool tls,
                                     uint64_t tls_settings)
    : pool_(pool),
      ep_(ep),
      stream_(std::move(stream)),
      tls_(tls),
      tls_settings_(tls_settings),
      idle_timer_(pool.loop_, [this] { onIdleTimer(); }),
      ping_timer_(pool.loop_, [this] { onPingTimer(); }) {
  stream_->setHandler(this);
  // One connection carries every request's response: read it in large bites, as the
  // syscalls (and, on loopback, the peer's sending they trigger) are per read.
  stream_->setReadSize(kReadSize);
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_header_callback(cbs, onHeaderCb);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, onFrameRecvCb);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, onDataChunkCb);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, onStreamCloseCb);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, onFrameNotSendCb);
  nghttp2_session_callbacks_set_send_callback(cbs, sendCb);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  // Windows open as the Exchange reads (consume), not as bytes arrive.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_session_client_new2(&session_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
}

H2UpstreamSession::~H2UpstreamSession() {
  nghttp2_session_del(session_);
}

bool H2UpstreamSession::start() {
  pool_.stats_.add(Counter::UpstreamH2Connections);
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
  };
  if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0 ||
      nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow) !=
          0) {
    fail("settings");
    return false;
  }
  if (!stream_->input().empty()) onData(*stream_);  // the server's preface came with TLS's end
  maybeIdle();
  sendNow();
  return !closed_;
}

bool H2UpstreamSession::canTake() const {
  if (closed_ || going_away_) return false;
  uint32_t max =
      nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  return channels_.size() < std::min<uint32_t>(max, 1u << 16);
}

std::unique_ptr<H2StreamChannel> H2UpstreamSession::open(UpstreamConn& lease) {
  auto ch = std::make_unique<H2StreamChannel>(*this, lease);
  channels_.push_back(ch.get());
  idle_timer_.cancel();
  ping_timer_.cancel();
  ping_outstanding_ = false;
  return ch;
}

void H2UpstreamSession::release(H2StreamChannel& ch) {
  ch.released_ = true;
  std::erase(channels_, &ch);
  if (ch.queued_) {
    ch.queued_ = false;
    std::erase(pending_, &ch);
  }
  if (ch.id_ != 0) {
    by_id_.erase(ch.id_);
    if (!ch.closed_ && !closed_) {
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, ch.id_, NGHTTP2_CANCEL);
      pool_.stats_.add(Counter::UpstreamH2Cancels);
    }
    // What it received and never read still counts against the connection's window.
    if (ch.unconsumed_ > 0 && !closed_)
      nghttp2_session_consume_connection(session_, ch.unconsumed_);
    ch.unconsumed_ = 0;
  }
  if (closed_) {
    maybeDelete();
    return;
  }
  sendPending();
  maybeIdle();
}

void H2UpstreamSession::drain() {
  going_away_ = true;
  maybeIdle();
}

H2StreamChannel* H2UpstreamSession::find(int32_t id) {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

// ---- Frames in -----------------------------------------------------------------------------

void H2UpstreamSession::onData(core::Stream&) {
  if (closed_) return;
  core::Buffer& in = stream_->input();
  while (!in.empty()) {
    std::string_view f = in.front();
    ssize_t n =
        nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(f.data()), f.size());
    if (n < 0) {
      pool_.stats_.add(Counter::UpstreamProtocolErrors);
      logDebug("upstream %s: h2: %s", ep_.address.text.c_str(),
               nghttp2_strerror(static_cast<int>(n)));
      in.clear();
      fail("protocol error");
      return;
    }
    in.drain(static_cast<size_t>(n));
  }
  dispatch();
  if (closed_) return;
  sendNow();
}

int H2UpstreamSession::onHeader(const nghttp2_frame* frame, std::string_view name,
                                std::string_view value) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  H2StreamChannel* ch = find(frame->hd.stream_id);
  if (ch != nullptr && ch->resp_) ch->resp_->field(name, value);
  return 0;
}

int H2UpstreamSession::onFrameRecv(const nghttp2_frame* frame) {
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      H2StreamChannel* ch = find(frame->hd.stream_id);
      if (ch == nullptr || !ch->resp_) return 0;
      bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
      if (!ch->resp_->endHeaders(end, ch->in_)) {
        nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, ch->id_, NGHTTP2_PROTOCOL_ERROR);
        pool_.stats_.add(Counter::UpstreamProtocolErrors);
        ch->failed_ = true;
        ch->ev_error_ = true;
        queue(*ch);
        return 0;
      }
      ch->ev_data_ = true;
      queue(*ch);
      return 0;
    }
    case NGHTTP2_DATA: {
      H2StreamChannel* ch = find(frame->hd.stream_id);
      if (ch != nullptr && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 && ch->resp_) {
        ch->resp_->end(ch->in_);
        ch->ev_data_ = true;
        queue(*ch);
      }
      return 0;
    }
    case NGHTTP2_GOAWAY:
      // Streams above last_stream_id were not processed: nghttp2 closes them with
      // REFUSED_STREAM, and their requests go again on another connection.
      pool_.stats_.add(Counter::UpstreamH2Goaways);
      going_away_ = true;
      goaway_last_id_ = frame->goaway.last_stream_id;
      logDebug("upstream %s: GOAWAY (last stream %d, error %u)", ep_.address.text.c_str(),
               frame->goaway.last_stream_id, frame->goaway.error_code);
      return 0;
    case NGHTTP2_PING:
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) != 0) ping_outstanding_ = false;
      return 0;
    default:
      return 0;
  }
}

int H2UpstreamSession::onDataChunk(int32_t id, const uint8_t* data, size_t len) {
  H2StreamChannel* ch = find(id);
  if (ch == nullptr || !ch->resp_) {
    nghttp2_session_consume_connection(session_, len);  // released already: dropped
    return 0;
  }
  ch->resp_->data(data, len, ch->in_);
  ch->unconsumed_ += len;
  ch->ev_data_ = true;
  queue(*ch);
  return 0;
}

int H2UpstreamSession::onStreamClose(int32_t id, uint32_t error_code) {
  H2StreamChannel* ch = find(id);
  if (ch == nullptr) return 0;
  ch->closed_ = true;
  if (ch->resp_ && ch->resp_->complete()) return 0;
  // Not processed: refused outright, or above the GOAWAY's last stream id, with no response
  // byte (nghttp2 reports both as REFUSED_STREAM).
  ch->refused_ = error_code == NGHTTP2_REFUSED_STREAM && !(ch->resp_ && ch->resp_->headDone());
  if (ch->refused_) pool_.stats_.add(Counter::UpstreamH2Refused);
  ch->failed_ = true;
  ch->ev_error_ = true;
  queue(*ch);
  return 0;
}

int H2UpstreamSession::onFrameNotSent(const nghttp2_frame* frame, int lib_error) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  H2StreamChannel* ch = find(frame->hd.stream_id);
  if (ch == nullptr || ch->failed_) return 0;
  // The request never left (a GOAWAY came first): nothing to undo, send it elsewhere.
  logDebug("upstream %s: h2 request not sent: %s", ep_.address.text.c_str(),
           nghttp2_strerror(lib_error));
  ch->refused_ = true;
  ch->failed_ = true;
  ch->ev_error_ = true;
  queue(*ch);
  pool_.stats_.add(Counter::UpstreamH2Refused);
  return 0;
}

// ---- Frames out ----------------------------------------------------------------------------

ssize_t H2UpstreamSession::onSend(const uint8_t* data, size_t len) {
  if (stream_->output().size() >= kOutputHighWatermark) return NGHTTP2_ERR_WOULDBLOCK;
  stream_->output().append(data, len);
  return static_cast<ssize_t>(len);
}

ssize_t H2UpstreamSession::onReadBody(int32_t id, uint8_t* buf, size_t length, uint32_t* flags) {
  H2StreamChannel* ch = find(id);
  if (ch == nullptr || !ch->body_) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  int64_t n = ch->body_->read(ch->out_, buf, length);
  if (n < 0) {
    ch->failed_ = true;
    ch->ev_error_ = true;
    queue(*ch);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets the stream
  }
  if (ch->body_->ended()) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!ch->body_->trailers().empty()) {
      h2::FieldList& fields = h2::scratchFields();
      fields.clear();
      http1::forEachTrailer(ch->body_->trailers(),
                            [&fields](std::string_view name, std::string_view value) {
                              fields.addLowered(name, value);
                            });
      std::vector<nghttp2_nv>& nva = fields.nva();
      if (!nva.empty() && nghttp2_submit_trailer(session_, id, nva.data(), nva.size()) == 0)
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
    return n;
  }
  if (n == 0) {
    ch->deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return n;
}

void H2UpstreamSession::sendPending() {
  if (closed_ || sending_) return;
  pool_.loop_.defer(*this);
}

void H2UpstreamSession::sendNow() {
  if (closed_ || sending_) return;
  sending_ = true;
  int rv = nghttp2_session_send(session_);
  sending_ = false;
  if (rv != 0) {
    logDebug("upstream %s: h2 send: %s", ep_.address.text.c_str(), nghttp2_strerror(rv));
    fail("send");
    return;
  }
  if (!stream_->flush()) {
    fail("write");
    return;
  }
  noteDrains();
  dispatch();
  if (closed_) return;
  if (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0) {
    fail("session over");  // GOAWAY both ways and every stream done
    return;
  }
  maybeIdle();
}

// Channels whose body bytes nghttp2 took: their users may send more.
void H2UpstreamSession::noteDrains() {
  for (H2StreamChannel* ch : channels_) {
    if (ch->want_drain_ && ch->out_.size() <= ch->low_watermark_) {
      ch->want_drain_ = false;
      ch->ev_drained_ = true;
      queue(*ch);
    }
  }
}

void H2UpstreamSession::onDrained(core::Stream&) {
  sendNow();
}

void H2UpstreamSession::consume(H2StreamChannel& ch) {
  if (ch.unconsumed_ == 0 || closed_) return;
  if (ch.closed_)
    nghttp2_session_consume_connection(session_, ch.unconsumed_);
  else
    nghttp2_session_consume(session_, ch.id_, ch.unconsumed_);
  ch.unconsumed_ = 0;
}

void H2UpstreamSession::queue(H2StreamChannel& ch) {
  if (ch.queued_ || ch.released_) return;
  ch.queued_ = true;
  pending_.push_back(&ch);
}

// Tells each user what happened to its stream. A user may release its stream (or others', by
// ending an exchange that held a hedge) while being told: a released channel lives on until
// the loop reaps its lease, after this callback, and is skipped.
void H2UpstreamSession::dispatch() {
  if (dispatching_) return;
  dispatching_ = true;
  std::vector<H2StreamChannel*> todo;
  while (!pending_.empty()) {
    todo.clear();
    todo.swap(pending_);
    for (H2StreamChannel* ch : todo) {
      if (ch->released_) continue;
      ch->queued_ = false;
      UpstreamConn& lease = ch->lease_;
      if (ch->ev_error_) {
        ch->ev_error_ = ch->ev_data_ = ch->ev_drained_ = false;
        // Whatever arrived before the failure is delivered first (a response may be whole).
        if (!ch->in_.empty() && lease.user_ != nullptr) lease.user_->onUpstreamData(lease);
        if (ch->released_) continue;
        if (lease.user_ != nullptr)
          lease.user_->onUpstreamError(lease, ch->refused_ ? ECONNREFUSED : ECONNRESET);
        continue;
      }
      if (ch->ev_data_) {
        ch->ev_data_ = false;
        if (lease.user_ != nullptr) lease.user_->onUpstreamData(lease);
        if (ch->released_) continue;
        if (!ch->paused_) consume(*ch);
      }
      if (ch->ev_drained_) {
        ch->ev_drained_ = false;
        if (lease.user_ != nullptr) lease.user_->onUpstreamDrained(lease);
      }
    }
  }
  // pending_'s buffer went to todo: give it back, so the next queue() does not allocate.
  todo.clear();
  if (pending_.empty()) pending_.swap(todo);
  dispatching_ = false;
  if (!closed_ && nghttp2_session_want_write(session_) != 0) sendPending();
}

// ---- Ends ----------------------------------------------------------------------------------

// The connection is unusable: every stream still lent fails (refused when it cannot have been
// processed), and the pool forgets the session.
void H2UpstreamSession::fail(const char* why) {
  if (closed_) return;
  closed_ = true;
  logDebug("upstream %s: h2 connection closed: %s", ep_.address.text.c_str(), why);
  pool_.loop_.cancelDeferred(*this);
  idle_timer_.cancel();
  ping_timer_.cancel();
  stream_->pauseReading();
  for (H2StreamChannel* ch : channels_) {
    if (ch->failed_ || (ch->resp_ && ch->resp_->complete())) continue;
    ch->failed_ = true;
    ch->ev_error_ = true;
    queue(*ch);
    ch->refused_ = ch->id_ == 0 || ch->id_ > goaway_last_id_;
    if (ch->refused_) pool_.stats_.add(Counter::UpstreamH2Refused);
  }
  pool_.sessionClosed(this);
  dispatching_ = false;
  dispatch();
  maybeDelete();
}

// Gone from the pool already; freed once no lease refers to it.
void H2UpstreamSession::maybeDelete() {
  if (!closed_ || !channels_.empty() || deleted_) return;
  deleted_ = true;
  pool_.loop_.deleteLater(this);
}

void H2UpstreamSession::onEof(core::Stream&) {
  fail("closed by the upstream");
}

void H2UpstreamSession::onError(core::Stream&, int err) {
  logDebug("upstream %s: h2 connection: %s", ep_.address.text.c_str(), strerror(err));
  fail("error");
}

// No stream open: close after the pool's idle timeout, and meanwhile check the peer with PING.
void H2UpstreamSession::maybeIdle() {
  if (closed_ || !channels_.empty()) return;
  if (going_away_) {
    fail("drained");
    return;
  }
  if (!idle_timer_.armed()) idle_timer_.arm(ep_.limits.idle_timeout);
  if (!ping_timer_.armed()) ping_timer_.arm(ep_.limits.h2_ping_interval);
}

void H2UpstreamSession::onIdleTimer() {
  if (!channels_.empty()) return;
  nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
  sendNow();
  fail("idle");
}

void H2UpstreamSession::onPingTimer() {
  if (closed_ || !channels_.empty()) return;
  if (ping_outstanding_) {
    pool_.stats_.add(Counter::UpstreamH2PingTimeouts);
    fail("no PING ACK");
    return;
  }
  ping_outstanding_ = true;
  nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
  sendNow();
  if (!closed_) ping_timer_.arm(ep_.limits.h2_ping_interval);
}

}  // namespace meridian::proxy
