// The HTTP/1.1 <-> HTTP/2 transcoding an h2 upstream's streams do at their edge: request head
// to HEADERS fields, request body framing decoded (trailers kept), and the h2 response written
// back as an HTTP/1.1 head, body and trailer section.
#include "proxy/http/h2_transcode.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace meridian::proxy::h2 {
namespace {

std::string text(const core::Buffer& b) {
  std::string s(b.size(), '\0');
  b.copyOut(s.data(), s.size());
  return s;
}

std::vector<std::string> fieldsOf(FieldList& list) {
  std::vector<std::string> out;
  for (const auto& nv : list.nva())
    out.push_back(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen) + ": " +
                  std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen));
  return out;
}

struct Parsed {
  std::string bytes;
  http1::RequestHead head;
};

void parse(Parsed& p, std::string bytes) {
  p.bytes = std::move(bytes);
  auto r = http1::parseRequestHead(p.bytes.data(), p.bytes.size(), p.head);
  ASSERT_EQ(r.status, http1::ParseStatus::Complete);
}

TEST(H2Transcode, RequestHeadBecomesPseudoHeadersAndFieldsWithoutHopByHop) {
  Parsed p;
  parse(p,
        "POST /svc/Call?x=1 HTTP/1.1\r\nHost: api.test\r\nConnection: keep-alive, x-hop\r\n"
        "X-Hop: 1\r\nKeep-Alive: 5\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n"
        "Content-Type: application/grpc\r\nX-Request-Id: abc\r\n\r\n");
  FieldList f;
  requestFields(p.head, false, f);
  EXPECT_EQ(fieldsOf(f),
            (std::vector<std::string>{":method: POST", ":scheme: http", ":authority: api.test",
                                      ":path: /svc/Call?x=1", "te: trailers",
                                      "content-type: application/grpc", "x-request-id: abc"}));
  requestFields(p.head, true, f);
  EXPECT_EQ(fieldsOf(f)[1], ":scheme: https");
}

TEST(H2Transcode, TeOtherThanTrailersIsDropped) {
  Parsed p;
  parse(p, "GET / HTTP/1.1\r\nHost: a\r\nTE: gzip\r\n\r\n");
  FieldList f;
  requestFields(p.head, false, f);
  EXPECT_EQ(fieldsOf(f).size(), 4u);
}

TEST(H2Transcode, ContentLengthBodyIsReadAsItArrives) {
  Parsed p;
  parse(p, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n");
  RequestBody body(p.head);
  core::Buffer in;
  in.append("hello");
  uint8_t out[64];
  EXPECT_EQ(body.read(in, out, 3), 3);
  EXPECT_FALSE(body.ended());
  EXPECT_EQ(body.read(in, out, 64), 2);
  EXPECT_EQ(body.read(in, out, 64), 0);  // nothing more yet: nghttp2 defers
  in.append("world");
  EXPECT_EQ(body.read(in, out, 64), 5);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(out), 5), "world");
  EXPECT_TRUE(body.ended());
}

TEST(H2Transcode, ChunkedBodyIsDecodedAndItsTrailersKept) {
  Parsed p;
  parse(p, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  RequestBody body(p.head);
  core::Buffer in;
  in.append("5\r\nhello\r\n6\r\n world\r\n0\r\ngrpc-status: 0\r\nx-sum: 9\r\n\r\n");
  uint8_t out[64];
  std::string got;
  for (int i = 0; i < 10 && !body.ended(); ++i) {
    int64_t n = body.read(in, out, 4);  // small reads split chunks
    ASSERT_GE(n, 0);
    got.append(reinterpret_cast<char*>(out), static_cast<size_t>(n));
  }
  EXPECT_EQ(got, "hello world");
  EXPECT_TRUE(body.ended());
  EXPECT_EQ(body.trailers(), "grpc-status: 0\r\nx-sum: 9\r\n");
  EXPECT_TRUE(in.empty());
}

TEST(H2Transcode, MalformedChunkedBodyIsAnError) {
  Parsed p;
  parse(p, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  RequestBody body(p.head);
  core::Buffer in;
  in.append("zz\r\n");
  uint8_t out[8];
  EXPECT_EQ(body.read(in, out, sizeof out), -1);
}

TEST(H2Transcode, ResponseOfUnknownLengthIsChunkedWithTrailers) {
  ResponseWriter w(false);
  core::Buffer out;
  w.field(":status", "200");
  w.field("content-type", "application/grpc");
  ASSERT_TRUE(w.endHeaders(false, out));
  uint8_t data[] = {'a', 'b', 'c'};
  w.data(data, 3, out);
  w.field("grpc-status", "0");
  w.field("grpc-message", "fine");
  ASSERT_TRUE(w.endHeaders(true, out));
  EXPECT_TRUE(w.complete());
  EXPECT_EQ(text(out),
            "HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\n"
            "transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\ngrpc-status: 0\r\n"
            "grpc-message: fine\r\n\r\n");
}

TEST(H2Transcode, ResponseWithLengthKeepsIt) {
  ResponseWriter w(false);
  core::Buffer out;
  w.field(":status", "404");
  w.field("content-length", "2");
  ASSERT_TRUE(w.endHeaders(false, out));
  uint8_t data[] = {'n', 'o'};
  w.data(data, 2, out);
  w.end(out);
  EXPECT_TRUE(w.complete());
  EXPECT_EQ(text(out), "HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\nno");
}

TEST(H2Transcode, TrailersOnlyResponseIsAnEmptyBodyWithItsFieldsInTheHead) {
  ResponseWriter w(false);
  core::Buffer out;
  w.field(":status", "200");
  w.field("content-type", "application/grpc");
  w.field("grpc-status", "14");
  ASSERT_TRUE(w.endHeaders(true, out));
  EXPECT_TRUE(w.complete());
  EXPECT_EQ(text(out),
            "HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ngrpc-status: 14\r\n"
            "content-length: 0\r\n\r\n");
}

TEST(H2Transcode, InterimHeadThenFinal) {
  ResponseWriter w(false);
  core::Buffer out;
  w.field(":status", "103");
  w.field("link", "</a.css>; rel=preload");
  ASSERT_TRUE(w.endHeaders(false, out));
  EXPECT_FALSE(w.headDone());
  w.field(":status", "204");
  ASSERT_TRUE(w.endHeaders(true, out));
  EXPECT_TRUE(w.complete());
  EXPECT_EQ(text(out),
            "HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n"
            "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST(H2Transcode, HeadResponseKeepsItsLengthAndHasNoBody) {
  ResponseWriter w(true);
  core::Buffer out;
  w.field(":status", "200");
  w.field("content-length", "1234");
  ASSERT_TRUE(w.endHeaders(true, out));
  EXPECT_EQ(text(out), "HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n");
}

TEST(H2Transcode, BadStatusIsRefused) {
  ResponseWriter w(false);
  core::Buffer out;
  w.field(":status", "2x0");
  EXPECT_FALSE(w.endHeaders(false, out));
  ResponseWriter w2(false);
  w2.field(":status", "101");
  EXPECT_FALSE(w2.endHeaders(false, out));
}

}  // namespace
}  // namespace meridian::proxy::h2
