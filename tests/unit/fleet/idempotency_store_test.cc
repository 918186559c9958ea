// The fleet-wide Idempotency-Key: the value written in etcd, and the store's state machine
// (claim, wait, outcome, fallback) against a fake etcd held in memory: keys with revisions,
// transactions on them, and watches that see every change from a revision on.
#include "fleet/idempotency_store.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace meridian::fleet {
namespace {

using namespace std::chrono_literals;
using Outcome = IdempotencyStore::Outcome;
using std::chrono::milliseconds;

// ---- The value ------------------------------------------------------------------------------

TEST(IdemRecord, RoundTripsEveryState) {
  auto resp = std::make_shared<IdemResponse>();
  resp->status = 201;
  resp->headers = {{"content-type", "application/json"}};
  resp->body = std::string("{\"id\":7}\0\xff binary", 17);
  auto done = decodeRecord(encodeRecord({IdemRecord::State::Done, "ams-1", resp}));
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->state, IdemRecord::State::Done);
  EXPECT_EQ(done->owner, "ams-1");
  ASSERT_NE(done->response, nullptr);
  EXPECT_EQ(done->response->status, 201);
  EXPECT_EQ(done->response->headers, resp->headers);
  EXPECT_EQ(done->response->body, resp->body);
  auto flight = decodeRecord(encodeRecord({IdemRecord::State::InFlight, "fra-2", nullptr}));
  ASSERT_TRUE(flight.has_value());
  EXPECT_EQ(flight->state, IdemRecord::State::InFlight);
  EXPECT_EQ(flight->owner, "fra-2");
  auto marker = decodeRecord(encodeRecord({IdemRecord::State::DoneNotKept, "fra-2", nullptr}));
  ASSERT_TRUE(marker.has_value());
  EXPECT_EQ(marker->state, IdemRecord::State::DoneNotKept);
}

TEST(IdemRecord, WhatIsNotARecordIsRefused) {
  for (const char* bad :
       {"", "x", "[]", "{}", R"({"state":"later"})", R"({"state":"done","status":200})",
        R"({"state":"done","status":200,"body":"not base64!"})",
        R"({"state":"done","status":200,"body":"","headers":[["a"]]})"})
    EXPECT_FALSE(decodeRecord(bad).has_value()) << bad;
}

TEST(IdemRecord, AHeaderThatIsNotUtf8IsWrittenNotThrown) {
  auto resp = std::make_shared<IdemResponse>();
  resp->status = 200;
  resp->headers = {{"content-type", "text/plain; x=\xff"}};
  EXPECT_TRUE(decodeRecord(encodeRecord({IdemRecord::State::Done, "a", resp})).has_value());
}

// ---- A fake etcd ----------------------------------------------------------------------------

// One store shared by every client the store makes (one per thread), as a cluster is.
struct FakeKv {
  std::mutex mu;
  std::condition_variable cv;
  int64_t revision = 1;
  int64_t compacted = 0;  // watches from this revision or before are refused as compacted
  std::map<std::string, KeyValue> keys;
  std::vector<WatchEvent> log;        // every change, in revision order
  std::map<int64_t, int64_t> leases;  // id -> TTL
  int64_t next_lease = 100;
  bool down = false;
  int calls = 0;

  core::Error unreachable() {
    return core::Error{core::ErrorKind::ConnectRefused, core::Side::Upstream, true, "down"};
  }
  // Caller holds mu.
  void write(const std::string& key, std::optional<std::string> value, int64_t lease) {
    ++revision;
    if (value) {
      KeyValue& kv = keys[key];
      if (kv.create_revision == 0) kv.create_revision = revision;
      kv.key = key;
      kv.value = *value;
      kv.mod_revision = revision;
      kv.lease = lease;
      log.push_back(WatchEvent{false, kv});
    } else {
      keys.erase(key);
      log.push_back(WatchEvent{true, KeyValue{key, "", 0, revision, 0}});
    }
    cv.notify_all();
  }
  // A lease that ran out: its keys go.
  void expire(int64_t lease) {
    std::lock_guard lock(mu);
    std::vector<std::string> gone;
    for (const auto& [k, kv] : keys)
      if (kv.lease == lease) gone.push_back(k);
    for (const auto& k : gone) write(k, std::nullopt, 0);
  }
  std::optional<KeyValue> get(const std::string& key) {
    std::lock_guard lock(mu);
    auto it = keys.find(key);
    if (it == keys.end()) return std::nullopt;
    return it->second;
  }
  void setDown(bool d) {
    std::lock_guard lock(mu);
    down = d;
    cv.notify_all();
  }
};

