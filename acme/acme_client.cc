#include "acme/acme_client.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "acme/ari.h"
#include "acme/jws.h"
#include "acme/problem.h"
#include "core/log.h"

namespace meridian::acme {

namespace {

using nlohmann::json;

constexpr int kBadNonceRetries = 10;
constexpr const char* kPemChain = "application/pem-certificate-chain";
constexpr time_t kAriInterval = 6 * 3600;
constexpr auto kFleetPollMax = std::chrono::milliseconds(30000);

core::Error acmeError(std::string detail) {
  return core::Error{core::ErrorKind::ProtocolError, core::Side::Upstream, true, std::move(detail)};
}

core::Result<json> parseObject(const HttpsAnswer& a, const std::string& what) {
  auto j = json::parse(a.body, nullptr, false);
  if (!j.is_object()) return acmeError(what + ": the answer is not a JSON object");
  return j;
}

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Retry-After in seconds, bounded to [1, 10] for a poll; the HTTP-date form reads as 1.
std::chrono::milliseconds pollWait(const std::string& retry_after) {
  long s = 1;
  if (!retry_after.empty() && retry_after.find_first_not_of("0123456789") == std::string::npos)
    s = std::stol(retry_after.substr(0, 6));
  return std::chrono::seconds(std::clamp(s, 1L, 10L));
}

std::string joinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

}  // namespace

AcmeClient::AcmeClient(AcmeClientOptions options)
    : opts_(std::move(options)),
      book_(opts_.book ? opts_.book : certs::AcmeBook::process()),
      storage_(opts_.acme.storage),
      http_(opts_.acme.ca_roots, &abort_) {
  status_.listener = opts_.listener;
  status_.domains = opts_.acme.domains;
  if (opts_.fleet)
    fleet_ = std::make_unique<FleetStorage>(*opts_.fleet, opts_.listener, opts_.acme.directory,
                                            opts_.acme.domains);
  else
    status_.last = storage_.lastOrder();
}

AcmeClient::~AcmeClient() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  abort_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void AcmeClient::start() {
  if (fleet_) {
    // Every etcd call is made on the client's thread: the fleet's certificate serves from
    // its first read.
    logInfo("acme %s: storage: fleet, under %s", opts_.listener.c_str(),
            fleet_->keys().base.c_str());
    thread_ = std::thread([this] { runFleet(); });
    return;
  }
  if (!loadStored())
    logInfo(
        "acme %s: no certificate stored for %s yet: ordering one; handshakes for these "
        "names are refused until it is issued",
        opts_.listener.c_str(), joinNames(opts_.acme.domains).c_str());
  thread_ = std::thread([this] { run(); });
}

AcmeStatus AcmeClient::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

// A stored certificate serves only when it names exactly the configured domains and is
// still valid; anything else is ordered anew.
bool AcmeClient::loadStored() {
  auto stored = storage_.certificate();
  return stored && serveStored(*stored);
}

bool AcmeClient::serveStored(const std::pair<std::string, std::string>& stored) {
  auto facts = certs::certificateFacts(stored.first);
  if (!facts.ok()) return false;
  auto names = facts.value().names, want = opts_.acme.domains;
  std::sort(names.begin(), names.end());
  std::sort(want.begin(), want.end());
  if (names != want) {
    logInfo("acme %s: the stored certificate names %s, not the configured domains: ordering anew",
            opts_.listener.c_str(), joinNames(facts.value().names).c_str());
    return false;
  }
  auto set = book_->setIssued(opts_.acme.domains, stored.first, stored.second);
  if (!set.ok()) {
    logWarn("acme %s: stored certificate not served: %s", opts_.listener.c_str(),
            set.error().detail.c_str());
    return false;
  }
  ari_id_ = facts.value().ari_id;
  std::lock_guard lock(mu_);
  status_.not_after = facts.value().not_after;
  status_.serial = facts.value().serial_hex;
  return true;
}

void AcmeClient::runFleet() {
  // On the way out, still on this thread: the challenges copied leave the book, and the
  // lock and presence leave etcd (an orderer no longer waits for this instance).
  struct Leave {
    AcmeClient* c;
    ~Leave() {
      c->copyChallenges({});
      c->fleet_->leave();
    }
  } leave{this};
  auto wait = opts_.fleet_poll;
  for (;;) {
    bool reached = syncFleet();
    wait = reached ? opts_.fleet_poll : std::min(wait * 2, kFleetPollMax);
    time_t now = time(nullptr);
    if (reached) checkRenewalInfo(now);
    if (dueAt(now) <= now) {
      // One instance orders: the others keep reading until its certificate is in etcd.
      auto held = fleet_->lock();
      if (!held.ok()) {
        etcdUnreachable(held.error());
        afterOrder(held.error());
      } else if (held.value()) {
        // Issued by another instance just before the lock was free: nothing to order.
        bool fresh = syncFleet() && dueAt(time(nullptr)) > time(nullptr);
        if (!fresh) {
          logInfo("acme %s: ordering for %s (holding the fleet lock %s)", opts_.listener.c_str(),
                  joinNames(opts_.acme.domains).c_str(), fleet_->keys().lock().c_str());
          auto r = orderOnce();
          fleet_->unlock();
          {
            std::lock_guard lock(mu_);
            if (stopping_) return;
          }
          afterOrder(r);
        } else {
          fleet_->unlock();
        }
      }
    }
    if (!waitFor(wait)) return;
  }
}

bool AcmeClient::syncFleet() {
  auto under = fleet_->challengesUnderWay();
  if (!under.ok()) return etcdUnreachable(under.error());
  copyChallenges(under.value().challenges);
  if (auto c = fleet_->copied(under.value().revision); !c.ok()) return etcdUnreachable(c.error());
  auto cert = fleet_->certificate();
  if (!cert.ok()) return etcdUnreachable(cert.error());
  if (cert.value() && cert.value()->first != fleet_chain_) {
    fleet_chain_ = cert.value()->first;
    std::string before = status().serial;
    if (serveStored(*cert.value()) && status().serial != before) {
      failures_ = 0;  // another instance's order (or this one's, read back) succeeded
      ari_due_ = 0;
      ari_checked_ = 0;
      logInfo("acme %s: serving the fleet's certificate for %s, serial %s", opts_.listener.c_str(),
              joinNames(opts_.acme.domains).c_str(), status().serial.c_str());
    }
  }
  auto last = fleet_->lastOrder();
  if (!last.ok()) return etcdUnreachable(last.error());
  if (last.value()) {
    const LastOrder& l = *last.value();
    shared_retry_at_ = l.result == "failure" ? l.next_attempt : 0;
    // Another instance failed more times in a row than this one: its count goes on here,
    // so the fleet's waits keep growing whoever orders next.
    if (l.result == "failure" && l.attempt > failures_ && l.next_attempt > time(nullptr)) {
      failures_ = l.attempt;
      retry_at_ = l.next_attempt;
    }
    std::lock_guard lock(mu_);
    status_.last = l;
  }
  if (etcd_down_) logInfo("acme %s: etcd answers again", opts_.listener.c_str());
  etcd_down_ = false;
  return true;
}

// Challenges another instance is answering, so that a CA's validation sent here is answered.
void AcmeClient::copyChallenges(const std::vector<FleetChallenge>& now) {
  for (const auto& c : now) {
    if (std::find(copied_.begin(), copied_.end(), c) != copied_.end()) continue;
    if (c.kind == "http-01") {
      book_->setHttpChallenge(c.name, c.key_authorization);
    } else if (auto s = book_->setAlpnChallenge(c.name, c.key_authorization); !s.ok()) {
      logWarn("acme %s: tls-alpn-01 for %s not copied: %s", opts_.listener.c_str(), c.name.c_str(),
              s.error().detail.c_str());
    }
  }
  for (const auto& c : copied_) {
    bool gone = std::none_of(now.begin(), now.end(), [&](const FleetChallenge& n) {
      return n.kind == c.kind && n.name == c.name;
    });
    if (!gone) continue;
    if (c.kind == "http-01")
      book_->clearHttpChallenge(c.name);
    else
      book_->clearAlpnChallenge(c.name);
  }
  copied_ = now;
}

bool AcmeClient::etcdUnreachable(const core::Error& e) {
  if (!etcd_down_)
    logWarn(
        "acme %s: %s; serving the certificate held, reading again with backoff "
        "(meridian_fleet_fallbacks_total{what=\"acme\"})",
        opts_.listener.c_str(), e.detail.c_str());
  etcd_down_ = true;
  std::lock_guard lock(mu_);
  ++status_.etcd_failures;
  return false;
}

time_t AcmeClient::dueAt(time_t now) const {
  if (failures_ > 0) return retry_at_;
  std::lock_guard lock(mu_);
  // The fleet's last order failed: every instance waits out its orderer's backoff.
  if (status_.not_after == 0) return std::max(now, shared_retry_at_);
  auto before = std::chrono::duration_cast<std::chrono::seconds>(opts_.acme.renew_before).count();
  time_t due = status_.not_after - static_cast<time_t>(before);
  return std::max(ari_due_ != 0 ? std::min(due, ari_due_) : due, shared_retry_at_);
}

void AcmeClient::checkRenewalInfo(time_t now) {
  if (ari_id_.empty() || failures_ > 0 || (ari_checked_ != 0 && now - ari_checked_ < kAriInterval))
    return;
  ari_checked_ = now;
  if (!ensureDirectory().ok() || dir_.renewal_info.empty()) return;
  auto a = http_.get(dir_.renewal_info + "/" + ari_id_);
  if (!a.ok() || a.value().status != 200) return;  // renew_before still holds
  auto window = parseRenewalWindow(a.value().body);
  if (!window) return;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  time_t at = renewalTimeIn(*window, unit(rng_));
  if (at != ari_due_ && at < dueAt(now))
    logInfo("acme %s: the server suggests renewing by %lld s from now (ARI)",
            opts_.listener.c_str(), static_cast<long long>(at - now));
  ari_due_ = at;
}

bool AcmeClient::waitFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [this] { return stopping_; });
  return !stopping_;
}

