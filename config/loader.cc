// Entry points, the top-level sections, and the checks that span sections. yaml-cpp's
// exceptions end here: a syntax error becomes a Diagnostic at its mark.
#include "config/loader.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <sstream>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/exceptions.h>

#include "config/config_reader.h"
#include "config/units.h"
#include "config/yaml_reader.h"
#include "config/yaml_tree.h"
#include "core/address.h"
#include "core/file_read.h"

namespace meridian::config {
namespace {

constexpr int kMaxWorkers = 1024;
constexpr int kMaxNamesListed = 10;  // in "unknown cluster" messages

const char* kindName(int kind) {
  static const char* const kNames[] = {"listener", "region", "cluster", "route"};
  return kNames[kind];
}

std::string position(Mark m) {
  return std::to_string(m.line) + ":" + std::to_string(m.col);
}

// A path into a GeoIP record, such as `location.latitude`.
bool isRecordPath(std::string_view s) {
  return !s.empty() && s.front() != '.' && s.back() != '.' && s.find("..") == s.npos;
}

// Lists and maps nested deeper than this are refused while parsing. The schema needs fewer
// than 10 levels; yaml-cpp's own guard (2000 recursions) reports only "bad file", at the end
// of the input for flow collections.
constexpr int kMaxNesting = 64;

bool isBlank(const std::string& yaml) {
  std::istringstream in(yaml);
  std::string line;
  while (std::getline(in, line)) {
    size_t i = line.find_first_not_of(" \t\r");
    if (i != std::string::npos && line[i] != '#') return false;
  }
  return true;
}

Mark errorMark(const YAML::Exception& e) {
  return e.mark.is_null() ? Mark{1, 1} : Mark{e.mark.line + 1, e.mark.column + 1};
}

void parseAndRead(const std::string& yaml, Diagnostics& d, Config& config) {
  yaml::Document doc;
  try {
    yaml::parse(yaml, kMaxNesting, doc);
    if (doc.second) d.add(*doc.second, "only one YAML document is allowed (found a second one)");
  } catch (const yaml::TooDeep& e) {
    d.add(e.at, "YAML nested too deeply: more than " + std::to_string(kMaxNesting) +
                    " levels of lists and maps");
    return;
  } catch (const YAML::DeepRecursion& e) {
    d.add(errorMark(e), "YAML nested too deeply for the parser");
    return;
  } catch (const YAML::Exception& e) {
    d.add(errorMark(e), "YAML syntax error: " + (e.msg.empty() ? std::string(e.what()) : e.msg));
    return;
  }
  const yaml::Node& root = doc.root;
  if (root.isNull() && isBlank(yaml)) {
    d.add(Mark{1, 1}, "the config is empty");
    return;
  }
  if (!root.isMap()) {
    d.add(markOf(root),
          "the config must be a map of settings (workers, listeners, ...), got " + describe(root));
    return;
  }
  ConfigReader(d).read(root, config);
}

}  // namespace

std::string Diagnostic::text() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + message;
}

LoadResult loadString(const std::string& yaml, const std::string& name) {
  LoadResult result;
  Diagnostics d(name);
  try {
    parseAndRead(yaml, d, result.config);
  } catch (const std::exception& e) {
    // The walk avoids every throwing yaml-cpp call it knows of; this keeps a surprise in
    // yaml-cpp from becoming a crash of `meridian run` or of a reload.
    d.add(Mark{1, 1}, std::string("internal error while reading the config: ") + e.what());
  }
  result.diagnostics = d.take();
  return result;
}

LoadResult loadFile(const std::string& path) {
  // A regular file within kConfigFileLimit: not a FIFO or /dev/zero, which would block or
  // never end, on the admin thread when it is a reload.
  auto text = core::readRegularFile(path, core::kConfigFileLimit);
  if (!text.ok()) {
    LoadResult result;
    result.diagnostics.push_back(Diagnostic{path, 0, 0, text.error().detail});
    return result;
  }
  LoadResult result = loadString(text.value(), path);
  result.config.source_path = path;
  return result;
}

