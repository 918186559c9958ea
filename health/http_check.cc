#include "health/http_check.h"

#include <errno.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace meridian::health {

namespace {

// A status line longer than this is not one: the check fails instead of buffering on.
constexpr size_t kMaxStatusLine = 1024;
// Nor is a head longer than this a health check's.
constexpr size_t kMaxHead = 16 * 1024;

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  return true;
}

// Content-Length of a head (the lines after the status line), -1 when absent or when the body
// is chunked (then it ends with the server's close: the check asked for Connection: close).
int64_t bodyLength(std::string_view head) {
  int64_t length = -1;
  while (!head.empty()) {
    size_t eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
    if (startsWithNoCase(line, "transfer-encoding:")) return -1;
    if (!startsWithNoCase(line, "content-length:")) continue;
    std::string_view v = line.substr(15);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    int64_t n = 0;
    size_t i = 0;
    for (; i < v.size() && v[i] >= '0' && v[i] <= '9' && n < (int64_t{1} << 40); ++i)
      n = n * 10 + (v[i] - '0');
    if (i > 0) length = n;
  }
  return length;
}

// Takes events from a stream that is being closed, so nothing reaches its old owner.
class DiscardHandler final : public core::StreamHandler {
 public:
  void onData(core::Stream& s) override { s.input().clear(); }
  void onEof(core::Stream&) override {}
  void onError(core::Stream&, int) override {}
};
core::StreamHandler* discardHandler() {
  static DiscardHandler handler;
  return &handler;
}

// A stream may be dropped from inside its own callback, so it is deleted by the loop later.
class DoomedStream final : public core::Disposable {
 public:
  explicit DoomedStream(core::Stream* s) : stream_(s) {}
  ~DoomedStream() override { delete stream_; }

 private:
  core::Stream* stream_;
};

std::string connectFailure(int err) {
  if (err == ECONNREFUSED) return "check failed: connect refused";
  if (err == ETIMEDOUT) return "check failed: connect timeout";
  return std::string("check failed: connect: ") + strerror(err);
}

}  // namespace

int parseStatusLine(std::string_view line) {
  constexpr std::string_view kPrefix = "HTTP/1.";
  if (line.size() < 12 || line.substr(0, kPrefix.size()) != kPrefix) return -1;
  if (line[7] < '0' || line[7] > '9' || line[8] != ' ') return -1;
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return -1;
    status = status * 10 + (line[i] - '0');
  }
  if (line.size() > 12 && line[12] != ' ') return -1;
  return status < 100 ? -1 : status;
}

HttpCheck::HttpCheck(core::EventLoop& loop) : loop_(loop), timer_(loop, [this] { onTimer(); }) {}

HttpCheck::~HttpCheck() {
  cancel();
}

void HttpCheck::start(const core::SocketAddress& addr, const std::string& host,
                      const std::string& path, core::Millis timeout, Done done, const CheckTls* tls,
                      bool h2) {
  cancel();
  done_ = std::move(done);
  h2_ = h2;
  host_ = host;
  path_ = path;
  tls_ = tls != nullptr ? *tls : CheckTls{};
  status_ = 0;
  head_done_ = false;
  body_left_ = -1;
  request_ = "GET " + path + " HTTP/1.1\r\nHost: " + host +
             "\r\nUser-Agent: meridian-health\r\nConnection: close\r\n\r\n";
  stream_ =
      core::Stream::connect(loop_, reinterpret_cast<const sockaddr*>(&addr.addr), addr.len, this);
  if (stream_ == nullptr) {
    // Loopback connects can fail at once; report it from the loop like any other failure so
    // the owner never sees `done` re-entrantly.
    early_failure_ = connectFailure(errno);
    timer_.arm(core::Millis(0));
    return;
  }
  timer_.arm(timeout);
}

void HttpCheck::cancel() {
  timer_.cancel();
  endH2();
  dropStream();
  early_failure_.clear();
  done_ = nullptr;
}

void HttpCheck::dropStream() {
  if (stream_ == nullptr) return;
  stream_->setHandler(discardHandler());
  stream_->pauseReading();
  loop_.deleteLater(new DoomedStream(stream_));
  stream_ = nullptr;
}

