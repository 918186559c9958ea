#include "proxy/exchange/exchange.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>

#include "core/log.h"
#include "proxy/exchange/exchange_hedge.h"
#include "proxy/http/http1_writer.h"
#include "proxy/http/upgrade.h"
#include "proxy/policy/pin_cookie.h"

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

// A client-supplied request id is kept only when it is short and printable: it ends up in
// upstream logs and ours.
bool usableRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

}  // namespace

Exchange::Exchange(ClientSide& client, ExchangeHost& host, std::string head_bytes,
                   const http1::RequestHead& head)
    : down_(client),
      host_(host),
      snap_(host.snapshot()),
      head_bytes_(std::move(head_bytes)),
      head_(head),
      high_watermark_(snap_->config->limits.buffer_per_direction) {
  countStart();
}

void Exchange::countStart() {
  host_.stats().add(Counter::Requests);
  host_.stats().requests_in_flight.fetch_add(1, std::memory_order_relaxed);
}

Exchange::~Exchange() {
  cancelTimer();
  host_.deadlines().cancel(body_check_);
  host_.deadlines().cancel(ack_check_);
  endHedges();
  detachUpstream();
  endReplay();
  releaseIdempotencyKey(false);
  host_.stats().requests_in_flight.fetch_sub(1, std::memory_order_relaxed);
}

// ---- Routing -------------------------------------------------------------------------------

void Exchange::start() {
  request_id_ = http1::findHeader(head_.headers, "x-request-id");
  if (!usableRequestId(request_id_)) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (int half = 0; half < 2; ++half) {
      uint64_t r = host_.random();
      for (int i = 0; i < 16; ++i, r >>= 4) generated_id_[half * 16 + i] = kHex[r & 15];
    }
    request_id_ = std::string_view(generated_id_, 32);
  }

  req_remaining_ = head_.framing == Framing::ContentLength ? head_.content_length : 0;
  request_done_ = head_.framing == Framing::None;
  client_addr_ = clientAddress();  // also for the log line of a request answered before routing
  if (!normalizeTarget() || answerAcmeChallenge() || redirectToHttps()) return;
  const config::Limits& limits = snap_->config->limits;
  if (head_.framing == Framing::ContentLength && limits.max_body_bytes != 0 &&
      head_.content_length > limits.max_body_bytes) {
    host_.stats().add(Counter::BodyTooLarge);
    failBeforeResponse(Error{ErrorKind::BodyTooLarge, Side::Downstream, false, "content-length"});
    return;
  }
  startBodyClock();
  if (!startGrpc()) return;

  pickRoute();
  if (decision_.outcome == routing::PickOutcome::NoRoute) {
    host_.stats().add(Counter::NoRoute);
    failBeforeResponse(Error{ErrorKind::NoRoute, Side::Downstream, false, {}});
    return;
  }
  if (decision_.outcome == routing::PickOutcome::NoHealthyRegion) {
    failBeforeResponse(Error{ErrorKind::NoHealthyRegion, Side::Upstream, false, {}});
    return;
  }
  budget_ = &host_.replayBudget(decision_.route->name);
  budget_->requestStarted();
  if (!claimIdempotencyKey()) return;
  sendToUpstream();
}

void Exchange::sendToUpstream() {
  // Requests of this worker already wait for a slot of the cluster: this one queues behind
  // them rather than taking the next slot first.
  if (decision_.plan->cluster->capacity.hard > 0 &&
      host_.capacityWaiters().count(decision_.plan->cluster->name) > 0) {
    waitForCapacity();
    return;
  }
  if (!chooseEndpoint()) {
    if (capacity_blocked_) {
      waitForCapacity();
      return;
    }
    failBeforeResponse(Error{ErrorKind::NoHealthyRegion, Side::Upstream, false, {}});
    return;
  }
  connect();
}

