// replay.hedge: what loads, and every bad value reported at its key with what is allowed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/loader.h"

namespace meridian::config {
namespace {

using std::chrono::milliseconds;
using Lines = std::vector<std::string>;

// A route `r` with `replay_and_more` under it (indented four spaces).
std::string withRoute(const std::string& replay_and_more) {
  return "listeners:\n  - address: 127.0.0.1:0\n"
         "regions: [{name: a, lat: 0, lon: 0}]\n"
         "clusters: [{name: c, endpoints: [{address: '10.0.0.1:80', region: a}]}]\n"
         "routes:\n"
         "  - name: r\n"
         "    backends: [{cluster: c}]\n" +
         replay_and_more;
}

Lines problems(const std::string& yaml) {
  Lines out;
  for (const auto& d : loadString(yaml, "t.yaml").diagnostics) out.push_back(d.text());
  return out;
}

TEST(HedgeConfig, OffByDefault) {
  auto r = loadString(withRoute(""), "t.yaml");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.config.routes[0].replay.hedge.enabled());
}

TEST(HedgeConfig, FixedWaitAndMax) {
  auto r = loadString(withRoute("    replay: { hedge: { after: 50ms, max: 2 } }\n"), "t.yaml");
  ASSERT_TRUE(r.ok()) << problems(withRoute("    replay: { hedge: { after: 50ms, max: 2 } }\n"))[0];
  const Hedge& h = r.config.routes[0].replay.hedge;
  EXPECT_TRUE(h.enabled());
  EXPECT_EQ(h.after, milliseconds(50));
  EXPECT_EQ(h.percentile, 0);
  EXPECT_EQ(h.max, 2);
}

TEST(HedgeConfig, PercentileWithDefaultMax) {
  auto r = loadString(withRoute("    replay: { hedge: { after: p95 } }\n"), "t.yaml");
  ASSERT_TRUE(r.ok());
  const Hedge& h = r.config.routes[0].replay.hedge;
  EXPECT_TRUE(h.enabled());
  EXPECT_EQ(h.after, milliseconds(0));
  EXPECT_EQ(h.percentile, 95);
  EXPECT_EQ(h.max, 1);
}

TEST(HedgeConfig, BadValuesAreReportedAtTheirKey) {
  EXPECT_EQ(problems(withRoute("    replay: { hedge: { after: 0ms, max: 4 } }\n")),
            (Lines{"t.yaml:8:31: routes[0].replay.hedge.after: must be above 0, got 0ms",
                   "t.yaml:8:41: routes[0].replay.hedge.max: must be from 1 to 3, got 4"}));
  EXPECT_EQ(problems(withRoute("    replay: { hedge: { after: p40, max: 0 } }\n")),
            (Lines{"t.yaml:8:31: routes[0].replay.hedge.after: a percentile must be p50 to "
                   "p99, got \"p40\"",
                   "t.yaml:8:41: routes[0].replay.hedge.max: must be from 1 to 3, got 0"}));
  EXPECT_EQ(problems(withRoute("    replay: { hedge: { after: soon } }\n")),
            (Lines{"t.yaml:8:31: routes[0].replay.hedge.after: expected a duration (50ms) or "
                   "a percentile of the route's latency (p50 to p99), got \"soon\""}));
  EXPECT_EQ(problems(withRoute("    replay: { hedge: { max: 1, first: yes } }\n")),
            (Lines{"t.yaml:8:22: routes[0].replay.hedge: missing required key \"after\"",
                   "t.yaml:8:32: unknown key \"first\" in routes[0].replay.hedge"}));
}

// A hedge after the per-try timeout would only ever follow a timed-out attempt: a replay.
TEST(HedgeConfig, AfterMustBeBelowThePerTryTimeout) {
  EXPECT_EQ(problems(withRoute("    replay: { hedge: { after: 2s } }\n"
                               "    timeouts: { per_try: 2s }\n")),
            (Lines{"t.yaml:8:13: routes[0].replay.hedge.after: 2000ms must be below "
                   "timeouts.per_try (2000ms)"}));
  EXPECT_TRUE(loadString(withRoute("    replay: { hedge: { after: 1999ms } }\n"
                                   "    timeouts: { per_try: 2s }\n"),
                         "t.yaml")
                  .ok());
}

}  // namespace
}  // namespace meridian::config
