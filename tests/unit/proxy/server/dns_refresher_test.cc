// DnsRefresher's thread while the names change under it. Meaningful under the sanitizers: the
// thread waits for the earliest name's due time, and watch() may replace that name meanwhile.
#include <gtest/gtest.h>

#include "core/event_loop.h"
#include "proxy/server/dns_endpoints.h"

namespace meridian::proxy {
namespace {

// Names already answered are next due after their refresh (10 s): the thread only waits. Each
// watch() replaces the name it waits for; the wait must not read the replaced entry.
TEST(DnsRefresher, NamesReplacedWhileTheThreadWaitsForOne) {
  core::EventLoop loop;
  DnsRefresher refresher(loop, [](const std::string&, const core::DnsAnswer&) {});
  DnsNames answered;
  for (const char* host : {"a.test", "b.test"}) {
    DnsName& n = answered[host];
    n.addresses = {"10.0.0.1"};
    n.resolved_once = true;
    n.resolutions = 1;
    n.ttl = std::chrono::seconds(60);
  }
  for (int i = 0; i < 2000; ++i) {
    const char* host = i % 2 ? "a.test" : "b.test";
    refresher.watch({{host, config::Duration(10000)}}, answered, {});
  }
}

}  // namespace
}  // namespace meridian::proxy
