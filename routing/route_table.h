#pragma once
// Route match: the most specific host (exact, then the longest `*.suffix`, then any), then the
// longest path prefix among that host's routes. Built once per config snapshot.
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace meridian::routing {

class RouteTable {
 public:
  explicit RouteTable(const config::Config& cfg);

  // `host` as the client sent it (any case, may carry a port); `path` the request path.
  // Returns nullptr when no route matches.
  const config::Route* match(std::string_view host, std::string_view path) const;

  // Lower-cases and strips the port (and IPv6 brackets are kept intact): "App.Example.com:8443"
  // -> "app.example.com". Writes into `out` (reused by the caller to avoid allocation).
  static std::string_view normalizeHost(std::string_view host, std::string& out);

 private:
  struct Entry {
    const config::Route* route;
    std::string host;  // lower-case; for wildcards the suffix including the dot: ".example.com"
    int host_rank;     // 3 exact, 2 wildcard, 1 any
  };
  std::vector<Entry> entries_;
};

}  // namespace meridian::routing
