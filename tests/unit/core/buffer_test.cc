#include "core/buffer.h"

#include <gtest/gtest.h>

#include <string>

namespace meridian::core {
namespace {

std::string contents(Buffer& b) {
  return std::string(b.pullup(b.size()), b.size());
}

// A buffer built from many separate appends and moves spans several chunks.
void fillInPieces(Buffer& b, const std::string& text, size_t piece) {
  for (size_t i = 0; i < text.size(); i += piece) {
    Buffer part;
    part.append(text.substr(i, piece));
    b.moveAllFrom(part);
  }
}

TEST(BufferCopyRange, CopiesAnyRangeAcrossChunksAndLeavesTheSourceAlone) {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += static_cast<char>('a' + i % 26);
  Buffer src;
  fillInPieces(src, text, 37);
  struct Case {
    size_t offset, n;
  } cases[] = {{0, 0}, {0, 1}, {0, 5000}, {36, 2}, {100, 1000}, {4999, 1}, {1, 4999}};
  for (const auto& c : cases) {
    Buffer to;
    to.append("x");
    src.copyRangeTo(c.offset, c.n, to);
    EXPECT_EQ(contents(to), "x" + text.substr(c.offset, c.n)) << c.offset << "+" << c.n;
  }
  EXPECT_EQ(contents(src), text);
}

TEST(BufferCopyRange, OutOfRangeCopiesWhatExists) {
  Buffer src;
  src.append("hello");
  Buffer to;
  src.copyRangeTo(3, 100, to);
  EXPECT_EQ(contents(to), "lo");
  Buffer none;
  src.copyRangeTo(10, 1, none);
  EXPECT_TRUE(none.empty());
  Buffer empty_src;
  empty_src.copyRangeTo(0, 5, none);
  EXPECT_TRUE(none.empty());
}

}  // namespace
}  // namespace meridian::core
