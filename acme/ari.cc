#include "acme/ari.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

namespace meridian::acme {

std::optional<time_t> parseRfc3339(std::string_view text) {
  std::string s(text);
  struct tm tm {};
  int consumed = 0;
  if (sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
             &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed != 19)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  size_t at = 19;
  if (at < s.size() && s[at] == '.') {  // fractions of a second: ignored
    ++at;
    while (at < s.size() && s[at] >= '0' && s[at] <= '9') ++at;
  }
  long offset = 0;
  if (at < s.size() && (s[at] == 'Z' || s[at] == 'z')) {
    ++at;
  } else if (at + 6 == s.size() && (s[at] == '+' || s[at] == '-') && s[at + 3] == ':') {
    int h = 0, m = 0;
    if (sscanf(s.c_str() + at + 1, "%2d:%2d", &h, &m) != 2) return std::nullopt;
    offset = (s[at] == '+' ? 1 : -1) * (h * 3600L + m * 60L);
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != s.size()) return std::nullopt;
  return timegm(&tm) - offset;
}

std::optional<std::pair<time_t, time_t>> parseRenewalWindow(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto w = j.find("suggestedWindow");
  if (w == j.end() || !w->is_object()) return std::nullopt;
  auto start = w->find("start"), end = w->find("end");
  if (start == w->end() || end == w->end() || !start->is_string() || !end->is_string())
    return std::nullopt;
  auto s = parseRfc3339(start->get<std::string>());
  auto e = parseRfc3339(end->get<std::string>());
  if (!s || !e || *e < *s) return std::nullopt;
  return std::make_pair(*s, *e);
}

time_t renewalTimeIn(std::pair<time_t, time_t> window, double unit) {
  unit = std::clamp(unit, 0.0, 1.0);
  return window.first +
         static_cast<time_t>(unit * static_cast<double>(window.second - window.first));
}

}  // namespace meridian::acme
