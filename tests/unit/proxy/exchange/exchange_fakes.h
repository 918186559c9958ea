// Fakes for unit tests of Exchange: the worker it runs on (FakeExchangeHost) and the client end
// of its request (FakeClientSide). Upstreams are real sockets (fakes::FakeUpstream and the dead
// ports of tests/fakes), driven by the host's real EventLoop, which the test runs in bounded
// turns (runUntil) instead of on a worker thread.
//
// Header-only: tests/CMakeLists.txt builds only *_test.cc here, and meridian_testfakes stays
// free of Meridian's own libraries. Everything a test knows about ClientSide is in
// FakeClientSide, so a change of that interface is one edit here.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/loader.h"
#include "core/deadline_queue.h"
#include "core/event_loop.h"
#include "proxy/exchange/client_side.h"
#include "proxy/exchange/exchange.h"
#include "proxy/exchange/exchange_host.h"
#include "proxy/http/http1_writer.h"
#include "proxy/observe/access_log.h"
#include "proxy/observe/request_metrics.h"
#include "proxy/observe/stats.h"
#include "proxy/policy/snapshot.h"
#include "proxy/upstream/upstream_pool.h"
#include "tests/fakes/http_wire.h"

namespace meridian::proxy::exchange_test {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

// ---- Config ------------------------------------------------------------------------------

// Regions ams, fra and iad. A client with no location is ordered from its listener's region,
// ams: ams, fra (about 400 km), then iad.
struct EndpointSpec {
  std::string region;
  std::string address;  // "127.0.0.1:PORT"
};

// The one route, `app` (host app.test), to cluster `web`. Values are YAML flow maps; short
// timeouts keep every test well under a second.
struct RouteSpec {
  std::string timeouts = "{ connect: 200ms, per_try: 300ms, request: 600ms, idle: 300ms }";
  std::string replay = "{ backoff: { base: 1ms, max: 1ms } }";
  std::string extra;          // more route keys, each line indented by 4 spaces
  std::string cluster_extra;  // more cluster keys, each line indented by 4 spaces
  std::string limits;         // a limits: map, or empty
};

inline std::string exchangeConfig(const std::vector<EndpointSpec>& endpoints,
                                  const RouteSpec& route = {}) {
  std::string y =
      "access_log: off\n"
      "listeners:\n"
      "  - { name: main, address: 127.0.0.1:0, region: ams }\n"
      "regions:\n"
      "  - { name: ams, lat: 52.37, lon: 4.90 }\n"
      "  - { name: fra, lat: 50.11, lon: 8.68 }\n"
      "  - { name: iad, lat: 38.95, lon: -77.45 }\n"
      "clusters:\n"
      "  - name: web\n"
      "    endpoints:\n";
  for (const auto& e : endpoints)
    y += "      - { address: \"" + e.address + "\", region: " + e.region + " }\n";
  y += route.cluster_extra;
  y +=
      "routes:\n"
      "  - name: app\n"
      "    match: { host: app.test }\n"
      "    backends: [ { cluster: web } ]\n"
      "    timeouts: " + route.timeouts + "\n"
      "    replay: " + route.replay + "\n";
  y += route.extra;
  if (!route.limits.empty()) y += "limits: " + route.limits + "\n";
  return y;
}

// ---- The worker --------------------------------------------------------------------------

class FakeExchangeHost final : public ExchangeHost {
 public:
  struct Outcome {
    std::string cluster;
    std::string endpoint;
    health::Outcome outcome;
  };

