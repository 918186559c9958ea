#include "proxy/exchange.h"

#include <algorithm>
#include <cstdio>

#include "core/log.h"
#include "proxy/downstream_conn.h"
#include "proxy/http1_writer.h"
#include "proxy/worker.h"

namespace meridian::proxy {

using core::Error;
using core::ErrorKind;
using core::Side;
using http1::Framing;

namespace {

std::string_view pathOf(std::string_view origin_form) {
  size_t q = origin_form.find('?');
  return q == std::string_view::npos ? origin_form : origin_form.substr(0, q);
}

std::string_view findHeader(const std::vector<http1::Header>& headers, std::string_view name) {
  for (const auto& h : headers)
    if (http1::iequals(h.name, name)) return h.value;
  return {};
}

// A client-supplied request id is kept only when it is short and printable: it ends up in
// upstream logs and ours.
bool usableRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

}  // namespace

Exchange::Exchange(DownstreamConn& down, Worker& worker, std::string head_bytes,
                   const http1::RequestHead& head)
    : down_(down),
      worker_(worker),
      snap_(worker.snapshot()),
      head_bytes_(std::move(head_bytes)),
      head_(head) {
  worker_.stats().add(Counter::Requests);
  worker_.stats().requests_in_flight.fetch_add(1, std::memory_order_relaxed);
}

Exchange::~Exchange() {
  cancelTimer();
  detachUpstream();
  worker_.stats().requests_in_flight.fetch_sub(1, std::memory_order_relaxed);
}

// ---- Routing -------------------------------------------------------------------------------

void Exchange::start() {
  request_id_ = findHeader(head_.headers, "x-request-id");
  if (!usableRequestId(request_id_)) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (int half = 0; half < 2; ++half) {
      uint64_t r = worker_.random();
      for (int i = 0; i < 16; ++i, r >>= 4) generated_id_[half * 16 + i] = kHex[r & 15];
    }
    request_id_ = std::string_view(generated_id_, 32);
  }

  const config::Limits& limits = snap_->config->limits;
  if (head_.framing == Framing::ContentLength && limits.max_body_bytes != 0 &&
      head_.content_length > limits.max_body_bytes) {
    worker_.stats().add(Counter::BodyTooLarge);
    failBeforeResponse(Error{ErrorKind::BodyTooLarge, Side::Downstream, false, "content-length"});
    return;
  }
  req_remaining_ = head_.framing == Framing::ContentLength ? head_.content_length : 0;
  request_done_ = head_.framing == Framing::None;

  client_ = snap_->geo->lookup(clientAddress());
  routing::RequestInfo info{head_.host,
                            pathOf(http1::originForm(head_.target)),
                            head_.method,
                            &client_,
                            findHeader(head_.headers, "meridian-prefer-region"),
                            down_.listener().region};
  decision_ = snap_->router->pick(info, *snap_->health, worker_.random());
  if (decision_.outcome == routing::PickOutcome::NoRoute) {
    worker_.stats().add(Counter::NoRoute);
    failBeforeResponse(Error{ErrorKind::NoRoute, Side::Downstream, false, {}});
    return;
  }
  if (decision_.outcome == routing::PickOutcome::NoHealthyRegion) {
    failBeforeResponse(Error{ErrorKind::NoHealthyRegion, Side::Upstream, false, {}});
    return;
  }
  if (!chooseEndpoint()) {
    failBeforeResponse(Error{ErrorKind::NoHealthyRegion, Side::Upstream, false, {}});
    return;
  }
  connect();
}

// Where the client is: the socket peer, or, when the peer is a trusted proxy, the right-most
// untrusted address it forwarded (so a client cannot place itself by sending the header).
routing::IpAddress Exchange::clientAddress() const {
  const config::Geo& geo = snap_->config->geo;
  if (geo.trusted_proxies.empty()) return down_.peer();
  thread_local std::vector<std::string_view> values;
  values.clear();
  for (const auto& h : head_.headers)
    if (http1::iequals(h.name, geo.client_ip_header)) values.push_back(h.value);
  return routing::clientAddress(down_.peer(), values, geo.trusted_proxies);
}

// What this attempt taught us about the endpoint, for passive outlier detection.
void Exchange::reportOutcome(health::Outcome outcome) {
  if (endpoint_ != nullptr)
    worker_.reportOutcome(decision_.plan->cluster->name, *endpoint_, outcome);
}

