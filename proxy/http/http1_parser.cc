#include "proxy/http/http1_parser.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cstring>
#include <limits>

#include "proxy/http/http1_chars.h"
#include "proxy/http/upgrade.h"

namespace meridian::proxy::http1 {

using namespace chars;

namespace {

// Eight bytes at a time for the long runs (field values, targets), with the classic
// "has a byte less than n" / "has a zero byte" tricks; exact as yes/no answers.
constexpr uint64_t kOnes = ~uint64_t{0} / 255;  // 0x0101...01
inline uint64_t load8(const char* p) {
  uint64_t w;
  memcpy(&w, p, sizeof w);
  return w;
}
inline bool hasZero(uint64_t w) {
  return ((w - kOnes) & ~w & (kOnes * 0x80)) != 0;
}
inline bool hasLess(uint64_t w, uint8_t n) {
  return ((w - kOnes * n) & ~w & (kOnes * 0x80)) != 0;
}

// Every byte is HTAB, SP, VCHAR or obs-text. Words with a CTL or DEL are rechecked byte by
// byte, since HTAB is the one CTL allowed.
bool validFieldValue(std::string_view v) {
  const char* p = v.data();
  size_t i = 0;
  for (; i + 8 <= v.size(); i += 8) {
    uint64_t w = load8(p + i);
    if (!hasLess(w, 0x20) && !hasZero(w ^ (kOnes * 0x7F))) continue;
    for (size_t j = i; j < i + 8; ++j)
      if (!is(p[j], kFieldVal)) return false;
  }
  for (; i < v.size(); ++i)
    if (!is(p[i], kFieldVal)) return false;
  return true;
}

// Length of the leading run of VCHARs (a request-target ends at the first byte that is not).
size_t vcharRun(std::string_view s) {
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w = load8(s.data() + i);
    if (hasLess(w, 0x21) || (w & (kOnes * 0x80)) != 0 || hasZero(w ^ (kOnes * 0x7F))) break;
  }
  while (i < s.size() && is(s[i], kVchar)) ++i;
  return i;
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && isWs(s.front())) s.remove_prefix(1);
  while (!s.empty() && isWs(s.back())) s.remove_suffix(1);
  return s;
}

// Calls fn(element) for each OWS-trimmed element of a comma-separated list, empty ones included
// (the callers decide whether an empty element is an error). Stops early when fn returns false.
template <typename Fn>
bool forEachElement(std::string_view list, Fn&& fn) {
  for (;;) {
    size_t comma = list.find(',');
    if (!fn(trimOws(list.substr(0, comma)))) return false;
    if (comma == std::string_view::npos) return true;
    list.remove_prefix(comma + 1);
  }
}

// ---- Lines ---------------------------------------------------------------------------------

enum class LineStatus { Ok, NeedMore, Error };

// Takes the next CRLF-terminated line from [p, end): `line` is its content without the CRLF.
// A CR anywhere but right before the LF is BareCR; an LF without CR is BareLF. A trailing CR
// at the very end of the input may still be followed by LF, so that is NeedMore.
LineStatus nextLine(const char*& p, const char* end, std::string_view& line, ParseError& err) {
  if (p == end) return LineStatus::NeedMore;
  auto size = static_cast<size_t>(end - p);
  const auto* lf = static_cast<const char*>(memchr(p, '\n', size));
  if (lf == nullptr) {
    if (size > 1 && memchr(p, '\r', size - 1) != nullptr) {
      err = ParseError::BareCR;
      return LineStatus::Error;
    }
    return LineStatus::NeedMore;
  }
  bool crlf = lf > p && lf[-1] == '\r';
  const char* content_end = crlf ? lf - 1 : lf;
  if (memchr(p, '\r', static_cast<size_t>(content_end - p)) != nullptr) {
    err = ParseError::BareCR;
    return LineStatus::Error;
  }
  if (!crlf) {
    err = ParseError::BareLF;
    return LineStatus::Error;
  }
  line = std::string_view(p, static_cast<size_t>(content_end - p));
  p = lf + 1;
  return LineStatus::Ok;
}

