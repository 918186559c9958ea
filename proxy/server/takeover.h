#pragma once
// Zero-downtime binary upgrade: the running process hands its listening sockets to a new one
// over a Unix socket (SCM_RIGHTS), so both accept from the very same accept queues and no
// connection is refused or stranded in a queue nobody reads.
//
// The conversation, one SOCK_SEQPACKET message each:
//   old -> new  "L<name>" + fds   per listener (every per-worker SO_REUSEPORT socket; a long
//                                 list is split over several messages of the same name)
//   old -> new  "A" + fd           the admin socket
//   old -> new  "E"                end of the sockets
//   new -> old  "S"                serving: the new process accepts on all of them
//   old -> new  "D"                the old one stopped accepting and drains; the pid file and
//                                 the takeover socket path now belong to the new process
// Anything else, or a silent peer past the deadline, fails the takeover and the old process
// keeps serving.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/event_loop.h"

namespace meridian::proxy {

// Where the old process listens for a successor: beside its pid file.
std::string takeoverSocketPath(const std::string& pid_file);

// Writes the pid to `path` (whole, via a temporary file and a rename).
core::Result<bool> writePidFile(const std::string& path);

struct HandedSockets {
  std::map<std::string, std::vector<int>> listeners;  // by listener name
  int admin_fd = -1;
};

// The old side: accepts one successor at a time on the takeover socket (mode 0600).
class TakeoverServer {
 public:
  using Collect = std::function<HandedSockets()>;  // the sockets to hand over, not duplicated
  using OnHandedOver = std::function<void()>;      // the successor serves: stop accepting
  TakeoverServer(core::EventLoop& loop, std::string path, Collect collect, OnHandedOver done);
  ~TakeoverServer();  // removes the socket path unless a successor took it over
  core::Result<bool> listen();

 private:
  void onConnection(int fd);

  core::EventLoop& loop_;
  std::string path_;
  Collect collect_;
  OnHandedOver done_;
  int fd_ = -1;
  std::unique_ptr<core::Acceptor> acceptor_;
  bool handed_over_ = false;
};

// The new side.
class TakeoverClient {
 public:
  TakeoverClient() = default;
  ~TakeoverClient();
  TakeoverClient(const TakeoverClient&) = delete;
  TakeoverClient& operator=(const TakeoverClient&) = delete;

  // Connects to the process behind `pid_file` and receives its sockets.
  core::Result<HandedSockets> receive(const std::string& pid_file, core::Millis timeout);
  // Tells the old process this one serves, and waits for it to stop accepting.
  core::Result<bool> confirmServing(core::Millis timeout);

 private:
  int fd_ = -1;
};

}  // namespace meridian::proxy
