#include "proxy/http/path_normalize.h"

#include <array>

namespace meridian::proxy::http {

namespace {

constexpr std::array<bool, 256> kUnreserved = [] {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (char c : std::string_view("-._~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes what RFC 3986 says is the same resource (unreserved characters), upper-cases the hex
// of the rest, and applies `escaped` to %2F, %5C and '\'. False with `verdict` set on an error.
bool decodePath(std::string_view path, EscapedSlashes escaped, std::string& out,
                bool& found_escaped, TargetVerdict& verdict) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const bool unescape = escaped == EscapedSlashes::UnescapeAndRedirect ||
                        escaped == EscapedSlashes::UnescapeAndForward;
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '\\') {
      found_escaped = true;
      if (escaped == EscapedSlashes::Reject) return (verdict = TargetVerdict::EscapedSlash), false;
      out += unescape ? '/' : '\\';
      continue;
    }
    if (c != '%') {
      out += c;
      continue;
    }
    int hi = i + 2 < path.size() ? hexValue(path[i + 1]) : -1;
    int lo = hi >= 0 ? hexValue(path[i + 2]) : -1;
    if (lo < 0) return (verdict = TargetVerdict::BadEncoding), false;
    auto byte = static_cast<unsigned char>(hi * 16 + lo);
    i += 2;
    if (kUnreserved[byte]) {
      out += static_cast<char>(byte);
      continue;
    }
    if (byte == '/' || byte == '\\') {
      found_escaped = true;
      if (escaped == EscapedSlashes::Reject) return (verdict = TargetVerdict::EscapedSlash), false;
      if (unescape) {
        out += '/';
        continue;
      }
    }
    out += '%';
    out += kHex[hi];
    out += kHex[lo];
  }
  return true;
}

}  // namespace

// Segment by segment: "." goes, ".." takes the segment before it (none at the root), and
// either one last leaves the path ending in "/", as the RFC's buffer algorithm does.
void removeDotSegments(std::string_view path, std::string& out) {
  const size_t base = out.size();
  size_t pos = 1;  // past the leading '/'
  while (true) {
    size_t end = path.find('/', pos);
    bool last = end == std::string_view::npos;
    std::string_view seg = path.substr(pos, last ? std::string_view::npos : end - pos);
    if (seg == "..") {
      size_t cut = out.rfind('/');
      out.resize(cut == std::string::npos || cut < base ? base : cut);
      if (last) out += '/';
    } else if (seg == ".") {
      if (last) out += '/';
    } else {
      out += '/';
      out += seg;
    }
    if (last) break;
    pos = end + 1;
  }
  if (out.size() == base) out += '/';
}

TargetVerdict normalizeTarget(std::string_view target, EscapedSlashes escaped, std::string& out) {
  out.clear();
  if (target == "*") return TargetVerdict::Unchanged;
  if (target.find('#') != std::string_view::npos) return TargetVerdict::Fragment;
  if (target.empty() || (target.front() != '/' && target.front() != '?'))
    return TargetVerdict::NotAPath;
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q);

  std::string decoded;
  decoded.reserve(path.size() + 1);
  if (path.empty()) decoded += '/';  // "?q" is "/?q"
  bool found_escaped = false;
  TargetVerdict verdict = TargetVerdict::Unchanged;
  if (!decodePath(path, escaped, decoded, found_escaped, verdict)) return verdict;
  out.reserve(decoded.size() + query.size());
  removeDotSegments(decoded, out);
  out += query;
  if (found_escaped && escaped == EscapedSlashes::UnescapeAndRedirect)
    return TargetVerdict::Redirect;
  if (out == target) {
    out.clear();
    return TargetVerdict::Unchanged;
  }
  return TargetVerdict::Normalized;
}

}  // namespace meridian::proxy::http
