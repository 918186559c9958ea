#pragma once
// Byte classes of HTTP/1 syntax, shared by the head parser (http1_parser.cc) and the chunked
// decoder (chunked_decoder.cc): one table lookup per byte on the hot path instead of chains of
// compares. Internal to proxy/http.
#include <array>
#include <cstdint>

namespace meridian::proxy::http1::chars {

enum : uint8_t {
  kTchar = 1,     // token characters (RFC 9110 5.6.2)
  kFieldVal = 2,  // field-value bytes: HTAB, SP, VCHAR, obs-text
  kVchar = 4,     // 0x21-0x7E: what a request-target may hold
  kRegName = 8,   // unreserved / sub-delims (RFC 3986), '%' handled separately
  kHex = 16,
  kQdtext = 32,  // quoted-string text (RFC 9110 5.6.4)
};

constexpr std::array<uint8_t, 256> makeClasses() {
  std::array<uint8_t, 256> t{};
  auto add = [&t](const char* set, uint8_t cls) {
    for (const char* c = set; *c; ++c) t[static_cast<unsigned char>(*c)] |= cls;
  };
  for (int c = 0; c < 256; ++c) {
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    bool digit = c >= '0' && c <= '9';
    if (alpha || digit) t[c] |= kTchar | kRegName;
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) t[c] |= kHex;
    if (c >= 0x21 && c <= 0x7E) t[c] |= kVchar | kFieldVal;
    if (c >= 0x80) t[c] |= kFieldVal | kQdtext;
    if (c == '\t' || c == ' ') t[c] |= kFieldVal | kQdtext;
    if (c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E)) t[c] |= kQdtext;
  }
  add("!#$%&'*+-.^_`|~", kTchar);
  add("-._~!$&'()*+,;=", kRegName);
  return t;
}

inline constexpr std::array<uint8_t, 256> kClass = makeClasses();

inline bool is(char c, uint8_t cls) {
  return (kClass[static_cast<unsigned char>(c)] & cls) != 0;
}
inline bool isWs(char c) {
  return c == ' ' || c == '\t';
}
inline char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

}  // namespace meridian::proxy::http1::chars
