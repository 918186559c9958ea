#pragma once
// SpliceRelay: moves a known number of bytes from one socket to another through a pipe with
// splice(2), so a large body never enters user space (HAProxy's `option splice-response`).
// Reading a socket into a pipe hands the kernel's buffers over; writing the pipe into the
// other socket hands them on, where read(2) + write(2) copy every byte twice.
//
// Only for plain sockets (TLS must see the bytes) and bodies we need not keep (a response
// stored for Idempotency-Key waiters is copied). The pipe is the buffer between the two
// sides: while the destination does not take what the pipe holds, the source is not read.
//
// Pipes come from a per-thread pool (two descriptors each, made on first need, at most
// kMaxPipesInUse per thread: past it, start() says no and the caller copies).
#include <cstdint>
#include <memory>

#include "core/event_loop.h"

struct event;

namespace meridian::core {

class SpliceRelay {
 public:
  enum class Status : uint8_t {
    Moving,     // waiting on a socket; more calls will come
    Done,       // every byte is with the destination socket
    SourceEof,  // the source closed before the last byte
    SourceError,
    DestinationError,
  };
  class Handler {
   public:
    virtual ~Handler() = default;
    // Once per wake-up that moved bytes or ended: `moved` bytes went to the destination since
    // the last call. After anything but Moving the relay does nothing more; the handler may
    // destroy it from inside this call.
    virtual void onSplice(SpliceRelay& relay, Status status, uint64_t moved, int err) = 0;
  };

  // A relay of `bytes` from `src` to `dst` (sockets the caller keeps owning and stops reading
  // and writing itself until the relay ends), or nullptr when no pipe can be had. It starts
  // with start(), which may already end it.
  static std::unique_ptr<SpliceRelay> make(EventLoop& loop, int src, int dst, uint64_t bytes,
                                           Handler* handler);
  ~SpliceRelay();
  SpliceRelay(const SpliceRelay&) = delete;
  SpliceRelay& operator=(const SpliceRelay&) = delete;

  // Moves what can be moved now and waits for the sockets for the rest. The handler hears of
  // it (from inside this call when something moved or it ended).
  void start() { pump(); }
  // Bytes not yet read from the source, and read but still in the pipe.
  uint64_t unread() const { return remaining_; }
  uint64_t inPipe() const { return in_pipe_; }
  // The destination is what the relay waits for (a full socket buffer): a stalled client.
  bool waitingOnDestination() const { return dst_armed_; }

  static constexpr int kMaxPipesInUse = 512;
  // Pipes made, for tests: the pool reuses them.
  static uint64_t pipesCreated();

 private:
  struct Pipe {
    int read_fd = -1;
    int write_fd = -1;
  };
  SpliceRelay(EventLoop& loop, int src, int dst, uint64_t bytes, Handler* handler, Pipe pipe);
  static void onEvent(int fd, short what, void* arg);
  void pump();
  void wait(bool on_source, bool on_destination);

  int src_;
  int dst_;
  uint64_t remaining_;
  uint64_t in_pipe_ = 0;
  Handler* handler_;
  Pipe pipe_;
  event* src_ev_;
  event* dst_ev_;
  bool src_armed_ = false;
  bool dst_armed_ = false;
};

}  // namespace meridian::core
