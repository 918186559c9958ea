#pragma once
// A strict, incremental HTTP/1.1 parser (RFC 9112), in the spirit of picohttpparser: the
// caller hands it the bytes it has, it answers Complete (with how many bytes the head took),
// NeedMore, or Error. It never allocates beyond the header vector it is given, and the parsed
// head holds string_views into the caller's bytes, so those bytes must outlive the head.
//
// Strictness is the point: anything two HTTP implementations could read differently (the root
// of request smuggling) is an Error here, never a guess. See http1_parser_test.cc for the
// table of what is accepted and refused.
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace meridian::proxy::http1 {

struct Header {
  std::string_view name;   // as sent (case kept); compare with iequals()
  std::string_view value;  // leading/trailing whitespace trimmed
};

// How the message body is delimited.
enum class Framing {
  None,           // no body (GET without CL/TE, HEAD response, 1xx/204/304, CL: 0)
  ContentLength,  // exactly content_length bytes
  Chunked,        // Transfer-Encoding: chunked
  UntilClose,     // responses only: body ends when the upstream closes
};

enum class ParseStatus { Complete, NeedMore, Error };

enum class ParseError {
  None,
  BadRequestLine,  // method not a token, bad target, not exactly one SP between parts
  BadStatusLine,
  UnsupportedVersion,   // not HTTP/1.0 or HTTP/1.1 (505 downstream)
  BadHeaderName,        // empty, non-token characters, whitespace before the colon
  BadHeaderValue,       // CTL characters, NUL
  ObsFold,              // a header line starting with SP/HTAB (obsolete line folding)
  BareCR,               // CR not followed by LF, anywhere in the head
  BareLF,               // LF without CR as a line ending
  HeadTooLarge,         // no complete head within max_head_bytes (431 downstream)
  TooManyHeaders,       // more than max_headers fields (431 downstream)
  BadContentLength,     // not digits, overflow, or differing duplicate values
  BadTransferEncoding,  // requests: anything but exactly `chunked`; HTTP/1.0 with TE
  ContentLengthAndTransferEncoding,
  MissingHost,  // HTTP/1.1 request without Host
  DuplicateHost,
  BadHost,
  BadChunk,  // chunked body: bad size line, overflow, missing CRLF, bad trailer
};
const char* parseErrorName(ParseError e);

struct HeadLimits {
  size_t max_head_bytes = 64 * 1024;  // start line + headers + final CRLF
  size_t max_headers = 100;
};

struct RequestHead {
  std::string_view method;
  std::string_view target;      // as sent: origin-form, absolute-form, authority- or asterisk-form
  int minor_version = 1;        // HTTP/1.<minor_version>
  std::vector<Header> headers;  // every field, in order

  // Derived while parsing.
  std::string_view host;            // Host header (or the authority of an absolute-form target)
  Framing framing = Framing::None;  // None, ContentLength or Chunked
  uint64_t content_length = 0;      // > 0 exactly when framing is ContentLength (CL: 0 is None)
  bool keep_alive = true;           // from the version and the Connection header
  bool expect_continue = false;     // Expect: 100-continue
  // Connection contains "upgrade" and an Upgrade field offers a protocol other than h2c (an
  // h2c upgrade is never passed on: the request goes as a plain one, see upgrade.h).
  bool upgrade = false;

  void clear();
};

struct ResponseHead {
  int status = 0;
  std::string_view reason;
  int minor_version = 1;
  std::vector<Header> headers;

  Framing framing = Framing::None;  // computed with the request method, see parseResponseHead
  uint64_t content_length = 0;      // > 0 exactly when framing is ContentLength (CL: 0 is None)
  bool keep_alive = true;           // false for UntilClose and for 101
  bool upgrade = false;             // 101 Switching Protocols

  void clear();
};

struct ParseResult {
  ParseStatus status = ParseStatus::NeedMore;
  size_t consumed = 0;  // bytes of the head, including the final CRLF, when Complete
                        // (out's fields are meaningful only then)
  ParseError error = ParseError::None;
};

// Parses a request head at the start of [data, data+len). Leading empty lines (CRLF) before
// the request line are skipped and counted in `consumed`, as RFC 9112 section 2.2 allows.
ParseResult parseRequestHead(const char* data, size_t len, RequestHead& out,
                             const HeadLimits& limits = {});

// Parses a response head. `request_method_head` (the request was HEAD) and the status decide
// the framing: HEAD, 1xx, 204 and 304 have no body whatever the headers say.
ParseResult parseResponseHead(const char* data, size_t len, bool request_method_head,
                              ResponseHead& out, const HeadLimits& limits = {});

// Decodes a chunked body incrementally. The caller alternates between two modes:
//  - dataRemaining() > 0: the next that many bytes of the stream are body data; the caller
//    moves up to that many (without looking at them) and reports them with consumeData(n).
//  - dataRemaining() == 0 and !done(): the stream is at control bytes (chunk-size line, the
//    CRLF after a chunk, the last-chunk and trailer section); the caller passes what it has to
//    parseControl(), which consumes as much as it can and stops at the start of chunk data,
//    at the end of the body, or when it needs more bytes.
// Chunk extensions are validated and dropped; trailer fields are validated and kept, for
// trailers() to hand on.
class ChunkedDecoder {
 public:
  struct Step {
    ParseStatus status;  // Complete: done() is now true; NeedMore: all input consumed or
                         // data follows (check dataRemaining()); Error: malformed (BadChunk),
                         // `consumed` is then the offset of the offending byte and every
                         // later call answers Error until reset()
    size_t consumed;
  };

  uint64_t dataRemaining() const { return data_remaining_; }
  void consumeData(uint64_t n);
  Step parseControl(const char* data, size_t len);
  bool done() const { return state_ == State::Done; }
  // Once done(): the trailer section's field lines as they came, each with its CRLF (empty
  // when there were none). Pass them on with forEachTrailer.
  std::string_view trailers() const { return trailers_; }
  void reset();

  static constexpr size_t kMaxLineBytes = 4096;  // a size line with its extensions
  static constexpr size_t kMaxTrailerBytes = 16384;

 private:
  enum class State : uint8_t { SizeLine, DataCrlf, Trailer, Done, Failed };
  // Where in the current control line the last byte left us (see the grammar in the .cc).
  enum class Sub : uint8_t {
    Size,
    ExtBws,
    ExtAfterSemi,
    ExtName,
    ExtAfterName,
    ExtAfterEq,
    ExtToken,
    ExtQuoted,
    ExtQuotedPair,
    ExtAfterQuoted,
    TrailerLineStart,
    TrailerName,
    TrailerValue,
  };
  enum class Next : uint8_t { More, Data, Done, Bad };  // what one control byte led to

  Next sizeLineByte(char c);
  Next endSizeLine();
  Next dataCrlfByte(char c);
  Next trailerByte(char c);
  Next lineEnd(char c);
  Next to(Sub s) {
    sub_ = s;
    return Next::More;
  }

  State state_ = State::SizeLine;
  Sub sub_ = Sub::Size;
  uint64_t data_remaining_ = 0;
  size_t line_bytes_ = 0;  // bytes of the current size line seen so far
  size_t trailer_bytes_ = 0;
  std::string trailers_;
  // Partial-line state so bytes can arrive one at a time.
  uint64_t size_acc_ = 0;
  int size_digits_ = 0;
  bool saw_cr_ = false;
};

// uri-host [ ":" port ] as a Host field or an HTTP/2 :authority may carry it (RFC 9110 7.2):
// a bracketed IP literal or a reg-name, and a port of at most 65535. `need_port`: the
// authority-form of CONNECT, where the port is mandatory.
bool validHost(std::string_view s, bool need_port = false);

// Case-insensitive ASCII comparison, for header names and tokens.
bool iequals(std::string_view a, std::string_view b);
// The value of the first field named `name` (any case), or empty.
std::string_view findHeader(const std::vector<Header>& headers, std::string_view name);
// True when a comma-separated header value (e.g. Connection) contains `token`, ignoring case
// and optional whitespace.
bool hasToken(std::string_view list, std::string_view token);

// The values of a message's Connection fields (the first kMax of them): the fields they name
// are hop-by-hop too (RFC 9110 7.6.1). Collected once per head, then asked per field.
struct ConnectionTokens {
  static constexpr size_t kMax = 8;
  std::array<std::string_view, kMax> values{};
  size_t n = 0;
  bool names(std::string_view field) const;
};
ConnectionTokens connectionTokens(const std::vector<Header>& headers);

// Calls fn(name, value) for each field of a trailer section (ChunkedDecoder::trailers(), or
// lines built the same way) that may be passed on: not hop-by-hop, not Content-Length or
// Host, which mean nothing after the content (RFC 9110 6.5.1). Values come without OWS.
void forEachTrailer(std::string_view section,
                    const std::function<void(std::string_view, std::string_view)>& fn);
// True for header fields that are hop-by-hop (RFC 9110 7.6.1) and never forwarded as they
// are: Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade.
// (Fields named in a message's Connection header are hop-by-hop too; the proxy checks those.)
bool isHopByHop(std::string_view name);

}  // namespace meridian::proxy::http1
