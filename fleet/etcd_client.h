#pragma once
// A blocking client of etcd's v3 JSON gateway, on libcurl: for a thread of its own (the fleet
// agent) or a command (`meridian fleet push`), never an event loop. Every call is bounded by
// the request timeout; an endpoint that cannot be reached, or answers with an HTTP error
// (etcd's "no leader", "unavailable"), sends the call to the next one in the list, each tried
// once. The endpoint that answered is tried first next time.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "fleet/etcd_json.h"

typedef void CURL;
typedef void CURLM;

namespace meridian::fleet {

struct EtcdOptions {
  std::vector<std::string> endpoints;  // "http://host:port" or "https://host:port"
  int connect_timeout_ms = 500;
  int request_timeout_ms = 2000;
  // TLS (https endpoints): the CA that signed etcd's certificate (empty: the system's), and a
  // client certificate for etcd's --client-cert-auth.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // etcd's own authentication (etcdctl user add): a token is asked for with these and sent
  // with every call.
  std::string username;
  std::string password;
};

// The password in a file (its first line; the file read as config files are: regular, bounded),
// for EtcdOptions::password.
core::Result<std::string> readPasswordFile(const std::string& path);

class EtcdClient {
 public:
  explicit EtcdClient(EtcdOptions opts);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  core::Result<RangeResult> range(std::string_view key, std::string_view range_end = {});
  core::Result<int64_t> put(std::string_view key, std::string_view value, int64_t lease = 0);
  core::Result<int64_t> remove(std::string_view key);
  // The put is done only if the key's mod_revision is still `mod_revision` (0: absent).
  core::Result<bool> casPut(std::string_view key, std::string_view value, int64_t mod_revision);
  // Writes the key under `lease` if it is absent (mod_revision 0) or still at `mod_revision`;
  // otherwise reads it, in the same transaction.
  core::Result<ClaimAnswer> claim(std::string_view key, std::string_view value, int64_t lease,
                                  int64_t mod_revision);
  // A put under `lease`, or a delete, done only while the key is still at `mod_revision`: true
  // when it was.
  core::Result<bool> putIfUnchanged(std::string_view key, std::string_view value, int64_t lease,
                                    int64_t mod_revision);
  core::Result<bool> removeIfUnchanged(std::string_view key, int64_t mod_revision);
  core::Result<LeaseGrant> grantLease(int64_t ttl_seconds);
  // The TTL left: 0 when the lease has expired (a new one is needed).
  core::Result<int64_t> keepAlive(int64_t lease);
  core::Result<int64_t> revokeLease(int64_t lease);

  // POSTs `body` to `path` ("/v3/kv/range"); the answer's body, or why there is none.
  core::Result<std::string> call(std::string_view path, const std::string& body);
  const EtcdOptions& options() const { return opts_; }
  // The endpoint calls go to first (the last one that answered).
  const std::string& currentEndpoint() const { return opts_.endpoints[current_]; }
  // Moves on to the next endpoint (a watch that broke on the current one).
  void rotate() { current_ = (current_ + 1) % opts_.endpoints.size(); }
  // Sets what every connection to etcd shares: TLS files, timeouts, the auth header (a list
  // the caller frees with curl_slist_free_all once the transfer is done).
  void configure(CURL* easy, const std::string& url, int timeout_ms, void** headers) const;

 private:
  core::Result<std::string> callOnce(const std::string& endpoint, std::string_view path,
                                     const std::string& body, long& status);
  core::Result<std::string> authenticate(const std::string& endpoint);

  EtcdOptions opts_;
  size_t current_ = 0;
  std::string token_;  // etcd auth; empty without a username
  CURL* easy_ = nullptr;
};

// One watch stream (POST /v3/watch, answered with one JSON message per line for as long as it
// lasts), driven by curl's multi interface so that wakeup() can end a wait from another
// thread. Messages are read with next().
class EtcdWatch {
 public:
  // Opens the stream on the client's current endpoint.
  EtcdWatch(const EtcdClient& client, std::string_view key, std::string_view range_end,
            int64_t start_revision);
  ~EtcdWatch();
  EtcdWatch(const EtcdWatch&) = delete;
  EtcdWatch& operator=(const EtcdWatch&) = delete;

  // Waits up to `timeout_ms` for messages (or a wakeup) and returns the complete ones. An
  // Error when the stream ended or broke.
  core::Result<std::vector<WatchMessage>> next(int timeout_ms);
  // From any thread: makes a next() in progress return at once.
  void wakeup();

 private:
  static size_t onData(char* data, size_t size, size_t n, void* self);

  CURLM* multi_ = nullptr;
  CURL* easy_ = nullptr;
  std::string body_;
  std::string pending_;  // bytes of a message not complete yet
  std::string endpoint_;
  void* headers_ = nullptr;
};

}  // namespace meridian::fleet
