#include "routing/geo.h"

#include <arpa/inet.h>
#include <maxminddb.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <algorithm>

namespace meridian::routing {

namespace {

constexpr uint8_t kV4Prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
constexpr double kEarthRadiusKm = 6371.0;
constexpr double kDegToRad = M_PI / 180.0;

// "location.latitude" -> {"location", "latitude"}; empty segments are an error.
bool splitPath(const std::string& dotted, std::vector<std::string>& out) {
  out.clear();
  size_t start = 0;
  while (start <= dotted.size()) {
    size_t dot = dotted.find('.', start);
    std::string part = dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) return false;
    out.push_back(part);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return !out.empty();
}

// Addresses worth probing: public resolvers (in every real database) and the test ranges.
constexpr const char* kProbes[] = {"1.1.1.1",     "8.8.8.8",     "9.9.9.9",  "100.64.0.1",
                                   "192.0.2.1",   "198.51.100.1", "203.0.113.1",
                                   "2001:db8:1::1", "2606:4700::1111"};

// Layout: GeoIP2/GeoLite2 City records nest coordinates under `location`; flat databases (the
// ip-location-db packages) keep them at the top level. The records say which; the type name
// decides only when no probe address is in the database.
bool nestedLayout(MMDB_s& mmdb, const std::string& type) {
  for (const char* probe : kProbes) {
    int gai = 0, err = MMDB_SUCCESS;
    MMDB_lookup_result_s r = MMDB_lookup_string(&mmdb, probe, &gai, &err);
    if (gai != 0 || err != MMDB_SUCCESS || !r.found_entry) continue;
    MMDB_entry_data_s data;
    const char* location[] = {"location", nullptr};
    if (MMDB_aget_value(&r.entry, &data, location) == MMDB_SUCCESS && data.has_data) return true;
    const char* latitude[] = {"latitude", nullptr};
    if (MMDB_aget_value(&r.entry, &data, latitude) == MMDB_SUCCESS && data.has_data) return false;
  }
  return type.find("GeoIP2") != std::string::npos || type.find("GeoLite2") != std::string::npos;
}

}  // namespace

struct GeoDb::Impl {
  bool has_db = false;
  MMDB_s mmdb{};
  std::string file;
  std::vector<std::string> lat_path, lon_path, country_path;
  std::vector<const char*> lat_c, lon_c, country_c;  // NULL-terminated, for MMDB_aget_value
  std::vector<config::GeoOverride> overrides;         // most specific first
  std::string description;

  ~Impl() {
    if (has_db) MMDB_close(&mmdb);
  }

  static void terminate(const std::vector<std::string>& parts, std::vector<const char*>& c) {
    c.clear();
    for (const auto& p : parts) c.push_back(p.c_str());
    c.push_back(nullptr);
  }

  // A number stored as double, float, integer or (in some flat databases) a string.
  static bool number(MMDB_entry_s* entry, const std::vector<const char*>& path, double& out) {
    MMDB_entry_data_s data;
    if (MMDB_aget_value(entry, &data, path.data()) != MMDB_SUCCESS || !data.has_data) return false;
    switch (data.type) {
      case MMDB_DATA_TYPE_DOUBLE: out = data.double_value; return true;
      case MMDB_DATA_TYPE_FLOAT: out = data.float_value; return true;
      case MMDB_DATA_TYPE_INT32: out = data.int32; return true;
      case MMDB_DATA_TYPE_UINT16: out = data.uint16; return true;
      case MMDB_DATA_TYPE_UINT32: out = data.uint32; return true;
      case MMDB_DATA_TYPE_UTF8_STRING: {
        std::string s(data.utf8_string, data.data_size);
        char* end = nullptr;
        errno = 0;
        out = std::strtod(s.c_str(), &end);
        return errno == 0 && end != s.c_str() && *end == '\0';
      }
      default: return false;
    }
  }

