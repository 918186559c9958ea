// FakeUpstream: an in-process HTTP/1.1 server on 127.0.0.1:0 for tests, scriptable per request.
//
// One thread runs a poll() loop over every connection (keep-alive and pipelining supported:
// pipelined requests are answered in order, one at a time). Each complete request is
// recorded, then answered with the next Action queued by enqueue(), or else the one returned
// by the handler (setHandler), or else 200 "ok".
//
// Not built on Meridian's code on purpose: plain POSIX sockets, poll(), std::thread.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/fakes/http_wire.h"

namespace meridian::fakes {

using std::chrono::milliseconds;

struct ReceivedRequest {
  uint64_t sequence = 0;      // 0, 1, 2, ... in arrival order over the whole server
  uint64_t connectionId = 0;  // 1, 2, ... in accept order
  std::string requestLine;    // "GET /x HTTP/1.1"
  std::string method;
  std::string target;
  std::string version;
  Headers headers;         // in wire order, names as sent
  Headers trailers;        // of a chunked body
  bool chunked = false;    // the body came with Transfer-Encoding: chunked
  std::string body;        // decoded; at most Options::maxRecordedBody bytes
  uint64_t bodyBytes = 0;  // decoded body length, even beyond what was recorded

  std::string_view header(std::string_view name) const { return findHeader(headers, name); }
  bool hasHeader(std::string_view name) const { return fakes::hasHeader(headers, name); }
};

// What to do with one request. Build with the static constructors, adjust with the with*().
struct Action {
  enum class Kind { Respond, Raw, Stream, Echo, Close, Hang, WebSocketEcho };

  Kind kind = Kind::Respond;
  int status = 200;
  Headers headers;
  std::string body;
  uint64_t streamBytes = 0;      // Stream: body of this many patternBytes(), generated lazily
  bool chunked = false;          // send the body with Transfer-Encoding: chunked
  size_t chunkSize = 16 * 1024;  // size of each chunk when chunked
  milliseconds delay{0};         // wait this long after the request before acting
  int64_t resetAfterBytes = -1;  // >= 0: RST the connection after this many response bytes
  bool closeAfter = false;       // send Connection: close and close after the response

  static Action respond(int status, Headers headers = {}, std::string body = {});
  // These bytes verbatim as the whole response; the connection closes after them when their
  // head says Connection: close or has no Content-Length/Transfer-Encoding.
  static Action raw(std::string bytes);
  static Action stream(uint64_t bytes);
  static Action echo();                  // 200 with the request's body (and Content-Type)
  static Action closeWithoutResponse();  // FIN (graceful close) without answering
  static Action reset();                 // RST without answering
  static Action hang();                  // never answer; the connection stays open
  static Action webSocketEcho();         // 101 + echo every frame back, unmasked

  Action& withDelay(milliseconds d) {
    delay = d;
    return *this;
  }
  Action& withChunked(size_t size = 16 * 1024) {
    chunked = true;
    chunkSize = size;
    return *this;
  }
  Action& withResetAfter(uint64_t bytes) {
    resetAfterBytes = static_cast<int64_t>(bytes);
    return *this;
  }
  Action& withClose() {
    closeAfter = true;
    return *this;
  }
  Action& withHeader(std::string name, std::string value) {
    headers.push_back({std::move(name), std::move(value)});
    return *this;
  }
};

struct ReceivedWebSocketFrame {
  uint64_t connectionId = 0;
  uint8_t opcode = 0;
  std::string payload;
};

class FakeUpstream {
 public:
  using Handler = std::function<Action(const ReceivedRequest&)>;

  struct Options {
    milliseconds idleTimeout{0};                // > 0: close keep-alive conns idle this long
    size_t maxRecordedBody = 64 * 1024 * 1024;  // per request; bodyBytes counts the rest
    // Where to listen: another loopback address (127.0.0.2, ...) and a given port let two
    // fakes share one port, as two addresses of one DNS name do.
    std::string host = "127.0.0.1";
    uint16_t port = 0;
  };