  // Loads `yaml` with the real loader and builds its Snapshot; throws (the test fails with the
  // diagnostics) when it does not load. `capture_access_log`: lines go to a file of this test's
  // own, read back with accessLogLines(); otherwise the log is off.
  explicit FakeExchangeHost(const std::string& yaml, bool capture_access_log = false)
      : deadlines_(loop_), pool_(loop_, stats_) {
    config::LoadResult loaded = config::loadString(yaml, "exchange_test.yaml");
    if (!loaded.ok()) {
      std::string msg = "test config does not load:";
      for (const auto& d : loaded.diagnostics) msg += "\n  " + d.text();
      throw std::runtime_error(msg + "\n" + yaml);
    }
    auto snap = buildSnapshot(std::make_shared<const config::Config>(std::move(loaded.config)), 1);
    if (!snap.ok()) throw std::runtime_error("buildSnapshot: " + snap.error().detail);
    snap_ = snap.value();
    std::string target = "off";
    if (capture_access_log) {
      static std::atomic<int> seq{0};
      const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
      log_path_ = ::testing::TempDir() + "exchange_access_" + std::to_string(::getpid()) + "_" +
                  (info != nullptr ? info->name() : "x") + "_" + std::to_string(seq++) + ".log";
      target = log_path_;
    }
    std::string error;
    access_log_ = AccessLog::open(target, &error);
    if (!access_log_) throw std::runtime_error("access log: " + error);
  }

  ~FakeExchangeHost() override {
    reap();  // exchanges ended with deleteLater touch this host as they go
    access_log_.reset();
    if (!log_path_.empty()) ::unlink(log_path_.c_str());
  }

  // ExchangeHost
  core::EventLoop& loop() override { return loop_; }
  core::DeadlineQueue& deadlines() override { return deadlines_; }
  UpstreamPool& pool() override { return pool_; }
  WorkerStats& stats() override { return stats_; }
  WorkerMetrics& metrics() override { return metrics_; }
  AccessLog& accessLog() override { return *access_log_; }
  std::string& logScratch() override { return log_scratch_; }
  const std::shared_ptr<const Snapshot>& snapshot() const override { return snap_; }
  // Deterministic: 0 unless set, so ties go to the first endpoint listed and the full-jitter
  // backoff is 0 (set a large value for the backoff's ceiling).
  uint64_t random() override { return random_; }
  bool draining() const override { return draining_; }
  http1::ResponseHead& scratchResponse() override { return scratch_response_; }
  void reportOutcome(const std::string& cluster, const ResolvedAddress& endpoint,
                     health::Outcome outcome) override {
    outcomes_.push_back({cluster, endpoint.text, outcome});
  }
  replay::Budget& replayBudget(std::string_view route) override {
    return budgets_[std::string(route)];
  }
  IdempotencyWaiters& idempotencyWaiters() override { return waiters_; }
  SharedIdempotency* sharedIdempotency() override { return shared_; }
  CapacityWaiters& capacityWaiters() override { return capacity_waiters_; }
  int workerId() const override { return 0; }

  // Test controls.
  void setRandom(uint64_t r) { random_ = r; }
  // Endpoint health as the monitor would publish it, for requests started from now on:
  // [cluster][endpoint], indexed like the config.
  void setHealth(std::vector<std::vector<health::EndpointHealth>> eps) {
    snap_ = snap_->withHealth(health::HealthSnapshot::make(std::move(eps), ++health_generation_));
  }
  // Every endpoint of cluster 0 healthy, but these (by index), which are unhealthy and, when
  // `ejected`, ejected by passive outlier detection.
  void setUnhealthy(std::initializer_list<size_t> endpoints, bool ejected) {
    std::vector<std::vector<health::EndpointHealth>> eps;
    for (size_t c = 0; c < snap_->health->clusterCount(); ++c)
      eps.emplace_back(snap_->health->endpointCount(c));
    for (size_t e : endpoints) {
      eps[0][e].healthy = false;
      eps[0][e].active_healthy = ejected;
      eps[0][e].ejected = ejected;
    }
    setHealth(std::move(eps));
  }
  void setDraining(bool d) { draining_ = d; }
  // The fleet's Idempotency-Key store (null: none, as without a fleet: section).
  void setShared(SharedIdempotency* shared) { shared_ = shared; }
  const std::vector<Outcome>& outcomes() const { return outcomes_; }
  size_t outcomesOf(health::Outcome o) const {
    return static_cast<size_t>(std::count_if(outcomes_.begin(), outcomes_.end(),
                                             [o](const Outcome& x) { return x.outcome == o; }));
  }
  uint64_t counter(Counter c) const { return stats_.get(c); }
  int64_t inFlight() const { return stats_.requests_in_flight.load(); }

