#pragma once
// What an Exchange sees of its upstream connection: the bytes of one HTTP/1.1 exchange both
// ways, and the few controls back-pressure needs. An HTTP/1.1 connection is its socket
// (StreamChannel); an HTTP/2 connection lends each request a stream that speaks HTTP/1.1 at
// this edge and HTTP/2 on the wire (H2StreamChannel), so the Exchange and everything built on
// it (replay, hedges, capacity, Idempotency-Key) run the same code for both protocols.
#include <cstddef>

#include "core/buffer.h"
#include "core/stream.h"

namespace meridian::proxy {

class UpstreamChannel {
 public:
  virtual ~UpstreamChannel() = default;
  // The response as HTTP/1.1 bytes, and the request as the Exchange writes it.
  virtual core::Buffer& input() = 0;
  virtual core::Buffer& output() = 0;
  // Sends what output() holds (or as much as the peer takes). False: the channel failed
  // (errno set); the user has not been told.
  virtual bool flush() = 0;
  virtual bool writePending() const = 0;
  // The user hears onUpstreamDrained once output() is down to this after a flush left bytes.
  virtual void setLowWatermark(size_t bytes) = 0;
  // Stop and restart taking response bytes (the client reads slower than the upstream sends).
  virtual void pauseReading() = 0;
  virtual void resumeReading() = 0;
  // The request is complete from our side (a tunnel's client half-closed).
  virtual void shutdownWrite() = 0;
  // How much the next read of the socket may take (the response's share of the budget). An
  // HTTP/2 stream shares its connection's reads: nothing to set.
  virtual void setReadSize(size_t) {}
  // The socket under the channel, for what the kernel knows of it (core::tcpProgress); an
  // HTTP/2 stream's is its connection's, shared with the other streams.
  virtual int socketFd() const = 0;
  // The socket a response body may be spliced from (core::SpliceRelay): a plain HTTP/1.1
  // connection's; -1 when the bytes must pass through user space (TLS, an HTTP/2 stream).
  virtual int spliceSourceFd() const { return -1; }
};

// An HTTP/1.1 connection: the channel is the socket.
class StreamChannel final : public UpstreamChannel {
 public:
  void attach(core::Stream* s) { s_ = s; }
  core::Buffer& input() override { return s_->input(); }
  core::Buffer& output() override { return s_->output(); }
  bool flush() override { return s_->flush(); }
  bool writePending() const override { return s_->writePending(); }
  void setLowWatermark(size_t bytes) override { s_->setLowWatermark(bytes); }
  void pauseReading() override { s_->pauseReading(); }
  void resumeReading() override { s_->resumeReading(); }
  void shutdownWrite() override { s_->shutdownWrite(); }
  void setReadSize(size_t bytes) override { s_->setReadSize(bytes); }
  int socketFd() const override { return s_->fd(); }
  int spliceSourceFd() const override { return s_->transport() == nullptr ? s_->fd() : -1; }

 private:
  core::Stream* s_ = nullptr;
};

}  // namespace meridian::proxy