void ConfigReader::read(const yaml::Node& root, Config& c) {
  MapReader top(d_, root, Mark{1, 1}, "",
                {"workers", "watch", "access_log", "listeners", "admin", "geo", "regions",
                 "clusters", "routes", "limits", "routing", "dns", "fleet"});
  readTop(top, c);
  for (const auto& item : top.list("listeners")) c.listeners.push_back(readListener(item));
  const auto* listeners = top.find("listeners");
  if (!listeners) {
    top.require("listeners");
  } else if (c.listeners.empty() && (listeners->value.isNull() || listeners->value.isSequence())) {
    d_.add(top.valueMark("listeners"), "listeners: at least one listener is required");
  }
  checkListenerAddresses(c.listeners);
  readAdmin(top, c.admin);
  readGeo(top, c.geo);
  for (const auto& item : top.list("regions")) c.regions.push_back(readRegion(item));
  for (const auto& item : top.list("clusters")) c.clusters.push_back(readCluster(item));
  for (const auto& item : top.list("routes")) c.routes.push_back(readRoute(item));
  checkRouteMatches(c.routes);
  readLimits(top, c.limits);
  readRouting(top, c.routing);
  readDns(top, c.dns);
  readFleet(top, c.fleet);
  checkFleetStores(c);
  checkReferences(c);
}

void ConfigReader::readTop(const MapReader& m, Config& c) {
  readWorkers(m, c);
  m.read("watch", c.watch);
  readAccessLog(m, c);
}

void ConfigReader::readWorkers(const MapReader& m, Config& c) {
  const auto* e = m.find("workers");
  if (!e) return;
  const std::string text = e->value.isScalar() ? e->value.scalar() : "";
  if (text == "auto") {
    c.workers = 0;
    return;
  }
  int n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (!text.empty() && ec == std::errc() && end == text.data() + text.size() && n >= 1 &&
      n <= kMaxWorkers) {
    c.workers = n;
    return;
  }
  d_.add(m.valueMark("workers"), "workers: expected auto or an integer from 1 to " +
                                     std::to_string(kMaxWorkers) + ", got " + describe(e->value));
}

void ConfigReader::readAccessLog(const MapReader& m, Config& c) {
  std::string v;
  if (!m.read("access_log", v)) return;
  if (v.empty()) {
    d_.add(m.valueMark("access_log"), "access_log: expected stdout, off or a file path");
    return;
  }
  c.access_log = v;
}

Listener ConfigReader::readListener(const ListItem& item) {
  Listener l;
  l.mark = item.mark;
  MapReader m(d_, item.node, item.mark, item.path,
              {"name", "address", "region", "tls", "redirect_to_https"});
  if (!m.isMap()) return l;
  bool named = m.has("name");
  if (named) readName(m, Kind::Listener, l.name);
  bool has_address = m.require("address") && m.readHostPort("address", l.address);
  if (m.read("region", l.region)) {
    refer(Kind::Region, l.region, m.valueMark("region"), m.pathOf("region"));
  }
  if (m.has("tls")) l.tls = readTls(m);
  int port = 0;
  if (m.readInt("redirect_to_https", port, 1, 65535)) l.redirect_to_https = port;
  if (!named && has_address) {
    // Unnamed listeners are known by their address in metrics and the ready file.
    l.name = l.address.text();
    define(Kind::Listener, l.name, item.mark, item.path);
  }
  return l;
}