  // Runs the loop until `done()` holds (checked every millisecond) or `timeout` passes.
  ::testing::AssertionResult runUntil(const char* what, const std::function<bool()>& done,
                                      milliseconds timeout = 2000ms) {
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + timeout;
    bool met = false;
    core::Timer* self = nullptr;
    core::Timer tick(loop_, [&] {
      if (done()) {
        met = true;
      } else if (std::chrono::steady_clock::now() < deadline) {
        self->arm(1ms);
        return;
      }
      loop_.stop();
    });
    self = &tick;
    tick.arm(0ms);
    loop_.run();
    if (met) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "no " << what << " within " << timeout.count() << " ms";
  }
  // Runs the loop for `d`: for checking that something does NOT happen within a bound.
  void runFor(milliseconds d) {
    const auto until = std::chrono::steady_clock::now() + d;
    (void)runUntil("", [&] { return std::chrono::steady_clock::now() >= until; }, d + 1000ms);
  }
  // One loop turn: objects ended with deleteLater are destroyed.
  void reap() { (void)runUntil("", [] { return true; }, 0ms); }

  // Metrics, as /metrics renders them. `series` is a whole sample name with its labels, e.g.
  // meridian_replays_total{route="app",reason="reset"}; 0 when absent.
  std::string renderedMetrics() const {
    std::string out;
    renderMetrics({&metrics_}, out);
    return out;
  }
  uint64_t metric(std::string_view series) const {
    std::istringstream in(renderedMetrics());
    for (std::string line; std::getline(in, line);) {
      if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
          line[series.size()] == ' ')
        return std::stoull(line.substr(series.size() + 1));
    }
    return 0;
  }
  // The sum of meridian_requests_total over every label set: requests counted.
  uint64_t requestsCounted() const {
    std::istringstream in(renderedMetrics());
    uint64_t sum = 0;
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("meridian_requests_total{", 0) == 0)
        sum += std::stoull(line.substr(line.rfind(' ') + 1));
    }
    return sum;
  }
  // The code label of the one meridian_requests_total series, "" when there is not exactly one.
  std::string countedCode() const {
    std::istringstream in(renderedMetrics());
    std::string code;
    int series = 0;
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("meridian_requests_total{", 0) != 0) continue;
      ++series;
      size_t at = line.find("code=\"");
      if (at != std::string::npos) code = line.substr(at + 6, line.find('"', at + 6) - at - 6);
    }
    return series == 1 ? code : "";
  }

  // The access log's lines so far (capture_access_log only).
  std::vector<std::string> accessLogLines() {
    std::vector<std::string> lines;
    if (log_path_.empty() || !access_log_->flush(2000ms)) return lines;
    std::ifstream in(log_path_);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

 private:
  core::EventLoop loop_;
  core::DeadlineQueue deadlines_;
  WorkerStats stats_;
  WorkerMetrics metrics_;
  std::unique_ptr<AccessLog> access_log_;
  std::string log_path_;
  std::string log_scratch_;
  UpstreamPool pool_;
  std::shared_ptr<const Snapshot> snap_;
  SharedIdempotency* shared_ = nullptr;
  std::map<std::string, replay::Budget, std::less<>> budgets_;
  IdempotencyWaiters waiters_;
  CapacityWaiters capacity_waiters_;
  http1::ResponseHead scratch_response_;
  std::vector<Outcome> outcomes_;
  uint64_t random_ = 0;
  uint64_t health_generation_ = 1;
  bool draining_ = false;
};

// ---- The client --------------------------------------------------------------------------

// What the client read: the responses in `received` bytes, parsed as an HTTP/1.1 client would.
struct ClientView {
  std::vector<int> interim;  // 1xx statuses before the final response
  int status = 0;            // the final response (0: none complete)
  fakes::Headers headers;
  fakes::Headers trailers;
  bool chunked = false;
  std::string body;
  bool complete = false;  // the final response's body ended (by its framing, or the close)
  std::string after;      // bytes after the final response (a tunnel's, after a 101)

  std::string_view header(std::string_view name) const { return fakes::findHeader(headers, name); }
  bool hasHeader(std::string_view name) const { return fakes::hasHeader(headers, name); }
};

