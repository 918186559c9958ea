// ChunkedDecoder (http1_parser.h): a byte-at-a-time state machine over the control bytes only
// (size lines, CRLFs, trailers): they are a few bytes per chunk, so per-byte work there is
// cheap, and it makes any split of the input give the same answer. Chunk data never passes
// through here.
#include <algorithm>
#include <cassert>

#include "proxy/http/http1_chars.h"
#include "proxy/http/http1_parser.h"

namespace meridian::proxy::http1 {

using namespace chars;

void ChunkedDecoder::consumeData(uint64_t n) {
  assert(n <= data_remaining_);
  data_remaining_ -= std::min(n, data_remaining_);
}

void ChunkedDecoder::reset() {
  *this = ChunkedDecoder();
}

ChunkedDecoder::Step ChunkedDecoder::parseControl(const char* data, size_t len) {
  if (state_ == State::Failed) return {ParseStatus::Error, 0};
  if (state_ == State::Done) return {ParseStatus::Complete, 0};
  if (data_remaining_ > 0) return {ParseStatus::NeedMore, 0};  // the caller owes us data first
  for (size_t i = 0; i < len; ++i) {
    Next next = Next::Bad;
    switch (state_) {
      case State::SizeLine:
        next = sizeLineByte(data[i]);
        break;
      case State::DataCrlf:
        next = dataCrlfByte(data[i]);
        break;
      case State::Trailer:
        next = trailerByte(data[i]);
        break;
      case State::Done:
      case State::Failed:
        break;
    }
    if (next == Next::Bad) {
      state_ = State::Failed;
      return {ParseStatus::Error, i};  // `consumed` is the offset of the offending byte
    }
    if (next == Next::Data) return {ParseStatus::NeedMore, i + 1};
    if (next == Next::Done) return {ParseStatus::Complete, i + 1};
  }
  return {ParseStatus::NeedMore, len};
}

// chunk-size [ chunk-ext ] CRLF, with
// chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] ).
ChunkedDecoder::Next ChunkedDecoder::sizeLineByte(char c) {
  if (++line_bytes_ > kMaxLineBytes) return Next::Bad;
  if (saw_cr_) return c == '\n' ? endSizeLine() : Next::Bad;
  bool ws = isWs(c);
  switch (sub_) {
    case Sub::Size:
      if (is(c, kHex)) {
        // 16 hex digits fill a uint64_t; a 17th (even a leading zero) is refused.
        if (++size_digits_ > 16) return Next::Bad;
        int v = c <= '9' ? c - '0' : lower(c) - 'a' + 10;
        size_acc_ = (size_acc_ << 4) | static_cast<uint64_t>(v);
        return Next::More;
      }
      if (size_digits_ == 0) return Next::Bad;  // leading SP, "0x", empty size
      return ws ? to(Sub::ExtBws) : c == ';' ? to(Sub::ExtAfterSemi) : lineEnd(c);
    case Sub::ExtBws:  // BWS is only allowed before ';', never trailing
      return ws ? Next::More : c == ';' ? to(Sub::ExtAfterSemi) : Next::Bad;
    case Sub::ExtAfterSemi:
      return ws ? Next::More : is(c, kTchar) ? to(Sub::ExtName) : Next::Bad;
    case Sub::ExtName:
      if (is(c, kTchar)) return Next::More;
      if (ws) return to(Sub::ExtAfterName);
      return c == '=' ? to(Sub::ExtAfterEq) : c == ';' ? to(Sub::ExtAfterSemi) : lineEnd(c);
    case Sub::ExtAfterName:
      if (ws) return Next::More;
      return c == '=' ? to(Sub::ExtAfterEq) : c == ';' ? to(Sub::ExtAfterSemi) : Next::Bad;
    case Sub::ExtAfterEq:
      if (ws) return Next::More;
      return is(c, kTchar) ? to(Sub::ExtToken) : c == '"' ? to(Sub::ExtQuoted) : Next::Bad;
    case Sub::ExtToken:
      if (is(c, kTchar)) return Next::More;
      return ws ? to(Sub::ExtBws) : c == ';' ? to(Sub::ExtAfterSemi) : lineEnd(c);
    case Sub::ExtQuoted:
      if (c == '"') return to(Sub::ExtAfterQuoted);
      if (c == '\\') return to(Sub::ExtQuotedPair);
      return is(c, kQdtext) ? Next::More : Next::Bad;
    case Sub::ExtQuotedPair:  // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
      return is(c, kFieldVal) ? to(Sub::ExtQuoted) : Next::Bad;
    case Sub::ExtAfterQuoted:
      return ws ? to(Sub::ExtBws) : c == ';' ? to(Sub::ExtAfterSemi) : lineEnd(c);
    default:
      return Next::Bad;
  }
}

// Called where the size line may end: only a CR is acceptable (a lone LF is not).
ChunkedDecoder::Next ChunkedDecoder::lineEnd(char c) {
  if (c != '\r') return Next::Bad;
  saw_cr_ = true;
  return Next::More;
}

ChunkedDecoder::Next ChunkedDecoder::endSizeLine() {
  saw_cr_ = false;
  line_bytes_ = 0;
  size_digits_ = 0;
  uint64_t size = size_acc_;
  size_acc_ = 0;
  if (size == 0) {
    state_ = State::Trailer;
    sub_ = Sub::TrailerLineStart;
    return Next::More;
  }
  state_ = State::DataCrlf;
  sub_ = Sub::Size;
  data_remaining_ = size;
  return Next::Data;
}

// Exactly CRLF after each chunk's data: anything else means the size lied.
ChunkedDecoder::Next ChunkedDecoder::dataCrlfByte(char c) {
  if (!saw_cr_) return lineEnd(c);
  if (c != '\n') return Next::Bad;
  saw_cr_ = false;
  state_ = State::SizeLine;
  sub_ = Sub::Size;
  return Next::More;
}

// trailer-section = *( field-line CRLF ) CRLF, validated like header fields and kept.
ChunkedDecoder::Next ChunkedDecoder::trailerByte(char c) {
  if (++trailer_bytes_ > kMaxTrailerBytes) return Next::Bad;
  trailers_.push_back(c);
  if (saw_cr_) {
    if (c != '\n') return Next::Bad;
    saw_cr_ = false;
    if (sub_ == Sub::TrailerLineStart) {
      trailers_.resize(trailers_.size() - 2);  // the empty line that ends the section
      state_ = State::Done;
      return Next::Done;
    }
    return to(Sub::TrailerLineStart);
  }
  switch (sub_) {
    case Sub::TrailerLineStart:  // SP/HTAB here would be obs-fold
      return is(c, kTchar) ? to(Sub::TrailerName) : lineEnd(c);
    case Sub::TrailerName:
      return is(c, kTchar) ? Next::More : c == ':' ? to(Sub::TrailerValue) : Next::Bad;
    case Sub::TrailerValue:
      return is(c, kFieldVal) ? Next::More : lineEnd(c);
    default:
      return Next::Bad;
  }
}

}  // namespace meridian::proxy::http1