// Router::pick with what this request says about itself: where the client is, the region it
// prefers (meridian-prefer-region; fly-prefer-region on compat: fly routes; a pin cookie after
// a write on the primary), its blue-green cookie or override.
void Exchange::pickRoute() {
  client_ = snap_->geo->lookup(client_addr_);
  thread_local std::vector<std::string_view> cookies;
  cookies.clear();
  for (const auto& h : head_.headers)
    if (http1::iequals(h.name, "cookie")) cookies.push_back(h.value);
  enum class Prefer { Header, Fly, Pin } source = Prefer::Header;
  std::string_view prefer = http1::findHeader(head_.headers, "meridian-prefer-region");
  if (prefer.empty()) {
    source = Prefer::Fly;
    prefer = http1::findHeader(head_.headers, "fly-prefer-region");
  }
  if (prefer.empty()) {
    source = Prefer::Pin;
    prefer = pin::pinnedRegion(cookies, static_cast<int64_t>(std::time(nullptr)));
  }
  routing::RequestInfo info{head_.host,   pathOf(http1::originForm(head_.target)),
                            head_.method, &client_,
                            prefer,       down_.listener().region};
  info.cookies = cookies;
  info.backend_override = http1::findHeader(head_.headers, "meridian-backend");
  info.override_trusted = !info.backend_override.empty() && peerIsTrusted();
  info.client_ip = &client_addr_;
  decision_ = snap_->router->pick(info, *snap_->health, host_.random());
  const config::Route* route = decision_.route;
  if (prefer.empty() || route == nullptr) return;
  // fly-prefer-region counts only on compat: fly routes, a pin only on the route's primary.
  bool ignore = source == Prefer::Fly ? route->compat != "fly"
                : source == Prefer::Pin
                    ? route->pin_after_write.count() == 0 || prefer != route->primary_region
                    : false;
  if (!ignore) return;
  info.prefer_region = {};
  decision_ = snap_->router->pick(info, *snap_->health, host_.random());
}

