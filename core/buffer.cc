#include "core/buffer.h"

#include <errno.h>
#include <event2/buffer.h>
#include <sys/socket.h>
#include <sys/uio.h>

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
