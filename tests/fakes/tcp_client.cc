#include "tests/fakes/tcp_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tests/fakes/subprocess.h"

namespace meridian::fakes {

namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

TcpClient::~TcpClient() {
  close();
}

TcpClient::TcpClient(TcpClient&& other) noexcept {
  *this = std::move(other);
}

TcpClient& TcpClient::operator=(TcpClient&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    received_ = std::move(other.received_);
    peerClosed_ = other.peerClosed_;
    peerReset_ = other.peerReset_;
  }
  return *this;
}

::testing::AssertionResult TcpClient::connect(uint16_t port, milliseconds timeout) {
  close();
  received_.clear();
  peerClosed_ = peerReset_ = false;
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return ::testing::AssertionFailure() << "socket: " << strerror(errno);
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  int rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int error = rc == 0 ? 0 : errno;
  if (error == EINPROGRESS) {
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) {
      close();
      return ::testing::AssertionFailure() << "connect to 127.0.0.1:" << port << " timed out";
    }
    socklen_t len = sizeof error;
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &len);
  }
  if (error != 0) {
    close();
    return ::testing::AssertionFailure()
           << "connect to 127.0.0.1:" << port << ": " << strerror(error);
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult TcpClient::send(std::string_view bytes, milliseconds timeout) {
  if (fd_ < 0) return ::testing::AssertionFailure() << "send on a closed TcpClient";
  auto deadline = Clock::now() + timeout;
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int wait = remainingMs(deadline);
      pollfd p{fd_, POLLOUT, 0};
      if (wait == 0 || ::poll(&p, 1, wait) == 0) {
        return ::testing::AssertionFailure()
               << "send timed out with " << bytes.size() << " bytes left";
      }
      continue;
    }
    return ::testing::AssertionFailure() << "send: " << strerror(errno);
  }
  return ::testing::AssertionSuccess();
}

bool TcpClient::readSome(int waitMs) {
  pollfd p{fd_, POLLIN, 0};
  int rc = ::poll(&p, 1, waitMs);
  if (rc == 0) return false;
  if (rc < 0) return errno == EINTR;
  char buf[65536];
  ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
  if (n > 0) {
    received_.append(buf, static_cast<size_t>(n));
  } else if (n == 0) {
    peerClosed_ = true;
  } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
    peerClosed_ = true;
    peerReset_ = errno == ECONNRESET;
  }
  return true;
}

::testing::AssertionResult TcpClient::readUntil(const std::function<bool(std::string_view)>& done,
                                                milliseconds timeout) {
  if (fd_ < 0) return ::testing::AssertionFailure() << "read on a closed TcpClient";
  auto deadline = Clock::now() + timeout;
  while (!done(received_)) {
    if (peerClosed_) {
      return ::testing::AssertionFailure()
             << "peer closed" << (peerReset_ ? " (reset)" : "") << " after " << received_.size()
             << " bytes: " << tail(received_, 300);
    }
    int wait = remainingMs(deadline);
    if (wait == 0 || !readSome(wait)) {
      return ::testing::AssertionFailure()
             << "timed out after " << timeout.count() << "ms with " << received_.size()
             << " bytes: " << tail(received_, 300);
    }
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult TcpClient::readUntilContains(std::string_view needle,
                                                        milliseconds timeout) {
  return readUntil(
      [needle](std::string_view got) { return got.find(needle) != std::string_view::npos; },
      timeout);
}

::testing::AssertionResult TcpClient::readUntilClose(milliseconds timeout) {
  if (fd_ < 0) return ::testing::AssertionFailure() << "read on a closed TcpClient";
  auto deadline = Clock::now() + timeout;
  while (!peerClosed_) {
    int wait = remainingMs(deadline);
    if (wait == 0 || !readSome(wait)) {
      return ::testing::AssertionFailure() << "peer did not close within " << timeout.count()
                                           << "ms; got " << received_.size() << " bytes";
    }
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult TcpClient::readResponse(HttpResponse& response, milliseconds timeout,
                                                   bool requestWasHead) {
  if (fd_ < 0) return ::testing::AssertionFailure() << "read on a closed TcpClient";
  auto deadline = Clock::now() + timeout;
  // Incremental, so a large body costs O(size): parsed bytes leave received() as they go.
  MessageParser parser(MessageParser::Kind::Response);
  parser.setRequestWasHead(requestWasHead);
  for (;;) {
    received_.erase(0, parser.consume(received_));
    if (peerClosed_) parser.onEof();
    // Interim 1xx responses (100 Continue) are skipped like a client would.
    if (parser.state() == MessageParser::State::Done && parser.status() < 200 &&
        parser.status() != 101) {
      parser.reset();
      continue;
    }
    if (parser.state() == MessageParser::State::Error) {
      return ::testing::AssertionFailure()
             << "bad response: " << parser.error() << ": " << tail(received_, 300);
    }
    if (parser.state() == MessageParser::State::Done) {
      response.status = parser.status();
      response.statusLine = parser.startLine();
      response.headers = parser.headers();
      response.trailers = parser.trailers();
      response.chunked = parser.chunked();
      response.body = std::move(parser.body());
      return ::testing::AssertionSuccess();
    }
    if (peerClosed_) {
      return ::testing::AssertionFailure() << "peer closed" << (peerReset_ ? " (reset)" : "")
                                           << " mid-response: " << parser.startLine() << ", "
                                           << parser.bodyBytes() << " body bytes";
    }
    int wait = remainingMs(deadline);
    if (wait == 0 || !readSome(wait)) {
      return ::testing::AssertionFailure()
             << "no complete response within " << timeout.count() << "ms: '" << parser.startLine()
             << "', " << parser.bodyBytes() << " body bytes, unparsed: " << tail(received_, 300);
    }
  }
}

std::string TcpClient::take() {
  return std::exchange(received_, std::string());
}

void TcpClient::shutdownWrite() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void TcpClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void TcpClient::reset() {
  if (fd_ < 0) return;
  linger lin{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lin, sizeof lin);
  close();
}

::testing::AssertionResult HeldPort::open() {
  close();
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return ::testing::AssertionFailure() << "socket: " << strerror(errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 1) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return ::testing::AssertionFailure() << "bind/listen on 127.0.0.1:0: " << strerror(errno);
  }
  port_ = ntohs(addr.sin_port);
  return ::testing::AssertionSuccess();
}

void HeldPort::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace meridian::fakes
