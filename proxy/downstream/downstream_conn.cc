#include "proxy/downstream/downstream_conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

#include "certs/tls_context.h"
#include "core/log.h"
#include "proxy/downstream/early_answer.h"
#include "proxy/downstream/h2_session.h"
#include "proxy/exchange/exchange.h"
#include "proxy/http/http1_writer.h"

namespace meridian::proxy {

namespace {

constexpr core::Millis kLingerTime{2000};

void formatPeer(const sockaddr_storage& peer, char* out, size_t len) {
  if (peer.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(peer).sin_addr, out, len);
  } else if (peer.ss_family == AF_INET6) {
    const auto& a6 = reinterpret_cast<const sockaddr_in6&>(peer).sin6_addr;
    // A v4 client on a dual-stack socket is a v4 client: log and forward it as one.
    if (IN6_IS_ADDR_V4MAPPED(&a6))
      inet_ntop(AF_INET, &a6.s6_addr[12], out, len);
    else
      inet_ntop(AF_INET6, &a6, out, len);
  } else {
    snprintf(out, len, "unknown");
  }
}

// The parsed head points into the connection's buffer; the exchange keeps its own copy of the
// bytes, so point every view at the same offset in the copy.
std::string_view rebase(std::string_view v, const char* from, const char* to, size_t len) {
  if (v.data() == nullptr || v.data() < from || v.data() >= from + len) return v;
  return {to + (v.data() - from), v.size()};
}

void rebaseHead(http1::RequestHead& h, const char* from, const char* to, size_t len) {
  h.method = rebase(h.method, from, to, len);
  h.target = rebase(h.target, from, to, len);
  h.host = rebase(h.host, from, to, len);
  for (auto& f : h.headers) {
    f.name = rebase(f.name, from, to, len);
    f.value = rebase(f.value, from, to, len);
  }
}

}  // namespace

DownstreamConn::DownstreamConn(DownstreamHost& worker, int fd, const ListenSocket& listener,
                               const sockaddr_storage& peer)
    : worker_(worker),
      listener_(listener),
      stream_(std::make_unique<core::Stream>(worker.loop(), fd, this)),
      side_(*this) {
  formatPeer(peer, client_ip_, sizeof client_ip_);
  peer_ = routing::IpAddress::fromSockaddr(peer);
  // A response paused at the high watermark (limits.buffer_per_direction) goes on from here.
  stream_->setLowWatermark(worker_.snapshot()->config->limits.buffer_per_direction / 2);
  // The first request must arrive within header_timeout (a connection that sends nothing
  // costs us a socket: treat it like a slow head). On TLS the handshake counts against it.
  armDeadline(worker_.snapshot()->config->limits.header_timeout);
  if (listener_.tls) startTls();
}

// New handshakes use the context of the current snapshot; a reload swaps it for the next
// connection while this one keeps the SSL it has.
void DownstreamConn::startTls() {
  const certs::TlsContext* ctx = worker_.snapshot()->tlsFor(listener_.name);
  std::unique_ptr<core::StreamTransport> t = ctx ? ctx->newTransport(stream_->fd()) : nullptr;
  if (!t) {
    countHandshakeFailure("no TLS context");
    state_ = State::Closing;
    armDeadline(core::Millis(0));  // closed from the loop: the worker does not know us yet
    return;
  }
  stream_->setTransport(std::move(t));
}

void DownstreamConn::onHandshakeDone(core::Stream&) {
  core::StreamTransport* t = stream_->transport();
  worker_.metrics().countTlsHandshake(listener_.name, t->version());
  if (t->protocol() == "h2") {
    startH2();
    return;
  }
  // Until the first request comes, the handshake's record buffers serve no purpose (a client
  // that connects ahead of need may wait long). A request read ahead with the client's
  // Finished keeps them: SSL_free_buffers refuses while a record waits.
  releaseIdleBuffers();
}

