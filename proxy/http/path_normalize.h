#pragma once
// The request path as routes see it and the upstream receives it: normalised once, for HTTP/1
// and HTTP/2 alike, so a path prefix cannot be escaped with "..", "%2e%2e" or "..%2f" that the
// app resolves after we matched (RFC 3986 6.2.2: percent-encoded unreserved characters decoded,
// the remaining percent-encodings' hex upper-cased, dot segments removed). The query is left
// exactly as sent. Pure: no config, no sockets, so it is table-tested and fuzzed.
#include <cstdint>
#include <string>
#include <string_view>

namespace meridian::proxy::http {

// What to do with %2F and %5C in a path, and with a literal backslash (which many servers and
// every browser read as "/"), since a route matched on the encoded form is not the one the app
// resolves (Envoy's path_with_escaped_slashes_action).
enum class EscapedSlashes : uint8_t {
  Reject,               // 400
  Keep,                 // forwarded as sent (hex upper-cased); a segment character to us
  UnescapeAndRedirect,  // each becomes "/"; the client is redirected to that path
  UnescapeAndForward,   // each becomes "/"; routed and forwarded so
};

enum class TargetVerdict : uint8_t {
  Unchanged,     // forward the target as it is
  Normalized,    // forward `out`
  Redirect,      // UnescapeAndRedirect and an escaped slash was found: redirect to `out`
  Fragment,      // a '#' in the target: RFC 9112 3.2 has no fragment in a request (400)
  BadEncoding,   // '%' not followed by two hex digits (400)
  EscapedSlash,  // Reject and an escaped slash or a backslash was found (400)
  NotAPath,      // neither "*" nor starting with '/' or '?' (400)
};

// Normalises an origin-form request target ("/a/../b?q", "?q" meaning "/?q", or "*", which is
// left alone). On Normalized and Redirect `out` holds the new target; otherwise it is left
// empty. A ".." that would climb above the root stays at the root.
TargetVerdict normalizeTarget(std::string_view target, EscapedSlashes escaped, std::string& out);

// RFC 3986 5.2.4 on an absolute path (starting with '/'), appended to `out`.
void removeDotSegments(std::string_view path, std::string& out);

}  // namespace meridian::proxy::http
