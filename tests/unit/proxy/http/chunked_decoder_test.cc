// ChunkedDecoder: bytes in, decoded body (or the offset of the first bad byte) out, fed whole,
// one byte at a time and split at every point, since a socket can cut a body anywhere.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "proxy/http/http1_parser.h"

namespace meridian::proxy::http1 {
namespace {

using namespace std::string_literals;

struct Decoded {
  ParseStatus status = ParseStatus::NeedMore;
  size_t consumed = 0;  // where the body ended, or the offset of the bad byte
  std::string data;
};

// Drives the decoder the way a codec does, with the stream arriving in pieces that end at
// `cuts` (ascending offsets): data goes through consumeData(), control bytes through
// parseControl(). Each parseControl() call sees a heap block of exactly the bytes that have
// arrived, so ASan catches a read past them.
Decoded decodeInPieces(std::string_view body, const std::vector<size_t>& cuts) {
  ChunkedDecoder d;
  Decoded out;
  size_t pos = 0;
  for (size_t piece = 0; piece <= cuts.size(); ++piece) {
    size_t avail = piece < cuts.size() ? cuts[piece] : body.size();
    while (pos < avail) {
      if (d.dataRemaining() > 0) {
        size_t n = std::min<uint64_t>(d.dataRemaining(), avail - pos);
        out.data.append(body.substr(pos, n));
        d.consumeData(n);
        pos += n;
        continue;
      }
      std::unique_ptr<char[]> block(new char[avail - pos]);
      memcpy(block.get(), body.data() + pos, avail - pos);
      ChunkedDecoder::Step step = d.parseControl(block.get(), avail - pos);
      pos += step.consumed;
      if (step.status != ParseStatus::NeedMore) {
        EXPECT_EQ(d.done(), step.status == ParseStatus::Complete);
        out.status = step.status;
        out.consumed = pos;
        return out;
      }
      if (pos < avail && d.dataRemaining() == 0) {
        ADD_FAILURE() << "NeedMore with bytes left and no data to read, at " << pos;
        return out;
      }
    }
  }
  out.consumed = pos;
  return out;
}

Decoded decodeWhole(std::string_view body) {
  return decodeInPieces(body, {});
}

Decoded decodeByteByByte(std::string_view body) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < body.size(); ++i) cuts.push_back(i);
  return decodeInPieces(body, cuts);
}

// ---- Accepted bodies -----------------------------------------------------------------------

struct GoodBody {
  const char* name;
  std::string body;
  std::string data;
};
void PrintTo(const GoodBody& row, std::ostream* os) {
  *os << row.name;
}  // not a byte dump

const GoodBody kGoodBodies[] = {
    {"OneChunk", "5\r\nhello\r\n0\r\n\r\n", "hello"},
    {"TwoChunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world"},
    {"EmptyBody", "0\r\n\r\n", ""},
    {"UppercaseHex", "A\r\n0123456789\r\n1F\r\n0123456789abcdefghijklmnopqrstu\r\n0\r\n\r\n",
     "0123456789"
     "0123456789abcdefghijklmnopqrstu"},
    {"LowercaseHex", "a\r\n0123456789\r\n0\r\n\r\n", "0123456789"},
    {"LeadingZeros", "0005\r\nhello\r\n000\r\n\r\n", "hello"},
    {"SixteenDigits", "000000000000000a\r\n0123456789\r\n0000000000000000\r\n\r\n", "0123456789"},
    {"DataLooksLikeFraming", "a\r\n0\r\n\r\n5\r\nxy\r\n0\r\n\r\n", "0\r\n\r\n5\r\nxy"},
    {"BinaryData", "4\r\n\0\r\xFF\n\r\n0\r\n\r\n"s, "\0\r\xFF\n"s},
    {"ExtensionName", "5;name\r\nhello\r\n0;last\r\n\r\n", "hello"},
    {"ExtensionTokenValue", "5;a=b;c=1\r\nhello\r\n0;done=yes\r\n\r\n", "hello"},
    {"ExtensionQuotedValue", "5;a=\"q \\\" ;x=\\\\ \xC3\xA9\"\r\nhello\r\n0\r\n\r\n", "hello"},
    {"ExtensionEmptyQuotedValue", "5;a=\"\";b\r\nhello\r\n0\r\n\r\n", "hello"},
    {"ExtensionWithBws", "5 \t; a = b ;c\t=\t\"d\" ; e\r\nhello\r\n0\r\n\r\n", "hello"},
    {"Trailers", "5\r\nhello\r\n0\r\nExpires: never\r\nX-Sum:abc \t\r\nX-Empty:\r\n\r\n", "hello"},
    {"TrailerWithObsText", "5\r\nhello\r\n0\r\nX-Name: caf\xC3\xA9\r\n\r\n", "hello"},
};

