#pragma once
// One HTTP/2 request's header fields, checked (RFC 9113 8.2 and 8.3) and turned into the
// HTTP/1-shaped head an Exchange takes. Pure: no session, no sockets, so it is table-tested.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/http/http1_parser.h"

namespace meridian::proxy {

// What the first bytes of a plain connection say about the client's protocol.
enum class PrefaceMatch { No, NeedMore, Yes };
// Yes: the whole HTTP/2 client preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") is there.
// NeedMore: the bytes so far are a proper prefix of it. No: anything else (HTTP/1).
PrefaceMatch matchH2Preface(std::string_view first_bytes);
inline bool looksLikeH2Preface(std::string_view first_bytes) {
  return matchH2Preface(first_bytes) == PrefaceMatch::Yes;
}

namespace h2 {

class FieldList;

// Collects one request's header fields as the HPACK decoder hands them over, checks them
// (RFC 9113 8.2 and 8.3), and builds the HTTP/1-shaped head an Exchange takes. Pure: no
// session, no sockets, so it is table-tested.
class RequestBuilder {
 public:
  enum class Result { Ok, Malformed, TooLarge };

  RequestBuilder(size_t max_header_bytes, size_t max_headers)
      : max_bytes_(max_header_bytes), max_headers_(max_headers) {}

  // One field. After a failure later fields are ignored and the first failure stays.
  Result add(std::string_view name, std::string_view value);
  // After the header block. `end_stream`: the HEADERS frame ended the stream (no body).
  // `websocket_key`: the Sec-WebSocket-Key sent upstream for an extended CONNECT (RFC 8441
  // has none on the wire; an HTTP/1.1 upstream needs one). On Ok, `bytes` holds every byte
  // `head`'s views point to.
  Result finish(bool end_stream, std::string_view websocket_key, std::string& bytes,
                http1::RequestHead& head);
  Result result() const { return result_; }
  // Why the request was refused (for the log): a short, static text.
  const char* why() const { return why_; }
  bool isConnect() const { return method_ == "CONNECT"; }

 private:
  Result fail(Result r, const char* why);
  // The steps of finish().
  struct Gathered {
    std::string_view host;  // :authority, or else the Host field
    bool has_content_length = false;
    uint64_t content_length = 0;
    std::string cookie;  // every cookie field, joined
  };
  Result checkPseudoHeaders(bool& websocket);
  Result gatherFields(Gathered& g);
  void buildHead(const Gathered& g, bool websocket, bool end_stream, std::string_view websocket_key,
                 std::string& bytes, http1::RequestHead& head) const;

  size_t max_bytes_;
  size_t max_headers_;
  size_t bytes_ = 0;  // RFC 9113 6.5.2 size: name + value + 32 per field
  Result result_ = Result::Ok;
  const char* why_ = "";
  bool regular_seen_ = false;
  std::string method_, scheme_, path_, authority_, protocol_;
  bool has_method_ = false, has_scheme_ = false, has_path_ = false, has_authority_ = false,
       has_protocol_ = false;
  std::vector<std::pair<std::string, std::string>> fields_;  // regular fields, in order
};

// True for fields that are connection-specific and so malformed in HTTP/2 (RFC 9113 8.2.2).
bool isConnectionSpecific(std::string_view name);

}  // namespace h2

}  // namespace meridian::proxy
