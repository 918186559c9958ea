// DeadlineQueue: entries fire in deadline order, whatever order they were scheduled in;
// rescheduling replaces a deadline; cancelled entries never fire.
#include "core/deadline_queue.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace meridian::core {
namespace {

struct Probe : DeadlineQueue::Entry {
  Probe(std::string n, std::vector<std::string>& log) : name(std::move(n)), log(log) {}
  void onDeadline() override {
    log.push_back(name);
    if (then) then();
  }
  std::string name;
  std::vector<std::string>& log;
  std::function<void()> then;
};

TEST(DeadlineQueue, FiresInDeadlineOrderAndHonoursCancelAndReschedule) {
  EventLoop loop;
  DeadlineQueue q(loop);
  std::vector<std::string> log;
  Probe late("late", log), early("early", log), middle("middle", log), gone("gone", log),
      moved("moved", log), last("last", log);
  q.schedule(late, Millis(40));
  q.schedule(early, Millis(5));
  q.schedule(middle, Millis(20));
  q.schedule(gone, Millis(10));
  q.schedule(moved, Millis(1));
  q.schedule(moved, Millis(30));  // replaces its first deadline
  q.cancel(gone);
  q.schedule(last, Millis(60));
  last.then = [&] { loop.stop(); };
  EXPECT_EQ(q.size(), 5u);
  Timer guard(loop, [&] { loop.stop(); });  // the test never hangs
  guard.arm(Millis(5000));
  loop.run();
  EXPECT_EQ(log, (std::vector<std::string>{"early", "middle", "moved", "late", "last"}));
  EXPECT_EQ(q.size(), 0u);
  EXPECT_FALSE(late.scheduled());
}

TEST(DeadlineQueue, CallbackMayScheduleAgain) {
  EventLoop loop;
  DeadlineQueue q(loop);
  std::vector<std::string> log;
  Probe tick("tick", log);
  int left = 3;
  tick.then = [&] {
    if (--left > 0)
      q.schedule(tick, Millis(1));
    else
      loop.stop();
  };
  q.schedule(tick, Millis(1));
  Timer guard(loop, [&] { loop.stop(); });
  guard.arm(Millis(5000));
  loop.run();
  EXPECT_EQ(log.size(), 3u);
}

// More distinct durations than there are lanes: the rest go to the sorted overflow lane, and
// everything still fires in deadline order. Lanes freed by firing are taken by new durations.
TEST(DeadlineQueue, ManyDurationsFireInOrder) {
  EventLoop loop;
  DeadlineQueue q(loop);
  std::vector<std::string> log;
  std::vector<std::unique_ptr<Probe>> probes;
  constexpr int kCount = 3 * DeadlineQueue::kLanes;
  // Scheduled in a scrambled order of durations 5, 10, ..., 5 * kCount ms.
  for (int i = 0; i < kCount; ++i) {
    int k = (i * 7) % kCount;  // 7 is coprime with 48: every k once
    probes.push_back(std::make_unique<Probe>(std::to_string(k), log));
    q.schedule(*probes.back(), Millis(5 * (k + 1)));
  }
  EXPECT_EQ(q.size(), static_cast<size_t>(kCount));
  // Two more entries after k = 5 and after k = 40, 2 ms later (far more than scheduling all
  // of this takes): same-lane FIFO order holds too.
  std::vector<std::unique_ptr<Probe>> again;
  for (int k : {5, 5, 40, 40}) {
    again.push_back(std::make_unique<Probe>("again" + std::to_string(k), log));
    q.schedule(*again.back(), Millis(5 * (k + 1) + 2));
  }
  Probe last("last", log);
  last.then = [&] { loop.stop(); };
  q.schedule(last, Millis(5 * kCount + 50));
  Timer guard(loop, [&] { loop.stop(); });
  guard.arm(Millis(5000));
  loop.run();
  std::vector<std::string> want;
  for (int k = 0; k < kCount; ++k) {
    want.push_back(std::to_string(k));
    if (k == 5 || k == 40) want.insert(want.end(), 2, "again" + std::to_string(k));
  }
  want.push_back("last");
  EXPECT_EQ(log, want);
  EXPECT_EQ(q.size(), 0u);
}

}  // namespace
}  // namespace meridian::core
