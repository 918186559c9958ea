// Labelled per-worker metrics and their Prometheus text: what a scrape shows after requests on
// one or several workers, bucket edges, escaping, and that promtool accepts the page.
#include "proxy/observe/request_metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <sstream>
#include <thread>

#include "proxy/observe/prometheus_text.h"
#include "tests/fakes/subprocess.h"

// Counts heap allocations made while `g_count_allocations` is set, to pin down that counting
// an already-seen label set allocates nothing. Forwards to malloc, so nothing else changes.
namespace {
std::atomic<bool> g_count_allocations{false};
std::atomic<uint64_t> g_allocations{0};
}  // namespace

void* operator new(size_t n) {
  if (g_count_allocations.load(std::memory_order_relaxed)) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
// GCC cannot see that the replaced operator new above is malloc, and warns on the free().
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
#pragma GCC diagnostic pop

namespace meridian::proxy {
namespace {

std::string render(const std::vector<const WorkerMetrics*>& workers) {
  std::string out;
  renderMetrics(workers, out);
  return out;
}

// Lines of `text` that start with `prefix`, in order.
std::vector<std::string> linesStartingWith(const std::string& text, const std::string& prefix) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(prefix)) lines.push_back(line);
  }
  return lines;
}

bool hasLine(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.starts_with(line + "\n");
}

TEST(RequestMetrics, CountsRequestsOnOneWorker) {
  WorkerMetrics w;
  w.countRequest("app", "web-blue", "ams", 200, 0.003);
  w.countRequest("app", "web-blue", "ams", 200, 0.004);
  w.countRequest("app", "web-blue", "iad", 503, 0.2);
  w.countRequest("", "", "", 404, 0.0001);  // no route: empty labels are real series
  std::string text = render({&w});
  EXPECT_TRUE(hasLine(
      text, R"(meridian_requests_total{route="app",cluster="web-blue",region="ams",code="200"} 2)"))
      << text;
  EXPECT_TRUE(hasLine(
      text, R"(meridian_requests_total{route="app",cluster="web-blue",region="iad",code="503"} 1)"))
      << text;
  EXPECT_TRUE(
      hasLine(text, R"(meridian_requests_total{route="",cluster="",region="",code="404"} 1)"))
      << text;
  EXPECT_TRUE(hasLine(text, R"(meridian_request_duration_seconds_count{route="app"} 3)")) << text;
  EXPECT_TRUE(hasLine(text, R"(meridian_request_duration_seconds_sum{route="app"} 0.207)")) << text;
}

TEST(RequestMetrics, SumsWorkersOnScrape) {
  WorkerMetrics a;
  WorkerMetrics b;
  a.countRequest("app", "web-blue", "ams", 200, 0.01);
  b.countRequest("app", "web-blue", "ams", 200, 0.01);
  b.countRequest("app", "web-green", "ams", 200, 0.01);
  a.countReplay("app", "connect_failure");
  b.countReplay("app", "connect_failure");
  b.countReplay("app", "503");
  a.countBudgetExhausted("app");
  b.countBudgetExhausted("app");
  a.countTlsHandshake("public", "TLSv1.3");
  b.countTlsHandshake("public", "TLSv1.3");
  b.countTlsHandshake("public", "TLSv1.2");
  a.connectionOpened("public");
  a.connectionOpened("public");
  a.connectionClosed("public");
  b.connectionOpened("public");
  b.connectionOpened("admin");
  b.connectionClosed("admin");
  std::string text = render({&a, &b});
  for (const char* line : {
           R"(meridian_requests_total{route="app",cluster="web-blue",region="ams",code="200"} 2)",
           R"(meridian_requests_total{route="app",cluster="web-green",region="ams",code="200"} 1)",
           R"(meridian_request_duration_seconds_count{route="app"} 3)",
           R"(meridian_replays_total{route="app",reason="connect_failure"} 2)",
           R"(meridian_replays_total{route="app",reason="503"} 1)",
           R"(meridian_replay_budget_exhausted_total{route="app"} 2)",
           R"(meridian_tls_handshakes_total{listener="public",version="TLSv1.3"} 2)",
           R"(meridian_tls_handshakes_total{listener="public",version="TLSv1.2"} 1)",
           R"(meridian_downstream_connections{listener="public"} 2)",
           R"(meridian_downstream_connections{listener="admin"} 0)",
       }) {
    EXPECT_TRUE(hasLine(text, line)) << "missing: " << line << "\n" << text;
  }
}