// Least outstanding requests among the healthy, untried endpoints of the first region in the
// order that still has one; ties go to a random one so workers do not all pick the same.
bool Exchange::chooseEndpoint() {
  const routing::ClusterPlan& plan = *decision_.plan;
  const auto& addrs = (*snap_->endpoints)[plan.index];
  for (; region_pos_ < decision_.order_size; ++region_pos_) {
    const routing::RegionGroup& group = plan.regions[decision_.order[region_pos_]];
    int best = -1;
    int best_active = 0;
    uint64_t tiebreak = worker_.random();
    for (size_t k = 0; k < group.endpoints.size(); ++k) {
      uint32_t e = group.endpoints[(k + tiebreak) % group.endpoints.size()];
      if (e < 64 && (tried_mask_ & (1ull << e))) continue;
      bool all_unhealthy_mode = decision_.route->all_unhealthy == config::AllUnhealthy::RouteAnyway;
      if (!snap_->health->healthy(plan.index, e) && !all_unhealthy_mode) continue;
      int active = worker_.pool().active(addrs[e].text);
      if (best < 0 || active < best_active) {
        best = static_cast<int>(e);
        best_active = active;
      }
    }
    if (best >= 0) {
      if (best < 64) tried_mask_ |= 1ull << best;
      endpoint_ = &addrs[static_cast<size_t>(best)];
      region_ = group.name;
      return true;
    }
  }
  return false;
}

void Exchange::connect() {
  state_ = State::Connecting;
  ++attempts_;
  const config::Cluster& cluster = *decision_.plan->cluster;
  armTimer(decision_.route->timeouts.connect);
  UpstreamUser* self = this;
  switch (worker_.pool().acquire(*endpoint_, cluster.pool, self, resendable())) {
    case UpstreamPool::Acquire::Ready:
    case UpstreamPool::Acquire::Pending:
      return;
    case UpstreamPool::Acquire::Overloaded:
      failBeforeResponse(Error{ErrorKind::UpstreamOverloaded, Side::Upstream, false, {}});
      return;
    case UpstreamPool::Acquire::Failed:
      onUpstreamConnectFailed(errno);
      return;
  }
}

void Exchange::onConnectTimeout() {
  worker_.stats().add(Counter::UpstreamConnectTimeouts);
  detachUpstream();
  onUpstreamConnectFailed(ETIMEDOUT);
}

// Nothing was sent: the next endpoint, then the next region, is always safe to try.
void Exchange::onUpstreamConnectFailed(int err) {
  if (state_ != State::Connecting) return;
  reportOutcome(health::Outcome::ConnectFailure);
  logDebug("upstream %s: connect failed: %s", endpoint_->text.c_str(), strerror(err));
  bool timed_out = err == ETIMEDOUT;
  bool can_retry = attempts_ < decision_.route->replay.max_attempts &&
                   (deadline_ms_ == 0 || core::monotonicMillis() < deadline_ms_);
  if (can_retry && chooseEndpoint()) {
    connect();
    return;
  }
  failBeforeResponse(Error{timed_out ? ErrorKind::ConnectTimeout : ErrorKind::ConnectRefused,
                           Side::Upstream, true, strerror(err)});
}

void Exchange::onUpstreamReady(UpstreamConn& conn) {
  up_ = &conn;
  if (!counted_active_) {
    worker_.pool()
        .endpoint(*endpoint_, decision_.plan->cluster->pool)
        .active.fetch_add(1, std::memory_order_relaxed);
    counted_active_ = true;
  }
  up_->stream().setLowWatermark(kLowWatermark);
  sendRequestHead();
}

// ---- Forwarding ----------------------------------------------------------------------------

void Exchange::sendRequestHead() {
  state_ = State::Forwarding;
  http1::ForwardInfo fwd;
  fwd.client_ip = down_.clientIp();
  fwd.proto = down_.listener().tls ? "https" : "http";
  fwd.request_id = request_id_;
  fwd.attempt = attempts_;
  fwd.client_region = snap_->router->nearestRegion(client_);
  fwd.client_country = client_.country;
  http1::writeUpstreamRequestHead(head_, fwd, up_->stream().output());
  // We answered Expect ourselves (the upstream never sees it): tell the client to send the
  // body now that there is somewhere for it to go.
  if (head_.expect_continue && !request_done_ && head_.minor_version == 1 && !sent_continue_ &&
      down_.stream().input().empty()) {
    down_.stream().output().append("HTTP/1.1 100 Continue\r\n\r\n");
    down_.stream().flush();
    sent_continue_ = true;
  }
  armTimer(decision_.route->timeouts.idle);  // replaces the connect timer
  pumpRequestBody();
  if (request_done_ && state_ == State::Forwarding) armResponseTimer();
}

