#include "routing/geo.h"

#include <arpa/inet.h>
#include <maxminddb.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <ctime>

#include "core/file_read.h"

namespace meridian::routing {

namespace {

constexpr uint8_t kV4Prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
constexpr double kEarthRadiusKm = 6371.0;
constexpr double kDegToRad = M_PI / 180.0;

// Addresses probed at open, to check the file and learn its layout: long-lived resolver and
// registry addresses, which real databases of either family have records for, and the
// ranges of the test fixtures. (Anycast addresses such as 1.1.1.1 often have none.)
constexpr const char* kProbes[] = {
    "8.8.8.8",                    // Google Public DNS
    "1.1.1.1",                    // Cloudflare
    "9.9.9.9",                    // Quad9
    "193.0.6.139",                // RIPE NCC
    "2001:4860:4860::8888",       // Google Public DNS
    "2001:67c:2e8:22::c100:68b",  // RIPE NCC
    "100.64.0.1",                 // fixtures (RFC 6598, 5737, 3849)
    "192.0.2.1",
    "198.51.100.1",
    "203.0.113.1",
    "2001:db8:1::1",
};

// "location.latitude" -> {"location", "latitude"}; empty segments are an error.
bool splitPath(const std::string& dotted, std::vector<std::string>& out) {
  out.clear();
  size_t start = 0;
  while (start <= dotted.size()) {
    size_t dot = dotted.find('.', start);
    std::string part =
        dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) return false;
    out.push_back(part);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return !out.empty();
}

// Whether a record has a top-level `key` (of `type`, when one is given).
bool hasKey(MMDB_entry_s& entry, const char* key, int type = -1) {
  MMDB_entry_data_s data;
  const char* path[] = {key, nullptr};
  return MMDB_aget_value(&entry, &data, path) == MMDB_SUCCESS && data.has_data &&
         (type < 0 || static_cast<int>(data.type) == type);
}

// GeoIP2/GeoLite2 City records (and DB-IP's GeoIP2-compatible ones) nest coordinates under a
// `location` map; flat databases keep them at the top level. The records decide: the type
// name alone misleads (the flat ip-location-db packages are typed "city ipv4"). The name is
// consulted only when no probe address has a record.
bool nestedLayout(std::vector<MMDB_entry_s>& records, const std::string& type) {
  for (auto& entry : records) {
    if (hasKey(entry, "location", MMDB_DATA_TYPE_MAP)) return true;
    if (hasKey(entry, "latitude")) return false;
  }
  return type.find("City") != std::string::npos || type.find("GeoIP2") != std::string::npos ||
         type.find("GeoLite2") != std::string::npos;
}

// from_chars: locale-independent, and in place, so lookups allocate nothing for it.
bool parseNumber(const char* text, size_t size, double& out) {
  const char* end = text + size;
  if (size > 0 && *text == '+') ++text;  // from_chars takes no plus sign
  auto [ptr, ec] = std::from_chars(text, end, out, std::chars_format::general);
  return ec == std::errc() && ptr == end && text != end;
}

}  // namespace

// One database of the list: its map, its layout and the paths read from its records.
struct Database {
  MMDB_s mmdb{};
  bool open = false;
  std::string file;
  std::string type;
  std::vector<std::string> lat_path, lon_path, country_path;
  std::vector<const char*> lat_c, lon_c, country_c;  // NULL-terminated, for MMDB_aget_value
  std::string description;

  Database() = default;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database() {
    if (open) MMDB_close(&mmdb);
  }

  static void terminate(const std::vector<std::string>& parts, std::vector<const char*>& c) {
    c.clear();
    for (const auto& p : parts) c.push_back(p.c_str());
    c.push_back(nullptr);
  }

  // A number stored as double, float, integer or (in some flat databases) a string. Parsed in
  // place: lookups allocate nothing but the country.
  static bool number(MMDB_entry_s* entry, const std::vector<const char*>& path, double& out) {
    MMDB_entry_data_s data;
    if (MMDB_aget_value(entry, &data, path.data()) != MMDB_SUCCESS || !data.has_data) return false;
    switch (data.type) {
      case MMDB_DATA_TYPE_DOUBLE:
        out = data.double_value;
        return true;
      case MMDB_DATA_TYPE_FLOAT:
        out = data.float_value;
        return true;
      case MMDB_DATA_TYPE_INT32:
        out = data.int32;
        return true;
      case MMDB_DATA_TYPE_UINT16:
        out = data.uint16;
        return true;
      case MMDB_DATA_TYPE_UINT32:
        out = data.uint32;
        return true;
      case MMDB_DATA_TYPE_UTF8_STRING:
        return parseNumber(data.utf8_string, data.data_size, out);
      default:
        return false;
    }
  }

