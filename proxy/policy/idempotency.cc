#include "proxy/policy/idempotency.h"

#include <cassert>

namespace meridian::proxy {

IdempotencyTable::IdempotencyTable(Limits limits)
    : IdempotencyTable(limits, [] { return std::chrono::steady_clock::now(); }) {}

IdempotencyTable::IdempotencyTable() : IdempotencyTable(Limits{}) {}

IdempotencyTable::IdempotencyTable(Limits limits, Clock now)
    : limits_(limits), now_(std::move(now)) {}

// The scope's length goes first, so ("a", "bc") and ("ab", "c") never meet.
std::string IdempotencyTable::composeKey(std::string_view scope, std::string_view key) {
  std::string out = std::to_string(scope.size());
  out.reserve(out.size() + 1 + scope.size() + key.size());
  out.push_back(':');
  out.append(scope);
  out.append(key);
  return out;
}

IdempotencyTable::BeginResult IdempotencyTable::begin(std::string_view scope, std::string_view key,
                                                      Notify notify) {
  std::string composed = composeKey(scope, key);
  std::lock_guard lock(mu_);
  purgeExpired(now_());
  auto it = entries_.find(composed);
  if (it != entries_.end()) {
    Entry& e = it->second;
    if (e.owner == 0) return {Begin::Stored, 0, e.stored};  // unexpired: purged above
    if (!notify || e.waiters.size() >= limits_.max_waiters_per_key)
      return {Begin::Conflict, 0, nullptr};
    uint64_t ticket = next_ticket_++;
    e.waiters.push_back(Waiter{ticket, std::move(notify)});
    waiting_.emplace(ticket, std::move(composed));
    return {Begin::Wait, ticket, nullptr};
  }
  // Full: the oldest kept answer goes (at a sustained rate of new keys above max_keys per
  // keep_for, refusing them instead would answer every new key 409). A key in flight is never
  // dropped: two requests with it would then run at once.
  bool evicted = false;
  if (entries_.size() >= limits_.max_keys) {
    if (expiry_.empty()) return {Begin::Conflict, 0, nullptr};
    entries_.erase(expiry_.begin()->second);
    expiry_.erase(expiry_.begin());
    evicted = true;
  }
  uint64_t ticket = next_ticket_++;
  Entry& e = entries_[composed];
  e.owner = ticket;
  owners_.emplace(ticket, std::move(composed));
  return {Begin::Proceed, ticket, nullptr, evicted};
}

void IdempotencyTable::finish(uint64_t ticket, std::shared_ptr<const StoredResponse> response) {
  std::vector<Waiter> waiters;
  {
    std::lock_guard lock(mu_);
    auto owner = owners_.find(ticket);
    assert(owner != owners_.end() && "finish() without a Proceed ticket, or twice");
    if (owner == owners_.end()) return;
    Time now = now_();
    purgeExpired(now);
    auto it = entries_.find(owner->second);
    assert(it != entries_.end());
    waiters = std::move(it->second.waiters);
    for (const Waiter& w : waiters) waiting_.erase(w.ticket);
    // A large body is not kept: waiters cannot be answered with part of it, so they get 409.
    if (response != nullptr && response->body.size() > limits_.max_stored_body) response.reset();
    if (response != nullptr && limits_.keep_for.count() > 0) {
      Entry& e = it->second;
      e.owner = 0;
      e.waiters.clear();
      e.stored = response;
      e.expiry = expiry_.emplace(now + limits_.keep_for, it->first);
    } else {
      entries_.erase(it);
    }
    owners_.erase(owner);
  }
  // Outside the lock: a notify may post to a loop, or even begin() again on this table.
  for (Waiter& w : waiters) w.notify(response);
}

bool IdempotencyTable::cancelWait(uint64_t ticket) {
  Notify dropped;  // destroyed after the lock is released, like every callback here
  std::lock_guard lock(mu_);
  auto w = waiting_.find(ticket);
  if (w == waiting_.end()) return false;
  auto it = entries_.find(w->second);
  assert(it != entries_.end() && it->second.owner != 0);
  if (it != entries_.end()) {
    auto& list = it->second.waiters;
    for (auto x = list.begin(); x != list.end(); ++x) {
      if (x->ticket != ticket) continue;
      dropped = std::move(x->notify);
      list.erase(x);
      break;
    }
  }
  waiting_.erase(w);
  return true;
}

size_t IdempotencyTable::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

void IdempotencyTable::purgeExpired(Time now) {
  while (!expiry_.empty() && expiry_.begin()->first <= now) {
    auto it = entries_.find(expiry_.begin()->second);
    assert(it != entries_.end() && it->second.owner == 0);
    if (it != entries_.end()) entries_.erase(it);
    expiry_.erase(expiry_.begin());
  }
}

}  // namespace meridian::proxy
