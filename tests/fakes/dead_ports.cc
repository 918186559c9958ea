#include "tests/fakes/dead_ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace meridian::fakes {

namespace {

// A TCP socket bound to 127.0.0.1 on a port the kernel picks; -1 on failure (errno kept).
int bindLoopback(uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  port = ntohs(addr.sin_port);
  return fd;
}

}  // namespace

::testing::AssertionResult RefusedPort::open() {
  close();
  fd_ = bindLoopback(port_);
  if (fd_ < 0) return ::testing::AssertionFailure() << "bind 127.0.0.1:0: " << strerror(errno);
  return ::testing::AssertionSuccess();
}

void RefusedPort::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

::testing::AssertionResult SilentPort::open() {
  close();
  listen_fd_ = bindLoopback(port_);
  if (listen_fd_ < 0 || ::listen(listen_fd_, 0) != 0) {
    return ::testing::AssertionFailure() << "bind/listen 127.0.0.1:0: " << strerror(errno);
  }
  // Fill the accept queue (a backlog of 0 holds one connection) with a connection nobody
  // accepts; a loopback connect completes at once when the queue has room.
  filler_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port_);
  if (filler_fd_ < 0 ||
      ::connect(filler_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return ::testing::AssertionFailure() << "connect to fill the queue: " << strerror(errno);
  }
  return ::testing::AssertionSuccess();
}

void SilentPort::close() {
  if (filler_fd_ >= 0) ::close(filler_fd_);
  if (listen_fd_ >= 0) ::close(listen_fd_);
  filler_fd_ = listen_fd_ = -1;
}

}  // namespace meridian::fakes
