// Exchange, continued: hedged requests (replay.hedge). The replay rule decides which requests
// may be hedged (replay::hedgeable), the replay budget how many; a hedge goes where a replay
// would go next. The first response head wins; every other attempt is cancelled, its
// connection closed, and its endpoint hears nothing of it (cancelled is not failed).
#include "proxy/exchange/exchange_hedge.h"

#include <algorithm>
#include <cmath>

#include "core/log.h"
#include "proxy/http/http1_writer.h"

namespace meridian::proxy {

using core::Millis;

// ---- The hedge's own connection ------------------------------------------------------------

Exchange::HedgeAttempt::HedgeAttempt(Exchange& exchange, const Target& target, int attempt)
    : exchange_(exchange), target_(target), attempt_(attempt) {}

void Exchange::HedgeAttempt::start() {
  // A slot of the endpoint's capacity, as any attempt holds; at its hard limit (another
  // worker took the last slot since the choice) the hedge is not sent.
  if (!exchange_.takeSlotFor(*target_.endpoint, load_slot_)) {
    fail(replay::Reason::ConnectFailure, health::Outcome::Success);
    return;
  }
  exchange_.host_.deadlines().schedule(*this, exchange_.decision_.route->timeouts.connect);
  // A pooled connection is checked before it is lent (false): a dead one would fail the hedge.
  switch (exchange_.acquireConnection(*target_.endpoint, this, false)) {
    case UpstreamPool::Acquire::Ready:
    case UpstreamPool::Acquire::Pending:
      return;
    case UpstreamPool::Acquire::Overloaded:
      // Our own pool to the endpoint is full: nothing about the endpoint, so no health report.
      fail(replay::Reason::ConnectFailure, health::Outcome::Success);
      return;
    case UpstreamPool::Acquire::Failed:
      onUpstreamConnectFailed(errno);
      return;
  }
}

std::atomic<int>& Exchange::HedgeAttempt::activeCount() {
  return exchange_.host_.pool()
      .endpoint(*target_.endpoint, exchange_.decision_.plan->cluster->pool)
      .active;
}

void Exchange::HedgeAttempt::onUpstreamReady(UpstreamConn& conn) {
  if (done_) return;
  exchange_.host_.deadlines().cancel(*this);
  conn_ = &conn;
  activeCount().fetch_add(1, std::memory_order_relaxed);
  counted_active_ = true;
  http1::ForwardInfo fwd = exchange_.forwardInfo();
  fwd.attempt = attempt_;
  fwd.hedge = true;
  core::Buffer& out = conn.channel().output();
  http1::writeUpstreamRequestHead(exchange_.head_, fwd, out);
  // Only a request read whole, its body all kept, is hedged: this is all of it.
  exchange_.sent_body_.copyRangeTo(0, exchange_.sent_body_.size(), out);
  if (!conn.channel().flush()) onUpstreamError(conn, errno);
}

void Exchange::HedgeAttempt::onUpstreamConnectFailed(int) {
  if (done_) return;
  exchange_.host_.deadlines().cancel(*this);
  conn_ = nullptr;  // the pool closed it
  fail(replay::Reason::ConnectFailure, health::Outcome::ConnectFailure);
}

// Peeks at the response head: the exchange reads it again (and the rest) once it adopts the
// connection, so nothing is taken from the input here.
void Exchange::HedgeAttempt::onUpstreamData(UpstreamConn& conn) {
  if (done_) return;
  core::Buffer& in = conn.channel().input();
  const config::Limits& limits = exchange_.snap_->config->limits;
  http1::HeadLimits head_limits;
  head_limits.max_head_bytes = limits.max_header_bytes;
  head_limits.max_headers = static_cast<size_t>(limits.max_headers);
  size_t avail = std::min(in.size(), head_limits.max_head_bytes + 1);
  http1::ResponseHead& head = exchange_.host_.scratchResponse();
  head.clear();
  http1::ParseResult r = http1::parseResponseHead(
      in.pullup(avail), avail, exchange_.head_.method == "HEAD", head, head_limits);
  if (r.status == http1::ParseStatus::NeedMore) return;
  if (r.status == http1::ParseStatus::Error) {
    exchange_.host_.stats().add(Counter::UpstreamProtocolErrors);
    fail(replay::Reason::Reset, health::Outcome::Reset);
    return;
  }
  exchange_.adoptHedge(*this);
}

void Exchange::HedgeAttempt::onUpstreamEof(UpstreamConn&) {
  if (done_) return;
  exchange_.host_.stats().add(Counter::UpstreamResets);
  fail(replay::Reason::Reset, health::Outcome::Reset);
}

void Exchange::HedgeAttempt::onUpstreamError(UpstreamConn&, int) {
  if (done_) return;
  exchange_.host_.stats().add(Counter::UpstreamResets);
  fail(replay::Reason::Reset, health::Outcome::Reset);
}

// Passive health hears of the failure as of any attempt's; then the exchange decides.
void Exchange::HedgeAttempt::fail(replay::Reason reason, health::Outcome outcome) {
  if (outcome != health::Outcome::Success)
    exchange_.reportOutcome(*target_.endpoint, started_, outcome);
  logDebug("hedge to %s failed", target_.endpoint->text.c_str());
  exchange_.hedgeFailed(*this, replay::Failure{reason});
}

// No connection within timeouts.connect: a connect timeout, unless the hedge only waited in
// this worker's queue for the endpoint (its cap reached), which says nothing about it.
void Exchange::HedgeAttempt::onDeadline() {
  if (done_ || conn_ != nullptr) return;
  if (exchange_.host_.pool().queued(target_.endpoint->text, this)) {
    exchange_.host_.stats().add(Counter::UpstreamPoolWaitTimeouts);
    fail(replay::Reason::ConnectFailure, health::Outcome::Success);
    return;
  }
  exchange_.host_.stats().add(Counter::UpstreamConnectTimeouts);
  fail(replay::Reason::ConnectFailure, health::Outcome::ConnectFailure);
}

void Exchange::HedgeAttempt::cancel() {
  done_ = true;
  exchange_.host_.deadlines().cancel(*this);
  exchange_.releaseSlot(load_slot_);
  if (counted_active_) {
    activeCount().fetch_sub(1, std::memory_order_relaxed);
    counted_active_ = false;
  }
  if (conn_ != nullptr) {
    UpstreamConn* c = conn_;
    conn_ = nullptr;
    exchange_.host_.pool().release(c, false);
  } else {
    exchange_.host_.pool().cancel(target_.endpoint->text, this);
  }
}

void Exchange::HedgeAttempt::timeOut() {
  if (conn_ != nullptr) {
    exchange_.host_.stats().add(Counter::UpstreamTimeouts);
    fail(replay::Reason::Timeout, health::Outcome::Timeout);
    return;
  }
  exchange_.host_.stats().add(Counter::UpstreamConnectTimeouts);
  fail(replay::Reason::ConnectFailure, health::Outcome::ConnectFailure);
}

UpstreamConn* Exchange::HedgeAttempt::takeConnection(routing::EndpointLoad*& slot) {
  done_ = true;
  exchange_.host_.deadlines().cancel(*this);
  counted_active_ = false;  // the exchange counts it from now
  slot = load_slot_;
  load_slot_ = nullptr;
  UpstreamConn* c = conn_;
  conn_ = nullptr;
  return c;
}

// ---- The exchange's side -------------------------------------------------------------------

// Once the request has gone whole for the first time: the hedge's wait starts then.
void Exchange::armHedgeTimer() {
  if (hedge_armed_ || !decision_.route->replay.hedge.enabled()) return;
  hedge_armed_ = true;
  hedge_pos_ = region_pos_;
  if (auto after = hedgeDelay()) host_.deadlines().schedule(hedge_timer_, *after);
}

// replay.hedge.after, or the route's measured percentile of time to response head on this
// worker; none while too few responses were measured, or when it is not below the per-try
// timeout (the attempt would have timed out: that is a replay's business).
std::optional<Millis> Exchange::hedgeDelay() {
  const config::Hedge& h = decision_.route->replay.hedge;
  if (h.percentile == 0) return h.after;
  std::optional<double> q = host_.metrics()
                                .headLatency(decision_.route->name)
                                .quantile(h.percentile / 100.0, core::monotonicMillis());
  if (!q) return std::nullopt;
  Millis after(std::max<int64_t>(1, static_cast<int64_t>(std::ceil(*q * 1000))));
  if (after >= decision_.route->timeouts.per_try) return std::nullopt;
  return after;
}

// The route's time to response head, for `after: pNN`: only routes that hedge by it pay for it.
void Exchange::observeHeadLatency() {
  if (decision_.route->replay.hedge.percentile == 0) return;
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - attempt_started_at_;
  host_.metrics().headLatency(decision_.route->name).observe(took.count(), core::monotonicMillis());
}

// No head yet after the wait: the same request to the next region, if the replay rule and the
// budget allow it.
void Exchange::onHedgeTimer() {
  if (state_ != State::Forwarding && state_ != State::Hedging) return;
  const config::Replay& policy = decision_.route->replay;
  // An Upgrade (WebSocket) would open two tunnels to run one.
  if (hedges_sent_ >= policy.hedge.max || head_.upgrade) return;
  // Where a replay would go after the last region tried, hedges included; with `to:
  // same_region`, another endpoint of this region, else this endpoint on a new connection.
  const Target own = target();
  bool found;
  if (policy.hedge.same_region) {
    found = chooseEndpoint() && region_ == own.region;
    if (!found) {
      setTarget(own);
      found = routing::endpointLoad(*decision_.plan, static_cast<uint32_t>(endpointIndex())) !=
              routing::LoadLevel::AtHard;
    }
  } else {
    region_pos_ = std::max(region_pos_, hedge_pos_);
    found = chooseNextRegion();
  }
  const Target next = target();
  setTarget(own);

  replay::Input in;
  in.method = head_.method;
  in.has_idempotency_key = !http1::findHeader(head_.headers, "idempotency-key").empty();
  in.body_buffered = request_done_ && !body_overflow_;
  in.response_started = response_started_;
  in.attempts = attempts_;
  if (deadline_ms_ != 0) in.time_left = Millis(deadline_ms_ - core::monotonicMillis());
  in.next_target = found;
  in.budget_available = budget_->available(policy.budget_percent);
  const replay::Decision d = replay::hedgeable(policy, in);
  if (d.verdict == replay::Verdict::GiveUp) {
    if (std::string_view(d.why) == "budget")
      host_.metrics().countHedge(decision_.route->name, "budget");
    logDebug("no hedge: %s", d.why);
    return;
  }
  budget_->tryStartReplay(policy.budget_percent);  // available() said yes just now
  ++hedge_slots_;
  ++hedges_sent_;
  ++hedges_open_;
  ++attempts_;
  tried_mask_ = next.tried_mask;  // a replay later goes elsewhere
  hedge_pos_ = next.region_pos;
  if (hedges_sent_ < policy.hedge.max) {
    if (auto after = hedgeDelay()) host_.deadlines().schedule(hedge_timer_, *after);
  }
  auto* hedge = new HedgeAttempt(*this, next, attempts_);
  hedges_.push_back(hedge);
  hedge->start();  // last: a hedge that fails at once may end the exchange
}

// A head arrived on the exchange's connection (its own attempt, or an adopted hedge's) before
// any other: the other hedges lose and are cancelled, and no more are sent.
void Exchange::settleHedges(bool hedge_won) {
  host_.deadlines().cancel(hedge_timer_);
  const std::string& route = decision_.route->name;
  if (hedge_won && hedges_open_ > 0) {
    host_.metrics().countHedge(route, "won");
    --hedges_open_;
  }
  for (; hedges_open_ > 0; --hedges_open_) host_.metrics().countHedge(route, "lost");
  while (!hedges_.empty()) dropHedge(*hedges_.front());
}

// The request ends otherwise (answered an error, the client gone): what is left is cancelled.
void Exchange::endHedges() {
  host_.deadlines().cancel(hedge_timer_);
  if (decision_.route == nullptr) return;
  for (; hedges_open_ > 0; --hedges_open_)
    host_.metrics().countHedge(decision_.route->name, "cancelled");
  while (!hedges_.empty()) dropHedge(*hedges_.front());
}

void Exchange::dropHedge(HedgeAttempt& hedge) {
  hedge.cancel();
  std::erase(hedges_, &hedge);
  host_.loop().deleteLater(&hedge);
}

// The exchange's own attempt failed while hedges still wait: they carry the request now. The
// exchange waits for them (State::Hedging) and keeps the failure, the request's if they all
// fail too.
bool Exchange::handOverToHedges(const replay::Failure& own_failure) {
  if (hedges_.empty()) return false;
  detachUpstream();
  own_failure_ = own_failure;
  state_ = State::Hedging;
  armHedgingTimer();
  return true;
}

// In State::Hedging the per-try deadline is the oldest hedge's (all are bounded by the
// route's request deadline).
void Exchange::armHedgingTimer() {
  const auto& t = decision_.route->timeouts;
  int64_t left = std::chrono::duration_cast<std::chrono::milliseconds>(
                     hedges_.front()->started() + t.per_try - std::chrono::steady_clock::now())
                     .count();
  if (deadline_ms_ != 0) left = std::min(left, deadline_ms_ - core::monotonicMillis());
  armTimer(Millis(std::max<int64_t>(1, left)));
}

// A hedge's head came first: the exchange's own attempt (and any other hedge) is cancelled,
// and the hedge's connection becomes the exchange's, its head read from there.
void Exchange::adoptHedge(HedgeAttempt& hedge) {
  detachUpstream();  // the own attempt: closed, and not a failure of its endpoint
  std::erase(hedges_, &hedge);
  up_ = hedge.takeConnection(load_slot_);
  host_.loop().deleteLater(&hedge);
  host_.pool().handOver(up_, this);
  counted_active_ = true;
  const Target& t = hedge.target();
  endpoint_ = t.endpoint;
  region_ = t.region;
  region_pos_ = t.region_pos;
  attempt_started_at_ = hedge.started();
  attempt_is_hedge_ = true;
  status_reported_ = false;
  interim_responses_ = 0;
  upstream_eof_ = false;
  state_ = State::Forwarding;
  up_->channel().setLowWatermark(lowWatermark());
  up_->channel().setReadSize(core::Buffer::kReadBlockSize);
  // The hedge's own per-try deadline, in case its head was only an interim one.
  const auto& timeouts = decision_.route->timeouts;
  int64_t left = std::chrono::duration_cast<std::chrono::milliseconds>(
                     hedge.started() + timeouts.per_try - std::chrono::steady_clock::now())
                     .count();
  if (deadline_ms_ != 0) left = std::min(left, deadline_ms_ - core::monotonicMillis());
  armTimer(Millis(std::max<int64_t>(1, left)));
  parseResponseHead();
}

// A hedge failed. While another attempt still waits, that is all; when it was the last one, the
// request failed as its own attempt did (which failed first): replayed or answered.
void Exchange::hedgeFailed(HedgeAttempt& hedge, const replay::Failure& failure) {
  if (failure_count_ < kMaxFailures) failures_[failure_count_++] = failure;
  const Target t = hedge.target();
  dropHedge(hedge);
  if (state_ != State::Hedging) return;
  if (!hedges_.empty()) {
    armHedgingTimer();
    return;
  }
  // A replay goes on from the last region tried.
  endpoint_ = t.endpoint;
  region_ = t.region;
  region_pos_ = std::max(t.region_pos, region_pos_);
  state_ = State::Forwarding;
  cancelTimer();
  if (tryReplay(own_failure_, Millis(0), false)) return;
  failWith(own_failure_);
}

// The answer to a failure before any response, when it is not replayed.
void Exchange::failWith(const replay::Failure& failure) {
  using core::Error;
  using core::ErrorKind;
  using core::Side;
  switch (failure.reason) {
    case replay::Reason::ConnectFailure:
      failBeforeResponse(Error{ErrorKind::ConnectRefused, Side::Upstream, true, "connect"});
      return;
    case replay::Reason::Timeout:
      failBeforeResponse(Error{ErrorKind::ReadTimeout, Side::Upstream, true, "no response"});
      return;
    default:
      failBeforeResponse(Error{ErrorKind::UpstreamReset, Side::Upstream, true, "closed"});
      return;
  }
}

}  // namespace meridian::proxy
