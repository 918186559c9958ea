#include "tests/fakes/fake_upstream.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>

namespace meridian::fakes {

namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kReadsPerWakeup = 16;
constexpr size_t kStreamPiece = 64 * 1024;
constexpr size_t kStreamHighWater = 256 * 1024;
constexpr size_t kCompactAfter = 1024 * 1024;
constexpr milliseconds kDrainLimit{1000};

std::string hex(uint64_t n) {
  char buf[32];
  snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(n));
  return buf;
}

void setLingerZero(int fd) {
  linger lin{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof lin);
}

}  // namespace

// ---- Connection state -------------------------------------------------------------------------

struct FakeUpstream::Conn {
  enum class Mode {
    Http,       // ready to parse and answer the next request
    Delayed,    // an action waits for its time (pending, pendingAt)
    Streaming,  // a generated body is still being produced
    Hanging,    // never answers again
    WebSocket,  // echoing frames
    Closing,    // flush the output, then close (or reset at resetAt)
    Draining,   // FIN sent; discard input until EOF or drainDeadline
  };

  Conn(int fd, uint64_t id, size_t bodyLimit) : fd(fd), id(id) { parser.setBodyLimit(bodyLimit); }

  int fd;
  uint64_t id;
  Mode mode = Mode::Http;
  bool dead = false;
  bool counted = true;  // still in open_
  bool eof = false;
  std::string in;
  size_t inOff = 0;
  MessageParser parser{MessageParser::Kind::Request};
  bool sentContinue = false;
  uint64_t handled = 0;

  std::string out;
  size_t outOff = 0;
  uint64_t bytesQueued = 0;
  uint64_t bytesWritten = 0;
  int64_t resetAt = -1;  // absolute bytesWritten at which to reset

  uint64_t streamRemaining = 0;
  uint64_t streamOffset = 0;
  bool streamChunked = false;
  size_t streamChunkSize = kStreamPiece;
  bool closeWhenDone = false;

  Action pending;
  ReceivedRequest pendingRequest;
  Clock::time_point pendingAt;
  Clock::time_point lastActivity = Clock::now();
  Clock::time_point drainDeadline;

  void append(std::string_view bytes) {
    out.append(bytes);
    bytesQueued += bytes.size();
  }
  bool outputDrained() const { return outOff == out.size() && streamRemaining == 0; }
};

// ---- Lifecycle --------------------------------------------------------------------------------

FakeUpstream::FakeUpstream() : FakeUpstream(Options{}) {}

FakeUpstream::FakeUpstream(Options options) : options_(options) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    ADD_FAILURE() << "FakeUpstream: pipe2: " << strerror(errno);
    return;
  }
  wakeRead_ = fds[0];
  wakeWrite_ = fds[1];
  if (!openListener(options_.port)) return;
  thread_ = std::thread([this] { loop(); });
}

FakeUpstream::~FakeUpstream() {
  if (thread_.joinable()) {
    runInLoop([this] { stop_ = true; });
    thread_.join();
  }
  for (auto& c : conns_) {
    if (!c->dead) ::close(c->fd);
  }
  if (listenFd_ >= 0) ::close(listenFd_);
  if (wakeRead_ >= 0) ::close(wakeRead_);
  if (wakeWrite_ >= 0) ::close(wakeWrite_);
}

std::string FakeUpstream::address() const {
  return options_.host + ":" + std::to_string(port_);
}

bool FakeUpstream::openListener(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ADD_FAILURE() << "FakeUpstream: socket: " << strerror(errno);
    return false;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (inet_pton(AF_INET, options_.host.c_str(), &addr.sin_addr) != 1) {
    ADD_FAILURE() << "FakeUpstream: not an IPv4 address: " << options_.host;
    ::close(fd);
    return false;
  }
  addr.sin_port = htons(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 4096) != 0) {
    ADD_FAILURE() << "FakeUpstream: bind/listen on port " << port << ": " << strerror(errno);
    ::close(fd);
    return false;
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  listenFd_ = fd;
  return true;
}

void FakeUpstream::wake() {
  char b = 1;
  [[maybe_unused]] ssize_t n = ::write(wakeWrite_, &b, 1);  // full pipe: a wakeup is pending
}

