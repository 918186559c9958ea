#include "proxy/server/worker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "core/log.h"
#include "proxy/downstream/downstream_conn.h"
#include "proxy/exchange/exchange.h"

namespace meridian::proxy {

namespace {
// Sent, best effort, to a client over limits.max_connections before closing its socket.
constexpr char kTooManyConnections[] =
    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 38\r\n"
    "meridian-error: too_many_connections\r\nconnection: close\r\n\r\n"
    "503 Service Unavailable: too_many_conn\n";

// Resident memory of the process, in KiB (0 when /proc cannot tell).
long residentKiB() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  long size = 0, resident = 0;
  int n = std::fscanf(f, "%ld %ld", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * (sysconf(_SC_PAGESIZE) / 1024) : 0;
}

// After a burst of connections went (slow readers that gave up, a load test that ended), the
// buffers they held are free but still resident: hand them back, and say so (rarely: it takes
// megabytes of buffers going at once).
void trimAfterBurst(int worker) {
  long before = residentKiB();
  int64_t started = core::monotonicMillis();
  core::Buffer::trimFreedMemory();
  long after = residentKiB();
  logInfo("worker %d: many buffers went back; RSS %ld KiB -> %ld KiB (%lld ms)", worker, before,
          after, static_cast<long long>(core::monotonicMillis() - started));
}
}  // namespace

Worker::Worker(int id, std::shared_ptr<const Snapshot> snap, std::vector<ListenSocket> sockets,
               std::atomic<int>& open_connections)
    : id_(id),
      deadlines_(loop_),
      pool_(loop_, stats_),
      snap_(std::move(snap)),
      open_connections_(open_connections),
      rng_(std::random_device{}() ^ (static_cast<uint64_t>(id) << 32)),
      trim_timer_(loop_, [id] { trimAfterBurst(id); }) {
  for (auto& s : sockets) sockets_.push_back(std::make_unique<ListenSocket>(std::move(s)));
}

Worker::~Worker() {
  for (DownstreamConn* c : conns_) delete c;
  conns_.clear();
  acceptors_.clear();
  for (auto& s : sockets_) ::close(s->fd);
}

void Worker::start() {
  auto sockets = std::move(sockets_);
  sockets_.clear();
  for (auto& s : sockets) startAccepting(std::move(s));
  thread_ = std::thread([this] {
    // Many connections let go of their buffers (slow readers that left, a burst that ended):
    // give the memory back once the burst is over, not once per connection.
    core::Buffer::onManyBlocksReleased([this] {
      if (!trim_timer_.armed()) trim_timer_.arm(kTrimDelay);
    });
    loop_.run();
    core::Buffer::onManyBlocksReleased(nullptr);
  });
}

void Worker::startAccepting(std::unique_ptr<ListenSocket> s) {
  ListenSocket* ls = s.get();
  acceptors_.push_back(std::make_unique<core::Acceptor>(
      loop_, ls->fd,
      [this, ls](int fd, const sockaddr_storage& peer) { onAccept(fd, peer, *ls); }));
  sockets_.push_back(std::move(s));
}

// The listening socket may live on elsewhere (a dup kept by a reload, or a successor process):
// libevent applies its epoll removal at the next loop turn, and closing before that would
// leave a registration behind that keeps waking this loop for connections it cannot accept.
void Worker::closeSocketsLater(std::vector<std::unique_ptr<ListenSocket>> sockets) {
  std::vector<int> fds;
  for (auto& s : sockets) fds.push_back(s->fd);
  loop_.post([fds] {
    for (int fd : fds) ::close(fd);
  });
  for (auto& s : sockets) retired_.push_back(std::move(s));
}

void Worker::updateListeners(std::vector<ListenSocket> add, std::vector<std::string> remove) {
  loop_.post([this, add = std::move(add), remove = std::move(remove)]() mutable {
    if (draining_) {
      for (auto& s : add) ::close(s.fd);
      return;
    }
    std::vector<std::unique_ptr<ListenSocket>> gone;
    for (size_t i = 0; i < sockets_.size();) {
      if (std::find(remove.begin(), remove.end(), sockets_[i]->name) == remove.end()) {
        ++i;
        continue;
      }
      acceptors_.erase(acceptors_.begin() + static_cast<long>(i));
      gone.push_back(std::move(sockets_[i]));
      sockets_.erase(sockets_.begin() + static_cast<long>(i));
    }
    for (auto& s : add) startAccepting(std::make_unique<ListenSocket>(std::move(s)));
    if (gone.empty()) return;
    closeSocketsLater(std::move(gone));
    sweepRetired();
  });
}

// Connections of removed listeners finish their request in flight, then close; one still
// busy is looked at again shortly. A retired listener is freed with its last connection.
void Worker::sweepRetired() {
  std::unordered_set<const ListenSocket*> in_use;
  auto conns = conns_;
  for (DownstreamConn* c : conns) {
    const ListenSocket* ls = &c->listener();
    bool retired = std::any_of(retired_.begin(), retired_.end(),
                               [ls](const auto& r) { return r.get() == ls; });
    if (!retired) continue;
    c->closeIfIdle();
    if (conns_.count(c) != 0) in_use.insert(ls);
  }
  std::erase_if(retired_, [&](const auto& r) { return in_use.count(r.get()) == 0; });
  if (retired_.empty()) {
    retire_sweep_.reset();
    return;
  }
  if (!retire_sweep_)
    retire_sweep_ = std::make_unique<core::Timer>(loop_, [this] { sweepRetired(); });
  retire_sweep_->arm(core::Millis(200));
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::publish(std::shared_ptr<const Snapshot> snap) {
  loop_.post([this, snap = std::move(snap)]() mutable { snap_ = std::move(snap); });
}

void Worker::onAccept(int fd, const sockaddr_storage& peer, const ListenSocket& ls) {
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
  metrics_.connectionOpened(ls.name);
  auto* conn = new DownstreamConn(*this, fd, ls, peer);
  conns_.insert(conn);
}

void Worker::reportOutcome(const std::string& cluster, const ResolvedAddress& endpoint,
                           health::Outcome outcome) {
  if (!outcome_sink_) return;
  if (outcome == health::Outcome::Success) {
    if (failing_.empty()) return;  // the common case: nothing to reset
    if (failing_.erase(endpoint.text) == 0) return;
  } else {
    failing_.insert(endpoint.text);
  }
  outcome_sink_(cluster, endpoint.text, outcome);
}

void Worker::onConnectionClosed(DownstreamConn* conn) {
  if (conns_.erase(conn) == 0) return;
  open_connections_.fetch_sub(1, std::memory_order_relaxed);
  stats_.downstream_open.fetch_sub(1, std::memory_order_relaxed);
  metrics_.connectionClosed(conn->listener().name);
  loop_.deleteLater(conn);
  if (draining_) checkDrained();
}

void Worker::drain(core::Millis deadline, core::Millis idle_grace) {
  loop_.post([this, deadline, idle_grace] {
    draining_ = true;
    acceptors_.clear();
    closeSocketsLater(std::move(sockets_));
    sockets_.clear();
    auto close_idle = [this] {
      auto conns = conns_;
      for (DownstreamConn* c : conns) c->closeIfIdle();
    };
    if (idle_grace.count() > 0) {
      idle_grace_ = std::make_unique<core::Timer>(loop_, close_idle);
      idle_grace_->arm(idle_grace);
    } else {
      close_idle();
    }
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
  idle_grace_.reset();
  retire_sweep_.reset();
  loop_.stop();
}

void Worker::setAccessLog(std::shared_ptr<AccessLog> log) {
  if (!thread_.joinable()) {  // not started: nothing else reads it yet
    access_log_ = std::move(log);
    return;
  }
  loop_.post([this, log = std::move(log)]() mutable { access_log_ = std::move(log); });
}

replay::Budget& Worker::replayBudget(std::string_view route) {
  auto it = budgets_.find(route);
  if (it == budgets_.end()) {
    std::lock_guard<std::mutex> lock(budgets_mu_);
    it = budgets_.try_emplace(std::string(route)).first;
  }
  return it->second;
}

void Worker::forEachBudget(
    const std::function<void(const std::string&, const replay::Budget&)>& fn) const {
  std::lock_guard<std::mutex> lock(budgets_mu_);
  for (const auto& [route, b] : budgets_) fn(route, b);
}

}  // namespace meridian::proxy
