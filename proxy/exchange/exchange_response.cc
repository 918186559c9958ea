// Exchange, continued: Responding and Tunnel. The response head is read (interim responses
// passed on, a response the replay rules divert never shown), written to the client, and its
// body streamed back with watermarks; after a 101, bytes go both ways until both sides close.
#include <algorithm>
#include <ctime>

#include "core/log.h"
#include "proxy/exchange/exchange.h"
#include "proxy/http/http1_writer.h"
#include "proxy/http/upgrade.h"
#include "proxy/policy/pin_cookie.h"

namespace meridian::proxy {

using core::Error;
using core::ErrorKind;
using core::Side;
using http1::Framing;

void Exchange::onUpstreamData(UpstreamConn& conn) {
  switch (state_) {
    case State::Forwarding:
      parseResponseHead();
      return;
    case State::Responding:
      if (splice_ == nullptr) pumpResponseBody();  // a relay reads the socket itself
      return;
    case State::Tunnel:
      pumpTunnel();
      return;
    default:
      return;
  }
}

void Exchange::parseResponseHead() {
  core::Buffer& in = up_->channel().input();
  http1::ResponseHead& head = host_.scratchResponse();
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
      host_.stats().add(Counter::UpstreamProtocolErrors);
      logWarn("upstream %s: bad response: %s", endpoint_->text.c_str(),
              http1::parseErrorName(r.error));
      failBeforeResponse(
          Error{ErrorKind::ProtocolError, Side::Upstream, false, http1::parseErrorName(r.error)});
      return;
    }
    // The first head to arrive (this attempt's) wins over the hedges still waiting, and shows
    // the request arrived: the unacknowledged-request check has nothing left to judge.
    if (hedges_open_ > 0 || hedge_timer_.scheduled()) settleHedges(attempt_is_hedge_);
    host_.deadlines().cancel(ack_check_);
    if (head.status >= 100 && head.status < 200 && head.status != 101) {
      if (tooManyInterim()) return;
      // Interim responses: 100 Continue is ours to give (we answered Expect), others (103
      // Early Hints) go on to HTTP/1.1 clients.
      if (head.status != 100 && endIfClientGone(down_.writeInterimResponse(head))) return;
      in.drain(r.consumed);
      continue;
    }
    recordLatency();
    observeHeadLatency();
    // A response the app or the replay policy sends elsewhere never reaches the client; the
    // connection it came on is closed (and `in` with it).
    if (divertResponse(head)) return;
    // The head's views point into `in`: write it out before draining those bytes. When the
    // exchange ended instead, `in` went with its connection.
    if (!startResponse(head)) return;
    in.drain(r.consumed);
    if (state_ == State::Responding)
      pumpResponseBody();
    else if (state_ == State::Tunnel)
      pumpTunnel();
  }
}

// Returns false when the exchange ended instead (its upstream connection with it).
bool Exchange::startResponse(const http1::ResponseHead& head) {
  cancelTimer();
  if (head.status == 101 && (!head_.upgrade || !http1::upgradeAnswerMatches(
                                                   http1::findHeader(head_.headers, "upgrade"),
                                                   http1::findHeader(head.headers, "upgrade")))) {
    // A 101 nobody asked for, or to another protocol than the client asked for (h2c, which is
    // never offered): the bytes after it mean nothing to the client.
    host_.stats().add(Counter::UpstreamProtocolErrors);
    failBeforeResponse(Error{ErrorKind::ProtocolError, Side::Upstream, false, "unrequested 101"});
    return false;
  }
  response_started_ = true;
  final_status_ = head.status;
  startStoring(head);
  resp_ = {head.status, head.framing, head.keep_alive};
  // A 5xx is the upstream's failure as soon as its head says so; any other response is a
  // success only once its body has all arrived (finishResponse): an upstream that sends a
  // head and then stalls or dies is failing. A 101 hands the connection over: done here.
  if (head.status >= 500) reportAttemptOnce(health::Outcome::Status5xx);
  if (head.status == 101) reportAttemptOnce(health::Outcome::Success);
  http1::ResponseOptions opt;
  opt.client_http10 = head_.minor_version == 0;
  opt.head_request = head_.method == "HEAD";
  opt.region = region_;
  setCookies(opt);
  bool until_close_to_10 = opt.client_http10 && (head.framing == Framing::Chunked ||
                                                 head.framing == Framing::UntilClose);
  // If the client is still sending a body the upstream did not wait for, we cannot find the
  // next request on this connection: close it after this response.
  close_client_ = !head_.keep_alive || host_.draining() || until_close_to_10 || !request_done_;
  opt.close = close_client_;
  host_.stats().countStatus(head.status);
  size_t out_before = down_.responseOutput().size();
  HeadSent sent = down_.writeResponseHead(head, opt);
  if (endIfClientGone(sent.sent)) return false;
  resp_chunked_to_client_ = sent.chunk_body;
  bytes_out_ += down_.responseOutput().size() - out_before;
  resp_remaining_ = head.framing == Framing::ContentLength ? head.content_length : 0;
  if (head.status == 101) {
    state_ = State::Tunnel;
    host_.stats().add(Counter::Upgrades);
    armTimer(decision_.route->timeouts.idle);
    // The tunnel carries raw bytes both ways from here; whatever the client sent after its
    // request head belongs to the new protocol.
    request_done_ = true;
    down_.resumeRequestInput();
    return true;
  }
  state_ = State::Responding;
  armTimer(decision_.route->timeouts.idle);
  return true;
}

