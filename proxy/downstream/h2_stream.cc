// H2Stream (one request of an HTTP/2 connection, the ClientSide of its Exchange) and the
// request-header checks it relies on. The session's frame handling is in h2_session.cc.
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <cstdio>

#include "core/log.h"
#include "proxy/downstream/h2_session.h"
#include "proxy/exchange/exchange.h"
#include "proxy/http/h2_fields.h"
#include "proxy/http/http1_writer.h"

namespace meridian::proxy {

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && http1::iequals(s.substr(0, prefix.size()), prefix);
}

// Fields of an HTTP/1 head that may not travel in HTTP/2 (RFC 9113 8.2.2: every
// connection-specific field is hop-by-hop), or that we write ourselves.
bool dropFromResponse(const http1::ConnectionTokens& connection, std::string_view name) {
  return http1::isHopByHop(name) || http1::iequals(name, "meridian-region") ||
         http1::iequals(name, "content-length") || connection.names(name);
}

}  // namespace

H2Stream::H2Stream(H2Session& session, int32_t id) : session_(session), id_(id) {}

H2Stream::~H2Stream() = default;

const routing::IpAddress& H2Stream::peer() const {
  return session_.peer();
}
std::string_view H2Stream::clientIp() const {
  return session_.clientIp();
}
const ListenSocket& H2Stream::listener() const {
  return session_.listener();
}

void H2Stream::resumeRequestInput() {
  paused_ = false;
  grantWindow();
  session_.sendPending();
}

void H2Stream::grantWindow() {
  if (paused_ || closed_ || unconsumed_ <= input_.size()) return;
  session_.consume(id_, unconsumed_ - input_.size());
  unconsumed_ = input_.size();
}

HeadSent H2Stream::writeResponseHead(const http1::ResponseHead& head,
                                     const http1::ResponseOptions& opt) {
  h2::FieldList& fields = h2::scratchFields();
  fields.clear();
  // RFC 8441: an extended CONNECT succeeds with 200; the tunnel's bytes are DATA frames.
  fields.addNumber(":status", static_cast<uint64_t>(head.status == 101 ? 200 : head.status));
  bool no_body_status = head.status < 200 || head.status == 204;
  http1::ConnectionTokens connection = http1::connectionTokens(head.headers);
  for (const auto& h : head.headers) {
    if (head.framing == http1::Framing::None && !no_body_status && !head.upgrade &&
        http1::iequals(h.name, "content-length")) {
      fields.addLowered(h.name, h.value);  // HEAD, 304: as sent
      continue;
    }
    if (head.upgrade && startsWithNoCase(h.name, "sec-websocket-")) continue;
    if (dropFromResponse(connection, h.name)) continue;
    fields.addLowered(h.name, h.value);
  }
  if (head.framing == http1::Framing::ContentLength)
    fields.addNumber("content-length", head.content_length);
  if (!opt.region.empty()) fields.add("meridian-region", opt.region);
  if (!opt.set_cookie.empty()) fields.add("set-cookie", opt.set_cookie);
  if (!opt.set_cookie_pin.empty()) fields.add("set-cookie", opt.set_cookie_pin);
  return {submitResponse(fields, head.framing != http1::Framing::None || head.upgrade), false};
}

Sent H2Stream::writeContinue() {
  if (openOrGone() == Sent::ClientGone) return Sent::ClientGone;
  if (response_submitted_) return Sent::Ok;
  h2::FieldList& fields = h2::scratchFields();
  fields.clear();
  fields.addNumber(":status", 100);
  session_.submitHeaders(id_, fields, false);
  return Sent::Ok;
}

Sent H2Stream::writeInterimResponse(const http1::ResponseHead& head) {
  if (openOrGone() == Sent::ClientGone) return Sent::ClientGone;
  if (response_submitted_) return Sent::Ok;
  h2::FieldList& fields = h2::scratchFields();
  fields.clear();
  fields.addNumber(":status", static_cast<uint64_t>(head.status));
  http1::ConnectionTokens connection = http1::connectionTokens(head.headers);
  for (const auto& h : head.headers)
    if (!dropFromResponse(connection, h.name)) fields.addLowered(h.name, h.value);
  session_.submitHeaders(id_, fields, false);
  return Sent::Ok;
}

