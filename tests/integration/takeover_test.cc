// Zero-downtime binary upgrade: a new process takes the listening sockets over from the
// running one (SIGUSR2, or `run --takeover PIDFILE`) while clients keep connecting.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

using Clock = std::chrono::steady_clock;

bool processGone(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  size_t close = line.rfind(')');
  return close == std::string::npos || line.substr(close + 2, 1) == "Z";  // a zombie is gone
}

// A successor started by the old process is not our child: stop it by pid at the end.
struct Successor {
  pid_t pid = -1;
  ~Successor() {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    auto deadline = Clock::now() + milliseconds(5000);
    while (!processGone(pid) && Clock::now() < deadline)
      std::this_thread::sleep_for(milliseconds(20));
    if (!processGone(pid)) ::kill(pid, SIGKILL);
  }
};

class TakeoverTest : public ProxyTest {
 protected:
  std::string pidFile() const { return proxy_.dir() + "/meridian.pid"; }
  ::testing::AssertionResult startWithPidFile() {
    MeridianProcess::Options o;
    o.extraArgs = {"--pid-file", pidFile()};
    return proxy_.start(configYaml("", "", 2), o);
  }

  // Clients opening a new connection per request, from before the upgrade to after it.
  void startClients() {
    for (int i = 0; i < 2; ++i) {
      clients_.emplace_back([this] {
        while (!stop_) (freshConnectionGet(port_) == 200 ? ok_ : bad_)++;
      });
    }
  }
  void stopClients() {
    stop_ = true;
    for (auto& t : clients_) t.join();
    clients_.clear();
  }
  void TearDown() override {
    if (!clients_.empty()) stopClients();
  }

  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0}, bad_{0};
  std::vector<std::thread> clients_;
};

TEST_F(TakeoverTest, SigUsr2UpgradesWithoutARefusedConnection) {
  ASSERT_TRUE(startWithPidFile());
  port_ = port();
  pid_t old_pid = proxy_.pid();
  EXPECT_EQ(std::stoi(fakes::readFile(pidFile())), old_pid);
  startClients();
  auto warm = Clock::now() + kWait;
  while (ok_ < 50 && Clock::now() < warm) std::this_thread::sleep_for(milliseconds(10));
  ASSERT_TRUE(proxy_.signal(SIGUSR2));
  ASSERT_TRUE(proxy_.waitExit(kWait)) << "the old process drains and exits";
  EXPECT_EQ(proxy_.exitCode(), 0);
  Successor next;
  fakes::ReadyInfo info;
  auto deadline = Clock::now() + kWait;
  while (Clock::now() < deadline) {
    if (fakes::parseReadyFile(fakes::readFile(proxy_.dir() + "/ready.json"), info) &&
        info.pid != old_pid)
      break;
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_NE(info.pid, old_pid) << "the new process wrote the ready file";
  next.pid = info.pid;
  EXPECT_EQ(fakes::portOf(info.listeners["public"]), port_) << "the same sockets";
  EXPECT_EQ(fakes::portOf(info.admin), proxy_.adminPort());
  int before = ok_;
  deadline = Clock::now() + kWait;
  while (ok_ < before + 50 && Clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(10));
  stopClients();
  EXPECT_EQ(bad_.load(), 0) << "refused, reset or non-2xx during the upgrade";
  EXPECT_GT(ok_.load(), 100);
  EXPECT_FALSE(processGone(next.pid));
  EXPECT_EQ(std::stoi(fakes::readFile(pidFile())), next.pid);
  auto cfg = curl({proxy_.adminUrl("/config")});
  EXPECT_NE(cfg.out.find("\"generation\""), std::string::npos) << cfg.describe();
  EXPECT_EQ(freshConnectionGet(port_), 200);
}

TEST_F(TakeoverTest, RunTakeoverHandsOverAndTheOldOneExits) {
  upstream_.enqueue(Action::respond(200, {}, "slow but whole").withDelay(milliseconds(800)));
  ASSERT_TRUE(startWithPidFile());
  port_ = port();
  TcpClient busy;
  ASSERT_TRUE(busy.connect(port_));
  ASSERT_TRUE(busy.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_TRUE(upstream_.waitForRequests(1, kWait));
  MeridianProcess next;
  MeridianProcess::Options o;
  o.extraArgs = {"--takeover", pidFile(), "--pid-file", pidFile()};
  ASSERT_TRUE(next.start(configYaml("", "", 2), o));
  EXPECT_EQ(next.listenerPort("public"), port_);
  HttpResponse r;
  ASSERT_TRUE(busy.readResponse(r, kWait));
  EXPECT_EQ(r.body, "slow but whole") << "the old process finished its request in flight";
  ASSERT_TRUE(proxy_.waitExit(kWait));
  EXPECT_EQ(proxy_.exitCode(), 0);
  EXPECT_EQ(freshConnectionGet(port_), 200);
  EXPECT_EQ(std::stoi(fakes::readFile(pidFile())), next.pid());
}

TEST_F(TakeoverTest, AFailedTakeoverLeavesTheOldProcessServing) {
  ASSERT_TRUE(startWithPidFile());
  port_ = port();
  // The successor's config adds a listener on a port it cannot bind: it must give up.
  fakes::HeldPort holder;
  ASSERT_TRUE(holder.open());
  std::string y = configYaml("", "", 2);
  y.insert(y.find("admin:"),
           "  - { name: clash, address: 127.0.0.1:" + std::to_string(holder.port()) + " }\n");
  fakes::TempDir dir("takeover-fail");
  dir.write("config.yaml", y);
  auto r = fakes::runCommand(
      {fakes::meridianBinary(), "run", "-c", dir.file("config.yaml"), "--takeover", pidFile()},
      milliseconds(20000));
  holder.close();
  EXPECT_EQ(r.exitCode, 1) << r.describe();
  EXPECT_TRUE(proxy_.running());
  EXPECT_FALSE(proxy_.exited());
  EXPECT_EQ(freshConnectionGet(port_), 200);
  EXPECT_TRUE(proxy_.waitForOutput("did not take over", kWait));
  // Nothing behind the pid file: an error, and nothing changes.
  auto none = fakes::runCommand({fakes::meridianBinary(), "run", "-c", dir.file("config.yaml"),
                                 "--takeover", dir.file("missing.pid")},
                                milliseconds(20000));
  EXPECT_EQ(none.exitCode, 1) << none.describe();
  EXPECT_NE(none.err.find("takeover"), std::string::npos) << none.err;
  EXPECT_EQ(freshConnectionGet(port_), 200);
}

}  // namespace
}  // namespace meridian::integration