class GoodBodyTest : public ::testing::TestWithParam<GoodBody> {};

TEST_P(GoodBodyTest, DecodesWhole) {
  const GoodBody& row = GetParam();
  Decoded d = decodeWhole(row.body);
  EXPECT_EQ(d.status, ParseStatus::Complete);
  EXPECT_EQ(d.consumed, row.body.size());
  EXPECT_EQ(d.data, row.data);
}

TEST_P(GoodBodyTest, DecodesOneByteAtATime) {
  const GoodBody& row = GetParam();
  Decoded d = decodeByteByByte(row.body);
  EXPECT_EQ(d.status, ParseStatus::Complete);
  EXPECT_EQ(d.consumed, row.body.size());
  EXPECT_EQ(d.data, row.data);
}

TEST_P(GoodBodyTest, DecodesTheSameAtEverySplit) {
  const GoodBody& row = GetParam();
  for (size_t i = 0; i <= row.body.size(); ++i) {
    for (size_t j = i; j <= row.body.size(); ++j) {
      Decoded d = decodeInPieces(row.body, {i, j});
      ASSERT_EQ(d.status, ParseStatus::Complete) << "split at " << i << " and " << j;
      ASSERT_EQ(d.consumed, row.body.size()) << "split at " << i << " and " << j;
      ASSERT_EQ(d.data, row.data) << "split at " << i << " and " << j;
    }
  }
}

TEST_P(GoodBodyTest, EveryPrefixNeedsMore) {
  const GoodBody& row = GetParam();
  for (size_t len = 0; len < row.body.size(); ++len) {
    Decoded d = decodeWhole(std::string_view(row.body).substr(0, len));
    ASSERT_EQ(d.status, ParseStatus::NeedMore) << "prefix " << len;
    ASSERT_EQ(d.consumed, len);
  }
}

// The next request on the connection follows the body: the decoder must stop at its end.
TEST_P(GoodBodyTest, StopsAtTheEndOfTheBody) {
  const GoodBody& row = GetParam();
  std::string stream = row.body + "GET / HTTP/1.1\r\n\r\n";
  Decoded whole = decodeWhole(stream);
  EXPECT_EQ(whole.status, ParseStatus::Complete);
  EXPECT_EQ(whole.consumed, row.body.size());
  Decoded bytes = decodeByteByByte(stream);
  EXPECT_EQ(bytes.consumed, row.body.size());
}