void AcmeClient::run() {
  for (;;) {
    time_t now = time(nullptr);
    checkRenewalInfo(now);
    time_t due = dueAt(now);
    if (due > now && !waitFor(std::chrono::seconds(std::min<time_t>(due - now, 3600)))) return;
    if (due > now) continue;  // woken early, or a long wait in steps of an hour
    auto r = orderOnce();
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    afterOrder(r);
  }
}

void AcmeClient::afterOrder(const core::Result<bool>& r) {
  time_t next = 0;
  if (r.ok()) {
    failures_ = 0;
    shared_retry_at_ = 0;
    next = dueAt(time(nullptr));
  } else {
    ++failures_;
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    auto wait = opts_.backoff.wait(failures_, unit(rng_));
    retry_at_ = time(nullptr) +
                std::max<time_t>(1, std::chrono::duration_cast<std::chrono::seconds>(wait).count());
    next = retry_at_;
    logWarn("acme %s: order for %s failed (attempt %d, next in %llds): %s", opts_.listener.c_str(),
            joinNames(opts_.acme.domains).c_str(), failures_,
            static_cast<long long>(next - time(nullptr)), r.error().detail.c_str());
  }
  recordResult(r, next);
}

void AcmeClient::recordResult(const core::Result<bool>& r, time_t next_attempt) {
  LastOrder last;
  last.result = r.ok() ? "success" : "failure";
  last.detail = r.ok() ? "" : r.error().detail;
  last.at = time(nullptr);
  last.next_attempt = next_attempt;
  last.attempt = failures_;
  // The file (or etcd) first: whoever sees the count move may read it (meridian certs
  // status); in a fleet, the other instances wait for next_attempt.
  if (auto s = fleet_ ? fleet_->saveLastOrder(last) : storage_.saveLastOrder(last); !s.ok())
    logWarn("acme %s: %s", opts_.listener.c_str(), s.error().detail.c_str());
  std::lock_guard lock(mu_);
  status_.last = last;
  ++(r.ok() ? status_.orders_succeeded : status_.orders_failed);
}

