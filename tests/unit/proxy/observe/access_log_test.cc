// The access log: JSON lines that stay valid whatever the client sent, and a writer that never
// makes a worker wait: files, logrotate's rename-and-reopen, drops when the disk is stuck.
#include "proxy/observe/access_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/fakes/subprocess.h"

namespace meridian::proxy {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

std::string jsonString(std::string_view s) {
  std::string out;
  appendJsonString(out, s);
  return out;
}

std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string line(int i) {
  return "{\"n\":" + std::to_string(i) + "}\n";
}

TEST(AccessLogJson, EscapingTable) {
  using namespace std::string_view_literals;
  struct Case {
    std::string_view in;
    std::string_view want;
  };
  const Case cases[] = {
      {"", R"("")"},
      {"/plain/path?q=1", R"("/plain/path?q=1")"},
      {"a\"b", R"("a\"b")"},
      {"a\\b", R"("a\\b")"},
      {"\n\r\t\b\f", R"("\u000a\u000d\u0009\u0008\u000c")"},
      {"a\0b"sv, R"("a\u0000b")"},
      {"\x01\x1f\x7f", R"("\u0001\u001f\u007f")"},
      {"caf\xc3\xa9", "\"caf\xc3\xa9\""},                     // valid 2-byte UTF-8 kept
      {"\xe2\x82\xac", "\"\xe2\x82\xac\""},                   // valid 3-byte
      {"\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""},           // valid 4-byte
      {"\xff", R"("\u00ff")"},                                // never valid
      {"\xc3", R"("\u00c3")"},                                // truncated at the end
      {"\xc3(", R"("\u00c3(")"},                              // lead byte, no continuation
      {"\x80x", R"("\u0080x")"},                              // lone continuation
      {"\xc0\xaf", R"("\u00c0\u00af")"},                      // overlong '/'
      {"\xe0\x80\xaf", R"("\u00e0\u0080\u00af")"},            // overlong 3-byte
      {"\xed\xa0\x80", R"("\u00ed\u00a0\u0080")"},            // UTF-16 surrogate
      {"\xf4\x90\x80\x80", R"("\u00f4\u0090\u0080\u0080")"},  // past U+10FFFF
      {"\xe2\x82", R"("\u00e2\u0082")"},                      // truncated 3-byte
      {"ok\xe2\x82\xac\xffok", "\"ok\xe2\x82\xac\\u00ffok\""},
  };
  for (const Case& c : cases) {
    std::string got = jsonString(c.in);
    EXPECT_EQ(got, c.want) << "input bytes: " << testing::PrintToString(std::string(c.in));
    // Whatever the input, a strict parser takes the result.
    EXPECT_TRUE(Json::accept(got)) << got;
  }
  // Valid input round-trips exactly.
  for (std::string_view s : {"caf\xc3\xa9 \"q\" \\ \n\t\x01"sv, "\xf0\x9f\x98\x80"sv}) {
    EXPECT_EQ(Json::parse(jsonString(s)).get<std::string>(), s);
  }
}

TEST(AccessLogJson, EveryFieldPresent) {
  using namespace std::chrono;
  std::string_view reasons[] = {"connect_failure", "503"};
  AccessLogRecord r;
  r.ts = sys_days{2026y / 11 / 29} + 8h + 13min + 5s + 7ms + 900us;
  r.request_id = "req-1";
  r.client_ip = "192.0.2.7";
  r.country = "NL";
  r.method = "GET";
  r.host = "app.example.com";
  r.path = "/a?b=\"c\"";
  r.protocol = "HTTP/2";
  r.status = 200;
  r.bytes_in = 12;
  r.bytes_out = 3456;
  r.duration_ms = 1.23456;
  r.route = "app";
  r.cluster = "web-blue";
  r.region = "iad";
  r.attempts = 3;
  r.replay_reasons = reasons;
  std::string out = "previous\n";
  formatAccessLogLine(r, out);
  ASSERT_TRUE(out.starts_with("previous\n"));  // appends
  std::string text = out.substr(9);
  ASSERT_TRUE(text.ends_with("}\n"));
  EXPECT_EQ(text.find('\n'), text.size() - 1);
  EXPECT_NE(text.find("\"duration_ms\":1.235,"), std::string::npos) << text;

  Json j = Json::parse(text);
  EXPECT_EQ(j.size(), 17u) << text;
  EXPECT_EQ(j["ts"], "2026-11-29T08:13:05.007Z");
  EXPECT_EQ(j["request_id"], "req-1");
  EXPECT_EQ(j["client_ip"], "192.0.2.7");
  EXPECT_EQ(j["country"], "NL");
  EXPECT_EQ(j["method"], "GET");
  EXPECT_EQ(j["host"], "app.example.com");
  EXPECT_EQ(j["path"], "/a?b=\"c\"");
  EXPECT_EQ(j["protocol"], "HTTP/2");
  EXPECT_EQ(j["status"], 200);
  EXPECT_EQ(j["bytes_in"], 12);
  EXPECT_EQ(j["bytes_out"], 3456);
  EXPECT_DOUBLE_EQ(j["duration_ms"].get<double>(), 1.235);
  EXPECT_EQ(j["route"], "app");
  EXPECT_EQ(j["cluster"], "web-blue");
  EXPECT_EQ(j["region"], "iad");
  EXPECT_EQ(j["attempts"], 3);
  EXPECT_EQ(j["replay_reasons"], Json::array({"connect_failure", "503"}));
}

TEST(AccessLogJson, EmptyValuesKeepTheirTypes) {
  AccessLogRecord r;  // a 404 with no route, no location, no replay
  r.ts = std::chrono::system_clock::time_point{};
  r.duration_ms = std::numeric_limits<double>::quiet_NaN();
  std::string out;
  formatAccessLogLine(r, out);
  Json j = Json::parse(out);
  EXPECT_EQ(j["ts"], "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(j["country"], "");
  EXPECT_EQ(j["route"], "");
  EXPECT_EQ(j["duration_ms"], 0.0);
  EXPECT_TRUE(j["replay_reasons"].is_array());
  EXPECT_TRUE(j["replay_reasons"].empty());
}

TEST(AccessLog, OffWritesNothing) {
  std::string error;
  auto log = AccessLog::open("off", &error);
  ASSERT_NE(log, nullptr) << error;
  EXPECT_FALSE(log->enabled());
  log->write(line(1));
  log->reopen();
  EXPECT_TRUE(log->flush(1s));
  EXPECT_EQ(log->written(), 0u);
  EXPECT_EQ(log->dropped(), 0u);
}

TEST(AccessLog, StdoutIsNotClosed) {
  std::string error;
  auto log = AccessLog::open("stdout", &error);
  ASSERT_NE(log, nullptr) << error;
  EXPECT_TRUE(log->enabled());
  log->reopen();  // nothing to reopen: must not close or replace fd 1
  EXPECT_TRUE(log->flush(5s));
  log.reset();
  EXPECT_NE(::fcntl(STDOUT_FILENO, F_GETFD), -1);
}

TEST(AccessLog, OpenFailureSaysWhy) {
  fakes::TempDir dir("access");
  std::string error;
  std::string path = dir.file("missing/dir/access.log");
  EXPECT_EQ(AccessLog::open(path, &error), nullptr);
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
}

TEST(AccessLog, FileIsAppendedAndReopenedAfterRotation) {
  fakes::TempDir dir("access");
  std::string path = dir.file("access.log");
  ASSERT_TRUE(fakes::writeFile(path, "existing\n"));
  ::chmod(path.c_str(), 0600);
  std::string rotated = dir.file("access.log.1");
  std::string error;
  auto log = AccessLog::open(path, &error);
  ASSERT_NE(log, nullptr) << error;
  for (int i = 0; i < 3; ++i) log->write(line(i));
  ASSERT_TRUE(log->flush(10s));
  EXPECT_EQ(log->written(), 3u);

  // logrotate: rename, then SIGUSR1 makes the proxy reopen the original path.
  ASSERT_EQ(::rename(path.c_str(), rotated.c_str()), 0);
  log->reopen();
  log->write(line(3) + line(4));  // a caller may batch several lines into one write
  ASSERT_TRUE(log->flush(10s));
  EXPECT_EQ(log->written(), 5u);
  EXPECT_EQ(log->dropped(), 0u);

  EXPECT_EQ(fakes::readFile(rotated), "existing\n" + line(0) + line(1) + line(2));
  EXPECT_EQ(fakes::readFile(path), line(3) + line(4));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(st.st_mode & 0777, 0640 & ~mask);
}

TEST(AccessLog, DestructorFlushes) {
  fakes::TempDir dir("access");
  std::string path = dir.file("access.log");
  constexpr int kLines = 5000;
  {
    std::string error;
    auto log = AccessLog::open(path, &error);
    ASSERT_NE(log, nullptr) << error;
    for (int i = 0; i < kLines; ++i) log->write(line(i));
  }
  std::vector<std::string> lines = splitLines(fakes::readFile(path));
  ASSERT_EQ(lines.size(), static_cast<size_t>(kLines));
  for (int i = 0; i < kLines; ++i) EXPECT_EQ(lines[i] + "\n", line(i));
}

// The writer is stuck on a FIFO nobody reads (a disk that stopped): write() must keep
// returning at once, drop what does not fit, and count it.
TEST(AccessLog, DropsAndCountsWhenTheWriterIsStuck) {
  fakes::TempDir dir("access");
  std::string fifo = dir.file("stuck.fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // A reader that never reads (yet): opening it non-blocking lets the log's open() succeed.
  int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(reader, 0);
  int pipe_bytes = ::fcntl(reader, F_GETPIPE_SZ);
  ASSERT_GT(pipe_bytes, 0);

  constexpr size_t kBuffer = 4096;
  std::string error;
  auto log = AccessLog::open(fifo, &error, kBuffer);
  ASSERT_NE(log, nullptr) << error;
  std::string one(99, 'x');
  one += '\n';
  // Enough to fill the pipe, the batch the writer holds, and the buffer, several times over.
  const size_t lines = 4 * (static_cast<size_t>(pipe_bytes) + 2 * kBuffer) / one.size();
  auto slowest = std::chrono::steady_clock::duration::zero();
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < lines; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    log->write(one);
    slowest = std::max(slowest, std::chrono::steady_clock::now() - t0);
  }
  auto total = std::chrono::steady_clock::now() - start;
  EXPECT_GT(log->dropped(), 0u);
  // Generous bounds (sanitizers, a shared machine): a blocking write would take forever.
  EXPECT_LT(slowest, 500ms);
  EXPECT_LT(total, 5s);

  // Unstick it: read everything until the log closes the FIFO at destruction.
  int flags = ::fcntl(reader, F_GETFL);
  EXPECT_EQ(::fcntl(reader, F_SETFL, flags & ~O_NONBLOCK), 0);  // no ASSERT: must unstick
  size_t read_bytes = 0;
  std::thread drain([&] {
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(reader, buf, sizeof buf);
      if (n > 0) {
        read_bytes += static_cast<size_t>(n);
      } else if (n == 0 || errno != EINTR) {
        return;
      }
    }
  });
  ASSERT_TRUE(log->flush(30s));
  uint64_t written = log->written();
  EXPECT_EQ(written + log->dropped(), lines);
  log.reset();
  drain.join();
  ::close(reader);
  EXPECT_EQ(read_bytes, written * one.size());
}

}  // namespace
}  // namespace meridian::proxy
