// `meridian demo`, as a new user meets it: every command it prints is run (through bash, as
// pasted) and must do what its comment says: geo routing, explain, replay to the primary,
// HTTPS with the dev certificate, HTTP/2, failover and recovery, blue-green, refused framing,
// no route, metrics. A printed command this test does not know fails it.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <functional>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

using Clock = std::chrono::steady_clock;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The commands of the demo's "Try:" text: indented lines that are not comments.
std::vector<std::string> printedCommands(const std::string& out) {
  std::vector<std::string> commands;
  std::istringstream in(out.substr(std::min(out.find("Try:"), out.size())));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("  ", 0) != 0) continue;
    size_t start = line.find_first_not_of(' ');
    if (start == std::string::npos || line[start] == '#') continue;
    commands.push_back(line.substr(start));
  }
  return commands;
}

class DemoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MeridianProcess::Options options;
    options.command = {"demo"};
    ASSERT_TRUE(demo_.start("", options));
    // The ready file comes first, then the commands are printed.
    ASSERT_TRUE(demo_.waitForOutput("Ctrl-C drains and exits.", kWait));
    commands_ = printedCommands(demo_.stdoutText());
  }

  // One printed command, pasted into bash.
  static fakes::CommandResult run(const std::string& command) {
    return fakes::runCommand({"bash", "-c", command}, milliseconds(30000));
  }

  // Runs `command` until its output satisfies `ok` (the demo's health checks take seconds).
  static ::testing::AssertionResult eventually(const std::string& command,
                                               const std::function<bool(const std::string&)>& ok,
                                               milliseconds timeout = milliseconds(15000)) {
    auto deadline = Clock::now() + timeout;
    std::string out;
    while (Clock::now() < deadline) {
      out = run(command).out;
      if (ok(out)) return ::testing::AssertionSuccess();
      std::this_thread::sleep_for(milliseconds(100));  // poll interval, bounded by the deadline
    }
    return ::testing::AssertionFailure() << command << "\nlast output:\n" << out;
  }

  void check(const std::string& command);
  void checkReplay(const std::string& command);
  void checkCanary(const std::string& command);

  MeridianProcess demo_;
  std::vector<std::string> commands_;
  std::string paris_;  // the command that sends a Paris client to the proxy
  bool ams_down_ = false;
  int checked_ = 0;
};

void DemoTest::checkReplay(const std::string& command) {
  auto r = run(command);
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  std::string out = lower(r.out);
  EXPECT_EQ(out.rfind("http/1.1 200", 0), 0u) << r.out;
  EXPECT_NE(out.find("meridian-region: iad"), std::string::npos) << r.out;
  EXPECT_NE(out.find("set-cookie: meridian-pin=iad:"), std::string::npos) << r.out;
  EXPECT_EQ(out.find("meridian-replay:"), std::string::npos) << r.out;  // never to the client
  EXPECT_NE(r.out.find("hello from iad (blue), the primary: wrote 10 bytes; "
                       "meridian-replay-src: region=ams;state=ams-replica;t="),
            std::string::npos)
      << r.out;
}

void DemoTest::checkCanary(const std::string& command) {
  auto r = run(command);
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_TRUE(std::regex_match(r.out, std::regex("(hello from ams \\((blue|green)\\)\n){6}")))
      << r.out;
  // Split 50/50: both colours show up (six draws all alike happen 1 time in 32: run again).
  EXPECT_TRUE(eventually(command, [](const std::string& out) {
    return out.find("(blue)") != std::string::npos && out.find("(green)") != std::string::npos;
  }));
}