Sent H2Stream::writeErrorResponse(int status, std::string_view code, bool, bool head_request) {
  char body[160];
  int blen = snprintf(body, sizeof body, "%d %s: %.*s\n", status, http1::reasonPhrase(status),
                      static_cast<int>(code.size()), code.data());
  h2::FieldList& fields = h2::scratchFields();
  fields.clear();
  fields.addNumber(":status", static_cast<uint64_t>(status));
  fields.add("content-type", "text/plain");
  fields.addNumber("content-length", static_cast<uint64_t>(blen));
  fields.add("meridian-error", code);
  if (!head_request) output_.append(body, static_cast<size_t>(blen));
  output_ended_ = true;
  return submitResponse(fields, !head_request);
}

Sent H2Stream::writeStoredResponse(int status, const Fields& headers, std::string_view body, bool,
                                   bool head_request) {
  h2::FieldList& fields = h2::scratchFields();
  fields.clear();
  fields.addNumber(":status", static_cast<uint64_t>(status));
  for (const auto& [name, value] : headers) {
    if (http1::isHopByHop(name) || http1::iequals(name, "content-length")) continue;
    fields.addLowered(name, value);
  }
  fields.addNumber("content-length", body.size());
  if (!head_request) output_.append(body);
  output_ended_ = true;
  return submitResponse(fields, !head_request && !body.empty());
}

Sent H2Stream::submitResponse(h2::FieldList& fields, bool has_body) {
  if (openOrGone() == Sent::ClientGone) return Sent::ClientGone;
  if (response_submitted_) return Sent::Ok;
  response_submitted_ = true;
  response_has_body_ = has_body;
  if (!has_body) {
    output_.clear();
    output_ended_ = true;
  }
  session_.submitResponse(*this, fields, has_body);
  return Sent::Ok;
}

Sent H2Stream::openOrGone() const {
  return closed_ || session_.failed_ ? Sent::ClientGone : Sent::Ok;
}

Sent H2Stream::flush() {
  if (openOrGone() == Sent::ClientGone) return Sent::ClientGone;
  if (response_has_body_) session_.resumeData(id_);
  session_.sendPending();  // never closes the stream before it returns
  if (exchange_ && output_.size() > exchange_->highWatermark()) was_high_ = true;
  return Sent::Ok;
}

// The upstream closed its side of a tunnel: the stream ends once output_ is sent.
Sent H2Stream::shutdownWrite() {
  output_ended_ = true;
  return flush();
}

long H2Stream::readResponse(size_t max, uint32_t* flags) {
  if (output_.empty()) {
    if (!output_ended_) return NGHTTP2_ERR_DEFERRED;
    endResponseData(flags);
    return 0;
  }
  size_t n = std::min(max, output_.size());
  *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (n == output_.size() && output_ended_) endResponseData(flags);
  return static_cast<long>(n);
}

void H2Stream::writeResponseTrailers(std::string_view fields) {
  response_trailers_.assign(fields);
}

// The last DATA frame ends the stream, or, with trailers, a HEADERS frame after it does
// (submitted from inside nghttp2's data callback, as nghttp2 allows).
void H2Stream::endResponseData(uint32_t* flags) {
  *flags |= NGHTTP2_DATA_FLAG_EOF;
  if (response_trailers_.empty()) return;
  h2::FieldList& fields = h2::scratchFields();
  fields.clear();
  http1::forEachTrailer(
      response_trailers_,
      [&fields](std::string_view name, std::string_view value) { fields.addLowered(name, value); });
  if (fields.size() == 0) return;  // nothing that may be passed on
  *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
  session_.submitTrailers(id_, fields);
}

void H2Stream::exchangeDone(bool) {
  output_ended_ = true;
  endExchange();
  if (response_has_body_) session_.resumeData(id_);
  session_.sendPending();
}

void H2Stream::exchangeAborted() {
  endExchange();
  session_.resetStream(*this, NGHTTP2_INTERNAL_ERROR);
}

void H2Stream::endExchange() {
  if (exchange_) session_.worker().loop().deleteLater(exchange_.release());
  // Body bytes the exchange never took are the client's to forget: give back their window.
  paused_ = false;
  input_.clear();
  grantWindow();
  if (closed_) session_.releaseStream(id_);  // last: it may delete this stream (later)
}

}  // namespace meridian::proxy