core::Result<bool> AcmeClient::ensureDirectory() {
  if (dir_.new_order.empty()) {
    auto d = http_.get(opts_.acme.directory);
    if (!d.ok()) return d.error();
    if (d.value().status != 200)
      return acmeError("directory: " + parseProblem(d.value().body, d.value().status).text());
    auto j = parseObject(d.value(), "directory");
    if (!j.ok()) return j.error();
    dir_ = Directory{str(j.value(), "newNonce"), str(j.value(), "newAccount"),
                     str(j.value(), "newOrder"), str(j.value(), "renewalInfo")};
    if (dir_.new_nonce.empty() || dir_.new_account.empty() || dir_.new_order.empty()) {
      dir_ = {};
      return acmeError("directory: newNonce, newAccount or newOrder missing");
    }
  }
  return true;
}

core::Result<bool> AcmeClient::ensureAccount() {
  if (auto d = ensureDirectory(); !d.ok()) return d;
  if (!account_key_ && fleet_) {
    auto pem = fleet_->accountKey();
    if (!pem.ok()) return pem.error();
    if (!pem.value()) {
      auto key = certs::EcKey::generate();
      if (!key.ok()) return key.error();
      auto kept = fleet_->saveAccountKey(key.value().pem());
      if (!kept.ok()) return kept.error();
      pem = std::optional<std::string>(kept.value());
      logInfo("acme %s: new account key in %s", opts_.listener.c_str(),
              fleet_->keys().account().c_str());
    }
    auto key = certs::EcKey::fromPem(*pem.value());
    if (!key.ok()) return acmeError(fleet_->keys().account() + ": " + key.error().detail);
    account_key_ = key.value();
  }
  if (!account_key_) {
    if (auto s = storage_.ensureDir(); !s.ok()) return s.error();
    if (auto pem = storage_.accountKey()) {
      auto key = certs::EcKey::fromPem(*pem);
      if (!key.ok()) return acmeError(storage_.path("account.key") + ": " + key.error().detail);
      account_key_ = key.value();
    } else {
      auto key = certs::EcKey::generate();
      if (!key.ok()) return key.error();
      if (auto s = storage_.saveAccountKey(key.value().pem()); !s.ok()) return s.error();
      account_key_ = key.value();
      logInfo("acme %s: new account key in %s", opts_.listener.c_str(),
              storage_.path("account.key").c_str());
    }
  }
  if (!kid_.empty()) return true;
  // The same key finds the same account (RFC 8555, 7.3.1): nothing but the key is stored.
  json payload{{"termsOfServiceAgreed", true}};
  if (!opts_.acme.email.empty()) payload["contact"] = json::array({"mailto:" + opts_.acme.email});
  auto a = signedPost(dir_.new_account, payload.dump());
  if (!a.ok()) return a.error();
  if (a.value().location.empty()) return acmeError("newAccount: no Location in the answer");
  kid_ = a.value().location;
  return true;
}

