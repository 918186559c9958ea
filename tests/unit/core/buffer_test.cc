#include "core/buffer.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

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

namespace meridian::core {
namespace {

// Reads land in pooled blocks: small ones are copied, large ones linked in; either way the
// bytes come out in order, through moves between buffers and partial drains, and every block
// goes back (ASan would see a block used after it went back, or one never freed).
TEST(BufferReadBlock, SmallAndLargeAppendsKeepTheirBytesInOrder) {
  std::string want;
  Buffer a;
  for (size_t n : {size_t{0}, size_t{10}, size_t{900}, size_t{901}, Buffer::kReadBlockSize, size_t{5}}) {
    Buffer::ReadBlock block = Buffer::takeReadBlock();
    for (size_t i = 0; i < n; ++i) block.data[i] = static_cast<char>('a' + (want.size() + i) % 26);
    want.append(block.data, n);
    a.appendBlock(block, n);
  }
  ASSERT_EQ(a.size(), want.size());
  Buffer b;
  b.moveFrom(a, 1000);  // part of the second linked block moves
  a.drain(3);
  std::string got(b.size() + a.size(), '\0');
  size_t first = b.copyOut(got.data(), b.size());
  a.copyOut(got.data() + first, a.size());
  EXPECT_EQ(got.substr(0, 1000), want.substr(0, 1000));
  EXPECT_EQ(got.substr(1000), want.substr(1003));
  b.clear();
  b.release();
  EXPECT_EQ(std::string_view(a.pullup(a.size()), a.size()), want.substr(1003));
}

TEST(BufferReadBlock, ReadFromASocketUsesBlocks) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  std::string big(40000, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('0' + i % 10);
  ASSERT_EQ(::send(fds[0], big.data(), big.size(), 0), static_cast<ssize_t>(big.size()));
  Buffer in;
  while (in.size() < big.size()) {
    ssize_t n = in.readFrom(fds[1], Buffer::kReadBlockSize);
    ASSERT_GT(n, 0);
  }
  EXPECT_EQ(std::string_view(in.pullup(in.size()), in.size()), big);
  ::close(fds[0]);
  EXPECT_EQ(in.readFrom(fds[1], Buffer::kReadBlockSize), 0);  // EOF
  ::close(fds[1]);
}

// More than a block's worth: one readv into several pooled blocks, the bytes in order, and
// never more than asked (a limit that is not a whole number of blocks included).
TEST(BufferReadBlock, ALargeReadFillsSeveralBlocksInOrderAndKeepsToItsLimit) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  int sndbuf = 1 << 20;
  setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  std::string big(100000, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  ASSERT_EQ(::send(fds[0], big.data(), big.size(), 0), static_cast<ssize_t>(big.size()));
  Buffer in;
  EXPECT_EQ(in.readFrom(fds[1], 20000), 20000);  // a block and a part of the next
  EXPECT_EQ(in.readFrom(fds[1], 10 * Buffer::kReadBlockSize),
            static_cast<ssize_t>(Buffer::kMaxReadBlocks * Buffer::kReadBlockSize));
  while (in.size() < big.size()) ASSERT_GT(in.readFrom(fds[1], 4 * Buffer::kReadBlockSize), 0);
  EXPECT_EQ(std::string_view(in.pullup(in.size()), in.size()), big);
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace meridian::core
