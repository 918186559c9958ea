#include "proxy/server/fleet_link.h"

#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "config/units.h"
#include "core/file_read.h"

namespace meridian::proxy {

std::shared_ptr<const config::Config> withRegisteredEndpoints(
    const config::Config& base, const std::map<std::string, std::string>& endpoints,
    std::string* skipped) {
  auto cfg = std::make_shared<config::Config>(base);
  // Per cluster, the addresses it lists: 10,000 registered endpoints are one lookup each.
  std::map<std::string, std::set<std::string>, std::less<>> listed;
  for (const auto& c : cfg->clusters) {
    auto& addresses = listed[c.name];
    for (const auto& e : c.endpoints) addresses.insert(e.address.text());
  }
  for (const auto& [name, value] : endpoints) {
    size_t a = name.find('/');
    size_t b = a == std::string::npos ? a : name.find('/', a + 1);
    auto skip = [&](const char* why) {
      if (skipped) *skipped += "endpoints/" + name + ": " + why + "\n";
    };
    if (b == std::string::npos) {
      skip("expected endpoints/<cluster>/<region>/<host:port>");
      continue;
    }
    std::string cluster = name.substr(0, a);
    std::string region = name.substr(a + 1, b - a - 1);
    auto address = config::parseHostPort(name.substr(b + 1));
    auto c = std::find_if(cfg->clusters.begin(), cfg->clusters.end(),
                          [&](const config::Cluster& x) { return x.name == cluster; });
    if (c == cfg->clusters.end()) {
      skip("no such cluster");
    } else if (cfg->findRegion(region) == nullptr) {
      skip("no such region");
    } else if (!address || address->port == 0) {
      skip("not a host:port");
    } else {
      if (!listed[cluster].insert(address->text()).second) continue;
      config::Endpoint e(*address, region);
      e.await_first_check = true;
      c->endpoints.push_back(std::move(e));
    }
  }
  return cfg;
}

bool writeFleetCache(const std::string& path, const fleet::FleetView& view, std::string* error) {
  nlohmann::json j = {{"revision", view.revision},
                      {"config_revision", view.config_revision},
                      {"config", view.config},
                      {"endpoints", view.endpoints}};
  std::string tmp = path + ".tmp";
  FILE* f = fopen(tmp.c_str(), "w");
  if (f == nullptr) {
    if (error) *error = tmp + ": " + strerror(errno);
    return false;
  }
  std::string text = j.dump();
  bool ok = fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = fclose(f) == 0 && ok;
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    if (error) *error = path + ": " + strerror(errno);
    return false;
  }
  return true;
}

std::optional<fleet::FleetView> readFleetCache(const std::string& path, std::string* error) {
  auto text = core::readRegularFile(path, core::kConfigFileLimit);
  if (!text.ok()) {
    if (error) *error = text.error().detail;
    return std::nullopt;
  }
  auto j = nlohmann::json::parse(text.value(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("endpoints") ||
      !j["endpoints"].is_object()) {
    if (error) *error = path + ": not a fleet cache file";
    return std::nullopt;
  }
  fleet::FleetView v;
  v.revision = j.value("revision", int64_t{0});
  v.config_revision = j.value("config_revision", int64_t{0});
  v.config = j.value("config", std::string());
  for (const auto& [k, val] : j["endpoints"].items()) {
    if (val.is_string()) v.endpoints[k] = val.get<std::string>();
  }
  return v;
}

std::string defaultInstanceName() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(getpid());
}

}  // namespace meridian::proxy
