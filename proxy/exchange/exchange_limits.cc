// Exchange: the limits that protect the proxy from a client or an upstream that is too slow or
// too chatty: a minimum rate for request bodies, and a cap on 1xx responses.
#include "core/log.h"
#include "proxy/exchange/exchange.h"

namespace meridian::proxy {

using core::Error;
using core::ErrorKind;
using core::Side;

// limits.request_body_min_rate over each limits.request_body_timeout, as Apache's
// mod_reqtimeout MinRate: a body at 1 byte/s would otherwise hold an upstream connection for
// as long as the idle timeout lets any byte through. The clock runs from the request head
// (the upstream connection is taken at once), and a window in which we were the ones not
// reading (back-pressure from a slow upstream) is not held against the client.
void Exchange::startBodyClock() {
  const config::Limits& limits = snap_->config->limits;
  if (request_done_ || limits.request_body_min_rate == 0) return;
  body_window_bytes_ = req_body_bytes_ + down_.requestInput().size();
  body_window_excused_ = false;
  host_.deadlines().schedule(body_check_, limits.request_body_timeout);
}

void Exchange::onBodyRateCheck() {
  if (request_done_ || state_ == State::Done || state_ == State::Tunnel) return;
  const config::Limits& limits = snap_->config->limits;
  // Chunk framing is drained without being counted, so this can dip below the start.
  const uint64_t received = req_body_bytes_ + down_.requestInput().size();
  const uint64_t in_window = received > body_window_bytes_ ? received - body_window_bytes_ : 0;
  const uint64_t needed = limits.request_body_min_rate *
                          static_cast<uint64_t>(limits.request_body_timeout.count()) / 1000;
  // A client told to wait for 100 Continue sends nothing until it gets it.
  const bool waiting_for_continue = head_.expect_continue && !sent_continue_;
  if (in_window >= needed || body_window_excused_ || down_.requestInputPaused() ||
      waiting_for_continue) {
    startBodyClock();
    return;
  }
  host_.stats().add(Counter::RequestBodyTimeout);
  logDebug("%.*s %.*s: request body too slow: %llu bytes in %lld ms",
           static_cast<int>(head_.method.size()), head_.method.data(),
           static_cast<int>(head_.target.size()), head_.target.data(),
           static_cast<unsigned long long>(in_window),
           static_cast<long long>(limits.request_body_timeout.count()));
  if (response_started_) {
    abort(Cause::Failure, "request body too slow");
    return;
  }
  failBeforeResponse(Error{ErrorKind::ClientTimeout, Side::Downstream, false, "body too slow"});
}

// limits.max_interim_responses per attempt: an upstream sending 102 after 102 would otherwise
// keep the request (and the client's buffer) busy until the per-try timeout. True when the
// exchange has answered 502 instead.
bool Exchange::tooManyInterim() {
  if (++interim_responses_ <= snap_->config->limits.max_interim_responses) return false;
  host_.stats().add(Counter::UpstreamInterimLimit);
  logWarn("upstream %s: more than %d 1xx responses", endpoint_->text.c_str(),
          snap_->config->limits.max_interim_responses);
  failBeforeResponse(Error{ErrorKind::ProtocolError, Side::Upstream, false, "too many 1xx"});
  return true;
}

}  // namespace meridian::proxy