// Cookies the response sets: the blue-green backend this client got (affinity: cookie), and,
// after a write replayed to the primary, the pin that keeps the client's reads there for
// pin_after_write (residency still wins: the pin only moves a region first when allowed).
void Exchange::setCookies(http1::ResponseOptions& opt) {
  const config::Route& route = *decision_.route;
  const bool tls = down_.listener().tls;
  if (decision_.set_affinity_cookie && decision_.backend != nullptr) {
    affinity_cookie_.clear();
    routing::appendAffinitySetCookie(affinity_cookie_, snap_->router->affinityCookie(route),
                                     decision_.backend->cluster, tls);
    opt.set_cookie = affinity_cookie_;
  }
  if (app_replayed_ && route.pin_after_write.count() > 0 && region_ == route.primary_region) {
    int64_t secs = (route.pin_after_write.count() + 999) / 1000;
    pin::formatSetCookie(region_, static_cast<int64_t>(std::time(nullptr)), secs, tls, pin_cookie_);
    opt.set_cookie_pin = pin_cookie_;
  }
}

void Exchange::pumpResponseBody() {
  core::Buffer& in = up_->channel().input();
  core::Buffer& out = down_.responseOutput();
  const size_t out_before = out.size();
  bool done = false;
  switch (resp_.framing) {
    case Framing::None:
      done = true;
      break;
    case Framing::ContentLength: {
      uint64_t n = std::min<uint64_t>(resp_remaining_, in.size());
      storeBody(in, n);
      out.moveFrom(in, n);
      resp_remaining_ -= n;
      done = resp_remaining_ == 0;
      break;
    }
    case Framing::Chunked: {
      uint64_t moved = 0;
      if (!moveChunkedBody(in, out, resp_chunks_, resp_chunked_to_client_, moved, done)) {
        host_.stats().add(Counter::UpstreamProtocolErrors);
        abort(Cause::Failure, "bad chunked response body");
        return;
      }
      if (done && !resp_chunked_to_client_ && !resp_chunks_.trailers().empty())
        down_.writeResponseTrailers(resp_chunks_.trailers());
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
  bytes_out_ += out.size() - out_before;
  if (endIfClientGone(down_.flush())) return;
  if (done) {
    finishResponse();
    return;
  }
  // Everything read so far is with the client: the rest of a large body can bypass us.
  if (resp_.framing == Framing::ContentLength && in.empty() && out.empty() && startSplice())
    return;
  if (out.size() > high_watermark_)
    up_->channel().pauseReading();
  else
    up_->channel().setReadSize(responseReadSize(out.size()));
  armTimer(decision_.route->timeouts.idle);
}

// How much the next read of the response may take. While the client takes everything at once
// (nothing was left buffered for it), a read takes the whole budget in pooled blocks: a large
// body moves in fewer reads and writes. A client that leaves bytes behind gets one block per
// read, so what a slow reader holds stays within the budget plus one block.
size_t Exchange::responseReadSize(size_t buffered) const {
  constexpr size_t kBlock = core::Buffer::kReadBlockSize;
  return buffered == 0 ? std::max(kBlock, high_watermark_ / kBlock * kBlock) : kBlock;
}

void Exchange::finishResponse() {
  cancelTimer();
  reportAttemptOnce(health::Outcome::Success);
  // The upstream connection is reusable only when both messages ended cleanly and nothing
  // extra arrived after the response.
  bool reusable = resp_.keep_alive && request_done_ && !upstream_eof_ &&
                  resp_.framing != Framing::UntilClose && up_->channel().input().empty();
  releaseUpstream(reusable);
  releaseIdempotencyKey(true);
  finish(!close_client_ && !client_eof_);
}

void Exchange::pumpTunnel() {
  core::Buffer& from_client = down_.requestInput();
  core::Buffer& from_upstream = up_->channel().input();
  up_->channel().output().moveAllFrom(from_client);
  down_.responseOutput().moveAllFrom(from_upstream);
  if (!up_->channel().flush()) {
    abort(Cause::Failure, "tunnel upstream write failed");
    return;
  }
  if (endIfClientGone(down_.flush())) return;
  // Each side reads only while the other side's buffer has room.
  if (up_->channel().output().size() > high_watermark_)
    down_.pauseRequestInput();
  else if (!client_eof_)
    down_.resumeRequestInput();
  if (down_.responseOutput().size() > high_watermark_)
    up_->channel().pauseReading();
  else if (!upstream_eof_)
    up_->channel().resumeReading();
  if (client_eof_ && upstream_eof_ && !up_->channel().writePending() && !down_.responsePending()) {
    releaseUpstream(false);
    finish(false);
    return;
  }
  armTimer(decision_.route->timeouts.idle);
}

}  // namespace meridian::proxy
