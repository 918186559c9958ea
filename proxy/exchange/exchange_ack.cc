// Exchange, continued: a request the upstream's TCP never acknowledged.
//
// A region that silently drops packets (a black hole), or whose accept queue is full, takes a
// request sent on an open connection and never answers: without this, the attempt waits for
// the whole per-try timeout. Yet the kernel knows within a round trip: the request's bytes
// stay unacknowledged. So once the request is sent whole, `timeouts.unacked` beyond the
// connection's own round trip without any acknowledgement while bytes are outstanding means
// the request is lost on the way, and a replayable request moves on at once, as after a
// timeout. Acknowledgements that keep coming (a large body on a slow link) never trigger it,
// and a request that is not replayable keeps waiting as before: an acknowledgement can be
// lost while its data arrived.
#include "core/log.h"
#include "core/tcp_progress.h"
#include "proxy/exchange/exchange.h"

namespace meridian::proxy {

void Exchange::armAckCheck() {
  const core::Millis after = decision_.route->timeouts.unacked;
  if (after.count() == 0 || up_ == nullptr) return;
  request_sent_ms_ = core::monotonicMillis();
  host_.deadlines().schedule(ack_check_, after);
}

void Exchange::onAckCheck() {
  if (state_ != State::Forwarding || up_ == nullptr || !up_->channel().input().empty()) return;
  std::optional<core::TcpProgress> p = core::tcpProgress(up_->channel().socketFd());
  if (!p || p->unacked_segments == 0) return;  // the upstream has all of it: it is working
  // How long our bytes have been out with no acknowledgement: since the request was sent, or
  // since the last acknowledgement if one came after that.
  int64_t waited = std::min(core::monotonicMillis() - request_sent_ms_, p->since_last_ack_ms);
  int64_t due = decision_.route->timeouts.unacked.count() + p->rtt_ms;
  if (waited < due) {
    host_.deadlines().schedule(ack_check_, core::Millis(due - waited));
    return;
  }
  host_.stats().add(Counter::UpstreamUnacked);
  logDebug("upstream %s: request unacknowledged for %lld ms (round trip %lld ms)",
           up_->endpoint().c_str(), static_cast<long long>(waited),
           static_cast<long long>(p->rtt_ms));
  // Passive health hears of it only when the request moves; otherwise the attempt goes on,
  // and its end (an answer, or the per-try timeout) is its outcome.
  const ResolvedAddress* endpoint = endpoint_;
  const auto started = attempt_started_at_;
  if (tryReplay(replay::Failure{replay::Reason::Timeout}, core::Millis(0), false) &&
      endpoint != nullptr) {
    reportOutcome(*endpoint, started, health::Outcome::Timeout);
  }
}

}  // namespace meridian::proxy
