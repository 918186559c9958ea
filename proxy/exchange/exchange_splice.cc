// Exchange, continued: a large response body between two plain sockets moves with splice(2)
// (core::SpliceRelay) instead of through our buffers. The head and whatever body came with it
// went the usual way; once all of that is with the client, the rest of a Content-Length body
// of at least limits.splice_min_body goes from socket to socket without entering user space.
// Not for TLS on either side, an HTTP/2 client or upstream, or a body kept for
// Idempotency-Key waiters: those need the bytes.
#include "proxy/exchange/exchange.h"

namespace meridian::proxy {

using Status = core::SpliceRelay::Status;

bool Exchange::startSplice() {
  uint64_t min_body = snap_->config->limits.splice_min_body;
  if (min_body == 0 || resp_remaining_ < min_body || stored_ != nullptr) return false;
  int src = up_->channel().spliceSourceFd();
  int dst = down_.spliceTargetFd();
  if (src < 0 || dst < 0) return false;
  splice_ = core::SpliceRelay::make(host_.loop(), src, dst, resp_remaining_, this);
  if (splice_ == nullptr) return false;  // no pipe to be had: copy
  up_->channel().pauseReading();
  host_.stats().add(Counter::SplicedResponses);
  splice_->start();  // may end the exchange: nothing after it
  return true;
}

void Exchange::onSplice(core::SpliceRelay&, Status status, uint64_t moved, int) {
  bytes_out_ += moved;
  host_.stats().add(Counter::SplicedBytes, moved);
  switch (status) {
    case Status::Moving:
      armTimer(decision_.route->timeouts.idle);
      return;
    case Status::Done:
      resp_remaining_ = 0;
      splice_.reset();
      up_->channel().resumeReading();  // a pooled connection watches for its close
      finishResponse();
      return;
    case Status::SourceEof:
    case Status::SourceError:
      splice_.reset();
      upstream_eof_ = status == Status::SourceEof;
      host_.stats().add(Counter::UpstreamResets);
      reportAttemptOnce(health::Outcome::Reset);
      abort(Cause::Failure, status == Status::SourceEof ? "upstream closed mid-response"
                                                        : "upstream error mid-response");
      return;
    case Status::DestinationError:
      splice_.reset();
      abort(Cause::ClientGone, "client gone");
      return;
  }
}

}  // namespace meridian::proxy
