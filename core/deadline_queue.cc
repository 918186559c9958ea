#include "core/deadline_queue.h"

#include <cassert>

namespace meridian::core {

DeadlineQueue::DeadlineQueue(EventLoop& loop) : timer_(loop, [this] { onTimer(); }) {}

DeadlineQueue::~DeadlineQueue() {
  for (Lane& lane : lanes_)
    while (lane.head != nullptr) unlink(*lane.head);
}

void DeadlineQueue::schedule(Entry& e, Millis after) {
  if (e.queue_ != nullptr) e.queue_->unlink(e);
  int64_t duration = after.count();
  e.at_ = monotonicMillis() + duration;
  e.queue_ = this;
  e.lane_ = laneFor(duration);
  Lane& lane = lanes_[e.lane_];
  if (e.lane_ == kOverflow)
    insertSorted(lane, e);
  else
    append(lane, e);  // the clock never goes back: e is the lane's latest
  ++size_;
  if (armed_for_ == 0 || e.at_ < armed_for_) rearm();
}

// The lane holding `duration`, else an empty lane taken over for it, else the overflow lane.
uint8_t DeadlineQueue::laneFor(int64_t duration) {
  uint8_t free_lane = kOverflow;
  for (uint8_t i = 0; i < kLanes; ++i) {
    if (lanes_[i].duration == duration) return i;
    if (free_lane == kOverflow && lanes_[i].head == nullptr) free_lane = i;
  }
  if (free_lane != kOverflow) lanes_[free_lane].duration = duration;
  return free_lane;
}

void DeadlineQueue::append(Lane& lane, Entry& e) {
  e.prev_ = lane.tail;
  e.next_ = nullptr;
  if (lane.tail)
    lane.tail->next_ = &e;
  else
    lane.head = &e;
  lane.tail = &e;
}

// Walks back from the tail: a new deadline is usually the latest.
void DeadlineQueue::insertSorted(Lane& lane, Entry& e) {
  Entry* before = lane.tail;
  while (before != nullptr && before->at_ > e.at_) before = before->prev_;
  e.prev_ = before;
  e.next_ = before ? before->next_ : lane.head;
  if (e.next_)
    e.next_->prev_ = &e;
  else
    lane.tail = &e;
  if (before)
    before->next_ = &e;
  else
    lane.head = &e;
}

// A cancelled head leaves the timer armed: a spurious wake finds nothing due, which is
// cheaper than re-arming per request on the way to the next schedule.
void DeadlineQueue::cancel(Entry& e) {
  if (e.queue_ == nullptr) return;
  assert(e.queue_ == this);
  unlink(e);
}

void DeadlineQueue::unlink(Entry& e) {
  Lane& lane = lanes_[e.lane_];
  if (e.prev_)
    e.prev_->next_ = e.next_;
  else
    lane.head = e.next_;
  if (e.next_)
    e.next_->prev_ = e.prev_;
  else
    lane.tail = e.prev_;
  e.prev_ = e.next_ = nullptr;
  e.queue_ = nullptr;
  --size_;
}

DeadlineQueue::Lane* DeadlineQueue::earliestLane() {
  Lane* best = nullptr;
  for (Lane& lane : lanes_)
    if (lane.head != nullptr && (best == nullptr || lane.head->at_ < best->head->at_))
      best = &lane;
  return best;
}

void DeadlineQueue::rearm() {
  Lane* first = earliestLane();
  if (first == nullptr) return;
  if (armed_for_ != 0 && armed_for_ <= first->head->at_ && timer_.armed()) return;
  armed_for_ = first->head->at_;
  int64_t wait = armed_for_ - monotonicMillis();
  timer_.arm(Millis(wait > 0 ? wait : 0));
}

void DeadlineQueue::onTimer() {
  armed_for_ = 0;
  int64_t now = monotonicMillis();
  // An entry's callback may schedule or cancel others (or itself): take one at a time, the
  // earliest first.
  for (Lane* lane = earliestLane(); lane != nullptr && lane->head->at_ <= now;
       lane = earliestLane()) {
    Entry* e = lane->head;
    unlink(*e);
    e->onDeadline();
  }
  rearm();
}

}  // namespace meridian::core