class FakeWatch final : public IdemWatch {
 public:
  FakeWatch(std::shared_ptr<FakeKv> kv, std::string key, int64_t from)
      : kv_(std::move(kv)), key_(std::move(key)), from_(from) {}
  core::Result<std::vector<WatchMessage>> next(int timeout_ms) override {
    std::unique_lock lock(kv_->mu);
    if (kv_->down) return kv_->unreachable();
    std::vector<WatchMessage> out;
    if (!created_) {
      created_ = true;
      WatchMessage m;
      m.created = true;
      m.revision = kv_->revision;
      if (from_ <= kv_->compacted) m.compact_revision = kv_->compacted;
      out.push_back(m);
      return out;
    }
    auto pending = [&] {
      for (const auto& e : kv_->log)
        if (e.kv.key == key_ && e.kv.mod_revision >= from_) return true;
      return false;
    };
    kv_->cv.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                     [&] { return woken_ || kv_->down || pending(); });
    woken_ = false;
    if (kv_->down) return kv_->unreachable();
    WatchMessage m;
    m.revision = kv_->revision;
    for (const auto& e : kv_->log) {
      if (e.kv.key != key_ || e.kv.mod_revision < from_) continue;
      m.events.push_back(e);
      from_ = e.kv.mod_revision + 1;
    }
    if (!m.events.empty()) out.push_back(m);
    return out;
  }
  void wakeup() override {
    std::lock_guard lock(kv_->mu);
    woken_ = true;
    kv_->cv.notify_all();
  }

 private:
  std::shared_ptr<FakeKv> kv_;
  std::string key_;
  int64_t from_;
  bool created_ = false;
  bool woken_ = false;
};

class FakeEtcd final : public IdemEtcd {
 public:
  explicit FakeEtcd(std::shared_ptr<FakeKv> kv) : kv_(std::move(kv)) {}
  core::Result<LeaseGrant> grantLease(int64_t ttl) override {
    std::lock_guard lock(kv_->mu);
    ++kv_->calls;
    if (kv_->down) return kv_->unreachable();
    int64_t id = kv_->next_lease++;
    kv_->leases[id] = ttl;
    return LeaseGrant{id, ttl};
  }
  core::Result<ClaimAnswer> claim(const std::string& key, const std::string& value, int64_t lease,
                                  int64_t mod_revision) override {
    std::lock_guard lock(kv_->mu);
    ++kv_->calls;
    if (kv_->down) return kv_->unreachable();
    auto it = kv_->keys.find(key);
    int64_t at = it == kv_->keys.end() ? 0 : it->second.mod_revision;
    if (at == mod_revision) {
      kv_->write(key, value, lease);
      return ClaimAnswer{true, kv_->revision, std::nullopt};
    }
    ClaimAnswer a{false, kv_->revision, std::nullopt};
    if (it != kv_->keys.end()) a.current = it->second;
    return a;
  }
  core::Result<bool> putIfUnchanged(const std::string& key, const std::string& value, int64_t lease,
                                    int64_t mod_revision) override {
    std::lock_guard lock(kv_->mu);
    ++kv_->calls;
    if (kv_->down) return kv_->unreachable();
    auto it = kv_->keys.find(key);
    if (it == kv_->keys.end() || it->second.mod_revision != mod_revision) return false;
    kv_->write(key, value, lease);
    return true;
  }
  core::Result<bool> removeIfUnchanged(const std::string& key, int64_t mod_revision) override {
    std::lock_guard lock(kv_->mu);
    ++kv_->calls;
    if (kv_->down) return kv_->unreachable();
    auto it = kv_->keys.find(key);
    if (it == kv_->keys.end() || it->second.mod_revision != mod_revision) return false;
    kv_->write(key, std::nullopt, 0);
    return true;
  }
  core::Result<RangeResult> range(const std::string& key) override {
    std::lock_guard lock(kv_->mu);
    ++kv_->calls;
    if (kv_->down) return kv_->unreachable();
    RangeResult r{kv_->revision, {}};
    if (auto it = kv_->keys.find(key); it != kv_->keys.end()) r.kvs.push_back(it->second);
    return r;
  }
  std::unique_ptr<IdemWatch> watch(const std::string& key, int64_t start_revision) override {
    return std::make_unique<FakeWatch>(kv_, key, start_revision);
  }
  void nextMember() override {}
  size_t members() const override { return 3; }

