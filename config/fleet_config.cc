#include "config/fleet_config.h"

#include <yaml-cpp/yaml.h>

#include <array>

namespace meridian::config {
namespace {

constexpr std::array<std::string_view, 5> kFleetKeys = {"regions", "clusters", "routes", "routing",
                                                        "limits"};

// The per-host keys of `local_yaml`, as YAML text to put after a fleet config. Throws what
// yaml-cpp throws.
std::string perHostPart(const std::string& local_yaml) {
  YAML::Node local = YAML::Load(local_yaml);
  if (!local.IsMap()) return "";
  YAML::Node out(YAML::NodeType::Map);
  for (const auto& kv : local) {
    std::string key = kv.first.Scalar();
    if (!isFleetKey(key)) out[key] = kv.second;
  }
  YAML::Emitter e;
  e << out;
  return e.c_str();
}

// The fleet config's top-level keys that are per host (listed in its diagnostics).
std::vector<Diagnostic> perHostKeysIn(const std::string& fleet_yaml, const std::string& name) {
  std::vector<Diagnostic> out;
  YAML::Node doc = YAML::Load(fleet_yaml);
  if (doc.IsNull()) return out;
  if (!doc.IsMap()) {
    out.push_back({name, 1, 1, "a fleet config must be a map of regions, clusters, routes..."});
    return out;
  }
  for (const auto& kv : doc) {
    std::string key = kv.first.Scalar();
    if (isFleetKey(key)) continue;
    auto mark = kv.first.Mark();
    out.push_back({name, mark.line + 1, mark.column + 1,
                   key + ": is per host, not part of a fleet config (keep it in each "
                         "instance's own file; a fleet config holds regions, clusters, routes, "
                         "routing and limits)"});
  }
  return out;
}

std::vector<Diagnostic> syntaxError(const YAML::Exception& e, const std::string& name) {
  return {Diagnostic{name, e.mark.line + 1, e.mark.column + 1, "YAML syntax error: " + e.msg}};
}

}  // namespace

bool isFleetKey(std::string_view key) {
  for (auto k : kFleetKeys) {
    if (k == key) return true;
  }
  return false;
}

LoadResult loadMerged(const std::string& local_yaml, const std::string& fleet_yaml,
                      const std::string& fleet_name) {
  LoadResult result;
  try {
    result.diagnostics = perHostKeysIn(fleet_yaml, fleet_name);
    if (!result.diagnostics.empty()) return result;
    // The fleet config first, as written, so its diagnostics point at its own lines.
    return loadString(fleet_yaml + "\n" + perHostPart(local_yaml), fleet_name);
  } catch (const YAML::Exception& e) {
    result.diagnostics = syntaxError(e, fleet_name);
    return result;
  }
}

std::vector<Diagnostic> checkFleetConfig(const std::string& fleet_yaml, const std::string& name) {
  try {
    auto keys = perHostKeysIn(fleet_yaml, name);
    if (!keys.empty()) return keys;
  } catch (const YAML::Exception& e) {
    return syntaxError(e, name);
  }
  // A stand-in fleet: section too: every instance has one, so routes may use store: fleet.
  return loadString(fleet_yaml +
                        "\nlisteners: [{address: \"127.0.0.1:0\"}]\n"
                        "fleet: {etcd: [\"http://127.0.0.1:2379\"], prefix: /stand-in/}\n",
                    name)
      .diagnostics;
}

}  // namespace meridian::config
