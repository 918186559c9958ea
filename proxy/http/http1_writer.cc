#include "proxy/http/http1_writer.h"

#include <array>
#include <charconv>
#include <cstdio>
#include <string>

#include "proxy/http/upgrade.h"

namespace meridian::proxy::http1 {

namespace {

// Heads are assembled in one per-thread scratch string and handed to the buffer in a single
// append: a dozen small evbuffer_add calls per head cost more than the bytes themselves.
class HeadBuilder {
 public:
  HeadBuilder() : s_(scratch()) { s_.clear(); }
  void add(std::string_view v) { s_.append(v); }
  void header(std::string_view name, std::string_view value) {
    s_.append(name);
    s_.append(": ", 2);
    s_.append(value);
    s_.append("\r\n", 2);
  }
  void number(uint64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    s_.append(buf, static_cast<size_t>(r.ptr - buf));
  }
  void finish(core::Buffer& out) {
    s_.append("\r\n", 2);
    out.append(s_);
  }

 private:
  static std::string& scratch() {
    thread_local std::string s = [] {
      std::string r;
      r.reserve(4096);
      return r;
    }();
    return s;
  }
  std::string& s_;
};

// What the writers do with a field, decided once per field by its name. Compares only
// against the names of the same length, since most fields match none of them.
enum class FieldKind {
  Other,
  HopByHop,
  Host,
  ContentLength,
  Expect,
  XForwardedFor,
  XForwardedProto,
  XForwardedHost,
  XRequestId,
  MeridianAttempt,
  MeridianRegion,
  MeridianClient,
  Upgrade
};

FieldKind classify(std::string_view n) {
  switch (n.size()) {
    case 2:
      return iequals(n, "te") ? FieldKind::HopByHop : FieldKind::Other;
    case 4:
      return iequals(n, "host") ? FieldKind::Host : FieldKind::Other;
    case 6:
      return iequals(n, "expect") ? FieldKind::Expect : FieldKind::Other;
    case 7:
      if (iequals(n, "upgrade")) return FieldKind::Upgrade;
      return iequals(n, "trailer") ? FieldKind::HopByHop : FieldKind::Other;
    case 10:
      if (iequals(n, "connection") || iequals(n, "keep-alive")) return FieldKind::HopByHop;
      return FieldKind::Other;
    case 12:
      return iequals(n, "x-request-id") ? FieldKind::XRequestId : FieldKind::Other;
    case 14:
      if (iequals(n, "fly-replay-src")) return FieldKind::MeridianClient;
      if (iequals(n, "meridian-hedge")) return FieldKind::MeridianClient;
      // Only ever sent with an h2c upgrade, which is never passed on.
      if (iequals(n, "http2-settings")) return FieldKind::HopByHop;
      return iequals(n, "content-length") ? FieldKind::ContentLength : FieldKind::Other;
    case 15:
      if (iequals(n, "x-forwarded-for")) return FieldKind::XForwardedFor;
      if (iequals(n, "meridian-region")) return FieldKind::MeridianRegion;
      return FieldKind::Other;
    case 16:
      if (iequals(n, "x-forwarded-host")) return FieldKind::XForwardedHost;
      if (iequals(n, "proxy-connection")) return FieldKind::HopByHop;
      if (iequals(n, "meridian-attempt")) return FieldKind::MeridianAttempt;
      // A tester's backend override is read by the router, never shown to the app.
      if (iequals(n, "meridian-backend")) return FieldKind::MeridianClient;
      return FieldKind::Other;
    case 17:
      if (iequals(n, "x-forwarded-proto")) return FieldKind::XForwardedProto;
      return iequals(n, "transfer-encoding") ? FieldKind::HopByHop : FieldKind::Other;
    case 19:
      return iequals(n, "meridian-replay-src") ? FieldKind::MeridianClient : FieldKind::Other;
    case 22:
      return iequals(n, "meridian-client-region") ? FieldKind::MeridianClient : FieldKind::Other;
    case 23:
      return iequals(n, "meridian-client-country") ? FieldKind::MeridianClient : FieldKind::Other;
    default:
      return FieldKind::Other;
  }
}

}  // namespace

void writeLastChunk(std::string_view trailers, core::Buffer& out) {
  if (trailers.empty()) {
    writeLastChunk(out);
    return;
  }
  out.append("0\r\n", 3);
  forEachTrailer(trailers, [&out](std::string_view name, std::string_view value) {
    out.append(name);
    out.append(": ", 2);
    out.append(value);
    out.append("\r\n", 2);
  });
  out.append("\r\n", 2);
}

std::string_view originForm(std::string_view target) {
  size_t scheme = target.find("://");
  if (target.empty() || target[0] == '/' || target == "*" || scheme == std::string_view::npos)
    return target;
  size_t slash = target.find('/', scheme + 3);
  if (slash == std::string_view::npos) {
    size_t q = target.find('?', scheme + 3);
    return q == std::string_view::npos ? std::string_view("/") : target.substr(q);
  }
  return target.substr(slash);
}

namespace {

// What a proxy tells the upstream about the request: who sent it and how (X-Forwarded-*, the
// client's place), its id and attempt, and an app-directed replay's source. The client's own
// copies of Meridian's fields never reach here (they would be spoofable); an X-Forwarded-For
// it sent is kept in front of ours.
void addForwardingFields(HeadBuilder& b, const RequestHead& head, const ForwardInfo& fwd,
                         std::string_view prior_xff) {
  b.add("x-forwarded-for: ");
  if (!prior_xff.empty()) {
    b.add(prior_xff);
    b.add(", ");
  }
  b.add(fwd.client_ip);
  b.add("\r\n");
  b.header("x-forwarded-proto", fwd.proto);
  b.header("x-forwarded-host", head.host);
  b.header("x-request-id", fwd.request_id);
  b.add("meridian-attempt: ");
  b.number(static_cast<uint64_t>(fwd.attempt));
  b.add("\r\n");
  if (fwd.hedge) b.add("meridian-hedge: 1\r\n");
  if (!fwd.client_region.empty()) b.header("meridian-client-region", fwd.client_region);
  if (!fwd.client_country.empty()) b.header("meridian-client-country", fwd.client_country);
  if (!fwd.replay_src.empty())
    b.header(fwd.replay_src_fly ? "fly-replay-src" : "meridian-replay-src", fwd.replay_src);
}

}  // namespace

void writeUpstreamRequestHead(const RequestHead& head, const ForwardInfo& fwd, core::Buffer& out) {
  HeadBuilder b;
  b.add(head.method);
  b.add(" ");
  std::string_view target = originForm(head.target);
  if (target.starts_with('?')) b.add("/");  // "http://h?q" is "/?q"
  b.add(target);
  b.add(" HTTP/1.1\r\n");
  b.header("host", head.host);

  ConnectionTokens conn = connectionTokens(head.headers);
  std::string_view prior_xff;
  std::string_view upgrade;
  for (const auto& h : head.headers) {
    switch (classify(h.name)) {
      case FieldKind::Other:
      case FieldKind::MeridianRegion:
        if (conn.n == 0 || !conn.names(h.name)) b.header(h.name, h.value);
        break;
      case FieldKind::XForwardedFor:
        prior_xff = h.value;
        break;  // joined below
      case FieldKind::Upgrade:
        upgrade = h.value;
        break;
      default:
        break;  // hop-by-hop, framing, Expect, or written by us below
    }
  }
  addForwardingFields(b, head, fwd, prior_xff);
  if (fwd.te_trailers) b.add("te: trailers\r\n");
  if (head.upgrade) {
    b.header("upgrade", upgradeWithoutH2c(upgrade));
    b.add("connection: upgrade\r\n");
  }
  if (head.framing == Framing::ContentLength) {
    b.add("content-length: ");
    b.number(head.content_length);
    b.add("\r\n");
  } else if (head.framing == Framing::Chunked || head.framing == Framing::UntilClose) {
    // UntilClose: an HTTP/2 request body of no stated length.
    b.add("transfer-encoding: chunked\r\n");
  }
  b.finish(out);
}

bool writeClientResponseHead(const ResponseHead& head, const ResponseOptions& opt,
                             core::Buffer& out) {
  HeadBuilder b;
  b.add("HTTP/1.1 ");
  b.number(static_cast<uint64_t>(head.status));
  b.add(" ");
  b.add(head.reason.empty() ? std::string_view(reasonPhrase(head.status)) : head.reason);
  b.add("\r\n");

  ConnectionTokens conn = connectionTokens(head.headers);
  bool no_body_status = head.status < 200 || head.status == 204;
  for (const auto& h : head.headers) {
    switch (classify(h.name)) {
      case FieldKind::Upgrade:
        if (head.upgrade) b.header(h.name, h.value);
        break;
      case FieldKind::ContentLength:
        // Re-framed below when there is a body; passed on as it is for HEAD and 304, where
        // it describes the body the client did not ask for.
        if (head.framing == Framing::None && !no_body_status) b.header(h.name, h.value);
        break;
      case FieldKind::HopByHop:
      case FieldKind::MeridianRegion:
        break;
      default:
        if (conn.n == 0 || !conn.names(h.name)) b.header(h.name, h.value);
    }
  }
  if (!opt.region.empty()) b.header("meridian-region", opt.region);
  // Our own, beside any the app set: it pins the client to a blue-green backend.
  if (!opt.set_cookie.empty()) b.header("set-cookie", opt.set_cookie);
  if (!opt.set_cookie_pin.empty()) b.header("set-cookie", opt.set_cookie_pin);

  bool chunked = false;
  if (head.upgrade) {
    b.add("connection: upgrade\r\n");
  } else {
    if (head.framing == Framing::ContentLength) {
      b.add("content-length: ");
      b.number(head.content_length);
      b.add("\r\n");
    } else if ((head.framing == Framing::Chunked || head.framing == Framing::UntilClose) &&
               !opt.client_http10) {
      b.add("transfer-encoding: chunked\r\n");
      chunked = true;
    }
    if (opt.close)
      b.add("connection: close\r\n");
    else if (opt.client_http10)
      b.add("connection: keep-alive\r\n");
  }
  b.finish(out);
  return chunked;
}

void writeInterimResponse(const ResponseHead& head, core::Buffer& out) {
  HeadBuilder b;
  b.add("HTTP/1.1 ");
  b.number(static_cast<uint64_t>(head.status));
  b.add(" ");
  b.add(head.reason.empty() ? std::string_view(reasonPhrase(head.status)) : head.reason);
  b.add("\r\n");
  for (const auto& h : head.headers)
    if (classify(h.name) != FieldKind::HopByHop) b.header(h.name, h.value);
  b.finish(out);
}

void writeStoredResponse(int status,
                         const std::vector<std::pair<std::string, std::string>>& headers,
                         std::string_view body, bool close, bool head_request, core::Buffer& out) {
  HeadBuilder b;
  b.add("HTTP/1.1 ");
  b.number(static_cast<uint64_t>(status));
  b.add(" ");
  b.add(reasonPhrase(status));
  b.add("\r\n");
  for (const auto& [name, value] : headers) b.header(name, value);
  b.add("content-length: ");
  b.number(body.size());
  b.add("\r\n");
  if (close) b.add("connection: close\r\n");
  b.finish(out);
  if (!head_request) out.append(body);
}

void writeErrorResponse(int status, std::string_view code, bool close, bool head_request,
                        core::Buffer& out) {
  char body[160];
  int blen = snprintf(body, sizeof body, "%d %s: %.*s\n", status, reasonPhrase(status),
                      static_cast<int>(code.size()), code.data());
  char h[512];
  int n = snprintf(h, sizeof h,
                   "HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n"
                   "meridian-error: %.*s\r\n%s\r\n",
                   status, reasonPhrase(status), blen, static_cast<int>(code.size()), code.data(),
                   close ? "connection: close\r\n" : "");
  out.append(h, static_cast<size_t>(n));
  if (!head_request) out.append(body, static_cast<size_t>(blen));
}

void writeChunkHeader(uint64_t size, core::Buffer& out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + 20, size, 16);
  r.ptr[0] = '\r';
  r.ptr[1] = '\n';
  out.append(buf, static_cast<size_t>(r.ptr + 2 - buf));
}

const char* reasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 102:
      return "Processing";
    case 103:
      return "Early Hints";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    case 508:
      return "Loop Detected";
    default:
      return "Unknown";
  }
}

}  // namespace meridian::proxy::http1
