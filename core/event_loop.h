#pragma once
// One EventLoop per thread, owning a libevent event_base. Everything outside core/ reaches
// libevent only through this file, buffer.h and stream.h.
#include <sys/socket.h>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

struct event_base;
struct event;

namespace meridian::core {

using Millis = std::chrono::milliseconds;

// Something the loop may destroy later (see EventLoop::deleteLater).
class Disposable {
 public:
  virtual ~Disposable() = default;
};

class EventLoop;

// Work put off to the end of the current loop turn, after every event that was ready in it.
// Output produced by many events (many HTTP/2 streams answered on one connection) then leaves
// in one write instead of one per event. Destroying a Deferred takes it off its loop's list.
class Deferred {
 public:
  virtual void runDeferred() = 0;
  bool deferred() const { return loop_ != nullptr; }

 protected:
  ~Deferred();

 private:
  friend class EventLoop;
  EventLoop* loop_ = nullptr;  // set while queued
  uint64_t turn_ = 0;          // the loop's turn count when queued
  Deferred* prev_ = nullptr;
  Deferred* next_ = nullptr;
};

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs until stop(). Returns when no more events are pending or stop() was called.
  void run();
  // Thread-safe: ask the loop to return from run() at its next turn.
  void stop();
  // Thread-safe: run fn on this loop's thread, at its next turn. The one cross-thread call.
  void post(std::function<void()> fn);

  // Same thread only: destroy `d` once the current callback has returned, so an object can end
  // itself from inside one of its own callbacks without pulling the stack out from under it.
  void deleteLater(Disposable* d);

  // Same thread only: run d.runDeferred() once the events ready in this turn have run. Asking
  // again before it ran changes nothing; asking from inside runDeferred() queues it again.
  void defer(Deferred& d);
  void cancelDeferred(Deferred& d);

  event_base* base() { return base_; }  // for core/ only

 private:
  static void onPosted(int, short, void* arg);
  static void onReap(int, short, void* arg);
  static void onTurnEnd(int, short, void* arg);
  event* turn_end_;
  Deferred* deferred_head_ = nullptr;
  Deferred* deferred_tail_ = nullptr;
  uint64_t turn_ = 0;  // onTurnEnd runs so far
  bool in_turn_end_ = false;
  event* reaper_;
  std::vector<Disposable*> doomed_;
  event_base* base_;
  int wakeup_fd_ = -1;
  event* wakeup_;
  std::mutex mu_;
  std::deque<std::function<void()>> posted_;
};

// A one-shot timer, re-armable. Owned by whoever needs it; destroying it cancels it.
class Timer {
 public:
  Timer(EventLoop& loop, std::function<void()> cb);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  void arm(Millis after);
  void cancel();
  bool armed() const;

 private:
  static void onFire(int, short, void* arg);
  event* ev_;
  std::function<void()> cb_;
};

// Runs a callback when a POSIX signal arrives, on the loop's thread (libevent's signal events).
class SignalHandler {
 public:
  SignalHandler(EventLoop& loop, int signo, std::function<void()> cb);
  ~SignalHandler();

 private:
  static void onSignal(int, short, void* arg);
  event* ev_;
  std::function<void()> cb_;
};

// Watches a listening socket and calls back with each accepted connection (non-blocking,
// close-on-exec). Accepts in a bounded batch per wakeup so one busy listener cannot starve
// the connections already open.
// The peer's address comes with each connection (accept4 fills it: no getpeername later).
class Acceptor {
 public:
  using OnAccept = std::function<void(int fd, const sockaddr_storage& peer)>;
  Acceptor(EventLoop& loop, int listen_fd, OnAccept cb);
  ~Acceptor();  // stops watching; does not close the listening socket
  void pause();
  void resume();

 private:
  static void onReadable(int fd, short, void* arg);
  event* ev_;
  OnAccept cb_;
};

const char* libeventVersion();

// Current monotonic time in milliseconds (cached per loop turn is not needed at our rates).
int64_t monotonicMillis();

}  // namespace meridian::core
