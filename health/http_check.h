#pragma once
// HttpCheck: one active health check at a time over its own connection. Connects, sends
// `GET path` with Connection: close, and fails at once on a status that is not 2xx; a 2xx
// passes only once the whole response has arrived (Content-Length bytes of body, or the
// server's close when there is no length), within the timeout. A region that sends heads and
// then stalls must fail its checks: it fails every real request the same way.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "certs/upstream_tls.h"
#include "core/address.h"
#include "core/event_loop.h"
#include "core/stream.h"

namespace meridian::health {

// The status code of an HTTP/1.x status line ("HTTP/1.1 503 Service Unavailable"), or -1
// when the line is not one.
int parseStatusLine(std::string_view line);

// A check of a `tls:` cluster's endpoint speaks TLS as the proxy's own connections do: the
// same context (CA, name, client certificate, session cache) and the same verification.
struct CheckTls {
  std::shared_ptr<const certs::UpstreamTlsContext> context;
  std::string endpoint;  // "10.0.0.7:443": the session cache key
  std::string host;      // the endpoint's host as configured: the name verified by default
};

class HttpCheck : private core::StreamHandler {
 public:
  // passed, and why not ("check failed: status 503", "check failed: timeout", ...).
  using Done = std::function<void(bool passed, const std::string& reason)>;

  explicit HttpCheck(core::EventLoop& loop);
  ~HttpCheck() override;  // abandons a check in flight: `done` is not called
  HttpCheck(const HttpCheck&) = delete;
  HttpCheck& operator=(const HttpCheck&) = delete;

  // Starts a check; `done` runs exactly once, later, on the loop (never from inside start).
  // A check already in flight is abandoned first.
  // `tls`: speak TLS to it (null: plain); a handshake that fails fails the check, with the
  // reason ("check failed: TLS handshake (expired)").
  // `h2`: the cluster speaks HTTP/2 (h2c, or h2 by ALPN over TLS): the check is an HTTP/2
  // GET on a connection of its own, passing on a 2xx whose stream ends in time.
  void start(const core::SocketAddress& addr, const std::string& host, const std::string& path,
             core::Millis timeout, Done done, const CheckTls* tls = nullptr, bool h2 = false);
  void cancel();
  bool running() const { return done_ != nullptr; }

 private:
  void onConnected(core::Stream& s) override;
  void onHandshakeDone(core::Stream& s) override;
  void onConnectFailed(core::Stream& s, int err) override;
  void onData(core::Stream& s) override;
  void onEof(core::Stream& s) override;
  void onError(core::Stream& s, int err) override;
  void onTimer();
  bool judgeStatusLine(core::Buffer& in);
  // HTTP/2 (http_check_h2.cc).
  void sendRequest(core::Stream& s);
  void startH2(core::Stream& s);
  void onH2Data(core::Stream& s);
  bool flushH2(core::Stream& s);
  void endH2();
  struct H2;
  friend struct H2;
  void finish(bool passed, std::string reason);
  void dropStream();

  core::EventLoop& loop_;
  core::Timer timer_;  // the check's timeout, or an immediate failure delivered later
  core::Stream* stream_ = nullptr;
  std::string request_;
  CheckTls tls_;               // context null: plain
  std::string early_failure_;  // set when the check failed before any event could report it
  int status_ = 0;             // of the response, once its status line is in
  bool head_done_ = false;
  int64_t body_left_ = -1;  // bytes of body still due; -1: until the server closes
  Done done_;
  bool h2_ = false;
  std::string host_;
  std::string path_;
  H2* h2s_ = nullptr;  // the HTTP/2 session while an h2 check runs
};

}  // namespace meridian::health
