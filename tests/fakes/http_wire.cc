#include "tests/fakes/http_wire.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace meridian::fakes {

namespace {

constexpr size_t kMaxHeadBytes = 64 * 1024;
constexpr size_t kMaxChunkLine = 4096;
constexpr uint64_t kPatternPeriod = 251;
constexpr char kPatternAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool parseUnsigned(std::string_view s, int base, uint64_t& out) {
  s = trim(s);
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// Splits "name: value" lines of a header or trailer block into `out`.
bool parseHeaderLines(std::string_view block, Headers& out) {
  while (!block.empty()) {
    size_t eol = block.find("\r\n");
    std::string_view line = block.substr(0, eol);
    block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 2);
    if (line.empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    out.push_back({std::string(line.substr(0, colon)), std::string(trim(line.substr(colon + 1)))});
  }
  return true;
}

}  // namespace

const char* reasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

bool responseDelimitedByClose(std::string_view rawResponse) {
  MessageParser parser(MessageParser::Kind::Response);
  parser.consume(rawResponse);
  if (!parser.headComplete()) return true;  // not even a head: only a close can end it
  if (headerHasToken(parser.headers(), "connection", "close")) return true;
  int status = parser.status();
  bool bodyless = status < 200 || status == 204 || status == 304;
  return !bodyless && !hasHeader(parser.headers(), "content-length") &&
         !hasHeader(parser.headers(), "transfer-encoding");
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view findHeader(const Headers& headers, std::string_view name) {
  for (const Header& h : headers) {
    if (equalsIgnoreCase(h.name, name)) return h.value;
  }
  return {};
}

bool hasHeader(const Headers& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const Header& h) { return equalsIgnoreCase(h.name, name); });
}

bool headerHasToken(const Headers& headers, std::string_view name, std::string_view token) {
  for (const Header& h : headers) {
    if (!equalsIgnoreCase(h.name, name)) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      if (equalsIgnoreCase(trim(rest.substr(0, comma)), token)) return true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return false;
}

char patternByte(uint64_t offset) {
  return kPatternAlphabet[offset % kPatternPeriod % 64];
}

std::string patternBytes(uint64_t offset, size_t length) {
  std::string out(length, '\0');
  for (size_t i = 0; i < length; ++i) out[i] = patternByte(offset + i);
  return out;
}

bool matchesPattern(std::string_view data, uint64_t offset) {
  for (size_t i = 0; i < data.size(); ++i) {
    if (data[i] != patternByte(offset + i)) return false;
  }
  return true;
}

MessageParser::MessageParser(Kind kind) : kind_(kind) {}

void MessageParser::reset() {
  bool head = requestWasHead_;
  size_t limit = bodyLimit_;
  *this = MessageParser(kind_);
  requestWasHead_ = head;
  bodyLimit_ = limit;
}

size_t MessageParser::fail(std::string message) {
  state_ = State::Error;
  error_ = std::move(message);
  return 0;
}

bool MessageParser::reject(std::string message) {
  fail(std::move(message));
  return false;
}

size_t MessageParser::consume(std::string_view data) {
  size_t used = 0;
  while (used < data.size() && state_ != State::Done && state_ != State::Error) {
    size_t n =
        state_ == State::Head ? consumeHead(data.substr(used)) : consumeBody(data.substr(used));
    if (n == 0) break;
    used += n;
  }
  // A message with no body completes as soon as its head does, even with no bytes left.
  if (state_ == State::Body && bodyMode_ == BodyMode::None) state_ = State::Done;
  return used;
}

void MessageParser::onEof() {
  if (state_ == State::Body && bodyMode_ == BodyMode::UntilClose) state_ = State::Done;
}

size_t MessageParser::consumeHead(std::string_view data) {
  // Tolerate the stray CRLFs RFC 9112 section 2.2 allows before a request line.
  size_t skipped = 0;
  if (!sawBytes_) {
    while (skipped < data.size() && (data[skipped] == '\r' || data[skipped] == '\n')) ++skipped;
    if (skipped == data.size()) return skipped;
    sawBytes_ = true;
  }
  std::string_view rest = data.substr(skipped);
  size_t end = rest.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (rest.size() > kMaxHeadBytes) return fail("header block too large");
    return skipped;
  }
  std::string_view head = rest.substr(0, end + 2);
  size_t eol = head.find("\r\n");
  if (!parseStartLine(head.substr(0, eol))) return 0;
  if (!parseHeaderLines(head.substr(eol + 2), headers_)) return fail("malformed header line");
  if (!chooseBodyMode()) return 0;
  state_ = State::Body;
  return skipped + end + 4;
}

