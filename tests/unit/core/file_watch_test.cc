// FileWatch on a real directory: a burst of changes is one callback, files named only are
// watched, replacement by rename and a ConfigMap-style symlink swap are seen.
#include "core/file_watch.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "tests/fakes/subprocess.h"

namespace meridian::core {
namespace {

class FileWatchTest : public ::testing::Test {
 protected:
  FileWatchTest()
      : watch_(
            loop_,
            [this] {
              ++fired_;
              loop_.stop();
            },
            Millis(50)),
        deadline_(loop_, [this] {
          timed_out_ = true;
          loop_.stop();
        }) {}

  // Runs the loop until the callback fires or `limit` passes; returns callbacks seen.
  int runFor(Millis limit) {
    timed_out_ = false;
    deadline_.arm(limit);
    loop_.run();
    deadline_.cancel();
    return fired_;
  }

  // Runs the loop for `span` and counts the callbacks in it (to prove there was none).
  int settle(Millis span) {
    Timer stop(loop_, [this] { loop_.stop(); });
    int before = fired_;
    stop.arm(span);
    // The watch's own stop() only ends one run(): keep running until the span is over.
    while (stop.armed()) loop_.run();
    return fired_ - before;
  }

  EventLoop loop_;
  FileWatch watch_;
  Timer deadline_;
  fakes::TempDir dir_{"file-watch"};
  int fired_ = 0;
  bool timed_out_ = false;
};

TEST_F(FileWatchTest, ABurstOfWritesIsOneCallback) {
  std::string cfg = dir_.write("config.yaml", "a: 1\n");
  ASSERT_TRUE(watch_.setFiles({cfg}).ok());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(fakes::writeFile(cfg, "a: " + std::to_string(i)));
  EXPECT_EQ(runFor(Millis(5000)), 1);
  EXPECT_FALSE(timed_out_);
  EXPECT_EQ(settle(Millis(200)), 0) << "one burst, one callback";
}

TEST_F(FileWatchTest, OtherFilesInTheDirectoryAreIgnored) {
  std::string cfg = dir_.write("config.yaml", "a: 1\n");
  ASSERT_TRUE(watch_.setFiles({cfg}).ok());
  dir_.write("unrelated.txt", "x");
  EXPECT_EQ(settle(Millis(300)), 0);
  dir_.write("config.yaml", "a: 2\n");  // temp file + rename, as editors do
  EXPECT_EQ(runFor(Millis(5000)), 1);
}

TEST_F(FileWatchTest, AMissingFileIsSeenWhenItAppears) {
  ASSERT_TRUE(watch_.setFiles({dir_.file("cert.pem")}).ok());
  dir_.write("cert.pem", "pem");
  EXPECT_EQ(runFor(Millis(5000)), 1);
}

TEST_F(FileWatchTest, RecomputingTheSetDropsOldFiles) {
  std::string a = dir_.write("a.yaml", "1");
  std::string b = dir_.write("b.yaml", "1");
  ASSERT_TRUE(watch_.setFiles({a}).ok());
  ASSERT_TRUE(watch_.setFiles({b}).ok());
  EXPECT_EQ(watch_.watched().size(), 1u);
  dir_.write("a.yaml", "2");
  EXPECT_EQ(settle(Millis(300)), 0);
  dir_.write("b.yaml", "2");
  EXPECT_EQ(runFor(Millis(5000)), 1);
}

// Kubernetes mounts a ConfigMap as `config.yaml -> ..data/config.yaml`, `..data -> ..v1`, and
// updates it by writing `..v2` and renaming a new `..data` link over the old one.
TEST_F(FileWatchTest, AConfigMapSymlinkSwapIsSeen) {
  ASSERT_EQ(::mkdir(dir_.file("..v1").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir(dir_.file("..v2").c_str(), 0700), 0);
  ASSERT_TRUE(fakes::writeFile(dir_.file("..v1/config.yaml"), "a: 1\n"));
  ASSERT_TRUE(fakes::writeFile(dir_.file("..v2/config.yaml"), "a: 2\n"));
  ASSERT_EQ(::symlink("..v1", dir_.file("..data").c_str()), 0);
  ASSERT_EQ(::symlink("..data/config.yaml", dir_.file("config.yaml").c_str()), 0);
  ASSERT_TRUE(watch_.setFiles({dir_.file("config.yaml")}).ok());
  EXPECT_TRUE(watch_.watched().count({dir_.path(), "..data"})) << "the swapped link is watched";
  ASSERT_EQ(::symlink("..v2", dir_.file("..data_tmp").c_str()), 0);
  ASSERT_EQ(::rename(dir_.file("..data_tmp").c_str(), dir_.file("..data").c_str()), 0);
  EXPECT_EQ(runFor(Millis(5000)), 1);
}

}  // namespace
}  // namespace meridian::core
