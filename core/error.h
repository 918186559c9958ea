#pragma once
// Errors on the data path are values, never exceptions. A library's own error codes
// (OpenSSL's, nghttp2's, libevent's -1) become an Error in the one file that wraps it.
#include <string>
#include <utility>
#include <variant>

namespace meridian::core {

enum class Side { Downstream, Upstream, Internal };

enum class ErrorKind {
  ConnectRefused,
  ConnectTimeout,
  TlsHandshake,
  ReadTimeout,     // downstream: header read timeout (408); upstream: no response in time (504)
  ProtocolError,   // malformed HTTP (400 downstream, 502 upstream)
  HeaderTooLarge,  // 431
  BodyTooLarge,    // 413
  UpstreamReset,
  UpstreamOverloaded,  // pool cap reached and wait queue full
  AtCapacity,          // every allowed endpoint at its hard limit (clusters[].limits) too long
  NoRoute,
  NoHealthyRegion,
  RequestTimeout,           // the route's whole-request deadline (504)
  ClientTimeout,            // the client stopped sending its request body (408)
  ReplayLoop,               // the app asked for a second replay of one request (508)
  ReplayRefused,            // an app-directed replay that cannot be done as asked (502)
  ReplayTargetUnavailable,  // the region the app named has no healthy, allowed endpoint (503)
  IdempotencyConflict,      // the same Idempotency-Key is busy and cannot wait (409)
  BadPath,  // a request path with a fragment, bad %-encoding or a refused escaped slash (400)
  ConfigInvalid,
  Internal,
};

struct Error {
  ErrorKind kind = ErrorKind::Internal;
  Side side = Side::Internal;
  bool retryable = false;
  std::string detail;
};

// The one mapping from an error to the status a client sees.
int toHttpStatus(const Error& e);
// The short reason sent in `meridian-error` (snake_case, stable: users grep for it).
const char* errorCode(const Error& e);
const char* kindName(ErrorKind k);

// Result<T>: a value or an Error. Deliberately tiny; callers check ok() then use value().
template <typename T>
class Result {
 public:
  Result(T v) : v_(std::move(v)) {}      // NOLINT: implicit by design
  Result(Error e) : v_(std::move(e)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace meridian::core
