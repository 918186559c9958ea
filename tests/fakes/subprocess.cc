#include "tests/fakes/subprocess.h"

#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

namespace meridian::fakes {

namespace {

using Clock = std::chrono::steady_clock;

std::string resolveProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t colon = dirs.find(':', start);
    std::string dir = dirs.substr(start, colon - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return name;
}

// The child may not have called setpgid() yet: signal the pid as well as its group.
void killGroup(pid_t pid) {
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
}

int removeEntry(const char* path, const struct stat*, int, FTW*) {
  ::remove(path);
  return 0;
}

}  // namespace

std::string CommandResult::describe() const {
  std::ostringstream s;
  if (termSignal != 0) {
    s << "killed by signal " << termSignal << (timedOut ? " (timed out)" : "");
  } else {
    s << "exit " << exitCode;
  }
  if (!err.empty()) s << "; stderr: " << tail(err, 2000);
  return s.str();
}

Child spawnChild(const std::vector<std::string>& argv, int stdinFd, int stdoutFd, int stderrFd) {
  Child child;
  if (argv.empty()) return child;
  // Everything the child needs is prepared before fork(): after it, only async-signal-safe
  // calls (another thread of the test may hold malloc's lock).
  std::string program = resolveProgram(argv[0]);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int devNull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    if (devNull >= 0) ::close(devNull);
    return child;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    setpgid(0, 0);
    dup2(stdinFd >= 0 ? stdinFd : devNull, 0);
    dup2(stdoutFd >= 0 ? stdoutFd : devNull, 1);
    dup2(stderrFd >= 0 ? stderrFd : devNull, 2);
    execv(program.c_str(), args.data());
    static const char kMsg[] = "exec failed\n";
    [[maybe_unused]] ssize_t n = ::write(2, kMsg, sizeof kMsg - 1);
    _exit(127);
  }
  if (devNull >= 0) ::close(devNull);
  child.pid = pid;
  child.pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  return child;
}

bool waitChild(Child& child, milliseconds timeout, int& status) {
  if (child.pid <= 0) return false;
  auto deadline = Clock::now() + timeout;
  for (;;) {
    pid_t r = waitpid(child.pid, &status, WNOHANG);
    if (r == child.pid) break;
    if (r < 0 && errno != EINTR) return false;
    int wait = remainingMs(deadline);
    if (wait == 0) return false;
    if (child.pidfd >= 0) {
      pollfd p{child.pidfd, POLLIN, 0};
      ::poll(&p, 1, wait);
    } else {
      ::poll(nullptr, 0, std::min(wait, 10));  // no pidfd (old kernel): short naps
    }
  }
  if (child.pidfd >= 0) ::close(child.pidfd);
  child.pidfd = -1;
  child.pid = -1;
  return true;
}

int stopChild(Child& child, milliseconds grace) {
  int status = 0;
  if (child.pid <= 0) return status;
  ::kill(child.pid, SIGTERM);
  if (waitChild(child, grace, status)) return status;
  ::kill(child.pid, SIGKILL);
  waitChild(child, milliseconds(60'000), status);
  return status;
}

int remainingMs(Clock::time_point deadline) {
  auto ms = std::chrono::ceil<milliseconds>(deadline - Clock::now()).count();
  return ms < 0 ? 0 : static_cast<int>(std::min<int64_t>(ms, std::numeric_limits<int>::max()));
}

CommandResult runCommand(const std::vector<std::string>& argv, milliseconds timeout,
                         std::string_view stdinData) {
  CommandResult result;
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    result.err = std::string("pipe2: ") + strerror(errno);
    return result;
  }
  Child child = spawnChild(argv, in[0], out[1], err[1]);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  if (child.pid <= 0) {
    ::close(in[1]);
    ::close(out[0]);
    ::close(err[0]);
    result.err = "fork failed";
    return result;
  }
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  size_t written = 0;
  if (stdinData.empty()) {
    ::close(in[1]);
    in[1] = -1;
  }
  auto deadline = Clock::now() + timeout;
  int fds[3] = {in[1], out[0], err[0]};
  std::string* sinks[3] = {nullptr, &result.out, &result.err};
  while (fds[1] >= 0 || fds[2] >= 0) {
    pollfd p[3] = {{fds[0], POLLOUT, 0}, {fds[1], POLLIN, 0}, {fds[2], POLLIN, 0}};
    int wait = remainingMs(deadline);
    if (wait == 0) {
      result.timedOut = true;
      killGroup(child.pid);
      break;
    }
    if (::poll(p, 3, wait) < 0 && errno != EINTR) break;
    if (fds[0] >= 0 && p[0].revents) {
      ssize_t n = ::write(fds[0], stdinData.data() + written, stdinData.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n < 0 || written == stdinData.size()) {
        ::close(fds[0]);
        fds[0] = -1;
      }
    }
    for (int i = 1; i < 3; ++i) {
      if (fds[i] < 0 || !p[i].revents) continue;
      char buf[16384];
      ssize_t n = ::read(fds[i], buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i]);
        fds[i] = -1;
      }
    }
  }
  for (int fd : fds) {
    if (fd >= 0) ::close(fd);
  }
  int status = 0;
  if (!waitChild(child, result.timedOut ? milliseconds(10'000) : timeout, status)) {
    result.timedOut = true;
    killGroup(child.pid);
    waitChild(child, milliseconds(10'000), status);
  }
  if (WIFEXITED(status)) result.exitCode = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.termSignal = WTERMSIG(status);
  return result;
}

CommandResult curl(std::vector<std::string> args) {
  args.insert(args.begin(), {"curl", "-sS", "--max-time", "20"});
  return runCommand(args, milliseconds(30000));
}

TempDir::TempDir(std::string_view tag) {
  const char* base = getenv("TMPDIR");
  std::string name(tag);
  for (char& ch : name) {
    if (ch == '/') ch = '_';
  }
  std::string pattern =
      std::string(base && *base ? base : "/tmp") + "/meridian-" + name + "-XXXXXX";
  if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
}

TempDir::~TempDir() {
  if (path_.empty() || getenv("MERIDIAN_KEEP_TEST_DIRS") != nullptr) return;
  nftw(path_.c_str(), removeEntry, 16, FTW_DEPTH | FTW_PHYS);
}

std::string TempDir::write(std::string_view name, std::string_view contents) const {
  std::string target = file(name);
  std::string temp = target + ".tmp";
  if (!writeFile(temp, contents) || ::rename(temp.c_str(), target.c_str()) != 0) return {};
  return target;
}

bool writeFile(const std::string& path, std::string_view contents) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  return static_cast<bool>(f.flush());
}

std::string readFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string tail(std::string_view text, size_t maxBytes) {
  if (text.size() <= maxBytes) return std::string(text);
  return "..." + std::string(text.substr(text.size() - maxBytes));
}

}  // namespace meridian::fakes