core::Result<HttpsAnswer> AcmeClient::signedPost(const std::string& url,
                                                 const std::optional<std::string>& payload,
                                                 const char* accept) {
  last_problem_.clear();
  if (fleet_) fleet_->keepLock();
  for (int attempt = 0;; ++attempt) {
    if (nonce_.empty()) {
      auto n = http_.head(dir_.new_nonce);
      if (!n.ok()) return n.error();
      if (n.value().replay_nonce.empty()) return acmeError("newNonce: no Replay-Nonce");
      nonce_ = n.value().replay_nonce;
    }
    auto body = signJws(*account_key_, url, nonce_, kid_, payload);
    if (!body.ok()) return body.error();
    nonce_.clear();  // each nonce is good for one request
    auto a = http_.post(url, body.value(), accept);
    if (!a.ok()) return a.error();
    nonce_ = a.value().replay_nonce;
    if (a.value().status < 400) return a;
    Problem p = parseProblem(a.value().body, static_cast<int>(a.value().status));
    // RFC 8555, 6.5: a rejected nonce is retried with the fresh one the error carried.
    if (p.is("badNonce") && attempt < kBadNonceRetries) {
      logDebug("acme %s: badNonce, retrying", opts_.listener.c_str());
      continue;
    }
    last_problem_ = p.type;
    return acmeError(url + ": " + p.text());
  }
}

