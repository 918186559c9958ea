#pragma once
// The admin endpoints, served on the main thread's loop: /healthz, /ready, /metrics,
// /regions, /explain, /config, POST /reload, POST /drain. One request per connection; operators and
// scrapers, not traffic.
#include <memory>
#include <string>
#include <unordered_set>

#include "config/config.h"
#include "core/error.h"
#include "core/event_loop.h"

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

  // The answer to one request: status, content type, body.
  struct Answer {
    int status = 200;
    std::string content_type = "text/plain";
    std::string body;
  };
  Answer handle(std::string_view method, std::string_view path, std::string_view query);
  void onClosed(AdminConn* conn);

 private:
  Server& server_;
  int fd_ = -1;
  std::unique_ptr<core::Acceptor> acceptor_;
  std::unordered_set<AdminConn*> conns_;
};

}  // namespace meridian::proxy
