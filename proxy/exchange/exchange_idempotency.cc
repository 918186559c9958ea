// Exchange, continued: requests carrying an Idempotency-Key. Two with the same key (per route)
// are never in flight at once: the first owns the key; a second waits for its outcome and is
// answered with the same response when it was small enough to keep, or 409 when it was not.
// With idempotency.store: fleet, the owner in this process then claims the key fleet-wide
// (SharedIdempotency), and is told to run, to answer with another instance's response, or 409.
#include "core/log.h"
#include "proxy/exchange/exchange.h"
#include "proxy/http/http1_writer.h"

namespace meridian::proxy {

void IdempotencyWaiters::deliver(uint64_t ticket, std::shared_ptr<const StoredResponse> resp) {
  auto it = waiting_.find(ticket);
  if (it == waiting_.end()) return;  // the waiting client went away
  Exchange* exchange = it->second;
  waiting_.erase(it);
  exchange->onIdempotencyOutcome(std::move(resp));
}

void IdempotencyWaiters::deliverShared(uint64_t ticket, SharedIdempotency::Claim claim,
                                       std::shared_ptr<const StoredResponse> resp) {
  auto it = shared_.find(ticket);
  if (it == shared_.end()) return;  // the request ended meanwhile (and released its claim)
  Exchange* exchange = it->second;
  shared_.erase(it);
  exchange->onSharedClaim(claim, std::move(resp));
}

IdempotencyTable& Exchange::idempotencyTable() {
  static IdempotencyTable table;  // process-wide: the same key may reach any worker
  return table;
}

// Returns true when the request may go on now; false when it waits or has been answered.
bool Exchange::claimIdempotencyKey() {
  std::string_view key = http1::findHeader(head_.headers, "idempotency-key");
  if (key.empty()) return true;
  if (key.size() > kMaxIdempotencyKey) {
    failBeforeResponse(core::Error{core::ErrorKind::ProtocolError, core::Side::Downstream, false,
                                   "idempotency-key too long"});
    return false;
  }
  // The waiter's ticket is known only once begin() returns, and its notification may be
  // posted before that; the posted call runs on this thread later, so a shared slot is enough.
  auto ticket = std::make_shared<uint64_t>(0);
  ExchangeHost* host = &host_;
  auto r = idempotencyTable().begin(
      decision_.route->name, key, [host, ticket](std::shared_ptr<const StoredResponse> resp) {
        host->loop().post(
            [host, ticket, resp] { host->idempotencyWaiters().deliver(*ticket, resp); });
      });
  switch (r.kind) {
    case IdempotencyTable::Begin::Proceed:
      if (r.evicted) host_.stats().add(Counter::IdempotencyEvictions);
      idem_ticket_ = r.ticket;
      idem_owner_ = true;
      if (decision_.route->idempotency.store == config::Idempotency::Store::Fleet &&
          host_.sharedIdempotency() != nullptr)
        return claimSharedKey(key);
      return true;
    case IdempotencyTable::Begin::Wait:
      *ticket = r.ticket;
      idem_ticket_ = r.ticket;
      host_.idempotencyWaiters().add(r.ticket, this);
      // A waiter waits no longer than the route would let the request itself take.
      armTimer(decision_.route->timeouts.request);
      return false;
    case IdempotencyTable::Begin::Stored:
      answerStored(*r.stored);
      return false;
    case IdempotencyTable::Begin::Conflict:
      break;
  }
  failBeforeResponse(
      core::Error{core::ErrorKind::IdempotencyConflict, core::Side::Downstream, false, "key busy"});
  return false;
}

// The local claim is this process's; the fleet's answer comes later, through the worker's
// loop. It waits no longer than a local waiter would.
bool Exchange::claimSharedKey(std::string_view key) {
  auto ticket = std::make_shared<uint64_t>(0);
  ExchangeHost* host = &host_;
  shared_ticket_ = host_.sharedIdempotency()->claim(
      decision_.route->name, std::string(key), decision_.route->timeouts.request,
      [host, ticket](SharedIdempotency::Claim claim, std::shared_ptr<const StoredResponse> resp) {
        host->loop().post([host, ticket, claim, resp] {
          host->idempotencyWaiters().deliverShared(*ticket, claim, resp);
        });
      });
  *ticket = shared_ticket_;
  shared_pending_ = true;
  host_.idempotencyWaiters().addShared(shared_ticket_, this);
  armTimer(decision_.route->timeouts.request);
  return false;
}

void Exchange::onSharedClaim(SharedIdempotency::Claim claim,
                             std::shared_ptr<const StoredResponse> resp) {
  cancelTimer();
  shared_pending_ = false;
  switch (claim) {
    case SharedIdempotency::Claim::Proceed:
    // etcd unreachable: the local claim stands alone (the store counted and logged it).
    case SharedIdempotency::Claim::Unavailable:
      sendToUpstream();
      return;
    case SharedIdempotency::Claim::Stored:
      // This process's waiters for the key get it too, and later requests find it here.
      stored_ = std::make_shared<StoredResponse>(*resp);
      releaseIdempotencyKey(true);
      answerStored(*resp);
      return;
    case SharedIdempotency::Claim::Conflict:
      break;
  }
  failBeforeResponse(core::Error{core::ErrorKind::IdempotencyConflict, core::Side::Downstream,
                                 false, "key busy at another instance"});
}

void Exchange::onSharedWaitTimeout() {
  failBeforeResponse(core::Error{core::ErrorKind::IdempotencyConflict, core::Side::Downstream,
                                 false, "key still busy at another instance"});
}

// The owner of the key this request waited for is done.
void Exchange::onIdempotencyOutcome(std::shared_ptr<const StoredResponse> resp) {
  cancelTimer();
  idem_ticket_ = 0;
  if (resp) {
    answerStored(*resp);
    return;
  }
  failBeforeResponse(core::Error{core::ErrorKind::IdempotencyConflict, core::Side::Downstream,
                                 false, "earlier request with this key had no reusable answer"});
}

// Waited as long as the route allows: the key is still busy.
void Exchange::onIdempotencyWaitTimeout() {
  idempotencyTable().cancelWait(idem_ticket_);
  host_.idempotencyWaiters().remove(idem_ticket_);
  idem_ticket_ = 0;
  failBeforeResponse(core::Error{core::ErrorKind::IdempotencyConflict, core::Side::Downstream,
                                 false, "key still busy"});
}

void Exchange::answerStored(const StoredResponse& resp) {
  host_.stats().countStatus(resp.status);
  final_status_ = resp.status;
  bool keep = keepClient();
  size_t out_before = down_.responseOutput().size();
  if (endIfClientGone(down_.writeStoredResponse(resp.status, resp.headers, resp.body, !keep,
                                                head_.method == "HEAD")))
    return;
  bytes_out_ += down_.responseOutput().size() - out_before;
  finish(keep);
}

// The owner keeps what a waiter would need: status, content type and a small whole body.
void Exchange::startStoring(const http1::ResponseHead& head) {
  if (!idem_owner_ || head.framing == http1::Framing::Chunked ||
      head.framing == http1::Framing::UntilClose || head.content_length > kMaxStoredBody) {
    return;
  }
  stored_ = std::make_shared<StoredResponse>();
  stored_->status = head.status;
  std::string_view type = http1::findHeader(head.headers, "content-type");
  if (!type.empty()) stored_->headers.emplace_back("content-type", std::string(type));
  stored_->body.reserve(head.content_length);
}

void Exchange::storeBody(const core::Buffer& in, size_t n) {
  if (stored_ == nullptr || n == 0) return;
  size_t at = stored_->body.size();
  stored_->body.resize(at + n);
  stored_->body.resize(at + in.copyOut(stored_->body.data() + at, n));
}

// Hands the key on (called once, when this request ends, however it ends).
void Exchange::releaseIdempotencyKey(bool completed) {
  std::shared_ptr<const StoredResponse> outcome = completed ? std::move(stored_) : nullptr;
  if (shared_ticket_ != 0) {
    host_.idempotencyWaiters().removeShared(shared_ticket_);
    host_.sharedIdempotency()->release(shared_ticket_, completed, outcome);
    shared_ticket_ = 0;
    shared_pending_ = false;
  }
  if (idem_owner_) {
    idempotencyTable().finish(idem_ticket_, std::move(outcome));
    idem_owner_ = false;
  } else if (idem_ticket_ != 0) {
    // Whether or not its outcome is already posted to us, this exchange will not see it.
    idempotencyTable().cancelWait(idem_ticket_);
    host_.idempotencyWaiters().remove(idem_ticket_);
  }
  idem_ticket_ = 0;
  stored_.reset();
}

}  // namespace meridian::proxy
