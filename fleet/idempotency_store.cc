#include "fleet/idempotency_store.h"

#include <algorithm>

#include "core/log.h"

namespace meridian::fleet {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

class EtcdIdemWatch final : public IdemWatch {
 public:
  EtcdIdemWatch(const EtcdClient& client, const std::string& key, int64_t start_revision)
      : watch_(client, key, "", start_revision) {}
  core::Result<std::vector<WatchMessage>> next(int timeout_ms) override {
    return watch_.next(timeout_ms);
  }
  void wakeup() override { watch_.wakeup(); }

 private:
  EtcdWatch watch_;
};

class EtcdIdem final : public IdemEtcd {
 public:
  explicit EtcdIdem(const EtcdOptions& opts) : client_(opts) {}
  core::Result<LeaseGrant> grantLease(int64_t ttl_seconds) override {
    return client_.grantLease(ttl_seconds);
  }
  core::Result<ClaimAnswer> claim(const std::string& key, const std::string& value, int64_t lease,
                                  int64_t mod_revision) override {
    return client_.claim(key, value, lease, mod_revision);
  }
  core::Result<bool> putIfUnchanged(const std::string& key, const std::string& value, int64_t lease,
                                    int64_t mod_revision) override {
    return client_.putIfUnchanged(key, value, lease, mod_revision);
  }
  core::Result<bool> removeIfUnchanged(const std::string& key, int64_t mod_revision) override {
    return client_.removeIfUnchanged(key, mod_revision);
  }
  core::Result<RangeResult> range(const std::string& key) override { return client_.range(key); }
  std::unique_ptr<IdemWatch> watch(const std::string& key, int64_t start_revision) override {
    return std::make_unique<EtcdIdemWatch>(client_, key, start_revision);
  }
  void nextMember() override { client_.rotate(); }
  size_t members() const override { return client_.options().endpoints.size(); }

 private:
  EtcdClient client_;
};

}  // namespace

std::unique_ptr<IdemEtcd> makeEtcdIdem(const EtcdOptions& opts) {
  return std::make_unique<EtcdIdem>(opts);
}

IdempotencyStore::IdempotencyStore(Options opts, MakeEtcd make_etcd)
    : opts_(std::move(opts)), make_etcd_(std::move(make_etcd)) {}

IdempotencyStore::~IdempotencyStore() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    for (auto& [ticket, c] : claims_) {
      if (c.watch != nullptr) c.watch->wakeup();
    }
  }
  cv_.notify_all();
  for (auto& t : pool_) t.join();
  for (auto& w : waiters_) w.thread.join();
}

// The scope's length goes first, so ("a", "b/c") and ("a/b", "c") never meet.
std::string IdempotencyStore::keyFor(const std::string& scope, const std::string& key) const {
  return opts_.prefix + "idempotency/" + std::to_string(scope.size()) + "/" + scope + "/" + key;
}

uint64_t IdempotencyStore::claim(const std::string& scope, const std::string& key,
                                 milliseconds wait, Done done) {
  uint64_t ticket = 0;
  bool full = false;
  {
    std::lock_guard lock(mu_);
    // The threads start with the first claim: an instance whose routes keep their keys
    // locally has none.
    if (pool_.empty()) {
      for (int i = 0; i < std::max(1, opts_.threads); ++i)
        pool_.emplace_back([this] { runPool(); });
    }
    ticket = next_ticket_++;
    Claim& c = claims_[ticket];
    c.key = keyFor(scope, key);
    c.wait = wait;
    c.done = std::move(done);
    full = jobs_.size() >= opts_.max_queue;
    if (!full) jobs_.push_back(Job{ticket, false});
  }
  if (full) {
    answer(ticket, Result{Outcome::Conflict, nullptr});
  } else {
    cv_.notify_one();
  }
  return ticket;
}

