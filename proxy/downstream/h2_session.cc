// H2Session: the connection side of HTTP/2 (frames in and out through nghttp2, protections,
// GOAWAY). Streams and the request-header checks are in h2_stream.cc.
#include "proxy/downstream/h2_session.h"

#include "proxy/downstream/h2_memory.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>

#include "core/log.h"
#include "proxy/downstream/early_answer.h"
#include "proxy/exchange/exchange.h"
#include "proxy/http/h2_fields.h"

namespace meridian::proxy {

namespace {

// Flow-control window of the connection as a whole. Connection-level window is given back as
// soon as bytes arrive (each stream's own window bounds what it buffers), so this only
// limits bytes in flight across streams.
constexpr int32_t kConnectionWindow = 1 << 24;
// After our GOAWAY for a closing connection, how long the client gets to read it.
constexpr core::Millis kCloseGrace{1000};

H2Session* self(void* user_data) {
  return static_cast<H2Session*>(user_data);
}

int onBeginHeadersCb(nghttp2_session*, const nghttp2_frame* frame, void* ud) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  return self(ud)->onBeginHeaders(frame->hd.stream_id);
}

int onHeaderCb(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
               const uint8_t* value, size_t valuelen, uint8_t, void* ud) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  return self(ud)->onHeader(frame->hd.stream_id, {reinterpret_cast<const char*>(name), namelen},
                            {reinterpret_cast<const char*>(value), valuelen});
}

int onFrameRecvCb(nghttp2_session*, const nghttp2_frame* frame, void* ud) {
  uint32_t code = frame->hd.type == NGHTTP2_RST_STREAM ? frame->rst_stream.error_code : 0;
  return self(ud)->onFrameRecv(frame->hd.stream_id, frame->hd.type, frame->hd.flags, code);
}

int onInvalidFrameCb(nghttp2_session*, const nghttp2_frame* frame, int lib_error, void* ud) {
  return self(ud)->onInvalidFrame(frame->hd.stream_id, frame->hd.type, lib_error);
}

int onDataChunkCb(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
                  void* ud) {
  return self(ud)->onDataChunk(stream_id, data, len);
}

int onStreamCloseCb(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* ud) {
  return self(ud)->onStreamClose(stream_id, error_code);
}

int onFrameSendCb(nghttp2_session*, const nghttp2_frame* frame, void* ud) {
  return self(ud)->onFrameSent(frame->hd.stream_id, frame->hd.type, frame->hd.flags);
}

ssize_t sendCb(nghttp2_session*, const uint8_t* data, size_t len, int, void* ud) {
  return self(ud)->onSend(data, len);
}

int sendDataCb(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd, size_t length,
               nghttp2_data_source*, void* ud) {
  return self(ud)->onSendData(frame->hd.stream_id, framehd, length, frame->data.padlen);
}

ssize_t readResponseCb(nghttp2_session*, int32_t stream_id, uint8_t*, size_t length,
                       uint32_t* data_flags, nghttp2_data_source*, void* ud) {
  return self(ud)->onReadResponse(stream_id, length, data_flags);
}

// 16 random bytes, base64: the Sec-WebSocket-Key an HTTP/1.1 upstream expects.
std::string websocketKey(DownstreamHost& worker) {
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  uint8_t raw[18] = {};
  uint64_t a = worker.random(), b = worker.random();
  for (int i = 0; i < 8; ++i) {
    raw[i] = static_cast<uint8_t>(a >> (i * 8));
    raw[8 + i] = static_cast<uint8_t>(b >> (i * 8));
  }
  std::string out;
  for (int i = 0; i < 18; i += 3) {
    uint32_t v = (raw[i] << 16) | (raw[i + 1] << 8) | raw[i + 2];
    for (int k = 3; k >= 0; --k) out += kB64[(v >> (k * 6)) & 63];
  }
  out.resize(22);
  return out + "==";
}

}  // namespace

