#include "proxy/worker.h"

#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "proxy/downstream_conn.h"

namespace meridian::proxy {

namespace {
// Sent, best effort, to a client over limits.max_connections before closing its socket.
constexpr char kTooManyConnections[] =
    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 38\r\n"
    "meridian-error: too_many_connections\r\nconnection: close\r\n\r\n"
    "503 Service Unavailable: too_many_conn\n";
}  // namespace

Worker::Worker(int id, std::shared_ptr<const Snapshot> snap, std::vector<ListenSocket> sockets,
               std::atomic<int>& open_connections)
    : id_(id),
      deadlines_(loop_),
      pool_(loop_, stats_),
      snap_(std::move(snap)),
      sockets_(std::move(sockets)),
      open_connections_(open_connections),
      rng_(std::random_device{}() ^ (static_cast<uint64_t>(id) << 32)) {}

Worker::~Worker() {
  for (DownstreamConn* c : conns_) delete c;
  conns_.clear();
  acceptors_.clear();
  for (auto& s : sockets_) ::close(s.fd);
}

void Worker::start() {
  for (auto& s : sockets_) {
    acceptors_.push_back(
        std::make_unique<core::Acceptor>(loop_, s.fd, [this, &s](int fd) { onAccept(fd, s); }));
  }
  thread_ = std::thread([this] { loop_.run(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::publish(std::shared_ptr<const Snapshot> snap) {
  loop_.post([this, snap = std::move(snap)]() mutable { snap_ = std::move(snap); });
}

void Worker::onAccept(int fd, const ListenSocket& ls) {
  sockaddr_storage peer{};
  socklen_t len = sizeof peer;
  getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len);
  int limit = snap_->config->limits.max_connections;
  if (open_connections_.fetch_add(1, std::memory_order_relaxed) >= limit) {
    open_connections_.fetch_sub(1, std::memory_order_relaxed);
    stats_.add(Counter::DownstreamRejected);
    ssize_t ignored = ::send(fd, kTooManyConnections, sizeof kTooManyConnections - 1,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)ignored;
    ::close(fd);
    return;
  }
  stats_.add(Counter::DownstreamAccepted);
  stats_.downstream_open.fetch_add(1, std::memory_order_relaxed);
  auto* conn = new DownstreamConn(*this, fd, ls, peer);
  conns_.insert(conn);
}

void Worker::reportOutcome(const std::string& cluster, const ResolvedAddress& endpoint,
                           health::Outcome outcome) {
  if (!outcome_sink_) return;
  if (outcome == health::Outcome::Success) {
    if (failing_.empty()) return;  // the common case: nothing to reset
    auto it = failing_.find(endpoint.text);
    if (it == failing_.end()) return;
    failing_.erase(it);
  } else {
    ++failing_[endpoint.text];
  }
  outcome_sink_(cluster, endpoint.text, outcome);
}

void Worker::onConnectionClosed(DownstreamConn* conn) {
  if (conns_.erase(conn) == 0) return;
  open_connections_.fetch_sub(1, std::memory_order_relaxed);
  stats_.downstream_open.fetch_sub(1, std::memory_order_relaxed);
  loop_.deleteLater(conn);
  if (draining_) checkDrained();
}

void Worker::drain(core::Millis deadline) {
  loop_.post([this, deadline] {
    draining_ = true;
    acceptors_.clear();
    for (auto& s : sockets_) ::close(s.fd);
    sockets_.clear();
    auto conns = conns_;
    for (DownstreamConn* c : conns) c->closeIfIdle();
    drain_deadline_ = std::make_unique<core::Timer>(loop_, [this] {
      logWarn("worker %d: drain deadline reached with %zu connections open", id_, conns_.size());
      auto left = conns_;
      for (DownstreamConn* c : left) c->exchangeAborted();
      loop_.stop();
    });
    drain_deadline_->arm(deadline);
    checkDrained();
  });
}

void Worker::checkDrained() {
  if (!conns_.empty()) return;
  pool_.closeIdle();
  drain_deadline_.reset();
  loop_.stop();
}

}  // namespace meridian::proxy
