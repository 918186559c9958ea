#pragma once
// The pure building blocks of request replay, with no sockets, timers or loops, so every rule
// is table-tested: whether a failed attempt may be sent again (`decide`), how long to wait
// first (`backoff`, `parseRetryAfter`), how much extra load replays may add (`Budget`), and
// the app's own request to be replayed elsewhere (`parseDirective`, `formatReplaySource`).
// Exchange carries the decisions out; nothing here knows about an Exchange.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "config/config.h"

namespace meridian::proxy::replay {

// Why an attempt failed. ConnectFailure means nothing reached the upstream.
// GrpcStatus: a gRPC call answered with a non-zero grpc-status in its response head (a
// trailers-only response); `status` holds the code.
enum class Reason : uint8_t { ConnectFailure, Reset, Timeout, Status, GrpcStatus };

struct Failure {
  Reason reason = Reason::Reset;
  int status = 0;  // only for Status (HTTP) and GrpcStatus (gRPC code)
};

// Label for metrics, logs and matching `replay.on`: "connect_failure", "reset", "timeout", or
// the status as text ("503"; "unknown" for a status outside 100..999). Returns a view of
// static storage (no allocation), so it may be kept for the life of the process.
std::string_view reasonLabel(const Failure& f);

// Whether `replay.on` lists this failure.
bool enabledFor(const config::Replay& policy, const Failure& f);

// What decide() needs to know of the request and its attempts so far.
struct Input {
  Failure failure;
  std::string_view method;
  bool has_idempotency_key = false;
  bool body_buffered = true;      // the whole request body is held in the replay buffer (no body
                                  // counts as held)
  bool response_started = false;  // a byte of the response already reached the client
  int attempts = 1;               // attempts made so far, including the failed one
  // Time left before the route's request deadline, which starts once the whole request is
  // sent (none before), and the backoff the replay would wait first (0 after a connect
  // failure; at least a 503's Retry-After): a replay must start before the deadline.
  std::optional<std::chrono::milliseconds> time_left;
  std::chrono::milliseconds wait{0};
  bool budget_available = true;  // the retry budget allows one more replay (Budget::available)
  bool next_target = true;       // some region/endpoint not yet tried remains
};

enum class Verdict : uint8_t { TryNext, GiveUp };

struct Decision {
  Verdict verdict = Verdict::GiveUp;
  const char* why = "";  // snake_case, static storage: for logs
};

// The replay rule, checked in this order (the first that applies wins):
//   response_started, max_attempts, deadline (wait >= time_left), no_target: GiveUp;
//   a connect failure (nothing was sent): TryNext "connect_failure", whatever the policy;
//   not_enabled, not_idempotent, body_not_buffered, budget: GiveUp;
//   otherwise TryNext "replayable".
Decision decide(const config::Replay& policy, const Input& in);

// Whether a hedge may be sent now (replay.hedge): the replay rule's checks on the request
// itself, as for a replay that is enabled, with `in.failure` ignored. In this order:
//   off, response_started, max_attempts (a hedge is an attempt), deadline (no time left),
//   no_target, not_idempotent, body_not_buffered, budget: GiveUp; otherwise TryNext "hedge".
Decision hedgeable(const config::Replay& policy, const Input& in);

// Full-jitter exponential backoff before replay number `replay` (1 = first replay): uniform
// in [0, min(max, base * 2^(replay-1))] milliseconds, drawn from `random`.
std::chrono::milliseconds backoff(const config::Replay& policy, int replay, uint64_t random);

// Retry-After: delta-seconds or an HTTP-date (RFC 9110 10.2.3; IMF-fixdate, and the obsolete
// RFC 850 and asctime forms a recipient must also accept) relative to `now`. nullopt when
// absent or invalid; a date in the past is 0. A delta too large to represent is taken as
// 2^31 seconds, as RFC 9111 1.2.2 asks of caches.
std::optional<std::chrono::milliseconds> parseRetryAfter(std::string_view value, std::time_t now);

// Retry budget of one route on one worker: replays started in the last kWindow may be at most
// budget_percent of the requests started in that window; besides, kMinConcurrency replays may
// always be in flight, so a quiet route can still replay. Counting started requests over a
// window, not requests in flight, lets a burst of fast failures replay (a region that resets
// every connection empties the in-flight count just when replays are needed) while a sick
// region still cannot double the route's load. Only the worker writes it; the in-flight counts
// are relaxed atomics (a plain load and store each) so that the admin thread may read them for
// the dashboard. `now` is a parameter for tests.
class Budget {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kMinConcurrency = 3;
  static constexpr std::chrono::seconds kWindow{10};

  void requestStarted(Clock::time_point now = Clock::now());
  void requestFinished();
  // Whether one more replay fits the budget now (Input::budget_available).
  bool available(int budget_percent, Clock::time_point now = Clock::now()) const;
  // Takes one replay slot; false when the budget is exhausted (the caller counts it).
  bool tryStartReplay(int budget_percent, Clock::time_point now = Clock::now());
  void replayFinished();

  int requestsInFlight() const { return requests_.load(std::memory_order_relaxed); }
  int replaysInFlight() const { return replays_.load(std::memory_order_relaxed); }
  // Requests and replays started in the window ending at `now`. Readable from another thread
  // (the dashboard), which may see a second being reset: a close figure, not an exact one.
  std::pair<int64_t, int64_t> startedInWindow(Clock::time_point now = Clock::now()) const;

 private:
  // One second of the window: what started in it. Relaxed atomics written by the owning
  // worker alone, so other threads may read them.
  struct Second {
    std::atomic<int64_t> index{-1};
    std::atomic<int64_t> requests{0};
    std::atomic<int64_t> replays{0};
  };
  Second& secondAt(Clock::time_point now);
  static void bump(std::atomic<int64_t>& v) {
    v.store(v.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  // One writer: an add is a load and a store, no locked instruction on the request path.
  static void add(std::atomic<int>& v, int d) {
    v.store(v.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
  }
  std::atomic<int> requests_{0};
  std::atomic<int> replays_{0};
  std::array<Second, kWindow.count()> window_{};
};

// An app's request to replay elsewhere: `meridian-replay` or (compat: fly) `fly-replay`.
// Fields separated by ';', each name=value, whitespace around tolerated, names
// case-insensitive: region=NAME (region=primary means the route's primary region),
// elsewhere=true, state=STRING. Unknown fields (instance=, app=, ...) are ignored. A named
// region wins over elsewhere=true. valid=false when neither region nor elsewhere is present
// or the syntax is broken (a field without '=', an empty name or region, a region that is not
// a token, a repeated region or state, elsewhere= neither true nor false).
// The views point into `value`.
struct Directive {
  bool valid = false;
  bool elsewhere = false;
  bool primary = false;
  std::string_view region;  // empty when elsewhere or primary
  std::string_view state;
};
Directive parseDirective(std::string_view value);

// Replaces `out` with "region=ams;state=abc;t=1700000000000000" (state omitted when empty),
// the value of meridian-replay-src and fly-replay-src. `micros`: wall clock, since the epoch.
void formatReplaySource(std::string_view region, std::string_view state, int64_t micros,
                        std::string& out);

}  // namespace meridian::proxy::replay
