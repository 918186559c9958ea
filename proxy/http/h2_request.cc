// Checks of one HTTP/2 request's header fields, and the HTTP/1-shaped head built from them.
#include "proxy/http/h2_request.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>

#include "proxy/http/http1_chars.h"

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

// RFC 9113 8.2.1: a field value may hold neither NUL, CR nor LF, and may neither start nor
// end with whitespace (SP, HTAB). HTTP/1 would trim such a value, so it would reach the app
// other than it was sent. Other control bytes are refused too, as the HTTP/1 parser refuses
// them (RFC 9110 5.5 field-value; 8.2.1 lets a recipient be this strict): the request goes
// upstream as HTTP/1.1, where the app would answer 400 or read the byte differently.
bool badValue(std::string_view v) {
  for (char c : v)
    if (!http1::chars::is(c, http1::chars::kFieldVal)) return true;
  auto ws = [](char c) { return c == ' ' || c == '\t'; };
  return !v.empty() && (ws(v.front()) || ws(v.back()));
}

// tchar (RFC 9110 5.6.2), any case: a method.
bool isToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    return isLowerToken(lower);
  });
}

// A request-target goes into the HTTP/1 request line as it is: visible ASCII only (as the
// HTTP/1 parser asks of one), so a space cannot end it early.
bool isVisibleAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
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

// The authority without a port that the scheme implies anyway (RFC 3986 6.2.3: an empty
// port, and 80 for http or 443 for https, name the same origin as none).
std::string_view withoutDefaultPort(std::string_view authority, std::string_view scheme) {
  size_t colon = authority.rfind(':');
  size_t bracket = authority.rfind(']');
  if (colon == std::string_view::npos || (bracket != std::string_view::npos && colon < bracket))
    return authority;
  std::string_view port = authority.substr(colon + 1);
  bool implied = port.empty() || (port == "80" && http1::iequals(scheme, "http")) ||
                 (port == "443" && http1::iequals(scheme, "https"));
  return implied ? authority.substr(0, colon) : authority;
}

// RFC 9113 8.3.1: a Host field naming another origin than :authority makes the request
// malformed; the two are compared as RFC 3986 6.2 normalises them (host case, default port).
bool sameAuthority(std::string_view a, std::string_view b, std::string_view scheme) {
  return http1::iequals(withoutDefaultPort(a, scheme), withoutDefaultPort(b, scheme));
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
  if (badValue(value)) return fail(Result::Malformed, "bad header value");
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
  bool websocket = false;
  if (checkPseudoHeaders(websocket) != Result::Ok) return result_;
  Gathered g;
  if (gatherFields(g) != Result::Ok) return result_;
  if (g.host.empty()) return fail(Result::Malformed, "missing :authority");
  if (end_stream && g.content_length > 0) return fail(Result::Malformed, "content-length mismatch");
  buildHead(g, websocket, end_stream, websocket_key, bytes, head);
  return Result::Ok;
}

// The pseudo-headers a request must, and may, carry; `websocket` for an extended CONNECT.
RequestBuilder::Result RequestBuilder::checkPseudoHeaders(bool& websocket) {
  if (!has_method_ || method_.empty()) return fail(Result::Malformed, "missing :method");
  if (!isToken(method_)) return fail(Result::Malformed, "bad :method");
  // :authority is the Host the upstream reads: the Host field's rules (RFC 9113 8.3.1).
  if (has_authority_ && !http1::validHost(authority_, method_ == "CONNECT" && !has_protocol_))
    return fail(Result::Malformed, "bad :authority");
  bool connect = method_ == "CONNECT";
  if (connect && !has_protocol_) {
    // Plain CONNECT names only an authority; the caller refuses it (no tunnels to hosts).
    if (has_scheme_ || has_path_ || !has_authority_)
      return fail(Result::Malformed, "malformed CONNECT");
    return Result::Ok;
  }
  if (has_protocol_ && !connect) return fail(Result::Malformed, ":protocol without CONNECT");
  if (has_protocol_ && !http1::iequals(protocol_, "websocket"))
    return fail(Result::Malformed, "unsupported :protocol");
  websocket = has_protocol_;
  if (!has_scheme_ || scheme_.empty()) return fail(Result::Malformed, "missing :scheme");
  if (!has_path_ || path_.empty()) return fail(Result::Malformed, "missing :path");
  if ((path_.front() != '/' && !(path_ == "*" && method_ == "OPTIONS")) || !isVisibleAscii(path_))
    return fail(Result::Malformed, "bad :path");
  return Result::Ok;
}