// While the body streams, only progress matters (the idle timeout); the per-try clock starts
// once the whole request is sent, as Envoy's does, so a long upload is not a slow upstream.
void Exchange::armResponseTimer() {
  const auto& t = decision_.route->timeouts;
  if (deadline_ms_ == 0) deadline_ms_ = core::monotonicMillis() + t.request.count();
  int64_t left = deadline_ms_ - core::monotonicMillis();
  armTimer(core::Millis(std::max<int64_t>(1, std::min<int64_t>(t.per_try.count(), left))));
}

// Moves request body bytes from the client to the upstream, re-framing chunked bodies, until
// the client's bytes run out, the body ends, or the upstream's buffer is full.
void Exchange::pumpRequestBody() {
  if (up_ == nullptr || request_done_ || state_ == State::Done) {
    if (up_ != nullptr && !up_->stream().flush()) onUpstreamError(*up_, errno);
    return;
  }
  core::Buffer& in = down_.stream().input();
  core::Buffer& out = up_->stream().output();
  uint64_t moved = 0;
  if (head_.framing == Framing::ContentLength) {
    moved = std::min<uint64_t>(req_remaining_, in.size());
    out.moveFrom(in, moved);
    req_remaining_ -= moved;
    request_done_ = req_remaining_ == 0;
  } else if (!moveChunkedBody(in, out, req_chunks_, true, moved, request_done_)) {
    worker_.stats().add(Counter::BadRequest);
    if (!response_started_) {
      failBeforeResponse(Error{ErrorKind::ProtocolError, Side::Downstream, false, "chunked body"});
    } else {
      abort("bad chunked request body");
    }
    return;
  }
  req_body_bytes_ += moved;
  const uint64_t max_body = snap_->config->limits.max_body_bytes;
  if (max_body != 0 && req_body_bytes_ > max_body) {
    worker_.stats().add(Counter::BodyTooLarge);
    if (!response_started_) {
      failBeforeResponse(Error{ErrorKind::BodyTooLarge, Side::Downstream, false, {}});
    } else {
      abort("request body too large");
    }
    return;
  }
  if (!up_->stream().flush()) {
    onUpstreamError(*up_, errno);
    return;
  }
  // Back-pressure: stop reading the client while the upstream's buffer is still full after
  // the write (checked after it: a paused reader with an empty buffer would never resume).
  if (out.size() > kHighWatermark)
    down_.stream().pauseReading();
  else if (!request_done_)
    down_.stream().resumeReading();
  if (state_ != State::Forwarding) return;
  if (request_done_)
    armResponseTimer();
  else if (moved > 0)
    armTimer(decision_.route->timeouts.idle);
}

// Moves whole chunk data through, parsing only the control bytes between chunks. With
// `rechunk`, data is written out with our own chunk framing; otherwise raw (decoded).
bool Exchange::moveChunkedBody(core::Buffer& in, core::Buffer& out, http1::ChunkedDecoder& dec,
                               bool rechunk, uint64_t& moved, bool& done) {
  while (!in.empty() && !dec.done()) {
    if (dec.dataRemaining() > 0) {
      uint64_t n = std::min<uint64_t>(dec.dataRemaining(), in.size());
      if (rechunk) http1::writeChunkHeader(n, out);
      out.moveFrom(in, n);
      if (rechunk) http1::writeChunkEnd(out);
      dec.consumeData(n);
      moved += n;
      continue;
    }
    std::string_view front = in.front();
    http1::ChunkedDecoder::Step step = dec.parseControl(front.data(), front.size());
    if (step.status == http1::ParseStatus::Error) return false;
    in.drain(step.consumed);
    if (step.consumed == 0 && step.status == http1::ParseStatus::NeedMore) break;
  }
  if (dec.done() && !done) {
    done = true;
    if (rechunk) http1::writeLastChunk(out);
  }
  return true;
}

// ---- Responding ----------------------------------------------------------------------------

void Exchange::onUpstreamData(UpstreamConn& conn) {
  switch (state_) {
    case State::Forwarding:
      parseResponseHead();
      return;
    case State::Responding:
      pumpResponseBody();
      return;
    case State::Tunnel:
      pumpTunnel();
      return;
    default:
      return;
  }
}