 private:
  std::shared_ptr<FakeKv> kv_;
};

// ---- The store ------------------------------------------------------------------------------

// The answers claims got, waited for with a deadline.
class Answers {
 public:
  IdempotencyStore::Done slot(int i) {
    return [this, i](IdempotencyStore::Result r) {
      std::lock_guard lock(mu_);
      got_[i] = std::move(r);
      cv_.notify_all();
    };
  }
  std::optional<IdempotencyStore::Result> get(int i, std::chrono::milliseconds within = 5s) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, within, [&] { return got_.count(i) > 0; });
    auto it = got_.find(i);
    if (it == got_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, IdempotencyStore::Result> got_;
};

std::shared_ptr<const IdemResponse> response(int status, size_t body) {
  auto r = std::make_shared<IdemResponse>();
  r->status = status;
  r->headers = {{"content-type", "text/plain"}};
  r->body.assign(body, 'x');
  return r;
}

class StoreTest : public ::testing::Test {
 protected:
  // Two instances of one fleet, on one etcd.
  std::unique_ptr<IdempotencyStore> instance(const std::string& name,
                                             milliseconds retry_after = 1000ms) {
    IdempotencyStore::Options o;
    o.prefix = "/m/";
    o.instance = name;
    o.keep_for = 60s;
    o.max_stored_body = 1024;
    o.threads = 2;
    o.retry_after = retry_after;
    return std::make_unique<IdempotencyStore>(
        o, [kv = kv_] { return std::make_unique<FakeEtcd>(kv); });
  }
  // Until `key` holds a value in this state (the store writes it from a thread of its own).
  bool eventuallyState(const std::string& key, std::optional<IdemRecord::State> state) {
    auto until = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < until) {
      auto kv = kv_->get(key);
      if (!state && !kv) return true;
      if (state && kv) {
        auto rec = decodeRecord(kv->value);
        if (rec && rec->state == *state) return true;
      }
      std::unique_lock lock(kv_->mu);
      kv_->cv.wait_for(lock, 20ms);
    }
    return false;
  }

  // Until `store` has a request waiting on a watch (its claim found the key in flight).
  static bool waiting(IdempotencyStore& store) {
    auto until = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < until) {
      if (store.waiting() == 1) return true;
      std::this_thread::yield();
    }
    return false;
  }

  std::shared_ptr<FakeKv> kv_ = std::make_shared<FakeKv>();
  Answers answers_;
};

