#include "core/file_read.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

namespace meridian::core {

namespace {

Error failure(std::string why) {
  return Error{ErrorKind::ConfigInvalid, Side::Internal, false, std::move(why)};
}

std::string cannotRead(int err) {
  return std::string("cannot read: ") + strerror(err);
}

const char* kindOf(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a file";
}

Error tooLarge(FileLimit limit) {
  return failure("too large: more than " + sizeText(limit.max_bytes) + " (the limit for " +
                 limit.what + ")");
}

// An open, checked descriptor of a regular file within the cap, or why not.
Result<int> openChecked(const std::string& path, FileLimit limit, struct stat& st) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    int err = errno;
    // A Unix socket cannot be opened at all (ENXIO); say what it is instead.
    if (err == ENXIO && ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
      return failure("not a regular file (a socket)");
    return failure(cannotRead(err));
  }
  Error why;
  if (::fstat(fd, &st) != 0) {
    why = failure(cannotRead(errno));
  } else if (S_ISDIR(st.st_mode)) {
    why = failure(cannotRead(EISDIR));
  } else if (!S_ISREG(st.st_mode)) {
    why = failure(std::string("not a regular file (") + kindOf(st.st_mode) + ")");
  } else if (static_cast<uint64_t>(st.st_size) > limit.max_bytes) {
    why = tooLarge(limit);
  } else {
    return fd;
  }
  ::close(fd);
  return why;
}

}  // namespace

Result<std::string> readRegularFile(const std::string& path, FileLimit limit) {
  struct stat st {};
  auto fd = openChecked(path, limit, st);
  if (!fd.ok()) return fd.error();
  std::string out;
  out.reserve(static_cast<size_t>(st.st_size));
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd.value(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd.value());
      return failure(cannotRead(err));
    }
    if (n == 0) break;
    // The size was checked at open; a file that grows since (or a /proc file, which says 0)
    // is held to the cap here.
    if (out.size() + static_cast<size_t>(n) > limit.max_bytes) {
      ::close(fd.value());
      return tooLarge(limit);
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd.value());
  return out;
}

Result<uint64_t> checkRegularFile(const std::string& path, FileLimit limit) {
  struct stat st {};
  auto fd = openChecked(path, limit, st);
  if (!fd.ok()) return fd.error();
  ::close(fd.value());
  return static_cast<uint64_t>(st.st_size);
}

std::string sizeText(uint64_t bytes) {
  struct Unit {
    uint64_t size;
    const char* name;
  };
  for (Unit u : {Unit{1ull << 30, " GiB"}, Unit{1ull << 20, " MiB"}, Unit{1ull << 10, " KiB"}}) {
    if (bytes >= u.size && bytes % u.size == 0) return std::to_string(bytes / u.size) + u.name;
  }
  return std::to_string(bytes) + (bytes == 1 ? " byte" : " bytes");
}

}  // namespace meridian::core