TEST(RequestMetrics, BucketEdgesAreInclusive) {
  // le means <=: a value exactly on a bound belongs to that bound's bucket.
  EXPECT_EQ(DurationHistogram::bucketFor(0), 0u);
  EXPECT_EQ(DurationHistogram::bucketFor(0.001), 0u);
  EXPECT_EQ(DurationHistogram::bucketFor(0.0010001), 1u);
  EXPECT_EQ(DurationHistogram::bucketFor(0.005), 2u);
  EXPECT_EQ(DurationHistogram::bucketFor(1), 9u);
  EXPECT_EQ(DurationHistogram::bucketFor(10), 12u);
  EXPECT_EQ(DurationHistogram::bucketFor(10.000001), 13u);  // +Inf
  EXPECT_EQ(DurationHistogram::bucketFor(1e9), 13u);

  WorkerMetrics w;
  for (double s : {0.001, 0.005, 0.0050001, 1.0, 10.0, 11.0, -1.0}) {
    w.countRequest("r", "c", "x", 200, s);
  }
  std::string text = render({&w});
  std::vector<std::string> buckets =
      linesStartingWith(text, "meridian_request_duration_seconds_bucket{route=\"r\"");
  std::vector<std::string> want = {
      R"(meridian_request_duration_seconds_bucket{route="r",le="0.001"} 2)",  // 0.001 and -1
      R"(meridian_request_duration_seconds_bucket{route="r",le="0.0025"} 2)",
      R"(meridian_request_duration_seconds_bucket{route="r",le="0.005"} 3)",
      R"(meridian_request_duration_seconds_bucket{route="r",le="0.01"} 4)",
      R"(meridian_request_duration_seconds_bucket{route="r",le="0.025"} 4)",
      R"(meridian_request_duration_seconds_bucket{route="r",le="0.05"} 4)",
      R"(meridian_request_duration_seconds_bucket{route="r",le="0.1"} 4)",
      R"(meridian_request_duration_seconds_bucket{route="r",le="0.25"} 4)",
      R"(meridian_request_duration_seconds_bucket{route="r",le="0.5"} 4)",
      R"(meridian_request_duration_seconds_bucket{route="r",le="1"} 5)",
      R"(meridian_request_duration_seconds_bucket{route="r",le="2.5"} 5)",
      R"(meridian_request_duration_seconds_bucket{route="r",le="5"} 5)",
      R"(meridian_request_duration_seconds_bucket{route="r",le="10"} 6)",
      R"(meridian_request_duration_seconds_bucket{route="r",le="+Inf"} 7)",
  };
  EXPECT_EQ(buckets, want) << text;
  EXPECT_TRUE(hasLine(text, R"(meridian_request_duration_seconds_count{route="r"} 7)")) << text;
  // Sum in whole microseconds: 1000 + 5000 + 5000 + 1e6 + 1e7 + 1.1e7, the negative as 0.
  EXPECT_TRUE(hasLine(text, R"(meridian_request_duration_seconds_sum{route="r"} 22.011)")) << text;
}

TEST(RequestMetrics, EscapesLabelValuesAndHelp) {
  WorkerMetrics w;
  w.countReplay("a\\b\"c\nd", "503");
  std::string text = render({&w});
  EXPECT_TRUE(hasLine(text, R"(meridian_replays_total{route="a\\b\"c\nd",reason="503"} 1)"))
      << text;

  std::string out;
  appendFamilyHeader(out, "x_total", "back\\slash \"quoted\"\nnext", "counter");
  EXPECT_EQ(out, "# HELP x_total back\\\\slash \"quoted\"\\nnext\n# TYPE x_total counter\n");
}

