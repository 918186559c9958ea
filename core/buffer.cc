#include "core/buffer.h"

#include <errno.h>
#include <event2/buffer.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>

namespace meridian::core {

// evbuffer_iovec is declared to match struct iovec so it can be handed to readv/writev.
static_assert(sizeof(evbuffer_iovec) == sizeof(iovec));

Buffer::~Buffer() {
  if (buf_ != nullptr) evbuffer_free(buf_);
}

evbuffer* Buffer::get() {
  if (buf_ == nullptr) buf_ = evbuffer_new();
  return buf_;
}

size_t Buffer::size() const {
  return buf_ == nullptr ? 0 : evbuffer_get_length(buf_);
}

void Buffer::append(const void* data, size_t len) {
  if (len > 0) evbuffer_add(get(), data, len);
}

void Buffer::moveFrom(Buffer& from, size_t n) {
  if (n == 0 || from.buf_ == nullptr) return;
  evbuffer_remove_buffer(from.buf_, get(), n);
}

void Buffer::copyRangeTo(size_t offset, size_t n, Buffer& to) const {
  if (n == 0 || buf_ == nullptr) return;
  evbuffer_ptr pos;
  if (evbuffer_ptr_set(buf_, &pos, offset, EVBUFFER_PTR_SET) != 0) return;
  // Peek at most a few extents at a time; each is appended (copied) as it is found.
  while (n > 0) {
    evbuffer_iovec vec[8];
    // peek returns how many extents cover n bytes, which may be more than it filled in.
    int count = std::min(evbuffer_peek(buf_, static_cast<ev_ssize_t>(n), &pos, vec, 8), 8);
    if (count <= 0) return;
    size_t copied = 0;
    for (int i = 0; i < count && n > 0; ++i) {
      size_t len = std::min(vec[i].iov_len, n);
      to.append(vec[i].iov_base, len);
      n -= len;
      copied += len;
    }
    if (n == 0 || evbuffer_ptr_set(buf_, &pos, copied, EVBUFFER_PTR_ADD) != 0) return;
  }
}

size_t Buffer::copyOut(void* dst, size_t n) const {
  if (n == 0 || buf_ == nullptr) return 0;
  ev_ssize_t got = evbuffer_copyout(buf_, dst, n);
  return got < 0 ? 0 : static_cast<size_t>(got);
}

void Buffer::moveAllFrom(Buffer& from) {
  if (from.buf_ == nullptr || evbuffer_get_length(from.buf_) == 0) return;
  evbuffer_add_buffer(get(), from.buf_);
}

const char* Buffer::pullup(size_t n) {
  return reinterpret_cast<const char*>(evbuffer_pullup(get(), static_cast<ev_ssize_t>(n)));
}

std::string_view Buffer::front() const {
  if (buf_ == nullptr) return {};
  evbuffer_iovec v;
  if (evbuffer_peek(buf_, -1, nullptr, &v, 1) < 1) return {};
  return {static_cast<const char*>(v.iov_base), v.iov_len};
}

void Buffer::drain(size_t n) {
  if (buf_ != nullptr && n > 0) evbuffer_drain(buf_, n);
}

void Buffer::release() {
  if (buf_ != nullptr && evbuffer_get_length(buf_) == 0) {
    evbuffer_free(buf_);
    buf_ = nullptr;
  }
}

ssize_t Buffer::readFrom(int fd, size_t max) {
  // evbuffer_read() asks the kernel how much is readable (an extra ioctl per read) and caps
  // reads at 4 KiB; reserving space and reading ourselves avoids both.
  evbuffer_iovec vec[2];
  int n = evbuffer_reserve_space(get(), static_cast<ev_ssize_t>(max), vec, 2);
  if (n <= 0) {
    errno = ENOMEM;
    return -1;
  }
  ssize_t got;
  do {
    // recv() on one piece: sockets skip the VFS layer and the iovec import that readv() pays.
    got = n == 1 ? ::recv(fd, vec[0].iov_base, vec[0].iov_len, 0)
                 : ::readv(fd, reinterpret_cast<iovec*>(vec), n);
  } while (got < 0 && errno == EINTR);
  if (got <= 0) {
    evbuffer_commit_space(buf_, vec, 0);
    return got;
  }
  size_t left = static_cast<size_t>(got);
  int used = 0;
  for (; used < n && left > 0; ++used) {
    size_t take = left < vec[used].iov_len ? left : vec[used].iov_len;
    vec[used].iov_len = take;
    left -= take;
  }
  evbuffer_commit_space(buf_, vec, used);
  return got;
}

ssize_t Buffer::writeTo(int fd) {
  if (buf_ == nullptr) return 0;
  constexpr int kMaxPieces = 64;
  evbuffer_iovec vec[kMaxPieces];
  int n = evbuffer_peek(buf_, -1, nullptr, vec, kMaxPieces);
  if (n <= 0) return 0;
  if (n > kMaxPieces) n = kMaxPieces;
  ssize_t wrote;
  do {
    // One piece (most heads and small bodies): send() is the cheaper path into the socket.
    wrote = n == 1 ? ::send(fd, vec[0].iov_base, vec[0].iov_len, MSG_NOSIGNAL)
                   : ::writev(fd, reinterpret_cast<const iovec*>(vec), n);
  } while (wrote < 0 && errno == EINTR);
  if (wrote > 0) evbuffer_drain(buf_, static_cast<size_t>(wrote));
  return wrote;
}

}  // namespace meridian::core
