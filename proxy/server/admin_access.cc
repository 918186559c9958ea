#include "proxy/server/admin_access.h"

#include <arpa/inet.h>

#include "certs/secret.h"
#include "core/file_read.h"

namespace meridian::proxy {

namespace {

bool allDigits(std::string_view s) {
  return s.find_first_not_of("0123456789") == std::string_view::npos;
}

// "name[:port]" or "[v6][:port]" -> the name (the v6 literal without brackets); false when
// the shape is wrong.
bool splitHost(std::string_view host, std::string_view& name, bool& bracketed) {
  bracketed = !host.empty() && host.front() == '[';
  std::string_view port;
  if (bracketed) {
    size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    name = host.substr(1, close - 1);
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    port = rest.empty() ? rest : rest.substr(1);
  } else {
    size_t colon = host.find(':');
    name = host.substr(0, colon);
    port = colon == std::string_view::npos ? "" : host.substr(colon + 1);
  }
  return !name.empty() && allDigits(port);
}

bool isIpLiteral(std::string_view name, bool bracketed) {
  std::string s(name);
  unsigned char buf[16];
  return inet_pton(bracketed ? AF_INET6 : AF_INET, s.c_str(), buf) == 1;
}

core::Error tokenError(const config::Config& cfg, const std::string& why) {
  const config::Mark& m = cfg.admin.token_file_mark;
  std::string where = cfg.source_path.empty() ? "config" : cfg.source_path;
  return core::Error{core::ErrorKind::ConfigInvalid, core::Side::Internal, false,
                     where + ":" + std::to_string(m.line) + ":" + std::to_string(m.col) +
                         ": admin.token_file: " + cfg.admin.token_file + ": " + why};
}

}  // namespace

std::string_view refusalName(AdminRefusal r) {
  switch (r) {
    case AdminRefusal::Host:
      return "host";
    case AdminRefusal::Origin:
      return "origin";
    case AdminRefusal::Header:
      return "header";
    case AdminRefusal::Token:
      return "token";
    default:
      return "none";
  }
}

bool adminHostAllowed(std::string_view host, std::string_view admin_host) {
  std::string_view name;
  bool bracketed = false;
  if (!splitHost(host, name, bracketed)) return false;
  if (isIpLiteral(name, bracketed)) return true;
  if (bracketed) return false;
  return http1::iequals(name, "localhost") ||
         (!admin_host.empty() && http1::iequals(name, admin_host));
}

bool AdminAccess::hostAllowed(std::string_view host) const {
  // HTTP/1.0 without Host: no browser sends that, so it is no rebinding page.
  return host.empty() || adminHostAllowed(host, admin_host_);
}

AdminRefusal AdminAccess::check(const http1::RequestHead& head, std::string_view path) const {
  if (!hostAllowed(head.host)) return AdminRefusal::Host;
  int origins = 0;
  std::string_view origin;
  for (const auto& h : head.headers) {
    if (!http1::iequals(h.name, "origin")) continue;
    ++origins;
    origin = h.value;
  }
  if (origins > 1) return AdminRefusal::Origin;
  if (origins == 1) {
    constexpr std::string_view kScheme = "http://";
    bool own = origin.size() == kScheme.size() + head.host.size() && !head.host.empty() &&
               http1::iequals(origin.substr(0, kScheme.size()), kScheme) &&
               http1::iequals(origin.substr(kScheme.size()), head.host);
    if (!own) return AdminRefusal::Origin;
  }
  bool safe = head.method == "GET" || head.method == "HEAD";
  if (!safe && http1::findHeader(head.headers, kAdminHeader).empty()) return AdminRefusal::Header;
  if (hasToken() && (!safe || path == "/config") && !bearerMatches(head))
    return AdminRefusal::Token;
  return AdminRefusal::None;
}

bool AdminAccess::bearerMatches(const http1::RequestHead& head) const {
  std::string_view auth = http1::findHeader(head.headers, "authorization");
  constexpr std::string_view kBearer = "bearer ";
  if (auth.size() < kBearer.size() || !http1::iequals(auth.substr(0, kBearer.size()), kBearer))
    return false;
  std::string_view given = auth.substr(kBearer.size());
  while (!given.empty() && given.front() == ' ') given.remove_prefix(1);
  return certs::secretEquals(given, token_);
}

core::Result<std::string> loadAdminToken(const config::Config& cfg) {
  if (cfg.admin.token_file.empty()) return std::string();
  // Read as every file an operator names is: a FIFO or /dev/zero in its place must not hang
  // or flood a reload on the admin loop.
  auto read = core::readRegularFile(cfg.admin.token_file, kTokenFileLimit);
  if (!read.ok()) return tokenError(cfg, read.error().detail);
  std::string text = std::move(read.value());
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (text.empty()) return tokenError(cfg, "empty (write the token on one line)");
  for (char c : text) {
    if (c < 0x21 || c > 0x7e)
      return tokenError(cfg, "the token must be one line of visible ASCII, no spaces");
  }
  return text;
}

}  // namespace meridian::proxy
