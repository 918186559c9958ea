#pragma once
// A non-blocking socket with an input and an output Buffer, driven by its EventLoop.
//
// Writes are optimistic: flush() writes at once and asks the loop for write readiness only
// when the kernel did not take everything (as nginx and HAProxy do), which saves an epoll
// round-trip per response. Reads happen when the socket is readable and reading is not
// paused; the handler then finds the new bytes in input().
//
// With a transport (TLS), the same calls carry plaintext: the transport's handshake runs
// first (the handler hears onHandshakeDone, or onError on failure), and either direction may
// wait on either readiness, which the stream tracks. Without one, nothing changes.
#include <sys/socket.h>

#include <cstdint>
#include <memory>

#include "core/buffer.h"
#include "core/event_loop.h"
#include "core/stream_transport.h"

struct event;

namespace meridian::core {

class Stream;

class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  virtual void onConnected(Stream&) {}
  virtual void onConnectFailed(Stream&, int err) {}
  // New bytes are in input(). Called again later only when more arrive.
  virtual void onData(Stream&) = 0;
  // The peer closed its side (read returned 0); bytes before it were delivered by onData.
  virtual void onEof(Stream&) = 0;
  // A socket error (ECONNRESET, EPIPE...), or EPROTO from the transport (a failed TLS
  // handshake or a bad record). The stream is unusable.
  virtual void onError(Stream&, int err) = 0;
  // The transport's handshake completed; reads and writes carry application bytes from now.
  virtual void onHandshakeDone(Stream&) {}
  // The output buffer went below the low watermark after a flush had left bytes behind.
  virtual void onDrained(Stream&) {}
};

class Stream {
 public:
  // Takes ownership of a connected (or connecting) non-blocking fd.
  Stream(EventLoop& loop, int fd, StreamHandler* handler);
  ~Stream();  // closes the fd
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Starts a non-blocking connect; the handler hears onConnected or onConnectFailed. Returns
  // nullptr (with errno) when the socket cannot even be created.
  static Stream* connect(EventLoop& loop, const sockaddr* addr, socklen_t len,
                         StreamHandler* handler);

  Buffer& input() { return in_; }
  Buffer& output() { return out_; }
  int fd() const { return fd_; }
  EventLoop& loop() { return loop_; }
  void setHandler(StreamHandler* h) { handler_ = h; }

  // Routes every read and write through `t` from now on and starts its handshake. Call right
  // after construction, before any I/O.
  void setTransport(std::unique_ptr<StreamTransport> t);
  // The client side of the same, once connected (onConnected): our hello goes first, as soon
  // as the socket is writable, and the handler hears onHandshakeDone or onError.
  void startClientTls(std::unique_ptr<StreamTransport> t);
  StreamTransport* transport() const { return transport_.get(); }
  bool handshaking() const { return handshaking_; }

  // Writes what output() holds; arms write readiness for the rest.
  // Returns false when the socket failed (the handler has NOT been called; check errno).
  bool flush();
  bool writePending() const { return !out_.empty(); }
  void setLowWatermark(size_t bytes) { low_watermark_ = bytes; }

  void pauseReading();
  void resumeReading();
  bool readingPaused() const { return read_paused_; }
  // Bytes asked of the kernel per read.
  void setReadSize(size_t bytes) { read_size_ = bytes; }

  // Half-close our sending side (after the last byte is written); with a transport, its
  // closing message (TLS close_notify) goes first.
  void shutdownWrite();
  // Close with RST instead of FIN (SO_LINGER 0), for aborting a response mid-way.
  void setAbortOnClose();
  // Frees both buffers if empty, and the transport's (TLS record buffers; OpenSSL keeps them
  // while a record is partly read or written): call when the connection goes idle.
  void releaseBuffers();

 private:
  static void onReadable(int fd, short what, void* arg);
  static void onWritable(int fd, short what, void* arg);
  void handleConnectResult();
  void armWrite();
  void disarmWrite();
  // The transport's side of the read and write events.
  void onTransportReadable();
  void onTransportWritable();
  void continueHandshake();
  void comeBackForPending();
  bool readTransport();  // false when the handler heard onError
  bool flushTransport();
  void finishShutdown();
  void setWriteWantsRead(bool wants);

  EventLoop& loop_;
  int fd_;
  StreamHandler* handler_;
  event* read_ev_;
  event* write_ev_ = nullptr;
  Buffer in_;
  Buffer out_;
  std::unique_ptr<StreamTransport> transport_;  // null for plain sockets
  size_t read_size_ = 16384;
  size_t low_watermark_ = 0;
  bool read_paused_ = false;
  bool connecting_ = false;
  bool write_armed_ = false;
  bool handshaking_ = false;
  bool read_wants_write_ = false;  // the transport's last read waits for writability
  bool write_wants_read_ = false;  // its last write waits for readability
  bool shutdown_pending_ = false;  // close_notify waits for writability
};

}  // namespace meridian::core