void DownstreamConn::startH2() {
  protocol_ = Protocol::H2;
  cancelDeadline();
  seen_request_ = true;
  state_ = State::InExchange;
  h2_ = std::make_unique<H2Session>(worker_, *stream_, listener_, peer_, client_ip_,
                                    [this] { closeGracefully(); });
  if (!h2_->start()) closeNow();
}

void DownstreamConn::countHandshakeFailure(const char* why) {
  worker_.stats().add(Counter::TlsHandshakeFailures);
  logDebug("client %s: TLS handshake failed: %s", client_ip_, why);
}

DownstreamConn::~DownstreamConn() {
  cancelDeadline();
}

void DownstreamConn::armDeadline(core::Millis after) {
  worker_.deadlines().schedule(*this, after);
}

void DownstreamConn::cancelDeadline() {
  worker_.deadlines().cancel(*this);
}

void DownstreamConn::onData(core::Stream&) {
  if (h2_ && state_ == State::InExchange) {
    h2_->onData();
    return;
  }
  switch (state_) {
    case State::Idle:
    case State::ReadingHead:
      processInput();
      return;
    case State::InExchange:
      if (exchange_->requestComplete() && stream_->input().size() > kMaxPipelinedBytes) {
        stream_->pauseReading();  // pipelined requests wait their turn, bounded
      }
      exchange_->onDownstreamData();
      return;
    case State::Closing:
      stream_->input().clear();  // lingering close: read and drop
      return;
    case State::Closed:
      return;
  }
}

// Parses and starts requests while whole heads are buffered and no exchange is running.
void DownstreamConn::processInput() {
  in_process_ = true;
  const config::Limits& limits = worker_.snapshot()->config->limits;
  while (state_ == State::Idle || state_ == State::ReadingHead) {
    core::Buffer& in = stream_->input();
    if (in.empty()) {
      state_ = State::Idle;
      enterKeepAlive(limits);
      stream_->resumeReading();
      break;
    }
    if (state_ == State::Idle) {
      state_ = State::ReadingHead;
      // Back before the release delay passed: a busy client, whose buffers stay between
      // requests until it stays away that long.
      if (release_delay_armed_) busy_ = true;
      release_delay_armed_ = false;
      head_started_ms_ = core::monotonicMillis();
      armDeadline(limits.header_timeout);
    }
    // h2c with prior knowledge: the client preface instead of a first request.
    if (!seen_request_ && !listener_.tls) {
      size_t n = std::min<size_t>(in.size(), 24);
      PrefaceMatch m = matchH2Preface(std::string_view(in.pullup(n), n));
      if (m == PrefaceMatch::NeedMore) {
        stream_->resumeReading();
        break;
      }
      if (m == PrefaceMatch::Yes) {
        startH2();
        break;
      }
    }
    http1::HeadLimits hl;
    hl.max_head_bytes = limits.max_header_bytes;
    hl.max_headers = static_cast<size_t>(limits.max_headers);
    size_t avail = std::min(in.size(), hl.max_head_bytes + 1);
    const char* data = in.pullup(avail);
    // Parsed into the worker's scratch head: an idle connection carries none of its own.
    http1::RequestHead& head = worker_.scratchHead();
    head.clear();
    http1::ParseResult r = http1::parseRequestHead(data, avail, head, hl);
    if (r.status == http1::ParseStatus::NeedMore) {
      stream_->resumeReading();
      break;
    }
    if (r.status == http1::ParseStatus::Error) {
      logDebug("client %s: %s", client_ip_, http1::parseErrorName(r.error));
      if (r.error == http1::ParseError::HeadTooLarge ||
          r.error == http1::ParseError::TooManyHeaders)
        reject(431, "header_too_large", Counter::HeaderTooLarge, in.size());
      else if (r.error == http1::ParseError::UnsupportedVersion)
        reject(505, "unsupported_version", Counter::BadRequest, in.size());
      else
        reject(400, "bad_request", Counter::BadRequest, in.size());
      break;
    }
    if (!startExchange(head, data, r.consumed)) break;
  }
  in_process_ = false;
}