void IdempotencyStore::release(uint64_t ticket, bool completed,
                               std::shared_ptr<const IdemResponse> response) {
  {
    std::lock_guard lock(mu_);
    auto it = claims_.find(ticket);
    if (it == claims_.end()) return;
    Claim& c = it->second;
    c.released = true;
    switch (c.phase) {
      case Phase::Answered:
        claims_.erase(it);
        return;
      case Phase::Owner:
        c.completed = completed;
        c.response = std::move(response);
        jobs_.push_back(Job{ticket, true});  // never refused: the key must be finished
        break;
      case Phase::Waiting:
        if (c.watch != nullptr) c.watch->wakeup();
        return;
      case Phase::Queued:
      case Phase::Claiming:
        return;  // the claim's thread sees `released` when it is done
    }
  }
  cv_.notify_one();
}

void IdempotencyStore::runPool() {
  std::unique_ptr<IdemEtcd> etcd = make_etcd_();
  while (true) {
    Job job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
      if (stop_) return;
      job = jobs_.front();
      jobs_.pop_front();
    }
    if (job.finish)
      doFinish(*etcd, job.ticket);
    else
      doClaim(*etcd, job.ticket);
  }
}

void IdempotencyStore::answer(uint64_t ticket, Result r, int64_t mod_revision) {
  Done done;
  {
    std::lock_guard lock(mu_);
    auto it = claims_.find(ticket);
    if (it == claims_.end()) return;
    Claim& c = it->second;
    c.watch = nullptr;
    if (r.outcome == Outcome::Proceed) {
      c.phase = Phase::Owner;
      c.mod_revision = mod_revision;
      if (c.released) {
        // Nobody will run the request: the key goes at once.
        c.completed = false;
        c.response.reset();
        jobs_.push_back(Job{ticket, true});
        cv_.notify_one();
        return;
      }
    } else {
      if (r.outcome == Outcome::Unavailable) ++fallbacks_;
      if (c.released) {
        claims_.erase(it);
        return;
      }
      c.phase = Phase::Answered;
    }
    done = c.done;
  }
  done(std::move(r));
}

bool IdempotencyStore::etcdDown() {
  std::lock_guard lock(down_mu_);
  return down_ && Clock::now() < retry_at_;
}

void IdempotencyStore::onEtcdFailure(const std::string& why) {
  std::lock_guard lock(down_mu_);
  retry_at_ = Clock::now() + opts_.retry_after;
  if (down_) return;
  down_ = true;
  logWarn(
      "fleet: etcd unreachable: Idempotency-Key falls back to each instance's own table "
      "(meridian_fleet_fallbacks_total{what=\"idempotency\"}): %s",
      why.c_str());
}

void IdempotencyStore::onEtcdAnswered() {
  std::lock_guard lock(down_mu_);
  if (!down_) return;
  down_ = false;
  logInfo("fleet: etcd reachable again: Idempotency-Key is fleet-wide again");
}

// Keys claimed within a second share a lease of `life` plus that second: each lives at least
// `life`, and a burst of claims costs one lease grant, not one each.
core::Result<int64_t> IdempotencyStore::leaseFor(IdemEtcd& etcd, milliseconds life) {
  int64_t ttl = (life.count() + 999) / 1000 + 1;
  {
    std::lock_guard lock(lease_mu_);
    auto it = leases_.find(ttl);
    if (it != leases_.end() && Clock::now() - it->second.granted < std::chrono::seconds(1))
      return it->second.id;
  }
  auto grant = etcd.grantLease(ttl);
  if (!grant.ok()) return grant.error();
  std::lock_guard lock(lease_mu_);
  leases_[ttl] = Lease{grant.value().id, Clock::now()};
  return grant.value().id;
}

void IdempotencyStore::doClaim(IdemEtcd& etcd, uint64_t ticket) {
  std::string key;
  milliseconds wait{0};
  {
    std::lock_guard lock(mu_);
    auto it = claims_.find(ticket);
    if (it == claims_.end()) return;
    if (it->second.released) {
      claims_.erase(it);  // gone before anything was written
      return;
    }
    it->second.phase = Phase::Claiming;
    key = it->second.key;
    wait = it->second.wait;
  }
  if (etcdDown()) {
    answer(ticket, Result{Outcome::Unavailable, nullptr});
    return;
  }
  auto found = claimOnce(etcd, key, wait);
  if (!found.ok()) {
    onEtcdFailure(found.error().detail);
    answer(ticket, Result{Outcome::Unavailable, nullptr});
    return;
  }
  onEtcdAnswered();
  if (found.value().wait) {
    startWait(ticket, found.value().revision);
    return;
  }
  answer(ticket, found.value().result, found.value().revision);
}