void DemoTest::check(const std::string& command) {
  SCOPED_TRACE(command);
  ++checked_;
  auto has = [&](const char* s) { return command.find(s) != std::string::npos; };
  auto output = [](const std::string& c) {
    auto r = run(c);
    EXPECT_EQ(r.exitCode, 0) << r.describe();
    return r.out;
  };
  if (has("/explain?")) {
    auto j = nlohmann::json::parse(output(command), nullptr, false);
    ASSERT_TRUE(j.is_object());
    EXPECT_EQ(j["route"], "app");
    EXPECT_EQ(j["client"]["country"], "FR");
    EXPECT_EQ(j["chosen"], "ams");
  } else if (has("-X POST")) {
    checkReplay(command);
  } else if (has("--http2")) {
    EXPECT_EQ(output(command), "hello from ams (blue)\nHTTP/2\n");
  } else if (has("--http1.1") && has("--cacert") && has("https://")) {
    EXPECT_EQ(output(command), "hello from ams (blue)\nHTTP/1.1\n");
  } else if (has("/demo/down")) {
    EXPECT_EQ(output(command), "ams (blue) now answers its health checks with 503\n");
    ams_down_ = true;
  } else if (has("/demo/up")) {
    EXPECT_EQ(output(command), "ams (blue) now answers its health checks with 200\n");
    ams_down_ = false;
    ASSERT_FALSE(paris_.empty());
    EXPECT_TRUE(eventually(
        paris_, [](const std::string& out) { return out == "hello from ams (blue)\n"; }));
  } else if (has("x-forwarded-for: 203.0.113.7")) {
    paris_ = command;
    if (ams_down_) {  // fails over once two checks have failed
      EXPECT_TRUE(eventually(
          command, [](const std::string& out) { return out == "hello from iad (blue)\n"; }));
    } else {
      EXPECT_EQ(output(command), "hello from ams (blue)\n");
    }
  } else if (has("x-forwarded-for: 198.51.100.7")) {
    EXPECT_EQ(output(command), "hello from iad (blue)\n");
  } else if (has("x-forwarded-for: 192.0.2.7")) {
    EXPECT_EQ(output(command), "hello from sin (blue)\n");
  } else if (has("/regions")) {
    auto j = nlohmann::json::parse(output(command), nullptr, false);
    ASSERT_TRUE(j.is_object());
    for (const char* region : {"ams", "iad", "sin"})
      EXPECT_TRUE(j["clusters"]["web-blue"].contains(region)) << region;
  } else if (has("/canary")) {
    checkCanary(command);
  } else if (has("| nc ")) {
    EXPECT_EQ(output(command).rfind("HTTP/1.1 400 ", 0), 0u);
  } else if (has("Host: other.example")) {
    std::string out = lower(output(command));
    EXPECT_EQ(out.rfind("http/1.1 404 ", 0), 0u) << out;
    EXPECT_NE(out.find("meridian-error: no_route"), std::string::npos) << out;
  } else if (has("/metrics")) {
    std::string out = output(command);
    EXPECT_NE(out.find("meridian_requests_total{"), std::string::npos) << out;
    EXPECT_NE(out.find("meridian_replays_total{"), std::string::npos) << out;
    EXPECT_NE(out.find("meridian_upstream_healthy{"), std::string::npos) << out;
  } else {
    --checked_;
    ADD_FAILURE() << "a printed command this test does not check";
  }
}

TEST_F(DemoTest, EveryPrintedCommandDoesWhatItSays) {
  ASSERT_GE(commands_.size(), 15u) << demo_.stdoutText();
  for (const std::string& command : commands_) check(command);
  EXPECT_EQ(checked_, static_cast<int>(commands_.size()));
}

TEST_F(DemoTest, ShowsReplayHttpsAndHttp2) {
  auto any = [&](const char* needle) {
    return std::any_of(commands_.begin(), commands_.end(),
                       [&](const std::string& c) { return c.find(needle) != std::string::npos; });
  };
  EXPECT_TRUE(any("-X POST")) << demo_.stdoutText();
  EXPECT_TRUE(any("https://")) << demo_.stdoutText();
  EXPECT_TRUE(any("--http2")) << demo_.stdoutText();
  EXPECT_TRUE(any("&host=")) << demo_.stdoutText();
}

TEST_F(DemoTest, CtrlCDrainsExitsAndRemovesTheDemoCertificates) {
  std::string out = demo_.stdoutText();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("--cacert (\\S+)/ca\\.pem"))) << out;
  std::string dir = m[1];
  EXPECT_FALSE(fakes::readFile(dir + "/ca.pem").empty());
  ASSERT_TRUE(demo_.signal(SIGINT));
  ASSERT_TRUE(demo_.waitExit(kWait));
  EXPECT_EQ(demo_.exitCode(), 0);
  EXPECT_TRUE(fakes::readFile(dir + "/ca.pem").empty()) << dir;
}

// scripts/demo builds the binary alone into its own directory: building every test first kept
// a new user waiting more than ten minutes before the demo started.
TEST(DemoScript, BuildsOnlyTheMeridianBinary) {
  std::string script = fakes::readFile(std::string(MERIDIAN_SOURCE_DIR) + "/scripts/demo");
  ASSERT_FALSE(script.empty());
  EXPECT_NE(script.find("-DMERIDIAN_TESTS=OFF"), std::string::npos) << script;
  EXPECT_NE(script.find("--target meridian"), std::string::npos) << script;
  EXPECT_EQ(script.find("scripts/build"), std::string::npos) << script;  // builds everything
  EXPECT_EQ(script.find("-B build "), std::string::npos) << script;      // scripts/test's directory
}

}  // namespace
}  // namespace meridian::integration