H2Session::H2Session(DownstreamHost& worker, core::Stream& stream, const ListenSocket& listener,
                     const routing::IpAddress& peer, std::string_view client_ip,
                     std::function<void()> on_finished)
    : worker_(worker),
      stream_(stream),
      listener_(listener),
      peer_(peer),
      client_ip_(client_ip),
      on_finished_(std::move(on_finished)) {
  const config::Limits& limits = worker.snapshot()->config->limits;
  max_header_bytes_ = limits.max_header_bytes;
  max_headers_ = static_cast<size_t>(limits.max_headers);
  max_streams_ = static_cast<uint32_t>(limits.http2_max_concurrent_streams);
  max_resets_ = static_cast<uint32_t>(limits.http2_max_resets_per_second);
  settings_timeout_ = limits.http2_settings_timeout;
  idle_timeout_ = limits.keepalive_timeout;
  body_wait_timeout_ = limits.header_timeout;
  output_high_watermark_ = limits.buffer_per_direction;

  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, onBeginHeadersCb);
  nghttp2_session_callbacks_set_on_header_callback(cbs, onHeaderCb);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, onFrameRecvCb);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, onInvalidFrameCb);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, onDataChunkCb);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, onStreamCloseCb);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, onFrameSendCb);
  nghttp2_session_callbacks_set_send_callback(cbs, sendCb);
  nghttp2_session_callbacks_set_send_data_callback(cbs, sendDataCb);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  // Window goes back to the client only as exchanges take its bytes (back-pressure).
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_deflate_dynamic_table_size(opt, limits.http2_header_table_size);
  nghttp2_option_set_max_continuations(opt, static_cast<size_t>(limits.http2_max_continuations));
  nghttp2_session_server_new3(&session_, cbs, this, opt, memory_.mem());
  memory_.markFrameBuffer();
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
}

H2Session::~H2Session() {
  worker_.deadlines().cancel(*this);
  worker_.loop().cancelDeferred(*this);
  streams_.clear();
  nghttp2_session_del(session_);
}

bool H2Session::start() {
  worker_.stats().add(Counter::H2Connections);
  const config::Limits& limits = worker_.snapshot()->config->limits;
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, max_streams_},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kStreamWindow)},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(max_header_bytes_)},
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, static_cast<uint32_t>(limits.http2_header_table_size)},
      {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
  };
  if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0 ||
      nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow) != 0)
    return false;
  settings_deadline_ = core::monotonicMillis() + settings_timeout_.count();
  scheduleDeadline();
  starting_ = true;
  if (!stream_.input().empty())
    onData();
  else
    sendPending();
  starting_ = false;
  return !finished_;
}

