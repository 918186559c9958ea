#include "tests/fakes/meridian_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>

namespace meridian::fakes {

namespace {

using Clock = std::chrono::steady_clock;

std::string testTag() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (info == nullptr) return "proc";
  std::string tag = std::string(info->test_suite_name()) + "." + info->name();
  for (char& ch : tag) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '_') ch = '_';
  }
  return tag.substr(0, 80);
}

// A tiny JSON reader, enough for the ready file: objects, strings, numbers, literals.
// Nested values are flattened into dotted keys: {"listeners": {"public": ..}} gives
// "listeners.public".
class FlatJson {
 public:
  explicit FlatJson(std::string_view text) : s_(text) {}

  bool parse(std::map<std::string, std::string>& out) {
    skipSpace();
    if (!object("", out)) return false;
    skipSpace();
    return pos_ == s_.size();
  }

 private:
  void skipSpace() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool take(char c) {
    skipSpace();
    if (pos_ >= s_.size() || s_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  bool string(std::string& out) {
    if (!take('"')) return false;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      char c = s_[pos_++];
      if (c == '\\') {
        if (pos_ >= s_.size()) return false;
        char e = s_[pos_++];
        c = e == 'n' ? '\n' : e == 't' ? '\t' : e;  // \uXXXX does not occur in this file
      }
      out.push_back(c);
    }
    return take('"');
  }
  bool value(const std::string& key, std::map<std::string, std::string>& out) {
    skipSpace();
    if (pos_ >= s_.size()) return false;
    if (s_[pos_] == '{') return object(key + ".", out);
    if (s_[pos_] == '"') return string(out[key]);
    size_t start = pos_;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) ||
                                s_[pos_] == '-' || s_[pos_] == '.' || s_[pos_] == '+')) {
      ++pos_;
    }
    if (start == pos_) return false;
    out[key] = std::string(s_.substr(start, pos_ - start));
    return true;
  }
  bool object(const std::string& prefix, std::map<std::string, std::string>& out) {
    if (!take('{')) return false;
    if (take('}')) return true;
    do {
      std::string key;
      if (!string(key) || !take(':') || !value(prefix + key, out)) return false;
    } while (take(','));
    return take('}');
  }

  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

std::string meridianBinary() {
  const char* env = getenv("MERIDIAN_BINARY");
  if (env != nullptr && *env != '\0') return env;
#ifdef MERIDIAN_BINARY
  return MERIDIAN_BINARY;
#else
  return "meridian";
#endif
}

uint16_t portOf(std::string_view hostPort) {
  size_t colon = hostPort.rfind(':');
  if (colon == std::string_view::npos) return 0;
  std::string_view digits = hostPort.substr(colon + 1);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || value > 65535) return 0;
  return static_cast<uint16_t>(value);
}

bool parseReadyFile(std::string_view json, ReadyInfo& info, std::string* why) {
  std::map<std::string, std::string> flat;
  auto fail = [&](std::string message) {
    if (why != nullptr) *why = std::move(message);
    return false;
  };
  if (!FlatJson(json).parse(flat)) return fail("not a complete JSON object");
  if (!flat.contains("pid")) return fail("no \"pid\"");
  ReadyInfo parsed;
  parsed.pid = static_cast<pid_t>(std::atol(flat["pid"].c_str()));
  parsed.admin = flat["admin"];
  for (const auto& [key, value] : flat) {
    if (key.rfind("listeners.", 0) == 0) parsed.listeners[key.substr(10)] = value;
  }
  if (parsed.pid <= 0) return fail("bad pid");
  info = std::move(parsed);
  return true;
}

MeridianProcess::MeridianProcess() : dir_(testTag()) {
  if (dir_.path().empty()) ADD_FAILURE() << "MeridianProcess: mkdtemp failed: " << strerror(errno);
}

