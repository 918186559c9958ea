#pragma once
// Many deadlines on one timer. Each connection and request needs a deadline (header, keep-alive,
// per-try, idle...), and a libevent timer apiece costs an allocation and ~150 bytes per idle
// connection. Here an entry is a few pointers and a time; one Timer is armed for the earliest.
//
// Durations on one worker come from a few config values, and entries scheduled with the same
// duration expire in the order they were scheduled. So each distinct duration gets a lane, a
// FIFO list: scheduling appends in O(1) however many thousands of entries wait, and the
// earliest deadline is the earliest of a few lane heads. A duration that finds no lane free
// (a backoff, a Retry-After, what is left of a deadline) goes to a sorted overflow lane.
#include <array>
#include <cstdint>

#include "core/event_loop.h"

namespace meridian::core {

class DeadlineQueue {
 public:
  class Entry {
   public:
    virtual void onDeadline() = 0;
    bool scheduled() const { return queue_ != nullptr; }

   protected:
    ~Entry() = default;

   private:
    friend class DeadlineQueue;
    int64_t at_ = 0;
    Entry* prev_ = nullptr;
    Entry* next_ = nullptr;
    DeadlineQueue* queue_ = nullptr;
    uint8_t lane_ = 0;  // index into the queue's lanes
  };

  explicit DeadlineQueue(EventLoop& loop);
  ~DeadlineQueue();

  // (Re)schedules `e` to fire `after` from now, replacing any deadline it had.
  void schedule(Entry& e, Millis after);
  void cancel(Entry& e);
  size_t size() const { return size_; }

  static constexpr size_t kLanes = 16;

 private:
  // One list of entries, earliest first.
  struct Lane {
    int64_t duration = -1;  // of every entry here; -1 while unused and for the overflow lane
    Entry* head = nullptr;
    Entry* tail = nullptr;
  };
  static constexpr uint8_t kOverflow = kLanes;

  uint8_t laneFor(int64_t duration);
  void append(Lane& lane, Entry& e);
  void insertSorted(Lane& lane, Entry& e);
  void unlink(Entry& e);
  Lane* earliestLane();  // the lane whose head is due first; nullptr when all are empty
  void onTimer();
  void rearm();

  Timer timer_;
  std::array<Lane, kLanes + 1> lanes_;  // the last one is the sorted overflow lane
  int64_t armed_for_ = 0;  // the deadline the timer is armed for; 0 when not armed
  size_t size_ = 0;
};

}  // namespace meridian::core
