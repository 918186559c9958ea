#pragma once
// A fleet config (docs/fleet.md) is the part of a config file that is the same on every
// instance: regions, clusters, routes, routing, limits. Everything else (listeners,
// certificates, admin, geo, dns, workers, access_log, fleet) is per host and stays in each
// instance's own file. What an instance serves is its file with the fleet keys replaced by
// the fleet config's, loaded and validated by the same loader as a file.
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"

namespace meridian::config {

bool isFleetKey(std::string_view top_level_key);

// The fleet config `fleet_yaml` with the per-host keys of `local_yaml` (the instance's file).
// Diagnostics name `fleet_name` and keep the fleet config's own line numbers.
LoadResult loadMerged(const std::string& local_yaml, const std::string& fleet_yaml,
                      const std::string& fleet_name);

// Checks a fleet config before it is pushed: only fleet keys, and valid once given a
// stand-in listener and fleet: section. Empty when it may be pushed.
std::vector<Diagnostic> checkFleetConfig(const std::string& fleet_yaml, const std::string& name);

}  // namespace meridian::config