bool Exchange::peerIsTrusted() const {
  for (const auto& cidr : snap_->config->geo.trusted_proxies)
    if (cidr.contains(down_.peer().bytes)) return true;
  return false;
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

// What this attempt taught us about the endpoint: passive outlier detection, and the
// per-endpoint rate, error rate and latency the dashboard shows.
void Exchange::reportOutcome(health::Outcome outcome) {
  if (endpoint_ == nullptr) return;
  reportOutcome(*endpoint_, attempt_started_at_, outcome);
}

// The same for any attempt (a hedge's too), started at `started`.
void Exchange::reportOutcome(const ResolvedAddress& endpoint,
                             std::chrono::steady_clock::time_point started,
                             health::Outcome outcome) {
  host_.reportOutcome(decision_.plan->cluster->name, endpoint, outcome);
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
  host_.metrics().countAttempt(decision_.plan->cluster->name, endpoint.text,
                               outcome != health::Outcome::Success, took.count());
}

// Passive health hears one outcome per attempt: the first one reported wins (a 5xx at its
// head, or how the body ended), so a failure found after the head is not a second sample.
void Exchange::reportAttemptOnce(health::Outcome outcome) {
  if (status_reported_) return;
  status_reported_ = true;
  reportOutcome(outcome);
}

// Least outstanding requests (over all workers) among the healthy, untried endpoints of the
// first region in the order that still has one, those under their soft limit before those past
// it; ties go to a random one so workers do not all pick the same. An endpoint at its hard
// limit is skipped (capacity_blocked_), and then the walk stops at the end of the regions
// capacity may spread over (Decision::capacity_scope). When the router routed anyway (no
// allowed region healthy, all_unhealthy: route_anyway), unhealthy endpoints count too, those
// not ejected by real traffic before those that are; otherwise an unhealthy one is never chosen.
bool Exchange::chooseEndpoint() {
  const routing::ClusterPlan& plan = *decision_.plan;
  const auto& addrs = (*snap_->endpoints)[plan.index];
  const health::HealthSnapshot& health = *snap_->health;
  capacity_blocked_ = false;
  const size_t first_pos = region_pos_;
  for (; region_pos_ < decision_.order_size; ++region_pos_) {
    // Capacity moves a request only inside the scope (never across a drain, an ejection or
    // the region a prefer header chose): once an endpoint there was full, the walk stops at it.
    if (capacity_blocked_ && first_pos < decision_.capacity_scope &&
        region_pos_ >= decision_.capacity_scope)
      break;
    const routing::RegionGroup& group = plan.regions[decision_.order[region_pos_]];
    int best = -1;
    int best_rank = 0;  // health: 0 healthy, 1 unhealthy, 2 ejected (routed anyway only), x2
                        // + 1 past the soft limit
    int best_active = 0;
    uint64_t tiebreak = host_.random();
    for (size_t k = 0; k < group.endpoints.size(); ++k) {
      uint32_t e = group.endpoints[(k + tiebreak) % group.endpoints.size()];
      if (e < 64 && (tried_mask_ & (1ull << e))) continue;
      const health::EndpointHealth& h = health.at(plan.index, e);
      int health_rank = h.healthy ? 0 : h.ejected ? 2 : 1;
      if (health_rank > 0 && !decision_.routed_anyway) continue;
      routing::LoadLevel load = routing::endpointLoad(plan, e);
      if (load == routing::LoadLevel::AtHard) {
        capacity_blocked_ = true;
        continue;
      }
      int rank = health_rank * 2 + (load == routing::LoadLevel::PastSoft ? 1 : 0);
      int active = plan.load.empty() ? host_.pool().active(addrs[e].text) : plan.inFlight(e);
      if (best < 0 || rank < best_rank || (rank == best_rank && active < best_active)) {
        best = static_cast<int>(e);
        best_rank = rank;
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

// The chosen endpoint's index in its cluster (endpoint_ points into the snapshot's addresses).
size_t Exchange::endpointIndex() const {
  return static_cast<size_t>(endpoint_ - (*snap_->endpoints)[decision_.plan->index].data());
}

void Exchange::connect() {
  if (!takeLoadSlot()) {
    waitForCapacity();
    return;
  }
  if (attempts_ == 0) countSpill();
  state_ = State::Connecting;
  ++attempts_;
  status_reported_ = false;
  attempt_started_at_ = std::chrono::steady_clock::now();
  armTimer(decision_.route->timeouts.connect);
  switch (acquireConnection(*endpoint_, this, resendable())) {
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

// A connection to `endpoint` (of the routed cluster) for `user`: this exchange, or a hedge.
UpstreamPool::Acquire Exchange::acquireConnection(const ResolvedAddress& endpoint,
                                                  UpstreamUser* user, bool safe_to_resend) {
  const config::Cluster& cluster = *decision_.plan->cluster;
  UpstreamTlsTarget tls;
  const UpstreamTlsTarget* tls_target = nullptr;
  if (snap_->upstream_tls != nullptr && (*snap_->upstream_tls)[decision_.plan->index] != nullptr) {
    size_t index =
        static_cast<size_t>(&endpoint - (*snap_->endpoints)[decision_.plan->index].data());
    tls = {(*snap_->upstream_tls)[decision_.plan->index], cluster.endpoints[index].address.host};
    tls_target = &tls;
  }
  return host_.pool().acquire(endpoint, cluster.pool, user, safe_to_resend, tls_target,
                              cluster.protocol);
}

void Exchange::onConnectTimeout() {
  // Still in the queue for one of this worker's connections to the endpoint: the endpoint was
  // never tried, so its health hears nothing (local saturation must not eject it).
  const bool queued = host_.pool().queued(endpoint_->text, this);
  detachUpstream();
  if (queued) {
    onPoolWaitTimeout();
    return;
  }
  host_.stats().add(Counter::UpstreamConnectTimeouts);
  onUpstreamConnectFailed(ETIMEDOUT);
}

// Nothing was sent, as after a failed connect: the next endpoint or region may take it.
void Exchange::onPoolWaitTimeout() {
  host_.stats().add(Counter::UpstreamPoolWaitTimeouts);
  logDebug("upstream %s: no pooled connection free in time", endpoint_->text.c_str());
  // Our own pool is full, no SYN was lost: waiting in the same queue again would not help.
  connects_in_region_ = decision_.route->replay.connect_tries_per_region;
  if (tryReplay(replay::Failure{replay::Reason::ConnectFailure})) return;
  failBeforeResponse(Error{ErrorKind::UpstreamOverloaded, Side::Upstream, true, "pool wait"});
}

// Nothing was sent: the next endpoint, then the next region, is always safe to try.
void Exchange::onUpstreamConnectFailed(int err) {
  if (state_ != State::Connecting) return;
  reportOutcome(health::Outcome::ConnectFailure);
  logDebug("upstream %s: connect failed: %s", endpoint_->text.c_str(), strerror(err));
  bool timed_out = err == ETIMEDOUT;
  if (tryReplay(replay::Failure{replay::Reason::ConnectFailure})) return;
  failBeforeResponse(Error{timed_out ? ErrorKind::ConnectTimeout : ErrorKind::ConnectRefused,
                           Side::Upstream, true, strerror(err)});
}

void Exchange::onUpstreamReady(UpstreamConn& conn) {
  up_ = &conn;
  if (!counted_active_) {
    host_.pool()
        .endpoint(*endpoint_, decision_.plan->cluster->pool)
        .active.fetch_add(1, std::memory_order_relaxed);
    counted_active_ = true;
  }
  up_->channel().setLowWatermark(lowWatermark());
  up_->channel().setReadSize(core::Buffer::kReadBlockSize);  // larger once the client keeps up
  sendRequestHead();
}

// ---- Forwarding ----------------------------------------------------------------------------

// What the upstream is told of the request and this attempt (a hedge sets its own attempt).
http1::ForwardInfo Exchange::forwardInfo() const {
  http1::ForwardInfo fwd;
  fwd.client_ip = down_.clientIp();
  fwd.proto = down_.listener().tls ? "https" : "http";
  fwd.request_id = request_id_;
  fwd.attempt = attempts_;
  fwd.client_region = snap_->router->nearestRegion(client_);
  fwd.client_country = client_.country;
  fwd.replay_src = replay_src_;
  fwd.replay_src_fly = replay_src_fly_;
  // HTTP/2 upstreams are told the client takes trailers (gRPC needs it); the field is
  // hop-by-hop in HTTP/1.1 and stays out there.
  fwd.te_trailers = decision_.plan->cluster->protocol != config::UpstreamProtocol::Http1 &&
                    http1::hasToken(http1::findHeader(head_.headers, "te"), "trailers");
  return fwd;
}

void Exchange::sendRequestHead() {
  state_ = State::Forwarding;
  interim_responses_ = 0;
  http1::writeUpstreamRequestHead(head_, forwardInfo(), up_->channel().output());
  // A replay sends again the body the failed attempt sent; the rest follows from the client.
  sent_body_.copyRangeTo(0, sent_body_.size(), up_->channel().output());
  // We answered Expect ourselves (the upstream never sees it): tell the client to send the
  // body now that there is somewhere for it to go.
  if (head_.expect_continue && !request_done_ && head_.minor_version == 1 && !sent_continue_ &&
      down_.requestInput().empty()) {
    if (endIfClientGone(down_.writeContinue())) return;
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
  if (deadline_ms_ == 0)
    deadline_ms_ =
        core::monotonicMillis() + std::min(t.request, grpc_timeout_.value_or(t.request)).count();
  int64_t left = deadline_ms_ - core::monotonicMillis();
  armTimer(core::Millis(std::max<int64_t>(1, std::min<int64_t>(t.per_try.count(), left))));
  if (state_ == State::Forwarding) {
    armHedgeTimer();
    armAckCheck();
  }
}

// Moves request body bytes from the client to the upstream, re-framing chunked bodies, until
// the client's bytes run out, the body ends, or the upstream's buffer is full.
void Exchange::pumpRequestBody() {
  if (request_done_) {
    if (!up_->channel().flush()) {
      onUpstreamError(*up_, errno);
      return;
    }
    resumeClientOnceBodySent();
    return;
  }
  core::Buffer& in = down_.requestInput();
  core::Buffer& out = up_->channel().output();
  const size_t out_before = out.size();
  uint64_t moved = 0;
  if (!moveRequestBody(in, out, moved)) {
    host_.stats().add(Counter::BadRequest);
    failRequestBody(Error{ErrorKind::ProtocolError, Side::Downstream, false, "chunked body"},
                    "bad chunked request body");
    return;
  }
  req_body_bytes_ += moved;
  keepSentBody(out, out_before);
  const uint64_t max_body = snap_->config->limits.max_body_bytes;
  if (max_body != 0 && req_body_bytes_ > max_body) {
    host_.stats().add(Counter::BodyTooLarge);
    failRequestBody(Error{ErrorKind::BodyTooLarge, Side::Downstream, false, {}},
                    "request body too large");
    return;
  }
  if (!up_->channel().flush()) {
    onUpstreamError(*up_, errno);
    return;
  }
  // Back-pressure: stop reading the client while the upstream's buffer is still full after
  // the write (checked after it: a paused reader with an empty buffer would never resume).
  if (out.size() > high_watermark_) {
    down_.pauseRequestInput();
    body_window_excused_ = true;
  } else if (!request_done_) {
    down_.resumeRequestInput();
  } else {
    resumeClientOnceBodySent();
  }
  if (state_ == State::Responding) return;  // the response's idle timer runs now
  if (request_done_)
    armResponseTimer();
  else if (moved > 0)
    armTimer(decision_.route->timeouts.idle);
}

// Moves the body bytes the client has sent into `out`, in the framing they go upstream with.
// False when a chunked body is malformed.
bool Exchange::moveRequestBody(core::Buffer& in, core::Buffer& out, uint64_t& moved) {
  if (head_.framing == Framing::ContentLength) {
    moved = std::min<uint64_t>(req_remaining_, in.size());
    out.moveFrom(in, moved);
    req_remaining_ -= moved;
    request_done_ = req_remaining_ == 0;
    return true;
  }
  if (head_.framing == Framing::UntilClose) {
    // An HTTP/2 body of no stated length: it ends with the client's stream, and goes upstream
    // chunked.
    moved = in.size();
    if (moved > 0) {
      http1::writeChunkHeader(moved, out);
      out.moveFrom(in, moved);
      http1::writeChunkEnd(out);
    }
    if (down_.requestInputEnded()) {
      http1::writeLastChunk(down_.requestTrailers(), out);
      request_done_ = true;
    }
    return true;
  }
  return moveChunkedBody(in, out, req_chunks_, true, moved, request_done_);
}

// A request body we cannot forward: answered, or, once the response has begun, aborted.
void Exchange::failRequestBody(const core::Error& err, const char* why) {
  if (!response_started_)
    failBeforeResponse(err);
  else
    abort(Cause::Failure, why);
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
    if (rechunk) http1::writeLastChunk(dec.trailers(), out);
  }
  return true;
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
      if (down_.requestInput().size() > high_watermark_) {
        down_.pauseRequestInput();
        body_window_excused_ = true;
      }
      return;
  }
}

void Exchange::onDownstreamDrained() {
  if (state_ == State::Responding && splice_ == nullptr) {
    up_->channel().resumeReading();
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
    down_.resumeRequestInput();
    pumpRequestBody();
  } else {
    resumeClientOnceBodySent();
  }
}

// Once the whole body is upstream nothing holds the client back: a paused client is not read,
// so its leaving would go unnoticed (no 499, the upstream working on for nobody). What it
// sends next (a pipelined request) is bounded by its connection, and here by the watermark.
void Exchange::resumeClientOnceBodySent() {
  if (up_ != nullptr && up_->channel().output().size() <= high_watermark_ &&
      down_.requestInput().size() <= high_watermark_)
    down_.resumeRequestInput();
}

void Exchange::onDownstreamEof() {
  client_eof_ = true;
  if (state_ == State::Tunnel) {
    up_->channel().output().moveAllFrom(down_.requestInput());
    if (!up_->channel().flush()) {
      abort(Cause::Failure, "tunnel upstream write failed");
      return;
    }
    up_->channel().shutdownWrite();
    pumpTunnel();
    return;
  }
  // A client that closes before its request is whole has gone; one that half-closes after
  // sending it still gets its response.
  if (!request_done_) abort(Cause::ClientGone, "client closed before its request was whole");
}

void Exchange::onDownstreamGone() {
  abort(Cause::ClientGone, "client gone");
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
          host_.stats().add(Counter::UpstreamResets);
          reportAttemptOnce(health::Outcome::Reset);
          abort(Cause::Failure, "upstream closed mid-response");
        }
      }
      return;
    case State::Tunnel:
      down_.responseOutput().moveAllFrom(up_->channel().input());
      if (endIfClientGone(down_.flush()) || endIfClientGone(down_.shutdownWrite())) return;
      pumpTunnel();
      return;
    case State::Forwarding:
      if (up_->channel().input().empty() && up_->reused() && resendable() && stale_retries_ < 2) {
        retryOnFreshConnection();
        return;
      }
      host_.stats().add(Counter::UpstreamResets);
      reportOutcome(health::Outcome::Reset);
      if (tryReplay(replay::Failure{replay::Reason::Reset})) return;
      failBeforeResponse(Error{ErrorKind::UpstreamReset, Side::Upstream, true, "closed"});
      return;
    default:
      return;
  }
}

void Exchange::onUpstreamError(UpstreamConn& conn, int err) {
  // An HTTP/2 stream the upstream did not process (GOAWAY, REFUSED_STREAM): as after a failed
  // connect, nothing happened there, and the request may go anywhere, a new connection first.
  if (state_ == State::Forwarding && up_->refused()) {
    if (tryReplay(replay::Failure{replay::Reason::ConnectFailure})) return;
    failBeforeResponse(Error{ErrorKind::UpstreamReset, Side::Upstream, true, "refused stream"});
    return;
  }
  if (state_ == State::Forwarding && up_->reused() && resendable() &&
      up_->channel().input().empty() && stale_retries_ < 2) {
    retryOnFreshConnection();
    return;
  }
  host_.stats().add(Counter::UpstreamResets);
  reportAttemptOnce(health::Outcome::Reset);
  if (state_ == State::Forwarding) {
    if (tryReplay(replay::Failure{replay::Reason::Reset})) return;
    failBeforeResponse(Error{ErrorKind::UpstreamReset, Side::Upstream, true, strerror(err)});
  } else {
    abort(Cause::Failure, "upstream error");
  }
}

// A reused keep-alive connection died before answering: the upstream closed it as we sent
// the request. That is not the request's failure; send it again on a fresh connection.
void Exchange::retryOnFreshConnection() {
  ++stale_retries_;
  host_.stats().add(Counter::UpstreamStaleRetries);
  releaseUpstream(false);
  --attempts_;  // the stale connection did not count as an attempt
  connect();
}

void Exchange::armTimer(core::Millis after) {
  host_.deadlines().schedule(*this, after);
}

void Exchange::cancelTimer() {
  host_.deadlines().cancel(*this);
}

void Exchange::onDeadline() {
  switch (state_) {
    case State::Connecting:
      onConnectTimeout();
      return;
    case State::Forwarding:
      if (!request_done_ && !down_.requestInputPaused()) {
        // The client stopped sending its body (we were ready to take more).
        failBeforeResponse(Error{ErrorKind::ClientTimeout, Side::Downstream, false, "body"});
        return;
      }
      host_.stats().add(Counter::UpstreamTimeouts);
      reportOutcome(health::Outcome::Timeout);
      recordLatency();
      if (tryReplay(replay::Failure{replay::Reason::Timeout})) return;
      failBeforeResponse(Error{ErrorKind::ReadTimeout, Side::Upstream, true, "no response"});
      return;
    case State::Backoff:
      resendAfterBackoff();
      return;
    case State::CapacityWait:
      onCapacityCheck();
      return;
    case State::Hedging:
      // The oldest hedge, the exchange's only hope with the others, is past its per-try time.
      hedges_.front()->timeOut();
      return;
    case State::Routing:
      if (idem_ticket_ != 0 && !idem_owner_) {
        onIdempotencyWaitTimeout();
      } else if (shared_pending_) {
        onSharedWaitTimeout();
      }
      return;
    case State::Responding:
    case State::Tunnel:
      // With the client's buffer full the upstream was paused for the client: its stall.
      if (down_.responseOutput().size() > high_watermark_ ||
          (splice_ != nullptr && splice_->waitingOnDestination())) {
        host_.stats().add(Counter::ClientStallTimeouts);
        abort(Cause::Failure, "client read nothing for the idle timeout");
        return;
      }
      host_.stats().add(Counter::UpstreamTimeouts);
      reportAttemptOnce(health::Outcome::Timeout);
      abort(Cause::Failure, "idle timeout");
      return;
    default:
      return;
  }
}

// ---- Ends ----------------------------------------------------------------------------------

// One request done, however it ended: its metrics and its access log line.
void Exchange::recordOutcome() {
  if (recorded_) return;
  recorded_ = true;
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at_).count();
  std::string_view route = decision_.route != nullptr ? decision_.route->name : std::string_view();
  std::string_view cluster =
      decision_.plan != nullptr ? decision_.plan->cluster->name : std::string_view();
  host_.metrics().countRequest(route, cluster, region_, final_status_, seconds);
  AccessLog& log = host_.accessLog();
  if (!log.enabled()) return;
  std::string_view reasons[kMaxFailures];
  for (int i = 0; i < failure_count_; ++i) reasons[i] = replay::reasonLabel(failures_[i]);
  std::string client_ip = client_addr_.text();
  AccessLogRecord r;
  r.ts = std::chrono::system_clock::now();
  r.request_id = request_id_;
  r.client_ip = client_ip;
  r.country = client_.country;
  r.method = head_.method;
  r.host = head_.host;
  r.path = http1::originForm(head_.target);
  r.protocol = down_.protocolName();
  r.status = final_status_;
  r.bytes_in = head_bytes_.size() + req_body_bytes_;
  r.bytes_out = bytes_out_;
  r.duration_ms = seconds * 1000.0;
  r.route = route;
  r.cluster = cluster;
  r.region = region_;
  r.attempts = attempts_;
  r.replay_reasons =
      std::span<const std::string_view>(reasons, static_cast<size_t>(failure_count_));
  std::string& line = host_.logScratch();
  line.clear();
  formatAccessLogLine(r, line);
  log.write(line);
}

void Exchange::failBeforeResponse(const core::Error& err) {
  cancelTimer();
  detachUpstream();
  int status = core::toHttpStatus(err);
  final_status_ = status;
  size_t out_before = down_.responseOutput().size();
  host_.stats().countStatus(status);
  logDebug("%.*s %.*s: %d %s (%s)", static_cast<int>(head_.method.size()), head_.method.data(),
           static_cast<int>(head_.target.size()), head_.target.data(), status, core::errorCode(err),
           err.detail.c_str());
  bool keep = keepClient();
  if (grpc_ && down_.protocolName() == "HTTP/2") {
    writeGrpcError(status, core::errorCode(err), keep);
    return;
  }
  if (endIfClientGone(
          down_.writeErrorResponse(status, core::errorCode(err), !keep, head_.method == "HEAD")))
    return;
  bytes_out_ += down_.responseOutput().size() - out_before;
  finish(keep);
}

// After an answer of our own: the client's connection survives only if its request was read
// whole (a malformed, stalled or oversized body never was), so the next request on it can be
// found.
bool Exchange::keepClient() const {
  return head_.keep_alive && request_done_ && !host_.draining() && !client_eof_;
}

void Exchange::abort(Cause cause, const char* why) {
  logDebug("exchange aborted: %s", why);
  if (cause == Cause::ClientGone) {
    host_.stats().add(Counter::ClientAborts);
    if (final_status_ == 0) final_status_ = 499;  // gone before any answer (nginx's code for it)
  }
  recordOutcome();
  endHedges();
  detachUpstream();
  state_ = State::Done;
  cancelTimer();
  down_.exchangeAborted();
}

bool Exchange::endIfClientGone(Sent sent) {
  if (sent == Sent::Ok) return false;
  abort(Cause::ClientGone, "client gone");
  return true;
}

void Exchange::finish(bool client_keep_alive) {
  recordOutcome();
  endHedges();
  state_ = State::Done;
  cancelTimer();
  down_.exchangeDone(client_keep_alive);
}

// Lets go of whatever connection this exchange holds or is waiting for.
void Exchange::detachUpstream() {
  if (up_ != nullptr) {
    releaseUpstream(false);
  } else if (endpoint_ != nullptr) {
    host_.pool().cancel(endpoint_->text, this);
  }
  releaseLoadSlot();
  if (state_ == State::CapacityWait) {
    host_.capacityWaiters().remove(this);
    state_ = State::Routing;
  }
}

void Exchange::releaseUpstream(bool reusable) {
  splice_.reset();  // its events name the sockets, which may close now
  if (counted_active_) {
    host_.pool()
        .endpoint(*endpoint_, decision_.plan->cluster->pool)
        .active.fetch_sub(1, std::memory_order_relaxed);
    counted_active_ = false;
  }
  UpstreamConn* c = up_;
  up_ = nullptr;
  host_.pool().release(c, reusable);
  releaseLoadSlot();
}

}  // namespace meridian::proxy
