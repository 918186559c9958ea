// libFuzzer target for the request-path normaliser, under each escaped-slash action. Besides
// "never crash", it checks what routing relies on: the normal form has no dot segments, no
// encoded unreserved characters and only upper-case hex; normalising it again changes nothing
// (so the app, resolving the path we forward, finds the one we matched); the query is kept
// byte for byte; with an unescape action no slash stays escaped.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/http/path_normalize.h"
#include "tests/fuzz/fuzz_check.h"

namespace http = meridian::proxy::http;
using http::EscapedSlashes;
using http::TargetVerdict;

namespace {

bool isUpperHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

bool isUnreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

void checkPath(std::string_view path, EscapedSlashes mode) {
  FUZZ_CHECK(!path.empty() && path.front() == '/');
  bool unescaped = mode == EscapedSlashes::UnescapeAndForward ||
                   mode == EscapedSlashes::UnescapeAndRedirect;
  for (size_t i = 0; i < path.size(); ++i) {
    FUZZ_CHECK(!unescaped || path[i] != '\\');
    FUZZ_CHECK(mode != EscapedSlashes::Reject || path[i] != '\\');
    if (path[i] != '%') continue;
    FUZZ_CHECK(i + 2 < path.size() && isUpperHex(path[i + 1]) && isUpperHex(path[i + 2]));
    auto byte = static_cast<unsigned char>(std::stoi(std::string(path.substr(i + 1, 2)), 0, 16));
    FUZZ_CHECK(!isUnreserved(byte));
    FUZZ_CHECK(!(unescaped || mode == EscapedSlashes::Reject) || (byte != '/' && byte != '\\'));
  }
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(pos, end - pos);
    FUZZ_CHECK(seg != "." && seg != "..");
    pos = end + 1;
  }
}

void fuzzOne(std::string_view in, EscapedSlashes mode) {
  std::string out;
  TargetVerdict v = http::normalizeTarget(in, mode, out);
  if (v != TargetVerdict::Normalized && v != TargetVerdict::Redirect) {
    FUZZ_CHECK(out.empty());
    if (v == TargetVerdict::Unchanged && in != "*") checkPath(in.substr(0, in.find('?')), mode);
    return;
  }
  FUZZ_CHECK(out.find('#') == std::string::npos);
  size_t q_in = in.find('?');
  size_t q_out = out.find('?');
  FUZZ_CHECK((q_in == std::string_view::npos) == (q_out == std::string::npos));
  if (q_in != std::string_view::npos) FUZZ_CHECK(out.substr(q_out) == in.substr(q_in));
  checkPath(std::string_view(out).substr(0, q_out), mode);
  FUZZ_CHECK(v != TargetVerdict::Redirect || mode == EscapedSlashes::UnescapeAndRedirect);
  std::string again;
  FUZZ_CHECK(http::normalizeTarget(out, mode, again) == TargetVerdict::Unchanged);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(bytes), size);
  for (EscapedSlashes mode : {EscapedSlashes::Reject, EscapedSlashes::Keep,
                              EscapedSlashes::UnescapeAndRedirect,
                              EscapedSlashes::UnescapeAndForward})
    fuzzOne(in, mode);
  return 0;
}