void FakeUpstream::runInLoop(const std::function<void()>& fn) {
  if (!thread_.joinable() || std::this_thread::get_id() == thread_.get_id()) {
    fn();
    return;
  }
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> finished = done->get_future();
  {
    std::lock_guard lock(mutex_);
    commands_.push_back([fn, done] {
      fn();
      done->set_value();
    });
  }
  wake();
  finished.wait();
}

void FakeUpstream::drainCommands() {
  char buf[256];
  while (::read(wakeRead_, buf, sizeof buf) > 0) {
  }
  std::vector<std::function<void()>> commands;
  {
    std::lock_guard lock(mutex_);
    commands.swap(commands_);
  }
  for (auto& command : commands) command();
}

// ---- Scripting and control --------------------------------------------------------------------

void FakeUpstream::setHandler(Handler handler) {
  std::lock_guard lock(mutex_);
  handler_ = std::move(handler);
}

void FakeUpstream::enqueue(Action action) {
  std::lock_guard lock(mutex_);
  script_.push_back(std::move(action));
}

void FakeUpstream::setIdleTimeout(milliseconds timeout) {
  runInLoop([this, timeout] { options_.idleTimeout = timeout; });
}

void FakeUpstream::refuse() {
  runInLoop([this] {
    if (listenFd_ >= 0) ::close(listenFd_);
    listenFd_ = -1;
  });
}

::testing::AssertionResult FakeUpstream::reopen() {
  bool ok = true;
  runInLoop([this, &ok] {
    if (listenFd_ < 0) ok = openListener(port_);
  });
  if (!ok) return ::testing::AssertionFailure() << "could not listen again on port " << port_;
  return ::testing::AssertionSuccess();
}

bool FakeUpstream::isIdle(const Conn& c) const {
  return !c.dead && c.mode == Conn::Mode::Http && c.parser.idle() && c.inOff == c.in.size() &&
         c.outputDrained();
}

size_t FakeUpstream::closeIdleConnections() {
  size_t closed = 0;
  runInLoop([this, &closed] {
    for (auto& c : conns_) {
      if (isIdle(*c)) {
        beginGracefulClose(*c);
        ++closed;
      }
    }
  });
  return closed;
}

size_t FakeUpstream::closeAllConnections() {
  size_t closed = 0;
  runInLoop([this, &closed] {
    for (auto& c : conns_) {
      if (!c->dead) {
        closeConn(*c, false);
        ++closed;
      }
    }
  });
  return closed;
}

// ---- Recorded state ---------------------------------------------------------------------------

std::vector<ReceivedRequest> FakeUpstream::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

ReceivedRequest FakeUpstream::request(size_t index) const {
  std::lock_guard lock(mutex_);
  if (index >= requests_.size()) {
    ADD_FAILURE() << "FakeUpstream: request(" << index << ") but only " << requests_.size()
                  << " received";
    return {};
  }
  return requests_[index];
}

size_t FakeUpstream::requestCount() const {
  std::lock_guard lock(mutex_);
  return requests_.size();
}

size_t FakeUpstream::acceptedConnections() const {
  std::lock_guard lock(mutex_);
  return accepted_;
}

size_t FakeUpstream::openConnections() const {
  std::lock_guard lock(mutex_);
  return open_;
}

std::vector<ReceivedWebSocketFrame> FakeUpstream::webSocketFrames() const {
  std::lock_guard lock(mutex_);
  return frames_;
}

void FakeUpstream::clearRecorded() {
  std::lock_guard lock(mutex_);
  requests_.clear();
  frames_.clear();
}

::testing::AssertionResult FakeUpstream::waitFor(const char* what, size_t n, milliseconds timeout,
                                                 const std::function<size_t()>& count) const {
  std::unique_lock lock(mutex_);
  if (changed_.wait_for(lock, timeout, [&] { return count() >= n; })) {
    return ::testing::AssertionSuccess();
  }
  auto failure = ::testing::AssertionFailure()
                 << "FakeUpstream: waited " << timeout.count() << "ms for " << n << " " << what
                 << ", have " << count() << " (requests: " << requests_.size()
                 << ", accepted connections: " << accepted_ << ", open: " << open_ << ")";
  for (const ReceivedRequest& r : requests_)
    failure << "\n  #" << r.sequence << " conn " << r.connectionId << ": " << r.requestLine;
  return failure;
}

::testing::AssertionResult FakeUpstream::waitForRequests(size_t n, milliseconds timeout) const {
  return waitFor("requests", n, timeout, [this] { return requests_.size(); });
}

