#pragma once
// `meridian route explain` and `GET /explain`: where a request would go and why, as JSON.
// The same Router::pick the workers run, over the given health and geo snapshots, plus the
// distances and verdicts an on-call engineer wants to see.
#include <string>

#include "core/error.h"
#include "health/health_snapshot.h"
#include "routing/geo.h"
#include "routing/router.h"

namespace meridian::routing {

struct ExplainInput {
  std::string client_ip;  // required
  std::string host;       // empty: matches routes without a host
  std::string path = "/";
  std::string method = "GET";
  std::string prefer_region;    // as if meridian-prefer-region were sent
  std::string listener_region;  // the listener the request would arrive on
  // Blue-green: as if the request carried this Cookie header value and meridian-backend header
  // (with `override_trusted`: from a trusted proxy).
  std::string cookie;
  std::string backend_override;
  bool override_trusted = false;
};

// Returns the JSON text (pretty-printed), or, for a client_ip that is not an IP address, an
// Error{ProtocolError, Downstream} (a 400 on /explain, exit 1 from `meridian route explain`).
core::Result<std::string> explainJson(const Router& router, const health::HealthSnapshot& health,
                                      const GeoDb& geo, const ExplainInput& in);

}  // namespace meridian::routing
