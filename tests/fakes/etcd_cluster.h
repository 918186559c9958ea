// EtcdCluster: a real etcd cluster (Debian's etcd-server) on loopback for fleet tests. etcd
// cannot bind port 0 and report it, so ports are picked by binding and closing sockets, and a
// member that fails to start (a port taken meanwhile) makes start() try again with new ones.
// Data lives in a temp dir; members are stopped by PID.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/fakes/subprocess.h"

namespace meridian::fakes {

class EtcdCluster {
 public:
  EtcdCluster();
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  // Before start(): clients speak TLS to etcd (https URLs), with this certificate and key,
  // which `ca` signed.
  void useTls(std::string cert, std::string key, std::string ca) {
    tls_cert_ = std::move(cert);
    tls_key_ = std::move(key);
    tls_ca_ = std::move(ca);
  }
  // Starts `members` members and waits until every one answers /health.
  ::testing::AssertionResult start(int members);
  // SIGKILLs member i (its data stays).
  void kill(size_t i);
  // SIGSTOP and SIGCONT: a member that hangs, its sockets open, answering nothing.
  void pause(size_t i);
  void resume(size_t i);
  // The member whose client URL this is; size() when none.
  size_t memberOf(const std::string& url) const;
  // Starts member i again on its data and ports (waitHealthy() waits for it to serve: a
  // member alone has no quorum, so restart every killed one first).
  void restart(size_t i);
  // Until every running member answers /health as healthy.
  ::testing::AssertionResult waitHealthy();
  // "http://127.0.0.1:P1,http://127.0.0.1:P2,..."; and one member's URL.
  std::string endpoints() const;
  std::string clientUrl(size_t i) const;
  size_t size() const { return members_.size(); }
  // True when /health of member i says healthy (the cluster has a leader).
  bool healthy(size_t i) const;
  std::string logs() const;

 private:
  struct Member {
    std::string name;
    uint16_t client_port = 0;
    uint16_t peer_port = 0;
    Child child;
  };
  bool spawn(size_t i, bool existing);
  std::string initialCluster() const;

  TempDir dir_{"etcd"};
  std::string tls_cert_, tls_key_, tls_ca_;
  std::vector<Member> members_;
  int attempt_ = 0;
};

// Ports free at the moment (bound to 127.0.0.1:0 and closed), all different.
std::vector<uint16_t> freeLoopbackPorts(size_t n);

}  // namespace meridian::fakes
