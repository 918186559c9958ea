// H2Stream (one request of an HTTP/2 connection, the ClientSide of its Exchange) and the
// request-header checks it relies on. The session's frame handling is in h2_session.cc.
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <cstdio>

#include "core/log.h"
#include "proxy/exchange.h"
#include "proxy/h2_fields.h"
#include "proxy/h2_session.h"
#include "proxy/http1_writer.h"
#include "proxy/worker.h"

namespace meridian::proxy {

namespace h2 {

namespace {

// tchar (RFC 9110 5.6.2) without upper-case letters, as a table: names are checked byte by
// byte on every request.
constexpr std::array<bool, 256> kLowerToken = [] {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

bool isLowerToken(char c) {
  return kLowerToken[static_cast<unsigned char>(c)];
}

// NUL, CR and LF may not appear in a field value (RFC 9113 8.2.1).
bool hasForbiddenValueByte(std::string_view v) {
  for (char c : v)
    if (c == '\0' || c == '\r' || c == '\n') return true;
  return false;
}

bool parseLength(std::string_view v, uint64_t& out) {
  if (v.empty() || v.size() > 19) return false;
  uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  out = n;
  return true;
}

}  // namespace

bool isConnectionSpecific(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "upgrade";
}

RequestBuilder::Result RequestBuilder::fail(Result r, const char* why) {
  if (result_ == Result::Ok) {
    result_ = r;
    why_ = why;
  }
  return result_;
}

RequestBuilder::Result RequestBuilder::add(std::string_view name, std::string_view value) {
  if (result_ != Result::Ok) return result_;
  bytes_ += name.size() + value.size() + 32;
  if (bytes_ > max_bytes_) return fail(Result::TooLarge, "header list too large");
  if (name.empty()) return fail(Result::Malformed, "empty header name");
  if (hasForbiddenValueByte(value)) return fail(Result::Malformed, "bad header value");
  if (name.front() == ':') {
    if (regular_seen_) return fail(Result::Malformed, "pseudo-header after regular header");
    struct Pseudo {
      std::string_view name;
      std::string* value;
      bool* seen;
    };
    const Pseudo pseudo[] = {{":method", &method_, &has_method_},
                             {":scheme", &scheme_, &has_scheme_},
                             {":path", &path_, &has_path_},
                             {":authority", &authority_, &has_authority_},
                             {":protocol", &protocol_, &has_protocol_}};
    for (const auto& p : pseudo) {
      if (p.name != name) continue;
      if (*p.seen) return fail(Result::Malformed, "duplicate pseudo-header");
      *p.seen = true;
      p.value->assign(value);
      return result_;
    }
    return fail(Result::Malformed, "unknown pseudo-header");
  }
  regular_seen_ = true;
  if (!std::all_of(name.begin(), name.end(), isLowerToken))
    return fail(Result::Malformed, "header name not a lower-case token");
  if (isConnectionSpecific(name)) return fail(Result::Malformed, "connection-specific header");
  if (name == "te" && value != "trailers") return fail(Result::Malformed, "te other than trailers");
  if (fields_.size() >= max_headers_) return fail(Result::TooLarge, "too many header fields");
  fields_.emplace_back(name, value);
  return result_;
}

RequestBuilder::Result RequestBuilder::finish(bool end_stream, std::string_view websocket_key,
                                              std::string& bytes, http1::RequestHead& head) {
  if (result_ != Result::Ok) return result_;
  if (!has_method_ || method_.empty()) return fail(Result::Malformed, "missing :method");
  bool connect = method_ == "CONNECT";
  bool websocket = false;
  if (connect && !has_protocol_) {
    // Plain CONNECT names only an authority; the caller refuses it (no tunnels to hosts).
    if (has_scheme_ || has_path_ || !has_authority_)
      return fail(Result::Malformed, "malformed CONNECT");
  } else {
    if (has_protocol_ && !connect) return fail(Result::Malformed, ":protocol without CONNECT");
    if (has_protocol_ && !http1::iequals(protocol_, "websocket"))
      return fail(Result::Malformed, "unsupported :protocol");
    websocket = has_protocol_;
    if (!has_scheme_ || scheme_.empty()) return fail(Result::Malformed, "missing :scheme");
    if (!has_path_ || path_.empty()) return fail(Result::Malformed, "missing :path");
    if (path_.front() != '/' && !(path_ == "*" && method_ == "OPTIONS"))
      return fail(Result::Malformed, "bad :path");
  }
  // :authority becomes Host; a Host field counts only without it (RFC 9113 8.3.1).
  std::string_view host = authority_;
  bool have_content_length = false;
  uint64_t content_length = 0;
  std::string cookie;
  for (const auto& [name, value] : fields_) {
    if (name == "host" && !has_authority_ && host.empty()) host = value;
    if (name == "content-length") {
      uint64_t n = 0;
      if (!parseLength(value, n) || (have_content_length && n != content_length))
        return fail(Result::Malformed, "bad content-length");
      have_content_length = true;
      content_length = n;
    }
    // HTTP/2 may split cookies into several fields; HTTP/1.1 wants one (RFC 9113 8.2.3).
    if (name == "cookie") {
      if (!cookie.empty()) cookie += "; ";
      cookie += value;
    }
  }
  if (host.empty()) return fail(Result::Malformed, "missing :authority");
  if (end_stream && content_length > 0) return fail(Result::Malformed, "content-length mismatch");

  // Every view of the head points into `bytes`: size it first so nothing moves.
  std::string_view method = websocket ? std::string_view("GET") : std::string_view(method_);
  std::string_view target = connect && !websocket ? authority_ : std::string_view(path_);
  size_t total = method.size() + target.size() + 4 + host.size() + cookie.size() + 6 +
                 websocket_key.size() + 17 + 7 + 9;
  for (const auto& [name, value] : fields_) total += name.size() + value.size();
  bytes.clear();
  bytes.reserve(total);
  auto put = [&bytes](std::string_view s) {
    size_t at = bytes.size();
    bytes.append(s);
    return std::string_view(bytes.data() + at, s.size());
  };
  head.clear();
  head.method = put(method);
  head.target = put(target);
  head.minor_version = 1;
  head.keep_alive = true;
  head.host = put(host);
  head.headers.push_back({put("host"), head.host});
  for (const auto& [name, value] : fields_) {
    if (name == "host" || name == "cookie") continue;
    if (websocket && name == "sec-websocket-key") continue;
    head.headers.push_back({put(name), put(value)});
  }
  if (!cookie.empty()) head.headers.push_back({put("cookie"), put(cookie)});
  if (websocket) {
    // The exchange forwards an HTTP/1.1 upgrade and tunnels once the upstream says 101.
    head.headers.push_back({put("upgrade"), put("websocket")});
    head.headers.push_back({put("sec-websocket-key"), put(websocket_key)});
    head.upgrade = true;
  }
  if (websocket || end_stream || (have_content_length && content_length == 0)) {
    head.framing = http1::Framing::None;
  } else if (have_content_length) {
    head.framing = http1::Framing::ContentLength;
    head.content_length = content_length;
  } else {
    head.framing = http1::Framing::UntilClose;  // the body ends with the stream
  }
  return Result::Ok;
}

}  // namespace h2

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

bool H2Stream::writeResponseHead(const http1::ResponseHead& head,
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
  submitResponse(fields, head.framing != http1::Framing::None || head.upgrade);
  return false;
}

void H2Stream::writeInterimResponse(const http1::ResponseHead& head) {
  if (response_submitted_ || closed_) return;
  h2::FieldList& fields = h2::scratchFields();
  fields.clear();
  fields.addNumber(":status", static_cast<uint64_t>(head.status));
  http1::ConnectionTokens connection = http1::connectionTokens(head.headers);
  for (const auto& h : head.headers)
    if (!dropFromResponse(connection, h.name)) fields.addLowered(h.name, h.value);
  session_.submitHeaders(id_, fields, false);
}

void H2Stream::writeErrorResponse(int status, std::string_view code, bool, bool head_request) {
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
  submitResponse(fields, !head_request);
}

void H2Stream::writeStoredResponse(int status, const Fields& headers, std::string_view body, bool,
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
  submitResponse(fields, !head_request && !body.empty());
}

void H2Stream::submitResponse(h2::FieldList& fields, bool has_body) {
  if (response_submitted_ || closed_) return;
  response_submitted_ = true;
  response_has_body_ = has_body;
  if (!has_body) {
    output_.clear();
    output_ended_ = true;
  }
  session_.submitResponse(*this, fields, has_body);
}

bool H2Stream::flush() {
  if (closed_ || session_.failed_) return false;
  if (response_has_body_) session_.resumeData(id_);
  flushing_ = true;
  session_.sendPending();
  flushing_ = false;
  if (closed_ || session_.failed_) return false;
  if (output_.size() > Exchange::kHighWatermark) was_high_ = true;
  return true;
}

// The upstream closed its side of a tunnel: the stream ends once output_ is sent.
void H2Stream::shutdownWrite() {
  output_ended_ = true;
  flush();
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
  http1::forEachTrailer(response_trailers_, [&fields](std::string_view name, std::string_view value) {
    fields.addLowered(name, value);
  });
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
