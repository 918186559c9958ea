// MeridianProcess: runs the real `meridian` binary for an integration test.
//
// The config is written to a fresh temp dir (removed at destruction), the binary started with
// `run -c <dir>/config.yaml --ready-file <dir>/ready.json`, stdout and stderr captured to
// files in that dir, and start() waits (inotify, with a deadline) for the ready file to learn
// the bound ports. The destructor sends SIGTERM, then SIGKILL after a grace period, and reaps.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fakes/subprocess.h"

namespace meridian::fakes {

// The meridian binary under test (the MERIDIAN_BINARY compile definition; overridable with the
// environment variable MERIDIAN_BINARY, e.g. to run the tests against an installed build).
std::string meridianBinary();

// The fixed shape of the ready file: {"pid": N, "admin": "h:p", "listeners": {"name": "h:p"}}.
struct ReadyInfo {
  pid_t pid = 0;
  std::string admin;
  std::map<std::string, std::string> listeners;
};
// Parses the ready file's JSON; false (with why) when it is not complete or not that shape.
bool parseReadyFile(std::string_view json, ReadyInfo& info, std::string* why = nullptr);
// The port of "host:port" or "[v6]:port"; 0 when there is none.
uint16_t portOf(std::string_view hostPort);

class MeridianProcess {
 public:
  struct Options {
    milliseconds readyTimeout{15000};
    milliseconds stopGrace{5000};        // SIGTERM to SIGKILL in the destructor
    std::vector<std::string> extraArgs;  // appended after the run arguments
    // Replaces `run -c config.yaml` (e.g. {"demo"}); `--ready-file` is still passed.
    std::vector<std::string> command;
  };

  MeridianProcess();
  ~MeridianProcess();
  MeridianProcess(const MeridianProcess&) = delete;
  MeridianProcess& operator=(const MeridianProcess&) = delete;

  // Writes a file into the temp dir (certs, geo databases...). Returns its full path.
  std::string writeFile(std::string_view name, std::string_view contents);
  // Writes config.yaml, starts the binary and waits for the ready file.
  ::testing::AssertionResult start(const std::string& yaml);
  ::testing::AssertionResult start(const std::string& yaml, const Options& options);
  // Replaces config.yaml atomically (for reload tests); start() is not needed again.
  void rewriteConfig(const std::string& yaml);

  uint16_t listenerPort(const std::string& name) const;  // 0 + a test failure when unknown
  uint16_t adminPort() const;
  // "http://127.0.0.1:ADMIN_PORT" + path: an admin endpoint of the started process.
  std::string adminUrl(std::string_view path) const;
  // POST /reload (with `Meridian-Admin: 1`, and this bearer token when not empty): the status
  // (0 when no answer came) and the body.
  struct ReloadResult {
    int status = 0;
    std::string body;
  };
  ReloadResult reload(std::string_view token = {}) const;
  const ReadyInfo& ready() const { return ready_; }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_.path(); }
  std::string configPath() const { return dir_.file("config.yaml"); }
  std::string stdoutText() const { return readFile(dir_.file("stdout.log")); }
  std::string stderrText() const { return readFile(dir_.file("stderr.log")); }
  // Waits (inotify on the dir, with a deadline) until stdout or stderr contains needle.
  ::testing::AssertionResult waitForOutput(std::string_view needle, milliseconds timeout) const;

  bool running() const { return child_.pid > 0; }
  bool signal(int sig);
  // Waits for the process to exit; the message carries its exit status.
  ::testing::AssertionResult waitExit(milliseconds timeout);
  bool exited() const { return exited_; }
  int exitCode() const { return exitCode_; }  // -1 when it was killed by a signal
  int termSignal() const { return termSignal_; }

 private:
  ::testing::AssertionResult waitReady(int inotifyFd, milliseconds timeout);
  void recordExit(int status);
  std::string outputTails() const;

  TempDir dir_;
  Options options_;
  Child child_;
  pid_t pid_ = -1;
  ReadyInfo ready_;
  bool exited_ = false;
  int exitCode_ = -1;
  int termSignal_ = 0;
};

// `meridian validate -c FILE` on this YAML (written to a fresh temp dir).
struct ValidateResult {
  int exitCode = -1;
  std::string out;
  std::string err;
  std::string configPath;  // where the YAML was, as it appears in error lines (now removed)
  std::string output() const { return out + err; }
};
ValidateResult runValidate(const std::string& yaml, milliseconds timeout = milliseconds(10000));

}  // namespace meridian::fakes