TEST(RequestMetrics, EmptyFamiliesStillDeclareThemselves) {
  std::string text = render({});
  for (const char* family :
       {"meridian_requests_total counter", "meridian_request_duration_seconds histogram",
        "meridian_replays_total counter", "meridian_replay_budget_exhausted_total counter",
        "meridian_hedges_total counter", "meridian_downstream_connections gauge",
        "meridian_tls_handshakes_total counter", "meridian_at_capacity_total counter",
        "meridian_spills_total counter"}) {
    EXPECT_TRUE(hasLine(text, std::string("# TYPE ") + family)) << family << "\n" << text;
  }
  EXPECT_EQ(linesStartingWith(text, "# HELP ").size(), 9u);
  EXPECT_EQ(linesStartingWith(text, "meridian_").size(), 0u) << text;
}

TEST(RequestMetrics, SeriesAreSortedAndOutputIsStable) {
  WorkerMetrics a;
  WorkerMetrics b;
  for (const char* route : {"zeta", "alpha", "mid", "beta"}) {
    a.countRequest(route, "c", "ams", 200, 0.01);
    b.countRequest(route, "c", "ams", 500, 0.01);
  }
  std::string first = render({&a, &b});
  EXPECT_EQ(first, render({&b, &a}));
  std::vector<std::string> lines = linesStartingWith(first, "meridian_requests_total{");
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_TRUE(std::is_sorted(lines.begin(), lines.end())) << first;
  EXPECT_TRUE(lines.front().starts_with(R"(meridian_requests_total{route="alpha")"));
}

TEST(RequestMetrics, UnlabelledHelpers) {
  std::string out;
  appendCounter(out, "meridian_config_reloads_total", "Reloads.", 7);
  appendGauge(out, "meridian_config_generation", "Generation.", 3);
  appendGauge(out, "meridian_ratio", "A ratio.", 0.25);
  EXPECT_EQ(out,
            "# HELP meridian_config_reloads_total Reloads.\n"
            "# TYPE meridian_config_reloads_total counter\n"
            "meridian_config_reloads_total 7\n"
            "# HELP meridian_config_generation Generation.\n"
            "# TYPE meridian_config_generation gauge\n"
            "meridian_config_generation 3\n"
            "# HELP meridian_ratio A ratio.\n"
            "# TYPE meridian_ratio gauge\n"
            "meridian_ratio 0.25\n");
  out.clear();
  MetricLabel labels[] = {{"result", "ok"}};
  appendSample(out, "meridian_config_reloads_total", labels, uint64_t{2});
  EXPECT_EQ(out, "meridian_config_reloads_total{result=\"ok\"} 2\n");
}

TEST(RequestMetrics, CountingASeenLabelSetDoesNotAllocate) {
  WorkerMetrics w;
  std::string route = "a-route-name-long-enough-to-defeat-small-string-optimisation";
  w.countRequest(route, "web-blue", "ams", 200, 0.01);
  w.countReplay(route, "reset");
  w.countBudgetExhausted(route);
  w.countTlsHandshake("public", "TLSv1.3");
  w.connectionOpened("public");
  g_allocations = 0;
  g_count_allocations = true;
  for (int i = 0; i < 100; ++i) {
    w.countRequest(route, "web-blue", "ams", 200, 0.01);
    w.countReplay(route, "reset");
    w.countBudgetExhausted(route);
    w.countTlsHandshake("public", "TLSv1.3");
    w.connectionOpened("public");
    w.connectionClosed("public");
  }
  g_count_allocations = false;
  EXPECT_EQ(g_allocations.load(), 0u);
}

// The page as a whole, with every family populated and awkward label values, must pass
// promtool's parser and linter. promtool comes from scripts/setup; its absence is a failure.
TEST(RequestMetrics, PromtoolAcceptsThePage) {
  WorkerMetrics a;
  WorkerMetrics b;
  a.countRequest("app", "web-blue", "ams", 200, 0.012);
  b.countRequest("app", "", "", 503, 0.5);
  b.countRequest("odd \"route\"\\\n", "c", "iad", 404, 3);
  a.countReplay("app", "connect_failure");
  a.countBudgetExhausted("app");
  b.countTlsHandshake("public", "TLSv1.3");
  a.connectionOpened("public");
  std::string text;
  appendCounter(text, "meridian_config_reloads_total", "Config reloads.", 1);
  appendGauge(text, "meridian_config_generation", "Config generation serving now.", 2);
  renderMetrics({&a, &b}, text);

  fakes::TempDir dir("metrics");
  std::string path = dir.write("metrics.txt", text);
  ASSERT_FALSE(path.empty());
  // `promtool check metrics` reads the page from stdin.
  fakes::CommandResult r = fakes::runCommand({"promtool", "check", "metrics"},
                                             std::chrono::seconds(30), fakes::readFile(path));
  EXPECT_EQ(r.exitCode, 0) << r.describe() << "\n" << text;
  EXPECT_EQ(r.out + r.err, "") << text;
}

