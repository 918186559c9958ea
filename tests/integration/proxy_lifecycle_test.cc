// The process as an operator sees it: validate, readiness, graceful drain that loses no
// in-flight request, and 100 MiB bodies streamed both ways in flat memory.
#include <signal.h>

#include <fstream>

#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

// VmHWM: the peak resident set of a process, in KiB.
long peakRssKiB(pid_t pid) {
  return procStatusKiB(pid, "VmHWM");
}

TEST_F(ProxyTest, ValidateReportsEveryErrorWithLineAndColumn) {
  auto ok = fakes::runValidate(configYaml());
  EXPECT_EQ(ok.exitCode, 0) << ok.output();
  EXPECT_EQ(ok.out, "ok\n");
  auto bad = fakes::runValidate(
      "listeners:\n  - { name: p, address: 127.0.0.1:0, bogus: 1 }\n"
      "routes:\n  - name: r\n    backends: [ { cluster: nope } ]\n");
  EXPECT_EQ(bad.exitCode, 1);
  EXPECT_NE(bad.out.find(bad.configPath + ":2:"), std::string::npos) << bad.output();
  EXPECT_NE(bad.out.find("bogus"), std::string::npos) << bad.output();
  EXPECT_NE(bad.out.find("nope"), std::string::npos) << bad.output();
}

TEST_F(ProxyTest, RunRefusesAnInvalidConfig) {
  auto r = fakes::runCommand({fakes::meridianBinary(), "run", "-c", "/nonexistent/meridian.yaml"},
                             milliseconds(10000));
  EXPECT_EQ(r.exitCode, 1) << r.describe();
  EXPECT_NE(r.err.find("/nonexistent/meridian.yaml"), std::string::npos) << r.err;
}

TEST_F(ProxyTest, AdminHealthAndReadiness) {
  ASSERT_TRUE(startProxy());
  EXPECT_EQ(curl({proxy_.adminUrl("/healthz")}).out, "ok\n");
  EXPECT_EQ(curl({proxy_.adminUrl("/ready")}).out, "ready\n");
  EXPECT_EQ(curl({"-o", "/dev/null", "-w", "%{http_code}", proxy_.adminUrl("/nope")}).out, "404");
}

TEST_F(ProxyTest, SigtermDrainsInFlightRequestsThenExits) {
  upstream_.enqueue(Action::respond(200, {}, "slow but whole").withDelay(milliseconds(800)));
  ASSERT_TRUE(startProxy());
  TcpClient c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(c.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  ASSERT_TRUE(proxy_.signal(SIGTERM));
  HttpResponse r;
  ASSERT_TRUE(c.readResponse(r, kWait));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "slow but whole");
  EXPECT_EQ(r.header("connection"), "close");  // the client learns not to reuse it
  ASSERT_TRUE(proxy_.waitExit(kWait));
  EXPECT_EQ(proxy_.exitCode(), 0);
  // Listeners are gone: new connections are refused.
  TcpClient late;
  EXPECT_FALSE(late.connect(port(), milliseconds(1000)));
}

TEST_F(ProxyTest, HundredMiBDownloadStreamsInFlatMemory) {
  constexpr uint64_t kSize = 100ull << 20;
  upstream_.enqueue(Action::stream(kSize));
  ASSERT_TRUE(startProxy());
  auto r = curl({"-o", "/dev/null", "-w", "%{http_code} %{size_download}", url("/big")});
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  EXPECT_EQ(r.out, "200 " + std::to_string(kSize));
  long peak = peakRssKiB(proxy_.pid());
  EXPECT_GT(peak, 0);
  if (kCheckMemory) {
    EXPECT_LT(peak, 48 * 1024) << "peak RSS " << peak << " KiB: body buffered";
  }
}

TEST_F(ProxyTest, HundredMiBUploadStreamsInFlatMemory) {
  constexpr uint64_t kSize = 100ull << 20;
  ASSERT_TRUE(startProxy());
  fakes::TempDir dir("upload");
  {
    std::ofstream f(dir.file("body"), std::ios::binary);
    std::string block = fakes::patternBytes(0, 1 << 20);
    for (uint64_t i = 0; i < kSize >> 20; ++i)
      f.write(block.data(), static_cast<long>(block.size()));
  }
  for (bool chunked : {false, true}) {
    std::vector<std::string> args = {"-o",           "/dev/null",     "-w",
                                     "%{http_code}", "--data-binary", "@" + dir.file("body"),
                                     url("/up")};
    if (chunked) args.insert(args.begin(), {"-H", "Transfer-Encoding: chunked"});
    auto r = curl(args);
    ASSERT_EQ(r.exitCode, 0) << r.describe();
    EXPECT_EQ(r.out, "200");
  }
  ASSERT_TRUE(upstream_.waitForRequests(2, kWait));
  EXPECT_EQ(upstream_.request(0).bodyBytes, kSize);
  EXPECT_EQ(upstream_.request(1).bodyBytes, kSize);
  EXPECT_TRUE(upstream_.request(1).chunked);
  long peak = peakRssKiB(proxy_.pid());
  if (kCheckMemory) {
    EXPECT_LT(peak, 48 * 1024) << "peak RSS " << peak << " KiB: body buffered";
  }
}

}  // namespace
}  // namespace meridian::integration