TEST_F(StoreTest, TheFirstOwnsTheKeyASecondElsewhereWaitsAndGetsItsResponse) {
  auto a = instance("a");
  auto b = instance("b");
  uint64_t owner = a->claim("orders", "k1", 10s, answers_.slot(1));
  auto first = answers_.get(1);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->outcome, Outcome::Proceed);
  std::string key = a->keyFor("orders", "k1");
  auto held = kv_->get(key);
  ASSERT_TRUE(held);
  EXPECT_EQ(decodeRecord(held->value)->owner, "a");
  // The in-flight key lives at least as long as its request may run: max(keep_for, wait).
  EXPECT_EQ(kv_->leases[held->lease], 61);
  uint64_t waiter = b->claim("orders", "k1", 10s, answers_.slot(2));
  ASSERT_TRUE(waiting(*b));
  EXPECT_FALSE(answers_.get(2, 50ms)) << "answered while the owner still runs";
  a->release(owner, true, response(201, 5));
  auto second = answers_.get(2);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->outcome, Outcome::Stored);
  ASSERT_NE(second->stored, nullptr);
  EXPECT_EQ(second->stored->status, 201);
  EXPECT_EQ(second->stored->body, "xxxxx");
  b->release(waiter, false, nullptr);
  // Later requests at either instance read it at once; it lives keep_for from its write.
  b->claim("orders", "k1", 10s, answers_.slot(3));
  auto third = answers_.get(3);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->outcome, Outcome::Stored);
  EXPECT_EQ(kv_->leases[kv_->get(key)->lease], 61);
  // Another route's same key is another key.
  a->claim("refunds", "k1", 10s, answers_.slot(4));
  EXPECT_EQ(answers_.get(4)->outcome, Outcome::Proceed);
}

TEST_F(StoreTest, AResponseTooLargeIsMarkedWaitersGet409AndTheNextRequestMayRunAgain) {
  auto a = instance("a");
  auto b = instance("b");
  uint64_t owner = a->claim("r", "big", 10s, answers_.slot(1));
  ASSERT_EQ(answers_.get(1)->outcome, Outcome::Proceed);
  uint64_t waiter = b->claim("r", "big", 10s, answers_.slot(2));
  ASSERT_TRUE(waiting(*b));
  a->release(owner, true, response(200, 1025));
  auto second = answers_.get(2);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->outcome, Outcome::Conflict);
  b->release(waiter, false, nullptr);
  ASSERT_TRUE(eventuallyState(a->keyFor("r", "big"), IdemRecord::State::DoneNotKept));
  // As the local table forgets such a key, the next request claims it (over the marker).
  b->claim("r", "big", 10s, answers_.slot(3));
  EXPECT_EQ(answers_.get(3)->outcome, Outcome::Proceed);
  EXPECT_EQ(decodeRecord(kv_->get(a->keyFor("r", "big"))->value)->owner, "b");
}

// Completed without a response to keep (a chunked body): the marker, as for one too large.
TEST_F(StoreTest, ACompletedRequestWithoutAResponseToKeepIsMarkedNotKept) {
  auto a = instance("a");
  uint64_t owner = a->claim("r", "chunked", 10s, answers_.slot(1));
  ASSERT_EQ(answers_.get(1)->outcome, Outcome::Proceed);
  a->release(owner, true, nullptr);
  EXPECT_TRUE(eventuallyState(a->keyFor("r", "chunked"), IdemRecord::State::DoneNotKept));
}

TEST_F(StoreTest, AFailedOwnerDeletesTheKeyWaitersGet409AndTheNextRequestRuns) {
  auto a = instance("a");
  auto b = instance("b");
  uint64_t owner = a->claim("r", "k", 10s, answers_.slot(1));
  ASSERT_EQ(answers_.get(1)->outcome, Outcome::Proceed);
  uint64_t waiter = b->claim("r", "k", 10s, answers_.slot(2));
  ASSERT_TRUE(waiting(*b));
  a->release(owner, false, nullptr);
  EXPECT_EQ(answers_.get(2)->outcome, Outcome::Conflict);
  b->release(waiter, false, nullptr);
  ASSERT_TRUE(eventuallyState(a->keyFor("r", "k"), std::nullopt));
  b->claim("r", "k", 10s, answers_.slot(3));
  EXPECT_EQ(answers_.get(3)->outcome, Outcome::Proceed);
}

TEST_F(StoreTest, AnOwnerThatDiedLeavesWithItsLeaseAndWaitersGet409) {
  auto a = instance("a");
  auto b = instance("b");
  a->claim("r", "k", 10s, answers_.slot(1));
  ASSERT_EQ(answers_.get(1)->outcome, Outcome::Proceed);
  b->claim("r", "k", 10s, answers_.slot(2));
  ASSERT_TRUE(waiting(*b));
  kv_->expire(kv_->get(a->keyFor("r", "k"))->lease);
  EXPECT_EQ(answers_.get(2)->outcome, Outcome::Conflict);
}

