#include "proxy/observe/access_log.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/log.h"

namespace meridian::proxy {

namespace {

constexpr char kHex[] = "0123456789abcdef";

void appendEscapedByte(std::string& out, unsigned char c) {
  char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
  out.append(esc, sizeof esc);
}

bool isContinuation(unsigned char c) {
  return (c & 0xc0) == 0x80;
}

// Length of the well-formed UTF-8 sequence starting at s[i] (a byte >= 0x80), or 0 when it is
// not one: overlong forms, surrogates and code points past U+10FFFF are rejected, as RFC 3629
// requires, so that a strict JSON parser accepts every line.
size_t utf8SequenceLength(std::string_view s, size_t i) {
  auto at = [&](size_t k) -> unsigned char {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0;
  };
  unsigned char c = at(0);
  unsigned char lo = 0x80;
  unsigned char hi = 0xbf;
  size_t len = 0;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0;  // overlong
    if (c == 0xed) hi = 0x9f;  // surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90;  // overlong
    if (c == 0xf4) hi = 0x8f;  // past U+10FFFF
  } else {
    return 0;
  }
  if (at(1) < lo || at(1) > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if (!isContinuation(at(k))) return 0;
  }
  return len;
}

template <typename T>
void appendInt(std::string& out, T value) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, res.ptr);
}

void appendDigits(std::string& out, unsigned value, int width) {
  char buf[8];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(buf, width);
}

// 2026-11-29T08:13:00.123Z, from the civil calendar in <chrono>: no gmtime_r, no locale.
void appendTimestamp(std::string& out, std::chrono::system_clock::time_point ts) {
  using namespace std::chrono;
  auto ms = floor<milliseconds>(ts);
  auto day = floor<days>(ms);
  year_month_day ymd{day};
  hh_mm_ss hms{ms - day};
  appendDigits(out, static_cast<unsigned>(static_cast<int>(ymd.year())), 4);
  out += '-';
  appendDigits(out, static_cast<unsigned>(ymd.month()), 2);
  out += '-';
  appendDigits(out, static_cast<unsigned>(ymd.day()), 2);
  out += 'T';
  appendDigits(out, static_cast<unsigned>(hms.hours().count()), 2);
  out += ':';
  appendDigits(out, static_cast<unsigned>(hms.minutes().count()), 2);
  out += ':';
  appendDigits(out, static_cast<unsigned>(hms.seconds().count()), 2);
  out += '.';
  appendDigits(out, static_cast<unsigned>(hms.subseconds().count()), 3);
  out += 'Z';
}

void appendKey(std::string& out, std::string_view key) {
  out += ",\"";
  out += key;
  out += "\":";
}

void appendStringField(std::string& out, std::string_view key, std::string_view value) {
  appendKey(out, key);
  appendJsonString(out, value);
}

}  // namespace

void appendJsonString(std::string& out, std::string_view s) {
  out += '"';
  size_t run = 0;  // start of the bytes not yet copied: copied in one append, not per byte
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      size_t len = utf8SequenceLength(s, i);
      if (len > 0) {
        i += len;
        continue;
      }
    }
    out.append(s.data() + run, i - run);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else {
      appendEscapedByte(out, c);  // control characters, DEL, and bytes of broken UTF-8
    }
    run = ++i;
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

void formatAccessLogLine(const AccessLogRecord& r, std::string& out) {
  out += "{\"ts\":\"";
  appendTimestamp(out, r.ts);
  out += '"';
  appendStringField(out, "request_id", r.request_id);
  appendStringField(out, "client_ip", r.client_ip);
  appendStringField(out, "country", r.country);
  appendStringField(out, "method", r.method);
  appendStringField(out, "host", r.host);
  appendStringField(out, "path", r.path);
  appendStringField(out, "protocol", r.protocol);
  appendKey(out, "status");
  appendInt(out, r.status);
  appendKey(out, "bytes_in");
  appendInt(out, r.bytes_in);
  appendKey(out, "bytes_out");
  appendInt(out, r.bytes_out);
  appendKey(out, "duration_ms");
  // JSON has no NaN or Infinity; a broken clock reading must not break the line.
  double ms = std::isfinite(r.duration_ms) ? r.duration_ms : 0.0;
  char buf[48];
  auto res = std::to_chars(buf, buf + sizeof buf, ms, std::chars_format::fixed, 3);
  out.append(buf, res.ptr);
  appendStringField(out, "route", r.route);
  appendStringField(out, "cluster", r.cluster);
  appendStringField(out, "region", r.region);
  appendKey(out, "attempts");
  appendInt(out, r.attempts);
  appendKey(out, "replay_reasons");
  out += '[';
  for (size_t i = 0; i < r.replay_reasons.size(); ++i) {
    if (i > 0) out += ',';
    appendJsonString(out, r.replay_reasons[i]);
  }
  out += "]}\n";
}

