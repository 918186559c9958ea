#pragma once
// Per-worker upstream connections: keep-alive reuse (last used first, so a few connections
// stay warm and the rest expire), idle expiry, a cap per endpoint with a bounded wait queue,
// and detection of connections the upstream closed while they sat idle.
#include <sys/socket.h>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "certs/upstream_tls.h"
#include "config/config.h"
#include "core/address.h"
#include "core/event_loop.h"
#include "core/stream.h"
#include "proxy/upstream/h2_upstream_session.h"
#include "proxy/upstream/upstream_channel.h"

namespace meridian::proxy {

class UpstreamConn;
struct WorkerStats;

// Who is using a connection: gets its events while the connection is lent to it.
class UpstreamUser {
 public:
  virtual ~UpstreamUser() = default;
  // A connection is ready for this user (new and connected, reused, or freed by another).
  virtual void onUpstreamReady(UpstreamConn& conn) = 0;
  virtual void onUpstreamConnectFailed(int err) = 0;
  virtual void onUpstreamData(UpstreamConn& conn) = 0;
  virtual void onUpstreamEof(UpstreamConn& conn) = 0;
  virtual void onUpstreamError(UpstreamConn& conn, int err) = 0;
  virtual void onUpstreamDrained(UpstreamConn& conn) = 0;
};

using ResolvedAddress = core::SocketAddress;  // its text ("127.0.0.1:9001") is the pool key

// TLS to an endpoint: the cluster's context and the endpoint's host as configured (the name
// verified unless the cluster sets server_name). Absent for a plain cluster.
struct UpstreamTlsTarget {
  std::shared_ptr<const certs::UpstreamTlsContext> context;
  std::string_view host;
};

class UpstreamPool;
struct EndpointPool;

// What a request holds while it is sent and answered: an HTTP/1.1 connection of its own, or a
// stream of an HTTP/2 connection (a lease: the session belongs to the pool). Either way the
// user sees one channel().
class UpstreamConn final : public core::StreamHandler, public core::Disposable {
 public:
  UpstreamConn(UpstreamPool& pool, EndpointPool& ep);
  ~UpstreamConn() override;

  UpstreamChannel& channel() {
    return h2_ ? static_cast<UpstreamChannel&>(*h2_) : static_cast<UpstreamChannel&>(h1_);
  }
  // True when this connection carried a request before: a failure before any response byte
  // may then be the upstream's keep-alive close racing our request, not a real failure.
  bool reused() const { return requests_ > 1; }
  // An HTTP/2 stream the upstream did not process (GOAWAY below it, REFUSED_STREAM): the
  // request may go again as after a failed connect.
  bool refused() const { return h2_ != nullptr && h2_->refused(); }
  bool isH2() const { return h2_ != nullptr; }
  const std::string& endpoint() const;

  void onConnected(core::Stream&) override;
  void onConnectFailed(core::Stream&, int err) override;
  void onData(core::Stream&) override;
  void onEof(core::Stream&) override;
  void onError(core::Stream&, int err) override;
  void onDrained(core::Stream&) override;
  void onHandshakeDone(core::Stream&) override;

 private:
  friend class UpstreamPool;
  friend class H2UpstreamSession;
  void onIdleTimeout();
  void ready();
  void failConnect(int err);
  UpstreamPool& pool_;
  EndpointPool& ep_;
  std::unique_ptr<core::Stream> stream_;  // null for an HTTP/2 lease
  StreamChannel h1_;
  std::unique_ptr<H2StreamChannel> h2_;
  H2UpstreamSession* session_ = nullptr;  // the lease's session
  config::UpstreamProtocol protocol_ = config::UpstreamProtocol::Http1;
  core::Timer idle_timer_;
  UpstreamUser* user_ = nullptr;
  // The TLS context this connection was made with (null: plain); kept until the handshake
  // is done, its settings id for as long as the connection lives.
  std::shared_ptr<const certs::UpstreamTlsContext> tls_;
  uint64_t tls_settings_ = 0;
  uint64_t requests_ = 0;
  int64_t idle_since_ms_ = 0;
  bool connected_ = false;
  bool closed_ = false;
};

struct EndpointPool {
  ResolvedAddress address;
  config::Pool limits;
  int open = 0;  // connections, idle or busy or connecting
  // Requests in flight on this endpoint (least-outstanding choice). Atomic only so /regions
  // can read it from the main thread; written by the owning worker alone.
  std::atomic<int> active{0};
  std::vector<UpstreamConn*> idle;  // most recently used last
  std::vector<UpstreamConn*> connecting;
  std::deque<UpstreamUser*> waiting;
  // TLS for new connections, as the latest acquire asked (a reload may change it).
  std::shared_ptr<const certs::UpstreamTlsContext> tls;
  std::string tls_host;
  // HTTP/2: the protocol the latest acquire asked for; whether ALPN chose h2 (`auto`); the
  // sessions, and requests waiting for one that is being connected.
  config::UpstreamProtocol protocol = config::UpstreamProtocol::Http1;
  bool alpn_h2 = false;
  std::vector<H2UpstreamSession*> sessions;
  std::deque<UpstreamUser*> h2_waiting;
};

class UpstreamPool {
 public:
  UpstreamPool(core::EventLoop& loop, WorkerStats& stats) : loop_(loop), stats_(stats) {}
  ~UpstreamPool();

