// clusters[]: endpoints in regions, active health checks, passive outlier ejection, pools.
#include <set>

#include "config/config_reader.h"

namespace meridian::config {

Cluster ConfigReader::readCluster(const ListItem& item) {
  Cluster c;
  c.mark = item.mark;
  MapReader m(d_, item.node, item.mark, item.path,
              {"name", "endpoints", "health_check", "outlier", "pool"});
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
               "unhealthy_interval", "assume_healthy"});
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
  return h;
}

Outlier ConfigReader::readOutlier(const MapReader& cluster) {
  Outlier o;
  MapReader m(d_, cluster.find("outlier")->value, cluster.valueMark("outlier"),
              cluster.pathOf("outlier"),
              {"consecutive_failures", "ejection", "max_ejection", "max_ejection_percent"});
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
  return o;
}

Pool ConfigReader::readPool(const MapReader& cluster) {
  Pool p;
  MapReader m(d_, cluster.find("pool")->value, cluster.valueMark("pool"), cluster.pathOf("pool"),
              {"max_connections", "max_pending", "idle_timeout"});
  m.readInt("max_connections", p.max_connections, 1);
  m.readInt("max_pending", p.max_pending, 0);
  m.readDuration("idle_timeout", p.idle_timeout, Duration{1});
  return p;
}

}  // namespace meridian::config