MeridianProcess::~MeridianProcess() {
  if (child_.pid > 0) {
    recordExit(stopChild(child_, options_.stopGrace));
  }
  // Under the sanitizers a report inside meridian (its own process: the test would not see it
  // otherwise, whatever its exit status) fails the test that ran it.
  if (pid_ > 0) {
    std::string err = stderrText();
    for (const char* marker :
         {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", ": runtime error: "}) {
      size_t at = err.find(marker);
      if (at != std::string::npos) {
        ADD_FAILURE() << "meridian (pid " << pid_ << ") reported a sanitizer error:\n"
                      << err.substr(at > 200 ? at - 200 : 0, 6000);
        break;
      }
    }
  }
  if (::testing::Test::HasFailure() && pid_ > 0) {
    std::cerr << "[meridian " << pid_ << " in " << dir_.path() << "]\n" << outputTails() << "\n";
  }
}

std::string MeridianProcess::writeFile(std::string_view name, std::string_view contents) {
  return dir_.write(name, contents);
}

void MeridianProcess::rewriteConfig(const std::string& yaml) {
  dir_.write("config.yaml", yaml);
}

::testing::AssertionResult MeridianProcess::start(const std::string& yaml) {
  return start(yaml, Options{});
}

::testing::AssertionResult MeridianProcess::start(const std::string& yaml, const Options& options) {
  if (child_.pid > 0) return ::testing::AssertionFailure() << "MeridianProcess already started";
  options_ = options;
  if (dir_.write("config.yaml", yaml).empty()) {
    return ::testing::AssertionFailure() << "cannot write config in " << dir_.path();
  }
  // Watch before starting, so the ready file cannot appear unseen.
  int inotifyFd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (inotifyFd < 0 ||
      inotify_add_watch(inotifyFd, dir_.path().c_str(), IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
    if (inotifyFd >= 0) ::close(inotifyFd);
    return ::testing::AssertionFailure() << "inotify: " << strerror(errno);
  }
  int out = ::open(dir_.file("stdout.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err = ::open(dir_.file("stderr.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  std::vector<std::string> argv = {meridianBinary()};
  if (options.command.empty()) {
    argv.insert(argv.end(), {"run", "-c", configPath()});
  } else {
    argv.insert(argv.end(), options.command.begin(), options.command.end());
  }
  argv.insert(argv.end(), {"--ready-file", dir_.file("ready.json")});
  argv.insert(argv.end(), options.extraArgs.begin(), options.extraArgs.end());
  child_ = spawnChild(argv, -1, out, err);
  if (out >= 0) ::close(out);
  if (err >= 0) ::close(err);
  pid_ = child_.pid;
  exited_ = false;
  if (child_.pid <= 0) {
    ::close(inotifyFd);
    return ::testing::AssertionFailure() << "fork failed: " << strerror(errno);
  }
  auto result = waitReady(inotifyFd, options.readyTimeout);
  ::close(inotifyFd);
  return result;
}

::testing::AssertionResult MeridianProcess::waitReady(int inotifyFd, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::string why = "no ready file yet";
  for (;;) {
    std::string text = readFile(dir_.file("ready.json"));
    if (!text.empty() && parseReadyFile(text, ready_, &why)) {
      return ::testing::AssertionSuccess() << "meridian ready, pid " << ready_.pid;
    }
    if (!text.empty()) why += ": " + tail(text, 200);
    int wait = remainingMs(deadline);
    pollfd fds[2] = {{inotifyFd, POLLIN, 0}, {child_.pidfd, POLLIN, 0}};
    int n = wait == 0 ? 0 : ::poll(fds, child_.pidfd >= 0 ? 2 : 1, std::min(wait, 1000));
    if (n < 0 && errno != EINTR) {
      return ::testing::AssertionFailure() << "poll: " << strerror(errno);
    }
    if (fds[0].revents) {
      char events[4096];
      while (::read(inotifyFd, events, sizeof events) > 0) {
      }
    }
    int status = 0;
    if (waitChild(child_, milliseconds(0), status)) {
      recordExit(status);
      return ::testing::AssertionFailure()
             << "meridian exited before it was ready (" << (termSignal_ ? "signal " : "exit ")
             << (termSignal_ ? termSignal_ : exitCode_) << ")\n"
             << outputTails();
    }
    if (wait == 0) {
      return ::testing::AssertionFailure()
             << "meridian not ready within " << timeout.count() << "ms (" << why << ")\n"
             << outputTails();
    }
  }
}

::testing::AssertionResult MeridianProcess::waitForOutput(std::string_view needle,
                                                          milliseconds timeout) const {
  int inotifyFd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (inotifyFd < 0 || inotify_add_watch(inotifyFd, dir_.path().c_str(), IN_MODIFY) < 0) {
    if (inotifyFd >= 0) ::close(inotifyFd);
    return ::testing::AssertionFailure() << "inotify: " << strerror(errno);
  }
  auto deadline = Clock::now() + timeout;
  ::testing::AssertionResult result = ::testing::AssertionSuccess();
  for (;;) {
    if (stdoutText().find(needle) != std::string::npos ||
        stderrText().find(needle) != std::string::npos) {
      break;
    }
    int wait = remainingMs(deadline);
    pollfd p{inotifyFd, POLLIN, 0};
    if (wait == 0 || ::poll(&p, 1, wait) == 0) {
      result = ::testing::AssertionFailure()
               << "no '" << needle << "' in meridian's output within " << timeout.count() << "ms\n"
               << outputTails();
      break;
    }
    char events[4096];
    while (::read(inotifyFd, events, sizeof events) > 0) {
    }
  }
  ::close(inotifyFd);
  return result;
}

uint16_t MeridianProcess::listenerPort(const std::string& name) const {
  auto it = ready_.listeners.find(name);
  if (it == ready_.listeners.end()) {
    ADD_FAILURE() << "no listener '" << name << "' in the ready file";
    return 0;
  }
  return portOf(it->second);
}

uint16_t MeridianProcess::adminPort() const {
  return portOf(ready_.admin);
}

std::string MeridianProcess::adminUrl(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(adminPort()) + std::string(path);
}

MeridianProcess::ReloadResult MeridianProcess::reload(std::string_view token) const {
  std::vector<std::string> args = {
      "-X", "POST", "-H", "Meridian-Admin: 1", "-w", "\n%{http_code}", adminUrl("/reload")};
  if (!token.empty())
    args.insert(args.begin(), {"-H", "Authorization: Bearer " + std::string(token)});
  auto r = curl(std::move(args));
  size_t nl = r.out.rfind('\n');
  if (nl == std::string::npos) return {0, r.out};
  return {std::atoi(r.out.c_str() + nl + 1), r.out.substr(0, nl)};
}

bool MeridianProcess::signal(int sig) {
  return child_.pid > 0 && ::kill(child_.pid, sig) == 0;
}

::testing::AssertionResult MeridianProcess::waitExit(milliseconds timeout) {
  if (!exited_) {
    int status = 0;
    if (child_.pid <= 0) return ::testing::AssertionFailure() << "meridian was never started";
    if (!waitChild(child_, timeout, status)) {
      return ::testing::AssertionFailure()
             << "meridian (pid " << pid_ << ") still running after " << timeout.count() << "ms\n"
             << outputTails();
    }
    recordExit(status);
  }
  if (termSignal_ != 0) return ::testing::AssertionSuccess() << "killed by signal " << termSignal_;
  return ::testing::AssertionSuccess() << "exit " << exitCode_;
}

void MeridianProcess::recordExit(int status) {
  exited_ = true;
  exitCode_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  termSignal_ = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

std::string MeridianProcess::outputTails() const {
  return "--- stdout (tail) ---\n" + tail(stdoutText(), 3000) + "\n--- stderr (tail) ---\n" +
         tail(stderrText(), 3000);
}

ValidateResult runValidate(const std::string& yaml, milliseconds timeout) {
  TempDir dir("validate");
  ValidateResult result;
  result.configPath = dir.write("config.yaml", yaml);
  CommandResult run = runCommand({meridianBinary(), "validate", "-c", result.configPath}, timeout);
  result.exitCode = run.termSignal != 0 ? -1 : run.exitCode;
  result.out = std::move(run.out);
  result.err = std::move(run.err);
  if (run.timedOut) result.err += "\n[meridian validate timed out]";
  return result;
}

}  // namespace meridian::fakes