Tls ConfigReader::readTls(const MapReader& listener) {
  Tls t;
  MapReader m(d_, listener.find("tls")->value, listener.valueMark("tls"), listener.pathOf("tls"),
              {"certificates", "min_version", "protocols", "acme"});
  if (m.has("acme")) t.acme = readAcme(m);
  for (const auto& item : m.list("certificates")) {
    TlsCertificate cert;
    cert.mark = item.mark;
    MapReader cm(d_, item.node, item.mark, item.path, {"cert", "key"});
    if (cm.require("cert") && cm.read("cert", cert.cert)) cert.cert_mark = cm.valueMark("cert");
    if (cm.require("key") && cm.read("key", cert.key)) cert.key_mark = cm.valueMark("key");
    t.certificates.push_back(cert);
  }
  const auto* certs = m.find("certificates");
  bool certs_empty = !certs || certs->value.isNull() || certs->value.isSequence();
  if (m.isMap() && t.certificates.empty() && certs_empty && !t.acme) {
    d_.add(
        certs ? m.valueMark("certificates") : m.mark(),
        (certs ? m.pathOf("certificates") : m.path()) + ": at least one certificate is required");
  }
  m.readOneOf("min_version", {"1.2", "1.3"}, t.min_version);
  if (m.has("protocols")) {
    std::vector<std::string> protocols;
    for (const auto& item : m.list("protocols")) {
      std::string p;
      if (!readString(d_, item.node, item.mark, item.path, p)) continue;
      if (p != "h2" && p != "http/1.1") {
        d_.add(item.mark, item.path + ": expected h2 or http/1.1, got " + quoted(p));
      } else if (std::find(protocols.begin(), protocols.end(), p) != protocols.end()) {
        d_.add(item.mark, item.path + ": " + p + " is listed twice");
      } else {
        protocols.push_back(p);
      }
    }
    const auto& value = m.find("protocols")->value;
    if (value.isNull() || (value.isSequence() && value.size() == 0)) {
      d_.add(m.valueMark("protocols"),
             m.pathOf("protocols") + ": at least one protocol is required");
    }
    if (!protocols.empty()) t.protocols = protocols;
  }
  return t;
}

Acme ConfigReader::readAcme(const MapReader& tls) {
  Acme a;
  a.mark = tls.valueMark("acme");
  MapReader m(
      d_, tls.find("acme")->value, a.mark, tls.pathOf("acme"),
      {"directory", "email", "domains", "challenges", "storage", "ca_roots", "renew_before"});
  if (m.require("directory") && m.read("directory", a.directory) &&
      !a.directory.starts_with("https://")) {
    d_.add(m.valueMark("directory"), m.pathOf("directory") + ": expected an https:// URL");
  }
  m.read("email", a.email);
  if (m.require("storage") && m.read("storage", a.storage) && a.storage.empty())
    d_.add(m.valueMark("storage"), m.pathOf("storage") + ": must not be empty");
  m.read("ca_roots", a.ca_roots);
  m.readDuration("renew_before", a.renew_before, Duration{1000});
  if (m.require("domains")) {
    for (const auto& item : m.list("domains")) {
      std::string name;
      if (!readString(d_, item.node, item.mark, item.path, name)) continue;
      name = lowercase(name);
      if (name.empty() ||
          name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-.") != std::string::npos) {
        d_.add(item.mark, item.path +
                              ": expected a DNS name (no wildcard: TLS-ALPN-01 and "
                              "HTTP-01 cannot validate one), got " +
                              quoted(name));
      } else if (std::find(a.domains.begin(), a.domains.end(), name) != a.domains.end()) {
        d_.add(item.mark, item.path + ": " + name + " is listed twice");
      } else {
        a.domains.push_back(name);
      }
    }
    if (a.domains.empty())
      d_.add(m.valueMark("domains"), m.pathOf("domains") + ": at least one domain is required");
  }
  if (m.has("challenges")) {
    std::vector<std::string> kinds;
    for (const auto& item : m.list("challenges")) {
      std::string c;
      if (!readString(d_, item.node, item.mark, item.path, c)) continue;
      if (c != "tls-alpn-01" && c != "http-01")
        d_.add(item.mark, item.path + ": expected tls-alpn-01 or http-01, got " + quoted(c));
      else if (std::find(kinds.begin(), kinds.end(), c) == kinds.end())
        kinds.push_back(c);
    }
    if (kinds.empty())
      d_.add(m.valueMark("challenges"), m.pathOf("challenges") + ": at least one is required");
    else
      a.challenges = kinds;
  }
  return a;
}

