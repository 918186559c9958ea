#include "core/event_loop.h"

#include <errno.h>
#include <event2/event.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cassert>
#include <cstdlib>

#include "core/log.h"

namespace meridian::core {

// libevent's own locking stays off (it costs a mutex round-trip on every event_add): the one
// cross-thread call, post(), wakes the loop through an eventfd instead.
EventLoop::EventLoop() {
  event_config* cfg = event_config_new();
  // Coalesce epoll_ctl calls made in one loop turn (we add and remove write interest often).
  event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
  base_ = event_base_new_with_config(cfg);
  event_config_free(cfg);
  if (base_ == nullptr) {
    logError("event_base_new failed");
    std::abort();
  }
  wakeup_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeup_fd_ < 0) {
    logError("eventfd: %s", strerror(errno));
    std::abort();
  }
  wakeup_ = event_new(base_, wakeup_fd_, EV_READ | EV_PERSIST, &EventLoop::onPosted, this);
  event_add(wakeup_, nullptr);
  reaper_ = event_new(base_, -1, 0, &EventLoop::onReap, this);
  turn_end_ = event_new(base_, -1, 0, &EventLoop::onTurnEnd, this);
}

EventLoop::~EventLoop() {
  while (deferred_head_ != nullptr) cancelDeferred(*deferred_head_);
  event_free(turn_end_);
  onReap(-1, 0, this);
  event_free(reaper_);
  event_free(wakeup_);
  event_base_free(base_);
  ::close(wakeup_fd_);
}

void EventLoop::run() {
  event_base_loop(base_, 0);
}

void EventLoop::stop() {
  post([this] { event_base_loopbreak(base_); });
}

void EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    posted_.push_back(std::move(fn));
  }
  uint64_t one = 1;
  ssize_t n = ::write(wakeup_fd_, &one, sizeof one);
  (void)n;  // EAGAIN means the counter is already non-zero: the loop will wake anyway
}

void EventLoop::deleteLater(Disposable* d) {
  if (doomed_.empty()) event_active(reaper_, EV_READ, 0);
  doomed_.push_back(d);
}

void EventLoop::onReap(int, short, void* arg) {
  auto* self = static_cast<EventLoop*>(arg);
  // Destructors may doom more objects; keep going until none are left.
  while (!self->doomed_.empty()) {
    std::vector<Disposable*> batch;
    batch.swap(self->doomed_);
    for (Disposable* d : batch) delete d;
  }
}

Deferred::~Deferred() {
  if (loop_ != nullptr) loop_->cancelDeferred(*this);
}

// An event made active while the loop runs this turn's callbacks joins the end of the queue
// being run, so onTurnEnd comes after every event that was ready when the turn began.
void EventLoop::defer(Deferred& d) {
  if (d.loop_ != nullptr) return;
  d.loop_ = this;
  d.turn_ = turn_;
  d.prev_ = deferred_tail_;
  d.next_ = nullptr;
  if (deferred_tail_ != nullptr)
    deferred_tail_->next_ = &d;
  else
    deferred_head_ = &d;
  deferred_tail_ = &d;
  if (deferred_head_ == &d && !in_turn_end_) event_active(turn_end_, EV_READ, 0);
}

void EventLoop::cancelDeferred(Deferred& d) {
  if (d.loop_ != this) return;
  if (d.prev_ != nullptr)
    d.prev_->next_ = d.next_;
  else
    deferred_head_ = d.next_;
  if (d.next_ != nullptr)
    d.next_->prev_ = d.prev_;
  else
    deferred_tail_ = d.prev_;
  d.loop_ = nullptr;
  d.prev_ = d.next_ = nullptr;
}

void EventLoop::onTurnEnd(int, short, void* arg) {
  auto* self = static_cast<EventLoop*>(arg);
  // Only what was queued before this run: one queued again meanwhile waits for the next turn,
  // after the loop has polled for I/O once more, so a Deferred that keeps queueing itself
  // cannot starve the sockets.
  uint64_t turn = self->turn_++;
  self->in_turn_end_ = true;
  while (self->deferred_head_ != nullptr && self->deferred_head_->turn_ == turn) {
    Deferred* d = self->deferred_head_;
    self->cancelDeferred(*d);
    d->runDeferred();  // may destroy d, or queue anything again
  }
  self->in_turn_end_ = false;
  if (self->deferred_head_ != nullptr) {
    timeval now{0, 0};
    event_add(self->turn_end_, &now);
  }
}

void EventLoop::onPosted(int, short, void* arg) {
  auto* self = static_cast<EventLoop*>(arg);
  uint64_t count;
  ssize_t n = ::read(self->wakeup_fd_, &count, sizeof count);
  (void)n;
  std::deque<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    batch.swap(self->posted_);
  }
  for (auto& fn : batch) fn();
}

Timer::Timer(EventLoop& loop, std::function<void()> cb) : cb_(std::move(cb)) {
  ev_ = evtimer_new(loop.base(), &Timer::onFire, this);
}

Timer::~Timer() {
  event_free(ev_);
}

void Timer::arm(Millis after) {
  timeval tv{static_cast<time_t>(after.count() / 1000),
             static_cast<suseconds_t>((after.count() % 1000) * 1000)};
  evtimer_add(ev_, &tv);
}

void Timer::cancel() {
  evtimer_del(ev_);
}

bool Timer::armed() const {
  return evtimer_pending(ev_, nullptr) != 0;
}

void Timer::onFire(int, short, void* arg) {
  auto* self = static_cast<Timer*>(arg);
  self->cb_();  // may destroy the timer's owner: touch nothing after this
}

SignalHandler::SignalHandler(EventLoop& loop, int signo, std::function<void()> cb)
    : cb_(std::move(cb)) {
  ev_ = evsignal_new(loop.base(), signo, &SignalHandler::onSignal, this);
  evsignal_add(ev_, nullptr);
}

SignalHandler::~SignalHandler() {
  event_free(ev_);
}

void SignalHandler::onSignal(int, short, void* arg) {
  static_cast<SignalHandler*>(arg)->cb_();
}

Acceptor::Acceptor(EventLoop& loop, int listen_fd, OnAccept cb) : cb_(std::move(cb)) {
  ev_ = event_new(loop.base(), listen_fd, EV_READ | EV_PERSIST, &Acceptor::onReadable, this);
  event_add(ev_, nullptr);
}

Acceptor::~Acceptor() {
  event_free(ev_);
}

void Acceptor::pause() {
  event_del(ev_);
}

void Acceptor::resume() {
  event_add(ev_, nullptr);
}

void Acceptor::onReadable(int fd, short, void* arg) {
  auto* self = static_cast<Acceptor*>(arg);
  for (int i = 0; i < 64; ++i) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int c = accept4(fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) logWarn("accept: %s", strerror(errno));
      return;
    }
    self->cb_(c, peer);
  }
}

const char* libeventVersion() {
  return event_get_version();
}

int64_t monotonicMillis() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace meridian::core
