#pragma once
// HTTPS to the ACME server on libcurl, blocking: only the ACME client's own thread calls it.
// Trusts `ca_roots` (a PEM file) when given, else the system store.
#include <atomic>
#include <string>

#include "core/error.h"

typedef void CURL;

namespace meridian::acme {

struct HttpsAnswer {
  long status = 0;
  std::string body;
  std::string content_type;
  std::string replay_nonce;  // RFC 8555, 6.5: every answer may carry the next nonce
  std::string location;
  std::string retry_after;  // as sent: seconds, or an HTTP date
};

class HttpsClient {
 public:
  // `abort`, when given and set, ends a transfer under way (a stopping client does not wait
  // out a slow server).
  explicit HttpsClient(std::string ca_roots, const std::atomic<bool>* abort = nullptr,
                       long timeout_ms = 30000);
  ~HttpsClient();
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;

  core::Result<HttpsAnswer> get(const std::string& url);
  core::Result<HttpsAnswer> head(const std::string& url);
  // A JWS body (Content-Type: application/jose+json).
  core::Result<HttpsAnswer> post(const std::string& url, const std::string& body,
                                 const char* accept = nullptr);

 private:
  core::Result<HttpsAnswer> perform(const std::string& url, const char* method,
                                    const std::string* body, const char* accept);
  std::string ca_roots_;
  const std::atomic<bool>* abort_;
  long timeout_ms_;
  CURL* easy_;
};

}  // namespace meridian::acme