void Exchange::parseResponseHead() {
  core::Buffer& in = up_->stream().input();
  http1::ResponseHead& head = worker_.scratchResponse();
  while (state_ == State::Forwarding && !in.empty()) {
    http1::HeadLimits limits;
    limits.max_head_bytes = snap_->config->limits.max_header_bytes;
    limits.max_headers = static_cast<size_t>(snap_->config->limits.max_headers);
    size_t avail = std::min(in.size(), limits.max_head_bytes + 1);
    const char* data = in.pullup(avail);
    head.clear();
    http1::ParseResult r =
        http1::parseResponseHead(data, avail, head_.method == "HEAD", head, limits);
    if (r.status == http1::ParseStatus::NeedMore) return;
    if (r.status == http1::ParseStatus::Error) {
      worker_.stats().add(Counter::UpstreamProtocolErrors);
      logWarn("upstream %s: bad response: %s", endpoint_->text.c_str(),
              http1::parseErrorName(r.error));
      failBeforeResponse(
          Error{ErrorKind::ProtocolError, Side::Upstream, false, http1::parseErrorName(r.error)});
      return;
    }
    if (head.status >= 100 && head.status < 200 && head.status != 101) {
      // Interim responses: 100 Continue is ours to give (we answered Expect), others (103
      // Early Hints) go on to HTTP/1.1 clients.
      if (head.status != 100 && head_.minor_version == 1) {
        http1::writeInterimResponse(head, down_.stream().output());
        down_.stream().flush();
      }
      in.drain(r.consumed);
      continue;
    }
    // The head's views point into `in`: write it out before draining those bytes.
    startResponse(head);
    in.drain(r.consumed);
    if (state_ == State::Responding)
      pumpResponseBody();
    else if (state_ == State::Tunnel)
      pumpTunnel();
  }
}

void Exchange::startResponse(const http1::ResponseHead& head) {
  cancelTimer();
  if (head.status == 101 && !head_.upgrade) {
    // A 101 nobody asked for: the bytes after it mean nothing to the client.
    worker_.stats().add(Counter::UpstreamProtocolErrors);
    failBeforeResponse(Error{ErrorKind::ProtocolError, Side::Upstream, false, "unsolicited 101"});
    return;
  }
  response_started_ = true;
  resp_ = {head.status, head.framing, head.keep_alive};
  reportOutcome(head.status >= 500 ? health::Outcome::Status5xx : health::Outcome::Success);
  http1::ResponseOptions opt;
  opt.client_http10 = head_.minor_version == 0;
  opt.head_request = head_.method == "HEAD";
  opt.region = region_;
  bool until_close_to_10 = opt.client_http10 && (head.framing == Framing::Chunked ||
                                                 head.framing == Framing::UntilClose);
  // If the client is still sending a body the upstream did not wait for, we cannot find the
  // next request on this connection: close it after this response.
  close_client_ = !head_.keep_alive || worker_.draining() || until_close_to_10 || !request_done_;
  opt.close = close_client_;
  worker_.stats().countStatus(head.status);
  resp_chunked_to_client_ = http1::writeClientResponseHead(head, opt, down_.stream().output());
  resp_remaining_ = head.framing == Framing::ContentLength ? head.content_length : 0;
  if (head.status == 101) {
    state_ = State::Tunnel;
    worker_.stats().add(Counter::Upgrades);
    armTimer(decision_.route->timeouts.idle);
    // The tunnel carries raw bytes both ways from here; whatever the client sent after its
    // request head belongs to the new protocol.
    request_done_ = true;
    down_.stream().resumeReading();
    return;
  }
  state_ = State::Responding;
  armTimer(decision_.route->timeouts.idle);
}

