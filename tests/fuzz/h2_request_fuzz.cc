// libFuzzer target for the HTTP/2 request builder (RFC 9113 8.2 and 8.3). The input is a header
// block written as lines "name<TAB>value" (the first byte chooses END_STREAM and the limits).
// Besides "never crash", it checks what the proxy relies on when a request it accepted goes
// upstream as HTTP/1.1: every view of the head points into the bytes it owns, no value carries
// NUL, CR, LF or surrounding whitespace, and the head written upstream parses back as one
// request with the same method, target and host (nothing an h2 client sends can smuggle a
// second request or change the host the next hop reads).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/buffer.h"
#include "proxy/http/h2_request.h"
#include "proxy/http/http1_parser.h"
#include "proxy/http/http1_writer.h"
#include "tests/fuzz/fuzz_check.h"

namespace http1 = meridian::proxy::http1;
using meridian::proxy::h2::RequestBuilder;

namespace {

bool within(std::string_view v, const std::string& bytes) {
  return v.empty() || (v.data() >= bytes.data() && v.data() + v.size() <= bytes.data() + bytes.size());
}

bool isWs(char c) {
  return c == ' ' || c == '\t';
}

void checkValue(std::string_view v) {
  for (char c : v) FUZZ_CHECK(c != '\0' && c != '\r' && c != '\n');
  FUZZ_CHECK(v.empty() || (!isWs(v.front()) && !isWs(v.back())));
}

void checkHead(const http1::RequestHead& head, const std::string& bytes, bool connect) {
  FUZZ_CHECK(!head.method.empty() && within(head.method, bytes));
  FUZZ_CHECK(!head.target.empty() && within(head.target, bytes));
  FUZZ_CHECK(!head.host.empty() && within(head.host, bytes));
  checkValue(head.host);
  for (const auto& h : head.headers) {
    FUZZ_CHECK(!h.name.empty() && within(h.name, bytes) && within(h.value, bytes));
    checkValue(h.value);
  }
  if (connect) return;  // plain CONNECT is refused by the caller, never forwarded
  FUZZ_CHECK(head.target.front() == '/' || head.target == "*");
  // What goes upstream parses back as the same request, whole.
  meridian::core::Buffer out;
  http1::ForwardInfo fwd;
  fwd.client_ip = "192.0.2.1";
  fwd.proto = "https";
  fwd.request_id = "0123456789abcdef0123456789abcdef";
  http1::writeUpstreamRequestHead(head, fwd, out);
  std::string wire(out.size(), '\0');
  out.copyOut(wire.data(), wire.size());
  http1::RequestHead back;
  http1::HeadLimits roomy{1 << 20, 10000};
  http1::ParseResult r = http1::parseRequestHead(wire.data(), wire.size(), back, roomy);
  if (r.status != http1::ParseStatus::Complete) {
    fprintf(stderr, "upstream head does not parse (error %d):\n%s\n", static_cast<int>(r.error),
            wire.c_str());
    abort();
  }
  FUZZ_CHECK(r.consumed == wire.size());
  FUZZ_CHECK(back.method == head.method);
  FUZZ_CHECK(back.target == head.target);
  FUZZ_CHECK(back.host == head.host);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  const bool end_stream = (bytes[0] & 1) != 0;
  const bool small = (bytes[0] & 2) != 0;
  std::string_view in(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  RequestBuilder b(small ? 256 : 16384, small ? 4 : 100);
  while (!in.empty()) {
    size_t nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    size_t tab = line.find('\t');
    std::string_view name = line.substr(0, tab);
    std::string_view value = tab == std::string_view::npos ? std::string_view() : line.substr(tab + 1);
    RequestBuilder::Result before = b.result();
    RequestBuilder::Result now = b.add(name, value);
    // The first failure stays.
    FUZZ_CHECK(before == RequestBuilder::Result::Ok || now == before);
  }
  std::string owned;
  http1::RequestHead head;
  RequestBuilder::Result r = b.finish(end_stream, "dGhlIHNhbXBsZSBub25jZQ==", owned, head);
  FUZZ_CHECK(r == b.result());
  FUZZ_CHECK((r == RequestBuilder::Result::Ok) == (b.why()[0] == '\0'));
  if (r != RequestBuilder::Result::Ok) return 0;
  checkHead(head, owned, b.isConnect());
  if (end_stream) FUZZ_CHECK(head.framing == http1::Framing::None);
  return 0;
}
