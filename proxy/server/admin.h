#pragma once
// The admin endpoints, served on the main thread's loop: /healthz, /ready, /metrics,
// /regions, /explain, /config, POST /reload, POST /drain, the dashboard (GET /, /ui/...,
// /dashboard/state) and POST /regions/NAME/drain|undrain. One request per connection;
// operators and scrapers, not traffic. Who may ask is admin_access.h's rule.
#include <array>
#include <memory>
#include <string>
#include <unordered_set>

#include "config/config.h"
#include "core/error.h"
#include "core/event_loop.h"
#include "proxy/server/admin_access.h"

namespace meridian::proxy {

class Server;
class AdminConn;

class AdminServer {
 public:
  explicit AdminServer(Server& server);
  ~AdminServer();
  // Binds and starts accepting; returns the bound address ("127.0.0.1:9901").
  core::Result<std::string> listen(const config::HostPort& address);
  // Starts accepting on a listening socket handed over by a predecessor process.
  core::Result<std::string> adopt(int fd);
  // A successor accepts on this socket now: stop (the socket itself stays open there).
  void stopAccepting();
  int fd() const { return fd_; }

  // Who may ask: the host of admin.address, and the bearer token ("" for none). The host
  // stays as it was at start (a reload does not move the admin address); the token follows
  // every reload.
  void setAdminHost(std::string host) { access_.setAdminHost(std::move(host)); }
  void setToken(std::string token) { access_.setToken(std::move(token)); }

  // The answer to one request: status, content type, body, more header lines.
  struct Answer {
    Answer(int s, std::string type, std::string text, std::string extra = {})
        : status(s),
          content_type(std::move(type)),
          body(std::move(text)),
          extra_headers(std::move(extra)) {}
    int status;
    std::string content_type;
    std::string body;
    std::string extra_headers;  // "name: value\r\n" lines
  };
  // One request from `peer`: refused (and counted, and logged) or handled.
  Answer respond(const http1::RequestHead& head, std::string_view peer);
  // `authorized`: the request may see what /config shows (AdminAccess::authorized).
  Answer handle(std::string_view method, std::string_view path, std::string_view query,
                bool authorized = true);
  void onClosed(AdminConn* conn);
  // meridian_admin_refused_total{reason}, in Prometheus text.
  void appendMetrics(std::string& out) const;

 private:
  Server& server_;
  AdminAccess access_;
  std::array<uint64_t, static_cast<size_t>(AdminRefusal::kCount)> refused_{};
  int fd_ = -1;
  std::unique_ptr<core::Acceptor> acceptor_;
  std::unordered_set<AdminConn*> conns_;
};

}  // namespace meridian::proxy
