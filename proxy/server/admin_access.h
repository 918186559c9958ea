#pragma once
// Who may use the admin API. A browser on the operator's machine can reach a loopback admin
// address too: a page elsewhere may POST to it (CSRF), and a page whose name it re-points at
// 127.0.0.1 (DNS rebinding) may read the answers. So every request passes, in order:
//  - Host: an IP literal, `localhost`, or the host of admin.address, any port (421). A
//    rebinding page can only send its own name; an address cannot be rebound.
//  - Origin, when sent: exactly `http://` + Host, the admin's own pages (403).
//  - A method other than GET/HEAD needs the `Meridian-Admin` header (403). A browser sends a
//    custom header cross-origin only after a CORS preflight, which the admin never allows.
//  - With a token (admin.token_file): POSTs and /config need `Authorization: Bearer TOKEN`,
//    compared in constant time (401 with `WWW-Authenticate: Bearer`).
#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.h"
#include "core/error.h"
#include "core/file_read.h"
#include "proxy/http/http1_parser.h"

namespace meridian::proxy {

// Why a request was refused; the order of the checks. Indexes the refusal counters.
enum class AdminRefusal { None, Host, Origin, Header, Token, kCount };
// The metric label of a refusal: "host", "origin", "header", "token".
std::string_view refusalName(AdminRefusal r);

// The header a state-changing admin request must carry (any non-empty value; send `1`).
inline constexpr std::string_view kAdminHeader = "meridian-admin";

class AdminAccess {
 public:
  // `admin_host`: the host of admin.address as configured ("127.0.0.1", "admin.internal").
  explicit AdminAccess(std::string admin_host = "") : admin_host_(std::move(admin_host)) {}
  void setAdminHost(std::string host) { admin_host_ = std::move(host); }
  // "" for none: then no request needs a bearer token.
  void setToken(std::string token) { token_ = std::move(token); }
  bool hasToken() const { return !token_.empty(); }
  // The request may see what /config shows: no token is set, or it carries the right one.
  bool authorized(const http1::RequestHead& head) const { return !hasToken() || bearerMatches(head); }

  // The first check `head` fails, or None. `path` is the target's path, without its query.
  AdminRefusal check(const http1::RequestHead& head, std::string_view path) const;

 private:
  bool hostAllowed(std::string_view host) const;
  bool bearerMatches(const http1::RequestHead& head) const;

  std::string admin_host_;
  std::string token_;
};

// A Host value (`name[:port]`, `[v6][:port]`) the admin answers: see above.
bool adminHostAllowed(std::string_view host, std::string_view admin_host);

// The token of admin.token_file: "" when none is set, else the file's contents without the
// trailing newline. The file must be a regular file of at most kTokenFileLimit holding one
// non-empty line of visible ASCII. Errors read `CONFIG:LINE:COL: admin.token_file: ...`.
core::Result<std::string> loadAdminToken(const config::Config& cfg);
inline constexpr core::FileLimit kTokenFileLimit{4096, "an admin token file"};

}  // namespace meridian::proxy