  FakeUpstream();
  explicit FakeUpstream(Options options);
  ~FakeUpstream();
  FakeUpstream(const FakeUpstream&) = delete;
  FakeUpstream& operator=(const FakeUpstream&) = delete;

  uint16_t port() const { return port_; }
  std::string address() const;  // "127.0.0.1:PORT"

  // Scripting. The handler runs on the server thread; it may call the accessors below.
  void setHandler(Handler handler);
  void enqueue(Action action);  // used FIFO, before the handler
  void setIdleTimeout(milliseconds timeout);

  // Close the listening socket so connects are refused. Accepted connections stay; ones still
  // in the kernel's accept queue are reset (waitForConnections() first to keep them).
  void refuse();
  // Listen again on the same port.
  ::testing::AssertionResult reopen();
  // Gracefully close every connection with no request in progress. Returns how many.
  size_t closeIdleConnections();
  // Close every connection now (FIN), whatever it is doing. Returns how many.
  size_t closeAllConnections();

  // Recorded state; all thread-safe.
  std::vector<ReceivedRequest> requests() const;
  ReceivedRequest request(size_t index) const;  // a copy; index < requestCount()
  size_t requestCount() const;
  size_t acceptedConnections() const;
  size_t openConnections() const;
  // Connections the client (the proxy) closed, seen as end of file, even while a delayed
  // answer was still pending on them.
  size_t peerClosedConnections() const;
  std::vector<ReceivedWebSocketFrame> webSocketFrames() const;
  void clearRecorded();  // forget requests and frames (connection counters stay)

  // Bounded waits: success once the count reaches n, failure at the deadline.
  ::testing::AssertionResult waitForRequests(size_t n, milliseconds timeout) const;
  ::testing::AssertionResult waitForConnections(size_t n, milliseconds timeout) const;
  ::testing::AssertionResult waitForOpenConnections(size_t n, milliseconds timeout) const;
  ::testing::AssertionResult waitForPeerClosed(size_t n, milliseconds timeout) const;
  ::testing::AssertionResult waitForWebSocketFrames(size_t n, milliseconds timeout) const;

 private:
  struct Conn;
  using Clock = std::chrono::steady_clock;

  bool openListener(uint16_t port);
  void runInLoop(const std::function<void()>& fn);
  void wake();
  void loop();
  void acceptAll();
  void drainCommands();
  void handleConn(Conn& c, short revents);
  void readFrom(Conn& c);
  void processInput(Conn& c);
  void processWebSocket(Conn& c);
  void dispatch(Conn& c);
  Action decide(const ReceivedRequest& request);
  void startAction(Conn& c, Action action, const ReceivedRequest& request);
  void queueResponse(Conn& c, const Action& action, const std::string& body, bool headRequest);
  void refillStream(Conn& c);
  void flush(Conn& c);
  void afterFlush(Conn& c);
  void runTimers(Clock::time_point now);
  int pollTimeoutMs(Clock::time_point now) const;
  void closeConn(Conn& c, bool reset);
  void markClosed(Conn& c);
  void beginGracefulClose(Conn& c);
  bool isIdle(const Conn& c) const;
  ::testing::AssertionResult waitFor(const char* what, size_t n, milliseconds timeout,
                                     const std::function<size_t()>& count) const;

  Options options_;
  uint16_t port_ = 0;
  int listenFd_ = -1;
  int wakeRead_ = -1;
  int wakeWrite_ = -1;
  bool stop_ = false;  // loop thread only, set by a command
  uint64_t nextConnId_ = 1;
  std::vector<std::unique_ptr<Conn>> conns_;  // loop thread only

  mutable std::mutex mutex_;  // guards everything below
  mutable std::condition_variable changed_;
  Handler handler_;
  std::deque<Action> script_;
  std::vector<ReceivedRequest> requests_;
  std::vector<ReceivedWebSocketFrame> frames_;
  std::vector<std::function<void()>> commands_;
  uint64_t nextSequence_ = 0;
  size_t accepted_ = 0;
  size_t open_ = 0;
  size_t peerClosed_ = 0;

  std::thread thread_;  // last: started once everything above exists
};

}  // namespace meridian::fakes