H2Stream* H2Session::find(int32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

// ---- Frames in -----------------------------------------------------------------------------

void H2Session::onData() {
  if (finished_ || failed_) return;
  core::Buffer& in = stream_.input();
  receiving_ = true;
  while (!in.empty()) {
    std::string_view f = in.front();
    ssize_t n =
        nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(f.data()), f.size());
    if (n < 0) {
      // Fatal for the connection: nghttp2 has queued its GOAWAY where the protocol has one.
      // A flood (CONTINUATION frames; SETTINGS or PING whose ACKs the client does not read)
      // is abuse of well-formed frames, not a protocol error: ENHANCE_YOUR_CALM says so.
      bool flood = n == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS || n == NGHTTP2_ERR_FLOODED;
      worker_.stats().add(n == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS ? Counter::H2ContinuationFloods
                          : n == NGHTTP2_ERR_FLOODED              ? Counter::H2Floods
                                                                  : Counter::H2ProtocolErrors);
      logDebug("client %s: h2: %s", client_ip_.c_str(), nghttp2_strerror(static_cast<int>(n)));
      in.clear();
      receiving_ = false;
      closeWith(flood ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
      return;
    }
    in.drain(static_cast<size_t>(n));
  }
  receiving_ = false;
  sendPending();
}

int H2Session::onBeginHeaders(int32_t stream_id) {
  auto s = std::make_unique<H2Stream>(*this, stream_id);
  s->builder_ = std::make_unique<h2::RequestBuilder>(max_header_bytes_, max_headers_);
  streams_[stream_id] = std::move(s);
  scheduleDeadline();
  return 0;
}

int H2Session::onHeader(int32_t stream_id, std::string_view name, std::string_view value) {
  H2Stream* s = find(stream_id);
  if (s == nullptr) return 0;
  if (s->builder_) {
    s->builder_->add(name, value);
    return 0;
  }
  // A trailer block (nghttp2 has checked its names and values, and that it ends the stream).
  // It goes upstream in the last chunk of a chunked body, so it is kept as HTTP/1 lines,
  // within the same limit as a header block; a larger one resets the stream.
  if (s->request_trailers_.size() + name.size() + value.size() + 4 > max_header_bytes_)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  s->request_trailers_.append(name).append(": ").append(value).append("\r\n");
  return 0;
}

int H2Session::onFrameRecv(int32_t stream_id, uint8_t type, uint8_t flags, uint32_t) {
  switch (type) {
    case NGHTTP2_HEADERS: {
      H2Stream* s = find(stream_id);
      if (s == nullptr) return 0;
      if (s->builder_)
        headersDone(*s, flags & NGHTTP2_FLAG_END_STREAM);
      else if (flags & NGHTTP2_FLAG_END_STREAM)
        inputEnded(*s);  // trailers end the body
      return 0;
    }
    case NGHTTP2_DATA:
      if (flags & NGHTTP2_FLAG_END_STREAM) {
        if (H2Stream* s = find(stream_id)) inputEnded(*s);
      }
      return 0;
    case NGHTTP2_SETTINGS:
      if ((flags & NGHTTP2_FLAG_ACK) && !settings_acked_) {
        settings_acked_ = true;
        scheduleDeadline();
      }
      return 0;
    case NGHTTP2_RST_STREAM:
      countReset(find(stream_id));
      return 0;
    default:
      return 0;
  }
}

int H2Session::onInvalidFrame(int32_t stream_id, uint8_t type, int lib_error) {
  if (type != NGHTTP2_HEADERS) {
    worker_.stats().add(Counter::H2ProtocolErrors);
    return 0;
  }
  // A request refused for our stream limit, or one nghttp2 found malformed: both are streams
  // reset because of the client, which is what a rapid-reset attacker provokes too.
  if (lib_error == NGHTTP2_ERR_REFUSED_STREAM || streams_.size() >= max_streams_)
    worker_.stats().add(Counter::H2StreamsRefused);
  else
    worker_.stats().add(Counter::BadRequest);
  logDebug("client %s: h2 stream %d refused: %s", client_ip_.c_str(), stream_id,
           nghttp2_strerror(lib_error));
  countReset(find(stream_id));
  return 0;
}

void H2Session::headersDone(H2Stream& s, bool end_stream) {
  std::unique_ptr<h2::RequestBuilder> builder = std::move(s.builder_);
  std::string bytes;
  http1::RequestHead& head = worker_.scratchHead();
  h2::RequestBuilder::Result r = builder->finish(end_stream, websocketKey(worker_), bytes, head);
  s.input_ended_ = end_stream;
  if (r != h2::RequestBuilder::Result::Ok) {
    logDebug("client %s: h2 stream %d: %s", client_ip_.c_str(), s.id_, builder->why());
    s.rejected_ = true;
    if (r == h2::RequestBuilder::Result::TooLarge) {
      worker_.stats().add(Counter::HeaderTooLarge);
      answerEarly(s, 431, "header_too_large", nullptr, 0);
    } else {
      worker_.stats().add(Counter::BadRequest);
      resetStream(s, NGHTTP2_PROTOCOL_ERROR);
    }
    return;
  }
  if (head.method == "CONNECT" && !head.upgrade) {
    s.rejected_ = true;
    worker_.stats().add(Counter::BadRequest);
    answerEarly(s, 405, "method_not_allowed", &head, bytes.size());
    return;
  }
  if (!head.upgrade && !end_stream &&
      (head.framing == http1::Framing::ContentLength || head.framing == http1::Framing::None)) {
    s.has_content_length_ = true;  // DATA must add up to it
    s.content_length_ = head.content_length;
  }
  s.tunnel_ = head.upgrade;
  if (s.tunnel_) s.input_ended_ = false;
  // A client waiting for 100-continue sends no body until the request is upstream, and one
  // over max_body_bytes is answered 413 by the exchange at once.
  uint64_t max_body = worker_.snapshot()->config->limits.max_body_bytes;
  bool waits = s.has_content_length_ && s.content_length_ > 0 &&
               (max_body == 0 || s.content_length_ <= max_body) &&
               http1::findHeader(head.headers, "expect").empty();
  if (waits) {
    s.pending_ = std::make_unique<H2Stream::PendingStart>();
    s.pending_->bytes = std::move(bytes);  // a whole head: never short enough to move inline
    s.pending_->head = head;
    s.pending_->deadline = core::monotonicMillis() + body_wait_timeout_.count();
    ++pending_starts_;
    scheduleDeadline();
    return;
  }
  startExchange(s, std::move(bytes), head);
}

void H2Session::startExchange(H2Stream& s, std::string bytes, const http1::RequestHead& head) {
  s.exchange_ = std::make_unique<Exchange>(s, worker_, std::move(bytes), head);
  s.exchange_->start();
}

// A stream answered before it has an exchange: counted and logged as every answered request.
void H2Session::answerEarly(H2Stream& s, int status, const char* code,
                            const http1::RequestHead* head, uint64_t bytes_in) {
  worker_.stats().countStatus(status);
  (void)s.writeErrorResponse(status, code, false, false);  // no exchange to tell
  EarlyAnswer a;
  a.client_ip = client_ip_;
  a.protocol = "HTTP/2";
  a.head = head;
  a.status = status;
  a.bytes_in = bytes_in;
  a.bytes_out = s.output_.size();  // the body; HPACK-coded heads are not counted, as elsewhere
  recordEarlyAnswer(worker_, a);
}

// The body a PendingStart waited for is here (whole, or enough of it): the request starts,
// with those bytes already in the stream's input.
void H2Session::startPending(H2Stream& s) {
  std::unique_ptr<H2Stream::PendingStart> p = std::move(s.pending_);
  --pending_starts_;
  scheduleDeadline();
  startExchange(s, std::move(p->bytes), p->head);
}

void H2Session::dropPending(H2Stream& s) {
  if (!s.pending_) return;
  s.pending_.reset();
  --pending_starts_;
  s.input_.clear();
}

// Streams whose body did not come within limits.header_timeout: 408, as for a slow head.
void H2Session::expirePending() {
  int64_t now = core::monotonicMillis();
  std::vector<H2Stream*> late;
  for (const auto& [id, s] : streams_) {
    if (s->pending_ && s->pending_->deadline <= now) late.push_back(s.get());
  }
  for (H2Stream* s : late) {
    dropPending(*s);
    s->rejected_ = true;
    worker_.stats().countStatus(408);
    (void)s->writeErrorResponse(408, "client_timeout", false, false);
  }
}

int H2Session::onDataChunk(int32_t stream_id, const uint8_t* data, size_t len) {
  // The connection's window goes back at once: each stream's own window bounds its buffer.
  nghttp2_session_consume_connection(session_, len);
  H2Stream* s = find(stream_id);
  if (s == nullptr) return 0;
  s->received_ += len;
  if (s->has_content_length_ && s->received_ > s->content_length_) {
    worker_.stats().add(Counter::BadRequest);
    resetStream(*s, NGHTTP2_PROTOCOL_ERROR);
    return 0;
  }
  if (s->pending_) {
    s->input_.append(data, len);
    s->unconsumed_ += len;
    if (s->received_ >= kBodyBeforeStart) startPending(*s);
    if (s->exchange_) s->grantWindow();
    return 0;
  }
  if (!s->exchange_) {
    nghttp2_session_consume_stream(session_, stream_id, len);  // answered already: dropped
    return 0;
  }
  s->input_.append(data, len);
  s->unconsumed_ += len;
  s->exchange_->onDownstreamData();
  s->grantWindow();
  return 0;
}

void H2Session::inputEnded(H2Stream& s) {
  s.input_ended_ = true;
  if (s.has_content_length_ && s.received_ != s.content_length_) {
    worker_.stats().add(Counter::BadRequest);
    resetStream(s, NGHTTP2_PROTOCOL_ERROR);
    return;
  }
  if (s.pending_) {
    startPending(s);  // the whole body is in input_; the exchange reads it from there
    return;
  }
  if (!s.exchange_) return;
  if (s.tunnel_)
    s.exchange_->onDownstreamEof();
  else
    s.exchange_->onDownstreamData();
  s.grantWindow();
}

int H2Session::onStreamClose(int32_t stream_id, uint32_t error_code) {
  H2Stream* s = find(stream_id);
  if (s == nullptr) return 0;
  s->closed_ = true;
  // Reset by anyone (the client, nghttp2's own checks, us): one more toward the limit.
  if (error_code != NGHTTP2_NO_ERROR) countReset(s);
  dropPending(*s);
  // Closed before its exchange finished: the client reset it (or the connection is going),
  // and the exchange cancels its upstream request. After our last frame went out the close
  // is the natural end: the exchange, still on its way to exchangeDone(), is left alone.
  bool natural = error_code == NGHTTP2_NO_ERROR && s->output_ended_;
  if (s->exchange_ && !natural) s->exchange_->onDownstreamGone();
  if (find(stream_id) == s && !s->exchange_) releaseStream(stream_id);
  return 0;
}

// Forgets a closed stream whose exchange is over.
void H2Session::releaseStream(int32_t stream_id) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end() || !it->second->closed_ || it->second->exchange_) return;
  worker_.loop().deleteLater(it->second.release());
  streams_.erase(it);
  scheduleDeadline();
}

