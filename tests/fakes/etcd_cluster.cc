#include "tests/fakes/etcd_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>
#include <thread>

namespace meridian::fakes {

using Clock = std::chrono::steady_clock;

std::vector<uint16_t> freeLoopbackPorts(size_t n) {
  std::vector<int> fds;
  std::vector<uint16_t> ports;
  // All held open until every one is known, so that no two are the same.
  while (ports.size() < n) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ::close(fd);
      break;
    }
    fds.push_back(fd);
    ports.push_back(ntohs(a.sin_port));
  }
  for (int fd : fds) ::close(fd);
  return ports;
}

EtcdCluster::EtcdCluster() = default;

EtcdCluster::~EtcdCluster() {
  for (auto& m : members_) {
    if (m.child.pid <= 0) continue;
    ::kill(m.child.pid, SIGCONT);  // a paused member would ignore SIGTERM
    stopChild(m.child, milliseconds(3000));
  }
}

std::string EtcdCluster::initialCluster() const {
  std::string out;
  for (const auto& m : members_)
    out += (out.empty() ? "" : ",") + m.name + "=http://127.0.0.1:" + std::to_string(m.peer_port);
  return out;
}

bool EtcdCluster::spawn(size_t i, bool existing) {
  Member& m = members_[i];
  std::string client = clientUrl(i);
  std::string peer = "http://127.0.0.1:" + std::to_string(m.peer_port);
  std::string log = dir_.file(m.name + ".log");
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  std::vector<std::string> argv = {"/usr/bin/etcd",
                                   "--name",
                                   m.name,
                                   "--data-dir",
                                   dir_.file(m.name),
                                   "--listen-client-urls",
                                   client,
                                   "--advertise-client-urls",
                                   client,
                                   "--listen-peer-urls",
                                   peer,
                                   "--initial-advertise-peer-urls",
                                   peer,
                                   "--initial-cluster",
                                   initialCluster(),
                                   "--initial-cluster-state",
                                   existing ? "existing" : "new",
                                   "--initial-cluster-token",
                                   "meridian-test-" + std::to_string(attempt_),
                                   "--heartbeat-interval",
                                   "50",
                                   "--election-timeout",
                                   "500",
                                   "--logger",
                                   "zap",
                                   "--log-outputs",
                                   "stderr"};
  if (!tls_cert_.empty())
    argv.insert(argv.end(), {"--cert-file", tls_cert_, "--key-file", tls_key_});
  m.child = spawnChild(argv, -1, fd, fd);
  ::close(fd);
  return m.child.pid > 0;
}

bool EtcdCluster::healthy(size_t i) const {
  std::vector<std::string> args = {"--max-time", "1", clientUrl(i) + "/health"};
  if (!tls_ca_.empty()) args.insert(args.begin(), {"--cacert", tls_ca_});
  auto r = curl(args);
  return r.out.find("\"health\":\"true\"") != std::string::npos;
}

::testing::AssertionResult EtcdCluster::start(int members) {
  for (attempt_ = 0; attempt_ < 3; ++attempt_) {
    for (auto& m : members_) {
      if (m.child.pid > 0) stopChild(m.child, milliseconds(2000));
    }
    members_.clear();
    auto ports = freeLoopbackPorts(static_cast<size_t>(2 * members));
    for (int i = 0; i < members; ++i) {
      Member m;
      m.name = "m" + std::to_string(i) + "a" + std::to_string(attempt_);
      m.client_port = ports[static_cast<size_t>(2 * i)];
      m.peer_port = ports[static_cast<size_t>(2 * i + 1)];
      members_.push_back(std::move(m));
    }
    for (size_t i = 0; i < members_.size(); ++i) spawn(i, false);
    auto until = Clock::now() + std::chrono::seconds(20);
    bool up = false, died = false;
    while (Clock::now() < until && !up && !died) {
      up = true;
      for (size_t i = 0; i < members_.size(); ++i) {
        int status = 0;
        if (waitChild(members_[i].child, milliseconds(0), status)) {
          members_[i].child.pid = -1;
          died = true;  // a port taken meanwhile: new ports, new attempt
        }
        if (!died && !healthy(i)) up = false;
      }
      if (!up) std::this_thread::sleep_for(milliseconds(50));
    }
    if (up) return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "etcd did not start:\n" << logs();
}

void EtcdCluster::kill(size_t i) {
  Member& m = members_[i];
  if (m.child.pid <= 0) return;
  ::kill(m.child.pid, SIGKILL);
  int status = 0;
  waitChild(m.child, milliseconds(5000), status);
  m.child.pid = -1;
}

void EtcdCluster::restart(size_t i) {
  if (members_[i].child.pid <= 0) spawn(i, true);
}

::testing::AssertionResult EtcdCluster::waitHealthy() {
  auto until = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < until) {
    bool all = true;
    for (size_t i = 0; i < members_.size() && all; ++i)
      all = members_[i].child.pid <= 0 || healthy(i);
    if (all) return ::testing::AssertionSuccess();
    std::this_thread::sleep_for(milliseconds(50));
  }
  return ::testing::AssertionFailure() << "etcd is not healthy:\n" << logs();
}

void EtcdCluster::pause(size_t i) {
  if (members_[i].child.pid > 0) ::kill(members_[i].child.pid, SIGSTOP);
}

void EtcdCluster::resume(size_t i) {
  if (members_[i].child.pid > 0) ::kill(members_[i].child.pid, SIGCONT);
}

size_t EtcdCluster::memberOf(const std::string& url) const {
  for (size_t i = 0; i < members_.size(); ++i) {
    if (clientUrl(i) == url) return i;
  }
  return members_.size();
}

std::string EtcdCluster::clientUrl(size_t i) const {
  return (tls_cert_.empty() ? "http://127.0.0.1:" : "https://127.0.0.1:") +
         std::to_string(members_[i].client_port);
}

std::string EtcdCluster::endpoints() const {
  std::string out;
  for (size_t i = 0; i < members_.size(); ++i) out += (i ? "," : "") + clientUrl(i);
  return out;
}

std::string EtcdCluster::logs() const {
  std::string out;
  for (const auto& m : members_)
    out += m.name + ": " + tail(readFile(dir_.file(m.name + ".log")), 1500) + "\n";
  return out;
}

}  // namespace meridian::fakes
