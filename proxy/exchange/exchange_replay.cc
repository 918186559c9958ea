// Exchange, continued: replaying a request in another region, on failure or because the app
// asked for it. What is safe is decided by replay::decide; this file only carries it out.
#include <chrono>

#include "core/log.h"
#include "proxy/exchange/exchange.h"
#include "proxy/http/http1_writer.h"

namespace meridian::proxy {

using core::Millis;

namespace {

int64_t wallMicros() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

// Keeps a copy of the body bytes just added to `out` (from offset `from`), while they fit.
void Exchange::keepSentBody(const core::Buffer& out, size_t from) {
  if (body_overflow_ || out.size() <= from) return;
  size_t n = out.size() - from;
  if (sent_body_.size() + n > decision_.route->replay.body_buffer) {
    // Too big to send again: stream it and never replay (the rule says so up front).
    body_overflow_ = true;
    sent_body_.clear();
    sent_body_.release();
    return;
  }
  out.copyRangeTo(from, n, sent_body_);
}

// A failed attempt: replay the request elsewhere when replay::decide says so, after a backoff.
// Every input of the decision is found first (the next target, the backoff against the
// deadline, the budget), and only the verdict is acted on. Returns false when the caller
// should answer the failure itself.
bool Exchange::tryReplay(const replay::Failure& failure, Millis at_least, bool record) {
  if (record && failure_count_ < kMaxFailures) failures_[failure_count_++] = failure;
  // Hedges still waiting may answer yet: this failure is not the request's.
  if (handOverToHedges(failure)) return true;
  const config::Route& route = *decision_.route;
  const bool nothing_sent = failure.reason == replay::Reason::ConnectFailure;
  // Where a replay would go, found now and taken only on TryNext: on GiveUp the caller still
  // has the failed attempt's target and connection (a 503 from it goes to the client as it is).
  const Target failed = target();
  const bool found = nothing_sent ? chooseAfterConnectFailure() : chooseNextRegion();
  const Target next = target();
  setTarget(failed);

  replay::Input in;
  in.failure = failure;
  in.method = head_.method;
  in.has_idempotency_key = !http1::findHeader(head_.headers, "idempotency-key").empty();
  in.body_buffered = !body_overflow_;
  in.response_started = response_started_;
  in.attempts = attempts_;
  if (deadline_ms_ != 0) in.time_left = Millis(deadline_ms_ - core::monotonicMillis());
  // Full-jitter backoff, or what a 503's Retry-After asked for; none when nothing was sent.
  if (!nothing_sent)
    in.wait = std::max(replay::backoff(route.replay, failure_count_, host_.random()), at_least);
  in.budget_available = holds_budget_ || budget_->available(route.replay.budget_percent);
  in.next_target = found;
  const replay::Decision d = replay::decide(route.replay, in);
  if (d.verdict == replay::Verdict::GiveUp) {
    if (std::string_view(d.why) == "budget") countReplay(nullptr);
    logDebug("no replay after %.*s: %s", static_cast<int>(replay::reasonLabel(failure).size()),
             replay::reasonLabel(failure).data(), d.why);
    return false;
  }
  // A replay that sends the request again holds one slot of the budget until the request ends.
  if (!nothing_sent && !holds_budget_)
    holds_budget_ = budget_->tryStartReplay(route.replay.budget_percent);
  detachUpstream();  // from the failed target
  setTarget(next);
  if (region_ != failed.region) connects_in_region_ = 0;
  countReplay(&failure);
  if (nothing_sent) {
    connect();
    return true;
  }
  state_ = State::Backoff;
  armTimer(std::max(in.wait, Millis(1)));
  return true;
}

Exchange::Target Exchange::target() const {
  return Target{endpoint_, region_, region_pos_, tried_mask_};
}

void Exchange::setTarget(const Target& t) {
  endpoint_ = t.endpoint;
  region_ = t.region;
  region_pos_ = t.region_pos;
  tried_mask_ = t.tried_mask;
}

// After a connect that failed or timed out: another try in the same region (an untried healthy
// endpoint there, else the same one while it is healthy) until replay.connect_tries_per_region
// connects failed there, then the next region with an untried healthy endpoint. A lost SYN or
// an accept queue that overflowed for a moment must not send the request across the world.
bool Exchange::chooseAfterConnectFailure() {
  const Target failed = target();
  const int tries = decision_.route->replay.connect_tries_per_region;
  if (++connects_in_region_ < tries) {
    if (chooseEndpoint() && region_ == failed.region) return true;
    setTarget(failed);
    // An unhealthy endpoint is tried again only when the router routed anyway (as chooseEndpoint
    // uses one only then).
    if (decision_.routed_anyway ||
        snap_->health->healthy(decision_.plan->index, static_cast<uint32_t>(endpointIndex())))
      return true;
  }
  setTarget(failed);
  return chooseUntried();
}

// The next region in the request's order with an untried healthy endpoint; when the order is
// used up, any untried endpoint left in an earlier region.
bool Exchange::chooseNextRegion() {
  size_t failed_pos = region_pos_;
  ++region_pos_;
  if (chooseUntried()) return true;
  region_pos_ = failed_pos;
  return false;
}

// After a connect failure (nothing sent): another untried endpoint of this region, then of
// the regions after it, and when the order is used up, of an earlier region (a replay may have
// moved past a region that still has one).
bool Exchange::chooseUntried() {
  size_t failed_pos = region_pos_;
  if (chooseEndpoint()) return true;
  region_pos_ = 0;
  if (chooseEndpoint()) return true;
  region_pos_ = failed_pos;
  return false;
}

// An app-directed replay: a healthy endpoint of the named region, if the request may go there.
bool Exchange::chooseInRegion(std::string_view region) {
  const routing::ClusterPlan& plan = *decision_.plan;
  if (decision_.residency != nullptr) {
    bool allowed = false;
    for (const auto& r : *decision_.residency) allowed = allowed || r == region;
    if (!allowed) return false;  // residency is never broken, not even by the app
  }
  for (size_t pos = 0; pos < decision_.order_size; ++pos) {
    if (plan.regions[decision_.order[pos]].name != region) continue;
    uint64_t saved = tried_mask_;
    tried_mask_ = 0;  // the app asked for this region: earlier tries there do not matter
    region_pos_ = pos;
    bool found = chooseEndpoint() && region_ == region;
    tried_mask_ |= saved;
    return found;
  }
  return false;
}

// Called with each final response head before any of it reaches the client: an app asking
// for a replay, or a status the route replays on. Returns true when the response was diverted
// (replayed or answered by us); its connection is gone then.
bool Exchange::divertResponse(const http1::ResponseHead& head) {
  if (followReplayHeader(head)) return true;
  if (grpc_ && divertGrpcStatus(head)) return true;
  replay::Failure failure{replay::Reason::Status, head.status};
  if (head.status < 500 || !replay::enabledFor(decision_.route->replay, failure)) return false;
  // A 503's Retry-After (within the deadline) sets the least wait before the replay.
  Millis at_least(0);
  if (head.status == 503) {
    auto ra =
        replay::parseRetryAfter(http1::findHeader(head.headers, "retry-after"), std::time(nullptr));
    if (ra) at_least = *ra;
  }
  reportAttemptOnce(health::Outcome::Status5xx);
  cancelTimer();
  return tryReplay(failure, at_least);
}

// A response asking to be replayed elsewhere is never shown to the client. Returns true when
// the exchange has dealt with it (replayed, or answered an error).
bool Exchange::followReplayHeader(const http1::ResponseHead& head) {
  const config::Route& route = *decision_.route;
  bool fly = false;
  std::string_view value = http1::findHeader(head.headers, "meridian-replay");
  if (value.empty() && route.compat == "fly") {
    value = http1::findHeader(head.headers, "fly-replay");
    fly = !value.empty();
  }
  if (value.empty()) return false;
  reportAttemptOnce(health::Outcome::Success);  // the app answered; it chose to send us elsewhere
  const char* refusal = nullptr;
  core::ErrorKind kind = core::ErrorKind::ReplayRefused;
  replay::Directive dir = replay::parseDirective(value);
  std::string target;
  if (app_replayed_) {
    refusal = "second replay";
    kind = core::ErrorKind::ReplayLoop;
  } else if (!dir.valid) {
    refusal = "unreadable header";
  } else if (body_overflow_) {
    refusal = "body over replay.body_buffer";
  } else if (dir.primary) {
    target = route.primary_region;
    if (target.empty()) refusal = "route has no primary_region";
  } else if (!dir.elsewhere) {
    target = std::string(dir.region);
  }
  // Everything read from the head is copied before the connection (and the head) goes.
  std::string from = region_;
  if (refusal == nullptr) {
    replay_src_.clear();
    replay::formatReplaySource(from, dir.state, wallMicros(), replay_src_);
    replay_src_fly_ = fly;
  } else {
    logWarn("replay asked by %s refused: %s (%.*s)", from.c_str(), refusal,
            static_cast<int>(value.size()), value.data());
  }
  detachUpstream();
  if (refusal == nullptr) {
    bool found = dir.elsewhere ? chooseNextRegion() && region_ != from : chooseInRegion(target);
    if (!found) {
      refusal = "no healthy endpoint there that residency allows";
      kind = core::ErrorKind::ReplayTargetUnavailable;
      logWarn("replay asked by %s refused: %s", from.c_str(), refusal);
    }
  }
  if (refusal != nullptr) {
    endpoint_ = nullptr;
    failBeforeResponse(core::Error{kind, core::Side::Upstream, false, refusal});
    return true;
  }
  app_replayed_ = true;
  countReplay(nullptr, fly ? "fly-replay" : "meridian-replay");
  connect();
  return true;
}

// replays_total{route,reason}, or budget_exhausted_total{route} when `failure` is null and
// no `app_reason` is given.
void Exchange::countReplay(const replay::Failure* failure, std::string_view app_reason) {
  std::string_view route = decision_.route->name;
  if (failure != nullptr) {
    host_.metrics().countReplay(route, replay::reasonLabel(*failure));
  } else if (!app_reason.empty()) {
    host_.metrics().countReplay(route, app_reason);
  } else {
    host_.metrics().countBudgetExhausted(route);
  }
}

void Exchange::resendAfterBackoff() {
  connect();
}

// Gives back the budget this request held for its replays.
void Exchange::endReplay() {
  if (holds_budget_) budget_->replayFinished();
  holds_budget_ = false;
  for (; hedge_slots_ > 0; --hedge_slots_) budget_->replayFinished();
  if (budget_ != nullptr) budget_->requestFinished();
  budget_ = nullptr;
}

}  // namespace meridian::proxy