// CVE-2023-44487: a client that opens and resets streams costs us a request each time while
// never counting against the concurrent-stream limit. Past the limit the connection goes.
void H2Session::countReset(H2Stream* s) {
  if (s != nullptr) {
    if (s->reset_counted_) return;
    s->reset_counted_ = true;
  }
  int64_t now = core::monotonicMillis();
  if (now - reset_window_start_ >= 1000) {
    reset_window_start_ = now;
    resets_in_window_ = 0;
  }
  if (++resets_in_window_ <= max_resets_ || closing_) return;
  worker_.stats().add(Counter::H2RapidResets);
  logWarn("client %s: h2: %u streams reset within 1s: closing", client_ip_.c_str(),
          resets_in_window_);
  closeWith(NGHTTP2_ENHANCE_YOUR_CALM);
}

void H2Session::resetStream(H2Stream& s, uint32_t code) {
  if (s.reset_) return;
  s.reset_ = true;
  if (code != NGHTTP2_NO_ERROR) countReset(&s);
  dropPending(s);
  if (!s.closed_) nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id_, code);
  if (s.exchange_) s.exchange_->onDownstreamGone();  // answers with exchangeAborted()
  sendPending();
}

// ---- Frames out ----------------------------------------------------------------------------

void H2Session::submitResponse(H2Stream& s, h2::FieldList& fields, bool has_body) {
  std::vector<nghttp2_nv>& nva = fields.nva();
  nghttp2_data_provider prd{};
  prd.read_callback = readResponseCb;
  int rv =
      nghttp2_submit_response(session_, s.id_, nva.data(), nva.size(), has_body ? &prd : nullptr);
  if (rv != 0) logDebug("h2 stream %d: response not sent: %s", s.id_, nghttp2_strerror(rv));
  sendPending();
}