enum class ScanStatus { Complete, NeedMore, LineError };

// The cheap pre-check run on every call: memchr from line to line looking for the empty line
// that ends the head. The caller reparses a growing buffer from the start, so the full parse
// runs only once the head is complete (or a line ending is already known to be bad).
ScanStatus scanForEnd(const char* data, size_t len) {
  const char* p = data;
  const char* end = data + len;
  bool started = false;  // empty lines before the start line are skipped, not the end
  std::string_view line;
  ParseError ignored = ParseError::None;
  for (;;) {
    switch (nextLine(p, end, line, ignored)) {
      case LineStatus::NeedMore:
        return ScanStatus::NeedMore;
      case LineStatus::Error:
        return ScanStatus::LineError;
      case LineStatus::Ok:
        if (!line.empty())
          started = true;
        else if (started)
          return ScanStatus::Complete;
    }
  }
}

// ---- Fields --------------------------------------------------------------------------------

// Splits and validates one field line (RFC 9112 5): token, ':' right after it, OWS, value.
ParseError parseFieldLine(std::string_view line, Header& h) {
  if (isWs(line.front())) return ParseError::ObsFold;
  size_t i = 0;
  while (i < line.size() && is(line[i], kTchar)) ++i;
  if (i == 0 || i == line.size() || line[i] != ':') return ParseError::BadHeaderName;
  h.name = line.substr(0, i);
  std::string_view value = line.substr(i + 1);
  if (!validFieldValue(value)) return ParseError::BadHeaderValue;
  h.value = trimOws(value);
  return ParseError::None;
}

// Reads the field lines after the start line, up to and including the empty line, into
// `headers`, and calls note(header) on each.
template <typename Note>
ParseError readFields(const char*& p, const char* end, std::vector<Header>& headers,
                      size_t max_headers, Note&& note) {
  std::string_view line;
  ParseError err = ParseError::None;
  for (;;) {
    LineStatus s = nextLine(p, end, line, err);
    // The pre-scan saw the end of the head (or an error at or before it), so running out of
    // bytes here would be our bug; answer HeadTooLarge rather than loop on NeedMore forever.
    if (s == LineStatus::NeedMore) return ParseError::HeadTooLarge;
    if (s == LineStatus::Error) return err;
    if (line.empty()) return ParseError::None;
    if (headers.size() >= max_headers) return ParseError::TooManyHeaders;
    Header h;
    if ((err = parseFieldLine(line, h)) != ParseError::None) return err;
    headers.push_back(h);
    if ((err = note(h)) != ParseError::None) return err;
  }
}

// What the framing and connection fields say, gathered over all fields of one message.
struct FieldFacts {
  bool has_cl = false;
  uint64_t cl = 0;
  bool has_te = false;
  int te_codings = 0;
  int te_chunked = 0;
  bool te_empty = false;  // an empty list element: `chunked,` or an empty field
  bool te_last_chunked = false;
  int host_fields = 0;
  std::string_view host;
  bool conn_close = false;
  bool conn_keep_alive = false;
  bool conn_upgrade = false;
  bool has_upgrade = false;
  bool expect_continue = false;
};

// Above 2^63-1 is refused too, so a length always fits a signed off_t/ssize_t downstream.
constexpr uint64_t kMaxContentLength = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

