#pragma once
// The config as plain structs: what `meridian run` serves and `meridian validate` checks.
// Every field has its default here, so a struct built in a test is a valid starting point.
// Loading and validation live in loader.h; nothing here knows about YAML.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace meridian::config {

using Duration = std::chrono::milliseconds;

// Where a value came from in the file, 1-based; 0 when built in code.
struct Mark {
  int line = 0;
  int col = 0;
};

// "host:port" split; host may be an IPv4 address, `[v6]` written without brackets here, or a
// name. Port 0 means "pick any free port" (tests and the demo use it).
struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string text() const;  // "127.0.0.1:80", "[::1]:80"
};

// An IPv4 or IPv6 prefix, stored as 16 bytes (IPv4 as v4-mapped ::ffff:a.b.c.d).
struct Cidr {
  uint8_t addr[16] = {};
  int prefix_len = 0;  // in the 128-bit space (an IPv4 /8 is stored as 96 + 8)
  std::string text;    // as written
  bool contains(const uint8_t addr16[16]) const;
};

struct TlsCertificate {
  std::string cert;
  std::string key;
  Mark mark;
  Mark cert_mark;  // the `cert:` and `key:` values, for errors found when the files are read
  Mark key_mark;
};

// Certificates obtained and renewed from an ACME server (RFC 8555) for `domains`.
struct Acme {
  std::string directory;             // the server's directory URL
  std::string email;                 // account contact; may be empty
  std::vector<std::string> domains;  // lower case; one certificate names them all
  std::vector<std::string> challenges = {"tls-alpn-01", "http-01"};  // tried in this order
  // A directory: account key, certificate, key, last order's result; or "fleet": all of it
  // in the fleet's etcd, shared by its instances (needs a fleet: section).
  std::string storage;
  std::string ca_roots;  // PEM roots to trust the server by; empty: the system store
  Duration renew_before = std::chrono::hours(24 * 30);
  Mark mark;
  bool inFleet() const { return storage == "fleet"; }
};

struct Tls {
  std::vector<TlsCertificate> certificates;  // chosen by SNI; the first is the default
  std::optional<Acme> acme;
  std::string min_version = "1.2";                          // "1.2" | "1.3"
  std::vector<std::string> protocols = {"h2", "http/1.1"};  // ALPN, in preference order
};

struct Listener {
  std::string name;
  HostPort address;    // required
  std::string region;  // where this proxy runs; may be empty
  std::optional<Tls> tls;
  std::optional<uint16_t> redirect_to_https;
  Mark mark;
};

struct Admin {
  HostPort address{"127.0.0.1", 9901};
  // A file holding the bearer token that POSTs and /config need; empty: no token. Required
  // when `address` is not loopback. Read at start and on every reload (proxy/server/admin).
  std::string token_file;
  Mark token_file_mark;
};

// True for the names and addresses that stay on this machine: localhost, 127.0.0.0/8, ::1.
bool isLoopbackHost(const std::string& host);

struct GeoOverride {
  Cidr cidr;
  double lat = 0;
  double lon = 0;
  std::string country;
};

struct GeoDatabase {
  std::string path;
  Mark mark;
};

struct Geo {
  // Tried in order, the first with a record for the client wins (the ip-location-db packages
  // ship IPv4 and IPv6 as two files). Empty: no geo lookup, clients have no location.
  std::vector<GeoDatabase> databases;
  std::string latitude_path;  // empty: detected from the database metadata
  std::string longitude_path;
  std::string country_path;
  std::vector<Cidr> trusted_proxies;
  std::string client_ip_header = "x-forwarded-for";
  std::vector<GeoOverride> overrides;
};

struct Region {
  std::string name;
  double lat = 0;
  double lon = 0;
  bool drain = false;
  Mark mark;
};

struct Endpoint {
  Endpoint() = default;
  Endpoint(HostPort a, std::string r, Mark m = {})
      : address(std::move(a)), region(std::move(r)), mark(m) {}
  HostPort address;
  std::string region;
  Mark mark;
  // Set on the endpoints a DNS name was expanded into (never read from a file): the name as
  // written ("app.internal:80"), and whether the address appeared after the name's first
  // resolution (then, with a health check, it takes traffic only after its first pass).
  std::string dns_name;
  bool await_first_check = false;
};

struct HealthCheck {
  std::string path = "/healthz";
  Duration interval{1000};
  Duration timeout{500};
  int healthy_threshold = 2;
  int unhealthy_threshold = 2;
  int jitter_percent = 10;
  Duration unhealthy_interval{250};
  bool assume_healthy = true;  // a new endpoint counts as healthy before its first check
  // source: fleet (docs/fleet.md): endpoints of other regions take the health their region's
  // instances report; only this instance's region (or a region nobody reports) is checked.
  bool fleet_source = false;
};

struct Outlier {
  int consecutive_failures = 5;
  // Also eject when at least this share of the requests in one interval failed (0: off), so
  // an endpoint that fails every other request, which no run of consecutive failures catches,
  // is ejected too. Judged once the interval has min_requests.
  int failure_percentage = 0;
  int failure_percentage_min_requests = 20;
  Duration failure_percentage_interval{10000};
  Duration ejection{10000};
  Duration max_ejection{300000};
  int max_ejection_percent = 50;
};