// The exchange's high watermark under the host's config (limits.buffer_per_direction).
inline size_t highWatermark(const FakeExchangeHost& host) {
  return host.snapshot()->config->limits.buffer_per_direction;
}

class FakeClientSide final : public ClientSide {
 public:
  explicit FakeClientSide(FakeExchangeHost& host, std::string_view peer = "192.0.2.10")
      : host_(host), peer_text_(peer) {
    routing::IpAddress::parse(peer, peer_);
    listener_.name = "main";
    listener_.region = "ams";
  }
  ~FakeClientSide() override {
    exchange_.reset();  // a test that stops mid-exchange: end it while everything is here
    host_.reap();
  }

  // ---- What the client does.

  // Sends a request: its head (and any body bytes after it, already read when the exchange
  // starts, as a connection would have them) and starts the Exchange.
  void startRequest(std::string_view raw) {
    size_t end = raw.find("\r\n\r\n");
    ASSERT_NE(end, std::string_view::npos) << "no end of head in the test's request";
    std::string bytes(raw.substr(0, end + 4));
    bytes.reserve(64);  // on the heap, so moving it into the exchange keeps the head's views
    http1::RequestHead head;
    http1::ParseResult r = http1::parseRequestHead(bytes.data(), bytes.size(), head);
    ASSERT_EQ(r.status, http1::ParseStatus::Complete) << "the test's request does not parse";
    minor_version_ = head.minor_version;
    input_.append(raw.substr(end + 4));
    exchange_ = std::make_unique<Exchange>(*this, host_, std::move(bytes), head);
    exchange_->start();
  }
  // More request bytes from the client (body, or a tunnel's).
  void send(std::string_view bytes) {
    input_.append(bytes);
    if (exchange_) exchange_->onDownstreamData();
  }
  // The client half-closes (FIN after its request).
  void closeInput() {
    if (exchange_) exchange_->onDownstreamEof();
  }
  // The client's connection is gone (reset, or a failed write noticed by the connection).
  void disconnect() {
    gone_ = true;
    if (exchange_) exchange_->onDownstreamGone();
  }
  // From now on writes to the client fail: flush() returns false, as for a dead socket.
  void failWrites() { gone_ = true; }
  // A slow reader: flushed bytes stay pending until read().
  void setSlowReader(bool slow) { slow_ = slow; }
  // The slow client reads everything pending; the exchange hears its output drained.
  size_t read() {
    size_t n = out_.size();
    take(out_.size());
    if (n > 0 && exchange_) exchange_->onDownstreamDrained();
    return n;
  }

  // ---- What the client got.

  const std::string& received() const { return received_; }
  size_t pending() const { return out_.size(); }
  size_t maxPending() const { return max_pending_; }
  bool finished() const { return done_ || aborted_; }
  bool done() const { return done_; }
  bool aborted() const { return aborted_; }
  bool keepAlive() const { return keep_alive_; }
  bool exchangeAlive() const { return exchange_ != nullptr; }
  int continues() const { return continues_; }
  int errorStatus() const { return error_status_; }
  const std::string& errorCode() const { return error_code_; }
  int storedStatus() const { return stored_status_; }
  bool writeShutdown() const { return shutdown_write_; }
  int pauses() const { return pauses_; }
  int resumes() const { return resumes_; }
  bool inputPaused() const { return paused_; }
  size_t inputLeft() const { return input_.size(); }

  ClientView view(bool request_was_head = false) const {
    ClientView v;
    std::string_view rest = received_;
    for (;;) {
      fakes::MessageParser p(fakes::MessageParser::Kind::Response);
      p.setRequestWasHead(request_was_head);
      size_t used = p.consume(rest);
      if (!p.headComplete()) return v;
      rest.remove_prefix(used);
      if (p.status() >= 100 && p.status() < 200 && p.status() != 101) {
        v.interim.push_back(p.status());
        continue;
      }
      if (p.state() != fakes::MessageParser::State::Done && finished()) p.onEof();
      v.status = p.status();
      v.headers = p.headers();
      v.trailers = p.trailers();
      v.chunked = p.chunked();
      v.body = p.body();
      v.complete = p.state() == fakes::MessageParser::State::Done;
      v.after = std::string(rest);
      return v;
    }
  }

