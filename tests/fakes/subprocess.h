// Running child processes and owning temp dirs in tests, with deadlines and no shell.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace meridian::fakes {

using std::chrono::milliseconds;

struct CommandResult {
  int exitCode = -1;      // -1 when killed by a signal or not started
  int termSignal = 0;     // the signal that ended it, 0 if it exited
  bool timedOut = false;  // killed at the deadline
  std::string out;
  std::string err;
  std::string describe() const;  // "exit 0" / "killed by signal 9 (timed out)" + stderr
};

// Runs argv (argv[0] looked up in PATH when it has no '/'), feeding stdinData, capturing
// stdout and stderr; SIGKILLs its process group at the deadline. Never hangs.
CommandResult runCommand(const std::vector<std::string>& argv, milliseconds timeout,
                         std::string_view stdinData = {});

// `curl -sS --max-time 20` with these arguments, killed at 30 s if it is still running.
CommandResult curl(std::vector<std::string> args);

// What is left of a deadline in whole milliseconds, for poll(): 0 once it has passed.
int remainingMs(std::chrono::steady_clock::time_point deadline);

// A fresh directory from mkdtemp, unique per call; removed recursively at destruction
// (kept when MERIDIAN_KEEP_TEST_DIRS is set, to debug a failure).
class TempDir {
 public:
  explicit TempDir(std::string_view tag = "test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }
  // Writes atomically (temp file + rename) so watchers never see a partial file.
  std::string write(std::string_view name, std::string_view contents) const;

 private:
  std::string path_;
};

bool writeFile(const std::string& path, std::string_view contents);
std::string readFile(const std::string& path);  // "" when missing
std::string tail(std::string_view text, size_t maxBytes);

// A started child: its pid and a pidfd that polls readable when it exits.
struct Child {
  pid_t pid = -1;
  int pidfd = -1;
};

// fork/exec with the given fds as stdin/stdout/stderr (-1: /dev/null). The child gets
// PR_SET_PDEATHSIG(SIGKILL) so it dies with the test, and its own process group.
Child spawnChild(const std::vector<std::string>& argv, int stdinFd, int stdoutFd, int stderrFd);
// Waits up to timeout for the child to exit and reaps it. True with the raw wait status.
bool waitChild(Child& child, milliseconds timeout, int& status);
// SIGTERM, then SIGKILL after grace; always reaps. Returns the raw wait status.
int stopChild(Child& child, milliseconds grace);

}  // namespace meridian::fakes
