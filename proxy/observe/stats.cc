#include "proxy/observe/stats.h"

namespace meridian::proxy {

namespace {
struct CounterInfo {
  const char* series;  // metric name with its labels, as exposed on /metrics
  const char* help;
};

constexpr CounterInfo kCounters[] = {
    {"meridian_downstream_connections_accepted_total", "Client connections accepted."},
    {"meridian_downstream_requests_total", "Requests whose head was parsed."},
    {"meridian_responses_total{class=\"1xx\"}", "Responses sent, by status class."},
    {"meridian_responses_total{class=\"2xx\"}", ""},
    {"meridian_responses_total{class=\"3xx\"}", ""},
    {"meridian_responses_total{class=\"4xx\"}", ""},
    {"meridian_responses_total{class=\"5xx\"}", ""},
    {"meridian_limit_rejections_total{reason=\"bad_request\"}",
     "Requests or connections refused by a limit or for malformed input."},
    {"meridian_limit_rejections_total{reason=\"header_too_large\"}", ""},
    {"meridian_limit_rejections_total{reason=\"body_too_large\"}", ""},
    {"meridian_limit_rejections_total{reason=\"header_timeout\"}", ""},
    {"meridian_limit_rejections_total{reason=\"max_connections\"}", ""},
    {"meridian_limit_rejections_total{reason=\"http2_streams\"}", ""},
    {"meridian_limit_rejections_total{reason=\"http2_rapid_reset\"}", ""},
    {"meridian_limit_rejections_total{reason=\"http2_continuation_flood\"}", ""},
    {"meridian_limit_rejections_total{reason=\"http2_flood\"}", ""},
    {"meridian_limit_rejections_total{reason=\"http2_settings_timeout\"}", ""},
    {"meridian_limit_rejections_total{reason=\"bad_path\"}", ""},
    {"meridian_limit_rejections_total{reason=\"escaped_slash\"}", ""},
    {"meridian_limit_rejections_total{reason=\"request_body_timeout\"}", ""},
    {"meridian_downstream_keepalive_timeouts_total", "Idle client connections closed."},
    {"meridian_no_route_total", "Requests no route matched (404)."},
    {"meridian_upstream_connects_total", "Upstream connections opened."},
    {"meridian_upstream_connect_failures_total", "Upstream connects refused or failed."},
    {"meridian_upstream_connect_timeouts_total", "Upstream connects that timed out."},
    {"meridian_upstream_reused_total", "Requests sent on a pooled keep-alive connection."},
    {"meridian_upstream_stale_retries_total",
     "Requests resent because a pooled connection was closed by the upstream."},
    {"meridian_upstream_h2_connections_total", "HTTP/2 connections opened to upstreams."},
    {"meridian_upstream_h2_streams_total", "Requests sent to upstreams as HTTP/2 streams."},
    {"meridian_upstream_h2_goaways_total", "GOAWAY frames received from upstreams."},
    {"meridian_upstream_h2_refused_total",
     "HTTP/2 streams an upstream did not process (GOAWAY, REFUSED_STREAM): sent again."},
    {"meridian_upstream_h2_cancels_total",
     "RST_STREAM(CANCEL) sent to upstreams: the request ended before its stream."},
    {"meridian_upstream_h2_ping_timeouts_total",
     "Idle upstream HTTP/2 connections closed: no PING ACK in time."},
    {"meridian_upstream_timeouts_total", "Upstream per-try, request or idle timeouts."},
    {"meridian_upstream_unacked_total",
     "Requests whose bytes the upstream's TCP left unacknowledged past timeouts.unacked."},
    {"meridian_upstream_resets_total", "Upstream connections reset or closed early."},
    {"meridian_upstream_protocol_errors_total", "Malformed upstream responses."},
    {"meridian_upstream_overloaded_total", "Requests refused: pool cap and queue full."},
    {"meridian_upstream_pool_wait_timeouts_total",
     "Connect timeouts spent waiting for a pooled connection (pool.max_connections reached)."},
    {"meridian_upstream_interim_limit_total",
     "Responses refused (502): more 1xx responses than limits.max_interim_responses."},
    {"meridian_client_aborts_total", "Exchanges ended because the client went away."},
    {"meridian_client_stall_timeouts_total",
     "Responses cut because the client read nothing for the route's idle timeout."},
    {"meridian_upgrades_total", "Connections upgraded to a tunnel (WebSocket)."},
    {"meridian_tls_handshake_failures_total",
     "TLS handshakes that failed, were refused or timed out."},
    {"meridian_http2_connections_total", "Client connections that spoke HTTP/2."},
    {"meridian_http2_protocol_errors_total", "HTTP/2 connection errors from clients."},
    {"meridian_escaped_slash_redirects_total",
     "Requests redirected to their path with escaped slashes unescaped."},
    {"meridian_idempotency_evictions_total",
     "Kept Idempotency-Key answers dropped before keep_for to make room for a new key."},
    {"meridian_spliced_responses_total",
     "Response bodies moved socket to socket with splice(2) (limits.splice_min_body)."},
    {"meridian_spliced_bytes_total", "Response body bytes moved with splice(2)."},
};
static_assert(sizeof kCounters / sizeof kCounters[0] == static_cast<size_t>(Counter::kCount));
}  // namespace

const char* counterName(Counter c) {
  return kCounters[static_cast<size_t>(c)].series;
}
const char* counterHelp(Counter c) {
  return kCounters[static_cast<size_t>(c)].help;
}

}  // namespace meridian::proxy
