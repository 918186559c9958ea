#include "core/stream.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

namespace meridian::core {

Stream::Stream(EventLoop& loop, int fd, StreamHandler* handler)
    : loop_(loop), fd_(fd), handler_(handler) {
  read_ev_ = event_new(loop.base(), fd, EV_READ | EV_PERSIST, &Stream::onReadable, this);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  event_add(read_ev_, nullptr);
}

Stream::~Stream() {
  event_free(read_ev_);
  if (write_ev_ != nullptr) event_free(write_ev_);
  ::close(fd_);
}

Stream* Stream::connect(EventLoop& loop, const sockaddr* addr, socklen_t len,
                        StreamHandler* handler) {
  int fd = ::socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  int rc = ::connect(fd, addr, len);
  if (rc < 0 && errno != EINPROGRESS) {
    int err = errno;
    ::close(fd);
    errno = err;
    return nullptr;
  }
  auto* s = new Stream(loop, fd, handler);
  // Until the connect resolves, only write readiness matters.
  event_del(s->read_ev_);
  s->connecting_ = true;
  s->armWrite();
  return s;
}

// Most connections never see a short write, so the write event is made on first need: one
// libevent event less per idle connection.
void Stream::armWrite() {
  if (write_armed_) return;
  if (write_ev_ == nullptr)
    write_ev_ = event_new(loop_.base(), fd_, EV_WRITE | EV_PERSIST, &Stream::onWritable, this);
  write_armed_ = true;
  event_add(write_ev_, nullptr);
}

void Stream::disarmWrite() {
  if (!write_armed_) return;
  write_armed_ = false;
  event_del(write_ev_);
}

bool Stream::flush() {
  if (connecting_) return true;  // written once connected
  while (!out_.empty()) {
    ssize_t n = out_.writeTo(fd_);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return false;
    }
  }
  if (!out_.empty())
    armWrite();
  else
    disarmWrite();
  return true;
}

void Stream::pauseReading() {
  if (read_paused_) return;
  read_paused_ = true;
  if (!connecting_) event_del(read_ev_);
}

void Stream::resumeReading() {
  if (!read_paused_) return;
  read_paused_ = false;
  if (!connecting_) event_add(read_ev_, nullptr);
}

void Stream::shutdownWrite() {
  ::shutdown(fd_, SHUT_WR);
}

void Stream::setAbortOnClose() {
  linger l{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

void Stream::releaseBuffers() {
  in_.release();
  out_.release();
}

void Stream::handleConnectResult() {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err == EINPROGRESS) return;
  connecting_ = false;
  if (err != 0) {
    disarmWrite();
    handler_->onConnectFailed(*this, err);
    return;
  }
  if (!read_paused_) event_add(read_ev_, nullptr);
  handler_->onConnected(*this);
}

void Stream::onReadable(int, short, void* arg) {
  auto* self = static_cast<Stream*>(arg);
  ssize_t n = self->in_.readFrom(self->fd_, self->read_size_);
  if (n > 0) {
    self->handler_->onData(*self);
  } else if (n == 0) {
    event_del(self->read_ev_);
    self->read_paused_ = true;  // EOF: nothing more to read
    self->handler_->onEof(*self);
  } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
    self->handler_->onError(*self, errno);
  }
}

void Stream::onWritable(int, short, void* arg) {
  auto* self = static_cast<Stream*>(arg);
  if (self->connecting_) {
    // The connect result is the only thing write readiness means here; flushing queued
    // bytes happens in onConnected (the handler calls flush()).
    self->disarmWrite();
    self->handleConnectResult();
    return;
  }
  size_t before = self->out_.size();
  if (!self->flush()) {
    self->handler_->onError(*self, errno);
    return;
  }
  size_t after = self->out_.size();
  if (after < before && after <= self->low_watermark_) self->handler_->onDrained(*self);
}

}  // namespace meridian::core
