// replay::hedgeable: which requests may be hedged, as a table (no sockets, no clocks).
#include <gtest/gtest.h>

#include <string>

#include "proxy/policy/replay.h"

namespace meridian::proxy::replay {
namespace {

using std::chrono::milliseconds;

config::Replay hedging() {
  config::Replay p;
  p.hedge.after = milliseconds(50);
  return p;
}

TEST(Hedgeable, FirstFailingCheckDecides) {
  struct Case {
    const char* name;
    void (*change)(config::Replay&, Input&);
    const char* why;
  };
  const Case cases[] = {
      {"a plain GET", [](config::Replay&, Input&) {}, "hedge"},
      {"off", [](config::Replay& p, Input&) { p.hedge = config::Hedge{}; }, "off"},
      {"percentile on",
       [](config::Replay& p, Input&) {
         p.hedge = {milliseconds(0), 95, 1};
       },
       "hedge"},
      {"response begun", [](config::Replay&, Input& in) { in.response_started = true; },
       "response_started"},
      {"attempts used up", [](config::Replay&, Input& in) { in.attempts = 3; }, "max_attempts"},
      {"deadline passed", [](config::Replay&, Input& in) { in.time_left = milliseconds(0); },
       "deadline"},
      {"no next region", [](config::Replay&, Input& in) { in.next_target = false; }, "no_target"},
      {"POST", [](config::Replay&, Input& in) { in.method = "POST"; }, "not_idempotent"},
      {"POST with a key",
       [](config::Replay&, Input& in) {
         in.method = "POST";
         in.has_idempotency_key = true;
       },
       "hedge"},
      {"body over the buffer", [](config::Replay&, Input& in) { in.body_buffered = false; },
       "body_not_buffered"},
      {"no budget", [](config::Replay&, Input& in) { in.budget_available = false; }, "budget"},
      // The failure (there is none yet) and replay.on do not matter to a hedge.
      {"replay.on empty", [](config::Replay& p, Input&) { p.on.clear(); }, "hedge"},
  };
  for (const auto& c : cases) {
    config::Replay p = hedging();
    Input in;
    in.method = "GET";
    in.attempts = 1;
    c.change(p, in);
    Decision d = hedgeable(p, in);
    EXPECT_EQ(std::string(d.why), c.why) << c.name;
    EXPECT_EQ(d.verdict == Verdict::TryNext, std::string(c.why) == "hedge") << c.name;
  }
}

}  // namespace
}  // namespace meridian::proxy::replay
