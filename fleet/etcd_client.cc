#include "fleet/etcd_client.h"

#include <curl/curl.h>

#include <nlohmann/json.hpp>

#include "core/file_read.h"

namespace meridian::fleet {
namespace {

core::Error unreachable(std::string detail) {
  return core::Error{core::ErrorKind::ConnectRefused, core::Side::Upstream, true,
                     std::move(detail)};
}

size_t appendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// curl is initialised once, before any thread uses it (curl_global_init is not thread-safe).
struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};
void initCurl() {
  static CurlGlobal once;
}

}  // namespace

core::Result<std::string> readPasswordFile(const std::string& path) {
  auto text = core::readRegularFile(path, core::kConfigFileLimit);
  if (!text.ok()) return text.error();
  return text.value().substr(0, text.value().find_first_of("\r\n"));
}

EtcdClient::EtcdClient(EtcdOptions opts) : opts_(std::move(opts)) {
  initCurl();
  if (opts_.endpoints.empty()) opts_.endpoints.push_back("http://127.0.0.1:2379");
  for (auto& e : opts_.endpoints) {
    while (e.ends_with("/")) e.pop_back();
  }
  easy_ = curl_easy_init();
}

EtcdClient::~EtcdClient() {
  curl_easy_cleanup(easy_);
}

void EtcdClient::configure(CURL* easy, const std::string& url, int timeout_ms,
                           void** headers) const {
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts_.connect_timeout_ms));
  if (timeout_ms > 0) curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  // A member that vanished without a word (power, partition): the kernel's probes find out.
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, 2L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, 1L);
  if (!opts_.ca_file.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, opts_.ca_file.c_str());
  if (!opts_.cert_file.empty()) {
    curl_easy_setopt(easy, CURLOPT_SSLCERT, opts_.cert_file.c_str());
    curl_easy_setopt(easy, CURLOPT_SSLKEY, opts_.key_file.c_str());
  }
  curl_slist* list = curl_slist_append(nullptr, "Content-Type: application/json");
  if (!token_.empty()) list = curl_slist_append(list, ("Authorization: " + token_).c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list);
  *headers = list;
}

core::Result<std::string> EtcdClient::callOnce(const std::string& endpoint, std::string_view path,
                                               const std::string& body, long& status) {
  curl_easy_reset(easy_);
  void* headers = nullptr;
  configure(easy_, endpoint + std::string(path), opts_.request_timeout_ms, &headers);
  std::string answer;
  curl_easy_setopt(easy_, CURLOPT_POST, 1L);
  curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, appendBody);
  curl_easy_setopt(easy_, CURLOPT_WRITEDATA, &answer);
  CURLcode rc = curl_easy_perform(easy_);
  curl_slist_free_all(static_cast<curl_slist*>(headers));
  status = 0;
  curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
  if (rc != CURLE_OK) return unreachable(endpoint + ": " + curl_easy_strerror(rc));
  return answer;
}

core::Result<std::string> EtcdClient::authenticate(const std::string& endpoint) {
  nlohmann::json req = {{"name", opts_.username}, {"password", opts_.password}};
  long status = 0;
  token_.clear();
  auto got = callOnce(endpoint, "/v3/auth/authenticate", req.dump(), status);
  if (!got.ok()) return got.error();
  auto j = nlohmann::json::parse(got.value(), nullptr, false);
  if (status != 200 || j.is_discarded() || !j.contains("token") || !j["token"].is_string())
    return unreachable(endpoint + ": authentication refused: " + got.value().substr(0, 200));
  token_ = j["token"].get<std::string>();
  return token_;
}

core::Result<std::string> EtcdClient::call(std::string_view path, const std::string& body) {
  std::string errors;
  for (size_t tried = 0; tried < opts_.endpoints.size(); ++tried) {
    const std::string& endpoint = opts_.endpoints[current_];
    if (!opts_.username.empty() && token_.empty()) {
      auto auth = authenticate(endpoint);
      if (!auth.ok()) {
        errors += (errors.empty() ? "" : "; ") + auth.error().detail;
        rotate();
        continue;
      }
    }
    long status = 0;
    auto got = callOnce(endpoint, path, body, status);
    // An expired token is asked for again, once, on the same member.
    if (got.ok() && status == 401 && !opts_.username.empty() && authenticate(endpoint).ok())
      got = callOnce(endpoint, path, body, status);
    if (got.ok() && status == 200) return got;
    std::string why =
        got.ok() ? endpoint + ": HTTP " + std::to_string(status) + " " + got.value().substr(0, 200)
                 : got.error().detail;
    errors += (errors.empty() ? "" : "; ") + why;
    // etcd's answer to a bad request is the same at every member.
    if (got.ok() && status >= 400 && status < 500 && status != 401 && status != 408 &&
        status != 429)
      return core::Error{core::ErrorKind::ProtocolError, core::Side::Upstream, false, why};
    rotate();
  }
  return unreachable("etcd unreachable: " + errors);
}

core::Result<RangeResult> EtcdClient::range(std::string_view key, std::string_view range_end) {
  auto body = call("/v3/kv/range", rangeRequest(key, range_end));
  if (!body.ok()) return body.error();
  return parseRange(body.value());
}