bool MessageParser::parseStartLine(std::string_view line) {
  startLine_ = std::string(line);
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return reject("malformed start line");
  size_t sp2 = line.find(' ', sp1 + 1);
  if (kind_ == Kind::Request) {
    if (sp2 == std::string_view::npos) return reject("malformed request line");
    method_ = std::string(line.substr(0, sp1));
    target_ = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
    version_ = std::string(line.substr(sp2 + 1));
    if (version_.rfind("HTTP/1.", 0) != 0) return reject("bad version");
    return true;
  }
  version_ = std::string(line.substr(0, sp1));
  uint64_t status = 0;
  std::string_view code = line.substr(sp1 + 1, sp2 == std::string_view::npos ? sp2 : sp2 - sp1 - 1);
  if (!parseUnsigned(code, 10, status) || status < 100 || status > 999) {
    return reject("bad status code");
  }
  status_ = static_cast<int>(status);
  return true;
}

bool MessageParser::chooseBodyMode() {
  std::string_view te = findHeader(headers_, "transfer-encoding");
  std::string_view cl = findHeader(headers_, "content-length");
  bool noBody = kind_ == Kind::Response &&
                (requestWasHead_ || status_ < 200 || status_ == 204 || status_ == 304);
  if (noBody) {
    bodyMode_ = BodyMode::None;
  } else if (!te.empty()) {
    if (!headerHasToken(headers_, "transfer-encoding", "chunked")) {
      return reject("unsupported transfer-encoding");
    }
    chunked_ = true;
    bodyMode_ = BodyMode::Chunked;
  } else if (hasHeader(headers_, "content-length")) {
    if (!parseUnsigned(cl, 10, remaining_)) return reject("bad content-length");
    bodyMode_ = remaining_ == 0 ? BodyMode::None : BodyMode::Length;
  } else {
    bodyMode_ = kind_ == Kind::Response ? BodyMode::UntilClose : BodyMode::None;
  }
  return true;
}

void MessageParser::appendBody(std::string_view bytes) {
  bodyBytes_ += bytes.size();
  if (body_.size() < bodyLimit_) body_.append(bytes.substr(0, bodyLimit_ - body_.size()));
}

size_t MessageParser::consumeBody(std::string_view data) {
  switch (bodyMode_) {
    case BodyMode::None:
      state_ = State::Done;
      return 0;
    case BodyMode::UntilClose:
      appendBody(data);
      return data.size();
    case BodyMode::Length: {
      size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, data.size()));
      appendBody(data.substr(0, n));
      remaining_ -= n;
      if (remaining_ == 0) state_ = State::Done;
      return n;
    }
    case BodyMode::Chunked:
      return consumeChunked(data);
  }
  return 0;
}

