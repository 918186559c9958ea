// Small HTTP/1.1 and WebSocket wire helpers shared by the test fakes.
//
// Deliberately independent of Meridian's own codec: a fake that parses with the code under
// test would share its bugs. "Simple but correct" is the bar, not hardened: inputs come from
// the proxy under test and from our own test clients.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace meridian::fakes {

struct Header {
  std::string name;
  std::string value;
};
using Headers = std::vector<Header>;

bool equalsIgnoreCase(std::string_view a, std::string_view b);
const char* reasonPhrase(int status);
// True when a raw response's framing (Connection: close, or no length) ends only at a close.
bool responseDelimitedByClose(std::string_view rawResponse);
// The first header with this name (case-insensitive), or "" when there is none.
std::string_view findHeader(const Headers& headers, std::string_view name);
bool hasHeader(const Headers& headers, std::string_view name);
// True when a comma-separated header value (e.g. Connection) lists this token.
bool headerHasToken(const Headers& headers, std::string_view name, std::string_view token);

// The deterministic bytes of generated bodies: byte i is patternByte(i). The period is a
// prime (251) so that a dropped or duplicated buffer of any power-of-two size shows up.
char patternByte(uint64_t offset);
std::string patternBytes(uint64_t offset, size_t length);
// True when `data` equals patternBytes(offset, data.size()).
bool matchesPattern(std::string_view data, uint64_t offset = 0);

// Incremental parser for one HTTP/1.x request or response. Feed it bytes with consume(): it
// returns how many it used and stops after a complete message, so pipelined bytes stay with
// the caller. Chunked bodies are decoded; trailers are kept separately.
class MessageParser {
 public:
  enum class Kind { Request, Response };
  enum class State { Head, Body, Done, Error };

  explicit MessageParser(Kind kind);

  size_t consume(std::string_view data);
  // The peer closed: completes a response whose body is delimited by the close.
  void onEof();
  void reset();

  // Response parsing: a response to HEAD has no body whatever its headers say.
  void setRequestWasHead(bool head) { requestWasHead_ = head; }
  // Keep at most this many body bytes in body(); bodyBytes() still counts them all.
  void setBodyLimit(size_t limit) { bodyLimit_ = limit; }

  State state() const { return state_; }
  bool headComplete() const { return state_ == State::Body || state_ == State::Done; }
  const std::string& error() const { return error_; }
  // True when nothing of a next message has been seen yet.
  bool idle() const { return state_ == State::Head && !sawBytes_; }

  const std::string& method() const { return method_; }
  const std::string& target() const { return target_; }
  const std::string& version() const { return version_; }
  const std::string& startLine() const { return startLine_; }
  int status() const { return status_; }
  const Headers& headers() const { return headers_; }
  const Headers& trailers() const { return trailers_; }
  bool chunked() const { return chunked_; }
  std::string& body() { return body_; }
  uint64_t bodyBytes() const { return bodyBytes_; }

 private:
  enum class BodyMode { None, Length, Chunked, UntilClose };
  enum class ChunkState { Size, Data, DataEnd, Trailers };

  size_t consumeHead(std::string_view data);
  size_t consumeBody(std::string_view data);
  size_t consumeChunked(std::string_view data);
  bool parseStartLine(std::string_view line);
  bool chooseBodyMode();
  void appendBody(std::string_view bytes);
  size_t fail(std::string message);  // for consume*(): 0 bytes used
  bool reject(std::string message);  // for the bool steps

  Kind kind_;
  State state_ = State::Head;
  BodyMode bodyMode_ = BodyMode::None;
  ChunkState chunkState_ = ChunkState::Size;
  bool sawBytes_ = false;
  bool requestWasHead_ = false;
  bool chunked_ = false;
  uint64_t remaining_ = 0;
  size_t bodyLimit_ = SIZE_MAX;
  std::string error_;
  std::string startLine_;
  std::string method_;
  std::string target_;
  std::string version_;
  int status_ = 0;
  Headers headers_;
  Headers trailers_;
  std::string body_;
  uint64_t bodyBytes_ = 0;
};

// Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 section 4.2.2).
std::string webSocketAccept(std::string_view key);
std::string base64Encode(std::string_view bytes);

struct WebSocketFrame {
  bool fin = true;
  uint8_t opcode = 0;
  std::string payload;
};
enum class WebSocketOpcode : uint8_t {
  Continuation = 0,
  Text = 1,
  Binary = 2,
  Close = 8,
  Ping = 9,
  Pong = 10
};

// Parses one frame from the front of data, unmasking it. Returns bytes used, 0 when the frame
// is not complete yet.
size_t parseWebSocketFrame(std::string_view data, WebSocketFrame& frame);
// Encodes a frame; a client must mask (RFC 6455 5.3), a server must not.
std::string encodeWebSocketFrame(const WebSocketFrame& frame, bool masked,
                                 uint32_t maskKey = 0x12345678);

}  // namespace meridian::fakes
