// What metrics and access logging add to one request, in isolation: the per-request calls the
// exchange makes (WorkerMetrics::countRequest; formatting one access log line and handing it
// to the writer). Compare with the CPU time of a whole proxied request from loadtest/run.sh
// (about 23 us on the reference machine) to get the share.
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>

#include "proxy/observe/access_log.h"
#include "proxy/observe/request_metrics.h"

namespace {

using meridian::proxy::AccessLog;
using meridian::proxy::AccessLogRecord;
using meridian::proxy::WorkerMetrics;

void BM_CountRequest(benchmark::State& state) {
  WorkerMetrics metrics;
  int code = 200;
  for (auto _ : state) {
    metrics.countRequest("app", "web-blue", "ams", code, 0.0031);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_CountRequest);

AccessLogRecord sampleRecord() {
  AccessLogRecord r;
  r.ts = std::chrono::system_clock::now();
  r.request_id = "4f1c2a9be0d34c5f8a6b7c8d9e0f1a2b";
  r.client_ip = "203.0.113.5";
  r.country = "NL";
  r.method = "GET";
  r.host = "app.example.com";
  r.path = "/orders?page=2";
  r.protocol = "HTTP/1.1";
  r.status = 200;
  r.bytes_in = 187;
  r.bytes_out = 5120;
  r.duration_ms = 3.217;
  r.route = "app";
  r.cluster = "web-blue";
  r.region = "ams";
  r.attempts = 1;
  return r;
}

void BM_FormatAccessLogLine(benchmark::State& state) {
  AccessLogRecord r = sampleRecord();
  std::string line;
  for (auto _ : state) {
    line.clear();
    meridian::proxy::formatAccessLogLine(r, line);
    benchmark::DoNotOptimize(line.data());
  }
}
BENCHMARK(BM_FormatAccessLogLine);

// Format and hand to a writer thread that writes to /dev/null: the worker's whole share.
void BM_AccessLogWrite(benchmark::State& state) {
  std::string error;
  auto log = AccessLog::open("/dev/null", &error);
  if (!log) {
    state.SkipWithError(error.c_str());
    return;
  }
  AccessLogRecord r = sampleRecord();
  std::string line;
  for (auto _ : state) {
    line.clear();
    meridian::proxy::formatAccessLogLine(r, line);
    log->write(line);
  }
  state.counters["dropped"] = static_cast<double>(log->dropped());
}
BENCHMARK(BM_AccessLogWrite);

}  // namespace

BENCHMARK_MAIN();
