#pragma once
// The allocator each HTTP/2 session gives nghttp2. nghttp2 makes one 16 KiB frame buffer per
// session up front (the largest frame it may serialise), yet an idle connection, or one that
// only ever sends headers (response bodies go out through our send_data callback, never
// through that buffer), writes only its first few hundred bytes. From malloc's heap such a
// block is resident whole; mapped on its own, only the pages written are. So blocks of
// kMappedFrom bytes and more are mmap'd (two syscalls per session, at its start and end), the
// rest come from malloc as before.
#include <nghttp2/nghttp2.h>

#include <cstddef>

namespace meridian::proxy {

inline constexpr size_t kMappedFrom = 16 * 1024;

// The allocator, for nghttp2_session_server_new3 (stateless: one for every session).
nghttp2_mem* h2Memory();

}  // namespace meridian::proxy