  enum class Acquire { Ready, Pending, Overloaded, Failed };
  // Lends `user` a connection to `addr`. Ready: onUpstreamReady was already called. Pending:
  // it will be called (or onUpstreamConnectFailed). Overloaded: cap and queue are full.
  // Failed: a socket could not be made (errno set).
  //
  // `safe_to_resend`: the request could be sent again on a new connection if this one turns
  // out to be dead (no body). Then a recently used idle connection is lent without the
  // liveness check, saving a syscall per request; otherwise it is checked first.
  //
  // `tls`: TLS to the endpoint (the handshake is part of connecting: a failed one is a connect
  // failure). An idle connection made under other TLS settings (a reload changed them) is
  // closed rather than lent.
  //
  // `protocol`: the cluster's. For HTTP/2 (h2c, h2, auto once ALPN chose h2) the user gets a
  // stream of the endpoint's session with room, or waits for the one being connected.
  Acquire acquire(const ResolvedAddress& addr, const config::Pool& limits, UpstreamUser* user,
                  bool safe_to_resend = false, const UpstreamTlsTarget* tls = nullptr,
                  config::UpstreamProtocol protocol = config::UpstreamProtocol::Http1);
  // Gives a connection back: kept idle when `reusable`, else closed.
  void release(UpstreamConn* conn, bool reusable);
  // Lends a connection already lent to one user to another (a hedge's connection to the
  // request that adopts it once its response head came first): it keeps its state, and its
  // events go to `to` from now.
  void handOver(UpstreamConn* conn, UpstreamUser* to) { conn->user_ = to; }
  // Withdraws a user still waiting for a connection, or whose new connection is still
  // connecting (its request ended first): it hears nothing more.
  void cancel(const std::string& endpoint, UpstreamUser* user);
  // True while `user` waits in the endpoint's queue (its cap reached), before any connect of
  // its own began: a timeout then says nothing about the endpoint.
  bool queued(const std::string& endpoint, const UpstreamUser* user) const;

  // In-flight requests per endpoint, for least-outstanding choice (worker thread).
  int active(const std::string& endpoint) const;
  // The same, from any thread (for /regions).
  int inFlight(const std::string& endpoint) const;
  EndpointPool& endpoint(const ResolvedAddress& addr, const config::Pool& limits);
  // Closes every idle connection (drain, shutdown); HTTP/2 sessions take no new streams and
  // close once their last one ends.
  void closeIdle();
  size_t openConnections() const;

 private:
  friend class UpstreamConn;
  friend class H2UpstreamSession;
  friend class H2StreamChannel;
  void connectNew(EndpointPool& ep, UpstreamUser* user);
  static bool wantsH2(const EndpointPool& ep);
  Acquire acquireH2(EndpointPool& ep, UpstreamUser* user);
  bool lendH2(EndpointPool& ep, UpstreamUser* user);
  void promote(UpstreamConn* conn);
  void serveH2Waiters(EndpointPool& ep);
  void failH2Waiters(EndpointPool& ep, int err);
  void sessionClosed(H2UpstreamSession* s);
  bool takeIdle(EndpointPool& ep, UpstreamUser* user, bool safe_to_resend);
  static uint64_t settingsOf(const EndpointPool& ep);
  void destroy(UpstreamConn* conn);
  void serveWaiter(EndpointPool& ep);

  core::EventLoop& loop_;
  WorkerStats& stats_;
  std::unordered_map<std::string, std::unique_ptr<EndpointPool>> endpoints_;
  // Held by the worker only while inserting into endpoints_, and by readers on other threads;
  // the worker's own lookups need no lock (it is the only writer).
  mutable std::mutex endpoints_mu_;
};

}  // namespace meridian::proxy