void HttpCheck::finish(bool passed, std::string reason) {
  Done done = std::move(done_);
  cancel();
  if (done) done(passed, reason);  // last: the owner may start the next check from here
}

void HttpCheck::onConnected(core::Stream& s) {
  if (tls_.context != nullptr) {
    auto t = tls_.context->newTransport(s.fd(), tls_.endpoint, tls_.host,
                                        h2_ ? std::string_view("\x02h2") : std::string_view());
    if (!t) {
      finish(false, "check failed: TLS: out of memory");
      return;
    }
    s.startClientTls(std::move(t));  // the request goes once onHandshakeDone
    return;
  }
  sendRequest(s);
}

void HttpCheck::onHandshakeDone(core::Stream& s) {
  tls_.context->handshakeDone(*s.transport());
  if (h2_ && s.transport()->protocol() != "h2") {
    finish(false, "check failed: ALPN did not choose h2");
    return;
  }
  sendRequest(s);
}

void HttpCheck::sendRequest(core::Stream& s) {
  if (h2_) {
    startH2(s);
    return;
  }
  s.output().append(request_);
  if (!s.flush()) onError(s, errno);
}

void HttpCheck::onConnectFailed(core::Stream&, int err) {
  finish(false, connectFailure(err));
}

void HttpCheck::onData(core::Stream& s) {
  if (h2_) {
    onH2Data(s);
    return;
  }
  core::Buffer& in = s.input();
  if (status_ == 0 && !judgeStatusLine(in)) return;
  if (!head_done_) {
    size_t n = std::min(in.size(), kMaxHead);
    std::string_view buf(in.pullup(n), n);
    size_t end = buf.find("\r\n\r\n");
    if (end == std::string_view::npos) {
      if (in.size() >= kMaxHead) finish(false, "check failed: head too large");
      return;
    }
    body_left_ = status_ == 204 ? 0 : bodyLength(buf.substr(0, end));
    head_done_ = true;
    in.drain(end + 4);
  }
  if (body_left_ >= 0) {
    body_left_ -= static_cast<int64_t>(std::min<size_t>(in.size(), body_left_));
    if (body_left_ == 0) return finish(true, "check passed");
  }
  in.clear();
}

// Fails the check on a status line that is malformed or not 2xx; true once a 2xx is in.
bool HttpCheck::judgeStatusLine(core::Buffer& in) {
  size_t n = std::min(in.size(), kMaxStatusLine);
  std::string_view head(in.pullup(n), n);
  size_t eol = head.find('\n');
  if (eol == std::string_view::npos) {
    if (in.size() >= kMaxStatusLine) finish(false, "check failed: malformed status line");
    return false;  // the rest of the line is on its way
  }
  std::string_view line = head.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  int status = parseStatusLine(line);
  if (status < 0) {
    finish(false, "check failed: malformed status line");
  } else if (status >= 200 && status < 300) {
    status_ = status;
    return true;
  } else {
    finish(false, "check failed: status " + std::to_string(status));
  }
  return false;
}

void HttpCheck::onEof(core::Stream&) {
  if (h2_) return finish(false, "check failed: closed before the whole response");
  if (status_ == 0) return finish(false, "check failed: closed before status line");
  if (head_done_ && body_left_ < 0) return finish(true, "check passed");  // the close ends it
  finish(false, "check failed: closed before the whole response");
}

void HttpCheck::onError(core::Stream& s, int err) {
  if (tls_.context != nullptr && s.transport() != nullptr && s.handshaking()) {
    certs::UpstreamTlsFailure why = tls_.context->handshakeFailed(*s.transport());
    finish(false,
           std::string("check failed: TLS handshake (") + certs::upstreamTlsFailureName(why) + ")");
    return;
  }
  if (err == ECONNRESET || err == EPIPE) {
    finish(false, "check failed: reset");
  } else {
    finish(false, std::string("check failed: ") + strerror(err));
  }
}

void HttpCheck::onTimer() {
  if (!early_failure_.empty()) {
    finish(false, early_failure_);
  } else {
    finish(false, "check failed: timeout");
  }
}

}  // namespace meridian::health
