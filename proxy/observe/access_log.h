#pragma once
// The access log: one JSON object per request, formatted by the worker that served it and
// handed to a process-wide writer thread. A worker never waits on the disk: write() copies the
// line into a bounded buffer under a short mutex, and when the disk (or a stdout pipe) falls
// behind far enough to fill it, lines are dropped and counted instead of stalling requests.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>

namespace meridian::proxy {

// One request as product.md's access log shows it. Views into the caller's data: the record
// lives only while formatAccessLogLine() runs.
struct AccessLogRecord {
  std::chrono::system_clock::time_point ts;  // written as RFC 3339 UTC with milliseconds
  std::string_view request_id;
  std::string_view client_ip;
  std::string_view country;
  std::string_view method;
  std::string_view host;
  std::string_view path;
  std::string_view protocol;  // "HTTP/1.1", "HTTP/1.0", "HTTP/2"
  int status = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  double duration_ms = 0;  // written with 3 decimals
  std::string_view route;
  std::string_view cluster;
  std::string_view region;
  int attempts = 0;
  std::span<const std::string_view> replay_reasons;
};

// Appends `s` as a JSON string (with its quotes). Control characters become \u00XX; bytes that
// are not part of valid UTF-8 become \u00XX of the byte, so the line stays valid JSON whatever
// a client sent in its path or Host.
void appendJsonString(std::string& out, std::string_view s);

// Appends one JSON object and '\n'.
void formatAccessLogLine(const AccessLogRecord& record, std::string& out);

class AccessLog {
 public:
  static constexpr size_t kDefaultBufferBytes = 8 << 20;
  // The writer runs every kFlushInterval, or sooner once kWakeBytes are waiting: waking it for
  // every line would cost a syscall and a context switch per request.
  static constexpr size_t kWakeBytes = 64 * 1024;
  static constexpr int kFlushIntervalMs = 50;

  // `target` is "stdout", "off" (enabled() false, write() does nothing), or a file path,
  // opened O_APPEND|O_CREAT with mode 0640. Returns null and sets *error when it cannot open.
  static std::unique_ptr<AccessLog> open(const std::string& target, std::string* error,
                                         size_t buffer_bytes = kDefaultBufferBytes);
  // Writes out everything accepted, then joins the writer: a target that never drains (a
  // stdout pipe nobody reads) keeps it waiting. No write() may run concurrently with it.
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  bool enabled() const { return enabled_; }

  // Queues one or more complete lines (callers may batch several into one string). Never
  // blocks on I/O; drops the whole chunk and counts its lines when the buffer is full.
  void write(std::string_view lines);

  // Asks the writer to reopen the path before its next batch (logrotate's SIGUSR1). Only an
  // atomic store and a write(2) to an eventfd: safe to call from a signal handler.
  void reopen();

  // Waits until every line accepted before the call has been written (or lost to an I/O
  // error); false when `timeout` passed first.
  bool flush(std::chrono::milliseconds timeout);

  uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  // Lines dropped because the buffer was full, plus lines lost to write errors.
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  AccessLog(std::string path, int fd, bool owns_fd, size_t buffer_bytes);
  void run();
  void wake();
  void reopenFile();
  void writeBatch(const std::string& batch, uint64_t lines);

  const std::string path_;  // empty for stdout and off
  const bool enabled_;
  int fd_ = -1;  // after the constructor, only the writer thread touches it (reopen)
  bool owns_fd_ = false;
  const size_t capacity_ = 0;
  int wake_fd_ = -1;  // eventfd: async-signal-safe to signal, unlike a condition variable

  std::mutex mu_;
  std::string pending_;         // guarded by mu_
  uint64_t pending_lines_ = 0;  // guarded by mu_
  uint64_t accepted_ = 0;       // guarded by mu_: lines ever queued
  uint64_t done_ = 0;           // guarded by mu_: lines written or lost to errors
  bool stop_ = false;           // guarded by mu_
  std::condition_variable done_cv_;

  std::atomic<bool> reopen_requested_{false};
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> dropped_{0};
  bool failing_ = false;  // writer thread only: log one warning per run of errors
  std::thread writer_;
};

}  // namespace meridian::proxy