INSTANTIATE_TEST_SUITE_P(Chunked, GoodBodyTest, ::testing::ValuesIn(kGoodBodies),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- Refused bodies ------------------------------------------------------------------------

// `accepted` is a prefix the decoder takes without complaint; the first byte of `rest` is the
// one it must refuse. Pinning the offset keeps each row about exactly one check.
struct BadBody {
  const char* name;
  std::string accepted;
  std::string rest;
};
void PrintTo(const BadBody& row, std::ostream* os) {
  *os << row.name;
}  // not a byte dump

const BadBody kBadBodies[] = {
    {"NotHex", "", "g\r\nhello\r\n0\r\n\r\n"},
    {"HexThenJunk", "5", "g\r\nhello\r\n0\r\n\r\n"},
    {"SeventeenDigits", "0000000000000005", "5\r\n0\r\n\r\n"},
    {"SeventeenDigitsOverflow", "FFFFFFFFFFFFFFFF", "F\r\n0\r\n\r\n"},
    {"LeadingSpace", "", " 5\r\nhello\r\n0\r\n\r\n"},
    {"LeadingTab", "", "\t5\r\nhello\r\n0\r\n\r\n"},
    {"HexPrefix", "0", "x5\r\nhello\r\n0\r\n\r\n"},
    {"Negative", "", "-5\r\nhello\r\n0\r\n\r\n"},
    {"EmptySize", "", "\r\nhello\r\n0\r\n\r\n"},
    {"TrailingSpaceInSizeLine", "5 ", "\r\nhello\r\n0\r\n\r\n"},
    {"SizeLineLfOnly", "5", "\nhello\r\n0\r\n\r\n"},
    {"SizeLineCrWithoutLf", "5\r", "hello\r\n0\r\n\r\n"},
    {"DataLongerThanSize", "5\r\nhello", "!\r\n0\r\n\r\n"},
    {"MissingCrlfAfterData", "5\r\nhello", "0\r\n\r\n"},
    {"LfOnlyAfterData", "5\r\nhello", "\n0\r\n\r\n"},
    {"CrOnlyAfterData", "5\r\nhello\r", "0\r\n\r\n"},
    {"ExtensionWithoutName", "5;", "\r\nhello\r\n0\r\n\r\n"},
    {"ExtensionEqualsWithoutValue", "5;a=", "\r\nhello\r\n0\r\n\r\n"},
    {"ExtensionTrailingBws", "5;a ", "\r\nhello\r\n0\r\n\r\n"},
    {"ExtensionBadNameChar", "5;a", "@\r\nhello\r\n0\r\n\r\n"},
    {"ExtensionBadValueChar", "5;a=b", "/\r\nhello\r\n0\r\n\r\n"},
    {"ExtensionWithoutSemicolon", "5 ", "a\r\nhello\r\n0\r\n\r\n"},
    {"ExtensionLf", "5;a", "\nhello\r\n0\r\n\r\n"},
    {"ExtensionBareCr", "5;a\r", "b\r\nhello\r\n0\r\n\r\n"},
    {"ExtensionCrInQuotes", "5;a=\"x", "\r\n\"\r\nhello\r\n0\r\n\r\n"},
    {"ExtensionCtlInQuotes", "5;a=\"", "\x01\"\r\nhello\r\n0\r\n\r\n"},
    {"ExtensionUnterminatedQuote", "5;a=\"x\\\"", "\r\nhello\r\n0\r\n\r\n"},
    {"ExtensionJunkAfterQuotes", "5;a=\"x\"", "y\r\nhello\r\n0\r\n\r\n"},
    {"LastChunkLfOnly", "0", "\n\r\n"},
    {"EndLfOnly", "0\r\n", "\n"},
    {"EndCrThenJunk", "0\r\n\r", "x"},
    {"TrailerObsFold", "0\r\nA: b\r\n", " c\r\n\r\n"},
    {"TrailerWithoutColon", "0\r\nAbc", "\r\n\r\n"},
    {"TrailerSpaceBeforeColon", "0\r\nA", " : b\r\n\r\n"},
    {"TrailerEmptyName", "0\r\n", ": b\r\n\r\n"},
    {"TrailerNulInValue", "0\r\nA: ", "\0\r\n\r\n"s},
    {"TrailerLfOnly", "0\r\nA: b", "\n\r\n"},
    {"TrailerBareCr", "0\r\nA: b\r", "c\r\n\r\n"},
};

class BadBodyTest : public ::testing::TestWithParam<BadBody> {};

TEST_P(BadBodyTest, AcceptedPartNeedsMore) {
  const BadBody& row = GetParam();
  Decoded d = decodeWhole(row.accepted);
  EXPECT_EQ(d.status, ParseStatus::NeedMore);
  EXPECT_EQ(d.consumed, row.accepted.size());
}

TEST_P(BadBodyTest, RefusedAtTheBadByteWhole) {
  const BadBody& row = GetParam();
  Decoded d = decodeWhole(row.accepted + row.rest);
  EXPECT_EQ(d.status, ParseStatus::Error);
  EXPECT_EQ(d.consumed, row.accepted.size());
}

TEST_P(BadBodyTest, RefusedAtTheBadByteOneByteAtATime) {
  const BadBody& row = GetParam();
  Decoded d = decodeByteByByte(row.accepted + row.rest);
  EXPECT_EQ(d.status, ParseStatus::Error);
  EXPECT_EQ(d.consumed, row.accepted.size());
}

INSTANTIATE_TEST_SUITE_P(Chunked, BadBodyTest, ::testing::ValuesIn(kBadBodies),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- Limits and the decoder's own state ----------------------------------------------------

constexpr size_t kLine = ChunkedDecoder::kMaxLineBytes;
constexpr size_t kTrailer = ChunkedDecoder::kMaxTrailerBytes;

TEST(ChunkedLimitsTest, SizeLineAtTheLimitIsAccepted) {
  std::string line = "1;" + std::string(kLine - 4, 'e') + "\r\n";  // kLine bytes with its CRLF
  ASSERT_EQ(line.size(), kLine);
  Decoded d = decodeWhole(line + "x\r\n0\r\n\r\n");
  EXPECT_EQ(d.status, ParseStatus::Complete);
  EXPECT_EQ(d.data, "x");
}

TEST(ChunkedLimitsTest, SizeLineOverTheLimitIsRefused) {
  std::string line = "1;" + std::string(kLine - 3, 'e') + "\r\n";
  Decoded d = decodeWhole(line + "x\r\n0\r\n\r\n");
  EXPECT_EQ(d.status, ParseStatus::Error);
  EXPECT_EQ(d.consumed, kLine);
  EXPECT_EQ(decodeByteByByte(line).consumed, kLine);
}

TEST(ChunkedLimitsTest, LimitIsPerLine) {
  std::string line = "1;" + std::string(kLine - 4, 'e') + "\r\n";
  std::string body;
  for (int i = 0; i < 3; ++i) body += line + "x\r\n";
  Decoded d = decodeWhole(body + "0\r\n\r\n");
  EXPECT_EQ(d.status, ParseStatus::Complete);
  EXPECT_EQ(d.data, "xxx");
}

TEST(ChunkedLimitsTest, TrailerAtTheLimitIsAcceptedAndOverIsRefused) {
  auto trailer = [](size_t value_bytes) {
    return "X: " + std::string(value_bytes, 'v') + "\r\n\r\n";  // value_bytes + 7 bytes
  };
  ASSERT_EQ(trailer(kTrailer - 7).size(), kTrailer);
  EXPECT_EQ(decodeWhole("0\r\n" + trailer(kTrailer - 7)).status, ParseStatus::Complete);
  Decoded d = decodeWhole("0\r\n" + trailer(kTrailer - 6));
  EXPECT_EQ(d.status, ParseStatus::Error);
  EXPECT_EQ(d.consumed, 3 + kTrailer);
}

TEST(ChunkedDecoderTest, ErrorIsStickyUntilReset) {
  ChunkedDecoder d;
  EXPECT_EQ(d.parseControl("z", 1).status, ParseStatus::Error);
  ChunkedDecoder::Step again = d.parseControl("0\r\n\r\n", 5);
  EXPECT_EQ(again.status, ParseStatus::Error);
  EXPECT_EQ(again.consumed, 0u);
  d.reset();
  ChunkedDecoder::Step ok = d.parseControl("0\r\n\r\n", 5);
  EXPECT_EQ(ok.status, ParseStatus::Complete);
  EXPECT_EQ(ok.consumed, 5u);
  EXPECT_TRUE(d.done());
}

TEST(ChunkedDecoderTest, DoneStaysDoneAndConsumesNothingMore) {
  ChunkedDecoder d;
  ASSERT_EQ(d.parseControl("0\r\n\r\n", 5).status, ParseStatus::Complete);
  ChunkedDecoder::Step again = d.parseControl("5\r\n", 3);
  EXPECT_EQ(again.status, ParseStatus::Complete);
  EXPECT_EQ(again.consumed, 0u);
}

TEST(ChunkedDecoderTest, StopsAtChunkDataAndWaitsForIt) {
  ChunkedDecoder d;
  const char stream[] = "3\r\nabc\r\n0\r\n\r\n";
  ChunkedDecoder::Step s = d.parseControl(stream, sizeof stream - 1);
  EXPECT_EQ(s.status, ParseStatus::NeedMore);
  EXPECT_EQ(s.consumed, 3u);
  EXPECT_EQ(d.dataRemaining(), 3u);
  // Control parsing is refused while data is owed, rather than reading data as framing.
  EXPECT_EQ(d.parseControl(stream + 3, 5).consumed, 0u);
  d.consumeData(2);
  EXPECT_EQ(d.dataRemaining(), 1u);
  d.consumeData(1);
  s = d.parseControl(stream + 6, sizeof stream - 7);
  EXPECT_EQ(s.status, ParseStatus::Complete);
  EXPECT_EQ(s.consumed, sizeof stream - 7);
}

TEST(ChunkedDecoderTest, LargestSizeIsAccepted) {
  ChunkedDecoder d;
  ChunkedDecoder::Step s = d.parseControl("FFFFFFFFFFFFFFFF\r\n", 18);
  EXPECT_EQ(s.status, ParseStatus::NeedMore);
  EXPECT_EQ(d.dataRemaining(), UINT64_MAX);
}

}  // namespace
}  // namespace meridian::proxy::http1

