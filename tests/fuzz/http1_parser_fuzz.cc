// libFuzzer target for the HTTP/1 parser: request and response heads under two sets of limits,
// and the chunked decoder. Besides "never crash", it checks two differential properties that
// the proxy relies on, since the codec sees bytes in whatever pieces the socket delivers:
//  - a head parsed from a prefix of the input never disagrees with the head parsed from the
//    whole input (a prefix may only need more, or end the same way);
//  - the chunked decoder gives the same data, status and end offset whether it is fed the
//    input whole, one byte at a time, or in pieces of a size chosen by the input.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/http/http1_parser.h"
#include "tests/fuzz/fuzz_check.h"

namespace http1 = meridian::proxy::http1;
using http1::Framing;
using http1::ParseResult;
using http1::ParseStatus;

namespace {

bool within(std::string_view v, const char* data, size_t len) {
  return v.empty() || (v.data() >= data && v.data() + v.size() <= data + len);
}

void checkResultShape(const ParseResult& r, size_t len, const http1::HeadLimits& limits) {
  if (r.status == ParseStatus::Complete) {
    FUZZ_CHECK(r.error == http1::ParseError::None);
    FUZZ_CHECK(r.consumed > 0 && r.consumed <= len && r.consumed <= limits.max_head_bytes);
  } else if (r.status == ParseStatus::Error) {
    FUZZ_CHECK(r.error != http1::ParseError::None);
  } else {
    FUZZ_CHECK(r.error == http1::ParseError::None);
  }
}

void checkHeaders(const std::vector<http1::Header>& headers, const char* data, size_t consumed,
                  const http1::HeadLimits& limits) {
  FUZZ_CHECK(headers.size() <= limits.max_headers);
  for (const auto& h : headers) {
    FUZZ_CHECK(!h.name.empty() && within(h.name, data, consumed));
    FUZZ_CHECK(within(h.value, data, consumed));
    for (char c : h.value) FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
  }
}

void checkRequest(const ParseResult& r, const http1::RequestHead& h, const char* data, size_t len,
                  const http1::HeadLimits& limits) {
  checkResultShape(r, len, limits);
  if (r.status != ParseStatus::Complete) return;
  FUZZ_CHECK(!h.method.empty() && within(h.method, data, r.consumed));
  FUZZ_CHECK(!h.target.empty() && within(h.target, data, r.consumed));
  FUZZ_CHECK(within(h.host, data, r.consumed));
  FUZZ_CHECK(h.minor_version == 0 || h.minor_version == 1);
  FUZZ_CHECK(h.framing != Framing::UntilClose);
  FUZZ_CHECK((h.content_length > 0) == (h.framing == Framing::ContentLength));
  FUZZ_CHECK(h.framing != Framing::Chunked || h.minor_version == 1);
  FUZZ_CHECK(!h.upgrade || h.minor_version == 1);
  checkHeaders(h.headers, data, r.consumed, limits);
}

void checkResponse(const ParseResult& r, const http1::ResponseHead& h, bool head_request,
                   const char* data, size_t len, const http1::HeadLimits& limits) {
  checkResultShape(r, len, limits);
  if (r.status != ParseStatus::Complete) return;
  FUZZ_CHECK(h.status >= 100 && h.status <= 599);
  FUZZ_CHECK(within(h.reason, data, r.consumed));
  bool bodyless = head_request || h.status < 200 || h.status == 204 || h.status == 304;
  FUZZ_CHECK(!bodyless || h.framing == Framing::None);
  FUZZ_CHECK((h.content_length > 0) == (h.framing == Framing::ContentLength));
  FUZZ_CHECK(h.upgrade == (h.status == 101));
  FUZZ_CHECK(h.framing != Framing::UntilClose || !h.keep_alive);
  checkHeaders(h.headers, data, r.consumed, limits);
}

// A prefix may need more; if it completes or fails, the whole input must do the same.
void checkPrefixAgrees(const ParseResult& prefix, const ParseResult& whole) {
  if (prefix.status == ParseStatus::NeedMore) return;
  FUZZ_CHECK(prefix.status == whole.status);
  FUZZ_CHECK(prefix.error == whole.error);
  FUZZ_CHECK(prefix.consumed == whole.consumed);
}

struct Decoded {
  ParseStatus status = ParseStatus::NeedMore;
  size_t end = 0;
  std::string data;
  bool operator==(const Decoded&) const = default;
};

// Feeds `in` to a fresh decoder in pieces of at most `piece` bytes (0: all at once).
Decoded decode(const char* in, size_t len, size_t piece) {
  http1::ChunkedDecoder d;
  Decoded out;
  size_t pos = 0;
  while (pos < len) {
    size_t avail = piece == 0 ? len : std::min(len, pos + piece);
    while (pos < avail) {
      if (d.dataRemaining() > 0) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(d.dataRemaining(), avail - pos));
        out.data.append(in + pos, n);
        d.consumeData(n);
        pos += n;
        continue;
      }
      http1::ChunkedDecoder::Step s = d.parseControl(in + pos, avail - pos);
      FUZZ_CHECK(s.consumed <= avail - pos);
      pos += s.consumed;
      if (s.status != ParseStatus::NeedMore) {
        FUZZ_CHECK(d.done() == (s.status == ParseStatus::Complete));
        out.status = s.status;
        out.end = pos;
        return out;
      }
      // NeedMore with bytes left over only when chunk data comes next.
      FUZZ_CHECK(pos == avail || d.dataRemaining() > 0);
    }
  }
  out.end = pos;
  return out;
}

void fuzzChunked(const char* in, size_t len, size_t piece) {
  Decoded whole = decode(in, len, 0);
  FUZZ_CHECK(whole.data.size() <= len);
  FUZZ_CHECK(decode(in, len, 1) == whole);
  if (piece > 1) FUZZ_CHECK(decode(in, len, piece) == whole);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const char* data = reinterpret_cast<const char*>(bytes);
  // Reused across inputs like the codec's, so stale state from a previous parse would show.
  static http1::RequestHead req;
  static http1::ResponseHead resp;
  static http1::RequestHead prefix_req;
  size_t split = size == 0 ? 0 : bytes[0] % (size + 1);
  size_t piece = size == 0 ? 0 : 2 + bytes[size - 1] % 14;

  const http1::HeadLimits limit_sets[] = {{}, {96, 4}};
  for (const auto& limits : limit_sets) {
    ParseResult r = http1::parseRequestHead(data, size, req, limits);
    checkRequest(r, req, data, size, limits);
    for (size_t k : {split, size / 2, size == 0 ? 0 : size - 1}) {
      ParseResult p = http1::parseRequestHead(data, k, prefix_req, limits);
      checkRequest(p, prefix_req, data, k, limits);
      checkPrefixAgrees(p, r);
    }
    // The body after a chunked request head, the way the codec would see it.
    if (r.status == ParseStatus::Complete && req.framing == Framing::Chunked)
      fuzzChunked(data + r.consumed, size - r.consumed, piece);

    for (bool head_request : {false, true}) {
      ParseResult rr = http1::parseResponseHead(data, size, head_request, resp, limits);
      checkResponse(rr, resp, head_request, data, size, limits);
    }
  }
  fuzzChunked(data, size, piece);
  return 0;
}
