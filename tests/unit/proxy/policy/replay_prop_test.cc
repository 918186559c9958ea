// Properties of the replay rule (replay::decide), alone and driving a model of one request's
// attempts across the regions Router::pick orders, while regions fail and recover between
// attempts. Checked for random policies, methods, Idempotency-Keys and failure sequences:
//  - no request is attempted more than max_attempts times;
//  - a request that is not replayable (method not listed, no key, or a body too big to keep) is
//    never sent twice: only connect failures (nothing sent) move it on;
//  - a replay never follows a response that started, nor goes past the deadline;
//  - a replayable request, with attempts enough for every region, fails only when every
//    allowed region it could try was unhealthy when tried (or none was healthy at all).
// Bounded by tests/unit/prop_params.h.
#include <rapidcheck.h>

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

#include "proxy/policy/replay.h"
#include "routing/router.h"
#include "tests/unit/prop_params.h"

namespace meridian::proxy::replay {
namespace {

const std::vector<std::string> kMethods = {"GET", "HEAD", "PUT", "DELETE", "POST", "PATCH"};

MERIDIAN_PROP(ReplayProp, DecideNeverReplaysWhatItMustNot, ()) {
  config::Replay policy;
  policy.max_attempts = *rc::gen::inRange(1, 6);
  Input in;
  in.failure.reason = *rc::gen::element(Reason::ConnectFailure, Reason::Reset, Reason::Timeout,
                                        Reason::Status);
  in.failure.status = *rc::gen::element(500, 502, 503, 504);
  // Input::method is a view: of kMethods' element, not of the generator's temporary copy.
  in.method = kMethods[*rc::gen::inRange<size_t>(0, kMethods.size())];
  in.has_idempotency_key = *rc::gen::arbitrary<bool>();
  in.body_buffered = *rc::gen::arbitrary<bool>();
  in.response_started = *rc::gen::arbitrary<bool>();
  in.attempts = *rc::gen::inRange(1, 7);
  if (*rc::gen::arbitrary<bool>()) in.time_left = std::chrono::milliseconds(*rc::gen::inRange(0, 300));
  in.wait = std::chrono::milliseconds(*rc::gen::inRange(0, 300));
  in.budget_available = *rc::gen::arbitrary<bool>();
  in.next_target = *rc::gen::arbitrary<bool>();
  const Decision d = decide(policy, in);
  if (d.verdict != Verdict::TryNext) return;
  RC_ASSERT(in.attempts < policy.max_attempts);
  RC_ASSERT(!in.response_started);
  RC_ASSERT(in.next_target);
  RC_ASSERT(!in.time_left || in.wait < *in.time_left);
  if (in.failure.reason == Reason::ConnectFailure) return;
  bool listed = std::find(policy.methods.begin(), policy.methods.end(), in.method) !=
                policy.methods.end();
  RC_ASSERT(listed || in.has_idempotency_key);
  RC_ASSERT(in.body_buffered);
  RC_ASSERT(in.budget_available);
  RC_ASSERT(enabledFor(policy, in.failure));
}

// One region's state at each attempt (true: healthy), and how it fails when it is not.
struct Scenario {
  std::vector<std::vector<bool>> healthy_at;  // [region][attempt], attempt 0 also at pick time
  std::vector<Reason> failures;               // the failure of each failed attempt
  std::string method;
  bool key = false;
  bool body_buffered = true;
  int max_attempts = 3;
};

void showValue(const Scenario& s, std::ostream& os) {
  os << "{healthy_at " << rc::toString(s.healthy_at) << ", method " << s.method
     << (s.key ? " with key" : "") << (s.body_buffered ? "" : ", body not buffered")
     << ", max_attempts " << s.max_attempts << "}";
}

std::shared_ptr<config::Config> threeRegions(int max_attempts) {
  auto cfg = std::make_shared<config::Config>();
  cfg->regions = {{"ams", 52.37, 4.90, false, {}},
                  {"iad", 38.95, -77.45, false, {}},
                  {"sin", 1.35, 103.82, false, {}}};
  config::Cluster web;
  web.name = "web";
  web.endpoints = {{{"127.0.0.1", 1}, "ams", {}},
                   {{"127.0.0.1", 2}, "iad", {}},
                   {{"127.0.0.1", 3}, "sin", {}}};
  cfg->clusters = {web};
  config::Route route;
  route.name = "app";
  route.match.path_prefix = "/";
  route.backends = {{"web", 1, {}}};
  route.replay.max_attempts = max_attempts;
  cfg->routes = {route};
  return cfg;
}

MERIDIAN_PROP(ReplayProp, RequestsAcrossFailingAndRecoveringRegions, ()) {
  Scenario s;
  const int attempts_max = 6;
  s.healthy_at = *rc::gen::container<std::vector<std::vector<bool>>>(
      3, rc::gen::container<std::vector<bool>>(attempts_max, rc::gen::arbitrary<bool>()));
  s.failures = *rc::gen::container<std::vector<Reason>>(
      attempts_max, rc::gen::element(Reason::ConnectFailure, Reason::Reset, Reason::Timeout,
                                     Reason::Status));
  s.method = *rc::gen::elementOf(kMethods);
  s.key = *rc::gen::arbitrary<bool>();
  s.body_buffered = *rc::gen::arbitrary<bool>();
  s.max_attempts = *rc::gen::inRange(1, 5);
  RC_TAG(s.max_attempts);
  showValue(s, RC_LOG());  // printed with a failing case, after its shrinking

  auto cfg = threeRegions(s.max_attempts);
  routing::Router router(cfg);
  std::vector<std::vector<health::EndpointHealth>> eps(1, std::vector<health::EndpointHealth>(3));
  for (size_t r = 0; r < 3; ++r) eps[0][r].healthy = s.healthy_at[r][0];
  auto health = health::HealthSnapshot::make(eps, 1);
  routing::Decision d = router.pick({"h", "/", s.method}, *health, 0);
  const config::Replay& policy = cfg->routes[0].replay;
  const bool replayable =
      (std::find(policy.methods.begin(), policy.methods.end(), s.method) != policy.methods.end() ||
       s.key) &&
      s.body_buffered;
  if (d.outcome != routing::PickOutcome::Ok) {
    // Refused before any attempt: no region was healthy when the request came.
    for (size_t r = 0; r < 3; ++r) RC_ASSERT(!s.healthy_at[r][0]);
    return;
  }
  int attempts = 0, sends = 0;
  size_t pos = 0;
  bool ok = false;
  std::vector<bool> tried_unhealthy(3, false);
  while (true) {
    const int t = attempts++;
    RC_ASSERT(attempts <= s.max_attempts);
    const size_t region = d.order[pos];  // plan regions are in config order: ams, iad, sin
    const bool up = s.healthy_at[region][static_cast<size_t>(t)];
    Failure f{s.failures[static_cast<size_t>(t)], 503};
    // A region that is up answers; one that is down fails the attempt in the drawn way.
    if (up) {
      ++sends;
      ok = true;
      break;
    }
    tried_unhealthy[region] = true;
    if (f.reason != Reason::ConnectFailure) ++sends;
    Input in;
    in.failure = f;
    in.method = s.method;
    in.has_idempotency_key = s.key;
    in.body_buffered = s.body_buffered;
    in.attempts = attempts;
    in.next_target = pos + 1 < d.order_size;
    const Decision next = decide(policy, in);
    if (next.verdict == Verdict::GiveUp) break;
    ++pos;
  }
  if (!replayable) RC_ASSERT(sends <= 1);
  if (!ok && replayable && s.max_attempts >= 3) {
    // Failed: every region in the order was tried and down when tried, and the regions left
    // out of the order were down when the request came.
    for (size_t i = 0; i < d.order_size; ++i) RC_ASSERT(tried_unhealthy[d.order[i]]);
    for (size_t r = 0; r < 3; ++r) {
      bool in_order = std::find(d.order.begin(), d.order.begin() + d.order_size, r) !=
                      d.order.begin() + d.order_size;
      if (!in_order) RC_ASSERT(!s.healthy_at[r][0]);
    }
  }
}

}  // namespace
}  // namespace meridian::proxy::replay
