// replay: the decision table, labels, backoff, Retry-After, the retry budget and the app's
// replay directive, all as tables of structs (no sockets, no clocks).
#include "proxy/policy/replay.h"

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

namespace meridian::proxy::replay {
namespace {

using std::chrono::milliseconds;

// --- reasonLabel and enabledFor ---

TEST(ReplayReasonLabel, NamesEveryReason) {
  struct Case {
    Failure failure;
    std::string_view label;
  };
  const Case cases[] = {
      {{Reason::ConnectFailure, 0}, "connect_failure"},
      {{Reason::Reset, 0}, "reset"},
      {{Reason::Timeout, 0}, "timeout"},
      {{Reason::Status, 502}, "502"},
      {{Reason::Status, 503}, "503"},
      {{Reason::Status, 504}, "504"},
      {{Reason::Status, 100}, "100"},
      {{Reason::Status, 999}, "999"},
      {{Reason::Status, 0}, "unknown"},
      {{Reason::Status, 1000}, "unknown"},
      {{Reason::Status, -503}, "unknown"},
      {{Reason::Reset, 503}, "reset"},  // status is only read for Status
  };
  for (const auto& c : cases) {
    EXPECT_EQ(reasonLabel(c.failure), c.label) << c.label;
  }
}

TEST(ReplayReasonLabel, PointsAtStaticStorage) {
  std::string_view a = reasonLabel({Reason::Status, 503});
  std::string_view b = reasonLabel({Reason::Status, 503});
  EXPECT_EQ(a.data(), b.data());
  EXPECT_EQ(a.size(), 3u);
}

TEST(ReplayEnabledFor, DefaultAndCustomOn) {
  config::Replay defaults;
  config::Replay custom;
  custom.on = {"reset", "500", "503"};
  struct Case {
    Failure failure;
    bool in_defaults;
    bool in_custom;
  };
  const Case cases[] = {
      {{Reason::ConnectFailure, 0}, true, false}, {{Reason::Reset, 0}, true, true},
      {{Reason::Timeout, 0}, true, false},        {{Reason::Status, 500}, false, true},
      {{Reason::Status, 502}, true, false},       {{Reason::Status, 503}, true, true},
      {{Reason::Status, 504}, true, false},       {{Reason::Status, 501}, false, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(reasonLabel(c.failure));
    EXPECT_EQ(enabledFor(defaults, c.failure), c.in_defaults);
    EXPECT_EQ(enabledFor(custom, c.failure), c.in_custom);
  }
  config::Replay none;
  none.on.clear();
  EXPECT_FALSE(enabledFor(none, {Reason::Reset, 0}));
}

// --- decide: named rows first, then every combination against the rule's order ---

struct DecideCase {
  const char* name;
  Input in;
  Verdict verdict;
  std::string_view why;
};

Input base(Failure f, std::string_view method = "GET") {
  Input in;
  in.failure = f;
  in.method = method;
  return in;
}

template <typename F>
Input with(Input in, F f) {
  f(in);
  return in;
}

constexpr Failure kReset{Reason::Reset, 0};
constexpr Failure kConnect{Reason::ConnectFailure, 0};
constexpr Failure k503{Reason::Status, 503};

TEST(ReplayDecide, NamedRows) {
  config::Replay policy;  // defaults: GET HEAD OPTIONS PUT DELETE, max_attempts 3
  const DecideCase cases[] = {
      {"get reset", base(kReset), Verdict::TryNext, "replayable"},
      {"get 503", base(k503), Verdict::TryNext, "replayable"},
      {"get timeout", base({Reason::Timeout, 0}), Verdict::TryNext, "replayable"},
      {"delete reset", base(kReset, "DELETE"), Verdict::TryNext, "replayable"},
      {"post reset", base(kReset, "POST"), Verdict::GiveUp, "not_idempotent"},
      {"post reset with key",
       with(base(kReset, "POST"), [](Input& i) { i.has_idempotency_key = true; }), Verdict::TryNext,
       "replayable"},
      {"lower-case method is not listed", base(kReset, "get"), Verdict::GiveUp, "not_idempotent"},
      {"post connect failure", base(kConnect, "POST"), Verdict::TryNext, "connect_failure"},
      {"500 not in on", base({Reason::Status, 500}), Verdict::GiveUp, "not_enabled"},
      {"body streamed", with(base(kReset), [](Input& i) { i.body_buffered = false; }),
       Verdict::GiveUp, "body_not_buffered"},
      {"connect failure ignores body",
       with(base(kConnect, "POST"), [](Input& i) { i.body_buffered = false; }), Verdict::TryNext,
       "connect_failure"},
      {"budget spent", with(base(kReset), [](Input& i) { i.budget_available = false; }),
       Verdict::GiveUp, "budget"},
      {"connect failure ignores budget",
       with(base(kConnect), [](Input& i) { i.budget_available = false; }), Verdict::TryNext,
       "connect_failure"},
      {"response started", with(base(kConnect), [](Input& i) { i.response_started = true; }),
       Verdict::GiveUp, "response_started"},
      {"second attempt allowed", with(base(kReset), [](Input& i) { i.attempts = 2; }),
       Verdict::TryNext, "replayable"},
      {"third attempt is the last", with(base(kConnect), [](Input& i) { i.attempts = 3; }),
       Verdict::GiveUp, "max_attempts"},
      {"past deadline", with(base(kConnect), [](Input& i) { i.time_left = milliseconds(0); }),
       Verdict::GiveUp, "deadline"},
      {"deadline long gone", with(base(kConnect), [](Input& i) { i.time_left = milliseconds(-5); }),
       Verdict::GiveUp, "deadline"},
      {"no deadline before the request is sent whole",
       with(base(kReset),
            [](Input& i) {
              i.time_left = std::nullopt;
              i.wait = milliseconds(60000);
            }),
       Verdict::TryNext, "replayable"},
      {"backoff ends before the deadline",
       with(base(kReset),
            [](Input& i) {
              i.time_left = milliseconds(100);
              i.wait = milliseconds(99);
            }),
       Verdict::TryNext, "replayable"},
      {"backoff ends at the deadline",
       with(base(kReset),
            [](Input& i) {
              i.time_left = milliseconds(100);
              i.wait = milliseconds(100);
            }),
       Verdict::GiveUp, "deadline"},
      {"deadline beats no target",
       with(base(kReset),
            [](Input& i) {
              i.time_left = milliseconds(10);
              i.wait = milliseconds(20);
              i.next_target = false;
            }),
       Verdict::GiveUp, "deadline"},
      {"no target for a reset", with(base(kReset), [](Input& i) { i.next_target = false; }),
       Verdict::GiveUp, "no_target"},
      {"no target beats budget",
       with(base(kReset),
            [](Input& i) {
              i.next_target = false;
              i.budget_available = false;
            }),
       Verdict::GiveUp, "no_target"},
      {"no target", with(base(kConnect), [](Input& i) { i.next_target = false; }), Verdict::GiveUp,
       "no_target"},
      {"started beats everything",
       with(base(kReset, "POST"),
            [](Input& i) {
              i.response_started = true;
              i.attempts = 9;
              i.time_left = milliseconds(0);
              i.next_target = false;
              i.body_buffered = false;
              i.budget_available = false;
            }),
       Verdict::GiveUp, "response_started"},
  };
  for (const auto& c : cases) {
    Decision d = decide(policy, c.in);
    EXPECT_EQ(d.verdict, c.verdict) << c.name;
    EXPECT_EQ(std::string_view(d.why), c.why) << c.name;
  }
}

TEST(ReplayDecide, CustomMethodsAndAttempts) {
  config::Replay policy;
  policy.methods = {"GET", "PURGE"};
  policy.max_attempts = 1;
  EXPECT_EQ(std::string_view(decide(policy, base(kConnect)).why), "max_attempts");
  policy.max_attempts = 5;
  EXPECT_EQ(decide(policy, base(kReset, "PURGE")).verdict, Verdict::TryNext);
  EXPECT_EQ(std::string_view(decide(policy, base(kReset, "PUT")).why), "not_idempotent");
  EXPECT_EQ(decide(policy, with(base(kReset), [](Input& i) { i.attempts = 4; })).verdict,
            Verdict::TryNext);
  EXPECT_EQ(
      std::string_view(decide(policy, with(base(kReset), [](Input& i) { i.attempts = 5; })).why),
      "max_attempts");
}

// The rule as the product page states it, written as a list of guards in order.
std::string_view expectedWhy(const config::Replay& policy, const Input& in) {
  if (in.response_started) return "response_started";
  if (in.attempts >= policy.max_attempts) return "max_attempts";
  if (in.time_left.has_value() && in.wait.count() >= in.time_left->count()) return "deadline";
  if (!in.next_target) return "no_target";
  if (in.failure.reason == Reason::ConnectFailure) return "connect_failure";
  if (!enabledFor(policy, in.failure)) return "not_enabled";
  bool listed = in.method == "GET" || in.method == "PUT";
  if (!listed && !in.has_idempotency_key) return "not_idempotent";
  if (!in.body_buffered) return "body_not_buffered";
  if (!in.budget_available) return "budget";
  return "replayable";
}

TEST(ReplayDecide, EveryCombination) {
  config::Replay policy;
  policy.methods = {"GET", "PUT"};
  policy.on = {"reset", "timeout", "503"};
  policy.max_attempts = 3;
  const Failure failures[] = {kConnect, kReset, {Reason::Timeout, 0}, k503, {Reason::Status, 502}};
  const std::string_view methods[] = {"GET", "PUT", "POST", "PATCH"};
  // Time left before the deadline (none: not sent whole yet) and the backoff before the replay.
  struct Clock {
    std::optional<milliseconds> time_left;
    milliseconds wait;
  };
  const Clock clocks[] = {
      {std::nullopt, milliseconds(0)},        {std::nullopt, milliseconds(500)},
      {milliseconds(100), milliseconds(0)},   {milliseconds(100), milliseconds(99)},
      {milliseconds(100), milliseconds(100)}, {milliseconds(0), milliseconds(0)},
      {milliseconds(-5), milliseconds(0)}};
  int tried = 0;
  int try_next = 0;
  for (const Failure& f : failures) {
    for (std::string_view m : methods) {
      for (int bits = 0; bits < 32; ++bits) {
        for (const Clock& clock : clocks) {
          for (int attempts = 1; attempts <= 4; ++attempts) {
            Input in = base(f, m);
            in.has_idempotency_key = bits & 1;
            in.body_buffered = bits & 2;
            in.response_started = bits & 4;
            in.budget_available = bits & 8;
            in.next_target = bits & 16;
            in.time_left = clock.time_left;
            in.wait = clock.wait;
            in.attempts = attempts;
            std::string_view want = expectedWhy(policy, in);
            Decision d = decide(policy, in);
            bool next = want == "connect_failure" || want == "replayable";
            ASSERT_EQ(std::string_view(d.why), want)
                << reasonLabel(f) << " " << m << " bits=" << bits << " wait=" << clock.wait.count()
                << " attempts=" << attempts;
            ASSERT_EQ(d.verdict, next ? Verdict::TryNext : Verdict::GiveUp);
            ++tried;
            try_next += next;
          }
        }
      }
    }
  }
  EXPECT_EQ(tried, 5 * 4 * 32 * 7 * 4);
  EXPECT_GT(try_next, 0);  // the sweep reaches both verdicts
}

// --- backoff ---

TEST(ReplayBackoff, StaysUnderTheCapAndGrowsAndUsesTheWholeRange) {
  config::Replay policy;
  policy.backoff_base = milliseconds(25);
  policy.backoff_max = milliseconds(250);
  std::mt19937_64 rng(42);
  struct Case {
    int replay;
    int64_t ceiling;
  };
  const Case cases[] = {{1, 25},  {2, 50},  {3, 100},  {4, 200},
                        {5, 250}, {6, 250}, {40, 250}, {1000, 250}};
  int64_t prev_mean = -1;
  int64_t prev_ceiling = -1;
  for (const auto& c : cases) {
    int64_t lo = INT64_MAX, hi = -1, sum = 0;
    const int draws = 20000;
    for (int i = 0; i < draws; ++i) {
      int64_t ms = backoff(policy, c.replay, rng()).count();
      lo = std::min(lo, ms);
      hi = std::max(hi, ms);
      sum += ms;
    }
    SCOPED_TRACE(c.replay);
    EXPECT_EQ(lo, 0);
    EXPECT_EQ(hi, c.ceiling);  // never above, and reaches it
    int64_t mean = sum / draws;
    EXPECT_NEAR(static_cast<double>(mean), c.ceiling / 2.0, c.ceiling * 0.05 + 1);
    // Past the cap the mean stays put (within noise); below it, it grows with each replay.
    if (c.ceiling > prev_ceiling) {
      EXPECT_GT(mean, prev_mean);
    }
    prev_mean = mean;
    prev_ceiling = c.ceiling;
  }
}

TEST(ReplayBackoff, EdgeValues) {
  config::Replay policy;
  policy.backoff_base = milliseconds(25);
  policy.backoff_max = milliseconds(250);
  EXPECT_EQ(backoff(policy, 0, UINT64_MAX).count(), UINT64_MAX % 26);  // replay < 1 acts as 1
  EXPECT_EQ(backoff(policy, 1, 25).count(), 25);
  EXPECT_EQ(backoff(policy, 1, 26).count(), 0);
  policy.backoff_base = milliseconds(0);
  EXPECT_EQ(backoff(policy, 3, 12345).count(), 0);
  policy.backoff_base = milliseconds(int64_t{1} << 40);  // huge base: the cap still holds
  policy.backoff_max = milliseconds(int64_t{1} << 41);
  EXPECT_LE(backoff(policy, 60, UINT64_MAX - 1).count(), int64_t{1} << 41);
}

// --- Retry-After ---

TEST(ReplayRetryAfter, SecondsDatesAndGarbage) {
  const std::time_t now = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
  struct Case {
    const char* value;
    std::optional<int64_t> ms;
  };
  const Case cases[] = {
      {"0", 0},
      {"5", 5000},
      {"  120\t", 120000},
      {"007", 7000},
      {"Sun, 06 Nov 1994 08:49:37 GMT", 0},
      {"Sun, 06 Nov 1994 08:50:07 GMT", 30000},
      {"Mon, 07 Nov 1994 08:49:37 GMT", 86400000},
      {"Sat, 01 Jan 1994 00:00:00 GMT", 0},       // in the past
      {"Thu, 01 Jan 1970 00:00:00 GMT", 0},       // long past
      {"Sunday, 06-Nov-94 08:49:47 GMT", 10000},  // obsolete RFC 850 form
      {"Sun Nov  6 08:49:57 1994", 20000},        // obsolete asctime form
      {"Sun Nov 16 08:49:37 1994", 864000000},
      {"99999999999999999999999", (int64_t{1} << 31) * 1000},  // overflow: 2^31 s
      {"2147483649", (int64_t{1} << 31) * 1000},
      {"", std::nullopt},
      {"   ", std::nullopt},
      {"-5", std::nullopt},
      {"1.5", std::nullopt},
      {"5s", std::nullopt},
      {"0x10", std::nullopt},
      {"soon", std::nullopt},
      {"Sun, 06 Nov 1994 08:49:37 UTC", std::nullopt},
      {"Sun, 6 Nov 1994 08:49:37 GMT", std::nullopt},
      {"Sun, 06 nov 1994 08:49:37 GMT", std::nullopt},
      {"Sun, 31 Feb 1994 08:49:37 GMT", std::nullopt},
      {"Sun, 06 Nov 1994 24:00:00 GMT", std::nullopt},
      {"Sun, 06 Nov 1994 08:49:37 GMT extra", std::nullopt},
      {"Sun, 06 Nov 1994 08:49", std::nullopt},
  };
  for (const auto& c : cases) {
    auto got = parseRetryAfter(c.value, now);
    SCOPED_TRACE(c.value);
    ASSERT_EQ(got.has_value(), c.ms.has_value());
    if (got) {
      EXPECT_EQ(got->count(), *c.ms);
    }
  }
}

TEST(ReplayRetryAfter, TwoDigitYearsAreNeverFarInTheFuture) {
  // now = 2026-01-01: "30" is 2030 (ahead by 4 years), "94" is 1994 (in the past: 0).
  const std::time_t now = 1767225600;
  auto ahead = parseRetryAfter("Tuesday, 01-Jan-30 00:00:00 GMT", now);
  ASSERT_TRUE(ahead.has_value());
  EXPECT_EQ(ahead->count(), int64_t{1461} * 86400 * 1000);  // 2026..2029: one leap year
  auto past = parseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", now);
  ASSERT_TRUE(past.has_value());
  EXPECT_EQ(past->count(), 0);
}

// --- Budget ---

TEST(ReplayBudget, FloorOfThreeWhenQuiet) {
  Budget b;
  b.requestStarted();
  EXPECT_TRUE(b.tryStartReplay(20));
  EXPECT_TRUE(b.tryStartReplay(20));
  EXPECT_TRUE(b.tryStartReplay(20));
  EXPECT_FALSE(b.tryStartReplay(20));
  EXPECT_EQ(b.replaysInFlight(), Budget::kMinConcurrency);
  EXPECT_FALSE(b.tryStartReplay(0));  // even 0% keeps the floor, and no more
}

TEST(ReplayBudget, PercentOfRequestsInFlight) {
  struct Case {
    int requests;
    int percent;
    int allowed;
  };
  const Case cases[] = {{0, 20, 3},   {10, 20, 3},     {20, 20, 4}, {100, 20, 20},
                        {99, 20, 19}, {100, 100, 100}, {50, 0, 3},  {1000, 5, 50}};
  for (const auto& c : cases) {
    Budget b;
    for (int i = 0; i < c.requests; ++i) b.requestStarted();
    int granted = 0;
    while (granted <= c.requests + Budget::kMinConcurrency && b.tryStartReplay(c.percent)) {
      ++granted;
    }
    EXPECT_EQ(granted, c.allowed) << c.requests << " at " << c.percent << "%";
    EXPECT_FALSE(b.available(c.percent)) << c.requests << " at " << c.percent << "%";
    EXPECT_EQ(b.replaysInFlight(), c.allowed);
    EXPECT_EQ(b.requestsInFlight(), c.requests);
  }
}

TEST(ReplayBudget, FinishingReleasesTheFloorNotTheWindow) {
  Budget b;
  const auto t0 = Budget::Clock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 20; ++i) b.requestStarted(t0);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(b.tryStartReplay(20, t0));
  EXPECT_FALSE(b.tryStartReplay(20, t0));
  b.replayFinished();
  EXPECT_EQ(b.replaysInFlight(), 3);
  EXPECT_FALSE(b.available(20, t0));  // 4 of 20 started in the window: no more
  b.replayFinished();
  EXPECT_TRUE(b.available(20, t0));  // the floor: 2 in flight
  EXPECT_TRUE(b.available(20, t0));  // asking takes nothing
  EXPECT_TRUE(b.tryStartReplay(20, t0));
  EXPECT_FALSE(b.tryStartReplay(20, t0));
}

// The regression the lab found: requests that failed fast are no longer in flight, so a budget
// of requests in flight let a burst of failures replay only kMinConcurrency at a time.
TEST(ReplayBudget, ABurstOfFailuresReplaysWithinTheShareOfRecentRequests) {
  Budget b;
  for (int i = 0; i < 100; ++i) {
    b.requestStarted();
    b.requestFinished();
  }
  for (int i = 0; i < 10; ++i) b.requestStarted();  // a burst, all failing at once
  int granted = 0;
  while (granted < 50 && b.tryStartReplay(20)) ++granted;
  EXPECT_EQ(granted, 22);  // 20% of the 110 started in the window
}

TEST(ReplayBudget, TheWindowSlides) {
  Budget b;
  const auto t0 = Budget::Clock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 100; ++i) b.requestStarted(t0);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(b.tryStartReplay(20, t0 + std::chrono::seconds(9)));
  EXPECT_FALSE(b.available(20, t0 + std::chrono::seconds(9)));
  for (int i = 0; i < 20; ++i) b.replayFinished();
  // 10 s later the 100 requests have left the window; the replays at 9 s have not.
  EXPECT_TRUE(b.available(20, t0 + std::chrono::seconds(10)));  // the floor
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(b.tryStartReplay(20, t0 + std::chrono::seconds(10)));
  EXPECT_FALSE(b.available(20, t0 + std::chrono::seconds(10)));
  for (int i = 0; i < 50; ++i) b.requestStarted(t0 + std::chrono::seconds(25));
  // 3 still in flight, but none of the window's 50 requests has replayed yet.
  EXPECT_TRUE(b.available(20, t0 + std::chrono::seconds(25)));
}

// --- parseDirective ---

TEST(ReplayDirective, Forms) {
  struct Case {
    const char* value;
    bool valid;
    bool elsewhere;
    bool primary;
    std::string_view region;
    std::string_view state;
  };
  const Case cases[] = {
      {"region=ams", true, false, false, "ams", ""},
      {"region=primary", true, false, true, "", ""},
      {"REGION=Primary", true, false, true, "", ""},
      {"elsewhere=true", true, true, false, "", ""},
      {"Elsewhere=TRUE", true, true, false, "", ""},
      {"region=ams;state=abc", true, false, false, "ams", "abc"},
      {" region = ams ; state = a=b==c ", true, false, false, "ams", "a=b==c"},
      {"state=x;region=iad", true, false, false, "iad", "x"},
      {"region=sjc;app=other;instance=00abc", true, false, false, "sjc", ""},  // fly fields
      {"instance=00abc;region=lhr;elsewhere=true", true, false, false, "lhr", ""},
      {"elsewhere=true;state=", true, true, false, "", ""},
      {"region=ams;", true, false, false, "ams", ""},
      {"State=Keep-Case;Region=AMS", true, false, false, "AMS", "Keep-Case"},
      {"", false, false, false, "", ""},
      {"   ", false, false, false, "", ""},
      {"state=abc", false, false, false, "", "abc"},
      {"elsewhere=false", false, false, false, "", ""},
      {"instance=00abc", false, false, false, "", ""},
      {"region", false, false, false, "", ""},
      {"region=", false, false, false, "", ""},
      {"=ams", false, false, false, "", ""},
      {"region=ams;garbage", false, false, false, "", ""},
      {"region=a b", false, false, false, "", ""},
      {"region=ams,ord", false, false, false, "", ""},
      {"region=ams;region=iad", false, false, false, "", ""},
      {"elsewhere=yes", false, false, false, "", ""},
      {"region=ams;state=a;state=b", false, false, false, "", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.value);
    Directive d = parseDirective(c.value);
    EXPECT_EQ(d.valid, c.valid);
    if (!c.valid) continue;
    EXPECT_EQ(d.elsewhere, c.elsewhere);
    EXPECT_EQ(d.primary, c.primary);
    EXPECT_EQ(d.region, c.region);
    EXPECT_EQ(d.state, c.state);
  }
}

// Found by replay_directive_fuzz: a state with neither region nor elsewhere made an invalid
// directive that still carried the state. Invalid means empty.
TEST(ReplayDirective, AnInvalidOneCarriesNothing) {
  for (const char* v : {"state=a=b", "ieorg n = s,n ; state = a=b", "elsewhere=false;state=x"}) {
    SCOPED_TRACE(v);
    Directive d = parseDirective(v);
    EXPECT_FALSE(d.valid);
    EXPECT_TRUE(d.state.empty());
    EXPECT_TRUE(d.region.empty());
    EXPECT_FALSE(d.elsewhere || d.primary);
  }
}

TEST(ReplayDirective, ViewsPointIntoTheValue) {
  std::string value = "region=fra;state=xyz";
  Directive d = parseDirective(value);
  ASSERT_TRUE(d.valid);
  EXPECT_EQ(d.region.data(), value.data() + 7);
  EXPECT_EQ(d.state.data(), value.data() + 17);
}

// --- formatReplaySource ---

TEST(ReplaySource, Formats) {
  struct Case {
    std::string_view region;
    std::string_view state;
    int64_t micros;
    std::string_view want;
  };
  const Case cases[] = {
      {"ams", "abc", 1700000000000000, "region=ams;state=abc;t=1700000000000000"},
      {"ams", "", 1700000000000000, "region=ams;t=1700000000000000"},
      {"iad", "a=b", 0, "region=iad;state=a=b;t=0"},
  };
  for (const auto& c : cases) {
    std::string out = "left over from before";
    formatReplaySource(c.region, c.state, c.micros, out);
    EXPECT_EQ(out, c.want);
  }
}

}  // namespace
}  // namespace meridian::proxy::replay
