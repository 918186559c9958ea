#pragma once
// Serialises heads and proxy-made responses. The proxy rewrites framing itself: bodies are
// re-framed (Content-Length passed on, chunked re-chunked), so what the upstream or client
// reads never depends on how the other side framed it.
#include <string_view>
#include <utility>
#include <vector>

#include "core/buffer.h"
#include "core/error.h"
#include "proxy/http/http1_parser.h"

namespace meridian::proxy::http1 {

struct ForwardInfo {
  std::string_view client_ip;   // appended to x-forwarded-for
  std::string_view proto;       // "http" | "https"
  std::string_view request_id;  // kept from the client or generated
  bool request_id_generated = false;
  int attempt = 1;
  std::string_view client_region;   // meridian-client-region: nearest region to the client
  std::string_view client_country;  // meridian-client-country
  // On a request the app asked to replay: `meridian-replay-src` (or, for a `fly-replay`,
  // `fly-replay-src`) with "region=R;state=S;t=MICROS".
  std::string_view replay_src;
  bool replay_src_fly = false;
  bool hedge = false;  // meridian-hedge: 1 (replay.hedge: sent while another attempt waits)
  bool te_trailers = false;  // `te: trailers` (for an HTTP/2 upstream, which keeps it)
};

// The request head sent upstream: origin-form target, HTTP/1.1, hop-by-hop fields (and those
// the Connection header names) removed, forwarding headers added, framing set from `head`.
void writeUpstreamRequestHead(const RequestHead& head, const ForwardInfo& fwd, core::Buffer& out);

struct ResponseOptions {
  bool client_http10 = false;  // HTTP/1.0 client: no chunked framing
  bool close = false;          // send Connection: close (we close after this response)
  bool head_request = false;
  std::string_view region;  // meridian-region
  // Non-empty: one more `set-cookie` field with this value (the blue-green affinity cookie),
  // after the upstream's own fields, which are all passed on.
  std::string_view set_cookie;
  // Non-empty: another of our own `set-cookie` fields (the read-your-writes pin).
  std::string_view set_cookie_pin;
};

// The response head sent to the client. Returns whether the body is sent chunked.
bool writeClientResponseHead(const ResponseHead& head, const ResponseOptions& opt,
                             core::Buffer& out);
// A 1xx interim response (103 Early Hints...) passed on to an HTTP/1.1 client.
void writeInterimResponse(const ResponseHead& head, core::Buffer& out);

// A complete proxy-made response: status, `meridian-error: code`, a short text body.
// A whole response Meridian answers itself from a stored one (an Idempotency-Key's earlier
// outcome): status, the given end-to-end headers, and a Content-Length body.
void writeStoredResponse(int status,
                         const std::vector<std::pair<std::string, std::string>>& headers,
                         std::string_view body, bool close, bool head_request, core::Buffer& out);
void writeErrorResponse(int status, std::string_view code, bool close, bool head_request,
                        core::Buffer& out);
const char* reasonPhrase(int status);

// Chunked framing for re-chunked bodies.
void writeChunkHeader(uint64_t size, core::Buffer& out);
inline void writeChunkEnd(core::Buffer& out) {
  out.append("\r\n", 2);
}
inline void writeLastChunk(core::Buffer& out) {
  out.append("0\r\n\r\n", 5);
}
// The last chunk with a trailer section: the fields of `trailers` (lines "name: value\r\n")
// that forEachTrailer lets through.
void writeLastChunk(std::string_view trailers, core::Buffer& out);

// The origin-form part of a request target: "/p?q" for "/p?q" or "http://h/p?q"; "/" for
// "http://h"; "?q" for "http://h?q" (the writer puts the "/" before it); "*" for "*".
std::string_view originForm(std::string_view target);

}  // namespace meridian::proxy::http1