  static std::string text(MMDB_entry_s* entry, const std::vector<const char*>& path) {
    MMDB_entry_data_s data;
    if (MMDB_aget_value(entry, &data, path.data()) != MMDB_SUCCESS || !data.has_data ||
        data.type != MMDB_DATA_TYPE_UTF8_STRING)
      return "";
    std::string s(data.utf8_string, data.data_size);
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  }
};

// ---- IpAddress --------------------------------------------------------------------------

bool IpAddress::v4() const { return std::memcmp(bytes, kV4Prefix, 12) == 0; }

std::string IpAddress::text() const {
  char buf[INET6_ADDRSTRLEN];
  if (v4()) inet_ntop(AF_INET, bytes + 12, buf, sizeof buf);
  else inet_ntop(AF_INET6, bytes, buf, sizeof buf);
  return buf;
}

bool IpAddress::parse(std::string_view text, IpAddress& out) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return false;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  in_addr a4;
  if (inet_pton(AF_INET, buf, &a4) == 1) {
    std::memcpy(out.bytes, kV4Prefix, 12);
    std::memcpy(out.bytes + 12, &a4, 4);
    return true;
  }
  return inet_pton(AF_INET6, buf, out.bytes) == 1;  // ::ffff:a.b.c.d lands v4-mapped too
}

IpAddress IpAddress::fromSockaddr(const sockaddr_storage& ss) {
  IpAddress ip;
  if (ss.ss_family == AF_INET) {
    std::memcpy(ip.bytes, kV4Prefix, 12);
    std::memcpy(ip.bytes + 12, &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, 4);
  } else if (ss.ss_family == AF_INET6) {
    std::memcpy(ip.bytes, &reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr, 16);
  }
  return ip;
}

// ---- GeoDb ------------------------------------------------------------------------------

GeoDb::~GeoDb() = default;

core::Result<std::shared_ptr<const GeoDb>> GeoDb::open(const config::Geo& cfg) {
  auto fail = [&](const std::string& why) {
    return core::Error{core::ErrorKind::ConfigInvalid, core::Side::Internal, false,
                       "geo database " + cfg.database + ": " + why};
  };
  std::shared_ptr<GeoDb> db(new GeoDb());
  db->impl_ = std::make_unique<Impl>();
  Impl& m = *db->impl_;
  m.overrides = cfg.overrides;
  std::stable_sort(m.overrides.begin(), m.overrides.end(),
                   [](const auto& a, const auto& b) { return a.cidr.prefix_len > b.cidr.prefix_len; });
  if (cfg.database.empty()) {
    m.description = "overrides only (" + std::to_string(m.overrides.size()) + ")";
    return std::shared_ptr<const GeoDb>(db);
  }
  int rc = MMDB_open(cfg.database.c_str(), MMDB_MODE_MMAP, &m.mmdb);
  if (rc != MMDB_SUCCESS) {
    std::string why = MMDB_strerror(rc);
    if (rc == MMDB_IO_ERROR) why += std::string(": ") + strerror(errno);
    return fail(why);
  }
  m.has_db = true;
  m.file = cfg.database;
  std::string type = m.mmdb.metadata.database_type ? m.mmdb.metadata.database_type : "";
  bool city = nestedLayout(m.mmdb, type);
  std::string lat = cfg.latitude_path, lon = cfg.longitude_path, country = cfg.country_path;
  if (lat.empty()) lat = city ? "location.latitude" : "latitude";
  if (lon.empty()) lon = city ? "location.longitude" : "longitude";
  if (country.empty()) country = city ? "country.iso_code" : "country_code";
  if (!splitPath(lat, m.lat_path) || !splitPath(lon, m.lon_path) ||
      !splitPath(country, m.country_path))
    return fail("a lookup path is empty or has an empty part");
  Impl::terminate(m.lat_path, m.lat_c);
  Impl::terminate(m.lon_path, m.lon_c);
  Impl::terminate(m.country_path, m.country_c);
  // A truncated file fails MMDB_open (its metadata sits at the end); a corrupt one is caught
  // by probe lookups across the address space, now rather than on some client's lookup.
  if (m.mmdb.metadata.node_count == 0) return fail("empty search tree");
  for (const char* probe : kProbes) {
    int gai = 0, err = MMDB_SUCCESS;
    MMDB_lookup_result_s r = MMDB_lookup_string(&m.mmdb, probe, &gai, &err);
    if (err == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR) continue;  // an IPv4-only database
    if (gai == 0 && err != MMDB_SUCCESS) return fail(MMDB_strerror(err));
    if (gai == 0 && r.found_entry) {
      MMDB_entry_data_list_s* list = nullptr;
      int rc2 = MMDB_get_entry_data_list(&r.entry, &list);
      MMDB_free_entry_data_list(list);
      if (rc2 != MMDB_SUCCESS) return fail(MMDB_strerror(rc2));
    }
  }
  char epoch[32] = "?";
  time_t built = static_cast<time_t>(m.mmdb.metadata.build_epoch);
  tm t{};
  if (gmtime_r(&built, &t)) strftime(epoch, sizeof epoch, "%Y-%m-%d", &t);
  m.description = (type.empty() ? std::string("MaxMind DB") : type) + ", built " + epoch +
                  ", paths " + lat + " " + lon + " " + country + ", " +
                  std::to_string(m.overrides.size()) + " overrides";
  return std::shared_ptr<const GeoDb>(db);
}

