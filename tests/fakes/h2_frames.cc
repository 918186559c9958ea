#include "tests/fakes/h2_frames.h"

namespace meridian::fakes::h2frames {

namespace {

void put32(std::string& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out += static_cast<char>((v >> s) & 0xff);
}

uint32_t get32(std::string_view b) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(b[i]);
  return v;
}

// HPACK integer with a prefix of `bits` bits (RFC 7541 5.1), first byte carrying `high`.
void putInt(std::string& out, uint8_t high, int bits, size_t v) {
  size_t max = (1u << bits) - 1;
  if (v < max) {
    out += static_cast<char>(high | v);
    return;
  }
  out += static_cast<char>(high | max);
  v -= max;
  while (v >= 128) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

void putString(std::string& out, std::string_view s) {
  putInt(out, 0x00, 7, s.size());  // no Huffman
  out += s;
}

// Literal field without indexing, with a name from the static table.
void literalIndexedName(std::string& out, size_t index, std::string_view value) {
  putInt(out, 0x00, 4, index);
  putString(out, value);
}

}  // namespace

std::string preface() {
  return std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + frame(kSettings, 0, 0, {});
}

std::string frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
  std::string out;
  size_t n = payload.size();
  out += static_cast<char>((n >> 16) & 0xff);
  out += static_cast<char>((n >> 8) & 0xff);
  out += static_cast<char>(n & 0xff);
  out += static_cast<char>(type);
  out += static_cast<char>(flags);
  put32(out, stream & 0x7fffffff);
  out += payload;
  return out;
}

std::string requestBlock(std::string_view path, std::string_view method,
                         const std::vector<std::pair<std::string, std::string>>& extra) {
  std::string b;
  if (method == "GET")
    b += static_cast<char>(0x82);  // :method GET
  else
    literalIndexedName(b, 2, method);
  b += static_cast<char>(0x86);  // :scheme http
  literalIndexedName(b, 4, path);
  literalIndexedName(b, 1, "h2.test");
  return b + fieldBlock(extra);
}

std::string fieldBlock(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string b;
  for (const auto& [name, value] : fields) {
    b += static_cast<char>(0x00);  // literal without indexing, new name
    putString(b, name);
    putString(b, value);
  }
  return b;
}

std::string rstStream(uint32_t stream, uint32_t code) {
  std::string p;
  put32(p, code);
  return frame(kRstStream, 0, stream, p);
}

std::string windowUpdate(uint32_t stream, uint32_t increment) {
  std::string p;
  put32(p, increment);
  return frame(kWindowUpdate, 0, stream, p);
}

std::string goaway(uint32_t last_stream, uint32_t code) {
  std::string p;
  put32(p, last_stream);
  put32(p, code);
  return frame(kGoaway, 0, 0, p);
}

std::vector<Frame> parse(std::string& bytes) {
  std::vector<Frame> out;
  size_t at = 0;
  while (bytes.size() - at >= 9) {
    size_t len = (static_cast<uint8_t>(bytes[at]) << 16) |
                 (static_cast<uint8_t>(bytes[at + 1]) << 8) | static_cast<uint8_t>(bytes[at + 2]);
    if (bytes.size() - at < 9 + len) break;
    Frame f;
    f.type = static_cast<uint8_t>(bytes[at + 3]);
    f.flags = static_cast<uint8_t>(bytes[at + 4]);
    f.stream = get32(std::string_view(bytes).substr(at + 5, 4)) & 0x7fffffff;
    f.payload = bytes.substr(at + 9, len);
    out.push_back(std::move(f));
    at += 9 + len;
  }
  bytes.erase(0, at);
  return out;
}

bool readUntilFrame(TcpClient& c, std::vector<Frame>& seen,
                    const std::function<bool(const Frame&)>& done,
                    std::chrono::milliseconds timeout) {
  bool matched = false;
  auto check = [&](std::string_view) {
    for (Frame& f : parse(c.received())) {
      if (done(f)) matched = true;
      seen.push_back(std::move(f));
    }
    return matched;
  };
  if (check({})) return true;
  c.readUntil(check, timeout);
  return matched;
}

}  // namespace meridian::fakes::h2frames
