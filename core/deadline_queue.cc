#include "core/deadline_queue.h"

#include <cassert>

namespace meridian::core {

DeadlineQueue::DeadlineQueue(EventLoop& loop) : timer_(loop, [this] { onTimer(); }) {}

DeadlineQueue::~DeadlineQueue() {
  while (head_ != nullptr) unlink(*head_);
}

void DeadlineQueue::schedule(Entry& e, Millis after) {
  if (e.queue_ != nullptr) e.queue_->unlink(e);
  e.at_ = monotonicMillis() + after.count();
  e.queue_ = this;
  Entry* before = tail_;
  while (before != nullptr && before->at_ > e.at_) before = before->prev_;
  e.prev_ = before;
  e.next_ = before ? before->next_ : head_;
  if (e.next_)
    e.next_->prev_ = &e;
  else
    tail_ = &e;
  if (before)
    before->next_ = &e;
  else
    head_ = &e;
  ++size_;
  if (head_ == &e) rearm();
}

void DeadlineQueue::cancel(Entry& e) {
  if (e.queue_ == nullptr) return;
  assert(e.queue_ == this);
  bool was_head = head_ == &e;
  unlink(e);
  if (was_head) rearm();
}

void DeadlineQueue::unlink(Entry& e) {
  if (e.prev_)
    e.prev_->next_ = e.next_;
  else
    head_ = e.next_;
  if (e.next_)
    e.next_->prev_ = e.prev_;
  else
    tail_ = e.prev_;
  e.prev_ = e.next_ = nullptr;
  e.queue_ = nullptr;
  --size_;
}

void DeadlineQueue::rearm() {
  if (head_ == nullptr) {
    // Left armed: a spurious wake finds nothing due, which is cheaper than a cancel per
    // request on the way to the next schedule.
    return;
  }
  if (armed_for_ != 0 && armed_for_ <= head_->at_ && timer_.armed()) return;
  armed_for_ = head_->at_;
  int64_t wait = head_->at_ - monotonicMillis();
  timer_.arm(Millis(wait > 0 ? wait : 0));
}

void DeadlineQueue::onTimer() {
  armed_for_ = 0;
  int64_t now = monotonicMillis();
  // An entry's callback may schedule or cancel others (or itself): take one at a time.
  while (head_ != nullptr && head_->at_ <= now) {
    Entry* e = head_;
    unlink(*e);
    e->onDeadline();
  }
  rearm();
}

}  // namespace meridian::core