void ConfigReader::readAdmin(const MapReader& top, Admin& out) {
  const auto* e = top.find("admin");
  if (!e) return;
  MapReader m(d_, e->value, top.valueMark("admin"), "admin", {"address", "token_file"});
  m.readHostPort("address", out.address);
  if (m.read("token_file", out.token_file)) {
    out.token_file_mark = m.valueMark("token_file");
    if (out.token_file.empty()) d_.add(out.token_file_mark, "admin.token_file: must not be empty");
  }
  // Anyone who can reach a non-loopback admin address could drain or reload this process.
  if (m.has("address") && out.token_file.empty() && !isLoopbackHost(out.address.host)) {
    d_.add(m.valueMark("address"), "admin.address: " + out.address.text() +
                                       " is not a loopback address: set admin.token_file (a "
                                       "bearer token for POSTs and /config)");
  }
}

void ConfigReader::readGeo(const MapReader& top, Geo& out) {
  const auto* e = top.find("geo");
  if (!e) return;
  MapReader m(d_, e->value, top.valueMark("geo"), "geo",
              {"database", "latitude_path", "longitude_path", "country_path", "trusted_proxies",
               "client_ip_header", "overrides"});
  readGeoDatabases(m, out);
  for (auto [key, field] : {std::pair{"latitude_path", &out.latitude_path},
                            std::pair{"longitude_path", &out.longitude_path},
                            std::pair{"country_path", &out.country_path}}) {
    std::string v;
    if (!m.read(key, v)) continue;
    if (!isRecordPath(v)) {
      d_.add(m.valueMark(key), m.pathOf(key) +
                                   ": expected a dotted path such as "
                                   "location.latitude, got " +
                                   quoted(v));
      continue;
    }
    *field = v;
  }
  for (const auto& item : m.list("trusted_proxies")) {
    Cidr c;
    if (readCidr(d_, item.node, item.mark, item.path, c)) out.trusted_proxies.push_back(c);
  }
  std::string header;
  if (m.read("client_ip_header", header)) {
    if (isToken(header)) {
      out.client_ip_header = lowercase(header);
    } else {
      d_.add(m.valueMark("client_ip_header"),
             "geo.client_ip_header: expected a header name, got " + quoted(header));
    }
  }
  for (const auto& item : m.list("overrides")) out.overrides.push_back(readOverride(item));
}

// One path or a list of them; each is opened (and checked) when the config is served.
void ConfigReader::readGeoDatabases(const MapReader& geo, Geo& out) {
  const auto* e = geo.find("database");
  if (!e) return;
  std::vector<ListItem> items;
  if (e->value.isSequence()) {
    items = geo.list("database");
  } else if (e->value.isMap()) {
    d_.add(geo.valueMark("database"),
           "geo.database: expected a file path or a list of them, got a map");
  } else {
    items.push_back({e->value, geo.pathOf("database"), geo.valueMark("database")});
  }
  for (const auto& item : items) {
    std::string path;
    if (!readString(d_, item.node, item.mark, item.path, path)) continue;
    bool twice = std::any_of(out.databases.begin(), out.databases.end(),
                             [&](const GeoDatabase& db) { return db.path == path; });
    if (path.empty()) {
      d_.add(item.mark, item.path + ": expected a file path, got an empty string");
    } else if (twice) {
      d_.add(item.mark, item.path + ": " + quoted(path) + " is listed twice");
    } else {
      out.databases.push_back({path, item.mark});
    }
  }
}

GeoOverride ConfigReader::readOverride(const ListItem& item) {
  GeoOverride o;
  MapReader m(d_, item.node, item.mark, item.path, {"cidr", "lat", "lon", "country"});
  if (m.require("cidr")) {
    readCidr(d_, m.find("cidr")->value, m.valueMark("cidr"), m.pathOf("cidr"), o.cidr);
  }
  if (m.require("lat")) m.read("lat", o.lat, -90, 90);
  if (m.require("lon")) m.read("lon", o.lon, -180, 180);
  std::string country;
  if (m.read("country", country)) {
    if (isCountryCode(country)) {
      o.country = country;
    } else {
      d_.add(m.valueMark("country"), m.pathOf("country") +
                                         ": expected a two-letter ISO country code such as "
                                         "NL, got " +
                                         quoted(country));
    }
  }
  return o;
}

