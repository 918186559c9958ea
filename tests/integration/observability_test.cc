// Metrics and access logs, end to end: known traffic through the real binary moves the
// counters by exactly that much, the page passes `promtool check metrics`, and every request
// leaves one JSON line with every field of the contract.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

class ObservabilityTest : public ProxyTest {
 protected:
  std::string logPath() const { return proxy_.dir() + "/access.log"; }

  ::testing::AssertionResult startWithLog() {
    std::string y = configYaml("", "", 2);
    size_t at = y.find("access_log: \"off\"");
    y.replace(at, 17, "access_log: " + logPath());
    return proxy_.start(y);
  }

  std::string scrape() {
    auto r = curl({proxy_.adminUrl("/metrics")});
    EXPECT_EQ(r.exitCode, 0) << r.describe();
    return r.out;
  }

  static std::vector<nlohmann::json> readLines(const std::string& path) {
    // Whole lines only: the writer thread may be half way through the last one.
    std::ifstream in(path);
    std::vector<nlohmann::json> lines;
    std::string line;
    while (std::getline(in, line) && !in.eof()) lines.push_back(nlohmann::json::parse(line));
    return lines;
  }

  // The log is written by a thread: wait (bounded) until it holds n lines.
  ::testing::AssertionResult waitForLines(const std::string& path, size_t n) {
    auto deadline = std::chrono::steady_clock::now() + kWait;
    size_t have = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(path);
      have = static_cast<size_t>(
          std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n'));
      if (have >= n) return ::testing::AssertionSuccess();
      std::this_thread::sleep_for(milliseconds(10));  // poll, within the deadline above
    }
    return ::testing::AssertionFailure() << path << " has " << have << " lines, want " << n;
  }
};

TEST_F(ObservabilityTest, CountersMoveByTheTrafficSentAndThePagePassesPromtool) {
  ASSERT_TRUE(startWithLog());
  const std::string series =
      "meridian_requests_total{route=\"app\",cluster=\"web\",region=\"ams\",code=\"200\"}";
  long long before = metric(series);
  EXPECT_EQ(before, -1);  // no request yet: no series
  constexpr int kRequests = 37;
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(c.send("GET /n HTTP/1.1\r\nHost: app\r\n\r\n"));
    HttpResponse r;
    ASSERT_TRUE(c.readResponse(r, kWait));
    ASSERT_EQ(r.status, 200);
  }
  HttpResponse missing = roundTrip("GET /x HTTP/1.1\r\nHost: app\r\nContent-Length: x\r\n\r\n");
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(metric(series), kRequests);
  EXPECT_EQ(metric("meridian_request_duration_seconds_count{route=\"app\"}"), kRequests);
  EXPECT_EQ(metric("meridian_request_duration_seconds_bucket{route=\"app\",le=\"+Inf\"}"),
            kRequests);

  std::string page = scrape();
  auto check = fakes::runCommand({"promtool", "check", "metrics"}, milliseconds(20000), page);
  EXPECT_EQ(check.exitCode, 0) << check.describe() << "\n" << page.substr(0, 2000);
  EXPECT_EQ(check.out + check.err, "") << "promtool lint findings";
}

TEST_F(ObservabilityTest, EveryRequestLeavesOneJsonLineWithEveryField) {
  ASSERT_TRUE(startWithLog());
  HttpResponse ok =
      roundTrip("GET /hello?x=1 HTTP/1.1\r\nHost: app\r\nX-Request-Id: req-abc\r\n\r\n");
  ASSERT_EQ(ok.status, 200);
  upstream_.enqueue(Action::respond(503, {}, "busy"));
  HttpResponse busy = roundTrip("PUT /p HTTP/1.1\r\nHost: app\r\nContent-Length: 4\r\n\r\nbody");
  EXPECT_EQ(busy.status, 503);  // one region: nowhere to replay to
  ASSERT_TRUE(waitForLines(logPath(), 2));
  auto lines = readLines(logPath());
  ASSERT_EQ(lines.size(), 2u);
  for (const char* field : {"ts", "request_id", "client_ip", "country", "method", "host", "path",
                            "protocol", "status", "bytes_in", "bytes_out", "duration_ms", "route",
                            "cluster", "region", "attempts", "replay_reasons"}) {
    EXPECT_TRUE(lines[0].contains(field)) << field << " missing in " << lines[0].dump();
  }
  EXPECT_EQ(lines[0]["request_id"], "req-abc");
  EXPECT_EQ(lines[0]["method"], "GET");
  EXPECT_EQ(lines[0]["path"], "/hello?x=1");
  EXPECT_EQ(lines[0]["protocol"], "HTTP/1.1");
  EXPECT_EQ(lines[0]["status"], 200);
  EXPECT_EQ(lines[0]["route"], "app");
  EXPECT_EQ(lines[0]["cluster"], "web");
  EXPECT_EQ(lines[0]["region"], "ams");
  EXPECT_EQ(lines[0]["client_ip"], "127.0.0.1");
  EXPECT_EQ(lines[0]["attempts"], 1);
  EXPECT_GT(lines[0]["bytes_out"].get<int>(), 0);
  EXPECT_EQ(lines[1]["status"], 503);
  EXPECT_EQ(lines[1]["method"], "PUT");
  EXPECT_EQ(lines[1]["replay_reasons"], nlohmann::json::array({"503"}));
}

