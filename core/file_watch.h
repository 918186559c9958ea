#pragma once
// FileWatch: calls back once, on the loop's thread, after a burst of changes to any of a set
// of files has gone quiet. Directories are watched, not the files themselves, because editors
// and `mv` replace a file (a watch on the old inode would go silent) and Kubernetes ConfigMaps
// swap a symlink to a new directory; events are filtered by file name. A watched path that is
// a symlink also watches every link on its way to the real file.
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/event_loop.h"

struct event;

namespace meridian::core {

class FileWatch {
 public:
  // `on_change` runs once per burst, `quiet` after the last event of it.
  FileWatch(EventLoop& loop, std::function<void()> on_change, Millis quiet = Millis(100));
  ~FileWatch();
  FileWatch(const FileWatch&) = delete;
  FileWatch& operator=(const FileWatch&) = delete;

  // Replaces the watched set. Files may be missing (their directory is watched for them to
  // appear); an error means inotify itself failed or a directory cannot be watched.
  Result<bool> setFiles(const std::vector<std::string>& paths);
  // (directory, file name) pairs being watched, for tests and logs.
  std::set<std::pair<std::string, std::string>> watched() const;

 private:
  static void onReadable(int fd, short, void* arg);
  void addPath(const std::string& path, int depth,
               std::set<std::pair<std::string, std::string>>& out);
  void readEvents();

  EventLoop& loop_;
  std::function<void()> on_change_;
  Millis quiet_;
  int fd_ = -1;
  event* ev_ = nullptr;
  Timer quiet_timer_;
  std::map<int, std::string> dirs_;                     // watch descriptor -> directory
  std::map<std::string, std::set<std::string>> names_;  // directory -> file names in it
};

}  // namespace meridian::core