Region ConfigReader::readRegion(const ListItem& item) {
  Region r;
  r.mark = item.mark;
  MapReader m(d_, item.node, item.mark, item.path, {"name", "lat", "lon", "drain"});
  if (!m.isMap()) return r;
  if (m.require("name")) readName(m, Kind::Region, r.name);
  // Without coordinates a region cannot be ordered by distance, and 0,0 is in the sea.
  if (m.require("lat")) m.read("lat", r.lat, -90, 90);
  if (m.require("lon")) m.read("lon", r.lon, -180, 180);
  m.read("drain", r.drain);
  return r;
}

void ConfigReader::readDns(const MapReader& top, Dns& out) {
  const auto* e = top.find("dns");
  if (!e) return;
  MapReader m(d_, e->value, top.valueMark("dns"), "dns", {"servers"});
  for (const auto& item : m.list("servers")) {
    std::string text;
    if (!readString(d_, item.node, item.mark, item.path, text)) continue;
    // "10.0.0.2" or "::1" alone mean port 53; otherwise "ip:port" / "[ip6]:port".
    if (core::isIpAddress(text))
      text = text.find(':') == std::string::npos ? text + ":53" : "[" + text + "]:53";
    std::optional<HostPort> hp = parseHostPort(text);
    if (!hp || !core::isIpAddress(hp->host)) {
      d_.add(item.mark, item.path + ": expected an IP address with an optional port (a DNS " +
                            "server is not itself looked up), got " + quoted(text));
      continue;
    }
    out.servers.push_back(hp->text());
  }
}

void ConfigReader::readFleet(const MapReader& top, Fleet& out) {
  const auto* e = top.find("fleet");
  if (!e) return;
  MapReader m(d_, e->value, top.valueMark("fleet"), "fleet",
              {"etcd", "prefix", "instance", "region", "cache", "ca_file", "cert_file", "key_file",
               "username", "password_file"});
  for (const auto& item : m.list("etcd")) {
    std::string url;
    if (!readString(d_, item.node, item.mark, item.path, url)) continue;
    if (!url.starts_with("http://") && !url.starts_with("https://")) {
      d_.add(item.mark, item.path +
                            ": expected an etcd client URL (http://host:port or "
                            "https://host:port), got " +
                            quoted(url));
      continue;
    }
    out.etcd.push_back(url);
  }
  if (m.isMap() && out.etcd.empty() && !m.has("etcd"))
    d_.add(m.mark(), "fleet.etcd: at least one etcd URL is required");
  if (m.require("prefix") && m.read("prefix", out.prefix) && !out.prefix.ends_with("/"))
    d_.add(m.valueMark("prefix"), "fleet.prefix: must end with / (it is a folder of keys)");
  m.read("instance", out.instance);
  m.read("region", out.region);
  if (!out.region.empty()) refer(Kind::Region, out.region, m.valueMark("region"), "fleet.region");
  m.read("cache", out.cache);
  m.read("ca_file", out.ca_file);
  m.read("cert_file", out.cert_file);
  m.read("key_file", out.key_file);
  if (out.cert_file.empty() != out.key_file.empty())
    d_.add(m.mark(), "fleet: cert_file and key_file go together");
  m.read("username", out.username);
  m.read("password_file", out.password_file);
  if (out.username.empty() != out.password_file.empty())
    d_.add(m.mark(), "fleet: username and password_file go together");
}

