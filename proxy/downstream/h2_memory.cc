#include "proxy/downstream/h2_memory.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace meridian::proxy {

namespace {

// Every block starts with its size and how it was made, so free and realloc know; 16 bytes
// keep malloc's alignment for what follows.
struct alignas(16) Header {
  size_t size;
  bool mapped;
};

void* fromHeader(Header* h) {
  return h + 1;
}
Header* toHeader(void* p) {
  return static_cast<Header*>(p) - 1;
}

void* allocate(size_t size, bool zeroed) {
  size_t total = size + sizeof(Header);
  Header* h = nullptr;
  bool mapped = size >= kMappedFrom;
  if (mapped) {
    void* m = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    h = static_cast<Header*>(m);  // zero-filled by the kernel, untouched pages not resident
  } else {
    h = static_cast<Header*>(zeroed ? std::calloc(1, total) : std::malloc(total));
    if (h == nullptr) return nullptr;
  }
  h->size = size;
  h->mapped = mapped;
  return fromHeader(h);
}

void release(void* p, void*) {
  if (p == nullptr) return;
  Header* h = toHeader(p);
  if (h->mapped)
    ::munmap(h, h->size + sizeof(Header));
  else
    std::free(h);
}

void* mallocCb(size_t size, void*) {
  return allocate(size, false);
}

void* callocCb(size_t n, size_t size, void*) {
  if (size != 0 && n > (~size_t{0} - sizeof(Header)) / size) return nullptr;
  return allocate(n * size, true);
}

void* reallocCb(void* p, size_t size, void*) {
  if (p == nullptr) return allocate(size, false);
  Header* h = toHeader(p);
  if (!h->mapped && size < kMappedFrom) {
    auto* grown = static_cast<Header*>(std::realloc(h, size + sizeof(Header)));
    if (grown == nullptr) return nullptr;
    grown->size = size;
    return fromHeader(grown);
  }
  void* next = allocate(size, false);
  if (next == nullptr) return nullptr;
  std::memcpy(next, p, h->size < size ? h->size : size);
  release(p, nullptr);
  return next;
}

nghttp2_mem memory{nullptr, mallocCb, release, callocCb, reallocCb};

}  // namespace

nghttp2_mem* h2Memory() {
  return &memory;
}

}  // namespace meridian::proxy