void H2Session::submitHeaders(int32_t id, h2::FieldList& fields, bool end_stream) {
  std::vector<nghttp2_nv>& nva = fields.nva();
  nghttp2_submit_headers(session_, end_stream ? NGHTTP2_FLAG_END_STREAM : NGHTTP2_FLAG_NONE, id,
                         nullptr, nva.data(), nva.size(), nullptr);
  sendPending();
}

void H2Session::submitTrailers(int32_t id, h2::FieldList& fields) {
  std::vector<nghttp2_nv>& nva = fields.nva();
  int rv = nghttp2_submit_trailer(session_, id, nva.data(), nva.size());
  if (rv != 0) logDebug("h2 stream %d: trailers not sent: %s", id, nghttp2_strerror(rv));
  sendPending();
}

void H2Session::resumeData(int32_t id) {
  nghttp2_session_resume_data(session_, id);
}

void H2Session::consume(int32_t stream_id, size_t n) {
  nghttp2_session_consume_stream(session_, stream_id, n);
}

long H2Session::onReadResponse(int32_t stream_id, size_t max, uint32_t* flags) {
  H2Stream* s = find(stream_id);
  if (s == nullptr) return NGHTTP2_ERR_DEFERRED;
  return s->readResponse(max, flags);
}

long H2Session::onSend(const uint8_t* data, size_t len) {
  if (stream_.output().size() >= output_high_watermark_) return NGHTTP2_ERR_WOULDBLOCK;
  stream_.output().append(data, len);
  appended_ += len;
  frame_pages_in_use_ = true;  // `data` was packed in nghttp2's frame buffer
  return static_cast<long>(len);
}