void ConfigReader::readRouting(const MapReader& top, Routing& out) {
  const auto* e = top.find("routing");
  if (!e) return;
  MapReader m(d_, e->value, top.valueMark("routing"), "routing",
              {"order", "latency_weight", "latency_hysteresis", "latency_hysteresis_percent"});
  std::string order;
  if (m.readOneOf("order", {"distance", "latency"}, order))
    out.order = order == "latency" ? RegionOrder::Latency : RegionOrder::Distance;
  m.read("latency_weight", out.latency_weight, 0, 100);
  m.readDuration("latency_hysteresis", out.latency_hysteresis);
  m.readPercent("latency_hysteresis_percent", out.latency_hysteresis_percent);
}

void ConfigReader::readLimits(const MapReader& top, Limits& out) {
  const auto* e = top.find("limits");
  if (!e) return;
  MapReader m(d_, e->value, top.valueMark("limits"), "limits",
              {"max_header_bytes", "max_headers", "max_body_bytes", "max_connections",
               "header_timeout", "keepalive_timeout", "drain_timeout", "buffer_per_direction",
               "request_body_timeout", "request_body_min_rate", "max_interim_responses",
               "http2_max_concurrent_streams", "http2_max_resets_per_second",
               "http2_max_continuations", "http2_header_table_size", "http2_settings_timeout",
               "escaped_slashes", "splice_min_body"});
  if (m.readSize("max_header_bytes", out.max_header_bytes) && out.max_header_bytes == 0) {
    d_.add(m.valueMark("max_header_bytes"), "limits.max_header_bytes: must be at least 1");
    out.max_header_bytes = Limits{}.max_header_bytes;
  }
  m.readInt("max_headers", out.max_headers, 1);
  m.readSize("max_body_bytes", out.max_body_bytes);
  m.readInt("max_connections", out.max_connections, 1);
  m.readDuration("header_timeout", out.header_timeout, Duration{1});
  m.readDuration("keepalive_timeout", out.keepalive_timeout, Duration{1});
  m.readDuration("drain_timeout", out.drain_timeout);
  if (m.readSize("buffer_per_direction", out.buffer_per_direction) &&
      (out.buffer_per_direction < 4096 || out.buffer_per_direction > (64u << 20))) {
    d_.add(m.valueMark("buffer_per_direction"),
           "limits.buffer_per_direction: must be from 4KiB to 64MiB, got " +
               std::to_string(out.buffer_per_direction) + " bytes");
    out.buffer_per_direction = Limits{}.buffer_per_direction;
  }
  m.readSize("splice_min_body", out.splice_min_body);
  m.readDuration("request_body_timeout", out.request_body_timeout, Duration{1});
  m.readSize("request_body_min_rate", out.request_body_min_rate);
  m.readInt("max_interim_responses", out.max_interim_responses, 0);
  m.readInt("http2_max_concurrent_streams", out.http2_max_concurrent_streams, 1);
  m.readInt("http2_max_resets_per_second", out.http2_max_resets_per_second, 1);
  m.readInt("http2_max_continuations", out.http2_max_continuations, 0);
  if (m.readSize("http2_header_table_size", out.http2_header_table_size) &&
      out.http2_header_table_size > (1u << 20)) {
    d_.add(m.valueMark("http2_header_table_size"),
           "limits.http2_header_table_size: must be at most 1MiB");
    out.http2_header_table_size = Limits{}.http2_header_table_size;
  }
  m.readDuration("http2_settings_timeout", out.http2_settings_timeout, Duration{1});
  std::string escaped;
  if (m.readOneOf("escaped_slashes",
                  {"reject", "keep", "unescape_and_redirect", "unescape_and_forward"}, escaped)) {
    out.escaped_slashes = escaped == "keep"                    ? EscapedSlashes::Keep
                          : escaped == "unescape_and_redirect" ? EscapedSlashes::UnescapeAndRedirect
                          : escaped == "unescape_and_forward"  ? EscapedSlashes::UnescapeAndForward
                                                               : EscapedSlashes::Reject;
  }
}