// What the regular fields say about the host, the body's length and the cookies.
RequestBuilder::Result RequestBuilder::gatherFields(Gathered& g) {
  // :authority becomes Host; a Host field counts only without it, and must not name another
  // origin (RFC 9113 8.3.1), nor may a second Host name another than the first.
  g.host = authority_;
  for (const auto& [name, value] : fields_) {
    if (name == "host") {
      if (!http1::validHost(value)) return fail(Result::Malformed, "bad host");
      if (!has_authority_ && g.host.empty())
        g.host = value;
      else if (!sameAuthority(g.host, value, scheme_))
        return fail(Result::Malformed, "host differs from :authority");
    }
    if (name == "content-length") {
      uint64_t n = 0;
      if (!parseLength(value, n) || (g.has_content_length && n != g.content_length))
        return fail(Result::Malformed, "bad content-length");
      g.has_content_length = true;
      g.content_length = n;
    }
    // HTTP/2 may split cookies into several fields; HTTP/1.1 wants one (RFC 9113 8.2.3).
    if (name == "cookie" && !value.empty()) {  // an empty one would leave a trailing "; "
      if (!g.cookie.empty()) g.cookie += "; ";
      g.cookie += value;
    }
  }
  return Result::Ok;
}

void RequestBuilder::buildHead(const Gathered& g, bool websocket, bool end_stream,
                               std::string_view websocket_key, std::string& bytes,
                               http1::RequestHead& head) const {
  const bool connect = method_ == "CONNECT";
  // Every view of the head points into `bytes`: size it first so nothing moves.
  std::string_view method = websocket ? std::string_view("GET") : std::string_view(method_);
  std::string_view target = connect && !websocket ? authority_ : std::string_view(path_);
  size_t total = method.size() + target.size() + 4 + g.host.size() + g.cookie.size() + 6 +
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
  head.host = put(g.host);
  head.headers.push_back({put("host"), head.host});
  for (const auto& [name, value] : fields_) {
    if (name == "host" || name == "cookie") continue;
    if (websocket && name == "sec-websocket-key") continue;
    head.headers.push_back({put(name), put(value)});
  }
  if (!g.cookie.empty()) head.headers.push_back({put("cookie"), put(g.cookie)});
  if (websocket) {
    // The exchange forwards an HTTP/1.1 upgrade and tunnels once the upstream says 101.
    head.headers.push_back({put("upgrade"), put("websocket")});
    head.headers.push_back({put("sec-websocket-key"), put(websocket_key)});
    head.upgrade = true;
  }
  // As for HTTP/1.1: the proxy answers Expect itself (a 100 HEADERS frame once the request is
  // upstream) and the upstream never sees it. Only a request with a body to wait for.
  for (const auto& h : head.headers) {
    if (h.name == "expect" && http1::iequals(h.value, "100-continue")) head.expect_continue = true;
  }
  if (websocket || end_stream || (g.has_content_length && g.content_length == 0)) {
    head.expect_continue = false;
    head.framing = http1::Framing::None;
  } else if (g.has_content_length) {
    head.framing = http1::Framing::ContentLength;
    head.content_length = g.content_length;
  } else {
    head.framing = http1::Framing::UntilClose;  // the body ends with the stream
  }
}

}  // namespace h2

namespace {
constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
}  // namespace

PrefaceMatch matchH2Preface(std::string_view first_bytes) {
  size_t n = std::min(first_bytes.size(), kPreface.size());
  if (first_bytes.substr(0, n) != kPreface.substr(0, n)) return PrefaceMatch::No;
  return n == kPreface.size() ? PrefaceMatch::Yes : PrefaceMatch::NeedMore;
}

}  // namespace meridian::proxy