// DATA payloads move from the stream's response buffer to the socket's without a copy.
int H2Session::onSendData(int32_t stream_id, const uint8_t* frame_head, size_t length,
                          size_t padlen) {
  if (stream_.output().size() >= output_high_watermark_) return NGHTTP2_ERR_WOULDBLOCK;
  H2Stream* s = find(stream_id);
  if (s == nullptr || s->output_.size() < length) return NGHTTP2_ERR_CALLBACK_FAILURE;
  core::Buffer& out = stream_.output();
  out.append(frame_head, 9);
  if (padlen > 0) {
    uint8_t pad_len = static_cast<uint8_t>(padlen - 1);
    out.append(&pad_len, 1);
  }
  out.moveFrom(s->output_, length);
  appended_ += 9 + length;
  if (padlen > 1) out.append(std::string(padlen - 1, '\0'));
  bool drained = s->was_high_ && s->exchange_ && s->output_.size() <= s->exchange_->lowWatermark();
  if (drained || (s->tunnel_ && s->output_.empty())) {
    s->was_high_ = false;
    drained_.push_back(stream_id);
  }
  return 0;
}

int H2Session::onFrameSent(int32_t stream_id, uint8_t type, uint8_t flags) {
  if ((type != NGHTTP2_HEADERS && type != NGHTTP2_DATA) || !(flags & NGHTTP2_FLAG_END_STREAM))
    return 0;
  // The response is complete but the client is still sending: tell it to stop (RFC 9113 8.1).
  H2Stream* s = find(stream_id);
  if (s != nullptr && !s->input_ended_ && !s->reset_) {
    s->reset_ = true;
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_NO_ERROR);
  }
  return 0;
}

void H2Session::sendPending() {
  if (finished_) return;
  if (sending_) {
    want_send_ = true;
    return;
  }
  worker_.loop().defer(*this);  // failed_: sendNow finishes the session, from the loop
}

void H2Session::sendNow() {
  if (finished_) return;
  if (failed_) {
    checkFinished();
    return;
  }
  sending_ = true;
  bool again = false;
  int rounds_without_progress = 0;
  do {
    want_send_ = false;
    uint64_t appended = appended_;
    int rv = nghttp2_session_send(session_);
    if (rv != 0) {
      logDebug("client %s: h2 send: %s", client_ip_.c_str(), nghttp2_strerror(rv));
      failed_ = true;
      break;
    }
    if (!stream_.flush()) {
      failed_ = true;
      break;
    }
    notifyDrained();
    // nghttp2 stops at our output limit (WOULDBLOCK), possibly before writing anything when
    // the output was full as we came in. If the socket then took everything at once, no drain
    // event will come: go on while frames are waiting. A second round in a row that adds
    // nothing while there is room means nghttp2 is not waiting for us: stop.
    rounds_without_progress = appended_ != appended ? 0 : rounds_without_progress + 1;
    again =
        want_send_ || (nghttp2_session_want_write(session_) != 0 && rounds_without_progress < 2);
  } while (again && !failed_ && stream_.output().size() < output_high_watermark_);
  sending_ = false;
  // A client that does not read its responses gets no more requests read either.
  if (stream_.output().size() >= output_high_watermark_) {
    stream_.pauseReading();
    read_paused_ = true;
  } else if (read_paused_) {
    stream_.resumeReading();
    read_paused_ = false;
  }
  // A connection with nothing in flight gives its socket buffers (and, over TLS, OpenSSL's
  // record buffers) back, as an idle HTTP/1.1 connection does: browsers hold HTTP/2
  // connections open between pages, so this is what most connections of an edge look like.
  if (!failed_ && streams_.empty() && !stream_.writePending() && stream_.input().empty() &&
      nghttp2_session_want_write(session_) == 0) {
    stream_.releaseBuffers();
  }
  checkFinished();
}

void H2Session::notifyDrained() {
  if (drained_.empty()) return;
  std::vector<int32_t> ids;
  ids.swap(drained_);
  for (int32_t id : ids) {
    H2Stream* s = find(id);
    if (s != nullptr && s->exchange_) s->exchange_->onDownstreamDrained();
  }
}