// Creates the key, or reads what holds it. A "done, not kept" marker is free to take (the
// local table forgets such a key too), with a compare on its revision so that only one of
// several newcomers gets it.
core::Result<IdempotencyStore::Found> IdempotencyStore::claimOnce(IdemEtcd& etcd,
                                                                  const std::string& key,
                                                                  milliseconds wait) {
  auto lease = leaseFor(etcd, std::max(opts_.keep_for, wait));
  if (!lease.ok()) return lease.error();
  std::string mine = encodeRecord(IdemRecord{IdemRecord::State::InFlight, opts_.instance, nullptr});
  int64_t expected = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto got = etcd.claim(key, mine, lease.value(), expected);
    if (!got.ok()) return got.error();
    const ClaimAnswer& a = got.value();
    if (a.written) return Found{Result{Outcome::Proceed, nullptr}, false, a.revision};
    if (!a.current) {
      expected = 0;  // deleted between the compare and the read: create it
      continue;
    }
    auto record = decodeRecord(a.current->value);
    if (record && record->state == IdemRecord::State::DoneNotKept) {
      expected = a.current->mod_revision;
      continue;
    }
    auto outcome = outcomeOf(a.current->value);
    if (outcome) return Found{*outcome, false, 0};
    return Found{Result{}, true, a.revision};
  }
  return Found{Result{Outcome::Conflict, nullptr}, false, 0};
}

std::optional<IdempotencyStore::Result> IdempotencyStore::outcomeOf(
    const std::optional<std::string>& value) {
  // Deleted: the owner failed, or its lease ran out (it died). As with the local table, a
  // waiter then gets 409 rather than running the request itself.
  if (!value) return Result{Outcome::Conflict, nullptr};
  auto record = decodeRecord(*value);
  if (!record) {
    logWarn("fleet: an Idempotency-Key value that is not a record: answered 409");
    return Result{Outcome::Conflict, nullptr};
  }
  switch (record->state) {
    case IdemRecord::State::InFlight:
      return std::nullopt;
    case IdemRecord::State::Done:
      return Result{Outcome::Stored, record->response};
    case IdemRecord::State::DoneNotKept:
      return Result{Outcome::Conflict, nullptr};
  }
  return Result{Outcome::Conflict, nullptr};
}

void IdempotencyStore::startWait(uint64_t ticket, int64_t revision) {
  std::string key;
  Clock::time_point deadline;
  std::vector<std::thread> over;
  {
    std::lock_guard lock(mu_);
    auto it = claims_.find(ticket);
    if (it == claims_.end()) return;
    if (waits_ >= opts_.max_waits || stop_) {
      key.clear();
    } else {
      ++waits_;
      it->second.phase = Phase::Waiting;
      key = it->second.key;
      deadline = Clock::now() + it->second.wait;
    }
    // Wait threads that are over are joined here, off the lock's critical work.
    for (auto w = waiters_.begin(); w != waiters_.end();) {
      if (w->over->load()) {
        over.push_back(std::move(w->thread));
        w = waiters_.erase(w);
      } else {
        ++w;
      }
    }
    if (!key.empty()) {
      auto flag = std::make_shared<std::atomic<bool>>(false);
      waiters_.push_back(Waiter{std::thread([this, ticket, key, deadline, revision, flag] {
                                  auto etcd = make_etcd_();
                                  Result r = waitFor(*etcd, ticket, key, deadline, revision);
                                  {
                                    std::lock_guard lock(mu_);
                                    --waits_;
                                  }
                                  answer(ticket, r);
                                  *flag = true;
                                }),
                                flag});
    }
  }
  for (auto& t : over) t.join();
  if (key.empty()) answer(ticket, Result{Outcome::Conflict, nullptr});
}