bool parseDecimal(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    auto d = static_cast<uint64_t>(c - '0');
    if (v > (kMaxContentLength - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

// Content-Length: 1*DIGIT. Repeats (as fields or list elements) are one value only when every
// one of them is the same number (RFC 9110 8.6); anything else is ambiguous framing.
ParseError noteContentLength(std::string_view value, FieldFacts& f) {
  bool ok = forEachElement(value, [&f](std::string_view e) {
    uint64_t v = 0;
    if (!parseDecimal(e, v) || (f.has_cl && v != f.cl)) return false;
    f.has_cl = true;
    f.cl = v;
    return true;
  });
  return ok ? ParseError::None : ParseError::BadContentLength;
}

void noteTransferEncoding(std::string_view value, FieldFacts& f) {
  f.has_te = true;
  forEachElement(value, [&f](std::string_view e) {
    bool chunked = iequals(e, "chunked");
    f.te_empty |= e.empty();
    f.te_codings += 1;
    f.te_chunked += chunked ? 1 : 0;
    f.te_last_chunked = chunked;
    return true;
  });
}

void noteConnection(std::string_view value, FieldFacts& f) {
  forEachElement(value, [&f](std::string_view e) {
    f.conn_close |= iequals(e, "close");
    f.conn_keep_alive |= iequals(e, "keep-alive");
    f.conn_upgrade |= iequals(e, "upgrade");
    return true;
  });
}

// Gathers the fields both requests and responses care about; Host and Expect only matter in
// requests but cost nothing to note in responses. Dispatches on length first: most fields are
// none of these and are rejected with one compare.
ParseError noteField(const Header& h, FieldFacts& f) {
  switch (h.name.size()) {
    case 4:
      if (iequals(h.name, "host")) {
        if (++f.host_fields > 1) return ParseError::DuplicateHost;
        if (!validHost(h.value)) return ParseError::BadHost;
        f.host = h.value;
      }
      break;
    case 6:
      if (iequals(h.name, "expect")) f.expect_continue |= iequals(h.value, "100-continue");
      break;
    case 7:
      if (iequals(h.name, "upgrade")) f.has_upgrade |= offersUpgradeOtherThanH2c(h.value);
      break;
    case 10:
      if (iequals(h.name, "connection")) noteConnection(h.value, f);
      break;
    case 14:
      if (iequals(h.name, "content-length")) return noteContentLength(h.value, f);
      break;
    case 17:
      if (iequals(h.name, "transfer-encoding")) noteTransferEncoding(h.value, f);
      break;
    default:
      break;
  }
  return ParseError::None;
}

bool keepAlive(int minor_version, const FieldFacts& f) {
  if (f.conn_close) return false;
  return minor_version >= 1 || f.conn_keep_alive;
}

// ---- Start lines ---------------------------------------------------------------------------

// HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 2.3). Only 1.0 and 1.1 are
// spoken; another well-formed version is UnsupportedVersion (505), anything else `garbage`.
ParseError parseVersion(std::string_view v, int& minor, ParseError garbage) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.') return garbage;
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (!digit(v[5]) || !digit(v[7])) return garbage;
  if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) return ParseError::UnsupportedVersion;
  minor = v[7] - '0';
  return ParseError::None;
}

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// The four request-target forms (RFC 9112 3.2), each only with the methods that use it.
// For absolute-form the authority is the host (3.2.2: it wins over the Host field).
ParseError checkTarget(RequestHead& out) {
  std::string_view t = out.target;
  bool connect = out.method == "CONNECT";
  if (connect) {
    // authority-form: host ":" port, the port mandatory (RFC 9110 9.3.6).
    bool ok = t[0] != ':' && validHost(t, /*need_port=*/true);
    return ok ? ParseError::None : ParseError::BadRequestLine;
  }
  if (t[0] == '/') return ParseError::None;
  if (t == "*") return out.method == "OPTIONS" ? ParseError::None : ParseError::BadRequestLine;
  size_t scheme = startsWithNoCase(t, "http://") ? 7 : startsWithNoCase(t, "https://") ? 8 : 0;
  if (scheme == 0) return ParseError::BadRequestLine;
  std::string_view rest = t.substr(scheme);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.empty() || authority[0] == ':' || !validHost(authority))
    return ParseError::BadRequestLine;
  out.host = authority;
  return ParseError::None;
}

