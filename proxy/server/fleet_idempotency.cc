#include "proxy/server/fleet_idempotency.h"

#include <algorithm>

namespace meridian::proxy {

namespace {

fleet::IdempotencyStore::Options storeOptions(const std::string& prefix,
                                              const std::string& instance) {
  fleet::IdempotencyStore::Options o;
  o.prefix = prefix;
  o.instance = instance;
  // As the local table keeps an answer, so does etcd.
  IdempotencyTable::Limits local;
  o.keep_for = local.keep_for;
  o.max_stored_body = local.max_stored_body;
  return o;
}

// A claim waits on etcd at most a second per member: a request never waits long for an etcd
// that is going away (the store then falls back to the local table for a second at a time).
fleet::EtcdOptions claimTimeouts(fleet::EtcdOptions etcd) {
  etcd.request_timeout_ms = std::min(etcd.request_timeout_ms, 1000);
  return etcd;
}

}  // namespace

FleetIdempotency::FleetIdempotency(const fleet::EtcdOptions& etcd, const std::string& prefix,
                                   const std::string& instance)
    : store_(storeOptions(prefix, instance),
             [etcd = claimTimeouts(etcd)] { return fleet::makeEtcdIdem(etcd); }) {}

uint64_t FleetIdempotency::claim(const std::string& scope, const std::string& key,
                                 std::chrono::milliseconds wait, Done done) {
  return store_.claim(scope, key, wait,
                      [done = std::move(done)](fleet::IdempotencyStore::Result r) {
                        using Outcome = fleet::IdempotencyStore::Outcome;
                        std::shared_ptr<const StoredResponse> stored;
                        if (r.stored) {
                          auto s = std::make_shared<StoredResponse>();
                          s->status = r.stored->status;
                          s->headers = r.stored->headers;
                          s->body = r.stored->body;
                          stored = std::move(s);
                        }
                        switch (r.outcome) {
                          case Outcome::Proceed:
                            return done(Claim::Proceed, nullptr);
                          case Outcome::Stored:
                            return done(stored ? Claim::Stored : Claim::Conflict, stored);
                          case Outcome::Unavailable:
                            return done(Claim::Unavailable, nullptr);
                          case Outcome::Conflict:
                            break;
                        }
                        done(Claim::Conflict, nullptr);
                      });
}

void FleetIdempotency::release(uint64_t ticket, bool completed,
                               std::shared_ptr<const StoredResponse> response) {
  std::shared_ptr<const fleet::IdemResponse> kept;
  if (response) {
    auto r = std::make_shared<fleet::IdemResponse>();
    r->status = response->status;
    r->headers = response->headers;
    r->body = response->body;
    kept = std::move(r);
  }
  store_.release(ticket, completed, std::move(kept));
}

}  // namespace meridian::proxy