size_t MessageParser::consumeChunked(std::string_view data) {
  switch (chunkState_) {
    case ChunkState::Size: {
      size_t eol = data.find("\r\n");
      if (eol == std::string_view::npos) {
        return data.size() > kMaxChunkLine ? fail("chunk size line too long") : 0;
      }
      std::string_view line = data.substr(0, eol);
      line = line.substr(0, line.find(';'));  // chunk extensions are ignored
      if (!parseUnsigned(line, 16, remaining_)) return fail("bad chunk size");
      chunkState_ = remaining_ == 0 ? ChunkState::Trailers : ChunkState::Data;
      return eol + 2;
    }
    case ChunkState::Data: {
      size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, data.size()));
      appendBody(data.substr(0, n));
      remaining_ -= n;
      if (remaining_ == 0) chunkState_ = ChunkState::DataEnd;
      return n;
    }
    case ChunkState::DataEnd:
      if (data.size() < 2) return 0;
      if (data.substr(0, 2) != "\r\n") return fail("missing CRLF after chunk data");
      chunkState_ = ChunkState::Size;
      return 2;
    case ChunkState::Trailers: {
      if (data.substr(0, std::min<size_t>(2, data.size())) == "\r\n") {
        state_ = State::Done;
        return 2;
      }
      if (data.size() < 2) return 0;
      size_t end = data.find("\r\n\r\n");
      if (end == std::string_view::npos) {
        return data.size() > kMaxHeadBytes ? fail("trailers too large") : 0;
      }
      if (!parseHeaderLines(data.substr(0, end + 2), trailers_)) return fail("bad trailer");
      state_ = State::Done;
      return end + 4;
    }
  }
  return 0;
}

std::string base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string webSocketAccept(std::string_view key) {
  std::string input = std::string(trim(key)) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha1(), nullptr) != 1) return {};
  return base64Encode(std::string_view(reinterpret_cast<const char*>(digest), len));
}

size_t parseWebSocketFrame(std::string_view data, WebSocketFrame& frame) {
  if (data.size() < 2) return 0;
  auto byte = [&](size_t i) { return static_cast<uint8_t>(data[i]); };
  size_t pos = 2;
  uint64_t length = byte(1) & 0x7f;
  if (length == 126) {
    if (data.size() < 4) return 0;
    length = (uint64_t{byte(2)} << 8) | byte(3);
    pos = 4;
  } else if (length == 127) {
    if (data.size() < 10) return 0;
    length = 0;
    for (size_t i = 2; i < 10; ++i) length = (length << 8) | byte(i);
    pos = 10;
  }
  bool masked = (byte(1) & 0x80) != 0;
  uint8_t mask[4] = {0, 0, 0, 0};
  if (masked) {
    if (data.size() < pos + 4) return 0;
    for (size_t i = 0; i < 4; ++i) mask[i] = byte(pos + i);
    pos += 4;
  }
  if (data.size() - pos < length) return 0;
  frame.fin = (byte(0) & 0x80) != 0;
  frame.opcode = byte(0) & 0x0f;
  frame.payload.assign(data.substr(pos, static_cast<size_t>(length)));
  if (masked) {
    for (size_t i = 0; i < frame.payload.size(); ++i) frame.payload[i] ^= mask[i % 4];
  }
  return pos + static_cast<size_t>(length);
}

std::string encodeWebSocketFrame(const WebSocketFrame& frame, bool masked, uint32_t maskKey) {
  std::string out;
  out.push_back(static_cast<char>((frame.fin ? 0x80 : 0) | (frame.opcode & 0x0f)));
  uint8_t maskBit = masked ? 0x80 : 0;
  uint64_t len = frame.payload.size();
  if (len < 126) {
    out.push_back(static_cast<char>(maskBit | len));
  } else if (len <= 0xffff) {
    out.push_back(static_cast<char>(maskBit | 126));
    out.push_back(static_cast<char>(len >> 8));
    out.push_back(static_cast<char>(len & 0xff));
  } else {
    out.push_back(static_cast<char>(maskBit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(len >> shift));
  }
  if (!masked) return out + frame.payload;
  char mask[4] = {static_cast<char>(maskKey >> 24), static_cast<char>(maskKey >> 16),
                  static_cast<char>(maskKey >> 8), static_cast<char>(maskKey)};
  out.append(mask, 4);
  for (size_t i = 0; i < frame.payload.size(); ++i) out.push_back(frame.payload[i] ^ mask[i % 4]);
  return out;
}

}  // namespace meridian::fakes