GeoLocation GeoDb::lookup(const IpAddress& ip) const {
  GeoLocation loc;
  for (const auto& o : impl_->overrides) {
    if (!o.cidr.contains(ip.bytes)) continue;
    loc.known = true;
    loc.lat = o.lat;
    loc.lon = o.lon;
    loc.country = o.country;
    loc.source = "override";
    return loc;
  }
  if (!impl_->has_db) return loc;
  sockaddr_storage ss{};
  if (ip.v4()) {
    auto& s4 = reinterpret_cast<sockaddr_in&>(ss);
    s4.sin_family = AF_INET;
    std::memcpy(&s4.sin_addr, ip.bytes + 12, 4);
  } else {
    auto& s6 = reinterpret_cast<sockaddr_in6&>(ss);
    s6.sin6_family = AF_INET6;
    std::memcpy(&s6.sin6_addr, ip.bytes, 16);
  }
  int err = MMDB_SUCCESS;
  MMDB_lookup_result_s r =
      MMDB_lookup_sockaddr(&impl_->mmdb, reinterpret_cast<const sockaddr*>(&ss), &err);
  if (err != MMDB_SUCCESS || !r.found_entry) return loc;
  double lat = 0, lon = 0;
  if (!Impl::number(&r.entry, impl_->lat_c, lat) || !Impl::number(&r.entry, impl_->lon_c, lon))
    return loc;
  loc.known = true;
  loc.lat = lat;
  loc.lon = lon;
  loc.country = Impl::text(&r.entry, impl_->country_c);
  loc.source = "database";
  return loc;
}

std::string GeoDb::describe() const { return impl_->description; }

// ---- Client address ---------------------------------------------------------------------

namespace {

bool trustedBy(const IpAddress& ip, const std::vector<config::Cidr>& trusted) {
  for (const auto& c : trusted)
    if (c.contains(ip.bytes)) return true;
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// One x-forwarded-for entry: "1.2.3.4", "1.2.3.4:567", "2001:db8::1", "[2001:db8::1]:443".
bool parseEntry(std::string_view e, IpAddress& out) {
  e = trim(e);
  if (!e.empty() && e.front() == '[') {
    size_t close = e.find(']');
    if (close == std::string_view::npos) return false;
    return IpAddress::parse(e.substr(1, close - 1), out);
  }
  size_t colon = e.find(':');
  if (colon != std::string_view::npos && e.find(':', colon + 1) == std::string_view::npos)
    e = e.substr(0, colon);  // exactly one colon: IPv4 with a port
  return IpAddress::parse(e, out);
}

}  // namespace

IpAddress clientAddress(const IpAddress& peer, const std::vector<std::string_view>& header_values,
                        const std::vector<config::Cidr>& trusted) {
  if (!trustedBy(peer, trusted)) return peer;
  IpAddress current = peer;
  // Walk right to left across all the fields (the last field holds the nearest hops).
  for (auto field = header_values.rbegin(); field != header_values.rend(); ++field) {
    std::string_view v = *field;
    while (!v.empty()) {
      size_t comma = v.rfind(',');
      std::string_view entry = comma == std::string_view::npos ? v : v.substr(comma + 1);
      v = comma == std::string_view::npos ? std::string_view() : v.substr(0, comma);
      IpAddress ip;
      if (!parseEntry(entry, ip)) return current;  // garbage: trust nothing further left
      current = ip;
      if (!trustedBy(ip, trusted)) return ip;
    }
  }
  return current;
}

double distanceKm(double lat1, double lon1, double lat2, double lon2) {
  double dlat = (lat2 - lat1) * kDegToRad, dlon = (lon2 - lon1) * kDegToRad;
  double a = std::sin(dlat / 2) * std::sin(dlat / 2) +
             std::cos(lat1 * kDegToRad) * std::cos(lat2 * kDegToRad) * std::sin(dlon / 2) *
                 std::sin(dlon / 2);
  return 2 * kEarthRadiusKm * std::asin(std::sqrt(std::min(1.0, a)));
}

}  // namespace meridian::routing