  static bool hasText(MMDB_entry_s* entry, const std::vector<const char*>& path) {
    MMDB_entry_data_s data;
    return MMDB_aget_value(entry, &data, path.data()) == MMDB_SUCCESS && data.has_data &&
           data.type == MMDB_DATA_TYPE_UTF8_STRING;
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

  // Opens the file; on failure, libmaxminddb's reason (and the system's, for I/O). The path
  // must name a regular file within kGeoDatabaseLimit: MMDB_open would block on a FIFO (on
  // the admin thread, at a reload) and read a device such as /dev/zero without end.
  bool openFile(const std::string& path, std::string& why) {
    auto checked = core::checkRegularFile(path, core::kGeoDatabaseLimit);
    if (!checked.ok()) {
      why = checked.error().detail;
      return false;
    }
    int rc = MMDB_open(path.c_str(), MMDB_MODE_MMAP, &mmdb);
    int sys = errno;
    if (rc != MMDB_SUCCESS) {
      why = MMDB_strerror(rc);
      if (rc == MMDB_FILE_OPEN_ERROR || rc == MMDB_IO_ERROR)
        why += std::string(": ") + strerror(sys);
      return false;
    }
    open = true;
    file = path;
    type = mmdb.metadata.database_type ? mmdb.metadata.database_type : "";
    if (mmdb.metadata.node_count == 0) {
      why = "empty search tree";
      return false;
    }
    return true;
  }

  // A truncated file fails MMDB_open (its metadata sits at the end); a corrupt tree or data
  // section is caught here, by probe lookups decoded in full, rather than on a client's lookup.
  // Fills `records` with the probes that have one.
  bool probe(std::vector<MMDB_entry_s>& records, std::string& why) {
    for (const char* address : kProbes) {
      int gai = 0, err = MMDB_SUCCESS;
      MMDB_lookup_result_s r = MMDB_lookup_string(&mmdb, address, &gai, &err);
      if (err == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR) continue;  // an IPv4-only database
      if (gai != 0) continue;
      if (err != MMDB_SUCCESS) {
        why = std::string("looking up ") + address + ": " + MMDB_strerror(err);
        return false;
      }
      if (!r.found_entry) continue;
      MMDB_entry_data_list_s* list = nullptr;
      int rc = MMDB_get_entry_data_list(&r.entry, &list);
      MMDB_free_entry_data_list(list);
      if (rc != MMDB_SUCCESS) {
        why = std::string("record of ") + address + ": " + MMDB_strerror(rc);
        return false;
      }
      records.push_back(r.entry);
    }
    return true;
  }

  bool setPaths(const std::string& lat, const std::string& lon, const std::string& country,
                std::string& why) {
    for (auto [dotted, parts] : {std::pair{&lat, &lat_path}, std::pair{&lon, &lon_path},
                                 std::pair{&country, &country_path}}) {
      if (!splitPath(*dotted, *parts)) {
        why = "lookup path \"" + *dotted + "\" is empty or has an empty part";
        return false;
      }
    }
    terminate(lat_path, lat_c);
    terminate(lon_path, lon_c);
    terminate(country_path, country_c);
    return true;
  }

  // Paths that find nothing in any probed record are a misconfiguration (or a database without
  // coordinates, such as a Country one): refused now, not discovered as "no client has a
  // location". A database where no probe has a record cannot be checked, and is accepted.
  bool checkPaths(std::vector<MMDB_entry_s>& records, const std::string& lat,
                  const std::string& lon, const std::string& country, std::string& why) {
    if (records.empty()) return true;
    bool has_lat = false, has_lon = false, has_country = false;
    for (auto& entry : records) {
      double v = 0;
      has_lat = has_lat || number(&entry, lat_c, v);
      has_lon = has_lon || number(&entry, lon_c, v);
      has_country = has_country || hasText(&entry, country_c);
    }
    if (has_lat && has_lon && has_country) return true;
    const std::string& dotted = !has_lat ? lat : !has_lon ? lon : country;
    why = std::string(!has_lat   ? "latitude"
                      : !has_lon ? "longitude"
                                 : "country") +
          " path \"" + dotted + "\" finds nothing in the records of " +
          (type.empty() ? std::string("this database") : "this " + type + " database");
    return false;
  }

  // Opens `path`, learns its layout and checks the paths (those left empty in `cfg` are
  // chosen by the layout).
  bool load(const std::string& path, const config::Geo& cfg, std::string& why) {
    std::vector<MMDB_entry_s> records;
    if (!openFile(path, why) || !probe(records, why)) return false;
    bool nested = nestedLayout(records, type);
    std::string lat = cfg.latitude_path, lon = cfg.longitude_path, country = cfg.country_path;
    if (lat.empty()) lat = nested ? "location.latitude" : "latitude";
    if (lon.empty()) lon = nested ? "location.longitude" : "longitude";
    if (country.empty()) country = nested ? "country.iso_code" : "country_code";
    if (!setPaths(lat, lon, country, why) || !checkPaths(records, lat, lon, country, why))
      return false;
    char built[32] = "?";
    time_t epoch = static_cast<time_t>(mmdb.metadata.build_epoch);
    tm t{};
    if (gmtime_r(&epoch, &t)) strftime(built, sizeof built, "%Y-%m-%d", &t);
    description = (type.empty() ? std::string("MaxMind DB") : type) + ", built " + built +
                  ", paths " + lat + " " + lon + " " + country;
    return true;
  }

  // The client's record, when this database has one with coordinates in range.
  bool lookup(const sockaddr* client, GeoLocation& loc) const {
    int err = MMDB_SUCCESS;
    // An IPv6 client in an IPv4-only database is an error here: simply not found.
    MMDB_lookup_result_s r = MMDB_lookup_sockaddr(&mmdb, client, &err);
    if (err != MMDB_SUCCESS || !r.found_entry) return false;
    double lat = 0, lon = 0;
    if (!number(&r.entry, lat_c, lat) || !number(&r.entry, lon_c, lon)) return false;
    // Out-of-range coordinates would put the client nowhere and skew every distance.
    if (!(std::abs(lat) <= 90) || !(std::abs(lon) <= 180)) return false;
    loc.known = true;
    loc.lat = lat;
    loc.lon = lon;
    loc.country = text(&r.entry, country_c);
    loc.source = "database";
    return true;
  }
};

struct GeoDb::Impl {
  std::vector<std::unique_ptr<Database>> databases;  // in config order: the first hit wins
  std::vector<config::GeoOverride> overrides;        // most specific first
  std::string description;
};

// ---- IpAddress --------------------------------------------------------------------------

bool IpAddress::v4() const {
  return std::memcmp(bytes, kV4Prefix, 12) == 0;
}

std::string IpAddress::text() const {
  char buf[INET6_ADDRSTRLEN];
  if (v4())
    inet_ntop(AF_INET, bytes + 12, buf, sizeof buf);
  else
    inet_ntop(AF_INET6, bytes, buf, sizeof buf);
  return buf;
}

bool IpAddress::parse(std::string_view text, IpAddress& out) {
  // A NUL would end the copy early for inet_pton: "1.2.3.4\0junk" is not an address.
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN || text.find('\0') != text.npos) return false;
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

core::Result<std::shared_ptr<const GeoDb>> GeoDb::open(const config::Geo& cfg,
                                                      const std::string& config_file) {
  std::shared_ptr<GeoDb> db(new GeoDb());
  db->impl_ = std::make_unique<Impl>();
  Impl& m = *db->impl_;
  m.overrides = cfg.overrides;
  std::stable_sort(m.overrides.begin(), m.overrides.end(), [](const auto& a, const auto& b) {
    return a.cidr.prefix_len > b.cidr.prefix_len;
  });
  std::string overrides = std::to_string(m.overrides.size()) + " overrides";
  if (cfg.databases.empty()) {
    m.description = "overrides only (" + std::to_string(m.overrides.size()) + ")";
    return std::shared_ptr<const GeoDb>(db);
  }
  for (const auto& entry : cfg.databases) {
    auto one = std::make_unique<Database>();
    std::string why;
    if (!one->load(entry.path, cfg, why)) {
      std::string at;
      if (!config_file.empty() && entry.mark.line > 0)
        at = config_file + ":" + std::to_string(entry.mark.line) + ":" +
             std::to_string(entry.mark.col) + ": ";
      return core::Error{core::ErrorKind::ConfigInvalid, core::Side::Internal, false,
                         at + "geo database " + entry.path + ": " + why};
    }
    m.description += (m.description.empty() ? "" : "; ") + one->description;
    m.databases.push_back(std::move(one));
  }
  m.description += ", " + overrides;
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
  if (impl_->databases.empty()) return loc;
  // By family, so an IPv4 client is found in an IPv4-only database and, in an IPv6 one, in
  // the IPv4 subtree (::a.b.c.d, which the ::ffff:0:0/96 alias points at).
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
  for (const auto& db : impl_->databases) {
    if (db->lookup(reinterpret_cast<const sockaddr*>(&ss), loc)) return loc;
  }
  return loc;
}

std::string GeoDb::describe() const {
  return impl_->description;
}

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

bool isPort(std::string_view s) {
  if (s.empty() || s.size() > 5) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// One x-forwarded-for entry: "1.2.3.4", "1.2.3.4:567", "2001:db8::1", "[2001:db8::1]:443".
// Anything else after an address makes the entry garbage rather than being ignored.
bool parseEntry(std::string_view e, IpAddress& out) {
  e = trim(e);
  if (!e.empty() && e.front() == '[') {
    size_t close = e.find(']');
    if (close == std::string_view::npos) return false;
    std::string_view rest = e.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !isPort(rest.substr(1)))) return false;
    return IpAddress::parse(e.substr(1, close - 1), out);
  }
  size_t colon = e.find(':');
  if (colon != std::string_view::npos && e.find(':', colon + 1) == std::string_view::npos) {
    if (!isPort(e.substr(colon + 1))) return false;
    e = e.substr(0, colon);  // exactly one colon: IPv4 with a port
  }
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
  double a = std::sin(dlat / 2) * std::sin(dlat / 2) + std::cos(lat1 * kDegToRad) *
                                                           std::cos(lat2 * kDegToRad) *
                                                           std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * kEarthRadiusKm * std::asin(std::sqrt(std::min(1.0, a)));
}

}  // namespace meridian::routing