// Every answered request gets its line and its count, those answered before any route was
// looked at too: redirects to https (HTTP/1.1 and HTTP/2), malformed, CONNECT, oversized and
// slow heads. They have no route, cluster or region.
TEST_F(ObservabilityTest, RedirectsAndEarlyAnswersAreLoggedAndCounted) {
  std::string y = configYamlWith(
      "  - { name: public, address: 127.0.0.1:0, region: ams }\n"
      "  - { name: plain, address: 127.0.0.1:0, redirect_to_https: 8443 }\n",
      "{ max_header_bytes: 8KiB, header_timeout: 1s }", "", 2);
  y.replace(y.find("access_log: \"off\""), 17, "access_log: " + logPath());
  ASSERT_TRUE(proxy_.start(y));
  std::string plain = "http://127.0.0.1:" + std::to_string(proxy_.listenerPort("plain"));
  auto h1 = curl({"-s", "-o", "/dev/null", "-w", "%{http_code}", plain + "/r1"});
  EXPECT_EQ(h1.out, "308") << h1.describe();
  auto h2 = curl({"--http2-prior-knowledge", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                  plain + "/r2"});
  EXPECT_EQ(h2.out, "308") << h2.describe();
  EXPECT_EQ(roundTrip("GET /x HTTP/1.1\r\nHost: app\r\nContent-Length: x\r\n\r\n").status, 400);
  EXPECT_EQ(roundTrip("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n").status, 405);
  std::string big = "X-Big: " + std::string(10000, 'a') + "\r\n";
  EXPECT_EQ(roundTrip("GET /big HTTP/1.1\r\nHost: app\r\n" + big + "\r\n").status, 431);
  auto h2big = curl({"--http2-prior-knowledge", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                     "-H", "x-big: " + std::string(20000, 'a'), url("/big")});
  EXPECT_EQ(h2big.out, "431") << h2big.describe();
  TcpClient slow;
  ASSERT_TRUE(slow.connect(port()));
  ASSERT_TRUE(slow.send("GET /slow HTTP/1.1\r\nHost: app\r\n"));  // never finished
  HttpResponse timed_out;
  ASSERT_TRUE(slow.readResponse(timed_out, kWait));
  EXPECT_EQ(timed_out.status, 408);

  auto count = [this](const char* code) {
    return metric("meridian_requests_total{route=\"\",cluster=\"\",region=\"\",code=\"" +
                  std::string(code) + "\"}");
  };
  EXPECT_EQ(count("308"), 2);
  EXPECT_EQ(count("400"), 1);
  EXPECT_EQ(count("405"), 1);
  EXPECT_EQ(count("431"), 2);
  EXPECT_EQ(count("408"), 1);
  ASSERT_TRUE(waitForLines(logPath(), 7));
  auto lines = readLines(logPath());
  ASSERT_EQ(lines.size(), 7u);
  std::map<int, std::vector<nlohmann::json>> by_status;
  for (const auto& l : lines) {
    EXPECT_EQ(l["route"], "") << l.dump();
    EXPECT_EQ(l["cluster"], "") << l.dump();
    EXPECT_EQ(l["client_ip"], "127.0.0.1") << l.dump();
    EXPECT_EQ(l["request_id"].get<std::string>().size(), 32u) << l.dump();
    by_status[l["status"].get<int>()].push_back(l);
  }
  ASSERT_EQ(by_status[308].size(), 2u);
  std::set<std::string> redirected;
  for (const auto& l : by_status[308])
    redirected.insert(l["path"].get<std::string>() + " " + l["protocol"].get<std::string>());
  EXPECT_EQ(redirected, (std::set<std::string>{"/r1 HTTP/1.1", "/r2 HTTP/2"}));
  ASSERT_EQ(by_status[405].size(), 1u);
  EXPECT_EQ(by_status[405][0]["method"], "CONNECT");
  EXPECT_EQ(by_status[400].size(), 1u);
  EXPECT_EQ(by_status[431].size(), 2u);
  ASSERT_EQ(by_status[408].size(), 1u);
  EXPECT_GE(by_status[408][0]["duration_ms"].get<double>(), 900.0);
  EXPECT_GT(by_status[408][0]["bytes_out"].get<int>(), 0);
}

// logrotate: the file is renamed, SIGUSR1 makes the proxy write to a new one at the path.
TEST_F(ObservabilityTest, Sigusr1ReopensTheLogAfterRotation) {
  ASSERT_TRUE(startWithLog());
  ASSERT_EQ(roundTrip("GET /1 HTTP/1.1\r\nHost: app\r\n\r\n").status, 200);
  ASSERT_TRUE(waitForLines(logPath(), 1));
  std::string rotated = logPath() + ".1";
  ASSERT_EQ(::rename(logPath().c_str(), rotated.c_str()), 0);
  ASSERT_TRUE(proxy_.signal(SIGUSR1));
  // The reopen happens on the writer's next batch; requests until the new file appears.
  auto deadline = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < deadline && !std::ifstream(logPath()).good())
    ASSERT_EQ(roundTrip("GET /2 HTTP/1.1\r\nHost: app\r\n\r\n").status, 200);
  ASSERT_TRUE(std::ifstream(logPath()).good());
  // The new file may still get lines of the /2 requests (written in the writer's next batch):
  // wait for the line of /after itself.
  ASSERT_EQ(roundTrip("GET /after HTTP/1.1\r\nHost: app\r\n\r\n").status, 200);
  auto logged = [&] {
    for (const auto& line : readLines(logPath()))
      if (line["path"] == "/after") return true;
    return false;
  };
  deadline = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < deadline && !logged())
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(logged());
  auto old_lines = readLines(rotated);
  ASSERT_FALSE(old_lines.empty());
  EXPECT_EQ(old_lines[0]["path"], "/1");
}

}  // namespace
}  // namespace meridian::integration
