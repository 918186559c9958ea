#pragma once
// The two halves of speaking HTTP/2 to an upstream while the Exchange speaks HTTP/1.1: the
// request the Exchange wrote (an HTTP/1.1 head, then a body framed by Content-Length or
// chunked with an optional trailer section) becomes HEADERS, DATA and trailing HEADERS; the
// upstream's HEADERS, DATA and trailers become an HTTP/1.1 response head, a body (chunked
// unless the upstream gave a length) and a trailer section. The Exchange's own parsers read
// the result, so nothing above this layer knows which protocol the upstream spoke.
//
// Bytes in, fields and bytes out: no sockets, no nghttp2 session (see h2_upstream_session).
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/buffer.h"
#include "proxy/http/h2_fields.h"
#include "proxy/http/http1_parser.h"

namespace meridian::proxy::h2 {

// The request HEADERS for an HTTP/1.1 head as the Exchange forwards it: :method, :scheme,
// :authority (the Host field), :path, then every field but the hop-by-hop ones and Host
// (RFC 9113 8.2.2); `te: trailers` is kept (gRPC needs it). Names are lower-cased.
// Views into `head` are kept in `out` until it is submitted.
void requestFields(const http1::RequestHead& head, bool tls, FieldList& out);

// The request body, decoded from the HTTP/1.1 framing the Exchange wrote, as nghttp2 pulls it.
class RequestBody {
 public:
  explicit RequestBody(const http1::RequestHead& head);
  // Moves up to `max` body bytes from the front of `from` into `dst`; the framing bytes are
  // consumed and dropped. Returns the bytes written, or -1 when the framing is malformed.
  int64_t read(core::Buffer& from, uint8_t* dst, size_t max);
  // The body is complete: every byte was read (and, chunked, the last chunk and trailers).
  bool ended() const { return ended_; }
  // The trailer section once ended() (field lines with CRLF; empty without trailers).
  std::string_view trailers() const { return chunks_.trailers(); }

 private:
  bool chunked_;
  uint64_t remaining_;
  http1::ChunkedDecoder chunks_;
  bool ended_ = false;
};

// The response as HTTP/1.1 bytes, built from the frames as they come.
class ResponseWriter {
 public:
  // `head_request`: the request was HEAD (the head's length fields describe no body).
  explicit ResponseWriter(bool head_request) : head_request_(head_request) {}
  // A field of the HEADERS being received (pseudo-headers included).
  void field(std::string_view name, std::string_view value);
  // That HEADERS frame is complete: a response head (interim or final) or, after the final
  // head, the trailers. `end_stream`: it ends the response. Writes HTTP/1.1 bytes to `out`.
  // False when the head is not a valid response (no or a bad :status).
  bool endHeaders(bool end_stream, core::Buffer& out);
  // Response body bytes (a DATA frame's payload, or part of it).
  void data(const uint8_t* bytes, size_t len, core::Buffer& out);
  // The stream ended after the final head (END_STREAM on DATA): the body's end.
  void end(core::Buffer& out);
  bool headDone() const { return final_head_; }
  bool complete() const { return complete_; }

 private:
  void writeHead(bool end_stream, core::Buffer& out);
  bool head_request_;
  int status_ = 0;
  bool final_head_ = false;
  bool chunked_ = false;
  bool complete_ = false;
  std::vector<std::pair<std::string, std::string>> fields_;
};

}  // namespace meridian::proxy::h2