// method SP request-target SP HTTP-version: exactly one SP between the parts, because a parser
// that tolerates more splits differently from one that does not.
ParseError parseRequestLine(std::string_view line, RequestHead& out) {
  size_t i = 0;
  while (i < line.size() && is(line[i], kTchar)) ++i;
  if (i == 0 || i == line.size() || line[i] != ' ') return ParseError::BadRequestLine;
  out.method = line.substr(0, i);
  size_t t = ++i;
  i += vcharRun(line.substr(i));
  if (i == t || i == line.size() || line[i] != ' ') return ParseError::BadRequestLine;
  out.target = line.substr(t, i - t);
  ParseError err = parseVersion(line.substr(i + 1), out.minor_version, ParseError::BadRequestLine);
  return err != ParseError::None ? err : checkTarget(out);
}

// HTTP-version SP 3DIGIT SP reason-phrase; a missing " reason" is tolerated (RFC 9112 4 says
// the SP is required, but some servers omit it and nothing is ambiguous about that).
ParseError parseStatusLine(std::string_view line, ResponseHead& out) {
  if (line.size() < 12 || line[8] != ' ') return ParseError::BadStatusLine;
  ParseError err = parseVersion(line.substr(0, 8), out.minor_version, ParseError::BadStatusLine);
  if (err != ParseError::None) return err;
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return ParseError::BadStatusLine;
    status = status * 10 + (line[i] - '0');
  }
  if (status < 100 || status > 599) return ParseError::BadStatusLine;
  out.status = status;
  if (line.size() == 12) return ParseError::None;
  if (line[12] != ' ') return ParseError::BadStatusLine;
  out.reason = line.substr(13);
  return validFieldValue(out.reason) ? ParseError::None : ParseError::BadStatusLine;
}

// ---- Whole heads ---------------------------------------------------------------------------

ParseResult fail(ParseError e) {
  return {ParseStatus::Error, 0, e};
}

// Shared by requests and responses: finds the head within the limit, then hands back the
// start line (after skipping leading empty lines) for the full parse. Returns false with
// `result` set when the answer is already known (NeedMore, HeadTooLarge or a line error).
bool locateHead(const char* data, size_t len, const HeadLimits& limits, const char*& p,
                const char*& end, std::string_view& start_line, ParseResult& result) {
  if (len == 0) {
    result = {};
    return false;
  }
  size_t window = std::min(len, limits.max_head_bytes);
  if (scanForEnd(data, window) == ScanStatus::NeedMore) {
    // Not ended within the window: when the window is the whole limit it never will be.
    result = window == limits.max_head_bytes ? fail(ParseError::HeadTooLarge) : ParseResult{};
    return false;
  }
  p = data;
  end = data + window;
  ParseError err = ParseError::None;
  for (;;) {
    LineStatus s = nextLine(p, end, start_line, err);
    if (s == LineStatus::Error) {
      result = fail(err);
      return false;
    }
    if (s == LineStatus::NeedMore) {  // unreachable after the scan; see readFields
      result = fail(ParseError::HeadTooLarge);
      return false;
    }
    if (!start_line.empty()) return true;
  }
}

// Framing for requests (RFC 9112 6.3): Transfer-Encoding must be exactly `chunked`, since a
// proxy that forwards anything else lets two parsers disagree on where the body ends.
ParseError requestFraming(const FieldFacts& f, RequestHead& out) {
  if (f.has_cl && f.has_te) return ParseError::ContentLengthAndTransferEncoding;
  if (f.has_te) {
    bool only_chunked = f.te_codings == 1 && f.te_chunked == 1 && !f.te_empty;
    if (!only_chunked || out.minor_version == 0) return ParseError::BadTransferEncoding;
    out.framing = Framing::Chunked;
  } else if (f.has_cl && f.cl > 0) {
    out.framing = Framing::ContentLength;
    out.content_length = f.cl;
  }
  return ParseError::None;
}

