// clusters[]: endpoints in regions, active health checks, passive outlier ejection, pools.
#include <set>

#include "config/config_reader.h"

namespace meridian::config {

Cluster ConfigReader::readCluster(const ListItem& item) {
  Cluster c;
  c.mark = item.mark;
  MapReader m(d_, item.node, item.mark, item.path,
              {"name", "endpoints", "health_check", "outlier", "pool", "tls", "limits", "spill",
               "dns_refresh", "protocol"});
  if (!m.isMap()) return c;
  if (m.require("name")) readName(m, Kind::Cluster, c.name);
  std::set<std::string> addresses;
  for (const auto& e : m.list("endpoints")) {
    Endpoint ep = readEndpoint(e);
    if (ep.address.host.empty()) {
      c.endpoints.push_back(ep);
      continue;
    }
    // The same endpoint twice would silently get twice its share of the load.
    if (!addresses.insert(ep.address.text()).second) {
      d_.add(e.mark, e.path + ": endpoint " + ep.address.text() + " is listed twice");
    }
    c.endpoints.push_back(ep);
  }
  const auto* endpoints = m.find("endpoints");
  if (!endpoints) {
    m.require("endpoints");
  } else if (c.endpoints.empty() && (endpoints->value.isNull() || endpoints->value.isSequence())) {
    d_.add(m.valueMark("endpoints"), m.pathOf("endpoints") + ": at least one endpoint is required");
  }
  if (m.has("health_check")) c.health_check = readHealthCheck(m);
  if (m.has("outlier")) c.outlier = readOutlier(m);
  if (m.has("pool")) c.pool = readPool(m);
  if (m.has("tls")) c.tls = readUpstreamTls(m);
  if (m.has("limits")) c.capacity = readCapacity(m);
  m.readDuration("dns_refresh", c.dns_refresh, Duration{1});
  readProtocol(m, c);
  std::string spill;
  if (m.readOneOf("spill", {"soft", "hard"}, spill))
    c.spill = spill == "hard" ? Spill::Hard : Spill::Soft;
  return c;
}

// limits: {soft, hard}. Either alone is allowed: hard alone never spills before it, soft alone
// spills but never refuses.
Capacity ConfigReader::readCapacity(const MapReader& cluster) {
  Capacity c;
  MapReader m(d_, cluster.find("limits")->value, cluster.valueMark("limits"),
              cluster.pathOf("limits"), {"soft", "hard"});
  m.readInt("soft", c.soft, 1);
  m.readInt("hard", c.hard, 1);
  if (c.soft > 0 && c.hard > 0 && c.soft > c.hard) {
    d_.add(m.valueMark("soft"), m.pathOf("soft") + ": must not exceed hard (" +
                                    std::to_string(c.hard) + "), got " + std::to_string(c.soft));
    c.soft = c.hard;
  }
  return c;
}

Endpoint ConfigReader::readEndpoint(const ListItem& item) {
  Endpoint ep;
  ep.mark = item.mark;
  MapReader m(d_, item.node, item.mark, item.path, {"address", "region"});
  if (!m.isMap()) return ep;
  HostPort address;
  if (m.require("address") && m.readHostPort("address", address)) {
    if (address.port == 0) {
      d_.add(m.valueMark("address"), m.pathOf("address") + ": port 0 is only valid on a listener");
    } else {
      ep.address = address;
    }
  }
  if (m.require("region") && m.read("region", ep.region)) {
    refer(Kind::Region, ep.region, m.valueMark("region"), m.pathOf("region"));
  }
  return ep;
}

HealthCheck ConfigReader::readHealthCheck(const MapReader& cluster) {
  HealthCheck h;
  MapReader m(d_, cluster.find("health_check")->value, cluster.valueMark("health_check"),
              cluster.pathOf("health_check"),
              {"path", "interval", "timeout", "healthy_threshold", "unhealthy_threshold", "jitter",
               "unhealthy_interval", "assume_healthy", "source"});
  std::string path;
  if (m.read("path", path)) {
    if (path.empty() || path[0] != '/') {
      d_.add(m.valueMark("path"), m.pathOf("path") + ": must start with '/', got " + quoted(path));
    } else {
      h.path = path;
    }
  }
  m.readDuration("interval", h.interval, Duration{1});
  m.readDuration("timeout", h.timeout, Duration{1});
  m.readInt("healthy_threshold", h.healthy_threshold, 1);
  m.readInt("unhealthy_threshold", h.unhealthy_threshold, 1);
  m.readPercent("jitter", h.jitter_percent);
  m.readDuration("unhealthy_interval", h.unhealthy_interval, Duration{1});
  m.read("assume_healthy", h.assume_healthy);
  std::string source;
  if (m.readOneOf("source", {"local", "fleet"}, source)) h.fleet_source = source == "fleet";
  return h;
}

Outlier ConfigReader::readOutlier(const MapReader& cluster) {
  Outlier o;
  MapReader m(d_, cluster.find("outlier")->value, cluster.valueMark("outlier"),
              cluster.pathOf("outlier"),
              {"consecutive_failures", "ejection", "max_ejection", "max_ejection_percent",
               "failure_percentage", "failure_percentage_min_requests",
               "failure_percentage_interval"});
  m.readInt("consecutive_failures", o.consecutive_failures, 1);
  bool set = m.readDuration("ejection", o.ejection, Duration{1});
  set = m.readDuration("max_ejection", o.max_ejection, Duration{1}) || set;
  if (set && o.max_ejection < o.ejection) {
    // Ejections grow from `ejection` up to this cap; a cap below the start is a typo.
    std::string key = m.has("max_ejection") ? "max_ejection" : "ejection";
    d_.add(m.valueMark(key),
           m.path() + ": max_ejection (" + std::to_string(o.max_ejection.count()) +
               "ms) must be at least ejection (" + std::to_string(o.ejection.count()) + "ms)");
  }
  m.readPercent("max_ejection_percent", o.max_ejection_percent);
  m.readPercent("failure_percentage", o.failure_percentage);
  m.readInt("failure_percentage_min_requests", o.failure_percentage_min_requests, 1);
  m.readDuration("failure_percentage_interval", o.failure_percentage_interval, Duration{1});
  return o;
}

// protocol: http1 | h2 | h2c | auto. h2 is negotiated by ALPN, so it needs `tls`; h2c is the
// plain-text form and cannot go over TLS.
void ConfigReader::readProtocol(const MapReader& m, Cluster& c) {
  std::string p;
  if (!m.readOneOf("protocol", {"http1", "h2", "h2c", "auto"}, p)) return;
  c.protocol = p == "h2"    ? UpstreamProtocol::H2
               : p == "h2c" ? UpstreamProtocol::H2c
               : p == "auto" ? UpstreamProtocol::Auto
                             : UpstreamProtocol::Http1;
  if (c.protocol == UpstreamProtocol::H2 && !c.tls) {
    d_.add(m.valueMark("protocol"),
           m.pathOf("protocol") +
               ": h2 is negotiated over TLS (ALPN) and needs `tls`; use h2c for HTTP/2 on "
               "plain TCP");
  }
  if (c.protocol == UpstreamProtocol::H2c && c.tls) {
    d_.add(m.valueMark("protocol"),
           m.pathOf("protocol") + ": h2c is HTTP/2 on plain TCP; with `tls` use h2 (or auto)");
  }
}

Pool ConfigReader::readPool(const MapReader& cluster) {
  Pool p;
  MapReader m(d_, cluster.find("pool")->value, cluster.valueMark("pool"), cluster.pathOf("pool"),
              {"max_connections", "max_pending", "idle_timeout", "h2_ping_interval"});
  m.readInt("max_connections", p.max_connections, 1);
  m.readInt("max_pending", p.max_pending, 0);
  m.readDuration("idle_timeout", p.idle_timeout, Duration{1});
  m.readDuration("h2_ping_interval", p.h2_ping_interval, Duration{1});
  return p;
}

UpstreamTls ConfigReader::readUpstreamTls(const MapReader& cluster) {
  UpstreamTls t;
  t.mark = cluster.valueMark("tls");
  MapReader m(d_, cluster.find("tls")->value, t.mark, cluster.pathOf("tls"),
              {"ca", "server_name", "client_cert", "min_version", "verify", "allow_unverified"});
  if (m.read("ca", t.ca)) {
    t.ca_mark = m.valueMark("ca");
    if (t.ca.empty())
      d_.add(t.ca_mark, m.pathOf("ca") + ": must not be empty (leave it out for the system store)");
  }
  if (m.read("server_name", t.server_name) && t.server_name.empty())
    d_.add(m.valueMark("server_name"), m.pathOf("server_name") + ": must not be empty");
  if (const auto* cc = m.find("client_cert")) {
    TlsCertificate cert;
    cert.mark = m.valueMark("client_cert");
    MapReader cm(d_, cc->value, cert.mark, m.pathOf("client_cert"), {"cert", "key"});
    if (cm.require("cert") && cm.read("cert", cert.cert)) cert.cert_mark = cm.valueMark("cert");
    if (cm.require("key") && cm.read("key", cert.key)) cert.key_mark = cm.valueMark("key");
    t.client_cert = cert;
  }
  m.readOneOf("min_version", {"1.2", "1.3"}, t.min_version);
  m.read("verify", t.verify);
  m.read("allow_unverified", t.allow_unverified);
  // Turning verification off by mistake (a copied example, a typo) would hand the traffic to
  // whoever answers: it takes a second key that says so.
  if (!t.verify && !t.allow_unverified) {
    d_.add(m.valueMark("verify"), m.pathOf("verify") +
                                      ": false turns off certificate verification; it needs "
                                      "allow_unverified: true beside it");
  }
  return t;
}

}  // namespace meridian::config