// The owner's outcome, from a watch on the key that starts just after the revision the claim
// read it at, so no change in between is missed. A broken watch opens again on the next
// member from the revision after its last event; a revision compacted away meanwhile is
// replaced by a read of the key. Every member failing in a row, or the deadline: 409.
IdempotencyStore::Result IdempotencyStore::waitFor(IdemEtcd& etcd, uint64_t ticket,
                                                   const std::string& key,
                                                   Clock::time_point deadline, int64_t revision) {
  int64_t from = revision + 1;
  size_t failures = 0;
  const Result busy{Outcome::Conflict, nullptr};
  while (true) {
    auto watch = etcd.watch(key, from);
    // release() and the destructor wake the watch through the claim: it is taken off the
    // claim before it is destroyed, however this scope ends.
    struct Registered {
      IdempotencyStore& store;
      uint64_t ticket;
      ~Registered() {
        std::lock_guard lock(store.mu_);
        auto it = store.claims_.find(ticket);
        if (it != store.claims_.end()) it->second.watch = nullptr;
      }
    } registered{*this, ticket};
    {
      std::lock_guard lock(mu_);
      auto it = claims_.find(ticket);
      if (stop_ || it == claims_.end() || it->second.released) return busy;
      it->second.watch = watch.get();
    }
    bool reopen = false;
    while (!reopen) {
      auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now()).count();
      {
        std::lock_guard lock(mu_);
        auto it = claims_.find(ticket);
        if (stop_ || it == claims_.end() || it->second.released || left <= 0) return busy;
      }
      auto got = watch->next(static_cast<int>(std::min<int64_t>(left, 500)));
      if (!got.ok()) {
        if (++failures >= etcd.members()) return busy;
        etcd.nextMember();
        break;
      }
      for (const auto& m : got.value()) {
        if (m.created) failures = 0;
        if (m.compact_revision > 0) {
          auto r = etcd.range(key);
          if (!r.ok()) return busy;
          std::optional<std::string> value;
          if (!r.value().kvs.empty()) value = r.value().kvs[0].value;
          if (auto outcome = outcomeOf(value)) return *outcome;
          from = r.value().revision + 1;
          reopen = true;
          break;
        }
        if (m.canceled) {
          reopen = true;
          break;
        }
        for (const auto& e : m.events) {
          from = std::max(from, e.kv.mod_revision + 1);
          std::optional<std::string> value;
          if (!e.deleted) value = e.kv.value;
          if (auto outcome = outcomeOf(value)) return *outcome;
        }
      }
    }
  }
}

// The owner is done: its response written for keep_for (or the marker), or its key deleted;
// only while the key is still the value it wrote (a lease that ran out may have let another
// request claim it since).
void IdempotencyStore::doFinish(IdemEtcd& etcd, uint64_t ticket) {
  std::string key;
  int64_t mod_revision = 0;
  bool completed = false;
  std::shared_ptr<const IdemResponse> response;
  {
    std::lock_guard lock(mu_);
    auto it = claims_.find(ticket);
    if (it == claims_.end()) return;
    key = it->second.key;
    mod_revision = it->second.mod_revision;
    completed = it->second.completed;
    response = std::move(it->second.response);
    claims_.erase(it);
  }
  core::Result<bool> done = false;
  if (!completed) {
    done = etcd.removeIfUnchanged(key, mod_revision);
  } else {
    IdemRecord record{IdemRecord::State::DoneNotKept, opts_.instance, nullptr};
    if (response != nullptr && response->body.size() <= opts_.max_stored_body) {
      record.state = IdemRecord::State::Done;
      record.response = response;
    }
    auto lease = leaseFor(etcd, opts_.keep_for);
    done = lease.ok() ? etcd.putIfUnchanged(key, encodeRecord(record), lease.value(), mod_revision)
                      : core::Result<bool>(lease.error());
  }
  if (!done.ok()) {
    // Waiters elsewhere get 409 when the in-flight lease runs out or their wait does.
    logWarn("fleet: Idempotency-Key outcome not written: %s", done.error().detail.c_str());
    onEtcdFailure(done.error().detail);
  }
}

}  // namespace meridian::fleet
