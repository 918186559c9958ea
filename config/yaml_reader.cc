#include "config/yaml_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <tuple>

#include "config/units.h"

namespace meridian::config {
namespace {

// Merges nest (`<<: *a` where a has its own `<<`), and aliases can make a cycle.
constexpr int kMaxMergeDepth = 8;
constexpr size_t kMaxMerges = 64;

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string suggestion(std::string_view key, std::initializer_list<std::string_view> known) {
  std::string_view best;
  size_t best_distance = 3;  // more than two edits away is a different word, not a typo
  for (auto k : known) {
    size_t dist = editDistance(key, k);
    if (dist < best_distance) {
      best = k;
      best_distance = dist;
    }
  }
  if (best.empty()) return "";
  return " (did you mean " + quoted(best) + "?)";
}

std::string formatDuration(Duration d) {
  return std::to_string(d.count()) + "ms";
}

std::string prefix(const std::string& path) {
  return path.empty() ? "" : path + ": ";
}

// A scalar's text, or a report that the value has the wrong shape.
const std::string* scalarText(Diagnostics& d, const yaml::Node& n, Mark at, const std::string& path,
                              const char* expected) {
  if (n.isScalar()) return &n.scalar();
  if (n.isNull()) {
    d.add(at, prefix(path) + "missing value (expected " + expected + ")");
  } else {
    d.add(at, prefix(path) + "expected " + expected + ", got " + describe(n));
  }
  return nullptr;
}

}  // namespace

void Diagnostics::add(Mark at, std::string message) {
  if (full()) {
    truncated_ = true;
    return;
  }
  list_.push_back(Diagnostic{file_, at.line, at.col, std::move(message)});
}

std::vector<Diagnostic> Diagnostics::take() {
  auto key = [](const Diagnostic& x) { return std::tie(x.line, x.col, x.message); };
  std::stable_sort(list_.begin(), list_.end(),
                   [&](const Diagnostic& a, const Diagnostic& b) { return key(a) < key(b); });
  // An anchor merged into several maps would repeat the same report at the same place.
  list_.erase(
      std::unique(list_.begin(), list_.end(),
                  [&](const Diagnostic& a, const Diagnostic& b) { return key(a) == key(b); }),
      list_.end());
  if (truncated_) {
    list_.push_back(Diagnostic{
        file_, 0, 0, "too many problems; stopped after " + std::to_string(kMaxDiagnostics)});
  }
  return std::move(list_);
}

Mark markOf(const yaml::Node& node) {
  return node.mark();
}

std::string quoted(std::string_view s) {
  constexpr size_t kMaxEcho = 60;  // a whole pasted paragraph helps nobody in one line
  std::string out = "\"";
  for (char c : s.substr(0, kMaxEcho)) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += '?';
      continue;
    }
    out += c;
  }
  if (s.size() > kMaxEcho) out += "...";
  return out + "\"";
}

std::string describe(const yaml::Node& node) {
  if (node.isScalar()) return quoted(node.scalar());
  if (node.isSequence()) return "a list";
  if (node.isMap()) return "a map";
  return "nothing";
}

bool isToken(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

bool isCountryCode(std::string_view s) {
  return s.size() == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z';
}

std::string lowercase(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

bool readString(Diagnostics& d, const yaml::Node& n, Mark at, const std::string& path,
                std::string& out) {
  const std::string* s = scalarText(d, n, at, path, "a string");
  if (!s) return false;
  out = *s;
  return true;
}

bool readBool(Diagnostics& d, const yaml::Node& n, Mark at, const std::string& path, bool& out) {
  const std::string* s = scalarText(d, n, at, path, "true or false");
  if (!s) return false;
  // YAML 1.2's booleans only: yaml-cpp would also take yes/no/on/off, and `on` as a value is
  // more often a typo than a wish.
  if (*s == "true" || *s == "True" || *s == "TRUE") {
    out = true;
  } else if (*s == "false" || *s == "False" || *s == "FALSE") {
    out = false;
  } else {
    d.add(at, prefix(path) + "expected true or false, got " + quoted(*s));
    return false;
  }
  return true;
}

bool readInt(Diagnostics& d, const yaml::Node& n, Mark at, const std::string& path, int64_t min,
             int64_t max, int64_t& out) {
  const std::string* s = scalarText(d, n, at, path, "an integer");
  if (!s) return false;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc() || end != s->data() + s->size()) {
    d.add(at, prefix(path) + "expected an integer, got " + quoted(*s));
    return false;
  }
  if (v < min || v > max) {
    std::string range = max == INT32_MAX || max == INT64_MAX
                            ? "at least " + std::to_string(min)
                            : "from " + std::to_string(min) + " to " + std::to_string(max);
    d.add(at, prefix(path) + "must be " + range + ", got " + *s);
    return false;
  }
  out = v;
  return true;
}

bool readDouble(Diagnostics& d, const yaml::Node& n, Mark at, const std::string& path, double min,
                double max, double& out) {
  const std::string* s = scalarText(d, n, at, path, "a number");
  if (!s) return false;
  double v = 0;
  auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc() || end != s->data() + s->size() || !std::isfinite(v)) {
    d.add(at, prefix(path) + "expected a number, got " + quoted(*s));
    return false;
  }
  if (v < min || v > max) {
    d.add(at, prefix(path) + "must be from " + std::to_string(static_cast<int>(min)) + " to " +
                  std::to_string(static_cast<int>(max)) + ", got " + *s);
    return false;
  }
  out = v;
  return true;
}

