#pragma once
// SharedIdempotency: an Idempotency-Key table shared by the instances of a fleet
// (`idempotency: {store: fleet}`), as an exchange sees it. The exchange claims a key it already
// owns in its process's IdempotencyTable (so two requests of one process never both ask), and
// learns whether it owns the key fleet-wide too, must answer with a stored response, or 409.
// When the shared store cannot be reached, the local table's claim stands alone. proxy/server
// implements it on etcd (fleet::IdempotencyStore); this layer knows nothing of etcd.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "proxy/policy/idempotency.h"

namespace meridian::proxy {

class SharedIdempotency {
 public:
  virtual ~SharedIdempotency() = default;

  enum class Claim {
    Proceed,     // owned fleet-wide: run the request, then release() its response
    Stored,      // an earlier request's response, to answer with
    Conflict,    // 409 idempotency_conflict
    Unavailable  // the shared store cannot be reached: the local table's claim stands alone
  };
  // Called once, on a thread of the store's; the caller posts it to its own loop.
  using Done = std::function<void(Claim, std::shared_ptr<const StoredResponse>)>;

  // `wait`: how long a second request waits for the owner elsewhere. Every claim is released
  // once, whatever its answer, or before it.
  virtual uint64_t claim(const std::string& scope, const std::string& key,
                         std::chrono::milliseconds wait, Done done) = 0;
  // The request is over. An owner that `completed` passes its response when small enough to
  // keep (nullptr: not kept, and waiters get 409); one that failed has the key freed.
  virtual void release(uint64_t ticket, bool completed,
                       std::shared_ptr<const StoredResponse> response) = 0;
};

}  // namespace meridian::proxy
