#pragma once
// A byte queue (libevent's evbuffer: a list of chunks, so moving bytes between buffers links
// chunks instead of copying them). The evbuffer is created on first use and freed when the
// buffer is released, so an idle connection holds no buffer memory.
#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <string_view>

struct evbuffer;

namespace meridian::core {

class Buffer {
 public:
  Buffer() = default;
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  size_t size() const;
  bool empty() const { return size() == 0; }

  void append(const void* data, size_t len);
  void append(std::string_view s) { append(s.data(), s.size()); }
  // Moves the first n bytes (or all) of `from` to the end of this buffer, without copying.
  void moveFrom(Buffer& from, size_t n);
  void moveAllFrom(Buffer& from);
  // Appends a copy of `n` bytes of this buffer starting at `offset` to `to` (this buffer is
  // left as it was): for keeping what was sent, so it can be sent again.
  void copyRangeTo(size_t offset, size_t n, Buffer& to) const;
  // Copies the first n bytes (at most size()) into dst, leaving the buffer as it was.
  size_t copyOut(void* dst, size_t n) const;
  // Makes the first n bytes contiguous and returns them (n <= size()).
  const char* pullup(size_t n);
  // The first contiguous run of bytes, without copying or rearranging anything.
  std::string_view front() const;
  void drain(size_t n);
  void clear() { drain(size()); }
  // Frees the underlying evbuffer when empty (idle connections keep no buffer memory).
  void release();

  // Reads up to `max` bytes (at most kMaxReadBlocks blocks) from a non-blocking socket.
  // Returns bytes read, 0 on EOF, -1 with errno set (EAGAIN when nothing is there).
  ssize_t readFrom(int fd, size_t max);

  // Memory to read into without a malloc per read: kReadBlockSize bytes from a per-thread
  // pool. Every block taken goes back through appendBlock (also with n == 0).
  static constexpr size_t kReadBlockSize = 16384;
  static constexpr size_t kMaxReadBlocks = 4;
  struct ReadBlock {
    char* data;
  };
  static ReadBlock takeReadBlock();
  // Appends the block's first n bytes and gives the block back: a few bytes are copied and
  // the block returns to the pool at once; more are linked in as they are, and the block
  // returns to the pool when the buffer has drained them.
  void appendBlock(ReadBlock block, size_t n);
  // Writes as much as the socket takes. Returns bytes written or -1 with errno set.
  ssize_t writeTo(int fd);

  // Giving memory back once many connections let go of it. free() keeps a freed block inside
  // malloc's arena while live allocations sit around it, so after a burst of slow readers
  // leaves the process would stay at its peak. `cb` runs (on this thread, once, from inside
  // whatever released the last of them: it should only schedule work) when this thread's read
  // blocks in use fall to half their peak and at least kTrimAfterBytes below it; the owner
  // then calls trimFreedMemory(), which hands free pages back (malloc_trim) and starts a new
  // peak. A steady load, whose blocks come and go around the same count, never triggers it.
  static constexpr size_t kTrimAfterBytes = 4 << 20;
  static void onManyBlocksReleased(std::function<void()> cb);
  static void trimFreedMemory();

 private:
  evbuffer* get();
  evbuffer* buf_ = nullptr;
};

}  // namespace meridian::core