bool readDuration(Diagnostics& d, const yaml::Node& n, Mark at, const std::string& path,
                  Duration min, Duration& out) {
  const std::string* s = scalarText(d, n, at, path, "a duration");
  if (!s) return false;
  auto v = parseDuration(*s);
  if (!v) {
    d.add(at, prefix(path) + "invalid duration " + quoted(*s) +
                  " (write an integer and a unit: 250ms, 2s, 1m, 1h)");
    return false;
  }
  if (*v < min) {
    d.add(at, prefix(path) + "must be at least " + formatDuration(min) + ", got " + *s);
    return false;
  }
  out = *v;
  return true;
}

bool readSize(Diagnostics& d, const yaml::Node& n, Mark at, const std::string& path,
              uint64_t& out) {
  const std::string* s = scalarText(d, n, at, path, "a size");
  if (!s) return false;
  auto v = parseSize(*s);
  if (!v) {
    d.add(at, prefix(path) + "invalid size " + quoted(*s) +
                  " (write bytes, or an integer and KiB, MiB or GiB: 512, 16KiB, 1MiB)");
    return false;
  }
  out = *v;
  return true;
}

bool readPercent(Diagnostics& d, const yaml::Node& n, Mark at, const std::string& path, int& out) {
  const std::string* s = scalarText(d, n, at, path, "a percentage");
  if (!s) return false;
  auto v = parsePercent(*s);
  if (!v) {
    d.add(at, prefix(path) + "invalid percentage " + quoted(*s) +
                  " (write an integer from 0% to 100%)");
    return false;
  }
  out = *v;
  return true;
}

bool readHostPort(Diagnostics& d, const yaml::Node& n, Mark at, const std::string& path,
                  HostPort& out) {
  const std::string* s = scalarText(d, n, at, path, "host:port");
  if (!s) return false;
  auto v = parseHostPort(*s);
  if (!v) {
    d.add(at, prefix(path) + "invalid address " + quoted(*s) +
                  " (write host:port: 0.0.0.0:8443, [::1]:8443, app.internal:80)");
    return false;
  }
  out = *v;
  return true;
}

bool readCidr(Diagnostics& d, const yaml::Node& n, Mark at, const std::string& path, Cidr& out) {
  const std::string* s = scalarText(d, n, at, path, "a CIDR");
  if (!s) return false;
  auto v = parseCidr(*s);
  if (!v) {
    d.add(at, prefix(path) + "invalid CIDR " + quoted(*s) +
                  " (write 10.0.0.0/8, fd00::/8, or a single address)");
    return false;
  }
  out = *v;
  return true;
}

std::vector<ListItem> listItems(Diagnostics& d, const yaml::Node& n, Mark at,
                                const std::string& path) {
  std::vector<ListItem> items;
  if (!n.isDefined() || n.isNull()) return items;
  if (!n.isSequence()) {
    d.add(at, prefix(path) + "expected a list, got " + describe(n));
    return items;
  }
  items.reserve(n.size());
  for (size_t i = 0; i < n.size() && !d.full(); ++i) {
    yaml::Node item = n.item(i);
    items.push_back({item, path + "[" + std::to_string(i) + "]", markOf(item)});
  }
  return items;
}

MapReader::MapReader(Diagnostics& d, const yaml::Node& node, Mark at, std::string path)
    : d_(d), path_(std::move(path)), mark_(at) {
  if (!node.isDefined() || node.isNull()) {
    is_map_ = true;
    return;
  }
  if (!node.isMap()) {
    d_.add(at, prefix(path_) + "expected a map, got " + describe(node));
    return;
  }
  is_map_ = true;
  mark_ = markOf(node);
  collect(node, false, 0);
}

MapReader::MapReader(Diagnostics& d, const yaml::Node& node, Mark at, std::string path,
                     std::initializer_list<std::string_view> known)
    : MapReader(d, node, at, std::move(path)) {
  for (const auto& e : entries_) checkKnown(e, known);
}

MapReader MapReader::anyKeys(Diagnostics& d, const yaml::Node& node, Mark at, std::string path) {
  return MapReader(d, node, at, std::move(path));
}

