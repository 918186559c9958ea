#pragma once
// Internal to config/: walks a parsed YAML document section by section into a Config,
// reporting every problem. One method per section of the schema in docs/config.md; the
// sections live in loader.cc (top level, listeners, geo, regions, limits), cluster_reader.cc
// and route_reader.cc. Names that refer to other sections are checked at the end, since a
// route may name a cluster written further down the file.
#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/yaml_reader.h"

namespace meridian::config {

class ConfigReader {
 public:
  explicit ConfigReader(Diagnostics& d) : d_(d) {}
  void read(const yaml::Node& root, Config& out);

 private:
  enum class Kind { Listener, Region, Cluster, Route };
  struct Reference {
    Kind kind;
    std::string name;
    Mark at;
    std::string path;
  };

  // loader.cc
  void readTop(const MapReader& m, Config& c);
  void readWorkers(const MapReader& m, Config& c);
  void readAccessLog(const MapReader& m, Config& c);
  Listener readListener(const ListItem& item);
  Tls readTls(const MapReader& listener);
  Acme readAcme(const MapReader& tls);
  void readAdmin(const MapReader& top, Admin& out);
  void readGeo(const MapReader& top, Geo& out);
  void readGeoDatabases(const MapReader& geo, Geo& out);
  GeoOverride readOverride(const ListItem& item);
  Region readRegion(const ListItem& item);
  void readLimits(const MapReader& top, Limits& out);
  void readRouting(const MapReader& top, Routing& out);
  void readDns(const MapReader& top, Dns& out);
  void readFleet(const MapReader& top, Fleet& out);
  void checkListenerAddresses(const std::vector<Listener>& listeners);
  void checkReferences(const Config& c);
  void checkFleetStores(const Config& c);

  // cluster_reader.cc
  Cluster readCluster(const ListItem& item);
  Endpoint readEndpoint(const ListItem& item);
  HealthCheck readHealthCheck(const MapReader& cluster);
  Outlier readOutlier(const MapReader& cluster);
  Pool readPool(const MapReader& cluster);
  void readProtocol(const MapReader& m, Cluster& c);
  Capacity readCapacity(const MapReader& cluster);
  UpstreamTls readUpstreamTls(const MapReader& cluster);

  // route_reader.cc
  Route readRoute(const ListItem& item);
  Match readMatch(const MapReader& route);
  std::vector<Backend> readBackends(const MapReader& route);
  void readResidency(const MapReader& route, Route& r);
  Replay readReplay(const MapReader& route);
  void readReplayOn(const MapReader& replay, Replay& out);
  Hedge readHedge(const MapReader& replay);
  Timeouts readTimeouts(const MapReader& route);
  Idempotency readIdempotency(const MapReader& route);
  void checkRouteMatches(const std::vector<Route>& routes);

  // Reads a required `name`: present, non-empty and, for names that travel in headers and
  // cookies (regions, clusters), made of [A-Za-z0-9._-]. Records it for duplicate checks.
  bool readName(const MapReader& m, Kind kind, std::string& out);
  void define(Kind kind, const std::string& name, Mark at, const std::string& path);
  void refer(Kind kind, const std::string& name, Mark at, const std::string& path);

  Diagnostics& d_;
  std::map<std::pair<Kind, std::string>, Mark> defined_;
  std::vector<Reference> references_;
};

}  // namespace meridian::config