// Upstream connection pool, per worker and per endpoint.
struct Pool {
  int max_connections = 1024;    // open connections (busy + idle) per endpoint per worker
  int max_pending = 1024;        // requests waiting for a connection beyond that: else 503
  Duration idle_timeout{60000};  // an idle pooled connection is closed after this
  // An HTTP/2 connection with no stream open is sent a PING this often; no ACK within the
  // same time closes it (a dead peer is found before a request is sent into it).
  Duration h2_ping_interval{30000};
};

// How requests go to a cluster's endpoints (clusters[].protocol). Auto: ALPN offers h2 and
// http/1.1 over TLS, HTTP/1.1 on plain TCP; H2 needs TLS (ALPN h2); H2c is HTTP/2 with prior
// knowledge on plain TCP.
enum class UpstreamProtocol { Http1, H2, H2c, Auto };
// As written in the config: "http1", "h2", "h2c", "auto".
const char* upstreamProtocolName(UpstreamProtocol p);

// TLS to a cluster's endpoints (clusters[].tls). Verification of the chain and the name is on
// unless turned off with both `verify: false` and `allow_unverified: true`.
struct UpstreamTls {
  std::string ca;           // PEM bundle of trusted CAs; empty: the system store
  std::string server_name;  // SNI and the name verified; empty: each endpoint's host
  std::optional<TlsCertificate> client_cert;  // mTLS
  std::string min_version = "1.2";            // "1.2" | "1.3"
  bool verify = true;
  bool allow_unverified = false;  // the explicit key that `verify: false` needs
  Mark mark;
  Mark ca_mark;
};

// Requests in flight per endpoint, counted over all workers (clusters[].limits); 0: no limit.
// Past `soft` an endpoint is used only when its region has none under soft; at `hard` it takes
// no more.
struct Capacity {
  int soft = 0;
  int hard = 0;
  bool limited() const { return soft > 0 || hard > 0; }
};
// When a region past its soft limit gives way to the next-nearest: Soft (once every endpoint
// there is past soft, a region under soft comes first), Hard (only at the hard limit: Fly's rule).
enum class Spill { Soft, Hard };

struct Cluster {
  std::string name;
  std::vector<Endpoint> endpoints;
  Capacity capacity;
  Spill spill = Spill::Soft;
  // How often endpoints named by a DNS name are resolved again; 0: when the records' TTL runs
  // out (at least every 1 s, at most every 5 min).
  Duration dns_refresh{0};
  std::optional<UpstreamTls> tls;  // absent: plain TCP
  UpstreamProtocol protocol = UpstreamProtocol::Http1;
  std::optional<HealthCheck> health_check;
  std::optional<Outlier> outlier;
  Pool pool;
  Mark mark;
};

struct Match {
  std::string host;  // exact, `*.suffix`, or empty/"*" for any
  std::string path_prefix = "/";
};

struct Backend {
  std::string cluster;
  uint32_t weight = 1;
  Mark mark;
};

enum class Affinity { None, Cookie, ClientIp };
// As written in the config: "none", "cookie", "client_ip".
const char* affinityName(Affinity a);
enum class AllUnhealthy { Reject, RouteAnyway };

// replay.hedge: while the first attempt has not answered (no response head), the same request
// goes to the next region too, and the first head to arrive wins. Off unless `after` is set.
struct Hedge {
  Duration after{0};   // a fixed wait before the hedge
  int percentile = 0;  // 50..99 (`after: p95`): the route's measured percentile instead
  int max = 1;         // hedges per request, 1..3
  // Where a hedge goes: the next region, as a replay would (a region's trouble, or a far
  // region cheap enough), or first another endpoint of the same region, else the same
  // endpoint on a new connection (a tail of single slow requests in a healthy near region).
  bool same_region = false;
  bool enabled() const { return after.count() > 0 || percentile > 0; }
};

struct Replay {
  std::vector<std::string> methods = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"};
  std::vector<std::string> on = {"connect_failure", "reset", "timeout", "502", "503", "504"};
  int max_attempts = 3;
  // Connects tried in one region (another endpoint there, else the same) before crossing
  // regions: a lost SYN or a full accept queue is not a dead region.
  int connect_tries_per_region = 2;
  uint64_t body_buffer = 1 << 20;
  Duration backoff_base{25};
  Duration backoff_max{250};
  int budget_percent = 20;
  Hedge hedge;
};

struct Timeouts {
  Duration connect{500};  // under 1 s: a lost SYN is retried by us, not after the kernel's 1 s
  Duration per_try{10000};
  Duration request{30000};
  Duration idle{60000};  // no byte from the upstream for this long while waiting on it
  // Request bytes sent and not acknowledged by the upstream's TCP for this long beyond the
  // connection's round trip: the request is lost on the way (0: not checked).
  Duration unacked{300};
};

