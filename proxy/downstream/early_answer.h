#pragma once
// Answers made before any Exchange exists: a malformed head (400, 505), one over its limits
// (431), one that came too slowly (408), CONNECT (405). Like every request the exchange answers
// they get one access log line and a count in meridian_requests_total, with empty route,
// cluster and region (as a request no route matched has).
#include <cstdint>
#include <string_view>

#include "proxy/exchange/exchange_host.h"
#include "proxy/http/http1_parser.h"

namespace meridian::proxy {

struct EarlyAnswer {
  std::string_view client_ip;
  std::string_view protocol;                 // "HTTP/1.1", "HTTP/1.0", "HTTP/2"
  const http1::RequestHead* head = nullptr;  // when the head was parsed: method, host, path
  int status = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  double seconds = 0;  // from the first byte of the head to the answer, when known
};

void recordEarlyAnswer(ExchangeHost& host, const EarlyAnswer& answer);

}  // namespace meridian::proxy