void H2Session::onDrained() {
  sendPending();
}

// ---- The connection's end ------------------------------------------------------------------

void H2Session::drain() {
  if (draining_ || finished_) return;
  draining_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  sendPending();
}

// GOAWAY with `code`, then close once it is written (or after a grace period, whatever the
// client does meanwhile).
void H2Session::closeWith(uint32_t code) {
  if (closing_ || finished_) return;
  closing_ = true;
  nghttp2_session_terminate_session(session_, code);
  worker_.deadlines().schedule(*this, kCloseGrace);
  sendPending();
}

void H2Session::onEof() {
  failed_ = true;  // nothing more can arrive: no WINDOW_UPDATE, no next request
  checkFinished();
}

void H2Session::onError(int err) {
  logDebug("client %s: h2 connection error: %s", client_ip_.c_str(), strerror(err));
  failed_ = true;
  checkFinished();
}

void H2Session::scheduleDeadline() {
  if (finished_ || closing_) return;
  if (!settings_acked_) {
    int64_t left = settings_deadline_ - core::monotonicMillis();
    worker_.deadlines().schedule(*this, core::Millis(std::max<int64_t>(left, 1)));
  } else if (streams_.empty()) {
    // Quiet for kFramePagesDelay first (then nghttp2's frame buffer goes back), the rest of
    // the idle timeout after that.
    bool pages_first = frame_pages_in_use_ && idle_timeout_ > kFramePagesDelay;
    worker_.deadlines().schedule(*this, pages_first ? kFramePagesDelay : idle_timeout_);
    idle_deadline_ms_ = core::monotonicMillis() + idle_timeout_.count();
  } else if (pending_starts_ > 0) {
    int64_t first = INT64_MAX;
    for (const auto& [id, s] : streams_) {
      if (s->pending_) first = std::min(first, s->pending_->deadline);
    }
    int64_t left = first - core::monotonicMillis();
    worker_.deadlines().schedule(*this, core::Millis(std::max<int64_t>(left, 1)));
  } else {
    worker_.deadlines().cancel(*this);
  }
}

void H2Session::onDeadline() {
  if (closing_) {
    failed_ = true;  // the client did not take our GOAWAY in time
    checkFinished();
    return;
  }
  if (!settings_acked_) {
    worker_.stats().add(Counter::H2SettingsTimeouts);
    closeWith(NGHTTP2_SETTINGS_TIMEOUT);
  } else if (streams_.empty()) {
    int64_t left = idle_deadline_ms_ - core::monotonicMillis();
    if (left > 0) {  // the earlier deadline: quiet for kFramePagesDelay
      releaseFramePages();
      worker_.deadlines().schedule(*this, core::Millis(left));
      return;
    }
    worker_.stats().add(Counter::KeepaliveTimeout);
    closeWith(NGHTTP2_NO_ERROR);
  } else if (pending_starts_ > 0) {
    expirePending();
    scheduleDeadline();
  }
}

// A connection quiet for kFramePagesDelay gives back the pages nghttp2 packed its frames in
// (browsers hold HTTP/2 connections open between pages: most of an edge's connections are
// idle). Not at once after every response: a client that comes back quickly would fault the
// page in again each time.
void H2Session::releaseFramePages() {
  if (nghttp2_session_want_write(session_) != 0) return;  // a frame may wait in the buffer
  memory_.releaseFrameBufferPages();
  frame_pages_in_use_ = false;
}

void H2Session::checkFinished() {
  if (finished_ || receiving_ || sending_) return;
  if (failed_) {
    finish();
    return;
  }
  bool over = nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0;
  if (over && !stream_.writePending()) finish();
}

void H2Session::finish() {
  if (finished_) return;
  finished_ = true;
  worker_.deadlines().cancel(*this);
  // Every exchange still running has lost its client (finish runs from the loop, never from
  // inside an exchange's call: see sendPending).
  std::vector<int32_t> ids;
  for (const auto& entry : streams_) ids.push_back(entry.first);
  for (int32_t id : ids) {
    H2Stream* s = find(id);
    if (s == nullptr) continue;
    s->closed_ = true;
    if (s->exchange_) s->exchange_->onDownstreamGone();
  }
  if (!starting_) on_finished_();
}

}  // namespace meridian::proxy
