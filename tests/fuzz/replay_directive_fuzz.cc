// libFuzzer target for what an app's response asks of the replay rule: the `meridian-replay` /
// `fly-replay` directive and Retry-After. Besides "never crash", it checks:
//  - a valid directive names exactly one of: a region (a token), the primary, or elsewhere;
//    its views point into the header value; an invalid one carries nothing;
//  - the source header written for the replayed request (formatReplaySource) parses back as a
//    directive naming the same region and state, so an app reading it sees what it asked;
//  - Retry-After is never negative, and a value that parses now parses a day later too,
//    with a wait no longer than before.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/policy/replay.h"
#include "tests/fuzz/fuzz_check.h"

namespace replay = meridian::proxy::replay;

namespace {

bool within(std::string_view v, std::string_view in) {
  return v.empty() || (v.data() >= in.data() && v.data() + v.size() <= in.data() + in.size());
}

bool isWs(char c) {
  return c == ' ' || c == '\t';
}

void checkDirective(std::string_view in) {
  replay::Directive d = replay::parseDirective(in);
  if (!d.valid) {
    FUZZ_CHECK(!d.elsewhere && !d.primary && d.region.empty() && d.state.empty());
    return;
  }
  FUZZ_CHECK(within(d.region, in) && within(d.state, in));
  int named = (d.region.empty() ? 0 : 1) + (d.primary ? 1 : 0) + (d.elsewhere ? 1 : 0);
  FUZZ_CHECK(named == 1);
  for (char c : d.region) FUZZ_CHECK(c > ' ' && c < 0x7f && c != ';' && c != '=' && c != ',');
  FUZZ_CHECK(d.state.find(';') == std::string_view::npos);
  FUZZ_CHECK(d.state.empty() || (!isWs(d.state.front()) && !isWs(d.state.back())));
  if (d.region.empty()) return;
  std::string src;
  replay::formatReplaySource(d.region, d.state, 1700000000000000, src);
  replay::Directive back = replay::parseDirective(src);
  FUZZ_CHECK(back.valid && back.region == d.region && back.state == d.state);
}

void checkRetryAfter(std::string_view in) {
  auto ms = replay::parseRetryAfter(in, 1700000000);
  if (!ms) return;
  FUZZ_CHECK(ms->count() >= 0);
  // The same date one day later is at most one day shorter (or both clamp at 0).
  auto later = replay::parseRetryAfter(in, 1700000000 + 86400);
  FUZZ_CHECK(later.has_value() && later->count() >= 0 && later->count() <= ms->count());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(bytes), size);
  checkDirective(in);
  checkRetryAfter(in);
  return 0;
}
