// readRegularFile / checkRegularFile: regular files within the cap are read whole; a FIFO, a
// device, a directory or a file over the cap is refused at once with the reason, never read.
#include "core/file_read.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "tests/fakes/subprocess.h"

namespace meridian::core {
namespace {

constexpr FileLimit kSmall{1024, "a test file"};

std::string why(const Result<std::string>& r) {
  return r.ok() ? "(read " + std::to_string(r.value().size()) + " bytes)" : r.error().detail;
}

TEST(ReadRegularFile, ReadsAWholeFileWithinTheCap) {
  fakes::TempDir dir("file_read");
  std::string exact(1024, 'x');
  auto r = readRegularFile(dir.write("exact", exact), kSmall);
  ASSERT_TRUE(r.ok()) << why(r);
  EXPECT_EQ(r.value(), exact);
  auto empty = readRegularFile(dir.write("empty", ""), kSmall);
  ASSERT_TRUE(empty.ok()) << why(empty);
  EXPECT_EQ(empty.value(), "");
}

TEST(ReadRegularFile, RefusesAFileOverTheCapSayingTheCap) {
  fakes::TempDir dir("file_read");
  auto r = readRegularFile(dir.write("big", std::string(1025, 'x')), kSmall);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::ConfigInvalid);
  EXPECT_EQ(why(r), "too large: more than 1 KiB (the limit for a test file)");
  auto c = checkRegularFile(dir.file("big"), kSmall);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().detail, "too large: more than 1 KiB (the limit for a test file)");
}

// The bug: /dev/zero was read until memory ran out, a FIFO blocked the reader for good.
TEST(ReadRegularFile, RefusesFifosAndDevicesWithoutBlockingOrReading) {
  fakes::TempDir dir("file_read");
  std::string fifo = dir.file("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(why(readRegularFile(fifo, kSmall)), "not a regular file (a FIFO)");
  EXPECT_EQ(why(readRegularFile("/dev/zero", kSmall)), "not a regular file (a character device)");
  EXPECT_EQ(why(readRegularFile("/dev/null", kSmall)), "not a regular file (a character device)");
  auto c = checkRegularFile(fifo, kSmall);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().detail, "not a regular file (a FIFO)");
}

TEST(ReadRegularFile, MissingFilesAndDirectoriesSayWhy) {
  fakes::TempDir dir("file_read");
  EXPECT_EQ(why(readRegularFile(dir.file("missing"), kSmall)),
            "cannot read: No such file or directory");
  EXPECT_EQ(why(readRegularFile(dir.path(), kSmall)), "cannot read: Is a directory");
}

TEST(CheckRegularFile, ReturnsTheSizeOfAGoodFile) {
  fakes::TempDir dir("file_read");
  auto c = checkRegularFile(dir.write("seven", "1234567"), kSmall);
  ASSERT_TRUE(c.ok()) << c.error().detail;
  EXPECT_EQ(c.value(), 7u);
}

TEST(SizeText, LargestExactBinaryUnit) {
  EXPECT_EQ(sizeText(8 * kMiB), "8 MiB");
  EXPECT_EQ(sizeText(512 * kMiB), "512 MiB");
  EXPECT_EQ(sizeText(1ull << 30), "1 GiB");
  EXPECT_EQ(sizeText(1536), "1536 bytes");
  EXPECT_EQ(sizeText(2048), "2 KiB");
  EXPECT_EQ(sizeText(1), "1 byte");
}

}  // namespace
}  // namespace meridian::core