// Idle (nothing buffered to parse): give the buffers back, unless this client came back
// quickly last time; then the release delay does it if the client stays away, and the
// keep-alive deadline follows. Before the first request, header_timeout stays armed.
void DownstreamConn::enterKeepAlive(const config::Limits& limits) {
  if (!busy_) releaseIdleBuffers();
  if (!seen_request_) return;
  release_delay_armed_ = limits.keepalive_timeout > kBufferReleaseDelay;
  armDeadline(release_delay_armed_ ? kBufferReleaseDelay : limits.keepalive_timeout);
}

// A response still being written keeps its buffers; onDrained comes back once it is out. On
// TLS, a record the client has only partly sent keeps OpenSSL's (SSL_free_buffers refuses):
// the client is mid-request, and the next idle turn frees them.
void DownstreamConn::releaseIdleBuffers() {
  if (!stream_->writePending() && stream_->input().empty()) stream_->releaseBuffers();
}

bool DownstreamConn::startExchange(http1::RequestHead& head, const char* data, size_t consumed) {
  if (head.method == "CONNECT") {
    reject(405, "method_not_allowed", Counter::BadRequest, consumed, &head);
    return false;
  }
  std::string bytes(data, consumed);
  rebaseHead(head, data, bytes.data(), consumed);
  stream_->input().drain(consumed);
  cancelDeadline();
  seen_request_ = true;
  state_ = State::InExchange;
  client_closes_ = !head.keep_alive;
  // Copied, not moved: the scratch head keeps its grown header vector for the next request,
  // and the exchange gets one allocation of exactly the right size.
  side_.setMinorVersion(head.minor_version);
  exchange_ = std::make_unique<Exchange>(side_, worker_, std::move(bytes), head);
  exchange_->start();
  return state_ == State::Idle;  // the exchange may have finished at once (a 404, say)
}

// An answer before any exchange: counted and logged as every answered request is.
void DownstreamConn::reject(int status, const char* code, Counter counter, size_t bytes_in,
                            const http1::RequestHead* head) {
  worker_.stats().add(counter);
  worker_.stats().countStatus(status);
  cancelDeadline();
  core::Buffer& out = stream_->output();
  size_t out_before = out.size();
  http1::writeErrorResponse(status, code, true, false, out);
  EarlyAnswer a;
  a.client_ip = client_ip_;
  a.protocol = head != nullptr && head->minor_version == 0 ? "HTTP/1.0" : "HTTP/1.1";
  a.head = head;
  a.status = status;
  a.bytes_in = bytes_in;
  a.bytes_out = out.size() - out_before;
  a.seconds = static_cast<double>(core::monotonicMillis() - head_started_ms_) / 1000.0;
  recordEarlyAnswer(worker_, a);
  closeGracefully();
}

void DownstreamConn::exchangeDone(bool keep_alive) {
  bool request_read = exchange_->requestComplete();
  worker_.loop().deleteLater(exchange_.release());
  if (!keep_alive || worker_.draining()) {
    if (!(client_closes_ && request_read && closeAfterLastRequest())) closeGracefully();
    return;
  }
  state_ = State::Idle;
  if (!stream_->flush()) {
    closeNow();
    return;
  }
  // Started from inside processInput (an exchange that finished at once): its loop goes on.
  if (!in_process_) processInput();
}

void DownstreamConn::exchangeAborted() {
  if (exchange_) worker_.loop().deleteLater(exchange_.release());
  stream_->setAbortOnClose();
  closeNow();
}

void DownstreamConn::closeIfIdle() {
  if (h2_ && state_ == State::InExchange) {
    h2_->drain();  // GOAWAY: streams in flight finish, then the session closes us
    return;
  }
  if (state_ == State::Idle) closeGracefully();
}

