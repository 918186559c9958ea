#include "routing/route_table.h"

#include <algorithm>

namespace meridian::routing {

namespace {
char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

std::string lowerCopy(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}
}  // namespace

RouteTable::RouteTable(const config::Config& cfg) {
  for (const auto& r : cfg.routes) {
    const std::string& h = r.match.host;
    if (h.empty() || h == "*") {
      entries_.push_back({&r, "", 1});
    } else if (h.rfind("*.", 0) == 0) {
      entries_.push_back({&r, lowerCopy(h.substr(1)), 2});
    } else {
      entries_.push_back({&r, lowerCopy(h), 3});
    }
  }
}

std::string_view RouteTable::normalizeHost(std::string_view host, std::string& out) {
  size_t end = host.size();
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    if (close != std::string_view::npos) end = close + 1;
  } else {
    size_t colon = host.rfind(':');
    if (colon != std::string_view::npos) end = colon;
  }
  out.assign(host.substr(0, end));
  for (char& c : out) c = lower(c);
  // A fully-qualified name may end in a dot; it names the same host.
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

const config::Route* RouteTable::match(std::string_view host, std::string_view path) const {
  thread_local std::string norm;
  std::string_view h = normalizeHost(host, norm);
  const config::Route* best = nullptr;
  int best_rank = 0;
  size_t best_host_len = 0;
  size_t best_prefix = 0;
  for (const auto& e : entries_) {
    bool host_ok = false;
    switch (e.host_rank) {
      case 3:
        host_ok = (h == e.host);
        break;
      case 2:
        host_ok = h.size() > e.host.size() && h.ends_with(e.host);
        break;
      default:
        host_ok = true;
    }
    if (!host_ok) continue;
    const std::string& prefix = e.route->match.path_prefix;
    if (!path.starts_with(prefix)) continue;
    // Host specificity first, then the longest path prefix; config order breaks ties.
    bool better =
        e.host_rank > best_rank || (e.host_rank == best_rank && e.host.size() > best_host_len) ||
        (e.host_rank == best_rank && e.host.size() == best_host_len && prefix.size() > best_prefix);
    if (best == nullptr || better) {
      best = e.route;
      best_rank = e.host_rank;
      best_host_len = e.host.size();
      best_prefix = prefix.size();
    }
  }
  return best;
}

}  // namespace meridian::routing
