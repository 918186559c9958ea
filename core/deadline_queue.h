#pragma once
// Many deadlines on one timer. Each connection and request needs a deadline (header, keep-alive,
// per-try, idle...), and a libevent timer apiece costs an allocation and ~150 bytes per idle
// connection. Here an entry is two pointers and a time, kept in a list sorted by deadline;
// one Timer is armed for the earliest.
//
// Durations on one worker come from a few config values, so a new deadline is almost always
// the latest: insertion walks back from the tail and usually stops at once.
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
  };

  explicit DeadlineQueue(EventLoop& loop);
  ~DeadlineQueue();

  // (Re)schedules `e` to fire `after` from now, replacing any deadline it had.
  void schedule(Entry& e, Millis after);
  void cancel(Entry& e);
  size_t size() const { return size_; }

 private:
  void unlink(Entry& e);
  void onTimer();
  void rearm();

  Timer timer_;
  Entry* head_ = nullptr;
  Entry* tail_ = nullptr;
  int64_t armed_for_ = 0;  // the deadline the timer is armed for; 0 when not armed
  size_t size_ = 0;
};

}  // namespace meridian::core
