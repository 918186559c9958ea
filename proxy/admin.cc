#include "proxy/admin.h"

#include <unistd.h>

#include "core/stream.h"
#include "proxy/http1_parser.h"
#include "proxy/http1_writer.h"
#include "proxy/server.h"

namespace meridian::proxy {

class AdminConn final : public core::StreamHandler, public core::Disposable {
 public:
  AdminConn(AdminServer& admin, core::EventLoop& loop, int fd)
      : admin_(admin), stream_(loop, fd, this), timer_(loop, [this] { close(); }) {
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
      std::string_view path = http1::originForm(head.target);
      path = path.substr(0, path.find('?'));
      AdminServer::Answer a = admin_.handle(head.method, path);
      char h[256];
      int len = snprintf(h, sizeof h,
                         "HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %zu\r\n"
                         "connection: close\r\n\r\n",
                         a.status, http1::reasonPhrase(a.status), a.content_type.c_str(),
                         a.body.size());
      s.output().append(h, static_cast<size_t>(len));
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
  fd_ = fd.value();
  acceptor_ = std::make_unique<core::Acceptor>(server_.loop(), fd_, [this](int c) {
    conns_.insert(new AdminConn(*this, server_.loop(), c));
  });
  return localAddress(fd_);
}

void AdminServer::onClosed(AdminConn* conn) {
  conns_.erase(conn);
  server_.loop().deleteLater(conn);
}

AdminServer::Answer AdminServer::handle(std::string_view method, std::string_view path) {
  bool get = method == "GET" || method == "HEAD";
  if (path == "/healthz" && get) return {200, "text/plain", "ok\n"};
  if (path == "/ready" && get) {
    if (server_.ready()) return {200, "text/plain", "ready\n"};
    return {503, "text/plain", server_.draining() ? "draining\n" : "starting\n"};
  }
  if (path == "/metrics" && get) {
    return {200, "text/plain; version=0.0.4", server_.metricsText()};
  }
  if (path == "/reload" && method == "POST") {
    std::string errors = server_.reload();
    if (errors.empty())
      return {200, "application/json",
              "{\"generation\": " + std::to_string(server_.generation()) + "}\n"};
    return {400, "text/plain", errors};
  }
  if (path == "/drain" && method == "POST") {
    server_.beginDrain();
    return {200, "text/plain", "draining\n"};
  }
  bool known = path == "/healthz" || path == "/ready" || path == "/metrics" ||
               path == "/reload" || path == "/drain";
  if (known) return {405, "text/plain", "method not allowed\n"};
  return {404, "text/plain", "not found\n"};
}

}  // namespace meridian::proxy