void Exchange::pumpResponseBody() {
  core::Buffer& in = up_->stream().input();
  core::Buffer& out = down_.stream().output();
  bool done = false;
  switch (resp_.framing) {
    case Framing::None:
      done = true;
      break;
    case Framing::ContentLength: {
      uint64_t n = std::min<uint64_t>(resp_remaining_, in.size());
      out.moveFrom(in, n);
      resp_remaining_ -= n;
      done = resp_remaining_ == 0;
      break;
    }
    case Framing::Chunked: {
      uint64_t moved = 0;
      if (!moveChunkedBody(in, out, resp_chunks_, resp_chunked_to_client_, moved, done)) {
        worker_.stats().add(Counter::UpstreamProtocolErrors);
        abort("bad chunked response body");
        return;
      }
      break;
    }
    case Framing::UntilClose: {
      size_t n = in.size();
      if (n > 0) {
        if (resp_chunked_to_client_) http1::writeChunkHeader(n, out);
        out.moveFrom(in, n);
        if (resp_chunked_to_client_) http1::writeChunkEnd(out);
      }
      if (upstream_eof_) {
        if (resp_chunked_to_client_) http1::writeLastChunk(out);
        done = true;
      }
      break;
    }
  }
  if (!down_.stream().flush()) {
    onDownstreamGone();
    return;
  }
  if (done) {
    finishResponse();
    return;
  }
  if (out.size() > kHighWatermark) up_->stream().pauseReading();
  armTimer(decision_.route->timeouts.idle);
}

void Exchange::finishResponse() {
  cancelTimer();
  // The upstream connection is reusable only when both messages ended cleanly and nothing
  // extra arrived after the response.
  bool reusable = resp_.keep_alive && request_done_ && !upstream_eof_ &&
                  resp_.framing != Framing::UntilClose && up_->stream().input().empty();
  releaseUpstream(reusable);
  finish(!close_client_ && !client_eof_);
}

void Exchange::pumpTunnel() {
  core::Buffer& from_client = down_.stream().input();
  core::Buffer& from_upstream = up_->stream().input();
  up_->stream().output().moveAllFrom(from_client);
  down_.stream().output().moveAllFrom(from_upstream);
  if (!up_->stream().flush()) {
    abort("tunnel upstream write failed");
    return;
  }
  if (!down_.stream().flush()) {
    onDownstreamGone();
    return;
  }
  // Each side reads only while the other side's buffer has room.
  if (up_->stream().output().size() > kHighWatermark)
    down_.stream().pauseReading();
  else if (!client_eof_)
    down_.stream().resumeReading();
  if (down_.stream().output().size() > kHighWatermark)
    up_->stream().pauseReading();
  else if (!upstream_eof_)
    up_->stream().resumeReading();
  if (client_eof_ && upstream_eof_ && !up_->stream().writePending() &&
      !down_.stream().writePending()) {
    releaseUpstream(false);
    finish(false);
    return;
  }
  armTimer(decision_.route->timeouts.idle);
}

// ---- Events from either side ---------------------------------------------------------------

void Exchange::onDownstreamData() {
  switch (state_) {
    case State::Forwarding:
    case State::Responding:
      pumpRequestBody();
      return;
    case State::Tunnel:
      pumpTunnel();
      return;
    default:
      // Not connected yet: the body waits in the client's buffer, bounded.
      if (down_.stream().input().size() > kHighWatermark) down_.stream().pauseReading();
      return;
  }
}

void Exchange::onDownstreamDrained() {
  if (state_ == State::Responding && up_ != nullptr) {
    up_->stream().resumeReading();
    pumpResponseBody();
  } else if (state_ == State::Tunnel) {
    pumpTunnel();
  }
}

void Exchange::onUpstreamDrained(UpstreamConn&) {
  if (state_ == State::Tunnel) {
    pumpTunnel();
    return;
  }
  if (!request_done_) {
    down_.stream().resumeReading();
    pumpRequestBody();
  }
}

void Exchange::onDownstreamEof() {
  client_eof_ = true;
  if (state_ == State::Tunnel) {
    up_->stream().output().moveAllFrom(down_.stream().input());
    up_->stream().flush();
    up_->stream().shutdownWrite();
    pumpTunnel();
    return;
  }
  // A client that closes before its request is whole has gone; one that half-closes after
  // sending it still gets its response.
  if (!request_done_) onDownstreamGone();
}

void Exchange::onDownstreamGone() {
  worker_.stats().add(Counter::ClientAborts);
  detachUpstream();
  state_ = State::Done;
  cancelTimer();
  down_.exchangeAborted();
}

void Exchange::onUpstreamEof(UpstreamConn& conn) {
  upstream_eof_ = true;
  switch (state_) {
    case State::Responding:
      if (resp_.framing == Framing::UntilClose) {
        pumpResponseBody();
      } else {
        pumpResponseBody();  // deliver what arrived before the close
        if (state_ == State::Responding) {
          worker_.stats().add(Counter::UpstreamResets);
          abort("upstream closed mid-response");
        }
      }
      return;
    case State::Tunnel:
      down_.stream().output().moveAllFrom(up_->stream().input());
      down_.stream().flush();
      down_.stream().shutdownWrite();
      pumpTunnel();
      return;
    case State::Forwarding:
      if (up_->stream().input().empty() && up_->reused() && resendable() && stale_retries_ < 2) {
        retryOnFreshConnection();
        return;
      }
      worker_.stats().add(Counter::UpstreamResets);
      reportOutcome(health::Outcome::Reset);
      failBeforeResponse(Error{ErrorKind::UpstreamReset, Side::Upstream, true, "closed"});
      return;
    default:
      return;
  }
}

