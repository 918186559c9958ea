// H2Memory: the allocator each HTTP/2 session gives nghttp2. Large blocks are mapped on their
// own, small ones come from malloc, and the frame buffer's pages can be given back while the
// session is idle.
#include "proxy/downstream/h2_memory.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace meridian::proxy {
namespace {

size_t pageSize() {
  return static_cast<size_t>(::sysconf(_SC_PAGESIZE));
}

// How many pages of [p, p + len) are resident (mincore).
size_t residentPages(void* p, size_t len) {
  std::vector<unsigned char> vec((len + pageSize() - 1) / pageSize());
  if (::mincore(p, len, vec.data()) != 0) return SIZE_MAX;
  size_t n = 0;
  for (unsigned char v : vec) n += v & 1;
  return n;
}

TEST(H2Memory, FrameBufferPagesGoBackAndComeBackZeroed) {
  H2Memory memory;
  nghttp2_mem* mem = memory.mem();
  // nghttp2's frame buffer: one chunk a little over 16 KiB, made with the session.
  const size_t chunk = kMappedFrom + 10;
  auto* frame = static_cast<char*>(mem->realloc(nullptr, chunk, mem->mem_user_data));
  ASSERT_NE(frame, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(frame) % pageSize(), 0u) << "mapped on its own";
  memory.markFrameBuffer();
  EXPECT_EQ(residentPages(frame, chunk), 0u) << "nothing written yet";
  std::memset(frame, 'f', 300);  // a SETTINGS frame and a HEADERS frame
  EXPECT_EQ(residentPages(frame, chunk), 1u);

  memory.releaseFrameBufferPages();
  EXPECT_EQ(residentPages(frame, chunk), 0u);
  EXPECT_GE(memory.pagesReleased(), chunk / pageSize());
  EXPECT_EQ(frame[0], 0) << "the next frame finds zeroed pages";
  std::memset(frame, 'g', chunk);  // still usable, whole
  EXPECT_EQ(frame[chunk - 1], 'g');
  mem->free(frame, mem->mem_user_data);
}

TEST(H2Memory, OnlyTheFrameBufferIsReleased) {
  H2Memory memory;
  nghttp2_mem* mem = memory.mem();
  auto* frame = static_cast<char*>(mem->malloc(kMappedFrom, mem->mem_user_data));
  memory.markFrameBuffer();
  // A large block made later (a big header block, say) holds live bytes: never released.
  auto* later = static_cast<char*>(mem->malloc(2 * kMappedFrom, mem->mem_user_data));
  ASSERT_NE(later, nullptr);
  std::memset(later, 'x', 2 * kMappedFrom);
  memory.releaseFrameBufferPages();
  EXPECT_EQ(later[0], 'x');
  EXPECT_EQ(later[2 * kMappedFrom - 1], 'x');
  mem->free(later, mem->mem_user_data);
  mem->free(frame, mem->mem_user_data);
}

TEST(H2Memory, ReallocKeepsBytesBetweenTheHeapAndAMapping) {
  H2Memory memory;
  nghttp2_mem* mem = memory.mem();
  void* ud = mem->mem_user_data;
  auto* small = static_cast<char*>(mem->calloc(1, 100, ud));
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(small[99], 0);
  std::memcpy(small, "hpack", 5);
  auto* big = static_cast<char*>(mem->realloc(small, 3 * kMappedFrom, ud));  // heap -> mapped
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(std::memcmp(big, "hpack", 5), 0);
  auto* back = static_cast<char*>(mem->realloc(big, 200, ud));  // mapped -> heap
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(std::memcmp(back, "hpack", 5), 0);
  mem->free(back, ud);
  mem->free(nullptr, ud);
}

}  // namespace
}  // namespace meridian::proxy