core::Result<std::string> AcmeClient::pollStatus(const std::string& url, const char* until,
                                                 std::string* body) {
  auto deadline = std::chrono::steady_clock::now() + opts_.poll_limit;
  for (;;) {
    auto a = signedPost(url, std::nullopt);
    if (!a.ok()) return a.error();
    auto j = parseObject(a.value(), url);
    if (!j.ok()) return j.error();
    std::string status = str(j.value(), "status");
    if (body != nullptr) *body = a.value().body;
    if (status == until || status == "valid" || status == "invalid" || status == "ready")
      return status;
    if (std::chrono::steady_clock::now() > deadline)
      return acmeError(url + ": still " + status + " after " +
                       std::to_string(opts_.poll_limit.count()) + "s");
    if (!waitFor(pollWait(a.value().retry_after))) return acmeError("stopped");
  }
}

core::Result<bool> AcmeClient::authorize(const std::string& authz_url) {
  auto a = signedPost(authz_url, std::nullopt);
  if (!a.ok()) return a.error();
  auto j = parseObject(a.value(), "authorization");
  if (!j.ok()) return j.error();
  const json& authz = j.value();
  if (str(authz, "status") == "valid") return true;  // still valid from an earlier order
  std::string domain = authz.contains("identifier") ? str(authz["identifier"], "value") : "";
  const auto& kinds = opts_.acme.challenges;
  const json offered = authz.value("challenges", json::array());
  const json* chosen = nullptr;
  std::string kind;
  for (size_t i = 0; i < kinds.size() && chosen == nullptr; ++i) {
    const std::string& want = kinds[(challenge_start_ + i) % kinds.size()];
    for (const auto& c : offered) {
      if (str(c, "type") == want) {
        chosen = &c;
        kind = want;
        break;
      }
    }
  }
  if (chosen == nullptr)
    return acmeError(domain + ": the server offers none of the configured challenges");
  std::string token = str(*chosen, "token");
  std::string key_auth = keyAuthorization(token, *account_key_);
  if (kind == "tls-alpn-01") {
    if (auto s = book_->setAlpnChallenge(domain, key_auth); !s.ok()) return s.error();
  } else {
    book_->setHttpChallenge(token, key_auth);
  }
  FleetChallenge shared{kind, kind == "tls-alpn-01" ? domain : token, key_auth};
  auto cleanup = [&] {
    if (fleet_) fleet_->withdrawChallenge(shared);
    if (kind == "tls-alpn-01")
      book_->clearAlpnChallenge(domain);
    else
      book_->clearHttpChallenge(token);
  };
  // In a fleet the CA may reach any instance: every one has it before the CA is told.
  if (fleet_) {
    if (auto p = fleet_->publishChallenge(shared); !p.ok()) {
      cleanup();
      return p.error();
    }
  }
  logInfo("acme %s: answering %s for %s", opts_.listener.c_str(), kind.c_str(), domain.c_str());
  auto posted = signedPost(str(*chosen, "url"), std::string("{}"));
  if (!posted.ok()) {
    cleanup();
    return posted.error();
  }
  std::string body;
  auto st = pollStatus(authz_url, "valid", &body);
  cleanup();
  if (!st.ok()) return st.error();
  if (st.value() == "valid") return true;
  // The challenge's error says why the server could not validate (wrong address, refused).
  ++challenge_start_;
  std::string why = "authorization " + st.value();
  auto done = json::parse(body, nullptr, false);
  const json challenges = done.is_object() ? done.value("challenges", json::array()) : json();
  for (const auto& c : challenges)
    if (c.is_object() && c.contains("error")) why = parseProblem(c["error"].dump(), 0).text();
  return acmeError(domain + ": " + kind + " failed: " + why);
}

