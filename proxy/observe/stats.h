#pragma once
// Per-worker counters: written by one worker without locks (relaxed atomics, so the main
// thread can read them), summed over workers when /metrics is scraped.
#include <array>
#include <atomic>
#include <cstdint>

namespace meridian::proxy {

enum class Counter : size_t {
  DownstreamAccepted,
  Requests,
  Responses1xx,
  Responses2xx,
  Responses3xx,
  Responses4xx,
  Responses5xx,
  BadRequest,            // 400: malformed or ambiguous framing
  HeaderTooLarge,        // 431
  BodyTooLarge,          // 413
  HeaderTimeout,         // 408
  DownstreamRejected,    // over limits.max_connections
  H2StreamsRefused,      // over limits.http2_max_concurrent_streams
  H2RapidResets,         // HTTP/2 connections closed for resetting streams too fast
  H2ContinuationFloods,  // HTTP/2 connections closed for too many CONTINUATION frames
  H2Floods,              // HTTP/2 connections closed for SETTINGS/PING floods (ACKs unread)
  H2SettingsTimeouts,    // HTTP/2 connections closed: our SETTINGS never acknowledged
  BadPath,               // 400: a fragment, bad %-encoding or no path in the request target
  EscapedSlash,          // 400: %2F, %5C or a backslash in the path (escaped_slashes: reject)
  RequestBodyTimeout,    // 408: a request body slower than limits.request_body_min_rate
  KeepaliveTimeout,      // idle client connection closed
  NoRoute,               // 404
  UpstreamConnects,
  UpstreamConnectFailures,
  UpstreamConnectTimeouts,
  UpstreamReused,
  UpstreamStaleRetries,  // a reused connection died before answering; retried on a new one
  UpstreamH2Connections,  // HTTP/2 connections opened to upstreams (h2, h2c, auto that chose h2)
  UpstreamH2Streams,      // requests sent as a stream of one
  UpstreamH2Goaways,      // GOAWAY frames received from upstreams
  UpstreamH2Refused,      // streams the upstream did not process (above GOAWAY's last id, REFUSED_STREAM)
  UpstreamH2Cancels,      // RST_STREAM(CANCEL) sent: the request ended before its stream did
  UpstreamH2PingTimeouts, // idle HTTP/2 connections closed: no PING ACK in time
  UpstreamTimeouts,      // per_try/request/idle timeouts waiting on the upstream
  UpstreamUnacked,       // a request the upstream's TCP left unacknowledged (timeouts.unacked)
  UpstreamResets,
  UpstreamProtocolErrors,
  UpstreamOverloaded,        // pool cap and wait queue full
  UpstreamPoolWaitTimeouts,  // connect timeout spent waiting in the pool's queue (cap reached)
  UpstreamInterimLimit,      // 502: more 1xx than limits.max_interim_responses
  ClientAborts,              // the client went away mid-exchange
  ClientStallTimeouts,       // responses cut: the client read nothing for timeouts.idle
  Upgrades,                  // tunnels opened (WebSocket)
  TlsHandshakeFailures,      // failed, refused or timed out before completing
  H2Connections,             // client connections that spoke HTTP/2
  H2ProtocolErrors,          // connection-level HTTP/2 errors (bad frames, HPACK)
  EscapedSlashRedirects,     // escaped_slashes: unescape_and_redirect sent the client elsewhere
  IdempotencyEvictions,      // a kept Idempotency-Key answer dropped early for a new key
  SplicedResponses,          // response bodies moved with splice(2)
  SplicedBytes,              // and their bytes
  kCount,
};

const char* counterName(Counter c);
const char* counterHelp(Counter c);

struct WorkerStats {
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Counter::kCount)> counters{};
  std::atomic<int64_t> downstream_open{0};
  std::atomic<int64_t> requests_in_flight{0};

  void add(Counter c, uint64_t n = 1) {
    counters[static_cast<size_t>(c)].fetch_add(n, std::memory_order_relaxed);
  }
  uint64_t get(Counter c) const {
    return counters[static_cast<size_t>(c)].load(std::memory_order_relaxed);
  }
  void countStatus(int status) {
    static constexpr Counter kByClass[] = {Counter::Responses1xx, Counter::Responses1xx,
                                           Counter::Responses2xx, Counter::Responses3xx,
                                           Counter::Responses4xx, Counter::Responses5xx};
    int cls = status / 100;
    if (cls >= 1 && cls <= 5) add(kByClass[cls]);
  }
};

}  // namespace meridian::proxy