namespace meridian::proxy::http1 {
namespace {

// Trailer fields are kept as they came, whatever the split; forEachTrailer hands on those a
// proxy may pass, and writeLastChunk frames them.
TEST(ChunkedTrailers, KeptAtEverySplitAndFilteredOnTheWayOut) {
  const std::string body = "3\r\nabc\r\n0\r\nGrpc-Status: 0\r\nConnection: x\r\nX-A:  1 \r\n\r\n";
  for (size_t cut = 0; cut <= body.size(); ++cut) {
    ChunkedDecoder d;
    size_t pos = 0;
    for (size_t end : {cut, body.size()}) {
      while (pos < end && !d.done()) {
        if (d.dataRemaining() > 0) {
          size_t n = std::min<uint64_t>(d.dataRemaining(), end - pos);
          d.consumeData(n);
          pos += n;
          continue;
        }
        auto step = d.parseControl(body.data() + pos, end - pos);
        ASSERT_NE(step.status, ParseStatus::Error);
        pos += step.consumed;
        if (step.consumed == 0) break;
      }
    }
    ASSERT_TRUE(d.done()) << cut;
    EXPECT_EQ(d.trailers(), "Grpc-Status: 0\r\nConnection: x\r\nX-A:  1 \r\n") << cut;
  }
  std::vector<std::pair<std::string, std::string>> passed;
  forEachTrailer("Grpc-Status: 0\r\nConnection: x\r\nContent-Length: 3\r\nX-A:  1 \r\n",
                 [&](std::string_view n, std::string_view v) { passed.emplace_back(n, v); });
  EXPECT_EQ(passed,
            (std::vector<std::pair<std::string, std::string>>{{"Grpc-Status", "0"}, {"X-A", "1"}}));
  ChunkedDecoder none;
  auto step = none.parseControl("0\r\n\r\n", 5);
  EXPECT_EQ(step.status, ParseStatus::Complete);
  EXPECT_TRUE(none.trailers().empty());
}

}  // namespace
}  // namespace meridian::proxy::http1