::testing::AssertionResult FakeUpstream::waitForConnections(size_t n, milliseconds timeout) const {
  return waitFor("accepted connections", n, timeout, [this] { return accepted_; });
}

size_t FakeUpstream::peerClosedConnections() const {
  std::lock_guard lock(mutex_);
  return peerClosed_;
}

::testing::AssertionResult FakeUpstream::waitForPeerClosed(size_t n, milliseconds timeout) const {
  return waitFor("connections closed by the client", n, timeout, [this] { return peerClosed_; });
}

::testing::AssertionResult FakeUpstream::waitForOpenConnections(size_t n,
                                                                milliseconds timeout) const {
  // Waits until at most n are open: the usual question is "did it close them".
  std::unique_lock lock(mutex_);
  if (changed_.wait_for(lock, timeout, [&] { return open_ <= n; })) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "FakeUpstream: waited " << timeout.count() << "ms for at most " << n
         << " open connections, have " << open_;
}

::testing::AssertionResult FakeUpstream::waitForWebSocketFrames(size_t n,
                                                                milliseconds timeout) const {
  return waitFor("websocket frames", n, timeout, [this] { return frames_.size(); });
}

// ---- The loop ---------------------------------------------------------------------------------

void FakeUpstream::loop() {
  std::vector<pollfd> fds;
  while (!stop_) {
    fds.clear();
    fds.push_back({wakeRead_, POLLIN, 0});
    fds.push_back({listenFd_, POLLIN, 0});  // a negative fd is ignored by poll()
    size_t connCount = conns_.size();
    for (size_t i = 0; i < connCount; ++i) {
      Conn& c = *conns_[i];
      short events = c.eof ? 0 : POLLIN;
      if (!c.outputDrained()) events |= POLLOUT;
      fds.push_back({c.fd, events, 0});
    }
    int n = ::poll(fds.data(), fds.size(), pollTimeoutMs(Clock::now()));
    if (n < 0 && errno != EINTR) {
      ADD_FAILURE() << "FakeUpstream: poll: " << strerror(errno);
      return;
    }
    if (n > 0) {
      if (fds[0].revents) drainCommands();
      if (stop_) break;
      if (fds[1].revents && listenFd_ == fds[1].fd) acceptAll();
      for (size_t i = 0; i < connCount; ++i) {
        if (fds[i + 2].revents && !conns_[i]->dead) handleConn(*conns_[i], fds[i + 2].revents);
      }
    }
    runTimers(Clock::now());
    std::erase_if(conns_, [](const std::unique_ptr<Conn>& c) { return c->dead; });
  }
}

void FakeUpstream::acceptAll() {
  for (;;) {
    int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or a transient error: poll() tells us again
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conns_.push_back(std::make_unique<Conn>(fd, nextConnId_++, options_.maxRecordedBody));
    {
      std::lock_guard lock(mutex_);
      ++accepted_;
      ++open_;
    }
    changed_.notify_all();
  }
}

int FakeUpstream::pollTimeoutMs(Clock::time_point now) const {
  Clock::time_point next = Clock::time_point::max();
  for (const auto& c : conns_) {
    if (c->mode == Conn::Mode::Delayed) next = std::min(next, c->pendingAt);
    if (c->mode == Conn::Mode::Draining) next = std::min(next, c->drainDeadline);
    if (options_.idleTimeout.count() > 0 && isIdle(*c)) {
      next = std::min(next, c->lastActivity + options_.idleTimeout);
    }
  }
  if (next == Clock::time_point::max()) return 1000;
  auto ms = std::chrono::ceil<milliseconds>(next - now).count();
  return static_cast<int>(std::clamp<int64_t>(ms, 0, 1000));
}

void FakeUpstream::runTimers(Clock::time_point now) {
  for (auto& cp : conns_) {
    Conn& c = *cp;
    if (c.dead) continue;
    if (c.mode == Conn::Mode::Delayed && now >= c.pendingAt) {
      c.mode = Conn::Mode::Http;
      startAction(c, std::move(c.pending), c.pendingRequest);
      c.pendingRequest = {};
      flush(c);
      if (!c.dead && c.mode == Conn::Mode::Http) {
        processInput(c);  // requests pipelined behind the delayed one
        if (!c.dead) flush(c);
      }
    } else if (c.mode == Conn::Mode::Draining && now >= c.drainDeadline) {
      closeConn(c, false);
    } else if (options_.idleTimeout.count() > 0 && isIdle(c) &&
               now >= c.lastActivity + options_.idleTimeout) {
      beginGracefulClose(c);
    }
  }
}

