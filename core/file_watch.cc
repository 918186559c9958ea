#include "core/file_watch.h"

#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "core/log.h"

namespace meridian::core {

namespace {

// Everything that can make a file name point at different bytes: written, replaced by a
// rename, created, removed, or (a symlink's target) re-linked. IN_MODIFY alone is left out:
// a writer's partial file is picked up by IN_CLOSE_WRITE once complete.
constexpr uint32_t kDirMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                              IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
constexpr int kMaxLinkDepth = 8;

std::pair<std::string, std::string> splitPath(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  if (slash == 0) return {"/", path.substr(1)};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

std::string readLink(const std::string& path) {
  char buf[PATH_MAX];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  if (n <= 0) return "";
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

FileWatch::FileWatch(EventLoop& loop, std::function<void()> on_change, Millis quiet)
    : loop_(loop), on_change_(std::move(on_change)), quiet_(quiet), quiet_timer_(loop, [this] {
        on_change_();  // may call setFiles(): nothing of this burst is touched after it
      }) {}

FileWatch::~FileWatch() {
  if (ev_ != nullptr) event_free(ev_);
  if (fd_ >= 0) ::close(fd_);
}

// Adds (dir, name) for `path` and, when it is a symlink, for every link on the way to the real
// file: a ConfigMap's `config.yaml -> ..data/config.yaml` changes when `..data` is swapped.
void FileWatch::addPath(const std::string& path, int depth,
                        std::set<std::pair<std::string, std::string>>& out) {
  auto [dir, name] = splitPath(path);
  out.emplace(dir, name);
  if (depth >= kMaxLinkDepth) return;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return;
  std::string target = readLink(path);
  if (target.empty()) return;
  if (target[0] != '/') target = dir + "/" + target;
  // Each symlinked directory on the target's path is a link that can be swapped.
  for (size_t at = target.find('/', 1); at != std::string::npos; at = target.find('/', at + 1)) {
    std::string prefix = target.substr(0, at);
    if (::lstat(prefix.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) addPath(prefix, depth + 1, out);
  }
  addPath(target, depth + 1, out);
}

Result<bool> FileWatch::setFiles(const std::vector<std::string>& paths) {
  if (fd_ < 0) {
    fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd_ < 0)
      return Error{ErrorKind::Internal, Side::Internal, false,
                   std::string("inotify: ") + strerror(errno)};
    ev_ = event_new(loop_.base(), fd_, EV_READ | EV_PERSIST, &FileWatch::onReadable, this);
    event_add(ev_, nullptr);
  }
  std::set<std::pair<std::string, std::string>> wanted;
  for (const auto& p : paths) {
    if (!p.empty()) addPath(p, 0, wanted);
  }
  std::map<std::string, std::set<std::string>> names;
  for (const auto& [dir, name] : wanted) names[dir].insert(name);
  // Drop directories no longer needed; inotify_add_watch on a watched one just returns its wd.
  for (auto it = dirs_.begin(); it != dirs_.end();) {
    if (names.count(it->second) == 0) {
      inotify_rm_watch(fd_, it->first);
      it = dirs_.erase(it);
    } else {
      ++it;
    }
  }
  std::string failed;
  for (const auto& [dir, unused] : names) {
    int wd = inotify_add_watch(fd_, dir.c_str(), kDirMask);
    if (wd < 0) {
      failed += (failed.empty() ? "" : "; ") + dir + ": " + strerror(errno);
      continue;
    }
    dirs_[wd] = dir;
  }
  names_ = std::move(names);
  if (!failed.empty())
    return Error{ErrorKind::Internal, Side::Internal, false, "cannot watch " + failed};
  return true;
}

std::set<std::pair<std::string, std::string>> FileWatch::watched() const {
  std::set<std::pair<std::string, std::string>> out;
  for (const auto& [dir, names] : names_) {
    for (const auto& n : names) out.emplace(dir, n);
  }
  return out;
}

void FileWatch::onReadable(int, short, void* arg) {
  static_cast<FileWatch*>(arg)->readEvents();
}

void FileWatch::readEvents() {
  alignas(inotify_event) char buf[16384];
  bool relevant = false;
  for (;;) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) break;  // EAGAIN: all read
    for (char* p = buf; p < buf + n;) {
      auto* e = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + e->len;
      if (e->mask & IN_Q_OVERFLOW) {
        relevant = true;  // events were lost: assume the worst
        continue;
      }
      auto dir = dirs_.find(e->wd);
      if (dir == dirs_.end()) continue;
      if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
        relevant = true;  // the directory itself went away or moved
        continue;
      }
      if (e->len == 0) continue;
      auto names = names_.find(dir->second);
      if (names != names_.end() && names->second.count(e->name) != 0) relevant = true;
    }
  }
  // Every event of a burst pushes the deadline on: one callback once the writes stop.
  if (relevant) quiet_timer_.arm(quiet_);
}

}  // namespace meridian::core