void DownstreamConn::closeGracefully() {
  if (state_ == State::Closing || state_ == State::Closed) return;
  state_ = State::Closing;
  if (!stream_->flush()) {
    closeNow();
    return;
  }
  stream_->input().clear();
  stream_->resumeReading();
  armDeadline(kLingerTime);
  if (!stream_->writePending()) stream_->shutdownWrite();
  // else: onDrained shuts down once the last byte is out
}

// A lingering close (our FIN, then reading until the client's) exists for clients that may
// still be sending: closing a socket with unread bytes makes the kernel send a reset, which
// can destroy the response before the client reads it. A plain-HTTP client that announced
// its last request, whose request was read whole and who sent nothing after it, has nothing
// more to send: once the response is with the kernel, close() sends the FIN after it, and
// the shutdown, the wait for the client's FIN and its read are saved (as nginx does). With
// TLS, close_notify goes out through the graceful path.
bool DownstreamConn::closeAfterLastRequest() {
  if (stream_->transport() != nullptr || !stream_->input().empty()) return false;
  if (stream_->flush() && stream_->writePending()) return false;  // still going out: linger
  closeNow();
  return true;
}

void DownstreamConn::closeNow() {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  cancelDeadline();
  stream_->pauseReading();
  worker_.onConnectionClosed(this);
}

void DownstreamConn::onEof(core::Stream&) {
  if (h2_ && state_ == State::InExchange) {
    h2_->onEof();
    return;
  }
  switch (state_) {
    case State::InExchange:
      exchange_->onDownstreamEof();
      return;
    case State::Closing:
      if (!stream_->writePending()) closeNow();
      return;
    default:
      closeNow();
      return;
  }
}

void DownstreamConn::onError(core::Stream&, int err) {
  if (stream_->handshaking()) {
    std::string why = stream_->transport()->lastError();
    countHandshakeFailure(why.c_str());
  }
  if (state_ == State::InExchange && exchange_) {
    exchange_->onDownstreamGone();  // calls exchangeAborted()
    return;
  }
  if (h2_ && state_ == State::InExchange) {
    h2_->onError(err);
    return;
  }
  closeNow();
}

void DownstreamConn::onDrained(core::Stream&) {
  if (h2_ && state_ == State::InExchange) {
    h2_->onDrained();
    return;
  }
  if (state_ == State::InExchange && exchange_) {
    exchange_->onDownstreamDrained();
  } else if (state_ == State::Closing && !stream_->writePending()) {
    stream_->shutdownWrite();
  } else if (state_ == State::Idle && !busy_) {
    releaseIdleBuffers();  // the last response went out after the connection went idle
  }
}

void DownstreamConn::onDeadline() {
  switch (state_) {
    case State::Idle:
      if (release_delay_armed_) {
        // Idle for the release delay: no longer busy. What is left of keep-alive follows
        // (reckoned with the current config, like every other deadline of this connection).
        release_delay_armed_ = false;
        busy_ = false;
        releaseIdleBuffers();
        core::Millis keepalive = worker_.snapshot()->config->limits.keepalive_timeout;
        armDeadline(std::max(keepalive - kBufferReleaseDelay, core::Millis(1)));
        return;
      }
      if (seen_request_) {
        worker_.stats().add(Counter::KeepaliveTimeout);
        closeNow();
      } else {
        // Connected but never sent a byte (or finished its handshake) within header_timeout.
        worker_.stats().add(Counter::HeaderTimeout);
        if (stream_->handshaking()) countHandshakeFailure("timed out");
        closeNow();
      }
      return;
    case State::ReadingHead:
      reject(408, "request_header_timeout", Counter::HeaderTimeout, stream_->input().size());
      return;
    case State::Closing:
      closeNow();
      return;
    default:
      return;
  }
}

}  // namespace meridian::proxy