// Where a route's Idempotency-Keys are held (idempotency:): this process's table, or etcd for
// the whole fleet (docs/fleet.md; needs a fleet: section).
struct Idempotency {
  enum class Store { Local, Fleet };
  Store store = Store::Local;
  Mark mark;  // of the idempotency: value, for the fleet: check
};

struct Route {
  std::string name;
  Match match;
  std::vector<Backend> backends;
  Affinity affinity = Affinity::None;
  bool allow_override = false;
  std::string primary_region;
  std::map<std::string, std::vector<std::string>> residency;  // country -> allowed regions
  Replay replay;
  Duration pin_after_write{0};
  AllUnhealthy all_unhealthy = AllUnhealthy::Reject;
  std::string compat;  // "" | "fly"
  Timeouts timeouts;
  Idempotency idempotency;
  Mark mark;
};

// %2F, %5C and a backslash in a request path (Envoy's path_with_escaped_slashes_action).
enum class EscapedSlashes { Reject, Keep, UnescapeAndRedirect, UnescapeAndForward };

// Limits on what a client may send; each has a status code and a counter.
struct Limits {
  uint64_t max_header_bytes = 64 * 1024;  // request line + header block: 431
  int max_headers = 100;                  // header fields: 431
  uint64_t max_body_bytes = 1ull << 30;   // request body: 413 (0 = unlimited)
  int max_connections = 10000;            // open client connections per process
  Duration header_timeout{10000};         // whole head must arrive within this: 408
  Duration keepalive_timeout{75000};      // idle client connection closed after this
  Duration drain_timeout{30000};          // SIGTERM/POST /drain: in-flight work gets this long
  // Bytes held for one direction of one request (a response waiting for a slow client, a
  // body waiting for a slow upstream): past it, the other side is no longer read.
  uint64_t buffer_per_direction = 32 * 1024;
  // A Content-Length response body at least this large, between plain HTTP/1.1 sockets, moves
  // with splice(2) once its head is with the client (0: never).
  uint64_t splice_min_body = 16 * 1024;
  // A request body must average request_body_min_rate bytes/s over each request_body_timeout
  // (0 bytes/s: no minimum): 408, and the upstream connection is let go.
  Duration request_body_timeout{10000};
  uint64_t request_body_min_rate = 1024;
  int max_interim_responses = 16;  // 1xx before a final response, per attempt: then 502
  // HTTP/2 clients, per connection.
  int http2_max_concurrent_streams = 100;   // SETTINGS_MAX_CONCURRENT_STREAMS; more: refused
  int http2_max_resets_per_second = 200;    // streams reset (by or for the client): GOAWAY
  int http2_max_continuations = 8;          // CONTINUATION frames in one header block
  uint64_t http2_header_table_size = 4096;  // HPACK dynamic table, each direction
  Duration http2_settings_timeout{10000};   // our SETTINGS not acknowledged: close
  EscapedSlashes escaped_slashes = EscapedSlashes::Reject;  // reject: 400
};

// How regions are ordered for a client (routing:).
enum class RegionOrder { Distance, Latency };
struct Routing {
  // distance: great-circle distance from the client. latency: the client's distance as fibre
  // round-trip time (1 ms per 100 km) plus latency_weight x this proxy's measured latency to
  // the region; distance alone until every candidate region has been measured.
  RegionOrder order = RegionOrder::Distance;
  double latency_weight = 1.0;
  // A region's measured latency changes the order only once it moved by more than both of
  // these from the value the order last used, so noise does not make traffic flap.
  Duration latency_hysteresis{10};
  int latency_hysteresis_percent = 20;
};

// The resolver for endpoints named by DNS names (dns:).
struct Dns {
  std::vector<std::string> servers;  // "ip:port" (or "ip": port 53); empty: /etc/resolv.conf
};

// fleet: the instance follows a fleet config kept in etcd (docs/fleet.md). Empty `etcd`: no
// fleet, the file is the whole config.
struct Fleet {
  std::vector<std::string> etcd;  // "http://127.0.0.1:2379", ... tried in turn
  std::string prefix;             // "/meridian/shop/": the fleet's keys
  std::string instance;           // unique in the fleet; empty: host name + pid
  std::string region;             // reported in `fleet status`; empty: the first listener's
  std::string cache;              // the last fleet config, for a start while etcd is down
  std::string ca_file;            // etcd's TLS: its CA, and a client certificate
  std::string cert_file;
  std::string key_file;
  std::string username;  // etcd auth, with the password in password_file
  std::string password_file;
  bool enabled() const { return !etcd.empty(); }
};

struct Config {
  int workers = 0;  // 0 = auto: one per core
  bool watch = false;
  std::string access_log = "stdout";  // stdout | off | path
  std::vector<Listener> listeners;
  Admin admin;
  Geo geo;
  std::vector<Region> regions;
  std::vector<Cluster> clusters;
  std::vector<Route> routes;
  Limits limits;
  Routing routing;
  Dns dns;
  Fleet fleet;

  std::string source_path;  // the file this was loaded from, for reloads and messages

  const Cluster* findCluster(const std::string& name) const;
  const Region* findRegion(const std::string& name) const;
};

}  // namespace meridian::config
