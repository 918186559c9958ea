#pragma once
// What a Stream reads and writes through when the bytes on the socket are not the bytes the
// handler sees (TLS). Plain sockets have no transport at all, so their path through Stream
// stays exactly one branch longer and no allocation or syscall richer.
//
// A transport owns the fd's bytes once installed: it reads and writes the socket itself and
// reports, for every call, whether it finished or what readiness it waits for. Either
// direction may wait for either readiness (a TLS read may need to write an alert or a key
// update; a write may need to read first), and Stream tracks both.
#include <cstddef>
#include <string>
#include <string_view>

#include "core/buffer.h"

namespace meridian::core {

enum class IoStatus {
  Ok,         // done (handshake finished, bytes moved, shutdown sent)
  WantRead,   // call again once the socket is readable
  WantWrite,  // call again once the socket is writable
  Eof,        // the peer closed cleanly (reads only)
  Error,      // the connection is unusable; detail in lastError()
};

class StreamTransport {
 public:
  virtual ~StreamTransport() = default;

  // Drives the handshake; Ok once it completed.
  virtual IoStatus handshake() = 0;
  // Appends up to `max` plaintext bytes to `in`; `got` is what was appended. Ok means some
  // bytes came (more may follow on the next call).
  virtual IoStatus read(Buffer& in, size_t max, size_t& got) = 0;
  // Writes (and drains) as much of `out` as the socket takes. Ok means `out` is empty.
  // After WantRead/WantWrite the next call must see the same front bytes of `out`.
  virtual IoStatus write(Buffer& out) = 0;
  // True while bytes read off the socket wait inside the transport (a record read ahead):
  // socket readiness cannot announce those, so the reader must come back for them itself.
  virtual bool hasPending() const = 0;
  // Sends the closing message (close_notify); the caller half-closes the socket after Ok.
  virtual IoStatus shutdown() = 0;
  // Gives back memory that only a busy connection needs (called when the connection idles).
  virtual void releaseBuffers() {}

  // After the handshake: the negotiated application protocol ("" when none was agreed) and
  // the protocol version ("1.2", "1.3").
  virtual std::string_view protocol() const = 0;
  virtual std::string_view version() const = 0;
  // Why the last call answered Error, for logs.
  virtual std::string lastError() const = 0;
};

}  // namespace meridian::core