std::unique_ptr<AccessLog> AccessLog::open(const std::string& target, std::string* error,
                                           size_t buffer_bytes) {
  if (target == "off") {
    return std::unique_ptr<AccessLog>(new AccessLog("", -1, false, 0));
  }
  if (target == "stdout") {
    return std::unique_ptr<AccessLog>(new AccessLog("", STDOUT_FILENO, false, buffer_bytes));
  }
  int fd = ::open(target.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    if (error) *error = "cannot open access log " + target + ": " + std::strerror(errno);
    return nullptr;
  }
  return std::unique_ptr<AccessLog>(new AccessLog(target, fd, true, buffer_bytes));
}

AccessLog::AccessLog(std::string path, int fd, bool owns_fd, size_t buffer_bytes)
    : path_(std::move(path)),
      enabled_(fd >= 0),
      fd_(fd),
      owns_fd_(owns_fd),
      capacity_(buffer_bytes) {
  if (!enabled_) return;
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
  // Without an eventfd (fd exhaustion at startup) nothing could wake the writer; failing
  // loudly here is better than a log that silently never writes.
  if (wake_fd_ < 0) {
    logError("access log: eventfd failed: %s", std::strerror(errno));
    std::abort();
  }
  // The writer starts with every signal blocked, so a SIGPIPE from a closed stdout pipe comes
  // back as EPIPE here and process signals (SIGHUP, SIGUSR1, ...) go to the threads that
  // handle them.
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  writer_ = std::thread([this] { run(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

AccessLog::~AccessLog() {
  if (enabled_) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake();
    writer_.join();
    ::close(wake_fd_);
  }
  if (owns_fd_ && fd_ >= 0) ::close(fd_);
}

void AccessLog::write(std::string_view lines) {
  if (!enabled_ || lines.empty()) return;
  uint64_t n = std::max<uint64_t>(1, std::count(lines.begin(), lines.end(), '\n'));
  bool crossed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_.size() + lines.size() > capacity_) {
      dropped_.fetch_add(n, std::memory_order_relaxed);
      return;
    }
    size_t before = pending_.size();
    pending_.append(lines);
    pending_lines_ += n;
    accepted_ += n;
    crossed = before < kWakeBytes && pending_.size() >= kWakeBytes;
  }
  // The writer also runs on its own every kFlushIntervalMs: only a batch big enough to be
  // worth writing now wakes it early, once (it takes everything when it runs).
  if (crossed) wake();
}

void AccessLog::reopen() {
  if (!enabled_) return;
  reopen_requested_.store(true, std::memory_order_release);
  wake();
}

void AccessLog::wake() {
  uint64_t one = 1;
  ssize_t r;
  do {
    r = ::write(wake_fd_, &one, sizeof one);
  } while (r < 0 && errno == EINTR);
}

bool AccessLog::flush(std::chrono::milliseconds timeout) {
  if (!enabled_) return true;
  std::unique_lock<std::mutex> lock(mu_);
  uint64_t target = accepted_;
  return done_cv_.wait_for(lock, timeout, [&] { return done_ >= target; });
}

void AccessLog::run() {
  std::string batch;
  for (;;) {
    pollfd pfd{wake_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, kFlushIntervalMs) > 0) {
      uint64_t wakes;
      if (::read(wake_fd_, &wakes, sizeof wakes) < 0 && errno != EINTR) {
        logError("access log: eventfd read failed: %s", std::strerror(errno));
      }
    }
    if (reopen_requested_.exchange(false, std::memory_order_acquire)) reopenFile();
    uint64_t lines;
    bool stop;
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.swap(pending_);  // both strings keep their capacity: no allocation per batch
      lines = pending_lines_;
      pending_lines_ = 0;
      stop = stop_;
    }
    if (!batch.empty()) writeBatch(batch, lines);
    batch.clear();
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ += lines;
    }
    done_cv_.notify_all();
    // stop_ is set only by the destructor, after the last write(): the swap above that saw it
    // took the last lines.
    if (stop) return;
  }
}

void AccessLog::reopenFile() {
  if (path_.empty()) return;  // stdout: nothing to reopen
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    logWarn("access log: cannot reopen %s, still writing to the old file: %s", path_.c_str(),
            std::strerror(errno));
    return;
  }
  ::close(fd_);
  fd_ = fd;
}

void AccessLog::writeBatch(const std::string& batch, uint64_t lines) {
  const char* p = batch.data();
  size_t left = batch.size();
  int err = 0;
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n > 0) {
      p += n;
      left -= static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // Someone made the descriptor non-blocking (a shared stdout): wait here, on the writer
      // thread, which is the one place allowed to wait for the disk.
      pollfd pfd{fd_, POLLOUT, 0};
      ::poll(&pfd, 1, -1);
    } else {
      err = n < 0 ? errno : EIO;
      break;
    }
  }
  if (err == 0) {
    written_.fetch_add(lines, std::memory_order_relaxed);
    if (failing_) logInfo("access log: writing again");
    failing_ = false;
    return;
  }
  // A partly written batch counts as lost: the lines after the cut are, and the cut one is
  // broken. One warning per run of failures, not one per batch.
  dropped_.fetch_add(lines, std::memory_order_relaxed);
  if (!failing_) logWarn("access log: write failed, dropping lines: %s", std::strerror(err));
  failing_ = true;
}

}  // namespace meridian::proxy