void MapReader::collect(const yaml::Node& node, bool merged, int depth) {
  std::vector<yaml::Node> merges;
  entries_.reserve(entries_.size() + node.size());
  for (size_t i = 0; i < node.size(); ++i) {
    yaml::Node key = node.key(i);
    if (key.isPlain() && key.scalar() == "<<") {
      merges.push_back(node.value(i));
      continue;
    }
    addEntry(key, node.value(i), merged);
  }
  // Keys written in the map win over merged ones; earlier merged maps win over later ones.
  for (const auto& m : merges) {
    std::vector<yaml::Node> sources;
    if (m.isMap()) sources.push_back(m);
    if (m.isSequence()) {
      for (size_t i = 0; i < m.size(); ++i) sources.push_back(m.item(i));
    }
    for (const auto& s : sources) {
      if (!s.isMap() || depth >= kMaxMergeDepth) {
        d_.add(markOf(s), prefix(path_) + "a merge key `<<` takes a map or a list of maps");
        continue;
      }
      // Each map is merged once: repeated aliases would otherwise multiply the work.
      bool seen = std::any_of(merged_.begin(), merged_.end(),
                              [&](const yaml::Node& prev) { return prev.same(s); });
      if (seen || merged_.size() >= kMaxMerges) continue;
      merged_.push_back(s);
      collect(s, true, depth + 1);
    }
    if (sources.empty()) {
      d_.add(markOf(m), prefix(path_) + "a merge key `<<` takes a map or a list of maps");
    }
  }
}

void MapReader::addEntry(const yaml::Node& key, const yaml::Node& value, bool merged) {
  if (!key.isScalar()) {
    d_.add(markOf(key), prefix(path_) + "a key must be a string, got " + describe(key));
    return;
  }
  if (const Entry* first = find(key.scalar())) {
    if (merged) return;  // overridden by the map itself
    Mark at = markOf(first->key_node);
    d_.add(markOf(key), prefix(path_) + "duplicate key " + quoted(key.scalar()) + " (first at " +
                            std::to_string(at.line) + ":" + std::to_string(at.col) + ")");
    return;
  }
  entries_.push_back(Entry{key.scalar(), key, value});
}

void MapReader::checkKnown(const Entry& e, std::initializer_list<std::string_view> known) {
  if (std::find(known.begin(), known.end(), e.key) != known.end()) return;
  std::string where = path_.empty() ? "" : " in " + path_;
  d_.add(markOf(e.key_node), "unknown key " + quoted(e.key) + where + suggestion(e.key, known));
}

std::string MapReader::pathOf(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

const MapReader::Entry* MapReader::find(std::string_view key) const {
  for (const auto& e : entries_) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

Mark MapReader::valueMark(std::string_view key) const {
  const Entry* e = find(key);
  if (!e) return mark_;
  return e->value.isNull() ? markOf(e->key_node) : markOf(e->value);
}

bool MapReader::require(std::string_view key) const {
  if (has(key)) return true;
  if (is_map_) d_.add(mark_, prefix(path_) + "missing required key " + quoted(key));
  return false;
}

bool MapReader::read(std::string_view key, std::string& out) const {
  const Entry* e = find(key);
  return e && readString(d_, e->value, valueMark(key), pathOf(key), out);
}

bool MapReader::read(std::string_view key, bool& out) const {
  const Entry* e = find(key);
  return e && readBool(d_, e->value, valueMark(key), pathOf(key), out);
}

bool MapReader::read(std::string_view key, double& out, double min, double max) const {
  const Entry* e = find(key);
  return e && readDouble(d_, e->value, valueMark(key), pathOf(key), min, max, out);
}

bool MapReader::readInt(std::string_view key, int& out, int min, int max) const {
  const Entry* e = find(key);
  int64_t v = 0;
  if (!e || !config::readInt(d_, e->value, valueMark(key), pathOf(key), min, max, v)) {
    return false;
  }
  out = static_cast<int>(v);
  return true;
}

bool MapReader::readDuration(std::string_view key, Duration& out, Duration min) const {
  const Entry* e = find(key);
  return e && config::readDuration(d_, e->value, valueMark(key), pathOf(key), min, out);
}

bool MapReader::readSize(std::string_view key, uint64_t& out) const {
  const Entry* e = find(key);
  return e && config::readSize(d_, e->value, valueMark(key), pathOf(key), out);
}

bool MapReader::readPercent(std::string_view key, int& out) const {
  const Entry* e = find(key);
  return e && config::readPercent(d_, e->value, valueMark(key), pathOf(key), out);
}

bool MapReader::readHostPort(std::string_view key, HostPort& out) const {
  const Entry* e = find(key);
  return e && config::readHostPort(d_, e->value, valueMark(key), pathOf(key), out);
}

std::vector<ListItem> MapReader::list(std::string_view key) const {
  const Entry* e = find(key);
  if (!e) return {};
  return listItems(d_, e->value, valueMark(key), pathOf(key));
}

bool MapReader::readOneOf(std::string_view key, std::initializer_list<std::string_view> choices,
                          std::string& out) const {
  std::string v;
  if (!read(key, v)) return false;
  if (std::find(choices.begin(), choices.end(), v) != choices.end()) {
    out = v;
    return true;
  }
  std::string list;
  for (auto c : choices) {
    if (!list.empty()) list += c == *(choices.end() - 1) ? " or " : ", ";
    list += c;
  }
  d_.add(valueMark(key), pathOf(key) + ": expected " + list + ", got " + quoted(v));
  return false;
}

}  // namespace meridian::config
