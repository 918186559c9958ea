// DeadlineQueue: entries fire in deadline order, whatever order they were scheduled in;
// rescheduling replaces a deadline; cancelled entries never fire.
#include "core/deadline_queue.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace meridian::core