core::Result<int64_t> EtcdClient::put(std::string_view key, std::string_view value, int64_t lease) {
  auto body = call("/v3/kv/put", putRequest(key, value, lease));
  if (!body.ok()) return body.error();
  return parseRevision(body.value());
}

core::Result<int64_t> EtcdClient::remove(std::string_view key) {
  auto body = call("/v3/kv/deleterange", deleteRequest(key));
  if (!body.ok()) return body.error();
  return parseRevision(body.value());
}

core::Result<bool> EtcdClient::casPut(std::string_view key, std::string_view value,
                                      int64_t mod_revision) {
  auto body = call("/v3/kv/txn", casPutRequest(key, value, mod_revision));
  if (!body.ok()) return body.error();
  return parseTxn(body.value());
}

core::Result<ClaimAnswer> EtcdClient::claim(std::string_view key, std::string_view value,
                                            int64_t lease, int64_t mod_revision) {
  auto body = call("/v3/kv/txn", claimRequest(key, value, lease, mod_revision));
  if (!body.ok()) return body.error();
  return parseClaim(body.value());
}

core::Result<bool> EtcdClient::putIfUnchanged(std::string_view key, std::string_view value,
                                              int64_t lease, int64_t mod_revision) {
  auto body = call("/v3/kv/txn", ownedPutRequest(key, value, lease, mod_revision));
  if (!body.ok()) return body.error();
  return parseTxn(body.value());
}

core::Result<bool> EtcdClient::removeIfUnchanged(std::string_view key, int64_t mod_revision) {
  auto body = call("/v3/kv/txn", ownedDeleteRequest(key, mod_revision));
  if (!body.ok()) return body.error();
  return parseTxn(body.value());
}

core::Result<LeaseGrant> EtcdClient::grantLease(int64_t ttl_seconds) {
  auto body = call("/v3/lease/grant", leaseGrantRequest(ttl_seconds));
  if (!body.ok()) return body.error();
  return parseLeaseGrant(body.value());
}

core::Result<int64_t> EtcdClient::keepAlive(int64_t lease) {
  auto body = call("/v3/lease/keepalive", leaseIdRequest(lease));
  if (!body.ok()) return body.error();
  return parseKeepAlive(body.value());
}

core::Result<int64_t> EtcdClient::revokeLease(int64_t lease) {
  auto body = call("/v3/lease/revoke", leaseIdRequest(lease));
  if (!body.ok()) return body.error();
  return parseRevision(body.value());
}

EtcdWatch::EtcdWatch(const EtcdClient& client, std::string_view key, std::string_view range_end,
                     int64_t start_revision)
    : body_(watchRequest(key, range_end, start_revision)), endpoint_(client.currentEndpoint()) {
  initCurl();
  multi_ = curl_multi_init();
  easy_ = curl_easy_init();
  // No overall timeout: a watch lasts. A stream that breaks is seen by the kernel's probes.
  client.configure(easy_, endpoint_ + "/v3/watch", 0, &headers_);
  curl_easy_setopt(easy_, CURLOPT_POST, 1L);
  curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, body_.c_str());
  curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body_.size()));
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, onData);
  curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
  curl_multi_add_handle(multi_, easy_);
}

EtcdWatch::~EtcdWatch() {
  curl_multi_remove_handle(multi_, easy_);
  curl_easy_cleanup(easy_);
  curl_multi_cleanup(multi_);
  curl_slist_free_all(static_cast<curl_slist*>(headers_));
}

size_t EtcdWatch::onData(char* data, size_t size, size_t n, void* self) {
  static_cast<EtcdWatch*>(self)->pending_.append(data, size * n);
  return size * n;
}

void EtcdWatch::wakeup() {
  curl_multi_wakeup(multi_);
}

core::Result<std::vector<WatchMessage>> EtcdWatch::next(int timeout_ms) {
  int running = 0;
  curl_multi_perform(multi_, &running);
  if (running > 0 && pending_.find('\n') == std::string::npos) {
    curl_multi_poll(multi_, nullptr, 0, timeout_ms, nullptr);
    curl_multi_perform(multi_, &running);
  }
  std::vector<WatchMessage> out;
  size_t start = 0;
  for (size_t nl; (nl = pending_.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string_view line(pending_.data() + start, nl - start);
    if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
    auto m = parseWatchMessage(line);
    if (!m.ok()) return m.error();
    out.push_back(std::move(m.value()));
  }
  pending_.erase(0, start);
  if (running > 0 || !out.empty()) return out;
  CURLcode rc = CURLE_OK;
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg == CURLMSG_DONE) rc = msg->data.result;
  }
  long status = 0;
  curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
  // The last bytes of a stream that ended without a newline may be etcd's error object.
  std::string why = rc != CURLE_OK      ? curl_easy_strerror(rc)
                    : !pending_.empty() ? pending_.substr(0, 200)
                                        : "HTTP " + std::to_string(status) + ", stream ended";
  return unreachable("watch on " + endpoint_ + ": " + why);
}

}  // namespace meridian::fleet