bool ConfigReader::readName(const MapReader& m, Kind kind, std::string& out) {
  std::string name;
  if (!m.read("name", name)) return false;
  Mark at = m.valueMark("name");
  std::string path = m.pathOf("name");
  if (name.empty()) {
    d_.add(at, path + ": must not be empty");
    return false;
  }
  // Region and cluster names travel in headers (meridian-region, meridian-backend) and cookies.
  bool strict = kind == Kind::Region || kind == Kind::Cluster;
  if (strict && name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "0123456789._-") != std::string::npos) {
    d_.add(at, path + ": " + quoted(name) + " may contain only letters, digits, '.', '_' and '-'");
    return false;
  }
  out = name;
  define(kind, name, at, path);
  return true;
}

void ConfigReader::define(Kind kind, const std::string& name, Mark at, const std::string& path) {
  auto [it, inserted] = defined_.try_emplace({kind, name}, at);
  if (inserted) return;
  d_.add(at, path + ": duplicate " + kindName(static_cast<int>(kind)) + " name " + quoted(name) +
                 " (first at " + position(it->second) + ")");
}

void ConfigReader::refer(Kind kind, const std::string& name, Mark at, const std::string& path) {
  references_.push_back(Reference{kind, name, at, path});
}

void ConfigReader::checkListenerAddresses(const std::vector<Listener>& listeners) {
  std::map<std::string, const Listener*> seen;
  for (const auto& l : listeners) {
    if (l.address.host.empty() || l.address.port == 0) continue;  // port 0: each gets its own
    auto [it, inserted] = seen.try_emplace(l.address.text(), &l);
    if (inserted) continue;
    d_.add(l.mark, "listener " + quoted(l.name) + ": address " + l.address.text() +
                       " is already used by listener " + quoted(it->second->name));
  }
  // Two ACME clients on one storage would overwrite each other's certificate and key.
  std::map<std::string, const Listener*> storage;
  for (const auto& l : listeners) {
    if (!l.tls || !l.tls->acme || l.tls->acme->storage.empty() || l.tls->acme->inFleet()) continue;
    auto [it, inserted] = storage.try_emplace(l.tls->acme->storage, &l);
    if (inserted) continue;
    d_.add(l.tls->acme->mark, "listener " + quoted(l.name) + ": tls.acme.storage " +
                                  l.tls->acme->storage + " is already used by listener " +
                                  quoted(it->second->name));
  }
}

// A route that keeps its Idempotency-Keys in the fleet's etcd needs the fleet: section that
// says where etcd is.
void ConfigReader::checkFleetStores(const Config& c) {
  if (c.fleet.enabled()) return;
  for (const auto& l : c.listeners) {
    if (!l.tls || !l.tls->acme || !l.tls->acme->inFleet()) continue;
    d_.add(l.tls->acme->mark, "listener " + quoted(l.name) +
                                  ": tls.acme.storage: fleet needs a fleet: section (the etcd "
                                  "cluster that holds the account, certificates and challenges); "
                                  "without one, give a directory");
  }
  for (size_t i = 0; i < c.routes.size(); ++i) {
    if (c.routes[i].idempotency.store != Idempotency::Store::Fleet) continue;
    d_.add(c.routes[i].idempotency.mark,
           "routes[" + std::to_string(i) +
               "].idempotency.store: fleet needs a fleet: section "
               "(the etcd cluster that holds the keys); without one, use store: local");
  }
}

void ConfigReader::checkReferences(const Config& c) {
  for (const auto& ref : references_) {
    if (defined_.count({ref.kind, ref.name})) continue;
    std::string known;
    int listed = 0;
    for (const auto& [key, mark] : defined_) {
      if (key.first != ref.kind) continue;
      if (listed++ == kMaxNamesListed) {
        known += ", ...";
        break;
      }
      known += (known.empty() ? "" : ", ") + key.second;
    }
    std::string kind = kindName(static_cast<int>(ref.kind));
    d_.add(ref.at,
           ref.path + ": unknown " + kind + " " + quoted(ref.name) +
               (known.empty() ? " (no " + kind + "s are defined)" : " (known: " + known + ")"));
  }
}

}  // namespace meridian::config