// One worker counts (inserting new label sets as it goes) while another thread scrapes: the
// scrape must never crash or go backwards, and the final scrape is exact.
TEST(RequestMetrics, ScrapeWhileCounting) {
  WorkerMetrics w;
  constexpr int kRequests = 20000;
  std::atomic<bool> done{false};
  std::thread worker([&] {
    for (int i = 0; i < kRequests; ++i) {
      std::string cluster = "c" + std::to_string(i % 50);
      w.countRequest("app", cluster, "ams", 200, 0.001 * (i % 7));
      if (i % 100 == 0) w.countReplay("app", "r" + std::to_string(i / 100));
      w.connectionOpened("public");
      w.connectionClosed("public");
    }
    done = true;
  });
  uint64_t last_count = 0;
  int scrapes = 0;
  const std::string count_prefix = R"(meridian_request_duration_seconds_count{route="app"} )";
  while (!done.load() || scrapes == 0) {
    std::string text = render({&w});
    ++scrapes;
    std::vector<std::string> lines = linesStartingWith(text, count_prefix);
    if (lines.empty()) continue;
    uint64_t count = std::stoull(lines[0].substr(count_prefix.size()));
    EXPECT_GE(count, last_count);
    last_count = count;
  }
  worker.join();
  std::string text = render({&w});
  EXPECT_TRUE(hasLine(text, count_prefix + std::to_string(kRequests))) << text;
  EXPECT_TRUE(hasLine(
      text, R"(meridian_requests_total{route="app",cluster="c7",region="ams",code="200"} 400)"));
  EXPECT_EQ(linesStartingWith(text, "meridian_replays_total{").size(), 200u);
  EXPECT_TRUE(hasLine(text, R"(meridian_downstream_connections{listener="public"} 0)"));
}

}  // namespace
}  // namespace meridian::proxy

namespace meridian::proxy {
namespace {

// replay.hedge's `after: pNN`: no percentile until enough samples; then over the last 10-20 s.
TEST(HeadLatency, PercentileNeedsSamplesAndForgets) {
  HeadLatency h;
  for (uint64_t i = 0; i + 1 < HeadLatency::kMinSamples; ++i) h.observe(0.004, 1000);
  EXPECT_FALSE(h.quantile(0.95, 1000).has_value());
  h.observe(0.004, 1000);
  auto q = h.quantile(0.95, 1000);
  ASSERT_TRUE(q.has_value());
  EXPECT_GT(*q, 0.0025);  // in the (2.5 ms, 5 ms] bucket
  EXPECT_LE(*q, 0.005);
  // Half a window on, the samples are the previous half's: still counted.
  EXPECT_TRUE(h.quantile(0.95, 1000 + HeadLatency::kHalfMs).has_value());
  // Two halves on, they are gone.
  EXPECT_FALSE(h.quantile(0.95, 1000 + 3 * HeadLatency::kHalfMs).has_value());
}

TEST(HedgeMetrics, CountedByRouteAndOutcome) {
  WorkerMetrics w;
  w.countHedge("app", "won");
  w.countHedge("app", "won");
  w.countHedge("app", "budget");
  std::string out;
  renderMetrics({&w}, out);
  EXPECT_NE(out.find("# TYPE meridian_hedges_total counter"), std::string::npos);
  EXPECT_NE(out.find("meridian_hedges_total{route=\"app\",outcome=\"won\"} 2\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("meridian_hedges_total{route=\"app\",outcome=\"budget\"} 1\n"),
            std::string::npos);
}

}  // namespace
}  // namespace meridian::proxy
