#include "proxy/http/h2_transcode.h"

#include <algorithm>

#include "proxy/http/http1_writer.h"

namespace meridian::proxy::h2 {

using http1::iequals;

void requestFields(const http1::RequestHead& head, bool tls, FieldList& out) {
  out.clear();
  out.add(":method", head.method);
  out.add(":scheme", tls ? "https" : "http");
  out.add(":authority", head.host);
  std::string_view path = http1::originForm(head.target);
  out.add(":path", path.empty() ? std::string_view("/") : path);
  http1::ConnectionTokens conn = http1::connectionTokens(head.headers);
  for (const auto& h : head.headers) {
    if (iequals(h.name, "host")) continue;
    if (iequals(h.name, "te")) {
      // The one hop-by-hop field HTTP/2 allows, with this one value (RFC 9113 8.2.2).
      if (http1::hasToken(h.value, "trailers")) out.add("te", "trailers");
      continue;
    }
    if (http1::isHopByHop(h.name) || (conn.n > 0 && conn.names(h.name))) continue;
    out.addLowered(h.name, h.value);
  }
}

RequestBody::RequestBody(const http1::RequestHead& head)
    : chunked_(head.framing != http1::Framing::ContentLength),
      remaining_(head.framing == http1::Framing::ContentLength ? head.content_length : 0) {
  if (head.framing == http1::Framing::None) ended_ = true;
}

int64_t RequestBody::read(core::Buffer& from, uint8_t* dst, size_t max) {
  size_t written = 0;
  if (!chunked_) {
    size_t n = static_cast<size_t>(std::min<uint64_t>({remaining_, from.size(), max}));
    from.copyOut(dst, n);
    from.drain(n);
    remaining_ -= n;
    ended_ = remaining_ == 0;
    return static_cast<int64_t>(n);
  }
  while (written < max && !chunks_.done()) {
    if (chunks_.dataRemaining() > 0) {
      size_t n = static_cast<size_t>(
          std::min<uint64_t>({chunks_.dataRemaining(), from.size(), max - written}));
      if (n == 0) break;
      from.copyOut(dst + written, n);
      from.drain(n);
      chunks_.consumeData(n);
      written += n;
      continue;
    }
    if (from.empty()) break;
    std::string_view front = from.front();
    http1::ChunkedDecoder::Step step = chunks_.parseControl(front.data(), front.size());
    if (step.status == http1::ParseStatus::Error) return -1;
    from.drain(step.consumed);
    if (step.consumed == 0 && step.status == http1::ParseStatus::NeedMore) break;
  }
  ended_ = chunks_.done();
  return static_cast<int64_t>(written);
}

void ResponseWriter::field(std::string_view name, std::string_view value) {
  if (name == ":status") {
    status_ = 0;
    if (value.size() == 3 &&
        std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
      status_ = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
    return;
  }
  if (name.starts_with(':')) return;
  fields_.emplace_back(name, value);
}

bool ResponseWriter::endHeaders(bool end_stream, core::Buffer& out) {
  if (final_head_) {  // trailers
    if (chunked_) {
      out.append("0\r\n");
      for (const auto& [name, value] : fields_) {
        out.append(name);
        out.append(": ");
        out.append(value);
        out.append("\r\n");
      }
      out.append("\r\n");
    }  // a body of stated length has no place for trailers in HTTP/1.1: they are dropped
    fields_.clear();
    complete_ = true;
    return true;
  }
  if (status_ < 100 || status_ > 599 || status_ == 101) return false;
  writeHead(end_stream, out);
  fields_.clear();
  status_ = 0;
  return true;
}

void ResponseWriter::writeHead(bool end_stream, core::Buffer& out) {
  const bool interim = status_ < 200;
  out.append("HTTP/1.1 ");
  char code[4] = {static_cast<char>('0' + status_ / 100),
                  static_cast<char>('0' + status_ / 10 % 10), static_cast<char>('0' + status_ % 10),
                  ' '};
  out.append(code, 4);
  out.append(http1::reasonPhrase(status_));
  out.append("\r\n");
  // Responses whose length fields describe no body (RFC 9110 6.4.1) keep them as they are.
  const bool bodiless = head_request_ || status_ == 204 || status_ == 304 || interim;
  const bool empty = end_stream && !bodiless;
  bool has_length = false;
  for (const auto& [name, value] : fields_) {
    if (http1::isHopByHop(name)) continue;  // not valid in HTTP/2 anyway
    if (name == "content-length") {
      if (empty) continue;
      has_length = true;
    }
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
  }
  if (!interim) {
    final_head_ = true;
    if (empty) {
      out.append("content-length: 0\r\n");
      complete_ = true;
    } else if (bodiless) {
      complete_ = end_stream;
    } else if (!has_length) {
      // Unknown length, and trailers may follow: chunked carries both.
      out.append("transfer-encoding: chunked\r\n");
      chunked_ = true;
    }
  }
  out.append("\r\n");
}

void ResponseWriter::data(const uint8_t* bytes, size_t len, core::Buffer& out) {
  if (len == 0 || !final_head_) return;
  if (chunked_) http1::writeChunkHeader(len, out);
  out.append(bytes, len);
  if (chunked_) http1::writeChunkEnd(out);
}

void ResponseWriter::end(core::Buffer& out) {
  if (complete_ || !final_head_) return;
  if (chunked_) out.append("0\r\n\r\n");
  complete_ = true;
}

}  // namespace meridian::proxy::h2
