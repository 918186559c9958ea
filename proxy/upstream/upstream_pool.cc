#include "proxy/upstream/upstream_pool.h"

#include <errno.h>
#include <sys/socket.h>

#include <algorithm>

#include "core/log.h"
#include "proxy/observe/stats.h"

namespace meridian::proxy {

UpstreamConn::UpstreamConn(UpstreamPool& pool, EndpointPool& ep)
    : pool_(pool), ep_(ep), idle_timer_(pool.loop_, [this] { onIdleTimeout(); }) {}

UpstreamConn::~UpstreamConn() = default;

const std::string& UpstreamConn::endpoint() const {
  return ep_.address.text;
}

void UpstreamConn::onConnected(core::Stream&) {
  // Closed while connecting (its request gave up): the loop reaps it after this turn, but the
  // connect's own event may still come in this one.
  if (closed_) return;
  if (tls_ == nullptr) {
    ready();
    return;
  }
  // ALPN as the cluster's protocol asks; none for http1 (the server's default is HTTP/1.1).
  std::string_view alpn = protocol_ == config::UpstreamProtocol::H2     ? std::string_view("\x02h2")
                          : protocol_ == config::UpstreamProtocol::Auto ? "\x02h2\x08http/1.1"
                                                                        : "";
  auto t = tls_->newTransport(stream_->fd(), ep_.address.text, ep_.tls_host, alpn);
  if (!t) {
    failConnect(ENOMEM);
    return;
  }
  stream_->startClientTls(std::move(t));  // ready() once onHandshakeDone
}

void UpstreamConn::onHandshakeDone(core::Stream& s) {
  if (closed_) return;
  tls_->handshakeDone(*s.transport());
  tls_.reset();  // the transport keeps what it needs
  ready();
}

void UpstreamConn::ready() {
  using P = config::UpstreamProtocol;
  bool h2 = protocol_ == P::H2c;
  if (stream_->transport() != nullptr && (protocol_ == P::H2 || protocol_ == P::Auto)) {
    h2 = stream_->transport()->protocol() == "h2";
    if (protocol_ == P::Auto) ep_.alpn_h2 = h2;
    if (protocol_ == P::H2 && !h2) {
      // `protocol: h2` says the upstream speaks it: one that does not is misconfigured, and
      // for the replay rule nothing was sent.
      logWarn("upstream %s: protocol h2, but ALPN did not choose h2", ep_.address.text.c_str());
      failConnect(EPROTO);
      return;
    }
  }
  connected_ = true;
  std::erase(ep_.connecting, this);
  if (h2) {
    pool_.promote(this);
    return;
  }
  ++requests_;
  if (user_ != nullptr) user_->onUpstreamReady(*this);
}

void UpstreamConn::onConnectFailed(core::Stream&, int err) {
  failConnect(err);
}

void UpstreamConn::failConnect(int err) {
  if (closed_) return;
  UpstreamUser* user = user_;
  EndpointPool& ep = ep_;
  UpstreamPool& pool = pool_;
  pool.stats_.add(Counter::UpstreamConnectFailures);
  pool.destroy(this);
  if (user != nullptr) user->onUpstreamConnectFailed(err);
  // Requests waiting for this HTTP/2 connection: none is coming.
  if (ep.connecting.empty()) pool.failH2Waiters(ep, err);
}

void UpstreamConn::onData(core::Stream& s) {
  if (user_ != nullptr) {
    user_->onUpstreamData(*this);
    return;
  }
  // Bytes from an idle connection: nothing was asked, so the upstream is confused. Drop it.
  pool_.destroy(this);
}

void UpstreamConn::onEof(core::Stream&) {
  if (user_ != nullptr) {
    user_->onUpstreamEof(*this);
    return;
  }
  pool_.destroy(this);  // the upstream closed an idle keep-alive connection
}

void UpstreamConn::onError(core::Stream& s, int err) {
  if (closed_) return;
  if (!connected_ && tls_ != nullptr && s.transport() != nullptr) {
    // The handshake failed: for the replay rule and health, the connect failed.
    certs::UpstreamTlsFailure why = tls_->handshakeFailed(*s.transport());
    logWarn("upstream %s (cluster %s): TLS handshake failed (%s): %s", ep_.address.text.c_str(),
            tls_->cluster().c_str(), certs::upstreamTlsFailureName(why),
            s.transport()->lastError().c_str());
    failConnect(EPROTO);
    return;
  }
  if (user_ != nullptr) {
    user_->onUpstreamError(*this, err);
    return;
  }
  pool_.destroy(this);
}

void UpstreamConn::onDrained(core::Stream&) {
  if (user_ != nullptr) user_->onUpstreamDrained(*this);
}

void UpstreamConn::onIdleTimeout() {
  pool_.destroy(this);
}

UpstreamPool::~UpstreamPool() {
  for (auto& [key, ep] : endpoints_) {
    for (UpstreamConn* c : ep->idle) delete c;
    ep->idle.clear();
    for (H2UpstreamSession* s : ep->sessions) delete s;
    ep->sessions.clear();
  }
}

EndpointPool& UpstreamPool::endpoint(const ResolvedAddress& addr, const config::Pool& limits) {
  auto it = endpoints_.find(addr.text);
  if (it == endpoints_.end()) {
    auto ep = std::make_unique<EndpointPool>();
    ep->address = addr;
    std::lock_guard<std::mutex> lock(endpoints_mu_);
    it = endpoints_.emplace(addr.text, std::move(ep)).first;
  }
  it->second->limits = limits;  // a reload may change them
  return *it->second;
}

int UpstreamPool::active(const std::string& endpoint) const {
  auto it = endpoints_.find(endpoint);
  return it == endpoints_.end() ? 0 : it->second->active.load(std::memory_order_relaxed);
}

int UpstreamPool::inFlight(const std::string& endpoint) const {
  std::lock_guard<std::mutex> lock(endpoints_mu_);
  return active(endpoint);
}

UpstreamPool::Acquire UpstreamPool::acquire(const ResolvedAddress& addr, const config::Pool& limits,
                                            UpstreamUser* user, bool safe_to_resend,
                                            const UpstreamTlsTarget* tls,
                                            config::UpstreamProtocol protocol) {
  EndpointPool& ep = endpoint(addr, limits);
  if (ep.protocol != protocol) {
    ep.protocol = protocol;
    ep.alpn_h2 = false;
  }
  if (tls != nullptr) {
    if (ep.tls != tls->context) {
      ep.tls = tls->context;
      ep.tls_host.assign(tls->host);
    }
  } else if (ep.tls != nullptr) {
    ep.tls.reset();
  }
  if (wantsH2(ep)) return acquireH2(ep, user);
  if (takeIdle(ep, user, safe_to_resend)) return Acquire::Ready;
  if (ep.open < ep.limits.max_connections) {
    int before = ep.open;
    connectNew(ep, user);
    return ep.open > before ? Acquire::Pending : Acquire::Failed;
  }
  if (static_cast<int>(ep.waiting.size()) >= ep.limits.max_pending) {
    stats_.add(Counter::UpstreamOverloaded);
    return Acquire::Overloaded;
  }
  ep.waiting.push_back(user);
  return Acquire::Pending;
}

namespace {
// An idle connection is still usable when reading it would block: EOF, stray bytes or an
// error mean the upstream closed or confused it.
bool stillOpen(int fd) {
  char byte;
  ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}
}  // namespace

uint64_t UpstreamPool::settingsOf(const EndpointPool& ep) {
  return ep.tls != nullptr ? ep.tls->settingsId() : 0;
}

// Hands out the most recently used idle connection that is still alive. A close by the
// upstream is normally seen at once (idle connections keep reading), but its EOF can still be
// queued in this same loop turn. Peeking at the socket rules that out, at a syscall per
// request; it is skipped when the request can simply be resent on a new connection and the
// connection was in use within the last second (upstream keep-alive timeouts are seconds).
bool UpstreamPool::takeIdle(EndpointPool& ep, UpstreamUser* user, bool safe_to_resend) {
  constexpr int64_t kTrustRecentMs = 1000;
  int64_t now = core::monotonicMillis();
  const uint64_t settings = settingsOf(ep);
  while (!ep.idle.empty()) {
    UpstreamConn* c = ep.idle.back();
    ep.idle.pop_back();
    if (c->tls_settings_ != settings) {  // made under TLS settings a reload replaced
      destroy(c);
      continue;
    }
    bool trusted = safe_to_resend && now - c->idle_since_ms_ <= kTrustRecentMs;
    if (trusted || stillOpen(c->stream_->fd())) {
      c->idle_timer_.cancel();
      c->user_ = user;
      ++c->requests_;
      stats_.add(Counter::UpstreamReused);
      user->onUpstreamReady(*c);
      return true;
    }
    destroy(c);
  }
  return false;
}

void UpstreamPool::connectNew(EndpointPool& ep, UpstreamUser* user) {
  auto* conn = new UpstreamConn(*this, ep);
  core::Stream* s = core::Stream::connect(
      loop_, reinterpret_cast<const sockaddr*>(&ep.address.addr), ep.address.len, conn);
  if (s == nullptr) {
    int err = errno;
    delete conn;
    stats_.add(Counter::UpstreamConnectFailures);
    logDebug("upstream %s: connect: %s", ep.address.text.c_str(), strerror(err));
    errno = err;
    return;
  }
  conn->stream_.reset(s);
  conn->h1_.attach(s);
  conn->protocol_ = ep.protocol;
  conn->user_ = user;
  conn->tls_ = ep.tls;
  conn->tls_settings_ = settingsOf(ep);
  ep.connecting.push_back(conn);
  ++ep.open;
  stats_.add(Counter::UpstreamConnects);
}

void UpstreamPool::release(UpstreamConn* conn, bool reusable) {
  conn->user_ = nullptr;
  EndpointPool& ep = conn->ep_;
  if (conn->h2_ != nullptr) {
    // An HTTP/2 stream: the connection stays with its session; a slot came free on it.
    conn->closed_ = true;
    conn->session_->release(*conn->h2_);
    loop_.deleteLater(conn);
    serveH2Waiters(ep);
    return;
  }
  if (!reusable || !conn->connected_ || conn->closed_ || !conn->stream_->input().empty()) {
    destroy(conn);
    return;
  }
  // Let a waiting request have it at once; otherwise keep it warm until idle_timeout.
  if (!ep.waiting.empty()) {
    UpstreamUser* next = ep.waiting.front();
    ep.waiting.pop_front();
    conn->user_ = next;
    ++conn->requests_;
    stats_.add(Counter::UpstreamReused);
    next->onUpstreamReady(*conn);
    return;
  }
  conn->stream_->releaseBuffers();
  if (conn->stream_->readingPaused()) conn->stream_->resumeReading();
  conn->idle_timer_.arm(ep.limits.idle_timeout);
  conn->idle_since_ms_ = core::monotonicMillis();
  ep.idle.push_back(conn);
}

void UpstreamPool::destroy(UpstreamConn* conn) {
  if (conn->closed_) return;
  conn->closed_ = true;
  conn->user_ = nullptr;
  conn->idle_timer_.cancel();
  EndpointPool& ep = conn->ep_;
  std::erase(ep.idle, conn);
  std::erase(ep.connecting, conn);
  if (conn->stream_) {
    --ep.open;
    conn->stream_->pauseReading();
  }
  loop_.deleteLater(conn);
  serveWaiter(ep);
}

// A connection slot came free: open a new connection for the longest-waiting request.
void UpstreamPool::serveWaiter(EndpointPool& ep) {
  if (ep.waiting.empty() || ep.open >= ep.limits.max_connections) return;
  UpstreamUser* next = ep.waiting.front();
  ep.waiting.pop_front();
  if (!takeIdle(ep, next, false)) {
    int before = ep.open;
    connectNew(ep, next);
    if (ep.open == before) next->onUpstreamConnectFailed(errno);
  }
}

void UpstreamPool::cancel(const std::string& endpoint, UpstreamUser* user) {
  auto it = endpoints_.find(endpoint);
  if (it == endpoints_.end()) return;
  EndpointPool& ep = *it->second;
  std::erase(ep.waiting, user);
  std::erase(ep.h2_waiting, user);
  // A connect started for this user: nobody else asked for it, so close it rather than
  // keep a half-open socket around (a lost SYN must not hold the endpoint: the next request
  // connects anew). An HTTP/2 one others wait for becomes the longest waiter's.
  auto doomed = ep.connecting;
  for (UpstreamConn* c : doomed) {
    if (c->user_ != user) continue;
    if (wantsH2(ep) && !ep.h2_waiting.empty()) {
      c->user_ = ep.h2_waiting.front();
      ep.h2_waiting.pop_front();
    } else {
      destroy(c);
    }
  }
}

bool UpstreamPool::queued(const std::string& endpoint, const UpstreamUser* user) const {
  auto it = endpoints_.find(endpoint);
  if (it == endpoints_.end()) return false;
  const auto& waiting = it->second->waiting;
  return std::find(waiting.begin(), waiting.end(), user) != waiting.end();
}

void UpstreamPool::closeIdle() {
  for (auto& [key, ep] : endpoints_) {
    auto idle = ep->idle;
    for (UpstreamConn* c : idle) destroy(c);
    auto sessions = ep->sessions;
    for (H2UpstreamSession* s : sessions) s->drain();
  }
}

// ---- HTTP/2 --------------------------------------------------------------------------------

bool UpstreamPool::wantsH2(const EndpointPool& ep) {
  using P = config::UpstreamProtocol;
  return ep.protocol == P::H2c || ep.protocol == P::H2 ||
         (ep.protocol == P::Auto && ep.tls != nullptr && ep.alpn_h2);
}

// A stream of a session with room; else wait for the connection being made (one connection
// serves many requests: sixty-four at once at start-up must not open sixty-four), else make one.
UpstreamPool::Acquire UpstreamPool::acquireH2(EndpointPool& ep, UpstreamUser* user) {
  if (lendH2(ep, user)) return Acquire::Ready;
  if (ep.connecting.empty() && ep.open < ep.limits.max_connections) {
    int before = ep.open;
    connectNew(ep, user);
    return ep.open > before ? Acquire::Pending : Acquire::Failed;
  }
  if (static_cast<int>(ep.h2_waiting.size()) >= ep.limits.max_pending) {
    stats_.add(Counter::UpstreamOverloaded);
    return Acquire::Overloaded;
  }
  ep.h2_waiting.push_back(user);
  return Acquire::Pending;
}

bool UpstreamPool::lendH2(EndpointPool& ep, UpstreamUser* user) {
  const uint64_t settings = settingsOf(ep);
  for (H2UpstreamSession* s : ep.sessions) {
    if (s->tlsSettings() != settings || !s->canTake()) continue;
    auto* c = new UpstreamConn(*this, ep);
    c->session_ = s;
    c->h2_ = s->open(*c);
    c->connected_ = true;
    c->user_ = user;
    c->requests_ = 1;
    user->onUpstreamReady(*c);
    return true;
  }
  return false;
}

// A new connection speaks HTTP/2 (h2c, or ALPN chose h2): it becomes a session, and the
// request that opened it and those waiting get its streams.
void UpstreamPool::promote(UpstreamConn* conn) {
  EndpointPool& ep = conn->ep_;
  UpstreamUser* user = conn->user_;
  const bool tls = conn->stream_->transport() != nullptr;
  auto* s = new H2UpstreamSession(*this, ep, std::move(conn->stream_), tls, conn->tls_settings_);
  ep.sessions.push_back(s);  // counted in ep.open as the connection was
  conn->closed_ = true;
  conn->user_ = nullptr;
  loop_.deleteLater(conn);
  if (!s->start()) {
    if (user != nullptr) user->onUpstreamConnectFailed(EPROTO);
    if (ep.connecting.empty()) failH2Waiters(ep, EPROTO);
    return;
  }
  if (user != nullptr) ep.h2_waiting.push_front(user);  // served first, by the same rules
  serveH2Waiters(ep);
}

// Streams came free (or a session came up): waiting requests take them, and when every
// session is full, another connection is made for them.
void UpstreamPool::serveH2Waiters(EndpointPool& ep) {
  while (!ep.h2_waiting.empty()) {
    UpstreamUser* next = ep.h2_waiting.front();
    ep.h2_waiting.pop_front();
    if (lendH2(ep, next)) continue;
    if (!ep.connecting.empty() || ep.open >= ep.limits.max_connections) {
      ep.h2_waiting.push_front(next);
      return;
    }
    int before = ep.open;
    connectNew(ep, next);
    if (ep.open == before) next->onUpstreamConnectFailed(errno);
    return;
  }
}

void UpstreamPool::failH2Waiters(EndpointPool& ep, int err) {
  std::deque<UpstreamUser*> waiting;
  waiting.swap(ep.h2_waiting);
  for (UpstreamUser* u : waiting) u->onUpstreamConnectFailed(err);
}

// A session ended (error, GOAWAY done, idle): it takes no more streams, and its connection
// no longer counts against the cap.
void UpstreamPool::sessionClosed(H2UpstreamSession* s) {
  EndpointPool& ep = s->ep_;
  std::erase(ep.sessions, s);
  --ep.open;
  serveH2Waiters(ep);
}

size_t UpstreamPool::openConnections() const {
  size_t n = 0;
  for (const auto& [key, ep] : endpoints_) n += static_cast<size_t>(ep->open);
  return n;
}

}  // namespace meridian::proxy
