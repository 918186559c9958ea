#include "proxy/http/upgrade.h"

#include "proxy/http/http1_parser.h"

namespace meridian::proxy::http1 {

namespace {

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls fn(protocol) for each non-empty element of a comma-separated list, until it says stop.
template <typename Fn>
bool forEachProtocol(std::string_view list, Fn&& fn) {
  for (;;) {
    size_t comma = list.find(',');
    std::string_view e = trimOws(list.substr(0, comma));
    if (!e.empty() && !fn(e)) return false;
    if (comma == std::string_view::npos) return true;
    list.remove_prefix(comma + 1);
  }
}

bool isH2c(std::string_view protocol) {
  return iequals(protocol, "h2c");
}

}  // namespace

bool offersUpgradeOtherThanH2c(std::string_view upgrade) {
  return !forEachProtocol(upgrade, [](std::string_view p) { return isH2c(p); });
}

std::string upgradeWithoutH2c(std::string_view upgrade) {
  std::string out;
  forEachProtocol(upgrade, [&out](std::string_view p) {
    if (isH2c(p)) return true;
    if (!out.empty()) out += ", ";
    out += p;
    return true;
  });
  return out;
}

bool upgradeAnswerMatches(std::string_view requested, std::string_view answered) {
  bool any = false;
  bool all_offered = forEachProtocol(answered, [&](std::string_view p) {
    any = true;
    if (isH2c(p)) return false;
    return !forEachProtocol(requested, [p](std::string_view offered) { return !iequals(offered, p); });
  });
  return any && all_offered;
}

}  // namespace meridian::proxy::http1
