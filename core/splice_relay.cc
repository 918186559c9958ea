#include "core/splice_relay.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <tuple>
#include <vector>

namespace meridian::core {

namespace {

// One splice(2) asks for at most this much; the pipe (64 KiB, the kernel's default) takes
// what fits.
constexpr uint64_t kMaxPerCall = 1 << 20;
// Rounds of read-then-write per wake-up before other connections get their turn: about
// 256 KiB with the default pipe.
constexpr int kTurnsPerWakeup = 4;
// Emptied pipes kept for the next relay on this thread.
constexpr size_t kIdlePipes = 32;

std::atomic<uint64_t> pipes_created{0};

struct PipePool {
  std::vector<std::pair<int, int>> idle;
  int in_use = 0;
  ~PipePool() {
    for (auto [r, w] : idle) {
      ::close(r);
      ::close(w);
    }
  }
};
thread_local PipePool pool;

}  // namespace

uint64_t SpliceRelay::pipesCreated() {
  return pipes_created.load(std::memory_order_relaxed);
}

std::unique_ptr<SpliceRelay> SpliceRelay::make(EventLoop& loop, int src, int dst, uint64_t bytes,
                                               Handler* handler) {
  if (pool.in_use >= kMaxPipesInUse) return nullptr;
  Pipe p;
  if (!pool.idle.empty()) {
    std::tie(p.read_fd, p.write_fd) = pool.idle.back();
    pool.idle.pop_back();
  } else {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return nullptr;  // EMFILE: copy instead
    p = {fds[0], fds[1]};
    pipes_created.fetch_add(1, std::memory_order_relaxed);
  }
  ++pool.in_use;
  return std::unique_ptr<SpliceRelay>(new SpliceRelay(loop, src, dst, bytes, handler, p));
}

SpliceRelay::SpliceRelay(EventLoop& loop, int src, int dst, uint64_t bytes, Handler* handler,
                         Pipe pipe)
    : src_(src), dst_(dst), remaining_(bytes), handler_(handler), pipe_(pipe) {
  src_ev_ = event_new(loop.base(), src, EV_READ | EV_PERSIST, &SpliceRelay::onEvent, this);
  dst_ev_ = event_new(loop.base(), dst, EV_WRITE | EV_PERSIST, &SpliceRelay::onEvent, this);
}

SpliceRelay::~SpliceRelay() {
  event_free(src_ev_);
  event_free(dst_ev_);
  --pool.in_use;
  // A pipe with bytes left in it (a relay cut short) cannot serve another response.
  if (in_pipe_ == 0 && pool.idle.size() < kIdlePipes) {
    pool.idle.emplace_back(pipe_.read_fd, pipe_.write_fd);
  } else {
    ::close(pipe_.read_fd);
    ::close(pipe_.write_fd);
  }
}

void SpliceRelay::onEvent(int, short, void* arg) {
  static_cast<SpliceRelay*>(arg)->pump();
}

void SpliceRelay::pump() {
  uint64_t moved = 0;
  bool dst_full = false;
  bool progressed = true;
  for (int turn = 0; turn < kTurnsPerWakeup && progressed; ++turn) {
    progressed = false;
    if (remaining_ > 0) {
      // EAGAIN here means the socket is empty or the pipe is full: the write below tells.
      ssize_t n = ::splice(src_, nullptr, pipe_.write_fd, nullptr,
                           std::min(remaining_, kMaxPerCall), SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        remaining_ -= static_cast<uint64_t>(n);
        in_pipe_ += static_cast<uint64_t>(n);
        progressed = true;
      } else if (n == 0) {
        wait(false, false);
        handler_->onSplice(*this, Status::SourceEof, moved, 0);
        return;
      } else if (errno != EAGAIN && errno != EINTR) {
        int err = errno;
        wait(false, false);
        handler_->onSplice(*this, Status::SourceError, moved, err);
        return;
      }
    }
    if (in_pipe_ > 0) {
      ssize_t n = ::splice(pipe_.read_fd, nullptr, dst_, nullptr, in_pipe_,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        in_pipe_ -= static_cast<uint64_t>(n);
        moved += static_cast<uint64_t>(n);
        progressed = true;
        dst_full = in_pipe_ > 0;  // a short write: the socket's buffer is full
      } else if (n < 0 && errno == EAGAIN) {
        dst_full = true;
      } else if (n < 0 && errno != EINTR) {
        int err = errno;
        wait(false, false);
        handler_->onSplice(*this, Status::DestinationError, moved, err);
        return;
      }
    }
    if (remaining_ == 0 && in_pipe_ == 0) {
      wait(false, false);
      handler_->onSplice(*this, Status::Done, moved, 0);
      return;
    }
    if (dst_full) break;
  }
  // A full destination holds everything back (the source is read again once the pipe can be
  // emptied); otherwise wait for whichever side can move next.
  if (dst_full)
    wait(false, true);
  else
    wait(remaining_ > 0, in_pipe_ > 0);
  if (moved > 0) handler_->onSplice(*this, Status::Moving, moved, 0);
}

void SpliceRelay::wait(bool on_source, bool on_destination) {
  if (on_source != src_armed_) {
    src_armed_ = on_source;
    if (on_source)
      event_add(src_ev_, nullptr);
    else
      event_del(src_ev_);
  }
  if (on_destination != dst_armed_) {
    dst_armed_ = on_destination;
    if (on_destination)
      event_add(dst_ev_, nullptr);
    else
      event_del(dst_ev_);
  }
}

}  // namespace meridian::core
