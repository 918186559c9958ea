// libFuzzer target for the HTTP/1 response side: an upstream's response head as the proxy
// reads it and as it writes it on to the client. The first byte picks the request method
// (HEAD or not), the client's version and whether the proxy closes; the rest is the upstream's
// bytes. Besides "never crash", it checks:
//  - the head parses the same whole or fed in two pieces (a prefix may only need more);
//  - what the proxy writes to the client parses back as one response with the same status and
//    a framing the client can follow: Content-Length kept, chunked or until-close re-chunked
//    for an HTTP/1.1 client, and nothing of the upstream's own framing fields passed through;
//  - no field written to the client carries NUL, CR or LF (no response splitting).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/buffer.h"
#include "proxy/http/http1_parser.h"
#include "proxy/http/http1_writer.h"
#include "tests/fuzz/fuzz_check.h"

namespace http1 = meridian::proxy::http1;
using http1::Framing;
using http1::ParseStatus;

namespace {

std::string contents(meridian::core::Buffer& b) {
  std::string s(b.size(), '\0');
  b.copyOut(s.data(), s.size());
  return s;
}

void checkClientHead(const http1::ResponseHead& up, const http1::ResponseOptions& opt) {
  meridian::core::Buffer out;
  bool chunked = http1::writeClientResponseHead(up, opt, out);
  std::string wire = contents(out);
  http1::ResponseHead back;
  http1::HeadLimits roomy{1 << 20, 10000};
  http1::ParseResult r = http1::parseResponseHead(wire.data(), wire.size(), opt.head_request, back,
                                                  roomy);
  if (r.status != ParseStatus::Complete) {
    fprintf(stderr, "client head does not parse (error %d):\n%s\n", static_cast<int>(r.error),
            wire.c_str());
    abort();
  }
  FUZZ_CHECK(r.consumed == wire.size());
  FUZZ_CHECK(back.status == up.status);
  FUZZ_CHECK(back.upgrade == up.upgrade);
  if (up.upgrade) return;
  if (up.framing == Framing::ContentLength) {
    FUZZ_CHECK(back.framing == Framing::ContentLength && back.content_length == up.content_length);
    FUZZ_CHECK(!chunked);
  }
  if (up.framing == Framing::Chunked || up.framing == Framing::UntilClose) {
    FUZZ_CHECK(chunked == !opt.client_http10);
    FUZZ_CHECK(back.framing == (chunked ? Framing::Chunked : Framing::UntilClose));
  }
  if (up.framing == Framing::None && !opt.head_request && up.status >= 200 && up.status != 204 &&
      up.status != 304)
    FUZZ_CHECK(back.framing == Framing::None);
  if (opt.close) FUZZ_CHECK(!back.keep_alive);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = bytes[0];
  const char* data = reinterpret_cast<const char*>(bytes) + 1;
  const size_t len = size - 1;
  http1::ResponseOptions opt;
  opt.head_request = (flags & 1) != 0;
  opt.client_http10 = (flags & 2) != 0;
  opt.close = (flags & 4) != 0;
  if (flags & 8) opt.set_cookie = "meridian-backend-web=blue; Path=/; HttpOnly; SameSite=Lax";
  opt.region = (flags & 16) ? "ams" : "";

  static http1::ResponseHead whole;
  static http1::ResponseHead part;
  http1::ParseResult r = http1::parseResponseHead(data, len, opt.head_request, whole);
  size_t split = len == 0 ? 0 : (flags >> 5) * len / 8;
  http1::ParseResult p = http1::parseResponseHead(data, split, opt.head_request, part);
  if (p.status != ParseStatus::NeedMore) {
    FUZZ_CHECK(p.status == r.status && p.error == r.error && p.consumed == r.consumed);
  }
  if (r.status != ParseStatus::Complete) return 0;
  FUZZ_CHECK(whole.status >= 100 && whole.status <= 599);
  for (const auto& h : whole.headers)
    for (char c : h.value) FUZZ_CHECK(c != '\0' && c != '\r' && c != '\n');
  if (whole.status >= 200) checkClientHead(whole, opt);
  return 0;
}
