#include "proxy/server/admin.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/stream.h"
#include "proxy/http/http1_parser.h"
#include "proxy/http/http1_writer.h"
#include "proxy/dashboard/assets.h"
#include "proxy/observe/prometheus_text.h"
#include "proxy/server/server.h"

namespace meridian::proxy {

namespace {

// "127.0.0.1:53012" for a connected socket, for the log.
std::string peerText(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char ip[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(ntohs(a->sin_port));
  }
  const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
  inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
  return "[" + std::string(ip) + "]:" + std::to_string(ntohs(a->sin6_port));
}

// The statuses only the admin API sends, which the proxy's table leaves out.
const char* adminReason(int status) {
  switch (status) {
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 421:
      return "Misdirected Request";
    default:
      return http1::reasonPhrase(status);
  }
}

}  // namespace

class AdminConn final : public core::StreamHandler, public core::Disposable {
 public:
  AdminConn(AdminServer& admin, core::EventLoop& loop, int fd)
      : admin_(admin),
        stream_(loop, fd, this),
        timer_(loop, [this] { close(); }),
        peer_(peerText(fd)) {
    timer_.arm(core::Millis(10000));  // a stuck admin client is dropped
  }

  void onData(core::Stream& s) override {
    if (answered_) {
      s.input().clear();
      return;
    }
    size_t n = std::min<size_t>(s.input().size(), 16384);
    const char* data = s.input().pullup(n);
    http1::RequestHead head;
    http1::HeadLimits limits{16384, 64};
    http1::ParseResult r = http1::parseRequestHead(data, n, head, limits);
    if (r.status == http1::ParseStatus::NeedMore) return;
    answered_ = true;
    if (r.status == http1::ParseStatus::Error) {
      http1::writeErrorResponse(400, "bad_request", true, false, s.output());
    } else {
      AdminServer::Answer a = admin_.respond(head, peer_);
      char h[256];
      int len = snprintf(h, sizeof h,
                         "HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %zu\r\n"
                         "connection: close\r\n",
                         a.status, adminReason(a.status), a.content_type.c_str(), a.body.size());
      s.output().append(h, static_cast<size_t>(len));
      s.output().append(a.extra_headers);
      s.output().append("\r\n");
      if (head.method != "HEAD") s.output().append(a.body);
    }
    if (!s.flush()) return close();
    if (!s.writePending()) s.shutdownWrite();
  }
  void onDrained(core::Stream& s) override {
    if (answered_ && !s.writePending()) s.shutdownWrite();
  }
  void onEof(core::Stream&) override { close(); }
  void onError(core::Stream&, int) override { close(); }

 private:
  void close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    stream_.pauseReading();
    admin_.onClosed(this);
  }
  AdminServer& admin_;
  core::Stream stream_;
  core::Timer timer_;
  std::string peer_;
  bool answered_ = false;
  bool closed_ = false;
};

AdminServer::AdminServer(Server& server) : server_(server) {}

AdminServer::~AdminServer() {
  acceptor_.reset();
  for (AdminConn* c : conns_) delete c;
  if (fd_ >= 0) ::close(fd_);
}

core::Result<std::string> AdminServer::listen(const config::HostPort& address) {
  auto fd = listenOn(address, 128);
  if (!fd.ok()) return fd.error();
  return adopt(fd.value());
}

core::Result<std::string> AdminServer::adopt(int fd) {
  fd_ = fd;
  acceptor_ =
      std::make_unique<core::Acceptor>(server_.loop(), fd_, [this](int c, const sockaddr_storage&) {
        conns_.insert(new AdminConn(*this, server_.loop(), c));
      });
  return localAddress(fd_);
}

void AdminServer::stopAccepting() {
  acceptor_.reset();
  // Closed on the next loop turn, once libevent has taken it out of epoll: the successor
  // holds the same socket, which would otherwise keep waking this loop.
  if (fd_ >= 0) server_.loop().post([fd = fd_] { ::close(fd); });
  fd_ = -1;
}

void AdminServer::onClosed(AdminConn* conn) {
  conns_.erase(conn);
  server_.loop().deleteLater(conn);
}

namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The value of `name` in a query string, percent-decoded ('+' is a space); "" when absent.
std::string queryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    std::string_view raw = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    std::string out;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '+') {
        out += ' ';
      } else if (raw[i] == '%' && i + 2 < raw.size() && hexValue(raw[i + 1]) >= 0 &&
                 hexValue(raw[i + 2]) >= 0) {
        out += static_cast<char>(hexValue(raw[i + 1]) * 16 + hexValue(raw[i + 2]));
        i += 2;
      } else {
        out += raw[i];
      }
    }
    return out;
  }
  return "";
}

}  // namespace

