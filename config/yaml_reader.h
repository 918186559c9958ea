#pragma once
// Internal to config/: the thin layer between the parsed tree (yaml_tree.h) and the schema
// walk in loader.cc. Every problem becomes a positioned Diagnostic; nothing here throws on bad input,
// so the walk can go on and report the next problem too.
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/loader.h"
#include "config/yaml_tree.h"

namespace meridian::config {

// Collects diagnostics. It caps their number so that a hostile file (thousands of aliases
// of one bad node) cannot make validation run for minutes; the walk checks full() in loops.
class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}
  void add(Mark at, std::string message);
  bool full() const { return list_.size() >= kMaxDiagnostics; }
  std::vector<Diagnostic> take();  // in file order, duplicates folded

 private:
  static constexpr size_t kMaxDiagnostics = 100;
  std::string file_;
  std::vector<Diagnostic> list_;
  bool truncated_ = false;
};

Mark markOf(const yaml::Node& node);           // 1-based; {1, 1} when the parser gave none
std::string quoted(std::string_view s);        // "x", for values echoed in messages
std::string describe(const yaml::Node& node);  // `"text"`, `a list`, `a map`, `nothing`

// Small grammars shared by the section readers.
bool isToken(std::string_view s);        // RFC 9110 token: methods, header names
bool isCountryCode(std::string_view s);  // ISO 3166-1 alpha-2, upper case: "DE"
std::string lowercase(std::string s);

// Scalar readers. `at` is where to point when the value is wrong (a null value points at its
// key instead, since yaml-cpp places it on the next line). On bad input they report and
// return false, leaving `out` as it was.
bool readString(Diagnostics& d, const yaml::Node& n, Mark at, const std::string& path,
                std::string& out);
bool readBool(Diagnostics& d, const yaml::Node& n, Mark at, const std::string& path, bool& out);
bool readInt(Diagnostics& d, const yaml::Node& n, Mark at, const std::string& path, int64_t min,
             int64_t max, int64_t& out);
bool readDouble(Diagnostics& d, const yaml::Node& n, Mark at, const std::string& path, double min,
                double max, double& out);
bool readDuration(Diagnostics& d, const yaml::Node& n, Mark at, const std::string& path,
                  Duration min, Duration& out);
bool readSize(Diagnostics& d, const yaml::Node& n, Mark at, const std::string& path, uint64_t& out);
bool readPercent(Diagnostics& d, const yaml::Node& n, Mark at, const std::string& path, int& out);
bool readHostPort(Diagnostics& d, const yaml::Node& n, Mark at, const std::string& path,
                  HostPort& out);
bool readCidr(Diagnostics& d, const yaml::Node& n, Mark at, const std::string& path, Cidr& out);

// The items of a list, with their paths (`path[i]`). A null value is an empty list; anything
// else that is not a list is reported. Stops early once the diagnostics are full.
struct ListItem {
  yaml::Node node;
  std::string path;
  Mark mark;
};
std::vector<ListItem> listItems(Diagnostics& d, const yaml::Node& n, Mark at,
                                const std::string& path);

// A YAML map checked against the keys the schema knows: unknown and repeated keys are
// reported on construction. Merge keys (`<<: *anchor`) are resolved here, since yaml-cpp
// 0.7 leaves them to the application. A null or absent node reads as an empty map.
class MapReader {
 public:
  struct Entry {
    std::string key;
    yaml::Node key_node;
    yaml::Node value;
  };

  MapReader(Diagnostics& d, const yaml::Node& node, Mark at, std::string path,
            std::initializer_list<std::string_view> known);
  // A map whose keys are data (residency's country codes), not schema.
  static MapReader anyKeys(Diagnostics& d, const yaml::Node& node, Mark at, std::string path);

  bool isMap() const { return is_map_; }
  Mark mark() const { return mark_; }
  const std::string& path() const { return path_; }
  std::string pathOf(std::string_view key) const;
  const Entry* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }
  const std::vector<Entry>& entries() const { return entries_; }
  // Where to point for this key's value: the value, or the key when the value is null.
  Mark valueMark(std::string_view key) const;
  // Reports `missing required key` at the map when absent; returns whether present.
  bool require(std::string_view key) const;

  // Each reads the key when present; absent keys leave `out` at its default.
  bool read(std::string_view key, std::string& out) const;
  bool read(std::string_view key, bool& out) const;
  bool read(std::string_view key, double& out, double min, double max) const;
  bool readInt(std::string_view key, int& out, int min, int max = INT32_MAX) const;
  bool readDuration(std::string_view key, Duration& out, Duration min = Duration{0}) const;
  bool readSize(std::string_view key, uint64_t& out) const;
  bool readPercent(std::string_view key, int& out) const;
  bool readHostPort(std::string_view key, HostPort& out) const;
  std::vector<ListItem> list(std::string_view key) const;
  // A string that must be one of `choices`; the message lists them.
  bool readOneOf(std::string_view key, std::initializer_list<std::string_view> choices,
                 std::string& out) const;

 private:
  MapReader(Diagnostics& d, const yaml::Node& node, Mark at, std::string path);
  void collect(const yaml::Node& node, bool merged, int depth);
  void addEntry(const yaml::Node& key, const yaml::Node& value, bool merged);
  void checkKnown(const Entry& e, std::initializer_list<std::string_view> known);

  Diagnostics& d_;
  std::string path_;
  Mark mark_;
  bool is_map_ = false;
  std::vector<Entry> entries_;
  std::vector<yaml::Node> merged_;  // maps already merged in, by identity
};

}  // namespace meridian::config
