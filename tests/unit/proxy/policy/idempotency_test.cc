// IdempotencyTable: one owner per key, waiters told once, stored answers for keep_for, bounds,
// and several threads on the same keys (never two owners at once, never a lost waiter).
#include "proxy/policy/idempotency.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace meridian::proxy {
namespace {

using std::chrono::milliseconds;
using Begin = IdempotencyTable::Begin;
using Time = std::chrono::steady_clock::time_point;

// Time moved by hand; the table reads it through its injectable clock.
struct ManualClock {
  Time now = Time() + std::chrono::hours(1);
  IdempotencyTable::Clock fn() {
    return [this] { return now; };
  }
};

std::shared_ptr<const StoredResponse> response(int status, size_t body_size = 2) {
  auto r = std::make_shared<StoredResponse>();
  r->status = status;
  r->headers = {{"content-type", "text/plain"}};
  r->body.assign(body_size, 'x');
  return r;
}

// Records what a waiter was told.
struct Inbox {
  int calls = 0;
  std::shared_ptr<const StoredResponse> last;
  bool got_null = false;
  IdempotencyTable::Notify notify() {
    return [this](std::shared_ptr<const StoredResponse> r) {
      ++calls;
      got_null = r == nullptr;
      last = std::move(r);
    };
  }
};

IdempotencyTable::Limits limits(size_t max_keys = 100, size_t max_waiters = 4,
                                size_t max_body = 1024, milliseconds keep = milliseconds(1000)) {
  IdempotencyTable::Limits l;
  l.max_keys = max_keys;
  l.max_waiters_per_key = max_waiters;
  l.max_stored_body = max_body;
  l.keep_for = keep;
  return l;
}

TEST(IdempotencyTable, OwnerThenWaitersThenStored) {
  ManualClock clock;
  IdempotencyTable t(limits(), clock.fn());
  auto owner = t.begin("route", "k1", nullptr);
  ASSERT_EQ(owner.kind, Begin::Proceed);
  EXPECT_NE(owner.ticket, 0u);
  Inbox a, b, c;
  auto wa = t.begin("route", "k1", a.notify());
  auto wb = t.begin("route", "k1", b.notify());
  auto wc = t.begin("route", "k1", c.notify());
  for (const auto& w : {wa, wb, wc}) ASSERT_EQ(w.kind, Begin::Wait);
  EXPECT_NE(wa.ticket, wb.ticket);
  EXPECT_NE(wa.ticket, owner.ticket);
  EXPECT_EQ(a.calls + b.calls + c.calls, 0);  // nobody is told before the owner finishes
  EXPECT_EQ(t.size(), 1u);

  auto r = response(201);
  t.finish(owner.ticket, r);
  for (Inbox* in : {&a, &b, &c}) {
    EXPECT_EQ(in->calls, 1);
    EXPECT_EQ(in->last, r);  // the same response, not a copy
  }
  EXPECT_FALSE(t.cancelWait(wa.ticket));  // already told

  clock.now += milliseconds(999);
  auto again = t.begin("route", "k1", a.notify());
  ASSERT_EQ(again.kind, Begin::Stored);
  EXPECT_EQ(again.stored, r);
  EXPECT_EQ(again.stored->status, 201);
  EXPECT_EQ(a.calls, 1);

  clock.now += milliseconds(1);  // keep_for is over
  EXPECT_EQ(t.begin("route", "k1", nullptr).kind, Begin::Proceed);
  EXPECT_EQ(t.size(), 1u);
}

TEST(IdempotencyTable, FailedOrTooLargeOutcomeIsNotKept) {
  struct Case {
    const char* name;
    std::shared_ptr<const StoredResponse> outcome;
    milliseconds keep_for;
    bool waiters_get_it;
  };
  const Case cases[] = {
      {"fits", response(200, 1024), milliseconds(1000), true},
      {"one byte too large", response(200, 1025), milliseconds(1000), false},
      {"owner failed", nullptr, milliseconds(1000), false},
      {"keep_for 0: handed on, not kept", response(200, 10), milliseconds(0), true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    ManualClock clock;
    IdempotencyTable t(limits(100, 4, 1024, c.keep_for), clock.fn());
    auto owner = t.begin("r", "k", nullptr);
    ASSERT_EQ(owner.kind, Begin::Proceed);
    Inbox a, b;
    ASSERT_EQ(t.begin("r", "k", a.notify()).kind, Begin::Wait);
    ASSERT_EQ(t.begin("r", "k", b.notify()).kind, Begin::Wait);
    t.finish(owner.ticket, c.outcome);
    for (Inbox* in : {&a, &b}) {
      EXPECT_EQ(in->calls, 1);
      EXPECT_EQ(in->got_null, !c.waiters_get_it);
    }
    bool kept = c.waiters_get_it && c.keep_for.count() > 0;
    EXPECT_EQ(t.size(), kept ? 1u : 0u);
    auto next = t.begin("r", "k", nullptr);
    EXPECT_EQ(next.kind, kept ? Begin::Stored : Begin::Proceed);
  }
}

TEST(IdempotencyTable, CancelWait) {
  IdempotencyTable t(limits());
  auto owner = t.begin("r", "k", nullptr);
  Inbox gone, stays;
  auto w1 = t.begin("r", "k", gone.notify());
  auto w2 = t.begin("r", "k", stays.notify());
  EXPECT_TRUE(t.cancelWait(w1.ticket));
  EXPECT_FALSE(t.cancelWait(w1.ticket));     // only once
  EXPECT_FALSE(t.cancelWait(owner.ticket));  // an owner is not a waiter
  EXPECT_FALSE(t.cancelWait(987654));
  t.finish(owner.ticket, response(200));
  EXPECT_EQ(gone.calls, 0);
  EXPECT_EQ(stays.calls, 1);
  EXPECT_FALSE(t.cancelWait(w2.ticket));
}

TEST(IdempotencyTable, CancelledWaiterFreesItsPlace) {
  IdempotencyTable t(limits(100, 1));
  auto owner = t.begin("r", "k", nullptr);
  Inbox a, b;
  auto w = t.begin("r", "k", a.notify());
  ASSERT_EQ(w.kind, Begin::Wait);
  EXPECT_EQ(t.begin("r", "k", b.notify()).kind, Begin::Conflict);
  ASSERT_TRUE(t.cancelWait(w.ticket));
  EXPECT_EQ(t.begin("r", "k", b.notify()).kind, Begin::Wait);
  t.finish(owner.ticket, nullptr);
  EXPECT_EQ(a.calls, 0);
  EXPECT_EQ(b.calls, 1);
}

TEST(IdempotencyTable, ScopeSeparatesKeys) {
  IdempotencyTable t(limits());
  struct Case {
    const char* scope;
    const char* key;
  };
  const Case cases[] = {{"r1", "k"}, {"r2", "k"}, {"a", "bc"}, {"ab", "c"},
                        {"", "abc"}, {"abc", ""}, {"r1", "K"}};
  for (const auto& c : cases) {
    EXPECT_EQ(t.begin(c.scope, c.key, nullptr).kind, Begin::Proceed) << c.scope << "|" << c.key;
  }
  EXPECT_EQ(t.size(), std::size(cases));
  Inbox in;
  EXPECT_EQ(t.begin("a", "bc", in.notify()).kind, Begin::Wait);
}

TEST(IdempotencyTable, HeldKeyWithoutNotifyIsConflict) {
  IdempotencyTable t(limits());
  ASSERT_EQ(t.begin("r", "k", nullptr).kind, Begin::Proceed);
  EXPECT_EQ(t.begin("r", "k", nullptr).kind, Begin::Conflict);
}

TEST(IdempotencyTable, MaxWaitersPerKey) {
  IdempotencyTable t(limits(100, 3));
  auto owner = t.begin("r", "k", nullptr);
  Inbox in[4];
  for (int i = 0; i < 3; ++i) EXPECT_EQ(t.begin("r", "k", in[i].notify()).kind, Begin::Wait);
  EXPECT_EQ(t.begin("r", "k", in[3].notify()).kind, Begin::Conflict);
  EXPECT_EQ(t.begin("r", "other", in[3].notify()).kind, Begin::Proceed);  // per key
  t.finish(owner.ticket, response(200));
  EXPECT_EQ(in[0].calls + in[1].calls + in[2].calls, 3);
  EXPECT_EQ(in[3].calls, 0);
}

// Full: the oldest kept answer makes room for a new key; keys in flight are never dropped, so
// a table full of them answers 409. Expired answers go first, as always.
TEST(IdempotencyTable, FullTableDropsTheOldestKeptAnswerNeverAKeyInFlight) {
  ManualClock clock;
  IdempotencyTable t(limits(3, 4, 1024, milliseconds(100)), clock.fn());
  auto a = t.begin("r", "a", nullptr);
  clock.now += milliseconds(10);
  auto b = t.begin("r", "b", nullptr);
  auto c = t.begin("r", "c", nullptr);
  t.finish(a.ticket, response(200));  // kept until +110
  clock.now += milliseconds(10);
  t.finish(b.ticket, response(200));  // kept until +120; c stays in flight
  EXPECT_EQ(t.size(), 3u);

  auto d = t.begin("r", "d", nullptr);  // nothing expired: a, the oldest answer, goes
  EXPECT_EQ(d.kind, Begin::Proceed);
  EXPECT_TRUE(d.evicted);
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.begin("r", "b", nullptr).kind, Begin::Stored);  // b is still kept
  auto e = t.begin("r", "e", nullptr);                        // then b goes
  EXPECT_EQ(e.kind, Begin::Proceed);
  EXPECT_TRUE(e.evicted);
  EXPECT_NE(t.begin("r", "b", nullptr).kind, Begin::Stored);

  // c, d and e in flight: nothing may go, a new key is refused.
  EXPECT_EQ(t.begin("r", "f", nullptr).kind, Begin::Conflict);
  EXPECT_EQ(t.begin("r", "c", nullptr).kind, Begin::Conflict);  // held, no notify
  t.finish(c.ticket, nullptr);  // a failure keeps nothing: its place is free
  auto f = t.begin("r", "f", nullptr);
  EXPECT_EQ(f.kind, Begin::Proceed);
  EXPECT_FALSE(f.evicted);
  t.finish(d.ticket, nullptr);
  t.finish(e.ticket, nullptr);
  t.finish(f.ticket, nullptr);
}

TEST(IdempotencyTable, ExpiredAnswersGoBeforeAnyIsEvicted) {
  ManualClock clock;
  IdempotencyTable t(limits(2, 4, 1024, milliseconds(100)), clock.fn());
  auto a = t.begin("r", "a", nullptr);
  auto b = t.begin("r", "b", nullptr);
  t.finish(a.ticket, response(200));
  clock.now += milliseconds(50);
  t.finish(b.ticket, response(200));
  clock.now += milliseconds(60);  // a has expired, b has not
  auto c = t.begin("r", "c", nullptr);
  EXPECT_EQ(c.kind, Begin::Proceed);
  EXPECT_FALSE(c.evicted);  // a was purged, not evicted
  EXPECT_EQ(t.begin("r", "b", nullptr).kind, Begin::Stored);
  t.finish(c.ticket, nullptr);
}

TEST(IdempotencyTable, NotifyMayUseTheTableAgain) {
  IdempotencyTable t(limits());
  auto owner = t.begin("r", "k", nullptr);
  Begin seen = Begin::Conflict;
  auto w = t.begin("r", "k", [&](std::shared_ptr<const StoredResponse>) {
    seen = t.begin("r", "k", nullptr).kind;  // would deadlock if called under the lock
  });
  ASSERT_EQ(w.kind, Begin::Wait);
  t.finish(owner.ticket, response(200));
  EXPECT_EQ(seen, Begin::Stored);
}

// Several threads on a few keys: at most one owner per key at any moment, every waiter that
// was not cancelled is told exactly once, a cancelled one never, and it all ends in time.
TEST(IdempotencyTable, ConcurrentThreadsNeverShareAKey) {
  constexpr int kThreads = 6;
  constexpr int kKeys = 3;
  constexpr int kRounds = 3000;
  IdempotencyTable t(limits(1000, 64, 1024, milliseconds(1)));
  std::atomic<int> owners[kKeys] = {};
  std::atomic<int> double_owner{0};
  std::atomic<int> proceeds{0}, waits{0}, stored{0}, conflicts{0}, told{0}, cancelled{0};
  std::atomic<int> late_notify{0};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::atomic<bool> timed_out{false};

  auto worker = [&](int id) {
    for (int i = 0; i < kRounds && !timed_out; ++i) {
      int k = (i * 7 + id) % kKeys;
      std::string key = "key" + std::to_string(k);
      auto promise = std::make_shared<std::promise<void>>();
      auto done = promise->get_future();
      auto canceled = std::make_shared<std::atomic<bool>>(false);
      auto r = t.begin("route", key, [promise, canceled, &told, &late_notify](auto) {
        if (*canceled) ++late_notify;
        ++told;
        promise->set_value();
      });
      switch (r.kind) {
        case Begin::Proceed: {
          ++proceeds;
          if (owners[k].fetch_add(1) != 0) ++double_owner;
          std::this_thread::yield();  // give others a chance to see the key held
          owners[k].fetch_sub(1);
          t.finish(r.ticket, i % 5 == 0 ? nullptr : response(200 + id));
          break;
        }
        case Begin::Wait:
          ++waits;
          if (i % 4 == 0 && t.cancelWait(r.ticket)) {
            *canceled = true;  // from here a notify would be a bug
            ++cancelled;
            break;
          }
          if (done.wait_until(deadline) != std::future_status::ready) timed_out = true;
          break;
        case Begin::Stored:
          ++stored;
          EXPECT_NE(r.stored, nullptr);
          break;
        case Begin::Conflict:
          ++conflicts;
          break;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(worker, i);
  for (auto& th : threads) th.join();

  EXPECT_FALSE(timed_out);
  EXPECT_EQ(double_owner.load(), 0);
  EXPECT_EQ(late_notify.load(), 0);
  EXPECT_EQ(proceeds + waits + stored + conflicts, kThreads * kRounds);
  EXPECT_EQ(told.load(), waits - cancelled);
  EXPECT_GT(proceeds.load(), 0);
  EXPECT_GT(waits.load(), 0);  // the keys really were contended
  EXPECT_LE(t.size(), static_cast<size_t>(kKeys));
}

}  // namespace
}  // namespace meridian::proxy