  // ---- ClientSide

  const routing::IpAddress& peer() const override { return peer_; }
  std::string_view clientIp() const override { return peer_text_; }
  const ListenSocket& listener() const override { return listener_; }
  std::string_view protocolName() const override {
    return minor_version_ == 0 ? "HTTP/1.0" : "HTTP/1.1";
  }
  core::Buffer& requestInput() override { return input_; }
  bool requestInputEnded() const override { return false; }
  void pauseRequestInput() override {
    if (!paused_) ++pauses_;
    paused_ = true;
  }
  void resumeRequestInput() override {
    if (paused_) ++resumes_;
    paused_ = false;
  }
  bool requestInputPaused() const override { return paused_; }
  HeadSent writeResponseHead(const http1::ResponseHead& head,
                             const http1::ResponseOptions& opt) override {
    return HeadSent{Sent::Ok, http1::writeClientResponseHead(head, opt, out_)};
  }
  Sent writeInterimResponse(const http1::ResponseHead& head) override {
    if (minor_version_ == 0) return Sent::Ok;
    http1::writeInterimResponse(head, out_);
    return flush();
  }
  Sent writeContinue() override {
    ++continues_;
    out_.append("HTTP/1.1 100 Continue\r\n\r\n");
    return flush();
  }
  Sent writeErrorResponse(int status, std::string_view code, bool close,
                          bool head_request) override {
    error_status_ = status;
    error_code_ = std::string(code);
    http1::writeErrorResponse(status, code, close, head_request, out_);
    return Sent::Ok;
  }
  Sent writeStoredResponse(int status,
                           const std::vector<std::pair<std::string, std::string>>& headers,
                           std::string_view body, bool close, bool head_request) override {
    stored_status_ = status;
    http1::writeStoredResponse(status, headers, body, close, head_request, out_);
    return Sent::Ok;
  }
  core::Buffer& responseOutput() override { return out_; }
  Sent flush() override {
    if (gone_) return Sent::ClientGone;
    if (!slow_) take(out_.size());
    max_pending_ = std::max(max_pending_, out_.size());
    return Sent::Ok;
  }
  bool responsePending() const override { return !out_.empty(); }
  Sent shutdownWrite() override {
    shutdown_write_ = true;
    return Sent::Ok;
  }
  void exchangeDone(bool keep_alive) override {
    done_ = true;
    keep_alive_ = keep_alive;
    if (!gone_ && !slow_) take(out_.size());
    if (exchange_) host_.loop().deleteLater(exchange_.release());
  }
  void exchangeAborted() override {
    aborted_ = true;
    if (exchange_) host_.loop().deleteLater(exchange_.release());
  }

 private:
  void take(size_t n) {
    std::string bytes(n, '\0');
    out_.copyOut(bytes.data(), n);
    out_.drain(n);
    received_ += bytes;
  }

  FakeExchangeHost& host_;
  std::string peer_text_;
  routing::IpAddress peer_;
  ListenSocket listener_;
  int minor_version_ = 1;
  std::unique_ptr<Exchange> exchange_;
  core::Buffer input_;
  core::Buffer out_;
  std::string received_;
  size_t max_pending_ = 0;
  bool slow_ = false;
  bool gone_ = false;
  bool done_ = false;
  bool aborted_ = false;
  bool keep_alive_ = false;
  bool shutdown_write_ = false;
  bool paused_ = false;
  int pauses_ = 0;
  int resumes_ = 0;
  int continues_ = 0;
  int error_status_ = 0;
  std::string error_code_;
  int stored_status_ = 0;
};

// An Idempotency-Key no other test uses: the key table is process-wide and keeps answers 60 s.
inline std::string uniqueKey(std::string_view tag = "") {
  static int n = 0;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string(info != nullptr ? info->name() : "key") + "-" + std::string(tag) + "-" +
         std::to_string(::getpid()) + "-" + std::to_string(n++);
}

}  // namespace meridian::proxy::exchange_test
