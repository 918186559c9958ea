// Exchange, continued: gRPC calls. The call itself needs nothing special (its trailers pass as
// any response's do); what is gRPC's own is how errors look to the client (HTTP 200 with
// grpc-status, never a bare 5xx its library would report as UNKNOWN), its grpc-timeout, and
// that a grpc-status can ask for a replay as a 503 can.
#include "core/grpc.h"
#include "core/log.h"
#include "proxy/exchange/exchange.h"

namespace meridian::proxy {

// Notes a gRPC call and its timeout. An HTTP/1.1 client cannot make one (gRPC needs HTTP/2's
// trailers): it is told so plainly with 415 rather than forwarded to fail upstream. False when
// the client was answered.
bool Exchange::startGrpc() {
  grpc_ = core::grpc::isGrpc(http1::findHeader(head_.headers, "content-type"));
  if (!grpc_) return true;
  if (down_.protocolName() != "HTTP/2") {
    static constexpr std::string_view kBody =
        "415 Unsupported Media Type: gRPC needs HTTP/2 (h2 over TLS, or h2c with prior "
        "knowledge); this request came as HTTP/1.1\n";
    host_.stats().countStatus(415);
    final_status_ = 415;
    bool keep = keepClient();
    size_t out_before = down_.responseOutput().size();
    if (endIfClientGone(down_.writeStoredResponse(
            415, {{"content-type", "text/plain"}, {"meridian-error", "grpc_needs_http2"}}, kBody,
            !keep, head_.method == "HEAD")))
      return false;
    bytes_out_ += down_.responseOutput().size() - out_before;
    finish(keep);
    return false;
  }
  std::string_view timeout = http1::findHeader(head_.headers, "grpc-timeout");
  if (!timeout.empty()) grpc_timeout_ = core::grpc::parseTimeout(timeout);
  return true;
}

// A trailers-only answer (the status in the response head) whose code `replay.on` names:
// replayed as a listed HTTP status would be. True when the exchange dealt with it.
bool Exchange::divertGrpcStatus(const http1::ResponseHead& head) {
  int code = core::grpc::parseStatus(http1::findHeader(head.headers, "grpc-status"));
  if (code <= 0) return false;
  replay::Failure failure{replay::Reason::GrpcStatus, code};
  if (!replay::enabledFor(decision_.route->replay, failure)) return false;
  reportAttemptOnce(health::Outcome::Status5xx);
  cancelTimer();
  return tryReplay(failure);
}

// An error we made, as the gRPC client's library reads one: HTTP 200, the status and message
// in a trailers-only response, meridian-error kept for people and logs.
void Exchange::writeGrpcError(int status, const char* code, bool keep) {
  const int grpc_code = core::grpc::codeForHttpStatus(status);
  char status_text[4];
  snprintf(status_text, sizeof status_text, "%d", grpc_code);
  char message[96];
  snprintf(message, sizeof message, "meridian: %s (HTTP %d)", code, status);
  size_t out_before = down_.responseOutput().size();
  if (endIfClientGone(down_.writeStoredResponse(200,
                                                {{"content-type", "application/grpc"},
                                                 {"grpc-status", status_text},
                                                 {"grpc-message", message},
                                                 {"meridian-error", code}},
                                                {}, !keep, false)))
    return;
  bytes_out_ += down_.responseOutput().size() - out_before;
  finish(keep);
}

}  // namespace meridian::proxy
