#pragma once
// What an instance makes of its fleet's keys (docs/fleet.md): the config it serves is its
// own file's per-host keys with the fleet config's regions, clusters, routes..., plus the
// endpoints registered under endpoints/<cluster>/<region>/<address>. A registered endpoint
// joins as a DNS endpoint's new address does: after its first passing check when its cluster
// has health checks. One whose key goes is dropped from the next config; requests already
// sent to it finish on their snapshot.
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "config/config.h"
#include "fleet/fleet_agent.h"

namespace meridian::proxy {

// `base` with the registered endpoints ("cluster/region/host:port") added to their clusters.
// Keys naming a cluster or region the config does not have, or a bad address, are skipped
// and listed in `skipped`; an address the cluster already lists is not added twice.
std::shared_ptr<const config::Config> withRegisteredEndpoints(
    const config::Config& base, const std::map<std::string, std::string>& endpoints,
    std::string* skipped);

// The cache file: the last fleet view applied, read at start when etcd cannot be reached.
// Written whole under a temporary name, then renamed.
bool writeFleetCache(const std::string& path, const fleet::FleetView& view, std::string* error);
std::optional<fleet::FleetView> readFleetCache(const std::string& path, std::string* error);

// The instance name when fleet.instance is not set: host name and pid.
std::string defaultInstanceName();

}  // namespace meridian::proxy