void FakeUpstream::handleConn(Conn& c, short revents) {
  if (revents & POLLERR) {
    closeConn(c, false);
    return;
  }
  if (revents & (POLLIN | POLLHUP)) readFrom(c);
  // Answer what can be answered; a response finishing may unblock the next pipelined request.
  for (int round = 0; round < 64 && !c.dead; ++round) {
    uint64_t before = c.handled;
    processInput(c);
    if (!c.dead) flush(c);
    if (c.dead || c.handled == before) break;
  }
  if (c.dead || !c.eof) return;
  bool nothingLeft =
      c.outputDrained() && (c.mode == Conn::Mode::Http || c.mode == Conn::Mode::Hanging ||
                            c.mode == Conn::Mode::WebSocket || c.mode == Conn::Mode::Draining);
  if (nothingLeft || (revents & POLLHUP)) closeConn(c, false);
}

void FakeUpstream::readFrom(Conn& c) {
  for (size_t i = 0; i < kReadsPerWakeup; ++i) {
    size_t old = c.in.size();
    c.in.resize(old + kReadChunk);
    ssize_t n = ::recv(c.fd, c.in.data() + old, kReadChunk, 0);
    c.in.resize(old + (n > 0 ? static_cast<size_t>(n) : 0));
    if (n > 0) {
      c.lastActivity = Clock::now();
      if (c.mode == Conn::Mode::Draining) {
        c.in.clear();
        c.inOff = 0;
      }
      continue;
    }
    if (n == 0) {
      if (!c.eof) {
        std::lock_guard lock(mutex_);
        ++peerClosed_;
        changed_.notify_all();
      }
      c.eof = true;
      c.parser.onEof();
    } else if (errno == EINTR) {
      continue;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      closeConn(c, false);
    }
    return;
  }
}

void FakeUpstream::processInput(Conn& c) {
  while (!c.dead && c.inOff < c.in.size()) {
    if (c.mode == Conn::Mode::WebSocket) {
      processWebSocket(c);
      break;
    }
    if (c.mode != Conn::Mode::Http) break;
    c.inOff += c.parser.consume(std::string_view(c.in).substr(c.inOff));
    if (c.parser.state() == MessageParser::State::Error) {
      queueResponse(c, Action::respond(400, {{"Connection", "close"}}, c.parser.error() + "\n"),
                    c.parser.error() + "\n", false);
      c.mode = Conn::Mode::Closing;
      break;
    }
    if (c.parser.state() == MessageParser::State::Body && !c.sentContinue &&
        headerHasToken(c.parser.headers(), "expect", "100-continue")) {
      c.append("HTTP/1.1 100 Continue\r\n\r\n");
      c.sentContinue = true;
    }
    if (c.parser.state() != MessageParser::State::Done) break;
    dispatch(c);
  }
  if (c.inOff == c.in.size()) {
    c.in.clear();
    c.inOff = 0;
  } else if (c.inOff > kCompactAfter) {
    c.in.erase(0, c.inOff);
    c.inOff = 0;
  }
}

void FakeUpstream::processWebSocket(Conn& c) {
  WebSocketFrame frame;
  while (c.mode == Conn::Mode::WebSocket) {
    size_t used = parseWebSocketFrame(std::string_view(c.in).substr(c.inOff), frame);
    if (used == 0) break;
    c.inOff += used;
    {
      std::lock_guard lock(mutex_);
      frames_.push_back({c.id, frame.opcode, frame.payload});
    }
    changed_.notify_all();
    auto op = static_cast<WebSocketOpcode>(frame.opcode);
    if (op == WebSocketOpcode::Pong) continue;
    if (op == WebSocketOpcode::Ping) frame.opcode = static_cast<uint8_t>(WebSocketOpcode::Pong);
    c.append(encodeWebSocketFrame(frame, false));
    if (op == WebSocketOpcode::Close) c.mode = Conn::Mode::Closing;
  }
}

// ---- Answering --------------------------------------------------------------------------------