AdminServer::Answer AdminServer::respond(const http1::RequestHead& head, std::string_view peer) {
  std::string_view target = http1::originForm(head.target);
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
  AdminRefusal why = access_.check(head, path);
  if (why == AdminRefusal::None) return handle(head.method, path, query, access_.authorized(head));
  ++refused_[static_cast<size_t>(why)];
  // Never the Authorization header's value: a wrong token may be a right one mistyped.
  logWarn("admin: %.*s %.*s from %.*s refused (%.*s)", static_cast<int>(head.method.size()),
          head.method.data(), static_cast<int>(std::min<size_t>(path.size(), 200)), path.data(),
          static_cast<int>(peer.size()), peer.data(), static_cast<int>(refusalName(why).size()),
          refusalName(why).data());
  switch (why) {
    case AdminRefusal::Host:
      return {421, "text/plain",
              "the admin API answers only its own address, localhost or an IP\n"};
    case AdminRefusal::Origin:
      return {403, "text/plain", "cross-origin requests are refused\n"};
    case AdminRefusal::Header:
      return {403, "text/plain", "send the header `Meridian-Admin: 1` with this request\n"};
    default:
      return {401, "text/plain", "a bearer token is required (Authorization: Bearer TOKEN)\n",
              "www-authenticate: Bearer realm=\"meridian-admin\"\r\n"};
  }
}

void AdminServer::appendMetrics(std::string& out) const {
  appendFamilyHeader(out, "meridian_admin_refused_total",
                     "Admin requests refused, by reason (host, origin, header, token).", "counter");
  for (size_t i = 1; i < refused_.size(); ++i) {
    out += "meridian_admin_refused_total{reason=\"";
    out += refusalName(static_cast<AdminRefusal>(i));
    out += "\"} " + std::to_string(refused_[i]) + "\n";
  }
}

namespace {

// The dashboard's files: its own origin only (no inline script, nothing fetched elsewhere), never
// framed by another page (its drain buttons must not be clickjacked), revalidated on each load
// so an upgraded binary's page replaces the old one.
constexpr char kAssetHeaders[] =
    "content-security-policy: default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'\r\n"
    "x-frame-options: DENY\r\nx-content-type-options: nosniff\r\n"
    "referrer-policy: no-referrer\r\ncache-control: no-cache\r\n";

// POST /regions/NAME/drain and /undrain: the region's name and which; false when `path` is not
// one of them.
bool regionAction(std::string_view path, std::string& region, bool& drain) {
  constexpr std::string_view kPrefix = "/regions/";
  if (path.substr(0, kPrefix.size()) != kPrefix) return false;
  std::string_view rest = path.substr(kPrefix.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return false;
  std::string_view action = rest.substr(slash + 1);
  if (action != "drain" && action != "undrain") return false;
  region = std::string(rest.substr(0, slash));
  drain = action == "drain";
  return true;
}

}  // namespace

AdminServer::Answer AdminServer::handle(std::string_view method, std::string_view path,
                                        std::string_view query, bool authorized) {
  bool get = method == "GET" || method == "HEAD";
  if (const Asset* a = findAsset(path)) {
    if (!get) return {405, "text/plain", "method not allowed\n"};
    return {200, std::string(a->content_type), std::string(a->body), kAssetHeaders};
  }
  if (path == "/dashboard/state" && get) {
    return {200, "application/json", server_.dashboardState(authorized),
            "cache-control: no-store\r\n"};
  }
  std::string region;
  bool drain = false;
  if (regionAction(path, region, drain)) {
    if (method != "POST") return {405, "text/plain", "method not allowed\n"};
    auto r = server_.setRegionDrain(region, drain);
    if (!r.ok()) return {404, "text/plain", r.error().detail + "\n"};
    return {200, "application/json", r.value()};
  }
  if (path == "/regions" && get) return {200, "application/json", server_.regionsJson()};
  if (path == "/explain" && get) {
    std::string ip = queryParam(query, "client_ip");
    if (ip.empty()) return {400, "text/plain", "client_ip is required\n"};
    auto json = server_.explainJson(ip, queryParam(query, "host"), queryParam(query, "path"),
                                    queryParam(query, "method"));
    if (!json.ok()) return {400, "text/plain", json.error().detail + "\n"};
    return {200, "application/json", json.value()};
  }
  if (path == "/config" && get) return {200, "application/json", server_.configJson()};
  if (path == "/healthz" && get) return {200, "text/plain", "ok\n"};
  if (path == "/ready" && get) {
    if (server_.ready()) return {200, "text/plain", "ready\n"};
    return {503, "text/plain", server_.draining() ? "draining\n" : "starting\n"};
  }
  if (path == "/metrics" && get) {
    return {200, "text/plain; version=0.0.4", server_.metricsText()};
  }
  if (path == "/reload" && method == "POST") {
    std::string errors = server_.reload("POST /reload");
    if (errors.empty())
      return {200, "application/json",
              "{\"generation\": " + std::to_string(server_.generation()) + "}\n"};
    return {400, "text/plain", errors};
  }
  if (path == "/drain" && method == "POST") {
    server_.beginDrain();
    return {200, "text/plain", "draining\n"};
  }
  bool known = path == "/healthz" || path == "/ready" || path == "/metrics" || path == "/reload" ||
               path == "/drain" || path == "/regions" || path == "/explain" || path == "/config" ||
               path == "/dashboard/state";
  if (known) return {405, "text/plain", "method not allowed\n"};
  return {404, "text/plain", "not found\n"};
}

}  // namespace meridian::proxy
