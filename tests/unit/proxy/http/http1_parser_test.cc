// The table of what the HTTP/1 head parser accepts and refuses: bytes in, head or error out.
// Every refused row differs from an accepted message in one thing only, so each row fails if
// the one check it is about were removed.
#include "proxy/http/http1_parser.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <set>
#include <string>

namespace meridian::proxy::http1 {
namespace {

using namespace std::string_literals;  // rows with a NUL byte need ""s

// The bytes under test in a heap block of exactly their size, so that ASan reports any read
// past the length the parser was given. The parsed views point in here: keep it alive.
class Bytes {
 public:
  explicit Bytes(std::string_view s) : p_(new char[s.size() + (s.empty() ? 1 : 0)]), n_(s.size()) {
    memcpy(p_.get(), s.data(), s.size());
  }
  const char* data() const { return p_.get(); }
  size_t size() const { return n_; }

 private:
  std::unique_ptr<char[]> p_;
  size_t n_;
};

ParseResult parseReq(const Bytes& b, RequestHead& h, size_t len, const HeadLimits& l = {}) {
  return parseRequestHead(b.data(), len, h, l);
}

std::string nameOf(std::string_view s) {
  return std::string(s);
}

// ---- Accepted requests ---------------------------------------------------------------------

struct GoodRequest {
  const char* name;
  std::string bytes;
  std::string_view method, target;
  int minor;
  std::string_view host;
  Framing framing;
  uint64_t content_length;
  bool keep_alive, expect_continue, upgrade;
  size_t header_count;
};
void PrintTo(const GoodRequest& row, std::ostream* os) {
  *os << row.name;
}  // not a byte dump

constexpr auto kNone = Framing::None;
constexpr auto kCl = Framing::ContentLength;
constexpr auto kChunked = Framing::Chunked;

const GoodRequest kGoodRequests[] = {
    {"SimpleGet", "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", "GET", "/", 1, "example.com",
     kNone, 0, true, false, false, 1},
    {"PostContentLength",
     "POST /submit?x=1&y=%20 HTTP/1.1\r\nHost: a.example:8080\r\nContent-Length: 42\r\n\r\n",
     "POST", "/submit?x=1&y=%20", 1, "a.example:8080", kCl, 42, true, false, false, 2},
    {"ContentLengthZeroIsNone", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", "POST",
     "/", 1, "a", kNone, 0, true, false, false, 2},
    {"ContentLengthRepeatedSame",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", "POST", "/", 1,
     "a", kCl, 5, true, false, false, 3},
    {"ContentLengthListSame", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 , 5,5\r\n\r\n",
     "POST", "/", 1, "a", kCl, 5, true, false, false, 2},
    {"ContentLengthLeadingZeros", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n",
     "POST", "/", 1, "a", kCl, 7, true, false, false, 2},
    {"ContentLengthMax",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n", "POST", "/", 1,
     "a", kCl, 9223372036854775807ull, true, false, false, 2},
    {"Chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", "POST", "/", 1,
     "a", kChunked, 0, true, false, false, 2},
    {"ChunkedCaseAndOws", "POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: \t CHUNKED \t\r\n\r\n",
     "POST", "/", 1, "a", kChunked, 0, true, false, false, 2},
    {"Http10NoHost", "GET / HTTP/1.0\r\n\r\n", "GET", "/", 0, "", kNone, 0, false, false, false, 0},
    {"Http10KeepAlive", "GET / HTTP/1.0\r\nHost: a\r\nConnection: Keep-Alive\r\n\r\n", "GET", "/",
     0, "a", kNone, 0, true, false, false, 2},
    {"Http10KeepAliveAndClose", "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", "GET",
     "/", 0, "", kNone, 0, false, false, false, 1},
    {"ConnectionClose", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "GET", "/", 1,
     "a", kNone, 0, false, false, false, 2},
    {"ConnectionCloseInSecondField",
     "GET / HTTP/1.1\r\nConnection: foo\r\nHost: a\r\nConnection: bar ,CLOSE\r\n\r\n", "GET", "/",
     1, "a", kNone, 0, false, false, false, 3},
    {"ConnectionCloseSubstringIsNotClose",
     "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed, x-close\r\n\r\n", "GET", "/", 1, "a", kNone,
     0, true, false, false, 2},
    {"ExpectContinue", "PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n", "PUT", "/f", 1,
     "a", kNone, 0, true, true, false, 2},
    {"ExpectOther", "PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue-ish\r\n\r\n", "PUT", "/f",
     1, "a", kNone, 0, true, false, false, 2},
    {"ExpectIgnoredInHttp10", "PUT /f HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", "PUT", "/f", 0, "",
     kNone, 0, false, false, false, 1},
    {"Upgrade",
     "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
     "Upgrade: websocket\r\n\r\n",
     "GET", "/ws", 1, "a", kNone, 0, true, false, true, 3},
    {"UpgradeTokenWithoutField", "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n", "GET",
     "/", 1, "a", kNone, 0, true, false, false, 2},
    {"UpgradeFieldWithoutToken", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n", "GET", "/", 1,
     "a", kNone, 0, true, false, false, 2},
    // An h2c upgrade is never passed on: the request goes as a plain one (RFC 9113 3.1).
    {"UpgradeToH2cIsNoUpgrade",
     "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: H2C\r\n"
     "HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n",
     "GET", "/", 1, "a", kNone, 0, true, false, false, 4},
    {"UpgradeToH2cOrAnotherIsAnUpgrade",
     "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c, websocket\r\n\r\n",
     "GET", "/", 1, "a", kNone, 0, true, false, true, 3},
    {"UpgradeIgnoredInHttp10",
     "GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", "GET", "/", 0, "",
     kNone, 0, false, false, false, 2},
    {"AbsoluteFormHostIsAuthority",
     "GET http://origin.example:81/p?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n", "GET",
     "http://origin.example:81/p?q=1", 1, "origin.example:81", kNone, 0, true, false, false, 1},
    {"AbsoluteFormHttpsNoPath", "GET HTTPS://Origin.Example HTTP/1.1\r\nHost: x\r\n\r\n", "GET",
     "HTTPS://Origin.Example", 1, "Origin.Example", kNone, 0, true, false, false, 1},
    {"AbsoluteFormQueryRightAfterAuthority", "GET http://o.example?x HTTP/1.1\r\nHost: x\r\n\r\n",
     "GET", "http://o.example?x", 1, "o.example", kNone, 0, true, false, false, 1},
    {"AuthorityFormConnect", "CONNECT db.example:5432 HTTP/1.1\r\nHost: db.example:5432\r\n\r\n",
     "CONNECT", "db.example:5432", 1, "db.example:5432", kNone, 0, true, false, false, 1},
    {"AuthorityFormConnectIpv6", "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n", "CONNECT",
     "[::1]:443", 1, "[::1]:443", kNone, 0, true, false, false, 1},
    {"AsteriskFormOptions", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "OPTIONS", "*", 1, "a", kNone,
     0, true, false, false, 1},
    {"LeadingEmptyLinesSkipped", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/", 1, "a",
     kNone, 0, true, false, false, 1},
    {"HostIpv6WithPort", "GET / HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n", "GET", "/", 1,
     "[2001:db8::1]:8443", kNone, 0, true, false, false, 1},
    {"HostIpv4", "GET / HTTP/1.1\r\nHost: 192.0.2.7\r\n\r\n", "GET", "/", 1, "192.0.2.7", kNone, 0,
     true, false, false, 1},
    {"HostPercentEncodedAndSubDelims", "GET / HTTP/1.1\r\nHost: ex%41mple_-~!$&'()*+,;=\r\n\r\n",
     "GET", "/", 1, "ex%41mple_-~!$&'()*+,;=", kNone, 0, true, false, false, 1},
    // RFC 9110 7.2: a client with no authority sends an empty Host, and it is valid.
    {"HostEmpty", "GET / HTTP/1.1\r\nHost:\r\n\r\n", "GET", "/", 1, "", kNone, 0, true, false,
     false, 1},
    {"TargetWithOddVchars", "GET /a%20b/{x}|y^`\"<>\\ HTTP/1.1\r\nHost: a\r\n\r\n", "GET",
     "/a%20b/{x}|y^`\"<>\\", 1, "a", kNone, 0, true, false, false, 1},
    {"ExtensionMethod", "M-SEARCH /x HTTP/1.1\r\nHost: a\r\n\r\n", "M-SEARCH", "/x", 1, "a", kNone,
     0, true, false, false, 1},
    {"ManyFieldsOrderKept",
     "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nHost: h\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n", "GET", "/", 1,
     "h", kNone, 0, true, false, false, 6},
};

class GoodRequestTest : public ::testing::TestWithParam<GoodRequest> {};

TEST_P(GoodRequestTest, ParsesEveryField) {
  const GoodRequest& row = GetParam();
  Bytes b(row.bytes);
  RequestHead h;
  ParseResult r = parseReq(b, h, b.size());
  ASSERT_EQ(r.status, ParseStatus::Complete) << parseErrorName(r.error);
  EXPECT_EQ(r.error, ParseError::None);
  EXPECT_EQ(r.consumed, b.size());
  EXPECT_EQ(h.method, row.method);
  EXPECT_EQ(h.target, row.target);
  EXPECT_EQ(h.minor_version, row.minor);
  EXPECT_EQ(h.host, row.host);
  EXPECT_EQ(h.framing, row.framing);
  EXPECT_EQ(h.content_length, row.content_length);
  EXPECT_EQ(h.keep_alive, row.keep_alive);
  EXPECT_EQ(h.expect_continue, row.expect_continue);
  EXPECT_EQ(h.upgrade, row.upgrade);
  EXPECT_EQ(h.headers.size(), row.header_count);
}

TEST_P(GoodRequestTest, EveryPrefixNeedsMore) {
  const GoodRequest& row = GetParam();
  Bytes b(row.bytes);
  RequestHead h;
  for (size_t len = 0; len < b.size(); ++len) {
    ParseResult r = parseReq(b, h, len);
    ASSERT_EQ(r.status, ParseStatus::NeedMore)
        << "prefix " << len << " " << parseErrorName(r.error);
  }
  EXPECT_EQ(parseReq(b, h, b.size()).status, ParseStatus::Complete);
}

TEST_P(GoodRequestTest, BodyBytesAfterTheHeadAreNotConsumed) {
  const GoodRequest& row = GetParam();
  Bytes b(row.bytes + "hello\r\n\r\nGET / HTTP/1.1\r\n");
  RequestHead h;
  ParseResult r = parseReq(b, h, b.size());
  ASSERT_EQ(r.status, ParseStatus::Complete);
  EXPECT_EQ(r.consumed, row.bytes.size());
}

INSTANTIATE_TEST_SUITE_P(Requests, GoodRequestTest, ::testing::ValuesIn(kGoodRequests),
                         [](const auto& info) { return nameOf(info.param.name); });

// ---- Refused requests ----------------------------------------------------------------------

struct BadRequest {
  const char* name;
  std::string bytes;
  ParseError error;
};
void PrintTo(const BadRequest& row, std::ostream* os) {
  *os << row.name;
}  // not a byte dump

#define REQ(fields) "POST / HTTP/1.1\r\nHost: a\r\n" fields "\r\n"

const BadRequest kBadRequests[] = {
    // Ambiguous framing: the smuggling cases.
    {"ContentLengthAndChunked", REQ("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
     ParseError::ContentLengthAndTransferEncoding},
    {"ChunkedAndContentLength", REQ("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
     ParseError::ContentLengthAndTransferEncoding},
    {"ContentLengthListDiffers", REQ("Content-Length: 1, 2\r\n"), ParseError::BadContentLength},
    {"ContentLengthFieldsDiffer", REQ("Content-Length: 1\r\nContent-Length: 2\r\n"),
     ParseError::BadContentLength},
    {"ContentLengthPlus", REQ("Content-Length: +5\r\n"), ParseError::BadContentLength},
    {"ContentLengthMinus", REQ("Content-Length: -5\r\n"), ParseError::BadContentLength},
    {"ContentLengthSpaceInside", REQ("Content-Length: 1 2\r\n"), ParseError::BadContentLength},
    {"ContentLengthHex", REQ("Content-Length: 0x5\r\n"), ParseError::BadContentLength},
    {"ContentLengthEmpty", REQ("Content-Length:\r\n"), ParseError::BadContentLength},
    {"ContentLengthEmptyElement", REQ("Content-Length: 5,\r\n"), ParseError::BadContentLength},
    {"ContentLengthDecimalPoint", REQ("Content-Length: 5.0\r\n"), ParseError::BadContentLength},
    {"ContentLengthOver63Bits", REQ("Content-Length: 9223372036854775808\r\n"),
     ParseError::BadContentLength},
    {"ContentLengthOverflow", REQ("Content-Length: 18446744073709551621\r\n"),
     ParseError::BadContentLength},
    {"ChunkedTwiceInOneField", REQ("Transfer-Encoding: chunked, chunked\r\n"),
     ParseError::BadTransferEncoding},
    {"ChunkedTwiceInTwoFields", REQ("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
     ParseError::BadTransferEncoding},
    {"GzipThenChunked", REQ("Transfer-Encoding: gzip, chunked\r\n"),
     ParseError::BadTransferEncoding},
    {"GzipFieldThenChunkedField", REQ("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"),
     ParseError::BadTransferEncoding},
    {"Xchunked", REQ("Transfer-Encoding: xchunked\r\n"), ParseError::BadTransferEncoding},
    {"ChunkedWithParameter", REQ("Transfer-Encoding: chunked;x\r\n"),
     ParseError::BadTransferEncoding},
    {"ChunkedTrailingComma", REQ("Transfer-Encoding: chunked,\r\n"),
     ParseError::BadTransferEncoding},
    {"TransferEncodingEmpty", REQ("Transfer-Encoding:\r\n"), ParseError::BadTransferEncoding},
    {"TransferEncodingIdentity", REQ("Transfer-Encoding: identity\r\n"),
     ParseError::BadTransferEncoding},
    {"TransferEncodingInHttp10", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
     ParseError::BadTransferEncoding},
    {"SpaceBeforeColon", REQ("Transfer-Encoding : chunked\r\n"), ParseError::BadHeaderName},
    {"TabBeforeColon", REQ("Content-Length\t: 5\r\n"), ParseError::BadHeaderName},
    // Field lines.
    {"ObsFold", REQ("X-A: 1\r\n continued\r\n"), ParseError::ObsFold},
    {"ObsFoldTab", REQ("X-A: 1\r\n\tcontinued\r\n"), ParseError::ObsFold},
    {"WhitespaceBeforeFirstField", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", ParseError::ObsFold},
    {"EmptyFieldName", REQ(": x\r\n"), ParseError::BadHeaderName},
    {"FieldWithoutColon", REQ("X-A\r\n"), ParseError::BadHeaderName},
    {"NonTokenFieldName", REQ("X/A: 1\r\n"), ParseError::BadHeaderName},
    {"NonAsciiFieldName", REQ("X-\xC3\xA9: 1\r\n"), ParseError::BadHeaderName},
    {"NulInValue", REQ("X-A: a\0b\r\n"s), ParseError::BadHeaderValue},
    {"CtlInValue", REQ("X-A: a\x01z\r\n"), ParseError::BadHeaderValue},
    {"DelInValue", REQ("X-A: a\x7Fz\r\n"), ParseError::BadHeaderValue},
    {"VerticalTabInValue", REQ("X-A: a\x0Bz\r\n"), ParseError::BadHeaderValue},
    // Line endings.
    {"BareCrInValue", REQ("X-A: a\rb\r\n"), ParseError::BareCR},
    {"BareCrAsLineEnd", "GET / HTTP/1.1\r\nHost: a\rX-A: 1\r\n\r\n", ParseError::BareCR},
    {"CrCrLf", "GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", ParseError::BareCR},
    {"BareCrInRequestLine", "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::BareCR},
    {"BareCrInLeadingLine", "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::BareCR},
    {"BareLfAfterRequestLine", "GET / HTTP/1.1\nHost: a\r\n\r\n", ParseError::BareLF},
    {"BareLfAfterField", "GET / HTTP/1.1\r\nHost: a\n\r\n", ParseError::BareLF},
    {"BareLfEndsHead", "GET / HTTP/1.1\r\nHost: a\r\n\n", ParseError::BareLF},
    {"BareLfLeadingLine", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::BareLF},
    // Request line.
    {"SpaceInMethod", "G ET / HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::BadRequestLine},
    {"NonTokenMethod", "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::BadRequestLine},
    {"LeadingSpace", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::BadRequestLine},
    {"DoubleSpaceAfterMethod", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::BadRequestLine},
    {"DoubleSpaceBeforeVersion", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::BadRequestLine},
    {"TrailingSpace", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", ParseError::BadRequestLine},
    {"TabSeparator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::BadRequestLine},
    {"TabBeforeVersion", "GET /\tHTTP/1.1\r\nHost: a\r\n\r\n", ParseError::BadRequestLine},
    {"EmptyTarget", "GET  HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::BadRequestLine},
    {"SpaceInTarget", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::BadRequestLine},
    {"NonAsciiTarget", "GET /caf\xC3\xA9 HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::BadRequestLine},
    {"CtlInTarget", "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::BadRequestLine},
    {"NulInTarget", "GET /a\0 HTTP/1.1\r\nHost: a\r\n\r\n"s, ParseError::BadRequestLine},
    {"TargetNotOriginForm", "GET index.html HTTP/1.1\r\nHost: a\r\n\r\n",
     ParseError::BadRequestLine},
    {"MissingVersion", "GET /\r\nHost: a\r\n\r\n", ParseError::BadRequestLine},
    {"LowercaseVersion", "GET / http/1.1\r\nHost: a\r\n\r\n", ParseError::BadRequestLine},
    {"VersionWithoutMinor", "GET / HTTP/2\r\nHost: a\r\n\r\n", ParseError::BadRequestLine},
    {"VersionTwoDigitMinor", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", ParseError::BadRequestLine},
    {"Http12", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", ParseError::UnsupportedVersion},
    {"Http20", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", ParseError::UnsupportedVersion},
    {"Http09", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", ParseError::UnsupportedVersion},
    {"AsteriskForGet", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::BadRequestLine},
    {"ConnectOriginForm", "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::BadRequestLine},
    {"ConnectWithoutPort", "CONNECT db.example HTTP/1.1\r\nHost: a\r\n\r\n",
     ParseError::BadRequestLine},
    {"ConnectEmptyPort", "CONNECT db.example: HTTP/1.1\r\nHost: a\r\n\r\n",
     ParseError::BadRequestLine},
    {"ConnectEmptyHost", "CONNECT :443 HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::BadRequestLine},
    {"AuthorityFormForGet", "GET db.example:5432 HTTP/1.1\r\nHost: a\r\n\r\n",
     ParseError::BadRequestLine},
    {"AbsoluteFormUserinfo", "GET http://user@o.example/ HTTP/1.1\r\nHost: a\r\n\r\n",
     ParseError::BadRequestLine},
    {"AbsoluteFormEmptyAuthority", "GET http:///p HTTP/1.1\r\nHost: a\r\n\r\n",
     ParseError::BadRequestLine},
    {"AbsoluteFormOtherScheme", "GET ftp://o.example/ HTTP/1.1\r\nHost: a\r\n\r\n",
     ParseError::BadRequestLine},
    // Host.
    {"MissingHost", "GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", ParseError::MissingHost},
    {"MissingHostAbsoluteForm", "GET http://o.example/ HTTP/1.1\r\n\r\n", ParseError::MissingHost},
    {"DuplicateHost", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", ParseError::DuplicateHost},
    {"DuplicateHostOtherCase", "GET / HTTP/1.1\r\nHost: a\r\nhOST: b\r\n\r\n",
     ParseError::DuplicateHost},
    {"HostWithSpace", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", ParseError::BadHost},
    {"HostWithUserinfo", "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", ParseError::BadHost},
    {"HostWithSlash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", ParseError::BadHost},
    {"HostWithTwoPorts", "GET / HTTP/1.1\r\nHost: a:80:90\r\n\r\n", ParseError::BadHost},
    {"HostWithBadPort", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", ParseError::BadHost},
    {"HostUnclosedIpv6", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", ParseError::BadHost},
    {"HostJunkAfterIpv6", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", ParseError::BadHost},
    {"HostBadPercent", "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", ParseError::BadHost},
    {"HostWithQuote", "GET / HTTP/1.1\r\nHost: a\"b\r\n\r\n", ParseError::BadHost},
    {"HostNonAscii", "GET / HTTP/1.1\r\nHost: caf\xC3\xA9\r\n\r\n", ParseError::BadHost},
    // A port is 0 to 65535: a longer one would be read modulo something by the next hop.
    {"HostPortOutOfRange", "GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", ParseError::BadHost},
    {"HostPortTooLong", "GET / HTTP/1.1\r\nHost: a:0000080\r\n\r\n", ParseError::BadHost},
    {"ConnectPortOutOfRange", "CONNECT db.example:99999 HTTP/1.1\r\nHost: a\r\n\r\n",
     ParseError::BadRequestLine},
};

#undef REQ

class BadRequestTest : public ::testing::TestWithParam<BadRequest> {};

TEST_P(BadRequestTest, IsRefusedWithItsError) {
  const BadRequest& row = GetParam();
  Bytes b(row.bytes);
  RequestHead h;
  ParseResult r = parseReq(b, h, b.size());
  EXPECT_EQ(r.status, ParseStatus::Error);
  EXPECT_EQ(parseErrorName(r.error), std::string(parseErrorName(row.error)));
}

// A prefix may need more or already fail, but never complete or fail differently: feeding
// bytes as they arrive must end in the same answer as feeding them all at once.
TEST_P(BadRequestTest, PrefixesNeverDisagree) {
  const BadRequest& row = GetParam();
  Bytes b(row.bytes);
  RequestHead h;
  for (size_t len = 0; len < b.size(); ++len) {
    ParseResult r = parseReq(b, h, len);
    if (r.status == ParseStatus::NeedMore) continue;
    ASSERT_EQ(r.status, ParseStatus::Error) << "prefix " << len;
    ASSERT_EQ(r.error, row.error) << "prefix " << len << ": " << parseErrorName(r.error);
  }
}

INSTANTIATE_TEST_SUITE_P(Requests, BadRequestTest, ::testing::ValuesIn(kBadRequests),
                         [](const auto& info) { return nameOf(info.param.name); });

// Errors about line endings are found before the head is complete, so a client that sends a
// bare LF does not hold its connection until the header timeout.
TEST(RequestHeadTest, LineEndingErrorsDoNotWaitForTheEndOfTheHead) {
  RequestHead h;
  Bytes lf("GET / HTTP/1.1\nHost: a\r\n");
  EXPECT_EQ(parseReq(lf, h, lf.size()).error, ParseError::BareLF);
  Bytes cr("GET / HTTP/1.1\r\nHost: a\rb");
  EXPECT_EQ(parseReq(cr, h, cr.size()).error, ParseError::BareCR);
  Bytes cr_last("GET / HTTP/1.1\r\nHost: a\r");  // the LF may still come
  EXPECT_EQ(parseReq(cr_last, h, cr_last.size()).status, ParseStatus::NeedMore);
}

// Values and targets are checked eight bytes at a time: put each refused and each accepted
// odd byte at every offset, across word boundaries and in the tail.
TEST(RequestHeadTest, EveryByteOfALongValueIsChecked) {
  for (size_t pos = 0; pos < 21; ++pos) {
    for (char bad : {'\0', '\x01', '\x1F', '\x7F', '\n'}) {
      std::string value(21, 'v');
      value[pos] = bad;
      Bytes b("GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + value + "\r\n\r\n");
      RequestHead h;
      ParseResult r = parseReq(b, h, b.size());
      ParseError want = bad == '\n' ? ParseError::BareLF : ParseError::BadHeaderValue;
      EXPECT_EQ(r.error, want) << "byte " << int(bad) << " at " << pos;
    }
    for (char good : {'\t', ' ', '\x80', '\xFF', '~', '!'}) {
      std::string value(21, 'v');
      value[pos] = good;
      Bytes b("GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + value + "\r\n\r\n");
      RequestHead h;
      EXPECT_EQ(parseReq(b, h, b.size()).status, ParseStatus::Complete)
          << "byte " << int(good) << " at " << pos;
    }
  }
}

TEST(RequestHeadTest, EveryByteOfALongTargetIsChecked) {
  for (size_t pos = 1; pos < 21; ++pos) {
    for (char bad : {'\0', '\x1F', ' ', '\t', '\x7F', '\x80', '\xFF'}) {
      std::string target = "/" + std::string(20, 't');
      target[pos] = bad;
      Bytes b("GET " + target + " HTTP/1.1\r\nHost: a\r\n\r\n");
      RequestHead h;
      EXPECT_EQ(parseReq(b, h, b.size()).error, ParseError::BadRequestLine)
          << "byte " << int(bad) << " at " << pos;
    }
    std::string target = "/" + std::string(20, 't');
    target[pos] = '~';
    Bytes b("GET " + target + " HTTP/1.1\r\nHost: a\r\n\r\n");
    RequestHead h;
    ASSERT_EQ(parseReq(b, h, b.size()).status, ParseStatus::Complete);
    EXPECT_EQ(h.target, target);
  }
}

TEST(RequestHeadTest, FieldsKeepNameCaseAndTrimValues) {
  Bytes b(
      "GET / HTTP/1.1\r\nHost:a\r\nX-Mixed-Case: \t value with  inner  space \t\r\n"
      "X-Empty:\r\nX-Blank:  \t \r\nX-Obs-Text: caf\xC3\xA9\r\nX-Tab:\ta\tb\r\n\r\n");
  RequestHead h;
  ASSERT_EQ(parseReq(b, h, b.size()).status, ParseStatus::Complete);
  ASSERT_EQ(h.headers.size(), 6u);
  EXPECT_EQ(h.headers[0].name, "Host");
  EXPECT_EQ(h.headers[0].value, "a");
  EXPECT_EQ(h.headers[1].name, "X-Mixed-Case");
  EXPECT_EQ(h.headers[1].value, "value with  inner  space");
  EXPECT_EQ(h.headers[2].value, "");
  EXPECT_EQ(h.headers[3].value, "");
  EXPECT_EQ(h.headers[4].value, "caf\xC3\xA9");
  EXPECT_EQ(h.headers[5].value, "a\tb");
  // Views point into the caller's bytes: nothing was copied.
  EXPECT_GE(h.headers[1].value.data(), b.data());
  EXPECT_LT(h.headers[1].value.data(), b.data() + b.size());
}

TEST(RequestHeadTest, PipelinedRequestsAreFoundByConsumed) {
  const std::string first = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
  const std::string second = "GET /b HTTP/1.1\r\nHost: b\r\n\r\n";
  const std::string third = "\r\nGET /c HTTP/1.0\r\n\r\n";
  Bytes b(first + "hello" + second + third);
  RequestHead h;
  ParseResult r = parseRequestHead(b.data(), b.size(), h);
  ASSERT_EQ(r.status, ParseStatus::Complete);
  ASSERT_EQ(r.consumed, first.size());
  EXPECT_EQ(h.target, "/a");
  ASSERT_EQ(h.framing, Framing::ContentLength);
  size_t off = r.consumed + h.content_length;

  r = parseRequestHead(b.data() + off, b.size() - off, h);
  ASSERT_EQ(r.status, ParseStatus::Complete);
  EXPECT_EQ(r.consumed, second.size());
  EXPECT_EQ(h.target, "/b");
  EXPECT_EQ(h.host, "b");
  EXPECT_EQ(h.framing, Framing::None);
  off += r.consumed;

  r = parseRequestHead(b.data() + off, b.size() - off, h);
  ASSERT_EQ(r.status, ParseStatus::Complete);
  EXPECT_EQ(r.consumed, third.size());  // the stray CRLF between requests is skipped
  EXPECT_EQ(h.target, "/c");
  EXPECT_EQ(off + r.consumed, b.size());
}

TEST(RequestHeadTest, ReusedHeadKeepsItsHeaderStorage) {
  Bytes b("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
  RequestHead h;
  ASSERT_EQ(parseReq(b, h, b.size()).status, ParseStatus::Complete);
  const Header* storage = h.headers.data();
  size_t capacity = h.headers.capacity();
  h.clear();
  EXPECT_TRUE(h.headers.empty());
  EXPECT_EQ(h.headers.capacity(), capacity);
  ASSERT_EQ(parseReq(b, h, b.size()).status, ParseStatus::Complete);
  EXPECT_EQ(h.headers.data(), storage);  // no reallocation on the second parse
  EXPECT_EQ(h.headers.size(), 4u);
}

TEST(RequestHeadTest, ParsingResetsEveryDerivedField) {
  Bytes first(
      "POST http://o.example/ HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
      "Connection: close, upgrade\r\nUpgrade: x\r\nExpect: 100-continue\r\n\r\n");
  Bytes second("GET / HTTP/1.1\r\nHost: b\r\n\r\n");
  RequestHead h;
  ASSERT_EQ(parseReq(first, h, first.size()).status, ParseStatus::Complete);
  ASSERT_EQ(parseReq(second, h, second.size()).status, ParseStatus::Complete);
  EXPECT_EQ(h.host, "b");
  EXPECT_EQ(h.framing, Framing::None);
  EXPECT_EQ(h.content_length, 0u);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_FALSE(h.expect_continue);
  EXPECT_FALSE(h.upgrade);
  EXPECT_EQ(h.headers.size(), 1u);
}

// ---- Responses -----------------------------------------------------------------------------

struct GoodResponse {
  const char* name;
  std::string bytes;
  bool head_request;
  int status;
  std::string_view reason;
  int minor;
  Framing framing;
  uint64_t content_length;
  bool keep_alive, upgrade;
};
void PrintTo(const GoodResponse& row, std::ostream* os) {
  *os << row.name;
}  // not a byte dump

constexpr auto kUntilClose = Framing::UntilClose;

const GoodResponse kGoodResponses[] = {
    {"ContentLength", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false, 200, "OK", 1, kCl, 5,
     true, false},
    {"ContentLengthZeroIsNone", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, 200, "OK", 1,
     kNone, 0, true, false},
    {"ContentLengthRepeatedSame",
     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", false, 200, "OK", 1, kCl,
     5, true, false},
    {"Chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, 200, "OK", 1,
     kChunked, 0, true, false},
    {"ChunkedFinalAfterGzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, CHUNKED\r\n\r\n", false,
     200, "OK", 1, kChunked, 0, true, false},
    {"ChunkedFinalInSecondField",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", false, 200,
     "OK", 1, kChunked, 0, true, false},
    {"ChunkedNotFinalReadsUntilClose",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", false, 200, "OK", 1,
     kUntilClose, 0, false, false},
    {"OtherCodingReadsUntilClose", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false, 200,
     "OK", 1, kUntilClose, 0, false, false},
    {"NoLengthReadsUntilClose", "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", false, 200, "OK", 1,
     kUntilClose, 0, false, false},
    {"HeadRequestHasNoBody", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, 200, "OK", 1,
     kNone, 0, true, false},
    {"HeadRequestChunkedHasNoBody", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true,
     200, "OK", 1, kNone, 0, true, false},
    {"NoContent", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", false, 204, "No Content",
     1, kNone, 0, true, false},
    {"NotModified", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", false, 304,
     "Not Modified", 1, kNone, 0, true, false},
    {"Continue", "HTTP/1.1 100 Continue\r\n\r\n", false, 100, "Continue", 1, kNone, 0, true, false},
    {"EarlyHints", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n", false, 103, "Early Hints",
     1, kNone, 0, true, false},
    {"SwitchingProtocols",
     "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", false,
     101, "Switching Protocols", 1, kNone, 0, false, true},
    {"MissingReason", "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n", false, 200, "", 1, kCl, 1, true,
     false},
    {"EmptyReason", "HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\n", false, 200, "", 1, kCl, 1, true,
     false},
    {"ReasonWithSpacesAndObsText",
     "HTTP/1.1 404 Not  Found \xC3\xA9\t\r\nContent-Length: 1\r\n\r\n", false, 404,
     "Not  Found \xC3\xA9\t", 1, kCl, 1, true, false},
    {"Http10", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", false, 200, "OK", 0, kCl, 2, false,
     false},
    {"Http10KeepAlive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n",
     false, 200, "OK", 0, kCl, 2, true, false},
    {"ConnectionClose", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n", false,
     200, "OK", 1, kCl, 2, false, false},
    {"Status599", "HTTP/1.1 599 Odd\r\nContent-Length: 0\r\n\r\n", false, 599, "Odd", 1, kNone, 0,
     true, false},
    {"LeadingEmptyLinesSkipped", "\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, 200,
     "OK", 1, kNone, 0, true, false},
};

class GoodResponseTest : public ::testing::TestWithParam<GoodResponse> {};

TEST_P(GoodResponseTest, ParsesEveryField) {
  const GoodResponse& row = GetParam();
  Bytes b(row.bytes);
  ResponseHead h;
  ParseResult r = parseResponseHead(b.data(), b.size(), row.head_request, h);
  ASSERT_EQ(r.status, ParseStatus::Complete) << parseErrorName(r.error);
  EXPECT_EQ(r.consumed, b.size());
  EXPECT_EQ(h.status, row.status);
  EXPECT_EQ(h.reason, row.reason);
  EXPECT_EQ(h.minor_version, row.minor);
  EXPECT_EQ(h.framing, row.framing);
  EXPECT_EQ(h.content_length, row.content_length);
  EXPECT_EQ(h.keep_alive, row.keep_alive);
  EXPECT_EQ(h.upgrade, row.upgrade);
}

TEST_P(GoodResponseTest, EveryPrefixNeedsMore) {
  const GoodResponse& row = GetParam();
  Bytes b(row.bytes);
  ResponseHead h;
  for (size_t len = 0; len < b.size(); ++len)
    ASSERT_EQ(parseResponseHead(b.data(), len, row.head_request, h).status, ParseStatus::NeedMore)
        << "prefix " << len;
}

INSTANTIATE_TEST_SUITE_P(Responses, GoodResponseTest, ::testing::ValuesIn(kGoodResponses),
                         [](const auto& info) { return nameOf(info.param.name); });

struct BadResponse {
  const char* name;
  std::string bytes;
  bool head_request;
  ParseError error;
};
void PrintTo(const BadResponse& row, std::ostream* os) {
  *os << row.name;
}  // not a byte dump

const BadResponse kBadResponses[] = {
    {"StatusBelow100", "HTTP/1.1 099 Low\r\n\r\n", false, ParseError::BadStatusLine},
    {"StatusAbove599", "HTTP/1.1 600 High\r\n\r\n", false, ParseError::BadStatusLine},
    {"TwoDigitStatus", "HTTP/1.1 20 OK\r\n\r\n", false, ParseError::BadStatusLine},
    {"FourDigitStatus", "HTTP/1.1 2000 OK\r\n\r\n", false, ParseError::BadStatusLine},
    {"NonDigitStatus", "HTTP/1.1 2x0 OK\r\n\r\n", false, ParseError::BadStatusLine},
    {"DoubleSpaceBeforeStatus", "HTTP/1.1  200 OK\r\n\r\n", false, ParseError::BadStatusLine},
    {"NoSpaceBeforeReason", "HTTP/1.1 200OK\r\n\r\n", false, ParseError::BadStatusLine},
    {"CtlInReason", "HTTP/1.1 200 O\x01K\r\n\r\n", false, ParseError::BadStatusLine},
    {"NotHttp", "ICY 200 OK\r\n\r\n", false, ParseError::BadStatusLine},
    {"VersionOnly", "HTTP/1.1\r\n\r\n", false, ParseError::BadStatusLine},
    {"VersionWithoutMinor", "HTTP/2 200 OK\r\n\r\n", false, ParseError::BadStatusLine},
    {"Http12", "HTTP/1.2 200 OK\r\n\r\n", false, ParseError::UnsupportedVersion},
    {"ContentLengthAndChunked",
     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", false,
     ParseError::ContentLengthAndTransferEncoding},
    {"ContentLengthAndChunkedForHead",
     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", true,
     ParseError::ContentLengthAndTransferEncoding},
    {"ContentLengthDiffers", "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n", false,
     ParseError::BadContentLength},
    {"ContentLengthNotDigits", "HTTP/1.1 200 OK\r\nContent-Length: 5a\r\n\r\n", false,
     ParseError::BadContentLength},
    {"ChunkedTwice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", false,
     ParseError::BadTransferEncoding},
    {"TransferEncodingEmptyElement", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,\r\n\r\n", false,
     ParseError::BadTransferEncoding},
    {"TransferEncodingInHttp10", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false,
     ParseError::BadTransferEncoding},
    {"ObsFold", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\n\r\n", false, ParseError::ObsFold},
    {"BareLf", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", false, ParseError::BareLF},
    {"BareCr", "HTTP/1.1 200 OK\r\nX-A: 1\r2\r\n\r\n", false, ParseError::BareCR},
    {"SpaceBeforeColon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", false,
     ParseError::BadHeaderName},
    {"NulInValue", "HTTP/1.1 200 OK\r\nX-A: \0\r\n\r\n"s, false, ParseError::BadHeaderValue},
};

class BadResponseTest : public ::testing::TestWithParam<BadResponse> {};

TEST_P(BadResponseTest, IsRefusedWithItsError) {
  const BadResponse& row = GetParam();
  Bytes b(row.bytes);
  ResponseHead h;
  ParseResult r = parseResponseHead(b.data(), b.size(), row.head_request, h);
  EXPECT_EQ(r.status, ParseStatus::Error);
  EXPECT_EQ(parseErrorName(r.error), std::string(parseErrorName(row.error)));
}

INSTANTIATE_TEST_SUITE_P(Responses, BadResponseTest, ::testing::ValuesIn(kBadResponses),
                         [](const auto& info) { return nameOf(info.param.name); });

// ---- Limits --------------------------------------------------------------------------------

TEST(HeadLimitsTest, HeadExactlyAtTheLimitIsAccepted) {
  Bytes b("GET / HTTP/1.1\r\nHost: a\r\nX-Pad: 0123456789\r\n\r\n");
  RequestHead h;
  HeadLimits at{b.size(), 100};
  EXPECT_EQ(parseReq(b, h, b.size(), at).status, ParseStatus::Complete);
  HeadLimits below{b.size() - 1, 100};
  ParseResult r = parseReq(b, h, b.size(), below);
  EXPECT_EQ(r.status, ParseStatus::Error);
  EXPECT_EQ(r.error, ParseError::HeadTooLarge);
}

TEST(HeadLimitsTest, CompleteHeadOverTheLimitWithBodyAfterIt) {
  Bytes b("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x'));
  RequestHead h;
  EXPECT_EQ(parseReq(b, h, b.size(), HeadLimits{20, 100}).error, ParseError::HeadTooLarge);
}

TEST(HeadLimitsTest, IncompleteHeadIsTooLargeOnceItReachesTheLimit) {
  Bytes b("GET / HTTP/1.1\r\nHost: a\r\nX-Pad: " + std::string(200, 'p'));
  RequestHead h;
  const HeadLimits l{100, 100};
  for (size_t len = 0; len < l.max_head_bytes; ++len)
    ASSERT_EQ(parseReq(b, h, len, l).status, ParseStatus::NeedMore) << len;
  for (size_t len = l.max_head_bytes; len <= b.size(); ++len)
    ASSERT_EQ(parseReq(b, h, len, l).error, ParseError::HeadTooLarge) << len;
}

TEST(HeadLimitsTest, EndlessEmptyLinesAreTooLarge) {
  std::string crlfs;
  for (int i = 0; i < 100; ++i) crlfs += "\r\n";
  Bytes b(crlfs);
  RequestHead h;
  EXPECT_EQ(parseReq(b, h, 50, HeadLimits{64, 100}).status, ParseStatus::NeedMore);
  EXPECT_EQ(parseReq(b, h, b.size(), HeadLimits{64, 100}).error, ParseError::HeadTooLarge);
}

TEST(HeadLimitsTest, HeaderCountLimit) {
  Bytes three("GET / HTTP/1.1\r\nHost: a\r\nB: 1\r\nC: 1\r\n\r\n");
  Bytes four("GET / HTTP/1.1\r\nHost: a\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n");
  RequestHead h;
  const HeadLimits l{1024, 3};
  EXPECT_EQ(parseReq(three, h, three.size(), l).status, ParseStatus::Complete);
  ParseResult r = parseReq(four, h, four.size(), l);
  EXPECT_EQ(r.status, ParseStatus::Error);
  EXPECT_EQ(r.error, ParseError::TooManyHeaders);
  ResponseHead rh;
  Bytes resp("HTTP/1.1 200 OK\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n");
  EXPECT_EQ(parseResponseHead(resp.data(), resp.size(), false, rh, l).error,
            ParseError::TooManyHeaders);
}

// ---- Helpers -------------------------------------------------------------------------------

TEST(HelpersTest, IequalsIgnoresAsciiCaseOnly) {
  EXPECT_TRUE(iequals("Content-Length", "content-LENGTH"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("Host", "Hos"));
  EXPECT_FALSE(iequals("Host", "Hosu"));
  EXPECT_FALSE(iequals("@", "`"));  // 0x40 and 0x60 differ only in the case bit
  EXPECT_FALSE(iequals("[", "{"));
  EXPECT_FALSE(iequals("\xC3", "\xE3"));
}

TEST(HelpersTest, HasTokenMatchesWholeElements) {
  EXPECT_TRUE(hasToken("close", "close"));
  EXPECT_TRUE(hasToken("keep-alive, Close", "close"));
  EXPECT_TRUE(hasToken(" \tfoo ,\t UPGRADE\t", "upgrade"));
  EXPECT_TRUE(hasToken("a,,close", "close"));
  EXPECT_FALSE(hasToken("closed", "close"));
  EXPECT_FALSE(hasToken("x-close, enclose", "close"));
  EXPECT_FALSE(hasToken("", "close"));
  EXPECT_FALSE(hasToken("clo se", "close"));
}

TEST(HelpersTest, HopByHopFields) {
  for (const char* name : {"Connection", "keep-alive", "Proxy-Connection", "TE", "Trailer",
                           "transfer-encoding", "UPGRADE"})
    EXPECT_TRUE(isHopByHop(name)) << name;
  for (const char* name :
       {"Host", "Content-Length", "Trailers", "T", "Upgrade-Insecure-Requests", "Keep-Alivex", ""})
    EXPECT_FALSE(isHopByHop(name)) << name;
}

TEST(HelpersTest, EveryErrorHasItsOwnName) {
  std::set<std::string> names;
  for (int e = 0; e <= static_cast<int>(ParseError::BadChunk); ++e) {
    std::string name = parseErrorName(static_cast<ParseError>(e));
    EXPECT_NE(name, "Unknown");
    names.insert(name);
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(ParseError::BadChunk) + 1);
  EXPECT_STREQ(parseErrorName(ParseError::ContentLengthAndTransferEncoding),
               "ContentLengthAndTransferEncoding");
}

}  // namespace
}  // namespace meridian::proxy::http1