void FakeUpstream::dispatch(Conn& c) {
  ReceivedRequest r;
  r.connectionId = c.id;
  r.requestLine = c.parser.startLine();
  r.method = c.parser.method();
  r.target = c.parser.target();
  r.version = c.parser.version();
  r.headers = c.parser.headers();
  r.trailers = c.parser.trailers();
  r.chunked = c.parser.chunked();
  r.body = std::move(c.parser.body());
  r.bodyBytes = c.parser.bodyBytes();
  c.parser.reset();
  c.sentContinue = false;
  ++c.handled;
  {
    std::lock_guard lock(mutex_);
    r.sequence = nextSequence_++;
    requests_.push_back(r);
  }
  changed_.notify_all();
  startAction(c, decide(r), r);
}

Action FakeUpstream::decide(const ReceivedRequest& request) {
  Handler handler;
  {
    std::lock_guard lock(mutex_);
    if (!script_.empty()) {
      Action next = std::move(script_.front());
      script_.pop_front();
      return next;
    }
    handler = handler_;
  }
  if (handler) return handler(request);
  return Action::respond(200, {{"Content-Type", "text/plain"}}, "ok\n");
}

void FakeUpstream::startAction(Conn& c, Action action, const ReceivedRequest& request) {
  if (action.delay.count() > 0) {
    c.mode = Conn::Mode::Delayed;
    c.pendingAt = Clock::now() + action.delay;
    action.delay = milliseconds(0);
    c.pending = std::move(action);
    c.pendingRequest = request;
    return;
  }
  bool head = request.method == "HEAD";
  bool clientCloses = headerHasToken(request.headers, "connection", "close") ||
                      (request.version == "HTTP/1.0" &&
                       !headerHasToken(request.headers, "connection", "keep-alive"));
  if (clientCloses) action.closeAfter = true;
  if (action.resetAfterBytes >= 0) {
    c.resetAt = static_cast<int64_t>(c.bytesQueued) + action.resetAfterBytes;
  }
  bool terminal = action.closeAfter || c.resetAt >= 0;
  if (action.kind == Action::Kind::Stream && (action.streamBytes == 0 || head)) {
    action.kind = Action::Kind::Respond;
    action.headers.push_back({"Content-Length", std::to_string(action.streamBytes)});
  }
  switch (action.kind) {
    case Action::Kind::Respond:
      queueResponse(c, action, action.body, head);
      break;
    case Action::Kind::Raw:
      c.append(action.body);
      terminal = terminal || responseDelimitedByClose(action.body);
      break;
    case Action::Kind::Echo: {
      std::string_view type = request.header("content-type");
      if (!type.empty() && !hasHeader(action.headers, "content-type")) {
        action.headers.push_back({"Content-Type", std::string(type)});
      }
      queueResponse(c, action, request.body, head);
      break;
    }
    case Action::Kind::Stream:
      queueResponse(c, action, {}, head);
      c.streamRemaining = action.streamBytes;
      c.streamOffset = 0;
      c.streamChunked = action.chunked;
      c.streamChunkSize = std::max<size_t>(1, action.chunkSize);
      c.closeWhenDone = terminal;
      c.mode = Conn::Mode::Streaming;
      return;
    case Action::Kind::Close:
      c.mode = Conn::Mode::Closing;
      return;
    case Action::Kind::Hang:
      c.mode = Conn::Mode::Hanging;
      return;
    case Action::Kind::WebSocketEcho: {
      std::string_view key = request.header("sec-websocket-key");
      if (key.empty() || !headerHasToken(request.headers, "upgrade", "websocket")) {
        queueResponse(c, Action::respond(400).withClose(), "not a websocket upgrade\n", head);
        c.mode = Conn::Mode::Closing;
        return;
      }
      std::string reply =
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
          "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
          webSocketAccept(key) + "\r\n";
      for (const Header& h : action.headers) reply += h.name + ": " + h.value + "\r\n";
      c.append(reply + "\r\n");
      c.mode = Conn::Mode::WebSocket;
      return;
    }
  }
  if (terminal) c.mode = Conn::Mode::Closing;
}

