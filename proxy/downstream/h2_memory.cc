#include "proxy/downstream/h2_memory.h"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace meridian::proxy {

H2Memory::H2Memory() : mem_{this, mallocCb, freeCb, callocCb, reallocCb} {}

void* H2Memory::mallocCb(size_t size, void* self) {
  return static_cast<H2Memory*>(self)->allocate(size, false);
}

void H2Memory::freeCb(void* p, void* self) {
  static_cast<H2Memory*>(self)->release(p);
}

void* H2Memory::callocCb(size_t n, size_t size, void* self) {
  if (size != 0 && n > ~size_t{0} / size) return nullptr;
  return static_cast<H2Memory*>(self)->allocate(n * size, true);
}

void* H2Memory::reallocCb(void* p, size_t size, void* self) {
  auto* m = static_cast<H2Memory*>(self);
  if (p == nullptr) return m->allocate(size, false);
  Mapped* mapped = m->findMapped(p);
  if (mapped == nullptr && size < kMappedFrom) return std::realloc(p, size);
  // Moving between the heap and a mapping: what the old block holds is at most its size
  // (malloc_usable_size may be a little more; reading that much stays inside it).
  size_t old = mapped != nullptr ? mapped->size : malloc_usable_size(p);
  void* next = m->allocate(size, false);
  if (next == nullptr) return nullptr;
  std::memcpy(next, p, std::min(old, size));
  m->release(p);
  return next;
}

// Mapped blocks are told apart by their address (kept in mapped_), so neither kind carries a
// header: a mapped one's first page is then the buffer's own, and can be given back.
void* H2Memory::allocate(size_t size, bool zeroed) {
  if (size >= kMappedFrom) {
    void* m = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m != MAP_FAILED) {
      mapped_.push_back({m, size, false});  // zero-filled; untouched pages are not resident
      return m;
    }
    // Out of mappings (vm.max_map_count): the heap still serves.
  }
  return zeroed ? std::calloc(1, size) : std::malloc(size);
}

H2Memory::Mapped* H2Memory::findMapped(void* p) {
  for (Mapped& m : mapped_)
    if (m.data == p) return &m;
  return nullptr;
}

void H2Memory::release(void* p) {
  if (p == nullptr) return;
  if (Mapped* m = findMapped(p)) {
    ::munmap(m->data, m->size);
    *m = mapped_.back();
    mapped_.pop_back();
    return;
  }
  std::free(p);
}

void H2Memory::markFrameBuffer() {
  for (Mapped& m : mapped_) m.frame_buffer = true;
}

void H2Memory::releaseFrameBufferPages() {
  static const size_t kPage = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  for (const Mapped& m : mapped_) {
    if (!m.frame_buffer) continue;
    size_t bytes = (m.size + kPage - 1) / kPage * kPage;  // the mapping's whole pages
    if (bytes > 0 && ::madvise(m.data, bytes, MADV_DONTNEED) == 0) pages_released_ += bytes / kPage;
  }
}

}  // namespace meridian::proxy
