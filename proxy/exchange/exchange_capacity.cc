// Exchange, continued: capacity limits and measured latency. Each attempt holds one slot of
// its endpoint's in-flight count (shared by every worker) from its connect to its end; with
// clusters[].limits the router and chooseEndpoint read those counts to spill and to skip
// endpoints at their hard limit, and a request that finds every allowed endpoint full waits
// here for a slot. Each response head (or per-try timeout) is a latency sample for its region.
#include <algorithm>

#include "core/log.h"
#include "proxy/exchange/exchange.h"

namespace meridian::proxy {

using core::Error;
using core::ErrorKind;
using core::Side;

namespace {

// How often a waiting request looks again for a slot freed on another worker (a slot freed on
// this one wakes it at once).
constexpr int64_t kCapacityRecheckMs = 10;

}  // namespace

void CapacityWaiters::remove(Exchange* exchange) {
  std::erase_if(waiting_, [&](const Waiter& w) { return w.exchange == exchange; });
}

size_t CapacityWaiters::count(std::string_view cluster) const {
  size_t n = 0;
  for (const auto& w : waiting_) n += w.cluster == cluster ? 1 : 0;
  return n;
}

Exchange* CapacityWaiters::wakeNext(std::string_view cluster) {
  for (auto& w : waiting_) {
    if (w.cluster != cluster || w.woken) continue;
    w.woken = true;
    return w.exchange;
  }
  return nullptr;
}

void CapacityWaiters::sleepAgain(Exchange* exchange) {
  for (auto& w : waiting_)
    if (w.exchange == exchange) w.woken = false;
}

// A slot of the chosen endpoint, unless another worker took its last one since the choice;
// then the endpoint counts as untried again (it was not tried) and false.
bool Exchange::takeLoadSlot() {
  if (takeSlotFor(*endpoint_, load_slot_)) return true;
  size_t e = endpointIndex();
  if (e < 64) tried_mask_ &= ~(1ull << e);
  return false;
}

bool Exchange::takeSlotFor(const ResolvedAddress& endpoint, routing::EndpointLoad*& slot) {
  const routing::ClusterPlan& plan = *decision_.plan;
  auto e = static_cast<size_t>(&endpoint - (*snap_->endpoints)[plan.index].data());
  if (slot != nullptr || e >= plan.load.size()) return true;  // held, or no telemetry (tests)
  routing::EndpointLoad* load = plan.load[e].get();
  if (!load->tryAcquire(plan.cluster->capacity.hard)) return false;
  slot = load;
  return true;
}

void Exchange::releaseLoadSlot() {
  releaseSlot(load_slot_);
}

void Exchange::releaseSlot(routing::EndpointLoad*& slot) {
  if (slot == nullptr) return;
  slot->release();
  slot = nullptr;
  if (!decision_.plan->cluster->capacity.limited()) return;
  // The oldest request of this worker waiting for the cluster looks now (on the next loop
  // turn, not inside this exchange's call).
  if (Exchange* w = host_.capacityWaiters().wakeNext(decision_.plan->cluster->name))
    w->armTimer(core::Millis(0));
}

// Every endpoint the request may use is at its hard limit: wait for a slot, at most
// pool.max_pending requests per cluster on this worker and until the route's request
// deadline; then 503 at_capacity.
void Exchange::waitForCapacity() {
  const config::Cluster& cluster = *decision_.plan->cluster;
  const int64_t now = core::monotonicMillis();
  if (capacity_deadline_ms_ == 0) {
    if (host_.capacityWaiters().count(cluster.name) >=
        static_cast<size_t>(cluster.pool.max_pending)) {
      host_.metrics().countAtCapacity(decision_.route->name);
      failBeforeResponse(Error{ErrorKind::AtCapacity, Side::Upstream, false, "wait queue full"});
      return;
    }
    capacity_deadline_ms_ = now + decision_.route->timeouts.request.count();
  }
  if (state_ != State::CapacityWait) host_.capacityWaiters().add(cluster.name, this);
  state_ = State::CapacityWait;
  armTimer(core::Millis(std::clamp<int64_t>(capacity_deadline_ms_ - now, 0, kCapacityRecheckMs)));
}

void Exchange::onCapacityCheck() {
  region_pos_ = 0;
  if (chooseEndpoint()) {
    host_.capacityWaiters().remove(this);
    state_ = State::Routing;
    connect();  // waits again if the slot went to another worker first
    return;
  }
  if (!capacity_blocked_) {  // what it waited for is no longer healthy
    host_.capacityWaiters().remove(this);
    state_ = State::Routing;
    failBeforeResponse(Error{ErrorKind::NoHealthyRegion, Side::Upstream, false, {}});
    return;
  }
  host_.capacityWaiters().sleepAgain(this);
  if (core::monotonicMillis() >= capacity_deadline_ms_) {
    host_.capacityWaiters().remove(this);
    state_ = State::Routing;
    host_.metrics().countAtCapacity(decision_.route->name);
    failBeforeResponse(Error{ErrorKind::AtCapacity, Side::Upstream, false, "no slot in time"});
    return;
  }
  waitForCapacity();
}

// The attempt's time to its response head (or to its per-try timeout): one latency sample
// for its region, in this worker's slot.
void Exchange::recordLatency() {
  // region_pos_ is where the attempt's endpoint was found in the order (replays and adopted
  // hedges set it with the endpoint), so its group needs no search by name.
  if (region_pos_ >= decision_.order_size) return;
  const routing::RegionGroup& g = decision_.plan->regions[decision_.order[region_pos_]];
  if (g.latency == nullptr || g.name != region_) return;
  auto now = std::chrono::steady_clock::now();
  std::chrono::duration<double, std::milli> took = now - attempt_started_at_;
  g.latency->record(routing::RegionLatency::workerSlot(host_.workerId()), took.count(),
                    std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch())
                        .count());
}

// The first attempt went to another region than the one nearest (or fastest) without capacity.
void Exchange::countSpill() {
  const routing::ClusterPlan& plan = *decision_.plan;
  int from = decision_.spilled_from >= 0 ? decision_.spilled_from : decision_.order[0];
  const std::string& nearest = plan.regions[static_cast<size_t>(from)].name;
  if (nearest != region_) host_.metrics().countSpill(decision_.route->name, nearest, region_);
}

}  // namespace meridian::proxy