TEST_F(StoreTest, AWaitEndsWith409AtItsDeadline) {
  auto a = instance("a");
  auto b = instance("b");
  a->claim("r", "k", 10s, answers_.slot(1));
  ASSERT_EQ(answers_.get(1)->outcome, Outcome::Proceed);
  auto t0 = std::chrono::steady_clock::now();
  b->claim("r", "k", 200ms, answers_.slot(2));
  auto second = answers_.get(2);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->outcome, Outcome::Conflict);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 200ms);
}

// A waiter whose watch revision was compacted away reads the key instead.
TEST_F(StoreTest, AWaitFromACompactedRevisionReadsTheKey) {
  auto a = instance("a");
  auto b = instance("b");
  uint64_t owner = a->claim("r", "k", 10s, answers_.slot(1));
  ASSERT_EQ(answers_.get(1)->outcome, Outcome::Proceed);
  {
    std::lock_guard lock(kv_->mu);
    kv_->compacted = kv_->revision + 100;
  }
  b->claim("r", "k", 10s, answers_.slot(2));
  ASSERT_TRUE(waiting(*b));
  a->release(owner, true, response(200, 3));
  auto second = answers_.get(2);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->outcome, Outcome::Stored);
}

// Released before its answer (the client went away): a key it created is not left behind.
TEST_F(StoreTest, AClaimReleasedBeforeItsAnswerLeavesNoKey) {
  auto a = instance("a");
  {
    // Holding etcd's lock keeps the claim in its transaction while the release comes.
    std::unique_lock hold(kv_->mu);
    uint64_t t = a->claim("r", "k", 10s, answers_.slot(1));
    a->release(t, false, nullptr);
  }
  EXPECT_FALSE(answers_.get(1, 100ms));
  EXPECT_TRUE(eventuallyState(a->keyFor("r", "k"), std::nullopt));
}

// etcd unreachable: Unavailable (the caller's local table serves), counted; etcd is not
// tried again for retry_after; then it is, and the fleet-wide key is back.
TEST_F(StoreTest, EtcdDownFallsBackCountedAndComesBack) {
  auto a = instance("a", 300ms);
  kv_->setDown(true);
  a->claim("r", "k1", 10s, answers_.slot(1));
  EXPECT_EQ(answers_.get(1)->outcome, Outcome::Unavailable);
  int calls = kv_->calls;
  a->claim("r", "k2", 10s, answers_.slot(2));
  EXPECT_EQ(answers_.get(2)->outcome, Outcome::Unavailable);
  EXPECT_EQ(kv_->calls, calls) << "etcd tried again within retry_after";
  EXPECT_EQ(a->fallbacks(), 2u);
  kv_->setDown(false);
  auto until = std::chrono::steady_clock::now() + 5s;
  int i = 3;
  for (; std::chrono::steady_clock::now() < until; ++i) {
    a->claim("r", "k" + std::to_string(i), 10s, answers_.slot(i));
    auto r = answers_.get(i);
    if (r && r->outcome == Outcome::Proceed) break;
    std::unique_lock lock(kv_->mu);
    kv_->cv.wait_for(lock, 50ms);
  }
  EXPECT_LT(std::chrono::steady_clock::now(), until) << "etcd never tried again";
}

// A waiter whose etcd goes away (every member, in a row) gets 409, not a run of its own: the
// owner elsewhere may still be running.
TEST_F(StoreTest, AWaiterThatLosesEtcdGets409) {
  auto a = instance("a");
  auto b = instance("b");
  a->claim("r", "k", 10s, answers_.slot(1));
  ASSERT_EQ(answers_.get(1)->outcome, Outcome::Proceed);
  b->claim("r", "k", 10s, answers_.slot(2));
  ASSERT_TRUE(waiting(*b));
  kv_->setDown(true);
  EXPECT_EQ(answers_.get(2)->outcome, Outcome::Conflict);
}

}  // namespace
}  // namespace meridian::fleet