void FakeUpstream::queueResponse(Conn& c, const Action& a, const std::string& body,
                                 bool headRequest) {
  std::string head = "HTTP/1.1 " + std::to_string(a.status) + " " + reasonPhrase(a.status) + "\r\n";
  for (const Header& h : a.headers) head += h.name + ": " + h.value + "\r\n";
  bool noBody = a.status < 200 || a.status == 204 || a.status == 304;
  bool framed = hasHeader(a.headers, "content-length") || hasHeader(a.headers, "transfer-encoding");
  bool chunked = a.chunked && !noBody;
  if (!noBody && !framed) {
    uint64_t length = a.kind == Action::Kind::Stream ? a.streamBytes : body.size();
    head += chunked ? std::string("Transfer-Encoding: chunked\r\n")
                    : "Content-Length: " + std::to_string(length) + "\r\n";
  }
  if (a.closeAfter && !hasHeader(a.headers, "connection")) head += "Connection: close\r\n";
  c.append(head + "\r\n");
  if (noBody || headRequest || a.kind == Action::Kind::Stream) return;
  if (!chunked) {
    c.append(body);
    return;
  }
  size_t piece = std::max<size_t>(1, a.chunkSize);
  for (size_t off = 0; off < body.size(); off += piece) {
    std::string_view part = std::string_view(body).substr(off, piece);
    c.append(hex(part.size()) + "\r\n");
    c.append(part);
    c.append("\r\n");
  }
  c.append("0\r\n\r\n");
}

void FakeUpstream::refillStream(Conn& c) {
  if (c.streamRemaining == 0) return;
  while (c.out.size() - c.outOff < kStreamHighWater && c.streamRemaining > 0) {
    size_t n = static_cast<size_t>(
        std::min<uint64_t>(c.streamRemaining, c.streamChunked ? c.streamChunkSize : kStreamPiece));
    if (c.streamChunked) c.append(hex(n) + "\r\n");
    c.append(patternBytes(c.streamOffset, n));
    if (c.streamChunked) c.append("\r\n");
    c.streamOffset += n;
    c.streamRemaining -= n;
  }
  if (c.streamRemaining > 0) return;
  if (c.streamChunked) c.append("0\r\n\r\n");
  c.mode = c.closeWhenDone ? Conn::Mode::Closing : Conn::Mode::Http;
  ++c.handled;  // lets handleConn() look at pipelined requests again
}

void FakeUpstream::flush(Conn& c) {
  while (!c.dead) {
    if (c.outOff == c.out.size()) {
      c.out.clear();
      c.outOff = 0;
      refillStream(c);
      if (c.out.empty()) break;
    }
    size_t n = c.out.size() - c.outOff;
    if (c.resetAt >= 0) {
      uint64_t allowed = static_cast<uint64_t>(c.resetAt) - c.bytesWritten;
      if (allowed == 0) {
        closeConn(c, true);
        return;
      }
      n = static_cast<size_t>(std::min<uint64_t>(n, allowed));
    }
    ssize_t w = ::send(c.fd, c.out.data() + c.outOff, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      closeConn(c, false);
      return;
    }
    c.outOff += static_cast<size_t>(w);
    c.bytesWritten += static_cast<uint64_t>(w);
    c.lastActivity = Clock::now();
  }
  if (c.dead || !c.outputDrained() || c.mode != Conn::Mode::Closing) return;
  if (c.resetAt >= 0) {
    closeConn(c, true);  // the response was shorter than the reset point
  } else {
    beginGracefulClose(c);
  }
}

void FakeUpstream::beginGracefulClose(Conn& c) {
  if (c.eof) {
    closeConn(c, false);
    return;
  }
  // FIN first, then read until the peer closes: close() with unread input would send RST.
  ::shutdown(c.fd, SHUT_WR);
  markClosed(c);  // closed as far as tests can tell; the lingering read is an implementation detail
  c.mode = Conn::Mode::Draining;
  c.drainDeadline = Clock::now() + kDrainLimit;
  c.in.clear();
  c.inOff = 0;
  c.out.clear();
  c.outOff = 0;
  c.streamRemaining = 0;
}

void FakeUpstream::closeConn(Conn& c, bool reset) {
  if (c.dead) return;
  if (reset) setLingerZero(c.fd);
  ::close(c.fd);
  c.dead = true;
  markClosed(c);
}

void FakeUpstream::markClosed(Conn& c) {
  if (c.counted) {
    c.counted = false;
    {
      std::lock_guard lock(mutex_);
      --open_;
    }
    changed_.notify_all();
  }
}

}  // namespace meridian::fakes
