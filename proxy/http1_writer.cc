#include "proxy/http1_writer.h"

#include <array>
#include <cstdio>

namespace meridian::proxy::http1 {

namespace {

constexpr size_t kMaxConnectionFields = 8;

// The Connection header values of a message: the fields they name are hop-by-hop too.
struct ConnectionTokens {
  std::array<std::string_view, kMaxConnectionFields> values{};
  size_t n = 0;
  bool names(std::string_view field) const {
    for (size_t i = 0; i < n; ++i)
      if (hasToken(values[i], field)) return true;
    return false;
  }
};

ConnectionTokens connectionTokens(const std::vector<Header>& headers) {
  ConnectionTokens t;
  for (const auto& h : headers)
    if (t.n < kMaxConnectionFields && iequals(h.name, "connection")) t.values[t.n++] = h.value;
  return t;
}

void appendHeader(core::Buffer& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ", 2);
  out.append(value);
  out.append("\r\n", 2);
}

void appendNumber(core::Buffer& out, uint64_t v) {
  char buf[24];
  int n = snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(v));
  out.append(buf, static_cast<size_t>(n));
}

// Fields the proxy never copies from the client: hop-by-hop ones, framing it sets itself,
// Expect (answered by the proxy), and forwarding fields it writes.
bool droppedFromRequest(std::string_view name) {
  return isHopByHop(name) || iequals(name, "content-length") || iequals(name, "expect") ||
         iequals(name, "x-forwarded-proto") || iequals(name, "x-forwarded-host") ||
         iequals(name, "x-forwarded-for") || iequals(name, "x-request-id") ||
         iequals(name, "meridian-attempt");
}

}  // namespace

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

void writeUpstreamRequestHead(const RequestHead& head, const ForwardInfo& fwd, core::Buffer& out) {
  out.append(head.method);
  out.append(" ", 1);
  std::string_view target = originForm(head.target);
  if (target.starts_with('?')) out.append("/", 1);  // "http://h?q" is "/?q"
  out.append(target);
  out.append(" HTTP/1.1\r\n", 11);
  out.append("host: ", 6);
  out.append(head.host);
  out.append("\r\n", 2);

  ConnectionTokens conn = connectionTokens(head.headers);
  std::string_view prior_xff;
  for (const auto& h : head.headers) {
    if (iequals(h.name, "x-forwarded-for")) {
      prior_xff = h.value;  // the last one wins if a client sent several; they are joined below
      continue;
    }
    if (iequals(h.name, "host") || droppedFromRequest(h.name) || conn.names(h.name)) continue;
    appendHeader(out, h.name, h.value);
  }
  out.append("x-forwarded-for: ", 17);
  if (!prior_xff.empty()) {
    out.append(prior_xff);
    out.append(", ", 2);
  }
  out.append(fwd.client_ip);
  out.append("\r\n", 2);
  appendHeader(out, "x-forwarded-proto", fwd.proto);
  appendHeader(out, "x-forwarded-host", head.host);
  appendHeader(out, "x-request-id", fwd.request_id);
  out.append("meridian-attempt: ", 18);
  appendNumber(out, static_cast<uint64_t>(fwd.attempt));
  out.append("\r\n", 2);

  if (head.upgrade) {
    for (const auto& h : head.headers)
      if (iequals(h.name, "upgrade")) appendHeader(out, "upgrade", h.value);
    out.append("connection: upgrade\r\n", 21);
  }
  if (head.framing == Framing::ContentLength) {
    out.append("content-length: ", 16);
    appendNumber(out, head.content_length);
    out.append("\r\n", 2);
  } else if (head.framing == Framing::Chunked) {
    out.append("transfer-encoding: chunked\r\n", 28);
  }
  out.append("\r\n", 2);
}

bool writeClientResponseHead(const ResponseHead& head, const ResponseOptions& opt,
                             core::Buffer& out) {
  char line[64];
  int n = snprintf(line, sizeof line, "HTTP/1.1 %d ", head.status);
  out.append(line, static_cast<size_t>(n));
  out.append(head.reason.empty() ? std::string_view(reasonPhrase(head.status)) : head.reason);
  out.append("\r\n", 2);

  ConnectionTokens conn = connectionTokens(head.headers);
  bool no_body_status = head.status < 200 || head.status == 204;
  for (const auto& h : head.headers) {
    if (head.upgrade && iequals(h.name, "upgrade")) {
      appendHeader(out, h.name, h.value);
      continue;
    }
    if (isHopByHop(h.name) || conn.names(h.name)) continue;
    if (iequals(h.name, "content-length")) {
      // Re-framed below when there is a body; passed on as it is for HEAD and 304, where it
      // describes the body the client did not ask for.
      if (head.framing == Framing::None && !no_body_status) appendHeader(out, h.name, h.value);
      continue;
    }
    if (iequals(h.name, "meridian-region")) continue;
    appendHeader(out, h.name, h.value);
  }
  if (!opt.region.empty()) appendHeader(out, "meridian-region", opt.region);

  bool chunked = false;
  if (head.upgrade) {
    out.append("connection: upgrade\r\n", 21);
  } else {
    if (head.framing == Framing::ContentLength) {
      out.append("content-length: ", 16);
      appendNumber(out, head.content_length);
      out.append("\r\n", 2);
    } else if (head.framing == Framing::Chunked || head.framing == Framing::UntilClose) {
      if (!opt.client_http10) {
        out.append("transfer-encoding: chunked\r\n", 28);
        chunked = true;
      }
    }
    if (opt.close) {
      out.append("connection: close\r\n", 19);
    } else if (opt.client_http10) {
      out.append("connection: keep-alive\r\n", 24);
    }
  }
  out.append("\r\n", 2);
  return chunked;
}

void writeInterimResponse(const ResponseHead& head, core::Buffer& out) {
  char line[64];
  int n = snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", head.status, reasonPhrase(head.status));
  out.append(line, static_cast<size_t>(n));
  for (const auto& h : head.headers)
    if (!isHopByHop(h.name)) appendHeader(out, h.name, h.value);
  out.append("\r\n", 2);
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
  int n = snprintf(buf, sizeof buf, "%llx\r\n", static_cast<unsigned long long>(size));
  out.append(buf, static_cast<size_t>(n));
}

const char* reasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 508: return "Loop Detected";
    default: return "Unknown";
  }
}

}  // namespace meridian::proxy::http1
