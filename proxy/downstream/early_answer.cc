#include "proxy/downstream/early_answer.h"

#include <chrono>

#include "proxy/http/http1_writer.h"

namespace meridian::proxy {

void recordEarlyAnswer(ExchangeHost& host, const EarlyAnswer& a) {
  host.metrics().countRequest({}, {}, {}, a.status, a.seconds);
  AccessLog& log = host.accessLog();
  if (!log.enabled()) return;
  // The request id a line of ours can be found by: nothing went upstream to share one with.
  static constexpr char kHex[] = "0123456789abcdef";
  char id[32];
  for (int half = 0; half < 2; ++half) {
    uint64_t r = host.random();
    for (int i = 0; i < 16; ++i, r >>= 4) id[half * 16 + i] = kHex[r & 15];
  }
  AccessLogRecord r;
  r.ts = std::chrono::system_clock::now();
  r.request_id = std::string_view(id, sizeof id);
  r.client_ip = a.client_ip;
  if (a.head != nullptr) {
    r.method = a.head->method;
    r.host = a.head->host;
    r.path = http1::originForm(a.head->target);
  }
  r.protocol = a.protocol;
  r.status = a.status;
  r.bytes_in = a.bytes_in;
  r.bytes_out = a.bytes_out;
  r.duration_ms = a.seconds * 1000.0;
  std::string& line = host.logScratch();
  line.clear();
  formatAccessLogLine(r, line);
  log.write(line);
}

}  // namespace meridian::proxy
