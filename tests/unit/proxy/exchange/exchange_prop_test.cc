// Properties of the Exchange itself, with real sockets: three regions (ams, fra, iad: the
// order from the listener's region; iad, the last, has two endpoints), each endpoint one that
// answers 200, answers 503, resets, or refuses connections, under a random health snapshot (which may be stale: a dead endpoint
// still marked healthy), and one random request (GET, PUT or POST, with or without an
// Idempotency-Key, with a body or not) under a random max_attempts. Checked:
//  - no request is attempted (sent or connected to) more than max_attempts times;
//  - a request that is not replayable is never sent twice;
//  - an unhealthy endpoint gets nothing, however the others fail;
//  - a replayable request with attempts enough for every region fails only when no healthy
//    region could answer it; with no healthy region at all it is a 503, sent nowhere.
// Bounded by tests/unit/prop_params.h.
#include <rapidcheck.h>

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "tests/fakes/dead_ports.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/unit/prop_params.h"
#include "tests/unit/proxy/exchange/exchange_fakes.h"

namespace meridian::proxy::exchange_test {
namespace {

using fakes::Action;
using fakes::FakeUpstream;

enum class Kind { Ok, Fail503, Reset, Dead };

struct Case {
  std::vector<Kind> kinds;      // ams, fra, iad, iad
  std::vector<bool> healthy;    // in the snapshot
  std::string method;
  bool key = false;
  int max_attempts = 3;
};

void showValue(const Case& c, std::ostream& os) {
  static const char* kNames[] = {"ok", "503", "reset", "dead"};
  os << "{";
  for (size_t i = 0; i < c.kinds.size(); ++i)
    os << (i ? ", " : "") << kNames[static_cast<int>(c.kinds[i])]
       << (c.healthy[i] ? "" : " (unhealthy)");
  os << "; " << c.method << (c.key ? " with key" : "") << ", max_attempts " << c.max_attempts
     << "}";
}

// One region's endpoint as the case says.
struct Slot {
  std::unique_ptr<FakeUpstream> up;
  fakes::RefusedPort dead;
  std::string address;
  size_t sent() const { return up ? up->requestCount() : 0; }
};

MERIDIAN_PROP(ExchangeProp, AttemptsReplaysAndHealthAcrossFailingRegions, ()) {
  Case c;
  c.kinds = *rc::gen::container<std::vector<Kind>>(
      4, rc::gen::element(Kind::Ok, Kind::Fail503, Kind::Reset, Kind::Dead));
  c.healthy = *rc::gen::container<std::vector<bool>>(4, rc::gen::arbitrary<bool>());
  c.method = *rc::gen::element<std::string>("GET", "PUT", "POST");
  c.key = *rc::gen::arbitrary<bool>();
  c.max_attempts = *rc::gen::inRange(1, 6);
  showValue(c, RC_LOG());  // printed with a failing case, after its shrinking

  std::vector<Slot> slots(4);
  for (size_t i = 0; i < 4; ++i) {
    if (c.kinds[i] == Kind::Dead) {
      RC_ASSERT(static_cast<bool>(slots[i].dead.open()));
      slots[i].address = slots[i].dead.address();
      continue;
    }
    slots[i].up = std::make_unique<FakeUpstream>();
    Kind k = c.kinds[i];
    slots[i].up->setHandler([k](const fakes::ReceivedRequest&) {
      if (k == Kind::Fail503) return Action::respond(503, {}, "busy");
      if (k == Kind::Reset) return Action::reset();
      return Action::respond(200, {}, "ok");
    });
    slots[i].address = slots[i].up->address();
  }
  RouteSpec spec;
  spec.replay = "{ max_attempts: " + std::to_string(c.max_attempts) +
                ", backoff: { base: 1ms, max: 1ms } }";
  FakeExchangeHost host(exchangeConfig(
      {{"ams", slots[0].address},
       {"fra", slots[1].address},
       {"iad", slots[2].address},
       {"iad", slots[3].address}},
      spec));
  std::vector<std::vector<health::EndpointHealth>> eps(1, std::vector<health::EndpointHealth>(4));
  for (size_t i = 0; i < 4; ++i) eps[0][i].healthy = c.healthy[i];
  host.setHealth(eps);

  FakeClientSide client(host);
  std::string req = c.method + " / HTTP/1.1\r\nHost: app.test\r\n";
  if (c.key) req += "Idempotency-Key: " + uniqueKey() + "\r\n";
  req += c.method == "GET" ? "\r\n" : "Content-Length: 5\r\n\r\nhello";
  client.startRequest(req);
  RC_ASSERT(static_cast<bool>(host.runUntil("answer", [&] { return client.finished(); })));
  const int status = client.errorStatus() != 0 ? client.errorStatus() : client.view().status;

  size_t sends = 0;
  for (const auto& s : slots) sends += s.sent();
  const size_t connects_failed = host.outcomesOf(health::Outcome::ConnectFailure);
  RC_ASSERT(static_cast<int>(sends + connects_failed) <= c.max_attempts);
  const bool replayable = c.method != "POST" || c.key;
  if (!replayable) RC_ASSERT(sends <= 1u);
  for (size_t i = 0; i < 4; ++i) {
    if (c.healthy[i]) continue;
    RC_ASSERT(slots[i].sent() == 0u);
    for (const auto& o : host.outcomes()) RC_ASSERT(o.endpoint != slots[i].address);
  }
  bool any_healthy = false, healthy_ok = false;
  for (size_t i = 0; i < 4; ++i) {
    any_healthy = any_healthy || c.healthy[i];
    healthy_ok = healthy_ok || (c.healthy[i] && c.kinds[i] == Kind::Ok);
  }
  if (!any_healthy) {
    RC_ASSERT(status == 503);
    RC_ASSERT(sends == 0u);
  }
  if (replayable && healthy_ok && c.max_attempts >= 4) RC_ASSERT(status == 200);
}

}  // namespace
}  // namespace meridian::proxy::exchange_test
