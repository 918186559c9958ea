// routes[]: match, weighted backends, residency, replay and timeouts.
#include <algorithm>
#include <cctype>
#include <set>

#include "config/config_reader.h"
#include "core/grpc.h"
#include "config/units.h"

namespace meridian::config {
namespace {

// Host patterns are names or addresses without a port; reuse the address grammar for them.
bool isHostPattern(const std::string& host) {
  std::string name = host.rfind("*.", 0) == 0 ? host.substr(2) : host;
  return parseHostPort(name + ":1").has_value() && name.find(':') == std::string::npos;
}

bool isReplayStatus(std::string_view s) {
  return s.size() == 3 && s[0] == '5' && std::isdigit(static_cast<unsigned char>(s[1])) &&
         std::isdigit(static_cast<unsigned char>(s[2]));
}

}  // namespace

Route ConfigReader::readRoute(const ListItem& item) {
  Route r;
  r.mark = item.mark;
  MapReader m(
      d_, item.node, item.mark, item.path,
      {"name", "match", "backends", "affinity", "allow_override", "primary_region", "residency",
       "replay", "pin_after_write", "all_unhealthy", "compat", "timeouts", "idempotency"});
  if (!m.isMap()) return r;
  if (m.require("name")) readName(m, Kind::Route, r.name);
  if (m.has("match")) r.match = readMatch(m);
  r.backends = readBackends(m);
  std::string affinity;
  if (m.readOneOf("affinity", {"none", "cookie", "client_ip"}, affinity)) {
    r.affinity = affinity == "cookie"      ? Affinity::Cookie
                 : affinity == "client_ip" ? Affinity::ClientIp
                                           : Affinity::None;
  }
  m.read("allow_override", r.allow_override);
  if (m.read("primary_region", r.primary_region)) {
    refer(Kind::Region, r.primary_region, m.valueMark("primary_region"),
          m.pathOf("primary_region"));
  }
  readResidency(m, r);
  if (m.has("replay")) r.replay = readReplay(m);
  m.readDuration("pin_after_write", r.pin_after_write);
  std::string all_unhealthy;
  if (m.readOneOf("all_unhealthy", {"reject", "route_anyway"}, all_unhealthy)) {
    r.all_unhealthy =
        all_unhealthy == "route_anyway" ? AllUnhealthy::RouteAnyway : AllUnhealthy::Reject;
  }
  m.readOneOf("compat", {"fly"}, r.compat);
  if (m.has("timeouts")) r.timeouts = readTimeouts(m);
  if (m.has("idempotency")) r.idempotency = readIdempotency(m);
  // A hedge sent after the first attempt timed out would be a replay, not a hedge.
  const Hedge& hedge = r.replay.hedge;
  if (hedge.after.count() > 0 && hedge.after >= r.timeouts.per_try) {
    d_.add(m.valueMark("replay"), m.pathOf("replay") +
                                      ".hedge.after: " + std::to_string(hedge.after.count()) +
                                      "ms" + " must be below timeouts.per_try (" +
                                      std::to_string(r.timeouts.per_try.count()) + "ms" + ")");
  }
  return r;
}

Match ConfigReader::readMatch(const MapReader& route) {
  Match match;
  MapReader m(d_, route.find("match")->value, route.valueMark("match"), route.pathOf("match"),
              {"host", "path_prefix"});
  std::string host;
  if (m.read("host", host)) {
    host = lowercase(host);  // host names compare case-insensitively
    if (host == "*") host.clear();
    if (host.empty() || isHostPattern(host)) {
      match.host = host;
    } else {
      d_.add(m.valueMark("host"), m.pathOf("host") +
                                      ": expected a host name, *.suffix or *, without a port, "
                                      "got " +
                                      quoted(host));
    }
  }
  std::string prefix;
  if (m.read("path_prefix", prefix)) {
    if (prefix.empty() || prefix[0] != '/') {
      d_.add(m.valueMark("path_prefix"),
             m.pathOf("path_prefix") + ": must start with '/', got " + quoted(prefix));
    } else {
      match.path_prefix = prefix;
    }
  }
  return match;
}

std::vector<Backend> ConfigReader::readBackends(const MapReader& route) {
  std::vector<Backend> backends;
  if (!route.require("backends")) return backends;
  std::set<std::string> clusters;
  uint64_t total = 0;
  for (const auto& item : route.list("backends")) {
    Backend b;
    b.mark = item.mark;
    MapReader m(d_, item.node, item.mark, item.path, {"cluster", "weight"});
    if (m.require("cluster") && m.read("cluster", b.cluster)) {
      refer(Kind::Cluster, b.cluster, m.valueMark("cluster"), m.pathOf("cluster"));
      if (!clusters.insert(b.cluster).second) {
        d_.add(m.valueMark("cluster"),
               m.pathOf("cluster") + ": cluster " + quoted(b.cluster) + " is listed twice");
      }
    }
    int64_t weight = b.weight;
    if (const auto* w = m.find("weight")) {
      readInt(d_, w->value, m.valueMark("weight"), m.pathOf("weight"), 0, UINT32_MAX, weight);
    }
    b.weight = static_cast<uint32_t>(weight);
    total += b.weight;
    backends.push_back(b);
  }
  const auto& value = route.find("backends")->value;
  if (backends.empty() && (value.isNull() || value.isSequence())) {
    d_.add(route.valueMark("backends"),
           route.pathOf("backends") + ": at least one backend is required");
  } else if (!backends.empty() && total == 0) {
    d_.add(route.valueMark("backends"),
           route.pathOf("backends") + ": all weights are 0; give one backend a positive weight");
  }
  return backends;
}

void ConfigReader::readResidency(const MapReader& route, Route& r) {
  const auto* e = route.find("residency");
  if (!e) return;
  auto m =
      MapReader::anyKeys(d_, e->value, route.valueMark("residency"), route.pathOf("residency"));
  for (const auto& entry : m.entries()) {
    if (d_.full()) return;
    if (!isCountryCode(entry.key)) {
      d_.add(markOf(entry.key_node), m.path() +
                                         ": expected a two-letter ISO country code "
                                         "such as DE, got " +
                                         quoted(entry.key));
      continue;
    }
    std::vector<std::string> regions;
    for (const auto& item : m.list(entry.key)) {
      std::string name;
      if (!readString(d_, item.node, item.mark, item.path, name)) continue;
      refer(Kind::Region, name, item.mark, item.path);
      regions.push_back(name);
    }
    if (regions.empty() && (entry.value.isNull() || entry.value.isSequence())) {
      // An empty list would forbid every region: those clients could never be served.
      d_.add(m.valueMark(entry.key), m.pathOf(entry.key) + ": at least one region is required");
    }
    r.residency[entry.key] = regions;
  }
}

// idempotency: { store: local | fleet }. Whether a fleet: section exists is checked once the
// whole file is read (checkReferences).
Idempotency ConfigReader::readIdempotency(const MapReader& route) {
  Idempotency out;
  out.mark = route.valueMark("idempotency");
  MapReader m(d_, route.find("idempotency")->value, out.mark, route.pathOf("idempotency"),
              {"store"});
  std::string store;
  if (m.readOneOf("store", {"local", "fleet"}, store))
    out.store = store == "fleet" ? Idempotency::Store::Fleet : Idempotency::Store::Local;
  return out;
}

Replay ConfigReader::readReplay(const MapReader& route) {
  Replay replay;
  MapReader m(d_, route.find("replay")->value, route.valueMark("replay"), route.pathOf("replay"),
              {"methods", "on", "max_attempts", "connect_tries_per_region", "body_buffer",
               "backoff", "budget", "hedge"});
  if (m.has("methods")) {
    replay.methods.clear();
    for (const auto& item : m.list("methods")) {
      std::string method;
      if (!readString(d_, item.node, item.mark, item.path, method)) continue;
      if (!isToken(method)) {
        d_.add(item.mark, item.path + ": " + quoted(method) + " is not an HTTP method");
        continue;
      }
      replay.methods.push_back(method);
    }
  }
  readReplayOn(m, replay);
  m.readInt("max_attempts", replay.max_attempts, 1);
  m.readInt("connect_tries_per_region", replay.connect_tries_per_region, 1);
  m.readSize("body_buffer", replay.body_buffer);
  if (const auto* e = m.find("backoff")) {
    MapReader b(d_, e->value, m.valueMark("backoff"), m.pathOf("backoff"), {"base", "max"});
    bool set = b.readDuration("base", replay.backoff_base);
    set = b.readDuration("max", replay.backoff_max) || set;
    if (set && replay.backoff_max < replay.backoff_base) {
      d_.add(b.valueMark(b.has("max") ? "max" : "base"),
             b.path() + ": max (" + std::to_string(replay.backoff_max.count()) +
                 "ms) must be at least base (" + std::to_string(replay.backoff_base.count()) +
                 "ms)");
    }
  }
  m.readPercent("budget", replay.budget_percent);
  if (m.has("hedge")) replay.hedge = readHedge(m);
  return replay;
}

// hedge: { after: 50ms | p95, max: 1, to: next_region | same_region }. `after` is required: a hedge
// needs a moment to wait for.
Hedge ConfigReader::readHedge(const MapReader& replay) {
  Hedge h;
  MapReader m(d_, replay.find("hedge")->value, replay.valueMark("hedge"), replay.pathOf("hedge"),
              {"after", "max", "to"});
  if (!m.isMap()) return h;
  std::string to;
  if (m.readOneOf("to", {"next_region", "same_region"}, to)) h.same_region = to == "same_region";
  std::string after;
  if (m.require("after") && m.read("after", after)) {
    if (after.size() == 3 && after[0] == 'p' &&
        std::isdigit(static_cast<unsigned char>(after[1])) &&
        std::isdigit(static_cast<unsigned char>(after[2]))) {
      h.percentile = (after[1] - '0') * 10 + (after[2] - '0');
      if (h.percentile < 50) {
        d_.add(m.valueMark("after"),
               m.pathOf("after") + ": a percentile must be p50 to p99, got " + quoted(after));
        h.percentile = 0;
      }
    } else if (auto d = parseDuration(after)) {
      if (d->count() > 0)
        h.after = *d;
      else
        d_.add(m.valueMark("after"), m.pathOf("after") + ": must be above 0, got " + after);
    } else {
      d_.add(m.valueMark("after"), m.pathOf("after") + ": expected a duration (50ms) or a " +
                                       "percentile of the route's latency (p50 to p99), got " +
                                       quoted(after));
    }
  }
  m.readInt("max", h.max, 1, 3);
  return h;
}

void ConfigReader::readReplayOn(const MapReader& m, Replay& out) {
  if (!m.has("on")) return;
  out.on.clear();
  for (const auto& item : m.list("on")) {
    std::string cause;
    if (!readString(d_, item.node, item.mark, item.path, cause)) continue;
    // gRPC status names (unavailable, resource_exhausted...): a call answered with that
    // grpc-status in a trailers-only response.
    if (cause == "connect_failure" || cause == "reset" || cause == "timeout" ||
        isReplayStatus(cause) || core::grpc::codeByName(cause) > 0) {
      out.on.push_back(cause);
      continue;
    }
    d_.add(item.mark, item.path +
                          ": expected connect_failure, reset, timeout, a 5xx status or a gRPC "
                          "status name (unavailable, resource_exhausted, ...), got " +
                          quoted(cause));
  }
}

Timeouts ConfigReader::readTimeouts(const MapReader& route) {
  Timeouts t;
  MapReader m(d_, route.find("timeouts")->value, route.valueMark("timeouts"),
              route.pathOf("timeouts"), {"connect", "per_try", "request", "idle", "unacked"});
  m.readDuration("connect", t.connect, Duration{1});
  m.readDuration("per_try", t.per_try, Duration{1});
  m.readDuration("request", t.request, Duration{1});
  m.readDuration("idle", t.idle, Duration{1});
  m.readDuration("unacked", t.unacked);
  return t;
}

void ConfigReader::checkRouteMatches(const std::vector<Route>& routes) {
  std::map<std::pair<std::string, std::string>, const Route*> seen;
  for (const auto& r : routes) {
    if (r.name.empty()) continue;  // already reported; a second report would be noise
    auto [it, inserted] = seen.try_emplace({r.match.host, r.match.path_prefix}, &r);
    if (inserted) continue;
    // Matching picks the longest prefix, so of two equal matches the second never wins.
    d_.add(r.mark, "route " + quoted(r.name) + " has the same match as route " +
                       quoted(it->second->name) + " and would never be chosen");
  }
}

}  // namespace meridian::config
