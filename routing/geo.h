#pragma once
// Where a client is: its address (the socket peer, or what a trusted proxy says), and that
// address's location from operator overrides or a MaxMind DB (GeoIP2/GeoLite2 City layout,
// or a flat layout such as the ip-location-db packages), or several, tried in order. Each
// database is memory-mapped once and shared read-only by every worker; a reload opens a new
// GeoDb and swaps the pointer.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/error.h"

namespace meridian::routing {

// An IPv4 or IPv6 address as 16 bytes (IPv4 as v4-mapped ::ffff:a.b.c.d), the form
// config::Cidr::contains() takes.
struct IpAddress {
  uint8_t bytes[16] = {};
  bool v4() const;
  std::string text() const;                                  // "192.0.2.1" / "2001:db8::1"
  static bool parse(std::string_view text, IpAddress& out);  // no port, no brackets
  static IpAddress fromSockaddr(const sockaddr_storage& ss);
};

struct GeoLocation {
  bool known = false;  // false: no override and no database record (or no coordinates)
  double lat = 0;
  double lon = 0;
  std::string country;          // ISO 3166-1 alpha-2, upper case; may be empty even when known
  const char* source = "none";  // "override" | "database" | "none"
};

class GeoDb {
 public:
  // Opens every database of `cfg.databases` (memory-mapped) and checks it: a missing,
  // truncated or corrupt file, one that is not a regular file or is over kGeoDatabaseLimit,
  // or paths that lead nowhere in it, is an error naming the file (after
  // "CONFIG:LINE:COL: " when `config_file` is given). No databases gives a GeoDb that knows
  // only the overrides. Paths left empty in `cfg` are chosen per database from its
  // layout (GeoIP2 City: location.latitude, location.longitude, country.iso_code; flat:
  // latitude, longitude, country_code).
  static core::Result<std::shared_ptr<const GeoDb>> open(const config::Geo& cfg,
                                                         const std::string& config_file = "");
  ~GeoDb();

  // Overrides first (most specific CIDR wins), then the databases in order: the first with a
  // record (with coordinates) for the address wins.
  GeoLocation lookup(const IpAddress& ip) const;

  // For logs and `route explain`: "GeoLite2-City, built 2026-11-01, paths location.latitude
  // location.longitude country.iso_code, N overrides" (parts joined by "; " for several databases) or
  // "overrides only (N)".
  std::string describe() const;

 private:
  GeoDb() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The client's address: the socket peer, unless the peer is in `trusted`; then the
// right-most address in the `header_values` (every x-forwarded-for field, in order, each a
// comma list) that is not itself trusted. A header from an untrusted peer is ignored, so a
// client cannot spoof its location. Malformed entries end the walk (the last good one wins).
IpAddress clientAddress(const IpAddress& peer, const std::vector<std::string_view>& header_values,
                        const std::vector<config::Cidr>& trusted);

// Great-circle distance in kilometres (haversine, mean Earth radius 6371 km).
double distanceKm(double lat1, double lon1, double lat2, double lon2);

}  // namespace meridian::routing