// Framing for responses (RFC 9112 6.3): the request method and status come first, then
// chunked as the final coding, then Content-Length, else the body runs until close.
ParseError responseFraming(const FieldFacts& f, bool request_method_head, ResponseHead& out) {
  if (f.has_cl && f.has_te) return ParseError::ContentLengthAndTransferEncoding;
  // An HTTP/1.0 response with Transfer-Encoding has faulty framing (RFC 9112 6.1); reading it
  // until close would pass chunk framing to the client as body bytes, so refuse it.
  if (f.has_te && (f.te_empty || f.te_chunked > 1 || out.minor_version == 0))
    return ParseError::BadTransferEncoding;
  out.upgrade = out.status == 101;
  bool bodyless = request_method_head || out.status < 200 || out.status == 204 || out.status == 304;
  if (bodyless) {
    out.framing = Framing::None;
  } else if (f.has_te) {
    out.framing = f.te_last_chunked ? Framing::Chunked : Framing::UntilClose;
  } else if (f.has_cl) {
    out.framing = f.cl > 0 ? Framing::ContentLength : Framing::None;
    out.content_length = f.cl;
  } else {
    out.framing = Framing::UntilClose;
  }
  // After 101 the connection is no longer HTTP, and an until-close body ends it.
  out.keep_alive =
      keepAlive(out.minor_version, f) && !out.upgrade && out.framing != Framing::UntilClose;
  return ParseError::None;
}

}  // namespace

ParseResult parseRequestHead(const char* data, size_t len, RequestHead& out,
                             const HeadLimits& limits) {
  out.clear();
  const char* p = nullptr;
  const char* end = nullptr;
  std::string_view start_line;
  ParseResult result;
  if (!locateHead(data, len, limits, p, end, start_line, result)) return result;

  ParseError err = parseRequestLine(start_line, out);
  if (err != ParseError::None) return fail(err);
  FieldFacts f;
  err = readFields(p, end, out.headers, limits.max_headers,
                   [&f](const Header& h) { return noteField(h, f); });
  if (err != ParseError::None) return fail(err);
  if ((err = requestFraming(f, out)) != ParseError::None) return fail(err);

  bool http11 = out.minor_version == 1;
  if (http11 && f.host_fields == 0) return fail(ParseError::MissingHost);
  if (out.host.empty()) out.host = f.host;  // absolute-form already set it
  out.keep_alive = keepAlive(out.minor_version, f);
  // HTTP/1.0 recipients must ignore Expect (RFC 9110 10.1.1) and Upgrade (7.8).
  out.expect_continue = http11 && f.expect_continue;
  out.upgrade = http11 && f.conn_upgrade && f.has_upgrade;
  return {ParseStatus::Complete, static_cast<size_t>(p - data), ParseError::None};
}

ParseResult parseResponseHead(const char* data, size_t len, bool request_method_head,
                              ResponseHead& out, const HeadLimits& limits) {
  out.clear();
  const char* p = nullptr;
  const char* end = nullptr;
  std::string_view start_line;
  ParseResult result;
  if (!locateHead(data, len, limits, p, end, start_line, result)) return result;

  ParseError err = parseStatusLine(start_line, out);
  if (err != ParseError::None) return fail(err);
  FieldFacts f;
  err = readFields(p, end, out.headers, limits.max_headers,
                   [&f](const Header& h) { return noteField(h, f); });
  if (err != ParseError::None) return fail(err);
  if ((err = responseFraming(f, request_method_head, out)) != ParseError::None) return fail(err);
  return {ParseStatus::Complete, static_cast<size_t>(p - data), ParseError::None};
}

void RequestHead::clear() {
  method = {};
  target = {};
  minor_version = 1;
  headers.clear();  // keeps capacity: the vector is reused across requests
  host = {};
  framing = Framing::None;
  content_length = 0;
  keep_alive = true;
  expect_continue = false;
  upgrade = false;
}

void ResponseHead::clear() {
  status = 0;
  reason = {};
  minor_version = 1;
  headers.clear();
  framing = Framing::None;
  content_length = 0;
  keep_alive = true;
  upgrade = false;
}

// ---- Small helpers -------------------------------------------------------------------------

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool hasToken(std::string_view list, std::string_view token) {
  bool found = false;
  forEachElement(list, [&](std::string_view e) {
    found = iequals(e, token);
    return !found;
  });
  return found;
}

bool ConnectionTokens::names(std::string_view field) const {
  for (size_t i = 0; i < n; ++i)
    if (hasToken(values[i], field)) return true;
  return false;
}

