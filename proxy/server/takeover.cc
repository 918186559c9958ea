#include "proxy/server/takeover.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "core/log.h"

namespace meridian::proxy {

namespace {

constexpr size_t kMaxFdsPerMessage = 200;  // under the kernel's SCM_MAX_FD (253)
constexpr size_t kMaxMessage = 4096;
// The old process waits this long for its successor to say it serves; the main thread blocks
// meanwhile (workers keep serving), and the successor normally answers within milliseconds.
constexpr core::Millis kServeTimeout{10000};

core::Error failure(std::string detail) {
  return core::Error{core::ErrorKind::Internal, core::Side::Internal, false,
                     "takeover: " + std::move(detail)};
}

bool sendMessage(int fd, const std::string& text, const int* fds, size_t nfds) {
  iovec iov{const_cast<char*>(text.data()), text.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage));
  if (nfds > 0) {
    msg.msg_control = control.data();
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  for (;;) {
    ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n >= 0) return static_cast<size_t>(n) == text.size();
    if (errno != EINTR) return false;
  }
}

// One message, waiting at most until `deadline` (monotonic ms). Received fds are close-on-exec.
bool receiveMessage(int fd, int64_t deadline, std::string& text, std::vector<int>& fds) {
  for (;;) {
    int64_t left = deadline - core::monotonicMillis();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    break;
  }
  char buf[kMaxMessage];
  iovec iov{buf, sizeof buf};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  if (n <= 0) return false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const auto* data = reinterpret_cast<const int*>(CMSG_DATA(c));
    fds.insert(fds.end(), data, data + count);
  }
  text.assign(buf, static_cast<size_t>(n));
  return (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) == 0;
}

void closeAll(HandedSockets& s) {
  for (auto& [name, fds] : s.listeners) {
    for (int fd : fds) ::close(fd);
  }
  s.listeners.clear();
  if (s.admin_fd >= 0) ::close(s.admin_fd);
  s.admin_fd = -1;
}

bool unixAddress(const std::string& path, sockaddr_un& addr) {
  addr = sockaddr_un{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return false;
  memcpy(addr.sun_path, path.data(), path.size());
  return true;
}

}  // namespace

std::string takeoverSocketPath(const std::string& pid_file) {
  return pid_file + ".sock";
}

core::Result<bool> writePidFile(const std::string& path) {
  std::string tmp = path + ".tmp";
  FILE* f = fopen(tmp.c_str(), "w");
  if (f == nullptr) return failure("pid file " + tmp + ": " + strerror(errno));
  fprintf(f, "%d\n", static_cast<int>(getpid()));
  fclose(f);
  if (rename(tmp.c_str(), path.c_str()) != 0)
    return failure("pid file " + path + ": " + strerror(errno));
  return true;
}

TakeoverServer::TakeoverServer(core::EventLoop& loop, std::string path, Collect collect,
                               OnHandedOver done)
    : loop_(loop), path_(std::move(path)), collect_(std::move(collect)), done_(std::move(done)) {}

TakeoverServer::~TakeoverServer() {
  acceptor_.reset();
  if (fd_ >= 0) ::close(fd_);
  if (!handed_over_ && !path_.empty()) ::unlink(path_.c_str());
}

core::Result<bool> TakeoverServer::listen() {
  sockaddr_un addr;
  if (!unixAddress(path_, addr)) return failure("socket path too long: " + path_);
  fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return failure(strerror(errno));
  ::unlink(path_.c_str());  // a stale one from a process that died
  // Only this user may connect: whoever connects receives every listening socket.
  mode_t old_mask = ::umask(0177);
  int rc = ::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  ::umask(old_mask);
  if (rc != 0 || ::chmod(path_.c_str(), 0600) != 0 || ::listen(fd_, 4) != 0)
    return failure(path_ + ": " + strerror(errno));
  acceptor_ = std::make_unique<core::Acceptor>(
      loop_, fd_, [this](int c, const sockaddr_storage&) { onConnection(c); });
  return true;
}

void TakeoverServer::onConnection(int fd) {
  if (handed_over_) {
    ::close(fd);
    return;
  }
  // The exchange is short and bounded: done inline, blocking, on the main thread.
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  HandedSockets s = collect_();
  bool sent = true;
  for (const auto& [name, fds] : s.listeners) {
    for (size_t i = 0; i < fds.size() && sent; i += kMaxFdsPerMessage)
      sent =
          sendMessage(fd, "L" + name, fds.data() + i, std::min(kMaxFdsPerMessage, fds.size() - i));
  }
  if (sent && s.admin_fd >= 0) sent = sendMessage(fd, "A", &s.admin_fd, 1);
  if (sent) sent = sendMessage(fd, "E", nullptr, 0);
  std::string reply;
  std::vector<int> none;
  bool serving = sent &&
                 receiveMessage(fd, core::monotonicMillis() + kServeTimeout.count(), reply, none) &&
                 reply == "S";
  for (int extra : none) ::close(extra);
  if (!serving) {
    logError("takeover: the new process did not take over; this one keeps serving");
    ::close(fd);
    return;
  }
  handed_over_ = true;
  // Stop accepting first, then let the successor own the path and the pid file.
  acceptor_.reset();
  loop_.post([fd = fd_] { ::close(fd); });  // after libevent dropped it from epoll
  fd_ = -1;
  logInfo("takeover: the new process serves; draining");
  done_();
  if (!sendMessage(fd, "D", nullptr, 0)) logWarn("takeover: could not confirm the drain");
  ::close(fd);
}

TakeoverClient::~TakeoverClient() {
  if (fd_ >= 0) ::close(fd_);
}

core::Result<HandedSockets> TakeoverClient::receive(const std::string& pid_file,
                                                    core::Millis timeout) {
  std::string path = takeoverSocketPath(pid_file);
  sockaddr_un addr;
  if (!unixAddress(path, addr)) return failure("socket path too long: " + path);
  fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return failure(strerror(errno));
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    return failure("cannot connect to " + path + ": " + strerror(errno));
  int64_t deadline = core::monotonicMillis() + timeout.count();
  HandedSockets s;
  for (;;) {
    std::string text;
    std::vector<int> fds;
    if (!receiveMessage(fd_, deadline, text, fds)) {
      for (int fd : fds) ::close(fd);
      closeAll(s);
      return failure("the old process sent no complete socket list");
    }
    if (text == "E") break;
    if (text == "A" && fds.size() == 1 && s.admin_fd < 0) {
      s.admin_fd = fds[0];
    } else if (text.size() > 1 && text[0] == 'L') {
      auto& list = s.listeners[text.substr(1)];
      list.insert(list.end(), fds.begin(), fds.end());
    } else {
      for (int fd : fds) ::close(fd);
      closeAll(s);
      return failure("unexpected message from the old process");
    }
  }
  for (auto& [name, fds] : s.listeners) {
    // Accepted connections must be non-blocking like our own; the flag lives on the shared
    // file description, which the old process already set.
    for (int fd : fds) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  return s;
}

core::Result<bool> TakeoverClient::confirmServing(core::Millis timeout) {
  if (fd_ < 0 || !sendMessage(fd_, "S", nullptr, 0)) return failure("lost the old process");
  std::string reply;
  std::vector<int> none;
  bool ok = receiveMessage(fd_, core::monotonicMillis() + timeout.count(), reply, none);
  for (int fd : none) ::close(fd);
  ::close(fd_);
  fd_ = -1;
  if (!ok || reply != "D") return failure("the old process did not confirm its drain");
  return true;
}

}  // namespace meridian::proxy