core::Result<bool> AcmeClient::orderOnce() {
  if (auto a = ensureAccount(); !a.ok()) return a;
  json ids = json::array();
  for (const auto& d : opts_.acme.domains) ids.push_back({{"type", "dns"}, {"value", d}});
  std::string new_order = json{{"identifiers", ids}}.dump();
  auto o = signedPost(dir_.new_order, new_order);
  if (!o.ok() && (last_problem_.ends_with(":accountDoesNotExist") ||
                  last_problem_.ends_with(":unauthorized"))) {
    // The server forgot the account (a test server restarted, an account deactivated): the
    // same key registers again, once, within this attempt.
    kid_.clear();
    if (auto a = ensureAccount(); !a.ok()) return a;
    o = signedPost(dir_.new_order, new_order);
  }
  if (!o.ok()) return o.error();
  std::string order_url = o.value().location;
  auto order = parseObject(o.value(), "newOrder");
  if (!order.ok()) return order.error();
  if (order_url.empty()) return acmeError("newOrder: no Location in the answer");
  for (const auto& authz : order.value().value("authorizations", json::array())) {
    if (!authz.is_string()) continue;
    if (auto r = authorize(authz.get<std::string>()); !r.ok()) return r;
  }
  auto cert_key = certs::EcKey::generate();
  if (!cert_key.ok()) return cert_key.error();
  auto csr = certs::makeCsr(cert_key.value(), opts_.acme.domains);
  if (!csr.ok()) return csr.error();
  std::string body;
  // Every authorization is valid: the order turns ready, perhaps not at once.
  auto ready = pollStatus(order_url, "ready", &body);
  if (!ready.ok()) return ready.error();
  if (ready.value() == "invalid") return acmeError("order invalid: " + body.substr(0, 300));
  auto fin = signedPost(str(order.value(), "finalize"),
                        json{{"csr", certs::base64url(csr.value())}}.dump());
  if (!fin.ok()) return fin.error();
  auto valid = pollStatus(order_url, "valid", &body);
  if (!valid.ok()) return valid.error();
  auto done = json::parse(body, nullptr, false);
  std::string cert_url = done.is_object() ? str(done, "certificate") : "";
  if (valid.value() != "valid" || cert_url.empty())
    return acmeError("order " + valid.value() + " after finalize: " + body.substr(0, 300));
  auto chain = signedPost(cert_url, std::nullopt, kPemChain);
  if (!chain.ok()) return chain.error();
  auto facts = certs::certificateFacts(chain.value().body);
  if (!facts.ok()) return acmeError("the certificate downloaded is not PEM");
  std::string key_pem = cert_key.value().pem();
  if (auto s = fleet_ ? fleet_->saveCertificate(chain.value().body, key_pem)
                      : storage_.saveCertificate(chain.value().body, key_pem);
      !s.ok())
    return s.error();
  fleet_chain_ = chain.value().body;
  if (auto s = book_->setIssued(opts_.acme.domains, chain.value().body, key_pem); !s.ok())
    return s.error();
  ari_id_ = facts.value().ari_id;
  ari_due_ = 0;
  ari_checked_ = 0;
  {
    std::lock_guard lock(mu_);
    status_.not_after = facts.value().not_after;
    status_.serial = facts.value().serial_hex;
  }
  logInfo("acme %s: certificate for %s issued, serial %s, valid %lld s", opts_.listener.c_str(),
          joinNames(opts_.acme.domains).c_str(), facts.value().serial_hex.c_str(),
          static_cast<long long>(facts.value().not_after - time(nullptr)));
  return true;
}

}  // namespace meridian::acme