void Exchange::onUpstreamError(UpstreamConn& conn, int err) {
  if (state_ == State::Forwarding && up_->reused() && resendable() &&
      up_->stream().input().empty() && stale_retries_ < 2) {
    retryOnFreshConnection();
    return;
  }
  worker_.stats().add(Counter::UpstreamResets);
  reportOutcome(health::Outcome::Reset);
  if (state_ == State::Forwarding) {
    failBeforeResponse(Error{ErrorKind::UpstreamReset, Side::Upstream, true, strerror(err)});
  } else {
    abort("upstream error");
  }
}

// A reused keep-alive connection died before answering: the upstream closed it as we sent
// the request. That is not the request's failure; send it again on a fresh connection.
void Exchange::retryOnFreshConnection() {
  ++stale_retries_;
  worker_.stats().add(Counter::UpstreamStaleRetries);
  releaseUpstream(false);
  --attempts_;  // the stale connection did not count as an attempt
  connect();
}

void Exchange::armTimer(core::Millis after) {
  worker_.deadlines().schedule(*this, after);
}

void Exchange::cancelTimer() {
  worker_.deadlines().cancel(*this);
}

void Exchange::onDeadline() {
  switch (state_) {
    case State::Connecting:
      onConnectTimeout();
      return;
    case State::Forwarding:
      if (!request_done_ && !down_.stream().readingPaused()) {
        // The client stopped sending its body (we were ready to take more).
        failBeforeResponse(Error{ErrorKind::ClientTimeout, Side::Downstream, false, "body"});
        return;
      }
      worker_.stats().add(Counter::UpstreamTimeouts);
      reportOutcome(health::Outcome::Timeout);
      failBeforeResponse(Error{ErrorKind::ReadTimeout, Side::Upstream, true, "no response"});
      return;
    case State::Responding:
    case State::Tunnel:
      worker_.stats().add(Counter::UpstreamTimeouts);
      abort("idle timeout");
      return;
    default:
      return;
  }
}

// ---- Ends ----------------------------------------------------------------------------------

void Exchange::failBeforeResponse(const core::Error& err) {
  cancelTimer();
  detachUpstream();
  int status = core::toHttpStatus(err);
  worker_.stats().countStatus(status);
  logDebug("%.*s %.*s: %d %s (%s)", static_cast<int>(head_.method.size()), head_.method.data(),
           static_cast<int>(head_.target.size()), head_.target.data(), status, core::errorCode(err),
           err.detail.c_str());
  // The client's connection survives only if its request was read whole (a malformed, stalled
  // or oversized body never was), so the next request on it can be found.
  bool keep = head_.keep_alive && request_done_ && !worker_.draining() && !client_eof_;
  http1::writeErrorResponse(status, core::errorCode(err), !keep, head_.method == "HEAD",
                            down_.stream().output());
  finish(keep);
}

void Exchange::abort(const char* why) {
  logDebug("exchange aborted: %s", why);
  detachUpstream();
  state_ = State::Done;
  cancelTimer();
  down_.exchangeAborted();
}

void Exchange::finish(bool client_keep_alive) {
  state_ = State::Done;
  cancelTimer();
  down_.exchangeDone(client_keep_alive);
}

// Lets go of whatever connection this exchange holds or is waiting for.
void Exchange::detachUpstream() {
  if (up_ != nullptr) {
    releaseUpstream(false);
  } else if (endpoint_ != nullptr) {
    worker_.pool().cancel(endpoint_->text, this);
  }
}

void Exchange::releaseUpstream(bool reusable) {
  if (counted_active_) {
    worker_.pool()
        .endpoint(*endpoint_, decision_.plan->cluster->pool)
        .active.fetch_sub(1, std::memory_order_relaxed);
    counted_active_ = false;
  }
  UpstreamConn* c = up_;
  up_ = nullptr;
  worker_.pool().release(c, reusable);
}

}  // namespace meridian::proxy