ConnectionTokens connectionTokens(const std::vector<Header>& headers) {
  ConnectionTokens t;
  for (const auto& h : headers)
    if (t.n < ConnectionTokens::kMax && iequals(h.name, "connection")) t.values[t.n++] = h.value;
  return t;
}

void forEachTrailer(std::string_view section,
                    const std::function<void(std::string_view, std::string_view)>& fn) {
  while (!section.empty()) {
    size_t eol = section.find("\r\n");
    std::string_view line = section.substr(0, eol);
    section.remove_prefix(eol == std::string_view::npos ? section.size() : eol + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    std::string_view name = line.substr(0, colon);
    if (isHopByHop(name) || iequals(name, "content-length") || iequals(name, "host")) continue;
    fn(name, trimOws(line.substr(colon + 1)));
  }
}

bool isHopByHop(std::string_view name) {
  switch (name.size()) {
    case 2:
      return iequals(name, "te");
    case 7:
      return iequals(name, "trailer") || iequals(name, "upgrade");
    case 10:
      return iequals(name, "connection") || iequals(name, "keep-alive");
    case 16:
      return iequals(name, "proxy-connection");
    case 17:
      return iequals(name, "transfer-encoding");
    default:
      return false;
  }
}

const char* parseErrorName(ParseError e) {
  switch (e) {
    case ParseError::None:
      return "None";
    case ParseError::BadRequestLine:
      return "BadRequestLine";
    case ParseError::BadStatusLine:
      return "BadStatusLine";
    case ParseError::UnsupportedVersion:
      return "UnsupportedVersion";
    case ParseError::BadHeaderName:
      return "BadHeaderName";
    case ParseError::BadHeaderValue:
      return "BadHeaderValue";
    case ParseError::ObsFold:
      return "ObsFold";
    case ParseError::BareCR:
      return "BareCR";
    case ParseError::BareLF:
      return "BareLF";
    case ParseError::HeadTooLarge:
      return "HeadTooLarge";
    case ParseError::TooManyHeaders:
      return "TooManyHeaders";
    case ParseError::BadContentLength:
      return "BadContentLength";
    case ParseError::BadTransferEncoding:
      return "BadTransferEncoding";
    case ParseError::ContentLengthAndTransferEncoding:
      return "ContentLengthAndTransferEncoding";
    case ParseError::MissingHost:
      return "MissingHost";
    case ParseError::DuplicateHost:
      return "DuplicateHost";
    case ParseError::BadHost:
      return "BadHost";
    case ParseError::BadChunk:
      return "BadChunk";
  }
  return "Unknown";
}

std::string_view findHeader(const std::vector<Header>& headers, std::string_view name) {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return h.value;
  return {};
}

// uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2): an IP-literal in brackets (hex, ':' and
// '.' only: no zone ids or IPvFuture) or a reg-name. Anything else (SP, '@' userinfo, '/',
// a second ':') could be read as a different host by the next hop, so it is refused.
bool validHost(std::string_view s, bool need_port) {
  size_t i = 0;
  if (!s.empty() && s[0] == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    for (i = 1; i < close; ++i)
      if (!is(s[i], kHex) && s[i] != ':' && s[i] != '.') return false;
    i = close + 1;
  } else {
    for (; i < s.size() && s[i] != ':'; ++i) {
      if (is(s[i], kRegName)) continue;
      if (s[i] != '%' || i + 2 >= s.size() || !is(s[i + 1], kHex) || !is(s[i + 2], kHex))
        return false;
      i += 2;
    }
  }
  if (i == s.size()) return !need_port;
  if (s[i] != ':' || (need_port && i + 1 == s.size())) return false;
  // port = *DIGIT, and a TCP port: at most 65535 (leading zeros up to five digits).
  std::string_view port = s.substr(i + 1);
  if (port.size() > 5) return false;
  uint32_t n = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint32_t>(c - '0');
  }
  return n <= 65535;
}

}  // namespace meridian::proxy::http1
