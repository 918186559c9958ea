#include "core/grpc.h"

#include <cstdint>

namespace meridian::core::grpc {

namespace {
constexpr const char* kNames[] = {
    "ok",
    "cancelled",
    "unknown",
    "invalid_argument",
    "deadline_exceeded",
    "not_found",
    "already_exists",
    "permission_denied",
    "resource_exhausted",
    "failed_precondition",
    "aborted",
    "out_of_range",
    "unimplemented",
    "internal",
    "unavailable",
    "data_loss",
    "unauthenticated",
};
constexpr int kCodes = sizeof kNames / sizeof kNames[0];
}  // namespace

bool isGrpc(std::string_view ct) {
  constexpr std::string_view kType = "application/grpc";
  if (ct.size() < kType.size()) return false;
  for (size_t i = 0; i < kType.size(); ++i) {
    char c = ct[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kType[i]) return false;
  }
  return ct.size() == kType.size() || ct[kType.size()] == '+' || ct[kType.size()] == ';';
}

std::optional<std::chrono::milliseconds> parseTimeout(std::string_view v) {
  if (v.size() < 2 || v.size() > 9) return std::nullopt;
  uint64_t n = 0;
  for (char c : v.substr(0, v.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  using std::chrono::milliseconds;
  switch (v.back()) {
    case 'H':
      return milliseconds(n * 3600 * 1000);
    case 'M':
      return milliseconds(n * 60 * 1000);
    case 'S':
      return milliseconds(n * 1000);
    case 'm':
      return milliseconds(n);
    case 'u':  // below a millisecond rounds up: a deadline of 0 would fire at once
      return milliseconds((n + 999) / 1000);
    case 'n':
      return milliseconds((n + 999999) / 1000000);
    default:
      return std::nullopt;
  }
}

int codeByName(std::string_view name) {
  for (int i = 0; i < kCodes; ++i)
    if (name == kNames[i]) return i;
  return -1;
}

const char* codeName(int code) {
  return code >= 0 && code < kCodes ? kNames[code] : nullptr;
}

int parseStatus(std::string_view v) {
  if (v.empty() || v.size() > 2) return -1;
  int n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n < kCodes ? n : -1;
}

int codeForHttpStatus(int status) {
  switch (status) {
    case 400:
      return 13;  // INTERNAL
    case 401:
      return 16;  // UNAUTHENTICATED
    case 403:
      return 7;  // PERMISSION_DENIED
    case 404:
      return 12;  // UNIMPLEMENTED
    case 408:
    case 504:
      return kDeadlineExceeded;
    case 409:
      return 10;  // ABORTED
    case 413:
    case 429:
      return 8;  // RESOURCE_EXHAUSTED
    case 502:
    case 503:
      return kUnavailable;
    default:
      return 2;  // UNKNOWN
  }
}

}  // namespace meridian::core::grpc
