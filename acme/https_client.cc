#include "acme/https_client.h"

#include <curl/curl.h>
#include <strings.h>

#include <cstring>

namespace meridian::acme {

namespace {

// curl is initialised once, before any thread uses it (curl_global_init is not thread-safe).
struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

size_t appendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// The headers the client reads; names are case-insensitive, values lose surrounding spaces.
size_t readHeader(char* data, size_t size, size_t n, void* out) {
  auto* a = static_cast<HttpsAnswer*>(out);
  std::string_view line(data, size * n);
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string_view name = line.substr(0, colon);
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
    value.remove_suffix(1);
  auto is = [&](const char* want) {
    return name.size() == strlen(want) && strncasecmp(name.data(), want, name.size()) == 0;
  };
  if (is("replay-nonce"))
    a->replay_nonce = value;
  else if (is("location"))
    a->location = value;
  else if (is("retry-after"))
    a->retry_after = value;
  else if (is("content-type"))
    a->content_type = value;
  return size * n;
}

}  // namespace

static int abortWhenSet(void* flag, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(flag)->load() ? 1 : 0;
}

HttpsClient::HttpsClient(std::string ca_roots, const std::atomic<bool>* abort, long timeout_ms)
    : ca_roots_(std::move(ca_roots)), abort_(abort), timeout_ms_(timeout_ms) {
  static CurlGlobal once;
  easy_ = curl_easy_init();
}

HttpsClient::~HttpsClient() {
  curl_easy_cleanup(easy_);
}

core::Result<HttpsAnswer> HttpsClient::get(const std::string& url) {
  return perform(url, "GET", nullptr, nullptr);
}

core::Result<HttpsAnswer> HttpsClient::head(const std::string& url) {
  return perform(url, "HEAD", nullptr, nullptr);
}

core::Result<HttpsAnswer> HttpsClient::post(const std::string& url, const std::string& body,
                                            const char* accept) {
  return perform(url, "POST", &body, accept);
}

core::Result<HttpsAnswer> HttpsClient::perform(const std::string& url, const char* method,
                                               const std::string* body, const char* accept) {
  curl_easy_reset(easy_);
  HttpsAnswer answer;
  curl_easy_setopt(easy_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, timeout_ms_);
  curl_easy_setopt(easy_, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(easy_, CURLOPT_USERAGENT, "meridian-acme");
  if (!ca_roots_.empty()) curl_easy_setopt(easy_, CURLOPT_CAINFO, ca_roots_.c_str());
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &appendBody);
  curl_easy_setopt(easy_, CURLOPT_WRITEDATA, &answer.body);
  curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, &readHeader);
  curl_easy_setopt(easy_, CURLOPT_HEADERDATA, &answer);
  if (abort_ != nullptr) {
    curl_easy_setopt(easy_, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(easy_, CURLOPT_XFERINFOFUNCTION, &abortWhenSet);
    curl_easy_setopt(easy_, CURLOPT_XFERINFODATA, abort_);
  }
  curl_slist* headers = nullptr;
  if (std::string_view(method) == "HEAD") {
    curl_easy_setopt(easy_, CURLOPT_NOBODY, 1L);
  } else if (body != nullptr) {
    curl_easy_setopt(easy_, CURLOPT_POST, 1L);
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, body->c_str());
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body->size()));
    headers = curl_slist_append(headers, "Content-Type: application/jose+json");
  }
  if (accept != nullptr)
    headers = curl_slist_append(headers, (std::string("Accept: ") + accept).c_str());
  curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = curl_easy_perform(easy_);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    return core::Error{core::ErrorKind::ConnectRefused, core::Side::Upstream, true,
                       std::string(method) + " " + url + ": " + curl_easy_strerror(rc)};
  }
  curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &answer.status);
  return answer;
}

}  // namespace meridian::acme
