#pragma once
// The allocator an HTTP/2 session gives nghttp2, one per session. nghttp2 makes one 16 KiB
// frame buffer per session up front (the largest frame it may serialise), yet an idle
// connection, or one that only ever sends headers (response bodies go out through our
// send_data callback, never through that buffer), writes only its first few hundred bytes.
// From malloc's heap such a block is resident whole; mapped on its own, only the pages
// written are. So blocks of kMappedFrom bytes and more are mmap'd (two syscalls per session,
// at its start and end), the rest come from malloc as before.
//
// And once the session is idle, the frame buffer's written page goes back too
// (releaseFrameBufferPages): between frames nothing in it is alive, and the next frame
// finds zeroed pages. An idle h2 connection then holds no page of it at all.
#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <vector>

namespace meridian::proxy {

inline constexpr size_t kMappedFrom = 16 * 1024;

class H2Memory {
 public:
  H2Memory();
  H2Memory(const H2Memory&) = delete;
  H2Memory& operator=(const H2Memory&) = delete;

  // For nghttp2_session_server_new3; the session must not outlive this object.
  nghttp2_mem* mem() { return &mem_; }
  // Right after the session is made: the blocks mapped so far are its frame buffer (the one
  // chunk nghttp2 keeps; chunks added for a large frame are freed when that frame is sent).
  void markFrameBuffer();
  // Gives the frame buffer's pages back to the kernel. Only while nghttp2 has nothing to
  // send (nghttp2_session_want_write is 0, so no frame is being packed or waits in it) and
  // not from inside an nghttp2 call.
  void releaseFrameBufferPages();
  // Pages of mapped blocks given back so far (tests).
  size_t pagesReleased() const { return pages_released_; }

 private:
  struct Mapped {
    void* data;
    size_t size;
    bool frame_buffer;
  };
  static void* mallocCb(size_t size, void* self);
  static void freeCb(void* p, void* self);
  static void* callocCb(size_t n, size_t size, void* self);
  static void* reallocCb(void* p, size_t size, void* self);
  void* allocate(size_t size, bool zeroed);
  void release(void* p);
  Mapped* findMapped(void* p);

  nghttp2_mem mem_;
  std::vector<Mapped> mapped_;  // one, the frame buffer, most of the time
  size_t pages_released_ = 0;
};

}  // namespace meridian::proxy
