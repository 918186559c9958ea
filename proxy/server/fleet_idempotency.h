#pragma once
// The fleet's Idempotency-Key store (fleet::IdempotencyStore, on etcd) as exchanges see it
// (SharedIdempotency): the responses converted between the two layers' types, and the store's
// options from the fleet: section and the local table's limits.
#include <memory>

#include "config/config.h"
#include "fleet/idempotency_store.h"
#include "proxy/policy/shared_idempotency.h"

namespace meridian::proxy {

class FleetIdempotency final : public SharedIdempotency {
 public:
  // `etcd`: the fleet's client options; `instance`: this instance's name in the fleet.
  FleetIdempotency(const fleet::EtcdOptions& etcd, const std::string& prefix,
                   const std::string& instance);

  uint64_t claim(const std::string& scope, const std::string& key, std::chrono::milliseconds wait,
                 Done done) override;
  void release(uint64_t ticket, bool completed,
               std::shared_ptr<const StoredResponse> response) override;
  // Claims served by the local table alone because etcd could not be reached.
  uint64_t fallbacks() const { return store_.fallbacks(); }
  // Requests waiting now for the outcome of another instance's request with their key.
  size_t waiting() const { return store_.waiting(); }

 private:
  fleet::IdempotencyStore store_;
};

}  // namespace meridian::proxy
