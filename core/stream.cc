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
  transport_.reset();  // the SSL may still name the fd: gone before the fd is
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
  if (transport_) return flushTransport();
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
  // A transport write waiting for readability still needs the read event.
  if (!connecting_ && !write_wants_read_) event_del(read_ev_);
}

void Stream::resumeReading() {
  if (!read_paused_) return;
  read_paused_ = false;
  if (connecting_) return;
  event_add(read_ev_, nullptr);
  comeBackForPending();
}

// Bytes the transport read ahead make no socket readiness: run the read event ourselves.
void Stream::comeBackForPending() {
  if (transport_ && !handshaking_ && !read_paused_ && transport_->hasPending())
    event_active(read_ev_, EV_READ, 0);
}

void Stream::shutdownWrite() {
  if (transport_ && !handshaking_ && transport_->shutdown() == IoStatus::WantWrite) {
    shutdown_pending_ = true;  // finished by finishShutdown once writable
    armWrite();
    return;
  }
  ::shutdown(fd_, SHUT_WR);
}

void Stream::setAbortOnClose() {
  linger l{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

void Stream::releaseBuffers() {
  in_.release();
  out_.release();
  if (transport_) transport_->releaseBuffers();
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
  if (self->transport_) {
    self->onTransportReadable();
    return;
  }
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
  if (self->transport_) {
    self->onTransportWritable();
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

// ---- With a transport: the same events, with each direction's wait tracked. ----

void Stream::setTransport(std::unique_ptr<StreamTransport> t) {
  transport_ = std::move(t);
  // The client speaks first: the handshake starts when its hello makes the socket readable.
  handshaking_ = true;
}

void Stream::startClientTls(std::unique_ptr<StreamTransport> t) {
  transport_ = std::move(t);
  handshaking_ = true;
  armWrite();  // not driven from here: the handler hears the outcome from the loop, not now
}

void Stream::setWriteWantsRead(bool wants) {
  if (wants == write_wants_read_) return;
  write_wants_read_ = wants;
  if (read_paused_ && !connecting_) {
    if (wants)
      event_add(read_ev_, nullptr);
    else
      event_del(read_ev_);
  }
}

void Stream::continueHandshake() {
  switch (transport_->handshake()) {
    case IoStatus::Ok:
      handshaking_ = false;
      disarmWrite();
      handler_->onHandshakeDone(*this);
      // Anything queued meanwhile goes now. Application bytes that came with the client's
      // last flight are either still in the socket, which stays readable, or were read ahead
      // into the transport, which readiness will never announce.
      if (!out_.empty() && !flushTransport()) {
        handler_->onError(*this, errno);
        return;
      }
      comeBackForPending();
      return;
    case IoStatus::WantRead:
      disarmWrite();
      return;
    case IoStatus::WantWrite:
      armWrite();
      return;
    default:
      disarmWrite();
      handler_->onError(*this, EPROTO);
      return;
  }
}

void Stream::onTransportReadable() {
  if (handshaking_) {
    continueHandshake();
    return;
  }
  if (write_wants_read_) {
    setWriteWantsRead(false);
    size_t before = out_.size();
    if (!flushTransport()) {
      handler_->onError(*this, errno);
      return;
    }
    if (out_.size() < before && out_.size() <= low_watermark_) handler_->onDrained(*this);
    if (read_paused_) return;  // the event was armed for the write alone
  }
  readTransport();
}

void Stream::onTransportWritable() {
  if (handshaking_) {
    continueHandshake();
    return;
  }
  if (shutdown_pending_) {
    finishShutdown();
    return;
  }
  if (read_wants_write_) {
    read_wants_write_ = false;
    if (!read_paused_ && !readTransport()) return;
  }
  size_t before = out_.size();
  if (!flushTransport()) {
    handler_->onError(*this, errno);
    return;
  }
  size_t after = out_.size();
  if (after < before && after <= low_watermark_) handler_->onDrained(*this);
}

// One read event takes at most read_size_ bytes (plus one record), so a fast client cannot
// starve the loop. Once the transport holds nothing more, another read would only meet
// EAGAIN: stop, and let readiness bring us back when more comes. What stays read ahead inside
// the transport brings us back through comeBackForPending.
bool Stream::readTransport() {
  size_t total = 0;
  IoStatus st = IoStatus::Ok;
  while (total < read_size_ && st == IoStatus::Ok) {
    size_t got = 0;
    st = transport_->read(in_, read_size_ - total, got);
    total += got;
    if (st == IoStatus::Ok && !transport_->hasPending()) break;
  }
  if (st == IoStatus::Error) {
    handler_->onError(*this, EPROTO);
    return false;
  }
  if (st == IoStatus::WantWrite) {
    read_wants_write_ = true;
    armWrite();
  }
  // The owner deletes streams later (deleteLater), never inside a callback: this outlives it.
  if (total > 0) handler_->onData(*this);
  if (st == IoStatus::Eof) {
    event_del(read_ev_);
    read_paused_ = true;  // close_notify (or EOF): nothing more to read
    handler_->onEof(*this);
  } else if (st == IoStatus::Ok) {
    comeBackForPending();  // stopped at read_size_ with records still inside
  }
  return true;
}

bool Stream::flushTransport() {
  if (handshaking_ || write_wants_read_ || shutdown_pending_) return true;  // resumed later
  IoStatus st = out_.empty() ? IoStatus::Ok : transport_->write(out_);
  switch (st) {
    case IoStatus::Ok:
      if (!read_wants_write_) disarmWrite();
      return true;
    case IoStatus::WantWrite:
      armWrite();
      return true;
    case IoStatus::WantRead:
      setWriteWantsRead(true);
      if (!read_wants_write_) disarmWrite();
      return true;
    default:
      errno = EPROTO;
      return false;
  }
}

void Stream::finishShutdown() {
  if (transport_->shutdown() == IoStatus::WantWrite) return;
  shutdown_pending_ = false;
  disarmWrite();
  ::shutdown(fd_, SHUT_WR);
}

}  // namespace meridian::core
