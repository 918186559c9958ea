#include "core/buffer.h"

#include <errno.h>
#include <event2/buffer.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <malloc.h>

#include <algorithm>
#include <cstdlib>

namespace meridian::core {

namespace {

// Read blocks kept per thread for reuse. A 16 KiB malloc falls outside malloc's per-thread
// cache and costs a walk of its bins; under load every read paid it, and its free.
class BlockPool {
 public:
  static constexpr int kKeep = 64;  // 1 MiB per thread at most

  ~BlockPool() {
    for (int i = 0; i < count_; ++i) std::free(free_[i]);
    count_ = 0;
  }
  char* take() {
    if (count_ > 0) return free_[--count_];
    return static_cast<char*>(std::malloc(Buffer::kReadBlockSize));
  }
  void give(char* block) {
    if (count_ < kKeep)
      free_[count_++] = block;
    else
      std::free(block);
  }

 private:
  char* free_[kKeep];
  int count_ = 0;
};

// Read blocks taken and not yet given back on this thread, their peak since the last trim,
// and who wants to hear when many went back.
thread_local size_t t_blocks_in_use = 0;
thread_local size_t t_blocks_peak = 0;
thread_local bool t_trim_signalled = false;
thread_local std::function<void()>* t_on_many_released = nullptr;

void countTaken() {
  if (++t_blocks_in_use > t_blocks_peak) t_blocks_peak = t_blocks_in_use;
}

void countGiven() {
  if (t_blocks_in_use > 0) --t_blocks_in_use;
  if (t_trim_signalled || t_on_many_released == nullptr) return;
  size_t gone = t_blocks_peak - t_blocks_in_use;
  if (gone * Buffer::kReadBlockSize >= Buffer::kTrimAfterBytes &&
      t_blocks_in_use <= t_blocks_peak / 2) {
    t_trim_signalled = true;
    (*t_on_many_released)();
  }
}

// The pool lives from a thread's first read to its exit. A block given back after the pool is
// gone (a buffer destroyed during thread exit) is simply freed.
thread_local bool t_pool_gone = false;

struct PoolHolder {
  BlockPool pool;
  ~PoolHolder() { t_pool_gone = true; }
};

BlockPool* threadPool() {
  if (t_pool_gone) return nullptr;
  thread_local PoolHolder holder;
  return &holder.pool;
}

void giveBlock(char* block) {
  countGiven();
  if (BlockPool* pool = threadPool())
    pool->give(block);
  else
    std::free(block);
}

void onBlockDrained(const void* data, size_t, void*) {
  giveBlock(static_cast<char*>(const_cast<void*>(data)));
}

// Up to this many bytes are copied into the buffer's own memory: they fit the smallest
// chunk libevent allocates (1 KiB with its header), which malloc serves from its cache.
constexpr size_t kCopyAtMost = 900;

}  // namespace

Buffer::ReadBlock Buffer::takeReadBlock() {
  countTaken();
  BlockPool* pool = threadPool();
  return {pool != nullptr ? pool->take() : static_cast<char*>(std::malloc(kReadBlockSize))};
}

void Buffer::appendBlock(ReadBlock block, size_t n) {
  if (n == 0 || n <= kCopyAtMost) {
    append(block.data, n);
    giveBlock(block.data);
    return;
  }
  if (evbuffer_add_reference(get(), block.data, n, &onBlockDrained, nullptr) != 0) {
    append(block.data, n);  // out of memory for the link: a copy, or nothing
    giveBlock(block.data);
  }
}

void Buffer::onManyBlocksReleased(std::function<void()> cb) {
  // Gone at thread exit, before blocks released later (by other thread-locals) could call it.
  struct Hook {
    std::function<void()> fn;
    ~Hook() { t_on_many_released = nullptr; }
  };
  thread_local Hook hook;
  hook.fn = std::move(cb);
  t_on_many_released = hook.fn ? &hook.fn : nullptr;
}

void Buffer::trimFreedMemory() {
#ifdef __GLIBC__
  // Every arena, not only this thread's: pages wholly free anywhere go back (MADV_DONTNEED).
  malloc_trim(0);
#endif
  t_blocks_peak = t_blocks_in_use;
  t_trim_signalled = false;
}

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
  // reads at 4 KiB; reading ourselves into pooled blocks avoids both, and a malloc per read.
  // recv() rather than read(): sockets skip the VFS layer. More than one block's worth is
  // read with one readv into several blocks (a 64 KiB response in one call, not four).
  size_t blocks =
      std::clamp<size_t>((max + kReadBlockSize - 1) / kReadBlockSize, 1, kMaxReadBlocks);
  ReadBlock block[kMaxReadBlocks];
  iovec vec[kMaxReadBlocks];
  for (size_t i = 0; i < blocks; ++i) {
    block[i] = takeReadBlock();
    vec[i] = {block[i].data, std::min(kReadBlockSize, max - i * kReadBlockSize)};
  }
  ssize_t got;
  do {
    got = blocks == 1 ? ::recv(fd, vec[0].iov_base, vec[0].iov_len, 0)
                      : ::readv(fd, vec, static_cast<int>(blocks));
  } while (got < 0 && errno == EINTR);
  int err = errno;
  size_t left = got > 0 ? static_cast<size_t>(got) : 0;
  for (size_t i = 0; i < blocks; ++i) {
    size_t take = std::min(left, vec[i].iov_len);
    appendBlock(block[i], take);  // an unused block (take 0) just goes back to the pool
    left -= take;
  }
  errno = err;
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
